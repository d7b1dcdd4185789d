"""Browser sign-in for the review pages (v2 ``/records/<id>``, v3 ``/uploads/<id>``), as the real
web UI does it: a session cookie, never the API token in the URL.

Decisions (the real B2SHARE UI signs in through B2ACCESS; the sandbox has only API tokens):
- ``GET /signin?next=/records/<id>`` shows a form ("paste your API token"); ``POST /signin``
  checks the token, stores a new session server-side (table ``web_sessions``: the sha256 of an
  opaque random id, the user id and a per-session CSRF token; never the API token) and answers
  303 to ``next`` with the cookie ``b2share_session`` (HttpOnly, SameSite=Strict, Path=/).
- A page opened with ``?access_token=`` (the old links) signs in the same way and immediately
  redirects to the same URL without the token, so it does not stay in the address bar.
- Page forms carry the session's CSRF token; a POST authenticated by the cookie without it is
  refused.  A POST carrying ``access_token`` in its form body (scripts) needs no CSRF token: an
  attacker's page cannot know it.
- The API never authenticates from the session cookie (only ``Authorization``/``access_token``),
  so the cookie cannot be used for cross-site writes to ``/api/``.

One job: browser sign-in and CSRF, so that the review pages never put an API token in a URL.

May import: .common, .storage; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a
front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, render_template, request

from ecasrepro.sandbox.common import storage
from ecasrepro.sandbox.storage import utcnow_iso

SESSION_COOKIE = "b2share_session"
CSRF_FIELD = "csrf_token"

blueprint = Blueprint("sandbox_web", __name__)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _user_id_for_token(db: sqlite3.Connection, token: str) -> int | None:
    row = db.execute("SELECT id FROM users WHERE token = ?", (token,)).fetchone()
    return int(row["id"]) if row is not None else None


def _session_row() -> sqlite3.Row | None:
    """The current request's session joined with its user (cached per request)."""
    if "web_session" not in g:
        session_id = request.cookies.get(SESSION_COOKIE)
        row = None
        if session_id:
            with storage().read() as db:
                row = db.execute(
                    "SELECT s.csrf, u.token FROM web_sessions s JOIN users u ON u.id = s.user_id "
                    "WHERE s.id_hash = ?",
                    (_hash(session_id),),
                ).fetchone()
        g.web_session = row
    result: sqlite3.Row | None = g.web_session
    return result


def _start_session(token: str, response: Response) -> bool:
    """Sign in with ``token``: store a new session and set its cookie; False if unknown."""
    session_id = secrets.token_urlsafe(32)
    with storage().transaction() as db:
        user_id = _user_id_for_token(db, token)
        if user_id is None:
            return False
        db.execute(
            "INSERT INTO web_sessions (id_hash, user_id, csrf, created) VALUES (?, ?, ?, ?)",
            (_hash(session_id), user_id, secrets.token_urlsafe(32), utcnow_iso()),
        )
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Strict", path="/")
    return True


def page_token() -> str | None:
    """The API token a page request acts with: its session's user's, or a POSTed form field."""
    if request.method == "POST" and request.form.get("access_token"):
        return request.form["access_token"]
    row = _session_row()
    return str(row["token"]) if row is not None else None


def csrf_token() -> str:
    """The session's CSRF token for page forms ('' without a session)."""
    row = _session_row()
    return str(row["csrf"]) if row is not None else ""


def csrf_ok() -> bool:
    """A page POST is safe: it carries the API token itself, or the session's CSRF token."""
    if request.form.get("access_token"):
        return True
    expected = csrf_token()
    return bool(expected) and hmac.compare_digest(request.form.get(CSRF_FIELD, ""), expected)


def _safe_next(target: str) -> str:
    """Only same-site paths: an open redirect would let a link send a signed-in user anywhere."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _path_without_token() -> str:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "access_token"]
    return request.path + (f"?{urlencode(query)}" if query else "")


def strip_url_token() -> Response | None:
    """``?access_token=`` on a page: sign in with it, then 303 to the same URL without it."""
    token = request.args.get("access_token")
    if token is None or request.method != "GET":
        return None
    response = Response(status=303, headers={"Location": _path_without_token()})
    if token and not _start_session(token, response):
        response.headers["Location"] = "/signin?" + urlencode(
            {"next": _path_without_token(), "error": "1"}
        )
    return response


def signin_page(status: int, message: str | None = None, next_path: str | None = None) -> Response:
    """The sign-in form, with the status the protected page would have had (401/403)."""
    context: dict[str, Any] = {
        "title": "Sign in",
        "error": message,
        "next": _safe_next(next_path or _path_without_token()),
    }
    return Response(render_template("signin.html", **context), status=status)


@blueprint.route("/signin", methods=["GET"])
def signin_form() -> Response:
    failed = request.args.get("error") == "1"
    return signin_page(
        401 if failed else 200,
        "Unknown token: paste the API token the sandbox printed." if failed else None,
        request.args.get("next", "/"),
    )


@blueprint.route("/signin", methods=["POST"])
def signin() -> Response:
    next_path = _safe_next(request.form.get("next", "/"))
    response = Response(status=303, headers={"Location": next_path})
    token = request.form.get("token", "").strip()
    if not token or not _start_session(token, response):
        return signin_page(
            401, "Unknown token: paste the API token the sandbox printed.", next_path
        )
    return response


def refusal_message(message: str, details: list[str]) -> str:
    """The one-line text of a refused submission shown on a review page."""
    joined = "; ".join(details)
    return f"Submission refused: {message}{' ' + joined if joined else ''}"
