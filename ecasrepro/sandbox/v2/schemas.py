"""Community schemas and metadata validation, built from the REAL B2SHARE root schemas.

The root schemas ship as package data (``ecasrepro/data/b2share/v2/root_schemas``).  As the real
server does, their ``#/definitions/...`` references are inlined before serving, and a ``$ref``
sitting next to other keys is merged with them (the v1/v2 files use ``"properties": {"x": ...,
"$ref": "#/definitions/person"}``).  Drafts are validated leniently (``required`` and ``minItems``
ignored everywhere), submissions fully; ``format`` is never checked (no format checker, like
invenio-records).  Only the single best-matching error is reported, as jsonschema's ``validate``.

One job: serve and apply the real root schemas, so that the sandbox refuses what the real server
refuses.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError, best_match

_DRAFT4 = "http://json-schema.org/draft-04/schema#"
SERVER_MANAGED = ("ePIC_PID", "DOI", "owners")


def _ignore(*_args: Any) -> Any:
    return iter(())


LenientValidator = validators.extend(Draft4Validator, {"required": _ignore, "minItems": _ignore})


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        target = _inline(definitions[ref[len("#/definitions/") :]], definitions)
        siblings = {k: _inline(v, definitions) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings} if isinstance(target, dict) else target
    return {k: _inline(v, definitions) for k, v in node.items() if k != "definitions"}


@cache
def _root_schema_text(version: int) -> str:
    path = (
        files("ecasrepro")
        / "data"
        / "b2share"
        / "v2"
        / "root_schemas"
        / f"root_schema_v{version}.json"
    )
    raw = json.loads(path.read_text(encoding="utf-8"))["json_schema"]
    return json.dumps(_inline(raw, raw.get("definitions", {})))


def root_schema(version: int) -> dict[str, Any]:
    """Root schema ``version`` with its definitions inlined (a fresh copy)."""
    result: dict[str, Any] = json.loads(_root_schema_text(version))
    return result


def schema_entry(community: dict[str, Any], version: int) -> dict[str, Any] | None:
    for entry in community["schemas"]:
        if entry["version"] == version:
            return dict(entry)
    return None


def last_schema_version(community: dict[str, Any]) -> int:
    return max(int(entry["version"]) for entry in community["schemas"])


def block_schema(community: dict[str, Any], version: int) -> dict[str, Any] | None:
    block = community.get("block_schema")
    if not block or version >= len(block["versions"]):
        return None
    result: dict[str, Any] = copy.deepcopy(block["versions"][version])
    return result


def community_block_part(community: dict[str, Any], version: int, base: str) -> dict[str, Any]:
    """The schema of ``community_specific`` as the real CLI writes it (block referenced by URL)."""
    entry = schema_entry(community, version)
    block = community.get("block_schema")
    if not entry or not block or entry.get("block_version") is None:
        return {
            "$schema": _DRAFT4,
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        }
    block_id = block["id"]
    url = f"{base}api/schemas/{block_id}/versions/{entry['block_version']}#/json_schema"
    return {
        "$schema": _DRAFT4,
        "properties": {block_id: {"$ref": url}},
        "type": "object",
        "additionalProperties": False,
        "required": [block_id],
    }


def community_schema_document(community: dict[str, Any], version: int, base: str) -> dict[str, Any]:
    """``GET /api/communities/<id>/schemas/<n>`` body."""
    entry = schema_entry(community, version)
    assert entry is not None
    cid = community["id"]
    self_url = f"{base}api/communities/{cid}/schemas/{version}"
    return {
        "community": cid,
        "version": version,
        "json_schema": {
            "allOf": [
                root_schema(int(entry["root_schema"])),
                {
                    "type": "object",
                    "properties": {
                        "community_specific": community_block_part(community, version, base)
                    },
                },
            ]
        },
        "draft_json_schema": {"$schema": _DRAFT4, "$ref": f"{self_url}#/json_schema"},
        "links": {"self": self_url},
    }


def _strip_dialects(node: Any) -> Any:
    """Drop nested ``"$schema": "<uri>"`` markers: jsonschema would switch to a fresh Draft 4
    validator inside them and the draft-mode leniency (no required/minItems) would be lost.
    (A *property* named ``$schema`` has a dict value and is kept.)"""
    if isinstance(node, list):
        return [_strip_dialects(item) for item in node]
    if isinstance(node, dict):
        return {
            k: _strip_dialects(v)
            for k, v in node.items()
            if not (k == "$schema" and isinstance(v, str))
        }
    return node


@lru_cache(maxsize=64)
def _validation_schema_text(community_text: str, version: int) -> str:
    return json.dumps(_strip_dialects(_validation_schema(json.loads(community_text), version)))


def _validation_schema(community: dict[str, Any], version: int) -> dict[str, Any]:
    entry = schema_entry(community, version)
    assert entry is not None
    specific = community_block_part(community, version, "http://sandbox/")
    block = community.get("block_schema")
    if block and entry.get("block_version") is not None:
        inline_block = block_schema(community, int(entry["block_version"])) or {}
        inline_block.pop("$schema", None)
        specific["properties"] = {block["id"]: inline_block}
    return {
        "allOf": [
            root_schema(int(entry["root_schema"])),
            {"type": "object", "properties": {"community_specific": specific}},
        ]
    }


def _field_of(error: ValidationError) -> str:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            path.append(str(missing[0]))
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [name for name in error.instance if name not in allowed]
        if extra:
            path.append(str(extra[0]))
    return "/".join(path)


def validate_metadata(
    metadata: dict[str, Any], community: dict[str, Any], version: int, *, full: bool
) -> dict[str, str] | None:
    """Return the single best field error (``{"field","message"}``) or None when valid."""
    # PIDs are stored beside the metadata on the real server (``_pid``), not validated with it.
    metadata = {k: v for k, v in metadata.items() if k not in SERVER_MANAGED}
    entry = schema_entry(community, version)
    block = community.get("block_schema")
    if full and block and entry and entry.get("block_version") is not None:
        specific = metadata.get("community_specific")
        if isinstance(specific, dict) and block["id"] not in specific:
            return {
                "field": f"community_specific/{block['id']}",
                "message": 'The "community_specific" metadata object must contain an object '
                f'named "{block["id"]}" containing the community-specific metadata fields',
            }
    schema = json.loads(_validation_schema_text(json.dumps(community, sort_keys=True), version))
    validator_class = Draft4Validator if full else LenientValidator
    error = best_match(validator_class(schema).iter_errors(metadata))
    if error is None:
        return None
    return {"field": _field_of(error), "message": error.message}
