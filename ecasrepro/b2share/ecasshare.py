"""``EcasShare``: the predecessor ``ecasb2share`` API, so existing ECAS notebooks keep working.

Same class name, method names, arguments and return shapes as ``ecasb2share`` 0.0.1b16, but
every call goes through ecasrepro's one HTTP client (token in the Authorization header, timeouts,
retries, typed errors with the server's message) and none of the predecessor's bugs are kept:
uploads are raw streamed bodies verified by md5 (never multipart), submission works, errors
raise instead of printing the token URL or returning None, metadata is validated against the
community schema, PIDs are normalised and typed. The list is in docs/decisions.md ("Predecessor").

Migration: ``from ecasb2share.ecasb2shareclient import EcasShare`` becomes
``from ecasrepro.compat import EcasShare``.

One job: keep the predecessor's API alive over the v2 dialect, so that existing ECAS notebooks run
unchanged on ecasrepro's one client.

May import: .client, .v2, ecasrepro.config, ecasrepro.errors, ecasrepro.pids; never .publisher,
ecasrepro.api, ecasrepro.cli, ecasrepro.magic or ecasrepro.compat (which imports it).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import requests

from ecasrepro.b2share.client import B2ShareSession, FileBody, raise_for_response
from ecasrepro.b2share.v2 import SERVER_MANAGED, V2Api, V2Dialect, bucket_id_of
from ecasrepro.config import PublishConfig, resolve_config
from ecasrepro.errors import BadInput, ServerUnreachable

log = logging.getLogger("ecasrepro.compat")

ECAS_COMMUNITY_ID = "d2c6e694-0c0a-4884-ad15-ddf498008320"
LEGACY_TOKEN_PATH = Path("/home/jovyan/work/conf/token.txt")  # the ECASLab container layout


class EcasShare:
    """Drop-in replacement for ``ecasb2share.ecasb2shareclient.EcasShare``."""

    def __init__(self, url: str | None = None, token_file: str | os.PathLike[str] | None = None):
        # No silent default server: url falls back to B2SHARE_URL / the config files only.
        token_path = token_file
        if token_path is None and LEGACY_TOKEN_PATH.is_file() and not (
            os.environ.get("B2SHARE_TOKEN") or os.environ.get("B2SHARE_TOKEN_FILE")
        ):
            token_path = LEGACY_TOKEN_PATH
        self.config: PublishConfig = resolve_config(server=url, token_file=token_path)
        self.B2SHARE_URL = self.config.server
        self.token_path = str(token_path) if token_path else None
        self._session = B2ShareSession(self.config)
        self._api = V2Api(self._session)

    def __repr__(self) -> str:
        return f"EcasShare(url={self.B2SHARE_URL!r})"

    # token --------------------------------------------------------------------------------------
    def access_token_file(self) -> str:
        """The configured token (the predecessor re-read the file on every call)."""
        return self.config.require_token().reveal()

    # communities --------------------------------------------------------------------------------
    def list_communities(self, token: str | None = None) -> dict[str, Any]:
        """``GET /api/communities/`` -> the server's JSON (``hits.hits`` is the list)."""
        return self._api.get_json(self._session.api("communities/"))

    def retrieve_community_specific_records(self, community_id: str) -> dict[str, Any]:
        return self._api.get_json(self._api.records_url(), q=f"community:{community_id}")

    def get_community_schema(self, community_id: str) -> dict[str, Any]:
        """The community schema document (the predecessor always returned None)."""
        return self._api.get_json(
            self._session.api(f"communities/{community_id}/schemas/last"),
            what=f"community {community_id!r}",
        )

    get_community_shema = get_community_schema  # the predecessor's spelling

    # records ------------------------------------------------------------------------------------
    def list_all_records(self, size: int | None = None) -> dict[str, Any]:
        return self._api.get_json(self._api.records_url(), size=size or 10, page=1)

    def get_specific_record(self, record_id: str, draft: bool = True) -> dict[str, Any]:
        return self._api.draft(record_id) if draft else self._api.record(record_id)

    def get_record_pid(self, record_id: str) -> str:
        """The ePIC PID of the published record (the predecessor read the draft)."""
        record = self._api.record(record_id)
        pid = record.get("metadata", {}).get("ePIC_PID")
        if not pid:
            raise BadInput(f"record {record_id} has no ePIC PID yet; publish it first.")
        return str(pid)

    def create_draft_record(self, community_id: str, title: str) -> tuple[str, str]:
        metadata = {"titles": [{"title": title}], "community": community_id, "open_access": True}
        return self._create(metadata)

    def create_draft_record_with_pid(
        self,
        title: str | None = None,
        original_pid: str | list[str] | None = None,
        metadata_json: str | os.PathLike[str] | dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Create an ECAS draft whose ``related_identifiers`` name the input PID(s).

        With ``metadata_json`` (a path or a dict) that metadata is used, and ``title`` /
        ``original_pid`` are added to it when given (the predecessor silently ignored them).
        """
        from ecasrepro.pids import parse_pid

        metadata: dict[str, Any] = (
            self.load_metadata_from_json(metadata_json) if metadata_json is not None else {}
        )
        metadata.setdefault("community", ECAS_COMMUNITY_ID)
        metadata.setdefault("open_access", True)
        if title:
            metadata["titles"] = [{"title": title}]
        if not metadata.get("titles"):
            raise BadInput("create_draft_record_with_pid needs a title (title=... or in the JSON).")
        related = list(metadata.get("related_identifiers") or [])
        pids = [original_pid] if isinstance(original_pid, str) else list(original_pid or [])
        for pid in pids:
            entry = parse_pid(pid).to_b2share_v2()
            if entry not in related:
                related.append(entry)
        for item in related:  # check the JSON's own entries too (the predecessor only split on /)
            if isinstance(item, dict) and item.get("related_identifier"):
                parse_pid(str(item["related_identifier"]))
        if related:
            metadata["related_identifiers"] = related
        return self._create(metadata)

    def _create(self, metadata: dict[str, Any]) -> tuple[str, str]:
        v2 = V2Dialect(self._session)
        schema = v2.schema_for(v2.community(str(metadata["community"])))
        record = v2.record_metadata(metadata, schema)
        v2.validate(record, schema, "draft", "the metadata passed to EcasShare")
        body = self._api.create_draft(record)
        bucket = bucket_id_of(body)
        if not bucket:
            raise ServerUnreachable("the server created a draft without a file bucket; retry.")
        log.info("draft record %s created (file bucket %s)", body["id"], bucket)
        return str(body["id"]), bucket

    def submit_draft_for_publication(self, record_id: str) -> int:
        """Submit (the predecessor built a broken URL); returns the HTTP status code (200)."""
        draft = self._api.draft(record_id)
        community = self._api.community(str(draft["metadata"]["community"]))
        v2 = V2Dialect(self._session)
        schema = v2.schema_for(community)
        current = {k: v for k, v in draft["metadata"].items() if k not in SERVER_MANAGED}
        v2.validate(current, schema, "submit", f"draft {record_id}")
        response = self._session.patch(
            self._api.draft_url(record_id),
            data=b'[{"op": "add", "path": "/publication_state", "value": "submitted"}]',
            headers={"Content-Type": "application/json-patch+json"},
        )
        return raise_for_response(response, f"draft {record_id}").status_code

    def delete_draft_record(self, record_id: str) -> requests.Response:
        return raise_for_response(
            self._session.delete(self._api.draft_url(record_id)), f"draft {record_id}"
        )

    def delete_published_record(self, record_id: str) -> requests.Response:
        return raise_for_response(
            self._session.delete(self._api.record_url(record_id)), f"record {record_id}"
        )

    def search_records(self) -> dict[str, Any]:
        return self._api.get_json(self._api.records_url())

    def get_filebucketid_from_record(self, record_id: str) -> str:
        bucket = bucket_id_of(self._api.draft(record_id))
        if not bucket:
            raise BadInput(f"draft {record_id} has no file bucket link.")
        return bucket

    def search_drafts(self) -> dict[str, Any]:
        return self._api.get_json(self._api.records_url(), drafts=1)

    def search_specific_record(self, search_value: str) -> dict[str, Any]:
        return self._api.get_json(self._api.records_url(), q=search_value)

    # files --------------------------------------------------------------------------------------
    def add_file_to_draft_record(self, file_path: str | os.PathLike[str],
                                 filebucket_id: str) -> dict[str, Any]:
        """Stream the file as the raw body (never multipart), key = its name; md5 verified."""
        path = Path(file_path)
        if not path.is_file():
            raise BadInput(f"{path} is not a file; pass the path of the file to upload.")
        size = path.stat().st_size
        if size == 0:
            raise BadInput(f"{path} is empty; B2SHARE does not accept empty files.")
        for _attempt in (1, 2):
            body = FileBody(path, size)
            answer = self._api.put_file(filebucket_id, path.name, body)
            if str(answer.get("checksum", "")).removeprefix("md5:") == body.md5:
                return answer
            self._api.delete_file(filebucket_id, path.name)
        raise ServerUnreachable(
            f"the server stored {path.name} with a different md5 twice; it was removed, retry."
        )

    def list_files_in_bucket(self, filebucket_id: str) -> dict[str, Any]:
        return self._api.get_json(
            self._api.bucket_url(filebucket_id), what=f"file bucket {filebucket_id}"
        )

    # metadata -----------------------------------------------------------------------------------
    @staticmethod
    def load_metadata_from_json(
        metadata_json: str | os.PathLike[str] | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Read the given JSON file (the predecessor always opened ./metadata.json)."""
        if metadata_json is None:
            raise BadInput("load_metadata_from_json needs the path of a metadata JSON file.")
        if isinstance(metadata_json, dict):
            return dict(metadata_json)
        path = Path(metadata_json)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInput(f"metadata file {path} does not exist.") from None
        except (OSError, ValueError) as exc:
            raise BadInput(f"metadata file {path} is not readable JSON ({exc}).") from None
        if not isinstance(value, dict):
            raise BadInput(f"metadata file {path} must hold a JSON object.")
        return value

    def close(self) -> None:
        self._session.close()
