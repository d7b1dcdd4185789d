"""The publishing engine: a bundle becomes a B2SHARE draft, verified, resumable, idempotent.

One flow for both API dialects (the :class:`~ecasrepro.b2share.dialect.Dialect` adapters turn
each step into v2 or v3 requests). Every write comes only after every check that can be done
without writing:

1. open the bundle, check it (sizes), make sure no secret can leave (see :meth:`check_payload`:
   files the snapshot scanned and that did not change are trusted, the rest is scanned or
   re-hashed), read the receipt (``<bundle>/receipt.json``) to continue an earlier run;
2. map and validate the metadata locally (draft mode; submit mode too with ``submit``);
3. continue the recorded draft, adopt the one a killed run created, or create it -- recording it
   in the receipt at once -- and bring its metadata up to the bundle's;
4. upload what the draft lacks or holds differently, 4 files at a time, each streamed and its md5
   compared with the server's (mismatch: discard, retry once, fail);
5. verify every file against the receipt; attach to the community (v3); optionally submit.

One job: the one publishing engine over any dialect, so that resuming, verifying and submitting are
written once.

May import: .client, .dialect, .receipt, .registry, ecasrepro.bundle, ecasrepro.capture.secrets,
ecasrepro.config, ecasrepro.errors; never a dialect by name (.v2, .v3: the registry builds them),
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecasrepro.b2share.client import B2ShareSession, FileBody
from ecasrepro.b2share.dialect import (
    EMPTY_MD5,
    Dialect,
    Outcome,
    PlannedRequest,
    PreparedRecord,
    RemoteFile,
)
from ecasrepro.b2share.receipt import Receipt, UploadedFile, now_iso
from ecasrepro.b2share.registry import dialect_for, resolve_dialect
from ecasrepro.config import UPLOAD_WORKERS_DEFAULT, PublishConfig
from ecasrepro.errors import (
    BadInput,
    ConfigurationError,
    SecretFound,
    ServerRefused,
    ServerUnreachable,
)

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.bundle import Bundle, PayloadFile

log = logging.getLogger("ecasrepro.b2share")

Echo = Callable[[str], None]
PROGRESS_MIN_BYTES = 4 * 1024 * 1024
ORPHAN_CLOCK_SLACK_SECONDS = 300
DEFAULT_UPLOAD_WORKERS = UPLOAD_WORKERS_DEFAULT
#: Payload files smaller than this are always scanned again (cheap; covers metadata.json and the
#: RO-Crate); larger ones the snapshot scanned are trusted while their stat is unchanged.
TRUST_SNAPSHOT_MIN = 1024 * 1024
LOCK_FILE = ".ecasrepro-publish.lock"


@dataclass
class DraftRecord:
    """What publishing produced: the draft (or record) id, its API and web URLs, state and files."""

    id: str | None
    url: str | None  # API URL of the draft, e.g. https://host/api/records/<id>/draft
    html_url: str | None  # web page to review (and submit) the draft
    state: str  # draft | submitted | published | planned (dry run)
    bucket: str | None
    files: list[RemoteFile] = field(default_factory=list)
    pids: dict[str, str] = field(default_factory=dict)  # ePIC_PID / DOI once published
    server: str = ""
    community: str | None = None
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    requests: list[PlannedRequest] = field(default_factory=list)
    receipt: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": self.url, "html_url": self.html_url, "state": self.state,
            "bucket": self.bucket, "files": [f.to_json() for f in self.files],
            "pids": dict(self.pids), "server": self.server, "community": self.community,
            "uploaded": list(self.uploaded), "skipped": list(self.skipped),
            "removed": list(self.removed), "extra": list(self.extra),
            "warnings": list(self.warnings), "dry_run": self.dry_run,
            "requests": [r.to_json() for r in self.requests], "receipt": self.receipt,
        }


@dataclass(frozen=True)
class FileStatus:
    key: str
    size: int
    state: str  # uploaded | missing | different | pending | empty | not uploaded
    remote_checksum: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "state": self.state,
                "remote_checksum": self.remote_checksum}


@dataclass
class BundleStatus:
    """What the receipt says and what the server says, file by file."""

    bundle: str
    server: str | None
    draft_id: str | None
    state: str  # unpublished | draft | submitted | published | deleted
    url: str | None
    html_url: str | None
    files: list[FileStatus] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    pids: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "server": self.server, "id": self.draft_id,
                "state": self.state, "url": self.url, "html_url": self.html_url,
                "files": [f.to_json() for f in self.files], "extra": list(self.extra),
                "pids": dict(self.pids)}


def _test_hook(point: str) -> None:
    """Crash-test hook: ``ECASREPRO_TEST_HOOK=kill-after-<point>`` SIGKILLs us right there."""
    if os.environ.get("ECASREPRO_TEST_HOOK") == f"kill-after-{point}":
        os.kill(os.getpid(), signal.SIGKILL)


def open_bundle(bundle: Bundle | str | os.PathLike[str]) -> Bundle:
    from ecasrepro.bundle import Bundle

    return bundle if isinstance(bundle, Bundle) else Bundle.open(Path(bundle))


@contextlib.contextmanager
def publish_lock(bundle: Bundle, echo: Echo, optional: bool = False) -> Iterator[None]:
    """Hold an exclusive OS lock on ``<bundle>/.ecasrepro-publish.lock`` while publishing.

    Two runs of one bundle would both read a receipt without a draft and both create one; so a
    second run waits here until the first ends (the kernel drops a lock with its process, even
    on kill -9), then reads the receipt the first one wrote and continues its draft. The lock
    file is a dotfile, so archives and the bag leave it out; it holds the holder's pid for the
    message. ``optional`` (a dry run) proceeds unlocked in a bundle it cannot write to.
    """
    import fcntl

    path = Path(bundle.path) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if optional:
            yield
            return
        raise BadInput(
            f"cannot write in the bundle {bundle.path} ({exc.strerror or exc}); publishing "
            "records its receipt there, so make the bundle writable."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            echo(f"another publish of {bundle.path} is running{who}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def upload_workers() -> int:
    """Parallel uploads: ``ECASREPRO_UPLOAD_WORKERS`` (default 4, at least 1)."""
    raw = os.environ.get("ECASREPRO_UPLOAD_WORKERS", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_UPLOAD_WORKERS
    except ValueError:
        raise ConfigurationError(
            f"ECASREPRO_UPLOAD_WORKERS={raw!r} is not a whole number; unset it or use e.g. 4."
        ) from None


def _secret_error(bundle: Bundle, findings: list[Any]) -> SecretFound:
    shown = "; ".join(str(f) for f in findings[:5])
    more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
    return SecretFound(
        f"the bundle {bundle.path} contains what looks like a secret ({shown}{more}); "
        "remove it from the notebook or attachments and snapshot again."
    )


class _FileProgress:
    """Feeds one file's bytes into the shared progress bar; a restarted send takes them back."""

    def __init__(self, bar: Any, lock: threading.Lock) -> None:
        self.bar, self.lock, self.sent = bar, lock, 0

    def update(self, count: int) -> None:
        self.sent += count
        with self.lock:
            self.bar.update(count)

    def restart(self) -> None:
        with self.lock:
            self.bar.update(-self.sent)
        self.sent = 0


@dataclass
class _Run:
    """One ``publish`` call's state shared by its steps."""

    bundle: Bundle
    receipt: Receipt
    receipt_path: Path
    result: DraftRecord
    plan: list[PlannedRequest] | None  # None unless --dry-run
    known_md5: dict[str, str]  # relpath -> md5 recorded by the snapshot (no hashing needed)
    #: the receipt as it was before this run set its draft aside (--new-draft, --new-version-of):
    #: what a refused create puts back, so a typo never loses the recorded draft or record
    before: Receipt | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def save(self) -> None:
        if self.plan is None:
            with self.lock:
                self.receipt.save(self.receipt_path)


class Publisher:
    """Publishes bundles to one B2SHARE server in one dialect (one session, one schema cache).

    ``dialect`` is the adapter (see :mod:`~ecasrepro.b2share.registry`); :func:`open_publisher`
    builds one for a configuration, detecting the server's dialect when asked to.
    """

    def __init__(
        self,
        config: PublishConfig,
        dialect: Dialect,
        *,
        progress: bool | None = None,
        echo: Echo | None = None,
    ) -> None:
        self.config = config
        self.dialect: Dialect = dialect
        self.session: B2ShareSession = dialect.session
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.echo: Echo = echo or (lambda message: log.info("%s", message))
        self._local = threading.local()
        self._workers: list[Dialect] = []
        self._lock = threading.Lock()
        #: called with a new draft's id once the receipt records it, before any upload
        self.on_draft: Callable[[str], None] | None = None

    @property
    def api(self) -> Any:
        return self.dialect.api

    def close(self) -> None:
        for worker in self._workers:
            worker.session.close()
        self.session.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _thread_dialect(self) -> Dialect:
        """One session per upload thread: requests sessions are not shared across threads."""
        worker = getattr(self._local, "dialect", None)
        if worker is None:
            worker = self._local.dialect = self.dialect.for_thread()
            with self._lock:
                self._workers.append(worker)
        return worker

    # --- secrets and fixity ------------------------------------------------------------------
    def check_payload(self, bundle: Bundle) -> dict[str, str]:
        """Make sure no byte the snapshot did not scan can be sent; relpath -> recorded md5.

        A payload file whose sha256 and md5 the snapshot recorded (it scanned the same bytes in
        the same pass) is trusted while its size and mtime are what the snapshot recorded, like
        git's index; one whose stat changed is re-hashed against the manifest before anything is
        sent, and a change refuses the bundle. Everything else -- tag files, files under
        :data:`TRUST_SNAPSHOT_MIN`, bundles without md5 or fixity data -- is scanned here, with
        the configured token added to the known secrets; their md5 is computed while sending.
        """
        from ecasrepro.capture.secrets import Redactor, scan_tree

        known: dict[str, str] = {}
        skip = ["receipt.json"]
        changed = []
        fixity = bundle.fixity()
        for pf in bundle.payload_files():
            if not pf.md5 or pf.relpath not in fixity:
                continue
            known[pf.relpath] = pf.md5
            if not bundle.unchanged_since_snapshot(pf):
                changed.append(pf)
            if pf.size >= TRUST_SNAPSHOT_MIN:
                skip.append("data/" + pf.relpath)
        extra = [self.config.token.reveal()] if self.config.token else []
        findings = scan_tree(Path(bundle.path), Redactor.from_environment(extra=extra),
                             skip=frozenset(skip))
        if findings:
            raise _secret_error(bundle, findings)
        for pf in changed:  # the same bytes as at snapshot time, or refused before any write
            try:
                bundle.verify_file(pf)
            except BadInput:
                raise BadInput(
                    f"{bundle.path}/data/{pf.relpath} changed after the snapshot (it no longer "
                    "matches the bag's manifest-sha256.txt and manifest-md5.txt"
                    f"{bundle.hardlink_note(pf)}); re-run `ecasrepro snapshot` to capture it "
                    "again."
                ) from None
        return known

    def _upload_guard(self, bundle: Bundle, pf: PayloadFile) -> Callable[[], Any] | None:
        """For a file :meth:`check_payload` trusted unscanned: a known-secrets check per send.

        The snapshot did not know a token configured after it; the upload reads every byte,
        so it checks them for every token known now, a chunk ahead of sending (exit 5).
        """
        from functools import partial  # local: the module's imports are kept as they are

        if pf.size < TRUST_SNAPSHOT_MIN:
            return None  # scanned by check_payload with the publish token
        redactor = getattr(self, "_publish_redactor", None)
        if redactor is None:
            from ecasrepro.capture.secrets import Redactor

            extra = [self.config.token.reveal()] if self.config.token else []
            redactor = self._publish_redactor = Redactor.from_environment(extra=extra)
        return partial(redactor.upload_guard, f"{bundle.path}/data/{pf.relpath}")

    # --- the main flow ---------------------------------------------------------------------------
    def publish(
        self,
        bundle_or_path: Bundle | str | os.PathLike[str],
        *,
        submit: bool = False,
        new_version_of: str | None = None,
        new_draft: bool = False,
        dry_run: bool = False,
    ) -> DraftRecord:
        """Publish the bundle; one run at a time per bundle (see :func:`publish_lock`)."""
        bundle = open_bundle(bundle_or_path)
        with publish_lock(bundle, self.echo, optional=dry_run):
            return self._publish(bundle, submit=submit, new_version_of=new_version_of,
                                 new_draft=new_draft, dry_run=dry_run)

    def _publish(
        self, bundle: Bundle, *, submit: bool, new_version_of: str | None, new_draft: bool,
        dry_run: bool,
    ) -> DraftRecord:
        dialect = self.dialect
        try:
            bundle.validate(fast=True)
        except BadInput:  # a payload file's size moved: name it (a hard link's original edited)
            changed = bundle.changed_since_snapshot()
            if changed:
                raise BadInput(f"{bundle.path}/{changed[0]}; re-run `ecasrepro snapshot` to "
                               "capture it again.") from None
            raise
        known_md5 = self.check_payload(bundle)
        if not dry_run:
            self.config.require_token()
        receipt_path = Path(bundle.receipt_path)
        receipt = Receipt.load(receipt_path)
        warnings = list(self.config.warnings)
        plan: list[PlannedRequest] = []

        if receipt and receipt.server != self.config.server and not new_draft:
            raise BadInput(
                f"{receipt_path} records a draft on {receipt.server}, not {self.config.server}; "
                "re-run with --new-draft to publish this bundle there too (the old draft stays "
                "listed in the receipt)."
            )
        if receipt and receipt.draft_id and receipt.dialect != dialect.name and not new_draft:
            raise BadInput(
                f"{receipt_path} records a B2SHARE {receipt.dialect} draft but "
                f"{self.config.server} speaks {dialect.name}; re-run with --new-draft to start "
                f"a {dialect.name} draft."
            )
        continuing = bool(receipt and receipt.draft_id and not new_draft)
        record = dialect.prepare(bundle, receipt.community if continuing and receipt else None,
                                 submit, new_version_of)
        warnings.extend(record.warnings)

        # -- which draft -------------------------------------------------------------------------
        before = copy.deepcopy(receipt)
        if receipt is None or new_draft:
            if receipt is not None:
                receipt.archive_current()
                receipt.server = self.config.server
            else:
                receipt = Receipt(server=self.config.server)
        draft: dict[str, Any] | None = None
        if receipt.draft_id:
            if new_version_of and receipt.version_of != new_version_of:
                if receipt.state != "published":
                    raise BadInput(
                        f"{receipt_path} already records draft {receipt.draft_id} (state "
                        f"{receipt.state}); finish it, or pass --new-draft to start over."
                    )
                receipt.archive_current()
            else:
                draft = self._recorded_draft(receipt, receipt_path)
        elif receipt.create_started:
            draft = self._find_orphan(receipt, record)
            if draft is not None:
                self.echo(f"continuing draft {draft['id']} that an interrupted run created")
        receipt.dialect = dialect.name
        run = _Run(bundle, receipt, receipt_path, DraftRecord(
            id=None, url=None, html_url=None, state="planned", bucket=None,
            server=self.config.server, community=record.community_id, warnings=warnings,
            dry_run=dry_run, requests=plan, receipt=str(receipt_path),
        ), plan if dry_run else None, known_md5,
            before if before and before.draft_id and not receipt.draft_id else None)

        if draft is not None and dialect.describe(draft).state in ("submitted", "published"):
            return self._finished(run, draft)
        created_now = False
        if draft is None:
            if dry_run:
                plan.extend(dialect.plan_create(record, new_version_of))
            else:
                draft = self._create(run, record, new_version_of)
                created_now = True
        else:
            draft = dialect.sync_metadata(draft, record, run.plan, warnings)

        info = dialect.describe(draft) if draft else None
        result = run.result
        if info:
            result.id, result.url, result.html_url = info.id, info.url, info.html_url
            result.state, result.bucket = "draft", info.bucket

        # -- files --------------------------------------------------------------------------------
        remote: dict[str, RemoteFile] = {}
        limits: dict[str, Any] = {}
        if info:
            remote, limits = dialect.list_files(info.files_at)
        payload = []
        for pf in bundle.payload_files():
            if pf.size == 0 and not dialect.accepts_empty_files:
                warnings.append(f"{pf.relpath} is empty and B2SHARE does not store empty files; "
                                "it stays in the bundle but was not uploaded.")
                continue
            payload.append(pf)
        payload_keys = {pf.relpath for pf in payload}
        self._check_limits(payload, limits)
        self._sync_files(run, info.files_at if info else None, payload, remote)

        is_new_version = bool(receipt.version_of or new_version_of) or bool(
            draft and dialect.is_version_draft(draft))
        extras = sorted(set(remote) - payload_keys)
        if extras and is_new_version:
            # A new version starts with the previous version's files: the bundle defines the set.
            for key in extras:
                if dry_run:
                    plan.append(PlannedRequest("DELETE", dialect.file_url(
                        info.files_at if info else "<new>", key),
                        "file of the previous version not in the bundle"))
                elif info:
                    dialect.delete_file(info.files_at, key)
                result.removed.append(key)
        else:
            result.extra = extras
            for key in extras:
                warnings.append(f"the draft also holds {key!r}, which is not in the bundle; "
                                "left in place.")

        # -- verify -------------------------------------------------------------------------------
        if info and not dry_run:
            final = dialect.list_files(info.files_at)[0]
            files = receipt.files
            bad = [key for key in sorted(payload_keys)
                   if key not in final or final[key].status != "completed" or key not in files
                   or final[key].md5 != files[key].md5 or final[key].size != files[key].size]
            if bad:
                raise ServerUnreachable(
                    f"after uploading, the server lists {', '.join(bad[:3])} differently from what "
                    "was sent; the receipt is kept, run the same command again to repair it."
                )
            result.files = [final[key] for key in sorted(final)]
        else:
            result.files = [remote[k] for k in sorted(remote)]

        # -- community and submission -------------------------------------------------------------
        if not is_new_version and record.community_id:
            request = dialect.attach(result.id, record.community_id, created_now, run.plan)
            if request and request != receipt.request:
                receipt.request = request
                run.save()
        if submit:
            if dry_run:
                plan.append(dialect.plan_submit(result.id, is_new_version))
            else:
                assert result.id
                self._apply(run, dialect.submit(result.id, is_new_version))
                run.save()
                if result.state == "published":
                    self.echo(f"published {result.id}: " + ", ".join(
                        f"{k} {v}" for k, v in result.pids.items()))
                else:
                    self.echo(f"submitted {result.id} for review by the community")
        elif not dry_run:
            receipt.state = result.state
            run.save()
        if dry_run:
            for planned in plan:
                self.echo(f"would send {planned}")
        return result

    # --- draft steps -----------------------------------------------------------------------------
    def _recorded_draft(self, receipt: Receipt, receipt_path: Path) -> dict[str, Any]:
        assert receipt.draft_id
        try:
            return self.dialect.draft(receipt.draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
            raise ServerRefused(
                message=(
                    f"the draft {receipt.draft_id} recorded in {receipt_path} no longer "
                    f"exists on {self.config.server}; run again with --new-draft to create "
                    "a new draft."
                ),
                status=exc.status,
            ) from None

    def _find_orphan(self, receipt: Receipt, record: PreparedRecord) -> dict[str, Any] | None:
        """A draft that a run killed between POST and receipt created: adopt it, never duplicate."""
        assert receipt.create_started
        started = dt.datetime.fromisoformat(receipt.create_started)
        earliest = started - dt.timedelta(seconds=ORPHAN_CLOCK_SLACK_SECONDS)
        candidates = []
        for hit in self.dialect.orphan_candidates(record, receipt):
            try:
                created = dt.datetime.fromisoformat(str(hit.get("created")))
            except ValueError:
                continue
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.timezone.utc)
            if created >= earliest:
                candidates.append((created, hit))
            if len(candidates) > 20:
                break
        if not candidates:
            return None
        candidates.sort(key=lambda pair: pair[0])
        body = self.dialect.draft(str(candidates[0][1]["id"]))  # search hits lack some links
        self._record_draft(receipt, body)
        return body

    def _create(self, run: _Run, record: PreparedRecord,
                version_of: str | None) -> dict[str, Any]:
        receipt = run.receipt
        receipt.community = record.community_id
        receipt.title = record.title
        receipt.version_of = version_of
        receipt.create_started = now_iso()
        run.save()
        try:
            body = self.dialect.create_draft(record, version_of)
        except ServerRefused:  # a 4xx answer: certainly no draft was made, nothing to adopt
            if run.before is not None:
                run.receipt = run.before  # the draft set aside for this one stays recorded
            else:
                receipt.create_started = None
                receipt.version_of = None
            run.save()
            raise
        _test_hook("post")
        self._record_draft(receipt, body)
        run.save()
        self.echo(f"created draft {body['id']} on {self.config.server}")
        if self.on_draft is not None:  # e.g. a run journal, before any upload to the draft
            self.on_draft(str(body["id"]))
        _test_hook("draft")
        return self.dialect.after_create(body, record, version_of, run.result.warnings)

    def _record_draft(self, receipt: Receipt, body: dict[str, Any]) -> None:
        info = self.dialect.describe(body)
        receipt.draft_id, receipt.bucket = info.id, info.bucket
        receipt.url, receipt.html_url, receipt.state = info.url, info.html_url, info.state
        receipt.create_started = None

    def _apply(self, run: _Run, outcome: Outcome) -> None:
        result, receipt = run.result, run.receipt
        result.state = receipt.state = outcome.state
        if outcome.pids or outcome.state == "published":
            result.pids = receipt.pids = dict(outcome.pids)
        if outcome.url:
            result.url = receipt.url = outcome.url
        if outcome.html_url:
            result.html_url = receipt.html_url = outcome.html_url
        if outcome.files:
            result.files = list(outcome.files)
        if outcome.request:
            receipt.request = outcome.request

    def _finished(self, run: _Run, body: dict[str, Any]) -> DraftRecord:
        """The recorded draft was already submitted or published: report it, change nothing."""
        info = self.dialect.describe(body)
        result = run.result
        result.id, result.url, result.html_url = info.id, info.url, info.html_url
        result.state, result.bucket, result.community = "draft", info.bucket, run.receipt.community
        self._apply(run, self.dialect.outcome(body))
        run.save()
        result.warnings.append(
            f"draft {info.id} is already {result.state}; nothing was changed (use "
            "--new-version-of RECORD_ID for a new version, or --new-draft for a separate record)."
        )
        self.echo(result.warnings[-1])
        return result

    # --- files -----------------------------------------------------------------------------------
    @staticmethod
    def _check_limits(payload: list[Any], limits: dict[str, Any]) -> None:
        """Refuse before sending gigabytes when the bucket announces a smaller limit."""
        max_file = limits.get("max_file_size")
        if isinstance(max_file, int) and max_file > 0:
            too_big = [pf for pf in payload if pf.size > max_file]
            if too_big:
                raise ServerRefused(
                    message=f"{too_big[0].relpath} ({too_big[0].size} bytes) exceeds the "
                    f"server's maximum file size of {max_file} bytes; leave it out of the "
                    "bundle (reference it by PID instead) or ask the server's operators.",
                    status=400,
                )
        quota = limits.get("quota_size")
        if isinstance(quota, int) and quota > 0:
            total = sum(pf.size for pf in payload)
            if total > quota:
                raise ServerRefused(
                    message=f"the bundle's payload ({total} bytes) exceeds the draft's quota of "
                    f"{quota} bytes; make the bundle smaller or ask the server's operators.",
                    status=400,
                )

    def _already_there(self, run: _Run, pf: PayloadFile, remote: RemoteFile) -> bool:
        """True when the draft holds this payload file already (size and md5 match)."""
        if remote.size != pf.size or remote.status != "completed":
            return False
        known = run.receipt.files.get(pf.relpath)
        if known and known.status == "completed" and known.sha256 == pf.sha256 and known.md5:
            return known.md5 == remote.md5
        local_md5 = run.known_md5.get(pf.relpath) or _md5_of_file(Path(pf.path))
        if local_md5 != remote.md5:
            return False
        run.receipt.files[pf.relpath] = UploadedFile(pf.relpath, pf.size, local_md5, pf.sha256)
        return True

    def _sync_files(self, run: _Run, files_at: str | None, payload: list[PayloadFile],
                    remote: dict[str, RemoteFile]) -> None:
        """Upload what is missing or different; a ``pending`` (v3) file is sent again."""
        uploads: list[PayloadFile] = []
        new: list[str] = []
        stale: list[str] = []
        for pf in payload:
            have = remote.get(pf.relpath)
            if have is not None and self._already_there(run, pf, have):
                run.result.skipped.append(pf.relpath)
                continue
            uploads.append(pf)
            if have is None:
                new.append(pf.relpath)
            elif have.status != "pending":
                stale.append(pf.relpath)
        if run.plan is not None:
            run.plan.extend(self.dialect.plan_uploads(files_at, uploads, stale, new))
            return
        if not uploads:
            return
        assert files_at is not None
        for key in stale:
            run.receipt.files.pop(key, None)
        initialised = self.dialect.begin_uploads(files_at, new, stale)
        sizes = {pf.relpath: pf for pf in payload}
        for key in initialised:
            pf = sizes[key]
            run.receipt.files[key] = UploadedFile(key, pf.size, "", pf.sha256, status="pending")
        if initialised:
            run.save()
            _test_hook("init")
        self._upload_all(run, files_at, uploads)

    def _upload_all(self, run: _Run, files_at: str, files: list[PayloadFile]) -> None:
        """Upload several files at a time; the first failure stops the rest and is raised."""
        from tqdm import tqdm

        total = sum(pf.size for pf in files)
        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"uploading {len(files)} file(s)", leave=False, file=sys.stderr,
                   disable=not self.progress or total < PROGRESS_MIN_BYTES)
        workers = min(upload_workers(), len(files))
        try:
            if workers == 1:
                for pf in files:
                    self._upload_one(self.dialect, run, files_at, pf, bar)
                return
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="ecasrepro-upload") as pool:
                futures = [pool.submit(lambda pf: self._upload_one(
                    self._thread_dialect(), run, files_at, pf, bar), pf) for pf in files]
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for future in pending:
                    future.cancel()
                failed = [f for f in futures if f in done and f.exception() is not None]
                if failed:
                    wait(pending)
                    raise failed[0].exception()  # type: ignore[misc]
        finally:
            bar.close()
            order = [pf.relpath for pf in files]
            run.result.uploaded.sort(key=order.index)

    def _upload_one(self, dialect: Dialect, run: _Run, files_at: str, pf: PayloadFile,
                    bar: Any) -> None:
        """Stream one file; compare the server's md5; on mismatch discard it and retry once."""
        key, known = pf.relpath, run.known_md5.get(pf.relpath)
        for attempt in (1, 2):
            tracker = _FileProgress(bar, self._lock)
            body = FileBody(Path(pf.path), pf.size, progress=tracker.update,
                            on_restart=tracker.restart, known_md5=known,
                            guard=self._upload_guard(run.bundle, pf) if known else None)
            stored = dialect.upload(files_at, key, body)
            if stored is None:
                self.echo(f"the server dropped {key} during the transfer; sending it again")
                continue
            sent = body.md5 if pf.size else EMPTY_MD5
            if stored.md5 == sent and stored.size == pf.size:
                with run.lock:
                    run.receipt.files[key] = UploadedFile(key, pf.size, str(sent), pf.sha256)
                    run.result.uploaded.append(key)
                run.save()
                self.echo(f"uploaded {key} ({pf.size} bytes, md5 {sent})")
                _test_hook("file")
                return
            self.echo(
                f"checksum mismatch for {key}: sent md5 {sent}, {pf.size} bytes; server has "
                f"{stored.md5 or 'none'}, {stored.size} bytes; discarding it"
                + (" and retrying once" if attempt == 1 else "")
            )
            dialect.discard(files_at, key)
            with run.lock:
                run.receipt.files.pop(key, None)
            run.save()
        if known:
            run.bundle.verify_file(pf)  # the file changed while it was sent: BadInput
        raise ServerUnreachable(
            f"the server stored {key} differently from what was sent twice; the draft and "
            "receipt are kept, run the same command again to retry that file."
        )

    # --- status ----------------------------------------------------------------------------------
    def status(self, bundle_or_path: Bundle | str | os.PathLike[str]) -> BundleStatus:
        bundle = open_bundle(bundle_or_path)
        receipt = Receipt.load(Path(bundle.receipt_path))
        payload = list(bundle.payload_files())
        if receipt is None or not receipt.draft_id:
            return BundleStatus(str(bundle.path), receipt.server if receipt else None, None,
                                "unpublished", None, None,
                                [FileStatus(pf.relpath, pf.size, "not uploaded") for pf in payload])
        if receipt.server != self.config.server:
            raise BadInput(
                f"{bundle.receipt_path} records draft {receipt.draft_id} on {receipt.server}, "
                f"not {self.config.server}; leave out --server to ask "
                f"{receipt.server}."
            )
        result = BundleStatus(str(bundle.path), receipt.server, receipt.draft_id,
                              receipt.state or "draft", receipt.url, receipt.html_url,
                              pids=dict(receipt.pids))
        try:
            view = self.dialect.remote_view(receipt.draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
            result.state = "deleted"
            result.files = [FileStatus(pf.relpath, pf.size, "missing") for pf in payload]
            return result
        result.state, result.pids = view.state, view.pids or result.pids
        for pf in payload:
            have = view.files.get(pf.relpath)
            known = receipt.files.get(pf.relpath)
            if pf.size == 0 and not self.dialect.accepts_empty_files:
                state = "empty"  # never uploaded: B2SHARE v2 refuses empty files
            elif have is None:
                state = "missing"
            elif have.status != "completed":
                state = "pending"
            elif (known and known.status == "completed" and known.md5 == have.md5
                  and known.size == pf.size and (not known.sha256 or known.sha256 == pf.sha256)):
                state = "uploaded"
            else:
                state = "different"
            result.files.append(FileStatus(pf.relpath, pf.size, state,
                                           have.checksum if have else None))
        result.extra = sorted(set(view.files) - {pf.relpath for pf in payload})
        return result


def open_publisher(config: PublishConfig, *, dialect: str | None = None,
                   session: B2ShareSession | None = None, progress: bool | None = None,
                   echo: Echo | None = None) -> Publisher:
    """A :class:`Publisher` speaking the server's dialect (``dialect``, configured, or detected
    once)."""
    session = session or B2ShareSession(config)
    if echo is not None:
        session.on_wait = echo
    name = dialect or resolve_dialect(config, session)
    return Publisher(config, dialect_for(name, session), progress=progress, echo=echo)


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
    """A community's full JSON schema, where the dialect has one (v2); else ConfigurationError."""
    with open_publisher(config) as publisher:
        return publisher.dialect.community_schema(community)


def bundle_status(
    bundle_or_path: Bundle | str | os.PathLike[str],
    *,
    server: str | None = None,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    echo: Echo | None = None,
) -> BundleStatus:
    """What a bundle's receipt and its server say, file by file.

    The server asked is the one the receipt names (``server`` must be that one, if given); a
    bundle without a recorded draft is reported from the disk alone, without any request.
    """
    from ecasrepro.config import resolve_config

    bundle = open_bundle(bundle_or_path)
    receipt = Receipt.load(Path(bundle.receipt_path))
    if receipt is None or not receipt.draft_id:
        return BundleStatus(str(bundle.path), receipt.server if receipt else None, None,
                            "unpublished", None, None,
                            [FileStatus(pf.relpath, pf.size, "not uploaded")
                             for pf in bundle.payload_files()])
    config = resolve_config(server=server or receipt.server, token=token, token_file=token_file,
                            api=receipt.dialect)
    if echo is not None:
        for warning in config.warnings:
            echo(warning)
    with open_publisher(config, echo=echo) as publisher:
        return publisher.status(bundle)


def _md5_of_file(path: Path, chunk_size: int = 1024 * 1024) -> str:
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["BundleStatus", "DraftRecord", "FileStatus", "PlannedRequest", "Publisher",
           "bundle_status", "community_schema", "list_communities", "open_bundle",
           "open_publisher", "upload_workers"]
