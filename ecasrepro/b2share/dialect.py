"""What the publishing engine needs from a B2SHARE API dialect (v2 or v3), and which one a server
speaks.

:class:`~ecasrepro.b2share.publisher.Publisher` runs the whole flow once; a :class:`Dialect`
(``V2Dialect`` in v2.py, ``V3Dialect`` in v3.py) turns each step into that API's requests.

Detection follows API-v3.md §13 with one anonymous GET: ``/api/records?size=1`` without
following redirects. v2 (Invenio 3 / B2SHARE 2.x) answers 301 to the slash-terminated URL;
v3 (InvenioRDM) answers 200 with a search envelope that has ``sortBy``. Anything else is
confirmed with ``/api/vocabularies/resourcetypes?size=1`` (v3 only) before giving up. The answer
is cached per server for the life of the process; ``--api``/``B2SHARE_API``/``api =`` in the
config file skip the request altogether.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ecasrepro.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.client import B2ShareSession, FileBody
    from ecasrepro.b2share.publisher import Publisher
    from ecasrepro.b2share.receipt import Receipt
    from ecasrepro.bundle import Bundle
    from ecasrepro.config import PublishConfig

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a draft or record as the server reports it (v3 adds pending/failed)."""

    key: str
    size: int
    checksum: str  # "md5:<hex>", "" while unknown
    status: str = "completed"

    @property
    def md5(self) -> str:
        return self.checksum.split(":", 1)[1] if ":" in self.checksum else self.checksum

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "checksum": self.checksum}


@dataclass(frozen=True)
class PlannedRequest:
    """A write request that ``--dry-run`` would have sent (URL without any credential)."""

    method: str
    url: str
    summary: str

    def __str__(self) -> str:
        return f"{self.method} {self.url}  {self.summary}"

    def to_json(self) -> dict[str, str]:
        return {"method": self.method, "url": self.url, "summary": self.summary}


@dataclass
class PreparedRecord:
    """The bundle's metadata in the dialect's create body, validated, and its community."""

    body: dict[str, Any]
    title: str | None
    community_id: str | None
    warnings: list[str] = field(default_factory=list)
    source: Any = None  # the dialect's own form (e.g. a V3Record) when it needs more than body


@dataclass(frozen=True)
class DraftInfo:
    """Where a draft lives: API and web URLs, where its files go, and its state word."""

    id: str
    url: str
    html_url: str
    bucket: str | None  # v2 file bucket; None for v3 (files hang off the draft)
    files_at: str  # what file requests address: the bucket (v2) or the draft id (v3)
    state: str  # draft | submitted | published


@dataclass
class Outcome:
    """A draft's or record's state after a submission (or as found): what to report."""

    state: str
    pids: dict[str, str] = field(default_factory=dict)
    url: str | None = None  # set when it moved (v3: the published record's URL)
    html_url: str | None = None
    files: list[RemoteFile] = field(default_factory=list)
    request: str | None = None  # v3: URL of the review request


@dataclass
class RemoteView:
    """What ``status`` shows: the state on the server, its PIDs and its files."""

    state: str
    pids: dict[str, str]
    files: dict[str, RemoteFile]


class Dialect(Protocol):
    """One API's requests for each step of :class:`Publisher`; one session per instance."""

    name: str  # "v2" | "v3"
    accepts_empty_files: bool
    session: B2ShareSession
    api: Any

    def for_thread(self) -> Dialect: ...
    # metadata and community
    def prepare(self, bundle: Bundle, recorded_community: str | None, submit: bool,
                new_version_of: str | None) -> PreparedRecord: ...
    def communities(self) -> list[dict[str, Any]]: ...
    # drafts
    def draft(self, draft_id: str) -> dict[str, Any]: ...
    def orphan_candidates(self, record: PreparedRecord,
                          receipt: Receipt) -> Iterator[dict[str, Any]]: ...
    def plan_create(self, record: PreparedRecord,
                    version_of: str | None) -> list[PlannedRequest]: ...
    def create_draft(self, record: PreparedRecord, version_of: str | None) -> dict[str, Any]: ...
    def after_create(self, body: dict[str, Any], record: PreparedRecord,
                     version_of: str | None, warnings: list[str]) -> dict[str, Any]: ...
    def sync_metadata(self, body: dict[str, Any], record: PreparedRecord,
                      plan: list[PlannedRequest] | None, warnings: list[str]) -> dict[str, Any]: ...
    def describe(self, body: dict[str, Any]) -> DraftInfo: ...
    def is_version_draft(self, body: dict[str, Any]) -> bool: ...
    def outcome(self, body: dict[str, Any]) -> Outcome: ...
    # files
    def list_files(self, files_at: str) -> tuple[dict[str, RemoteFile], dict[str, Any]]: ...
    def begin_uploads(self, files_at: str, new: list[str], stale: list[str]) -> list[str]: ...
    def plan_uploads(self, files_at: str | None, uploads: list[Any],
                     stale: list[str], new: list[str]) -> list[PlannedRequest]: ...
    def upload(self, files_at: str, key: str, body: FileBody) -> RemoteFile | None: ...
    def discard(self, files_at: str, key: str) -> None: ...
    def delete_file(self, files_at: str, key: str) -> None: ...
    def file_url(self, files_at: str, key: str) -> str: ...
    # community and submission
    def attach(self, draft_id: str | None, community_id: str, created_now: bool,
               plan: list[PlannedRequest] | None) -> str | None: ...
    def plan_submit(self, draft_id: str | None, is_new_version: bool) -> PlannedRequest: ...
    def submit(self, draft_id: str, is_new_version: bool) -> Outcome: ...
    def remote_view(self, draft_id: str) -> RemoteView: ...


# --- which dialect a server speaks ------------------------------------------------------------

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


def dialect_for(name: str, session: B2ShareSession) -> Dialect:
    """The adapter for ``"v2"`` or ``"v3"`` over ``session``."""
    if name == "v3":
        from ecasrepro.b2share.v3 import V3Dialect

        return V3Dialect(session)
    from ecasrepro.b2share.v2 import V2Dialect

    return V2Dialect(session)


def open_publisher(config: PublishConfig, **options: Any) -> Publisher:
    """A :class:`Publisher` speaking the server's dialect (configured, or detected once)."""
    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.b2share.publisher import Publisher

    session = options.pop("session", None) or B2ShareSession(config)
    return Publisher(config, session=session, dialect=resolve_dialect(config, session), **options)


def list_communities(config: PublishConfig) -> list[dict[str, Any]]:
    """The server's communities as rows (id, name, workflow, restriction, description)."""
    with open_publisher(config) as publisher:
        items = publisher.dialect.communities()
    return [
        {"id": c.get("id"), "name": c.get("name"),
         "publication_workflow": c.get("publication_workflow"),
         "restricted_submission": c.get("restricted_submission"),
         "description": c.get("description")}
        for c in items
    ]


def community_schema(config: PublishConfig, community: str) -> Any:
    """A v2 community's full JSON schema (a ``CommunitySchema``); v3 has no such thing."""
    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.b2share.v2 import V2Dialect

    with B2ShareSession(config) as session:
        if resolve_dialect(config, session) == "v3":
            raise ConfigurationError(
                f"{config.server} speaks the B2SHARE v3 (InvenioRDM) API, which has no "
                "per-community schemas; data/metadata.json is checked against InvenioRDM's "
                "record schema instead (publish with --dry-run to validate it)."
            )
        v2 = V2Dialect(session)
        return v2.schema_for(v2.community(community))


__all__ = ["Dialect", "DraftInfo", "Outcome", "PlannedRequest", "PreparedRecord", "RemoteFile",
           "RemoteView", "community_schema", "detect_dialect", "dialect_for", "forget_detected",
           "list_communities", "open_publisher", "resolve_dialect"]
