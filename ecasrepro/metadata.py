"""B2SHARE record metadata: build it from a snapshot, merge the user's JSON, validate it locally.

Validation uses the real B2SHARE v2 root schemas shipped as package data, so a user learns about a
bad field on their own machine, with the field named, before anything is sent. The validator is
schema-agnostic: the publisher reuses it with a community's full schema (root + block schema).

One job: build and validate record metadata locally, so that a bad field is named on the user's
machine before anything is sent.

May import: ecasrepro.errors, ecasrepro.userfiles; never an engine (ecasrepro.bundle,
ecasrepro.capture, ecasrepro.b2share), ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from ecasrepro.errors import BadInput, MetadataInvalid, os_reason

#: The ECAS community on B2SHARE (API-v2.md §15); the default community of every record.
ECAS_COMMUNITY_ID = "d2c6e694-0c0a-4884-ad15-ddf498008320"
#: The root schema version our records are built for (the ECAS community uses v1).
DEFAULT_ROOT_SCHEMA_VERSION = 1

ValidationMode = Literal["draft", "submit"]


@cache
def _root_schema_document(version: int) -> str:
    resource = files("ecasrepro") / "data" / "b2share" / "v2" / "root_schemas"
    return (resource / f"root_schema_v{version}.json").read_text(encoding="utf-8")


def load_root_schema(version: int = DEFAULT_ROOT_SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON schema (``json_schema`` member) of B2SHARE v2 root schema ``version`` (0, 1, 2)."""
    if version not in (0, 1, 2):
        raise BadInput(f"B2SHARE root schema version {version} does not exist; use 0, 1 or 2.")
    document = json.loads(_root_schema_document(version))
    schema: dict[str, Any] = document["json_schema"]
    return schema


# --- validation ---------------------------------------------------------------------------------


def _ignore(*_args: Any) -> Iterable[Any]:
    return iter(())


@cache
def _validator_classes() -> dict[str, Any]:
    """Draft-4 validators: the full one, and the lenient one B2SHARE applies to drafts (§9.3)."""
    from jsonschema import Draft4Validator, validators

    lenient = validators.extend(Draft4Validator, {"required": _ignore, "minItems": _ignore})
    return {"submit": Draft4Validator, "draft": lenient}


def _without_dialect_markers(node: Any) -> Any:
    """A copy of a schema without ``"$schema": "<uri>"`` keywords (we choose the class).

    jsonschema picks the validator class of every subschema (and ``$ref`` target) from its own
    ``$schema``, so a community schema (root schema + block schema under ``allOf``, each
    declaring Draft 4) would swap the lenient draft validator for the strict one inside
    ``allOf``. Properties *named* ``$schema`` (their values are objects) are left alone.
    """
    if isinstance(node, Mapping):
        return {key: _without_dialect_markers(value) for key, value in node.items()
                if key != "$schema" or not isinstance(value, str)}
    if isinstance(node, list):
        return [_without_dialect_markers(value) for value in node]
    return node


def field_path(parts: Iterable[Any]) -> str:
    """``["titles", 0, "title"]`` -> ``titles[0].title`` (the way users read JSON paths)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error: Any) -> tuple[str, str]:
    """(field, problem) for one jsonschema error, in words a user can act on."""
    path = list(error.absolute_path)
    keyword = error.validator
    value = error.validator_value
    instance = error.instance
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed)
        name = extra[0] if extra else "?"
        return field_path([*path, name]), "is not a field this schema allows (remove or rename it)"
    if keyword == "required":
        match = re.match(r"^'(.+?)' is a required property", error.message)
        name = match.group(1) if match else "?"
        return field_path([*path, name]), "is required"
    field = field_path(path)
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        wanted = " or ".join(_article(k) for k in kinds)
        return field, f"must be {wanted}, got {_short(instance)}"
    if keyword == "enum":
        choices = ", ".join(json.dumps(v) for v in value)
        return field, f"must be one of {choices}; got {_short(instance)}"
    if keyword == "minLength":
        return field, "must not be empty" if value == 1 else f"needs at least {value} characters"
    if keyword == "minItems":
        return field, f"needs at least {value} item{'s' if value != 1 else ''}"
    if keyword == "uniqueItems":
        return field, "contains the same item twice"
    if keyword in ("minimum", "maximum"):
        return field, f"must be {'>=' if keyword == 'minimum' else '<='} {value}, got {instance}"
    return field, error.message


def _article(kind: str) -> str:
    words = {"object": "an object", "array": "a list", "integer": "an integer"}
    return words.get(kind, f"a {kind}")


def validate_metadata(
    metadata: Mapping[str, Any],
    schema: Mapping[str, Any],
    mode: ValidationMode = "draft",
    *,
    source: str | None = None,
) -> None:
    """Raise MetadataInvalid naming the first bad field; ``draft`` ignores required/minItems.

    ``source`` names where the user can fix it (a file name or "the command-line flags").
    """
    if mode not in ("draft", "submit"):
        raise ValueError(f"mode must be 'draft' or 'submit', not {mode!r}")
    if not isinstance(metadata, Mapping):
        where = f" in {source}" if source else ""
        raise MetadataInvalid(f"record metadata{where} must be a JSON object.")
    validator = _validator_classes()[mode](_without_dialect_markers(schema))
    errors = sorted(
        validator.iter_errors(dict(metadata)),
        key=lambda e: (e.validator == "required", [str(p) for p in e.absolute_path]),
    )
    if not errors:
        return
    field_errors = []
    for error in errors:
        field, problem = _describe(error)
        field_errors.append({"field": field, "message": problem})
    first = field_errors[0]
    more = len(field_errors) - 1
    suffix = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
    fix = f"; fix it in {source}" if source else ""
    raise MetadataInvalid(
        f"metadata field '{first['field']}' {first['message']}{fix}{suffix}.", field_errors
    )


# --- user metadata ------------------------------------------------------------------------------


def load_user_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the user's metadata JSON (the seed client's format is accepted as is)."""
    from ecasrepro.userfiles import METADATA_MAX, loads_json, read_limited

    path = Path(path)
    try:
        text = read_limited(path, "metadata file", METADATA_MAX).decode("utf-8")
    except FileNotFoundError:
        raise BadInput(f"metadata file {path} does not exist; check the --metadata path.") from None
    except IsADirectoryError:
        raise BadInput(f"metadata file {path} is a directory; pass a JSON file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"metadata file {path} cannot be read ({os_reason(exc)}); check it."
        ) from None
    try:
        data = loads_json(text, f"metadata file {path}")
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"metadata file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); fix the JSON."
        ) from None
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(data), "number"
        )
        raise BadInput(
            f"metadata file {path} holds a JSON {kind}, not an object; "
            'write it as {"titles": [...], ...}.'
        )
    return data


def _union(*lists: Iterable[Any]) -> list[Any]:
    """Concatenate, dropping exact duplicates (B2SHARE arrays are uniqueItems), order kept."""
    seen: set[str] = set()
    result = []
    for items in lists:
        for item in items:
            key = json.dumps(item, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                result.append(item)
    return result


def build_record_metadata(
    *,
    title: str,
    creators: Sequence[str] = (),
    description: str | None = None,
    keywords: Sequence[str] = (),
    community: str | None = None,
    related_identifiers: Sequence[Mapping[str, Any]] = (),
    has_outputs: bool = False,
    technical_info: str | None = None,
    user_metadata: Mapping[str, Any] | None = None,
    title_from_flag: bool = True,
    open_access: bool | None = None,
    license: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record metadata (root schema v1 form) for ``data/metadata.json``.

    Explicit values (flags) win over ``user_metadata``; list fields are unioned; the
    related identifiers given here are final (the caller has already merged the user's).
    ``title_from_flag=False`` means ``title`` is only a fallback (e.g. from the notebook) and the
    user's own titles take precedence.
    """
    user = dict(user_metadata or {})
    record: dict[str, Any] = {}
    record.update(user)

    user_titles = user.get("titles") if isinstance(user.get("titles"), list) else None
    if title_from_flag or not user_titles:
        others = [t for t in (user_titles or []) if not (isinstance(t, dict) and "type" not in t)]
        record["titles"] = [{"title": title}, *others]
    record["creators"] = _union(
        user.get("creators") or [], [{"creator_name": name} for name in creators]
    )
    if not record["creators"]:
        del record["creators"]
    descriptions = list(user.get("descriptions") or [])
    if description:
        descriptions = [
            d for d in descriptions
            if not (isinstance(d, dict) and d.get("description_type") == "Abstract")
        ]
        descriptions.insert(0, {"description": description, "description_type": "Abstract"})
    if technical_info:
        descriptions.append({"description": technical_info, "description_type": "TechnicalInfo"})
    if descriptions:
        record["descriptions"] = _union(descriptions)
    all_keywords = _union(user.get("keywords") or [], [{"keyword": k} for k in keywords])
    if all_keywords:
        record["keywords"] = all_keywords
    if license:
        record["license"] = dict(license)
    if open_access is not None:
        record["open_access"] = open_access
    else:
        record.setdefault("open_access", True)
    record["community"] = community or user.get("community") or ECAS_COMMUNITY_ID
    kinds = [{"resource_type_general": "ComputationalNotebook",
              "resource_type_description": "Jupyter notebook"}]
    if has_outputs:
        kinds.append({"resource_type_general": "Dataset",
                      "resource_type_description": "Outputs of the notebook"})
    record["resource_types"] = _union(user.get("resource_types") or [], kinds)
    if related_identifiers:
        record["related_identifiers"] = [dict(r) for r in related_identifiers]
    else:
        record.pop("related_identifiers", None)
    # Keys in a stable, readable order: the record fields first, then whatever the user added.
    order = ["titles", "creators", "descriptions", "keywords", "license", "community",
             "open_access", "resource_types", "related_identifiers"]
    return {k: record[k] for k in order if k in record} | {
        k: v for k, v in record.items() if k not in order
    }


def license_field(value: str) -> dict[str, str]:
    """A ``--license`` value as the record's ``license`` object: a URL is also its URI."""
    text = value.strip()
    if re.match(r"https?://\S+$", text):
        return {"license": text, "license_uri": text}
    return {"license": text}


def record_abstract(record: Mapping[str, Any]) -> str | None:
    """The record's Abstract description (the user's), if it has one."""
    for item in record.get("descriptions") or []:
        if (isinstance(item, Mapping) and item.get("description_type") == "Abstract"
                and str(item.get("description") or "").strip()):
            return str(item["description"]).strip()
    return None


OPENING_TEXT_LIMIT = 300


def opening_text(cells: Iterable[Mapping[str, Any]], limit: int = OPENING_TEXT_LIMIT) -> str | None:
    """The notebook's first markdown text as plain sentences: what its author wrote to open it.

    Heading markup is dropped (a heading becomes a sentence of its own) and the text is cut at
    the last sentence end, else word, within ``limit`` characters.
    """
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source") or ""
        text = "".join(source) if isinstance(source, list) else str(source)
        parts: list[str] = []
        for raw in text.splitlines():
            line = raw.strip()
            if re.fullmatch(r"(=+|-+)", line):  # setext heading underline
                if parts and parts[-1][-1:] not in ".!?:":
                    parts[-1] += "."
                continue
            heading = re.match(r"#{1,6}\s+(.*?)\s*#*$", line)
            if heading:
                line = heading.group(1)
                if line and line[-1] not in ".!?:":
                    line += "."
            if line:
                parts.append(line)
        plain = " ".join(" ".join(parts).split())
        if plain:
            return _shorten(plain, limit)
    return None


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if end >= limit // 3:
        return head[: end + 1]
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else head).rstrip(" ,;:") + "…"
