"""Run the reference InvenioRDM app (UI and REST under /api) on loopback, threaded werkzeug."""

import os

from invenio_app.factory import create_app
from werkzeug.serving import run_simple

run_simple("127.0.0.1", int(os.environ.get("REF_WEB_PORT", "55000")), create_app(),
           threaded=True, use_reloader=False, use_debugger=False)
