"""Request-scoped helpers of the v3 views: the caller, JSON bodies, responses, communities.

One job: the helpers every v3 view needs, so that callers, bodies and responses are handled one
way.

May import: ecasrepro.sandbox.common, ecasrepro.sandbox.seed, .errors; never ecasrepro.api,
ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, request

from ecasrepro.sandbox.common import base_url, parse_json, storage
from ecasrepro.sandbox.seed import (
    ECAS_COMMUNITY_ID,
    EUDAT_COMMUNITY_ID,
    RESTRICTED_COMMUNITY_ID,
    REVIEW_COMMUNITY_ID,
)
from ecasrepro.sandbox.v3.errors import INVALID_JSON, ApiError

__all__ = ["base_url", "storage"]  # shared helpers, re-exported for the v3 views

JSON = "application/json"
UI_JSON = "application/vnd.inveniordm.v1+json"
RO_CRATE = 'application/ld+json;profile="https://w3id.org/ro/crate/1.1"'


@dataclass(frozen=True)
class Caller:
    """Anonymous (``id`` None) or a seeded user; user ids are strings in JSON, as upstream."""

    id: int | None = None
    superuser: bool = False

    @property
    def anonymous(self) -> bool:
        return self.id is None

    @property
    def user_ref(self) -> dict[str, str]:
        return {"user": str(self.id)}


@dataclass(frozen=True)
class Community:
    """A v3 community with its B2SHARE policies (API-v3.md §8.5) and member roles by user id.

    ``review_policy``: ``everyone`` (B2SHARE's "publish without review"; its real id is not
    public), ``members``, ``open`` (curators and managers publish directly), ``closed`` (review
    all).  ``submission_policy``: ``open`` or ``closed`` (members only).
    """

    id: str
    slug: str
    title: str
    description: str
    review_policy: str
    submission_policy: str
    roles: tuple[tuple[int, str], ...] = ()

    def role(self, caller: Caller) -> str | None:
        if caller.superuser:
            return "owner"
        return dict(self.roles).get(caller.id) if caller.id is not None else None

    def is_curator(self, caller: Caller) -> bool:
        return self.role(caller) in ("curator", "manager", "owner")

    def publishes_directly(self, caller: Caller) -> bool:
        """Whether a submission by ``caller`` is accepted without a curator (review policy)."""
        role = self.role(caller)
        if self.review_policy == "everyone":
            return True
        if self.review_policy == "members":
            return role is not None
        if self.review_policy == "open":
            return role in ("curator", "manager", "owner")
        return False

    def may_submit(self, caller: Caller) -> bool:
        return self.submission_policy == "open" or self.role(caller) is not None


#: The seeded v3 communities; ids are the v2 ones (EUDAT's kept its v2 UUID in v3).
COMMUNITIES: tuple[Community, ...] = (
    Community(
        EUDAT_COMMUNITY_ID,
        "eudat",
        "EUDAT",
        "The big Eudat community. Use this community if no other is suited for you",
        "everyone",
        "open",
    ),
    Community(
        ECAS_COMMUNITY_ID,
        "ecas",
        "ECAS",
        "ENES Climate Analytics Service: reproducible climate analyses (notebooks, workflows and "
        "their results) derived from published datasets.",
        "everyone",
        "open",
    ),
    Community(
        REVIEW_COMMUNITY_ID,
        "ecas-review",
        "ECAS Review",
        "Curated ECAS results: every submission is reviewed by a curator before publication.",
        "closed",
        "open",
        ((3, "curator"),),
    ),
    Community(
        RESTRICTED_COMMUNITY_ID,
        "ecas-members",
        "ECAS Members",
        "Only members of this community may submit records; members publish without review.",
        "members",
        "closed",
        ((3, "member"),),
    ),
)


def community_by_id(community_id: str) -> Community | None:
    return next((c for c in COMMUNITIES if c.id == community_id), None)


def community_by_id_or_slug(value: str) -> Community | None:
    return next((c for c in COMMUNITIES if value in (c.id, c.slug)), None)


def request_token() -> str | None:
    """oauthlib's rule: an ``Authorization`` header wins (``Bearer <token>``, two parts)."""
    header = request.headers.get("Authorization")
    if header is not None:
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            return parts[1]
        return None
    return request.args.get("access_token") or None


def caller_for_token(token: str | None) -> Caller:
    """Unknown or malformed tokens mean anonymous: v3 never answers 401 (API-v3.md §2)."""
    if not token:
        return Caller()
    cache: dict[str, Caller] = current_app.extensions.setdefault("ecasrepro.v3.callers", {})
    known = cache.get(token)
    if known is not None:
        return known
    with storage().read() as db:
        row = db.execute("SELECT id, superuser FROM users WHERE token = ?", (token,)).fetchone()
    if row is None:
        return Caller()
    cache[token] = Caller(int(row["id"]), bool(row["superuser"]))  # tokens change only at seed
    return cache[token]


def current_caller() -> Caller:
    if "v3_caller" not in g:
        g.v3_caller = caller_for_token(request_token())
    caller: Caller = g.v3_caller
    return caller


def json_body(expected: str = JSON, allow_ro_crate: bool = False) -> Any:
    """The JSON body; exact ``application/json`` (or none) else 415; empty body is ``None``."""
    content_type = request.headers.get("Content-Type")
    if content_type is not None and content_type != expected:
        accepted = f"{expected}, {RO_CRATE}" if allow_ro_crate else expected
        raise ApiError(415, f"Invalid 'Content-Type' header. Expected one of: {accepted}")
    raw = request.get_data(cache=False)
    if not raw.strip():
        return None
    try:
        return parse_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, INVALID_JSON) from None


def flask_json_response(obj: Any, status: int = 200) -> Response:
    """Flask's own JSON (compact, keys sorted, newline): views that return a dict, not a
    flask-resources response (the review PUT and submit-review upstream); no ETag."""
    body = json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n"
    return Response(body, status=status, mimetype=JSON)


def json_response(
    obj: Any, status: int = 200, *, revision: int | None = None, ui: bool = False
) -> Response:
    """``json.dumps`` with default separators (flask-resources); ETag on single items."""
    mimetype = UI_JSON if ui and request.accept_mimetypes.best == UI_JSON else JSON
    resp = Response(json.dumps(obj), status=status, mimetype=mimetype)
    if revision is not None:
        resp.headers["ETag"] = f'"{revision}"'
    return resp
