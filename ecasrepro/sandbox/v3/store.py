"""v3 tables (created by this module next to the v2 ones, in the same SQLite file) and dumps.

A draft and its published record share one ``v3_records`` row (and one id); versions share a
``v3_parents`` row.  File entries live in ``v3_files`` per (record, draft|record); their contents
are blobs of the shared blob store, referenced by both a draft and its published copy.

One job: the v3 tables and their JSON dumps, so that every v3 view reads and writes records one
way.

May import: ecasrepro.sandbox.storage, .common, .validation, .vocabularies; never ecasrepro.api,
ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from ecasrepro.sandbox.storage import Storage, utcnow_iso
from ecasrepro.sandbox.v3 import vocabularies
from ecasrepro.sandbox.v3.common import Caller, Community, community_by_id
from ecasrepro.sandbox.v3.validation import expand_metadata

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS v3_parents (
    id TEXT PRIMARY KEY,
    owner INTEGER NOT NULL,
    communities TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS v3_records (
    id TEXT PRIMARY KEY,
    parent_id TEXT NOT NULL,
    owner INTEGER NOT NULL,
    version_index INTEGER NOT NULL,
    draft_json TEXT,
    draft_revision INTEGER NOT NULL DEFAULT 0,
    draft_created TEXT,
    draft_updated TEXT,
    files_locked INTEGER NOT NULL DEFAULT 0,
    record_json TEXT,
    record_revision INTEGER NOT NULL DEFAULT 0,
    record_created TEXT,
    record_updated TEXT,
    review_id TEXT,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS v3_records_parent ON v3_records(parent_id);
CREATE TABLE IF NOT EXISTS v3_files (
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('draft', 'record')),
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    blob TEXT,
    size INTEGER,
    md5 TEXT,
    mimetype TEXT,
    file_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    metadata TEXT,
    access TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (record_id, kind, key)
);
CREATE TABLE IF NOT EXISTS v3_requests (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    record_id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    title TEXT NOT NULL,
    revision_id INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    comments TEXT NOT NULL DEFAULT '[]'
);
"""

OPEN_REQUEST_STATES = ("created", "submitted")


def ensure_schema(storage: Storage) -> None:
    with storage.transaction() as db:
        for statement in SCHEMA_SQL.split(";"):
            if statement.strip():
                db.execute(statement)


# --- rows -------------------------------------------------------------------------------------
def get_record(db: sqlite3.Connection, record_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM v3_records WHERE id = ?", (record_id,)
    ).fetchone()
    return row


def get_parent(db: sqlite3.Connection, parent_id: str) -> sqlite3.Row:
    row: sqlite3.Row = db.execute("SELECT * FROM v3_parents WHERE id = ?", (parent_id,)).fetchone()
    return row


def get_request(db: sqlite3.Connection, request_id: str | None) -> sqlite3.Row | None:
    if not request_id:
        return None
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM v3_requests WHERE id = ?", (request_id,)
    ).fetchone()
    return row


def file_rows(db: sqlite3.Connection, record_id: str, kind: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT * FROM v3_files WHERE record_id = ? AND kind = ? ORDER BY seq",
        (record_id, kind),
    ).fetchall()


def next_seq(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}").fetchone()[0])


def delete_blob_if_unused(storage: Storage, db: sqlite3.Connection, blob: str | None) -> None:
    """A blob may back a draft file and its published copy; remove it with its last user."""
    if not blob:
        return
    used = db.execute("SELECT COUNT(*) FROM v3_files WHERE blob = ?", (blob,)).fetchone()[0]
    if int(used) == 0:
        storage.discard_blob_after_commit(db, blob)


def parent_communities(parent: sqlite3.Row) -> list[str]:
    result: list[str] = json.loads(parent["communities"])
    return result


def is_owner(caller: Caller, row: sqlite3.Row) -> bool:
    return caller.superuser or (caller.id is not None and caller.id == row["owner"])


def can_read_draft(db: sqlite3.Connection, caller: Caller, row: sqlite3.Row) -> bool:
    """Owners, admins, and curators of the community a draft is submitted to."""
    if is_owner(caller, row):
        return True
    request = get_request(db, row["review_id"])
    if request is not None and request["status"] == "submitted":
        community = community_by_id(request["community_id"])
        return community is not None and community.is_curator(caller)
    return False


# --- dumps ------------------------------------------------------------------------------------
def files_rest_config() -> dict[str, Any]:
    """Download and IIIF facts of invenio-files-rest / invenio-app-rdm (``files_rest.yaml``)."""
    return vocabularies.facts("files_rest.yaml")


def is_iiif_compatible(key: str) -> bool:
    return PurePosixPath(key).suffix[1:].lower() in files_rest_config()["iiif_formats"]


def _file_links(base: str, record_id: str, kind: str, key: str) -> dict[str, str]:
    prefix = "draft/" if kind == "draft" else ""
    quoted = quote(key, safe="/")
    url = f"{base}api/records/{record_id}/{prefix}files/{quoted}"
    links = {"self": url, "content": f"{url}/content"}
    if kind == "draft":
        links["commit"] = f"{url}/commit"
    if is_iiif_compatible(key):
        iiif = f"{base}api/iiif/{kind}:{record_id}"
        links["iiif_canvas"] = f"{iiif}/canvas/{quoted}"
        links["iiif_base"] = f"{iiif}:{quoted}"
        links["iiif_info"] = f"{iiif}:{quoted}/info.json"
        links["iiif_api"] = f"{iiif}:{quoted}/full/full/0/default.png"
    return links


def thumbnail_links(
    base: str, record_id: str, data: dict[str, Any], rows: list[sqlite3.Row]
) -> dict[str, str] | None:
    """``ThumbnailLinks``: for the default preview or first image, always as ``record:`` IIIF."""
    keys = [data.get("files", {}).get("default_preview"), *(r["key"] for r in rows)]
    key = next((k for k in keys if k and is_iiif_compatible(k)), None)
    if key is None:
        return None
    iiif = f"{base}api/iiif/record:{record_id}:{quote(key, safe='/')}"
    return {
        str(size): f"{iiif}/full/%5E{size},/0/default.jpg"
        for size in files_rest_config()["thumbnail_sizes"]
    }


def file_item(base: str, row: sqlite3.Row, *, just_committed: bool = False) -> dict[str, Any]:
    """The file item of the files API (``pending`` items have no checksum/size yet).

    ``metadata`` is ``null`` until something sets it, as upstream: its JSON column reads back
    as ``{}`` only once the file is committed, and the commit's own answer still holds the
    in-memory ``null`` (measured against the reference).
    """
    body: dict[str, Any] = {"created": row["created"], "updated": row["updated"]}
    completed = row["status"] == "completed"
    if completed:
        body.update(
            mimetype=row["mimetype"],
            version_id=row["version_id"],
            file_id=row["file_id"],
            bucket_id=bucket_id(row["record_id"], row["kind"]),
        )
    body["metadata"] = (json.loads(row["metadata"]) if row["metadata"]
                        else {} if completed and not just_committed else None)
    body["access"] = json.loads(row["access"])
    body["links"] = _file_links(base, row["record_id"], row["kind"], row["key"])
    body["key"] = row["key"]
    if completed:
        body.update(storage_class="L", checksum=f"md5:{row['md5']}", size=row["size"])
    body["transfer"] = {"type": "L"}
    body["status"] = row["status"]
    return body


def bucket_id(record_id: str, kind: str) -> str:
    """A stable bucket UUID per (record, draft|record): clients only ever display it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ecasrepro-sandbox:{record_id}/{kind}"))


def files_list_body(
    base: str, record_id: str, kind: str, data: dict[str, Any], rows: list[sqlite3.Row]
) -> dict[str, Any]:
    prefix = "draft/" if kind == "draft" else ""
    links = {
        "self": f"{base}api/records/{record_id}/{prefix}files",
        "archive": f"{base}api/records/{record_id}/{prefix}files-archive",
    }
    files_cfg = data.get("files", {})
    if not files_cfg.get("enabled", True):
        return {"enabled": False, "links": links}
    return {
        "enabled": True,
        "links": links,
        "entries": [file_item(base, r) for r in rows],
        "default_preview": files_cfg.get("default_preview"),
        "order": files_cfg.get("order", []),
    }


def _files_section(
    base: str, data: dict[str, Any], rows: list[sqlite3.Row], entry_links: bool = False
) -> dict[str, Any]:
    """The ``files`` of a record dump; entry links only where the real one renders them
    (a published record read: not drafts, not search hits)."""
    entries = {}
    for r in rows:
        ext = r["key"].rsplit(".", 1)[-1].lower() if "." in r["key"] else None
        entry: dict[str, Any] = {"id": r["file_id"], "key": r["key"], "ext": ext}
        if r["status"] == "completed":
            entry.update(
                checksum=f"md5:{r['md5']}",
                size=r["size"],
                mimetype=r["mimetype"],
                storage_class="L",
            )
        entry.update(
            metadata=json.loads(r["metadata"]) if r["metadata"] else {},
            access=json.loads(r["access"]),
        )
        if entry_links:
            entry["links"] = _file_links(base, r["record_id"], r["kind"], r["key"])
        entries[r["key"]] = entry
    files_cfg = data.get("files", {})
    return {
        "enabled": bool(files_cfg.get("enabled", True)),
        "order": files_cfg.get("order", []),
        "count": len(rows),
        "total_bytes": sum(int(r["size"] or 0) for r in rows if r["status"] == "completed"),
        "entries": entries,
    }


def community_body(base: str, community: Community, *, in_record: bool = False) -> dict[str, Any]:
    """A community; inside a record's ``parent.communities.entries`` its links are ``{}``."""
    url = f"{base}api/communities/{community.id}"
    links: dict[str, str] = {
        "self": url,
        "self_html": f"{base}communities/{community.slug}/",
        "settings_html": f"{base}communities/{community.slug}/settings",
        "logo": f"{url}/logo",
        "rename": f"{url}/rename",
        "members": f"{url}/members",
        "public_members": f"{url}/members/public",
        "invitations": f"{url}/invitations",
        "requests": f"{url}/requests",
        "records": f"{url}/records",
        "membership_requests": f"{url}/membership-requests",
    }
    return {
        "id": community.id,
        "created": "2025-10-27T11:13:15.629504+00:00",
        "updated": "2025-10-29T12:11:55.734130+00:00",
        "links": {} if in_record else links,
        "revision_id": 1,
        "slug": community.slug,
        "metadata": {"title": community.title, "description": community.description},
        "access": {
            "visibility": "public",
            "members_visibility": "public",
            "member_policy": "closed",
            "record_submission_policy": community.submission_policy,
            "review_policy": community.review_policy,
        },
        "custom_fields": {},
        "deletion_status": {"is_deleted": False, "status": "P"},
        "children": {"allow": False},
    }


def request_body(base: str, request: sqlite3.Row, caller: Caller) -> dict[str, Any]:
    url = f"{base}api/requests/{request['id']}"
    status = request["status"]
    community = community_by_id(request["community_id"])
    creator = caller.id == request["created_by"] or caller.superuser
    curator = community is not None and community.is_curator(caller)
    actions = []
    if status == "created" and creator:
        actions = ["submit"]  # create and delete are never rendered (RequestLinksTemplate)
    elif status == "submitted":
        actions = (["cancel"] if creator else []) + (["accept", "decline"] if curator else [])
    return {
        "id": request["id"],
        "created": request["created"],
        "updated": request["updated"],
        "links": {
            "actions": {a: f"{url}/actions/{a}" for a in actions},
            "self": url,
            "self_html": f"{base}requests/{request['id']}",
            "comments": f"{url}/comments",
            "timeline": f"{url}/timeline",
        },
        "revision_id": request["revision_id"],
        "type": request["type"],
        "title": request["title"],
        "number": str(request["number"]),
        "status": status,
        "is_closed": status in ("accepted", "declined", "cancelled", "expired"),
        "is_open": status == "submitted",
        "expires_at": None,
        "is_expired": False,
        "created_by": {"user": str(request["created_by"])},
        "receiver": {"community": request["community_id"]},
        "topic": {"record": request["record_id"]},
        "reviewers": [],
    }


def draft_status(db: sqlite3.Connection, row: sqlite3.Row) -> str:
    """``DraftStatus`` upstream: published first, then new version, then the review's state."""
    if row["record_json"] is not None:
        return "published"
    if row["version_index"] > 1:
        return "new_version_draft"
    request = get_request(db, row["review_id"])
    if request is not None:
        return {
            "created": "draft_with_review",
            "submitted": "in_review",
            "declined": "declined",
            "expired": "expired",
        }.get(request["status"], "draft")
    return "draft"


def _parent_body(
    db: sqlite3.Connection, base: str, row: sqlite3.Row, caller: Caller
) -> dict[str, Any]:
    parent = get_parent(db, row["parent_id"])
    ids = parent_communities(parent)
    communities: dict[str, Any] = {}
    if ids:
        entries = [community_by_id(i) for i in ids]
        communities = {
            "ids": ids,
            "default": ids[0],
            "entries": [community_body(base, c, in_record=True) for c in entries if c is not None],
        }
    body: dict[str, Any] = {
        "id": parent["id"],
        "access": {
            "owned_by": {"user": str(parent["owner"])},
            "settings": {
                "allow_user_requests": False,
                "allow_guest_requests": False,
                "accept_conditions_text": None,
                "secret_link_expiration": 0,
            },
        },
        "communities": communities,
        "pids": {},
    }
    if is_owner(caller, row):  # field_dump_permissions: grants and links need "manage"
        body["access"]["grants"] = []
        body["access"]["links"] = []
    published_first = db.execute(
        "SELECT 1 FROM v3_records WHERE parent_id = ? AND record_json IS NOT NULL LIMIT 1",
        (parent["id"],),
    ).fetchone()
    if published_first:
        body["pids"] = {"doi": {"identifier": concept_doi(parent["id"]), "provider": "datacite"}}
    request = get_request(db, row["review_id"])
    if request is not None and can_read_draft(db, caller, row):  # the "review" permission
        body["review"] = {
            "id": request["id"],
            "links": {},
            "type": request["type"],
            "title": "",  # upstream dumps the parent's stored copy, made before any title
            "status": request["status"],
            "receiver": {"community": request["community_id"]},
        }
    return body


DOI_PREFIX = "10.5072"  # DataCite's test prefix: clearly not a real DOI


def record_doi(record_id: str) -> str:
    return f"{DOI_PREFIX}/b2share.{record_id}"


def concept_doi(parent_id: str) -> str:
    return f"{DOI_PREFIX}/b2share.{parent_id}"


def _versions(db: sqlite3.Connection, row: sqlite3.Row, caller: Caller) -> dict[str, Any]:
    """``is_latest`` of the published side (an edit draft of the latest record is latest too);
    ``is_latest_draft`` only for those who may edit (field_dump_permissions)."""
    latest = db.execute(
        "SELECT MAX(version_index) FROM v3_records WHERE parent_id = ? AND record_json IS NOT NULL",
        (row["parent_id"],),
    ).fetchone()[0]
    latest_draft = db.execute(
        "SELECT MAX(version_index) FROM v3_records WHERE parent_id = ?", (row["parent_id"],)
    ).fetchone()[0]
    versions: dict[str, Any] = {
        "is_latest": latest == row["version_index"] and row["record_json"] is not None,
    }
    if is_owner(caller, row):
        versions["is_latest_draft"] = latest_draft == row["version_index"]
    versions["index"] = row["version_index"]
    return versions


def draft_body(
    db: sqlite3.Connection, base: str, row: sqlite3.Row, caller: Caller
) -> dict[str, Any]:
    """The draft as ``GET /api/records/<id>/draft`` shows it (API-v3.md §5.1)."""
    rid = row["id"]
    data = json.loads(row["draft_json"])
    api = f"{base}api/records/{rid}"
    links: dict[str, Any] = {
        "self": f"{api}/draft",
        "self_html": f"{base}uploads/{rid}",
        "preview_html": f"{base}records/{rid}?preview=1",
        "reserve_doi": f"{api}/draft/pids/doi",
        "self_iiif_manifest": f"{base}api/iiif/draft:{rid}/manifest",
        "self_iiif_sequence": f"{base}api/iiif/draft:{rid}/sequence/default",
        "files": f"{api}/draft/files",
        "media_files": f"{api}/draft/media-files",
        "archive": f"{api}/draft/files-archive",
        "archive_media": f"{api}/draft/media-files-archive",
        "versions": f"{api}/versions",
        "record": api,
        "record_html": f"{base}records/{rid}",
        "publish": f"{api}/draft/actions/publish",
        "review": f"{api}/draft/review",
    }
    if row["review_id"]:
        links["submit-review"] = f"{api}/draft/actions/submit-review"
    links.update(_access_links(base, rid))
    files = file_rows(db, rid, "draft")
    thumbnails = thumbnail_links(base, rid, data, files)
    if thumbnails:
        links["thumbnails"] = thumbnails
    return {
        "id": rid,
        "created": row["draft_created"],
        "updated": row["draft_updated"],
        "links": links,
        "revision_id": row["draft_revision"],
        "parent": _parent_body(db, base, row, caller),
        "versions": _versions(db, row, caller),
        "is_published": row["record_json"] is not None,
        "is_draft": True,
        "expires_at": row["draft_created"].replace("T", " ").split("+")[0],
        **_content_fields(base, data, files),
        "status": draft_status(db, row),
    }


def _content_fields(
    base: str, data: dict[str, Any], files: list[sqlite3.Row], entry_links: bool = False
) -> dict[str, Any]:
    """What a draft and a record show alike of their content, in upstream's key order."""
    return {
        "pids": data.get("pids", {}),
        "metadata": expand_metadata(data.get("metadata", {})),
        "custom_fields": data.get("custom_fields", {}),
        "access": access_body(data, files),
        "files": _files_section(base, data, files, entry_links),
        "media_files": {"enabled": False, "order": [], "count": 0, "total_bytes": 0, "entries": {}},
    }


def access_body(data: dict[str, Any], files: list[sqlite3.Row]) -> dict[str, Any]:
    access = data.get("access", {})
    record, files_access = access.get("record", "public"), access.get("files", "public")
    embargo = access.get("embargo") or {"active": False, "reason": None}
    enabled = data.get("files", {}).get("enabled", True)
    if record == "restricted":
        status = "restricted"
    elif embargo.get("active"):
        status = "embargoed"
    elif not enabled or files_access == "restricted":
        status = "metadata-only"
    else:
        status = "open"
    return {"record": record, "files": files_access, "embargo": embargo, "status": status}


def _access_links(base: str, rid: str) -> dict[str, str]:
    """The access and community links every draft and record carries (``links_item``)."""
    api = f"{base}api/records/{rid}"
    return {
        "access_links": f"{api}/access/links",
        "access_grants": f"{api}/access/grants",
        "access_users": f"{api}/access/users",
        "access_groups": f"{api}/access/groups",
        "access_request": f"{api}/access/request",
        "access": f"{api}/access",
        "communities": f"{api}/communities",
        "communities-suggestions": f"{api}/communities-suggestions",
        "requests": f"{api}/requests",
    }


#: Per-version and all-versions counters of a published record (services/schemas/stats.py).
_NO_STATS = {
    "views": 0,
    "unique_views": 0,
    "downloads": 0,
    "unique_downloads": 0,
    "data_volume": 0.0,
}


def record_body(
    db: sqlite3.Connection, base: str, row: sqlite3.Row, caller: Caller, *, hit: bool = False
) -> dict[str, Any]:
    """A published record (API-v3.md §8.3); ``hit``: as a search hit (no file entry links)."""
    rid = row["id"]
    data = json.loads(row["record_json"])
    api = f"{base}api/records/{rid}"
    doi = data.get("pids", {}).get("doi", {}).get("identifier", record_doi(rid))
    parent = get_parent(db, row["parent_id"])
    links: dict[str, Any] = {
        "self": api,
        "self_html": f"{base}records/{rid}",
        "preview_html": f"{base}records/{rid}?preview=1",
        "doi": f"https://doi.org/{doi}",
        "self_doi": f"https://doi.org/{doi}",
        "self_doi_html": f"{base}doi/{doi}",
        "parent": f"{base}api/records/{parent['id']}",
        "parent_html": f"{base}records/{parent['id']}",
        "parent_doi": f"https://doi.org/{concept_doi(parent['id'])}",
        "self_iiif_manifest": f"{base}api/iiif/record:{rid}/manifest",
        "self_iiif_sequence": f"{base}api/iiif/record:{rid}/sequence/default",
        "files": f"{api}/files",
        "media_files": f"{api}/media-files",
        "archive": f"{api}/files-archive",
        "archive_media": f"{api}/media-files-archive",
        "latest": f"{api}/versions/latest",
        "latest_html": f"{base}records/{rid}/latest",
        "versions": f"{api}/versions",
        "draft": f"{api}/draft",
        **_access_links(base, rid),
    }
    files = file_rows(db, rid, "record")
    thumbnails = thumbnail_links(base, rid, data, files)
    if thumbnails:
        links["thumbnails"] = thumbnails
    body = {
        "id": rid,
        "created": row["record_created"],
        "updated": row["record_updated"],
        "links": links,
        "revision_id": row["record_revision"],
        "parent": _parent_body(db, base, row, caller),
        "versions": _versions(db, row, caller),
        "is_published": True,
        "is_draft": False,
        **_content_fields(base, data, files, entry_links=not hit),
        "status": "published",
        "deletion_status": {"is_deleted": False, "status": "P"},
        "stats": {"this_version": dict(_NO_STATS), "all_versions": dict(_NO_STATS)},
    }
    if hit:
        _as_indexed(body)
    return body


def _as_indexed(body: dict[str, Any]) -> None:
    """What the search index gives back of a record (measured on the reference): file entries
    without ``storage_class``, parent communities without ``custom_fields`` and description."""
    for entry in body["files"]["entries"].values():
        entry.pop("storage_class", None)
    for community in body["parent"]["communities"].get("entries", []):
        community.pop("custom_fields", None)
        community["metadata"].pop("description", None)


def now() -> str:
    return utcnow_iso()
