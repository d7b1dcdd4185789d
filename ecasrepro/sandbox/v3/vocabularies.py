"""Vocabularies from the real InvenioRDM v13 fixture files packaged under data/b2share/v3.

Loaded once per process (they are read-only).  ``lookup`` is what metadata validation uses;
``term_body`` is the JSON of ``GET /api/vocabularies/<type>/<id>`` (API-v3.md §10).

One job: the real vocabularies, so that unknown ids are refused as the real server refuses them.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

_CREATED = "2025-10-27T11:13:15.629504+00:00"

#: vocabulary type -> fixture file (roles.yaml serves both role vocabularies, as upstream).
SOURCES: dict[str, str] = {
    "resourcetypes": "resource_types.yaml",
    "licenses": "licenses.csv",
    "relationtypes": "relation_types.yaml",
    "titletypes": "title_types.yaml",
    "descriptiontypes": "description_types.yaml",
    "datetypes": "date_types.yaml",
    "creatorsroles": "roles.yaml",
    "contributorsroles": "roles.yaml",
    "removalreasons": "removal_reasons.yaml",
    "languages": "languages.csv",  # languages.yaml flattened (7,847 ISO 639-3 terms, en titles)
}


@dataclass(frozen=True)
class Term:
    """One vocabulary entry as the fixture defines it (title by language, props, tags...)."""

    id: str
    title: dict[str, str]
    props: dict[str, Any]
    tags: list[str]
    icon: str | None = None
    description: dict[str, str] | None = None


@functools.cache
def facts(name: str) -> dict[str, Any]:
    """One YAML file of upstream facts under data/b2share/v3 (search, serialisations, files),
    read once per process like the vocabularies."""
    path = files("ecasrepro") / "data" / "b2share" / "v3" / name
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def _read(name: str) -> str:
    path = files("ecasrepro") / "data" / "b2share" / "v3" / "vocabularies" / name
    return path.read_text(encoding="utf-8")


def _from_yaml(text: str) -> list[Term]:
    terms = []
    for item in yaml.safe_load(text):
        terms.append(
            Term(
                id=str(item["id"]),
                title={k: str(v) for k, v in (item.get("title") or {}).items()},
                props={k: ("" if v is None else v) for k, v in (item.get("props") or {}).items()},
                tags=list(item.get("tags") or []),
                icon=item.get("icon"),
            )
        )
    return terms


def _from_flat_csv(text: str) -> list[Term]:
    """The licences and languages CSVs flatten nested keys as ``title__en``, ``props__url``..."""
    terms = []
    for row in csv.DictReader(io.StringIO(text)):
        props = {k.removeprefix("props__"): v for k, v in row.items() if k.startswith("props__")}
        description = row.get("description__en") or ""
        terms.append(
            Term(
                id=row["id"],
                title={"en": row["title__en"]},
                props=props,
                tags=[t for t in (row.get("tags") or "").split(",") if t],
                icon=row.get("icon") or None,
                description={"en": description} if description else None,
            )
        )
    return terms


@functools.cache
def vocabulary(vocab_type: str) -> dict[str, Term]:
    """All terms of one vocabulary type, by id (empty dict for an unknown type)."""
    source = SOURCES.get(vocab_type)
    if source is None:
        return {}
    text = _read(source)
    terms = _from_flat_csv(text) if source.endswith(".csv") else _from_yaml(text)
    return {term.id: term for term in terms}


def lookup(vocab_type: str, term_id: str) -> Term | None:
    return vocabulary(vocab_type).get(term_id)


def expanded(vocab_type: str, term: Term) -> dict[str, Any]:
    """How a record dump shows a vocabulary reference (id + title; licences more)."""
    body: dict[str, Any] = {"id": term.id, "title": dict(term.title)}
    if vocab_type == "licenses":
        if term.description:
            body["description"] = dict(term.description)
        if term.icon:
            body["icon"] = term.icon
        body["props"] = {k: term.props[k] for k in ("url", "scheme") if k in term.props}
    return body


def term_body(base: str, vocab_type: str, term: Term) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": term.id,
        "created": _CREATED,
        "updated": _CREATED,
        "links": {"self": f"{base}api/vocabularies/{vocab_type}/{term.id}"},
        "revision_id": 1,
        "title": dict(term.title),
    }
    if term.description:
        body["description"] = dict(term.description)
    if term.icon:
        body["icon"] = term.icon
    if term.tags:
        body["tags"] = list(term.tags)
    body["props"] = dict(term.props)
    body["type"] = vocab_type
    return body
