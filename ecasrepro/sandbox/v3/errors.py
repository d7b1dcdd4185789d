"""The v3 error model: InvenioRDM's two error producers with their exact bytes (API-v3.md §3.1).

Resource errors (flask-resources) are ``json.dumps({"status", "message"[, "errors"]})`` with the
default separators and no newline; app-level errors (invenio-rest: unknown URL, wrong method,
unexpected exceptions) are Flask's ``jsonify``: sorted keys, compact separators, trailing newline.

One job: InvenioRDM's error bytes, so that clients meet v3's exact error answers.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response

PERMISSION_DENIED = "Permission denied."
PID_DOES_NOT_EXIST = "The persistent identifier does not exist."
PID_NOT_REGISTERED = "The persistent identifier is not registered."
VALIDATION_ERROR = "A validation error occurred."
INVALID_JSON = "Unable to decode JSON data in request body."
INVALID_QUERY = "Invalid querystring parameters."

APP_MESSAGES: dict[int, str] = {
    400: "The browser (or proxy) sent a request that this server could not understand.",
    404: "The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.",
    405: "The method is not allowed for the requested URL.",
    500: "The server encountered an internal error and was unable to complete your request. "
    "Either the server is overloaded or there is an error in the application.",
}


class ApiError(Exception):
    """A resource-level error: ``{"status": s, "message": m[, "errors": [...]]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.errors = errors or []
        self.extra = extra or {}
        super().__init__(f"{status}: {message}")

    def response(self) -> Response:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        body.update(self.extra)
        if self.errors:
            body["errors"] = self.errors
        return Response(json.dumps(body), status=self.status, mimetype="application/json")


class AppError(Exception):
    """An app-level error (invenio-rest's handler): sorted, compact JSON plus a newline."""

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        self.message = message if message is not None else APP_MESSAGES.get(status, "")
        super().__init__(f"{status}: {self.message}")

    def response(self) -> Response:
        text = json.dumps(
            {"message": self.message, "status": self.status}, sort_keys=True, separators=(",", ":")
        )
        return Response(text + "\n", status=self.status, mimetype="application/json")


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    return ApiError(400, VALIDATION_ERROR, errors)


def field_error(field: str, *messages: str) -> dict[str, Any]:
    return {"field": field, "messages": list(messages)}


def permission_denied() -> ApiError:
    return ApiError(403, PERMISSION_DENIED)
