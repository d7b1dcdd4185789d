"""Which B2SHARE dialects exist, and which one a server speaks.

:mod:`~ecasrepro.b2share.dialect` is the interface, ``v2.py``/``v3.py`` implement it and
register themselves here (:func:`register`), and :mod:`~ecasrepro.b2share.publisher` runs the
flow over whichever :func:`dialect_for` builds. A new dialect is a module that calls
:func:`register` and is listed in :data:`BUILTIN_DIALECT_MODULES` (and in detection, if a server
can tell).

Detection follows API-v3.md §13 with one anonymous GET: ``/api/records?size=1`` without
following redirects. v2 (Invenio 3 / B2SHARE 2.x) answers 301 to the slash-terminated URL;
v3 (InvenioRDM) answers 200 with a search envelope that has ``sortBy``. Anything else is
confirmed with ``/api/vocabularies/resourcetypes?size=1`` (v3 only) before giving up. The answer
is cached per server for the life of the process; ``--api``/``B2SHARE_API``/``api =`` in the
config file skip the request altogether.

One job: map dialect names to factories and a server to its dialect's name, so that neither the
engine nor a front end ever names an implementation.

May import: ecasrepro.errors, ecasrepro.config, .client, .dialect (types only), .v2, .v3 (only
by name, through BUILTIN_DIALECT_MODULES, on first lookup); never an implementation by an import
statement, .publisher, ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ecasrepro.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.b2share.dialect import Dialect
    from ecasrepro.config import PublishConfig

#: a dialect's factory: builds the adapter over one HTTP session
DialectFactory = Callable[["B2ShareSession"], "Dialect"]

#: the modules that register the built-in dialects when imported (imported on first lookup, so
#: ``import ecasrepro`` stays cheap)
BUILTIN_DIALECT_MODULES = ("ecasrepro.b2share.v2", "ecasrepro.b2share.v3")
DEFAULT_DIALECT = "v2"

_factories: dict[str, DialectFactory] = {}
_builtins_loaded = False
_detected: dict[str, str] = {}
_lock = threading.Lock()


def register(name: str, factory: DialectFactory) -> None:
    """Make ``name`` (as in ``--api NAME``) build its adapter with ``factory``.

    A dialect module calls this at import time, as papermill engines register themselves.
    """
    with _lock:
        _factories[name] = factory


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    for module in BUILTIN_DIALECT_MODULES:
        importlib.import_module(module)
    _builtins_loaded = True


def dialect_names() -> tuple[str, ...]:
    """The registered dialect names, sorted."""
    _load_builtins()
    with _lock:
        return tuple(sorted(_factories))


def dialect_for(name: str, session: B2ShareSession) -> Dialect:
    """The adapter for ``name`` (``"v2"``, ``"v3"``) over ``session``."""
    _load_builtins()
    with _lock:
        factory = _factories.get(name)
    if factory is None:
        raise ConfigurationError(
            f"{name!r} is not a B2SHARE API this version knows; use one of "
            f"{', '.join(dialect_names())}."
        )
    return factory(session)


def detect_dialect(session: B2ShareSession) -> str:
    """``"v2"`` or ``"v3"`` for the session's server; ConfigurationError if it is neither."""
    server = session.server
    with _lock:
        if server in _detected:
            return _detected[server]
    response = session.get(session.api("records"), params={"size": 1}, allow_redirects=False)
    dialect: str | None = None
    if response.status_code in (301, 308) and "/api/records/" in response.headers.get(
        "Location", ""
    ):
        dialect = "v2"
    elif response.status_code == 200 and "sortBy" in _json_keys(response):
        dialect = "v3"
    else:
        confirm = session.get(session.api("vocabularies/resourcetypes"), params={"size": 1},
                              allow_redirects=False)
        if confirm.status_code == 200 and "hits" in _json_keys(confirm):
            dialect = "v3"
        elif response.status_code == 200 and "hits" in _json_keys(response):
            dialect = "v2"  # a v2 server behind a proxy that already adds the slash
    if dialect is None:
        raise ConfigurationError(
            f"{server} does not answer like a B2SHARE v2 or v3 server (GET /api/records gave "
            f"HTTP {response.status_code}); check --server, or pass --api v2|v3 to skip detection."
        )
    with _lock:
        _detected[server] = dialect
    return dialect


def _json_keys(response: Any) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    return set(body) if isinstance(body, dict) else set()


def forget_detected() -> None:
    """Drop cached detections (tests start servers on reused ports)."""
    with _lock:
        _detected.clear()


def resolve_dialect(config: PublishConfig, session: B2ShareSession | None = None) -> str:
    """The configured dialect, or the detected one when the configuration says ``auto``."""
    if config.api in dialect_names():
        return config.api
    from ecasrepro.b2share.client import B2ShareSession

    own = session is None
    active = session or B2ShareSession(config)
    try:
        return detect_dialect(active)
    finally:
        if own:
            active.close()


__all__ = ["BUILTIN_DIALECT_MODULES", "DEFAULT_DIALECT", "DialectFactory", "detect_dialect",
           "dialect_for", "dialect_names", "forget_detected", "register", "resolve_dialect"]
