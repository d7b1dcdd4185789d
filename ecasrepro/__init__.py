"""ecasrepro: capture an executed notebook, bundle it, and publish it to B2SHARE.

The public API is small and imported lazily, so that ``%load_ext ecasrepro`` and
``import ecasrepro`` stay fast: nbconvert, jsonschema and gitpython load only when used.

    import ecasrepro
    bundle = ecasrepro.snapshot("analysis.ipynb", inputs=["hdl:21.14100/..."])
    draft = ecasrepro.publish(bundle, server="https://...", community="...")

One job: the package's front door, so that ``import ecasrepro`` offers the few public names (each
resolved on first use) and ``%load_ext ecasrepro`` works without loading an engine.

May import: ecasrepro.version, ecasrepro.api, ecasrepro.bundle, ecasrepro.errors, ecasrepro.pids
(lazily, the names it exports), ecasrepro.magic and ecasrepro.capture.recorder (in the extension
hooks; the recorder is standard library only), ecasrepro.capture.secrets
(lazily, as the message filter it installs in ecasrepro.errors); never ecasrepro.cli or
ecasrepro.compat, and no engine at import time (it must stay fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecasrepro.errors import set_message_filter
from ecasrepro.version import __version__

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY = {
    "snapshot": "ecasrepro.api",
    "publish": "ecasrepro.api",
    "verify": "ecasrepro.api",
    "archive": "ecasrepro.api",
    "verify_many": "ecasrepro.api",
    "reproduce": "ecasrepro.api",
    "Bundle": "ecasrepro.bundle",
    "RelatedIdentifier": "ecasrepro.pids",
    "EcasReproError": "ecasrepro.errors",
    "ExitCode": "ecasrepro.errors",
}

__all__ = [  # noqa: RUF022 - grouped by meaning
    "__version__",
    "snapshot",
    "publish",
    "verify",
    "archive",
    "verify_many",
    "reproduce",
    "load_ipython_extension",
    "unload_ipython_extension",
    "Bundle",
    "RelatedIdentifier",
    "EcasReproError",
    "ExitCode",
]

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.api import archive, publish, reproduce, snapshot, verify, verify_many
    from ecasrepro.bundle import Bundle
    from ecasrepro.errors import EcasReproError, ExitCode
    from ecasrepro.pids import RelatedIdentifier


def _redact_known_secrets(text: str) -> str:
    """Every error sentence, however raised, is scrubbed of known secrets when shown."""
    from ecasrepro.capture.secrets import Redactor

    return Redactor.from_environment().redact_text(text)


set_message_filter(_redact_known_secrets)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ecasrepro``: register ``%ecas_publish`` and ``%ecas_snapshot``, and start
    recording the files the kernel reads.

    Imports only :mod:`ecasrepro.magic` (IPython's own magic machinery); nbconvert, jsonschema,
    gitpython and requests load when a magic first runs.
    """
    from ecasrepro.capture.recorder import start_recording
    from ecasrepro.magic import register

    # the files the kernel reads from now on (the snapshot's inputs); names the user bound to
    # an unwrapped library class or function before loading the extension are rebound
    start_recording(getattr(ipython, "user_ns", None))
    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext ecasrepro``: remove the magics and the execution-time hook again."""
    from ecasrepro.magic import unregister

    unregister(ipython)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecasrepro' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
