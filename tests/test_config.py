"""Configuration precedence, token hygiene and the 'nothing configured' sentence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ecasrepro.config import PublishConfig, RetryPolicy, Secret, resolve_config
from ecasrepro.errors import ConfigurationError, ExitCode

TOKEN = "tok-" + "Zq9" * 12


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with empty config dirs, so the real ~/.config and /etc never leak in."""
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "ECASREPRO_SITE_CONFIG": str(tmp_path / "site" / "config.toml"),
    }


def test_nothing_configured_says_how(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ=env)
    message = str(info.value)
    assert "B2SHARE_URL" in message and "--server" in message
    assert str(Path(env["XDG_CONFIG_HOME"]) / "ecasrepro" / "config.toml") in message
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_precedence_flag_env_user_site(env: dict[str, str], tmp_path: Path) -> None:
    site_token = write(tmp_path / "site-token", "site-token-value")
    write(Path(env["ECASREPRO_SITE_CONFIG"]),
          f'[b2share]\nserver = "https://site.example.org"\ncommunity = "site-c"\n'
          f'token_file = "{site_token}"\n')
    config = resolve_config(environ=env)
    assert config.server == "https://site.example.org"
    assert config.community == "site-c"
    assert config.token == Secret("site-token-value")
    assert config.sources["server"] == env["ECASREPRO_SITE_CONFIG"]

    user_file = Path(env["XDG_CONFIG_HOME"]) / "ecasrepro" / "config.toml"
    write(user_file, '[b2share]\nserver = "https://user.example.org/"\n')
    config = resolve_config(environ=env)
    assert config.server == "https://user.example.org"
    assert config.community == "site-c"  # per-setting precedence: the site file still fills gaps

    env2 = dict(env, B2SHARE_URL="https://env.example.org/api/", B2SHARE_COMMUNITY="env-c",
                B2SHARE_TOKEN="env-token")
    config = resolve_config(environ=env2)
    assert (config.server, config.community) == ("https://env.example.org", "env-c")
    assert config.token == Secret("env-token") and config.sources["token"] == "B2SHARE_TOKEN"

    flag_token = write(tmp_path / "flag-token", "flag-token-value\n")
    config = resolve_config(server="https://flag.example.org", token_file=flag_token,
                            community="flag-c", environ=env2)
    assert (config.server, config.community) == ("https://flag.example.org", "flag-c")
    assert config.token == Secret("flag-token-value")
    assert {k: config.sources[k] for k in ("server", "token", "community")} == {
        "server": "--server", "token": "--token-file", "community": "--community"}


def test_token_file_env_and_missing_file(env: dict[str, str], tmp_path: Path) -> None:
    token_file = write(tmp_path / "t", TOKEN)
    config = resolve_config(server="http://127.0.0.1:1",
                            environ=dict(env, B2SHARE_TOKEN_FILE=str(token_file)))
    assert config.require_token().reveal() == TOKEN
    with pytest.raises(ConfigurationError, match="does not exist"):
        resolve_config(server="http://127.0.0.1:1",
                       environ=dict(env, B2SHARE_TOKEN_FILE=str(tmp_path / "nope")))


def test_missing_token_sentence(env: dict[str, str]) -> None:
    config = resolve_config(server="https://b2share.example.org", environ=env)
    with pytest.raises(ConfigurationError, match="B2SHARE_TOKEN_FILE"):
        config.require_token()


def test_world_readable_token_file_warns_like_ssh(
    env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = write(tmp_path / "token.txt", TOKEN, mode=0o644)
    with caplog.at_level(logging.WARNING, logger="ecasrepro.config"):
        config = resolve_config(server="http://localhost:5000", token_file=token_file,
                                environ=env)
    assert any("chmod 600" in w and str(token_file) in w for w in config.warnings)
    assert "chmod 600" in caplog.text
    token_file.chmod(0o600)
    assert not resolve_config(server="http://localhost:5000", token_file=token_file,
                              environ=env).warnings


def test_plain_http_to_remote_host_warns(env: dict[str, str]) -> None:
    config = resolve_config(server="http://b2share.example.org", token="x", environ=env)
    assert any("plain http" in w for w in config.warnings)


@pytest.mark.parametrize(
    "url", ["ftp://host", "not a url", "https://user:pw@host", "https://host/?access_token=abc"]
)
def test_bad_server_urls_are_refused(env: dict[str, str], url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(server=url, environ=env)
    assert "pw" not in str(info.value) and "abc" not in str(info.value)


def test_token_never_shows(env: dict[str, str], tmp_path: Path) -> None:
    token_file = write(tmp_path / "t", TOKEN)
    config = resolve_config(server="https://h.example.org", token_file=token_file, environ=env)
    shown = " ".join([repr(config), str(config), repr(config.token), str(config.token),
                      f"{config.token}", repr(config.sources), repr(config.warnings)])
    assert TOKEN not in shown
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(config.token)


def test_bad_toml_and_unknown_keys(env: dict[str, str]) -> None:
    user_file = Path(env["XDG_CONFIG_HOME"]) / "ecasrepro" / "config.toml"
    write(user_file, "[b2share\nserver=")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        resolve_config(environ=env)
    write(user_file, '[b2share]\nserver = "https://h"\nurl = "x"\n')
    with pytest.raises(ConfigurationError, match="unknown key"):
        resolve_config(environ=env)


def test_retry_policy_from_environment() -> None:
    policy = RetryPolicy.from_environment(
        {"ECASREPRO_HTTP_RETRIES": "2", "ECASREPRO_HTTP_BACKOFF": "0.01",
         "ECASREPRO_HTTP_TIMEOUT": "5"})
    assert (policy.retries, policy.backoff_factor, policy.read_timeout) == (2, 0.01, 5.0)
    with pytest.raises(ConfigurationError, match="ECASREPRO_HTTP_RETRIES"):
        RetryPolicy.from_environment({"ECASREPRO_HTTP_RETRIES": "many"})


def test_config_is_a_dataclass_with_api_url() -> None:
    config = PublishConfig(server="https://h.example.org")
    assert config.api_url == "https://h.example.org/api/"


def test_publish_rate_flag_env_default_and_refusals(env: dict[str, str]) -> None:
    from ecasrepro.config import PUBLISH_RATE_DEFAULT, describe_settings, publish_rate
    from ecasrepro.errors import BadInput

    assert publish_rate(None, env) == PUBLISH_RATE_DEFAULT == 10.0
    assert publish_rate(None, {**env, "ECASREPRO_PUBLISH_RATE": "2.5"}) == 2.5
    assert publish_rate(4, {**env, "ECASREPRO_PUBLISH_RATE": "2.5"}) == 4.0  # the flag wins
    for bad, where in ((0.0, "--rate 0"), (-3.0, "--rate -3")):
        with pytest.raises(BadInput, match=where):
            publish_rate(bad, env)
    with pytest.raises(BadInput, match="ECASREPRO_PUBLISH_RATE='fast' is not a number"):
        publish_rate(None, {**env, "ECASREPRO_PUBLISH_RATE": "fast"})
    rows = {r.name: r for r in describe_settings(environ={**env, "ECASREPRO_PUBLISH_RATE": "3"})}
    assert (rows["publish_rate"].value, rows["publish_rate"].origin) == ("3", "env")
    default = {r.name: r for r in describe_settings(environ=env)}["publish_rate"]
    assert default.origin == "default" and default.value.startswith("10 requests/s")
