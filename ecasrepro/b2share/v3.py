"""The B2SHARE v3 (InvenioRDM) dialect: endpoint URLs, exact content types and payloads.

Every method sends one request through a :class:`B2ShareSession` and passes the answer through
:func:`raise_for_response`. Rules of the v3 API that live only here (API-v3.md §1, §6, §16): no
trailing slashes; JSON bodies with exactly ``application/json`` (``json=``); file content as a raw
``application/octet-stream`` body with an explicit ``Content-Length``; file keys URL-encoded; a
200 answer to a content PUT may still carry ``"errors"`` (the transfer failed and the server
dropped the file); a missing or bad token is *anonymous* (403, never 401), so a 403 on a write is
followed by a token check to say which it was; cookies are never kept (a stored ``csrftoken``
would turn a token problem into a CSRF error).
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from ecasrepro.b2share.client import B2ShareSession, FileBody, raise_for_response, redact_url
from ecasrepro.errors import ServerRefused, ServerUnreachable

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
REVIEW_TYPE = "community-submission"


@dataclass(frozen=True)
class V3File:
    """One file entry of a v3 draft: key, status (pending/completed/failed), size, md5."""

    key: str
    status: str
    size: int | None = None
    checksum: str | None = None  # "md5:<hex>" once committed

    @property
    def md5(self) -> str | None:
        if not self.checksum:
            return None
        return self.checksum.split(":", 1)[1] if ":" in self.checksum else self.checksum

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> V3File:
        size = entry.get("size")
        return cls(key=str(entry["key"]), status=str(entry.get("status") or "completed"),
                   size=int(size) if size is not None else None,
                   checksum=str(entry["checksum"]) if entry.get("checksum") else None)


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
    def files(self, record_id: str) -> dict[str, V3File]:
        body = self.get_json(self.files_url(record_id), what=f"draft {record_id}")
        return {str(e["key"]): V3File.from_json(e) for e in body.get("entries") or []}

    def init_files(self, record_id: str, keys: list[str]) -> dict[str, V3File]:
        """Step 1 for several files in one request (the server rolls back the batch on error)."""
        body = self._json(self.session.post(self.files_url(record_id),
                                            json=[{"key": key} for key in keys]),
                          what=f"draft {record_id}")
        return {str(e["key"]): V3File.from_json(e) for e in body.get("entries") or []}

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


__all__ = ["JSON", "OCTET_STREAM", "REVIEW_TYPE", "V3Api", "V3File", "links_of",
           "refuse_cookies"]
