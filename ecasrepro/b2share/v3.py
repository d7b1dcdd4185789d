"""The B2SHARE v3 (InvenioRDM) dialect: endpoint URLs, exact content types and payloads.

Every method sends one request through a :class:`B2ShareSession` and passes the answer through
:func:`raise_for_response`. Rules of the v3 API that live only here (API-v3.md §1, §6, §16): no
trailing slashes; JSON bodies with exactly ``application/json`` (``json=``); file content as a raw
``application/octet-stream`` body with an explicit ``Content-Length``; file keys URL-encoded; a
200 answer to a content PUT may still carry ``"errors"`` (the transfer failed and the server
dropped the file); a missing or bad token is *anonymous* (403, never 401), so a 403 on a write is
followed by a token check to say which it was; cookies are never kept (a stored ``csrftoken``
would turn a token problem into a CSRF error).

One job: speak the v3 API, so that its exact rules live in one module and the engine never needs to
know them.

May import: .client, .dialect, .receipt, .registry, .v3_metadata, ecasrepro.bundle,
ecasrepro.errors; never .publisher, .v2, ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ecasrepro.b2share.client import B2ShareSession, FileBody, raise_for_response, redact_url
from ecasrepro.b2share.dialect import (
    DraftInfo,
    Outcome,
    PlannedRequest,
    PreparedRecord,
    RemoteFile,
    RemoteView,
)
from ecasrepro.b2share.registry import register
from ecasrepro.errors import ConfigurationError, ServerRefused, ServerUnreachable

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.receipt import Receipt
    from ecasrepro.b2share.v3_metadata import V3Record
    from ecasrepro.bundle import Bundle

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
REVIEW_TYPE = "community-submission"


def remote_file(entry: dict[str, Any]) -> RemoteFile:
    """A v3 file entry: key, status (pending/completed/failed), size, ``md5:<hex>`` checksum."""
    return RemoteFile(str(entry["key"]), int(entry.get("size") or 0),
                      str(entry.get("checksum") or ""), str(entry.get("status") or "completed"))


def refuse_cookies(session: requests.Session) -> None:
    """Never store cookies (API-v3.md §2: a kept csrftoken cookie changes error semantics)."""
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class V3Api:
    """The v3 deposit endpoints a publisher needs, over one session."""

    def __init__(self, session: B2ShareSession) -> None:
        self.session = session
        refuse_cookies(session)

    # --- URLs ------------------------------------------------------------------------------------
    def records_url(self) -> str:
        return self.session.api("records")

    def record_url(self, record_id: str) -> str:
        return self.session.api(f"records/{quote(record_id, safe='')}")

    def draft_url(self, record_id: str) -> str:
        return self.record_url(record_id) + "/draft"

    def files_url(self, record_id: str) -> str:
        return self.draft_url(record_id) + "/files"

    def file_url(self, record_id: str, key: str) -> str:
        return self.files_url(record_id) + "/" + quote(key, safe="/")

    def html_url(self, record_id: str, links: dict[str, Any], draft: bool = True) -> str:
        if links.get("self_html"):
            return str(links["self_html"])
        return self.session.server + (f"/uploads/{record_id}" if draft else f"/records/{record_id}")

    # --- plumbing --------------------------------------------------------------------------------
    def _json(self, response: requests.Response, what: str | None = None) -> Any:
        if response.status_code == 403 and response.request is not None and \
                response.request.method in ("POST", "PUT", "DELETE"):
            self._explain_403(response)
        raise_for_response(response, what=what)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ServerUnreachable(
                f"{self.session.server} answered {redact_url(response.url)} with something that "
                "is not JSON; is it a B2SHARE v3 server? Check --server and --api."
            ) from None

    def _explain_403(self, response: requests.Response) -> None:
        """v3 treats a bad token as anonymous: tell a rejected token from a missing permission."""
        if not self.token_valid():
            raise ServerRefused(
                message=(
                    f"{self.session.server} did not accept the token (a v3 server treats an "
                    "unknown or revoked token as anonymous and answers 403); check that your "
                    "B2SHARE token is valid for this server (tokens are per instance)."
                ),
                status=403,
            )

    def token_valid(self) -> bool:
        response = self.session.get(self.session.api("user/records"), params={"size": 1})
        return response.status_code == 200

    def get_json(self, url: str, what: str | None = None, **params: Any) -> Any:
        return self._json(self.session.get(url, params=params or None), what)

    # --- drafts and records ----------------------------------------------------------------------
    def create_draft(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.session.post(self.records_url(), json=body))

    def draft(self, record_id: str) -> dict[str, Any]:
        return self.get_json(self.draft_url(record_id), what=f"draft {record_id}")

    def update_draft(self, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.session.put(self.draft_url(record_id), json=body),
                          what=f"draft {record_id}")

    def delete_draft(self, record_id: str) -> None:
        response = self.session.delete(self.draft_url(record_id))
        if response.status_code != 404:
            self._json(response, what=f"draft {record_id}")

    def record(self, record_id: str) -> dict[str, Any]:
        return self.get_json(self.record_url(record_id), what=f"record {record_id}")

    def new_version(self, record_id: str) -> dict[str, Any]:
        return self._json(self.session.post(self.record_url(record_id) + "/versions"),
                          what=f"record {record_id}")

    def publish(self, record_id: str) -> dict[str, Any]:
        return self._json(self.session.post(self.draft_url(record_id) + "/actions/publish"),
                          what=f"draft {record_id}")

    def iter_user_drafts(self, size: int = 50) -> Iterator[dict[str, Any]]:
        """The caller's unpublished drafts, newest first (to find one a killed run created)."""
        url: str | None = self.session.api("user/records")
        params: dict[str, Any] | None = {"is_published": "false", "sort": "newest", "size": size}
        pages = 0
        while url and pages < 20:
            page = self._json(self.session.get(url, params=params))
            yield from page.get("hits", {}).get("hits", [])
            url, params = page.get("links", {}).get("next"), None
            pages += 1

    # --- files -----------------------------------------------------------------------------------
    def files(self, record_id: str) -> dict[str, RemoteFile]:
        body = self.get_json(self.files_url(record_id), what=f"draft {record_id}")
        return {str(e["key"]): remote_file(e) for e in body.get("entries") or []}

    def init_files(self, record_id: str, keys: list[str]) -> dict[str, RemoteFile]:
        """Step 1 for several files in one request (the server rolls back the batch on error)."""
        body = self._json(self.session.post(self.files_url(record_id),
                                            json=[{"key": key} for key in keys]),
                          what=f"draft {record_id}")
        return {str(e["key"]): remote_file(e) for e in body.get("entries") or []}

    def put_content(self, record_id: str, key: str, body: FileBody) -> dict[str, Any]:
        """Step 2: stream the bytes; a 200 with ``errors`` means the server dropped the file."""
        response = self.session.put(
            self.file_url(record_id, key) + "/content",
            data=body,
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(body.size)},
            timeout=(self.session.policy.connect_timeout, self.session.policy.upload_read_timeout),
        )
        return self._json(response, what=f"file {key!r} of draft {record_id}")

    def commit(self, record_id: str, key: str) -> dict[str, Any]:
        return self._json(self.session.post(self.file_url(record_id, key) + "/commit"),
                          what=f"file {key!r} of draft {record_id}")

    def delete_file(self, record_id: str, key: str) -> None:
        response = self.session.delete(self.file_url(record_id, key))
        if response.status_code != 404:  # already gone: the goal holds
            self._json(response, what=f"file {key!r}")

    def import_files(self, record_id: str) -> dict[str, Any]:
        return self._json(
            self.session.post(self.draft_url(record_id) + "/actions/files-import"),
            what=f"draft {record_id}")

    # --- communities and review ------------------------------------------------------------------
    def communities(self) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        url: str | None = self.session.api("communities")
        params: dict[str, Any] | None = {"size": 100}
        while url and len(hits) < 10_000:
            page = self._json(self.session.get(url, params=params))
            hits.extend(page.get("hits", {}).get("hits", []))
            url, params = page.get("links", {}).get("next"), None
        return hits

    def community(self, id_or_slug: str) -> dict[str, Any]:
        return self.get_json(
            self.session.api(f"communities/{quote(id_or_slug, safe='')}"),
            what=f"community {id_or_slug!r} (run `ecasrepro communities` to list them)",
        )

    def set_review(self, record_id: str, community_uuid: str) -> dict[str, Any]:
        body: dict[str, Any] = {"receiver": {"community": community_uuid}, "type": REVIEW_TYPE}
        return self._json(self.session.put(self.draft_url(record_id) + "/review", json=body),
                          what=f"draft {record_id}")

    def review(self, record_id: str) -> dict[str, Any] | None:
        response = self.session.get(self.draft_url(record_id) + "/review")
        if response.status_code == 404:
            return None
        return self._json(response)

    def submit_review(self, record_id: str) -> dict[str, Any]:
        return self._json(
            self.session.post(self.draft_url(record_id) + "/actions/submit-review", json={}),
            what=f"draft {record_id}")

    def request(self, url: str) -> dict[str, Any]:
        return self.get_json(url, what="review request")

    # --- vocabularies ----------------------------------------------------------------------------
    def vocabulary_term(self, vocabulary: str, term: str) -> bool:
        response = self.session.get(self.session.api(
            f"vocabularies/{vocabulary}/{quote(term, safe='')}"))
        if response.status_code == 404:
            return False
        self._json(response)
        return True


def links_of(body: dict[str, Any]) -> dict[str, Any]:
    links = body.get("links")
    return links if isinstance(links, dict) else {}


INIT_BATCH = 50
#: Draft statuses after which the publisher changes nothing (API-v3.md §5.1).
FINAL_STATES = {"in_review": "submitted", "published": "published"}
HARMLESS_DRAFT_ERRORS = ("files.enabled",)  # "Missing uploaded files" until the upload is done


def state_of(body: dict[str, Any]) -> str:
    """Our state words (same as v2) for a v3 draft/record body."""
    if body.get("is_published") and not body.get("is_draft"):
        return "published"
    return FINAL_STATES.get(str(body.get("status") or "draft"), "draft")


def pids_of(record: dict[str, Any]) -> dict[str, str]:
    pids = record.get("pids") if isinstance(record.get("pids"), dict) else {}
    result = {}
    for scheme, name in (("doi", "DOI"), ("oai", "OAI")):
        value = (pids or {}).get(scheme)
        if isinstance(value, dict) and value.get("identifier"):
            result[name] = str(value["identifier"])
    return result


class V3Dialect:
    """The publishing steps in v3 requests: metadata wrapper, init/content/commit, review."""

    name = "v3"
    accepts_empty_files = True

    def __init__(self, session: B2ShareSession) -> None:
        self.session = session
        self.config = session.config
        self.api = V3Api(session)

    def for_thread(self) -> V3Dialect:
        return V3Dialect(B2ShareSession(self.config))

    def communities(self) -> list[dict[str, Any]]:
        """InvenioRDM communities in the v2 listing's shape (slug as name, review policy)."""
        return [
            {"id": c.get("id"), "name": c.get("slug"),
             "publication_workflow": (c.get("access") or {}).get("review_policy"),
             "restricted_submission":
                 (c.get("access") or {}).get("record_submission_policy") == "closed",
             "description": (c.get("metadata") or {}).get("title")}
            for c in self.api.communities()
        ]

    def community_schema(self, community: str) -> Any:
        raise ConfigurationError(
            f"{self.session.server} speaks the B2SHARE v3 (InvenioRDM) API, which has no "
            "per-community schemas; data/metadata.json is checked against InvenioRDM's "
            "record schema instead (publish with --dry-run to validate it)."
        )

    # --- metadata --------------------------------------------------------------------------------
    def prepare(self, bundle: Bundle, recorded_community: str | None, submit: bool,
                new_version_of: str | None) -> PreparedRecord:
        from ecasrepro.b2share.v3_metadata import to_v3_record, validate_v3_record

        record = to_v3_record(bundle.metadata)
        validate_v3_record(record.body, f"{bundle.path}/data/metadata.json",
                           "submit" if submit else "draft")
        reference = self.config.community or recorded_community or record.community
        if not reference and not new_version_of:
            raise ConfigurationError(
                "no B2SHARE community is given; pass --community ID-OR-SLUG, set "
                "B2SHARE_COMMUNITY, or put \"community\" in data/metadata.json "
                "(`ecasrepro communities` lists them)."
            )
        community = self.api.community(str(reference)) if reference else None
        return PreparedRecord(record.body, record.title,
                              str(community["id"]) if community else None,
                              list(record.warnings), record)

    # --- drafts ----------------------------------------------------------------------------------
    def draft(self, draft_id: str) -> dict[str, Any]:
        """The draft; after acceptance the draft is gone and the published record answers."""
        try:
            return self.api.draft(draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
        return self.api.record(draft_id)

    def orphan_candidates(self, record: PreparedRecord,
                          receipt: Receipt) -> Iterator[dict[str, Any]]:
        for hit in self.api.iter_user_drafts():
            if hit.get("is_published") or (hit.get("metadata") or {}).get("title") != record.title:
                continue
            if receipt.version_of and hit.get("status") != "new_version_draft":
                continue
            yield hit

    def plan_create(self, record: PreparedRecord,
                    version_of: str | None) -> list[PlannedRequest]:
        if version_of:
            return [PlannedRequest("POST", self.api.record_url(version_of) + "/versions",
                                   "new version draft"),
                    PlannedRequest("PUT", self.api.draft_url("<new id>"),
                                   f"{JSON}: metadata of the bundle")]
        fields = ", ".join(sorted(record.body.get("metadata") or {}))
        return [PlannedRequest("POST", self.api.records_url(),
                               f"{JSON}: title={record.title!r}; fields: {fields}")]

    def create_draft(self, record: PreparedRecord, version_of: str | None) -> dict[str, Any]:
        if version_of:
            return self.api.new_version(version_of)
        return self.api.create_draft(record.body)

    def after_create(self, body: dict[str, Any], record: PreparedRecord,
                     version_of: str | None, warnings: list[str]) -> dict[str, Any]:
        if version_of:  # the new version starts with the old metadata: replace it with ours
            return self.sync_metadata(body, record, None, warnings)
        return self._fix_resource_type_key(body, record.source, warnings)

    def sync_metadata(self, body: dict[str, Any], record: PreparedRecord,
                      plan: list[PlannedRequest] | None, warnings: list[str]) -> dict[str, Any]:
        """Full replacement of the draft's metadata with the bundle's (``PUT .../draft``)."""
        if plan is not None:
            plan.append(PlannedRequest("PUT", self.api.draft_url(str(body["id"])),
                                       f"{JSON}: metadata of the bundle"))
            return body
        updated = self.api.update_draft(str(body["id"]), record.body)
        return self._fix_resource_type_key(updated, record.source, warnings)

    def _fix_resource_type_key(self, body: dict[str, Any], record: V3Record,
                               warnings: list[str]) -> dict[str, Any]:
        """API-v3.md §5.3: B2SHARE says ``resource_types``, upstream ``resource_type``."""
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        unknown = {str(e.get("field")) for e in errors
                   if "Unknown field." in (e.get("messages") or [])}
        if "metadata.resource_types" in unknown and record.metadata.get("resource_types"):
            md = record.metadata
            md["resource_type"] = md.pop("resource_types")[0]
            body = self.api.update_draft(str(body["id"]), record.body)
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        for error in errors:
            field_name = str(error.get("field"))
            if field_name.startswith(HARMLESS_DRAFT_ERRORS):
                continue
            messages = " ".join(str(m) for m in error.get("messages") or [])
            warnings.append(f"the server noted on the draft: {field_name}: {messages}")
        return body

    def describe(self, body: dict[str, Any]) -> DraftInfo:
        draft_id = str(body["id"])
        return DraftInfo(draft_id, self.api.draft_url(draft_id),
                         self.api.html_url(draft_id, links_of(body)), None, draft_id,
                         state_of(body))

    def is_version_draft(self, body: dict[str, Any]) -> bool:
        return body.get("status") == "new_version_draft"

    def outcome(self, body: dict[str, Any]) -> Outcome:
        outcome = Outcome(state_of(body), pids_of(body))
        if outcome.state == "published":
            record_id = str(body["id"])
            outcome.url = self.api.record_url(record_id)
            outcome.html_url = self.api.html_url(
                record_id, {"self_html": links_of(body).get("self_html")}, draft=False)
            entries = (body.get("files") or {}).get("entries") or {}
            if isinstance(entries, dict):
                outcome.files = [remote_file({"key": k, **e}) for k, e in sorted(entries.items())]
        return outcome

    # --- files -----------------------------------------------------------------------------------
    def list_files(self, files_at: str) -> tuple[dict[str, RemoteFile], dict[str, Any]]:
        return self.api.files(files_at), {}

    def begin_uploads(self, files_at: str, new: list[str], stale: list[str]) -> list[str]:
        """Delete stale entries, then ``init`` missing ones in batches; the keys initialised."""
        for key in stale:
            self.api.delete_file(files_at, key)
        keys = [*new, *stale]
        for start in range(0, len(keys), INIT_BATCH):
            self._init(files_at, keys[start:start + INIT_BATCH])
        return keys

    def _init(self, draft_id: str, keys: list[str]) -> None:
        try:
            self.api.init_files(draft_id, keys)
        except (ServerRefused, ServerUnreachable) as exc:
            # A retried or dropped init may have landed: what matters is that the keys exist.
            if isinstance(exc, ServerRefused) and exc.status != 400:
                raise
            present = self.api.files(draft_id)
            missing = [key for key in keys if key not in present]
            if len(missing) == len(keys):
                raise
            if missing:
                self.api.init_files(draft_id, missing)

    def plan_uploads(self, files_at: str | None, uploads: list[Any], stale: list[str],
                     new: list[str]) -> list[PlannedRequest]:
        draft_id = files_at or "<new id>"
        plan = [PlannedRequest("DELETE", self.api.file_url(draft_id, key),
                               "differs from the bundle") for key in stale]
        if new or stale:
            plan.append(PlannedRequest("POST", self.api.files_url(draft_id),
                                       f"{JSON}: init {len(new) + len(stale)} file(s)"))
        for pf in uploads:
            url = self.api.file_url(draft_id, pf.relpath)
            plan.append(PlannedRequest("PUT", url + "/content",
                                       f"{OCTET_STREAM}: {pf.size} bytes from {pf.path}"))
            plan.append(PlannedRequest("POST", url + "/commit", "commit"))
        return plan

    def upload(self, files_at: str, key: str, body: FileBody) -> RemoteFile | None:
        """content + commit; None when the server dropped the transfer (re-initialised)."""
        answer = self.api.put_content(files_at, key, body)
        if answer.get("errors"):  # the server dropped the file (transfer failed)
            self.api.init_files(files_at, [key])
            return None
        for attempt in range(3):  # after a dropped answer read the state before committing again
            try:
                return remote_file(self.api.commit(files_at, key))
            except ServerUnreachable:
                state = self.api.files(files_at).get(key)
                if state is not None and state.status == "completed":
                    return state
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def discard(self, files_at: str, key: str) -> None:
        self.api.delete_file(files_at, key)
        self.api.init_files(files_at, [key])

    def delete_file(self, files_at: str, key: str) -> None:
        self.api.delete_file(files_at, key)

    def file_url(self, files_at: str, key: str) -> str:
        return self.api.file_url(files_at, key)

    # --- community, review, submission -----------------------------------------------------------
    def attach(self, draft_id: str | None, community_id: str, created_now: bool,
               plan: list[PlannedRequest] | None) -> str | None:
        """Create (or keep) the draft's review request to the community; it stays a draft."""
        if draft_id and not created_now:
            current = self.api.review(draft_id)
            receiver = ((current or {}).get("receiver") or {}).get("community")
            if current is not None and receiver == community_id:
                return links_of(current).get("self")
        if plan is not None:
            plan.append(PlannedRequest("PUT", self.api.draft_url(draft_id or "<new id>")
                                       + "/review", f"{JSON}: community {community_id}"))
            return None
        assert draft_id
        return links_of(self.api.set_review(draft_id, community_id)).get("self")

    def plan_submit(self, draft_id: str | None, is_new_version: bool) -> PlannedRequest:
        action = "actions/publish" if is_new_version else "actions/submit-review"
        return PlannedRequest("POST", self.api.draft_url(draft_id or "<new id>") + f"/{action}",
                              f"{JSON}: {{}}")

    def submit(self, draft_id: str, is_new_version: bool) -> Outcome:
        """Publish a new version, or submit the review request: ``accepted`` or waiting."""
        if is_new_version:
            try:
                body = self.api.publish(draft_id)
            except ServerUnreachable:
                body = self.draft(draft_id)
                if state_of(body) != "published":
                    raise
            return self.outcome(body)
        try:
            request = self.api.submit_review(draft_id)
        except ServerUnreachable:  # did the submission land before the failure?
            state = state_of(self.draft(draft_id))
            if state == "draft":
                raise
            request = {"status": "accepted" if state == "published" else "submitted"}
        if str(request.get("status")) == "accepted":
            outcome = self.outcome(self.api.record(draft_id))
        else:
            outcome = Outcome("submitted")
        outcome.request = links_of(request).get("self")
        return outcome

    def remote_view(self, draft_id: str) -> RemoteView:
        try:
            body = self.api.draft(draft_id)
            remote = self.api.files(draft_id)
        except ServerRefused as exc:
            if exc.status not in (404, 410):
                raise
            body = self.api.record(draft_id)
            entries = (body.get("files") or {}).get("entries") or {}
            remote = {k: remote_file({"key": k, **e, "status": "completed"})
                      for k, e in entries.items()}
        return RemoteView(state_of(body), pids_of(body), remote)


__all__ = ["JSON", "OCTET_STREAM", "REVIEW_TYPE", "V3Api", "V3Dialect", "links_of", "pids_of",
           "refuse_cookies", "remote_file", "state_of"]


register("v3", V3Dialect)
