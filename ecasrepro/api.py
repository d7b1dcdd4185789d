"""The library API that every front end (CLI, notebook magic, archive) calls.

Each function wires engines together (capture -> bundle -> publish); the engines live in their own
modules, and heavy imports happen inside the functions so ``import ecasrepro`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.bundle import Bundle


def snapshot(notebook: Any, **options: Any) -> Bundle:
    """Capture ``notebook`` and everything needed to reproduce it into a bundle on disk."""
    raise NotImplementedError("snapshot is being built")  # replaced by the capture/bundle work


def publish(bundle: Any, **options: Any) -> Any:
    """Publish a bundle to B2SHARE as a draft record (or submit it with ``submit=True``)."""
    raise NotImplementedError("publish is being built")  # replaced by the publishing work
