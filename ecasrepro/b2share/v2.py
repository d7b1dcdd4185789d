"""The B2SHARE v2 dialect: endpoint URLs, exact content types and payloads (API-v2.md §17).

Every method sends one request through the shared :class:`B2ShareSession` and passes the answer
through :func:`raise_for_response`. Rules the real server imposes and that live only here:
POST to ``/api/records/`` *with* the slash and exactly ``application/json``; PATCH with exactly
``application/json-patch+json`` (no charset); file PUT as a raw ``application/octet-stream`` body
with an explicit ``Content-Length``; item routes without a trailing slash.

One job: speak the v2 API, so that its exact rules live in one module and the engine never needs to
know them.

May import: .client, .dialect, .receipt, .registry, ecasrepro.bundle, ecasrepro.errors,
ecasrepro.metadata; never .publisher, .v3, ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ecasrepro.b2share.client import B2ShareSession, FileBody, raise_for_response
from ecasrepro.b2share.dialect import (
    DraftInfo,
    Outcome,
    PlannedRequest,
    PreparedRecord,
    RemoteFile,
    RemoteView,
)
from ecasrepro.b2share.registry import register
from ecasrepro.errors import ConfigurationError, ServerRefused, ServerUnreachable

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.receipt import Receipt
    from ecasrepro.bundle import Bundle

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
OCTET_STREAM = "application/octet-stream"


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


# Fields the server manages; never sent in a create body or a metadata patch (API-v2.md §8.3).
SERVER_MANAGED = frozenset(
    {"$schema", "owners", "publication_state", "ePIC_PID", "DOI", "$future_doi", "external_pids",
     "_deposit", "_pid", "_oai", "_files", "_internal", "files"}
)


def _title_of(metadata: dict[str, Any]) -> str | None:
    titles = metadata.get("titles") or []
    if titles and isinstance(titles[0], dict):
        return str(titles[0].get("title"))
    return None


class V2Dialect:
    """The publishing steps in v2 requests: records with a file bucket, PUT per file, PATCH."""

    name = "v2"
    accepts_empty_files = False  # FILES_REST_MIN_FILE_SIZE = 1

    def __init__(self, session: B2ShareSession) -> None:
        self.session = session
        self.config = session.config
        self.api = V2Api(session)

    def for_thread(self) -> V2Dialect:
        return V2Dialect(B2ShareSession(self.config))

    def communities(self) -> list[dict[str, Any]]:
        return self.api.communities()

    # --- community, schema and metadata --------------------------------------------------------
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

    def community(self, community_id: str) -> dict[str, Any]:
        return self.api.community(community_id)

    def community_schema(self, community: str) -> CommunitySchema:
        """The community's full JSON schema (``ecasrepro schema``)."""
        return self.schema_for(self.community(community))

    def schema_for(self, community: dict[str, Any]) -> CommunitySchema:
        """The community's full schema, from the disk cache when server+community+version match."""
        community_id = str(community["id"])
        raw_info = community.get("schema")
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        version = info.get("version")
        cache_file = self._schema_cache_file(community_id, version)
        if cache_file is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                cached = CommunitySchema.from_json(json.loads(cache_file.read_text("utf-8")))
                if cached.version == int(str(version)):
                    return cached
        schema = self.api.community_schema(community_id, "last",
                                           root_schema=info.get("root_schema"))
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

    def prepare(self, bundle: Bundle, recorded_community: str | None, submit: bool,
                new_version_of: str | None) -> PreparedRecord:
        metadata = dict(bundle.metadata)
        community_id = self.config.community or recorded_community or metadata.get("community")
        if not community_id:
            raise ConfigurationError(
                "no B2SHARE community is given; pass --community ID, set B2SHARE_COMMUNITY, or "
                "put \"community\" in data/metadata.json (`ecasrepro communities` lists them)."
            )
        if self.config.token:
            self.check_token()
        schema = self.schema_for(self.community(str(community_id)))
        record = self.record_metadata(metadata, schema)
        source = f"{bundle.path}/data/metadata.json"
        self.validate(record, schema, "draft", source)
        if submit:
            self.validate(record, schema, "submit", source)
        return PreparedRecord(record, _title_of(record), schema.community_id)

    # --- drafts ----------------------------------------------------------------------------------
    def draft(self, draft_id: str) -> dict[str, Any]:
        return self.api.draft(draft_id)

    def orphan_candidates(self, record: PreparedRecord,
                          receipt: Receipt) -> Iterator[dict[str, Any]]:
        for hit in self.api.iter_drafts():
            meta = hit.get("metadata", {})
            if (meta.get("publication_state", "draft") == "draft"
                    and meta.get("community") == record.body.get("community")
                    and meta.get("titles") == record.body.get("titles")):
                yield hit

    def plan_create(self, record: PreparedRecord,
                    version_of: str | None) -> list[PlannedRequest]:
        url = self.api.records_url() + (f"?version_of={version_of}" if version_of else "")
        fields = ", ".join(sorted(record.body))
        return [PlannedRequest("POST", url,
                               f"{JSON}: title={record.title!r}; fields: {fields}")]

    def create_draft(self, record: PreparedRecord, version_of: str | None) -> dict[str, Any]:
        return self.api.create_draft(record.body, version_of=version_of)

    def after_create(self, body: dict[str, Any], record: PreparedRecord,
                     version_of: str | None, warnings: list[str]) -> dict[str, Any]:
        return body

    def sync_metadata(self, body: dict[str, Any], record: PreparedRecord,
                      plan: list[PlannedRequest] | None, warnings: list[str]) -> dict[str, Any]:
        """Bring a continued draft's metadata up to the bundle's (add/replace only, JSON Patch)."""
        current = body.get("metadata", {})
        patch: list[dict[str, Any]] = []
        for key, value in record.body.items():
            if key in ("community", *SERVER_MANAGED):
                continue
            if key == "community_specific":
                for block_id, block in value.items():
                    have = (current.get("community_specific") or {}).get(block_id)
                    if have is None:
                        patch.append({"op": "add", "path": f"/community_specific/{block_id}",
                                      "value": block})
                        continue
                    patch.extend({"op": "add", "path": f"/community_specific/{block_id}/{name}",
                                  "value": field_value}
                                 for name, field_value in block.items()
                                 if have.get(name) != field_value)
                continue
            if current.get(key) != value:
                patch.append({"op": "add", "path": f"/{key}", "value": value})
        if not patch:
            return body
        if plan is not None:
            paths = ", ".join(op["path"] for op in patch)
            plan.append(PlannedRequest("PATCH", self.api.draft_url(body["id"]),
                                       f"{JSON_PATCH}: update {paths}"))
            return body
        updated = self.api.patch_draft(body["id"], patch)
        body["metadata"] = updated.get("metadata", current)
        return body

    def describe(self, body: dict[str, Any]) -> DraftInfo:
        draft_id, links = str(body["id"]), links_of(body)
        bucket = bucket_id_of(body)
        return DraftInfo(draft_id, links.get("self") or self.api.draft_url(draft_id),
                         self.api.html_url(draft_id, links), bucket, bucket or "",
                         str(body.get("metadata", {}).get("publication_state", "draft")))

    def is_version_draft(self, body: dict[str, Any]) -> bool:
        return False  # v2 says so only through ?version_of=, which the receipt records

    def outcome(self, body: dict[str, Any]) -> Outcome:
        meta = body.get("metadata", {})
        outcome = Outcome(str(meta.get("publication_state", "draft")),
                          {k: str(meta[k]) for k in ("ePIC_PID", "DOI") if meta.get(k)})
        if outcome.state == "published":
            record = self.api.record(str(body["id"]))
            record_meta = record.get("metadata", {})
            outcome.pids.update(
                {k: str(record_meta[k]) for k in ("ePIC_PID", "DOI") if record_meta.get(k)})
            outcome.html_url = self.api.html_url(
                str(body["id"]), {"self_html": links_of(record).get("self_html")}, draft=False)
            outcome.files = [
                RemoteFile(str(f["key"]), int(f["size"]), str(f.get("checksum") or ""))
                for f in record.get("files") or []
            ]
        return outcome

    # --- files -----------------------------------------------------------------------------------
    def list_files(self, files_at: str) -> tuple[dict[str, RemoteFile], dict[str, Any]]:
        return self.api.bucket_listing(files_at)

    def begin_uploads(self, files_at: str, new: list[str], stale: list[str]) -> list[str]:
        return []  # a PUT creates or replaces the object

    def plan_uploads(self, files_at: str | None, uploads: list[Any], stale: list[str],
                     new: list[str]) -> list[PlannedRequest]:
        shown = self.api.bucket_url(files_at) if files_at else "<bucket of the new draft>"
        return [PlannedRequest("PUT", f"{shown}/{pf.relpath}",
                               f"{OCTET_STREAM}: {pf.size} bytes from {pf.path}")
                for pf in uploads]

    def upload(self, files_at: str, key: str, body: FileBody) -> RemoteFile | None:
        answer = self.api.put_file(files_at, key, body)
        return RemoteFile(key, int(answer.get("size", -1)), str(answer.get("checksum") or ""))

    def discard(self, files_at: str, key: str) -> None:
        self.api.delete_file(files_at, key)

    def delete_file(self, files_at: str, key: str) -> None:
        self.api.delete_file(files_at, key)

    def file_url(self, files_at: str, key: str) -> str:
        return self.api.file_url(files_at, key)

    # --- submission ------------------------------------------------------------------------------
    def attach(self, draft_id: str | None, community_id: str, created_now: bool,
               plan: list[PlannedRequest] | None) -> str | None:
        return None  # the community is part of the v2 record itself

    def plan_submit(self, draft_id: str | None, is_new_version: bool) -> PlannedRequest:
        return PlannedRequest(
            "PATCH", self.api.draft_url(draft_id) if draft_id else
            self.api.records_url() + "<new id>/draft",
            f'{JSON_PATCH}: [{{"op": "add", "path": "/publication_state", '
            '"value": "submitted"}]')

    def submit(self, draft_id: str, is_new_version: bool) -> Outcome:
        try:
            body = self.api.submit(draft_id)
        except ServerUnreachable:
            body = self.api.draft(draft_id)  # did the submission land before the failure?
            if body.get("metadata", {}).get("publication_state") == "draft":
                raise
        return self.outcome(body)

    def remote_view(self, draft_id: str) -> RemoteView:
        body = self.api.draft(draft_id)
        state = str(body.get("metadata", {}).get("publication_state", "draft"))
        bucket = bucket_id_of(body)
        remote = self.api.bucket(bucket) if bucket else {}
        if state == "published" and not remote:
            record = self.api.record(draft_id)
            remote = {f["key"]: RemoteFile(f["key"], int(f["size"]), str(f.get("checksum")))
                      for f in record.get("files") or []}
        return RemoteView(state, {}, remote)


__all__ = [
    "JSON",
    "JSON_PATCH",
    "OCTET_STREAM",
    "SERVER_MANAGED",
    "CommunitySchema",
    "RemoteFile",
    "V2Api",
    "V2Dialect",
    "block_schema_id",
    "bucket_id_of",
    "is_not_found",
    "links_of",
]


register("v2", V2Dialect)
