"""The sandbox's files API over real HTTP: streamed uploads, versions, limits, bad keys."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from ecasrepro.errors import ConfigurationError
from ecasrepro.sandbox import EUDAT_COMMUNITY_ID, SandboxServer
from ecasrepro.sandbox.v2.errors import GENERIC_MESSAGES


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_bucket(sb: SandboxServer) -> str:
    draft = requests.post(
        f"{sb.url}/api/records/",
        headers=auth(sb.token),
        json={
            "titles": [{"title": "files"}],
            "community": EUDAT_COMMUNITY_ID,
            "open_access": True,
            "community_specific": {},
        },
    ).json()
    return str(draft["links"]["files"])


def raw_put(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    """PUT with http.client, so the path and headers go out exactly as written."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(
        "PUT", parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers
    )
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, data


def test_upload_list_download_and_versions(sandbox: SandboxServer) -> None:
    bucket = new_bucket(sandbox)
    payload = bytes(range(256)) * 4096  # 1 MiB, crosses chunk boundaries
    r = requests.put(
        f"{bucket}/notebook/analysis.ipynb",
        data=payload,
        headers={**auth(sandbox.token), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["checksum"] == "md5:" + hashlib.md5(payload).hexdigest()
    assert r.headers["ETag"] == f'"{obj["checksum"]}"'
    assert obj["size"] == len(payload) and obj["key"] == "notebook/analysis.ipynb"
    assert obj["is_head"] is True and obj["delete_marker"] is False
    got = requests.get(f"{bucket}/notebook/analysis.ipynb", headers=auth(sandbox.token))
    assert got.content == payload and got.headers["Content-Length"] == str(len(payload))
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    again = requests.put(
        f"{bucket}/notebook/analysis.ipynb", data=b"second", headers=auth(sandbox.token)
    )
    assert again.json()["version_id"] != obj["version_id"]
    listing = requests.get(bucket, headers=auth(sandbox.token)).json()
    assert [c["key"] for c in listing["contents"]] == ["notebook/analysis.ipynb"]
    assert listing["size"] == len(payload) + 6  # old versions still count
    assert listing["max_file_size"] == 10 * 2**30 and listing["quota_size"] == 20 * 2**30
    old = requests.get(
        f"{bucket}/notebook/analysis.ipynb",
        params={"versionId": obj["version_id"]},
        headers=auth(sandbox.token),
    )
    assert old.content == payload
    versions = requests.get(bucket + "?versions", headers=auth(sandbox.token)).json()["contents"]
    assert len(versions) == 2
    text = requests.put(f"{bucket}/readme.txt", data=b"hi", headers=auth(sandbox.token)).json()
    assert text["mimetype"] == "text/plain"


def test_delete_marker_and_permanent_delete(sandbox: SandboxServer) -> None:
    bucket = new_bucket(sandbox)
    v1 = requests.put(f"{bucket}/a.dat", data=b"12345", headers=auth(sandbox.token)).json()
    assert requests.delete(f"{bucket}/a.dat", headers=auth(sandbox.token)).status_code == 204
    listing = requests.get(bucket, headers=auth(sandbox.token)).json()
    assert listing["contents"] == [] and listing["size"] == 5
    missing = requests.get(f"{bucket}/a.dat", headers=auth(sandbox.token))
    assert missing.json() == {"status": 404, "message": "Object does not exists."}
    gone = requests.delete(
        f"{bucket}/a.dat", params={"versionId": v1["version_id"]}, headers=auth(sandbox.token)
    )
    assert gone.status_code == 204
    assert requests.get(bucket, headers=auth(sandbox.token)).json()["size"] == 0


def test_bad_uploads_get_the_real_answers(sandbox_factory: Callable[..., SandboxServer]) -> None:
    sb = sandbox_factory(max_file_size=100, quota_size=150)
    bucket = new_bucket(sb)
    headers = {**auth(sb.token), "Content-Type": "application/octet-stream"}
    assert raw_put(f"{bucket}/big", b"x" * 101, headers) == (
        400,
        {"status": 400, "message": "Maximum file size exceeded."},
    )
    assert raw_put(f"{bucket}/ok", b"x" * 100, headers)[0] == 200
    assert raw_put(f"{bucket}/more", b"x" * 60, headers) == (
        400,
        {"status": 400, "message": "Bucket quota exceeded."},
    )
    assert raw_put(f"{bucket}/empty", b"", headers) == (400, {"status": 400, "message": None})
    assert raw_put(f"{bucket}/{'k' * 256}", b"x", headers)[1]["message"] == "Filename is too long."
    for bad in ("../escape", "a/../../b", "%2e%2e/x", "a//b", "/abs", "a\\b"):
        status, body = raw_put(f"{bucket}/{bad}", b"x", headers)
        assert status == 400 and body["message"].startswith("Invalid file key"), bad
    chunked = requests.put(f"{bucket}/chunked", data=iter([b"abc"]), headers=auth(sb.token))
    assert chunked.status_code == 400 and chunked.json()["message"] == GENERIC_MESSAGES[400]
    unknown = requests.put(
        f"{sb.url}/api/files/00000000-0000-0000-0000-000000000000/x",
        data=b"1",
        headers=auth(sb.token),
    )
    assert unknown.json() == {"status": 404, "message": "Bucket does not exist."}
    assert requests.put(f"{bucket}/anon", data=b"1").status_code == 404
    assert (
        requests.get(
            f"{bucket}/ok", params={"versionId": "nope"}, headers=auth(sb.token)
        ).status_code
        == 422
    )
    assert [p for p in (sb.data_dir / "tmp").iterdir()] == []
    assert [c["key"] for c in requests.get(bucket, headers=auth(sb.token)).json()["contents"]] == [
        "ok"
    ]


def test_concurrent_uploads_are_all_stored(sandbox: SandboxServer) -> None:
    bucket = new_bucket(sandbox)
    blobs = {f"part-{i}.bin": bytes([i]) * (200_000 + i) for i in range(8)}
    results: dict[str, int] = {}

    def put(key: str, data: bytes) -> None:
        results[key] = requests.put(
            f"{bucket}/{key}", data=data, headers=auth(sandbox.token)
        ).status_code

    threads = [threading.Thread(target=put, args=item) for item in blobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results.values()) == {200}
    listing = requests.get(bucket, headers=auth(sandbox.token)).json()
    assert {c["key"]: c["checksum"] for c in listing["contents"]} == {
        k: "md5:" + hashlib.md5(v).hexdigest() for k, v in blobs.items()
    }
    assert listing["size"] == sum(len(v) for v in blobs.values())


def test_closed_access_files_are_hidden(sandbox: SandboxServer) -> None:
    draft = requests.post(
        f"{sandbox.url}/api/records/",
        headers=auth(sandbox.token),
        json={
            "titles": [{"title": "closed"}],
            "community": EUDAT_COMMUNITY_ID,
            "open_access": False,
            "community_specific": {},
        },
    ).json()
    requests.put(draft["links"]["files"] + "/secret.txt", data=b"s", headers=auth(sandbox.token))
    done = requests.patch(
        draft["links"]["self"],
        headers={**auth(sandbox.token), "Content-Type": "application/json-patch+json"},
        data='[{"op": "add", "path": "/publication_state", "value": "submitted"}]',
    )
    assert done.status_code == 200
    public = requests.get(f"{sandbox.url}/api/records/{draft['id']}").json()
    assert "files" not in public
    owner = requests.get(
        f"{sandbox.url}/api/records/{draft['id']}", headers=auth(sandbox.token)
    ).json()
    assert [f["key"] for f in owner["files"]] == ["secret.txt"]
    assert requests.get(owner["links"]["files"]).status_code == 404
    assert requests.get(owner["links"]["files"], headers=auth(sandbox.token)).status_code == 200
    forbid = requests.delete(owner["links"]["files"] + "/secret.txt", headers=auth(sandbox.token))
    assert forbid.json() == {
        "status": 403,
        "message": "You do not have a permission for this action",
    }


def test_second_sandbox_on_the_same_data_dir_is_refused_and_spares_uploads(
    sandbox: SandboxServer,
) -> None:
    """A second server would clear tmp/ (the first one's streaming uploads) on start: refused."""
    bucket = new_bucket(sandbox)
    parts = urlsplit(f"{bucket}/slow.bin")
    payload = b"x" * 2_000_000
    conn = socket.create_connection((parts.hostname, parts.port), timeout=10)
    conn.sendall(
        f"PUT {parts.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.token}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload[:1_000_000]
    )
    deadline = time.monotonic() + 5
    while not any(sandbox.storage.tmp_dir.iterdir()):
        assert time.monotonic() < deadline
    with pytest.raises(ConfigurationError, match="already used by another sandbox"):
        SandboxServer(sandbox.data_dir)
    conn.sendall(payload[1_000_000:])
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    got = requests.get(f"{bucket}/slow.bin", headers=auth(sandbox.token))
    assert got.content == payload
    sandbox.restart()  # the same server re-opening its directory is fine
    assert requests.get(f"{bucket}/slow.bin", headers=auth(sandbox.token)).content == payload


def _abandon_upload(url: str, token: str, *, reset: bool) -> None:
    """Announce 4 MB, send 1 MB, then reset the connection (or keep it open, silent)."""
    parts = urlsplit(url)
    conn = socket.create_connection((parts.hostname, parts.port), timeout=10)
    conn.sendall(
        f"PUT {parts.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 4000000\r\n\r\n".encode()
        + b"a" * 1_000_000
    )
    if reset:
        time.sleep(0.2)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        return
    conn.settimeout(10)
    assert conn.recv(100).startswith(b"HTTP/1.1 400")  # the server gave up on the silent client
    conn.close()


def test_reset_or_stalled_uploads_are_dropped_quietly(
    sandbox: SandboxServer, sandbox_v3: SandboxServer, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ecasrepro.sandbox.server import _RequestHandler

    monkeypatch.setattr(_RequestHandler, "timeout", 1)
    bucket = new_bucket(sandbox)
    v3 = requests.Session()
    v3.headers["Authorization"] = f"Bearer {sandbox_v3.token}"
    rid = v3.post(f"{sandbox_v3.url}/api/records", json={"files": {"enabled": True}}).json()["id"]
    v3.post(f"{sandbox_v3.url}/api/records/{rid}/draft/files", json=[{"key": "r.bin"}])
    v3_url = f"{sandbox_v3.url}/api/records/{rid}/draft/files/r.bin/content"
    for reset in (True, False):
        _abandon_upload(f"{bucket}/r.bin", sandbox.token, reset=reset)
        _abandon_upload(v3_url, sandbox_v3.token, reset=reset)
    deadline = time.monotonic() + 5
    while any(sandbox.storage.tmp_dir.iterdir()) or any(sandbox_v3.storage.tmp_dir.iterdir()):
        assert time.monotonic() < deadline, "a partial upload stayed in tmp/"
        time.sleep(0.05)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    listing = requests.get(bucket, headers=auth(sandbox.token)).json()
    assert listing["contents"] == [] and listing["size"] == 0
