"""Failures publishing must survive, injected by the sandbox over real HTTP.

Each ends with exactly one draft holding every payload file with a matching md5, or with exit
code 4 and a receipt from which a re-run completes.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import ecasrepro
from ecasrepro.errors import ExitCode, ServerUnreachable
from tests.test_publish_support import (  # noqa: F401 - fixtures
    assert_one_complete_draft,
    cli_env,
    drafts_of,
    make_bundle,
    publish_env,
    server,
    token_file,
)

MiB = 1024 * 1024
ECASREPRO = [sys.executable, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]


def publish(bundle: Any, server: Any, **options: Any) -> Any:
    return ecasrepro.publish(bundle, server=server.url, token=server.token, progress=False,
                             **options)


def test_connection_dropped_part_way_through_uploads(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = make_bundle(tmp_path, {"big.bin": os.urandom(3 * MiB), "small.txt": b"s" * 10})
    server.set_faults("drop-upload-first=2,drop-at=0.5", seed=3)
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        record = publish(bundle, server)
    retried = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retried) >= 2  # the two cut uploads were sent again from the file
    assert assert_one_complete_draft(server.url, server.token, bundle) == record.id


def test_burst_of_503_with_retry_after_is_waited_out(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECASREPRO_HTTP_RETRY_AFTER_MAX", "5")
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 1000})
    server.set_faults("error-503-first=3,retry-after=1")  # the first three requests of the run
    started = time.monotonic()
    record = publish(bundle, server)
    assert time.monotonic() - started >= 2.5  # Retry-After: 1 honoured three times
    assert assert_one_complete_draft(server.url, server.token, bundle) == record.id


def test_503_bursts_on_create_and_uploads(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 1000, "b.txt": b"b" * 1000})
    server.set_faults("error-503-first=2@POST/api/records/,drop-upload=0.3,retry-after=0", seed=7)
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        record = publish(bundle, server)
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retry: ")]
    assert sum("/api/records/" in m for m in retries) == 2  # the POST waited out both 503s
    assert any("/api/files/" in r.getMessage() for r in caplog.records
               if r.getMessage().startswith("Retrying"))  # and some uploads were cut and resent
    assert assert_one_complete_draft(server.url, server.token, bundle) == record.id


def test_sandbox_restarted_between_two_files(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 5000, "b.txt": b"b" * 5000})
    restarted = threading.Event()

    def echo(message: str) -> None:
        if message.startswith("uploaded ") and not restarted.is_set():
            restarted.set()
            server.stop()  # down for a moment, then back on the same port with the same data
            threading.Timer(0.3, server.start).start()

    record = ecasrepro.publish(bundle, server=server.url, token=server.token, progress=False,
                               echo=echo)
    assert restarted.is_set()
    assert assert_one_complete_draft(server.url, server.token, bundle) == record.id


def test_uploads_that_keep_failing_exit_4_and_rerun_completes(
    tmp_path: Path, server: Any
) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 5000})
    server.set_faults("drop-upload=1.0")
    with pytest.raises(ServerUnreachable) as info:
        publish(bundle, server)
    assert info.value.exit_code == ExitCode.UNREACHABLE
    receipt = json.loads((bundle.path / "receipt.json").read_text())
    assert receipt["draft_id"] and len(drafts_of(server.url, server.token)) == 1
    server.set_faults(None)
    record = publish(bundle, server)
    assert record.id == receipt["draft_id"]
    assert_one_complete_draft(server.url, server.token, bundle)


def run_publish(bundle: Any, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ECASREPRO, "publish", str(bundle.path)],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", ["post", "draft", "file"])
def test_process_killed_then_rerun_makes_exactly_one_draft(
    tmp_path: Path, server: Any, token_file: Path, point: str
) -> None:
    """SIGKILL right after the POST (receipt not yet updated), after the receipt recorded the
    draft, and after the first file: a re-run adopts or continues the draft, never a second."""
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 2000, "b.txt": b"b" * 2000})
    env = cli_env(server, token_file)
    killed = run_publish(bundle, {**env, "ECASREPRO_TEST_HOOK": f"kill-after-{point}"})
    assert killed.returncode == -9, killed.stderr
    assert len(drafts_of(server.url, server.token)) == 1
    done = run_publish(bundle, env)
    assert done.returncode == 0, done.stderr
    assert_one_complete_draft(server.url, server.token, bundle)
    assert server.token not in done.stderr + done.stdout + killed.stderr


def test_server_killed_for_good_is_exit_4_and_resumable(
    tmp_path: Path, server: Any, token_file: Path
) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 2000})
    env = cli_env(server, token_file, ECASREPRO_HTTP_RETRIES="2")
    killed = run_publish(bundle, {**env, "ECASREPRO_TEST_HOOK": "kill-after-draft"})
    assert killed.returncode == -9
    server.stop()
    down = run_publish(bundle, env)
    assert down.returncode == ExitCode.UNREACHABLE
    assert len(down.stderr.strip().splitlines()) == 1
    server.start()
    done = run_publish(bundle, env)
    assert done.returncode == 0, done.stderr
    assert_one_complete_draft(server.url, server.token, bundle)
