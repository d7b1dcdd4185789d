"""Record serialisations of the v3 sandbox: DataCite JSON, schema.org JSON-LD, CSL JSON, BibTeX.

InvenioRDM 13 answers ``GET /api/records/<id>`` (and ``/draft``) in 16 formats chosen by the
``Accept`` header (``invenio_rdm_records/resources/config.py`` ``record_serializers``).  The
sandbox builds the ones listed as served in ``data/b2share/v3/serialisations.yaml`` from the
record's own JSON dump, emitting the fields the real serialisers emit for the same record.  B2SHARE
keeps ``resource_types`` as a list: its first entry stands for upstream's ``resource_type``.

One job: turn a record's JSON dump into the other served formats, so that citation and metadata
clients get what a real InvenioRDM gives them.

May import: .citation, .dcat, .vocabularies; never ecasrepro.api, ecasrepro.b2share (the client it
serves), or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import calendar
import csv
import functools
import io
import json
import math
import re
import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from werkzeug.datastructures import MIMEAccept

from ecasrepro.sandbox.v3 import citation, dcat, vocabularies

JSON = "application/json"
UI_JSON = "application/vnd.inveniordm.v1+json"


def _config() -> dict[str, Any]:
    return vocabularies.facts("serialisations.yaml")


def served_mimetypes() -> list[str]:
    """The record mimetypes the sandbox answers, in the real server's order."""
    return [m["mimetype"] for m in _config()["mimetypes"] if m["served"]]


def registered_mimetypes() -> list[str]:
    """Every record mimetype upstream registers, served or not: its 406 message lists them all."""
    return [m["mimetype"] for m in _config()["mimetypes"]]


def content_type(mimetype: str) -> str:
    """The Content-Type upstream answers ``mimetype`` with (text/x-bibliography: text/plain)."""
    return next(
        (m.get("content_type", mimetype) for m in _config()["mimetypes"]
         if m["mimetype"] == mimetype),
        mimetype,
    )


def sends_etag(mimetype: str) -> bool:
    """Whether upstream's response handler for ``mimetype`` sets the ETag header."""
    return next(
        (m.get("etag", True) for m in _config()["mimetypes"] if m["mimetype"] == mimetype), True
    )


def negotiate(accept: MIMEAccept) -> str | None:
    """flask-resources' ``match_by_accept``: the first accepted type (by quality) that is served,
    compared as a string; else JSON when ``*/*`` or nothing is accepted; else None (406)."""
    served = served_mimetypes()
    for client_mimetype, _quality in accept:
        if client_mimetype in served:
            return str(client_mimetype)
    values = list(accept.values())
    if "*/*" in values or not values:
        return JSON
    return None


# --- shared helpers ---------------------------------------------------------------------------
def _resource_type_id(record: dict[str, Any]) -> str | None:
    metadata = record.get("metadata", {})
    single = metadata.get("resource_type")
    if isinstance(single, dict) and single.get("id"):
        return str(single["id"])
    many = metadata.get("resource_types") or []
    if many and isinstance(many[0], dict) and many[0].get("id"):
        return str(many[0]["id"])
    return None


def _props(vocab_type: str, term_id: str | None) -> dict[str, Any]:
    term = vocabularies.lookup(vocab_type, term_id or "")
    return dict(term.props) if term else {}


def _datacite_scheme(scheme: str) -> str:
    return str(_config()["datacite_schemes"].get(scheme, scheme))


def _date_parts(value: str | None) -> list[list[str]] | None:
    """EDTF ``YYYY[-MM[-DD]]`` or an interval ``a/b`` as date-parts (None if unparsable).

    The parts stay strings ("2025", "10", "01"): python-edtf's ``Date.year`` is the text, so the
    real CSL JSON carries strings.
    """
    if not value:
        return None
    parts = []
    for piece in value.split("/"):
        match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", piece.strip())
        if not match:
            return None
        parts.append([g for g in match.groups() if g])
    return parts


def _strip_html(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).strip()


def _to_url(identifier: str, scheme: str) -> str | None:
    """idutils' ``to_url`` (https) for the schemes records carry; None where it makes no URL."""
    if scheme == "doi":
        return "https://doi.org/" + re.sub(r"^(doi:|https?://(dx\.)?doi\.org/)", "", identifier)
    if scheme == "handle":
        return "https://hdl.handle.net/" + re.sub(
            r"^(hdl:|https?://hdl\.handle\.net/)", "", identifier
        )
    if scheme in ("url", "purl"):
        return identifier
    if scheme == "arxiv":
        return "https://arxiv.org/abs/arXiv:" + re.sub(r"^arxiv:", "", identifier, flags=re.I)
    if scheme == "pmid":
        return f"https://pubmed.ncbi.nlm.nih.gov/{identifier}/"
    if scheme == "orcid":
        return "https://orcid.org/" + identifier.rsplit("/", 1)[-1]
    if scheme == "gnd":
        return "https://d-nb.info/gnd/" + identifier.removeprefix("gnd:")
    if scheme == "ror":
        return "https://ror.org/" + identifier.rsplit("/", 1)[-1]
    if scheme == "urn" and identifier.lower().startswith("urn:nbn:"):
        return "https://nbn-resolving.org/" + identifier
    return None  # ark, w3id, isbn, oai, ...: no URL


# --- DataCite JSON 4.3 ------------------------------------------------------------------------
def _person(entry: dict[str, Any], contributor: bool = False) -> dict[str, Any]:
    person = entry.get("person_or_org", {})
    out: dict[str, Any] = {}
    for key, src in (("name", "name"), ("givenName", "given_name"), ("familyName", "family_name")):
        if person.get(src) is not None:
            out[key] = person[src]
    out["nameType"] = str(person.get("type", "")).title().capitalize()
    out["nameIdentifiers"] = [
        {
            "nameIdentifier": i.get("identifier"),
            "nameIdentifierScheme": _datacite_scheme(i.get("scheme", "")),
        }
        for i in person.get("identifiers", [])
    ]
    if entry.get("affiliations"):
        out["affiliation"] = [{"name": a["name"]} for a in entry["affiliations"] if "name" in a]
    if contributor and entry.get("role"):
        out["contributorType"] = _props("contributorsroles", entry["role"].get("id")).get(
            "datacite", ""
        )
    return out


def _merge_main(md: dict[str, Any], field: str, default_type: str | None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    if md.get(field):
        item = {field: _strip_html(md[field])}
        if default_type:
            item[f"{field}Type"] = default_type
        result.append(item)
    for extra in md.get(f"additional_{field}s", []):
        item = {field: _strip_html(extra.get(field, ""))}
        props = _props(f"{field}types", extra.get("type", {}).get("id"))
        if "datacite" in props:
            item[f"{field}Type"] = props["datacite"]
        if extra.get("lang", {}).get("id"):
            item["lang"] = extra["lang"]["id"]
        result.append(item)
    return result


def datacite(record: dict[str, Any], base: str) -> dict[str, Any]:
    """DataCite 4.3 JSON, as ``DataCite43Schema`` dumps it (empty parts left out)."""
    md = record.get("metadata", {})
    out: dict[str, Any] = {}
    rt = _resource_type_id(record)
    if rt:
        props = _props("resourcetypes", rt)
        out["types"] = {
            "resourceTypeGeneral": props.get("datacite_general", "Other"),
            "resourceType": props.get("datacite_type", ""),
        }
    if titles := _merge_main(md, "title", None):
        out["titles"] = titles
    if "creators" in md:
        out["creators"] = [_person(c) for c in md["creators"]]
    if "contributors" in md:
        out["contributors"] = [_person(c, contributor=True) for c in md["contributors"]]
    if "publisher" in md:
        out["publisher"] = md["publisher"]
    parts = _date_parts(md.get("publication_date"))
    if parts:
        out["publicationYear"] = str(parts[0][0])
    if md.get("subjects"):
        subjects = []
        for subject in md["subjects"]:
            term = {"subject": subject.get("subject")}
            if subject.get("id"):
                term["subjectScheme"] = subject.get("scheme")
                if re.match(r"https?://", str(subject["id"])):
                    term["valueURI"] = subject["id"]
            subjects.append(term)
        out["subjects"] = subjects
    dates = (
        [{"date": md["publication_date"], "dateType": "Issued"}]
        if md.get("publication_date")
        else []
    )
    updated = False
    for date in md.get("dates", []):
        type_id = date.get("type", {}).get("id")
        updated = updated or type_id == "updated"
        item: dict[str, Any] = {
            "date": date["date"],
            "dateType": _props("datetypes", type_id).get("datacite", "Other"),
        }
        if date.get("description"):
            item["dateInformation"] = date["description"]
        dates.append(item)
    if not updated and record.get("updated"):
        dates.append({"date": record["updated"].split("T")[0], "dateType": "Updated"})
    if dates:
        out["dates"] = dates
    if md.get("languages"):
        out["language"] = md["languages"][0]["id"]
    identifiers = [{"identifier": record["links"]["self_html"], "identifierType": "URL"}]
    for scheme, pid in record.get("pids", {}).items():
        identifiers.append(
            {"identifier": pid["identifier"], "identifierType": _datacite_scheme(scheme)}
        )
    for ident in md.get("identifiers", []):
        if _datacite_scheme(ident.get("scheme", "")) != "DOI":
            identifiers.append(
                {
                    "identifier": ident["identifier"],
                    "identifierType": _datacite_scheme(ident.get("scheme", "")),
                }
            )
    out["identifiers"] = identifiers
    related = []
    allowed = set(_config()["datacite_related_schemes"])
    for rel in md.get("related_identifiers", []):
        scheme = _datacite_scheme(rel.get("scheme", ""))
        if scheme.lower() not in allowed:
            continue
        item = {
            "relatedIdentifier": rel.get("identifier", ""),
            "relationType": _props("relationtypes", rel.get("relation_type", {}).get("id")).get(
                "datacite", ""
            ),
            "relatedIdentifierType": scheme,
        }
        if rel.get("resource_type", {}).get("id"):
            item["resourceTypeGeneral"] = _props("resourcetypes", rel["resource_type"]["id"]).get(
                "datacite_general", "Other"
            )
        related.append(item)
    parent_doi = record.get("parent", {}).get("pids", {}).get("doi")
    if parent_doi:
        related.append(
            {
                "relatedIdentifier": parent_doi["identifier"],
                "relationType": "IsVersionOf",
                "relatedIdentifierType": "DOI",
            }
        )
    for community in record.get("parent", {}).get("communities", {}).get("entries", []):
        related.append(
            {
                "relatedIdentifier": f"{base}communities/{community['slug']}/",
                "relationType": "IsPartOf",
                "relatedIdentifierType": "URL",
            }
        )
    if related:
        out["relatedIdentifiers"] = related
    for key, src in (("sizes", "sizes"), ("formats", "formats")):
        if src in md:
            out[key] = list(md[src])
    if md.get("version") is not None:
        out["version"] = md["version"]
    rights = []
    for right in md.get("rights", []):
        item = {"rights": right.get("title", {}).get("en")}
        if right.get("id"):
            item["rightsIdentifier"] = right["id"]
            item["rightsIdentifierScheme"] = right.get("props", {}).get("scheme")
        link = right.get("props", {}).get("url") or right.get("link")
        if link:
            item["rightsUri"] = link
        rights.append(item)
    if md.get("copyright"):
        rights.append(
            {"rights": md["copyright"], "rightsUri": "http://rightsstatements.org/vocab/InC/1.0/"}
        )
    if rights:
        out["rightsList"] = rights
    if descriptions := _merge_main(md, "description", "Abstract"):
        out["descriptions"] = descriptions
    funding = []
    for fund in md.get("funding", []):
        ref: dict[str, Any] = {"funderName": fund.get("funder", {}).get("name")}
        award = fund.get("award") or {}
        if award.get("title", {}).get("en"):
            ref["awardTitle"] = award["title"]["en"]
        if award.get("number"):
            ref["awardNumber"] = award["number"]
        funding.append(ref)
    if funding:
        out["fundingReferences"] = funding
    out["schemaVersion"] = "http://datacite.org/schema/kernel-4"
    return out


# --- schema.org JSON-LD -----------------------------------------------------------------------
def _schemaorg_person(entry: dict[str, Any]) -> dict[str, Any]:
    person = entry.get("person_or_org", {})
    out: dict[str, Any] = {}
    for key, src in (("name", "name"), ("givenName", "given_name"), ("familyName", "family_name")):
        if person.get(src) is not None:
            out[key] = person[src]
    if entry.get("affiliations"):
        out["affiliation"] = [
            {"@type": "Organization", "name": a["name"]}
            for a in entry["affiliations"]
            if a.get("name")
        ]
    for ident in person.get("identifiers", []):
        url = (
            "http://isni.org/isni/" + ident["identifier"]
            if ident.get("scheme") == "isni"
            else "https://orcid.org/" + ident["identifier"]
            if ident.get("scheme") == "orcid"
            else _to_url(ident["identifier"], ident.get("scheme", ""))
        )
        if url:
            out["@id"] = url
            break
    out["@type"] = "Organization" if person.get("type") == "organizational" else "Person"
    return out


def _convert_size(size: int) -> str:
    names = ("B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    index = math.floor(math.log(size, 1024))
    return f"{round(size / math.pow(1024, index), 2)} {names[index]}"


@functools.cache
def _spdx_urls() -> dict[str, str]:
    path = files("ecasrepro") / "data" / "b2share" / "v3" / "spdx_urls.json"
    urls: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["urls"]
    return {k.casefold(): v for k, v in urls.items()}


def _spdx_url(licence_id: str) -> str | None:
    """commonmeta's ``dict_to_spdx``: the SPDX ``seeAlso`` URL of a licence id, if SPDX has it."""
    return _spdx_urls().get(licence_id.casefold())


def _creative_works(md: dict[str, Any], relations: set[str]) -> list[dict[str, Any]]:
    works = []
    for rel in md.get("related_identifiers", []):
        if rel.get("relation_type", {}).get("id") not in relations:
            continue
        url = _to_url(rel.get("identifier", ""), rel.get("scheme", ""))
        if not url:
            continue
        works.append({"@type": "CreativeWork", "@id": url})  # the same lookup as ``@type``
    return works


def schemaorg(record: dict[str, Any], base: str) -> dict[str, Any]:
    """schema.org JSON-LD, as ``SchemaorgSchema`` dumps it."""
    md = record.get("metadata", {})
    doi = record.get("pids", {}).get("doi", {}).get("identifier")
    # Upstream asks the vocabulary index for the field "props.schema.org", whose dot the source
    # filter reads as a path: the prop never comes back, so every typed record is CreativeWork
    # (measured on InvenioRDM 13.1.2); Dataset-only fields (distribution...) never appear.
    type_ = "https://schema.org/CreativeWork" if _resource_type_id(record) else None
    out: dict[str, Any] = {"@context": "http://schema.org"}
    if doi:
        out["@id"] = f"https://doi.org/{doi}"
    if type_:
        out["@type"] = type_
    out["identifier"] = f"https://doi.org/{doi}" if doi else record["links"]["self"]
    if md.get("title") is not None:
        out["name"] = md["title"]
    if "creators" in md:
        out["creator"] = [_schemaorg_person(c) for c in md["creators"]]
        out["author"] = [_schemaorg_person(c) for c in md["creators"]]
    if "contributors" in md:
        out["editor"] = [_schemaorg_person(c) for c in md["contributors"]]
    if md.get("publisher"):
        out["publisher"] = {"@type": "Organization", "name": md["publisher"]}
    keywords = [s["subject"] for s in md.get("subjects", []) if s.get("subject") is not None]
    if keywords:
        out["keywords"] = ", ".join(keywords)
    if record.get("created"):
        out["dateCreated"] = record["created"]
    if record.get("updated"):
        out["dateModified"] = record["updated"]
    if md.get("publication_date") and _date_parts(md["publication_date"]):
        out["datePublished"] = md["publication_date"].split("/")[0]
    language = (md.get("languages") or [{}])[0].get("id")
    term = vocabularies.lookup("languages", language) if language else None
    if term is not None:  # pycountry's ISO 639-3 name upstream: the vocabulary's English title
        out["inLanguage"] = {
            "alternateName": term.id,
            "@type": "Language",
            "name": term.title.get("en", term.id),
        }
    temporal = [d["date"] for d in md.get("dates", []) if _date_parts(d.get("date"))]
    if temporal:
        out["temporal"] = temporal
    total = record.get("files", {}).get("total_bytes")
    if total:
        out["contentSize"] = out["size"] = _convert_size(int(total))
    if md.get("formats"):
        formats = md["formats"]
        out["encodingFormat"] = formats[0] if len(formats) == 1 else formats
    if md.get("version") is not None:
        out["version"] = md["version"]
    licence = next((r for r in md.get("rights", []) if r.get("id")), None) or next(
        (r for r in md.get("rights", []) if r.get("link")), None
    )
    if licence:
        url = _spdx_url(licence.get("id")) if licence.get("id") else licence.get("link")
        if url:
            out["license"] = url
    if md.get("description") is not None:
        out["description"] = md["description"]
    for key, relations in (
        ("isPartOf", {"ispartof"}),
        ("hasPart", {"haspart"}),
    ):
        if works := _creative_works(md, relations):
            out[key] = works
    same = _creative_works(md, {"isidenticalto"})
    if same:
        out["sameAs"] = same
    if citation := _creative_works(md, {"cites", "references"}):
        out["citation"] = citation
    out["url"] = record["links"]["self_html"]
    return out


# --- CSL JSON ---------------------------------------------------------------------------------
def csl(record: dict[str, Any], base: str) -> dict[str, Any]:
    """CSL JSON, as ``CSLJSONSchema`` dumps it."""
    md = record.get("metadata", {})
    out: dict[str, Any] = {"id": record["id"]}
    rt = _resource_type_id(record)
    if rt:
        out["type"] = _props("resourcetypes", rt).get("csl", "article")
    if md.get("title") is not None:
        out["title"] = md["title"]
    if md.get("description") is not None:
        out["abstract"] = _strip_html(md["description"])
    if "creators" in md:
        authors = []
        for creator in md["creators"]:
            person = creator.get("person_or_org", {})
            author = {"family": person.get("family_name") or person.get("name")}
            if person.get("given_name") is not None:
                author["given"] = person["given_name"]
            authors.append(author)
        out["author"] = authors
    parts = _date_parts(md.get("publication_date"))
    if parts:
        out["issued"] = {"date-parts": parts}
    if md.get("languages"):
        out["language"] = md["languages"][0]["id"]
    if md.get("version") is not None:
        out["version"] = md["version"]
    doi = _doi(record)
    if doi:
        out["DOI"] = doi
    for key, scheme in (("ISBN", "isbn"), ("ISSN", "issn")):
        value = next(
            (i["identifier"] for i in md.get("identifiers", []) if i.get("scheme") == scheme), None
        )
        if value:
            out[key] = value
    if md.get("publisher") is not None:
        out["publisher"] = md["publisher"]
    return out


def _doi(record: dict[str, Any]) -> str | None:
    if "doi" in record.get("pids", {}):
        return str(record["pids"]["doi"]["identifier"])
    for ident in record.get("metadata", {}).get("identifiers", []):
        if ident.get("scheme", "") == "doi":
            return str(ident["identifier"])
    return None


# --- BibTeX -----------------------------------------------------------------------------------
#: The entry fields of the types the sandbox's resource types map to (schema_formats.py).
_BIBTEX_FIELDS = ["author", "title", "month", "year", "note", "publisher", "version", "doi", "url"]
_BIBTEX_TYPES = {"software": "software", "dataset": "dataset"}


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug[:40].strip("_")  # python-slugify's max_length without word boundaries


def _bibtex_row(field: str, value: Any) -> str:
    if isinstance(value, str):
        value = value.strip()
    if field == "author":
        out = f"  {field:<12} = {{" + value[0] + (" and\n" if len(value) > 1 else "")
        out += " and\n".join(f" {'':<16} {line}" for line in value[1:])
        return out + "},\n"
    if not isinstance(value, str):
        value = str(value)
    if len(value) > 50:
        wrapped = textwrap.wrap(value, 50)
        out = f"  {field:<12} = {{{wrapped[0]}\n"
        for line in wrapped[1:]:
            out += f" {'':<17} {line}\n"
        return out + f" {'':<17}}},\n"
    if field == "month" or value.isdigit():
        return f"  {field:<12} = {value},\n"
    return f"  {field:<12} = {{{value}}},\n"


def bibtex(record: dict[str, Any], base: str) -> str:
    """BibTeX, as ``BibTexSchema`` writes it (software/dataset/misc entries)."""
    md = record.get("metadata", {})
    rt = _resource_type_id(record)
    name = _BIBTEX_TYPES.get(rt or "", "misc")
    parts = _date_parts(md.get("publication_date"))
    doi = _doi(record)
    values: dict[str, Any] = {
        "author": [c["person_or_org"]["name"] for c in md.get("creators", [])] or None,
        "title": md.get("title"),
        "month": calendar.month_abbr[int(parts[0][1])].lower()
        if parts and len(parts[0]) > 1
        else None,
        "year": parts[0][0] if parts else None,
        "publisher": md.get("publisher"),
        "version": md.get("version"),
        "doi": doi,
        "url": f"https://doi.org/{doi}" if doi else None,
    }
    key = record["id"]
    creators = md.get("creators", [])
    if creators:
        person = creators[0].get("person_or_org", {})
        year = f"{parts[0][0]}_{record['id']}" if parts else record["id"]
        key = f"{_slug(person.get('family_name', person.get('name', '')))}_{year}"
    body = "".join(_bibtex_row(f, values[f]) for f in _BIBTEX_FIELDS if values.get(f) is not None)
    body = "".join("\\" + ch if ch in "&%$_#" else ch for ch in body)
    return "@" + name + "{" + key + ",\n" + body + "}"


# --- GeoJSON ----------------------------------------------------------------------------------
def geojson(record: dict[str, Any], base: str) -> dict[str, Any]:
    """``GeoJSONSchema``: every location feature with its other keys as properties."""
    features = []
    for feature in record.get("metadata", {}).get("locations", {}).get("features", []):
        geometry = feature.get("geometry") or {}
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": geometry.get("type"),
                    "coordinates": geometry.get("coordinates"),
                },
                "properties": {k: v for k, v in feature.items() if k != "geometry"},
            }
        )
    return {"features": features, "type": "FeatureCollection"}


# --- Dublin Core XML --------------------------------------------------------------------------
#: dcxml's element order (its rules, in registration order): plural key -> element name.
_DC_ELEMENTS = (
    ("contributors", "contributor"), ("coverage", "coverage"), ("creators", "creator"),
    ("dates", "date"), ("descriptions", "description"), ("formats", "format"),
    ("identifiers", "identifier"), ("languages", "language"), ("publishers", "publisher"),
    ("relations", "relation"), ("rights", "rights"), ("sources", "source"),
    ("subjects", "subject"), ("titles", "title"), ("types", "type"),
)  # fmt: skip
_DC_OPEN = (
    '<oai_dc:dc xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc/ '
    'http://www.openarchives.org/OAI/2.0/oai_dc.xsd">'
)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dc_identifier(identifier: str, scheme: str) -> str:
    """``_transform_identifier``: a URL where idutils makes one, else ``scheme:identifier``."""
    url = _to_url(identifier, scheme)
    if url:
        return url
    return identifier if identifier.startswith(scheme) else f"{scheme}:{identifier}"


def dublin_core(record: dict[str, Any], base: str) -> str:
    """Simple Dublin Core (``DublinCoreSchema`` + dcxml's ``simpledc.tostring``)."""
    md = record.get("metadata", {})
    access = record.get("access", {}).get("status")
    rights = []
    if access:
        rights.append(
            f"info:eu-repo/semantics/{'closed' if access == 'metadata-only' else access}Access"
        )
    for right in md.get("rights", []):
        rights.append(right.get("title", {}).get("en"))
        url = right.get("props", {}).get("url") if right.get("id") else right.get("link")
        if url:
            rights.append(url)
    dates = [md["publication_date"]] if md.get("publication_date") else []
    if access == "embargoed":
        dates.append(f"info:eu-repo/date/embargoEnd/{record['access']['embargo']['until']}")
    relations = [
        _dc_identifier(r.get("identifier", ""), r.get("scheme", ""))
        for r in [*md.get("alternate_identifiers", []), *md.get("related_identifiers", [])]
    ]
    for community in record.get("parent", {}).get("communities", {}).get("entries", []):
        relations.append(f"{base}communities/{community['slug']}/")
    for scheme, pid in record.get("parent", {}).get("pids", {}).items():
        if scheme == "doi":
            relations.append(_dc_identifier(pid["identifier"], scheme))
    descriptions = [md["description"]] if md.get("description") else []
    descriptions += [d.get("description", "") for d in md.get("additional_descriptions", [])]
    eurepo = _props("resourcetypes", _resource_type_id(record)).get("eurepo")
    values: dict[str, list[Any]] = {
        "contributors": [c["person_or_org"].get("name") for c in md.get("contributors", [])],
        "creators": [c["person_or_org"].get("name") for c in md.get("creators", [])],
        "dates": dates,
        "descriptions": [_xml_text(d) for d in descriptions],  # bleach.clean(tags=[]) escapes
        "formats": list(md.get("formats", [])),
        "identifiers": [
            _dc_identifier(p["identifier"], scheme) for scheme, p in record.get("pids", {}).items()
        ]
        + [
            _dc_identifier(i.get("identifier", ""), i.get("scheme", ""))
            for i in md.get("identifiers", [])
        ],
        "languages": [lang["id"] for lang in md.get("languages", [])],
        "publishers": [md["publisher"]] if md.get("publisher") else [],
        "relations": relations,
        "rights": rights,
        "subjects": [s["subject"] for s in md.get("subjects", []) if s.get("subject")],
        "titles": [md["title"]] if md.get("title") else [],
        "types": [eurepo] if eurepo else [],
    }
    lines = ["<?xml version='1.0' encoding='utf-8'?>", _DC_OPEN]
    for plural, element in _DC_ELEMENTS:
        for value in values.get(plural, []):
            if value:
                lines.append(f"  <dc:{element}>{_xml_text(str(value))}</dc:{element}>")
    lines.append("</oai_dc:dc>")
    return "\n".join(lines) + "\n"


# --- DataCite XML 4.3 -------------------------------------------------------------------------
@dataclass
class _Node:
    """An XML element as lxml's pretty printer writes it (text "" is an open/close pair)."""

    tag: str
    text: str | None = None
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    def set(self, name: str, value: Any) -> None:
        if value:
            self.attrs.append((name, str(value)))

    def write(self, out: list[str], depth: int = 0) -> None:
        pad = "  " * depth
        attrs = "".join(f' {k}="{_xml_attr(v)}"' for k, v in self.attrs)
        if self.children:
            out.append(f"{pad}<{self.tag}{attrs}>")
            for child in self.children:
                child.write(out, depth + 1)
            out.append(f"{pad}</{self.tag}>")
        elif self.text is None:
            out.append(f"{pad}<{self.tag}{attrs}/>")
        else:
            out.append(f"{pad}<{self.tag}{attrs}>{_xml_text(self.text)}</{self.tag}>")


def _xml_attr(value: str) -> str:
    return _xml_text(value).replace('"', "&quot;")


def _dc43_person(entry: dict[str, Any], tag: str, name_tag: str) -> _Node:
    node = _Node(tag)
    name = _Node(name_tag, entry.get("name"))
    name.set("nameType", entry.get("nameType"))
    name.set("xml:lang", entry.get("lang"))
    node.children.append(name)
    if tag == "contributor":
        node.set("contributorType", entry.get("contributorType"))
    for key in ("givenName", "familyName"):
        if entry.get(key):
            node.children.append(_Node(key, entry[key]))
    for ident in entry.get("nameIdentifiers", []):
        if ident.get("nameIdentifier"):
            child = _Node("nameIdentifier", ident["nameIdentifier"])
            child.attrs.append(("nameIdentifierScheme", ident["nameIdentifierScheme"]))
            child.set("schemeURI", ident.get("schemeUri"))
            node.children.append(child)
    for aff in entry.get("affiliation", []):
        if aff.get("name"):
            child = _Node("affiliation", aff["name"])
            child.set("affiliationIdentifier", aff.get("affiliationIdentifier"))
            child.set("affiliationIdentifierScheme", aff.get("affiliationIdentifierScheme"))
            child.set("schemeURI", aff.get("schemeUri"))
            node.children.append(child)
    return node


def _group(tag: str, children: list[_Node]) -> list[_Node]:
    return [_Node(tag, children=children)] if children else []


def datacite_xml(record: dict[str, Any], base: str) -> str:
    """DataCite 4.3 XML: the DataCite JSON above through the datacite package's schema43 rules."""
    dc = datacite(record, base)
    nodes: list[_Node] = []
    doi = [i for i in dc.get("identifiers", []) if i["identifierType"] == "DOI"]
    alternates = [i for i in dc.get("identifiers", []) if i["identifierType"] != "DOI"]
    for ident in doi[:1]:
        nodes.append(_Node("identifier", ident["identifier"], [("identifierType", "DOI")]))
    alt_nodes = []
    for ident in alternates:
        alt_nodes.append(
            _Node(
                "alternateIdentifier",
                ident["identifier"],
                [("alternateIdentifierType", ident["identifierType"])],
            )
        )
    nodes += _group("alternateIdentifiers", alt_nodes)
    nodes += _group(
        "creators", [_dc43_person(c, "creator", "creatorName") for c in dc.get("creators", [])]
    )
    titles = []
    for title in dc.get("titles", []):
        node = _Node("title", title["title"])
        node.set("xml:lang", title.get("lang"))
        node.set("titleType", title.get("titleType"))
        titles.append(node)
    nodes += _group("titles", titles)
    if dc.get("publisher"):
        nodes.append(_Node("publisher", dc["publisher"]))
    if dc.get("publicationYear"):
        nodes.append(_Node("publicationYear", str(dc["publicationYear"])))
    subjects = []
    for subject in dc.get("subjects", []):
        node = _Node("subject", subject["subject"])
        node.set("xml:lang", subject.get("lang"))
        node.set("subjectScheme", subject.get("subjectScheme"))
        node.set("schemeURI", subject.get("schemeUri"))
        node.set("valueURI", subject.get("valueUri"))  # the rule reads "valueUri", never set
        subjects.append(node)
    nodes += _group("subjects", subjects)
    nodes += _group(
        "contributors",
        [_dc43_person(c, "contributor", "contributorName") for c in dc.get("contributors", [])],
    )
    dates = []
    for date in dc.get("dates", []):
        node = _Node("date", date["date"], [("dateType", date["dateType"])])
        node.set("dateInformation", date.get("dateInformation"))
        dates.append(node)
    nodes += _group("dates", dates)
    if dc.get("language"):
        nodes.append(_Node("language", dc["language"]))
    if "types" in dc:
        types = dc["types"]
        nodes.append(
            _Node(
                "resourceType",
                types["resourceType"],
                [("resourceTypeGeneral", types["resourceTypeGeneral"])],
            )
        )
    related = []
    for rel in dc.get("relatedIdentifiers", []):
        node = _Node(
            "relatedIdentifier",
            rel["relatedIdentifier"],
            [
                ("relatedIdentifierType", rel["relatedIdentifierType"]),
                ("relationType", rel["relationType"]),
            ],
        )
        node.set("resourceTypeGeneral", rel.get("resourceTypeGeneral"))
        related.append(node)
    nodes += _group("relatedIdentifiers", related)
    for plural, singular in (("sizes", "size"), ("formats", "format")):
        nodes += _group(plural, [_Node(singular, v) for v in dc.get(plural, [])])
    if dc.get("version"):
        nodes.append(_Node("version", dc["version"]))
    rights = []
    for right in dc.get("rightsList", []):
        node = _Node("rights", right.get("rights"))
        node.set("rightsURI", right.get("rightsUri"))
        node.set("rightsIdentifierScheme", right.get("rightsIdentifierScheme"))
        node.set("rightsIdentifier", right.get("rightsIdentifier"))
        rights.append(node)
    nodes += _group("rightsList", rights)
    nodes += _group(
        "descriptions",
        [
            _Node("description", d["description"], [("descriptionType", d["descriptionType"])])
            for d in dc.get("descriptions", [])
        ],
    )
    funding = []
    for ref in dc.get("fundingReferences", []):
        node = _Node("fundingReference", children=[_Node("funderName", ref.get("funderName"))])
        if ref.get("awardNumber"):
            node.children.append(_Node("awardNumber", ref["awardNumber"]))
        if ref.get("awardTitle"):
            node.children.append(_Node("awardTitle", ref["awardTitle"]))
        funding.append(node)
    nodes += _group("fundingReferences", funding)
    root = _Node(
        "resource",
        attrs=[
            ("xmlns", "http://datacite.org/schema/kernel-4"),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            (
                "xsi:schemaLocation",
                "http://datacite.org/schema/kernel-4 "
                "http://schema.datacite.org/meta/kernel-4.3/metadata.xsd",
            ),
        ],
        children=nodes,
    )
    out = ["<?xml version='1.0' encoding='utf-8'?>"]
    root.write(out)
    return "\n".join(out) + "\n"


# --- FAIR Signposting level 2 linkset ----------------------------------------------------------
def linkset(record: dict[str, Any], base: str) -> dict[str, Any]:
    """``FAIRSignpostingProfileLvl2Schema``: the landing page, each file, the metadata resource."""
    md = record.get("metadata", {})
    landing: dict[str, Any] = {}
    authors = []
    for creator in md.get("creators", []):
        urls = [
            _to_url(i.get("identifier", ""), i.get("scheme", ""))
            for i in creator.get("person_or_org", {}).get("identifiers", [])
        ]
        href = next((u for u in urls if u), None)
        if href:
            authors.append({"href": href})
    if authors:
        landing["author"] = authors
    doi = record.get("pids", {}).get("doi", {}).get("identifier")
    if doi:
        landing["cite-as"] = [{"href": f"https://doi.org/{doi}"}]
    all_types = sorted(m["mimetype"] for m in _config()["mimetypes"])
    landing["describedby"] = [
        {"href": record["links"]["self"], "type": m}
        for m in all_types
        if m != "application/linkset+json"
    ]
    entries = list(record.get("files", {}).get("entries", {}).values())
    downloads = [
        f"{base}records/{record['id']}/files/{quote(e['key'], safe=_PATH_SAFE)}" for e in entries
    ]
    if entries:
        landing["item"] = [
            {"href": url, "type": e.get("mimetype")}
            for url, e in zip(downloads, entries, strict=True)
        ]
    licences = [r.get("link") or r.get("props", {}).get("url") for r in md.get("rights", [])]
    if any(licences):
        landing["license"] = [{"href": link} for link in licences if link]
    # the schema.org prop never comes back from upstream's vocabulary lookup (see schemaorg)
    landing["type"] = [{"href": "https://schema.org/AboutPage"}]
    landing["anchor"] = record["links"]["self_html"]
    result = [landing]
    for url in downloads:
        result.append(
            {
                "anchor": url,
                "collection": [{"href": record["links"]["self_html"], "type": "text/html"}],
            }
        )
    result.append(
        {
            "anchor": record["links"]["self"],
            "describes": [{"href": record["links"]["self_html"], "type": "text/html"}],
        }
    )
    return {"linkset": result}


# --- MARCXML ----------------------------------------------------------------------------------
def _marc_person(entry: dict[str, Any]) -> dict[str, Any]:
    person = entry["person_or_org"]
    out: dict[str, Any] = {"a": person["name"]}
    for ident in person.get("identifiers", []):
        if ident.get("scheme") in ("gnd", "orcid"):
            out.setdefault("0", []).append(f"({ident['scheme']}){ident['identifier']}")
    if entry.get("affiliations"):
        out["u"] = entry["affiliations"][0]["name"]
    role = (entry.get("role") or {}).get("id", "")
    if role:
        marc = _props("contributorsroles", role).get("marc")
        if marc:
            out["4"] = marc
    return out


def _marc_fields(record: dict[str, Any], base: str) -> list[tuple[str, Any]]:
    """``MARCXMLSchema``'s fields in its order (a missing title, date or type fails, as there)."""
    md = record["metadata"]
    pids = record.get("pids", {})
    communities = record.get("parent", {}).get("communities", {}).get("entries", [])
    out: list[tuple[str, Any]] = [("001", record["id"])]
    if "doi" in pids:
        out.append(("024  ", {"2": "doi", "a": pids["doi"]["identifier"]}))
    else:
        doi = next((i for i in md.get("identifiers", []) if i.get("scheme") == "doi"), None)
        if doi:
            out.append(("024  ", {"2": "doi", "o": doi["identifier"]}))
    if "oai" in pids:
        oai: dict[str, Any] = {"o": [pids["oai"]["identifier"]]}
        slugs = [f"user-{c['slug']}" for c in communities if c.get("slug")]
        if slugs:
            oai["p"] = slugs
        out.append(("909CO", oai))
    people = [_marc_person(c) for c in md.get("contributors", [])]
    people += [_marc_person(c) for c in md.get("creators", [])[1:]]
    if people:
        out.append(("700  ", people))
    out.append(("245  ", {"a": md["title"]}))
    if md.get("creators"):
        out.append(("100  ", _marc_person(md["creators"][0])))
    relations = [
        {"a": f"{r.get('scheme')}:{r.get('identifier')}"}
        for r in [*md.get("alternate_identifiers", []), *md.get("related_identifiers", [])]
    ]
    if relations:
        out.append(("856 2", relations))
    status = record.get("access", {}).get("status")
    rights: list[dict[str, Any]] = (
        [{"a": f"info:eu-repo/semantics/{status}Access"}] if status else []
    )
    for right in md.get("rights", []):
        item = {}
        if right.get("title", {}).get("en"):
            item["a"] = right["title"]["en"]
        url = right.get("link") or right.get("props", {}).get("url")
        if url:
            item["u"] = url
        rights.append(item)
    if rights:
        out.append(("540  ", rights))
    licences = []
    for right in md.get("rights", []):
        item = {}
        if right.get("id"):
            item["a"] = right["id"]
        if right.get("props", {}).get("scheme"):
            item["2"] = right["props"]["scheme"]
        licences.append(item)
    if licences:
        out.append(("65017", licences))
    if md.get("subjects"):
        out.append(("653  ", [{"a": s["subject"]} for s in md["subjects"]]))
    if md.get("description"):
        out.append(("520  ", [{"a": _xml_text(md["description"])}]))  # bleach.clean escapes
    extra = [{"a": _xml_text(d["description"])} for d in md.get("additional_descriptions", [])]
    if extra:
        out.append(("500  ", extra))
    if md.get("languages"):
        out.append(("041  ", [{"a": lang["id"]} for lang in md["languages"]]))
    if md.get("references"):
        out.append(("999C5", [{"x": ref["reference"]} for ref in md["references"]]))
    publication: dict[str, Any] = {}
    if md.get("publisher"):
        publication["b"] = md["publisher"]
    publication["c"] = [md["publication_date"]]
    if status == "embargoed":
        publication["c"].append(
            f"info:eu-repo/date/embargoEnd/{record['access']['embargo']['until']}"
        )
    out.append(("260  ", publication))
    university = record.get("custom_fields", {}).get("thesis:university")
    if university:
        out.append(("502  ", {"c": university}))
    types = [{"a": f"user-{c.get('slug')}"} for c in communities]
    rt = _resource_type_id(record)
    if rt:
        props = _props("resourcetypes", rt)
        if props.get("eurepo"):
            types.append({"a": props["eurepo"]})
        kinds = {
            k: props[p] for k, p in (("a", "marc21_type"), ("b", "marc21_subtype")) if props.get(p)
        }
        if kinds:
            types.append(kinds)
    if types:
        out.append(("980  ", types))
    if md.get("formats"):
        out.append(("520 1", [{"a": f} for f in md["formats"]]))
    if md.get("sizes"):
        out.append(("520 2", [{"a": size} for size in md["sizes"]]))
    if md.get("funding"):
        funding = []
        for fund in md["funding"]:
            award = fund.get("award", {})
            item = {}
            if award.get("number"):
                item["c"] = award["number"]
            if award.get("title", {}).get("en"):
                item["a"] = award["title"]["en"]
            funding.append(item)
        out.append(("536  ", funding))
    updated = datetime.fromisoformat(record["updated"])
    out.append(("005", updated.strftime("%Y%m%d%H%M%S.0")))
    files_section = record.get("files", {})
    if files_section.get("enabled", False):
        entries = [
            {
                "s": str(e["size"]),
                "z": e["checksum"],
                "u": f"{base}records/{record['id']}/files/{quote(e['key'], safe=_PATH_SAFE)}",
            }
            for e in files_section.get("entries", {}).values()
        ]
        if entries:
            out.append(("8564 ", entries))
    out.append(("542  ", {"l": status}))
    host = [
        {"a": r["identifier"], "i": r["relation_type"]["title"]["en"], "n": r["scheme"]}
        for r in md.get("related_identifiers", [])
    ]
    parent_doi = record.get("parent", {}).get("pids", {}).get("doi")
    if parent_doi:
        host.append({"a": parent_doi["identifier"], "i": "isVersionOf", "n": "doi"})
    if host:
        out.append(("773  ", host))
    return out


def marcxml(record: dict[str, Any], base: str) -> str:
    """MARC21 slim XML, as ``MARCXMLSchema`` + dojson's ``dumps_etree`` write it."""
    rt = (record["metadata"].get("resource_type") or {}).get("id") or _resource_type_id(record)
    if rt is None:
        raise KeyError("resource_type")  # upstream's get_leader fails the same way (500)
    leader = _config()["marc_leader"].replace("?", _config()["marc_record_types"].get(rt, "a"))
    nodes = [_Node("leader", leader)]
    for tag, value in _marc_fields(record, base):
        if len(tag) == 3:
            nodes.append(_Node("controlfield", str(value), [("tag", tag)]))
            continue
        for item in value if isinstance(value, list) else [value]:
            field_node = _Node(
                "datafield", attrs=[("tag", tag[:3]), ("ind1", tag[3]), ("ind2", tag[4])]
            )
            for code, sub in item.items():
                for v in sub if isinstance(sub, list) else [sub]:
                    field_node.children.append(_Node("subfield", str(v), [("code", code)]))
            nodes.append(field_node)
    root = _Node("record", attrs=[("xmlns", "http://www.loc.gov/MARC21/slim")], children=nodes)
    out = ["<?xml version='1.0' encoding='utf-8'?>"]
    root.write(out)
    return "\n".join(out) + "\n"


# --- CSV (flask-resources' CSVSerializer with header separator ".") --------------------------
class _CsvFlattener:
    """Flattens a record as ``CSVSerializer`` does: every leaf a column (full), or only the
    included paths with lists collapsed into newline-joined cells (simple)."""

    def __init__(self, included: list[str] | None = None) -> None:
        self.included = included or []
        self.collapse = bool(included)

    def included_key(self, key: str) -> bool:
        # upstream's key_in_field: a substring test against each included path
        return not self.included or any(key in path for path in self.included)

    def flatten(self, value: Any, parent: str = "") -> dict[str, Any]:
        items: dict[str, Any] = {}
        sep = "." if parent else ""
        if isinstance(value, dict):
            for k, v in value.items():
                key = parent + sep + k
                if self.included_key(key):
                    items.update(self.flatten(v, key))
        elif isinstance(value, list):
            if not self.collapse:
                for index, item in enumerate(value):
                    key = parent + sep + str(index)
                    if self.included_key(key):
                        items.update(self.flatten(item, key))
            elif self.included_key(parent):
                if all(isinstance(v, str) for v in value):
                    items[parent] = "\n".join(value)
                else:
                    items.update(self._list_of_dicts(value, parent))
        elif self.included_key(parent):
            items[parent] = value
        return items

    def _list_of_dicts(self, value: list[Any], parent: str) -> dict[str, str]:
        if any(isinstance(v, dict) for item in value for v in item.values()):
            return self._list_of_nested_dicts(value, parent)
        return self._combine(((f"{parent}.{k}", v) for k, v in item.items()) for item in value)

    def _list_of_nested_dicts(self, value: list[Any], parent: str) -> dict[str, str]:
        combined: dict[str, list[Any]] = {}
        seen: set[str] = set()
        for n, item in enumerate(value):
            current: set[str] = set()
            for k1, v1 in item.items():
                if isinstance(v1, str):
                    key = f"{parent}.{k1}"
                    if self.included_key(key):
                        combined[key] = [v1]  # upstream overwrites (and does not track) these
                elif isinstance(v1, dict):
                    for k2, v2 in v1.items():
                        key = f"{parent}.{k1}.{k2}"
                        if isinstance(v2, str) and self.included_key(key):
                            current.add(key)
                            if key in seen:
                                combined[key].append(v2)
                            else:
                                seen.add(key)
                                combined[key] = [""] * n + [v2]
            for key in seen - current:
                combined[key].append("")
        return {k: "\n".join(map(str, v)) for k, v in combined.items()}

    def _combine(self, rows: Any) -> dict[str, str]:
        combined: dict[str, list[Any]] = {}
        seen: set[str] = set()
        for n, row in enumerate(rows):
            current: set[str] = set()
            for key, v in row:
                if self.included_key(key):
                    current.add(key)
                    if key in seen:
                        combined[key].append(v)
                    else:
                        seen.add(key)
                        combined[key] = [""] * n + [v]
            for key in seen - current:
                combined[key].append("")
        return {k: "\n".join(map(str, v)) for k, v in combined.items()}


def _csv(record: dict[str, Any], included: list[str] | None) -> str:
    row = _CsvFlattener(included).flatten(record)
    headers = included or sorted(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=headers, extrasaction="ignore")
    writer.writeheader()
    writer.writerow(row)
    return buffer.getvalue()


def csv_full(record: dict[str, Any], base: str) -> str:
    return _csv(record, None)


def csv_simple(record: dict[str, Any], base: str) -> str:
    return _csv(record, list(_config()["csv_simple_fields"]))


#: Werkzeug's path converter keeps these characters of a file name unquoted.
_PATH_SAFE = "/:@!$&'()*+,;="


def bibliography(
    record: dict[str, Any],
    base: str,
    style: str = citation.DEFAULT_STYLE,
    locale: str = citation.DEFAULT_LOCALE,
) -> str:
    """``text/x-bibliography``: the CSL JSON formatted as a citation string (``?style=``,
    ``?locale=``); raises ``citation.StyleNotFound`` for a style the sandbox does not format."""
    doi_link = record.get("links", {}).get("doi")
    return citation.citation(csl(record, base), doi_link, style, locale)


def dcat_xml(record: dict[str, Any], base: str) -> str:
    """``application/dcat+xml``: the DataCite JSON as DCAT-AP, one distribution per file
    (``DcatSchema.get_files``: the file's download URL, size, and the DOI's URL)."""
    files: list[dict[str, str]] = []
    if record.get("files", {}).get("enabled"):
        doi = record.get("pids", {}).get("doi", {}).get("identifier")
        for entry in record["files"].get("entries", {}).values():
            files.append({
                "key": entry["key"],
                "size": str(entry["size"]),
                "download_url": f"{base}records/{record['id']}/files/"
                                f"{quote(entry['key'], safe=_PATH_SAFE)}",
                "access_url": f"https://doi.org/{doi}" if doi else "",
            })
    return dcat.dcat(datacite(record, base), files)


#: mimetype -> serialiser of the record dump
SERIALISERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "application/ld+json": schemaorg,
    "application/vnd.citationstyles.csl+json": csl,
    "application/vnd.datacite.datacite+json": datacite,
    "application/x-bibtex": bibtex,
    "application/vnd.geo+json": geojson,
    "application/x-dc+xml": dublin_core,
    "application/vnd.datacite.datacite+xml": datacite_xml,
    "application/linkset+json": linkset,
    "application/marcxml+xml": marcxml,
    "application/vnd.inveniordm.v1.full+csv": csv_full,
    "application/vnd.inveniordm.v1.simple+csv": csv_simple,
    "text/x-bibliography": bibliography,
    "application/dcat+xml": dcat_xml,
}


def serialise(
    mimetype: str, record: dict[str, Any], base: str, args: dict[str, str] | None = None
) -> str:
    """The body of ``record`` in ``mimetype`` (JSON ones with flask-resources' separators);
    ``args``: the query's ``style`` and ``locale`` (the citation string reads them, empty ones
    meaning the defaults, as upstream)."""
    if mimetype == "text/x-bibliography":
        args = args or {}
        return bibliography(
            record,
            base,
            args.get("style") or citation.DEFAULT_STYLE,
            args.get("locale") or citation.DEFAULT_LOCALE,
        )
    result = SERIALISERS[mimetype](record, base)
    return result if isinstance(result, str) else json.dumps(result)
