"""The receipt (atomic, resumable, token-free) and the create body the publisher builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecasrepro.b2share.client import B2ShareSession
from ecasrepro.b2share.receipt import RECEIPT_FORMAT, Receipt, UploadedFile
from ecasrepro.b2share.v2 import CommunitySchema, V2Dialect, block_schema_id
from ecasrepro.config import PublishConfig, Secret
from ecasrepro.errors import BadInput

BLOCK = "c9097f4d-95b7-484a-9b10-a261bbbb20b0"


def test_receipt_round_trip_and_atomic_save(tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    receipt = Receipt(server="http://127.0.0.1:9", community="c", draft_id="a" * 32, bucket="b")
    receipt.files["notebook/x.ipynb"] = UploadedFile("notebook/x.ipynb", 3, "0" * 32, "f" * 64)
    receipt.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["receipt.json"]  # no temp file left
    data = json.loads(path.read_text())
    assert data["format"] == RECEIPT_FORMAT and data["dialect"] == "v2"
    assert data["files"]["notebook/x.ipynb"]["md5"] == "0" * 32
    again = Receipt.load(path)
    assert again is not None and again.files == receipt.files and again.draft_id == "a" * 32


def test_receipt_archive_keeps_history(tmp_path: Path) -> None:
    receipt = Receipt(server="s", draft_id="1" * 32, state="published",
                      pids={"DOI": "https://doi.org/10.5072/x"})
    receipt.archive_current()
    assert receipt.draft_id is None and receipt.files == {}
    assert receipt.previous[0]["draft_id"] == "1" * 32
    assert receipt.previous[0]["pids"]["DOI"].endswith("/x")


@pytest.mark.parametrize("text", ["{not json", '{"format": "other"}', "[]"])
def test_broken_receipts_are_one_sentence_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(text)
    with pytest.raises(BadInput) as info:
        Receipt.load(path)
    assert str(path) in str(info.value)


_GOOD = {"format": RECEIPT_FORMAT, "server": "http://127.0.0.1:9", "draft_id": "a" * 32}


@pytest.mark.parametrize("damage", [
    {"files": "x"},
    {"files": {"a": "x"}},
    {"files": {"a": {"key": "a", "size": "big", "md5": "0"}}},
    {"server": 123},
    {"server": ""},
    {"draft_id": 5},
    {"pids": []},
    {"previous": {}},
    {"create_started": "garbage", "draft_id": None},
])
def test_receipts_with_wrong_types_are_one_sentence_errors(
    tmp_path: Path, damage: dict[str, object]
) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps({**_GOOD, **damage}))
    with pytest.raises(BadInput) as info:
        Receipt.load(path)
    assert str(path) in str(info.value)


def test_a_receipt_that_is_a_directory_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "receipt.json").mkdir()
    with pytest.raises(BadInput, match=r"receipt\.json"):
        Receipt.load(tmp_path / "receipt.json")


def test_missing_receipt_is_none(tmp_path: Path) -> None:
    assert Receipt.load(tmp_path / "receipt.json") is None


def _schema(block: str | None) -> CommunitySchema:
    return CommunitySchema("comm-id", 1, 1, block, {"type": "object"})


def test_record_metadata_builds_community_specific_with_the_block_id() -> None:
    publisher = V2Dialect(B2ShareSession(PublishConfig(server="http://127.0.0.1:9",
                                                       token=Secret("t"))))
    meta = {"titles": [{"title": "x"}], "community": "other", "publication_state": "draft",
            "$schema": "s", "owners": [1], "community_specific": {"old-key": {"a": 1}}}
    record = publisher.record_metadata(meta, _schema(BLOCK))
    assert record == {"titles": [{"title": "x"}], "community": "comm-id",
                      "community_specific": {BLOCK: {"a": 1}}}
    assert publisher.record_metadata({"titles": []}, _schema(None))["community_specific"] == {}
    assert "publication_state" not in record and "$schema" not in record


def test_block_schema_id_from_the_schema_document() -> None:
    document = {"json_schema": {"allOf": [{}, {"properties": {"community_specific": {
        "required": [BLOCK], "properties": {BLOCK: {"$ref": "x"}}}}}]}}
    assert block_schema_id(document) == BLOCK
    assert block_schema_id({"json_schema": {"allOf": [{}, {"properties": {
        "community_specific": {"properties": {}}}}]}}) is None
