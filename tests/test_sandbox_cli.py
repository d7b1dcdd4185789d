"""``ecasrepro sandbox`` as a process: one JSON line once ready, serves, stops cleanly on SIGTERM,
keeps its state across a restart on the same port, refuses non-loopback hosts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

ENTRY = [sys.executable, "-c", "from ecasrepro.cli import main; main()", "sandbox"]


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [*ENTRY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return err


def test_json_ready_line_serves_and_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, info = start(
        "--data", str(data), "--token", "practice-token-123", "--json", "--port", "0"
    )
    try:
        assert set(info) == {"url", "token", "data"} and info["token"] == "practice-token-123"
        assert Path(info["data"]) == data.resolve()
        me = requests.get(
            info["url"] + "/api/user/", headers={"Authorization": "Bearer practice-token-123"}
        )
        assert me.json()["id"] == 1
        draft = requests.post(
            info["url"] + "/api/records/",
            params={"access_token": info["token"]},
            json={
                "titles": [{"title": "t"}],
                "community": "e9b9792e-79fb-4b07-b6b4-b9c2bd06d095",
                "open_access": True,
                "community_specific": {},
            },
        ).json()
    finally:
        err = stop(proc)
    assert "practice-token-123" not in err  # request logs redact tokens
    port = info["url"].rsplit(":", 1)[1]
    proc, again = start("--data", str(data), "--json", "--port", port)
    try:
        assert again["url"] == info["url"] and again["token"] == "practice-token-123"
        got = requests.get(
            draft["links"]["self"], headers={"Authorization": "Bearer practice-token-123"}
        )
        assert got.status_code == 200
    finally:
        stop(proc)


def test_refuses_remote_host_and_bad_faults(tmp_path: Path) -> None:
    remote = subprocess.run(
        [*ENTRY, "--host", "0.0.0.0", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    faults = subprocess.run(
        [*ENTRY, "--faults", "explode=1", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert faults.returncode == 2 and "unknown fault 'explode'" in faults.stderr


def test_missing_sandbox_extra_is_one_sentence(tmp_path: Path) -> None:
    """Without Flask (a plain `pip install ecasrepro`), the command says which extra to install."""
    code = (
        "import sys; sys.modules['flask'] = None\n"
        "from ecasrepro.cli import main\n"
        f"main(['sandbox', '--port', '0', '--data', {str(tmp_path / 'd')!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "pip install 'ecasrepro[sandbox]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    """A port that cannot exist is refused, not silently replaced by another one."""
    result = subprocess.run(
        [sys.executable, "-c", "from ecasrepro.cli import main; main()", "sandbox",
         "--port", "99999", "--data", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "99999 is not in the range 0<=x<=65535" in result.stderr


def test_a_data_dir_holding_no_sqlite_database_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "sandbox.sqlite3").write_bytes(b"not a database, just some bytes" * 200)
    run = subprocess.run(
        [*ENTRY, "--data", str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: cannot use ") and "sandbox.sqlite3" in run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
