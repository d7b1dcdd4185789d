"""A B2SHARE-compatible sandbox server (v2 API) for tests, the demo and offline practice.

Layers: ``storage`` (SQLite + blobs), ``seed`` (users, tokens, communities), ``faults`` (WSGI fault
injection), ``v2`` (the REST API and review page), ``server`` (the runner).

One job: the sandbox's public names (the server, seeded users and community ids), so that tests and
the demo import them from one place.

May import: .seed, .server; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a
front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from ecasrepro.sandbox.seed import (
    ECAS_BLOCK_SCHEMA_ID,
    ECAS_COMMUNITY_ID,
    EUDAT_COMMUNITY_ID,
    RESTRICTED_COMMUNITY_ID,
    REVIEW_COMMUNITY_ID,
    SandboxUser,
)
from ecasrepro.sandbox.server import SandboxServer

__all__ = [
    "ECAS_BLOCK_SCHEMA_ID",
    "ECAS_COMMUNITY_ID",
    "EUDAT_COMMUNITY_ID",
    "RESTRICTED_COMMUNITY_ID",
    "REVIEW_COMMUNITY_ID",
    "SandboxServer",
    "SandboxUser",
]
