"""The publishing engine: a bundle becomes a B2SHARE draft, verified, resumable, idempotent.

Order of work (each write only after every check that can be done without writing):
1. open the bundle, check it (sizes), refuse it if the secret scan finds anything;
2. read the receipt (``<bundle>/receipt.json``) to continue an earlier run;
3. fetch the community and its full schema (cached on disk per server/community/version), build
   ``community_specific`` with the block id, validate locally (draft mode; submit mode too when
   ``submit``) -- so no write request carries metadata the server would reject;
4. create the draft (or continue the recorded one, or adopt the draft a crashed run created),
   recording it in the receipt at once;
5. upload each payload file that the bucket lacks or holds differently, streamed, md5 computed in
   the same pass and compared with the server's checksum (mismatch: delete, retry once, fail);
6. verify the whole bucket against the receipt; optionally submit.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecasrepro.b2share.client import B2ShareSession, FileBody
from ecasrepro.b2share.receipt import Receipt, UploadedFile, now_iso
from ecasrepro.b2share.v2 import (
    JSON_PATCH,
    OCTET_STREAM,
    CommunitySchema,
    RemoteFile,
    V2Api,
    bucket_id_of,
    is_not_found,
    links_of,
)
from ecasrepro.config import PublishConfig
from ecasrepro.errors import (
    BadInput,
    ConfigurationError,
    SecretFound,
    ServerRefused,
    ServerUnreachable,
)

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.bundle import Bundle

log = logging.getLogger("ecasrepro.b2share")

Echo = Callable[[str], None]

# Fields the server manages; never sent in a create body or a metadata patch (API-v2.md §8.3).
SERVER_MANAGED = frozenset(
    {"$schema", "owners", "publication_state", "ePIC_PID", "DOI", "$future_doi", "external_pids",
     "_deposit", "_pid", "_oai", "_files", "_internal", "files"}
)
PROGRESS_MIN_BYTES = 4 * 1024 * 1024
ORPHAN_CLOCK_SLACK_SECONDS = 300


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
            "id": self.id,
            "url": self.url,
            "html_url": self.html_url,
            "state": self.state,
            "bucket": self.bucket,
            "files": [f.to_json() for f in self.files],
            "pids": dict(self.pids),
            "server": self.server,
            "community": self.community,
            "uploaded": list(self.uploaded),
            "skipped": list(self.skipped),
            "removed": list(self.removed),
            "extra": list(self.extra),
            "warnings": list(self.warnings),
            "dry_run": self.dry_run,
            "requests": [r.to_json() for r in self.requests],
            "receipt": self.receipt,
        }


@dataclass(frozen=True)
class FileStatus:
    key: str
    size: int
    state: str  # uploaded | missing | different | not uploaded
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

    if isinstance(bundle, Bundle):
        return bundle
    return Bundle.open(Path(bundle))


def manifest_md5s(bundle_path: Path) -> dict[str, str]:
    """relpath -> md5 from the bag's ``manifest-md5.txt`` when the bundle has one ({} if not).

    BagIt allows several manifests; a bundle that recorded md5 while it was written lets the
    upload skip hashing (the server's checksum is then compared with the recorded digest, which
    also proves the server holds exactly the bytes the snapshot recorded).
    """
    manifest = bundle_path / "manifest-md5.txt"
    try:
        text = manifest.read_text(encoding="utf-8")
    except OSError:
        return {}
    digests = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().replace("%0D", "\r").replace("%0A", "\n")
        relpath = name[len("data/"):] if name.startswith("data/") else name
        digests[relpath] = digest.strip().lower()
    return digests


def md5_of_file(path: Path, chunk_size: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _title_of(metadata: dict[str, Any]) -> str | None:
    titles = metadata.get("titles") or []
    if titles and isinstance(titles[0], dict):
        return str(titles[0].get("title"))
    return None


def _summarize_metadata(metadata: dict[str, Any]) -> str:
    fields = ", ".join(sorted(metadata))
    return f"application/json: title={_title_of(metadata)!r}; fields: {fields}"


class Publisher:
    """Publishes bundles to one B2SHARE v2 server (one session, one schema cache)."""

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
        self.api = V2Api(self.session)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.echo: Echo = echo or (lambda message: log.info("%s", message))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_token(self) -> dict[str, Any]:
        """``GET /api/user/``: a token the server does not know yields ``{}`` (anonymous), §2."""
        user = self.api.user()
        if not user or not user.get("id"):
            raise ServerRefused(
                message=(
                    f"{self.config.server} does not recognise the configured token (it answers "
                    "as to an anonymous user); check that the token is valid for this server "
                    "(tokens are per instance) and not revoked."
                ),
                status=401,
            )
        return user

    # --- community and schema ------------------------------------------------------------------
    def community(self, community_id: str) -> dict[str, Any]:
        return self.api.community(community_id)

    def schema_for(self, community: dict[str, Any]) -> CommunitySchema:
        """The community's full schema, from the disk cache when server+community+version match."""
        community_id = str(community["id"])
        raw_info = community.get("schema")
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        version = info.get("version")
        root = info.get("root_schema")
        cache_file = self._schema_cache_file(community_id, version)
        if cache_file is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                cached = CommunitySchema.from_json(json.loads(cache_file.read_text("utf-8")))
                if cached.version == int(str(version)):
                    return cached
        schema = self.api.community_schema(community_id, "last", root_schema=root)
        cache_file = self._schema_cache_file(community_id, schema.version)
        if cache_file is not None:
            with contextlib.suppress(OSError):
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(schema.to_json(), handle)
                os.replace(tmp, cache_file)
        return schema

    def _schema_cache_file(self, community_id: str, version: Any) -> Path | None:
        if self.config.cache_dir is None or version is None:
            return None
        server_key = hashlib.sha256(self.config.server.encode()).hexdigest()[:16]
        safe_id = "".join(c for c in community_id if c.isalnum() or c == "-")
        return self.config.cache_dir / "b2share-schemas" / server_key / f"{safe_id}-v{version}.json"

    # --- metadata --------------------------------------------------------------------------------
    def record_metadata(self, metadata: dict[str, Any], schema: CommunitySchema) -> dict[str, Any]:
        """The create body: bundle metadata + community + ``community_specific`` keyed by block."""
        record = {k: copy.deepcopy(v) for k, v in metadata.items() if k not in SERVER_MANAGED}
        record["community"] = schema.community_id
        given = record.get("community_specific")
        given = given if isinstance(given, dict) else {}
        if schema.block_schema_id:
            block = given.get(schema.block_schema_id, {})
            if not block and len(given) == 1 and isinstance(next(iter(given.values())), dict):
                block = next(iter(given.values()))  # a block written under another (old) key
            record["community_specific"] = {schema.block_schema_id: block}
        else:
            record["community_specific"] = {}
        return record

    def validate(
        self, record: dict[str, Any], schema: CommunitySchema, mode: str, source: str
    ) -> None:
        from ecasrepro.metadata import validate_metadata

        if mode == "submit":  # the server validates the record as it will be: submitted
            record = {**record, "publication_state": "submitted"}
        validate_metadata(record, schema.json_schema, mode, source=source)  # type: ignore[arg-type]

    # --- secrets ---------------------------------------------------------------------------------
    def refuse_secrets(self, bundle: Bundle) -> None:
        """Scan the whole bundle (the configured token added to the known secrets).

        A separate pass before any write: a secret found half-way through an upload would
        already have left. (Fusing md5 into this pass was measured slower on a busy 2-core box:
        the scanner holds the GIL, so md5 did not overlap; during the upload it overlaps with
        the socket send instead. See CONTRIBUTING.md.)
        """
        from ecasrepro.capture.secrets import Redactor, scan_tree

        extra = [self.config.token.reveal()] if self.config.token else []
        redactor = Redactor.from_environment(extra=extra)
        findings = scan_tree(Path(bundle.path), redactor, skip=("receipt.json",))
        if findings:
            shown = "; ".join(str(f) for f in findings[:5])
            more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
            raise SecretFound(
                f"the bundle {bundle.path} contains what looks like a secret ({shown}{more}); "
                "remove it from the notebook or attachments and snapshot again."
            )

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
        self.refuse_secrets(bundle)
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

        metadata = dict(bundle.metadata)
        community_id = self.config.community or metadata.get("community")
        if receipt and receipt.draft_id and not new_draft and receipt.community:
            community_id = self.config.community or receipt.community
        if not community_id:
            raise ConfigurationError(
                "no B2SHARE community is given; pass --community ID, set B2SHARE_COMMUNITY, or "
                "put \"community\" in data/metadata.json (`ecasrepro communities` lists them)."
            )
        if self.config.token:
            self.check_token()
        community = self.community(str(community_id))
        schema = self.schema_for(community)
        record_md = self.record_metadata(metadata, schema)
        source = f"{bundle.path}/data/metadata.json"
        self.validate(record_md, schema, "draft", source)
        if submit:
            self.validate(record_md, schema, "submit", source)

        # -- which draft -------------------------------------------------------------------------
        if receipt is None or new_draft or (receipt.server != self.config.server):
            if receipt is not None:
                receipt.archive_current()
                receipt.server = self.config.server
            else:
                receipt = Receipt(server=self.config.server)
        draft_body: dict[str, Any] | None = None
        if receipt.draft_id:
            if new_version_of and receipt.version_of != new_version_of:
                if receipt.state != "published":
                    raise BadInput(
                        f"{receipt_path} already records draft {receipt.draft_id} (state "
                        f"{receipt.state}); finish it, or pass --new-draft to start over."
                    )
                receipt.archive_current()
            else:
                draft_body = self._existing_draft(receipt, receipt_path)
        elif receipt.create_started:
            draft_body = self._find_orphan(receipt, record_md)
            if draft_body is not None:
                self.echo(f"continuing draft {draft_body['id']} that an interrupted run created")

        if draft_body is not None:
            state = str(draft_body.get("metadata", {}).get("publication_state", "draft"))
            if state in ("submitted", "published"):
                return self._finished(bundle, receipt, receipt_path, draft_body, warnings,
                                      dry_run, plan)

        if draft_body is None:
            if dry_run:
                url = self.api.records_url() + (f"?version_of={new_version_of}"
                                                 if new_version_of else "")
                plan.append(PlannedRequest("POST", url, _summarize_metadata(record_md)))
            else:
                draft_body = self._create(receipt, receipt_path, record_md, new_version_of)
        else:
            self._sync_metadata(draft_body, record_md, plan, dry_run)

        draft_id = draft_body["id"] if draft_body else None
        bucket = bucket_id_of(draft_body) if draft_body else None
        links = links_of(draft_body) if draft_body else {}
        remote: dict[str, RemoteFile] = {}
        limits: dict[str, Any] = {}
        if bucket:
            remote, limits = self.api.bucket_listing(bucket)

        # -- files --------------------------------------------------------------------------------
        result = DraftRecord(
            id=draft_id,
            url=links.get("self") or (self.api.draft_url(draft_id) if draft_id else None),
            html_url=self.api.html_url(draft_id, links) if draft_id else None,
            state="planned" if draft_id is None else "draft",
            bucket=bucket,
            server=self.config.server,
            community=schema.community_id,
            warnings=warnings,
            dry_run=dry_run,
            requests=plan,
            receipt=str(receipt_path),
        )
        payload = []
        for pf in bundle.payload_files():
            if pf.size == 0:  # B2SHARE refuses empty bodies (FILES_REST_MIN_FILE_SIZE = 1)
                warnings.append(f"{pf.relpath} is empty and B2SHARE does not store empty files; "
                                "it stays in the bundle but was not uploaded.")
                continue
            payload.append(pf)
        payload_keys = {pf.relpath for pf in payload}
        self._check_limits(payload, limits)
        recorded_md5 = manifest_md5s(Path(bundle.path))  # from the bag, if it records md5
        bucket_shown = self.api.bucket_url(bucket) if bucket else "<bucket of the new draft>"
        for pf in payload:
            if self._already_there(pf, remote.get(pf.relpath), receipt,
                                   recorded_md5.get(pf.relpath)):
                result.skipped.append(pf.relpath)
                continue
            if dry_run:
                plan.append(PlannedRequest(
                    "PUT", f"{bucket_shown}/{pf.relpath}",
                    f"{OCTET_STREAM}: {pf.size} bytes from {pf.path}"))
                continue
            assert bucket is not None and draft_id is not None
            self._upload(bucket, pf, receipt, receipt_path, recorded_md5.get(pf.relpath))
            result.uploaded.append(pf.relpath)
            _test_hook("file")

        extras = sorted(set(remote) - payload_keys)
        if extras and (receipt.version_of or new_version_of):
            # A new version starts with the previous version's files: the bundle defines the set.
            for key in extras:
                if dry_run:
                    plan.append(PlannedRequest("DELETE", f"{bucket_shown}/{key}",
                                               "file of the previous version not in the bundle"))
                else:
                    assert bucket is not None
                    self.api.delete_file(bucket, key)
                result.removed.append(key)
        else:
            result.extra = extras
            for key in extras:
                warnings.append(f"the draft also holds {key!r}, which is not in the bundle; "
                                "left in place.")

        # -- verify -------------------------------------------------------------------------------
        if bucket and not dry_run:
            final = self.api.bucket(bucket)
            bad = [
                key for key in sorted(payload_keys)
                if key not in final or key not in receipt.files
                or final[key].md5 != receipt.files[key].md5
                or final[key].size != receipt.files[key].size
            ]
            if bad:
                raise ServerUnreachable(
                    f"after uploading, the server lists {', '.join(bad[:3])} differently from what "
                    "was sent; the receipt is kept, run the same command again to repair it."
                )
            result.files = [final[key] for key in sorted(final)]
        elif not dry_run:
            result.files = []
        else:
            result.files = [remote[k] for k in sorted(remote)]

        # -- submit -------------------------------------------------------------------------------
        if submit:
            if dry_run:
                plan.append(PlannedRequest(
                    "PATCH", self.api.draft_url(draft_id) if draft_id else
                    self.api.records_url() + "<new id>/draft",
                    f'{JSON_PATCH}: [{{"op": "add", "path": "/publication_state", '
                    '"value": "submitted"}]'))
            else:
                assert draft_id is not None
                self._submit(draft_id, receipt, receipt_path, result)
        if dry_run:
            for request in plan:
                self.echo(f"would send {request}")
        return result

    # --- steps -----------------------------------------------------------------------------------
    def _existing_draft(self, receipt: Receipt, receipt_path: Path) -> dict[str, Any]:
        assert receipt.draft_id
        try:
            return self.api.draft(receipt.draft_id)
        except ServerRefused as exc:
            if is_not_found(exc):
                raise ServerRefused(
                    message=(
                        f"the draft {receipt.draft_id} recorded in {receipt_path} no longer "
                        f"exists on {self.config.server}; run again with --new-draft to create "
                        "a new draft."
                    ),
                    status=exc.status,
                ) from None
            raise

    def _find_orphan(self, receipt: Receipt, record_md: dict[str, Any]) -> dict[str, Any] | None:
        """A draft that a run killed between POST and receipt created: adopt it, never duplicate."""
        import datetime as dt

        assert receipt.create_started
        started = dt.datetime.fromisoformat(receipt.create_started)
        earliest = started - dt.timedelta(seconds=ORPHAN_CLOCK_SLACK_SECONDS)
        candidates = []
        for hit in self.api.iter_drafts():
            meta = hit.get("metadata", {})
            if meta.get("publication_state", "draft") != "draft":
                continue
            if meta.get("community") != record_md.get("community"):
                continue
            if meta.get("titles") != record_md.get("titles"):
                continue
            try:
                created = dt.datetime.fromisoformat(str(hit.get("created")))
            except ValueError:
                continue
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.timezone.utc)
            if created >= earliest:
                candidates.append((created, hit))
        if not candidates:
            return None
        candidates.sort(key=lambda pair: pair[0])
        hit = candidates[0][1]
        body = self.api.draft(hit["id"])  # the search hit has no files link
        self._record_draft(receipt, body)
        return body

    def _create(
        self,
        receipt: Receipt,
        receipt_path: Path,
        record_md: dict[str, Any],
        version_of: str | None,
    ) -> dict[str, Any]:
        receipt.community = record_md["community"]
        receipt.title = _title_of(record_md)
        receipt.version_of = version_of
        receipt.create_started = now_iso()
        receipt.save(receipt_path)
        try:
            body = self.api.create_draft(record_md, version_of=version_of)
        except ServerRefused:  # a 4xx answer: certainly no draft was made, nothing to adopt
            receipt.create_started = None
            receipt.version_of = None
            receipt.save(receipt_path)
            raise
        _test_hook("post")
        self._record_draft(receipt, body)
        receipt.save(receipt_path)
        self.echo(f"created draft {body['id']} on {self.config.server}")
        _test_hook("draft")
        return body

    def _record_draft(self, receipt: Receipt, body: dict[str, Any]) -> None:
        links = links_of(body)
        receipt.draft_id = str(body["id"])
        receipt.bucket = bucket_id_of(body)
        receipt.url = links.get("self") or self.api.draft_url(receipt.draft_id)
        receipt.html_url = self.api.html_url(receipt.draft_id, links)
        receipt.state = str(body.get("metadata", {}).get("publication_state", "draft"))
        receipt.create_started = None

    def _sync_metadata(
        self,
        draft_body: dict[str, Any],
        record_md: dict[str, Any],
        plan: list[PlannedRequest],
        dry_run: bool,
    ) -> None:
        """Bring a continued draft's metadata up to the bundle's (add/replace only, JSON Patch)."""
        current = draft_body.get("metadata", {})
        patch: list[dict[str, Any]] = []
        for key, value in record_md.items():
            if key in ("community", *SERVER_MANAGED):
                continue
            if key == "community_specific":
                for block_id, block in value.items():
                    have = (current.get("community_specific") or {}).get(block_id)
                    if have is None:
                        patch.append({"op": "add", "path": f"/community_specific/{block_id}",
                                      "value": block})
                        continue
                    for name, field_value in block.items():
                        if have.get(name) != field_value:
                            patch.append({"op": "add",
                                          "path": f"/community_specific/{block_id}/{name}",
                                          "value": field_value})
                continue
            if current.get(key) != value:
                patch.append({"op": "add", "path": f"/{key}", "value": value})
        if not patch:
            return
        if dry_run:
            paths = ", ".join(op["path"] for op in patch)
            plan.append(PlannedRequest("PATCH", self.api.draft_url(draft_body["id"]),
                                       f"{JSON_PATCH}: update {paths}"))
            return
        updated = self.api.patch_draft(draft_body["id"], patch)
        draft_body["metadata"] = updated.get("metadata", current)

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

    def _already_there(self, pf: Any, remote: RemoteFile | None, receipt: Receipt,
                       recorded_md5: str | None = None) -> bool:
        """True when the bucket holds this payload file already (size and md5 match)."""
        if remote is None or remote.size != pf.size:
            return False
        known = receipt.files.get(pf.relpath)
        if known and known.sha256 and known.sha256 == pf.sha256:
            return known.md5 == remote.md5
        local_md5 = recorded_md5 or md5_of_file(Path(pf.path))  # else one read to decide
        if local_md5 != remote.md5:
            return False
        receipt.files[pf.relpath] = UploadedFile(pf.relpath, pf.size, local_md5, pf.sha256)
        return True

    def _upload(self, bucket: str, pf: Any, receipt: Receipt, receipt_path: Path,
                known_md5: str | None = None) -> None:
        """Stream one file; verify the server's md5; on mismatch delete and retry once."""
        from tqdm import tqdm

        key = pf.relpath
        for attempt in (1, 2):
            with tqdm(
                total=pf.size, unit="B", unit_scale=True, unit_divisor=1024, desc=key,
                disable=not self.progress or pf.size < PROGRESS_MIN_BYTES, leave=False,
                file=sys.stderr, miniters=1,
            ) as bar:
                body = FileBody(Path(pf.path), pf.size, progress=bar.update, on_restart=bar.reset,
                                known_md5=known_md5)
                answer = self.api.put_file(bucket, key, body)
            server_md5 = str(answer.get("checksum") or "").removeprefix("md5:")
            server_size = int(answer.get("size", -1))
            if body.md5 and server_md5 == body.md5 and server_size == pf.size:
                receipt.files[key] = UploadedFile(key, pf.size, body.md5, pf.sha256)
                receipt.save(receipt_path)
                self.echo(f"uploaded {key} ({pf.size} bytes, md5 {body.md5})")
                return
            self.echo(
                f"checksum mismatch for {key}: sent md5 {body.md5}, {pf.size} bytes; server has "
                f"{server_md5 or 'none'}, {server_size} bytes; deleting it"
                + (" and retrying once" if attempt == 1 else "")
            )
            self.api.delete_file(bucket, key)
            receipt.files.pop(key, None)
            receipt.save(receipt_path)
        if known_md5:
            raise BadInput(
                f"{key} does not match the md5 recorded in the bundle's manifest-md5.txt (it "
                "changed after the snapshot); re-create the bundle with `ecasrepro snapshot`."
            )
        raise ServerUnreachable(
            f"the server stored {key} with a different checksum twice; the draft and receipt are "
            "kept, run the same command again to retry that file."
        )

    def _submit(self, draft_id: str, receipt: Receipt, receipt_path: Path,
                result: DraftRecord) -> None:
        try:
            body = self.api.submit(draft_id)
        except ServerUnreachable:
            body = self.api.draft(draft_id)  # did the submission land before the failure?
            if body.get("metadata", {}).get("publication_state") == "draft":
                raise
        self._apply_state(body, receipt, result)
        receipt.save(receipt_path)
        if result.state == "published":
            self.echo(f"published {draft_id}: " + ", ".join(
                f"{k} {v}" for k, v in result.pids.items()))
        else:
            self.echo(f"submitted {draft_id} for review by the community")

    def _apply_state(self, body: dict[str, Any], receipt: Receipt, result: DraftRecord) -> None:
        meta = body.get("metadata", {})
        state = str(meta.get("publication_state", "draft"))
        result.state = receipt.state = state
        pids = {k: str(meta[k]) for k in ("ePIC_PID", "DOI") if meta.get(k)}
        if state == "published":
            record = self.api.record(str(body["id"]))
            record_meta = record.get("metadata", {})
            pids.update({k: str(record_meta[k]) for k in ("ePIC_PID", "DOI") if record_meta.get(k)})
            result.html_url = receipt.html_url = self.api.html_url(
                str(body["id"]), {"self_html": links_of(record).get("self_html")}, draft=False)
            result.files = [
                RemoteFile(str(f["key"]), int(f["size"]), str(f.get("checksum") or ""))
                for f in record.get("files") or []
            ] or result.files
        result.pids = receipt.pids = pids

    def _finished(
        self,
        bundle: Bundle,
        receipt: Receipt,
        receipt_path: Path,
        draft_body: dict[str, Any],
        warnings: list[str],
        dry_run: bool,
        plan: list[PlannedRequest],
    ) -> DraftRecord:
        """The recorded draft was already submitted or published: report it, change nothing."""
        draft_id = str(draft_body["id"])
        links = links_of(draft_body)
        result = DraftRecord(
            id=draft_id, url=links.get("self") or self.api.draft_url(draft_id),
            html_url=self.api.html_url(draft_id, links), state="draft",
            bucket=bucket_id_of(draft_body), server=self.config.server,
            community=receipt.community, warnings=warnings, dry_run=dry_run, requests=plan,
            receipt=str(receipt_path),
        )
        self._apply_state(draft_body, receipt, result)
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
        try:
            body = self.api.draft(receipt.draft_id)
        except ServerRefused as exc:
            if not is_not_found(exc):
                raise
            result.state = "deleted"
            result.files = [FileStatus(pf.relpath, pf.size, "missing") for pf in payload]
            return result
        result.state = str(body.get("metadata", {}).get("publication_state", "draft"))
        bucket = bucket_id_of(body)
        remote = self.api.bucket(bucket) if bucket else {}
        if result.state == "published" and not remote:
            record = self.api.record(receipt.draft_id)
            remote = {f["key"]: RemoteFile(f["key"], int(f["size"]), str(f.get("checksum")))
                      for f in record.get("files") or []}
        for pf in payload:
            have = remote.get(pf.relpath)
            known = receipt.files.get(pf.relpath)
            if pf.size == 0:
                state = "empty"  # never uploaded: B2SHARE refuses empty files
            elif have is None:
                state = "missing"
            elif (known and known.md5 == have.md5 and known.size == pf.size
                  and (not known.sha256 or known.sha256 == pf.sha256)):
                state = "uploaded"
            else:
                state = "different"
            result.files.append(FileStatus(pf.relpath, pf.size, state,
                                           have.checksum if have else None))
        result.extra = sorted(set(remote) - {pf.relpath for pf in payload})
        return result


__all__ = [
    "BundleStatus",
    "DraftRecord",
    "FileStatus",
    "PlannedRequest",
    "Publisher",
    "manifest_md5s",
    "md5_of_file",
    "open_bundle",
]
