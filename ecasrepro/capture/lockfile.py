"""``environment/pylock.toml``: a PEP 751 lock of the captured interpreter's exact artifacts.

An installed environment does not keep the hash of the wheel each distribution came from, and a
lock entry without a hash is invalid (``packaging.pylock`` rejects it). So each entry comes from
one of two honest sources, and says which in ``[packages.tool.ecasrepro] source``:

- ``direct_url.json`` (PEP 610), observed: VCS commits, archives with their recorded hashes, and
  local directories and files (``portable = false``, by name only: they exist only on the
  capturing machine, and their full path would publish a home directory);
- ``index-resolved``: the wheel on the index the environment installs from (pip/uv configuration)
  whose file name has the distribution's name, version, build and the tags its dist-info
  ``WHEEL`` file lists, with the URL and hashes that index publishes (PEP 691 JSON or PEP 503
  HTML). A distribution built locally from an sdist gets the index's sdist.

What cannot be resolved is left out and named in ``[tool.ecasrepro] unresolved`` (its pin stays
in requirements.txt); one warning says so. Look-ups run on daemon threads within a total time
budget and are cached per environment under the user cache directory, so a second snapshot makes
no request. ``packaging.pylock`` checks every entry before anything is written.

One job: turn the captured environment into a lock another machine can install from, so that
a published analysis can be rebuilt with the same artifacts, not only the same version numbers.

May import: .environment, ecasrepro.config, ecasrepro.urls, ecasrepro.version; never
ecasrepro.bundle, ecasrepro.b2share, ecasrepro.api or a front end.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import hashlib
import json
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from ecasrepro.capture.environment import (
    InstalledDistribution,
    canonical_name,
    installed_distributions,
    installer,
)
from ecasrepro.config import LOCK_TIMEOUT_DEFAULT
from ecasrepro.urls import strip_credentials

log = logging.getLogger(__name__)

INDEX_SETTING = "ECASREPRO_LOCK_INDEX"  # an index URL, or "off" (no pylock.toml)
TIMEOUT_SETTING = "ECASREPRO_LOCK_TIMEOUT"  # total seconds for all index look-ups
DEFAULT_INDEX = "https://pypi.org/simple/"
DEFAULT_TIMEOUT = LOCK_TIMEOUT_DEFAULT
WORKERS = 16
CACHE_FORMAT = 1
ABSENT_TTL = 24 * 3600  # "not on the index" is re-asked after a day; found artifacts never change
OFFLINE_TTL = 3600  # an index that could not be reached is not asked again for an hour
_OFF = frozenset({"off", "none", "no", "false", "0", "disabled"})
_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
_MAX_LISTED = 10  # names spelled out in the warning; pylock.toml names them all


@dataclass(frozen=True)
class LockSettings:
    """Which index to resolve against (``None``: locking is off) and the total time budget."""

    index: str | None
    timeout: float
    origin: str  # where the index URL came from, for messages


@dataclass
class LockResult:
    """The rendered pylock.toml (``None`` when none is written) and what to tell the user."""

    toml: str | None
    warnings: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    requests: int = 0  # index pages fetched (0 when everything came from the cache)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Wanted:
    """One distribution installed by name, and the artifact that must be found for it."""

    key: str
    version: str
    tags: tuple[str, ...]  # from WHEEL "Tag:" lines, sorted
    build: str

    @property
    def pin(self) -> str:
        return f"{self.key}=={self.version}"

    @property
    def cache_id(self) -> str:
        return f"{self.key}|{self.version}|{self.build}|{','.join(self.tags)}"


class _Transient(Exception):
    """The index did not answer usefully this time (network, 5xx): not cached, retried later."""


# --- settings -----------------------------------------------------------------------------------


def _shown(path: Path, home: Path) -> str:
    from ecasrepro.config import shown_path

    return shown_path(path, home)


def _pip_config_index(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``index-url`` from pip's configuration files, in pip's order (later files win)."""
    home = Path(environ.get("HOME") or Path.home())
    xdg_dirs = (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs) if d]
    files += [Path("/etc/pip.conf"), home / ".pip" / "pip.conf"]
    files.append(Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    override = environ.get("PIP_CONFIG_FILE")
    if override == os.devnull:
        return None
    if override:
        files.append(Path(override))
    found: tuple[str, str] | None = None
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            for key in ("index-url", "index_url"):
                if parser.has_option(section, key) and parser.get(section, key).strip():
                    found = (parser.get(section, key).split()[0],
                             f"pip configuration {_shown(path, home)}")
    return found


def _uv_config_index(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The default index of uv's user or system ``uv.toml``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    home = Path(environ.get("HOME") or Path.home())
    user = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "uv" / "uv.toml"
    for path in (user, Path("/etc/uv/uv.toml")):
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for index in document.get("index") or []:
            if isinstance(index, dict) and index.get("default") and index.get("url"):
                return str(index["url"]), f"uv configuration {_shown(path, home)}"
        for table in (document, document.get("pip") or {}):
            if isinstance(table, dict) and table.get("index-url"):
                return str(table["index-url"]), f"uv configuration {_shown(path, home)}"
    return None


def lock_settings(environ: Mapping[str, str] | None = None) -> LockSettings:
    """The index the environment installs from: ``ECASREPRO_LOCK_INDEX`` (or ``off``), else
    ``PIP_INDEX_URL``, ``UV_DEFAULT_INDEX``/``UV_INDEX_URL``, pip's then uv's configuration
    files, else PyPI; the budget from ``ECASREPRO_LOCK_TIMEOUT`` (seconds, default 15)."""
    env = os.environ if environ is None else environ
    try:
        timeout = float(env.get(TIMEOUT_SETTING) or DEFAULT_TIMEOUT)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", TIMEOUT_SETTING,
                    env.get(TIMEOUT_SETTING), DEFAULT_TIMEOUT)
        timeout = DEFAULT_TIMEOUT
    timeout = max(timeout, 0.1)
    chosen = (env.get(INDEX_SETTING) or "").strip()
    if chosen:
        if chosen.lower() in _OFF:
            return LockSettings(None, timeout, INDEX_SETTING)
        return LockSettings(_with_slash(chosen), timeout, INDEX_SETTING)
    for name in ("PIP_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        if (env.get(name) or "").strip():
            return LockSettings(_with_slash(env[name].split()[0]), timeout, name)
    found = _pip_config_index(env) or _uv_config_index(env)
    if found:
        return LockSettings(_with_slash(found[0]), timeout, found[1])
    return LockSettings(DEFAULT_INDEX, timeout, "the default (PyPI)")


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


# --- what is installed ------------------------------------------------------------------------


def _wheel_facts(info_dir: Path) -> tuple[tuple[str, ...], str]:
    """The tags and build number an installer recorded in the dist-info ``WHEEL`` file."""
    tags: set[str] = set()
    build = ""
    try:
        with open(info_dir / "WHEEL", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "Tag":
                    tags.add(value.strip())
                elif sep and key.strip() == "Build":
                    build = value.strip()
    except OSError:
        pass
    return tuple(sorted(tags)), build


def _read_direct_url(info_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((info_dir / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


def _file_path(url: str) -> str:
    return unquote(urlsplit(url).path)


def _recorded_hashes(archive_info: Mapping[str, Any]) -> dict[str, str]:
    hashes = archive_info.get("hashes")
    found = {str(k): str(v) for k, v in hashes.items()} if isinstance(hashes, dict) else {}
    legacy = archive_info.get("hash")
    if not found and isinstance(legacy, str) and "=" in legacy:
        algorithm, _, value = legacy.partition("=")
        found[algorithm] = value
    return found


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _direct_entry(dist: InstalledDistribution, direct: dict[str, Any]) -> dict[str, Any] | str:
    """The lock entry observed in a distribution's direct_url.json, or why there is none."""
    key = canonical_name(dist.name)
    url = strip_credentials(direct["url"])
    sub = {"subdirectory": direct["subdirectory"]} if direct.get("subdirectory") else {}
    tool: dict[str, Any] = {"source": "direct_url.json"}  # under [packages.tool.ecasrepro]
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict):
        if not (vcs.get("vcs") and vcs.get("commit_id")):
            return "its direct_url.json names no VCS commit"
        table: dict[str, Any] = {"type": str(vcs["vcs"]), "url": url,
                                 "commit-id": str(vcs["commit_id"])}
        if vcs.get("requested_revision"):
            table["requested-revision"] = str(vcs["requested_revision"])
        return {"name": key, "version": dist.version, "vcs": {**table, **sub},
                "tool": {"ecasrepro": tool}}
    dir_info = direct.get("dir_info")
    if isinstance(dir_info, dict):
        # only the directory's name: the full path would put a home directory in a published
        # file (as requirements.txt, which names it in a comment); it is marked not portable
        name = Path(_file_path(url)).name or "."
        directory = {"path": name, "editable": bool(dir_info.get("editable")), **sub}
        return {"name": key, "directory": directory,
                "tool": {"ecasrepro": {**tool, "portable": False}}}
    archive_info = direct.get("archive_info")
    if isinstance(archive_info, dict):
        hashes = _recorded_hashes(archive_info)
        local = url.startswith("file:")
        if not hashes and local and os.path.isfile(_file_path(url)):
            hashes = {"sha256": _sha256_file(_file_path(url))}
            tool["hashed-at-capture"] = True
        if not hashes:
            return "its direct_url.json records no archive hash"
        where = {"path": Path(_file_path(url)).name} if local else {"url": url}
        if local:
            tool["portable"] = False
        archive = {**where, "hashes": hashes, **sub}
        return {"name": key, "version": dist.version, "archive": archive,
                "tool": {"ecasrepro": tool}}
    return "its direct_url.json is of an unknown kind"


# --- the index ----------------------------------------------------------------------------------


class _Anchors(HTMLParser):
    """The ``<a href>`` links of a PEP 503 project page, with their text (the file name)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append((self._open, "".join(self._text).strip()))
            self._open = None


def _files_from_page(body: bytes, content_type: str, page_url: str) -> list[dict[str, Any]]:
    """``{filename, url, hashes, size?, upload-time?}`` of every file on a project page; URLs
    absolute and without credentials (nothing kept, cached or written holds them)."""
    page_url = strip_credentials(page_url)
    files: list[dict[str, Any]] = []
    if "json" in content_type:
        document = json.loads(body)
        for item in document.get("files") or []:
            if not isinstance(item, dict) or not item.get("filename") or not item.get("url"):
                continue
            entry = {"filename": str(item["filename"]),
                     "url": strip_credentials(
                         urljoin(page_url, str(item["url"])).split("#", 1)[0]),
                     "hashes": {str(k): str(v) for k, v in (item.get("hashes") or {}).items()}}
            if isinstance(item.get("size"), int):
                entry["size"] = item["size"]
            if isinstance(item.get("upload-time"), str):
                entry["upload-time"] = item["upload-time"]
            files.append(entry)
        return files
    parser = _Anchors()
    parser.feed(body.decode("utf-8", errors="replace"))
    for attrs, text in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, _, fragment = strip_credentials(urljoin(page_url, href)).partition("#")
        algorithm, _, value = fragment.partition("=")
        hashes = {algorithm: value} if algorithm and value else {}
        name = text or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        files.append({"filename": name, "url": url, "hashes": hashes})
    return files


def _match(wanted: _Wanted, files: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The wheel with the installed name, version, build and tags; else the sdist of that
    version when the installed wheel was built locally (its tags match no wheel on the index)."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import Version

    version = Version(wanted.version)
    sdist = None
    for item in files:
        if not item["hashes"]:
            continue
        filename = item["filename"]
        try:
            if filename.endswith(".whl"):
                name, found, build, tags = parse_wheel_filename(filename)
                build_text = "".join(str(part) for part in build)
                if (name == wanted.key and found == version and build_text == wanted.build
                        and tuple(sorted(str(t) for t in tags)) == wanted.tags):
                    return {"kind": "wheel", **item}
            elif filename.endswith((".tar.gz", ".zip")):
                name, found = parse_sdist_filename(filename)
                if name == wanted.key and found == version and sdist is None:
                    sdist = {"kind": "sdist", **item}
        except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
            continue
    return sdist


class _Index:
    """Fetches project pages from one index with a pooled session; counts requests."""

    def __init__(self, base: str, deadline: float) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.base = base
        self.deadline = deadline
        self.session = requests.Session()
        self.session.headers["Accept"] = _ACCEPT
        self.session.headers["User-Agent"] = "ecasrepro (pylock.toml index resolution)"
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=WORKERS)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.requests = 0
        self._lock = threading.Lock()

    def files(self, key: str) -> list[dict[str, Any]] | None:
        """The files of project *key*; ``None`` when the index does not have it."""
        import requests

        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Transient("no time left")
        with self._lock:
            self.requests += 1
        try:
            response = self.session.get(f"{self.base}{key}/", timeout=min(remaining, 10.0))
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        if response.status_code in (404, 410):
            return None
        if response.status_code >= 400:
            raise _Transient(f"HTTP {response.status_code}")
        try:
            return _files_from_page(
                response.content, response.headers.get("Content-Type", ""), response.url
            )
        except ValueError:
            raise _Transient("an unreadable project page") from None


def _entry_from_artifact(wanted: _Wanted, artifact: dict[str, Any], index: str) -> dict[str, Any]:
    """A ``[[packages]]`` table for an index-resolved artifact (URLs without credentials)."""
    table: dict[str, Any] = {"name": artifact["filename"],
                             "url": artifact["url"]}  # credential-free since parsing
    if "upload-time" in artifact:
        with contextlib.suppress(ValueError):
            table["upload-time"] = datetime.fromisoformat(
                artifact["upload-time"].replace("Z", "+00:00")
            )
    if "size" in artifact:
        table["size"] = artifact["size"]
    table["hashes"] = dict(artifact["hashes"])
    entry: dict[str, Any] = {"name": wanted.key, "version": wanted.version,
                             "index": strip_credentials(index)}
    tool: dict[str, Any] = {"source": "index-resolved"}
    if artifact["kind"] == "wheel":
        entry["wheels"] = [table]
    else:
        entry["sdist"] = table
        tool["built-locally"] = True  # the installed wheel was built from this sdist
    entry["tool"] = {"ecasrepro": tool}
    return entry


# --- the cache ----------------------------------------------------------------------------------


def _cache_path(material: str) -> Path:
    """``<user cache dir>/pylock/<digest of the environment's identity>.json``."""
    from ecasrepro.config import cache_dir

    digest = hashlib.sha256(material.encode("utf-8")).digest()
    name = base64.b32encode(digest[:20]).decode("ascii").lower()
    return cache_dir() / "pylock" / f"{name}.json"


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return {}
    return data


def _save_cache(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (concurrent snapshots of one environment each see a whole file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".pylock-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temp, path)
    except OSError as exc:
        log.debug("pylock cache %s not written: %s", path, exc)


# --- resolution ---------------------------------------------------------------------------------


def _resolve(
    wanted: list[_Wanted], index: str, timeout: float
) -> tuple[dict[str, Any], dict[str, str], int]:
    """Look every distribution up on *index* on daemon threads within *timeout* seconds:
    (found artifacts or ``{"absent": reason}`` by cache id, transient failures, requests)."""
    deadline = time.monotonic() + timeout
    client = _Index(index, deadline)
    jobs: queue.Queue[_Wanted] = queue.Queue()
    for item in wanted:
        jobs.put(item)
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    done = threading.Condition()

    def work() -> None:
        while True:
            try:
                item = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                files = client.files(item.key)
                if files is None:
                    outcome: Any = {"absent": "not on the index"}
                else:
                    outcome = _match(item, files) or {"absent": _no_match(item)}
                failure = None
            except _Transient as exc:
                outcome, failure = None, str(exc)
            except Exception as exc:  # one odd page must not cost the rest of the lock
                outcome, failure = None, f"unexpected {type(exc).__name__}"
            with done:
                if outcome is not None:
                    results[item.cache_id] = outcome
                else:
                    failures[item.cache_id] = failure or "no answer"
                done.notify_all()

    for number in range(min(WORKERS, len(wanted))):
        threading.Thread(target=work, name=f"ecasrepro-lock-{number}", daemon=True).start()
    with done:
        done.wait_for(lambda: len(results) + len(failures) >= len(wanted),
                      timeout=max(deadline - time.monotonic(), 0))
        answered = dict(results), dict(failures)
    for item in wanted:
        if item.cache_id not in answered[0] and item.cache_id not in answered[1]:
            answered[1][item.cache_id] = f"no answer within {timeout:g} s"
    return answered[0], answered[1], client.requests


def _no_match(item: _Wanted) -> str:
    tags = ".".join(item.tags) or "no recorded tags"
    return f"no file on the index matches version {item.version} with tags {tags}"


def interpreter_marker() -> str:
    """The running interpreter as one PEP 508 marker: implementation, Python minor version,
    platform and machine (patch releases of the same minor version share wheels). The values
    are those of ``packaging.markers.default_environment()``, computed without importing it."""
    import platform

    values = {
        "implementation_name": sys.implementation.name,
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
    }
    return " and ".join(f'{key} == "{value}"' for key, value in values.items())


def _render(doc: dict[str, Any]) -> str:
    import tomli_w

    header = (
        "# PEP 751 lock of the captured interpreter's distributions, written by ecasrepro.\n"
        "# [packages.tool.ecasrepro] source: \"direct_url.json\" (observed at capture) or\n"
        "# \"index-resolved\" (the index's artifact matching the installed name, version and\n"
        "# wheel tags). Distributions in [tool.ecasrepro] unresolved are pinned in\n"
        "# requirements.txt only (conda's packages: in environment.yml).\n"
    )
    return header + tomli_w.dumps(doc)


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _rejection(entries: list[dict[str, Any]]) -> str | None:
    """Why ``packaging.pylock`` rejects a lock holding *entries* (``None``: it accepts it)."""
    from packaging.pylock import Pylock, PylockValidationError

    try:
        Pylock.from_dict({"lock-version": "1.0", "created-by": "ecasrepro", "packages": entries})
    except PylockValidationError as exc:
        return str(exc)
    return None


def _offline_warning(index: str, origin: str, reason: str, retry: str) -> str:
    return (
        f"pylock.toml was not written: the package index {index} (from {origin}) could not be "
        f"reached ({reason}{'; ' + retry if retry else ''}); requirements.txt holds the exact "
        f"pins ({INDEX_SETTING}=off skips the lock)."
    )


def _unresolved_warning(reasons: Mapping[str, str], index: str) -> list[str]:
    if not reasons:
        return []
    listed = [f"{pin} ({why})" for pin, why in sorted(reasons.items())]
    more = len(listed) - _MAX_LISTED
    names = "; ".join(listed[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
    return [
        f"pylock.toml leaves out {len(reasons)} distribution(s) it could not lock against "
        f"{index}, pinned in requirements.txt only and named in its [tool.ecasrepro] "
        f"unresolved: {names}."
    ]


def build_lock(
    found: Sequence[tuple[InstalledDistribution, Path]] | None = None,
    *,
    settings: LockSettings | None = None,
    path: Sequence[str] | None = None,
) -> LockResult:
    """Resolve the distributions in *found* (default: those on *path*, else ``sys.path``) and
    render pylock.toml. Never raises for an unresolvable distribution or a missing network."""
    start = time.monotonic()
    settings = settings or lock_settings()
    if settings.index is None:
        return LockResult(None)
    if found is None:
        found = installed_distributions(path)
    index = settings.index
    shown_index = strip_credentials(index)
    direct: list[tuple[InstalledDistribution, dict[str, Any]]] = []
    wanted: dict[str, _Wanted] = {}
    conda: list[str] = []
    for dist, info_dir in found:
        recorded = _read_direct_url(info_dir)
        if recorded is not None:
            direct.append((dist, recorded))
            continue
        if installer(info_dir) == "conda":  # its artifact is a conda package: environment.yml
            conda.append(f"{canonical_name(dist.name)}=={dist.version}")
            continue
        tags, build = _wheel_facts(info_dir)
        item = _Wanted(canonical_name(dist.name), dist.version, tags, build)
        wanted[item.cache_id] = item

    # The cache: one file per environment (index, interpreter, every distribution's identity).
    marker = interpreter_marker()
    from ecasrepro.version import __version__

    material = json.dumps([CACHE_FORMAT, __version__, shown_index, marker,
                           sorted(wanted), sorted(conda),
                           sorted(json.dumps([d.name, d.version, r], sort_keys=True)
                                  for d, r in direct)])
    cache_file = _cache_path(material)
    cached = _load_cache(cache_file)
    now = time.time()
    whole = cached.get("lock")
    if isinstance(whole, dict) and now < float(whole.get("until", 0)):
        return LockResult(whole.get("toml"), list(whole.get("warnings") or []),
                          list(whole.get("unresolved") or []), 0, time.monotonic() - start)
    offline = cached.get("unreachable")
    if wanted and isinstance(offline, dict) and now - float(offline.get("at", 0)) < OFFLINE_TTL:
        retry = datetime.fromtimestamp(float(offline["at"]) + OFFLINE_TTL, timezone.utc)
        return LockResult(None, [_offline_warning(shown_index, settings.origin,
                                                  str(offline.get("reason")),
                                                  f"not retried before {retry:%H:%M} UTC")],
                          sorted(w.pin for w in wanted.values()), 0, time.monotonic() - start)
    known = {
        cid: value for cid, value in (cached.get("entries") or {}).items()
        if cid in wanted and isinstance(value, dict)
        and ("absent" not in value or now - float(value.get("at", 0)) < ABSENT_TTL)
    }
    todo = [item for cid, item in wanted.items() if cid not in known]
    failures: dict[str, str] = {}
    requests_made = 0
    if todo:
        fresh, failures, requests_made = _resolve(todo, index, settings.timeout)
        for value in fresh.values():
            value.setdefault("at", now)
        known.update(fresh)
    if wanted and failures and len(failures) == len(wanted):
        # no network: remembered for a while, so that snapshots on an offline node (an HPC
        # compute node) do not each wait for the budget
        reason = sorted(set(failures.values()))[0]
        _save_cache(cache_file, {"format": CACHE_FORMAT, "entries": known,
                                 "unreachable": {"at": now, "reason": reason}})
        return LockResult(
            None, [_offline_warning(shown_index, settings.origin, reason, "")],
            unresolved=sorted(w.pin for w in wanted.values()),
            requests=requests_made, seconds=time.monotonic() - start,
        )

    entries: list[dict[str, Any]] = []
    reasons: dict[str, str] = {}  # pin -> why it is left out
    for dist, recorded in direct:
        entry = _direct_entry(dist, recorded)
        if isinstance(entry, str):
            reasons[f"{canonical_name(dist.name)}=={dist.version}"] = entry
        else:
            entries.append(entry)
    for cid, item in wanted.items():
        value = known.get(cid)
        if value is None:
            reasons[item.pin] = f"the index did not answer: {failures.get(cid, 'no answer')}"
        elif "absent" in value:
            reasons[item.pin] = str(value["absent"])
        else:
            entries.append(_entry_from_artifact(item, value, index))
    if _rejection(entries):  # find the entries packaging.pylock rejects, and leave them out
        for entry in list(entries):
            problem = _rejection([entry])
            if problem:
                entries.remove(entry)
                reasons[f"{entry['name']}=={entry.get('version', '')}"] = f"invalid ({problem})"
    entries.sort(key=lambda e: e["name"])
    python = ".".join(str(n) for n in sys.version_info[:2])
    doc: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [marker],
        "requires-python": f"=={python}.*",
        "created-by": "ecasrepro",
        "packages": entries,
        # conda's packages are locked by environment.yml: named here, not warned about
        "tool": {"ecasrepro": {"version": __version__, "index": shown_index,
                               "unresolved": sorted([*reasons, *conda])}},
    }
    from packaging.pylock import Pylock

    text = _render(doc)
    Pylock.from_dict(_toml_loads(text))  # what is written is exactly what the reader accepts
    warnings = _unresolved_warning(reasons, shown_index)
    result = LockResult(text, warnings, sorted([*reasons, *conda]), requests_made,
                        time.monotonic() - start)
    absent = any("absent" in v for v in known.values())
    lock = None if failures else {  # a lock with gaps the index may fill later is not kept
        "toml": text, "warnings": warnings, "unresolved": result.unresolved,
        "until": now + (ABSENT_TTL if absent else 3650 * 86400),
    }
    _save_cache(cache_file, {"format": CACHE_FORMAT, "entries": known, "lock": lock})
    return result


class PendingLock:
    """A lock being built on a daemon thread (so an exiting process never waits for it)."""

    def __init__(self, found: Sequence[tuple[InstalledDistribution, Path]] | None,
                 settings: LockSettings | None = None) -> None:
        self.settings = settings or lock_settings()
        self._result: LockResult | None = None
        self._thread = threading.Thread(target=self._run, args=(found,), daemon=True,
                                        name="ecasrepro-lock")
        self._thread.start()

    def _run(self, found: Sequence[tuple[InstalledDistribution, Path]] | None) -> None:
        try:
            self._result = build_lock(found, settings=self.settings)
        except Exception as exc:  # the snapshot never fails for its lockfile
            log.debug("pylock.toml failed", exc_info=True)
            self._result = LockResult(
                None, [f"pylock.toml was not written: {type(exc).__name__}: {exc}"]
            )

    def result(self) -> LockResult:
        """Wait for the lock (at most the time budget and a little more)."""
        self._thread.join(self.settings.timeout + 5.0)
        if self._result is None:
            return LockResult(None, ["pylock.toml was not written: locking did not finish in "
                                     f"{self.settings.timeout:g} s."])
        return self._result


def start_lock(found: Sequence[tuple[InstalledDistribution, Path]] | None = None) -> PendingLock:
    """Begin resolving pylock.toml in the background; ``.result()`` collects it."""
    return PendingLock(found)
