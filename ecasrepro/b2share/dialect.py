"""Which B2SHARE API a server speaks (v2 or v3/InvenioRDM), and the publisher for it.

Detection follows API-v3.md §13 with one anonymous GET: ``/api/records?size=1`` without
following redirects. v2 (Invenio 3 / B2SHARE 2.x) answers 301 to the slash-terminated URL;
v3 (InvenioRDM) answers 200 with a search envelope that has ``sortBy``. Anything else is
confirmed with ``/api/vocabularies/resourcetypes?size=1`` (v3 only) before giving up. The answer
is cached per server for the life of the process; ``--api``/``B2SHARE_API``/``api =`` in the
config file skip the request altogether.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ecasrepro.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.config import PublishConfig

_detected: dict[str, str] = {}
_lock = threading.Lock()


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
    if config.api in ("v2", "v3"):
        return config.api
    from ecasrepro.b2share.client import B2ShareSession

    own = session is None
    active = session or B2ShareSession(config)
    try:
        return detect_dialect(active)
    finally:
        if own:
            active.close()


def open_publisher(config: PublishConfig, **options: Any) -> Any:
    """A publisher for the server's dialect: :class:`Publisher` (v2) or :class:`V3Publisher`.

    Both have the same ``publish()``/``status()`` signatures and return the same result types,
    so callers (CLI, library API) do not care which one they got.
    """
    from ecasrepro.b2share.client import B2ShareSession

    session = options.pop("session", None) or B2ShareSession(config)
    dialect = resolve_dialect(config, session)
    if dialect == "v3":
        from ecasrepro.b2share.publisher_v3 import V3Publisher

        return V3Publisher(config, session=session, **options)
    from ecasrepro.b2share.publisher import Publisher

    return Publisher(config, session=session, **options)


__all__ = ["detect_dialect", "forget_detected", "open_publisher", "resolve_dialect"]
