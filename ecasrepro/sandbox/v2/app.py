"""Assemble the v2 Flask application: blueprints, content negotiation and the error model.

One job: assemble the v2 views into one application, so that the server runs it as a single WSGI
app.

May import: ecasrepro.sandbox.storage, ecasrepro.sandbox.web, .common, .communities, .errors,
.files, .records, .review; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a
front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import logging
from importlib.resources import files

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter, RequestRedirect

from ecasrepro.sandbox import web
from ecasrepro.sandbox.storage import Storage
from ecasrepro.sandbox.v2 import communities, records, review
from ecasrepro.sandbox.v2 import files as files_api
from ecasrepro.sandbox.v2.common import SandboxConfig
from ecasrepro.sandbox.v2.errors import ApiError

log = logging.getLogger("ecasrepro.sandbox")


class AnyPathConverter(PathConverter):
    """File keys: any non-empty rest of the path, even with a leading '/' (rejected later, 400)."""

    regex = ".+"
    part_isolating = False


def create_app(storage: Storage, config: SandboxConfig | None = None) -> Flask:
    template_dir = str(files("ecasrepro") / "sandbox" / "templates")
    app = Flask("ecasrepro.sandbox", template_folder=template_dir)
    app.url_map.merge_slashes = False
    app.url_map.converters["anypath"] = AnyPathConverter
    app.extensions["ecasrepro.storage"] = storage
    app.extensions["ecasrepro.config"] = config or SandboxConfig()
    for module in (communities, records, files_api, review, web):
        app.register_blueprint(module.blueprint)

    @app.before_request
    def _negotiate() -> None:
        """JSON endpoints only produce application/json: an Accept excluding it gets 406."""
        accept = request.headers.get("Accept")
        is_download = request.path.startswith("/api/files/") and request.path.count("/") > 3
        if (
            accept
            and request.path.startswith("/api/")
            and not is_download
            and request.accept_mimetypes.quality("application/json") <= 0
        ):
            raise ApiError(406)

    @app.after_request
    def _slash_redirects_are_301(response: Response) -> Response:
        """Werkzeug 0.11 (the real server's) redirected missing trailing slashes with 301."""
        if response.status_code == 308 and isinstance(request.routing_exception, RequestRedirect):
            response.status_code = 301
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return ApiError(exc.code or 500).response()

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return ApiError(500).response()

    return app
