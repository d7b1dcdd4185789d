"""Loading draft input the way InvenioRDM's RDMRecordSchema does (API-v3.md §3.2, §5.2, §7).

Drafts are lenient: ``load_draft`` keeps the valid parts, drops invalid or unknown ones and lists
them as ``errors``.  What does fail the whole request is an unknown vocabulary id (400
``Invalid value <id>.``), raised as :class:`~ecasrepro.sandbox.v3.errors.ApiError`.  Publishing
re-checks the required fields with ``publish_errors``.  B2SHARE's documented deltas apply:
``resource_types`` (a list) instead of ``resource_type``, plus ``contact_emails`` and
``community_extension``.

One job: load draft input as InvenioRDM does, so that the sandbox keeps, drops and refuses what the
real server would.

May import: ecasrepro.dates, ecasrepro.pids (the rules the v3 client check shares), .errors,
.vocabularies; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import re
from typing import Any

from ecasrepro.dates import is_edtf_date
from ecasrepro.pids import V3_IDENTIFIER_SCHEMES, v3_identifier
from ecasrepro.sandbox.v3 import vocabularies
from ecasrepro.sandbox.v3.errors import ApiError, field_error

MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
NOT_A_LIST = "Not a valid list."
NOT_A_STRING = "Not a valid string."
NOT_AN_OBJECT = "Invalid input type."
BAD_DATE = "Please provide a valid date or interval."

METADATA_KEYS = (
    "resource_types",
    "creators",
    "title",
    "publication_date",
    "additional_titles",
    "publisher",
    "subjects",
    "contributors",
    "dates",
    "languages",
    "identifiers",
    "related_identifiers",
    "sizes",
    "formats",
    "version",
    "rights",
    "copyright",
    "description",
    "additional_descriptions",
    "locations",
    "funding",
    "references",
    "contact_emails",
    "community_extension",
)

PERSON_SCHEMES = ("orcid", "isni", "gnd", "ror")

LANGUAGE_RE = re.compile(r"^[a-z]{3}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_LABELS = {"doi": "DOI", "handle": "Handle", "url": "URL"}


class _Errors:
    """Collects ``{"field", "messages"}`` items in marshmallow's dotted-path form."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, path: str, message: str) -> None:
        for item in self.items:
            if item["field"] == path:
                item["messages"].append(message)
                return
        self.items.append(field_error(path, message))


def _vocab_ref(vocab_type: str, value: Any, path: str, errors: _Errors) -> dict[str, str] | None:
    """``{"id": ...}``; an unknown id fails the whole request, as upstream's relation check."""
    if not isinstance(value, dict):
        errors.add(path, NOT_AN_OBJECT)
        return None
    term_id = value.get("id")
    if not isinstance(term_id, str) or not term_id:
        errors.add(f"{path}.id", MISSING)
        return None
    if vocabularies.lookup(vocab_type, term_id) is None:
        raise ApiError(400, f"Invalid value {term_id}.")
    return {"id": term_id}


def _string(value: Any, path: str, errors: _Errors, min_length: int = 0) -> str | None:
    if not isinstance(value, str):
        errors.add(path, NOT_A_STRING)
        return None
    if len(value.strip()) < min_length:
        errors.add(path, f"Shorter than minimum length {min_length}.")
        return None
    return value


def _list(value: Any, path: str, errors: _Errors) -> list[Any] | None:
    if not isinstance(value, list):
        errors.add(path, NOT_A_LIST)
        return None
    return value


def _unknown_keys(
    item: dict[str, Any], allowed: tuple[str, ...], path: str, errors: _Errors
) -> None:
    for key in item:
        if key not in allowed:
            errors.add(f"{path}.{key}", UNKNOWN)


def _identifier(
    item: Any, path: str, errors: _Errors, schemes: tuple[str, ...] | list[str]
) -> dict[str, str] | None:
    """``{"identifier", "scheme"}`` with idutils-style validation and normalisation.

    A bad scheme or identifier is a schema-level error upstream (``IdentifierSchema``): marshmallow
    keeps the entry as sent in ``valid_data``, so a partial save stores it un-normalised.
    """
    if not isinstance(item, dict):
        errors.add(path, NOT_AN_OBJECT)
        return None
    identifier = item.get("identifier")
    if not isinstance(identifier, str) or not identifier.strip():
        errors.add(f"{path}.identifier", MISSING)
        return None
    scheme = item.get("scheme")
    if scheme is None:
        errors.add(f"{path}.scheme", "No valid scheme recognized for identifier.")
        return {"identifier": identifier}
    if scheme not in schemes:
        errors.add(f"{path}.scheme", "Invalid scheme.")
        return {"identifier": identifier, "scheme": str(scheme)}
    normalised = v3_identifier(scheme, identifier)
    if normalised is None:
        errors.add(f"{path}.identifier", f"Invalid {_LABELS.get(scheme, scheme)} identifier.")
        return {"identifier": identifier, "scheme": scheme}
    return {"identifier": normalised, "scheme": scheme}


def _person_or_org(value: Any, path: str, errors: _Errors) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        errors.add(path, MISSING if value is None else NOT_AN_OBJECT)
        return None
    _unknown_keys(value, ("type", "name", "given_name", "family_name", "identifiers"), path, errors)
    kind = value.get("type")
    if kind not in ("organizational", "personal"):
        errors.add(f"{path}.type", "Invalid value. Choose one of ['organizational', 'personal'].")
        return None
    out: dict[str, Any] = {"type": kind}
    if kind == "personal":
        family = value.get("family_name")
        if not isinstance(family, str) or not family.strip():
            errors.add(f"{path}.family_name", "Family name cannot be blank.")
            return None
        given = value.get("given_name")
        out["name"] = f"{family}, {given}" if isinstance(given, str) and given else family
        if isinstance(given, str) and given:
            out["given_name"] = given
        out["family_name"] = family
    else:
        name = value.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.add(f"{path}.name", "Name cannot be blank.")
            return None
        out["name"] = name
    if "identifiers" in value:
        ids = _list(value["identifiers"], f"{path}.identifiers", errors) or []
        loaded = [
            _identifier(item, f"{path}.identifiers.{n}", errors, PERSON_SCHEMES)
            for n, item in enumerate(ids)
        ]
        out["identifiers"] = [i for i in loaded if i is not None]
    return out


def _creatibutor(
    item: Any, path: str, errors: _Errors, role_vocab: str, role_required: bool
) -> Any:
    if not isinstance(item, dict):
        errors.add(path, NOT_AN_OBJECT)
        return None
    _unknown_keys(item, ("person_or_org", "affiliations", "role"), path, errors)
    person = _person_or_org(item.get("person_or_org"), f"{path}.person_or_org", errors)
    if person is None:
        return None
    out: dict[str, Any] = {"person_or_org": person}
    if "role" in item:
        role = _vocab_ref(role_vocab, item["role"], f"{path}.role", errors)
        if role is not None:
            out["role"] = role
    elif role_required:
        errors.add(f"{path}.role", MISSING)
        return None
    if "affiliations" in item:
        affiliations = []
        for n, aff in enumerate(_list(item["affiliations"], f"{path}.affiliations", errors) or []):
            if isinstance(aff, dict) and (aff.get("id") or aff.get("name")):
                affiliations.append({k: aff[k] for k in ("id", "name") if k in aff})
            else:
                errors.add(
                    f"{path}.affiliations.{n}",
                    "An existing id or a free text name must be present.",
                )
        out["affiliations"] = affiliations
    return out


def _typed_text(
    item: Any, path: str, errors: _Errors, text_key: str, vocab_type: str
) -> dict[str, Any] | None:
    """additional_titles / additional_descriptions / dates: text plus a required ``type``."""
    if not isinstance(item, dict):
        errors.add(path, NOT_AN_OBJECT)
        return None
    _unknown_keys(item, (text_key, "type", "lang", "description"), path, errors)
    text = item.get(text_key)
    if not isinstance(text, str) or not text:
        errors.add(f"{path}.{text_key}", MISSING)
        return None
    if text_key == "date" and not is_edtf_date(text):
        errors.add(f"{path}.date", BAD_DATE)
        return None
    if "type" not in item:
        errors.add(f"{path}.type", MISSING)
        return None
    kind = _vocab_ref(vocab_type, item["type"], f"{path}.type", errors)
    if kind is None:
        return None
    out: dict[str, Any] = {text_key: text, "type": kind}
    if isinstance(item.get("lang"), dict) and "id" in item["lang"]:
        out["lang"] = {"id": item["lang"]["id"]}
    if text_key == "date" and isinstance(item.get("description"), str):
        out["description"] = item["description"]
    return out


def _rights(item: Any, path: str, errors: _Errors) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.add(path, NOT_AN_OBJECT)
        return None
    free = {k: item[k] for k in ("title", "description", "link") if k in item}
    # With an id, title/description/icon/props are dump-only and stripped (a GET echoes back).
    if "id" in item and "link" in item:
        errors.add(
            path,
            "Only an existing id or free text title/description/link is accepted, but not both "
            "cases at the same time",
        )
        return None
    if "id" in item:
        return _vocab_ref("licenses", item, path, errors)
    if "title" not in free:
        errors.add(path, "An existing id or a free text title must be present")
        return None
    return free


def _related(item: Any, path: str, errors: _Errors) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.add(path, NOT_AN_OBJECT)
        return None
    _unknown_keys(item, ("identifier", "scheme", "relation_type", "resource_type"), path, errors)
    if "relation_type" not in item:
        errors.add(f"{path}.relation_type", MISSING)
        return None
    relation = _vocab_ref("relationtypes", item["relation_type"], f"{path}.relation_type", errors)
    resource = None
    if "resource_type" in item:
        resource = _vocab_ref(
            "resourcetypes", item["resource_type"], f"{path}.resource_type", errors
        )
    identifier = _identifier(item, path, errors, V3_IDENTIFIER_SCHEMES)
    if identifier is None or relation is None:
        return None
    out: dict[str, Any] = {**identifier, "relation_type": relation}
    if resource is not None:
        out["resource_type"] = resource
    return out


def _items(value: Any, path: str, errors: _Errors, load: Any) -> list[Any] | None:
    items = _list(value, path, errors)
    if items is None:
        return None
    loaded = [load(item, f"{path}.{n}", errors) for n, item in enumerate(items)]
    return [item for item in loaded if item is not None]


def load_metadata(metadata: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Clean ``metadata`` for storage; return it with the field errors of the dropped parts."""
    errors = _Errors()
    if not isinstance(metadata, dict):
        errors.add("metadata", NOT_AN_OBJECT)
        return {}, errors.items
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        path = f"metadata.{key}"
        if key not in METADATA_KEYS:
            errors.add(path, UNKNOWN)
            continue
        loaded: Any = None
        if key == "title":
            loaded = _string(value, path, errors, min_length=3)
        elif key in ("publisher", "version", "copyright", "description"):
            loaded = _string(value, path, errors)
        elif key == "publication_date":
            if is_edtf_date(value):
                loaded = value
            else:
                errors.add(path, BAD_DATE)
        elif key == "resource_types":
            loaded = _items(
                value, path, errors, lambda v, p, e: _vocab_ref("resourcetypes", v, p, e)
            )
        elif key == "creators":
            loaded = _items(
                value, path, errors, lambda v, p, e: _creatibutor(v, p, e, "creatorsroles", False)
            )
        elif key == "contributors":
            loaded = _items(
                value,
                path,
                errors,
                lambda v, p, e: _creatibutor(v, p, e, "contributorsroles", True),
            )
        elif key == "additional_titles":
            loaded = _items(
                value, path, errors, lambda v, p, e: _typed_text(v, p, e, "title", "titletypes")
            )
        elif key == "additional_descriptions":
            loaded = _items(
                value,
                path,
                errors,
                lambda v, p, e: _typed_text(v, p, e, "description", "descriptiontypes"),
            )
        elif key == "dates":
            loaded = _items(
                value, path, errors, lambda v, p, e: _typed_text(v, p, e, "date", "datetypes")
            )
        elif key == "rights":
            loaded = _items(value, path, errors, _rights)
        elif key == "related_identifiers":
            loaded = _items(value, path, errors, _related)
        elif key == "identifiers":
            loaded = _items(
                value, path, errors, lambda v, p, e: _identifier(v, p, e, V3_IDENTIFIER_SCHEMES)
            )
        elif key == "languages":
            loaded = _items(value, path, errors, _language)
        elif key == "contact_emails":
            loaded = _items(value, path, errors, _contact_email)
        elif key == "community_extension":
            if isinstance(value, dict):
                loaded = value
            else:
                errors.add(path, NOT_AN_OBJECT)
        elif key in ("sizes", "formats"):
            loaded = _items(value, path, errors, lambda v, p, e: _string(v, p, e))
        else:  # subjects, locations, funding, references: kept as sent (shape not checked)
            loaded = value
        if loaded is not None:
            out[key] = loaded
    for required in ("title", "publication_date"):
        if required not in metadata:
            errors.add(f"metadata.{required}", MISSING)
    for required in ("creators", "resource_types"):
        if required not in metadata or (
            not metadata[required] and isinstance(metadata[required], list)
        ):
            errors.add(f"metadata.{required}", MISSING)
    return out, errors.items


def _language(item: Any, path: str, errors: _Errors) -> dict[str, str] | None:
    """An id of the languages vocabulary (ISO 639-3); an unknown one fails the request."""
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        if LANGUAGE_RE.match(item["id"]) and vocabularies.lookup("languages", item["id"]):
            return {"id": item["id"]}
        raise ApiError(400, f"Invalid value {item['id']}.")
    errors.add(f"{path}.id", MISSING)
    return None


def _contact_email(item: Any, path: str, errors: _Errors) -> Any:
    """B2SHARE's ``contact_emails[]``: item shape unpublished; a string or ``{"email": ...}``."""
    email = item.get("email") if isinstance(item, dict) else item
    if isinstance(email, str) and EMAIL_RE.match(email):
        return item
    errors.add(path, "Not a valid email address.")
    return None


def publish_errors(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Required-field errors for strict (publish / submit-review) validation of stored metadata."""
    errors = _Errors()
    for key in ("resource_types", "creators", "title", "publication_date"):
        if not metadata.get(key):
            errors.add(f"metadata.{key}", MISSING)
    return errors.items


def expand_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Dump form: vocabulary references come back with their titles (licences in full)."""
    out = dict(metadata)

    def ref(vocab_type: str, value: dict[str, Any]) -> dict[str, Any]:
        term = vocabularies.lookup(vocab_type, value.get("id", ""))
        return vocabularies.expanded(vocab_type, term) if term else value

    if "resource_types" in out:
        out["resource_types"] = [ref("resourcetypes", v) for v in out["resource_types"]]
    if "languages" in out:
        out["languages"] = [ref("languages", v) for v in out["languages"]]
    if "rights" in out:
        out["rights"] = [ref("licenses", v) if "id" in v else v for v in out["rights"]]
    for key, role_vocab in (("creators", "creatorsroles"), ("contributors", "contributorsroles")):
        if key in out:
            out[key] = [
                {**c, "role": ref(role_vocab, c["role"])} if "role" in c else c for c in out[key]
            ]
    if "related_identifiers" in out:
        expanded = []
        for item in out["related_identifiers"]:
            item = {**item, "relation_type": ref("relationtypes", item["relation_type"])}
            if "resource_type" in item:
                item["resource_type"] = ref("resourcetypes", item["resource_type"])
            expanded.append(item)
        out["related_identifiers"] = expanded
    for key, vocab_type in (
        ("additional_titles", "titletypes"),
        ("additional_descriptions", "descriptiontypes"),
        ("dates", "datetypes"),
    ):
        if key in out:
            out[key] = [{**v, "type": ref(vocab_type, v["type"])} for v in out[key]]
    return out
