"""A server's ``Retry-After`` is waited out visibly, or refused with a sentence when too long.

The sandbox's fault injection answers 503 with the Retry-After asked for, over real HTTP.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import email.utils
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ecasrepro.b2share.client import retry_after_seconds
from ecasrepro.errors import ExitCode
from tests.test_publish_support import (  # noqa: F401 - fixtures
    assert_one_complete_draft,
    cli_env,
    drafts_of,
    make_bundle,
    publish_env,
    server,
    token_file,
)

ECASREPRO = [sys.executable, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]
WAIT_LINE = re.compile(r"server asked to wait (\d+) s; retrying at \d\d:\d\d:\d\d")


def run_publish(bundle: Any, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ECASREPRO, "publish", str(bundle.path)], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("asked", "cap", "selector"), [
    (100_000, None, ""),           # the sweep's example, against the default 120 s cap
    (121, None, "@POST"),          # just over the default cap, on creating the draft
    (6, "5", "@PUT"),              # over a configured cap, on a file upload (a worker thread)
])
def test_retry_after_beyond_the_cap_gives_up_at_once_with_a_sentence(
    tmp_path: Path, server: Any, token_file: Path, asked: int, cap: str | None, selector: str
) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 3000})
    server.set_faults(f"error-503-first=1{selector},retry-after={asked}")
    env = cli_env(server, token_file, **({"ECASREPRO_HTTP_RETRY_AFTER_MAX": cap} if cap else {}))
    started = time.monotonic()
    result = run_publish(bundle, env)
    assert time.monotonic() - started < 30  # no silent wait of minutes
    err = result.stderr.strip()
    assert result.returncode == ExitCode.UNREACHABLE, err
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and f"asked to wait {asked} s" in last, err
    assert f"more than the {cap or 120} s" in last and "Traceback" not in err
    assert server.token not in result.stdout + err
    server.set_faults("")  # the server recovers: the same command resumes, one draft
    again = run_publish(bundle, cli_env(server, token_file))
    assert again.returncode == 0, again.stderr
    assert_one_complete_draft(server.url, server.token, bundle)


def test_retry_after_within_the_cap_is_shown_and_waited_out(
    tmp_path: Path, server: Any, token_file: Path
) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 3000})
    server.set_faults("error-503-first=2,retry-after=2")
    started = time.monotonic()
    result = run_publish(bundle, cli_env(server, token_file))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 4  # both waits honoured
    waits = WAIT_LINE.findall(result.stderr)
    assert waits == ["2", "2"], result.stderr
    assert_one_complete_draft(server.url, server.token, bundle)


def test_retry_after_values_are_read_as_seconds_or_http_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("100000") == 100_000
    assert retry_after_seconds(" 7 ") == 7
    assert retry_after_seconds(email.utils.formatdate(now + 300, usegmt=True), now) == 300
    assert retry_after_seconds(email.utils.formatdate(now - 300, usegmt=True), now) == 0
    for unreadable in ("soon", "-5", "1.5", ""):
        assert retry_after_seconds(unreadable, now) is None
