"""The v2 error model: exact bodies of the real server (API-v2.md §3) and a JSON response helper.

One job: the real server's error bodies, so that clients meet v2's exact error answers.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response

#: Werkzeug 0.11.11 default descriptions, B2SHARE's ``message`` texts (note the double spaces).
GENERIC_MESSAGES: dict[int, str] = {
    400: "The browser (or proxy) sent a request that this server could not understand.",
    401: "The server could not verify that you are authorized to access the URL requested.  You "
    "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "
    "understand how to supply the credentials required.",
    403: "You don't have the permission to access the requested resource. It is either "
    "read-protected or not readable by the server.",
    404: "The requested URL was not found on the server.  If you entered the URL manually please "
    "check your spelling and try again.",
    405: "The method is not allowed for the requested URL.",
    406: "The resource identified by the request is only capable of generating response entities "
    "which have content characteristics not acceptable according to the accept headers sent in "
    "the request.",
    409: "A conflict happened while processing the request.  The resource might have been "
    "modified while the request was being processed.",
    410: "The requested URL is no longer available on this server and there is no forwarding "
    "address. If you followed a link from a foreign page, please contact the author of this page.",
    412: "The precondition on the request for the URL failed positive evaluation.",
    413: "The data value transmitted exceeds the capacity limit.",
    415: "The server does not support the media type transmitted in the request.",
    422: "The request was well-formed but was unable to be followed due to semantic errors.",
    500: "The server encountered an internal error and was unable to complete your request.  "
    "Either the server is overloaded or there is an error in the application.",
    503: "The server is temporarily unable to service your request due to maintenance downtime or "
    "capacity problems.  Please try again later.",
}

PID_DOES_NOT_EXIST = "PID does not exist."
PID_NOT_REGISTERED = "PID is not registered."
PID_DELETED = "PID has been deleted."
VALIDATION_ERROR = "Validation error."
INVALID_OPERATION = "Invalid Operation."
BUCKET_DOES_NOT_EXIST = "Bucket does not exist."
OBJECT_DOES_NOT_EXIST = "Object does not exists."  # sic, as the real server says


_UNSET: Any = object()


class ApiError(Exception):
    """An HTTP error with the real server's JSON body ``{"status", "message", "errors"?, ...}``."""

    def __init__(
        self,
        status: int,
        message: Any = _UNSET,
        errors: list[dict[str, Any]] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = GENERIC_MESSAGES.get(status, "") if message is _UNSET else message
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(f"{status}: {self.message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def response(self) -> Response:
        resp = json_response(self.body(), self.status, sort_keys=True)
        for name, value in self.headers.items():
            resp.headers[name] = value
        return resp


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def json_response(
    obj: Any, status: int = 200, *, sort_keys: bool = False, headers: dict[str, str] | None = None
) -> Response:
    """JSON pretty-printed with indent 2, as Flask 0.11 / invenio serializers answer non-XHR."""
    text = json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n"
    resp = Response(text.encode("utf-8"), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp
