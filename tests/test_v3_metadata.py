"""The v2-form bundle metadata -> B2SHARE v3 (InvenioRDM) mapping and its local validation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ecasrepro.b2share.v3_metadata import (
    DEFAULT_PUBLISHER,
    record_errors,
    split_name,
    to_v3_record,
    validate_v3_record,
    vocabulary,
)
from ecasrepro.errors import MetadataInvalid
from ecasrepro.metadata import build_record_metadata
from ecasrepro.pids import RELATION_TYPES, parse_pid

TODAY = dt.date(2026, 3, 14)


def full_v2() -> dict:
    return {
        "titles": [{"title": "Sea ice trends"}, {"title": "Meereis", "type": "TranslatedTitle"}],
        "creators": [{"creator_name": "Doe, Jane"}, {"creator_name": "DKRZ"},
                     {"creator_name": "Max Planck Institute for Meteorology"},
                     {"creator_name": "Ada Lovelace"}],
        "descriptions": [{"description": "Tech", "description_type": "TechnicalInfo"},
                         {"description": "Abstract text", "description_type": "Abstract"}],
        "keywords": [{"keyword": "climate"}, "ice", {"keyword": "climate"}],
        "community": "d2c6e694-0c0a-4884-ad15-ddf498008320",
        "open_access": True,
        "license": {"license": "CC-BY-4.0",
                    "license_uri": "https://creativecommons.org/licenses/by/4.0/"},
        "resource_types": [{"resource_type_general": "ComputationalNotebook"},
                           {"resource_type_general": "Dataset"}],
        "related_identifiers": [
            parse_pid("hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2").to_b2share_v2(),
            parse_pid("https://doi.org/10.1029/2019JD032361").to_b2share_v2(),
            parse_pid("https://example.org/data.nc").to_b2share_v2(),
        ],
    }


def test_full_mapping_matches_the_v3_model() -> None:
    record = to_v3_record(full_v2(), today=TODAY)
    md = record.metadata
    assert md["title"] == "Sea ice trends"
    assert md["additional_titles"] == [{"title": "Meereis", "type": {"id": "translated-title"}}]
    assert md["creators"][0] == {"person_or_org": {"type": "personal", "family_name": "Doe",
                                                   "given_name": "Jane"}}
    assert md["creators"][1]["person_or_org"] == {"type": "organizational", "name": "DKRZ"}
    assert md["creators"][2]["person_or_org"]["type"] == "organizational"
    assert md["creators"][3]["person_or_org"] == {"type": "personal", "family_name": "Lovelace",
                                                  "given_name": "Ada"}
    assert md["description"] == "Abstract text"
    assert md["additional_descriptions"] == [{"description": "Tech",
                                              "type": {"id": "technical-info"}}]
    assert md["subjects"] == [{"subject": "climate"}, {"subject": "ice"}]
    assert md["resource_types"] == [{"id": "software-computationalnotebook"}, {"id": "dataset"}]
    assert md["rights"] == [{"id": "cc-by-4.0"}]
    assert md["publication_date"] == "2026-03-14"
    assert md["publisher"] == DEFAULT_PUBLISHER
    assert record.body["access"] == {"record": "public", "files": "public"}
    assert record.body["files"] == {"enabled": True}
    assert record.community == "d2c6e694-0c0a-4884-ad15-ddf498008320"
    assert record_errors(record.body) == []
    assert record.warnings == []


def test_pids_of_each_scheme_become_v3_related_identifiers() -> None:
    md = to_v3_record(full_v2(), today=TODAY).metadata
    assert md["related_identifiers"] == [
        {"identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2", "scheme": "handle",
         "relation_type": {"id": "isderivedfrom"}},
        {"identifier": "10.1029/2019JD032361", "scheme": "doi",
         "relation_type": {"id": "isderivedfrom"}},
        {"identifier": "https://example.org/data.nc", "scheme": "url",
         "relation_type": {"id": "isderivedfrom"}},
    ]


def test_every_v2_relation_type_is_a_v3_relation_type() -> None:
    known = vocabulary("relationtypes")
    assert len(known) == 34
    assert {r.lower() for r in RELATION_TYPES} == set(known)


def test_bundle_metadata_as_snapshot_writes_it_maps_cleanly() -> None:
    v2 = build_record_metadata(
        title="Example", creators=["Doe, Jane"], description="d", keywords=["k"],
        related_identifiers=[parse_pid("doi:10.1000/x").to_b2share_v2()], has_outputs=True,
        technical_info="python 3.11")
    record = to_v3_record(v2, today=TODAY)
    assert record_errors(record.body) == []
    assert record.metadata["resource_types"] == [{"id": "software-computationalnotebook"},
                                                 {"id": "dataset"}]
    example = json.loads((Path(__file__).parents[1] / "examples" / "metadata.json").read_text())
    assert record_errors(to_v3_record(example).body, mode="draft") == []


@pytest.mark.parametrize(("name", "expected"), [
    ("Doe, Jane", {"type": "personal", "family_name": "Doe", "given_name": "Jane"}),
    ("van der Berg, Anna Maria",
     {"type": "personal", "family_name": "van der Berg", "given_name": "Anna Maria"}),
    ("  Doe ,  Jane ", {"type": "personal", "family_name": "Doe", "given_name": "Jane"}),
    ("EUDAT", {"type": "organizational", "name": "EUDAT"}),
    ("German Climate Computing Centre",
     {"type": "organizational", "name": "German Climate Computing Centre"}),
    ("Grace Brewster Hopper",
     {"type": "personal", "family_name": "Hopper", "given_name": "Grace Brewster"}),
])
def test_names_split_into_person_or_org(name: str, expected: dict) -> None:
    assert split_name(name) == expected


def test_explicit_v2_name_parts_and_orcid_win() -> None:
    v2 = {"titles": [{"title": "T t t"}], "creators": [
        {"creator_name": "X", "family_name": "Curie", "given_name": "Marie",
         "name_identifiers": [{"scheme": "ORCID",
                               "name_identifier": "https://orcid.org/0000-0002-1825-0097"}],
         "affiliations": [{"affiliation_name": "Sorbonne"}]},
        {"creator_name": "Jane Doe", "name_type": "Organizational"}]}
    creators = to_v3_record(v2, today=TODAY).metadata["creators"]
    assert creators[0] == {
        "person_or_org": {"type": "personal", "family_name": "Curie", "given_name": "Marie",
                          "identifiers": [{"scheme": "orcid",
                                           "identifier": "0000-0002-1825-0097"}]},
        "affiliations": [{"name": "Sorbonne"}]}
    assert creators[1]["person_or_org"] == {"type": "organizational", "name": "Jane Doe"}


def test_rights_from_licence_name_url_or_free_text_and_access_from_open_access() -> None:
    base = {"titles": [{"title": "Title"}], "creators": ["Doe, J"]}
    by_url = to_v3_record({**base, "license": {
        "license": "Creative Commons Zero", "license_uri": "https://creativecommons.org/publicdomain/zero/1.0/"}})
    assert by_url.metadata["rights"] == [{"id": "cc0-1.0"}]
    free = to_v3_record({**base, "license": {"license": "Internal use only"}})
    assert free.metadata["rights"] == [{"title": {"en": "Internal use only"}}]
    assert record_errors(free.body) == []
    closed = to_v3_record({**base, "open_access": False})
    assert closed.body["access"] == {"record": "public", "files": "restricted"}
    assert "rights" not in closed.metadata  # no licence given: none is invented
    embargoed = to_v3_record({**base, "embargo_date": "2030-01-01"})
    assert embargoed.body["access"]["embargo"] == {"active": True, "until": "2030-01-01"}


def test_dates_publisher_version_language() -> None:
    v2 = {"titles": [{"title": "Title"}], "publication_date": "2024-05-01",
          "publisher": "DKRZ", "version": "1.2", "language": "eng"}
    md = to_v3_record(v2, today=TODAY).metadata
    assert (md["publication_date"], md["publisher"], md["version"]) == ("2024-05-01", "DKRZ",
                                                                        "1.2")
    assert md["languages"] == [{"id": "eng"}]
    assert to_v3_record({"titles": [{"title": "Title"}]}).metadata["publication_date"] == \
        dt.date.today().isoformat()
    bad = to_v3_record({**v2, "publication_date": "May 2024"})
    with pytest.raises(MetadataInvalid, match=r"metadata\.publication_date"):
        validate_v3_record(bad.body, "metadata.json", mode="draft")


def test_unknown_vocabulary_id_names_the_field() -> None:
    v2 = full_v2()
    v2["resource_types"] = [{"resource_type_general": "Spreadsheet"}]
    with pytest.raises(MetadataInvalid) as info:
        validate_v3_record(to_v3_record(v2).body, "b/data/metadata.json")
    message = str(info.value)
    assert "metadata.resource_types.0.id" in message and "'spreadsheet'" in message
    assert message.count(".") >= 1 and "\n" not in message

    v2 = full_v2()
    v2["related_identifiers"][0]["relation_type"] = "IsInspiredBy"
    with pytest.raises(MetadataInvalid, match=r"related_identifiers\.0\.relation_type\.id"):
        validate_v3_record(to_v3_record(v2).body, "m")

    v2 = full_v2()
    v2["related_identifiers"][1]["related_identifier"] = "not-a-doi"
    with pytest.raises(MetadataInvalid, match=r"related_identifiers\.1\.identifier"):
        validate_v3_record(to_v3_record(v2).body, "m")


def test_missing_creators_only_block_submission() -> None:
    body = to_v3_record({"titles": [{"title": "Title"}]}).body
    assert record_errors(body, mode="draft") == []
    with pytest.raises(MetadataInvalid, match=r"metadata\.creators is missing"):
        validate_v3_record(body, "m", mode="submit")
    with pytest.raises(MetadataInvalid, match=r"metadata\.title"):
        validate_v3_record(to_v3_record({"titles": []}).body, "m", mode="draft")


def test_mapping_is_pure_and_reports_what_it_drops() -> None:
    v2 = {**full_v2(), "community_specific": {"abc": {"x": 1}}, "funny": 1}
    snapshot = json.dumps(v2, sort_keys=True)
    record = to_v3_record(v2, today=TODAY)
    assert json.dumps(v2, sort_keys=True) == snapshot
    assert to_v3_record(v2, today=TODAY).body == record.body
    assert any("community_specific" in w for w in record.warnings)
    assert any("'funny'" in w for w in record.warnings)
