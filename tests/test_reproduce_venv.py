"""The whole loop over real HTTP, with the one venv build of the suite: snapshot -> publish
--submit -> reproduce in a new directory -> "reproduced"; and a record whose captured output was
changed -> "differs", naming the cell.

The lock holds two wheels from the loopback index of tests/test_lockfile.py (pip, then uv,
installs them by URL with their sha256; nothing but loopback is touched); a third distribution,
absent from the index at snapshot time, is named unresolved in the lock and installed by its pin
once the index has it. The CLI's --json and exit code 6 are checked on the "differs" record.
ipykernel is not in that lock, so the kernel runs the venv's interpreter with this environment's
ipykernel closure appended after the venv's packages (the documented fallback; see
docs/decisions.md "Reproduce")."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules)

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import ecasrepro
import ecasrepro.capture.lockfile as lockfile
from ecasrepro.capture.environment import installed_distributions
from ecasrepro.sandbox import SandboxServer
from tests.test_lockfile import Index, fake_install, index, make_wheel, parse  # noqa: F401
from tests.test_publish_support import publish_env  # noqa: F401

INPUT = "hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2"


def notebook(path: Path, answer: str, reads_input: bool = False) -> Path:
    cells = [
        ("import alpha_pkg, beta, gamma\nprint(alpha_pkg.VERSION, beta.VERSION, gamma.VERSION)",
         "1.0 2.0 0.5\n"),
        ("print(6 * 7)", answer),
    ]
    if reads_input:  # the file the input PID names; not in the bundle
        cells.append(("print(open('input.csv').read().strip())", "x,y\n"))
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": i + 1, "id": f"c{i}", "metadata": {},
                   "source": source, "outputs": [{"output_type": "stream", "name": "stdout",
                                                  "text": text}]}
                  for i, (source, text) in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                    "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.mark.slow
def test_publish_then_reproduce_in_a_fresh_venv(
    tmp_path: Path, index: Index, sandbox: SandboxServer, publish_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    dist = tmp_path / "dist"
    index.projects = {"alpha-pkg": [make_wheel(dist, "alpha-pkg", "1.0")],
                      "beta": [make_wheel(dist, "beta", "2.0")]}
    site = tmp_path / "captured-site"  # the environment the analysis ran in
    fake_install(site, "alpha-pkg", "1.0")
    fake_install(site, "beta", "2.0")
    fake_install(site, "gamma", "0.5")  # not on the index when the snapshot is taken
    found = installed_distributions([str(site)])
    monkeypatch.setenv("ECASREPRO_LOCK_INDEX", index.url)
    monkeypatch.setattr(lockfile, "start_lock", lambda _=None: lockfile.PendingLock(found))
    monkeypatch.setenv("ECASREPRO_INSTALLER", "pip")
    monkeypatch.setenv("UV_NO_CONFIG", "1")  # uv, like pip, reads no site index configuration
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no site find-links: loopback only
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.chdir(tmp_path)

    records: dict[str, Any] = {}
    for name, answer in (("same", "42\n"), ("changed", "43\n")):
        (tmp_path / name).mkdir()
        bundle = ecasrepro.snapshot(notebook(tmp_path / name / "nb.ipynb", answer, name == "same"),
                                    creators=["Doe, Jane"], title=f"Reproduce {name}",
                                    inputs=[INPUT] if name == "same" else [])
        lock = (bundle.path / "data" / "environment" / "pylock.toml").read_text()
        assert parse(lock)[0]["tool"]["ecasrepro"]["unresolved"] == ["gamma==0.5"]
        records[name] = ecasrepro.publish(bundle, server=sandbox.url, token=sandbox.token,
                                          submit=True, progress=False)

    # gamma reaches the index later: reproduce installs the pin the lock could not resolve by
    # name, from the index pip and uv are configured for (loopback)
    index.projects["gamma"] = [make_wheel(dist, "gamma", "0.5")]
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    monkeypatch.setenv("UV_DEFAULT_INDEX", index.url)
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    monkeypatch.chdir(fresh)  # a new directory: nothing of the original run is beside it
    # without its input the notebook fails where it reads it, and the input is named by PID
    missing = ecasrepro.reproduce(records["same"].html_url)
    assert missing.verdict == "ran-with-errors" and missing.environment.ok and not missing.ran.ok
    assert "cell 2" in missing.ran.detail and "FileNotFoundError" in missing.ran.detail
    assert any(n.startswith("inputs not found: Handle 21.14100/dfb02365") for n in missing.notes)
    # --data maps it: the finished download and venv are reused, only the run is repeated
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "input.csv").write_text("x,y\n")
    report = ecasrepro.reproduce(records["same"].html_url, data_dirs=[inputs])
    assert report.verdict == "reproduced", report.summary()
    assert any("was already rebuilt" in n for n in report.notes)
    assert report.environment.ok
    assert "pylock.toml with pip, 2 locked" in report.environment.detail
    assert "1 pin(s) not in the lock installed by name" in report.environment.detail
    assert ("installed from requirements.txt pins, not locked artifacts: gamma==0.5"
            in report.notes)
    assert report.ran.ok and report.outputs.ok
    python = fresh / f"b2share-{records['same'].id}" / "venv" / "bin" / "python"
    pinned = subprocess.run([str(python), "-c", "import alpha_pkg; print(alpha_pkg.__file__)"],
                            capture_output=True, text=True, check=True).stdout
    assert pinned.startswith(str(python.parent.parent))  # the venv's copy, not this environment's
    assert any("ipykernel is not in the rebuilt environment" in n for n in report.notes)

    # the same record rebuilt with uv (the default where uv is installed; the test extra has it)
    with_uv = tmp_path / "with-uv"
    with_uv.mkdir()
    monkeypatch.chdir(with_uv)
    monkeypatch.setenv("ECASREPRO_INSTALLER", "auto")
    capsys.readouterr()
    by_uv = ecasrepro.reproduce(records["same"].html_url, data_dirs=[inputs], progress=True)
    assert by_uv.verdict == "reproduced", by_uv.summary()
    bars = capsys.readouterr().err  # download, then environment, as progress bars on stderr
    assert "downloading:" in bars and "environment:" in bars and "step" in bars
    assert "pylock.toml with uv, 2 locked" in by_uv.environment.detail
    python = with_uv / f"b2share-{records['same'].id}" / "venv" / "bin" / "python"
    pinned = subprocess.run([str(python), "-c", "import beta; print(beta.__file__)"],
                            capture_output=True, text=True, check=True).stdout
    assert pinned.startswith(str(python.parent.parent))
    monkeypatch.chdir(fresh)

    changed = ecasrepro.reproduce(records["changed"].id, server=sandbox.url)
    assert changed.verdict == "differs"
    assert changed.environment.ok and changed.ran.ok and changed.outputs.ok is False
    assert changed.differing_cells == ["cell 1 (In [2]) `print(6 * 7)`"]
    assert "cell 1 (In [2])" in changed.summary()
    # the CLI over the same directory (download and venv reused): exit 6 from the one table
    from click.testing import CliRunner

    from ecasrepro.cli import main
    from ecasrepro.errors import ExitCode

    cli = CliRunner().invoke(main, ["reproduce", records["changed"].id, "--server", sandbox.url,
                                    "--json"])
    assert cli.exit_code == ExitCode.NOT_REPRODUCED == 6, cli.output
    answer = json.loads(cli.stdout.splitlines()[-1])
    assert answer["verdict"] == "differs" and answer["stages"]["outputs"]["ok"] is False
    assert answer["stages"]["environment"]["ok"] and answer["stages"]["ran"]["ok"]
    assert answer["differing_cells"] == ["cell 1 (In [2]) `print(6 * 7)`"]
