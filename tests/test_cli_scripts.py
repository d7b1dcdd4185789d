"""The CLI as scripts use it: ``--json`` failures on stdout, ``-v``/``-q`` log levels, shell
completion, and ``ecasrepro config`` naming where each setting comes from (token masked)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecasrepro.cli import main

TOKEN = "Sx8d0RcVwq1IhH3GzrYbTnEo5uLkPaJ7fQm2DsWc"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("B2SHARE_URL", "B2SHARE_TOKEN", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY",
                 "B2SHARE_API", "ECASREPRO_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "site.toml"))
    logger = logging.getLogger("ecasrepro")
    level, handlers = logger.level, list(logger.handlers)
    yield tmp_path
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_json_failures_are_one_object_on_stdout(env: Path) -> None:
    runner = CliRunner()
    missing = env / "missing.repro"
    done = runner.invoke(main, ["publish", str(missing), "--json"])
    assert done.exit_code == 2, done.output
    failure = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert failure == {"error": "bad_input", "exit_code": 2, "message": failure["message"]}
    assert str(missing.name) in failure["message"] and "\n" not in failure["message"]
    assert failure["message"] in done.stderr  # people still read the sentence on stderr

    no_server = runner.invoke(main, ["communities", "--json"])
    assert no_server.exit_code == 2, no_server.output
    assert json.loads(no_server.stdout)["exit_code"] == no_server.exit_code
    assert "no B2SHARE server is configured" in json.loads(no_server.stdout)["message"]

    without_json = runner.invoke(main, ["publish", str(missing)])
    assert without_json.exit_code == 2 and without_json.stdout == ""


@pytest.mark.parametrize(("flags", "level"), [
    (["-v"], logging.INFO), (["-vv"], logging.DEBUG), (["-q"], logging.ERROR),
])
def test_verbose_and_quiet_set_the_ecasrepro_logger(
    env: Path, flags: list[str], level: int
) -> None:
    done = CliRunner().invoke(main, [*flags, "config", "--json"])
    assert done.exit_code == 0, done.output
    assert logging.getLogger("ecasrepro").getEffectiveLevel() == level
    json.loads(done.stdout)  # log lines never reach stdout


def test_config_names_where_each_setting_comes_from_and_masks_the_token(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = env / "xdg" / "ecasrepro" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(f'[b2share]\ncommunity = "eudat"\ntoken = "{TOKEN}"\n'
                    '[snapshot]\nlicense = "CC-BY-4.0"\n')
    (env / "site.toml").write_text('[b2share]\nserver = "https://site.example"\napi = "v3"\n')
    monkeypatch.setenv("B2SHARE_COMMUNITY", "ecas")

    def rows(*flags: str) -> dict[str, dict[str, str]]:
        done = CliRunner().invoke(main, ["config", "--json", *flags])
        assert done.exit_code == 0, done.output
        assert TOKEN not in done.output
        return {row["name"]: row for row in json.loads(done.stdout)["settings"]}

    shown = rows()
    assert shown["server"] == {"name": "server", "value": "https://site.example",
                               "origin": "site file", "source": str(env / "site.toml")}
    assert (shown["api"]["value"], shown["api"]["origin"]) == ("v3", "site file")
    assert (shown["community"]["value"], shown["community"]["origin"]) == ("ecas", "env")
    assert shown["token"] == {"name": "token", "value": "***", "origin": "user file",
                              "source": str(user)}
    assert (shown["license"]["value"], shown["license"]["origin"]) == ("CC-BY-4.0", "user file")

    flagged = rows("--server", "https://flag.example", "--token-file", str(env / "tok"))
    assert (flagged["server"]["origin"], flagged["server"]["source"]) == ("flag", "--server")
    assert flagged["token"]["origin"] == "flag" and flagged["token"]["value"].startswith("***")

    human = CliRunner().invoke(main, ["config"])
    assert human.exit_code == 0 and TOKEN not in human.output
    assert "(site file: " in human.stderr and "***" in human.stderr


def test_bash_completion_script_is_generated(env: Path) -> None:
    script = Path(sys.executable).with_name("ecasrepro")
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "_ECASREPRO_COMPLETE": "bash_source"}, check=True)
    assert "_ecasrepro_completion" in done.stdout and "complete " in done.stdout
    words = subprocess.run(
        [str(script)], capture_output=True, text=True, timeout=30, check=True,
        env={**os.environ, "_ECASREPRO_COMPLETE": "bash_complete", "COMP_WORDS": "ecasrepro con",
             "COMP_CWORD": "1"})
    assert "config" in words.stdout


def test_usage_errors_under_json_are_one_object_on_stdout_too(env: Path) -> None:
    """click raises these while parsing, before any command runs: scripts still get JSON."""
    done = CliRunner().invoke(main, ["verify", "--json", "--rtol", "not-a-number", "x.repro"])
    assert done.exit_code == 2, done.output
    failure = json.loads(done.stdout)
    assert failure["error"] == "usage" and failure["exit_code"] == 2
    assert "not-a-number" in failure["message"] and "Usage:" in done.stderr

    unknown = CliRunner().invoke(main, ["status", "--json", "--no-such-option"])
    assert unknown.exit_code == 2 and json.loads(unknown.stdout)["error"] == "usage"

    plain = CliRunner().invoke(main, ["verify", "--rtol", "not-a-number", "x.repro"])
    assert plain.exit_code == 2 and plain.stdout == ""


def test_config_shows_the_environment_only_settings_too(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeouts, retries, upload workers, the lock index: every setting, with its origin."""
    monkeypatch.setenv("ECASREPRO_HTTP_RETRIES", "2")
    monkeypatch.setenv("ECASREPRO_LOCK_INDEX", "https://bob:hunter2secret@pypi.example/simple")
    done = CliRunner().invoke(main, ["config", "--json"])
    assert done.exit_code == 0, done.output
    rows = {r["name"]: r for r in json.loads(done.stdout)["settings"]}
    assert rows["http_retries"] == {"name": "http_retries", "value": "2", "origin": "env",
                                    "source": "ECASREPRO_HTTP_RETRIES"}
    assert rows["http_timeout"]["origin"] == "default" and rows["http_timeout"]["value"] == "60 s"
    assert rows["upload_workers"]["value"] == "4" and rows["installer"]["origin"] == "default"
    assert "hunter2secret" not in done.output and rows["lock_index"]["origin"] == "env"
