"""The v3 sandbox's DCAT-AP (application/dcat+xml), held to InvenioRDM's XSLT output.

``tests/fixtures/dcat_event.xml`` is what upstream's serializer wrote for ``EVENT`` (a record
that is no dataset, so its licence sits on the resource; a contact person, a project role, a
collected period, a withdrawn date, an arXiv relation with a resource type, a rights statement,
a file). 2,646 variants (every resource type, relation type with eight identifier schemes,
contributor type, date type) matched the real transform byte for byte when
ecasrepro/sandbox/v3/dcat.py was written, except a name identifier that is no URI, for which
upstream guesses a URL with idutils (not imitated). The journey of ``make test-reference``
compares a published record's document with the real server's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from ecasrepro.sandbox import SandboxServer
from ecasrepro.sandbox.v3.dcat import dcat
from tests.test_sandbox_v3 import Client, publish_new

FIXTURE = Path(__file__).parent / "fixtures" / "dcat_event.xml"
EVENT: dict[str, Any] = {
    "types": {"resourceTypeGeneral": "Event", "resourceType": ""},
    "identifiers": [{"identifier": "10.5072/b2share.x", "identifierType": "DOI"},
                    {"identifier": "oai:h:x", "identifierType": "oai"}],
    "creators": [{"name": "ACME", "nameType": "Organizational",
                  "nameIdentifiers": [{"nameIdentifier": "03ztgj037",
                                       "nameIdentifierScheme": "ROR"}]}],
    "titles": [{"title": "Talk  & slides"}],
    "contributors": [
        {"name": "Roe, Rick", "nameType": "Personal", "contributorType": "ContactPerson",
         "nameIdentifiers": [], "affiliation": [{"name": "DKRZ"}]},
        {"name": "Moe, Al", "givenName": "Al", "familyName": "Moe", "nameType": "Personal",
         "contributorType": "ProjectLeader", "nameIdentifiers": []},
    ],
    "dates": [{"date": "2020-01/2021", "dateType": "Collected"},
              {"date": "2026-05-01", "dateType": "Withdrawn"}],
    "relatedIdentifiers": [{"relatedIdentifier": "arXiv:2101.00001",
                            "relationType": "IsSupplementTo", "relatedIdentifierType": "arXiv",
                            "resourceTypeGeneral": "Text"}],
    "rightsList": [
        {"rights": "CC BY 4.0", "rightsUri": "https://creativecommons.org/licenses/by/4.0/"},
        {"rights": "(c) ACME", "rightsUri": "http://rightsstatements.org/vocab/InC/1.0/"},
    ],
}  # fmt: skip
FILES = [{"key": "slides deck.pdf", "size": "1234",
          "download_url": "http://h/records/x/files/slides%20deck.pdf",
          "access_url": "https://doi.org/10.5072/b2share.x"}]  # fmt: skip


def test_dcat_is_the_real_transforms_document() -> None:
    assert dcat(EVENT, FILES) == FIXTURE.read_text()


def test_a_published_record_answers_in_dcat(sandbox_v3: SandboxServer) -> None:
    api = Client(sandbox_v3)
    rid = publish_new(api, {"data/sub dir/a.csv": b"1,2\n"})
    r = requests.get(f"{sandbox_v3.url}/api/records/{rid}",
                     headers={"Accept": "application/dcat+xml"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/dcat+xml"
    assert r.headers["ETag"]
    doc = r.text
    doi = api("GET", f"/api/records/{rid}").json()["pids"]["doi"]["identifier"]
    assert doc.startswith("<?xml version='1.0' encoding='utf-8'?>\n<rdf:RDF ")
    assert f'<rdf:Description rdf:about="https://doi.org/{doi}">' in doc
    # a software record is a dataset: its licence and DOI go in a distribution of their own
    assert ("    <dcat:distribution>\n      <dcat:Distribution>\n"
            '        <dct:license rdf:resource="https://creativecommons.org/licenses/by/4.0/"/>\n'
            f'        <dcat:accessURL rdf:resource="https://doi.org/{doi}"/>\n') in doc
    assert (f'<dcat:downloadURL rdf:resource="{sandbox_v3.url}/records/{rid}/files/data/'
            'sub%20dir/a.csv"/>\n        <dcat:mediaType>text/csv</dcat:mediaType>\n'
            "        <dcat:byteSize>4</dcat:byteSize>") in doc
