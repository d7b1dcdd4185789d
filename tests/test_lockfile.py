"""pylock.toml against a real package index on loopback: PEP 503 HTML and PEP 691 JSON pages
served by ``http.server``, wheels built here with a correct RECORD, and one fresh venv that pip
installs into from that index (no network but loopback)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.pylock import PackageWheel, Pylock
from packaging.tags import sys_tags

import ecasrepro
from ecasrepro.capture.environment import installed_distributions
from ecasrepro.capture.lockfile import LockSettings, build_lock, lock_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cretPassw0rd"


def make_wheel(where: Path, name: str, version: str, tags: tuple[str, ...] = ("py3-none-any",),
               build: str = "", body: str = "") -> Path:
    """A minimal, installable wheel: one module, METADATA, WHEEL (with its tags) and RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    interpreters = ".".join(sorted({t.split("-")[0] for t in tags}))
    rest = tags[0].split("-", 1)[1]
    filename = f"{dist}-{version}{'-' + build if build else ''}-{interpreters}-{rest}.whl"
    wheel = "Wheel-Version: 1.0\nGenerator: ecasrepro-tests\nRoot-Is-Purelib: true\n"
    wheel += "".join(f"Tag: {t}\n" for t in tags) + (f"Build: {build}\n" if build else "")
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n{body}",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": wheel,
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    where.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(where / filename, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return where / filename


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Index:
    """A package index on 127.0.0.1: ``/simple/<project>/`` as PEP 691 JSON when asked for it
    (projects in ``json_projects``), else PEP 503 HTML; files under ``/files/``."""

    def __init__(self) -> None:
        self.projects: dict[str, list[Path]] = {}
        self.json_projects: set[str] = set()
        self.delay: dict[str, float] = {}
        self.hits: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                index.hits.append(self.path)
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                if parts[:1] == ["files"] and len(parts) == 2:
                    for files in index.projects.values():
                        for file in files:
                            if file.name == parts[1]:
                                return self.reply(file.read_bytes(), "application/octet-stream")
                if parts[:1] == ["simple"] and len(parts) == 2 and parts[1] in index.projects:
                    time.sleep(index.delay.get(parts[1], 0))
                    files = index.projects[parts[1]]
                    accept = self.headers.get("Accept", "")
                    if parts[1] in index.json_projects and "vnd.pypi.simple.v1+json" in accept:
                        page = {"meta": {"api-version": "1.0"}, "name": parts[1], "files": [
                            {"filename": f.name, "url": f"../../files/{f.name}",
                             "hashes": {"sha256": sha256(f)}, "size": f.stat().st_size,
                             "upload-time": "2026-01-02T03:04:05.678901Z"} for f in files]}
                        return self.reply(json.dumps(page).encode(),
                                          "application/vnd.pypi.simple.v1+json")
                    links = "".join(f'<a href="/files/{f.name}#sha256={sha256(f)}">{f.name}</a>'
                                    for f in files)
                    return self.reply(f"<html><body>{links}</body></html>".encode(), "text/html")
                self.send_error(404)

            def reply(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def settings(self, timeout: float = 10.0) -> LockSettings:
        """Settings whose index URL carries credentials (they must never be written)."""
        return LockSettings(self.url.replace("http://", f"http://user:{SECRET}@"), timeout, "test")


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Index]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ECASREPRO_CACHE_DIR", raising=False)
    server = Index()
    yield server
    server.server.shutdown()


def fake_install(site: Path, name: str, version: str, tags: tuple[str, ...] = ("py3-none-any",),
                 direct_url: dict[str, Any] | None = None) -> None:
    """A dist-info directory as an installer leaves it (WHEEL, and direct_url.json if given)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags))
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def parse(text: str) -> tuple[dict[str, Any], Pylock]:
    doc = tomllib.loads(text)
    return doc, Pylock.from_dict(doc)


def test_index_installs_resolve_to_the_exact_wheel_and_cache(index: Index, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    alpha = make_wheel(dist, "alpha-pkg", "1.0")
    beta = make_wheel(dist, "beta", "2.0.post1", tags=("py2-none-any", "py3-none-any"))
    index.projects = {
        "alpha-pkg": [make_wheel(dist / "old", "alpha-pkg", "0.9"), alpha],  # HTML page
        "beta": [make_wheel(dist / "b1", "beta", "2.0.post1", tags=("py2-none-any", "py3-none-any"),
                            build="1"),  # another build of the same tags
                 make_wheel(dist / "py3", "beta", "2.0.post1", body="# other tags\n"), beta],
    }
    index.json_projects = {"beta"}
    site = tmp_path / "site"
    fake_install(site, "alpha_pkg", "1.0")
    fake_install(site, "beta", "2.0.post1", tags=("py2-none-any", "py3-none-any"))
    fake_install(site, "gamma", "3.0")  # the index does not have it
    fake_install(site, "numpy", "2.0")
    (next(site.glob("numpy-*")) / "INSTALLER").write_text("conda\n")  # environment.yml's
    found = installed_distributions([str(site)])

    result = build_lock(found, settings=index.settings())
    assert result.toml is not None and result.requests == 3
    doc, lock = parse(result.toml)
    assert doc["created-by"] == "ecasrepro" and doc["lock-version"] == "1.0"
    assert doc["requires-python"] == f"=={sys.version_info[0]}.{sys.version_info[1]}.*"
    from packaging.markers import Marker

    here = default_environment()
    (marker,) = doc["environments"]  # exactly the running interpreter's markers
    assert Marker(marker).evaluate(here)
    for key in ("implementation_name", "python_version", "sys_platform", "platform_machine"):
        assert f'{key} == "{here[key]}"' in marker
    wheels = {p["name"]: p["wheels"] for p in doc["packages"]}
    assert set(wheels) == {"alpha-pkg", "beta"}
    assert [w["url"] for w in wheels["alpha-pkg"]] == [f"{index.url[:-7]}files/{alpha.name}"]
    assert [w["hashes"] for w in wheels["alpha-pkg"]] == [{"sha256": sha256(alpha)}]
    assert [w["hashes"] for w in wheels["beta"]] == [{"sha256": sha256(beta)}]
    assert wheels["beta"][0]["size"] == beta.stat().st_size  # from the PEP 691 page
    assert wheels["beta"][0]["upload-time"].year == 2026
    assert {p["tool"]["ecasrepro"]["source"] for p in doc["packages"]} == {"index-resolved"}
    assert {p["index"] for p in doc["packages"]} == {index.url}
    assert doc["tool"]["ecasrepro"]["unresolved"] == ["gamma==3.0", "numpy==2.0"]
    assert len(result.warnings) == 1 and "gamma==3.0 (not on the index)" in result.warnings[0]
    assert "numpy" not in result.warnings[0]  # conda's: environment.yml locks it
    assert SECRET not in result.toml + "".join(result.warnings)
    cached = [p.read_text() for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached and not any(SECRET in text for text in cached)  # nor in the cache
    # an installer reading the lock picks exactly these wheels for this interpreter
    chosen = {}
    for package, artifact in lock.select(environment=default_environment(),
                                         tags=list(sys_tags())):
        assert isinstance(artifact, PackageWheel)
        chosen[str(package.name)] = artifact.filename
    assert chosen == {"alpha-pkg": alpha.name, "beta": beta.name}

    before = len(index.hits)
    again = build_lock(found, settings=index.settings())
    assert (again.toml, again.warnings, again.requests) == (result.toml, result.warnings, 0)
    assert len(index.hits) == before  # the second snapshot of this environment asks nothing


def test_direct_url_installs_are_observed(index: Index, tmp_path: Path) -> None:
    site = tmp_path / "site"
    local = make_wheel(tmp_path / "local", "delta", "1.0")
    fake_install(site, "delta", "1.0", direct_url={"url": local.as_uri(), "archive_info": {}})
    fake_install(site, "eps", "0.1", direct_url={
        "url": f"https://git:{SECRET}@example.org/eps.git",
        "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": "main"}})
    fake_install(site, "zeta", "2.0", direct_url={
        "url": "https://example.org/zeta-2.0.tar.gz",
        "archive_info": {"hashes": {"sha256": "b" * 64}}})
    fake_install(site, "eta", "0.0.1", direct_url={
        "url": (tmp_path / "eta-src").as_uri(), "dir_info": {"editable": True}})
    fake_install(site, "theta", "1.0", direct_url={
        "url": (tmp_path / "gone.whl").as_uri(), "archive_info": {}})

    result = build_lock(installed_distributions([str(site)]), settings=index.settings())
    assert result.toml is not None and result.requests == 0
    doc, _ = parse(result.toml)
    packages = {p["name"]: p for p in doc["packages"]}
    assert packages["delta"]["archive"] == {"path": local.name, "hashes": {"sha256": sha256(local)}}
    assert packages["delta"]["tool"]["ecasrepro"]["portable"] is False
    assert packages["eps"]["vcs"] == {"type": "git", "url": "https://example.org/eps.git",
                                      "commit-id": "a" * 40, "requested-revision": "main"}
    assert packages["zeta"]["archive"] == {"url": "https://example.org/zeta-2.0.tar.gz",
                                           "hashes": {"sha256": "b" * 64}}
    assert packages["eta"]["directory"] == {"path": "eta-src", "editable": True}  # no home path
    assert str(tmp_path) not in result.toml
    assert packages["eta"]["tool"]["ecasrepro"] == {"source": "direct_url.json", "portable": False}
    assert "version" not in packages["eta"]  # a source tree's version can change under it
    assert doc["tool"]["ecasrepro"]["unresolved"] == ["theta==1.0"]
    assert "no archive hash" in result.warnings[0] and SECRET not in result.toml


def test_no_network_writes_no_lock_and_says_why(index: Index, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake_install(tmp_path / "site", "alpha", "1.0")
    fake_install(tmp_path / "site", "beta", "1.0")
    settings = LockSettings(f"http://user:{SECRET}@127.0.0.1:{port}/simple/", 5.0, "test")
    result = build_lock(installed_distributions([str(tmp_path / "site")]), settings=settings)
    assert result.toml is None and len(result.warnings) == 1
    assert "could not be reached (ConnectionError)" in result.warnings[0]
    assert f"127.0.0.1:{port}/simple/" in result.warnings[0] and SECRET not in result.warnings[0]
    # remembered: the next snapshot (an offline compute node) does not wait again
    again = build_lock(installed_distributions([str(tmp_path / "site")]), settings=settings)
    assert (again.toml, again.requests) == (None, 0)
    assert "not retried before" in again.warnings[0] and "ConnectionError" in again.warnings[0]


def test_a_slow_index_costs_at_most_the_budget(index: Index, tmp_path: Path) -> None:
    index.projects = {"fast": [make_wheel(tmp_path / "d", "fast", "1.0")],
                      "slow": [make_wheel(tmp_path / "d", "slow", "1.0")]}
    index.delay = {"slow": 3.0}
    fake_install(tmp_path / "site", "fast", "1.0")
    fake_install(tmp_path / "site", "slow", "1.0")
    found = installed_distributions([str(tmp_path / "site")])
    started = time.monotonic()
    result = build_lock(found, settings=index.settings(timeout=0.5))
    assert time.monotonic() - started < 2.0
    assert result.toml is not None
    doc, _ = parse(result.toml)
    assert [p["name"] for p in doc["packages"]] == ["fast"]
    assert doc["tool"]["ecasrepro"]["unresolved"] == ["slow==1.0"]
    assert "did not answer" in result.warnings[0]
    # an unanswered look-up is not cached: the next snapshot asks again, for it alone
    index.delay = {}
    hits = len(index.hits)
    again = build_lock(found, settings=index.settings())
    assert again.requests == 1 and index.hits[hits:] == ["/simple/slow/"]
    assert again.warnings == [] and again.toml is not None and "slow" in again.toml


def test_settings_follow_the_environment_index(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\n")
    home = str(tmp_path / "home")
    assert lock_settings({"ECASREPRO_LOCK_INDEX": "off"}).index is None
    assert lock_settings({"HOME": home, "PIP_CONFIG_FILE": str(conf)}).index == (
        "https://mirror.example/simple/")
    picked = lock_settings({"HOME": home, "PIP_CONFIG_FILE": str(conf),
                            "PIP_INDEX_URL": "https://other.example/simple/",
                            "ECASREPRO_LOCK_TIMEOUT": "2.5"})
    assert (picked.index, picked.timeout) == ("https://other.example/simple/", 2.5)
    uv = tmp_path / "home" / ".config" / "uv"
    uv.mkdir(parents=True)
    (uv / "uv.toml").write_text('[[index]]\nurl = "https://uv.example/simple"\ndefault = true\n')
    from_uv = lock_settings({"HOME": home, "PIP_CONFIG_FILE": os.devnull})
    assert from_uv.index == "https://uv.example/simple/"
    assert from_uv.origin == "uv configuration ~/.config/uv/uv.toml"  # no home path in messages
    assert build_lock([], settings=lock_settings({"ECASREPRO_LOCK_INDEX": "off"})).toml is None


def test_snapshot_writes_pylock_beside_requirements(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # click, a distribution of this interpreter, is the one the test index serves
    info, path = next((d, p) for d, p in installed_distributions() if d.key == "click")
    tags = tuple(line.split(":", 1)[1].strip() for line in (path / "WHEEL").read_text()
                 .splitlines() if line.startswith("Tag:"))
    wheel = make_wheel(tmp_path / "d", "click", info.version, tags=tags)
    index.projects = {"click": [wheel]}
    monkeypatch.setenv("ECASREPRO_LOCK_INDEX", index.url)
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                    "nbformat_minor": 5}))
    bundle = ecasrepro.snapshot(notebook, creators=["Doe, Jane"])
    text = (bundle.path / "data" / "environment" / "pylock.toml").read_text()
    doc, _ = parse(text)
    entry = next(p for p in doc["packages"] if p["name"] == "click")
    assert entry["wheels"][0]["hashes"] == {"sha256": sha256(wheel)}
    assert "click" not in doc["tool"]["ecasrepro"]["unresolved"]
    assert any("pylock.toml leaves out" in w for w in bundle.warnings)  # the rest: not served
    kept = {f.relpath for f in bundle.payload_files()}
    assert {"environment/pylock.toml", "environment/requirements.txt"} <= kept
    pins = (bundle.path / "data" / "environment" / "requirements.txt").read_text()
    assert f"click=={info.version}" in pins  # the bare pins are still written beside the lock


@pytest.mark.slow
def test_lock_from_inside_a_venv_installed_from_a_loopback_index(
    index: Index, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    alpha = make_wheel(dist, "alpha-pkg", "1.0")
    beta = make_wheel(dist, "beta", "2.0", tags=("py2-none-any", "py3-none-any"))
    gamma = make_wheel(dist, "gamma", "0.5")
    local = make_wheel(tmp_path / "local", "delta", "1.0")
    index.projects = {"alpha-pkg": [alpha], "beta": [beta], "gamma": [gamma]}
    index.json_projects = {"beta"}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1"}
    env.pop("PIP_FIND_LINKS", None)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-cache-dir", "--index-url", index.url, "alpha-pkg", "beta", "gamma", str(local)],
        check=True, env=env,
    )
    index.projects.pop("gamma")  # gone from the index since it was installed
    conf = tmp_path / "pip.conf"  # the environment's own index setting, with credentials
    conf.write_text(f"[global]\nindex-url = {index.settings().index}\n")
    env.update(PIP_CONFIG_FILE=str(conf), XDG_CACHE_HOME=str(tmp_path / "venv-cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path[1:]]))
    env.pop("ECASREPRO_LOCK_INDEX")
    script = (
        "import sys, sysconfig\n"
        "from ecasrepro.capture.lockfile import build_lock\n"
        "r = build_lock(path=[sysconfig.get_paths()['purelib']])\n"  # the venv's own packages
        "sys.stdout.write(r.toml or ''); sys.stderr.write('\\n'.join(r.warnings))\n"
    )
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, env=env,
                          check=True)
    doc, lock = parse(done.stdout)
    packages = {p["name"]: p for p in doc["packages"]}
    assert set(packages) == {"alpha-pkg", "beta", "delta"}
    for name, wheel in (("alpha-pkg", alpha), ("beta", beta)):
        assert [(w["url"], w["hashes"]) for w in packages[name]["wheels"]] == [
            (f"{index.url[:-7]}files/{wheel.name}", {"sha256": sha256(wheel)})]
    assert packages["delta"]["archive"]["hashes"] == {"sha256": sha256(local)}
    assert packages["delta"]["tool"]["ecasrepro"]["source"] == "direct_url.json"
    assert doc["tool"]["ecasrepro"]["unresolved"] == ["gamma==0.5"]
    assert "gamma==0.5 (not on the index)" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert {p.name for p, _ in lock.select(environment=default_environment(),
                                          tags=list(sys_tags()))} == set(packages)
    # pip (>= 26.1) installs a second venv from it: index wheels by URL with their hashes, the
    # local wheel by name once it is put beside the lock (it is marked not portable)
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir()
    (rebuilt / "pylock.toml").write_text(done.stdout)
    (rebuilt / local.name).write_bytes(local.read_bytes())
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(rebuilt / "venv")],
                   check=True)
    env["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(rebuilt / "venv" / "bin" / "python"),
         "install", "--quiet", "--no-cache-dir", "-r", str(rebuilt / "pylock.toml")],
        check=True, env=env, capture_output=True,
    )
    # and uv (the test extra installs it) into a third, from the same lock and the same index
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable,
                    str(rebuilt / "uv-venv")], check=True, env=env)
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--no-cache", "--python",
         str(rebuilt / "uv-venv" / "bin" / "python"), "-r", str(rebuilt / "pylock.toml")],
        check=True, env={**env, "UV_NO_CONFIG": "1"}, capture_output=True,
    )
    check = "import alpha_pkg, beta, delta; print(alpha_pkg.VERSION, beta.VERSION, delta.VERSION)"
    for made in ("venv", "uv-venv"):
        out = subprocess.run([str(rebuilt / made / "bin" / "python"), "-c", check],
                             capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["1.0", "2.0", "1.0"], made
