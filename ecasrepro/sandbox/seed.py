"""Seed data: users with tokens and the communities every sandbox starts with.

Communities are the real EUDAT and BBMRI demo communities (from the package's demo data), the ECAS
community with its real id on root schema v1 plus a block schema of our design, a community that
requires review, and a restricted one.  Seeding is idempotent: a restarted sandbox keeps its users,
tokens and communities; ``--token`` only replaces the first user's token.

One job: the users and communities every sandbox starts with, so that tests and the demo meet the
same server.

May import: .storage; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from ecasrepro.sandbox.storage import Storage

ECAS_COMMUNITY_ID = "d2c6e694-0c0a-4884-ad15-ddf498008320"
ECAS_BLOCK_SCHEMA_ID = "c9097f4d-95b7-484a-9b10-a261bbbb20b0"
EUDAT_COMMUNITY_ID = "e9b9792e-79fb-4b07-b6b4-b9c2bd06d095"
BBMRI_COMMUNITY_ID = "99916f6f-9a2c-4feb-a342-6552ac7f1529"
BBMRI_BLOCK_SCHEMA_ID = "362e6f81-68fb-4d71-9496-34ca00e59769"
REVIEW_COMMUNITY_ID = "5f0c2a7e-3b1d-4e8a-9c6f-2d4b8a1e7c30"
RESTRICTED_COMMUNITY_ID = "8b1e4d2a-6c3f-4a7b-b9e0-1f5d3c2a4e60"

_CREATED = "Wed, 21 Dec 2016 08:57:40 GMT"

#: The ECAS block schema: optional, ECAS-flavoured provenance fields (see docs/decisions.md).
ECAS_BLOCK_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "ECAS",
    "description": "Provenance of analyses run in the ENES Climate Analytics Service (ECAS).",
    "type": "object",
    "properties": {
        "analytics_service_instance": {
            "title": "Analytics service instance",
            "description": "The ECAS instance that ran the analysis, e.g. ECAS-DKRZ or ECAS-CMCC.",
            "type": "string",
        },
        "ophidia_version": {
            "title": "Ophidia version",
            "description": "Version of the Ophidia framework (server) used, if any.",
            "type": "string",
        },
        "pyophidia_version": {
            "title": "PyOphidia version",
            "description": "Version of the PyOphidia client library used, if any.",
            "type": "string",
        },
        "notebook_kernel": {
            "title": "Notebook kernel",
            "description": "Jupyter kernel the notebook was executed with, e.g. python3.",
            "type": "string",
        },
        "notebook_name": {
            "title": "Notebook",
            "description": "File name of the executed notebook inside the bundle.",
            "type": "string",
        },
        "execution_date": {
            "title": "Execution date",
            "description": "When the notebook was executed (ISO 8601).",
            "type": "string",
            "format": "date-time",
        },
        "reproducible": {
            "title": "Re-executed",
            "description": "Whether the bundle was re-executed and reproduced before publication.",
            "type": "boolean",
        },
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class SandboxUser:
    """A seeded account; ``token`` is its personal access token (a test credential)."""

    id: int
    email: str
    token: str
    superuser: bool = False

    def __repr__(self) -> str:  # never print the token
        return f"SandboxUser(id={self.id}, email={self.email!r}, superuser={self.superuser})"


def _demo(name: str) -> Any:
    path = files("ecasrepro") / "data" / "b2share" / "v2" / "demo" / name
    return json.loads(path.read_text(encoding="utf-8"))


def community_docs() -> list[dict[str, Any]]:
    """The seeded communities in the sandbox's internal form (see ``v2.communities``)."""
    eudat = _demo("community_eudat.json")
    bbmri = _demo("community_bbmri.json")
    bbmri_block = _demo("community_block_schemas_bbmri.json")
    return [
        {
            "id": EUDAT_COMMUNITY_ID,
            "name": eudat["name"],
            "description": eudat["description"],
            "logo": eudat["logo"],
            "publication_workflow": eudat["publication_workflow"],
            "restricted_submission": eudat["restricted_submission"],
            "schemas": [{"version": 0, "root_schema": 0, "block_version": None}],
            "block_schema": None,
        },
        {
            "id": BBMRI_COMMUNITY_ID,
            "name": bbmri["name"],
            "description": bbmri["description"],
            "logo": bbmri["logo"],
            "publication_workflow": bbmri["publication_workflow"],
            "restricted_submission": bbmri["restricted_submission"],
            "schemas": [{"version": 0, "root_schema": 0, "block_version": 0}],
            "block_schema": {
                "id": BBMRI_BLOCK_SCHEMA_ID,
                "name": "bbmri",
                "versions": [bbmri_block],
            },
        },
        {
            "id": ECAS_COMMUNITY_ID,
            "name": "ECAS",
            "description": "ENES Climate Analytics Service: reproducible climate analyses "
            "(notebooks, workflows and their results) derived from published datasets.",
            "logo": "/img/communities/ecas.png",
            "publication_workflow": "direct_publish",
            "restricted_submission": False,
            "schemas": [
                {"version": 0, "root_schema": 0, "block_version": 0},
                {"version": 1, "root_schema": 1, "block_version": 0},
            ],
            "block_schema": {
                "id": ECAS_BLOCK_SCHEMA_ID,
                "name": "ECAS",
                "versions": [ECAS_BLOCK_SCHEMA],
            },
        },
        {
            "id": REVIEW_COMMUNITY_ID,
            "name": "ECAS Review",
            "description": "Curated ECAS results: drafts are published after a community admin "
            "has reviewed them.",
            "logo": "/img/communities/ecas.png",
            "publication_workflow": "review_and_publish",
            "restricted_submission": False,
            "schemas": [{"version": 0, "root_schema": 2, "block_version": None}],
            "block_schema": None,
        },
        {
            "id": RESTRICTED_COMMUNITY_ID,
            "name": "ECAS Members",
            "description": "Only members of this community may create records in it.",
            "logo": "/img/communities/ecas.png",
            "publication_workflow": "direct_publish",
            "restricted_submission": True,
            "schemas": [{"version": 0, "root_schema": 1, "block_version": None}],
            "block_schema": None,
        },
    ]


_USERS: list[tuple[int, str, bool, list[tuple[str, str]]]] = [
    (1, "alice@sandbox.ecasrepro.test", False, []),
    (2, "bob@sandbox.ecasrepro.test", False, []),
    (
        3,
        "reviewer@sandbox.ecasrepro.test",
        False,
        [(REVIEW_COMMUNITY_ID, "admin"), (RESTRICTED_COMMUNITY_ID, "member")],
    ),
    (4, "admin@sandbox.ecasrepro.test", True, []),
]


def new_token() -> str:
    """60 alphanumeric characters, like B2SHARE's personal access tokens."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(60))


def seed(storage: Storage, first_token: str | None = None) -> list[SandboxUser]:
    """Create (once) users, roles and communities; return the users with their tokens."""
    with storage.transaction() as db:
        for doc in community_docs():
            if db.execute("SELECT 1 FROM communities WHERE id = ?", (doc["id"],)).fetchone():
                continue
            db.execute(
                "INSERT INTO communities (id, name, doc, created, updated) VALUES (?, ?, ?, ?, ?)",
                (doc["id"], doc["name"], json.dumps(doc), _CREATED, _CREATED),
            )
            for kind in ("admin", "member"):
                db.execute(
                    "INSERT OR IGNORE INTO roles (community_id, kind) VALUES (?, ?)",
                    (doc["id"], kind),
                )
        for user_id, email, superuser, roles in _USERS:
            if not db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone():
                db.execute(
                    "INSERT INTO users (id, email, token, superuser) VALUES (?, ?, ?, ?)",
                    (user_id, email, new_token(), int(superuser)),
                )
            for community_id, kind in roles:
                role = db.execute(
                    "SELECT id FROM roles WHERE community_id = ? AND kind = ?", (community_id, kind)
                ).fetchone()
                db.execute(
                    "INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?, ?)",
                    (user_id, role["id"]),
                )
        if first_token:
            db.execute("UPDATE users SET token = ? WHERE id = 1", (first_token,))
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', ?)", (str(uuid.uuid4()),)
        )
        rows = db.execute("SELECT id, email, token, superuser FROM users ORDER BY id").fetchall()
    return [SandboxUser(r["id"], r["email"], r["token"], bool(r["superuser"])) for r in rows]


__all__ = [
    "BBMRI_BLOCK_SCHEMA_ID",
    "BBMRI_COMMUNITY_ID",
    "ECAS_BLOCK_SCHEMA",
    "ECAS_BLOCK_SCHEMA_ID",
    "ECAS_COMMUNITY_ID",
    "EUDAT_COMMUNITY_ID",
    "RESTRICTED_COMMUNITY_ID",
    "REVIEW_COMMUNITY_ID",
    "SandboxUser",
    "community_docs",
    "seed",
]
