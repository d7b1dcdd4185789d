"""Where the B2SHARE server, token and community come from, in one documented order.

Precedence (first hit wins, per setting): explicit arguments/flags > environment
(``B2SHARE_URL``, ``B2SHARE_TOKEN`` / ``B2SHARE_TOKEN_FILE``, ``B2SHARE_COMMUNITY``) > the user's
config file (``$XDG_CONFIG_HOME/ecasrepro/config.toml``, default ``~/.config/...``) > the site-wide
file (``/etc/ecasrepro/config.toml``, or ``$ECASREPRO_SITE_CONFIG``) that a JupyterHub image can
ship. There is deliberately no default server: publishing somewhere by accident is worse than an
error that says how to configure one.

The token is wrapped in :class:`Secret` so that it cannot leak through ``repr``/``str``/logging;
only the HTTP client calls :meth:`Secret.reveal`, to build the ``Authorization`` header.

One job: resolve the publishing settings in one documented order, so that every front end
configures a server the same way.

May import: ecasrepro.errors, ecasrepro.userfiles; never an engine (ecasrepro.bundle,
ecasrepro.capture, ecasrepro.b2share), ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ecasrepro.errors import BadInput, ConfigurationError, os_reason

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

log = logging.getLogger("ecasrepro.config")
# Configuration warnings are returned in ``PublishConfig.warnings`` and shown once by the front
# end; the log record is for library users who configure logging, so Python's last-resort
# handler must not print it a second time.
log.addHandler(logging.NullHandler())

SITE_CONFIG_DEFAULT = Path("/etc/ecasrepro/config.toml")
API_DIALECTS = ("auto", "v2", "v3")

HOW_TO_CONFIGURE = (
    "pass --server URL (or server=...), set B2SHARE_URL, or add `server = \"https://...\"` under "
    "[b2share] in {user_config}"
)
HOW_TO_TOKEN = (
    "create a token in the B2SHARE web UI (profile -> API tokens), save it in a file only you can "
    "read (chmod 600) and pass --token-file FILE, or set B2SHARE_TOKEN_FILE or B2SHARE_TOKEN, or "
    "add `token_file = \"...\"` under [b2share] in {user_config}"
)


# Every token value this process has held in a Secret: the secret scanner's known values.
_SEEN_TOKENS: set[str] = set()


class Secret:
    """A string that never shows itself: repr/str/format print ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if isinstance(value, str) and value.strip():
            _SEEN_TOKENS.add(value.strip())

    def reveal(self) -> str:
        """The real value; call only where it is sent (the Authorization header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # never pickle a token into a cache or a subprocess by accident
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and retry budget of the HTTP client (tests shorten them via the environment)."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    upload_read_timeout: float = 600.0
    retries: int = 6
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> RetryPolicy:
        """``ECASREPRO_HTTP_RETRIES``/``_BACKOFF``/``_BACKOFF_MAX``/``_TIMEOUT`` override these."""
        base = cls()

        def number(name: str, default: float) -> float:
            raw = environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(
                    f"{name}={raw!r} is not a number; unset it or give a number such as {default}."
                ) from None
            if value < 0:
                raise ConfigurationError(f"{name} must not be negative; got {raw}.")
            return value

        timeout = number("ECASREPRO_HTTP_TIMEOUT", base.read_timeout)
        return cls(
            connect_timeout=min(base.connect_timeout, timeout) if timeout else base.connect_timeout,
            read_timeout=timeout,
            upload_read_timeout=max(timeout, number("ECASREPRO_HTTP_UPLOAD_TIMEOUT", 600.0)),
            retries=int(number("ECASREPRO_HTTP_RETRIES", base.retries)),
            backoff_factor=number("ECASREPRO_HTTP_BACKOFF", base.backoff_factor),
            backoff_max=number("ECASREPRO_HTTP_BACKOFF_MAX", base.backoff_max),
            retry_after_max=number("ECASREPRO_HTTP_RETRY_AFTER_MAX", base.retry_after_max),
        )


#: The settings read from the environment only, for ``ecasrepro config`` (name, variable,
#: default as shown, meaning). The engines read these variables; their defaults are below.
UPLOAD_WORKERS_DEFAULT = 4
LOCK_TIMEOUT_DEFAULT = 15.0
#: requests per second to the server from all of a run's workers together (archive --publish)
PUBLISH_RATE_DEFAULT = 10.0
PUBLISH_RATE_ENV = "ECASREPRO_PUBLISH_RATE"
ENVIRONMENT_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("http_timeout", "ECASREPRO_HTTP_TIMEOUT", f"{RetryPolicy.read_timeout:g} s"),
    ("upload_timeout", "ECASREPRO_HTTP_UPLOAD_TIMEOUT", f"{RetryPolicy.upload_read_timeout:g} s"),
    ("http_retries", "ECASREPRO_HTTP_RETRIES", str(RetryPolicy.retries)),
    ("backoff", "ECASREPRO_HTTP_BACKOFF", f"{RetryPolicy.backoff_factor:g} s"),
    ("backoff_max", "ECASREPRO_HTTP_BACKOFF_MAX", f"{RetryPolicy.backoff_max:g} s"),
    ("retry_after_max", "ECASREPRO_HTTP_RETRY_AFTER_MAX", f"{RetryPolicy.retry_after_max:g} s"),
    ("upload_workers", "ECASREPRO_UPLOAD_WORKERS", str(UPLOAD_WORKERS_DEFAULT)),
    ("publish_rate", PUBLISH_RATE_ENV,
     f"{PUBLISH_RATE_DEFAULT:g} requests/s, all workers together (archive --rate)"),
    ("lock_index", "ECASREPRO_LOCK_INDEX", "pip/uv configuration, else PyPI"),
    ("lock_timeout", "ECASREPRO_LOCK_TIMEOUT", f"{LOCK_TIMEOUT_DEFAULT:g} s"),
    ("installer", "ECASREPRO_INSTALLER", "auto (uv when on PATH, else pip)"),
)


def publish_rate(given: float | None = None,
                 environ: Mapping[str, str] | None = None) -> float:
    """Requests per second shared by a run's workers: ``given`` (``--rate``), else
    ``ECASREPRO_PUBLISH_RATE``, else the default; a rate that is not a positive number is the
    user's error, named."""
    env = os.environ if environ is None else environ
    source, value = "--rate", given
    if value is None and (env.get(PUBLISH_RATE_ENV) or "").strip():
        source = PUBLISH_RATE_ENV
        try:
            value = float(env[PUBLISH_RATE_ENV])
        except ValueError:
            raise BadInput(f"{PUBLISH_RATE_ENV}={env[PUBLISH_RATE_ENV]!r} is not a number; "
                           "give requests per second, e.g. 5.") from None
    if value is None:
        return PUBLISH_RATE_DEFAULT
    if not value > 0 or value == float("inf"):
        raise BadInput(f"{source} {value:g} is not a positive number of requests per second; "
                       "give e.g. 5.")
    return float(value)


@dataclass(frozen=True)
class PublishConfig:
    """Resolved settings for one B2SHARE server; ``sources`` says where each value came from."""

    server: str
    token: Secret | None = field(default=None, repr=False)
    community: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    cache_dir: Path | None = None
    api: str = "auto"  # B2SHARE API dialect: auto (detect from the server), v2 or v3

    @property
    def api_url(self) -> str:
        return self.server + "/api/"

    def require_token(self) -> Secret:
        if not self.token:
            raise ConfigurationError(
                f"no B2SHARE token is configured for {self.server}; "
                + HOW_TO_TOKEN.format(user_config=user_config_path())
            )
        return self.token


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ecasrepro/config.toml`` (default ``~/.config/ecasrepro/config.toml``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "ecasrepro" / "config.toml"


def site_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$ECASREPRO_SITE_CONFIG`` or ``/etc/ecasrepro/config.toml`` (for JupyterHub images)."""
    env = os.environ if environ is None else environ
    override = env.get("ECASREPRO_SITE_CONFIG")
    return Path(override) if override else SITE_CONFIG_DEFAULT


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$ECASREPRO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ecasrepro`` (``~/.cache/ecasrepro``)."""
    env = os.environ if environ is None else environ
    if env.get("ECASREPRO_CACHE_DIR"):
        return Path(env["ECASREPRO_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "ecasrepro"


def _read_config_file(path: Path) -> dict[str, Any]:
    """The ``[b2share]`` table of a TOML file ({} when the file does not exist)."""
    return _read_table(path, "b2share", ("server", "token_file", "token", "community", "api"))


def _read_table(path: Path, name: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """One table of a TOML config file ({} when absent); unknown keys are refused by name."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except PermissionError:
        log.debug("config file %s is not readable; skipped", path)
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML ({exc}); fix it.") from None
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"config file {path}: [{name}] must be a table; fix it.")
    unknown = set(table) - set(allowed)
    if unknown:
        listed = f"{', '.join(allowed[:-1])} and {allowed[-1]}" if len(allowed) > 1 else allowed[0]
        raise ConfigurationError(
            f"config file {path}: unknown key(s) {', '.join(sorted(unknown))} under [{name}]; "
            f"allowed {'are' if len(allowed) > 1 else 'is'} {listed}."
        )
    return table


def shown_path(path: Path, home: Path | None = None) -> str:
    """*path* with the home directory as ``~``: messages end up in bag-info.txt and published
    records, where a home directory would name a person."""
    try:
        return str(Path("~") / path.relative_to(home or Path.home()))
    except ValueError:
        return str(path)


def configured_license(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(licence, source)`` from ``license = "..."`` under ``[snapshot]`` in the user's, else
    the site's, config file: a hub can state the licence its users publish under."""
    env = dict(os.environ if environ is None else environ)
    for path in (user_config_path(env), site_config_path(env)):
        value = _read_table(path, "snapshot", ("license",)).get("license")
        if isinstance(value, str) and value.strip():
            return value.strip(), str(path)
    return None


def normalize_server_url(url: str, source: str) -> str:
    """``https://host[/prefix]`` without trailing slash or ``/api``; refuses credentials in it."""
    raw = url.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"the server URL from {source} is not an http(s) URL; give one like "
            "https://b2share.example.org."
        )
    if parts.username or parts.password or any(
        key == "access_token" for key, _ in parse_qsl(parts.query)
    ):
        raise ConfigurationError(
            f"the server URL from {source} contains credentials; remove them and pass the token "
            "with --token-file or B2SHARE_TOKEN_FILE instead."
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def _token_file_warning(path: Path) -> str | None:
    """ssh-style complaint when a token file is readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"WARNING: token file {path} is accessible by others (mode {stat.filemode(mode)}); "
            f"anyone on this machine may read it: run `chmod 600 {path}`."
        )
    return None


def _read_token_file(path: Path, source: str, warnings: list[str]) -> Secret:
    from ecasrepro.userfiles import TOKEN_FILE_MAX, read_limited

    path = path.expanduser()
    try:
        text = read_limited(path, "token file", TOKEN_FILE_MAX).decode("utf-8").strip()
    except FileNotFoundError:
        raise ConfigurationError(
            f"token file {path} (from {source}) does not exist; create it or point to another."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"token file {path} (from {source}) cannot be read ({os_reason(exc)}); fix its "
            "permissions or point to another file."
        ) from None
    if not text or len(text.split()) != 1:
        raise ConfigurationError(
            f"token file {path} (from {source}) must contain exactly one token on one line."
        )
    _check_token_text(Secret(text), f"token file {path} (from {source})")
    warning = _token_file_warning(path)
    if warning:
        warnings.append(warning)
    return Secret(text)


def known_tokens(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every B2SHARE token this machine is configured with, wherever it comes from.

    ``B2SHARE_TOKEN``, the ``B2SHARE_TOKEN_FILE``, ``token`` and ``token_file`` of the user and
    site config files, and every token this process was given (``--token-file``, ``token=``).
    The secret scanner searches for all of them, so a notebook that printed the configured
    token, or the configured token file given as an attachment, is caught even when the
    environment holds no token. Never raises: an unreadable or invalid file adds nothing here
    (resolving the configuration reports it).
    """
    from ecasrepro.userfiles import TOKEN_FILE_MAX, read_limited

    env = os.environ if environ is None else environ
    found: list[str] = [env.get("B2SHARE_TOKEN", "")]
    files: list[str] = [env.get("B2SHARE_TOKEN_FILE", "")]
    for path in (user_config_path(env), site_config_path(env)):
        try:
            table = _read_config_file(path)
        except (ConfigurationError, OSError, UnicodeDecodeError):
            continue
        found.append(str(table.get("token") or ""))
        files.append(str(table.get("token_file") or ""))
    for name in files:
        if not name:
            continue
        try:  # a FIFO or device named here must not hang the snapshot
            raw = read_limited(Path(name).expanduser(), "token file", TOKEN_FILE_MAX)
            found.append(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, BadInput):
            continue
    tokens = {value.strip() for value in found if value and value.strip()}
    return sorted(tokens | _SEEN_TOKENS)


def _check_token_text(secret: Secret, source: str) -> None:
    """A token travels in an HTTP header: printable ASCII without spaces, or it cannot be sent."""
    if not all("!" <= char <= "~" for char in secret.reveal()):
        raise ConfigurationError(
            f"the B2SHARE token in {source} holds characters that are not printable ASCII "
            "(B2SHARE tokens never do); copy the token again from the B2SHARE web UI."
        )


def _first_of(
    flag: str | None, flag_name: str, env: Mapping[str, str], env_key: str,
    layers: list[tuple[str, dict[str, Any]]], file_key: str,
) -> tuple[str, str] | None:
    """The precedence rule, in one place: a flag, else the environment, else config files.
    ``(value, where it came from)``, or None when no layer sets it."""
    if flag:
        return flag, flag_name
    if env.get(env_key):
        return env[env_key], env_key
    for name, table in layers:
        if table.get(file_key) not in (None, ""):
            return str(table[file_key]), name
    return None


@dataclass(frozen=True)
class Setting:
    """One setting as ``ecasrepro config`` shows it: never a token's value."""

    name: str
    value: str | None  # None: not set anywhere; a token shows as "***"
    origin: str  # flag | env | user file | site file | default | unset
    source: str  # the flag, the variable or the file's path ("" for default/unset)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "origin": self.origin,
                "source": self.source}


def describe_settings(
    server: str | None = None,
    token_file: str | None = None,
    community: str | None = None,
    api: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[Setting]:
    """Every setting with the layer it comes from (the precedence of :func:`resolve_config`),
    for ``ecasrepro config``. Never raises for a missing server and never reads a token file:
    it says where the token would come from and masks any value."""
    env = dict(os.environ if environ is None else environ)
    user_path, site_path = user_config_path(env), site_config_path(env)
    layers: list[tuple[str, dict[str, Any]]] = [
        (str(user_path), _read_config_file(user_path)),
        (str(site_path), _read_config_file(site_path)),
    ]

    def origin(source: str) -> str:
        if source.startswith("--"):
            return "flag"
        if source == str(user_path):
            return "user file"
        if source == str(site_path):
            return "site file"
        return "env"

    def row(name: str, found: tuple[str, str] | None, default: str | None = None) -> Setting:
        if found is None:
            return Setting(name, default, "default" if default else "unset", "")
        return Setting(name, found[0], origin(found[1]), found[1])

    rows = [
        row("server", _first_of(server, "--server", env, "B2SHARE_URL", layers, "server")),
        row("community",
            _first_of(community, "--community", env, "B2SHARE_COMMUNITY", layers, "community")),
        row("api", _first_of(api, "--api", env, "B2SHARE_API", layers, "api"), "auto"),
    ]
    # the token: the same order as resolve_config; the value is masked, a file is named
    token: Setting = Setting("token", None, "unset", "")
    if token_file:
        token = Setting("token", f"*** (from file {token_file})", "flag", "--token-file")
    elif env.get("B2SHARE_TOKEN"):
        token = Setting("token", "***", "env", "B2SHARE_TOKEN")
    elif env.get("B2SHARE_TOKEN_FILE"):
        token = Setting("token", f"*** (from file {env['B2SHARE_TOKEN_FILE']})", "env",
                        "B2SHARE_TOKEN_FILE")
    else:
        for name, table in layers:
            if table.get("token_file"):
                token = Setting("token", f"*** (from file {table['token_file']})", origin(name),
                                name)
                break
            if table.get("token"):
                token = Setting("token", "***", origin(name), name)
                break
    rows.insert(1, token)
    licence = configured_license(env)
    rows.append(Setting("license", licence[0], origin(licence[1]), licence[1]) if licence
                else Setting("license", None, "unset", ""))
    rows.append(Setting("cache_dir", str(cache_dir(env)),
                        "env" if env.get("ECASREPRO_CACHE_DIR") else "default",
                        "ECASREPRO_CACHE_DIR" if env.get("ECASREPRO_CACHE_DIR") else ""))
    rows.append(Setting("user_config", str(user_path),
                        "env" if env.get("XDG_CONFIG_HOME") else "default",
                        "XDG_CONFIG_HOME" if env.get("XDG_CONFIG_HOME") else ""))
    rows.append(Setting("site_config", str(site_path),
                        "env" if env.get("ECASREPRO_SITE_CONFIG") else "default",
                        "ECASREPRO_SITE_CONFIG" if env.get("ECASREPRO_SITE_CONFIG") else ""))
    for name, variable, default in ENVIRONMENT_SETTINGS:
        given = (env.get(variable) or "").strip()
        shown = "*** (a URL with credentials)" if "@" in given else given  # never show them
        rows.append(Setting(name, shown, "env", variable) if given
                    else Setting(name, default, "default", ""))
    return rows


def resolve_config(
    server: str | None = None,
    token: str | Secret | None = None,
    token_file: str | os.PathLike[str] | None = None,
    community: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    api: str | None = None,
) -> PublishConfig:
    """Resolve server, token and community by the documented precedence; warnings are collected.

    Raises ConfigurationError when no server is configured (the sentence says how to set one).
    The token may be absent (public reads); :meth:`PublishConfig.require_token` checks it.
    """
    env = dict(os.environ if environ is None else environ)
    user_path = user_config_path(env)
    site_path = site_config_path(env)
    layers: list[tuple[str, dict[str, Any]]] = [
        (str(user_path), _read_config_file(user_path)),
        (str(site_path), _read_config_file(site_path)),
    ]
    sources: dict[str, str] = {}
    warnings: list[str] = []

    def first_of(flag: str | None, flag_name: str, env_key: str, file_key: str) -> str | None:
        found = _first_of(flag, flag_name, env, env_key, layers, file_key)
        if found is None:
            return None
        sources[file_key] = found[1]
        return found[0]

    # server
    server_value = first_of(server, "--server", "B2SHARE_URL", "server")
    if not server_value:
        raise ConfigurationError(
            "no B2SHARE server is configured; " + HOW_TO_CONFIGURE.format(user_config=user_path)
        )
    server_url = normalize_server_url(server_value, sources["server"])

    # token: a flag (value or file) > env (value or file) > config files (file, then value)
    secret: Secret | None = None
    if token:
        secret, sources["token"] = (token if isinstance(token, Secret) else Secret(token)), "token="
    elif token_file:
        secret = _read_token_file(Path(token_file), "--token-file", warnings)
        sources["token"] = "--token-file"
    elif env.get("B2SHARE_TOKEN"):
        secret, sources["token"] = Secret(env["B2SHARE_TOKEN"].strip()), "B2SHARE_TOKEN"
    elif env.get("B2SHARE_TOKEN_FILE"):
        secret = _read_token_file(Path(env["B2SHARE_TOKEN_FILE"]), "B2SHARE_TOKEN_FILE", warnings)
        sources["token"] = "B2SHARE_TOKEN_FILE"
    else:
        for name, table in layers:
            if table.get("token_file"):
                secret = _read_token_file(Path(str(table["token_file"])), name, warnings)
                sources["token"] = name
                break
            if table.get("token"):
                secret, sources["token"] = Secret(str(table["token"]).strip()), name
                warning = _token_file_warning(Path(name))
                if warning:
                    warnings.append(warning)
                break

    if secret:
        _check_token_text(secret, sources["token"])

    # community
    community_value = first_of(community, "--community", "B2SHARE_COMMUNITY", "community")

    # API dialect: --api > B2SHARE_API > config files > auto (detected from the server)
    api_value = (first_of(api, "--api", "B2SHARE_API", "api") or "auto").strip().lower()
    sources.setdefault("api", "default")
    if api_value not in API_DIALECTS:
        raise ConfigurationError(
            f"the B2SHARE API dialect {api_value!r} from {sources['api']} is unknown; use auto, "
            "v2 or v3."
        )

    parts = urlsplit(server_url)
    if (
        secret
        and parts.scheme == "http"
        and parts.hostname not in ("localhost", "127.0.0.1", "::1")
    ):
        warnings.append(
            f"WARNING: {server_url} is plain http: the token would cross the network unencrypted; "
            "use https."
        )
    for warning in warnings:
        log.warning("%s", warning)
    return PublishConfig(
        server=server_url,
        token=secret,
        community=community_value.strip() if community_value else None,
        retry=RetryPolicy.from_environment(env),
        sources=sources,
        warnings=tuple(warnings),
        cache_dir=cache_dir(env),
        api=api_value,
    )
