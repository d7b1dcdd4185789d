"""Publishing a bundle to B2SHARE v3 (InvenioRDM): same promises, flags and results as v2.

Order of work (every write only after every check that can be done without writing):
1. open and check the bundle, refuse it if the secret scan finds anything;
2. read the receipt to continue an earlier run (it records the dialect and per-file state);
3. map ``data/metadata.json`` (v2 form) to the v3 model and validate it locally against the
   shipped vocabularies; look the community up (UUID or slug);
4. create the draft (``POST /api/records``, or ``POST .../versions`` for a new version), or
   continue the recorded one, or adopt the draft a killed run created -- never a second one;
5. upload: one ``init`` request for every missing file, then ``content`` + ``commit`` per file,
   several files at a time (one session per worker thread), each streamed with md5 computed in
   the same pass and compared with the server's checksum; a ``pending`` file left by an
   interrupted run is re-sent and committed, a different ``completed`` one is replaced;
6. attach the review request to the community (the draft stays a draft); ``submit`` sends it,
   and the answer says ``accepted`` (published) or ``submitted`` (waiting for curators).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecasrepro.b2share.client import B2ShareSession, FileBody
from ecasrepro.b2share.publisher import (
    ORPHAN_CLOCK_SLACK_SECONDS,
    PROGRESS_MIN_BYTES,
    BundleStatus,
    DraftRecord,
    FileStatus,
    PlannedRequest,
    _test_hook,
    md5_of_file,
    open_bundle,
)
from ecasrepro.b2share.receipt import Receipt, UploadedFile, now_iso
from ecasrepro.b2share.v2 import RemoteFile
from ecasrepro.b2share.v3 import JSON, OCTET_STREAM, V3Api, V3File, links_of
from ecasrepro.b2share.v3_metadata import V3Record, to_v3_record, validate_v3_record
from ecasrepro.config import PublishConfig
from ecasrepro.errors import BadInput, ConfigurationError, ServerRefused, ServerUnreachable

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.bundle import Bundle, PayloadFile

log = logging.getLogger("ecasrepro.b2share")

Echo = Callable[[str], None]
DEFAULT_UPLOAD_WORKERS = 4
INIT_BATCH = 50
#: Draft statuses after which the publisher changes nothing (API-v3.md §5.1).
FINAL_STATES = {"in_review": "submitted", "published": "published"}
HARMLESS_DRAFT_ERRORS = ("files.enabled",)  # "Missing uploaded files" until the upload is done
#: Payload files at least this large are checked in the upload's own read pass (sha256 against
#: the snapshot's manifest, whose bytes the snapshot scanned, plus a search for the token; the
#: commit waits for the verdict); smaller ones and every tag file are scanned before any write.
INFLIGHT_SCAN_MIN = 64 * 1024 * 1024


def upload_workers() -> int:
    """Parallel uploads: ``ECASREPRO_UPLOAD_WORKERS`` (default 4, at least 1)."""
    raw = os.environ.get("ECASREPRO_UPLOAD_WORKERS", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_UPLOAD_WORKERS
    except ValueError:
        raise ConfigurationError(
            f"ECASREPRO_UPLOAD_WORKERS={raw!r} is not a whole number; unset it or use e.g. 4."
        ) from None


def _state_of(body: dict[str, Any]) -> str:
    """Our state words (same as v2) for a v3 draft/record body."""
    if body.get("is_published") and not body.get("is_draft"):
        return "published"
    return FINAL_STATES.get(str(body.get("status") or "draft"), "draft")


def _pids_of(record: dict[str, Any]) -> dict[str, str]:
    pids = record.get("pids") if isinstance(record.get("pids"), dict) else {}
    result = {}
    for scheme, name in (("doi", "DOI"), ("oai", "OAI")):
        value = (pids or {}).get(scheme)
        if isinstance(value, dict) and value.get("identifier"):
            result[name] = str(value["identifier"])
    return result


def _remote_file(entry: V3File) -> RemoteFile:
    return RemoteFile(entry.key, int(entry.size or 0), entry.checksum or "")


def _raise_secret(bundle: Bundle, findings: list[Any]) -> None:
    from ecasrepro.errors import SecretFound

    shown = "; ".join(str(f) for f in findings[:5])
    more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
    raise SecretFound(
        f"the bundle {bundle.path} contains what looks like a secret ({shown}{more}); "
        "remove it from the notebook or attachments and snapshot again."
    )


class SnapshotCheckedBody(FileBody):
    """A :class:`FileBody` that also proves, in the same read pass, that no secret is sent.

    ``snapshot`` scanned every attachment for secrets while copying it into the bag and recorded
    its sha256 in the manifest. This body computes the sha256 of what it sends (hashlib, on a
    helper thread) and looks for the known secret values publishing adds (the token) with a
    plain byte search. The caller commits only when the sha256 matches the manifest and no known
    value was seen; otherwise it runs the full scanner over the file first (an uncommitted upload
    is deleted, never published).
    """

    known: tuple[bytes, ...] = ()

    def __iter__(self) -> Iterator[bytes]:
        import hashlib
        import queue

        self.sha256 = ""
        self.found_known = False
        digest = hashlib.sha256()
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        worker = threading.Thread(target=_drain, args=(chunks, digest.update),
                                  name="ecasrepro-sha256", daemon=True)
        worker.start()
        keep = max((len(k) for k in self.known), default=1) - 1
        tail = b""
        complete = False
        try:
            for chunk in super().__iter__():
                chunks.put(chunk)
                if self.known:
                    window = tail + chunk
                    if any(k in window for k in self.known):
                        self.found_known = True
                    tail = window[-keep:] if keep else b""
                yield chunk
            complete = True
        finally:
            chunks.put(None)
            worker.join()
        if complete:
            self.sha256 = digest.hexdigest()


def _drain(chunks: Any, consume: Callable[[bytes], Any]) -> None:
    while (chunk := chunks.get()) is not None:
        consume(chunk)


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


class V3Publisher:
    """Publishes bundles to one B2SHARE v3 server; ``publish``/``status`` as :class:`Publisher`."""

    dialect = "v3"

    def __init__(
        self,
        config: PublishConfig,
        *,
        progress: bool | None = None,
        echo: Echo | None = None,
        session: B2ShareSession | None = None,
    ) -> None:
        self.config = config
        self.session = session or B2ShareSession(config)
        self.api = V3Api(self.session)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.echo: Echo = echo or (lambda message: log.info("%s", message))
        self._local = threading.local()
        self._sessions: list[B2ShareSession] = []
        self._lock = threading.Lock()
        self._bundle: Any = None
        self._deferred_scan: set[str] = set()  # payload files scanned while they are sent

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self.session.close()

    def __enter__(self) -> V3Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _thread_api(self) -> V3Api:
        """One session per upload thread: requests sessions are not shared across threads."""
        api = getattr(self._local, "api", None)
        if api is None:
            session = B2ShareSession(self.config)
            with self._lock:
                self._sessions.append(session)
            api = self._local.api = V3Api(session)
        return api

    # --- community and metadata ------------------------------------------------------------------
    def community(self, id_or_slug: str) -> dict[str, Any]:
        return self.api.community(id_or_slug)

    def record_for(self, bundle: Bundle) -> V3Record:
        return to_v3_record(bundle.metadata)

    def _redactor(self) -> Any:
        from ecasrepro.capture.secrets import Redactor

        extra = [self.config.token.reveal()] if self.config.token else []
        return Redactor.from_environment(extra=extra)

    def refuse_secrets(self, bundle: Bundle, skip: tuple[str, ...] = ()) -> None:
        """Scan the bundle (minus ``skip``, bundle-relative paths) before any write request."""
        from ecasrepro.capture.secrets import scan_tree

        findings = scan_tree(Path(bundle.path), self._redactor(), skip=("receipt.json", *skip))
        if findings:
            _raise_secret(bundle, findings)

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
        bundle = open_bundle(bundle_or_path)
        bundle.validate(fast=True)
        if not dry_run:
            self.config.require_token()
        self._bundle = bundle
        self._deferred_scan = set() if dry_run else {
            pf.relpath for pf in bundle.payload_files() if pf.size >= INFLIGHT_SCAN_MIN}
        self.refuse_secrets(bundle, skip=tuple("data/" + k for k in self._deferred_scan))
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
        if receipt and receipt.draft_id and receipt.dialect != "v3" and not new_draft:
            raise BadInput(
                f"{receipt_path} records a B2SHARE {receipt.dialect} draft but "
                f"{self.config.server} speaks v3; re-run with --new-draft to start a v3 draft."
            )

        record = self.record_for(bundle)
        warnings.extend(record.warnings)
        source = f"{bundle.path}/data/metadata.json"
        validate_v3_record(record.body, source, "submit" if submit else "draft")
        continuing = bool(receipt and receipt.draft_id and not new_draft)
        community_ref = self.config.community or (
            receipt.community if continuing and receipt else None) or record.community
        if not community_ref and not new_version_of:
            raise ConfigurationError(
                "no B2SHARE community is given; pass --community ID-OR-SLUG, set "
                "B2SHARE_COMMUNITY, or put \"community\" in data/metadata.json "
                "(`ecasrepro communities` lists them)."
            )
        community = self.community(str(community_ref)) if community_ref else None
        community_id = str(community["id"]) if community else None

        if receipt is None or new_draft or receipt.server != self.config.server:
            if receipt is not None:
                receipt.archive_current()
                receipt.server = self.config.server
            else:
                receipt = Receipt(server=self.config.server)
        receipt.dialect = "v3"

        draft: dict[str, Any] | None = None
        created_now = False  # a draft made by this run has no files and no review yet
        if receipt.draft_id:
            if new_version_of and receipt.version_of != new_version_of:
                if receipt.state != "published":
                    raise BadInput(
                        f"{receipt_path} already records draft {receipt.draft_id} (state "
                        f"{receipt.state}); finish it, or pass --new-draft to start over."
                    )
                receipt.archive_current()
                receipt.dialect = "v3"
            else:
                draft = self._existing(receipt, receipt_path)
        elif receipt.create_started:
            draft = self._find_orphan(receipt, record)
            if draft is not None:
                self.echo(f"continuing draft {draft['id']} that an interrupted run created")

        if draft is not None and _state_of(draft) in ("submitted", "published"):
            return self._finished(receipt, receipt_path, draft, warnings, dry_run, plan)

        if draft is None:
            if dry_run:
                if new_version_of:
                    plan.append(PlannedRequest("POST", self.api.record_url(new_version_of)
                                               + "/versions", "new version draft"))
                    plan.append(PlannedRequest("PUT", self.api.draft_url("<new id>"),
                                               f"{JSON}: metadata of the bundle"))
                else:
                    plan.append(PlannedRequest("POST", self.api.records_url(),
                                               f"{JSON}: title={record.title!r}; fields: "
                                               + ", ".join(sorted(record.metadata))))
            else:
                draft = self._create(receipt, receipt_path, record, community_id, new_version_of)
                created_now = True
        else:
            if dry_run:
                plan.append(PlannedRequest("PUT", self.api.draft_url(str(draft["id"])),
                                           f"{JSON}: metadata of the bundle"))
            else:
                draft = self._update(draft, record, warnings)

        draft_id = str(draft["id"]) if draft else None
        links = links_of(draft) if draft else {}
        result = DraftRecord(
            id=draft_id,
            url=(self.api.draft_url(draft_id) if draft_id else None),
            html_url=self.api.html_url(draft_id, links) if draft_id else None,
            state="planned" if draft_id is None else "draft",
            bucket=None, server=self.config.server, community=community_id,
            warnings=warnings, dry_run=dry_run, requests=plan, receipt=str(receipt_path),
        )

        # -- files --------------------------------------------------------------------------------
        payload = list(bundle.payload_files())
        remote = self.api.files(draft_id) if draft_id and not created_now else {}
        self._sync_files(draft_id, payload, remote, receipt, receipt_path, result, plan, dry_run)

        # -- verify -------------------------------------------------------------------------------
        if draft_id and not dry_run:
            final = self.api.files(draft_id)
            bad = [
                pf.relpath for pf in payload
                if pf.relpath not in final or final[pf.relpath].status != "completed"
                or pf.relpath not in receipt.files
                or final[pf.relpath].md5 != receipt.files[pf.relpath].md5
                or final[pf.relpath].size != pf.size
            ]
            if bad:
                raise ServerUnreachable(
                    f"after uploading, the server lists {', '.join(bad[:3])} differently from "
                    "what was sent; the receipt is kept, run the same command again to repair it."
                )
            result.files = [_remote_file(final[key]) for key in sorted(final)]
            result.extra = sorted(set(final) - {pf.relpath for pf in payload})
            for key in result.extra:
                warnings.append(f"the draft also holds {key!r}, which is not in the bundle; "
                                "left in place.")
        else:
            result.files = [_remote_file(remote[k]) for k in sorted(remote)]

        # -- community and submission -------------------------------------------------------------
        is_new_version = bool(receipt.version_of or new_version_of) or (
            draft is not None and draft.get("status") == "new_version_draft")
        if not is_new_version and community_id:
            self._attach(draft_id, community_id, receipt, receipt_path, plan, dry_run,
                         known_absent=created_now)
        if submit:
            self._submit(draft_id, is_new_version, receipt, receipt_path, result, plan, dry_run)
        elif not dry_run:
            receipt.state = result.state
            receipt.save(receipt_path)
        if dry_run:
            for request in plan:
                self.echo(f"would send {request}")
        return result

    # --- draft steps -----------------------------------------------------------------------------
    def _existing(self, receipt: Receipt, receipt_path: Path) -> dict[str, Any]:
        """The recorded draft; after acceptance the draft is gone and the record answers."""
        assert receipt.draft_id
        try:
            return self.api.draft(receipt.draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
        try:
            return self.api.record(receipt.draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
        raise ServerRefused(
            message=(f"the draft {receipt.draft_id} recorded in {receipt_path} no longer exists "
                     f"on {self.config.server}; run again with --new-draft to create a new draft."),
            status=404,
        )

    def _find_orphan(self, receipt: Receipt, record: V3Record) -> dict[str, Any] | None:
        """A draft that a run killed between POST and receipt created: adopt it, never duplicate."""
        assert receipt.create_started
        started = dt.datetime.fromisoformat(receipt.create_started)
        earliest = started - dt.timedelta(seconds=ORPHAN_CLOCK_SLACK_SECONDS)
        candidates = []
        for hit in self.api.iter_user_drafts():
            if hit.get("is_published") or (hit.get("metadata") or {}).get("title") != record.title:
                continue
            if receipt.version_of and hit.get("status") != "new_version_draft":
                continue
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
        body = self.api.draft(str(candidates[0][1]["id"]))
        self._record_draft(receipt, body)
        return body

    def _create(self, receipt: Receipt, receipt_path: Path, record: V3Record,
                community_id: str | None, version_of: str | None) -> dict[str, Any]:
        receipt.community = community_id
        receipt.title = record.title
        receipt.version_of = version_of
        receipt.create_started = now_iso()
        receipt.save(receipt_path)
        if version_of:
            body = self.api.new_version(version_of)
        else:
            body = self.api.create_draft(record.body)
        _test_hook("post")
        self._record_draft(receipt, body)
        receipt.save(receipt_path)
        self.echo(f"created draft {body['id']} on {self.config.server}")
        _test_hook("draft")
        if version_of:  # the new version starts with the old metadata: replace it with ours
            body = self._update(body, record, [])
        else:
            body = self._fix_resource_type_key(body, record, [])
        return body

    def _record_draft(self, receipt: Receipt, body: dict[str, Any]) -> None:
        receipt.draft_id = str(body["id"])
        receipt.bucket = None
        receipt.url = self.api.draft_url(receipt.draft_id)
        receipt.html_url = self.api.html_url(receipt.draft_id, links_of(body))
        receipt.state = _state_of(body)
        receipt.create_started = None

    def _update(self, draft: dict[str, Any], record: V3Record,
                warnings: list[str]) -> dict[str, Any]:
        """Full replacement of the draft's metadata with the bundle's (``PUT .../draft``)."""
        body = self.api.update_draft(str(draft["id"]), record.body)
        return self._fix_resource_type_key(body, record, warnings)

    def _fix_resource_type_key(self, body: dict[str, Any], record: V3Record,
                               warnings: list[str]) -> dict[str, Any]:
        """API-v3.md §5.3: B2SHARE says ``resource_types``, upstream ``resource_type``."""
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        unknown = {str(e.get("field")) for e in errors
                   if "Unknown field." in (e.get("messages") or [])}
        if "metadata.resource_types" in unknown and record.metadata.get("resource_types"):
            md = record.metadata
            md["resource_type"] = md.pop("resource_types")[0]
            body = self.api.update_draft(str(body["id"]), record.body)
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        for error in errors:
            field_name = str(error.get("field"))
            if field_name.startswith(HARMLESS_DRAFT_ERRORS):
                continue
            messages = " ".join(str(m) for m in error.get("messages") or [])
            warnings.append(f"the server noted on the draft: {field_name}: {messages}")
        return body

    # --- files -----------------------------------------------------------------------------------
    def _sync_files(self, draft_id: str | None, payload: list[PayloadFile],
                    remote: dict[str, V3File], receipt: Receipt, receipt_path: Path,
                    result: DraftRecord, plan: list[PlannedRequest], dry_run: bool) -> None:
        to_init: list[PayloadFile] = []
        to_send: list[PayloadFile] = []
        for pf in payload:
            have = remote.get(pf.relpath)
            if have is not None and have.status == "completed":
                if self._already_there(pf, have, receipt):
                    result.skipped.append(pf.relpath)
                    if pf.relpath in self._deferred_scan:  # sent earlier: still check it now
                        self._scan_now(pf)
                    continue
                if dry_run:
                    plan.append(PlannedRequest("DELETE", self.api.file_url(str(draft_id),
                                               pf.relpath), "differs from the bundle"))
                else:
                    assert draft_id
                    self.api.delete_file(draft_id, pf.relpath)
                    receipt.files.pop(pf.relpath, None)
                to_init.append(pf)
            elif have is not None and have.status == "pending":
                to_send.append(pf)  # an interrupted upload: send the bytes again, then commit
            elif have is not None:  # failed
                if not dry_run:
                    assert draft_id
                    self.api.delete_file(draft_id, pf.relpath)
                to_init.append(pf)
            else:
                to_init.append(pf)
        if dry_run:
            files_url = self.api.files_url(draft_id or "<new id>")
            if to_init:
                plan.append(PlannedRequest("POST", files_url,
                                           f"{JSON}: init {len(to_init)} file(s)"))
            for pf in [*to_init, *to_send]:
                url = self.api.file_url(draft_id or "<new id>", pf.relpath)
                plan.append(PlannedRequest("PUT", url + "/content",
                                           f"{OCTET_STREAM}: {pf.size} bytes from {pf.path}"))
                plan.append(PlannedRequest("POST", url + "/commit", "commit"))
            return
        if not (to_init or to_send):
            return
        assert draft_id is not None
        for start in range(0, len(to_init), INIT_BATCH):
            batch = to_init[start:start + INIT_BATCH]
            self._init(draft_id, [pf.relpath for pf in batch])
            for pf in batch:
                receipt.files[pf.relpath] = UploadedFile(pf.relpath, pf.size, "", pf.sha256,
                                                         status="pending")
            receipt.save(receipt_path)
        _test_hook("init")
        self._upload_all(draft_id, [*to_init, *to_send], receipt, receipt_path, result)

    def _init(self, draft_id: str, keys: list[str]) -> None:
        try:
            self.api.init_files(draft_id, keys)
        except (ServerRefused, ServerUnreachable) as exc:
            # A retried or dropped init may have landed: what matters is that the keys exist.
            if isinstance(exc, ServerRefused) and exc.status != 400:
                raise
            present = self.api.files(draft_id)
            missing = [key for key in keys if key not in present]
            if len(missing) == len(keys):
                raise
            if missing:
                self.api.init_files(draft_id, missing)

    def _already_there(self, pf: PayloadFile, remote: V3File, receipt: Receipt) -> bool:
        if remote.size != pf.size:
            return False
        known = receipt.files.get(pf.relpath)
        if known and known.status == "completed" and known.sha256 == pf.sha256 and known.md5:
            return known.md5 == remote.md5
        local_md5 = md5_of_file(Path(pf.path))
        if local_md5 != remote.md5:
            return False
        receipt.files[pf.relpath] = UploadedFile(pf.relpath, pf.size, local_md5, pf.sha256)
        return True

    def _upload_all(self, draft_id: str, files: list[PayloadFile], receipt: Receipt,
                    receipt_path: Path, result: DraftRecord) -> None:
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
                    self._upload_one(self.api, draft_id, pf, receipt, receipt_path, bar)
                    result.uploaded.append(pf.relpath)
                return
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="ecasrepro-upload") as pool:
                futures = {
                    pool.submit(self._upload_in_thread, draft_id, pf, receipt, receipt_path,
                                bar): pf for pf in files
                }
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for future in pending:
                    future.cancel()
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    wait(pending)
                    raise failed[0].exception()  # type: ignore[misc]
                result.uploaded.extend(futures[f].relpath for f in futures if f in done)
            result.uploaded.sort(key=[pf.relpath for pf in files].index)
        finally:
            bar.close()

    def _upload_in_thread(self, draft_id: str, pf: PayloadFile, receipt: Receipt,
                          receipt_path: Path, bar: Any) -> None:
        self._upload_one(self._thread_api(), draft_id, pf, receipt, receipt_path, bar)

    def _upload_one(self, api: V3Api, draft_id: str, pf: PayloadFile, receipt: Receipt,
                    receipt_path: Path, bar: Any) -> None:
        """content + commit for one initialised file; md5/size checked; one replacement try."""
        key = pf.relpath
        for attempt in (1, 2):
            tracker = _FileProgress(bar, self._lock)
            checked = key in self._deferred_scan
            body_class = SnapshotCheckedBody if checked else FileBody
            body = body_class(Path(pf.path), pf.size, progress=tracker.update,
                              on_restart=tracker.restart)
            if isinstance(body, SnapshotCheckedBody) and self.config.token:
                body.known = (self.config.token.reveal().encode(),)
            answer = api.put_content(draft_id, key, body) if pf.size else \
                self._put_empty(api, draft_id, key)
            if answer.get("errors"):  # the server dropped the file (transfer failed)
                self.echo(f"the server dropped {key} during the transfer "
                          f"({answer['errors']}); sending it again")
                api.init_files(draft_id, [key])
                continue
            if isinstance(body, SnapshotCheckedBody) and (
                    body.found_known or body.sha256 != pf.sha256):
                findings = self._findings(pf)  # changed since snapshot (or a token): full scan
                if findings:
                    api.delete_file(draft_id, key)  # never committed: not part of any record
                    with self._lock:
                        receipt.files.pop(key, None)
                        receipt.save(receipt_path)
                    _raise_secret(self._bundle, findings)
            committed = self._commit(api, draft_id, key)
            local_md5 = body.md5 if pf.size else "d41d8cd98f00b204e9800998ecf8427e"
            if committed.md5 == local_md5 and committed.size == pf.size:
                with self._lock:
                    receipt.files[key] = UploadedFile(key, pf.size, str(local_md5), pf.sha256)
                    receipt.save(receipt_path)
                self.echo(f"uploaded {key} ({pf.size} bytes, md5 {local_md5})")
                _test_hook("file")
                return
            self.echo(
                f"checksum mismatch for {key}: sent md5 {local_md5}, {pf.size} bytes; server has "
                f"{committed.md5 or 'none'}, {committed.size} bytes; replacing it"
                + (" once more" if attempt == 1 else "")
            )
            api.delete_file(draft_id, key)
            api.init_files(draft_id, [key])
        raise ServerUnreachable(
            f"the server stored {key} differently from what was sent twice; the draft and receipt "
            "are kept, run the same command again to retry that file."
        )

    def _findings(self, pf: PayloadFile) -> list[Any]:
        from ecasrepro.capture.secrets import scan_file

        return scan_file(Path(pf.path), self._redactor(),
                         f"{self._bundle.path.name}/data/{pf.relpath}")

    def _scan_now(self, pf: PayloadFile) -> None:
        findings = self._findings(pf)
        if findings:
            _raise_secret(self._bundle, findings)

    def _put_empty(self, api: V3Api, draft_id: str, key: str) -> dict[str, Any]:
        response = api.session.put(api.file_url(draft_id, key) + "/content", data=b"",
                                   headers={"Content-Type": OCTET_STREAM})
        return api._json(response, what=f"file {key!r} of draft {draft_id}")

    def _commit(self, api: V3Api, draft_id: str, key: str) -> V3File:
        """Commit; after a dropped answer read the file's state before committing again."""
        for attempt in range(3):
            try:
                return V3File.from_json(api.commit(draft_id, key))
            except ServerUnreachable:
                state = api.files(draft_id).get(key)
                if state is not None and state.status == "completed":
                    return state
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # --- community, review, submission -----------------------------------------------------------
    def _attach(self, draft_id: str | None, community_id: str, receipt: Receipt,
                receipt_path: Path, plan: list[PlannedRequest], dry_run: bool,
                known_absent: bool = False) -> None:
        """Create (or keep) the draft's review request to the community; the draft stays a draft."""
        if draft_id and not known_absent:
            current = self.api.review(draft_id)
            receiver = ((current or {}).get("receiver") or {}).get("community")
            if current is not None and receiver == community_id:
                receipt.request = (links_of(current).get("self") or receipt.request)
                return
        if dry_run:
            plan.append(PlannedRequest("PUT", self.api.draft_url(draft_id or "<new id>")
                                       + "/review", f"{JSON}: community {community_id}"))
            return
        assert draft_id
        request = self.api.set_review(draft_id, community_id)
        receipt.request = links_of(request).get("self")
        receipt.save(receipt_path)

    def _submit(self, draft_id: str | None, is_new_version: bool, receipt: Receipt,
                receipt_path: Path, result: DraftRecord, plan: list[PlannedRequest],
                dry_run: bool) -> None:
        action = "actions/publish" if is_new_version else "actions/submit-review"
        if dry_run:
            plan.append(PlannedRequest("POST", self.api.draft_url(draft_id or "<new id>")
                                       + f"/{action}", f"{JSON}: {{}}"))
            return
        assert draft_id
        if is_new_version:
            try:
                body = self.api.publish(draft_id)
            except ServerUnreachable:
                body = self._existing(receipt, receipt_path)
                if _state_of(body) != "published":
                    raise
            self._apply_record(body, receipt, result)
        else:
            try:
                request = self.api.submit_review(draft_id)
            except ServerUnreachable:  # did the submission land before the failure?
                current = self._existing(receipt, receipt_path)
                if _state_of(current) == "draft":
                    raise
                request = {"status": "accepted" if _state_of(current) == "published"
                           else "submitted"}
            status = str(request.get("status"))
            receipt.request = links_of(request).get("self") or receipt.request
            if status == "accepted":
                self._apply_record(self.api.record(draft_id), receipt, result)
                self.echo(f"review request accepted: {draft_id} is published")
            else:
                result.state = receipt.state = "submitted"
                self.echo(f"review request {status}: {draft_id} waits for the community's "
                          "curators")
        receipt.save(receipt_path)

    def _apply_record(self, record: dict[str, Any], receipt: Receipt,
                      result: DraftRecord) -> None:
        result.state = receipt.state = _state_of(record)
        result.pids = receipt.pids = _pids_of(record)
        if result.state == "published":
            record_id = str(record["id"])
            result.url = receipt.url = self.api.record_url(record_id)
            result.html_url = receipt.html_url = self.api.html_url(
                record_id, {"self_html": links_of(record).get("self_html")}, draft=False)
            entries = (record.get("files") or {}).get("entries") or {}
            if isinstance(entries, dict) and entries:
                result.files = [
                    RemoteFile(str(e.get("key", k)), int(e.get("size") or 0),
                               str(e.get("checksum") or ""))
                    for k, e in sorted(entries.items())
                ]

    def _finished(self, receipt: Receipt, receipt_path: Path, body: dict[str, Any],
                  warnings: list[str], dry_run: bool, plan: list[PlannedRequest]) -> DraftRecord:
        """The recorded draft was already submitted or published: report it, change nothing."""
        draft_id = str(body["id"])
        result = DraftRecord(
            id=draft_id, url=self.api.draft_url(draft_id),
            html_url=self.api.html_url(draft_id, links_of(body)), state="draft", bucket=None,
            server=self.config.server, community=receipt.community, warnings=warnings,
            dry_run=dry_run, requests=plan, receipt=str(receipt_path),
        )
        self._apply_record(body, receipt, result)
        if not dry_run:
            receipt.save(receipt_path)
        warnings.append(
            f"draft {draft_id} is already {result.state}; nothing was changed (use "
            "--new-version-of RECORD_ID for a new version, or --new-draft for a separate record)."
        )
        self.echo(warnings[-1])
        return result

    # --- status ----------------------------------------------------------------------------------
    def status(self, bundle_or_path: Bundle | str | os.PathLike[str]) -> BundleStatus:
        bundle = open_bundle(bundle_or_path)
        receipt = Receipt.load(Path(bundle.receipt_path))
        payload = list(bundle.payload_files())
        if receipt is None or not receipt.draft_id:
            return BundleStatus(str(bundle.path), receipt.server if receipt else None, None,
                                "unpublished", None, None,
                                [FileStatus(pf.relpath, pf.size, "not uploaded") for pf in payload])
        result = BundleStatus(str(bundle.path), receipt.server, receipt.draft_id,
                              receipt.state or "draft", receipt.url, receipt.html_url,
                              pids=dict(receipt.pids))
        remote: dict[str, V3File] = {}
        try:
            body = self.api.draft(receipt.draft_id)
            remote = self.api.files(receipt.draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
            try:
                body = self.api.record(receipt.draft_id)
            except ServerRefused as again:
                if again.status not in (404, 410):
                    raise
                result.state = "deleted"
                result.files = [FileStatus(pf.relpath, pf.size, "missing") for pf in payload]
                return result
            entries = (body.get("files") or {}).get("entries") or {}
            remote = {k: V3File(k, "completed", int(e.get("size") or 0), e.get("checksum"))
                      for k, e in entries.items()}
        result.state = _state_of(body)
        result.pids = _pids_of(body) or result.pids
        for pf in payload:
            have = remote.get(pf.relpath)
            known = receipt.files.get(pf.relpath)
            if have is None:
                state = "missing"
            elif have.status != "completed":
                state = "pending"
            elif (known and known.status == "completed" and known.md5 == have.md5
                  and known.size == pf.size and (not known.sha256 or known.sha256 == pf.sha256)):
                state = "uploaded"
            else:
                state = "different"
            result.files.append(FileStatus(pf.relpath, pf.size, state, have.checksum
                                           if have else None))
        result.extra = sorted(set(remote) - {pf.relpath for pf in payload})
        return result


__all__ = ["V3Publisher", "upload_workers"]
