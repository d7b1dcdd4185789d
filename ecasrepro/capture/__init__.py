"""The capture engine: what a snapshot records about a notebook and the machine it ran on.

One job: group :mod:`.notebook` (read, validate, execute, render HTML), :mod:`.environment` (pins,
conda, platform), :mod:`.vcs` (git state) and :mod:`.secrets` (redaction, scanning), so that the
API and the publisher name one layer; it re-exports nothing, so importing one module loads only
that one.

The one name it defines, :func:`start_recording`, loads :mod:`.recorder` when called.

May import: ecasrepro.capture.recorder (lazily, in start_recording); never ecasrepro.bundle,
ecasrepro.b2share, ecasrepro.api or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nothing more is imported with the package
    from collections.abc import MutableMapping
    from typing import Any


def start_recording(namespace: MutableMapping[str, Any] | None = None) -> None:
    """Record every file this process reads from now on (for scripts; the magic calls the
    recorder itself). Names in ``namespace`` (default: the ``__main__`` script's globals) bound
    to an unwrapped ``netCDF4.Dataset`` or ``xarray.open_dataset`` by an earlier
    ``from ... import`` are rebound to the recording wrapper."""
    import sys

    from ecasrepro.capture.recorder import start_recording as start

    main = sys.modules.get("__main__")
    start(namespace if namespace is not None else getattr(main, "__dict__", None))
