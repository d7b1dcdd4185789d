"""Run the sandbox: a threaded Werkzeug server on loopback around the WSGI app, start/stop/restart.

``SandboxServer`` is what tests, the demo and ``ecasrepro sandbox`` use.  A restart builds a fresh
application over the same data directory and binds the same port, as a restarted process would.

One job: run the sandbox on loopback, so that tests publish over real HTTP and can restart the
server mid-test.

May import: ecasrepro.errors, .faults, .seed, .storage, .v2, .v3 (lazily, in v3 mode); never
ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ecasrepro.errors import BadInput, ConfigurationError
from ecasrepro.sandbox.faults import FaultInjector, FaultMiddleware, parse_faults
from ecasrepro.sandbox.seed import SandboxUser, seed
from ecasrepro.sandbox.storage import Storage
from ecasrepro.sandbox.v2 import create_app
from ecasrepro.sandbox.v2.common import SandboxConfig

http_log = logging.getLogger("ecasrepro.sandbox.http")
_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s]*")


def redact(text: str) -> str:
    """Hide tokens in logged request lines."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging through ``logging`` with tokens redacted."""

    #: Seconds a client may stay silent mid-request (nginx's client_body_timeout is 60 s):
    #: without it a client that vanishes mid-upload holds a thread and a tmp/ file forever.
    timeout = 60

    def setup(self) -> None:
        """TCP_NODELAY: headers and body go out as separate writes; without it Nagle's
        algorithm holds the body back for the client's delayed ACK (up to 40 ms a request)."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        line = getattr(self, "requestline", "")
        http_log.info("%s %s %s", self.address_string(), redact(line), code)

    def log(self, type: str, message: str, *args: Any) -> None:
        http_log.log(logging.ERROR if type == "error" else logging.INFO, redact(message % args))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SandboxServer:
    """A B2SHARE-compatible v2 server on ``host:port`` with its state under ``data_dir``."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: str | None = None,
        seed: int | None = None,
        max_file_size: int | None = None,
        quota_size: int | None = None,
        allow_remote: bool = False,
        api: str = "v2",
        max_files: int | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise BadInput(
                f"--host {host} is not a loopback address; the sandbox prints its tokens, so it "
                "only listens on 127.0.0.1/::1 unless you also pass --allow-remote."
            )
        if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
            raise BadInput("--token must be at least 8 printable characters without spaces.")
        if api not in ("v2", "v3"):
            raise BadInput(f"--api {api} is not supported; use v2 or v3.")
        self.api = api
        self._max_files = max_files  # v3 mode: files per record (see docs/decisions.md, v3 mode)
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        defaults = SandboxConfig()
        self.config = SandboxConfig(
            max_file_size=max_file_size if max_file_size is not None else defaults.max_file_size,
            quota_size=quota_size if quota_size is not None else defaults.quota_size,
        )
        self._plan = parse_faults(faults)
        self._seed = seed
        self._first_token = token
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._open()

    def _open(self) -> None:
        try:
            self.storage = Storage(self.data_dir)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot use {self.data_dir} as the sandbox data directory ({exc.strerror}); "
                "pass --data with a writable directory."
            ) from None
        except sqlite3.Error as exc:
            raise self._bad_database(exc) from None
        try:
            self.users: list[SandboxUser] = seed(self.storage, self._first_token)
        except sqlite3.Error as exc:
            self.storage.close()
            raise self._bad_database(exc) from None
        self.token = self.users[0].token
        if self.api == "v3":
            from ecasrepro.sandbox.v3 import create_app as create_v3_app

            app = create_v3_app(self.storage, self.config, max_files=self._max_files)
        else:
            app = create_app(self.storage, self.config)
        self._middleware = FaultMiddleware(app, FaultInjector(self._plan, self._seed))

    def _bad_database(self, exc: sqlite3.Error) -> ConfigurationError:
        return ConfigurationError(
            f"cannot use {self.data_dir} as the sandbox data directory: "
            f"sandbox.sqlite3 is not a writable sandbox database ({exc}); "
            "pass --data with an empty or sandbox-made directory."
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        try:
            server = make_server(
                self.host,
                self.port,
                self._middleware,
                threaded=True,
                request_handler=_RequestHandler,
            )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "pick another --port or 0 for a free one."
            ) from None
        server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadedWSGIServer
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self.storage.close()

    def restart(self) -> None:
        """Stop, re-open the data directory with a fresh application, listen on the same port."""
        self.stop()
        self._open()
        self.start()

    def set_faults(self, spec: str | None, seed: int | None = None) -> None:
        """Switch fault injection at run time (``None`` turns it off)."""
        self._plan = parse_faults(spec)
        self._seed = seed if seed is not None else self._seed
        self._middleware.set(FaultInjector(self._plan, self._seed))

    def user(self, index: int) -> SandboxUser:
        return self.users[index]

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        data = str(self.data_dir)
        return f"SandboxServer(url={self.url!r}, data_dir={data!r}, running={self.running})"

    def wait(self) -> None:
        """Block until the server stops (the CLI uses this; signals call ``stop``)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)


def serve_until_signalled(server: SandboxServer, on_ready: Callable[[SandboxServer], None]) -> None:
    """Start, report readiness, serve until SIGINT/SIGTERM, then shut down cleanly."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda _signum, _frame: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        server.start()
        on_ready(server)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
