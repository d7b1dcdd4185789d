"""Drafts, published records, publication workflow, versions and search (API-v2.md §9, §11, §12).

The workflow functions (``create_draft``, ``patch_draft``, ``publish``...) take a database
connection and a :class:`Caller` and raise :class:`ApiError`; the Flask views only parse the
request and serialise.  The review page reuses ``patch_draft`` for its submit button.

One job: the v2 record workflow, so that drafts, publication and versions follow the real server's
rules.

May import: ecasrepro.sandbox.common, ecasrepro.sandbox.storage, .common, .errors, .schemas; never
ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import copy
import json
import mimetypes
import re
import shlex
import sqlite3
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

import jsonpatch
import jsonpointer
from flask import Blueprint, Response, request

from ecasrepro.sandbox.common import parse_json
from ecasrepro.sandbox.storage import dumps, loads, new_hex_id, new_uuid, utcnow_iso
from ecasrepro.sandbox.v2 import schemas
from ecasrepro.sandbox.v2.common import (
    UUID_RE,
    Caller,
    community_doc,
    config,
    current_caller,
    rfc1123,
    storage,
)
from ecasrepro.sandbox.v2.errors import (
    INVALID_OPERATION,
    PID_DELETED,
    PID_DOES_NOT_EXIST,
    PID_NOT_REGISTERED,
    VALIDATION_ERROR,
    ApiError,
    field_error,
    json_response,
)

blueprint = Blueprint("v2_records", __name__)

JSON_PATCH = "application/json-patch+json"
IMMUTABLE_DRAFT_PATHS = (
    "/owners",
    "/ePIC_PID",
    "/DOI",
    "/files",
    "/community",
    "/$schema",
    "/_pid",
    "/_oai",
    "/_files",
    "/_deposit",
)
IMMUTABLE_RECORD_PATHS = (*IMMUTABLE_DRAFT_PATHS, "/publication_state", "/external_pids")
STATES = ("draft", "submitted", "published")
INVALID_ACTION = "Invalid action"
VERSION_NOT_PUBLISHED = (
    "Versioning error. The `version_of` parameter must point to a valid published record."
)
VERSION_NOT_LATEST = (
    "Versioning error. The `version_of` parameter must specify the id of the latest published "
    "record in a version chain."
)
VERSION_DRAFT_EXISTS = (
    "Versioning error. A draft already exists in the version chain designated by the specified "
    "`version_of` parameter."
)
MAX_RESULT_WINDOW = 10000


# --- permissions ------------------------------------------------------------------------------
def deny(caller: Caller) -> ApiError:
    return ApiError(401) if caller.anonymous else ApiError(403)


def is_owner(caller: Caller, row: sqlite3.Row) -> bool:
    return caller.id is not None and caller.id in json.loads(row["owners"])


def can_read_draft(caller: Caller, row: sqlite3.Row) -> bool:
    if caller.superuser or is_owner(caller, row):
        return True
    return row["draft_state"] in ("submitted", "published") and caller.is_admin(row["community"])


def can_read_record_files(caller: Caller, row: sqlite3.Row) -> bool:
    metadata = loads(row["record_json"]) or {}
    if metadata.get("open_access") and not _embargoed(metadata):
        return True
    return caller.superuser or is_owner(caller, row) or caller.is_admin(row["community"])


def _embargoed(metadata: dict[str, Any]) -> bool:
    embargo = metadata.get("embargo_date")
    if not isinstance(embargo, str) or not embargo:
        return False
    return embargo[:10] > datetime.now(timezone.utc).strftime("%Y-%m-%d")


# --- lookups ----------------------------------------------------------------------------------
def get_row(db: sqlite3.Connection, record_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM records WHERE id = ?", (record_id,)
    ).fetchone()
    return row


def draft_row_or_error(db: sqlite3.Connection, record_id: str) -> sqlite3.Row:
    row = get_row(db, record_id)
    if row is None:
        raise ApiError(404, PID_DOES_NOT_EXIST)
    if row["draft_state"] == "deleted":
        raise ApiError(410, PID_DELETED)
    return row


def latest_published(db: sqlite3.Connection, head_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM records WHERE head_id = ? AND record_state = 'published' "
        "ORDER BY seq DESC LIMIT 1",
        (head_id,),
    ).fetchone()
    return row


def record_row_or_error(db: sqlite3.Connection, record_id: str) -> sqlite3.Row:
    """Resolve a published record id; a version-chain head id answers 301 to the latest version."""
    row = get_row(db, record_id)
    if row is None:
        latest = latest_published(db, record_id)
        if latest is not None:
            location = f"/api/records/{latest['id']}"
            raise ApiError(
                301,
                "Moved Permanently",
                extra={"location": location},
                headers={"Location": location},
            )
        raise ApiError(404, PID_DOES_NOT_EXIST)
    if row["record_state"] == "deleted":
        raise ApiError(410, PID_DELETED)
    if row["record_state"] != "published":
        raise ApiError(404, PID_NOT_REGISTERED)
    return row


def community_or_error(db: sqlite3.Connection, community_id: Any) -> dict[str, Any]:
    if not isinstance(community_id, str) or not community_id:
        raise ApiError(
            400, VALIDATION_ERROR, [field_error("community", "'community' is a required property")]
        )
    doc = community_doc(db, community_id) if UUID_RE.match(community_id) else None
    if doc is None:
        raise ApiError(
            400,
            VALIDATION_ERROR,
            [field_error("community", f"Community {community_id!r} does not exist.")],
        )
    return doc


# --- serialisation ----------------------------------------------------------------------------
def schema_url(base: str, community: str, version: int, fragment: str) -> str:
    return f"{base}api/communities/{community}/schemas/{version}#/{fragment}"


def draft_links(base: str, row: sqlite3.Row) -> dict[str, str]:
    rid = row["id"]
    return {
        "files": f"{base}api/files/{row['draft_bucket']}",
        "publication": f"{base}api/records/{rid}",
        "self": f"{base}api/records/{rid}/draft",
        "self_html": f"{base}records/{rid}",
        "versions": f"{base}api/records/{row['head_id']}/versions",
    }


def draft_body(base: str, row: sqlite3.Row) -> dict[str, Any]:
    metadata = loads(row["draft_json"])
    metadata["$schema"] = schema_url(
        base, row["community"], row["schema_version"], "draft_json_schema"
    )
    metadata["owners"] = json.loads(row["owners"])
    return {
        "created": row["draft_created"],
        "updated": row["draft_updated"],
        "id": row["id"],
        "links": draft_links(base, row),
        "metadata": dict(sorted(metadata.items())),
    }


def record_files(db: sqlite3.Connection, row: sqlite3.Row) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT * FROM objects WHERE bucket_id = ? AND is_head = 1 AND delete_marker = 0 "
        "ORDER BY key",
        (row["record_bucket"],),
    ).fetchall()
    return [
        {
            "bucket": o["bucket_id"],
            "checksum": o["checksum"],
            "ePIC_PID": o["epic_pid"],
            "key": o["key"],
            "size": o["size"],
            "version_id": o["version_id"],
        }
        for o in rows
    ]


def record_body(
    db: sqlite3.Connection, base: str, row: sqlite3.Row, caller: Caller
) -> dict[str, Any]:
    metadata = loads(row["record_json"])
    metadata["$schema"] = schema_url(base, row["community"], row["schema_version"], "json_schema")
    metadata["owners"] = json.loads(row["owners"])
    body: dict[str, Any] = {
        "created": row["record_created"],
        "updated": row["record_updated"],
        "id": row["id"],
        "links": {
            "files": f"{base}api/files/{row['record_bucket']}",
            "self": f"{base}api/records/{row['id']}",
            "self_html": f"{base}records/{row['id']}",
            "versions": f"{base}api/records/{row['head_id']}/versions",
        },
        "metadata": dict(sorted(metadata.items())),
    }
    if can_read_record_files(caller, row):
        body["files"] = record_files(db, row)
    return body


def draft_headers(base: str, row: sqlite3.Row) -> dict[str, str]:
    return {
        "ETag": f'"{row["draft_revision"]}"',
        "Link": f"<{base}api/files/{row['draft_bucket']}>; "
        'rel="http://b2share.eudat.eu/relation_types/record_bucket"',
    }


def record_headers(base: str, row: sqlite3.Row) -> dict[str, str]:
    return {
        "ETag": f'"{row["record_revision"]}"',
        "Link": f"<{base}api/files/{row['record_bucket']}>; "
        'rel="http://b2share.eudat.eu/relation_types/record_bucket", '
        f'<{base}api/linkset/{row["id"]}/json> ; rel="linkset" ; type="application/linkset+json"',
    }


def check_preconditions(revision: int) -> None:
    """``If-Match`` mismatch → 412; the caller handles ``If-None-Match`` for GETs."""
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        tags = {tag.strip() for tag in if_match.split(",")}
        if "*" not in tags and f'"{revision}"' not in tags:
            raise ApiError(412)


def not_modified(revision: int) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    return if_none_match is not None and (
        if_none_match.strip() == "*"
        or f'"{revision}"' in {t.strip() for t in if_none_match.split(",")}
    )


# --- buckets ----------------------------------------------------------------------------------
def create_bucket(db: sqlite3.Connection, record_id: str, kind: str, locked: bool = False) -> str:
    bucket_id = new_uuid()
    now = utcnow_iso()
    db.execute(
        "INSERT INTO buckets (id, record_id, kind, locked, created, updated) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (bucket_id, record_id, kind, int(locked), now, now),
    )
    return bucket_id


def snapshot_bucket(
    db: sqlite3.Connection, source: str, record_id: str, kind: str, *, locked: bool, mint: bool
) -> str:
    """Copy the head objects of ``source`` into a new bucket; contents (blobs) are shared."""
    target = create_bucket(db, record_id, kind, locked=locked)
    objects = db.execute(
        "SELECT * FROM objects WHERE bucket_id = ? AND is_head = 1 AND delete_marker = 0 "
        "ORDER BY key",
        (source,),
    ).fetchall()
    total = 0
    now = utcnow_iso()
    for o in objects:
        version_id = new_uuid()
        epic = f"http://hdl.handle.net/{config().handle_prefix}/{version_id}" if mint else None
        db.execute(
            "INSERT INTO objects (version_id, bucket_id, key, blob, size, checksum, mimetype, "
            "is_head, delete_marker, epic_pid, created, updated, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?, ?)",
            (
                version_id,
                target,
                o["key"],
                o["blob"],
                o["size"],
                o["checksum"],
                o["mimetype"],
                epic,
                now,
                now,
                storage().next_seq(db, "objects"),
            ),
        )
        total += int(o["size"])
    db.execute("UPDATE buckets SET size = ? WHERE id = ?", (total, target))
    return target


def delete_bucket(db: sqlite3.Connection, bucket_id: str | None) -> None:
    if not bucket_id:
        return
    blobs = [
        r["blob"] for r in db.execute("SELECT blob FROM objects WHERE bucket_id = ?", (bucket_id,))
    ]
    db.execute("DELETE FROM objects WHERE bucket_id = ?", (bucket_id,))
    db.execute("UPDATE buckets SET deleted = 1, locked = 1 WHERE id = ?", (bucket_id,))
    for blob in set(blobs):
        storage().delete_blob_if_unused(db, blob)


# --- workflow ---------------------------------------------------------------------------------
def _check_restricted(caller: Caller, community: dict[str, Any]) -> None:
    if community.get("restricted_submission") and not (
        caller.superuser or caller.is_member(community["id"])
    ):
        raise ApiError(403)


def create_draft(
    db: sqlite3.Connection, caller: Caller, body: dict[str, Any] | None, version_of: str | None
) -> sqlite3.Row:
    """POST /api/records/ (and ``?version_of=``): validate leniently, store, create the bucket."""
    if caller.anonymous:
        raise ApiError(401)
    previous: sqlite3.Row | None = None
    if version_of is not None:
        previous = _check_version_of(db, caller, version_of)
    if body is None:
        if previous is None:
            raise ApiError(400)
        metadata = loads(previous["record_json"])
        for key in (
            "publication_state",
            "publication_date",
            "$schema",
            "ePIC_PID",
            "DOI",
            "owners",
        ):
            metadata.pop(key, None)
    else:
        if not isinstance(body, dict):
            raise ApiError(400)
        metadata = copy.deepcopy(body)
        if "publication_state" in metadata:
            raise ApiError(400, 'Field "publication_state" cannot be set.')
        if "$schema" in metadata:
            raise ApiError(400, '"$schema" field should not be set.')
    if previous is not None and metadata.get("community") != previous["community"]:
        raise ApiError(
            400,
            VALIDATION_ERROR,
            [field_error("community", "A new version must stay in the community of the record.")],
        )
    community = community_or_error(db, metadata.get("community"))
    metadata["community"] = community["id"]
    if not caller.superuser:
        _check_restricted(caller, community)
    version = (
        previous["schema_version"]
        if previous is not None
        else schemas.last_schema_version(community)
    )
    entry = schemas.schema_entry(community, version) or {}
    block = community.get("block_schema")
    if block and entry.get("block_version") is not None:
        sent = metadata.get("community_specific")
        fields = sent.get(block["id"], {}) if isinstance(sent, dict) else {}
        block_json = schemas.block_schema(community, int(entry["block_version"])) or {}
        if isinstance(fields, dict):
            for name in block_json.get("required", []):
                if block_json.get("properties", {}).get(name, {}).get("type") == "boolean":
                    fields.setdefault(name, False)
        metadata["community_specific"] = {block["id"]: fields}
    metadata["publication_state"] = "draft"
    if schemas.validate_metadata(metadata, community, version, full=False) is not None:
        raise ApiError(400, VALIDATION_ERROR)
    record_id = new_hex_id()
    head_id = previous["head_id"] if previous is not None else new_hex_id()
    owners = json.loads(previous["owners"]) if previous is not None else [caller.id]
    if previous is not None:
        bucket = snapshot_bucket(
            db, previous["record_bucket"], record_id, "draft", locked=False, mint=False
        )
    else:
        bucket = create_bucket(db, record_id, "draft")
    now = utcnow_iso()
    db.execute(
        "INSERT INTO records (id, head_id, owners, community, schema_version, draft_state, "
        "draft_json, draft_bucket, draft_created, draft_updated, seq) "
        "VALUES (?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?)",
        (
            record_id,
            head_id,
            json.dumps(owners),
            community["id"],
            version,
            dumps(metadata),
            bucket,
            now,
            now,
            storage().next_seq(db, "records"),
        ),
    )
    row = get_row(db, record_id)
    assert row is not None
    return row


def _check_version_of(db: sqlite3.Connection, caller: Caller, version_of: str) -> sqlite3.Row:
    row = get_row(db, version_of)
    if row is None or row["record_state"] != "published":
        latest = latest_published(db, version_of)
        if row is None and latest is not None:  # a head id
            raise ApiError(400, VERSION_NOT_LATEST, extra={"use_record": latest["id"]})
        raise ApiError(400, VERSION_NOT_PUBLISHED)
    latest = latest_published(db, row["head_id"])
    if latest is not None and latest["id"] != row["id"]:
        raise ApiError(400, VERSION_NOT_LATEST, extra={"use_record": latest["id"]})
    pending = db.execute(
        "SELECT id FROM records WHERE head_id = ? AND draft_state IN ('draft', 'submitted')",
        (row["head_id"],),
    ).fetchone()
    if pending is not None:
        raise ApiError(400, VERSION_DRAFT_EXISTS, extra={"goto_draft": pending["id"]})
    if not (caller.superuser or is_owner(caller, row)):
        raise deny(caller)
    return row


def _transition_allowed(
    caller: Caller, row: sqlite3.Row, workflow: str, old: str, new: str
) -> None:
    admin = caller.superuser or caller.is_admin(row["community"])
    if workflow == "review_and_publish":
        allowed = {("draft", "submitted"), ("submitted", "draft"), ("submitted", "published")}
        if (old, new) not in allowed:
            raise ApiError(
                400,
                f"Transition from publication state {old} to {new} isnot allowed by community's "
                "workflow review_and_publish",
            )
        if (old, new) == ("submitted", "published") and not admin:
            raise ApiError(403)
        return
    allowed = {("draft", "submitted"), ("draft", "published")}
    if (old, new) not in allowed:
        raise ApiError(
            400,
            f"Transition from publication state {old} to {new} is not allowed by community's "
            "workflow direct_publish",
        )
    if new == "published" and not admin:
        raise ApiError(403)


def _immutable(ops: list[Any], paths: tuple[str, ...]) -> None:
    for op in ops:
        if isinstance(op, dict) and op.get("op") != "test" and op.get("path") in paths:
            path = op["path"]
            raise ApiError(
                400, VALIDATION_ERROR, [field_error(path, f'The field "{path}" is immutable.')]
            )


def patch_draft(db: sqlite3.Connection, caller: Caller, row: sqlite3.Row, ops: Any) -> sqlite3.Row:
    """Apply an RFC 6902 patch to a draft; a change of publication_state runs the workflow."""
    if not isinstance(ops, list):
        raise ApiError(400)
    _immutable(ops, IMMUTABLE_DRAFT_PATHS)
    community = community_doc(db, row["community"])
    assert community is not None
    old_state = row["draft_state"]
    try:
        patched = jsonpatch.JsonPatch(ops).apply(loads(row["draft_json"]))
    except jsonpointer.JsonPointerException:
        raise ApiError(400, INVALID_OPERATION, [{"message": "Invalid JSON Pointer"}]) from None
    except (jsonpatch.JsonPatchException, TypeError, AttributeError, KeyError) as exc:
        raise ApiError(400, INVALID_OPERATION, [{"message": f"JSON-Patch error: {exc}"}]) from None
    if not isinstance(patched, dict):
        raise ApiError(400, INVALID_OPERATION, [{"message": "JSON-Patch error: not an object"}])
    new_state = patched.setdefault("publication_state", old_state)
    if new_state != old_state and new_state in STATES:
        _transition_allowed(caller, row, community["publication_workflow"], old_state, new_state)
    full = new_state in ("submitted", "published")
    error = schemas.validate_metadata(patched, community, row["schema_version"], full=full)
    if error is not None:
        raise ApiError(400, VALIDATION_ERROR, [error])
    db.execute(
        "UPDATE records SET draft_json = ?, draft_state = ?, draft_revision = draft_revision + 1, "
        "draft_updated = ? WHERE id = ?",
        (dumps(patched), new_state, utcnow_iso(), row["id"]),
    )
    publish_now = new_state == "published" or (
        new_state == "submitted" and community["publication_workflow"] == "direct_publish"
    )
    if publish_now and new_state != old_state:
        publish(db, row["id"])
    fresh = get_row(db, row["id"])
    assert fresh is not None
    return fresh


def publish(db: sqlite3.Connection, record_id: str) -> None:
    """Mint PIDs, lock the draft bucket, snapshot it into a locked record bucket, store it."""
    row = get_row(db, record_id)
    assert row is not None
    cfg = config()
    metadata = loads(row["draft_json"])
    metadata["publication_state"] = "published"
    metadata["ePIC_PID"] = f"http://hdl.handle.net/{cfg.handle_prefix}/{record_id}"
    if cfg.assign_doi:
        metadata["DOI"] = f"https://doi.org/{cfg.doi_prefix}/b2share.{record_id}"
    record = copy.deepcopy(metadata)
    if record.get("open_access") and _embargoed(record):
        record["open_access"] = False
    db.execute("UPDATE buckets SET locked = 1 WHERE id = ?", (row["draft_bucket"],))
    record_bucket = snapshot_bucket(
        db, row["draft_bucket"], record_id, "record", locked=True, mint=True
    )
    now = utcnow_iso()
    db.execute(
        "UPDATE records SET draft_state = 'published', draft_json = ?, draft_updated = ?, "
        "draft_revision = draft_revision + 1, record_state = 'published', record_json = ?, "
        "record_bucket = ?, record_created = ?, record_updated = ?, record_revision = 0, "
        "seq = ? WHERE id = ?",
        (
            dumps(metadata),
            now,
            dumps(record),
            record_bucket,
            now,
            now,
            storage().next_seq(db, "records"),
            record_id,
        ),
    )


# --- request helpers --------------------------------------------------------------------------
def _json_body(allow_empty: bool = False) -> Any:
    raw = request.get_data(cache=False)
    if not raw.strip():
        if allow_empty:
            return None
        raise ApiError(400)
    try:
        return parse_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400) from None


def _patch_content_type(exact: bool) -> None:
    if request.mimetype != JSON_PATCH:
        raise ApiError(415, f"Invalid 'Content-Type' header. Expected one of: {JSON_PATCH}")
    if exact and request.content_type != JSON_PATCH:
        raise ApiError(400)


def _draft_response(row: sqlite3.Row, status: int = 200, *, location: bool = False) -> Response:
    """A draft's body with its ETag and Link headers; ``location`` for a just-created draft."""
    base = request.host_url
    headers = draft_headers(base, row)
    if location:
        headers = {"Location": f"{base}api/records/{row['id']}/draft", **headers}
    return json_response(draft_body(base, row), status, headers=headers)


# --- views ------------------------------------------------------------------------------------
@blueprint.route("/api/records/", methods=["POST"])
def create_record() -> Response:
    caller = current_caller()
    if caller.anonymous:
        raise ApiError(401)
    if request.content_type not in ("application/json", JSON_PATCH):
        raise ApiError(415)
    version_of = request.args.get("version_of")
    body = _json_body(allow_empty=version_of is not None)
    with storage().transaction() as db:
        row = create_draft(db, caller, body, version_of)
    return _draft_response(row, 201, location=True)


@blueprint.route("/api/records/<record_id>/draft", methods=["GET"])
def get_draft(record_id: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        row = draft_row_or_error(db, record_id)
    if not can_read_draft(caller, row):
        raise deny(caller)
    if not_modified(row["draft_revision"]):
        return Response(status=304, headers=draft_headers(request.host_url, row))
    return _draft_response(row)


@blueprint.route("/api/records/<record_id>/draft", methods=["PATCH"])
def patch_draft_view(record_id: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        row = draft_row_or_error(db, record_id)
    allowed = (
        caller.superuser
        or is_owner(caller, row)
        or (row["draft_state"] == "submitted" and caller.is_admin(row["community"]))
    )
    if not allowed:
        raise deny(caller)
    if row["draft_state"] == "published":
        raise ApiError(403, INVALID_ACTION)
    _patch_content_type(exact=True)
    ops = _json_body()
    with storage().transaction() as db:
        row = draft_row_or_error(db, record_id)
        if row["draft_state"] == "published":
            raise ApiError(403, INVALID_ACTION)
        check_preconditions(row["draft_revision"])
        row = patch_draft(db, caller, row, ops)
    return _draft_response(row)


@blueprint.route("/api/records/<record_id>/draft", methods=["DELETE"])
def delete_draft(record_id: str) -> Response:
    caller = current_caller()
    with storage().transaction() as db:
        row = draft_row_or_error(db, record_id)
        never_published = row["record_state"] is None
        if not (caller.superuser or (is_owner(caller, row) and never_published)):
            raise deny(caller)
        check_preconditions(row["draft_revision"])
        db.execute(
            "UPDATE records SET draft_state = 'deleted', draft_updated = ? WHERE id = ?",
            (utcnow_iso(), record_id),
        )
        delete_bucket(db, row["draft_bucket"])
    return Response(status=204)


@blueprint.route("/api/records/<record_id>", methods=["GET"])
def get_record(record_id: str) -> Response:
    caller = current_caller()
    base = request.host_url
    with storage().read() as db:
        row = record_row_or_error(db, record_id)
        if not_modified(row["record_revision"]):
            return Response(status=304, headers=record_headers(base, row))
        body = record_body(db, base, row, caller)
    return json_response(body, headers=record_headers(base, row))


@blueprint.route("/api/records/<record_id>", methods=["PATCH"])
def patch_record(record_id: str) -> Response:
    caller = current_caller()
    with storage().read() as db:
        row = record_row_or_error(db, record_id)
    if not (caller.superuser or is_owner(caller, row) or caller.is_admin(row["community"])):
        raise deny(caller)
    _patch_content_type(exact=False)
    ops = _json_body()
    if not isinstance(ops, list):
        raise ApiError(400)
    _immutable(ops, IMMUTABLE_RECORD_PATHS)
    base = request.host_url
    with storage().transaction() as db:
        row = record_row_or_error(db, record_id)
        check_preconditions(row["record_revision"])
        try:
            patched = jsonpatch.JsonPatch(ops).apply(loads(row["record_json"]))
        except (
            jsonpatch.JsonPatchException,
            jsonpointer.JsonPointerException,
            TypeError,
            AttributeError,
            KeyError,
        ):
            raise ApiError(400, "Could not patch JSON.") from None
        community = community_doc(db, row["community"])
        assert community is not None
        if not isinstance(patched, dict) or schemas.validate_metadata(
            patched, community, row["schema_version"], full=True
        ):
            raise ApiError(400, VALIDATION_ERROR)
        db.execute(
            "UPDATE records SET record_json = ?, record_revision = record_revision + 1, "
            "record_updated = ? WHERE id = ?",
            (dumps(patched), utcnow_iso(), record_id),
        )
        fresh = get_row(db, record_id)
        assert fresh is not None
        body = record_body(db, base, fresh, caller)
    return json_response(body, headers=record_headers(base, fresh))


@blueprint.route("/api/records/<record_id>", methods=["DELETE"])
def delete_record(record_id: str) -> Response:
    caller = current_caller()
    with storage().transaction() as db:
        row = record_row_or_error(db, record_id)
        if not caller.superuser:
            raise deny(caller)
        db.execute(
            "UPDATE records SET record_state = 'deleted', draft_state = 'deleted', "
            "record_updated = ? WHERE id = ?",
            (utcnow_iso(), record_id),
        )
        delete_bucket(db, row["record_bucket"])
        delete_bucket(db, row["draft_bucket"])
    return Response(status=204)


@blueprint.route("/api/records/<record_id>/versions", methods=["GET"])
def versions(record_id: str) -> Response:
    base = request.host_url
    with storage().read() as db:
        row = get_row(db, record_id)
        if row is not None:
            head = row["head_id"]
        elif db.execute("SELECT 1 FROM records WHERE head_id = ?", (record_id,)).fetchone():
            head = record_id
        else:
            raise ApiError(404, PID_NOT_REGISTERED)
        rows = db.execute(
            "SELECT * FROM records WHERE head_id = ? AND record_state = 'published' "
            "ORDER BY record_created, seq",
            (head,),
        ).fetchall()
    listing = [
        {
            "created": rfc1123(r["record_created"]),
            "id": r["id"],
            "updated": rfc1123(r["record_updated"]),
            "url": f"{base}api/records/{r['id']}",
            "version": number,
        }
        for number, r in enumerate(rows, start=1)
    ]
    return json_response({"versions": listing}, sort_keys=True)


@blueprint.route("/api/records/<record_id>", methods=["PUT"])
@blueprint.route("/api/records/<record_id>/draft", methods=["PUT"])
def put_not_allowed(record_id: str) -> Response:
    raise ApiError(405)


# --- search -----------------------------------------------------------------------------------
_TERM = re.compile(r"^(?P<field>[A-Za-z_$][\w.$]*):(?P<value>.+)$")


def _values_at(obj: Any, path: list[str]) -> list[Any]:
    if isinstance(obj, list):
        return [v for item in obj for v in _values_at(item, path)]
    if not path:
        return [obj]
    if isinstance(obj, dict) and path[0] in obj:
        return _values_at(obj[path[0]], path[1:])
    return []


def _all_strings(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _all_strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _all_strings(v)]
    return [str(obj)] if isinstance(obj, (str, int, float)) and not isinstance(obj, bool) else []


def parse_query(q: str) -> list[tuple[str | None, str]]:
    """A small subset of Elasticsearch query_string: ``field:value`` and free words, all ANDed."""
    try:
        tokens = shlex.split(q)
    except ValueError:
        raise ApiError(400, "The syntax of the search query is invalid.") from None
    terms: list[tuple[str | None, str]] = []
    for token in tokens:
        if token in ("AND", "&&"):
            continue
        if token.count("(") != token.count(")") or token in ("OR", "||", "NOT"):
            raise ApiError(400, "The syntax of the search query is invalid.")
        match = _TERM.match(token)
        if match:
            terms.append((match.group("field"), match.group("value").lower()))
        else:
            terms.append((None, token.lower()))
    return terms


def _matches(
    metadata: dict[str, Any], row: sqlite3.Row, terms: list[tuple[str | None, str]]
) -> bool:
    for field, value in terms:
        if field is None:
            haystack = [s.lower() for s in _all_strings(metadata)] + [row["id"]]
            if not any(value in s for s in haystack):
                return False
        elif field == "id":
            if row["id"] != value:
                return False
        else:
            found = [str(v).lower() for v in _values_at(metadata, field.split("."))]
            exact = field in ("community", "publication_state", "owners", "open_access")
            if not any((v == value) if exact else (value in v) for v in found):
                return False
    return True


@blueprint.route("/api/records/", methods=["GET"])
def search() -> Response:
    caller = current_caller()
    drafts = "drafts" in request.args
    if drafts and caller.anonymous:
        raise ApiError(401, "Only authenticated users can search for drafts.")
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("size", 10))
    except ValueError:
        raise ApiError(400) from None
    if page < 1 or size < 1:
        raise ApiError(400)
    if page * size >= MAX_RESULT_WINDOW:
        raise ApiError(400, "Maximum number of results have been reached.")
    q = request.args.get("q", "")
    sort = request.args.get("sort") or ("bestmatch" if q else "mostrecent")
    terms = parse_query(q)
    base = request.host_url
    hits: list[dict[str, Any]] = []
    with storage().read() as db:
        if drafts:
            rows = db.execute(
                "SELECT * FROM records WHERE draft_state != 'deleted' ORDER BY seq DESC"
            ).fetchall()
            for row in rows:
                if not can_read_draft(caller, row):
                    continue
                body = draft_body(base, row)
                if _matches(body["metadata"], row, terms):
                    links = body["links"]
                    body["links"] = {k: links[k] for k in ("self", "publication", "versions")}
                    hits.append(body)
            hits.sort(key=lambda h: h["created"], reverse=True)
        else:
            rows = db.execute(
                "SELECT * FROM records WHERE record_state = 'published' ORDER BY seq DESC"
            ).fetchall()
            seen_heads: set[str] = set()
            for row in rows:
                if row["head_id"] in seen_heads:
                    continue  # only the latest version of each chain is searchable
                seen_heads.add(row["head_id"])
                body = record_body(db, base, row, caller)
                body["links"].pop("self_html", None)
                if _matches(body["metadata"], row, terms):
                    hits.append(body)
            if sort == "mostrecent" or sort == "bestmatch":
                hits.sort(key=lambda h: h["created"], reverse=True)
    total = len(hits)
    window = hits[(page - 1) * size : page * size]

    def page_link(number: int) -> str:
        return f"{base}api/records/?" + urlencode(
            {"sort": sort, "q": q, "page": number, "size": size}
        )

    links = {"self": page_link(page)}
    if page > 1:
        links["prev"] = page_link(page - 1)
    if page * size < total:
        links["next"] = page_link(page + 1)
    aggregations: dict[str, Any] = (
        {}
        if drafts
        else {"type": {"buckets": [], "doc_count_error_upper_bound": 0, "sum_other_doc_count": 0}}
    )
    return json_response(
        {"aggregations": aggregations, "hits": {"hits": window, "total": total}, "links": links}
    )


def guess_mimetype(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def quote_key(key: str) -> str:
    return quote(key, safe="/")
