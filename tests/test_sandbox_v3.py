"""The v3 (InvenioRDM-style) sandbox over real HTTP: drafts, three-step files, review, versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from ecasrepro.sandbox import SandboxServer
from ecasrepro.sandbox.seed import (
    ECAS_COMMUNITY_ID,
    RESTRICTED_COMMUNITY_ID,
    REVIEW_COMMUNITY_ID,
)
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
    assert (draft["revision_id"], r.json()["revision_id"]) == (5, 7)  # upstream's commit count
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
    # revision_id counts upstream's internal commits: 5 at create, +2 per PUT (two PUTs here)
    assert r.json()["message"] == "Revision id provided(1) doesn't match record's one(9)"
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


def test_saved_but_invalid_drafts_list_errors_and_unknown_vocabulary_fails(
    sandbox_v3: SandboxServer,
) -> None:
    api = Client(sandbox_v3)
    body = {
        "metadata": {
            "title": "ab",
            "creators": [{"person_or_org": {"type": "personal", "given_name": "J"}}],
            "resource_type": {"id": "dataset"},
            "publication_date": "26/11/2025",
        }
    }
    r = api("POST", "/api/records", json=body)
    assert r.status_code == 201
    errors = {e["field"]: e["messages"] for e in r.json()["errors"]}
    assert errors["metadata.title"] == ["Shorter than minimum length 3."]
    assert errors["metadata.creators.0.person_or_org.family_name"] == [
        "Family name cannot be blank."
    ]
    assert errors["metadata.resource_type"] == ["Unknown field."]  # B2SHARE: resource_types
    assert errors["metadata.publication_date"] == ["Please provide a valid date or interval."]
    assert errors["metadata.resource_types"] == ["Missing data for required field."]
    rid = r.json()["id"]
    assert r.json()["metadata"] == {"creators": []}  # invalid parts dropped, the draft is saved
    # A GET does not re-validate.
    assert "errors" not in api("GET", f"/api/records/{rid}/draft").json()
    # An unknown vocabulary id fails the whole request and saves nothing.
    before = api("GET", "/api/user/records").json()["hits"]["total"]
    bad = metadata(resource_types=[{"id": "dataset-x"}])
    r = api("POST", "/api/records", json={"metadata": bad})
    assert r.status_code == 400
    assert r.text == '{"status": 400, "message": "Invalid value dataset-x."}'
    assert api("GET", "/api/user/records").json()["hits"]["total"] == before
    bad = metadata()
    bad["related_identifiers"][0]["relation_type"] = {"id": "IsDerivedFrom"}
    r = api("PUT", f"/api/records/{rid}/draft", json={"metadata": bad})
    assert r.json() == {"status": 400, "message": "Invalid value IsDerivedFrom."}
    bad = metadata()
    bad["related_identifiers"][0].update(scheme="doi", identifier="not-a-doi")
    r = api("PUT", f"/api/records/{rid}/draft", json={"metadata": bad})
    assert {
        "field": "metadata.related_identifiers.0.identifier",
        "messages": ["Invalid DOI identifier."],
    } in r.json()["errors"]
    # Strict validation at publication: 400 with the list, nothing published.
    assert api("PUT", f"/api/records/{rid}/draft", json=body).status_code == 200
    assert (
        api(
            "PUT",
            f"/api/records/{rid}/draft/review",
            json={"receiver": {"community": ECAS_COMMUNITY_ID}, "type": "community-submission"},
        ).status_code
        == 200
    )
    r = api("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert r.status_code == 400 and r.json()["message"] == "A validation error occurred."
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"metadata.title", "metadata.resource_types", "files.enabled"} <= fields
    assert api("GET", f"/api/records/{rid}").status_code == 404


def test_transport_rules(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    r = api(
        "POST",
        "/api/records",
        data=b"{}",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 415 and r.json()["message"].startswith(
        "Invalid 'Content-Type' header. Expected one of: application/json"
    )
    r = api("POST", "/api/records", data=b"{nope", headers={"Content-Type": "application/json"})
    assert r.text == '{"status": 400, "message": "Unable to decode JSON data in request body."}'
    r = api("GET", "/api/records", headers={"Accept": "text/html"})
    assert r.status_code == 406
    r = api("GET", "/api/records?size=0")
    assert r.json() == {
        "status": 400,
        "message": "A validation error occurred.",
        "errors": [{"field": "size", "messages": ["Must be greater than or equal to 1."]}],
    }
    # Anonymous and bad tokens: 403 Permission denied, never 401.
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eA=="}):
        r = requests.post(f"{sandbox_v3.url}/api/records", json={}, headers=headers)
        assert r.status_code == 403
        assert r.text == '{"status": 403, "message": "Permission denied."}'
    # The header wins over ?access_token=, as in oauthlib.
    token = sandbox_v3.users[0].token
    r = requests.get(f"{sandbox_v3.url}/api/user/records?access_token={token}")
    assert r.status_code == 200
    r = requests.get(
        f"{sandbox_v3.url}/api/user/records?access_token={token}",
        headers={"Authorization": "Basic eA=="},
    )
    assert r.status_code == 403
    # A session that keeps the csrftoken cookie and has no valid token is CSRF-checked (400).
    jar = requests.Session()
    jar.headers["Authorization"] = "Bearer not-a-token"
    r = jar.post(f"{sandbox_v3.url}/api/records", json={})
    assert r.status_code == 403 and "csrftoken" in jar.cookies
    r = jar.post(f"{sandbox_v3.url}/api/records", json={})
    assert r.text == '{"message":"CSRF token missing or incorrect.","status":400}\n'
    assert api("POST", "/api/records", json={}).status_code == 201  # valid token: no check
    assert "csrftoken" in api.session.cookies
    assert api("POST", "/api/records", json={}).status_code == 201
    r = api("GET", "/api/records/abcde-fgh12")
    assert r.json()["message"] == "The persistent identifier does not exist."


def test_interrupted_upload_leaves_a_pending_file_that_is_finished_or_replaced(
    sandbox_v3: SandboxServer,
) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    payload = bytes(range(256)) * 4096  # 1 MiB
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": "a.bin"}, {"key": "b.bin"}])
    assert r.status_code == 201
    sandbox_v3.set_faults("drop-upload-first=1,drop-at=0.5")
    try:
        api("PUT", f"/api/records/{rid}/draft/files/a.bin/content", data=payload, headers=OCTET)
        raise AssertionError("the dropped upload should have failed on the client")
    except requests.ConnectionError:
        pass
    sandbox_v3.set_faults(None)
    listing = api("GET", f"/api/records/{rid}/draft/files").json()
    states = {e["key"]: e["status"] for e in listing["entries"]}
    assert states == {"a.bin": "pending", "b.bin": "pending"}
    # Commit before any content: the upstream server crashes (app-level 500).
    r = api("POST", f"/api/records/{rid}/draft/files/a.bin/commit")
    assert r.status_code == 500 and r.text.endswith("}\n")
    # Publishing now is refused: pending files.
    r = api(
        "PUT",
        f"/api/records/{rid}/draft/review",
        json={"receiver": {"community": ECAS_COMMUNITY_ID}, "type": "community-submission"},
    )
    r = api("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert {
        "field": "files",
        "messages": ["One or more files have not completed their transfer, please wait."],
    } in r.json()["errors"]
    # Finish: re-PUT the pending file from zero, then commit.
    r = api("PUT", f"/api/records/{rid}/draft/files/a.bin/content", data=payload, headers=OCTET)
    assert r.status_code == 200 and r.json()["status"] == "pending"
    r = api("POST", f"/api/records/{rid}/draft/files/a.bin/commit")
    assert r.json()["checksum"] == "md5:" + hashlib.md5(payload).hexdigest()
    # Replace: DELETE the pending one and init again.
    assert api("DELETE", f"/api/records/{rid}/draft/files/b.bin").status_code == 204
    committed = api.upload(rid, "b.bin", b"bee")
    assert committed["size"] == 3
    # A PUT on a committed file fails the transfer and removes the entry (still 200).
    r = api("PUT", f"/api/records/{rid}/draft/files/b.bin/content", data=b"new", headers=OCTET)
    assert r.status_code == 200 and r.json()["errors"] == "File upload transfer failed."
    r = api("GET", f"/api/records/{rid}/draft/files/b.bin")
    assert r.json() == {"status": 404, "message": f"Record '{rid}' has no file 'b.bin'."}


def test_review_flow_publishes_on_submission_in_an_open_community(
    sandbox_v3: SandboxServer,
) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    api.upload(rid, "notebook.ipynb", b"{}")
    r = api("POST", f"/api/records/{rid}/draft/actions/publish")
    assert r.json() == {"status": 400, "message": "Cannot publish without selecting a community."}
    r = api.review(rid, "ecas")  # the slug is not accepted as receiver
    assert r.status_code == 404 and r.json()["message"] == "Not found."
    r = api.review(rid, ECAS_COMMUNITY_ID)
    assert r.status_code == 200 and r.json()["status"] == "created"
    assert api("GET", f"/api/records/{rid}/draft").json()["status"] == "draft_with_review"
    r = api("POST", f"/api/records/{rid}/draft/actions/publish")
    assert r.status_code == 400 and "open review request" in r.json()["message"]
    r = api("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert r.status_code == 202
    request_body = r.json()
    assert request_body["status"] == "accepted" and request_body["is_closed"]
    assert request_body["links"]["next_html"] == f"{sandbox_v3.url}/records/{rid}"
    record = requests.get(f"{sandbox_v3.url}/api/records/{rid}").json()
    assert record["status"] == "published" and record["is_published"]
    assert record["parent"]["communities"]["ids"] == [ECAS_COMMUNITY_ID]
    assert record["pids"]["doi"]["identifier"].endswith(rid)
    assert list(record["files"]["entries"]) == ["notebook.ipynb"]
    assert api("GET", f"/api/records/{rid}/draft/review").status_code == 404
    r = requests.get(f"{sandbox_v3.url}/api/records/{rid}/communities").json()
    assert [h["slug"] for h in r["hits"]["hits"]] == ["ecas"]
    r = requests.get(f"{sandbox_v3.url}/api/communities/ecas/records").json()
    assert [h["id"] for h in r["hits"]["hits"]] == [rid]
    r = requests.get(f"{sandbox_v3.url}/api/communities/eudat/records").json()
    assert r["hits"]["total"] == 0
    r = requests.get(f"{sandbox_v3.url}/api/records/{rid}/files/notebook.ipynb/content")
    assert r.content == b"{}"


def test_review_flow_in_a_curated_community_needs_a_curator(sandbox_v3: SandboxServer) -> None:
    alice, bob, curator = Client(sandbox_v3, 0), Client(sandbox_v3, 1), Client(sandbox_v3, 2)
    rid = alice.create()["id"]
    alice.upload(rid, "result.nc", b"netcdf")
    assert alice.review(rid, REVIEW_COMMUNITY_ID).status_code == 200
    r = alice(
        "POST",
        f"/api/records/{rid}/draft/actions/submit-review",
        json={"payload": {"content": "please", "format": "html"}},
    )
    assert r.status_code == 202
    submitted = r.json()
    assert submitted["status"] == "submitted" and submitted["is_open"]
    assert submitted["title"] == "Sea ice trends 1979-2024"
    assert submitted["links"]["next_html"].endswith(f"/me/requests/{submitted['id']}")
    assert alice("GET", f"/api/records/{rid}/draft").json()["status"] == "in_review"
    assert alice("GET", f"/api/records/{rid}").status_code == 404
    request_url = submitted["links"]["self"].removeprefix(sandbox_v3.url)
    # Only the community's curator may accept; the author may cancel; others see nothing.
    assert bob("GET", request_url).status_code == 403
    assert alice("POST", f"{request_url}/actions/accept").status_code == 403
    r = alice("DELETE", f"/api/records/{rid}/draft")
    assert r.status_code == 400 and "open review" in r.json()["message"]
    assert curator("GET", f"/api/records/{rid}/draft").status_code == 200
    r = curator("POST", f"{request_url}/actions/accept", json={})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert alice("GET", request_url).json()["status"] == "accepted"
    record = alice("GET", f"/api/records/{rid}").json()
    assert record["status"] == "published"
    assert record["parent"]["communities"]["ids"] == [REVIEW_COMMUNITY_ID]


def test_members_only_community_refuses_outsiders(sandbox_v3: SandboxServer) -> None:
    alice, member = Client(sandbox_v3, 0), Client(sandbox_v3, 2)
    for api, expected in ((alice, 403), (member, 202)):
        rid = api.create()["id"]
        api.upload(rid, "x.txt", b"x")
        api.review(rid, RESTRICTED_COMMUNITY_ID)
        r = api("POST", f"/api/records/{rid}/draft/actions/submit-review")
        assert r.status_code == expected, r.text
    assert r.json()["status"] == "accepted"  # members publish without review there


def publish_new(api: Client, files: dict[str, bytes]) -> str:
    rid = api.create()["id"]
    for key, data in files.items():
        api.upload(rid, key, data)
    api.review(rid, ECAS_COMMUNITY_ID)
    r = api("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert r.json()["status"] == "accepted", r.text
    return str(rid)


def test_new_version_with_files_import_and_direct_publish(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    first = publish_new(api, {"a.txt": b"A", "b.txt": b"B"})
    r = api("POST", f"/api/records/{first}/versions")
    assert r.status_code == 201
    draft = r.json()
    second = draft["id"]
    assert second != first and draft["status"] == "new_version_draft"
    assert draft["versions"]["index"] == 2 and draft["files"]["entries"] == {}
    assert "publication_date" not in draft["metadata"]
    assert draft["metadata"]["title"] == "Sea ice trends 1979-2024"
    again = api("POST", f"/api/records/{first}/versions").json()
    assert again["id"] == second  # the same draft, answered as loaded: vocabulary ids only
    assert "title" in draft["metadata"]["resource_types"][0]
    assert again["metadata"]["resource_types"] == [{"id": "software-computationalnotebook"}]
    assert again["metadata"]["rights"] == [{"id": "cc-by-4.0"}]
    r = api("POST", f"/api/records/{second}/draft/actions/files-import")
    assert r.status_code == 201
    assert sorted(e["key"] for e in r.json()["entries"]) == ["a.txt", "b.txt"]
    assert all(e["status"] == "completed" for e in r.json()["entries"])
    r = api("POST", f"/api/records/{second}/draft/actions/publish")
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"field": "metadata.publication_date", "messages": ["Missing data for required field."]}
    ]
    body = api("GET", f"/api/records/{second}/draft").json()
    body["metadata"]["publication_date"] = "2026-01-15"
    body["metadata"]["version"] = "v2"
    assert api("PUT", f"/api/records/{second}/draft", json=body).status_code == 200
    r = api("POST", f"/api/records/{second}/draft/actions/publish")
    assert r.status_code == 202, r.text
    record = r.json()
    assert all("links" not in e for e in record["files"]["entries"].values())  # as upstream
    assert record["id"] == second and record["versions"] == {
        "is_latest": True,
        "is_latest_draft": True,
        "index": 2,
    }
    assert record["parent"]["id"] == draft["parent"]["id"]
    r = requests.get(f"{sandbox_v3.url}/api/records/{second}/files/a.txt/content")
    assert r.content == b"A"
    r = requests.get(f"{sandbox_v3.url}/api/records/{first}/versions")
    assert [h["id"] for h in r.json()["hits"]["hits"]] == [second, first]
    r = requests.get(f"{sandbox_v3.url}/api/records/{first}/versions/latest", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].endswith(f"/api/records/{second}")
    r = requests.get(f"{sandbox_v3.url}/api/records?size=10")
    assert [h["id"] for h in r.json()["hits"]["hits"]] == [second]
    # Editing a published record: same id, files locked.
    r = api("POST", f"/api/records/{second}/draft")
    assert r.status_code == 201 and r.json()["id"] == second
    r = api("POST", f"/api/records/{second}/draft/files", json=[{"key": "c.txt"}])
    assert r.json() == {"status": 403, "message": "Bucket is locked for modifications."}
    assert api("DELETE", f"/api/records/{second}/draft").status_code == 204
    assert api("GET", f"/api/records/{second}").status_code == 200


def test_auth_isolation_and_user_records(sandbox_v3: SandboxServer) -> None:
    alice, bob = Client(sandbox_v3, 0), Client(sandbox_v3, 1)
    rid = alice.create()["id"]
    alice.upload(rid, "secret.txt", b"s")
    for method, path in (
        ("GET", f"/api/records/{rid}/draft"),
        ("PUT", f"/api/records/{rid}/draft"),
        ("DELETE", f"/api/records/{rid}/draft"),
        ("GET", f"/api/records/{rid}/draft/files"),
        ("GET", f"/api/records/{rid}/draft/files/secret.txt/content"),
        ("POST", f"/api/records/{rid}/draft/files"),
        ("POST", f"/api/records/{rid}/draft/actions/publish"),
    ):
        r = bob(method, path, json=[{"key": "x"}] if method == "POST" else None)
        assert r.status_code == 403, (method, path, r.text)
    assert bob("GET", "/api/user/records").json()["hits"]["total"] == 0
    mine = alice("GET", "/api/user/records?is_published=false").json()
    assert [h["id"] for h in mine["hits"]["hits"]] == [rid] and mine["sortBy"] == "updated-desc"
    assert requests.get(f"{sandbox_v3.url}/api/user/records").status_code == 403
    assert requests.get(f"{sandbox_v3.url}/api/records").json()["hits"]["total"] == 0


def test_restart_keeps_drafts_files_and_requests(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    api.upload(rid, "kept.txt", b"kept")
    api.review(rid, REVIEW_COMMUNITY_ID)
    request_id = api("POST", f"/api/records/{rid}/draft/actions/submit-review").json()["id"]
    sandbox_v3.restart()
    draft = api("GET", f"/api/records/{rid}/draft").json()
    assert draft["status"] == "in_review"
    assert draft["files"]["entries"]["kept.txt"]["checksum"] == (
        "md5:" + hashlib.md5(b"kept").hexdigest()
    )
    assert api("GET", f"/api/requests/{request_id}").json()["status"] == "submitted"


def test_vocabularies_from_the_fixtures(sandbox_v3: SandboxServer) -> None:
    base = sandbox_v3.url
    r = requests.get(f"{base}/api/vocabularies/resourcetypes/dataset")
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    term = r.json()
    assert term["title"]["de"] == "Datensatz" and term["props"]["datacite_general"] == "Dataset"
    assert term["type"] == "resourcetypes"
    r = requests.get(f"{base}/api/vocabularies/licenses/cc-by-4.0").json()
    assert r["props"]["url"] == "https://creativecommons.org/licenses/by/4.0/"
    r = requests.get(f"{base}/api/vocabularies/relationtypes?size=100").json()
    assert r["hits"]["total"] == 34 and "isderivedfrom" in {h["id"] for h in r["hits"]["hits"]}
    r = requests.get(f"{base}/api/vocabularies/licenses?q=apache&size=5").json()
    assert "apache-2.0" in {h["id"] for h in r["hits"]["hits"]}
    assert requests.get(f"{base}/api/vocabularies/resourcetypes/dataset-x").status_code == 404
    communities = requests.get(f"{base}/api/communities").json()
    assert {h["slug"] for h in communities["hits"]["hits"]} >= {"eudat", "ecas", "ecas-review"}
    ecas = requests.get(f"{base}/api/communities/ecas").json()
    assert ecas["id"] == ECAS_COMMUNITY_ID


def test_dialect_detection_tells_v3_from_v2(
    sandbox_v3: SandboxServer, sandbox: SandboxServer
) -> None:
    """API-v3.md §13: ``GET /api/records?size=1`` without following redirects."""
    r = requests.get(f"{sandbox_v3.url}/api/records?size=1", allow_redirects=False)
    assert r.status_code == 200 and "sortBy" in r.json()
    assert r.json()["links"]["self"].endswith("/api/records?page=1&size=1&sort=newest")
    assert requests.get(f"{sandbox_v3.url}/api/").status_code == 404
    assert requests.get(f"{sandbox_v3.url}/api/records/").status_code == 404
    r = requests.get(f"{sandbox_v3.url}/api/vocabularies/resourcetypes?size=1")
    assert r.status_code == 200
    r = requests.get(f"{sandbox.url}/api/records?size=1", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].endswith("/api/records/?size=1")
    assert requests.get(f"{sandbox.url}/api/").status_code == 200
    assert requests.get(f"{sandbox.url}/api/vocabularies/resourcetypes?size=1").status_code == 404


def test_review_page_shows_draft_and_submits(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    draft = api.create()
    rid = draft["id"]
    api.upload(rid, "figure.png", b"\x89PNG")
    token = sandbox_v3.users[0].token
    page = requests.get(f"{draft['links']['self_html']}?access_token={token}")
    assert page.status_code == 200
    assert "Sea ice trends 1979-2024" in page.text and "figure.png" in page.text
    assert "Doe, Jane" in page.text and 'id="submit"' in page.text
    assert requests.get(draft["links"]["self_html"]).status_code == 403
    r = requests.post(
        f"{sandbox_v3.url}/uploads/{rid}/submit",
        data={"access_token": token, "community": ECAS_COMMUNITY_ID},
    )
    assert r.status_code == 200 and "published" in r.text
    assert requests.get(f"{sandbox_v3.url}/api/records/{rid}").json()["status"] == "published"


def test_review_page_session_is_not_an_api_credential(sandbox_v3: SandboxServer) -> None:
    """Signed in on the page, the session cookie alone neither submits (CSRF token needed) nor
    writes through the API (invenio-rest's CSRF rule answers first)."""
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    browser = requests.Session()
    page = browser.get(f"{sandbox_v3.url}/uploads/{rid}?access_token={sandbox_v3.token}")
    assert page.url == f"{sandbox_v3.url}/uploads/{rid}" and sandbox_v3.token not in page.text
    r = browser.put(f"{sandbox_v3.url}/api/records/{rid}/draft", json={"metadata": metadata()})
    assert r.status_code == 400 and r.json()["message"] == "CSRF token missing or incorrect."
    submit = f"{sandbox_v3.url}/uploads/{rid}/submit"
    r = browser.post(submit, data={"community": ECAS_COMMUNITY_ID})
    assert r.status_code == 403 and "expired" in r.text
    assert api("GET", f"/api/records/{rid}/draft").json()["status"] == "draft"


def test_json_bodies_use_default_separators(sandbox_v3: SandboxServer) -> None:
    r = requests.get(f"{sandbox_v3.url}/api/communities/eudat")
    assert r.text == json.dumps(r.json()) and r.headers["Content-Type"] == "application/json"


def test_file_count_limit_is_configurable(sandbox_factory: Any) -> None:
    server = sandbox_factory("limited", api="v3", max_files=3)
    api = Client(server)
    rid = api.create()["id"]
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": f"{n}"} for n in range(4)])
    assert r.json() == {
        "status": 400,
        "message": "Uploading selected files will result in exceeding the max amount per record.",
    }
    assert api("GET", f"/api/records/{rid}/draft/files").json()["entries"] == []
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": "a"}, {"key": "a"}])
    assert r.json()["message"] == "File with key a already exists."
    assert api("GET", f"/api/records/{rid}/draft/files").json()["entries"] == []  # rolled back


def test_cli_serves_v3(tmp_path: Any) -> None:
    """``ecasrepro sandbox --api v3`` as a process: one JSON line, then the v3 dialect."""
    import signal
    import subprocess
    import sys

    entry = [sys.executable, "-c", "from ecasrepro.cli import main; main()", "sandbox"]
    proc = subprocess.Popen(
        [*entry, "--api", "v3", "--json", "--data", str(tmp_path / "d"), "--token", "tok-12345678"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        r = requests.get(f"{info['url']}/api/records?size=1", allow_redirects=False)
        assert r.status_code == 200 and r.json()["sortBy"] == "newest"
        r = requests.get(
            f"{info['url']}/api/user/records", headers={"Authorization": "Bearer tok-12345678"}
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "tok-12345678" not in err


def test_eudat_example_create_body_is_accepted(sandbox_v3: SandboxServer) -> None:
    """EUDAT's own STEP 1 payload (packaged verbatim) creates a clean draft."""
    from importlib.resources import files

    example = files("ecasrepro") / "data/b2share/v3/examples/b2share-docs-create-draft-request.json"
    body = json.loads(example.read_text(encoding="utf-8"))
    r = Client(sandbox_v3)("POST", "/api/records", json=body)
    assert r.status_code == 201 and "errors" not in r.json(), r.text
    md = r.json()["metadata"]
    assert md["resource_types"][0]["title"]["en"] == "Journal"
    assert md["creators"][0]["person_or_org"]["name"] == "Johansen, Kari"
    assert r.json()["access"]["status"] == "metadata-only"  # at create, as upstream


def test_decline_and_cancel_return_the_draft_to_its_author(sandbox_v3: SandboxServer) -> None:
    alice, curator = Client(sandbox_v3, 0), Client(sandbox_v3, 2)
    rid = alice.create()["id"]
    alice.upload(rid, "x.txt", b"x")
    alice.review(rid, REVIEW_COMMUNITY_ID)
    first = alice("POST", f"/api/records/{rid}/draft/actions/submit-review").json()
    r = alice("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert r.status_code == 500  # submitting twice: unmapped CannotExecuteActionError upstream
    r = curator("POST", f"/api/requests/{first['id']}/actions/decline")
    assert r.json()["status"] == "declined" and r.json()["is_closed"]
    assert alice("GET", f"/api/records/{rid}/draft").json()["status"] == "declined"
    assert alice.review(rid, REVIEW_COMMUNITY_ID).json()["status"] == "created"  # a new request
    second = alice("POST", f"/api/records/{rid}/draft/actions/submit-review").json()
    assert second["id"] != first["id"] and second["status"] == "submitted"
    r = alice("POST", f"/api/requests/{second['id']}/actions/cancel")
    assert r.json()["status"] == "cancelled"
    assert alice("GET", f"/api/records/{rid}/draft").json()["status"] == "draft"
    assert alice("DELETE", f"/api/records/{rid}/draft").status_code == 204


def test_parallel_uploads_to_one_draft(sandbox_v3: SandboxServer) -> None:
    """Four clients at once (as the publisher uploads): every file committed with its own md5."""
    from concurrent.futures import ThreadPoolExecutor

    rid = Client(sandbox_v3).create()["id"]
    blobs = {f"part-{n:02d}.bin": bytes([n]) * (65536 + n) for n in range(24)}

    def upload(item: tuple[str, bytes]) -> dict[str, Any]:
        return Client(sandbox_v3).upload(rid, *item)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(upload, blobs.items()))
    for (key, data), result in zip(blobs.items(), results, strict=True):
        assert result["key"] == key and result["checksum"] == "md5:" + hashlib.md5(data).hexdigest()
    entries = Client(sandbox_v3)("GET", f"/api/records/{rid}/draft").json()["files"]["entries"]
    assert len(entries) == 24


def test_metadata_only_records_and_access_rules(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    body = {"metadata": metadata(), "files": {"enabled": False}}
    r = api("POST", "/api/records", json=body)
    rid = r.json()["id"]
    assert r.json()["access"]["status"] == "metadata-only"
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": "a"}])
    assert r.json() == {"status": 403, "message": "Files are not enabled."}
    api.review(rid, ECAS_COMMUNITY_ID)
    r = api("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert r.json()["status"] == "accepted"
    assert requests.get(f"{sandbox_v3.url}/api/records/{rid}/files").json() == {
        "enabled": False,
        "links": {
            "self": f"{sandbox_v3.url}/api/records/{rid}/files",
            "archive": f"{sandbox_v3.url}/api/records/{rid}/files-archive",
        },
    }
    # v2's "closed" is no v3 access level; a quoted ETag is no valid If-Match.
    r = api("POST", "/api/records", json={"metadata": metadata(), "access": {"record": "closed"}})
    assert r.status_code == 400 and r.json()["errors"] == [
        {"field": "access", "messages": ["'record'"]}  # upstream's KeyError text, as measured
    ]
    draft = api.create()
    r = api("PUT", f"/api/records/{draft['id']}/draft", json=draft, headers={"If-Match": '"1"'})
    assert r.json()["errors"] == [{"field": "if_match", "messages": ["Not a valid integer."]}]
    # Disabling files while some exist is refused (and files stay enabled).
    api.upload(draft["id"], "keep.txt", b"k")
    r = api(
        "PUT",
        f"/api/records/{draft['id']}/draft",
        json={"metadata": metadata(), "files": {"enabled": False}},
    )
    assert r.json()["files"]["enabled"] is True
    assert {
        "field": "files.enabled",
        "messages": ["You must first delete all files to set the record to be metadata-only."],
    } in r.json()["errors"]


def test_deeply_nested_json_is_a_400_not_a_crash(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    for depth in (100, 900, 100_000):
        nested = "[" * depth + "]" * depth
        for method, path, text in (
            ("POST", "/api/records", nested),
            ("POST", "/api/records", f'{{"metadata": {{"title": {nested}}}}}'),
            ("PUT", f"/api/records/{rid}/draft", f'{{"metadata": {{"title": {nested}}}}}'),
            ("POST", f"/api/records/{rid}/draft/files", nested),
        ):
            response = api(method, path, data=text, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (method, path, depth, response.text)


def test_record_serialisations_follow_the_real_serialisers(sandbox_v3: SandboxServer) -> None:
    """DataCite JSON, schema.org JSON-LD, CSL JSON and BibTeX as InvenioRDM 13 writes them."""
    api = Client(sandbox_v3)
    rid = publish_new(api, {"data.nc": b"0123456789"})
    doi = f"10.5072/b2share.{rid}"
    base = sandbox_v3.url
    r = api(
        "GET", f"/api/records/{rid}", headers={"Accept": "application/vnd.datacite.datacite+json"}
    )
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "application/vnd.datacite.datacite+json"
    )
    assert r.headers["ETag"] == f'"{api("GET", f"/api/records/{rid}").json()["revision_id"]}"'
    dc = r.json()
    assert dc["types"] == {"resourceTypeGeneral": "ComputationalNotebook", "resourceType": ""}
    assert dc["titles"] == [{"title": "Sea ice trends 1979-2024"}]
    assert dc["creators"] == [
        {
            "name": "Doe, Jane",
            "givenName": "Jane",
            "familyName": "Doe",
            "nameType": "Personal",
            "nameIdentifiers": [],
            "affiliation": [{"name": "DKRZ"}],
        }
    ]
    assert dc["publicationYear"] == "2025" and dc["publisher"] == "ECAS sandbox"
    assert dc["dates"][0] == {"date": "2025-10-01", "dateType": "Issued"}
    assert dc["dates"][1]["dateType"] == "Updated"
    assert dc["identifiers"][:2] == [
        {"identifier": f"{base}/records/{rid}", "identifierType": "URL"},
        {"identifier": doi, "identifierType": "DOI"},
    ]
    related = dc["relatedIdentifiers"]
    assert related[0] == {
        "relatedIdentifier": "21.14101/0a1b2c3d",
        "relationType": "IsDerivedFrom",
        "relatedIdentifierType": "Handle",
        "resourceTypeGeneral": "Dataset",
    }
    assert related[1]["relationType"] == "IsVersionOf"
    assert related[2] == {
        "relatedIdentifier": f"{base}/communities/ecas/",
        "relationType": "IsPartOf",
        "relatedIdentifierType": "URL",
    }
    assert dc["rightsList"][0]["rightsIdentifier"] == "cc-by-4.0"
    assert dc["schemaVersion"] == "http://datacite.org/schema/kernel-4"

    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/vnd.inveniordm.v1+json"})
    assert r.headers["Content-Type"] == "application/vnd.inveniordm.v1+json"  # as drafts do
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/ld+json"})
    assert r.status_code == 200 and "ETag" not in r.headers
    ld = r.json()
    assert ld["@context"] == "http://schema.org" and ld["@id"] == f"https://doi.org/{doi}"
    assert ld["@type"] == "https://schema.org/CreativeWork"  # upstream's lookup quirk
    assert ld["name"] == "Sea ice trends 1979-2024" and ld["datePublished"] == "2025-10-01"
    assert ld["author"][0] == {
        "name": "Doe, Jane",
        "givenName": "Jane",
        "familyName": "Doe",
        "affiliation": [{"@type": "Organization", "name": "DKRZ"}],
        "@type": "Person",
    }
    assert ld["publisher"] == {"@type": "Organization", "name": "ECAS sandbox"}
    assert ld["contentSize"] == "10.0 B" and ld["url"] == f"{base}/records/{rid}"
    assert ld["license"] == "https://creativecommons.org/licenses/by/4.0/legalcode"

    r = api(
        "GET", f"/api/records/{rid}", headers={"Accept": "application/vnd.citationstyles.csl+json"}
    )
    assert r.json() == {
        "id": rid,
        "type": "software",
        "title": "Sea ice trends 1979-2024",
        "author": [{"family": "Doe", "given": "Jane"}],
        "issued": {"date-parts": [["2025", "10", "01"]]},
        "DOI": doi,
        "publisher": "ECAS sandbox",
    }

    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/x-bibtex"})
    assert r.headers["Content-Type"].startswith("application/x-bibtex")
    assert r.text == (
        f"@misc{{doe_2025_{rid},\n"
        "  author       = {Doe, Jane},\n"
        "  title        = {Sea ice trends 1979-2024},\n"
        "  month        = oct,\n"
        "  year         = 2025,\n"
        "  publisher    = {ECAS sandbox},\n"
        f"  doi          = {{{doi}}},\n"
        f"  url          = {{https://doi.org/{doi}}},\n"
        "}"
    )
    # the citation string: harvard-cite-them-right (upstream's default style), sent as text/plain
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "text/x-bibliography"})
    assert (r.status_code, r.headers["Content-Type"]) == (200, "text/plain") and r.headers["ETag"]
    assert r.content.decode() == (
        "Doe, J. (2025) \u201cSea ice trends 1979-2024\u201d. ECAS sandbox. "
        f"Available at: https://doi.org/{doi}."
    )
    r = api("GET", f"/api/records/{rid}?style=Harvard-Cite-Them-Right&locale=",
            headers={"Accept": "text/x-bibliography"})
    assert r.status_code == 200 and r.content.decode().startswith("Doe, J. (2025)")
    for query in ("style=no-such-style", "style=apa"):  # apa: a style the sandbox does not format
        r = api("GET", f"/api/records/{rid}?{query}", headers={"Accept": "text/x-bibliography"})
        assert (r.status_code, r.json()["message"]) == (400, "Citation string style not found.")
    # drafts answer in the same formats; an unknown type is a 406 naming every registered one
    draft = api.create(title="Draft & 100% done")["id"]
    r = api("GET", f"/api/records/{draft}/draft", headers={"Accept": "application/x-bibtex"})
    assert r.status_code == 200 and "Draft \\& 100\\% done" in r.text
    # flask-resources compares Accept values as strings: "*/*" wins nothing over a served type,
    # "application/*" is no wildcard, and Werkzeug's "; profile=" never equals the DataPackage key
    for accept, expected in (
        ("text/html, application/x-bibtex;q=0.5, */*;q=0.1", "application/x-bibtex"),
        ("application/*", None),
        (
            'application/ld+json;profile="https://datapackage.org/profiles/2.0/datapackage.json"',
            None,
        ),
    ):
        r = api("GET", f"/api/records/{rid}", headers={"Accept": accept})
        assert (r.status_code, r.headers["Content-Type"].split(";")[0]) == (
            (200, expected) if expected else (406, "application/json")
        ), accept
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "text/html"})
    assert r.status_code == 406
    assert "application/vnd.datacite.datacite+json" in r.json()["message"]
    assert "application/x-bibtex" in r.json()["message"]
    # upstream names its unreachable DataPackage key too (the message lists the registered types)
    assert 'application/ld+json;profile="https://datapackage.org/profiles/2.0/datapackage.json", '\
        "application/x-dc+xml, text/x-bibliography, application/x-bibtex" in r.json()["message"]


ACCESS_LINKS = (
    "access", "access_grants", "access_groups", "access_links", "access_request", "access_users",
    "communities", "communities-suggestions", "requests",
)  # fmt: skip


def test_dumps_follow_invenio_rdm_13(sandbox_v3: SandboxServer) -> None:
    """Draft, record, request and community dumps as InvenioRDM 13 writes them."""
    alice, curator = Client(sandbox_v3, 0), Client(sandbox_v3, 2)
    anonymous = requests.Session()
    base = sandbox_v3.url
    created = alice.create()
    rid = created["id"]
    assert created["access"]["status"] == "metadata-only"  # upstream's quirk at create ...
    assert alice("GET", f"/api/records/{rid}/draft").json()["access"]["status"] == "open"  # ...
    alice.upload(rid, "data.nc", b"netcdf")
    draft = alice("GET", f"/api/records/{rid}/draft").json()
    assert "deletion_status" not in draft  # only published records carry it
    assert draft["status"] == "draft" and draft["versions"] == {
        "is_latest": False, "is_latest_draft": True, "index": 1
    }  # fmt: skip
    assert "links" not in draft["files"]["entries"]["data.nc"]
    assert draft["files"]["entries"]["data.nc"]["metadata"] == {}
    for key in ACCESS_LINKS:
        assert draft["links"][key] == f"{base}/api/records/{rid}/{key.replace('_', '/')}"
    assert draft["links"]["media_files"] == f"{base}/api/records/{rid}/draft/media-files"
    assert draft["links"]["archive_media"] == f"{base}/api/records/{rid}/draft/media-files-archive"
    assert draft["links"]["self_iiif_manifest"] == f"{base}/api/iiif/draft:{rid}/manifest"
    assert draft["links"]["self_iiif_sequence"] == f"{base}/api/iiif/draft:{rid}/sequence/default"
    file_item = alice("GET", f"/api/records/{rid}/draft/files/data.nc").json()
    assert file_item["metadata"] == {}
    # review PUT: no delete action, reviewers listed, Flask's compact sorted JSON, no ETag
    r = alice.review(rid, REVIEW_COMMUNITY_ID)
    assert r.status_code == 200 and "ETag" not in r.headers
    review = r.json()
    assert r.text == json.dumps(review, separators=(",", ":"), sort_keys=True) + "\n"
    assert review["reviewers"] == [] and list(review["links"]["actions"]) == ["submit"]
    r = alice("POST", f"/api/records/{rid}/draft/actions/submit-review")
    assert r.status_code == 202 and "ETag" not in r.headers and r.text.endswith("}\n")
    # parent.review in full for the owner and the curator (its title is the parent's stored
    # copy, "" on the reference); grants, links, is_latest_draft only for the owner
    expected_review = {
        "id": review["id"], "links": {}, "type": "community-submission",
        "title": "", "status": "submitted",
        "receiver": {"community": REVIEW_COMMUNITY_ID},
    }  # fmt: skip
    owner_view = alice("GET", f"/api/records/{rid}/draft").json()
    assert owner_view["parent"]["review"] == expected_review
    assert owner_view["parent"]["access"]["grants"] == []
    curator_view = curator("GET", f"/api/records/{rid}/draft").json()
    assert curator_view["parent"]["review"] == expected_review
    assert "grants" not in curator_view["parent"]["access"]
    assert "links" not in curator_view["parent"]["access"]
    assert "is_latest_draft" not in curator_view["versions"]
    r = curator("POST", f"/api/requests/{review['id']}/actions/accept", json={})
    assert r.status_code == 200, r.text
    # the published record: stats, links, file entry links, community entries without links
    record = anonymous.get(f"{base}/api/records/{rid}").json()
    assert record["revision_id"] == 4  # a first publication with files (measured)
    zero = {"views": 0, "unique_views": 0, "downloads": 0, "unique_downloads": 0,
            "data_volume": 0.0}  # fmt: skip
    assert record["stats"] == {"this_version": zero, "all_versions": zero}
    assert record["deletion_status"] == {"is_deleted": False, "status": "P"}
    assert "grants" not in record["parent"]["access"] and "links" not in record["parent"]["access"]
    assert record["versions"] == {"is_latest": True, "index": 1}
    assert record["parent"]["communities"]["entries"][0]["links"] == {}
    assert record["links"]["preview_html"] == f"{base}/records/{rid}?preview=1"
    assert record["links"]["latest_html"] == f"{base}/records/{rid}/latest"
    assert record["links"]["self_iiif_manifest"] == f"{base}/api/iiif/record:{rid}/manifest"
    assert record["links"]["media_files"] == f"{base}/api/records/{rid}/media-files"
    for key in ACCESS_LINKS:
        assert key in record["links"]
    entry = record["files"]["entries"]["data.nc"]
    assert entry["links"]["content"] == f"{base}/api/records/{rid}/files/data.nc/content"
    hit = alice("GET", f"/api/records?q=id:{rid}").json()["hits"]["hits"][0]
    assert "links" not in hit["files"]["entries"]["data.nc"]  # search hits: no entry links
    assert "storage_class" not in hit["files"]["entries"]["data.nc"]  # nor storage_class
    assert "custom_fields" not in hit["parent"]["communities"]["entries"][0]
    assert "storage_class" in entry
    # an edit draft of the published record is "published" and the latest version
    edit = alice("POST", f"/api/records/{rid}/draft").json()
    assert edit["status"] == "published" and edit["versions"]["is_latest"] is True
    assert "deletion_status" not in edit
    alice("DELETE", f"/api/records/{rid}/draft")
    new = alice("POST", f"/api/records/{rid}/versions").json()
    assert new["status"] == "new_version_draft" and new["versions"]["is_latest"] is False
    assert new["revision_id"] == 5  # a new version's draft starts at 5 upstream (measured)
    # communities: rename and membership-requests links, self_html with a trailing slash
    community = anonymous.get(f"{base}/api/communities/{REVIEW_COMMUNITY_ID}").json()
    api = f"{base}/api/communities/{REVIEW_COMMUNITY_ID}"
    assert community["links"]["self_html"] == f"{base}/communities/ecas-review/"
    assert community["links"]["rename"] == f"{api}/rename"
    assert community["links"]["membership_requests"] == f"{api}/membership-requests"


def test_a_bad_identifier_is_reported_and_kept_as_sent(sandbox_v3: SandboxServer) -> None:
    """A partial save keeps marshmallow's ``valid_data``: the bad entry stays, un-normalised."""
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    bad = {"identifier": "not a doi", "scheme": "doi", "relation_type": {"id": "references"}}
    md = metadata()
    md["related_identifiers"] = [*md["related_identifiers"], bad]
    r = api("PUT", f"/api/records/{rid}/draft", json={"metadata": md})
    assert r.status_code == 200
    assert {"field": "metadata.related_identifiers.1.identifier",
            "messages": ["Invalid DOI identifier."]} in r.json()["errors"]  # fmt: skip
    for body in (r.json(), api("GET", f"/api/records/{rid}/draft").json()):
        kept = body["metadata"]["related_identifiers"]
        assert [k["identifier"] for k in kept] == ["21.14101/0a1b2c3d", "not a doi"]
        assert kept[1]["relation_type"]["id"] == "references"
    r = api("POST", f"/api/records/{rid}/draft/actions/publish")
    assert r.status_code == 400  # still refused at publication


def test_search_parameters_envelope_and_facets(sandbox_v3: SandboxServer) -> None:
    """Paging, sort errors, the envelope and its links as invenio-records-resources answers."""
    api = Client(sandbox_v3)
    rid = publish_new(api, {"data.nc": b"x", "plot.png": b"y"})
    base = sandbox_v3.url
    # a size beyond the result window is clipped, not refused
    r = requests.get(f"{base}/api/records", params={"size": 20000, "q": f"id:{rid}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["hits", "aggregations", "sortBy", "page", "links"]
    assert body["page"] == 1 and body["sortBy"] == "bestmatch"
    assert body["hits"]["total"] == 1
    # links as url_for builds them: arguments sorted, ':' kept
    assert body["links"] == {
        "self": f"{base}/api/records?page=1&q=id:{rid}&size=20000&sort=bestmatch"
    }
    aggs = body["aggregations"]
    assert list(aggs) == ["access_status", "file_type", "resource_type"]
    assert aggs["access_status"] == {
        "buckets": [{"key": "open", "doc_count": 1, "label": "Open", "is_selected": False}],
        "label": "Access status",
    }
    assert [b["key"] for b in aggs["file_type"]["buckets"]] == ["nc", "png"]
    assert aggs["file_type"]["buckets"][1]["label"] == "PNG"
    software = aggs["resource_type"]["buckets"][0]
    assert (software["key"], software["label"]) == ("software", "Software")
    assert software["inner"]["buckets"][0]["key"] == "software-computationalnotebook"
    # the links keep allversions (parsed) and facet filters, drop other arguments
    r = requests.get(f"{base}/api/records", params={"allversions": "yes", "resource_type": "x",
                                                    "foo": "bar", "sort": "newest"})
    assert r.json()["links"]["self"] == (
        f"{base}/api/records?allversions=True&page=1&resource_type=x&size=25&sort=newest")
    # a record's communities link to the communities search, as upstream's url_for does
    r = requests.get(f"{base}/api/records/{rid}/communities")
    assert r.json()["links"]["self"] == f"{base}/api/communities?page=1&size=25&sort=newest"
    # facets count the whole result set, not the page: each record has one access status
    publish_new(api, {"more.nc": b"z"})
    page = requests.get(f"{base}/api/records", params={"size": 1}).json()
    assert page["hits"]["total"] >= 2 and len(page["hits"]["hits"]) == 1
    counted = sum(b["doc_count"] for b in page["aggregations"]["access_status"]["buckets"])
    assert counted == page["hits"]["total"]
    mine = api("GET", "/api/user/records").json()
    assert list(mine["aggregations"]) == ["access_status", "file_type", "is_published",
                                          "resource_type"]  # fmt: skip
    communities = requests.get(f"{base}/api/communities", params={"q": "ecas"}).json()
    assert communities["sortBy"] == "bestmatch" and list(communities["aggregations"]) == [
        "type", "visibility"
    ]  # fmt: skip
    versions = requests.get(f"{base}/api/records/{rid}/versions").json()
    assert "aggregations" not in versions and versions["page"] == 1  # no facets there
    # errors: an unknown sort is a _schema validation error; page 0 one of "page"
    r = requests.get(f"{base}/api/records", params={"sort": "nope"})
    assert r.status_code == 400 and r.json() == {
        "status": 400,
        "message": "A validation error occurred.",
        "errors": [{"field": "_schema", "messages": ["Invalid sort option 'nope'."]}],
    }
    r = requests.get(f"{base}/api/records", params={"page": 0})
    assert r.json()["errors"] == [
        {"field": "page", "messages": ["Must be greater than or equal to 1."]}
    ]
    r = requests.get(f"{base}/api/records", params={"page": 2, "size": 10000})
    assert r.json() == {"status": 400, "message": "Invalid querystring parameters."}


def test_error_messages_of_invenio_rdm_13(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = publish_new(api, {"data.nc": b"x"})
    assert api("POST", f"/api/records/{rid}/draft").status_code == 201
    assert api("DELETE", f"/api/records/{rid}/draft").status_code == 204
    r = api("DELETE", f"/api/records/{rid}/draft")  # the edit draft is already gone
    assert r.status_code == 404 and r.json() == {"status": 404, "message": "Not found."}
    r = api("DELETE", "/api/records/abcde-fgh12/draft")
    assert r.json()["message"] == "The persistent identifier does not exist."
    draft = api.create()["id"]
    r = api(
        "PUT",
        f"/api/records/{draft}/draft",
        json={"metadata": metadata(), "access": {"record": "secret", "files": "public"}},
    )
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == [{"field": "access", "messages": ["'record'"]}]
    r = api("POST", f"/api/records/{draft}/draft/files", json={"key": "x.txt"})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "0._schema", "messages": ["Invalid input type."]}]


def test_languages_come_back_with_their_titles(sandbox_v3: SandboxServer) -> None:
    """``languages`` is a vocabulary field upstream (PIDListRelation): dumped with its title."""
    api = Client(sandbox_v3)
    draft = api.create(languages=[{"id": "eng"}, {"id": "deu"}])
    assert draft["metadata"]["languages"] == [
        {"id": "eng", "title": {"en": "English"}},
        {"id": "deu", "title": {"en": "German"}},
    ]
    r = api("GET", f"/api/records/{draft['id']}/draft", headers={"Accept": "application/ld+json"})
    assert r.json()["inLanguage"] == {
        "alternateName": "eng",
        "@type": "Language",
        "name": "English",
    }
    r = api("GET", f"/api/records/{draft['id']}/draft",
            headers={"Accept": "application/vnd.datacite.datacite+json"})  # fmt: skip
    assert r.json()["language"] == "eng"
    r = api("POST", "/api/records", json={"metadata": metadata(languages=[{"id": "zzz"}])})
    assert r.status_code == 400 and r.json() == {"status": 400, "message": "Invalid value zzz."}
    term = api("GET", "/api/vocabularies/languages/eng").json()
    assert term["title"] == {"en": "English"} and term["props"]["alpha_2"] == "en"


def test_downloads_are_sent_with_sanitized_mimetypes(sandbox_v3: SandboxServer) -> None:
    """invenio-files-rest: CSV/HTML as text/plain, images as they are, others as octet-stream."""
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    for key in ("table.csv", "page.html", "plot.png", "data.nc"):
        api.upload(rid, key, b"content")
    expected = {
        "table.csv": "text/plain; charset=utf-8",
        "page.html": "text/plain; charset=utf-8",
        "plot.png": "image/png",
        "data.nc": "application/octet-stream",
    }
    for key, content_type in expected.items():
        r = api("GET", f"/api/records/{rid}/draft/files/{key}/content")
        assert r.status_code == 200 and r.headers["Content-Type"] == content_type, key
    assert api("GET", f"/api/records/{rid}/draft/files/table.csv").json()["mimetype"] == "text/csv"


def test_image_files_get_iiif_links_and_thumbnails(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    api.upload(rid, "data.nc", b"x")
    key = "plots/sub dir/figure.png"
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": key}])
    assert r.status_code == 201
    links = next(e for e in r.json()["entries"] if e["key"] == key)["links"]
    iiif = f"{sandbox_v3.url}/api/iiif/draft:{rid}"
    assert links["iiif_canvas"] == f"{iiif}/canvas/plots/sub%20dir/figure.png"
    assert links["iiif_base"] == f"{iiif}:plots/sub%20dir/figure.png"
    assert links["iiif_info"] == f"{iiif}:plots/sub%20dir/figure.png/info.json"
    assert links["iiif_api"] == f"{iiif}:plots/sub%20dir/figure.png/full/full/0/default.png"
    nc = api("GET", f"/api/records/{rid}/draft/files/data.nc").json()["links"]
    assert not [k for k in nc if k.startswith("iiif")]
    thumbnails = api("GET", f"/api/records/{rid}/draft").json()["links"]["thumbnails"]
    assert list(thumbnails) == ["10", "50", "100", "250", "750", "1200"]
    assert thumbnails["10"] == (
        f"{sandbox_v3.url}/api/iiif/record:{rid}:plots/sub%20dir/figure.png/full/%5E10,/0/default.jpg"
    )


def test_dublin_core_and_geojson(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    point = {"geometry": {"type": "Point", "coordinates": [10.0, 53.5]}, "place": "Hamburg"}
    rid = publish_new(api, {"data.nc": b"x"})
    base = sandbox_v3.url
    doi = f"10.5072/b2share.{rid}"
    record = api("GET", f"/api/records/{rid}").json()
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/x-dc+xml"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/x-dc+xml")
    assert r.text == (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<oai_dc:dc xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc/ '
        'http://www.openarchives.org/OAI/2.0/oai_dc.xsd">\n'
        "  <dc:creator>Doe, Jane</dc:creator>\n"
        "  <dc:date>2025-10-01</dc:date>\n"
        f"  <dc:identifier>https://doi.org/{doi}</dc:identifier>\n"
        f"  <dc:identifier>{record['pids']['oai']['identifier']}</dc:identifier>\n"
        "  <dc:publisher>ECAS sandbox</dc:publisher>\n"
        "  <dc:relation>https://hdl.handle.net/21.14101/0a1b2c3d</dc:relation>\n"
        f"  <dc:relation>{base}/communities/ecas/</dc:relation>\n"
        f"  <dc:relation>https://doi.org/{record['parent']['pids']['doi']['identifier']}</dc:relation>\n"
        "  <dc:rights>info:eu-repo/semantics/openAccess</dc:rights>\n"
        "  <dc:rights>Creative Commons Attribution 4.0 International</dc:rights>\n"
        "  <dc:rights>https://creativecommons.org/licenses/by/4.0/</dc:rights>\n"
        "  <dc:title>Sea ice trends 1979-2024</dc:title>\n"
        "  <dc:type>info:eu-repo/semantics/other</dc:type>\n"
        "</oai_dc:dc>\n"
    )
    draft = api.create(locations={"features": [point]}, description="<p>a & b</p>")["id"]
    r = api("GET", f"/api/records/{draft}/draft", headers={"Accept": "application/vnd.geo+json"})
    assert r.json() == {
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [10.0, 53.5]},
                "properties": {"place": "Hamburg"},
            }
        ],
        "type": "FeatureCollection",
    }
    r = api("GET", f"/api/records/{draft}/draft", headers={"Accept": "application/x-dc+xml"})
    assert (
        "<dc:description>&amp;lt;p&amp;gt;a &amp;amp; b&amp;lt;/p&amp;gt;</dc:description>"
        in r.text
    )


def test_datacite_xml_is_the_datacite_json_in_kernel_4_3_xml(sandbox_v3: SandboxServer) -> None:
    """Checked byte for byte against the datacite package's ``schema43.tostring`` offline."""
    api = Client(sandbox_v3)
    rid = publish_new(api, {"data.nc": b"x"})
    doi = f"10.5072/b2share.{rid}"
    r = api(
        "GET", f"/api/records/{rid}", headers={"Accept": "application/vnd.datacite.datacite+xml"}
    )
    assert r.status_code == 200 and "ETag" in r.headers
    lines = r.text.splitlines()
    assert lines[:4] == [
        "<?xml version='1.0' encoding='utf-8'?>",
        '<resource xmlns="http://datacite.org/schema/kernel-4" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://datacite.org/schema/kernel-4 '
        'http://schema.datacite.org/meta/kernel-4.3/metadata.xsd">',
        f'  <identifier identifierType="DOI">{doi}</identifier>',
        "  <alternateIdentifiers>",
    ]
    assert (
        f'    <alternateIdentifier alternateIdentifierType="URL">{sandbox_v3.url}/records/{rid}'
        "</alternateIdentifier>" in lines
    )
    assert '  <resourceType resourceTypeGeneral="ComputationalNotebook"></resourceType>' in lines
    assert (
        '    <relatedIdentifier relatedIdentifierType="Handle" relationType="IsDerivedFrom" '
        'resourceTypeGeneral="Dataset">21.14101/0a1b2c3d</relatedIdentifier>'
    ) in lines
    assert lines[-1] == "</resource>" and r.text.endswith("</resource>\n")


def test_linkset_is_fair_signposting_level_2(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = publish_new(api, {"sub dir/data.nc": b"x"})
    base = sandbox_v3.url
    record = api("GET", f"/api/records/{rid}").json()
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/linkset+json"})
    assert r.status_code == 200 and "ETag" not in r.headers
    landing, content, meta = r.json()["linkset"]
    download = f"{base}/records/{rid}/files/sub%20dir/data.nc"
    assert landing["anchor"] == f"{base}/records/{rid}"
    assert landing["cite-as"] == [{"href": f"https://doi.org/10.5072/b2share.{rid}"}]
    assert landing["item"] == [
        {"href": download, "type": record["files"]["entries"]["sub dir/data.nc"]["mimetype"]}
    ]
    assert landing["license"] == [{"href": "https://creativecommons.org/licenses/by/4.0/"}]
    assert landing["type"] == [{"href": "https://schema.org/AboutPage"}]
    types = [d["type"] for d in landing["describedby"]]
    assert len(types) == 15 and types == sorted(types) and "application/linkset+json" not in types
    assert "author" not in landing  # no creator has a linkable identifier
    assert content == {
        "anchor": download,
        "collection": [{"href": f"{base}/records/{rid}", "type": "text/html"}],
    }
    assert meta == {
        "anchor": f"{base}/api/records/{rid}",
        "describes": [{"href": f"{base}/records/{rid}", "type": "text/html"}],
    }


def test_csv_serialisations(sandbox_v3: SandboxServer) -> None:
    """flask-resources' CSVSerializer (checked against it offline): full and simple columns."""
    import csv
    import io

    api = Client(sandbox_v3)
    rid = publish_new(api, {"data.nc": b"x"})
    r = api(
        "GET", f"/api/records/{rid}", headers={"Accept": "application/vnd.inveniordm.v1.simple+csv"}
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.inveniordm.v1.simple+csv"  # no charset
    assert "ETag" not in r.headers  # the CSV handlers set none
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [
        "id", "created", "pids.doi.identifier", "metadata.title", "metadata.description",
        "metadata.resource_type.title.en", "metadata.publication_date",
        "metadata.creators.person_or_org.type", "metadata.creators.person_or_org.name",
        "metadata.rights.id",
    ]  # fmt: skip
    record = api("GET", f"/api/records/{rid}").json()
    assert rows[1] == [rid, record["created"], f"10.5072/b2share.{rid}", "Sea ice trends 1979-2024",
                       "", "", "2025-10-01", "personal", "Doe, Jane", "cc-by-4.0"]  # fmt: skip
    assert r.text.endswith("\r\n")
    r = api(
        "GET", f"/api/records/{rid}", headers={"Accept": "application/vnd.inveniordm.v1.full+csv"}
    )
    header, values = list(csv.reader(io.StringIO(r.text)))
    full = dict(zip(header, values, strict=True))
    assert header == sorted(header)
    assert full["metadata.creators.0.person_or_org.family_name"] == "Doe"
    assert full["files.entries.data.nc.checksum"] == "md5:" + hashlib.md5(b"x").hexdigest()
    assert full["is_published"] == "True"
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/x-dc+xml"})
    assert r.headers["Content-Type"] == "application/x-dc+xml"  # upstream sets no charset


def test_marcxml(sandbox_v3: SandboxServer) -> None:
    """MARC21 slim, checked byte for byte against upstream's MARCXMLSerializer offline."""
    api = Client(sandbox_v3)
    rid = publish_new(api, {"data.nc": b"x"})
    r = api("GET", f"/api/records/{rid}", headers={"Accept": "application/marcxml+xml"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/marcxml+xml"
    lines = r.text.splitlines()
    assert lines[:4] == [
        "<?xml version='1.0' encoding='utf-8'?>",
        '<record xmlns="http://www.loc.gov/MARC21/slim">',
        "  <leader>00000nam##2200000uu#4500</leader>",
        f'  <controlfield tag="001">{rid}</controlfield>',
    ]
    text = r.text
    assert f'<subfield code="a">10.5072/b2share.{rid}</subfield>' in text
    assert '<datafield tag="100" ind1=" " ind2=" ">' in text
    assert '<subfield code="a">handle:21.14101/0a1b2c3d</subfield>' in text  # 856 2
    assert '<subfield code="i">Is derived from</subfield>' in text  # 773
    assert '<subfield code="l">open</subfield>' in text  # 542
    assert f'<subfield code="u">{sandbox_v3.url}/records/{rid}/files/data.nc</subfield>' in text


def test_revision_ids_count_as_upstream(sandbox_v3: SandboxServer) -> None:
    """Measured on InvenioRDM 13.1.2: file init, content and commit, a review PUT and a submit
    leave the draft's revision; a file delete adds 2; a request is at 2 once created, +1 a
    submit; a cancel leaves the draft at its revision."""
    api = Client(sandbox_v3)
    rid = api.create()["id"]

    def revision() -> int:
        return int(api("GET", f"/api/records/{rid}/draft").json()["revision_id"])

    api.upload(rid, "a.txt", b"A")
    api.upload(rid, "b.txt", b"B")
    assert revision() == 5
    assert api("DELETE", f"/api/records/{rid}/draft/files/b.txt").status_code == 204
    assert revision() == 7
    review = api.review(rid, REVIEW_COMMUNITY_ID).json()
    assert review["revision_id"] == 2 and revision() == 7
    assert api.review(rid, REVIEW_COMMUNITY_ID).json()["revision_id"] == 2  # the same request again
    submitted = api("POST", f"/api/records/{rid}/draft/actions/submit-review").json()
    assert submitted["revision_id"] == 3 and revision() == 7
    cancelled = api("POST", f"/api/requests/{submitted['id']}/actions/cancel", json={}).json()
    assert cancelled["revision_id"] == 4 and revision() == 7
