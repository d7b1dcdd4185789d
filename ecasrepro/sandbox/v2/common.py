"""Request-scoped helpers shared by the v2 views: configuration, the caller, lookups, links.

One job: the lookups every v2 view needs, so that a caller or a community is found one way.

May import: ecasrepro.sandbox.common; never ecasrepro.api, ecasrepro.b2share (the client it
serves), or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from flask import current_app, g, request

from ecasrepro.sandbox.common import base_url, storage

__all__ = ["base_url", "storage"]  # shared helpers, re-exported for the v2 views

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GIB = 1 << 30


@dataclass(frozen=True)
class SandboxConfig:
    """Instance settings (the real server's config values where it has them)."""

    max_file_size: int = 10 * GIB  # FILES_REST_DEFAULT_MAX_FILE_SIZE
    quota_size: int = 20 * GIB  # FILES_REST_DEFAULT_QUOTA_SIZE
    assign_doi: bool = True  # AUTOMATICALLY_ASSIGN_DOI, as on EUDAT's instances
    doi_prefix: str = "10.5072"  # DataCite's test prefix: clearly not a real DOI
    handle_prefix: str = "0000"  # B2SHARE's fake ePIC mode: http://hdl.handle.net/0000/<id>
    site_function: str = "sandbox"


@dataclass
class Caller:
    """Who is calling: anonymous (id None) or a seeded user with community roles."""

    id: int | None = None
    email: str = ""
    superuser: bool = False
    roles: set[tuple[str, str]] = field(default_factory=set)  # (community id, admin|member)

    @property
    def anonymous(self) -> bool:
        return self.id is None

    def is_admin(self, community_id: str) -> bool:
        return (community_id, "admin") in self.roles

    def is_member(self, community_id: str) -> bool:
        return (community_id, "member") in self.roles or self.is_admin(community_id)


def config() -> SandboxConfig:
    result: SandboxConfig = current_app.extensions["ecasrepro.config"]
    return result


def request_token() -> str | None:
    """oauthlib's rule: any Authorization header wins (``Bearer <token>``), else access_token."""
    header = request.headers.get("Authorization")
    if header is not None:
        return header[7:] if header.startswith("Bearer ") else None
    return request.args.get("access_token") or None


def caller_for_token(db: sqlite3.Connection, token: str | None) -> Caller:
    if not token:
        return Caller()
    row = db.execute("SELECT id, email, superuser FROM users WHERE token = ?", (token,)).fetchone()
    if row is None:
        return Caller()  # unknown tokens silently mean anonymous, as on the real server
    roles = db.execute(
        "SELECT r.community_id, r.kind FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
        "WHERE ur.user_id = ?",
        (row["id"],),
    ).fetchall()
    return Caller(
        id=int(row["id"]),
        email=str(row["email"]),
        superuser=bool(row["superuser"]),
        roles={(r["community_id"], r["kind"]) for r in roles},
    )


def current_caller() -> Caller:
    if "caller" not in g:
        with storage().read() as db:
            g.caller = caller_for_token(db, request_token())
    caller: Caller = g.caller
    return caller


def community_doc(db: sqlite3.Connection, id_or_name: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT doc, created, updated FROM communities WHERE id = ? OR name = ?",
        (id_or_name.lower() if UUID_RE.match(id_or_name.lower()) else id_or_name, id_or_name),
    ).fetchone()
    if row is None:
        return None
    doc: dict[str, Any] = json.loads(row["doc"])
    doc["created"], doc["updated"] = row["created"], row["updated"]
    return doc


def role_rows(db: sqlite3.Connection, community_id: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT id, kind FROM roles WHERE community_id = ?", (community_id,)
    ).fetchall()
    return {r["kind"]: int(r["id"]) for r in rows}


def rfc1123(iso: str) -> str:
    """ISO timestamps as Flask's jsonify prints datetimes: ``Wed, 21 Dec 2016 08:57:40 GMT``."""
    return format_datetime(datetime.fromisoformat(iso), usegmt=True)
