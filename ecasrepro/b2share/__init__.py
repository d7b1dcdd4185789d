"""B2SHARE publishing: one HTTP client, the publishing engine, its v2/v3 dialects and receipt.

One job: the package's public names, resolved on first use, so that
``from ecasrepro.b2share import Publisher`` works while ``import ecasrepro`` loads neither
requests nor a dialect.

May import: .client, .dialect, .publisher, .receipt, .v2 (lazily, to re-export them); never
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "B2ShareSession": "ecasrepro.b2share.client",
    "raise_for_response": "ecasrepro.b2share.client",
    "redact_url": "ecasrepro.b2share.client",
    "V2Api": "ecasrepro.b2share.v2",
    "RemoteFile": "ecasrepro.b2share.dialect",
    "CommunitySchema": "ecasrepro.b2share.v2",
    "Publisher": "ecasrepro.b2share.publisher",
    "DraftRecord": "ecasrepro.b2share.publisher",
    "BundleStatus": "ecasrepro.b2share.publisher",
    "PlannedRequest": "ecasrepro.b2share.dialect",
    "Receipt": "ecasrepro.b2share.receipt",
}

__all__ = [
    "B2ShareSession",
    "BundleStatus",
    "CommunitySchema",
    "DraftRecord",
    "PlannedRequest",
    "Publisher",
    "Receipt",
    "RemoteFile",
    "V2Api",
    "raise_for_response",
    "redact_url",
]

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.client import B2ShareSession, raise_for_response, redact_url
    from ecasrepro.b2share.dialect import PlannedRequest, RemoteFile
    from ecasrepro.b2share.publisher import BundleStatus, DraftRecord, Publisher
    from ecasrepro.b2share.receipt import Receipt
    from ecasrepro.b2share.v2 import CommunitySchema, V2Api


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecasrepro.b2share' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
