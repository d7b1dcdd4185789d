"""What the publishing engine needs from a B2SHARE API dialect (v2 or v3): the interface only.

:class:`~ecasrepro.b2share.publisher.Publisher` runs the whole flow once; a :class:`Dialect`
(``V2Dialect`` in v2.py, ``V3Dialect`` in v3.py) turns each step into that API's requests.
This module imports no implementation: :mod:`ecasrepro.b2share.registry` knows the dialects,
detects which one a server speaks and builds a publisher for it.

One job: the interface between the engine and an API dialect, so that one engine serves v2 and v3
and a new dialect needs no change to it.

May import: .client, .receipt, ecasrepro.bundle (types only, under TYPE_CHECKING); never an
implementation (.v2, .v3, .registry, .publisher), ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.client import B2ShareSession, FileBody
    from ecasrepro.b2share.receipt import Receipt
    from ecasrepro.bundle import Bundle

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
    def community_schema(self, community: str) -> Any: ...
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


__all__ = ["EMPTY_MD5", "Dialect", "DraftInfo", "Outcome", "PlannedRequest", "PreparedRecord",
           "RemoteFile", "RemoteView"]
