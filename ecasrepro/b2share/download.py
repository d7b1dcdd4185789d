"""Find a published record from whatever the user has (id, URL, DOI, Handle) and fetch its files.

Both dialects publish the same facts: a record with files, each with a key, a size and an md5
checksum, downloadable with one GET (v2 ``/api/files/<bucket>/<key>``, v3
``/api/records/<id>/files/<key>/content``). Downloads are streamed in 1 MiB chunks and resume a
partial file with a ``Range`` request (a server that ignores it answers 200 and the file starts
over). The network read (the calling thread), the write, md5 and sha256 (a helper thread each,
fed through bounded queues; hashlib, socket reads and file writes release the GIL) overlap: a
download costs about the slowest of them -- md5, one stream on one core -- not their sum, in
constant memory.

A DOI or Handle names a record only through a resolver, and none is reachable from the places
this runs; so a PID is looked up on the server given (``--server``): a DOI whose suffix is
``b2share.<record id>`` (how B2SHARE mints them) names the record directly, anything else is
found with the server's own search for the PID and checked against the hit's PIDs.

One job: turn a record reference into its files on disk with checked md5s, for either dialect,
so that the reproduction engine never builds a B2SHARE URL itself.

May import: ecasrepro.errors, ecasrepro.config, ecasrepro.pids, .client, .registry; never .v2,
.v3, .publisher, ecasrepro.api or a front end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ecasrepro.b2share.client import (
    B2ShareSession,
    BackgroundMd5,
    ChunkThread,
    raise_for_response,
    redact_url,
)
from ecasrepro.config import PublishConfig
from ecasrepro.errors import BadInput, ServerRefused, TamperedFile

CHUNK = 1024 * 1024
_V2_ID = re.compile(r"^[0-9a-f]{32}$")
_V3_ID = re.compile(r"^[a-z0-9]{5}-[a-z0-9]{5}$")
_RECORD_PATH = re.compile(r"^(?P<prefix>.*?)/(?:api/)?records/(?P<id>[^/?#]+)")


@dataclass(frozen=True)
class RecordRef:
    """What the user named: a record id (``kind`` "id") or a PID, and the server to ask."""

    kind: str  # "id", "DOI" or "Handle"
    value: str
    server: str | None  # from a URL; else the configured server


@dataclass(frozen=True)
class RecordFile:
    key: str
    size: int
    md5: str | None  # hex, as the server states it
    url: str


@dataclass
class PublishedRecord:
    server: str
    dialect: str
    id: str
    landing: str
    files: list[RecordFile]
    body: dict[str, Any] = field(repr=False)


def parse_record_ref(text: str) -> RecordRef:
    """Read a record id, record or landing URL, DOI or Handle (BadInput for anything else)."""
    from ecasrepro import pids

    value = (text or "").strip()
    if not value:
        raise BadInput("RECORD is empty; pass a B2SHARE record id, record URL, DOI or Handle")
    if _V2_ID.match(value) or _V3_ID.match(value):
        return RecordRef("id", value, None)
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and not re.match(
        r"^(dx\.|www\.)?(doi\.org|hdl\.handle\.net)$", parts.hostname or ""
    ):
        if parts.username or parts.password:
            raise BadInput(f"{redact_url(value)} carries credentials; pass the record URL without "
                           "them and the token with --token-file")
        found = _RECORD_PATH.match(parts.path)
        if not found:
            raise BadInput(f"{value} is not a B2SHARE record URL (…/records/<id>); pass the "
                           "record's landing or API URL, its id, DOI or Handle")
        server = f"{parts.scheme}://{parts.netloc}{found['prefix']}".rstrip("/")
        return RecordRef("id", found["id"], server)
    try:
        pid = pids.parse_pid(value)
    except BadInput:
        raise BadInput(f"{value!r} is neither a B2SHARE record id, a record URL, a DOI nor a "
                       "Handle; pass one of those") from None
    if pid.type == "URL":
        raise BadInput(f"{value} is not a B2SHARE record URL; pass the record's landing URL, id, "
                       "DOI or Handle")
    return RecordRef(pid.type, pid.identifier, None)


class RecordFetcher:
    """One server, one dialect: read a published record and stream its files."""

    def __init__(self, config: PublishConfig, dialect: str, session: B2ShareSession) -> None:
        self.config, self.dialect, self.session = config, dialect, session
        self.has_token = bool(config.token)

    def _get(self, url: str, what: str, **params: Any) -> Any:
        response = self.session.get(url, params=params or None)
        hidden = response.status_code in (401, 403) or (
            response.status_code == 404 and "files" in url)
        if hidden and not self.has_token:
            raise ServerRefused(
                f"{what} on {self.session.server} is not public (HTTP "
                f"{response.status_code}); pass --token-file (or set B2SHARE_TOKEN) of an "
                "account that may read it", response.status_code)
        if response.status_code == 404:
            raise ServerRefused(f"{what} was not found on {self.session.server} (HTTP 404); "
                                "check the record id, URL or PID", 404)
        raise_for_response(response, what)
        try:
            return response.json()
        except ValueError:
            raise ServerRefused(f"{self.session.server} did not answer with JSON for {what}; is "
                                "it a B2SHARE server?", response.status_code) from None

    def record(self, ref: RecordRef) -> PublishedRecord:
        record_id = ref.value if ref.kind == "id" else self._find_pid(ref)
        what = f"record {record_id}"
        body = self._get(self.session.api(f"records/{record_id}"), what)
        if self.dialect == "v2":
            files = self._v2_files(body, what)
        else:
            files = self._v3_files(body, record_id, what)
        links = body.get("links", {}) if isinstance(body, dict) else {}
        landing = str(links.get("self_html") or f"{self.session.server}/records/{record_id}")
        return PublishedRecord(self.session.server, self.dialect, str(body.get("id", record_id)),
                               landing, files, body)

    def _find_pid(self, ref: RecordRef) -> str:
        if ref.kind == "DOI":
            suffix = ref.value.split("/", 1)[1].lower()
            candidate = suffix.removeprefix("b2share.")
            if _V2_ID.match(candidate) or _V3_ID.match(candidate):
                return candidate
        query = (f'pids.{ref.kind.lower()}.identifier:"{ref.value}"' if self.dialect == "v3"
                 else f'"{ref.value}"')
        url = self.session.api("records/" if self.dialect == "v2" else "records")
        hits = self._get(url, f"the search for {ref.kind} {ref.value}", q=query, size=10)
        for hit in (hits.get("hits", {}).get("hits", []) if isinstance(hits, dict) else []):
            if ref.value.lower() in json.dumps(hit.get("metadata", {}) | {
                    "pids": hit.get("pids", {})}).lower():
                return str(hit["id"])
        raise ServerRefused(
            f"no record with {ref.kind} {ref.value} was found on {self.session.server} (its "
            "search knows none; PIDs are looked up on --server because no resolver is used); "
            "pass the record's URL or id instead", 404)

    def _v2_files(self, body: dict[str, Any], what: str) -> list[RecordFile]:
        listed = body.get("files")
        if not isinstance(listed, list):  # restricted files are not listed in the record
            bucket_url = body.get("links", {}).get("files")
            if not bucket_url:
                raise ServerRefused(f"{what} lists no files on {self.session.server}", 404)
            listed = self._get(bucket_url, f"the files of {what}").get("contents", [])
        files = []
        for item in listed:
            bucket = item.get("bucket") or item.get("bucket_id")
            url = (item.get("links", {}).get("self")
                   or self.session.api(f"files/{bucket}/{quote(item['key'])}"))
            files.append(RecordFile(item["key"], int(item.get("size") or 0),
                                    _md5_of(item.get("checksum")), url))
        return files

    def _v3_files(self, body: dict[str, Any], record_id: str, what: str) -> list[RecordFile]:
        entries = body.get("files", {}).get("entries") if isinstance(body.get("files"), dict) \
            else None
        if not isinstance(entries, dict):
            listing = self._get(self.session.api(f"records/{record_id}/files"),
                                f"the files of {what}")
            entries = {e["key"]: e for e in listing.get("entries", [])}
        files = []
        for key, item in entries.items():
            url = (item.get("links", {}).get("content")
                   or self.session.api(f"records/{record_id}/files/{quote(key)}/content"))
            files.append(RecordFile(key, int(item.get("size") or 0),
                                    _md5_of(item.get("checksum")), url))
        return files

    def download(self, item: RecordFile, target: Path,
                 advance: Callable[[int], Any] | None = None) -> tuple[str, str]:
        """Stream ``item`` to ``target`` (resuming a partial file); its (md5, sha256) in hex.

        Raises :class:`TamperedFile` (and removes the file) when the bytes do not have the
        md5 the record states.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        # md5, sha256 and the write each on a helper thread: the download costs about md5 alone
        md5, sha = BackgroundMd5(4), BackgroundMd5(4, "sha256")
        have = target.stat().st_size if target.is_file() else 0
        headers = {"Accept": "*/*"}
        if 0 < have < item.size:
            headers["Range"] = f"bytes={have}-"
        elif have:
            target.unlink()
            have = 0
        try:
            response = self.session.get(item.url, headers=headers, stream=True)
            with response:
                if response.status_code in (401, 403, 404) and not self.has_token:
                    raise ServerRefused(
                        f"{item.key} of the record on {self.session.server} is not public (HTTP "
                        f"{response.status_code}); pass --token-file (or set B2SHARE_TOKEN) of an "
                        "account that may read it", response.status_code)
                raise_for_response(response, f"file {item.key}")
                mode = "wb"
                if response.status_code == 206 and have:
                    mode = "ab"
                    with open(target, "rb") as done:
                        for chunk in iter(lambda: done.read(CHUNK), b""):
                            md5.update(chunk)
                            sha.update(chunk)
                    if advance:
                        advance(have)
                stated = response.headers.get("Content-MD5")
                raw = response.raw
                raw.decode_content = True
                with open(target, mode) as out:
                    writer = ChunkThread(out.write, "ecasrepro-write", depth=4)
                    try:
                        while (chunk := raw.read(CHUNK)) and writer.error is None:
                            writer.update(chunk)
                            md5.update(chunk)
                            sha.update(chunk)
                            if advance:
                                advance(len(chunk))
                    finally:
                        writer.close()
        except BaseException:
            md5.close()  # a refused or dropped download stops the hashing threads too
            sha.close()
            raise
        digest, sha256 = md5.hexdigest(), sha.hexdigest()
        expected = item.md5 or (stated.lower() if stated and len(stated) == 32 else None)
        if expected and digest != expected:
            target.unlink(missing_ok=True)
            raise TamperedFile(f"{item.key} does not match the md5 checksum {self.session.server} "
                               "states for it; it was refused (run again to download it anew)")
        return digest, sha256


def _md5_of(checksum: Any) -> str | None:
    text = str(checksum or "")
    return text[4:].lower() if text.startswith("md5:") else None


__all__ = ["PublishedRecord", "RecordFetcher", "RecordFile", "RecordRef", "parse_record_ref"]
