"""v3 file keys are checked as InvenioRDM does (invenio-files-rest 6.1, records-resources 6.5).

Upstream a key is an opaque string: the only rule is ``FILES_REST_OBJECT_KEY_MAX_LEN`` (255),
applied when content is stored ("Filename is too long."), and PostgreSQL refuses NUL (an
unhandled 500 that undoes the batch). ``../../x`` and ``/x`` are accepted and, because content
lives under an id and never under the key, can never reach a path: that is checked here too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from ecasrepro.sandbox import SandboxServer
from ecasrepro.sandbox.v3.files import MAX_KEY_LENGTH
from tests.test_sandbox_v3 import OCTET, Client

APP_500 = (
    '{"message":"The server encountered an internal error and was unable to complete your '
    "request. Either the server is overloaded or there is an error in the application."
    '","status":500}\n'
)


def files_url(rid: str, key: str, tail: str = "") -> str:
    return f"/api/records/{rid}/draft/files/{quote(key, safe='')}{tail}"


def keys_of(api: Client, rid: str) -> list[str]:
    r = api("GET", f"/api/records/{rid}/draft/files")
    assert r.status_code == 200, r.text
    return sorted(e["key"] for e in r.json()["entries"])


def tree(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


def test_path_like_keys_are_opaque_and_never_reach_the_disk(
    sandbox_v3: SandboxServer, tmp_path: Path
) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    keys = ["../../escaped.txt", "a/../../b.txt", "..\\..\\win.txt", "./dot.txt", "sp ace%2F.txt"]
    before = tree(tmp_path.parent)
    for n, key in enumerate(keys):
        data = f"content {n}".encode()
        r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": key}])
        assert r.status_code == 201, (key, r.text)
        r = api("PUT", files_url(rid, key, "/content"), data=data, headers=OCTET)
        assert r.status_code == 200, (key, r.text)
        r = api("POST", files_url(rid, key, "/commit"))
        assert r.status_code == 200, (key, r.text)
        assert r.json()["checksum"] == "md5:" + hashlib.md5(data).hexdigest()
        r = api("GET", files_url(rid, key, "/content"))
        assert r.status_code == 200 and r.content == data, key
    assert keys_of(api, rid) == sorted(keys)
    created = tree(tmp_path.parent) - before
    # every new file is inside the sandbox's own data directory, named by blob id, not by key
    assert all(path.startswith(str(sandbox_v3.data_dir)) for path in created), created
    assert not [p for p in created if Path(p).name in ("escaped.txt", "b.txt", "win.txt")]


def test_absolute_key_is_accepted_at_init_and_writes_nothing_outside(
    sandbox_v3: SandboxServer, tmp_path: Path
) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    target = tmp_path / "absolute-target.txt"
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": str(target)}])
    assert r.status_code == 201, r.text
    api("PUT", files_url(rid, str(target), "/content"), data=b"x", headers=OCTET)
    assert not target.exists()
    assert keys_of(api, rid) == [str(target)]


def test_key_with_a_nul_byte_is_the_database_error_and_undoes_the_batch(
    sandbox_v3: SandboxServer,
) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    for batch in ([{"key": "a\x00b"}], [{"key": "fine.txt"}, {"key": "\x00"}]):
        r = api("POST", f"/api/records/{rid}/draft/files", json=batch)
        assert r.status_code == 500 and r.text == APP_500, r.text
        assert keys_of(api, rid) == []  # nothing of the batch was kept
    r = api("POST", f"/api/records/{rid}/draft/files", json=[{"key": "fine.txt"}])
    assert r.status_code == 201


def test_keys_longer_than_255_are_refused_when_content_is_stored(
    sandbox_v3: SandboxServer,
) -> None:
    api = Client(sandbox_v3)
    rid = api.create()["id"]
    longest, too_long = "k" * MAX_KEY_LENGTH, "k" * (MAX_KEY_LENGTH + 1)
    wide = "é" * (MAX_KEY_LENGTH + 1)  # counted in characters, as SQLAlchemy's validator does
    r = api("POST", f"/api/records/{rid}/draft/files",
            json=[{"key": longest}, {"key": too_long}, {"key": wide}])
    assert r.status_code == 201, r.text  # upstream: init stores no object yet
    r = api("PUT", files_url(rid, longest, "/content"), data=b"ok", headers=OCTET)
    assert r.status_code == 200, r.text
    for key in (too_long, wide):
        r = api("PUT", files_url(rid, key, "/content"), data=b"no", headers=OCTET)
        assert r.status_code == 400, r.text
        assert r.text == '{"status": 400, "message": "Filename is too long."}'
        r = api("GET", files_url(rid, key))
        assert r.json()["status"] == "pending"  # nothing was stored
