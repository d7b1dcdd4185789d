"""Run the reference InvenioRDM app (UI and REST under /api) on loopback, threaded werkzeug.

Outbound HTTP(S) goes to a closed local port (DataCite is unreachable; failing fast beats
waiting for a timeout); loopback stays direct.
"""

import os

os.environ.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                  NO_PROXY="127.0.0.1,localhost")

from invenio_app.factory import create_app  # after the proxy settings
from werkzeug.serving import run_simple

run_simple("127.0.0.1", int(os.environ.get("REF_WEB_PORT", "25000")), create_app(),
           threaded=True, use_reloader=False, use_debugger=False)
