"""PID parsing: every accepted spelling, rejections that name the value, and properties."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecasrepro.errors import BadInput, InvalidPID
from ecasrepro.pids import (
    RELATION_TYPES,
    RelatedIdentifier,
    normalise_pid,
    parse_pid,
    related_identifiers,
)

UUID = "6c3c7b0e-2b1a-4b8e-9d53-2f0d1c3e4a5b"


@pytest.mark.parametrize(
    ("text", "identifier", "pid_type", "resolver"),
    [
        (f"hdl:21.14100/{UUID}", f"21.14100/{UUID}", "Handle", f"https://hdl.handle.net/21.14100/{UUID}"),
        (f"HDL:21.14100/{UUID}", f"21.14100/{UUID}", "Handle", None),
        (f"https://hdl.handle.net/21.14100/{UUID}", f"21.14100/{UUID}", "Handle", None),
        (f"http://hdl.handle.net/21.14100/{UUID}", f"21.14100/{UUID}", "Handle", None),
        (f"hdl.handle.net/21.14100/{UUID}", f"21.14100/{UUID}", "Handle", None),
        (f"https://hdl.handle.net/21.14100/{UUID}?noredirect", f"21.14100/{UUID}", "Handle", None),
        (f"  21.14100/{UUID}\n", f"21.14100/{UUID}", "Handle", None),
        ("21.T11148/abc", "21.T11148/abc", "Handle", "https://hdl.handle.net/21.T11148/abc"),
        ("0.NA/21.14100", "0.NA/21.14100", "Handle", None),
        ("http://hdl.handle.net/0000/abc-1", "0000/abc-1", "Handle", None),
        ("11858/00-1735-0000-0001-2FC4-B", "11858/00-1735-0000-0001-2FC4-B", "Handle", None),
        ("doi:10.1234/xyz", "10.1234/xyz", "DOI", "https://doi.org/10.1234/xyz"),
        ("DOI:10.5281/ZENODO.42", "10.5281/ZENODO.42", "DOI", None),
        ("https://doi.org/10.1234/xyz", "10.1234/xyz", "DOI", None),
        ("http://dx.doi.org/10.1234/xyz", "10.1234/xyz", "DOI", None),
        ("doi.org/10.1234/a/b", "10.1234/a/b", "DOI", None),
        ("https://doi.org/10.1000/a%3Cb%3E", "10.1000/a<b>", "DOI", "https://doi.org/10.1000/a%3Cb%3E"),
        ("10.1234/xyz", "10.1234/xyz", "DOI", None),
        ("hdl:10.1234/xyz", "10.1234/xyz", "DOI", None),
        ("https://Example.ORG/data?x=1#f", "https://example.org/data?x=1#f", "URL", "https://example.org/data?x=1#f"),
        ("http://example.org", "http://example.org", "URL", None),
        # B2SHARE's fake DOI mode is not a DOI (no 10. prefix): kept as the URL it is
        ("http://doi.org/00.0000/b2share.1", "http://doi.org/00.0000/b2share.1", "URL", None),
    ],
)
def test_accepted_forms(text: str, identifier: str, pid_type: str, resolver: str | None) -> None:
    pid = parse_pid(text)
    assert pid.identifier == identifier
    assert pid.type == pid_type
    assert pid.relation_type == "IsDerivedFrom"
    if resolver is not None:
        assert pid.resolver_url == resolver
    assert normalise_pid(text) == identifier
    assert parse_pid(pid.resolver_url).identifier == identifier


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("21.14100/abc def", "whitespace"),
        ("21.14100/abc\x00", "control"),
        ("ftp://example.org/file.nc", "scheme 'ftp'"),
        ("urn:nbn:de:1234", "scheme 'urn'"),
        ("data/file.nc", "not a Handle"),
        ("hdl:nonsense", "not a valid Handle"),
        ("doi:21.14100/abc", "not a valid DOI"),
        ("21.14100/", "not a Handle"),
        ("https://", "no host"),
        ("just-a-word", "not a Handle"),
        ("https://doi.org/", "names no identifier"),
        ("https://hdl.handle.net", "names no identifier"),
        ("doi.org/", "names no identifier"),
        ("https://dx.doi.org/?noredirect", "names no identifier"),
    ],
)
def test_rejected_forms_name_the_value(text: str, why: str) -> None:
    with pytest.raises(InvalidPID) as caught:
        parse_pid(text)
    message = str(caught.value)
    assert repr(text) in message
    assert why in message
    assert "hdl:21.14100/abc" in message  # the accepted forms are listed
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert isinstance(caught.value, BadInput)


def test_url_credentials_rejected_without_echoing_them() -> None:
    with pytest.raises(InvalidPID) as caught:
        parse_pid("https://alice:s3cr3tpassw0rd@data.example.org/x.nc")
    assert "s3cr3tpassw0rd" not in str(caught.value)
    assert "data.example.org" in str(caught.value)


def test_b2share_v2_round_trip_and_seed_example() -> None:
    seed = {
        "related_identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
        "related_identifier_type": "Handle",
        "relation_type": "IsDerivedFrom",
    }
    pid = RelatedIdentifier.from_b2share_v2(seed)
    assert pid.to_b2share_v2() == seed
    other = RelatedIdentifier.from_b2share_v2(
        {"related_identifier": "https://doi.org/10.1/x", "related_identifier_type": "DOI",
         "relation_type": "IsDocumentedBy"}
    )
    assert other == RelatedIdentifier("10.1/x", "DOI", "IsDocumentedBy")
    # a DOI declared as Handle keeps the declared type (every DOI is a Handle)
    assert RelatedIdentifier.from_b2share_v2(
        {"related_identifier": "10.1/x", "related_identifier_type": "Handle",
         "relation_type": "IsDerivedFrom"}
    ).type == "Handle"


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ({"related_identifier": "nope", "related_identifier_type": "Handle",
          "relation_type": "IsDerivedFrom"}, "'nope'"),
        ({"related_identifier": "21.1/x", "related_identifier_type": "ARK",
          "relation_type": "IsDerivedFrom"}, "'ARK'"),
        ({"related_identifier": "21.1/x", "related_identifier_type": "Handle",
          "relation_type": "IsMadeOf"}, "'IsMadeOf'"),
        ({"related_identifier": "21.1/x", "related_identifier_type": "DOI",
          "relation_type": "IsDerivedFrom"}, "'21.1/x'"),
        ({"related_identifier_type": "DOI"}, "related_identifier"),
        ("21.1/x", "'21.1/x'"),
    ],
)
def test_b2share_v2_bad_items(item: object, named: str) -> None:
    with pytest.raises(InvalidPID) as caught:
        RelatedIdentifier.from_b2share_v2(item)  # type: ignore[arg-type]
    assert named in str(caught.value)


def test_related_identifiers_dedupes_after_normalisation_in_order() -> None:
    found = related_identifiers(
        [
            "hdl:21.14100/b",
            "https://doi.org/10.1234/X",
            "21.14100/a",
            "http://hdl.handle.net/21.14100/b",
            {"related_identifier": "10.1234/x", "related_identifier_type": "DOI",
             "relation_type": "IsDerivedFrom"},  # DOIs are case-insensitive
            RelatedIdentifier("21.14100/a", "Handle"),
            "https://example.org/x",
        ]
    )
    assert [p.identifier for p in found] == [
        "21.14100/b", "10.1234/X", "21.14100/a", "https://example.org/x"
    ]


def test_relation_types_match_the_shipped_root_schema() -> None:
    schema_dir = files("ecasrepro") / "data" / "b2share" / "v2" / "root_schemas"
    schema_file = schema_dir / "root_schema_v1.json"
    schema = json.loads(schema_file.read_text())
    items = schema["json_schema"]["properties"]["related_identifiers"]["items"]
    assert tuple(items["properties"]["relation_type"]["enum"]) == RELATION_TYPES
    id_types = schema["json_schema"]["definitions"]["identifierType"]["enum"]
    assert {"Handle", "DOI", "URL"} <= set(id_types)


def test_pids_module_stays_light() -> None:
    code = (
        "import sys, ecasrepro.pids; "
        "heavy = [m for m in ('git', 'requests', 'jsonschema', 'nbformat', 'nbconvert') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- properties -------------------------------------------------------------------------

pid_like = st.one_of(
    st.text(),
    st.from_regex(r"\A(hdl:|doi:|https?://(hdl\.handle\.net|doi\.org|dx\.doi\.org)/)?"
                  r"[0-9]{1,5}(\.[0-9A-Za-z]{1,6}){0,2}/\S{1,20}\Z"),
    st.from_regex(r"\Ahttps?://[A-Za-z0-9.-]{1,20}(:[0-9]{1,5})?(/\S{0,20})?\Z"),
    st.builds(lambda a, b: a + b, st.sampled_from(["hdl:", "doi:", "https://", "10.", "21.T1/"]),
              st.text()),
)


@settings(max_examples=500, deadline=None)
@given(pid_like)
def test_no_string_crashes_the_parser(text: str) -> None:
    try:
        parse_pid(text)
    except InvalidPID as exc:
        assert str(exc).startswith("The input identifier")


@settings(max_examples=500, deadline=None)
@given(pid_like)
def test_normalising_twice_changes_nothing(text: str) -> None:
    try:
        once = parse_pid(text)
    except InvalidPID:
        return
    assert normalise_pid(once.identifier) == once.identifier
    again = parse_pid(once.identifier)
    assert again == once
    assert parse_pid(once.resolver_url) == once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "hdl:21.14100/a", "21.14100/a", "https://hdl.handle.net/21.14100/b", "doi:10.1/Q",
    "10.1/q", "https://example.org/", "https://example.org/x", "21.14100/c",
])))
def test_dedupe_keeps_first_occurrence_order(values: list[str]) -> None:
    found = related_identifiers(values)
    keys = [p.key for p in found]
    assert len(keys) == len(set(keys))
    expected: list[tuple[str, str]] = []
    for value in values:
        key = parse_pid(value).key
        if key not in expected:
            expected.append(key)
    assert keys == expected
