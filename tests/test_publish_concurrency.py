"""Publish runs of one bundle at the same time make exactly one draft (real processes, sandbox).

The bundle is locked with an OS file lock for the whole run: a second run waits, then finds the
draft the first one recorded in the receipt and continues it; a lock holder killed with -9
releases the lock with its process.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ecasrepro.b2share.publisher import LOCK_FILE
from tests.test_publish_support import (  # noqa: F401 - fixtures
    assert_one_complete_draft,
    cli_env,
    make_bundle,
    publish_env,
    server,
    token_file,
)

ECASREPRO = [sys.executable, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]
HOLD_LOCK = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


def start_publishers(bundle: Any, env: dict[str, str], logs: Path, n: int) -> list[Any]:
    logs.mkdir(exist_ok=True)
    runs = []
    for i in range(n):
        out = open(logs / f"{i}.log", "w")  # noqa: SIM115 - closed in finish()
        runs.append((subprocess.Popen([*ECASREPRO, "publish", str(bundle.path)], env=env,
                                      stdout=out, stderr=subprocess.STDOUT), out))
    return runs


def finish(runs: list[Any], logs: Path) -> list[str]:
    texts = []
    for i, (process, out) in enumerate(runs):
        try:
            code = process.wait(timeout=180)
        finally:
            out.close()
        text = (logs / f"{i}.log").read_text()
        assert code == 0, text
        texts.append(text)
    return texts


def wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def waiting(logs: Path, n: int) -> bool:
    return all("waiting for it to finish" in (logs / f"{i}.log").read_text() for i in range(n))


@pytest.mark.parametrize("holder_dies", [False, True], ids=["released", "holder-killed-9"])
def test_runs_queued_behind_the_lock_make_one_draft(
    tmp_path: Path, server: Any, token_file: Path, holder_dies: bool
) -> None:
    """Three runs started while another process holds the lock all wait (and say so); when the
    holder releases the lock, or is killed -9, they go one by one: one draft, all exit 0."""
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 5000, "b.txt": os.urandom(200_000)})
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(bundle.path / LOCK_FILE)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        logs = tmp_path / "logs"
        runs = start_publishers(bundle, cli_env(server, token_file), logs, 3)
        wait_for(lambda: waiting(logs, 3))
        assert f"(pid {holder.pid})" in (logs / "0.log").read_text()
        assert not list((bundle.path).glob("receipt.json"))  # nobody got past the lock
    finally:
        if holder_dies:
            os.kill(holder.pid, signal.SIGKILL)
        else:
            holder.terminate()
        holder.wait()
    texts = finish(runs, logs)
    draft = assert_one_complete_draft(server.url, server.token, bundle)
    assert json.loads((bundle.path / "receipt.json").read_text())["draft_id"] == draft
    assert sum(f"created draft {draft}" in text for text in texts) == 1
    assert all(server.token not in text for text in texts)


@pytest.mark.parametrize("round_", range(3))
def test_simultaneous_runs_race_for_the_lock_and_make_one_draft(
    tmp_path: Path, server: Any, token_file: Path, round_: int
) -> None:
    """No outside help: three runs started together, with server latency widening the race."""
    server.set_faults("latency=40ms")
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 5000, f"r{round_}.bin": os.urandom(50_000)})
    logs = tmp_path / "logs"
    texts = finish(start_publishers(bundle, cli_env(server, token_file), logs, 3), logs)
    draft = assert_one_complete_draft(server.url, server.token, bundle)
    assert sum(f"created draft {draft}" in text for text in texts) == 1


def test_v3_runs_make_one_draft(tmp_path: Path, publish_env: Any, token_file: Path) -> None:
    from ecasrepro.sandbox import SandboxServer
    from tests.test_publish_v3 import assert_one_complete_draft as one_v3_draft

    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 5000})
    with SandboxServer(tmp_path / "sandbox-v3", api="v3", seed=1) as v3:
        v3.set_faults("latency=40ms")
        token_file.write_text(v3.token)
        env = {**cli_env(v3, token_file), "B2SHARE_COMMUNITY": "ecas"}
        logs = tmp_path / "logs"
        finish(start_publishers(bundle, env, logs, 3), logs)
        one_v3_draft(v3, bundle)
