"""``receipt.json``: what of a bundle was published where, written as soon as each step succeeds.

It makes publishing resumable and idempotent: a re-run continues the recorded draft and uploads
only files that are missing or different. Every write is atomic (temp file + ``os.replace``), so a
crash leaves either the old or the new receipt, never half of one. It never holds the token.

One job: record each published step at once, so that a re-run resumes instead of starting over.

May import: ecasrepro.errors; never another module of this package, ecasrepro.api or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput

RECEIPT_FORMAT = "ecasrepro-receipt/1"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


_TEXT_FIELDS = ("dialect", "community", "draft_id", "bucket", "url", "html_url", "state",
                "version_of", "create_started", "request", "title", "created", "updated")


def _type_problem(data: dict[str, Any]) -> str | None:
    """What makes a parsed receipt unusable (a hand edit, another tool), or None."""
    if not isinstance(data.get("server"), str) or not data["server"]:
        return "'server' is not a URL"
    for name in _TEXT_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"{name!r} is not text"
    for name, kind in (("files", dict), ("pids", dict), ("previous", list)):
        if data.get(name) is not None and not isinstance(data[name], kind):
            return f"{name!r} is not a {kind.__name__}"
    if any(not isinstance(v, dict) for v in (data.get("files") or {}).values()):
        return "an entry of 'files' is not an object"
    if data.get("create_started"):
        try:
            _dt.datetime.fromisoformat(data["create_started"])
        except ValueError:
            return "'create_started' is not a time"
    return None


@dataclass
class UploadedFile:
    """A payload file the server confirmed: key, size, md5 (as the server computed it), sha256."""

    key: str
    size: int
    md5: str
    sha256: str | None = None
    uploaded: str = field(default_factory=now_iso)
    status: str = "completed"  # v3: "pending" between init and a verified commit


@dataclass
class Receipt:
    """The publishing state of one bundle on one server."""

    server: str
    dialect: str = "v2"
    community: str | None = None
    draft_id: str | None = None
    bucket: str | None = None
    url: str | None = None
    html_url: str | None = None
    state: str | None = None
    version_of: str | None = None
    create_started: str | None = None  # a POST was sent but its answer not seen (crash window)
    request: str | None = None  # v3: API URL of the draft's community review request
    title: str | None = None
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    pids: dict[str, str] = field(default_factory=dict)
    previous: list[dict[str, Any]] = field(default_factory=list)
    format: str = RECEIPT_FORMAT

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = {key: asdict(value) for key, value in sorted(self.files.items())}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path) -> Receipt:
        if not isinstance(data, dict) or data.get("format") != RECEIPT_FORMAT:
            raise BadInput(
                f"{path} is not an ecasrepro receipt (format {RECEIPT_FORMAT}); move it away and "
                "publish again."
            )
        try:
            problem = _type_problem(data)
            if problem is None:
                files = {
                    key: UploadedFile(**value) for key, value in (data.get("files") or {}).items()
                }
                problem = next((f"files.{k} has a bad size or md5" for k, f in files.items()
                                if not isinstance(f.size, int) or not isinstance(f.md5, str)),
                               None)
        except TypeError as exc:
            problem = str(exc)
        if problem is not None:
            raise BadInput(
                f"{path} is damaged ({problem}); move it away and publish again with --new-draft."
            )
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["files"] = files
        return cls(**known)

    # --- persistence ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Receipt | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BadInput(
                f"{path} cannot be read ({exc.strerror}); move it away and publish again."
            ) from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadInput(
                f"{path} is not valid JSON; move it away and publish again with --new-draft."
            ) from None
        return cls.from_json(data, path)

    def save(self, path: Path) -> None:
        """Atomic write: a crash leaves the previous receipt or this one, never a mix."""
        self.updated = now_iso()
        payload = json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".receipt-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def archive_current(self) -> None:
        """Keep a summary of the current draft in ``previous`` before starting a new one."""
        if self.draft_id:
            self.previous.append(
                {"draft_id": self.draft_id, "state": self.state, "url": self.url,
                 "html_url": self.html_url, "pids": dict(self.pids), "archived": now_iso()}
            )
        self.draft_id = self.bucket = self.url = self.html_url = self.state = None
        self.version_of = self.create_started = self.request = None
        self.files = {}
        self.pids = {}
