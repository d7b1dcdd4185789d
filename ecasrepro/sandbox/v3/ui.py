"""The ``ui`` section of the v3 sandbox's ``application/vnd.inveniordm.v1+json`` answers.

InvenioRDM's UI serializer adds to a record's (or draft's) JSON a ``ui`` object for its web
pages: localised dates, vocabulary titles, the access status, creators with numbered
affiliations, the description without HTML (``invenio_rdm_records/resources/serializers/ui``,
``UIRecordSchema``). The sandbox writes it from the record's own dump, in English (the only
locale B2SHARE shows). B2SHARE's ``resource_types`` list: its first entry stands for upstream's
``resource_type``. Dates follow babel's English patterns for single EDTF dates (196 dates checked
against babel_edtf's ``format_edtf``); an interval is its two ends joined by a thin-spaced en
dash, exact for years only (babel's shortened month and day intervals are not imitated).

One job: build the UI serializer's ``ui`` section of a record dump.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import calendar
import re
from copy import deepcopy
from typing import Any

#: AccessStatusEnum -> (title, icon, message class), upstream's ``UIAccessStatus``.
ACCESS = {
    "open": ("Open", "unlock", ""),
    "embargoed": ("Embargoed", "outline clock", "warning"),
    "restricted": ("Restricted", "ban", "negative"),
    "metadata-only": ("Metadata-only", "tag", ""),
}


def _en(value: Any) -> Any:
    """``gettext_from_dict`` for English: the ``en`` title, else the value unchanged."""
    return value.get("en") if isinstance(value, dict) else value


def edtf(value: str, long: bool) -> str:
    """babel_edtf's ``format_edtf`` in English: ``2026`` / ``Dec 2026`` / ``Dec 1, 2026`` (long:
    ``December 2026``, ``December 1, 2026``)."""
    if "/" in value:
        start, end = value.split("/", 1)
        return f"{edtf(start, long)}\u2009\u2013\u2009{edtf(end, long)}"  # exact for years
    parts = value.split("-")
    names = calendar.month_name if long else calendar.month_abbr
    if len(parts) == 1:
        return parts[0]
    month = names[int(parts[1])]
    if len(parts) == 2:
        return f"{month} {parts[0]}"
    return f"{month} {int(parts[2])}, {parts[0]}"


def _vocabulary(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``VocabularyL10Schema``: the id and the English title."""
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    if "id" in value:
        out["id"] = value["id"]
    if "title" in value:
        out["title_l10n"] = _en(value["title"])
    return out


def _with_vocabularies(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    out = []
    for item in items:
        entry = dict(item)
        for key in keys:
            if key in entry:
                entry[key] = _vocabulary(entry[key])
        out.append(entry)
    return out


def _affiliation_index(people: list[dict[str, Any]], attr: str) -> dict[str, Any]:
    """``make_affiliation_index``: affiliations numbered in order of first appearance."""
    people = deepcopy(people)
    index: dict[str, int] = {}
    listed: list[list[Any]] = []
    for person in people:
        if "affiliations" in person:
            numbered = []
            for affiliation in person["affiliations"]:
                name = affiliation.get("name")
                if name not in index:
                    index[name] = len(index) + 1
                    listed.append([index[name], name, affiliation.get("id")])
                numbered.append([index[name], name])
            person["affiliations"] = numbered
        if isinstance(person.get("role"), dict) and "title" in person["role"]:
            person["role"]["title"] = _en(person["role"]["title"])
    return {attr: people, "affiliations": listed}


def _rights(right: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "id" in right:
        out["id"] = right["id"]
    if "title" in right:
        out["title_l10n"] = _en(right["title"])
    if "description" in right:
        out["description_l10n"] = _en(right["description"])
    for key in ("icon", "link", "props"):
        if key in right:
            out[key] = right[key]
    return out


def _access_status(body: dict[str, Any]) -> dict[str, Any] | None:
    access = body.get("access") or {}
    status = access.get("status")
    if status not in ACCESS:
        return None
    title, icon, message_class = ACCESS[status]
    until = (access.get("embargo") or {}).get("until")
    embargo = edtf(until, long=True) if until else until
    files = bool((body.get("files") or {}).get("enabled"))
    restricted = access.get("record") == "restricted"
    descriptions = {
        "open": "The record and files are publicly accessible.",
        "metadata-only": "No files are available for this record.",
        "embargoed": (
            f"The record and files will be made publicly available on {embargo}." if restricted
            and files else f"The record will be made publicly available on {embargo}."
            if restricted else f"The files will be made publicly available on {embargo}."
        ),
        "restricted": (
            "The record and files are restricted to users with access." if restricted and files
            else "The record is restricted to users with access." if restricted
            else "The record is publicly accessible, but files are restricted to users with "
            "access."
        ),
    }
    return {"id": status, "title_l10n": title, "description_l10n": descriptions[status],
            "icon": icon, "embargo_date_l10n": embargo, "message_class": message_class}


def ui_section(body: dict[str, Any]) -> dict[str, Any]:
    """``UIRecordSchema`` of a record or draft dump (fields without a value are left out)."""
    md = body.get("metadata") or {}
    ui: dict[str, Any] = {}
    if md.get("publication_date"):
        ui["publication_date_l10n_medium"] = edtf(md["publication_date"], long=False)
        ui["publication_date_l10n_long"] = edtf(md["publication_date"], long=True)
    for key in ("created", "updated"):
        if body.get(key):
            ui[f"{key}_date_l10n_long"] = edtf(str(body[key])[:10], long=True)
    if md.get("resource_types"):
        ui["resource_type"] = _vocabulary(md["resource_types"][0])
    if "additional_titles" in md:
        ui["additional_titles"] = _with_vocabularies(md["additional_titles"], "type", "lang")
    ui["custom_fields"] = {}
    status = _access_status(body)
    if status is not None:
        ui["access_status"] = status
    for attr in ("creators", "contributors"):
        if md.get(attr):
            ui[attr] = _affiliation_index(md[attr], attr)
    if "languages" in md:
        ui["languages"] = [_vocabulary(v) for v in md["languages"]]
    if md.get("description"):
        ui["description_stripped"] = re.sub(r"<[^>]+>", "", md["description"]).strip()
    ui["version"] = md.get("version") or f"v{(body.get('versions') or {}).get('index')}"
    if "related_identifiers" in md:
        ui["related_identifiers"] = [
            {k: (_vocabulary(v) if k in ("relation_type", "resource_type") else v)
             for k, v in item.items() if k in ("identifier", "relation_type", "scheme",
                                               "resource_type")}
            for item in md["related_identifiers"]
        ]
    if "additional_descriptions" in md:
        ui["additional_descriptions"] = _with_vocabularies(
            md["additional_descriptions"], "type", "lang")
    if "dates" in md:
        ui["dates"] = _with_vocabularies(md["dates"], "type")
    if "rights" in md:
        ui["rights"] = [_rights(r) for r in md["rights"]]
    if "is_draft" in body:
        ui["is_draft"] = body["is_draft"]
    return ui
