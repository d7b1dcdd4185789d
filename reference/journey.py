"""The client-visible v3 calls, sent alike to the real InvenioRDM and to the sandbox, and compared.

``journey`` is one fixed sequence (what ecasrepro/b2share/v3.py and inveniordm-py send: create,
update, the three-step upload, review, submit, accept, publish, new version, edit, search,
communities, vocabularies, serialisations, errors). ``normalise`` replaces only what neither side
can predict: ids (named by the journey where it learns them, so both servers' ids compare equal),
timestamps, revision numbers, the host; and B2SHARE's documented deltas
(docs/decisions.md, "The reference"). ``compare`` lists the calls that differ.

One job: the call sequence and its comparison, so that both servers are held to one script.

May import: nothing of ecasrepro; never ecasrepro.sandbox (the reference must not trust it).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any
from urllib.parse import quote

import requests

JSON = "application/json"
#: Headers a client reads (content negotiation, optimistic concurrency, redirects).
HEADERS = ("Content-Type", "ETag", "Location")
SERIALISATIONS = (
    "application/vnd.datacite.datacite+json",
    "application/ld+json",
    "application/x-bibtex",
    "application/vnd.citationstyles.csl+json",
    "application/vnd.inveniordm.v1+json",
    "application/x-dc+xml",
    "application/vnd.datacite.datacite+xml",
    "application/marcxml+xml",
    "application/dcat+xml",
    "text/x-bibliography",
)

#: A record id, also inside a word ("doe_2026_<id>" in BibTeX).
RECORD_ID = re.compile(r"(?<![a-z0-9])[a-z0-9]{5}-[a-z0-9]{5}(?![a-z0-9])")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?$")
TIME_IN_TEXT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")
#: A file's block in a serialisation (MARCXML's 856 fields, DCAT's file distributions): they
#: follow the order of the record's file entries, which InvenioRDM lists without ORDER BY.
FILE_BLOCKS = (
    re.compile(r'  <datafield tag="856" ind1="4" ind2=" ">\n.*?  </datafield>\n', re.S),
    re.compile(r"    <dcat:distribution>\n      <dcat:Distribution>\n"
               r"        <dcat:downloadURL .*?    </dcat:distribution>\n", re.S),
)
#: The reference's DOI links (DATACITE_TEST_MODE), where the sandbox links https://doi.org/.
TEST_DOI_LINK = "https://handle.test.datacite.org/"
#: MARC 21's date and time of latest transaction (controlfield 005: the record's ``updated``).
MARC_TIME = re.compile(r'(?<=<controlfield tag="005">)\d{14}\.0(?=</controlfield>)')
#: Values set by the server from a counter other tests also move (request numbers).
COUNTERS = {"number"}
#: ``revision_id`` is compared (both servers count a record's commits alike), but not a
#: community's: the reference's set-up commits its communities once more than the seed does.
#: B2SHARE's documented deltas: DOIs (DataCite is off on the reference) ...
DELTA_KEYS = {"doi", "self_doi", "self_doi_html", "parent_doi", "parent_doi_html", "reserve_doi"}
#: ... and the "everyone" review policy, which upstream does not have ("open" is nearest).
DELTA_VALUES = {("review_policy", "everyone"): "open"}


@dataclass
class Call:
    """One request and what came back, as the comparison sees it."""

    name: str
    status: int
    headers: dict[str, str]
    body: Any
    envelope_only: bool = False


@dataclass
class Client:
    """Sends the journey's calls to one server and records them."""

    url: str
    tokens: dict[str, str]
    calls: list[Call] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    #: The sandbox speaks B2SHARE's metadata (``resource_types``, a list); the journey's bodies
    #: are written in upstream's form and translated for it.
    b2share: bool = False

    def send(
        self,
        name: str,
        method: str,
        path: str,
        *,
        user: str | None = "alice",
        envelope_only: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.b2share and isinstance(kwargs.get("json"), dict):
            kwargs["json"] = _to_b2share(kwargs["json"])
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        url = path if path.startswith("http") else f"{self.url}{path}"
        response = self.session.request(
            method, url, headers=headers, timeout=60, allow_redirects=False, **kwargs
        )
        self.session.cookies.clear()  # a client with a token keeps no cookies (CSRF)
        kept = {h: response.headers[h] for h in HEADERS if h in response.headers}
        try:
            body: Any = response.json() if response.content else None
        except ValueError:  # a file or a serialisation: text compared normalised, bytes by md5
            try:
                body = {"text": response.content.decode("utf-8")}
            except UnicodeDecodeError:
                body = {"md5": hashlib.md5(response.content).hexdigest()}
        self.calls.append(Call(name, response.status_code, kept, body, envelope_only))
        return response

    def label(self, body: Any, name: str, *path: str) -> str:
        """Name an id this server chose (at ``path`` in ``body``, default ``id``), so both
        servers' ids compare as the same name. A missing id becomes ``missing``: the journey
        goes on, and the calls that use it show the difference."""
        value: Any = body
        for key in path or ("id",):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return "missing"
        self.ids[str(value)] = f"<{name}>"
        return str(value)

    def answer(self, *args: Any, **kwargs: Any) -> Any:
        """``send``, returning the JSON body (``None`` when there is none)."""
        self.send(*args, **kwargs)
        return self.calls[-1].body


def _to_b2share(body: dict[str, Any]) -> dict[str, Any]:
    """Upstream's ``metadata.resource_type`` as B2SHARE's ``metadata.resource_types`` list."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or "resource_type" not in metadata:
        return body
    metadata = dict(metadata)
    metadata["resource_types"] = [metadata.pop("resource_type")]
    return dict(body, metadata=metadata)


# --- the journey ------------------------------------------------------------------------------
def _metadata(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "resource_type": {"id": "dataset"},
        "publication_date": "2026-12-01",
        "publisher": "ECAS",
        "creators": [
            {
                "person_or_org": {"type": "personal", "family_name": "Doe", "given_name": "Jane"},
                "affiliations": [{"name": "DKRZ"}],
            }
        ],
        "description": "<p>A reference record.</p>",
        "languages": [{"id": "eng"}],
        "rights": [{"id": "cc-by-4.0"}],
        "subjects": [{"subject": "climate"}],
        "related_identifiers": [
            {
                "identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
                "scheme": "handle",
                "relation_type": {"id": "isderivedfrom"},
            }
        ],
    }


def journey(c: Client) -> None:
    """The calls, in order; ids come from each server's own answers."""
    communities = {}
    for slug in ("eudat", "ecas", "ecas-review", "ecas-members"):
        answer = c.answer(f"community {slug}", "GET", f"/api/communities/{slug}")
        communities[slug] = c.label(answer, f"community {slug}")
    c.send("community search", "GET", "/api/communities", params={"q": "ecas"},
           envelope_only=True)
    c.send("communities, anonymous", "GET", "/api/communities", user=None, envelope_only=True)
    c.send("vocabulary licence", "GET", "/api/vocabularies/licenses/cc-by-4.0")
    c.send("vocabulary resource type", "GET", "/api/vocabularies/resourcetypes/dataset")
    c.send("vocabulary unknown term", "GET", "/api/vocabularies/resourcetypes/no-such-type")

    # A draft: create, read, update (partial save), errors.
    body = {"metadata": _metadata("Reference record"), "access": {"record": "public",
            "files": "public"}, "files": {"enabled": True}}
    draft = c.answer("create draft", "POST", "/api/records", json=body)
    rid = c.label(draft, "record")
    parent = c.label(draft, "parent", "parent", "id")
    c.label(draft, "alice", "parent", "access", "owned_by", "user")
    api = f"/api/records/{rid}"
    c.send("create draft, anonymous", "POST", "/api/records", json=body, user=None)
    c.send("create draft, not JSON", "POST", "/api/records", data="{",
           headers={"Content-Type": JSON})
    c.send("create draft, wrong content type", "POST", "/api/records", data="x",
           headers={"Content-Type": "text/plain"})
    c.send("read draft", "GET", f"{api}/draft")
    c.send("read draft, anonymous", "GET", f"{api}/draft", user=None)
    c.send("read draft, reviewer (not yet in review)", "GET", f"{api}/draft", user="reviewer")
    bad = dict(body, metadata=dict(body["metadata"], title="Reference record, updated"))
    bad["metadata"]["related_identifiers"] = body["metadata"]["related_identifiers"] + [
        {"identifier": "not a doi", "scheme": "doi", "relation_type": {"id": "references"}}
    ]
    c.send("update draft, one bad related identifier", "PUT", f"{api}/draft", json=bad)
    c.send("read draft after partial save", "GET", f"{api}/draft")
    c.send("update draft, bad access", "PUT", f"{api}/draft",
           json=dict(body, access={"record": "secret", "files": "public"}))
    c.send("update draft", "PUT", f"{api}/draft", json=body)
    c.send("update draft, stale If-Match", "PUT", f"{api}/draft", json=body,
           headers={"If-Match": "1000"})
    c.send("publish without files", "POST", f"{api}/draft/actions/publish")
    c.send("user drafts", "GET", "/api/user/records", envelope_only=True,  # this run's draft only
           params={"is_published": "false", "q": f"id:{rid}"})

    # Files: init, content, commit (keys with "/" and spaces, as our client sends them).
    keys = ["data/anomaly.csv", "plots/sub dir/figure.png"]
    contents = {keys[0]: b"year,anomaly\n2020,1.2\n", keys[1]: b"\x89PNG" + bytes(range(256))}
    c.send("files init", "POST", f"{api}/draft/files", json=[{"key": k} for k in keys])
    c.send("files init, an object", "POST", f"{api}/draft/files", json={"key": "x.txt"})
    c.send("files init, a key again", "POST", f"{api}/draft/files", json=[{"key": keys[0]}])
    c.send("files list, pending", "GET", f"{api}/draft/files")
    for key in keys:
        url = f"{api}/draft/files/{quote(key)}"
        c.send(f"file content {key}", "PUT", f"{url}/content", data=contents[key],
               headers={"Content-Type": "application/octet-stream"})
        c.send(f"file commit {key}", "POST", f"{url}/commit")
    c.send("file content, unknown key", "PUT", f"{api}/draft/files/nope.txt/content", data=b"x",
           headers={"Content-Type": "application/octet-stream"})
    c.send("files list", "GET", f"{api}/draft/files")
    c.send("file entry", "GET", f"{api}/draft/files/{quote(keys[0])}")
    c.send("file download (draft)", "GET", f"{api}/draft/files/{quote(keys[0])}/content")
    c.send("file delete", "DELETE", f"{api}/draft/files/{quote(keys[1])}")
    c.send("files init again", "POST", f"{api}/draft/files", json=[{"key": keys[1]}])
    url = f"{api}/draft/files/{quote(keys[1])}"
    c.send("file content again", "PUT", f"{url}/content", data=contents[keys[1]],
           headers={"Content-Type": "application/octet-stream"})
    c.send("file commit again", "POST", f"{url}/commit")
    c.send("read draft with files", "GET", f"{api}/draft")

    # Review in a curated community: attach, read, submit, the curator's side, accept.
    review = {"receiver": {"community": communities["ecas-review"]}, "type": "community-submission"}
    c.send("review, no review yet", "GET", f"{api}/draft/review")
    c.send("review put, unknown community", "PUT", f"{api}/draft/review",
           json={"receiver": {"community": "00000000-0000-0000-0000-000000000000"},
                 "type": "community-submission"})
    c.send("review put", "PUT", f"{api}/draft/review", json=review)
    c.send("review get", "GET", f"{api}/draft/review")
    c.send("read draft with review", "GET", f"{api}/draft")
    submitted = c.answer("submit review", "POST", f"{api}/draft/actions/submit-review",
                         json={"payload": {"content": "Please review.", "format": "html"}})
    request_url = f"/api/requests/{c.label(submitted, 'request')}"
    c.send("request, creator", "GET", request_url)
    c.send("request, curator", "GET", request_url, user="reviewer")
    c.send("draft in review, curator", "GET", f"{api}/draft", user="reviewer")
    c.send("draft in review, owner", "GET", f"{api}/draft")
    c.send("review put while open", "PUT", f"{api}/draft/review", json=review)
    c.send("delete draft in review", "DELETE", f"{api}/draft")
    c.send("accept, creator", "POST", f"{request_url}/actions/accept", json={})
    c.send("accept, curator", "POST", f"{request_url}/actions/accept", user="reviewer",
           json={"payload": {"content": "Fine.", "format": "html"}})

    # The published record, as readers and clients see it.
    c.send("record, anonymous", "GET", api, user=None)
    c.send("record, owner", "GET", api)
    c.send("record draft gone", "GET", f"{api}/draft")
    c.send("record files", "GET", f"{api}/files", user=None)
    c.send("record file download", "GET", f"{api}/files/{quote(keys[0])}/content", user=None)
    for mimetype in SERIALISATIONS:
        c.send(f"record as {mimetype}", "GET", api, user=None, headers={"Accept": mimetype})
    c.send("record as text/html", "GET", api, user=None, headers={"Accept": "text/plain"})
    c.send("record communities", "GET", f"{api}/communities", envelope_only=True)
    c.send("record PUT", "PUT", api, json=body)

    # A new version, files imported, published directly (the owner, a record in its community).
    version = c.answer("new version", "POST", f"{api}/versions")
    vid = c.label(version, "version 2")
    vapi = f"/api/records/{vid}"
    c.send("new version again", "POST", f"{api}/versions")
    c.send("files import", "POST", f"{vapi}/draft/actions/files-import")
    c.send("update version", "PUT", f"{vapi}/draft",
           json=dict(body, metadata=dict(body["metadata"], version="v2")))
    c.send("publish version", "POST", f"{vapi}/draft/actions/publish")
    c.send("versions", "GET", f"{api}/versions", user=None, envelope_only=True)
    c.send("versions latest", "GET", f"{api}/versions/latest", user=None)
    c.send("old version", "GET", api, user=None)

    # Edit a published record, discard the edit, discard again.
    c.send("edit", "POST", f"{vapi}/draft")
    c.send("edit draft", "GET", f"{vapi}/draft")
    c.send("discard edit", "DELETE", f"{vapi}/draft")
    c.send("discard edit again", "DELETE", f"{vapi}/draft")

    # Direct publication in an open community (alice owns it upstream; "everyone" in B2SHARE).
    open_body = {"metadata": _metadata("Metadata only"), "files": {"enabled": False}}
    other = c.answer("create metadata-only draft", "POST", "/api/records", json=open_body)
    oapi = f"/api/records/{c.label(other, 'open record')}"
    c.send("review put, open community", "PUT", f"{oapi}/draft/review",
           json={"receiver": {"community": communities["eudat"]}, "type": "community-submission"})
    c.send("submit review, open community", "POST", f"{oapi}/draft/actions/submit-review",
           json={})
    c.send("record published directly", "GET", oapi)

    # A members-only community, and drafts deleted.
    gone = c.answer("create draft to delete", "POST", "/api/records", json=open_body)
    gapi = f"/api/records/{c.label(gone, 'deleted draft')}"
    c.send("review put, members-only community", "PUT", f"{gapi}/draft/review",
           json={"receiver": {"community": communities["ecas-members"]},
                 "type": "community-submission"})
    c.send("submit review, not a member", "POST", f"{gapi}/draft/actions/submit-review", json={})
    c.send("review delete", "DELETE", f"{gapi}/draft/review")
    c.send("delete draft", "DELETE", f"{gapi}/draft")
    c.send("delete draft again", "DELETE", f"{gapi}/draft")
    c.send("read deleted draft", "GET", f"{gapi}/draft")

    # Search: scoped to this run's records, so earlier runs on the reference do not count.
    c.send("search by id", "GET", "/api/records", user=None, params={"q": f"id:{rid}"},
           envelope_only=True)
    c.send("search by parent", "GET", "/api/records", user=None, envelope_only=True,
           params={"q": f"parent.id:{parent}", "allversions": "true",
                   "sort": "newest"})
    c.send("search, size beyond the window", "GET", "/api/records", user=None,
           params={"size": 20000, "q": f"id:{rid}"}, envelope_only=True)
    c.send("search, unknown sort", "GET", "/api/records", user=None, params={"sort": "nope"})
    c.send("search, page 0", "GET", "/api/records", user=None, params={"page": 0})
    c.send("user records", "GET", "/api/user/records", params={"q": f"id:{vid}"},
           envelope_only=True)
    c.send("user records, anonymous", "GET", "/api/user/records", user=None)
    c.send("unknown record", "GET", "/api/records/abcde-12345", user=None)
    c.send("unknown path", "GET", "/api/no-such-thing", user=None)
    c.send("bad Accept", "GET", api, user=None, headers={"Accept": "image/png"})


# --- normalising and comparing ----------------------------------------------------------------
class Normaliser:
    """Per server: ids named by the journey (others "<other id>"), the base URL dropped,
    B2SHARE's deltas applied."""

    def __init__(self, client: Client) -> None:
        self.base = client.url.rstrip("/")
        self.ids = client.ids
        self.upstream = not client.b2share

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.get(match.group(0), "<other id>")

    def text(self, value: str) -> str:
        if TIME.match(value):
            return "<time>"
        value = TIME_IN_TEXT.sub("<time>", value.replace(self.base, "<base>"))
        value = MARC_TIME.sub("<time>", value)
        if self.upstream:  # DataCite's test mode links DOIs through its test handle server
            value = value.replace(TEST_DOI_LINK, "https://doi.org/")
        value = UUID.sub(self._id, value)
        return _sort_blocks(RECORD_ID.sub(self._id, value))

    def value(self, obj: Any, key: str | None = None) -> Any:
        if isinstance(obj, dict):
            if self.upstream and key == "metadata" and "resource_type" in obj:
                obj = _to_b2share({"metadata": obj})["metadata"]
            return {
                self.text(k): (
                    "<counter>" if k in COUNTERS or (k == "revision_id" and "slug" in obj)
                    else self.value(v, k)
                )
                for k, v in obj.items()
                if k not in DELTA_KEYS
            }
        if key == "user" and isinstance(obj, (str, int)):
            return self.ids.get(str(obj), "<other user>")  # user ids: the server's counter
        if isinstance(obj, list):
            if key == "entries" and all(isinstance(v, dict) and "key" in v for v in obj):
                obj = sorted(obj, key=lambda v: str(v["key"]))  # no ORDER BY upstream
            return [self.value(v, key) for v in obj]
        if isinstance(obj, str):
            obj = DELTA_VALUES.get((key or "", obj), obj)
            return self.text(obj)
        return obj

    def call(self, call: Call) -> dict[str, Any]:
        headers = {k: self.text(v) for k, v in call.headers.items()}
        if "ETag" in headers:
            headers["ETag"] = "<etag>"
        body = self.value(call.body)
        if "pids" in (body if isinstance(body, dict) else {}):
            body["pids"].pop("doi", None)
        if isinstance(body, dict) and isinstance(body.get("parent"), dict):
            body["parent"].get("pids", {}).pop("doi", None)
        if call.envelope_only and isinstance(body, dict):
            body = envelope(body)
        return {"status": call.status, "headers": headers, "body": body}


def _sort_blocks(text: str) -> str:
    """The file blocks of a serialisation in sorted order, each pattern's blocks in the places
    its blocks held (the order of file entries is no contract)."""
    for pattern in FILE_BLOCKS:
        found = list(pattern.finditer(text))
        if len(found) < 2:
            continue
        blocks = iter(sorted(m.group(0) for m in found))
        out, last = [], 0
        for match in found:
            out += [text[last:match.start()], next(blocks)]
            last = match.end()
        text = "".join(out) + text[last:]
    return text


def envelope(body: dict[str, Any]) -> dict[str, Any]:
    """What a search answer shows apart from what the search engine decides."""
    hits = body.get("hits", {})
    return {
        "keys": sorted(body),
        "hits keys": sorted(hits) if isinstance(hits, dict) else hits,
        "hit keys": sorted({k for h in hits.get("hits", []) for k in h}) if hits else None,
        "total is a number": isinstance(hits.get("total"), int) if hits else None,
        "sortBy": body.get("sortBy"),
        "links": sorted(body.get("links", {})),
        "self link": body.get("links", {}).get("self"),  # its arguments are no engine's choice
        "aggregations": sorted(body.get("aggregations", {})),
    }


def _nested_lists(a: Any, b: Any) -> bool:
    if not (isinstance(a, list) and isinstance(b, list)):
        return False
    return any(isinstance(v, (dict, list)) for v in [*a, *b])


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Human-readable differences between two normalised values (real ``a``, sandbox ``b``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{path}/{k}: only real = {json.dumps(a[k])[:200]}")
            elif k not in a:
                out.append(f"{path}/{k}: only sandbox = {json.dumps(b[k])[:200]}")
            else:
                out.extend(diff(a[k], b[k], f"{path}/{k}"))
        return out
    if _nested_lists(a, b) and len(a) == len(b):  # lists of scalars compare as one value
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in diff(x, y, f"{path}/{i}")]
    if isinstance(a, str) and isinstance(b, str) and "\n" in a + b and a != b:
        lines = zip_longest(a.splitlines(), b.splitlines(), fillvalue="<end>")
        n, (x, y) = next((i, p) for i, p in enumerate(lines) if p[0] != p[1])
        return [f"{path}: line {n + 1}: real {json.dumps(x)[:200]} != sandbox "
                f"{json.dumps(y)[:200]}"]  # a serialisation: its first differing line
    if a != b:
        return [f"{path}: real {json.dumps(a)[:200]} != sandbox {json.dumps(b)[:200]}"]
    return []


def compare(real: Client, sandbox: Client) -> dict[str, list[str]]:
    """Each call's name with its differences (an empty list: alike)."""
    rn, sn = Normaliser(real), Normaliser(sandbox)
    result = {}
    for r, s in zip(real.calls, sandbox.calls, strict=True):
        assert r.name == s.name
        result[r.name] = diff(rn.call(r), sn.call(s))
    return result
