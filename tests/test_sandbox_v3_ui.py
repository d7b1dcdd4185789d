"""The ``ui`` section of the v3 sandbox's UI JSON (application/vnd.inveniordm.v1+json).

The reference journey compares a published record's whole answer with InvenioRDM 13's; these
check the parts that branch: babel's English date patterns (checked against babel_edtf's
``format_edtf``), the affiliation index, the access status texts.
"""

from __future__ import annotations

import pytest
import requests

from ecasrepro.sandbox import SandboxServer
from ecasrepro.sandbox.v3.ui import edtf, ui_section
from tests.test_sandbox_v3 import Client, publish_new

UI_JSON = "application/vnd.inveniordm.v1+json"


@pytest.mark.parametrize(("value", "medium", "long"), [
    ("2026", "2026", "2026"),
    ("2026-03", "Mar 2026", "March 2026"),
    ("2026-12-01", "Dec 1, 2026", "December 1, 2026"),
])
def test_edtf_dates_in_english(value: str, medium: str, long: str) -> None:
    assert (edtf(value, long=False), edtf(value, long=True)) == (medium, long)


def test_affiliations_numbered_once_and_access_texts() -> None:
    body = {
        "metadata": {"creators": [
            {"person_or_org": {"name": "A"}, "affiliations": [{"name": "DKRZ"}, {"name": "CERN"}]},
            {"person_or_org": {"name": "B"}, "affiliations": [{"name": "CERN"}],
             "role": {"id": "editor", "title": {"en": "Editor", "de": "Herausgeber"}}},
        ]},
        "access": {"record": "public", "files": "restricted", "status": "restricted",
                   "embargo": {"active": False, "reason": None}},
        "files": {"enabled": True}, "versions": {"index": 3}, "is_draft": True,
    }  # fmt: skip
    ui = ui_section(body)
    assert ui["creators"]["affiliations"] == [[1, "DKRZ", None], [2, "CERN", None]]
    assert ui["creators"]["creators"][1]["affiliations"] == [[2, "CERN"]]
    assert ui["creators"]["creators"][1]["role"]["title"] == "Editor"
    assert ui["access_status"]["description_l10n"] == (
        "The record is publicly accessible, but files are restricted to users with access.")
    assert (ui["access_status"]["icon"], ui["access_status"]["message_class"]) == (
        "ban", "negative")
    assert ui["version"] == "v3" and ui["is_draft"] is True and ui["custom_fields"] == {}
    assert "publication_date_l10n_long" not in ui  # no value, no field


def test_ui_json_carries_the_section_and_plain_json_does_not(sandbox_v3: SandboxServer) -> None:
    rid = publish_new(Client(sandbox_v3), {"a.txt": b"A"})
    url = f"{sandbox_v3.url}/api/records/{rid}"
    ui = requests.get(url, headers={"Accept": UI_JSON}, timeout=30).json()["ui"]
    assert ui["publication_date_l10n_medium"] == "Oct 1, 2025"
    assert ui["resource_type"] == {"id": "software-computationalnotebook",
                                   "title_l10n": "Computational notebook"}
    assert ui["rights"][0]["title_l10n"] == "Creative Commons Attribution 4.0 International"
    assert ui["related_identifiers"][0]["relation_type"] == {"id": "isderivedfrom",
                                                             "title_l10n": "Is derived from"}
    assert "ui" not in requests.get(url, timeout=30).json()
