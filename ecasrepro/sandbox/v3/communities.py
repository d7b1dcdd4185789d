"""Communities, requests (review actions) and vocabularies (API-v3.md §8, §10).

One job: answer the v3 community, request and vocabulary routes, so that review actions follow
InvenioRDM's.

May import: .common, .errors, .records, .search, .store, .vocabularies; never ecasrepro.api,
ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from ecasrepro.sandbox.v3 import search, store, vocabularies
from ecasrepro.sandbox.v3.common import (
    COMMUNITIES,
    base_url,
    community_by_id,
    community_by_id_or_slug,
    current_caller,
    json_body,
    json_response,
    storage,
)
from ecasrepro.sandbox.v3.errors import PID_DOES_NOT_EXIST, ApiError, permission_denied
from ecasrepro.sandbox.v3.records import (
    publish_row,
    published_or_404,
    touch_draft,
)

blueprint = Blueprint("v3_communities", __name__)


def _default_sort() -> str:
    return "bestmatch" if request.args.get("q") else "newest"


def _community_hits(communities: list[Any]) -> list[dict[str, Any]]:
    query = request.args.get("q", "").strip()
    hits = []
    for community in communities:
        if query.startswith("slug:"):
            if community.slug != query[5:].strip('"'):
                continue
        elif query and query.lower() not in f"{community.slug} {community.title}".lower():
            continue
        hits.append(store.community_body(base_url(), community))
    return hits


@blueprint.route("/api/communities", methods=["GET"])
def list_communities() -> Response:
    paging = search.paging(_default_sort(), ("bestmatch", "newest", "oldest"))
    return search.envelope(
        _community_hits(list(COMMUNITIES)), "api/communities", paging, "communities"
    )


@blueprint.route("/api/user/communities", methods=["GET"])
def user_communities() -> Response:
    caller = current_caller()
    if caller.anonymous:
        raise permission_denied()
    paging = search.paging(_default_sort(), ("bestmatch", "newest", "oldest"))
    mine = [c for c in COMMUNITIES if c.role(caller) is not None and not caller.superuser]
    return search.envelope(_community_hits(mine), "api/user/communities", paging, "communities")


@blueprint.route("/api/communities/<id_or_slug>", methods=["GET"])
def get_community(id_or_slug: str) -> Response:
    community = community_by_id_or_slug(id_or_slug)
    if community is None:
        raise ApiError(404, PID_DOES_NOT_EXIST)
    return json_response(store.community_body(base_url(), community), revision=1)


@blueprint.route("/api/communities", methods=["POST"])
def create_community() -> Response:
    raise permission_denied()  # B2SHARE: only the b2share-admin user creates communities


# --- requests ---------------------------------------------------------------------------------
def _visible_request(db: Any, request_id: str) -> Any:
    caller = current_caller()
    if caller.anonymous:
        raise permission_denied()
    review = store.get_request(db, request_id)
    if review is None:
        raise ApiError(404, "The persistent identifier does not exist.")
    community = community_by_id(review["community_id"])
    if not (
        caller.superuser
        or caller.id == review["created_by"]
        or (community is not None and community.is_curator(caller))
    ):
        raise permission_denied()
    return review


@blueprint.route("/api/requests/<request_id>", methods=["GET"])
def get_request(request_id: str) -> Response:
    with storage().read() as db:
        review = _visible_request(db, request_id)
        body = store.request_body(base_url(), review, current_caller())
    return json_response(body, revision=review["revision_id"])


@blueprint.route("/api/requests/<request_id>/actions/<action>", methods=["POST"])
def request_action(request_id: str, action: str) -> Response:
    """accept / decline (curators of the receiving community), cancel (the creator)."""
    caller = current_caller()
    json_body()
    with storage().transaction() as db:
        review = _visible_request(db, request_id)
        body = store.request_body(base_url(), review, caller)
        if action not in body["links"]["actions"]:
            raise permission_denied()
        row = store.get_record(db, review["record_id"])
        status = {"accept": "accepted", "decline": "declined", "cancel": "cancelled"}.get(action)
        if status is None or row is None:
            raise permission_denied()
        if action == "accept":
            publish_row(db, row, review["community_id"])
        db.execute(
            "UPDATE v3_requests SET status = ?, revision_id = revision_id + 1, updated = ? "
            "WHERE id = ?",
            (status, store.now(), request_id),
        )
        if action == "cancel" and row["draft_json"] is not None:
            db.execute("UPDATE v3_records SET review_id = NULL WHERE id = ?", (row["id"],))
            touch_draft(db, row["id"], 0)  # upstream: a cancel leaves the draft's revision
        elif action == "decline":
            touch_draft(db, row["id"])
        review = store.get_request(db, request_id)
        assert review is not None
        return json_response(
            store.request_body(base_url(), review, caller), revision=review["revision_id"]
        )


# --- vocabularies -----------------------------------------------------------------------------
def _vocabulary_or_404(vocab_type: str) -> dict[str, vocabularies.Term]:
    terms = vocabularies.vocabulary(vocab_type)
    if not terms:
        raise ApiError(404, PID_DOES_NOT_EXIST)
    return terms


@blueprint.route("/api/vocabularies/<vocab_type>", methods=["GET"])
def list_vocabulary(vocab_type: str) -> Response:
    terms = _vocabulary_or_404(vocab_type)
    paging = search.paging("title", ("title", "bestmatch", "newest", "oldest"))
    query = (request.args.get("q") or request.args.get("suggest") or "").strip().lower()
    hits = [
        vocabularies.term_body(base_url(), vocab_type, term)
        for term in terms.values()
        if not query
        or query in term.id.lower()
        or any(query in title.lower() for title in term.title.values())
    ]
    if paging.sort == "title":
        hits.sort(key=lambda h: json.dumps(h["title"].get("en", h["id"])).lower())
    return search.envelope(hits, f"api/vocabularies/{vocab_type}", paging)


@blueprint.route("/api/vocabularies/<vocab_type>/<path:term_id>", methods=["GET"])
def get_term(vocab_type: str, term_id: str) -> Response:
    terms = _vocabulary_or_404(vocab_type)
    term = terms.get(term_id)
    if term is None:
        raise ApiError(404, PID_DOES_NOT_EXIST)
    return json_response(vocabularies.term_body(base_url(), vocab_type, term), revision=1)


# --- record <-> community ---------------------------------------------------------------------
@blueprint.route("/api/records/<record_id>/communities", methods=["GET"])
def record_communities(record_id: str) -> Response:
    """The communities of a *published* record (search envelope)."""
    caller = current_caller()
    paging = search.paging(_default_sort(), ("bestmatch", "newest", "oldest"))
    with storage().read() as db:
        row = published_or_404(db, caller, record_id)
        ids = store.parent_communities(store.get_parent(db, row["parent_id"]))
    found = [c for c in (community_by_id(i) for i in ids) if c is not None]
    # upstream links a record's communities to the communities search (url_for of its list)
    return search.envelope(
        _community_hits(found), f"api/records/{record_id}/communities", paging, "communities",
        link_path="api/communities",
    )


@blueprint.route("/api/communities/<id_or_slug>/records", methods=["GET"])
def community_records(id_or_slug: str) -> Response:
    """Published (latest) records of a community."""
    community = community_by_id_or_slug(id_or_slug)
    if community is None:
        raise ApiError(404, PID_DOES_NOT_EXIST)
    caller = current_caller()
    paging = search.paging(_default_sort(), ("bestmatch", "newest", "oldest"))
    with storage().read() as db:
        rows = db.execute(
            "SELECT r.* FROM v3_records r JOIN v3_parents p ON p.id = r.parent_id "
            "WHERE r.record_json IS NOT NULL ORDER BY r.record_created DESC"
        ).fetchall()
        hits = []
        for row in rows:
            body = store.record_body(db, base_url(), row, caller, hit=True)
            if (
                community.id in body["parent"]["communities"].get("ids", [])
                and (body["versions"]["is_latest"])
            ):
                hits.append(body)
    if paging.sort == "oldest":
        hits.reverse()
    return search.envelope(hits, f"api/communities/{community.id}/records", paging, "records")
