"""The bundle's B2SHARE v2 metadata as a B2SHARE v3 (InvenioRDM) draft body, and its local check.

The bundle keeps ``data/metadata.json`` in v2 form (a contract, see DESIGN.md); a v3 server wants
the InvenioRDM model (API-v3.md §7). :func:`to_v3_record` is a pure function from the one to the
other (``today`` is a parameter so tests are deterministic); :func:`validate_v3_record` checks the
result against the vocabularies shipped in ``ecasrepro/data/b2share/v3/vocabularies`` and the
fields required at publication, so an unknown id or a missing field is reported in one sentence
naming the field *before* any write request (a v3 server fails the whole request on an unknown
vocabulary id, and accepts drafts with missing fields only to refuse them at submission).

One job: map the bundle's metadata to a v3 record and check it locally, so that what a v3 server
would refuse is named before any write.

May import: ecasrepro.dates, ecasrepro.errors, ecasrepro.pids; never another module of this
package, ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from ecasrepro.dates import is_edtf_date
from ecasrepro.errors import MetadataInvalid
from ecasrepro.pids import V3_IDENTIFIER_SCHEMES, v3_identifier

#: Used when the bundle names no publisher (EUDAT Core makes ``publisher`` mandatory).
DEFAULT_PUBLISHER = "EUDAT B2SHARE"

#: v2 ``related_identifier_type`` -> v3 ``scheme`` (API-v3.md §7.2; ORCID has no v3 scheme).
SCHEMES = {
    "ARK": "ark", "arXiv": "arxiv", "bibcode": "ads", "DOI": "doi", "EAN13": "ean13",
    "EISSN": "eissn", "Handle": "handle", "ISBN": "isbn", "ISSN": "issn", "ISTC": "istc",
    "LISSN": "lissn", "LSID": "lsid", "PMID": "pmid", "PURL": "purl", "UPC": "upc", "URL": "url",
    "URN": "urn", "w3id": "w3id", "ORCID": "url",
}
#: v2 ``resource_type_general`` -> v3 resource type id (API-v3.md §7.2).
RESOURCE_TYPES = {
    "Dataset": "dataset", "Software": "software",
    "ComputationalNotebook": "software-computationalnotebook", "Workflow": "workflow",
    "Image": "image", "Model": "model", "Audiovisual": "video", "Sound": "audio",
    "Text": "publication", "JournalArticle": "publication-article",
    "Journal": "publication-journal", "Book": "publication-book",
    "BookChapter": "publication-section", "ConferencePaper": "publication-conferencepaper",
    "ConferenceProceeding": "publication-conferenceproceeding",
    "DataPaper": "publication-datapaper", "Dissertation": "publication-dissertation",
    "OutputManagementPlan": "publication-datamanagementplan",
    "PeerReview": "publication-peerreview", "Preprint": "publication-preprint",
    "Report": "publication-report", "Standard": "publication-standard", "Event": "event",
    "PhysicalObject": "physicalobject", "InteractiveResource": "lesson", "Collection": "other",
    "Service": "other", "Other": "other",
}
TITLE_TYPES = {"Alternative Title": "alternative-title", "AlternativeTitle": "alternative-title",
               "Subtitle": "subtitle", "TranslatedTitle": "translated-title", "Other": "other"}
DESCRIPTION_TYPES = {
    "Abstract": "abstract", "Methods": "methods", "SeriesInformation": "series-information",
    "TableOfContents": "table-of-contents", "TechnicalInfo": "technical-info", "Other": "other",
}
#: Words that make a comma-less creator name an organisation rather than a person.
ORGANISATION_WORDS = frozenset({
    "university", "universität", "universiteit", "institute", "institut", "institution", "centre",
    "center", "consortium", "group", "lab", "laboratory", "project", "team", "inc", "ltd", "gmbh",
    "e.v.", "association", "foundation", "agency", "service", "department", "council", "society",
    "network", "initiative", "office", "ministry", "school", "college", "academy", "observatory",
    "survey", "company", "corporation"
})
#: v2 keys with no v3 counterpart we can fill safely; they are reported, not sent.
NOT_CARRIED = ("community_specific", "contact_email", "instruments", "spatial_coverages",
               "temporal_coverages", "funding_references", "alternate_identifiers", "contributors",
               "dates", "sizes", "formats")
HANDLED = frozenset({
    "titles", "creators", "descriptions", "keywords", "disciplines", "community", "open_access",
    "embargo_date", "resource_types", "related_identifiers", "license", "publisher",
    "publication_date", "languages", "language", "version", "$schema", "publication_state",
    "owners", "_deposit", "_pid", "_oai", "_files", "_internal", "ePIC_PID", "DOI", "$future_doi",
    "external_pids", "files",
})

_VOCAB_ID = re.compile(r"^- id: *['\"]?([^'\"\s]+)['\"]?\s*$", re.MULTILINE)


# --- vocabularies ---------------------------------------------------------------------------------
@cache
def vocabulary(name: str) -> frozenset[str]:
    """The ids of a shipped vocabulary: resourcetypes, relationtypes, licenses, titletypes...

    The YAML fixtures are plain lists of ``- id: x`` items; reading the ids with one pattern
    avoids a YAML dependency for a single field.
    """
    base = files("ecasrepro") / "data" / "b2share" / "v3" / "vocabularies"
    if name == "licenses":
        text = (base / "licenses.csv").read_text(encoding="utf-8")
        return frozenset(row["id"] for row in csv.DictReader(io.StringIO(text)) if row.get("id"))
    filename = {
        "resourcetypes": "resource_types.yaml", "relationtypes": "relation_types.yaml",
        "titletypes": "title_types.yaml", "descriptiontypes": "description_types.yaml",
        "datetypes": "date_types.yaml", "creatorsroles": "roles.yaml",
    }[name]
    return frozenset(_VOCAB_ID.findall((base / filename).read_text(encoding="utf-8")))


@cache
def license_urls() -> dict[str, str]:
    """Licence URL (without scheme and trailing slash, lower-case) -> licence id."""
    base = files("ecasrepro") / "data" / "b2share" / "v3" / "vocabularies"
    text = (base / "licenses.csv").read_text(encoding="utf-8")
    return {_url_key(row["props__url"]): row["id"]
            for row in csv.DictReader(io.StringIO(text)) if row.get("props__url")}


def _url_key(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url.strip().lower()).rstrip("/")


# --- the mapping ----------------------------------------------------------------------------------
@dataclass
class V3Record:
    """A v3 draft body (``access``, ``metadata``, ``files``) plus what the mapping had to say."""

    body: dict[str, Any]
    community: str | None
    warnings: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, Any]:
        return self.body["metadata"]

    @property
    def title(self) -> str | None:
        value = self.metadata.get("title")
        return str(value) if value else None


def split_name(name: str, name_type: str | None = None) -> dict[str, Any]:
    """A v2 creator name as a v3 ``person_or_org``.

    ``"Family, Given"`` is a person; a name without a comma is an organisation when it is one word
    or contains a word like "University" or "Centre", otherwise a person whose last word is the
    family name. An explicit v2 ``name_type`` wins.
    """
    text = " ".join(name.split())
    kind = (name_type or "").lower()
    if kind == "organizational":
        return {"type": "organizational", "name": text}
    if "," in text:
        family, given = (part.strip() for part in text.split(",", 1))
        person: dict[str, Any] = {"type": "personal", "family_name": family or given}
        if given and family:
            person["given_name"] = given
        return person
    words = text.split(" ")
    organisation = len(words) == 1 or any(
        w.lower().strip(".,()") in ORGANISATION_WORDS for w in words
    )
    if organisation and kind != "personal":
        return {"type": "organizational", "name": text}
    if len(words) == 1:
        return {"type": "personal", "family_name": text}
    return {"type": "personal", "family_name": words[-1], "given_name": " ".join(words[:-1])}


def _creator(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return {"person_or_org": split_name(item)} if item.strip() else None
    if not isinstance(item, Mapping):
        return None
    name = str(item.get("creator_name") or "").strip()
    family, given = item.get("family_name"), item.get("given_name")
    if family:
        person: dict[str, Any] = {"type": "personal", "family_name": str(family)}
        if given:
            person["given_name"] = str(given)
    elif name:
        person = split_name(name, item.get("name_type"))
    else:
        return None
    ids = []
    for ident in item.get("name_identifiers") or []:
        if isinstance(ident, Mapping) and str(ident.get("scheme", "")).lower() == "orcid":
            value = str(ident.get("name_identifier", "")).rsplit("/", 1)[-1]
            if value:
                ids.append({"scheme": "orcid", "identifier": value})
    if ids:
        person["identifiers"] = ids
    creator: dict[str, Any] = {"person_or_org": person}
    affiliations = [
        {"name": str(a["affiliation_name"])} for a in item.get("affiliations") or []
        if isinstance(a, Mapping) and a.get("affiliation_name")
    ]
    if affiliations:
        creator["affiliations"] = affiliations
    return creator


def related_identifier_v3(item: Mapping[str, Any]) -> dict[str, Any]:
    """One v2 related identifier as a v3 one: scheme, ``relation_type.id``, resource type."""
    v2_type = str(item.get("related_identifier_type") or "")
    identifier = str(item.get("related_identifier") or "")
    scheme = SCHEMES.get(v2_type, v2_type.lower() or "other")
    if v2_type == "ORCID" and not identifier.startswith("http"):
        identifier = "https://orcid.org/" + identifier
    result: dict[str, Any] = {"identifier": identifier, "scheme": scheme}
    relation = item.get("relation_type")
    if relation:
        result["relation_type"] = {"id": str(relation).lower()}
    general = item.get("resource_type_general")
    if general:
        result["resource_type"] = {"id": RESOURCE_TYPES.get(str(general), str(general).lower())}
    return result


def _rights(license_value: Any) -> list[dict[str, Any]]:
    """The v2 ``license`` as v3 ``rights``: a vocabulary id when the name or URL is known."""
    if isinstance(license_value, str):
        license_value = {"license": license_value}
    if not isinstance(license_value, Mapping):
        return []
    name = str(license_value.get("license") or "").strip()
    uri = str(license_value.get("license_uri") or "").strip()
    known = vocabulary("licenses")
    candidate = name.lower().replace(" ", "-")
    if candidate in known:
        return [{"id": candidate}]
    if uri and _url_key(uri) in license_urls():
        return [{"id": license_urls()[_url_key(uri)]}]
    if not name and not uri:
        return []
    free: dict[str, Any] = {"title": {"en": name or uri}}
    if uri:
        free["link"] = uri
    return [free]


def to_v3_record(v2: Mapping[str, Any], *, today: _dt.date | None = None) -> V3Record:
    """Map bundle metadata (B2SHARE v2 form) to a v3 draft body (API-v3.md §7.2).

    Pure: no I/O besides reading the shipped vocabularies; the input is not modified.
    """
    source = copy.deepcopy(dict(v2))
    warnings: list[str] = []
    md: dict[str, Any] = {}

    titles = [t for t in source.get("titles") or [] if isinstance(t, Mapping) and t.get("title")]
    if titles:
        md["title"] = str(titles[0]["title"])
        extra = [
            {"title": str(t["title"]),
             "type": {"id": TITLE_TYPES.get(str(t.get("type") or ""), "alternative-title")}}
            for t in titles[1:]
        ]
        if extra:
            md["additional_titles"] = extra

    creators = [c for c in (_creator(item) for item in source.get("creators") or []) if c]
    if creators:
        md["creators"] = creators

    descriptions = [
        d for d in source.get("descriptions") or []
        if isinstance(d, Mapping) and str(d.get("description") or "").strip()
    ]
    if descriptions:
        main = next((d for d in descriptions if d.get("description_type") == "Abstract"),
                    descriptions[0])
        md["description"] = str(main["description"])
        others = [
            {"description": str(d["description"]),
             "type": {"id": DESCRIPTION_TYPES.get(str(d.get("description_type") or ""), "other")}}
            for d in descriptions if d is not main
        ]
        if others:
            md["additional_descriptions"] = others

    kinds: list[dict[str, str]] = []
    for item in source.get("resource_types") or []:
        if isinstance(item, Mapping) and item.get("resource_type_general"):
            general = str(item["resource_type_general"])
            kind = {"id": RESOURCE_TYPES.get(general, general.lower())}
            if kind not in kinds:
                kinds.append(kind)
    md["resource_types"] = kinds or [{"id": "dataset"}]

    rights = _rights(source.get("license"))
    if rights:
        md["rights"] = rights

    subjects: list[dict[str, str]] = []
    for item in [*(source.get("keywords") or []), *(source.get("disciplines") or [])]:
        if isinstance(item, Mapping):
            text = item.get("keyword") or item.get("discipline_name")
        else:
            text = item
        text = str(text or "").strip()
        if text and {"subject": text} not in subjects:
            subjects.append({"subject": text})
    if subjects:
        md["subjects"] = subjects

    related = [
        related_identifier_v3(item) for item in source.get("related_identifiers") or []
        if isinstance(item, Mapping)
    ]
    if related:
        md["related_identifiers"] = related

    date = str(source.get("publication_date") or "").strip()
    md["publication_date"] = date or (today or _dt.date.today()).isoformat()
    md["publisher"] = str(source.get("publisher") or "").strip() or DEFAULT_PUBLISHER

    languages = []
    for item in [*(source.get("languages") or []), source.get("language")]:
        code = item.get("language_identifier") if isinstance(item, Mapping) else item
        code = str(code or "").strip().lower()
        if re.fullmatch(r"[a-z]{3}", code):
            if {"id": code} not in languages:
                languages.append({"id": code})
        elif code:
            warnings.append(f"language {code!r} is not an ISO 639-3 code; it was not sent to the "
                            "v3 server (use e.g. 'eng').")
    if languages:
        md["languages"] = languages
    if source.get("version"):
        md["version"] = str(source["version"])

    access: dict[str, Any] = {"record": "public", "files": "public"}
    if source.get("open_access") is False:
        access["files"] = "restricted"
    embargo = str(source.get("embargo_date") or "").strip()
    if embargo:
        access["files"] = "restricted"
        access["embargo"] = {"active": True, "until": embargo[:10]}

    for key in NOT_CARRIED:
        if source.get(key):
            warnings.append(f"metadata field {key!r} has no v3 counterpart ecasrepro can fill "
                            "safely; it was not sent.")
    for key in sorted(set(source) - HANDLED - set(NOT_CARRIED)):
        warnings.append(f"metadata field {key!r} is unknown to the v3 mapping; it was not sent.")

    body = {"access": access, "metadata": md, "files": {"enabled": True}}
    community = source.get("community")
    return V3Record(body=body, community=str(community) if community else None,
                    warnings=warnings)


# --- local validation -----------------------------------------------------------------------------
def record_errors(body: Mapping[str, Any], mode: str = "submit") -> list[dict[str, str]]:
    """Every problem of a v3 draft body as ``{"field", "message"}`` (dotted v3 field paths).

    ``mode="draft"`` tolerates what a v3 server tolerates in a draft (missing creators, which can
    still be added in the web UI); ``"submit"`` adds the fields required at publication.
    """
    errors: list[dict[str, str]] = []
    md = body.get("metadata") or {}

    def bad(path: str, message: str) -> None:
        errors.append({"field": f"metadata.{path}" if path else "metadata", "message": message})

    def vocab_id(path: str, value: Any, name: str, what: str) -> None:
        ident = value.get("id") if isinstance(value, Mapping) else None
        if not ident:
            bad(path, f"is missing its {what} id")
        elif str(ident) not in vocabulary(name):
            bad(f"{path}.id", f"{ident!r} is not a known {what} (vocabulary {name})")

    title = str(md.get("title") or "")
    if not title.strip():
        bad("title", "is missing; add a title (titles[0].title) to data/metadata.json")
    elif len(title.strip()) < 3:
        bad("title", "is shorter than 3 characters")
    for i, item in enumerate(md.get("additional_titles") or []):
        vocab_id(f"additional_titles.{i}.type", item.get("type"), "titletypes", "title type")
    creators = md.get("creators") or []
    if not creators and mode == "submit":
        bad("creators", "is missing; add at least one creator (creators[].creator_name, "
            "\"Family, Given\")")
    for i, creator in enumerate(creators):
        person = creator.get("person_or_org") or {}
        if person.get("type") not in ("personal", "organizational"):
            bad(f"creators.{i}.person_or_org.type", "must be personal or organizational")
        elif person["type"] == "personal" and not str(person.get("family_name") or "").strip():
            bad(f"creators.{i}.person_or_org.family_name", "must not be blank")
        elif person["type"] == "organizational" and not str(person.get("name") or "").strip():
            bad(f"creators.{i}.person_or_org.name", "must not be blank")
    for i, item in enumerate(md.get("additional_descriptions") or []):
        vocab_id(f"additional_descriptions.{i}.type", item.get("type"), "descriptiontypes",
                 "description type")
    kinds = md.get("resource_types") or ([md["resource_type"]] if md.get("resource_type") else [])
    if not kinds:
        bad("resource_types", "is missing; add a resource type")
    key = "resource_types" if md.get("resource_types") else "resource_type"
    for i, kind in enumerate(kinds):
        vocab_id(f"{key}.{i}" if key == "resource_types" else key, kind, "resourcetypes",
                 "resource type")
    for i, right in enumerate(md.get("rights") or []):
        if right.get("id") is not None:
            vocab_id(f"rights.{i}", right, "licenses", "licence")
        elif not right.get("title"):
            bad(f"rights.{i}", "needs a licence id or a free-text title")
    date = str(md.get("publication_date") or "")
    if not date:
        bad("publication_date", "is missing")
    elif not is_edtf_date(date):
        bad("publication_date", f"{date!r} is not a date the server accepts (YYYY, YYYY-MM, "
            "YYYY-MM-DD with a real month and day, or an interval A/B with A not after B)")
    for i, item in enumerate(md.get("related_identifiers") or []):
        path = f"related_identifiers.{i}"
        scheme = str(item.get("scheme") or "")
        identifier = str(item.get("identifier") or "")
        if scheme not in V3_IDENTIFIER_SCHEMES:
            bad(f"{path}.scheme", f"{scheme!r} is not a v3 identifier scheme")
        elif v3_identifier(scheme, identifier) is None:
            bad(f"{path}.identifier", f"{identifier!r} is not a valid {scheme} identifier")
        if not item.get("relation_type"):
            bad(f"{path}.relation_type", "is missing")
        else:
            vocab_id(f"{path}.relation_type", item["relation_type"], "relationtypes",
                     "relation type")
        if item.get("resource_type"):
            vocab_id(f"{path}.resource_type", item["resource_type"], "resourcetypes",
                     "resource type")
    access = body.get("access") or {}
    for name in ("record", "files"):
        if access.get(name, "public") not in ("public", "restricted"):
            errors.append({"field": f"access.{name}", "message": "must be public or restricted"})
    return errors


def validate_v3_record(body: Mapping[str, Any], source: str, mode: str = "submit") -> None:
    """Raise MetadataInvalid naming the first bad field (all of them in ``field_errors``)."""
    errors = record_errors(body, mode)
    if not errors:
        return
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise MetadataInvalid(
        f"{source}: B2SHARE v3 field {first['field']} {first['message']}{more}; fix "
        "data/metadata.json and publish again.",
        field_errors=errors,
    )


__all__ = [
    "DEFAULT_PUBLISHER",
    "V3Record",
    "record_errors",
    "related_identifier_v3",
    "split_name",
    "to_v3_record",
    "validate_v3_record",
    "vocabulary",
]
