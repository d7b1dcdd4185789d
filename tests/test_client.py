"""The HTTP client over real loopback HTTP: retry policy per method, error mapping, no token leak.

A tiny scripted server (stdlib http.server in a thread) answers each request from a queue, so the
tests see exactly which requests the client sent and how often; nothing in requests is mocked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ecasrepro.b2share.client import B2ShareSession, FileBody, raise_for_response, redact_url
from ecasrepro.config import PublishConfig, RetryPolicy, Secret
from ecasrepro.errors import ExitCode, ServerRefused, ServerUnreachable

TOKEN = "sekrit-" + "k7P" * 10
FAST = RetryPolicy(connect_timeout=2, read_timeout=5, retries=3, backoff_factor=0.01,
                   backoff_max=0.05, retry_after_max=0.2)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """Answers to send, in order; ('drop', n) reads n body bytes then closes the socket."""

    answers: list[tuple] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        answer = self.script.answers.pop(0) if self.script.answers else (200, {}, {"ok": True})
        if answer[0] == "drop":
            self.rfile.read(min(answer[1], length))
            self.script.seen.append(Seen(self.command, self.path, dict(self.headers), b""))
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        self.script.seen.append(Seen(self.command, self.path, dict(self.headers), body))
        status, headers, payload = answer
        if callable(payload):
            payload = payload(body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture
def scripted() -> Iterator[tuple[Script, str]]:
    script = Script()
    handler = type("Handler", (_Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def session_for(url: str, retries: int = 3) -> B2ShareSession:
    policy = RetryPolicy(**{**FAST.__dict__, "retries": retries})
    return B2ShareSession(PublishConfig(server=url, token=Secret(TOKEN), retry=policy))


def test_token_travels_only_in_the_authorization_header(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    with session_for(url) as session:
        raise_for_response(session.get(session.api("user/")))
    seen = script.seen[0]
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in seen.path and "access_token" not in seen.path
    assert TOKEN not in repr(session) and TOKEN not in repr(session.auth)


def test_503_burst_with_retry_after_is_retried_for_get_and_post(
    scripted: tuple[Script, str],
) -> None:
    script, url = scripted
    busy = (503, {"Retry-After": "0"}, {"status": 503, "message": "busy"})
    script.answers = [busy, busy, (200, {}, {"ok": 1}), busy, (201, {}, {"id": "x"})]
    with session_for(url) as session:
        assert session.get(session.api("records/")).json() == {"ok": 1}
        response = session.post(session.api("records/"), data=b"{}",
                                headers={"Content-Type": "application/json"})
        assert response.status_code == 201
    assert [s.method for s in script.seen] == ["GET", "GET", "GET", "POST", "POST"]


def test_post_is_not_repeated_after_an_ambiguous_500(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(500, {}, {"status": 500, "message": "Internal Server Error"})] * 3
    with session_for(url) as session, pytest.raises(ServerUnreachable) as info:
        raise_for_response(session.post(session.api("records/"), data=b"{}",
                                         headers={"Content-Type": "application/json"}))
    assert len(script.seen) == 1  # a 500 after POST may have created a draft: never blindly again
    assert info.value.exit_code == ExitCode.UNREACHABLE
    assert "re-run" in str(info.value) or "run the same command again" in str(info.value)


def test_get_that_keeps_failing_becomes_unreachable(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [(502, {}, {"message": "bad gateway"})] * 10
    with session_for(url, retries=2) as session, pytest.raises(ServerUnreachable):
        raise_for_response(session.get(session.api("communities/")))
    assert len(script.seen) == 3


def test_error_mapping_uses_the_servers_message_and_fields(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.answers = [
        (400, {}, {"status": 400, "message": "Validation error.",
                   "errors": [{"field": "creators", "message": "'x' is not of type 'array'"}]}),
        (401, {}, {"status": 401, "message": "The server could not verify that you are "
                   "authorized to access the URL requested.  You either supplied..."}),
        (404, {}, {"status": 404, "message": "PID does not exist."}),
        (410, {}, {"status": 410, "message": "PID has been deleted."}),
        (400, {}, {"status": 400, "message": "Versioning error.", "goto_draft": "abc"}),
    ]
    with session_for(url) as session:
        with pytest.raises(ServerRefused) as info:
            raise_for_response(session.patch(session.api("records/1/draft"), data=b"[]"))
        assert "Validation error." in str(info.value) and "creators:" in str(info.value)
        assert info.value.field_errors == [
            {"field": "creators", "message": "'x' is not of type 'array'"}]
        assert info.value.exit_code == ExitCode.SERVER_REFUSED

        with pytest.raises(ServerRefused, match="did not accept the token") as info:
            raise_for_response(session.get(session.api("records/1/draft")))
        assert info.value.status == 401

        with pytest.raises(ServerRefused, match="draft 1 was not found"):
            raise_for_response(session.get(session.api("records/1/draft")), "draft 1")
        with pytest.raises(ServerRefused, match="draft 1 was deleted"):
            raise_for_response(session.get(session.api("records/1/draft")), "draft 1")
        with pytest.raises(ServerRefused, match="goto_draft=abc"):
            raise_for_response(session.post(session.api("records/"), data=b"{}"))


def test_unreachable_server(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        caplog.at_level(logging.DEBUG),
        session_for(f"http://127.0.0.1:{port}", retries=1) as s,
        pytest.raises(ServerUnreachable) as info,
    ):
        s.get(s.api("communities/"))
    text = str(info.value)
    assert "could not be reached" in text and "connection refused" in text
    assert TOKEN not in text and TOKEN not in caplog.text


def test_dropped_upload_is_replayed_from_the_file(
    scripted: tuple[Script, str], tmp_path: Path
) -> None:
    """A connection cut half-way through a PUT: urllib3 retries, FileBody reopens the file."""
    script, url = scripted
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.md5(data).hexdigest()

    def stored(body: bytes) -> dict:
        return {"key": "blob.bin", "size": len(body),
                "checksum": "md5:" + hashlib.md5(body).hexdigest()}

    script.answers = [("drop", 1024 * 1024), (200, {}, stored)]
    progress: list[int] = []
    body = FileBody(path, len(data), chunk_size=256 * 1024, progress=progress.append)
    with session_for(url) as session:
        answer = raise_for_response(session.put(
            session.api("files/b/blob.bin"), data=body,
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": str(len(data))})).json()
    assert answer["checksum"] == "md5:" + expected == "md5:" + str(body.md5)
    assert body.attempts == 2
    assert script.seen[-1].headers["Content-Length"] == str(len(data))
    assert "chunked" not in script.seen[-1].headers.get("Transfer-Encoding", "")


def test_redact_url() -> None:
    assert redact_url("https://u:p@h.org/api/x?access_token=abc&q=1") == (
        "https://h.org/api/x?access_token=%2A%2A%2A&q=1")
