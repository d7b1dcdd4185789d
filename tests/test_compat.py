"""``ecasrepro.compat.EcasShare``: the predecessor's API and return shapes, minus its bugs.

Against the sandbox over real HTTP. The method list is checked against the installed
predecessor ``ecasb2share`` so a renamed or missing method fails here.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests

from ecasrepro.compat import ECAS_COMMUNITY_ID, EcasShare
from ecasrepro.errors import ConfigurationError, InvalidPID, ServerRefused
from tests.test_publish_support import (  # noqa: F401 - fixtures
    publish_env,
    server,
    token_file,
)


@pytest.fixture
def client(server: Any, token_file: Path) -> EcasShare:
    return EcasShare(url=server.url, token_file=str(token_file))


def test_every_public_method_of_the_predecessor_exists_with_compatible_arguments() -> None:
    predecessor = pytest.importorskip("ecasb2share.ecasb2shareclient").EcasShare
    for name, member in inspect.getmembers(predecessor, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(EcasShare, name, None)
        assert ours is not None, name
        theirs_params = list(inspect.signature(member).parameters)
        ours_params = list(inspect.signature(ours).parameters)
        assert ours_params[: len(theirs_params)] == theirs_params, name


def test_no_silent_default_server(publish_env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="B2SHARE_URL"):
        EcasShare()


def test_create_upload_submit_like_an_ecas_notebook(
    client: EcasShare, server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "tas_anomaly.nc"
    data.write_bytes(bytes(range(256)) * 2000)
    with caplog.at_level(logging.DEBUG):
        record_id, bucket = client.create_draft_record_with_pid(
            title="ECAS test", original_pid="hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2")
        answer = client.add_file_to_draft_record(str(data), bucket)
        status = client.submit_draft_for_publication(record_id)
    assert len(record_id) == 32 and bucket
    assert answer["key"] == "tas_anomaly.nc" and answer["size"] == data.stat().st_size
    assert answer["checksum"] == "md5:" + hashlib.md5(data.read_bytes()).hexdigest()
    assert status == 200
    record = requests.get(f"{server.url}/api/records/{record_id}", timeout=10).json()
    assert record["metadata"]["publication_state"] == "published"
    assert record["metadata"]["community"] == ECAS_COMMUNITY_ID
    assert record["metadata"]["related_identifiers"] == [{
        "related_identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
        "related_identifier_type": "Handle", "relation_type": "IsDerivedFrom"}]
    assert client.get_record_pid(record_id).startswith("http")
    downloaded = requests.get(f"{record['links']['files']}/tas_anomaly.nc", timeout=10).content
    assert downloaded == data.read_bytes()  # stored byte for byte: no multipart envelope
    assert server.token not in caplog.text


def test_reads_and_shapes(client: EcasShare, tmp_path: Path) -> None:
    communities = client.list_communities()
    assert ECAS_COMMUNITY_ID in {c["id"] for c in communities["hits"]["hits"]}
    schema = client.get_community_shema(ECAS_COMMUNITY_ID)  # the predecessor's spelling
    assert "json_schema" in schema
    record_id, bucket = client.create_draft_record(ECAS_COMMUNITY_ID, "plain")
    assert client.get_filebucketid_from_record(record_id) == bucket
    assert client.get_specific_record(record_id)["id"] == record_id
    assert client.list_files_in_bucket(bucket)["contents"] == []
    assert client.search_drafts()["hits"]["total"] >= 1
    assert client.delete_draft_record(record_id).status_code == 204


def test_metadata_json_path_is_really_read(client: EcasShare, tmp_path: Path) -> None:
    metadata_file = tmp_path / "my-metadata.json"  # the predecessor always read ./metadata.json
    metadata_file.write_text(json.dumps({
        "titles": [{"title": "from json"}], "community": ECAS_COMMUNITY_ID, "open_access": True,
        "related_identifiers": [{"related_identifier": "10.5281/zenodo.1",
                                 "related_identifier_type": "DOI",
                                 "relation_type": "IsDerivedFrom"}]}))
    record_id, _ = client.create_draft_record_with_pid(metadata_json=str(metadata_file))
    draft = client.get_specific_record(record_id)
    assert draft["metadata"]["titles"] == [{"title": "from json"}]


def test_errors_raise_with_the_servers_message(client: EcasShare) -> None:
    with pytest.raises(InvalidPID):
        client.create_draft_record_with_pid(title="t", original_pid="pid1")
    with pytest.raises(ServerRefused, match="not found"):
        client.get_specific_record("0" * 32)
