"""``ecasrepro reproduce`` without building a venv: record references, download over real HTTP
from both sandbox dialects, the rebuilt bag, a tampered file, and each bad input's sentence."""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

import ecasrepro
from ecasrepro.b2share.download import parse_record_ref
from ecasrepro.bundle import Bundle
from ecasrepro.cli import main
from ecasrepro.errors import BadInput, ServerUnreachable, TamperedFile
from ecasrepro.reproduction import check_lock
from ecasrepro.sandbox import SandboxServer
from tests.test_publish_support import ECAS, make_bundle, metadata, publish_env  # noqa: F401


def published(tmp_path: Path, server: SandboxServer, name: str = "analysis.repro",
              meta: dict[str, Any] | None = None) -> tuple[Any, Any]:
    bundle = make_bundle(tmp_path, {"table.csv": b"a,b\n1,2\n"}, meta=meta, name=name)
    record = ecasrepro.publish(bundle, server=server.url, token=server.token, submit=True,
                               progress=False)
    return bundle, record


def publish_files(sandbox: SandboxServer, files: dict[str, bytes]) -> str:
    """A submitted v2 record holding exactly ``files`` (uploaded through the API, not publish)."""
    headers = {"Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json"}
    body = {k: v for k, v in metadata().items() if k != "related_identifiers"}
    draft = requests.post(f"{sandbox.url}/api/records/", json=body, headers=headers,
                          timeout=10).json()
    for key, data in files.items():
        requests.put(f"{draft['links']['files']}/{key}", data=data, timeout=10,
                     headers={**headers, "Content-Type": "application/octet-stream"}
                     ).raise_for_status()
    requests.patch(f"{sandbox.url}/api/records/{draft['id']}/draft", timeout=10,
                   headers={**headers, "Content-Type": "application/json-patch+json"},
                   data=json.dumps([{"op": "add", "path": "/publication_state",
                                     "value": "submitted"}])).raise_for_status()
    return str(draft["id"])


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["reproduce", *args])


def test_record_references() -> None:
    v2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert parse_record_ref(v2) == parse_record_ref(v2).__class__("id", v2, None)
    landing = parse_record_ref(f"https://b2share.example.org/records/{v2}")
    assert (landing.kind, landing.value, landing.server) == ("id", v2,
                                                             "https://b2share.example.org")
    api = parse_record_ref("http://127.0.0.1:5000/api/records/abcde-12345/draft")
    assert (api.value, api.server) == ("abcde-12345", "http://127.0.0.1:5000")
    assert parse_record_ref("doi:10.5072/B2SHARE.abcde-12345").kind == "DOI"
    assert parse_record_ref("https://doi.org/10.5072/b2share.x").value == "10.5072/b2share.x"
    assert parse_record_ref("hdl:11304/0b1c").kind == "Handle"
    for bad in ("", "not a record", "https://example.org/about", "ftp://x/records/1"):
        with pytest.raises(BadInput):
            parse_record_ref(bad)
    with pytest.raises(BadInput, match="credentials") as info:
        parse_record_ref("https://user:pw123@host/records/abc")
    assert "pw123" not in str(info.value)


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_download_rebuilds_the_bag_from_either_dialect(
    tmp_path: Path, sandbox_factory: Any, publish_env: dict[str, str], api: str
) -> None:
    server = sandbox_factory(api, api=api)
    bundle, record = published(tmp_path, server)
    # v2 by landing URL, v3 by its DOI (looked up on --server: no resolver is used)
    ref = record.html_url if api == "v2" else f"doi:{record.pids['DOI']}"
    report = ecasrepro.reproduce(ref, server=None if api == "v2" else server.url,
                                 output=tmp_path / "got", download_only=True)
    assert report.verdict == "downloaded" and report.is_bundle and report.record == record.id
    rebuilt = tmp_path / "got" / "bundle"
    assert (rebuilt / "manifest-sha256.txt").read_text() == (
        bundle.path / "manifest-sha256.txt").read_text()
    for pf in bundle.payload_files():
        assert (rebuilt / "data" / pf.relpath).read_bytes() == Path(pf.path).read_bytes()
    Bundle.open(rebuilt).validate()  # a valid bag: payload manifests and Payload-Oxum agree
    assert not (tmp_path / "got.part").exists()
    # the second run finds the finished download and does not fetch again
    again = ecasrepro.reproduce(record.id, server=server.url, output=tmp_path / "got",
                                download_only=True)
    assert again.bytes == report.bytes


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_every_form_of_record_reference_finds_the_record(
    tmp_path: Path, sandbox_factory: Any, publish_env: dict[str, str], api: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = sandbox_factory(api, api=api)
    bundle, record = published(tmp_path, server)
    doi = record.pids["DOI"].removeprefix("https://doi.org/")
    forms = {
        "id": record.id,
        "record URL": f"{server.url}/api/records/{record.id}",
        "landing URL": record.html_url,
        "DOI": f"doi:{doi}",
        "DOI URL": f"https://doi.org/{doi}",
    }
    if api == "v2":  # v2 mints an ePIC Handle; v3 (like upstream InvenioRDM) a DOI and an OAI id
        forms["Handle"] = "hdl:" + record.pids["ePIC_PID"].removeprefix("http://hdl.handle.net/")
    for n, (form, ref) in enumerate(forms.items()):
        report = ecasrepro.reproduce(ref, server=server.url, output=tmp_path / f"f{n}",
                                     download_only=True, progress=n == 0)
        assert (report.record, report.is_bundle) == (record.id, True), form
        if n == 0:  # the download's progress bar, in bytes on stderr, cleared at the end
            err = capsys.readouterr().err
            assert "downloading:" in err and "B/s" in err and err.endswith(" \r")
    # a Handle no record has: the server's own search (v2 query, v3 pids.handle) says so
    unknown = run_cli("hdl:0000/not-there", "--server", server.url, "-o", str(tmp_path / "x"))
    assert unknown.exit_code == 3 and not (tmp_path / "x").exists()
    assert "no record with Handle 0000/not-there was found" in unknown.output
    # each dialect serves the published bytes where its real server does
    key = "outputs/table.csv"
    if api == "v2":
        body = requests.get(f"{server.url}/api/records/{record.id}", timeout=10).json()
        bucket = body["files"][0]["bucket"]
        url = f"{server.url}/api/files/{bucket}/{key}"
    else:
        url = f"{server.url}/api/records/{record.id}/files/{key}/content"
    served = requests.get(url, timeout=10)
    assert served.status_code == 200
    assert served.content == (bundle.path / "data" / key).read_bytes()


def test_a_handle_is_found_with_the_servers_search(
    tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str]
) -> None:
    _, record = published(tmp_path, sandbox)
    handle = record.pids["ePIC_PID"].removeprefix("http://hdl.handle.net/")
    report = ecasrepro.reproduce(f"hdl:{handle}", server=sandbox.url, output=tmp_path / "h",
                                 download_only=True)
    assert report.record == record.id
    missing = run_cli("hdl:0000/not-there", "--server", sandbox.url, "-o", str(tmp_path / "x"))
    assert missing.exit_code == 3
    assert "no record with Handle 0000/not-there was found" in missing.output


def test_a_tampered_file_is_refused_and_named(
    tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str]
) -> None:
    bundle, record = published(tmp_path, sandbox)
    wanted = (bundle.path / "data" / "outputs" / "table.csv").read_bytes()
    blobs = [p for p in Path(tmp_path / "sandbox").rglob("*") if p.is_file()
             and p.stat().st_size == len(wanted) and p.read_bytes() == wanted]
    assert blobs, "the sandbox stores the published file as a blob"
    for blob in blobs:
        blob.write_bytes(b"a,b\n1,3\n")  # same size, other bytes: changed on the server
    with pytest.raises(TamperedFile, match=r"outputs/table\.csv does not match the md5"):
        ecasrepro.reproduce(record.id, server=sandbox.url, output=tmp_path / "t")
    assert not (tmp_path / "t").exists()  # nothing left behind as if complete
    assert not (tmp_path / "t.part" / "bundle" / "data" / "outputs" / "table.csv").exists()
    result = run_cli(record.id, "--server", sandbox.url, "-o", str(tmp_path / "t"))
    assert result.exit_code == 7 and "table.csv" in result.output


def test_a_file_changed_before_upload_fails_the_bundles_sha256(
    tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str]
) -> None:
    # the server's md5 is right (it hashed what it got), but the bytes are not the snapshot's
    bundle = make_bundle(tmp_path, {"table.csv": b"a,b\n1,2\n"})
    files = {pf.relpath: Path(pf.path).read_bytes() for pf in bundle.payload_files()}
    files["outputs/table.csv"] = b"a,b\n1,3\n"
    record_id = publish_files(sandbox, files)
    result = run_cli(record_id, "--server", sandbox.url, "-o", str(tmp_path / "s"))
    assert result.exit_code == 7 and result.output.count("\n") == 1
    assert "outputs/table.csv of record" in result.output
    assert "do(es) not match the sha256 in the bundle's ro-crate-metadata.json" in result.output
    assert not (tmp_path / "s").exists()  # nothing left behind as if complete
    part = tmp_path / "s.part" / "bundle" / "data"
    assert not (part / "outputs" / "table.csv").exists()  # the refused file is removed
    assert (part / "ro-crate-metadata.json").is_file()  # the good ones stay for a re-run


def test_a_published_lock_for_another_platform_stops_before_any_venv(
    tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str]
) -> None:
    from ecasrepro.bundle import BundleContent, write_bundle
    from ecasrepro.capture.secrets import Redactor

    lock = _lock(tmp_path, environments=['sys_platform == "win32"']).read_text()
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    content = BundleContent(
        title="Windows analysis", notebook_name="analysis.ipynb",
        notebook_json=json.dumps(notebook).encode(), notebook_html=b"<html></html>",
        metadata=metadata(), requirements_txt="alpha==1.0\n", platform={"python": "3"},
        git_state={"repository": False}, pylock_toml=lock)
    bundle = write_bundle(content, tmp_path / "win.repro", Redactor([]), progress=False)
    record = ecasrepro.publish(bundle, server=sandbox.url, token=sandbox.token, submit=True,
                               progress=False)
    out = tmp_path / "w"
    result = run_cli(record.id, "--server", sandbox.url, "-o", str(out))
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert 'was made for sys_platform == "win32" and does not fit this machine' in result.output
    assert f"the record's files are in {out}" in result.output
    assert (out / "bundle" / "data" / "environment" / "pylock.toml").read_text() == lock
    assert not (out / "venv").exists()  # no environment started, none left half-built


def test_bad_inputs_get_one_sentence(
    tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unknown = run_cli("0" * 32, "--server", sandbox.url, "-o", str(tmp_path / "u"))
    assert unknown.exit_code == 3
    assert "record 00000000000000000000000000000000 was not found" in unknown.output
    assert unknown.output.count("\n") == 1 and "Traceback" not in unknown.output

    private = published(tmp_path, sandbox, "private.repro", {**metadata(), "open_access": False})
    result = run_cli(private[1].id, "--server", sandbox.url, "-o", str(tmp_path / "p"))
    assert result.exit_code == 3 and "is not public" in result.output
    assert "--token-file" in result.output and not (tmp_path / "p").exists()

    # a record that is no ecasrepro bundle: downloaded, said so, nothing run
    plain_id = publish_files(sandbox, {"readme.txt": b"just data\n"})
    plain = run_cli(plain_id, "--server", sandbox.url, "-o", str(tmp_path / "plain"), "--json")
    assert plain.exit_code == 2
    assert "is not an ecasrepro bundle" in plain.output
    assert (tmp_path / "plain" / "bundle" / "data" / "readme.txt").read_bytes() == b"just data\n"
    assert json.loads(plain.stdout.splitlines()[-1])["verdict"] == "downloaded"

    # no network: a port nothing listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ECASREPRO_HTTP_RETRIES", "0")
    with pytest.raises(ServerUnreachable, match="could not be reached"):
        ecasrepro.reproduce(f"http://127.0.0.1:{port}/records/{'1' * 32}", api="v2",
                            output=tmp_path / "n")
    assert not (tmp_path / "n").exists()


def _lock(tmp_path: Path, **changes: Any) -> Path:
    python = ".".join(map(str, sys.version_info[:2]))
    doc = {"lock-version": "1.0", "created-by": "ecasrepro", "requires-python": f"=={python}.*",
           "environments": ["sys_platform == " + json.dumps(sys.platform)], "packages": [
               {"name": "alpha", "version": "1.0", "wheels": [
                   {"url": "http://127.0.0.1:1/files/alpha-1.0-py3-none-any.whl",
                    "hashes": {"sha256": "0" * 64}}]}], **changes}
    lines = [f"{k} = {json.dumps(v)}" for k, v in doc.items() if k != "packages"]
    for package in doc["packages"]:
        lines += ["[[packages]]", f"name = {json.dumps(package['name'])}",
                  f"version = {json.dumps(package['version'])}"]
        for wheel in package["wheels"]:
            lines += ["[[packages.wheels]]", f"url = {json.dumps(wheel['url'])}",
                      f"hashes = {{sha256 = {json.dumps(wheel['hashes']['sha256'])}}}"]
    path = tmp_path / "pylock.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_lock_for_another_platform_or_python_is_named(tmp_path: Path) -> None:
    assert check_lock(_lock(tmp_path))[1] == 1
    with pytest.raises(BadInput, match=r"made for sys_platform == \"win32\""):
        check_lock(_lock(tmp_path, environments=['sys_platform == "win32"']))
    other = "3.9" if sys.version_info[:2] != (3, 9) else "3.12"
    with pytest.raises(BadInput, match=rf"ran on Python {other} .* this is Python 3"):
        check_lock(_lock(tmp_path, **{"requires-python": f"=={other}.*"}))


class _RangeServer:
    """Serves one file and honours ``Range: bytes=N-`` (as a CDN in front of B2SHARE might)."""

    def __init__(self, data: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.ranges: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                wanted = self.headers.get("Range", "")
                outer.ranges.append(wanted)
                start = int(wanted[6:-1]) if wanted.startswith("bytes=") else 0
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_partial_file_is_resumed_or_restarted(
    tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str]
) -> None:
    import hashlib

    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.b2share.download import RecordFetcher, RecordFile
    from ecasrepro.config import resolve_config

    data = bytes(range(256)) * 5000
    served = _RangeServer(data)
    config = resolve_config(server=served.url)
    target = tmp_path / "big.bin"
    target.write_bytes(data[:100_000])  # an interrupted earlier run
    item = RecordFile("big.bin", len(data), hashlib.md5(data).hexdigest(), served.url + "/f")
    with B2ShareSession(config) as session:
        md5, sha = RecordFetcher(config, "v2", session).download(item, target)
    served.server.shutdown()
    assert served.ranges == ["bytes=100000-"]
    assert target.read_bytes() == data and sha == hashlib.sha256(data).hexdigest()
    assert md5 == item.md5
    # the sandbox ignores Range (200): the partial file starts over and ends up right
    bundle, record = published(tmp_path, sandbox)
    part = tmp_path / "r.part" / "bundle" / "data" / "outputs" / "table.csv"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"a,")
    ecasrepro.reproduce(record.id, server=sandbox.url, output=tmp_path / "r", download_only=True)
    assert (tmp_path / "r" / "bundle" / "data" / "outputs" / "table.csv").read_bytes() == (
        bundle.path / "data" / "outputs" / "table.csv").read_bytes()


def test_a_write_error_stops_the_download_and_is_raised(tmp_path: Path) -> None:
    import errno
    import hashlib

    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.b2share.download import RecordFetcher, RecordFile
    from ecasrepro.config import resolve_config

    data = os.urandom(6 * 2**20)  # several chunks, so the writer thread has a queue to drain
    served = _RangeServer(data)
    target = tmp_path / "full.bin"
    target.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    item = RecordFile("full.bin", len(data), hashlib.md5(data).hexdigest(), served.url + "/f")
    config = resolve_config(server=served.url)
    with B2ShareSession(config) as session, pytest.raises(OSError) as info:
        RecordFetcher(config, "v2", session).download(item, target)
    served.server.shutdown()
    assert info.value.errno == errno.ENOSPC
    import threading  # the failed download left no writer or hashing thread behind

    left = {t.name for t in threading.enumerate()} & {
        "ecasrepro-write", "ecasrepro-md5", "ecasrepro-sha256"}
    assert not left


def test_the_reproduce_function_is_not_shadowed_by_its_engine() -> None:
    import ecasrepro.reproduction.engine  # importing the engine must not replace the function
    from ecasrepro import _LAZY
    from ecasrepro.api import reproduce

    assert ecasrepro.reproduce is reproduce
    package = Path(ecasrepro.__file__).parent
    assert not set(_LAZY) & {p.stem for p in package.iterdir()}  # no module named like a name


def test_a_half_built_venv_is_removed_and_a_finished_one_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecasrepro.reproduction.rebuild import COMPLETE, build_environment

    data = tmp_path / "data"
    (data / "environment").mkdir(parents=True)
    (data / "environment" / "requirements.txt").write_text("# nothing pinned\n")
    monkeypatch.setenv("ECASREPRO_INSTALLER", "uv")
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")  # nothing to fetch: no network touched
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "left-over").write_text("an interrupted earlier build")  # no marker: not complete
    built = build_environment(data, venv)
    assert not (venv / "left-over").exists() and (venv / COMPLETE).is_file()
    assert (built.installer, built.source) == ("uv", "requirements.txt")
    assert any("rebuilt from the requirements.txt pins" in n for n in built.notes)
    again = build_environment(data, venv)
    assert any("was already rebuilt" in n for n in again.notes) and again.python == built.python


def test_without_uv_an_old_pip_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecasrepro.reproduction.rebuild import build_environment

    data = tmp_path / "data"
    (data / "environment").mkdir(parents=True)
    (data / "environment" / "pylock.toml").write_text(_lock(tmp_path).read_text())
    old = tmp_path / "old-pip"  # pip 25.0's dist-info first on sys.path: the pip metadata sees
    (old / "pip-25.0.dist-info").mkdir(parents=True)
    (old / "pip-25.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pip\nVersion: 25.0\n")
    monkeypatch.syspath_prepend(str(old))
    monkeypatch.setenv("ECASREPRO_INSTALLER", "pip")
    with pytest.raises(BadInput, match=r"needs uv or pip >= 26\.1 \(this pip is 25\.0\); run: "
                                       r"python -m pip install -U pip"):
        build_environment(data, tmp_path / "venv")
    assert not (tmp_path / "venv").exists()
    # bare pins need no pylock-capable pip: the same machine rebuilds a bundle without a lock
    (data / "environment" / "pylock.toml").unlink()
    (data / "environment" / "requirements.txt").write_text("# nothing pinned\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    built = build_environment(data, tmp_path / "venv")
    assert (built.installer, built.source) == ("pip", "requirements.txt")
