"""Search parameters, envelopes and facets of the v3 sandbox, as InvenioRDM 13 answers them.

Pagination follows ``invenio_records_resources`` (``page``/``size`` validated by the request args
schema, the window of 10,000 results clips ``size``), an unknown sort is a validation error of
``_schema``, and the envelope is ``hits``, ``aggregations``, ``sortBy``, ``page``, ``links`` with
``links`` built as Flask's ``url_for`` builds them (arguments sorted, Werkzeug's safe characters).
Facets are counted in Python over the whole result set (every hit, before the page is cut, as a
search engine's aggregations are): the sandbox has no search engine, so beyond those counts the
buckets approximate; their names and labels are the real ones (``data/b2share/v3/search.yaml``).

One job: the v3 search envelope, so that every v3 list answers with one shape.

May import: .common, .errors, .vocabularies; never ecasrepro.api, ecasrepro.b2share (the client
it serves), or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Response, request

from ecasrepro.sandbox.v3 import vocabularies
from ecasrepro.sandbox.v3.common import base_url, json_response
from ecasrepro.sandbox.v3.errors import INVALID_QUERY, ApiError, field_error, validation_error

#: Werkzeug's ``_urlencode`` keeps these characters as they are in query strings.
URL_SAFE = "!$'()*,/:;?@"


def config() -> dict[str, Any]:
    return vocabularies.facts("search.yaml")


@dataclass(frozen=True)
class Paging:
    page: int
    size: int
    sort: str

    @property
    def window(self) -> tuple[int, int]:
        """``Pagination.from_idx`` / ``to_idx``: slices never pass the result window."""
        limit = int(config()["pagination"]["default_max_results"])
        return (self.page - 1) * self.size, min(self.page * self.size, limit)


def _int_arg(name: str, default: int, errors: list[dict[str, Any]]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append(field_error(name, "Not a valid integer."))
        return default
    if value < 1:
        errors.append(field_error(name, "Must be greater than or equal to 1."))
    return value


def paging(default_sort: str, sorts: tuple[str, ...]) -> Paging:
    """The request's page, size and sort, refused as upstream refuses them."""
    errors: list[dict[str, Any]] = []
    page = _int_arg("page", 1, errors)
    size = _int_arg("size", int(config()["pagination"]["default_results_per_page"]), errors)
    if errors:
        raise validation_error(errors)
    sort = request.args.get("sort") or default_sort
    if sort not in sorts:
        raise validation_error([field_error("_schema", f"Invalid sort option '{sort}'.")])
    if (page - 1) * size >= int(config()["pagination"]["default_max_results"]):
        raise ApiError(400, INVALID_QUERY)  # Pagination.valid(): the page starts beyond the window
    return Paging(page, size, sort)


#: marshmallow's Boolean truthy strings (``allversions`` is parsed, then linked as True/False).
TRUTHY = {"t", "true", "on", "y", "yes", "1"}


def _kept_args(path: str, facets: str | None) -> list[tuple[str, str]]:
    """The arguments upstream's search links carry beyond paging: ``allversions`` of record
    searches (as the parsed boolean) and the search's facet filters as sent; others drop."""
    kept: list[tuple[str, str]] = []
    if path.startswith(("api/records", "api/user/records")) and "allversions" in request.args:
        kept.append(("allversions", str(request.args["allversions"].lower() in TRUTHY)))
    names = [*config()["facets"].get(facets or "", []), *config().get("link_filters", {}).get(
        facets or "", [])]
    for name in names:
        kept.extend((name, value) for value in request.args.getlist(name))
    return kept


def _link(path: str, paging: Paging, page: int, kept: list[tuple[str, str]]) -> str:
    args: list[tuple[str, Any]] = [("page", page), ("size", paging.size), ("sort", paging.sort)]
    if request.args.get("q"):
        args.append(("q", request.args["q"]))
    ordered = sorted([*args, *kept], key=lambda kv: kv[0])
    return f"{base_url()}{path}?{urlencode(ordered, safe=URL_SAFE)}"


def _terms(name: str, keys: list[str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    definition = config()["facet_definitions"][name]
    values = definition.get("values") or {}
    counts = Counter(keys)
    buckets = [
        {
            "key": key,
            "doc_count": count,
            "label": (labels or {}).get(key) or values.get(key) or key,
            "is_selected": False,
        }
        for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {"buckets": buckets, "label": definition["label"]}


def _resource_types(hits: list[dict[str, Any]]) -> dict[str, Any]:
    """The nested facet: ``props.type`` buckets with their ``props.subtype`` inner buckets."""
    outer: Counter[str] = Counter()
    inner: dict[str, Counter[str]] = {}
    for hit in hits:
        for ref in hit.get("metadata", {}).get("resource_types", [])[:1]:
            term = vocabularies.lookup("resourcetypes", ref.get("id", ""))
            if term is None:
                continue
            kind = str(term.props.get("type") or term.id)
            outer[kind] += 1
            subtype = str(term.props.get("subtype") or "")
            if subtype:
                inner.setdefault(kind, Counter())[subtype] += 1

    def title(term_id: str) -> str:
        term = vocabularies.lookup("resourcetypes", term_id)
        return term.title.get("en", term_id) if term else term_id

    buckets = []
    for kind, count in sorted(outer.items(), key=lambda kv: (-kv[1], kv[0])):
        sub = sorted(inner.get(kind, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))
        buckets.append(
            {
                "key": kind,
                "doc_count": count,
                "label": title(kind),
                "is_selected": False,
                "inner": {
                    "buckets": [
                        {"key": k, "doc_count": n, "label": title(k), "is_selected": False}
                        for k, n in sub
                    ]
                },
            }
        )
    return {"buckets": buckets, "label": config()["facet_definitions"]["resource_type"]["label"]}


def aggregations(kind: str, hits: list[dict[str, Any]]) -> dict[str, Any]:
    """The facets of ``kind`` (records, drafts, communities, or none) over all hits."""
    out: dict[str, Any] = {}
    for name in config()["facets"].get(kind, []):
        if name == "access_status":
            out[name] = _terms(name, [h.get("access", {}).get("status", "") for h in hits])
        elif name == "file_type":
            exts = [
                str(e.get("ext"))
                for h in hits
                for e in h.get("files", {}).get("entries", {}).values()
                if e.get("ext")
            ]
            out[name] = _terms(name, exts, {e: e.upper() for e in exts})
        elif name == "is_published":
            out[name] = _terms(name, [str(bool(h.get("is_published"))).lower() for h in hits])
        elif name == "resource_type":
            out[name] = _resource_types(hits)
        elif name == "type":
            out[name] = _terms(
                name, [str(h["metadata"]["type"]["id"]) for h in hits
                       if isinstance(h.get("metadata", {}).get("type"), dict)]
            )  # fmt: skip
        elif name == "visibility":
            out[name] = _terms(name, [h.get("access", {}).get("visibility", "") for h in hits])
    return out


def envelope(
    hits: list[dict[str, Any]],
    path: str,
    paging: Paging,
    facets: str | None = None,
    link_path: str | None = None,
) -> Response:
    """``RecordList.to_dict``: aggregations only when there are facets; then sortBy, page, links
    (on ``link_path`` when upstream links another route than the one asked)."""
    start, stop = paging.window
    kept = _kept_args(path, facets)
    where = link_path or path
    links = {"self": _link(where, paging, paging.page, kept)}
    if paging.page > 1 and (paging.page - 2) * paging.size < len(hits):
        links["prev"] = _link(where, paging, paging.page - 1, kept)
    if paging.page * paging.size < len(hits):
        links["next"] = _link(where, paging, paging.page + 1, kept)
    body: dict[str, Any] = {"hits": {"hits": hits[start:stop], "total": len(hits)}}
    aggs = aggregations(facets, hits) if facets else {}
    if aggs:
        body["aggregations"] = aggs
    body.update(sortBy=paging.sort, page=paging.page, links=links)
    return json_response(body, ui=True)
