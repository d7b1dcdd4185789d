"""The B2SHARE v2 dialect: endpoint URLs, exact content types and payloads (API-v2.md §17).

Every method sends one request through the shared :class:`B2ShareSession` and passes the answer
through :func:`raise_for_response`. Rules the real server imposes and that live only here:
POST to ``/api/records/`` *with* the slash and exactly ``application/json``; PATCH with exactly
``application/json-patch+json`` (no charset); file PUT as a raw ``application/octet-stream`` body
with an explicit ``Content-Length``; item routes without a trailing slash.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ecasrepro.b2share.client import B2ShareSession, FileBody, raise_for_response
from ecasrepro.errors import ServerRefused

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class RemoteFile:
    """One object in a bucket, as the server reports it."""

    key: str
    size: int
    checksum: str  # "md5:<hex>"

    @property
    def md5(self) -> str:
        return self.checksum.split(":", 1)[1] if ":" in self.checksum else self.checksum

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "checksum": self.checksum}


@dataclass(frozen=True)
class CommunitySchema:
    """A community's full JSON schema (root + block resolved) and what the publisher needs."""

    community_id: str
    version: int
    root_schema: int | None
    block_schema_id: str | None
    json_schema: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "community": self.community_id,
            "version": self.version,
            "root_schema": self.root_schema,
            "block_schema_id": self.block_schema_id,
            "json_schema": self.json_schema,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommunitySchema:
        return cls(
            community_id=data["community"],
            version=int(data["version"]),
            root_schema=data.get("root_schema"),
            block_schema_id=data.get("block_schema_id"),
            json_schema=data["json_schema"],
        )


def block_schema_id(schema_document: dict[str, Any]) -> str | None:
    """The block id: ``json_schema.allOf[1].properties.community_specific.required[0]`` (§17)."""
    try:
        community_specific = schema_document["json_schema"]["allOf"][1]["properties"][
            "community_specific"
        ]
    except (KeyError, IndexError, TypeError):
        return None
    required = community_specific.get("required") or []
    if required:
        return str(required[0])
    properties = community_specific.get("properties") or {}
    return str(next(iter(properties))) if len(properties) == 1 else None


class V2Api:
    """Typed calls of the v2 REST API over one session."""

    dialect = "v2"

    def __init__(self, session: B2ShareSession) -> None:
        self.session = session
        self.server = session.server

    # --- URLs (no token in any of them) -------------------------------------------------------
    def records_url(self) -> str:
        return self.session.api("records/")

    def draft_url(self, record_id: str) -> str:
        return self.session.api(f"records/{record_id}/draft")

    def record_url(self, record_id: str) -> str:
        return self.session.api(f"records/{record_id}")

    def bucket_url(self, bucket: str) -> str:
        return self.session.api(f"files/{bucket}")

    def file_url(self, bucket: str, key: str) -> str:
        return self.bucket_url(bucket) + "/" + quote(key, safe="/")

    def html_url(
        self, record_id: str, links: dict[str, Any] | None = None, draft: bool = True
    ) -> str:
        """The review web page: ``links.self_html`` if the server gives it, else the UI route."""
        if links and links.get("self_html"):
            return str(links["self_html"])
        return f"{self.server}/records/{record_id}" + ("/edit" if draft else "")

    # --- reads ---------------------------------------------------------------------------------
    def get_json(self, url: str, what: str | None = None, **params: Any) -> Any:
        response = self.session.get(url, params=params or None)
        return raise_for_response(response, what).json()

    def user(self) -> dict[str, Any]:
        return self.get_json(self.session.api("user/"))

    def communities(self) -> list[dict[str, Any]]:
        return list(self.get_json(self.session.api("communities/"))["hits"]["hits"])

    def community(self, community_id: str) -> dict[str, Any]:
        try:
            return self.get_json(self.session.api(f"communities/{quote(community_id, safe='')}"))
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
            raise ServerRefused(
                message=f"community {community_id!r} does not exist on {self.server} (HTTP "
                f"{exc.status}); run `ecasrepro communities` to list the ones there.",
                status=exc.status,
            ) from None

    def community_schema(
        self, community_id: str, version: str | int = "last", root_schema: int | None = None
    ) -> CommunitySchema:
        """The community schema with its block schema ``$ref`` resolved, ready for jsonschema."""
        document = self.get_json(
            self.session.api(f"communities/{community_id}/schemas/{version}"),
            what=f"schema {version} of community {community_id!r}",
        )
        block_id = block_schema_id(document)
        json_schema = copy.deepcopy(document["json_schema"])
        self._resolve_block_refs(json_schema)
        return CommunitySchema(
            community_id=community_id,
            version=int(document.get("version", 0)),
            root_schema=root_schema,
            block_schema_id=block_id,
            json_schema=json_schema,
        )

    def _resolve_block_refs(self, json_schema: dict[str, Any]) -> None:
        """Inline ``{"$ref": "https://host/api/schemas/<id>/versions/<n>#/json_schema"}``."""
        try:
            properties = json_schema["allOf"][1]["properties"]["community_specific"]["properties"]
        except (KeyError, IndexError, TypeError):
            return
        for block_id, reference in list(properties.items()):
            ref = reference.get("$ref") if isinstance(reference, dict) else None
            if not ref:
                continue
            url, _, pointer = ref.partition("#")
            if urlsplit(url).netloc != urlsplit(self.server).netloc:
                raise ServerRefused(
                    message=f"the block schema of this community lives on another host ({url}); "
                    "refusing to follow it.",
                    status=400,
                )
            document = self.get_json(url, what=f"block schema {block_id}")
            for part in [p for p in pointer.split("/") if p]:
                document = document[part]
            properties[block_id] = document

    def draft(self, record_id: str) -> dict[str, Any]:
        return self.get_json(self.draft_url(record_id), what=f"draft {record_id}")

    def record(self, record_id: str) -> dict[str, Any]:
        return self.get_json(self.record_url(record_id), what=f"record {record_id}")

    def bucket(self, bucket: str) -> dict[str, RemoteFile]:
        return self.bucket_listing(bucket)[0]

    def bucket_listing(self, bucket: str) -> tuple[dict[str, RemoteFile], dict[str, Any]]:
        """(head objects by key, the bucket's own fields: max_file_size, quota_size, size...)."""
        body = self.get_json(self.bucket_url(bucket), what=f"file bucket {bucket}")
        return self._objects(body), {k: v for k, v in body.items() if k != "contents"}

    @staticmethod
    def _objects(body: dict[str, Any]) -> dict[str, RemoteFile]:
        return {
            item["key"]: RemoteFile(item["key"], int(item["size"]), str(item.get("checksum") or ""))
            for item in body.get("contents", [])
            if not item.get("delete_marker")
        }

    def iter_drafts(self, page_size: int = 50, max_pages: int = 4) -> Iterator[dict[str, Any]]:
        """The caller's drafts, most recent first (re-adds ``drafts=1`` on each page, §12)."""
        for page in range(1, max_pages + 1):
            body = self.get_json(
                self.records_url(), drafts=1, sort="mostrecent", size=page_size, page=page
            )
            hits = body.get("hits", {}).get("hits", [])
            yield from hits
            if len(hits) < page_size or not body.get("links", {}).get("next"):
                return

    # --- writes --------------------------------------------------------------------------------
    def create_draft(
        self, metadata: dict[str, Any], version_of: str | None = None
    ) -> dict[str, Any]:
        params = {"version_of": version_of} if version_of else None
        response = self.session.post(
            self.records_url(),
            params=params,
            data=json.dumps(metadata).encode("utf-8"),
            headers={"Content-Type": JSON},
        )
        return raise_for_response(response).json()

    def patch_draft(self, record_id: str, patch: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.session.patch(
            self.draft_url(record_id),
            data=json.dumps(patch).encode("utf-8"),
            headers={"Content-Type": JSON_PATCH},
        )
        return raise_for_response(response, what=f"draft {record_id}").json()

    def submit(self, record_id: str) -> dict[str, Any]:
        return self.patch_draft(
            record_id, [{"op": "add", "path": "/publication_state", "value": "submitted"}]
        )

    def delete_draft(self, record_id: str) -> None:
        raise_for_response(self.session.delete(self.draft_url(record_id)), f"draft {record_id}")

    def put_file(self, bucket: str, key: str, body: FileBody) -> dict[str, Any]:
        """Stream one file; ``Content-Length`` is explicit (the server rejects chunked bodies)."""
        response = self.session.put(
            self.file_url(bucket, key),
            data=body,
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(body.size)},
            timeout=(self.session.policy.connect_timeout, self.session.policy.upload_read_timeout),
        )
        return raise_for_response(response, what=f"file bucket {bucket}").json()

    def delete_file(self, bucket: str, key: str) -> None:
        response = self.session.delete(self.file_url(bucket, key))
        if response.status_code == 404:  # already gone (e.g. a retried DELETE): the goal holds
            return
        raise_for_response(response, what=f"file {key!r}")


def links_of(body: dict[str, Any]) -> dict[str, Any]:
    links = body.get("links")
    return links if isinstance(links, dict) else {}


def bucket_id_of(body: dict[str, Any]) -> str | None:
    files_link = links_of(body).get("files")
    return str(files_link).rstrip("/").rsplit("/", 1)[-1] if files_link else None


def is_not_found(exc: ServerRefused) -> bool:
    return exc.status in (404, 410)


__all__ = [
    "JSON",
    "JSON_PATCH",
    "OCTET_STREAM",
    "CommunitySchema",
    "RemoteFile",
    "V2Api",
    "block_schema_id",
    "bucket_id_of",
    "is_not_found",
    "links_of",
]
