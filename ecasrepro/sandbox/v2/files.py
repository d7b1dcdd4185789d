"""The files API under ``/api/files`` (invenio-files-rest 1.0.0a21 as B2SHARE configures it, §10).

Uploads are streamed straight from ``wsgi.input`` into a blob (md5 on the fly, never buffered),
and only recorded in the database once complete.  Forbidden buckets look like missing ones (404),
as on the real server.

One job: the v2 files API, so that uploads behave (and fail) as on the real server.

May import: ecasrepro.sandbox.common, ecasrepro.sandbox.storage, .common, .errors, .records; never
ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from flask import Blueprint, Response, request

from ecasrepro.sandbox.common import receive_upload, stream_file
from ecasrepro.sandbox.storage import IncompleteUpload, new_uuid, utcnow_iso
from ecasrepro.sandbox.v2.common import UUID_RE, Caller, config, current_caller, storage
from ecasrepro.sandbox.v2.errors import (
    BUCKET_DOES_NOT_EXIST,
    OBJECT_DOES_NOT_EXIST,
    ApiError,
    json_response,
)
from ecasrepro.sandbox.v2.records import (
    can_read_draft,
    can_read_record_files,
    get_row,
    guess_mimetype,
    is_owner,
    quote_key,
)

blueprint = Blueprint("v2_files", __name__)

MAX_KEY_LENGTH = 255
LISTING_LIMIT = 1000
NO_PERMISSION = "You do not have a permission for this action"
INVALID_KEY = (
    "Invalid file key: use a relative path of non-empty segments without '.', '..', "
    "backslashes or control characters."
)


# --- access -----------------------------------------------------------------------------------
def bucket_or_error(db: sqlite3.Connection, bucket_id: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    bucket = None
    if UUID_RE.match(bucket_id):
        bucket = db.execute(
            "SELECT * FROM buckets WHERE id = ? AND deleted = 0", (bucket_id,)
        ).fetchone()
    if bucket is None:
        raise ApiError(404, BUCKET_DOES_NOT_EXIST)
    record = get_row(db, bucket["record_id"])
    assert record is not None
    return bucket, record


def can_read(caller: Caller, bucket: sqlite3.Row, record: sqlite3.Row) -> bool:
    if bucket["kind"] == "record":
        return can_read_record_files(caller, record)
    return can_read_draft(caller, record)


def can_write(caller: Caller, bucket: sqlite3.Row, record: sqlite3.Row) -> bool:
    if bucket["locked"] or bucket["kind"] != "draft":
        return False
    if record["draft_state"] not in ("draft", "submitted"):
        return False
    return (
        caller.superuser
        or is_owner(caller, record)
        or (record["draft_state"] == "submitted" and caller.is_admin(record["community"]))
    )


def bucket_for(
    db: sqlite3.Connection, caller: Caller, bucket_id: str, *, write: bool
) -> tuple[sqlite3.Row, sqlite3.Row]:
    """The bucket and its record if the caller may read (or write) it; else a bare 404."""
    bucket, record = bucket_or_error(db, bucket_id)
    if not (can_write if write else can_read)(caller, bucket, record):
        raise ApiError(404)
    return bucket, record


def valid_key(key: str) -> bool:
    if not key or key.startswith("/") or "\\" in key:
        return False
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


# --- serialisation ----------------------------------------------------------------------------
def object_body(base: str, obj: sqlite3.Row) -> dict[str, Any]:
    url = f"{base}api/files/{obj['bucket_id']}/{quote_key(obj['key'])}"
    return {
        "mimetype": obj["mimetype"],
        "updated": obj["updated"],
        "links": {
            "self": url,
            "version": f"{url}?versionId={obj['version_id']}",
            "uploads": f"{url}?uploads",
        },
        "is_head": bool(obj["is_head"]),
        "created": obj["created"],
        "checksum": obj["checksum"],
        "version_id": obj["version_id"],
        "delete_marker": bool(obj["delete_marker"]),
        "key": obj["key"],
        "size": obj["size"],
    }


def bucket_body(
    db: sqlite3.Connection, base: str, bucket: sqlite3.Row, versions: bool
) -> dict[str, Any]:
    if versions:
        objects = db.execute(
            "SELECT * FROM objects WHERE bucket_id = ? ORDER BY key, seq DESC LIMIT ?",
            (bucket["id"], LISTING_LIMIT),
        ).fetchall()
    else:
        objects = db.execute(
            "SELECT * FROM objects WHERE bucket_id = ? AND is_head = 1 AND delete_marker = 0 "
            "ORDER BY key LIMIT ?",
            (bucket["id"], LISTING_LIMIT),
        ).fetchall()
    url = f"{base}api/files/{bucket['id']}"
    cfg = config()
    return {
        "id": bucket["id"],
        "created": bucket["created"],
        "updated": bucket["updated"],
        "locked": bool(bucket["locked"]),
        "max_file_size": cfg.max_file_size,
        "quota_size": cfg.quota_size,
        "size": bucket["size"],
        "links": {"self": url, "versions": f"{url}?versions", "uploads": f"{url}?uploads"},
        "contents": [object_body(base, o) for o in objects],
    }


def head_object(
    db: sqlite3.Connection, bucket_id: str, key: str, version_id: str | None
) -> sqlite3.Row:
    if version_id is not None:
        if not UUID_RE.match(version_id):
            raise ApiError(422)
        obj = db.execute(
            "SELECT * FROM objects WHERE bucket_id = ? AND key = ? AND version_id = ?",
            (bucket_id, key, version_id),
        ).fetchone()
    else:
        obj = db.execute(
            "SELECT * FROM objects WHERE bucket_id = ? AND key = ? AND is_head = 1",
            (bucket_id, key),
        ).fetchone()
    if obj is None or (version_id is None and obj["delete_marker"]):
        raise ApiError(404, OBJECT_DOES_NOT_EXIST)
    return obj


# --- views ------------------------------------------------------------------------------------
@blueprint.route("/api/files/<bucket_id>", methods=["GET"])
def list_bucket(bucket_id: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        bucket, _record = bucket_for(db, caller, bucket_id, write=False)
        body = bucket_body(db, request.host_url, bucket, "versions" in request.args)
    return json_response(body)


def _limit_for(bucket_size: int) -> tuple[int, str]:
    cfg = config()
    quota_left = cfg.quota_size - bucket_size
    if quota_left < cfg.max_file_size:
        return quota_left, "Bucket quota exceeded."
    return cfg.max_file_size, "Maximum file size exceeded."


@blueprint.route("/api/files/<bucket_id>/<anypath:key>", methods=["PUT"])
def upload(bucket_id: str, key: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        bucket, _record = bucket_for(db, caller, bucket_id, write=True)
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "Filename is too long.")
    if not valid_key(key):
        raise ApiError(400, INVALID_KEY)
    if request.mimetype == "multipart/form-data":
        raise ApiError(400)
    raw_length = request.environ.get("CONTENT_LENGTH")
    if not raw_length or request.environ.get("wsgi.input_terminated"):
        raise ApiError(400)
    try:
        length = int(raw_length)
    except ValueError:
        raise ApiError(400) from None
    if length <= 0:
        raise ApiError(400, None)
    limit, message = _limit_for(int(bucket["size"]))
    if length > limit:
        raise ApiError(400, message)

    try:
        written = receive_upload(length)
    except IncompleteUpload:
        raise ApiError(400) from None

    base = request.host_url
    try:
        with storage().transaction() as db:
            bucket, _record = bucket_for(db, caller, bucket_id, write=True)
            limit, message = _limit_for(int(bucket["size"]))
            if written.size > limit:
                raise ApiError(400, message)
            now = utcnow_iso()
            db.execute(
                "UPDATE objects SET is_head = 0 WHERE bucket_id = ? AND key = ?", (bucket_id, key)
            )
            version_id = new_uuid()
            db.execute(
                "INSERT INTO objects (version_id, bucket_id, key, blob, size, checksum, mimetype, "
                "is_head, delete_marker, created, updated, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?)",
                (
                    version_id,
                    bucket_id,
                    key,
                    written.blob,
                    written.size,
                    f"md5:{written.md5_hex}",
                    guess_mimetype(key),
                    now,
                    now,
                    storage().next_seq(db, "objects"),
                ),
            )
            db.execute(
                "UPDATE buckets SET size = size + ?, updated = ? WHERE id = ?",
                (written.size, now, bucket_id),
            )
            obj = db.execute("SELECT * FROM objects WHERE version_id = ?", (version_id,)).fetchone()
    except BaseException:
        with contextlib.suppress(OSError):
            storage().blob_path(written.blob).unlink()
        raise
    return json_response(object_body(base, obj), headers={"ETag": f'"{obj["checksum"]}"'})


@blueprint.route("/api/files/<bucket_id>/<anypath:key>", methods=["GET"])
def download(bucket_id: str, key: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        bucket_for(db, caller, bucket_id, write=False)
        obj = head_object(db, bucket_id, key, request.args.get("versionId"))
    if obj["delete_marker"]:
        raise ApiError(404, OBJECT_DOES_NOT_EXIST)
    path = storage().blob_path(obj["blob"])
    mimetype = obj["mimetype"] or "application/octet-stream"
    filename = key.rsplit("/", 1)[-1].replace('"', "")
    disposition = (
        f'attachment; filename="{filename}"' if mimetype == "application/octet-stream" else "inline"
    )
    headers = {
        "Content-Length": str(obj["size"]),
        "Content-MD5": str(obj["checksum"]).removeprefix("md5:"),
        "ETag": f'"{obj["checksum"]}"',
        "Content-Disposition": disposition,
        "Content-Security-Policy": "default-src 'none';",
        "X-Content-Type-Options": "nosniff",
        "X-Download-Options": "noopen",
        "X-Permitted-Cross-Domain-Policies": "none",
        "X-Frame-Options": "deny",
        "X-XSS-Protection": "1; mode=block",
    }
    if request.method == "HEAD":
        return Response(status=200, headers=headers, mimetype=mimetype)
    return Response(
        stream_file(str(path)),
        status=200,
        headers=headers,
        mimetype=mimetype,
        direct_passthrough=True,
    )


@blueprint.route("/api/files/<bucket_id>/<anypath:key>", methods=["DELETE"])
def delete_object(bucket_id: str, key: str) -> Response:
    caller = current_caller()
    version_id = request.args.get("versionId")
    with storage().transaction() as db:
        bucket, record = bucket_for(db, caller, bucket_id, write=False)
        obj = head_object(db, bucket_id, key, version_id)
        if not can_write(caller, bucket, record):
            if caller.anonymous:
                raise ApiError(401)
            raise ApiError(403, NO_PERMISSION)
        now = utcnow_iso()
        if version_id is not None:
            db.execute("DELETE FROM objects WHERE version_id = ?", (version_id,))
            db.execute(
                "UPDATE buckets SET size = size - ?, updated = ? WHERE id = ?",
                (obj["size"], now, bucket_id),
            )
            if obj["is_head"]:
                db.execute(
                    "UPDATE objects SET is_head = 1 WHERE version_id = (SELECT version_id FROM "
                    "objects WHERE bucket_id = ? AND key = ? ORDER BY seq DESC LIMIT 1)",
                    (bucket_id, key),
                )
            storage().delete_blob_if_unused(db, obj["blob"])
        else:
            db.execute(
                "UPDATE objects SET is_head = 0 WHERE bucket_id = ? AND key = ?", (bucket_id, key)
            )
            db.execute(
                "INSERT INTO objects (version_id, bucket_id, key, blob, size, checksum, mimetype, "
                "is_head, delete_marker, created, updated, seq) "
                "VALUES (?, ?, ?, NULL, 0, NULL, NULL, 1, 1, ?, ?, ?)",
                (new_uuid(), bucket_id, key, now, now, storage().next_seq(db, "objects")),
            )
            db.execute("UPDATE buckets SET updated = ? WHERE id = ?", (now, bucket_id))
    return Response(status=204)
