"""Record metadata: built records are valid against the real root schema; errors name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecasrepro.errors import BadInput, MetadataInvalid
from ecasrepro.metadata import (
    ECAS_COMMUNITY_ID,
    build_record_metadata,
    load_root_schema,
    load_user_metadata,
    validate_metadata,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("version", [0, 1, 2])
def test_root_schemas_load_from_package_data(version: int) -> None:
    schema = load_root_schema(version)
    assert schema["additionalProperties"] is False
    assert "titles" in schema["properties"]


def test_built_record_is_valid_v1_draft_with_ecas_defaults() -> None:
    related = [{"related_identifier": "21.14100/abc", "related_identifier_type": "Handle",
                "relation_type": "IsDerivedFrom"}]
    record = build_record_metadata(
        title="Anomaly", creators=["Doe, Jane"], description="What it does",
        keywords=["climate", "tas"], related_identifiers=related, has_outputs=True,
        technical_info="made by a test",
    )
    validate_metadata(record, load_root_schema(1), "draft")
    assert record["community"] == ECAS_COMMUNITY_ID
    assert record["open_access"] is True
    assert record["titles"] == [{"title": "Anomaly"}]
    assert record["creators"] == [{"creator_name": "Doe, Jane"}]
    assert record["keywords"] == [{"keyword": "climate"}, {"keyword": "tas"}]
    kinds = [r["resource_type_general"] for r in record["resource_types"]]
    assert kinds == ["ComputationalNotebook", "Dataset"]
    assert record["related_identifiers"] == related
    types = [d["description_type"] for d in record["descriptions"]]
    assert types == ["Abstract", "TechnicalInfo"]
    # Only the submission-time fields the server manages are missing for a full validation.
    with pytest.raises(MetadataInvalid) as info:
        validate_metadata(record, load_root_schema(1), "submit")
    missing = {e["field"] for e in info.value.field_errors}
    assert missing == {"publication_state", "community_specific"}


def test_without_outputs_there_is_no_dataset_type() -> None:
    record = build_record_metadata(title="T")
    assert [r["resource_type_general"] for r in record["resource_types"]] == [
        "ComputationalNotebook"
    ]
    assert "related_identifiers" not in record


def test_error_names_the_field_and_the_file() -> None:
    with pytest.raises(MetadataInvalid) as info:
        validate_metadata({"titles": [{"title": 5}]}, load_root_schema(1), "draft",
                          source="meta.json")
    assert str(info.value) == (
        "metadata field 'titles[0].title' must be a string, got 5; fix it in meta.json."
    )
    assert info.value.field_errors == [{"field": "titles[0].title",
                                        "message": "must be a string, got 5"}]
    assert info.value.exit_code == 2


def test_enum_and_unknown_fields_are_named() -> None:
    schema = load_root_schema(1)
    bad_type = {"related_identifiers": [{"related_identifier": "x",
                                         "relation_type": "IsDerivedFrom",
                                         "related_identifier_type": "Hdl"}]}
    with pytest.raises(MetadataInvalid, match=r"related_identifiers\[0\]\.related_identifier_type"
                       r"' must be one of .*\"Handle\".*; got \"Hdl\""):
        validate_metadata(bad_type, schema, "draft")
    with pytest.raises(MetadataInvalid, match="metadata field 'colour' is not a field"):
        validate_metadata({"colour": "blue"}, schema, "draft")
    with pytest.raises(MetadataInvalid, match=r"'titles\[0\]\.title' must not be empty"):
        validate_metadata({"titles": [{"title": ""}]}, schema, "draft")


def test_draft_ignores_required_and_min_items_like_the_server() -> None:
    schema = load_root_schema(1)
    validate_metadata({"titles": []}, schema, "draft")
    validate_metadata({"descriptions": [{"description": "no type"}]}, schema, "draft")
    with pytest.raises(MetadataInvalid, match="'titles' needs at least 1 item"):
        validate_metadata({"titles": []}, schema, "submit")
    with pytest.raises(MetadataInvalid, match=r"descriptions\[0\]\.description_type' is required"):
        validate_metadata({"titles": [{"title": "t"}], "community": "c", "open_access": True,
                           "publication_state": "draft", "community_specific": {},
                           "descriptions": [{"description": "no type"}]}, schema, "submit")


def test_validator_is_schema_agnostic() -> None:
    block = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    validate_metadata({}, block, "draft")
    with pytest.raises(MetadataInvalid, match="'n' is required"):
        validate_metadata({}, block, "submit")
    with pytest.raises(MetadataInvalid, match="'n' must be an integer"):
        validate_metadata({"n": "1"}, block, "draft")


def test_seed_style_metadata_file_is_accepted_as_is() -> None:
    user = load_user_metadata(EXAMPLES / "metadata.json")
    validate_metadata(user, load_root_schema(1), "draft")
    assert len(user["related_identifiers"]) >= 2
    assert {r["relation_type"] for r in user["related_identifiers"]} == {"IsDerivedFrom"}


def test_flags_win_over_the_file_and_lists_are_unioned() -> None:
    user = {"titles": [{"title": "From file"}, {"title": "Sub", "type": "Subtitle"}],
            "community": "abc", "open_access": False, "keywords": [{"keyword": "a"}],
            "creators": [{"creator_name": "File, Author"}], "version": "1.0"}
    record = build_record_metadata(title="From flag", keywords=["a", "b"], creators=["X"],
                                   user_metadata=user, community="flag-community")
    assert record["titles"] == [{"title": "From flag"}, {"title": "Sub", "type": "Subtitle"}]
    assert record["community"] == "flag-community"
    assert record["open_access"] is False  # no flag for it: the file's value stays
    assert record["keywords"] == [{"keyword": "a"}, {"keyword": "b"}]
    assert record["creators"] == [{"creator_name": "File, Author"}, {"creator_name": "X"}]
    assert record["version"] == "1.0"
    # A fallback title (not a flag) does not override the file's title.
    fallback = build_record_metadata(title="notebook", user_metadata=user, title_from_flag=False)
    assert fallback["titles"][0] == {"title": "From file"}
    assert fallback["community"] == "abc"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds a JSON array, not an object"),
        (b"\xff\xfe\x00", "cannot be read"),
    ],
)
def test_unreadable_metadata_files_are_bad_input(
    tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "meta.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(BadInput, match=expected) as info:
        load_user_metadata(path)
    assert "meta.json" in str(info.value)
    assert "\n" not in str(info.value)


def test_examples_metadata_is_json_object() -> None:
    assert isinstance(json.loads((EXAMPLES / "metadata.json").read_text()), dict)


def test_draft_mode_stays_lenient_inside_a_community_schema_all_of() -> None:
    """A community schema nests the root schema and a block, each with its own ``$schema``."""
    root = load_root_schema(1)
    block = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
             "properties": {"n": {"type": "integer"}, "tags": {"type": "array", "minItems": 1}},
             "required": ["n"], "additionalProperties": False}
    community = {"$schema": "http://json-schema.org/draft-04/schema#", "allOf": [
        root, {"type": "object", "properties": {"community_specific": {
            "type": "object", "properties": {"b1": block}, "required": ["b1"]}}}]}
    draft = {"titles": [], "community_specific": {"b1": {"tags": []}}}
    validate_metadata(draft, community, "draft")  # required/minItems ignored at every depth
    with pytest.raises(MetadataInvalid, match=r"'community_specific\.b1\.n' must be an integer"):
        validate_metadata({"community_specific": {"b1": {"n": "1"}}}, community, "draft")
    with pytest.raises(MetadataInvalid, match=r"needs at least 1 item \(and 5 more problems\)"):
        validate_metadata(draft, community, "submit")
    assert community["allOf"][1]["properties"]["community_specific"]["properties"]["b1"][
        "$schema"].startswith("http")  # the caller's schema is not modified
