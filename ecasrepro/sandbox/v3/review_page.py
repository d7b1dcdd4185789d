"""The review page of a v3 draft (``links.self_html`` = ``/uploads/<id>``) and its submit button.

As in v2 mode: rendered on the server from the same storage, signed in with a session cookie,
the form carrying the session's CSRF token (``ecasrepro.sandbox.web``), no JavaScript.  The button
attaches the review request to the chosen community if needed and submits it, i.e. it runs the
same code as ``PUT …/draft/review`` + ``POST …/draft/actions/submit-review``.

One job: the v3 review page, so that submitting from a browser can be tested end to end.

May import: ecasrepro.sandbox.web, .common, .errors, .records, .store; never ecasrepro.api,
ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, request

from ecasrepro.sandbox import web
from ecasrepro.sandbox.v3 import store
from ecasrepro.sandbox.v3.common import COMMUNITIES, Caller, caller_for_token, storage
from ecasrepro.sandbox.v3.errors import ApiError
from ecasrepro.sandbox.v3.records import _put_review, submit_review_in

blueprint = Blueprint("v3_review", __name__)


def _render(
    record_id: str, caller: Caller, error: str | None = None, status: int = 200
) -> Response:
    base = request.host_url
    context: dict[str, Any] = {"record": False, "error": error, "title": "Draft not found"}
    with storage().read() as db:
        row = store.get_record(db, record_id)
        if row is None:
            context["error"] = error or "There is no draft or record with this id."
            return Response(render_template("review_v3.html", **context), status=404)
        if row["draft_json"] is not None and store.can_read_draft(db, caller, row):
            body = store.draft_body(db, base, row, caller)
        elif row["record_json"] is not None:
            body = store.record_body(db, base, row, caller)
        elif caller.anonymous:
            return web.signin_page(403, error or "This draft is private: sign in to review it.")
        else:
            context["error"] = error or "You are not allowed to see this draft."
            return Response(render_template("review_v3.html", **context), status=403)
        review = store.get_request(db, row["review_id"])
    metadata = body["metadata"]
    can_submit = body["is_draft"] and body["status"] in ("draft", "draft_with_review", "declined")
    can_submit = can_submit and store.is_owner(caller, row) and row["version_index"] == 1
    context.update(
        record=True,
        title=metadata.get("title") or "(untitled draft)",
        record_id=record_id,
        state=body["status"],
        metadata=metadata,
        other_fields=[
            (k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
            for k, v in sorted(metadata.items())
            if k not in ("title", "creators", "related_identifiers")
        ],
        files=list(body["files"].get("entries", {}).values()),
        communities=COMMUNITIES,
        selected=review["community_id"] if review is not None else None,
        can_submit=can_submit,
        submit_url=f"{base}uploads/{record_id}/submit",
        csrf_token=web.csrf_token(),
    )
    return Response(render_template("review_v3.html", **context), status=status)


@blueprint.route("/uploads/<record_id>", methods=["GET"])
def review(record_id: str) -> Response:
    return web.strip_url_token() or _render(record_id, caller_for_token(web.page_token()))


@blueprint.route("/uploads/<record_id>/submit", methods=["POST"])
def submit(record_id: str) -> Response:
    caller = caller_for_token(web.page_token())
    if caller.anonymous:
        return web.signin_page(403, "Sign in to submit this draft.", f"/uploads/{record_id}")
    if not web.csrf_ok():
        return _render(record_id, caller, "Submission refused: the form has expired; retry.", 403)
    try:
        with storage().transaction() as db:
            row = store.get_record(db, record_id)
            if row is None or row["draft_json"] is None:
                raise ApiError(404, "There is no draft with this id.")
            if not store.is_owner(caller, row):
                raise ApiError(403, "Only the owner of this draft may submit it.")
            community = request.form.get("community", "")
            review = store.get_request(db, row["review_id"])
            if review is None or review["community_id"] != community:
                _put_review(
                    db,
                    caller,
                    row,
                    {"type": "community-submission", "receiver": {"community": community}},
                )
                row = store.get_record(db, record_id)
                assert row is not None
            submit_review_in(db, caller, row, None)
    except ApiError as exc:
        details = [f"{e['field']}: {' '.join(e['messages'])}" for e in exc.errors]
        return _render(record_id, caller, web.refusal_message(exc.message, details), exc.status)
    return Response(status=303, headers={"Location": f"{request.host_url}uploads/{record_id}"})
