"""Which notebook a kernel runs: VS Code's variable, and a real Jupyter server's sessions API
(jupyter_server on loopback with a token, a real kernel started through its REST API)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ecasrepro.errors import BadInput
from ecasrepro.whereami import kernel_id_of, locate_notebook, running_servers


def test_vscode_names_the_notebook_after_the_session_variables(tmp_path: Path) -> None:
    (tmp_path / "code.ipynb").write_text("{}")
    (tmp_path / "lab.ipynb").write_text("{}")
    vsc = {"__vsc_ipynb_file__": str(tmp_path / "code.ipynb")}
    found = locate_notebook(None, vsc, {}, cwd=Path("/"), runtime_dirs=[])
    assert (found.path, found.found_by) == (tmp_path / "code.ipynb", "__vsc_ipynb_file__")
    both = locate_notebook(None, {**vsc, "__session__": "lab.ipynb"}, {}, cwd=tmp_path)
    assert (both.path.name, both.found_by) == ("lab.ipynb", "__session__")


def test_kernel_id_comes_from_the_connection_file_name() -> None:
    kernel = "0c7d4f9e-5b1a-4c8e-9d2f-3a6b7c8d9e0f"
    assert kernel_id_of(f"/run/user/0/jupyter/runtime/kernel-{kernel}.json") == kernel
    assert kernel_id_of("/tmp/tmpab12cd.json") is None and kernel_id_of(None) is None


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real jupyter_server on a free loopback port, its own runtime dir and a random token."""
    root = tmp_path_factory.mktemp("root")
    runtime = tmp_path_factory.mktemp("runtime")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTER_CONFIG_DIR": str(runtime / "config"), "JUPYTER_TOKEN": token}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
         "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(runtime.glob("jpserver-*.json")):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"jupyter_server did not start: {server.stderr.read()!r}")
            time.sleep(0.1)
        yield {"root": root, "runtime": runtime, "token": token,
               "url": f"http://127.0.0.1:{port}/"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_sessions_api_of_the_local_server_names_the_notebook(
    jupyter_server: dict[str, Any], tmp_path: Path
) -> None:
    root, url, token = jupyter_server["root"], jupyter_server["url"], jupyter_server["token"]
    (root / "sub").mkdir()
    (root / "sub" / "analysis.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    headers = {"Authorization": f"token {token}"}
    created = requests.post(f"{url}api/sessions", headers=headers, timeout=60, json={
        "path": "sub/analysis.ipynb", "type": "notebook", "name": "",
        "kernel": {"name": "python3"}})
    created.raise_for_status()
    kernel_id = created.json()["kernel"]["id"]
    try:
        servers = running_servers([jupyter_server["runtime"]])
        assert [s["url"] for s in servers] == [url]
        connection = f"/somewhere/kernel-{kernel_id}.json"
        found = locate_notebook(None, {}, {"JUPYTER_TOKEN": token}, cwd=tmp_path,
                                connection_file=connection,
                                runtime_dirs=[jupyter_server["runtime"]])
        assert found.path.resolve() == (root / "sub" / "analysis.ipynb").resolve()
        assert found.found_by == f"the Jupyter server at {url} (/api/sessions)"
        assert token not in found.found_by

        # the runtime file's own token serves when the environment has none
        assert locate_notebook(None, {}, {}, cwd=tmp_path, connection_file=connection,
                               runtime_dirs=[jupyter_server["runtime"]]).path == found.path
        # a wrong token is refused by the server: nothing tells, one sentence, no token in it
        with pytest.raises(BadInput, match=r"pass --notebook PATH\.$") as refused:
            locate_notebook(None, {}, {"JUPYTER_TOKEN": "wrong"}, cwd=tmp_path,
                            connection_file=connection, runtime_dirs=[jupyter_server["runtime"]])
        assert "wrong" not in str(refused.value) and token not in str(refused.value)
        # another kernel's id matches no session
        with pytest.raises(BadInput, match="no local Jupyter server knows this kernel"):
            locate_notebook(None, {}, {}, cwd=tmp_path,
                            connection_file="kernel-00000000-0000-0000-0000-000000000000.json",
                            runtime_dirs=[jupyter_server["runtime"]])
    finally:
        requests.delete(f"{url}api/sessions/{created.json()['id']}", headers=headers, timeout=30)


def test_a_remote_server_in_the_runtime_files_is_never_asked(tmp_path: Path) -> None:
    (tmp_path / "jpserver-1.json").write_text(json.dumps(
        {"url": "http://jupyter.example.org:8888/", "token": "t", "root_dir": "/"}))
    (tmp_path / "jpserver-2.json").write_text("not json")
    assert running_servers([tmp_path]) == []
