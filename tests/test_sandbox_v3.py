"""The v3 (InvenioRDM-style) sandbox over real HTTP: drafts, three-step files, review, versions."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from ecasrepro.sandbox import SandboxServer
from ecasrepro.sandbox.v3.ids import RECORD_ID_RE, is_valid_record_id

OCTET = {"Content-Type": "application/octet-stream"}


def metadata(**overrides: Any) -> dict[str, Any]:
    md: dict[str, Any] = {
        "title": "Sea ice trends 1979-2024",
        "publication_date": "2025-10-01",
        "publisher": "ECAS sandbox",
        "creators": [
            {
                "person_or_org": {"type": "personal", "family_name": "Doe", "given_name": "Jane"},
                "affiliations": [{"name": "DKRZ"}],
            }
        ],
        "resource_types": [{"id": "software-computationalnotebook"}],
        "rights": [{"id": "cc-by-4.0"}],
        "related_identifiers": [
            {
                "identifier": "hdl:21.14101/0a1b2c3d",
                "scheme": "handle",
                "relation_type": {"id": "isderivedfrom"},
                "resource_type": {"id": "dataset"},
            }
        ],
    }
    md.update(overrides)
    return md


class Client:
    """A thin requests wrapper: Bearer token, no cookies, base URL."""

    def __init__(self, server: SandboxServer, user: int = 0) -> None:
        self.base = server.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {server.users[user].token}"

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.base + path, allow_redirects=False, **kw)

    def create(self, **md: Any) -> dict[str, Any]:
        r = self(
            "POST", "/api/records", json={"metadata": metadata(**md), "files": {"enabled": True}}
        )
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, rid: str, key: str, data: bytes) -> dict[str, Any]:
        r = self("POST", f"/api/records/{rid}/draft/files", json=[{"key": key}])
        assert r.status_code == 201, r.text
        r = self("PUT", f"/api/records/{rid}/draft/files/{key}/content", data=data, headers=OCTET)
        assert r.status_code == 200, r.text
        r = self("POST", f"/api/records/{rid}/draft/files/{key}/commit")
        assert r.status_code == 200, r.text
        return r.json()

    def review(self, rid: str, community: str) -> requests.Response:
        body = {"receiver": {"community": community}, "type": "community-submission"}
        return self("PUT", f"/api/records/{rid}/draft/review", json=body)


def test_create_read_update_delete_draft(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    draft = api.create()
    rid = draft["id"]
    assert RECORD_ID_RE.match(rid) and is_valid_record_id(rid)
    assert draft["parent"]["id"] != rid and is_valid_record_id(draft["parent"]["id"])
    assert draft["status"] == "draft" and draft["is_draft"] and not draft["is_published"]
    assert draft["links"]["self_html"] == f"{sandbox_v3.url}/uploads/{rid}"
    assert draft["metadata"]["creators"][0]["person_or_org"]["name"] == "Doe, Jane"
    assert draft["metadata"]["rights"][0]["props"]["scheme"] == "spdx"
    related = draft["metadata"]["related_identifiers"][0]
    assert related["identifier"] == "21.14101/0a1b2c3d"  # hdl: prefix normalised away
    assert related["relation_type"]["title"]["en"] == "Is derived from"
    r = api("GET", f"/api/records/{rid}/draft")
    assert r.status_code == 200 and r.headers["ETag"] == f'"{draft["revision_id"]}"'
    # Full replacement: GET -> modify -> PUT; metadata not sent would be emptied.
    body = r.json()
    body["metadata"]["title"] = "Sea ice trends, revised"
    r = api("PUT", f"/api/records/{rid}/draft", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["title"] == "Sea ice trends, revised"
    assert r.json()["revision_id"] > draft["revision_id"]
    assert r.json()["errors"] == [
        {
            "field": "files.enabled",
            "messages": [
                "Missing uploaded files. To disable files for this record please mark it as "
                "metadata-only."
            ],
        }
    ]
    r = api("PUT", f"/api/records/{rid}/draft", json={"metadata": {"title": "Only a title"}})
    assert r.status_code == 200
    assert "creators" not in r.json()["metadata"]
    r = api("PUT", f"/api/records/{rid}/draft", json=body, headers={"If-Match": "1"})
    assert r.status_code == 412 and "doesn't match record's one" in r.json()["message"]
    assert api("DELETE", f"/api/records/{rid}/draft").status_code == 204
    r = api("GET", f"/api/records/{rid}/draft")
    assert r.status_code == 404
    assert r.text == '{"status": 404, "message": "The persistent identifier does not exist."}'


def test_three_step_upload_with_md5(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    payload = b"x" * 100_000 + b"end"
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": "data/a.csv"}])
    assert r.status_code == 201
    (entry,) = r.json()["entries"]
    assert entry["status"] == "pending" and "checksum" not in entry
    r = api("PUT", entry["links"]["content"].removeprefix(api.base), data=payload, headers=OCTET)
    assert r.status_code == 200 and r.json()["status"] == "pending" and "checksum" not in r.json()
    r = api("POST", entry["links"]["commit"].removeprefix(api.base))
    assert r.status_code == 200
    committed = r.json()
    assert committed["status"] == "completed"
    assert committed["checksum"] == "md5:" + hashlib.md5(payload).hexdigest()
    assert committed["size"] == len(payload) and committed["mimetype"] == "text/csv"
    r = api("GET", f"/api/records/{rid}/draft/files/data/a.csv/content")
    assert r.status_code == 200 and r.content == payload
    draft = api("GET", f"/api/records/{rid}/draft").json()
    assert draft["files"]["count"] == 1 and draft["files"]["total_bytes"] == len(payload)
    assert draft["files"]["entries"]["data/a.csv"]["checksum"] == committed["checksum"]
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": "data/a.csv"}])
    assert r.text == '{"status": 400, "message": "File with key data/a.csv already exists."}'
