"""Assemble the v3 (InvenioRDM-style) Flask application: blueprints, negotiation, error model.

One job: assemble the v3 views into one application, so that the server runs it as a single WSGI
app.

May import: ecasrepro.sandbox.storage, ecasrepro.sandbox.web, .common, .communities, .errors,
.files, .records, .review_page, .serializers, .store; never ecasrepro.api, ecasrepro.b2share
(the client it serves), or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import logging
import re
import secrets
from importlib.resources import files
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from ecasrepro.sandbox import web
from ecasrepro.sandbox.storage import Storage
from ecasrepro.sandbox.v3 import communities, records, review_page, serializers, store
from ecasrepro.sandbox.v3 import files as files_api
from ecasrepro.sandbox.v3.common import JSON, UI_JSON, current_caller
from ecasrepro.sandbox.v3.errors import ApiError, AppError

log = logging.getLogger("ecasrepro.sandbox.v3")
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
#: The record reads that answer in every served serialisation (record_serializers upstream).
SERIALISED_PATH = re.compile(r"^/api/records/[^/]+(/draft)?$")


def create_app(storage: Storage, config: Any = None, *, max_files: int | None = None) -> Flask:
    """The v3 API over ``storage`` (its v3 tables are created here if missing).

    ``max_files`` is the per-record file count limit (default ``DEFAULT_MAX_FILES``).
    """
    store.ensure_schema(storage)
    template_dir = str(files("ecasrepro") / "sandbox" / "templates")
    app = Flask("ecasrepro.sandbox.v3", template_folder=template_dir)
    app.url_map.merge_slashes = False
    app.extensions["ecasrepro.storage"] = storage
    app.extensions["ecasrepro.config"] = config
    app.extensions["ecasrepro.v3.max_files"] = max_files or files_api.DEFAULT_MAX_FILES
    for module in (records, files_api, communities, review_page, web):
        app.register_blueprint(module.blueprint)

    @app.before_request
    def _negotiate() -> None:
        """JSON endpoints serve application/json (and the UI variant); other Accepts get 406."""
        accept = request.headers.get("Accept")
        if not accept or not request.path.startswith("/api/") or request.path.endswith("/content"):
            return
        if request.method == "GET" and SERIALISED_PATH.match(request.path):
            chosen = serializers.negotiate(request.accept_mimetypes)
            if chosen is None:
                known = ", ".join(serializers.registered_mimetypes())
                raise ApiError(406, f"Invalid 'Accept' header. Expected one of: {known}")
            g.v3_mimetype = chosen
            return
        mimetypes = request.accept_mimetypes
        if mimetypes.quality(JSON) <= 0 and mimetypes.quality(UI_JSON) <= 0:
            raise ApiError(406, f"Invalid 'Accept' header. Expected one of: {JSON}, {UI_JSON}")

    @app.before_request
    def _csrf() -> None:
        """invenio-rest: mutating requests with cookies but no valid token are CSRF-checked."""
        if request.method not in MUTATING or not request.path.startswith("/api/"):
            return
        if not request.cookies or not current_caller().anonymous:
            return
        cookie = request.cookies.get("csrftoken")
        if not cookie or request.headers.get("X-CSRFToken") != cookie:
            raise AppError(400, "CSRF token missing or incorrect.")

    @app.after_request
    def _csrf_cookie(response: Response) -> Response:
        """Mutating requests without a ``csrftoken`` cookie get one (clients should drop it)."""
        if (
            request.method in MUTATING
            and request.path.startswith("/api/")
            and "csrftoken" not in request.cookies
        ):
            response.set_cookie("csrftoken", secrets.token_urlsafe(48), samesite="Lax")
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code in (404, 405, 500):
            return AppError(code).response()
        return AppError(code, exc.description or "").response()

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return AppError(500).response()

    return app
