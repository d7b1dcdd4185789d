"""The review page: what B2SHARE's web UI shows of a draft before submission, and a submit button.

Decision: the page is rendered on the server from the same storage the API uses, and the button
is a plain HTML form POST (no JavaScript) that runs the very same ``patch_draft`` workflow as
``PATCH /api/records/<id>/draft`` with ``publication_state=submitted``.  The browser signs in
with a session cookie and the form carries the session's CSRF token (``ecasrepro.sandbox.web``).

One job: the v2 review page, so that submitting from a browser can be tested end to end.

May import: ecasrepro.sandbox.web, .common, .errors, .records, .schemas; never ecasrepro.api,
ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request

from ecasrepro.sandbox import web
from ecasrepro.sandbox.v2 import schemas
from ecasrepro.sandbox.v2.common import (
    Caller,
    caller_for_token,
    community_doc,
    storage,
)
from ecasrepro.sandbox.v2.errors import ApiError
from ecasrepro.sandbox.v2.records import (
    can_read_draft,
    can_read_record_files,
    get_row,
    is_owner,
    patch_draft,
    quote_key,
)

blueprint = Blueprint("v2_review", __name__)

_SHOWN_ELSEWHERE = {
    "titles",
    "creators",
    "descriptions",
    "related_identifiers",
    "community",
    "community_specific",
    "publication_state",
    "ePIC_PID",
    "DOI",
    "$schema",
    "owners",
}


def _files(db: sqlite3.Connection, base: str, bucket: str | None) -> list[dict[str, Any]]:
    if not bucket:
        return []
    rows = db.execute(
        "SELECT key, size, checksum FROM objects WHERE bucket_id = ? AND is_head = 1 "
        "AND delete_marker = 0 ORDER BY key",
        (bucket,),
    ).fetchall()
    return [
        {
            "key": r["key"],
            "size": r["size"],
            "checksum": r["checksum"],
            "url": f"{base}api/files/{bucket}/{quote_key(r['key'])}",
        }
        for r in rows
    ]


def _community_fields(community: dict[str, Any], metadata: dict[str, Any]) -> list[tuple[str, str]]:
    block = community.get("block_schema")
    specific = metadata.get("community_specific")
    if not block or not isinstance(specific, dict):
        return []
    values = specific.get(block["id"], {})
    props = (schemas.block_schema(community, len(block["versions"]) - 1) or {}).get(
        "properties", {}
    )
    return [
        (props.get(name, {}).get("title", name), _text(value))
        for name, value in (values.items() if isinstance(values, dict) else [])
    ]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _render(
    record_id: str, caller: Caller, error: str | None = None, status: int = 200
) -> Response:
    base = request.host_url
    context: dict[str, Any] = {"record": False, "error": error, "title": "Record not found"}
    with storage().read() as db:
        row = get_row(db, record_id)
        if row is None or (row["draft_state"] == "deleted" and row["record_state"] != "published"):
            context["error"] = error or "There is no draft or record with this id."
            return Response(render_template("review.html", **context), status=404)
        community = community_doc(db, row["community"]) or {"name": row["community"]}
        if row["draft_state"] != "deleted" and can_read_draft(caller, row):
            metadata = json.loads(row["draft_json"])
            state = row["draft_state"]
            files = _files(db, base, row["draft_bucket"])
        elif row["record_state"] == "published":
            metadata = json.loads(row["record_json"])
            state = "published"
            files = (
                _files(db, base, row["record_bucket"]) if can_read_record_files(caller, row) else []
            )
        elif caller.anonymous:
            return web.signin_page(401, error or "This draft is private: sign in to review it.")
        else:
            context["error"] = error or "You are not allowed to see this draft."
            return Response(render_template("review.html", **context), status=403)
    titles = [t.get("title", "") for t in metadata.get("titles", []) if isinstance(t, dict)]
    can_submit = state == "draft" and (caller.superuser or is_owner(caller, row))
    context.update(
        record=True,
        title=titles[0] if titles else "(untitled draft)",
        record_id=record_id,
        state=state,
        metadata=metadata,
        community_name=community.get("name"),
        workflow=community.get("publication_workflow"),
        other_fields=[
            (k, _text(v)) for k, v in sorted(metadata.items()) if k not in _SHOWN_ELSEWHERE
        ],
        community_fields=_community_fields(community, metadata)
        if "block_schema" in community
        else [],
        files=files,
        can_submit=can_submit,
        submit_url=f"{base}records/{record_id}/submit",
        csrf_token=web.csrf_token(),
    )
    return Response(render_template("review.html", **context), status=status)


def _caller() -> Caller:
    with storage().read() as db:
        return caller_for_token(db, web.page_token())


@blueprint.route("/records/<record_id>", methods=["GET"])
def review_page(record_id: str) -> Response:
    return web.strip_url_token() or _render(record_id, _caller())


@blueprint.route("/records/<record_id>/submit", methods=["POST"])
def submit(record_id: str) -> Any:
    caller = _caller()
    if caller.anonymous:
        return web.signin_page(401, "Sign in to submit this draft.", f"/records/{record_id}")
    if not web.csrf_ok():
        return _render(record_id, caller, "Submission refused: the form has expired; retry.", 403)
    try:
        with storage().transaction() as db:
            row = get_row(db, record_id)
            if row is None or row["draft_state"] == "deleted":
                raise ApiError(404, "There is no draft with this id.")
            if not (caller.superuser or is_owner(caller, row)):
                raise ApiError(403, "Only the owners of this draft may submit it.")
            if row["draft_state"] != "draft":
                raise ApiError(400, f"This draft is already {row['draft_state']}.")
            patch_draft(
                db, caller, row, [{"op": "add", "path": "/publication_state", "value": "submitted"}]
            )
    except ApiError as exc:
        details = [f"{e.get('field', '')}: {e['message']}" for e in exc.errors]
        return _render(record_id, caller, web.refusal_message(exc.message, details), exc.status)
    return redirect(f"{request.host_url}records/{record_id}", code=303)
