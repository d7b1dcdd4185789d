"""One rule, one verdict: the client's local v3 check and the v3 sandbox agree on dates and PIDs.

Both use ``ecasrepro.dates.is_edtf_date`` and ``ecasrepro.pids.v3_identifier``; these tests send
the body the client builds to the sandbox over HTTP and compare the two verdicts, on the values
where the client's and the sandbox's former patterns disagreed.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from ecasrepro.b2share.v3_metadata import SCHEMES, record_errors, to_v3_record, validate_v3_record
from ecasrepro.dates import is_edtf_date
from ecasrepro.errors import MetadataInvalid
from ecasrepro.pids import parse_pid, v3_identifier
from ecasrepro.sandbox import SandboxServer

# (value, does a v3 server accept it as a date?) -- edtf level 0 through marshmallow-utils.
DATES = [
    ("2024", True),
    ("2024-05", True),
    ("2024-05-31", True),
    ("0000", True),
    ("-0100", True),  # the edtf grammar has negative years at level 0
    ("2024-02-29", True),
    ("2023-02-29", True),  # the edtf grammar allows 29 February in every year
    ("2024-13-01", False),
    ("2024-13", False),
    ("2024-00", False),
    ("2024-01-00", False),
    ("2024-02-30", False),
    ("2024-04-31", False),
    ("2024-12-32", False),
    ("-0000", False),
    ("2024-5", False),
    ("24-05-01", False),
    ("2024-05-01T10:00:00", False),  # a date-time is not a Date or an Interval
    ("26/11/2025", False),
    ("2024/2025", True),
    ("2024-06/2024", True),  # ends 2024-12-31, after it starts
    ("2024-03-01/2024-03-01", True),
    ("2025/2024", False),  # not chronological
    ("2024-07/2024-06", False),
    ("2023-02-29/2023-02", False),  # February 2023 ends on the 28th
    ("2024-01/2024-13", False),
    ("2024/", False),
    ("/2024", False),
    ("2024/2025/2026", False),
]
# The mapping trims publication_date before sending, so these are checked here only.
UNTRIMMED = [("2024 ", False), ("\t2024", False), ("2024\n", False)]


def _v2(**fields: Any) -> dict[str, Any]:
    return {
        "titles": [{"title": "Sea ice trends"}],
        "creators": [{"creator_name": "Doe, Jane"}],
        "resource_types": [{"resource_type_general": "Dataset"}],
        "license": {"license": "CC-BY-4.0"},
        **fields,
    }


def _fields(errors: list[dict[str, Any]]) -> set[str]:
    return {str(item["field"]) for item in errors}


def _sandbox_errors(server: SandboxServer, body: dict[str, Any]) -> dict[str, Any]:
    """POST the draft body; the 201 answer (drafts are saved even when invalid)."""
    r = requests.post(server.url + "/api/records", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {server.users[0].token}"})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.parametrize(("value", "accepted"), DATES + UNTRIMMED)
def test_edtf_check_follows_the_server_grammar(value: str, accepted: bool) -> None:
    assert is_edtf_date(value) is accepted


def test_client_and_sandbox_reach_the_same_date_verdict(sandbox_v3: SandboxServer) -> None:
    disagreements = []
    for value, accepted in DATES:
        body = to_v3_record(_v2(publication_date=value)).body
        client_ok = "metadata.publication_date" not in _fields(record_errors(body, "draft"))
        body["metadata"]["dates"] = [{"date": value, "type": {"id": "collected"}}]
        answer = _sandbox_errors(sandbox_v3, body)
        bad = _fields(answer.get("errors", []))
        sandbox_ok = "metadata.publication_date" not in bad
        dates_ok = "metadata.dates.0.date" not in bad
        stored = answer["metadata"].get("publication_date")
        if not client_ok == sandbox_ok == dates_ok == accepted or (stored == value) != accepted:
            disagreements.append((value, accepted, client_ok, sandbox_ok, dates_ok, stored))
    assert disagreements == []


# (v2 type, identifier, stored as by a v3 server or None when refused) -- idutils' rules.
IDENTIFIERS = [
    ("Handle", "21.14100/abc", "21.14100/abc"),
    ("Handle", "hdl:21.14100/abc", "21.14100/abc"),
    ("Handle", "HDL:21.14100/abc", "21.14100/abc"),
    ("Handle", "hdl: 21.14100/abc", "21.14100/abc"),
    ("Handle", "https://hdl.handle.net/21.14100/abc", "21.14100/abc"),
    ("Handle", "HTTPS://HDL.HANDLE.NET/21.14100/abc", "21.14100/abc"),
    ("Handle", "http://hdl.handle.net/0000/x", "0000/x"),
    ("Handle", "21.T11148/abc", "21.T11148/abc"),
    ("Handle", "10.1234/abc", "10.1234/abc"),  # a DOI is a Handle
    ("Handle", "21.14100/", "21.14100/"),  # idutils: the local name may be empty
    ("Handle", "no-slash", None),
    ("Handle", ".21/abc", None),
    ("DOI", "10.1234/abc", "10.1234/abc"),
    ("DOI", "doi:10.1234/abc", "10.1234/abc"),
    ("DOI", "DOI: 10.1234/abc", "10.1234/abc"),
    ("DOI", "https://doi.org/10.1234/ABC", "10.1234/ABC"),
    ("DOI", "http://dx.doi.org/10.1234.5/abc", "10.1234.5/abc"),
    ("DOI", "doi.org/10.1234/abc", "10.1234/abc"),
    ("DOI", " 10.1234/abc ", "10.1234/abc"),  # the server trims; the client used not to
    ("DOI", "10.abc/x", None),
    ("DOI", "10/abc", None),
    ("DOI", "10.1234/", None),
    ("DOI", "https://www.doi.org/10.1234/abc", None),
    ("DOI", "not-a-doi", None),
    ("URL", "https://example.org/data.nc", "https://example.org/data.nc"),
    ("URL", "https://example.org?x=1", "https://example.org?x=1"),
    ("URL", "https://example.org:8443/a", "https://example.org:8443/a"),
    ("URL", "http://[::1]:8080/a", "http://[::1]:8080/a"),  # was refused by the sandbox
    ("URL", "https://example.org:abc/a", "https://example.org:abc/a"),  # sandbox only, too
    ("URL", "https://exa mple.org/a", None),  # idutils takes it; we keep refusing blanks
    ("URL", "ftp://example.org/a", "ftp://example.org/a"),
    ("URL", "http://[::1/a", None),  # was accepted by the client only
    ("URL", "example.org/data.nc", None),
    ("URL", "http:///data.nc", None),
    ("URL", "doi:10.1234/abc", None),
]


@pytest.mark.parametrize(("v2_type", "identifier", "stored"), IDENTIFIERS)
def test_v3_identifier_follows_idutils(v2_type: str, identifier: str, stored: str | None) -> None:
    assert v3_identifier(SCHEMES[v2_type], identifier) == stored


def test_client_and_sandbox_reach_the_same_identifier_verdict(sandbox_v3: SandboxServer) -> None:
    items = [{"related_identifier": identifier, "related_identifier_type": v2_type,
              "relation_type": "IsDerivedFrom"} for v2_type, identifier, _ in IDENTIFIERS]
    body = to_v3_record(_v2(related_identifiers=items)).body
    client_bad = _fields(record_errors(body, "draft"))
    answer = _sandbox_errors(sandbox_v3, body)
    sandbox_bad = _fields(answer.get("errors", []))
    kept = iter(answer["metadata"].get("related_identifiers", []))
    disagreements = []
    for n, (v2_type, identifier, stored) in enumerate(IDENTIFIERS):
        field = f"metadata.related_identifiers.{n}.identifier"
        client_ok, sandbox_ok = field not in client_bad, field not in sandbox_bad
        entry = next(kept)["identifier"]  # a bad entry is kept as sent (partial save)
        sandbox_stored = entry if sandbox_ok else None
        if not client_ok == sandbox_ok == (stored is not None) or sandbox_stored != stored:
            disagreements.append((v2_type, identifier, client_ok, sandbox_ok, sandbox_stored))
    assert disagreements == []
    assert next(kept, None) is None


handles = st.from_regex(r"\A(hdl:|https?://hdl\.handle\.net/)?2[0-9]{1,4}(\.[0-9A-Za-z]{1,6}){0,2}"
                        r"/[!-~]{1,30}\Z")
dois = st.from_regex(r"\A(doi:|https?://(dx\.|www\.)?doi\.org/)?10\.[0-9]{1,6}(\.[0-9]{1,3})?"
                     r"/[!-~]{1,30}\Z")
urls = st.from_regex(r"\Ahttps?://[a-z0-9]{1,12}(\.[a-z]{2,5})?(:[0-9]{1,5})?(/[!-~]{0,30})?\Z")


@settings(max_examples=300, deadline=None)
@given(st.one_of(handles, dois, urls))
def test_every_canonical_pid_is_one_the_v3_server_stores_unchanged(text: str) -> None:
    pid = parse_pid(text)
    assert v3_identifier(SCHEMES[pid.type], pid.identifier) == pid.identifier


def test_a_short_doi_is_refused_before_any_write() -> None:
    """parse_pid reads ``10/abc`` (a short DOI) as a DOI; the v3 DOI rule needs ``10.<digits>``."""
    pid = parse_pid("doi:10/abcde")
    assert (pid.type, v3_identifier("doi", pid.identifier)) == ("DOI", None)
    body = to_v3_record(_v2(related_identifiers=[pid.to_b2share_v2()])).body
    with pytest.raises(MetadataInvalid, match=r"related_identifiers\.0\.identifier"):
        validate_v3_record(body, "data/metadata.json", mode="draft")
