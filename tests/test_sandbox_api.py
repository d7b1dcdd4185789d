"""The sandbox's v2 records/communities API over real HTTP: shapes, status codes, exact bodies."""

from __future__ import annotations

import json
import re
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecasrepro.sandbox import (
    ECAS_BLOCK_SCHEMA_ID,
    ECAS_COMMUNITY_ID,
    EUDAT_COMMUNITY_ID,
    RESTRICTED_COMMUNITY_ID,
    REVIEW_COMMUNITY_ID,
    SandboxServer,
)
from ecasrepro.sandbox.v2.errors import GENERIC_MESSAGES

PATCH = {"Content-Type": "application/json-patch+json"}
SUBMIT = [{"op": "add", "path": "/publication_state", "value": "submitted"}]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def minimal(community: str = EUDAT_COMMUNITY_ID, **extra: Any) -> dict[str, Any]:
    return {
        "titles": [{"title": "My test upload"}],
        "community": community,
        "open_access": True,
        "community_specific": {},
        **extra,
    }


def create(
    sb: SandboxServer, body: dict[str, Any] | None = None, token: str | None = None, **params: str
) -> requests.Response:
    return requests.post(
        f"{sb.url}/api/records/",
        json=body if body is not None else minimal(),
        headers=auth(token or sb.token),
        params=params,
        timeout=10,
    )


def patch(
    url: str, ops: Any, token: str, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.patch(
        url, data=json.dumps(ops), headers={**PATCH, **auth(token), **(headers or {})}, timeout=10
    )


def publish(
    sb: SandboxServer, body: dict[str, Any] | None = None, files: dict[str, bytes] | None = None
) -> dict[str, Any]:
    draft = create(sb, body).json()
    for key, content in (files or {}).items():
        r = requests.put(
            f"{draft['links']['files']}/{key}", data=content, headers=auth(sb.token), timeout=10
        )
        assert r.status_code == 200, r.text
    r = patch(draft["links"]["self"], SUBMIT, sb.token)
    assert r.status_code == 200 and r.json()["metadata"]["publication_state"] == "published", r.text
    result: dict[str, Any] = r.json()
    return result


def test_api_root_user_and_anonymous_user(sandbox: SandboxServer) -> None:
    assert requests.get(f"{sandbox.url}/api/").json()["version"] == "2.4.4"
    assert requests.get(f"{sandbox.url}/api/user/").json() == {}
    assert requests.get(f"{sandbox.url}/api/user/", headers=auth("not-a-token")).json() == {}
    me = requests.get(f"{sandbox.url}/api/user/", params={"access_token": sandbox.token}).json()
    assert me["id"] == sandbox.users[0].id and me["email"] == me["name"] == sandbox.users[0].email
    reviewer = requests.get(f"{sandbox.url}/api/user/", headers=auth(sandbox.users[2].token)).json()
    assert f"com:{REVIEW_COMMUNITY_ID.replace('-', '')}:admin" in {
        r["name"] for r in reviewer["roles"]
    }


def test_authorization_header_wins_over_query_token(sandbox: SandboxServer) -> None:
    r = requests.get(
        f"{sandbox.url}/api/user/",
        params={"access_token": sandbox.token},
        headers={"Authorization": "Basic Zm9vOmJhcg=="},
    )
    assert r.json() == {}


def test_communities_list_and_schema_documents(sandbox: SandboxServer) -> None:
    r = requests.get(f"{sandbox.url}/api/communities")  # no slash: 301, followed
    assert r.history[0].status_code == 301
    hits = r.json()["hits"]["hits"]
    assert [h["name"] for h in hits] == sorted(h["name"] for h in hits)
    ecas = next(h for h in hits if h["id"] == ECAS_COMMUNITY_ID)
    assert ecas["schema"] == {
        "version": 1,
        "root_schema": 1,
        "block_schema_id": ECAS_BLOCK_SCHEMA_ID,
    }
    assert ecas["links"]["block_schema"].endswith(
        f"/api/schemas/{ECAS_BLOCK_SCHEMA_ID}/versions/0#/json_schema"
    )
    assert re.match(r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", ecas["created"])
    review = next(h for h in hits if h["id"] == REVIEW_COMMUNITY_ID)
    assert review["publication_workflow"] == "review_and_publish"

    last = requests.get(f"{sandbox.url}/api/communities/{ECAS_COMMUNITY_ID}/schemas/last").json()
    specific = last["json_schema"]["allOf"][1]["properties"]["community_specific"]
    assert specific["required"] == [ECAS_BLOCK_SCHEMA_ID]
    block_url = specific["properties"][ECAS_BLOCK_SCHEMA_ID]["$ref"].split("#")[0]
    block = requests.get(block_url).json()["json_schema"]
    assert "analytics_service_instance" in block["properties"] and "required" not in block
    root = last["json_schema"]["allOf"][0]
    assert "definitions" not in root and "related_identifiers" in root["properties"]
    creator = root["properties"]["creators"]["items"]["properties"]
    assert {"creator_name", "given_name", "affiliations"} <= set(creator)  # $ref merged, inlined
    eudat = requests.get(f"{sandbox.url}/api/communities/EUDAT/schemas/0").json()
    assert eudat["json_schema"]["allOf"][1]["properties"]["community_specific"]["properties"] == {}
    assert "related_identifiers" not in eudat["json_schema"]["allOf"][0]["properties"]
    assert (
        requests.get(f"{sandbox.url}/api/communities/{ECAS_COMMUNITY_ID}/schemas/7").status_code
        == 404
    )
    assert (
        requests.get(f"{sandbox.url}/api/communities/{ECAS_COMMUNITY_ID}/schemas/x").status_code
        == 400
    )
    schemas = requests.get(f"{sandbox.url}/api/communities/{ECAS_COMMUNITY_ID}/schemas").json()
    assert [s["version"] for s in schemas] == [0, 1]
    missing = requests.get(f"{sandbox.url}/api/communities/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["message"] == GENERIC_MESSAGES[404]


def test_create_draft_shape_headers_and_block(sandbox: SandboxServer) -> None:
    body = minimal(
        ECAS_COMMUNITY_ID,
        community_specific={"other": {}, ECAS_BLOCK_SCHEMA_ID: {"ophidia_version": "1.7"}},
    )
    r = create(sandbox, body)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert HEX32.match(draft["id"]) and ISO.match(draft["created"])
    assert r.headers["Location"] == f"{sandbox.url}/api/records/{draft['id']}/draft"
    assert r.headers["ETag"] == '"0"' and "record_bucket" in r.headers["Link"]
    md = draft["metadata"]
    assert md["publication_state"] == "draft" and md["owners"] == [sandbox.users[0].id]
    assert (
        md["$schema"]
        == f"{sandbox.url}/api/communities/{ECAS_COMMUNITY_ID}/schemas/1#/draft_json_schema"
    )
    assert md["community_specific"] == {ECAS_BLOCK_SCHEMA_ID: {"ophidia_version": "1.7"}}
    assert "ePIC_PID" not in md and "DOI" not in md and "files" not in draft
    assert UUID.match(draft["links"]["files"].rsplit("/", 1)[1])
    assert draft["links"]["self_html"] == f"{sandbox.url}/records/{draft['id']}"
    assert r.text.startswith('{\n  "')  # pretty-printed, indent 2


def test_create_errors_are_exact(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/api/records/"
    anon = requests.post(url, json=minimal())
    assert anon.status_code == 401 and anon.json() == {
        "status": 401,
        "message": GENERIC_MESSAGES[401],
    }
    charset = requests.post(
        url,
        data=json.dumps(minimal()),
        headers={**auth(sandbox.token), "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 415 and charset.json()["message"] == GENERIC_MESSAGES[415]
    broken = requests.post(
        url, data="{not json", headers={**auth(sandbox.token), "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["message"] == GENERIC_MESSAGES[400]
    bad_type = create(sandbox, minimal(creators="B2SHARE-Training author"))
    assert bad_type.status_code == 400 and bad_type.json() == {
        "status": 400,
        "message": "Validation error.",
    }
    state = create(sandbox, minimal(publication_state="draft"))
    assert state.json()["message"] == 'Field "publication_state" cannot be set.'
    unknown = create(sandbox, minimal("11111111-2222-3333-4444-555555555555"))
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "community"
    restricted = create(sandbox, minimal(RESTRICTED_COMMUNITY_ID))
    assert restricted.status_code == 403
    assert (
        create(sandbox, minimal(RESTRICTED_COMMUNITY_ID), token=sandbox.users[2].token).status_code
        == 201
    )
    # lenient draft validation: required fields and minItems are not enforced yet
    assert create(sandbox, {"community": EUDAT_COMMUNITY_ID, "titles": []}).status_code == 201
    # a redirected POST becomes a GET, exactly as python-requests does against the real server
    no_slash = requests.post(
        f"{sandbox.url}/api/records", json=minimal(), headers=auth(sandbox.token)
    )
    assert no_slash.history[0].status_code == 301 and no_slash.request.method == "GET"


def test_drafts_are_private_per_user(sandbox: SandboxServer) -> None:
    draft = create(sandbox).json()
    url = draft["links"]["self"]
    alice, bob = sandbox.users[0].token, sandbox.users[1].token
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers=auth(bob)).status_code == 403
    assert requests.get(url, headers=auth(sandbox.users[3].token)).status_code == 200  # superuser
    assert (
        patch(url, [{"op": "replace", "path": "/titles/0/title", "value": "x"}], bob).status_code
        == 403
    )
    assert requests.delete(url, headers=auth(bob)).status_code == 403
    assert requests.get(draft["links"]["files"], headers=auth(bob)).status_code == 404
    assert (
        requests.put(draft["links"]["files"] + "/a.txt", data=b"x", headers=auth(bob)).status_code
        == 404
    )

    def ids_of(token: str) -> set[str]:
        found = requests.get(
            f"{sandbox.url}/api/records/", params={"drafts": 1}, headers=auth(token)
        ).json()["hits"]["hits"]
        return {h["id"] for h in found}

    assert draft["id"] in ids_of(alice) and draft["id"] not in ids_of(bob)
    anon = requests.get(f"{sandbox.url}/api/records/?drafts=1")
    assert anon.json() == {
        "status": 401,
        "message": "Only authenticated users can search for drafts.",
    }
    assert requests.get(f"{sandbox.url}/api/records/{draft['id']}").json() == {
        "status": 404,
        "message": "PID is not registered.",
    }


def test_patch_rules_and_error_bodies(sandbox: SandboxServer) -> None:
    draft = create(sandbox).json()
    url, token = draft["links"]["self"], sandbox.token
    ok = patch(
        url,
        [
            {"op": "add", "path": "/keywords", "value": ["a", "b"]},
            {"op": "replace", "path": "/titles/0/title", "value": "The new title"},
        ],
        token,
    )
    assert ok.status_code == 200 and ok.json()["metadata"]["titles"] == [{"title": "The new title"}]
    assert ok.headers["ETag"] == '"1"'
    wrong = requests.patch(
        url, data="[]", headers={**auth(token), "Content-Type": "application/json"}
    )
    assert wrong.status_code == 415 and wrong.json()["message"] == (
        "Invalid 'Content-Type' header. Expected one of: application/json-patch+json"
    )
    charset = patch(url, [], token, {"Content-Type": "application/json-patch+json; charset=utf-8"})
    assert charset.status_code == 400 and charset.json()["message"] == GENERIC_MESSAGES[400]
    immutable = patch(
        url, [{"op": "replace", "path": "/community", "value": ECAS_COMMUNITY_ID}], token
    )
    assert immutable.json() == {
        "status": 400,
        "message": "Validation error.",
        "errors": [{"field": "/community", "message": 'The field "/community" is immutable.'}],
    }
    pointer = patch(url, [{"op": "replace", "path": "/nope/0", "value": 1}], token)
    assert pointer.json()["errors"] == [{"message": "Invalid JSON Pointer"}]
    outside = patch(url, [{"op": "replace", "path": "/titles/5", "value": {"title": "x"}}], token)
    assert outside.json()["message"] == "Invalid Operation."
    assert outside.json()["errors"][0]["message"].startswith("JSON-Patch error: ")
    schema = patch(
        url, [{"op": "add", "path": "/creators", "value": "B2SHARE-Training author"}], token
    )
    assert schema.json() == {
        "status": 400,
        "message": "Validation error.",
        "errors": [
            {"field": "creators", "message": "'B2SHARE-Training author' is not of type 'array'"}
        ],
    }
    assert patch(url, None, token).json()["message"] == GENERIC_MESSAGES[400]
    stale = patch(
        url, [{"op": "add", "path": "/version", "value": "1"}], token, {"If-Match": '"0"'}
    )
    assert stale.status_code == 412
    assert requests.get(url, headers={**auth(token), "If-None-Match": '"1"'}).status_code == 304
    assert requests.put(url, json={}, headers=auth(token)).status_code == 405
    missing = requests.get(f"{sandbox.url}/api/records/{'0' * 32}/draft", headers=auth(token))
    assert missing.json() == {"status": 404, "message": "PID does not exist."}
    assert requests.get(url, headers={**auth(token), "Accept": "text/html"}).status_code == 406


def test_submission_validates_fully_and_publishes(sandbox: SandboxServer) -> None:
    draft = create(
        sandbox, {"community": EUDAT_COMMUNITY_ID, "titles": [], "community_specific": {}}
    ).json()
    refused = patch(draft["links"]["self"], SUBMIT, sandbox.token)
    assert refused.status_code == 400 and refused.json()["message"] == "Validation error."
    assert len(refused.json()["errors"]) == 1
    again = requests.get(draft["links"]["self"], headers=auth(sandbox.token)).json()
    assert again["metadata"]["publication_state"] == "draft"  # unchanged after a refusal

    published = publish(sandbox, files={"data/result.nc": b"netcdf" * 100})
    md = published["metadata"]
    rid = published["id"]
    assert md["ePIC_PID"] == f"http://hdl.handle.net/0000/{rid}"
    assert md["DOI"] == f"https://doi.org/10.5072/b2share.{rid}"
    record = requests.get(f"{sandbox.url}/api/records/{rid}")
    assert record.status_code == 200 and "linkset" in record.headers["Link"]
    body = record.json()
    assert body["metadata"]["$schema"].endswith("/schemas/0#/json_schema")
    assert body["metadata"]["publication_state"] == "published"
    [entry] = body["files"]
    assert entry["key"] == "data/result.nc" and entry["size"] == 600
    assert entry["ePIC_PID"].startswith("http://hdl.handle.net/0000/")
    assert entry["bucket"] != published["links"]["files"].rsplit("/", 1)[1]
    bucket = requests.get(body["links"]["files"]).json()
    assert bucket["locked"] is True
    assert (
        requests.put(
            body["links"]["files"] + "/x", data=b"x", headers=auth(sandbox.token)
        ).status_code
        == 404
    )
    after = patch(
        published["links"]["self"], [{"op": "add", "path": "/version", "value": "2"}], sandbox.token
    )
    assert after.json() == {"status": 403, "message": "Invalid action"}
    assert (
        requests.delete(published["links"]["self"], headers=auth(sandbox.token)).status_code == 403
    )
    search = requests.get(
        f"{sandbox.url}/api/records/", params={"q": f"community:{EUDAT_COMMUNITY_ID}"}
    ).json()
    assert [h["id"] for h in search["hits"]["hits"]] == [rid]


def test_review_workflow_keeps_submitted(sandbox: SandboxServer) -> None:
    draft = create(sandbox, minimal(REVIEW_COMMUNITY_ID)).json()
    url = draft["links"]["self"]
    submitted = patch(url, SUBMIT, sandbox.token)
    assert submitted.json()["metadata"]["publication_state"] == "submitted"
    assert requests.get(f"{sandbox.url}/api/records/{draft['id']}").status_code == 404
    owner_publish = patch(
        url, [{"op": "replace", "path": "/publication_state", "value": "published"}], sandbox.token
    )
    assert owner_publish.status_code == 403
    reviewer = sandbox.users[2].token
    assert (
        requests.get(url, headers=auth(reviewer)).status_code == 200
    )  # admins see submitted drafts
    done = patch(
        url, [{"op": "replace", "path": "/publication_state", "value": "published"}], reviewer
    )
    assert done.status_code == 200, done.text
    assert requests.get(f"{sandbox.url}/api/records/{draft['id']}").json()["metadata"]["ePIC_PID"]
    other = create(sandbox, minimal(REVIEW_COMMUNITY_ID)).json()
    jump = patch(
        other["links"]["self"],
        [{"op": "replace", "path": "/publication_state", "value": "published"}],
        reviewer,
    )
    assert jump.status_code in (400, 403)


def test_versions_head_redirect_and_errors(sandbox: SandboxServer) -> None:
    first = publish(sandbox, files={"a.txt": b"version one"})
    rid = first["id"]
    head = first["links"]["versions"].split("/")[-2]
    v2 = requests.post(
        f"{sandbox.url}/api/records/",
        params={"version_of": rid},
        headers={**auth(sandbox.token), "Content-Type": "application/json"},
    )
    assert v2.status_code == 201, v2.text
    new = v2.json()
    assert new["id"] != rid and new["links"]["versions"] == first["links"]["versions"]
    assert new["metadata"]["titles"] == first["metadata"]["titles"] and "DOI" not in new["metadata"]
    files = requests.get(new["links"]["files"], headers=auth(sandbox.token)).json()
    assert [c["key"] for c in files["contents"]] == ["a.txt"] and files["locked"] is False
    dup = requests.post(
        f"{sandbox.url}/api/records/",
        params={"version_of": rid},
        headers={**auth(sandbox.token), "Content-Type": "application/json"},
    )
    assert dup.json()["goto_draft"] == new["id"]
    assert requests.post(
        f"{sandbox.url}/api/records/",
        params={"version_of": rid},
        headers={**auth(sandbox.users[1].token), "Content-Type": "application/json"},
    ).status_code in (400, 403)
    assert patch(new["links"]["self"], SUBMIT, sandbox.token).status_code == 200
    old = requests.post(
        f"{sandbox.url}/api/records/",
        params={"version_of": rid},
        headers={**auth(sandbox.token), "Content-Type": "application/json"},
    ).json()
    assert old["use_record"] == new["id"]
    unknown = requests.post(
        f"{sandbox.url}/api/records/",
        params={"version_of": "f" * 32},
        headers={**auth(sandbox.token), "Content-Type": "application/json"},
    )
    assert unknown.json()["message"].startswith(
        "Versioning error. The `version_of` parameter must point"
    )
    redirect = requests.get(f"{sandbox.url}/api/records/{head}", allow_redirects=False)
    assert (
        redirect.status_code == 301 and redirect.headers["Location"] == f"/api/records/{new['id']}"
    )
    listing = requests.get(f"{sandbox.url}/api/records/{head}/versions").json()["versions"]
    assert [v["id"] for v in listing] == [rid, new["id"]] and [v["version"] for v in listing] == [
        1,
        2,
    ]
    search = requests.get(f"{sandbox.url}/api/records/").json()
    assert [h["id"] for h in search["hits"]["hits"]] == [new["id"]]  # latest versions only


def test_published_record_patch_and_superuser_delete(sandbox: SandboxServer) -> None:
    rec = publish(sandbox)
    url = f"{sandbox.url}/api/records/{rec['id']}"
    ok = patch(
        url,
        [{"op": "add", "path": "/keywords", "value": ["climate"]}],
        sandbox.token,
        {"Content-Type": "application/json-patch+json; charset=utf-8"},
    )
    assert ok.status_code == 200 and ok.json()["metadata"]["keywords"] == ["climate"]
    assert patch(url, [{"op": "remove", "path": "/nope"}], sandbox.token).json() == {
        "status": 400,
        "message": "Could not patch JSON.",
    }
    assert patch(url, [{"op": "remove", "path": "/titles"}], sandbox.token).json() == {
        "status": 400,
        "message": "Validation error.",
    }
    assert (
        patch(
            url, [{"op": "replace", "path": "/publication_state", "value": "draft"}], sandbox.token
        ).json()["errors"][0]["field"]
        == "/publication_state"
    )
    assert patch(url, [], sandbox.users[1].token).status_code == 403
    assert requests.delete(url, headers=auth(sandbox.token)).status_code == 403
    assert requests.delete(url).status_code == 401
    assert requests.delete(url, headers=auth(sandbox.users[3].token)).status_code == 204
    assert requests.get(url).json() == {"status": 410, "message": "PID has been deleted."}


def test_delete_draft_then_gone(sandbox: SandboxServer) -> None:
    draft = create(sandbox).json()
    requests.put(draft["links"]["files"] + "/a.txt", data=b"abc", headers=auth(sandbox.token))
    assert requests.delete(draft["links"]["self"]).status_code == 401
    assert requests.delete(draft["links"]["self"], headers=auth(sandbox.token)).status_code == 204
    gone = requests.get(draft["links"]["self"], headers=auth(sandbox.token))
    assert gone.json() == {"status": 410, "message": "PID has been deleted."}
    assert requests.get(draft["links"]["files"], headers=auth(sandbox.token)).status_code == 404
    assert list((sandbox.data_dir / "blobs").rglob("*")) == [] or all(
        p.is_dir() for p in (sandbox.data_dir / "blobs").rglob("*")
    )


def test_search_query_paging_and_bad_syntax(sandbox: SandboxServer) -> None:
    for title in ("alpha run", "beta run", "gamma"):
        publish(sandbox, minimal(titles=[{"title": title}]))
    r = requests.get(
        f"{sandbox.url}/api/records/", params={"q": "run", "size": 1, "page": 1}
    ).json()
    assert r["hits"]["total"] == 2 and len(r["hits"]["hits"]) == 1 and "next" in r["links"]
    assert (
        requests.get(f"{sandbox.url}/api/records/", params={"q": "titles.title:gamma"}).json()[
            "hits"
        ]["total"]
        == 1
    )
    assert (
        requests.get(f"{sandbox.url}/api/records/", params={"q": '"unbalanced'}).status_code == 400
    )
    assert (
        requests.get(f"{sandbox.url}/api/records/", params={"page": 100, "size": 100}).status_code
        == 400
    )
    drafts = requests.get(
        f"{sandbox.url}/api/records/", params={"drafts": 1, "size": 1}, headers=auth(sandbox.token)
    ).json()
    assert drafts["aggregations"] == {} and "drafts" not in drafts["links"]["next"]


def test_state_survives_restart_on_same_port(sandbox: SandboxServer) -> None:
    draft = create(sandbox).json()
    requests.put(
        draft["links"]["files"] + "/keep.bin", data=b"\x00\x01" * 1000, headers=auth(sandbox.token)
    )
    port, token = sandbox.port, sandbox.token
    sandbox.restart()
    assert sandbox.port == port and sandbox.token == token
    listing = requests.get(draft["links"]["files"], headers=auth(token)).json()
    assert listing["contents"][0]["size"] == 2000
    assert requests.get(draft["links"]["self"], headers=auth(token)).status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
patch_ops = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "remove", "move", "copy", "test", "bogus"]),
            "path": st.sampled_from(
                [
                    "/titles",
                    "/titles/0",
                    "/titles/-",
                    "/x",
                    "",
                    "nope",
                    "/owners/0",
                    "/publication_state",
                    "/community_specific/a",
                ]
            ),
        },
        optional={"value": json_values, "from": st.sampled_from(["/titles", "/y"])},
    )
    | json_values,
    max_size=3,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=patch_ops, body=json_values)
def test_garbage_never_crashes_the_server(sandbox: SandboxServer, ops: Any, body: Any) -> None:
    draft = create(sandbox).json()
    for response in (
        patch(draft["links"]["self"], ops, sandbox.token),
        requests.post(
            f"{sandbox.url}/api/records/",
            data=json.dumps(body),
            headers={**auth(sandbox.token), "Content-Type": "application/json"},
        ),
    ):
        assert response.status_code < 500, response.text
        assert isinstance(response.json(), dict)


def _csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_review_page_session_sign_in_and_csrf(sandbox: SandboxServer) -> None:
    """The review page signs in with a session cookie; its form needs the session's CSRF token;
    the API ignores the cookie, so it cannot be used for cross-site writes."""
    draft = requests.post(
        f"{sandbox.url}/api/records/", json=minimal(), headers=auth(sandbox.token)
    ).json()
    page_url = draft["links"]["self_html"]
    signin = requests.get(page_url)
    assert signin.status_code == 401 and 'action="/signin"' in signin.text
    assert f'name="next" value="/records/{draft["id"]}"' in signin.text

    browser = requests.Session()
    r = browser.post(
        f"{sandbox.url}/signin", data={"token": sandbox.token, "next": f"/records/{draft['id']}"},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["Location"] == f"/records/{draft['id']}"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and sandbox.token not in cookie
    page = browser.get(page_url)
    assert page.status_code == 200 and sandbox.token not in page.text
    csrf = _csrf_in(page.text)

    # the API does not authenticate from the session cookie: anonymous, 401, nothing changed
    r = browser.patch(
        f"{sandbox.url}/api/records/{draft['id']}/draft",
        data=json.dumps([{"op": "add", "path": "/publication_state", "value": "submitted"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 401
    # a form post from elsewhere (no CSRF token, or another session's) is refused
    assert browser.post(f"{page_url}/submit").status_code == 403
    other = requests.Session()
    other.post(f"{sandbox.url}/signin", data={"token": sandbox.users[1].token, "next": "/"})
    assert browser.post(f"{page_url}/submit", data={"csrf_token": "x" + csrf}).status_code == 403
    state = requests.get(f"{page_url.replace('/records/', '/api/records/')}/draft",
                         headers=auth(sandbox.token)).json()["metadata"]["publication_state"]
    assert state == "draft"
    # bob signed in cannot see alice's draft; alice's form with her token publishes
    assert other.get(page_url).status_code == 403
    r = browser.post(f"{page_url}/submit", data={"csrf_token": csrf})
    assert r.status_code == 200 and r.url == page_url and "state-published" in r.text

    # open redirects are not followed; unknown tokens show the form again
    r = requests.post(f"{sandbox.url}/signin", data={"token": sandbox.token, "next": "//evil.test"},
                      allow_redirects=False)
    assert r.headers["Location"] == "/"
    r = requests.post(f"{sandbox.url}/signin", data={"token": "nope", "next": "/"})
    assert r.status_code == 401 and "Unknown token" in r.text and "Set-Cookie" not in r.headers


def test_access_token_link_redirects_without_the_token(sandbox: SandboxServer) -> None:
    draft = requests.post(
        f"{sandbox.url}/api/records/", json=minimal(), headers=auth(sandbox.token)
    ).json()
    url = draft["links"]["self_html"]
    r = requests.get(f"{url}?access_token={sandbox.token}", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == f"/records/{draft['id']}"
    assert "b2share_session=" in r.headers["Set-Cookie"]
    followed = requests.get(f"{url}?access_token={sandbox.token}")
    assert followed.url == url and followed.status_code == 200
    assert sandbox.token not in followed.text
    bad = requests.get(f"{url}?access_token=wrong")
    assert bad.status_code == 401 and "Unknown token" in bad.text and "wrong" not in bad.url


def test_deeply_nested_json_is_a_400_not_a_crash(sandbox: SandboxServer) -> None:
    """json.loads raises RecursionError (not ValueError) on deep nesting: still bad input."""
    draft = create(sandbox).json()
    headers = {**auth(sandbox.token), "Content-Type": "application/json"}
    for depth in (100, 900, 100_000):
        nested = "[" * depth + "]" * depth
        created = requests.post(f"{sandbox.url}/api/records/", data=nested, headers=headers)
        assert created.status_code == 400, created.text
        titles = f'{{"community": "{EUDAT_COMMUNITY_ID}", "titles": {nested}}}'
        created = requests.post(f"{sandbox.url}/api/records/", data=titles, headers=headers)
        assert created.status_code == 400, created.text
        patched = requests.patch(
            draft["links"]["self"],
            data=f'[{{"op": "add", "path": "/titles", "value": {nested}}}]',
            headers={**auth(sandbox.token), "Content-Type": "application/json-patch+json"},
        )
        assert patched.status_code == 400, patched.text
