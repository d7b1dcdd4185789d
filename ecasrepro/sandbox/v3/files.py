"""The three-step files API: init → content → commit (API-v3.md §6), plus published files.

Content is streamed from ``wsgi.input`` into the shared blob store (md5 on the fly, constant
memory) outside any database transaction, so slow uploads never block other requests.

One job: the v3 files API, so that three-step uploads behave (and fail) as on InvenioRDM.

May import: ecasrepro.sandbox.common, ecasrepro.sandbox.storage, .common, .errors, .records,
.store; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import sqlite3
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, request

from ecasrepro.sandbox.common import receive_upload, stream_file
from ecasrepro.sandbox.storage import READ_CHUNK, IncompleteUpload
from ecasrepro.sandbox.v3 import store
from ecasrepro.sandbox.v3.common import (
    Caller,
    base_url,
    current_caller,
    json_body,
    json_response,
    storage,
)
from ecasrepro.sandbox.v3.errors import (
    ApiError,
    AppError,
    field_error,
    permission_denied,
    validation_error,
)
from ecasrepro.sandbox.v3.records import (
    DELETE_REVISIONS,
    as_draft_reader,
    as_owner,
    owned_record,
    published_or_404,
    touch_draft,
)

blueprint = Blueprint("v3_files", __name__)

#: Files per record.  Upstream's RDM_RECORDS_MAX_FILES_COUNT is 100; B2SHARE's value is not
#: public, and bundles of a few hundred files must be publishable (see docs/decisions.md, v3 mode).
DEFAULT_MAX_FILES = 500
#: Upstream's key rules, all of them (invenio-files-rest 6.1 ``models.validate_key``, applied by
#: ``ObjectVersion`` when content is stored: FILES_REST_OBJECT_KEY_MAX_LEN). A key is an opaque
#: string there: ``../../x``, ``/x`` and backslashes are accepted at init (201) and never touch
#: a path, because content is stored under a file-instance UUID (here: a blob id). The only
#: other refusal is the database's: PostgreSQL rejects NUL in text, an unhandled 500.
MAX_KEY_LENGTH = 255
#: Process-wide override of every app's limit (bench/bench_publish_v3.py raises it this way).
MAX_FILES: int | None = None
GIB = 1 << 30
OCTET = "application/octet-stream"
TRANSFER_FAILED = "File upload transfer failed."


def _limits() -> tuple[int, int]:
    """(max file size, per-record quota): the sandbox's configured values (v2 config object)."""
    cfg = current_app.extensions.get("ecasrepro.config")
    return (
        int(getattr(cfg, "max_file_size", 10 * GIB)),
        int(getattr(cfg, "quota_size", 10 * GIB)),
    )


def guess_mimetype(key: str) -> str:
    return mimetypes.guess_type(key, strict=False)[0] or OCTET


def _no_file(record_id: str, key: str) -> ApiError:
    return ApiError(404, f"Record '{record_id}' has no file '{key}'.")


def _file_row(db: sqlite3.Connection, record_id: str, kind: str, key: str) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM v3_files WHERE record_id = ? AND kind = ? AND key = ?",
        (record_id, kind, key),
    ).fetchone()
    if row is None:
        raise _no_file(record_id, key)
    return row


def _files_enabled(row: sqlite3.Row) -> bool:
    return bool(json.loads(row["draft_json"]).get("files", {}).get("enabled", True))


def _check_unlocked(row: sqlite3.Row) -> None:
    """The edit draft of a published record keeps its files: none added, changed or removed."""
    if row["files_locked"]:
        raise ApiError(403, "Bucket is locked for modifications.")


def _list_response(db: sqlite3.Connection, row: sqlite3.Row, status: int = 200) -> Response:
    data = json.loads(row["draft_json"])
    rows = store.file_rows(db, row["id"], "draft")
    return json_response(store.files_list_body(base_url(), row["id"], "draft", data, rows), status)


# --- step 1: init -----------------------------------------------------------------------------
def _init_items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and body:
        # Upstream walks an object like a list of its keys: each is "not an object" by index.
        raise validation_error(
            [field_error(f"{n}._schema", "Invalid input type.") for n in range(len(body))]
        )
    if not isinstance(body, list):
        raise validation_error([field_error("_schema", "Invalid input type.")])
    if not body:
        raise validation_error([field_error("_schema", "No files to upload.")])
    errors = []
    allowed = {"key", "metadata", "access", "size", "checksum", "transfer"}
    for n, item in enumerate(body):
        if not isinstance(item, dict):
            errors.append(field_error(f"{n}", "Invalid input type."))
            continue
        if not isinstance(item.get("key"), str) or not item["key"]:
            errors.append(field_error(f"{n}.key", "Missing data for required field."))
        for extra in sorted(set(item) - allowed):
            errors.append(field_error(f"{n}.{extra}", "Unknown field."))
    if errors:
        raise validation_error(errors)
    return body


@blueprint.route("/api/records/<record_id>/draft/files", methods=["POST"])
def init_files(record_id: str) -> Response:
    body = json_body()
    with as_owner(record_id) as (db, _caller, row):
        if not _files_enabled(row):
            raise ApiError(403, "Files are not enabled.")
        _check_unlocked(row)
        items = _init_items(body)
        existing = {r["key"] for r in store.file_rows(db, record_id, "draft")}
        limit = MAX_FILES or current_app.extensions["ecasrepro.v3.max_files"]
        if len(existing) + len(items) > limit:
            raise ApiError(
                400,
                "Uploading selected files will result in exceeding the max amount per record.",
            )
        now = store.now()
        for item in items:
            key = item["key"]
            if key in existing:
                raise ApiError(400, f"File with key {key} already exists.")  # whole batch undone
            existing.add(key)
            db.execute(
                "INSERT INTO v3_files (record_id, kind, key, status, mimetype, file_id, "
                "version_id, metadata, access, created, updated, seq) "
                "VALUES (?, 'draft', ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record_id,
                    key,
                    guess_mimetype(key),
                    str(uuid.uuid4()),
                    str(uuid.uuid4()),
                    json.dumps(item["metadata"])
                    if isinstance(item.get("metadata"), dict)
                    else None,
                    json.dumps(item.get("access") or {"hidden": False}),
                    now,
                    now,
                    store.next_seq(db, "v3_files"),
                ),
            )
        if any("\x00" in item["key"] for item in items):
            raise AppError(500)  # upstream: PostgreSQL refuses NUL in text when the batch flushes
        touch_draft(db, record_id, 0)  # upstream: file init, content, commit leave it
        return _list_response(db, row, 201)


@blueprint.route("/api/records/<record_id>/draft/files", methods=["GET"])
def list_files(record_id: str) -> Response:
    with as_draft_reader(record_id) as (db, _caller, row):
        return _list_response(db, row)


@blueprint.route("/api/records/<record_id>/draft/files", methods=["DELETE"])
def delete_all_files(record_id: str) -> Response:
    with as_owner(record_id) as (db, _caller, row):
        _check_unlocked(row)
        blobs = [r["blob"] for r in store.file_rows(db, record_id, "draft")]
        db.execute("DELETE FROM v3_files WHERE record_id = ? AND kind = 'draft'", (record_id,))
        for blob in blobs:
            store.delete_blob_if_unused(storage(), db, blob)
        touch_draft(db, record_id, DELETE_REVISIONS)
    return Response(status=204)


@blueprint.route("/api/records/<record_id>/draft/files/<path:key>", methods=["GET"])
def get_file(record_id: str, key: str) -> Response:
    return json_response(store.file_item(base_url(), _readable_file(record_id, "draft", key)))


@blueprint.route("/api/records/<record_id>/draft/files/<path:key>", methods=["PUT"])
def update_file(record_id: str, key: str) -> Response:
    body = json_body()
    with as_owner(record_id) as (db, _caller, _row):
        _file_row(db, record_id, "draft", key)
        if isinstance(body, dict):
            if isinstance(body.get("metadata"), dict):
                db.execute(
                    "UPDATE v3_files SET metadata = ? WHERE record_id = ? AND kind = 'draft' "
                    "AND key = ?",
                    (json.dumps(body["metadata"]), record_id, key),
                )
            if isinstance(body.get("access"), dict):
                db.execute(
                    "UPDATE v3_files SET access = ? WHERE record_id = ? AND kind = 'draft' "
                    "AND key = ?",
                    (json.dumps(body["access"]), record_id, key),
                )
        return json_response(store.file_item(base_url(), _file_row(db, record_id, "draft", key)))


@blueprint.route("/api/records/<record_id>/draft/files/<path:key>", methods=["DELETE"])
def delete_file(record_id: str, key: str) -> Response:
    with as_owner(record_id) as (db, _caller, row):
        _check_unlocked(row)
        f = _file_row(db, record_id, "draft", key)
        db.execute(
            "DELETE FROM v3_files WHERE record_id = ? AND kind = 'draft' AND key = ?",
            (record_id, key),
        )
        store.delete_blob_if_unused(storage(), db, f["blob"])
        touch_draft(db, record_id, DELETE_REVISIONS)
    return Response(status=204)


# --- step 2: content --------------------------------------------------------------------------
def _drain(length: int) -> None:
    stream = request.environ["wsgi.input"]
    left = length
    while left > 0:
        chunk = stream.read(min(READ_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


def _check_writable(
    db: sqlite3.Connection, caller: Caller, record_id: str, key: str
) -> sqlite3.Row:
    _check_unlocked(owned_record(db, caller, record_id, published=False))
    return _file_row(db, record_id, "draft", key)


@blueprint.route("/api/records/<record_id>/draft/files/<path:key>/content", methods=["PUT"])
def upload_content(record_id: str, key: str) -> Response:
    caller = current_caller()
    content_type = request.headers.get("Content-Type")
    if content_type is not None and content_type != OCTET:
        raise ApiError(415, f"Invalid 'Content-Type' header. Expected one of: {OCTET}")
    raw_length = request.environ.get("CONTENT_LENGTH")
    try:
        length = int(raw_length) if raw_length else -1
    except ValueError:
        length = -1
    if length < 0:
        raise ApiError(400, "Missing or invalid Content-Length header.")
    max_size, quota = _limits()
    failed: dict[str, Any] | None = None
    with storage().transaction() as db:
        f = _check_writable(db, caller, record_id, key)
        if f["status"] == "completed":
            # Upstream: the transfer fails, the entry is deleted, and the answer is still 200.
            db.execute(
                "DELETE FROM v3_files WHERE record_id = ? AND kind = 'draft' AND key = ?",
                (record_id, key),
            )
            store.delete_blob_if_unused(storage(), db, f["blob"])
            touch_draft(db, record_id, 0)
            failed = {**store.file_item(base_url(), f), "errors": TRANSFER_FAILED}
        used = db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM v3_files WHERE record_id = ? AND kind = 'draft' "
            "AND key != ?",
            (record_id, key),
        ).fetchone()[0]
    if failed is not None:
        _drain(length)  # outside the transaction: never hold the write lock on a socket
        return json_response(failed)
    if len(key) > MAX_KEY_LENGTH:  # upstream: ObjectVersion.create, before any byte is stored
        raise ApiError(400, "Filename is too long.")
    if length > max_size:
        raise ApiError(400, "Maximum file size exceeded.")
    if int(used) + length > quota:
        raise ApiError(400, "Bucket quota exceeded.")
    try:
        written = receive_upload(length)
    except IncompleteUpload:
        # The entry stays ``pending`` with its previous content (if any); see docs/decisions.md.
        raise ApiError(400, "File is smaller than expected.") from None
    try:
        with storage().transaction() as db:
            f = _check_writable(db, caller, record_id, key)
            if f["status"] != "pending":
                raise ApiError(400, TRANSFER_FAILED)
            db.execute(
                "UPDATE v3_files SET blob = ?, size = ?, md5 = ?, updated = ? "
                "WHERE record_id = ? AND kind = 'draft' AND key = ?",
                (written.blob, written.size, written.md5_hex, store.now(), record_id, key),
            )
            store.delete_blob_if_unused(storage(), db, f["blob"])
            f = _file_row(db, record_id, "draft", key)
    except BaseException:
        with contextlib.suppress(OSError):
            storage().blob_path(written.blob).unlink()
        raise
    return json_response(store.file_item(base_url(), f))


# --- step 3: commit ---------------------------------------------------------------------------
@blueprint.route("/api/records/<record_id>/draft/files/<path:key>/commit", methods=["POST"])
def commit_file(record_id: str, key: str) -> Response:
    caller = current_caller()
    with storage().transaction() as db:
        f = _check_writable(db, caller, record_id, key)
        if f["status"] == "pending":
            if not f["blob"]:
                raise AppError(500)  # upstream: plain Exception "File ... not uploaded yet."
            db.execute(
                "UPDATE v3_files SET status = 'completed', version_id = ?, updated = ? "
                "WHERE record_id = ? AND kind = 'draft' AND key = ?",
                (str(uuid.uuid4()), store.now(), record_id, key),
            )
            touch_draft(db, record_id, 0)
        f = _file_row(db, record_id, "draft", key)
        return json_response(store.file_item(base_url(), f, just_committed=True))


# --- downloads --------------------------------------------------------------------------------
def sanitized_mimetype(mimetype: str | None, filename: str) -> str:
    """invenio-files-rest's ``sanitize_mimetype``: browsers never render a download."""
    rules = store.files_rest_config()
    if mimetype and mimetype in rules["whitelist"]:
        return mimetype
    if mimetype in rules["plaintext"] or filename.lower() in rules["textfiles"]:
        return "text/plain"
    return OCTET


def _download(f: sqlite3.Row) -> Response:
    if not f["blob"] or f["status"] != "completed":
        raise _no_file(f["record_id"], f["key"])
    filename = f["key"].rsplit("/", 1)[-1].replace('"', "")
    headers = {
        "Content-Length": str(f["size"]),
        "Content-Disposition": f'attachment; filename="{filename}"',
        "ETag": f'"md5:{f["md5"]}"',
        "Content-MD5": f["md5"],
    }
    return Response(
        stream_file(str(storage().blob_path(f["blob"]))),
        status=200,
        headers=headers,
        mimetype=sanitized_mimetype(f["mimetype"], filename),
        direct_passthrough=True,
    )


@blueprint.route("/api/records/<record_id>/draft/files/<path:key>/content", methods=["GET"])
def download_draft_file(record_id: str, key: str) -> Response:
    return _download(_readable_file(record_id, "draft", key))


def _published_files(db: sqlite3.Connection, caller: Caller, record_id: str) -> sqlite3.Row:
    row = published_or_404(db, caller, record_id)
    data = json.loads(row["record_json"])
    if data.get("access", {}).get("files") == "restricted" and not store.is_owner(caller, row):
        raise permission_denied()
    return row


def _readable_file(record_id: str, kind: str, key: str) -> sqlite3.Row:
    """A file of the draft (``kind`` "draft") or the published record, behind that side's guard."""
    if kind == "draft":
        with as_draft_reader(record_id) as (db, _caller, _row):
            return _file_row(db, record_id, kind, key)
    caller = current_caller()
    with storage().read() as db:
        _published_files(db, caller, record_id)
        return _file_row(db, record_id, kind, key)


@blueprint.route("/api/records/<record_id>/files", methods=["GET"])
def list_record_files(record_id: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        row = _published_files(db, caller, record_id)
        data = json.loads(row["record_json"])
        rows = store.file_rows(db, record_id, "record")
        return json_response(store.files_list_body(base_url(), record_id, "record", data, rows))


@blueprint.route("/api/records/<record_id>/files/<path:key>", methods=["GET"])
def get_record_file(record_id: str, key: str) -> Response:
    return json_response(store.file_item(base_url(), _readable_file(record_id, "record", key)))


@blueprint.route("/api/records/<record_id>/files/<path:key>/content", methods=["GET"])
def download_record_file(record_id: str, key: str) -> Response:
    return _download(_readable_file(record_id, "record", key))
