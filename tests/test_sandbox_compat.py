"""Clients we did not write work against the sandbox: the unmodified ``ecasb2share`` 0.0.1b16 and
plain ``requests`` calls in the style of EUDAT's B2SHARE training material."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from ecasrepro.sandbox import (
    ECAS_BLOCK_SCHEMA_ID,
    ECAS_COMMUNITY_ID,
    EUDAT_COMMUNITY_ID,
    SandboxServer,
)

ECAS_METADATA = {
    "titles": [{"title": "ECAS TEST Multiple PIDs"}],
    "community": ECAS_COMMUNITY_ID,
    "related_identifiers": [
        {
            "related_identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
            "related_identifier_type": "Handle",
            "relation_type": "IsDerivedFrom",
        },
        {
            "related_identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc1",
            "related_identifier_type": "Handle",
            "relation_type": "IsDerivedFrom",
        },
    ],
    "open_access": True,
}


def test_ecasb2share_client_unmodified(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecasb2share.ecasb2shareclient import EcasShare

    token_file = tmp_path / "token.txt"
    token_file.write_text(sandbox.token + "\n")
    monkeypatch.chdir(tmp_path)  # its loader always opens ./metadata.json
    (tmp_path / "metadata.json").write_text(json.dumps(ECAS_METADATA))
    client = EcasShare(url=sandbox.url, token_file=str(token_file))

    communities = client.list_communities()
    assert ECAS_COMMUNITY_ID in {c["id"] for c in communities["hits"]["hits"]}

    record_id, bucket_id = client.create_draft_record_with_pid(metadata_json="metadata.json")
    draft = client.get_specific_record(record_id)
    assert draft["metadata"]["related_identifiers"] == ECAS_METADATA["related_identifiers"]
    assert draft["metadata"]["community_specific"] == {ECAS_BLOCK_SCHEMA_ID: {}}
    assert draft["links"]["files"].endswith(bucket_id)
    assert client.list_files_in_bucket(bucket_id)["contents"] == []
    assert client.search_drafts()["hits"]["total"] == 1

    # Its upload sends a multipart body labelled 'octet-stream': stored byte for byte, envelope too.
    data_file = tmp_path / "result.nc"
    content = b"CDF\x01" + bytes(range(256)) * 64
    data_file.write_bytes(content)
    stored = client.add_file_to_draft_record(str(data_file), bucket_id)
    assert stored["key"] == "result.nc" and stored["size"] > len(content)
    body = requests.get(
        f"{sandbox.url}/api/files/{bucket_id}/result.nc", params={"access_token": sandbox.token}
    ).content
    assert (
        body.startswith(b"--") and content in body and b'name="file"; filename="result.nc"' in body
    )
    assert stored["checksum"] == "md5:" + hashlib.md5(body).hexdigest()
    assert [c["key"] for c in client.list_files_in_bucket(bucket_id)["contents"]] == ["result.nc"]


def test_training_style_requests_end_to_end(sandbox: SandboxServer, tmp_path: Path) -> None:
    url, token = sandbox.url, sandbox.token
    header = {"Content-Type": "application/json"}
    metadata = {
        "titles": [{"title": "My test upload"}],
        "community": EUDAT_COMMUNITY_ID,
        "open_access": True,
        "community_specific": {},
    }
    r = requests.post(
        url + "/api/records/",
        params={"access_token": token},
        data=json.dumps(metadata),
        headers=header,
    )
    assert r.status_code == 201
    draft = r.json()
    upload = tmp_path / "sequence.txt"
    upload.write_text("ACGT" * 110)
    with upload.open("rb") as fh:
        put = requests.put(
            draft["links"]["files"] + "/sequence.txt",
            data=fh,
            params={"access_token": token},
            headers={"Accept": "application/json", "Content-Type": "application/octet-stream"},
        )
    assert put.status_code == 200 and put.json()["size"] == 440
    patch = [
        {"op": "add", "path": "/keywords", "value": ["keyword1", "keyword2"]},
        {
            "op": "add",
            "path": "/descriptions",
            "value": [{"description": "My first dataset", "description_type": "Abstract"}],
        },
    ]
    r = requests.patch(
        draft["links"]["self"],
        data=json.dumps(patch),
        params={"access_token": token},
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200 and r.json()["metadata"]["keywords"] == ["keyword1", "keyword2"]
    submit = [{"op": "add", "path": "/publication_state", "value": "submitted"}]
    r = requests.patch(
        draft["links"]["self"],
        data=json.dumps(submit),
        params={"access_token": token},
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.json()["metadata"]["publication_state"] == "published"
    record = requests.get(url + "/api/records/" + draft["id"]).json()
    assert record["files"][0]["key"] == "sequence.txt"
    r = requests.post(
        url + "/api/records/",
        params={"access_token": token, "version_of": draft["id"]},
        headers={"Content-type": "application/json"},
    )
    assert r.status_code == 201 and r.json()["metadata"]["keywords"] == ["keyword1", "keyword2"]
    listing = requests.get(url + "/api/records/", params={"q": "keyword1"}).json()
    assert listing["hits"]["total"] == 1
