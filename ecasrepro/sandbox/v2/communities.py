"""API root, current user, communities and schemas (API-v2.md §5, §6, §7).

One job: answer the v2 community and schema routes, so that clients read schemas as the real server
serves them.

May import: .common, .errors, .schemas; never ecasrepro.api, ecasrepro.b2share (the client it
serves), or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, Response, request

from ecasrepro.sandbox.v2 import schemas
from ecasrepro.sandbox.v2.common import (
    UUID_RE,
    community_doc,
    config,
    current_caller,
    role_rows,
    storage,
)
from ecasrepro.sandbox.v2.errors import ApiError, json_response

blueprint = Blueprint("v2_communities", __name__)

SCHEMA_ETAG = '"1970-01-01 00:00:00"'


def community_body(db: sqlite3.Connection, base: str, doc: dict[str, Any]) -> dict[str, Any]:
    cid = doc["id"]
    hex_id = cid.replace("-", "")
    roles = role_rows(db, cid)
    last = schemas.last_schema_version(doc)
    entry = schemas.schema_entry(doc, last) or {}
    links = {
        "self": f"{base}api/communities/{cid}",
        "schema": f"{base}api/communities/{cid}/schemas/{last}#/json_schema",
        "schemas": f"{base}api/communities/{cid}/schemas",
    }
    schema_info: dict[str, Any] = {"version": last, "root_schema": entry.get("root_schema", 0)}
    block = doc.get("block_schema")
    if block and entry.get("block_version") is not None:
        links["block_schema"] = (
            f"{base}api/schemas/{block['id']}/versions/{entry['block_version']}#/json_schema"
        )
        schema_info["block_schema_id"] = block["id"]
    return {
        "id": cid,
        "name": doc["name"],
        "description": doc["description"],
        "logo": doc["logo"],
        "created": doc["created"],
        "updated": doc["updated"],
        "publication_workflow": doc["publication_workflow"],
        "restricted_submission": doc["restricted_submission"],
        "links": links,
        "roles": {
            kind: {
                "id": roles[kind],
                "name": f"com:{hex_id}:{kind}",
                "description": f'{kind.capitalize()} role of the community "{doc["name"]}"',
            }
            for kind in ("admin", "member")
        },
        "schema": schema_info,
    }


@blueprint.route("/api/", methods=["GET"])
def api_root() -> Response:
    return json_response(
        {
            "version": "2.4.4",
            "site_function": config().site_function,
            "training_site_link": "",
            "production_site_link": "",
            "b2access_registration_link": "https://b2access.eudat.eu/home/registration",
            "terms_of_use_link": "https://www.eudat.eu/eudat-cdi-aup",
            "help_links": {
                "b2note": "https://b2note.eudat.eu/",
                "issues": "https://github.com/EUDAT-B2SHARE/b2share/issues",
                "rest-api": "https://doc.eudat.eu/b2share/httpapi/",
                "search": "https://doc.eudat.eu/b2share/advancedsearch/",
                "user-guide": "https://doc.eudat.eu/b2share/forusers/",
            },
        },
        sort_keys=True,
    )


@blueprint.route("/api/user/", methods=["GET"])
def current_user() -> Response:
    caller = current_caller()
    if caller.anonymous:
        return json_response({})
    with storage().read() as db:
        roles = []
        for community_id, kind in sorted(caller.roles):
            doc = community_doc(db, community_id)
            role_id = role_rows(db, community_id)[kind]
            name = doc["name"] if doc else community_id
            roles.append(
                {
                    "description": f'{kind.capitalize()} role of the community "{name}"',
                    "id": role_id,
                    "name": f"com:{community_id.replace('-', '')}:{kind}",
                }
            )
    return json_response(
        {"email": caller.email, "id": caller.id, "name": caller.email, "roles": roles},
        sort_keys=True,
    )


@blueprint.route("/api/communities/", methods=["GET"])
def list_communities() -> Response:
    base = request.host_url
    with storage().read() as db:
        rows = db.execute("SELECT id FROM communities ORDER BY name LIMIT 100").fetchall()
        hits = []
        for row in rows:
            doc = community_doc(db, row["id"])
            assert doc is not None
            hits.append(community_body(db, base, doc))
    return json_response(
        {"hits": {"hits": hits, "total": len(hits)}, "links": {"self": f"{base}api/communities/"}},
        sort_keys=True,
    )


def _community_or_404(db: sqlite3.Connection, community_id: str) -> dict[str, Any]:
    doc = community_doc(db, community_id)
    if doc is None:
        raise ApiError(404)
    return doc


@blueprint.route("/api/communities/<community_id>", methods=["GET"])
def get_community(community_id: str) -> Response:
    with storage().read() as db:
        doc = _community_or_404(db, community_id)
        body = community_body(db, request.host_url, doc)
    return json_response(body, sort_keys=True, headers={"ETag": f'"{doc["updated"]}"'})


@blueprint.route("/api/communities/<community_id>/schemas", methods=["GET"])
def list_community_schemas(community_id: str) -> Response:
    with storage().read() as db:
        doc = _community_or_404(db, community_id)
    documents = [
        schemas.community_schema_document(doc, int(entry["version"]), request.host_url)
        for entry in sorted(doc["schemas"], key=lambda e: int(e["version"]))
    ]
    return json_response(documents, headers={"ETag": SCHEMA_ETAG})


@blueprint.route("/api/communities/<community_id>/schemas/<version>", methods=["GET"])
def get_community_schema(community_id: str, version: str) -> Response:
    with storage().read() as db:
        doc = _community_or_404(db, community_id)
    if version == "last":
        number = schemas.last_schema_version(doc)
    elif version.isdigit():
        number = int(version)
    else:
        raise ApiError(400)
    if schemas.schema_entry(doc, number) is None:
        raise ApiError(404)
    body = schemas.community_schema_document(doc, number, request.host_url)
    return json_response(body, headers={"ETag": SCHEMA_ETAG})


def _block_owner(db: sqlite3.Connection, block_id: str) -> dict[str, Any]:
    if UUID_RE.match(block_id):
        for row in db.execute("SELECT id FROM communities").fetchall():
            doc = community_doc(db, row["id"])
            if doc and doc.get("block_schema") and doc["block_schema"]["id"] == block_id:
                return doc
    raise ApiError(404)


@blueprint.route("/api/schemas/<block_id>", methods=["GET"])
def get_block_schema_info(block_id: str) -> Response:
    with storage().read() as db:
        doc = _block_owner(db, block_id)
    return json_response(
        {"schema_id": block_id, "name": doc["block_schema"]["name"]}, sort_keys=True
    )


@blueprint.route("/api/schemas/<block_id>/versions/<version>", methods=["GET"])
def get_block_schema(block_id: str, version: str) -> Response:
    with storage().read() as db:
        doc = _block_owner(db, block_id)
    count = len(doc["block_schema"]["versions"])
    if version == "last":
        number = count - 1
    elif version.isdigit():
        number = int(version)
    else:
        raise ApiError(400)
    body = schemas.block_schema(doc, number)
    if body is None:
        raise ApiError(404)
    return json_response(
        {"id": block_id, "version": number, "json_schema": body}, headers={"ETag": SCHEMA_ETAG}
    )


@blueprint.route("/api/schemas", methods=["GET"])
def list_block_schemas() -> Response:
    community_id = request.args.get("community_id", "")
    with storage().read() as db:
        doc = community_doc(db, community_id) if community_id else None
    found = []
    if doc and doc.get("block_schema"):
        found.append({"schema_id": doc["block_schema"]["id"], "name": doc["block_schema"]["name"]})
    return json_response({"schemas": found}, sort_keys=True)
