"""Keep secrets out of bundles: redact known values and token-shaped strings, scan what was written.

Two kinds of secret are recognised:

* **known values**: the configured B2SHARE token and the values of environment variables whose
  names say they hold a secret (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*KEY*``, ...), found
  verbatim and in their JSON-escaped and URL-quoted spellings (a notebook is JSON);
* **token-shaped strings**: ``access_token=...``, ``token: ...``, ``password = "..."``,
  ``Bearer ...``, ``https://user:password@host``, PEM private keys.

:class:`Redactor` rewrites text and JSON before it is written; :class:`ChunkScanner` checks bytes
as they are copied (fast: ``bytes.find`` for literal anchors, a regex only where an anchor hit),
and :func:`scan_tree` checks a finished bundle. Findings name path, line and kind, never the value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import quote

REDACTED = "[REDACTED]"

KNOWN_VALUE = "known secret value"
ACCESS_TOKEN = "access_token parameter"
TOKEN_PARAMETER = "token parameter"
SECRET_PARAMETER = "password or key parameter"
BEARER = "bearer token"
URL_CREDENTIALS = "URL credentials"
PRIVATE_KEY = "private key"

# Variable names that say "my value is a secret" (a name match, case-insensitive).
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)
# Variables whose values are always secrets, whatever the rule below says.
ALWAYS_SECRET = ("B2SHARE_TOKEN", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
MIN_SECRET_LENGTH = 8
_NOT_SECRETS = frozenset(
    {"true", "false", "yes", "no", "none", "null", "on", "off", "enabled", "disabled", "default"}
)
_MAX_TOKEN_FILE = 64 * 1024

# A token-like value: 12+ characters of the base64/url-safe alphabet including at least one
# digit and one letter, not a hex literal or attribute chain, not followed by "(" or "[" (so
# code such as ``token=get_token2()``, ``TOKEN_FLAG = 0x00000020``, ``token = mod.v2.Token``,
# ``token=cfg[...]`` and plain words or numbers do not count).
_VALUE = (
    r"(?!0x[0-9a-f]+(?![A-Za-z0-9_.~+/=%!$*^-]))"
    # an attribute chain such as windll.advapi32.OpenProcessToken (a JWT starts with eyJ)
    r"(?!(?!eyJ)[A-Za-z_][A-Za-z0-9_]{0,23}(?:\.[A-Za-z_][A-Za-z0-9_]{0,23})+"
    r"(?![A-Za-z0-9_.~+/=%!$*^-]))"
    r"(?P<value>(?=[A-Za-z0-9_.~+/=%!$*^-]*[0-9])(?=[0-9_.~+/=%!$*^-]*[A-Za-z])"
    r"[A-Za-z0-9_.~+/=%!$*^-]{12,})(?![A-Za-z0-9_.~+/=%!$*^(\[-])"
)
# The key word, optionally with a short suffix (client_secret_key, api_key_value, tokens).
_KEYWORD = (
    r"(?P<key>token|secret|passw(?:or)?d|api_?key)s?(?:[_-]?(?:key|value|string|str|text))?"
    r"(?:\\?[\"'])?[ \t]{0,4}[:=][ \t]{0,4}(?:[bru]{0,2}\\?[\"'])?" + _VALUE
)
_BEARER = r"bearer[ \t]{1,4}" + _VALUE
# RFC 3986 userinfo characters; "user:password@" or a long token used as the user name.
_URL_CREDENTIALS = (
    r"://(?P<value>[A-Za-z0-9._~%!$&()*+,;=-]{1,128}:[A-Za-z0-9._~%!$&()*+,;=:-]{1,128}"
    r"|(?=[A-Za-z0-9_.~%-]*[0-9])[A-Za-z0-9_.~%-]{20,128})@"
)
_PRIVATE_KEY_BEGIN = r"-----begin[a-z ]{0,40}private key-----"
_PRIVATE_KEY_BLOCK = (
    r"(?P<value>-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,65536}?"
    r"(?:-----END[A-Z ]{0,40}PRIVATE KEY-----|\Z))"
)

_FLAGS = re.IGNORECASE | re.ASCII
_TEXT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("keyword", re.compile(r"(?P<access>access_)?" + _KEYWORD, _FLAGS)),
    (BEARER, re.compile(_BEARER, _FLAGS)),
    (URL_CREDENTIALS, re.compile(_URL_CREDENTIALS, _FLAGS)),
    (PRIVATE_KEY, re.compile(_PRIVATE_KEY_BLOCK, re.ASCII)),
)
_B_KEYWORD = re.compile(_KEYWORD.encode(), _FLAGS)
_B_BEARER = re.compile(_BEARER.encode(), _FLAGS)
_B_URL_CREDENTIALS = re.compile(_URL_CREDENTIALS.encode(), _FLAGS)
_B_PRIVATE_KEY = re.compile(_PRIVATE_KEY_BEGIN.encode(), _FLAGS)

# Literal anchors: searched with bytes.find (fast) in the lower-cased text; the regex runs only
# where one hits. Text chunks are searched whole; in binary chunks (with NUL bytes: images,
# NetCDF/HDF5 arrays) only runs of at least _MIN_RUN printable ASCII characters are, because no
# token shape is shorter and random bytes rarely form such runs.
_TEXT_ANCHORS: tuple[tuple[bytes, str], ...] = (
    (b"token", "keyword"),
    (b"secret", "keyword"),
    (b"passw", "keyword"),
    (b"api_key", "keyword"),
    (b"apikey", "keyword"),
    (b"bearer", BEARER),
    (b"://", URL_CREDENTIALS),
    (b"-----begin", PRIVATE_KEY),
)
_MIN_RUN = 12
_PRINTABLE = bytes(
    ord("a") if (32 <= b < 127 or b in (9, 10, 13)) else 0 for b in range(256)
)
_RUN = b"a" * _MIN_RUN
_CHUNK = 1 << 20


def _keyword_kind(key: str, access: bool) -> str:
    if key.lower() != "token":
        return SECRET_PARAMETER
    return ACCESS_TOKEN if access else TOKEN_PARAMETER


def looks_secret(value: str) -> bool:
    """The rule for values of secret-named variables: long enough and not a flag or a path.

    Skipped: fewer than 8 characters, booleans/none-like words, and filesystem paths or path
    lists (``SSH_AUTH_SOCK``, ``B2SHARE_TOKEN_FILE``), which name a secret but are not one.
    """
    text = value.strip()
    if len(text) < MIN_SECRET_LENGTH or text.lower() in _NOT_SECRETS:
        return False
    if text.startswith(("/", "~", "./", "../")) or re.match(r"[A-Za-z]:[\\/]", text):
        return False
    return any(ch.isalnum() for ch in text)


def _spellings(secret: str) -> list[str]:
    """The ways a value can appear in a written file: verbatim, JSON-escaped, URL-quoted."""
    out = [secret]
    for variant in (
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
    ):
        if variant not in out:
            out.append(variant)
    return out


@dataclass(frozen=True)
class SecretFinding:
    """A secret found in a file: where and what kind, never the value itself."""

    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


class Redactor:
    """Replaces known secret values and token-shaped strings; finds them without revealing them."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            text = secret.strip() if isinstance(secret, str) else ""
            # Values shorter than 4 characters or inside the marker would make redaction
            # destroy ordinary text or loop; they are not credible secrets.
            if len(text) >= 4 and text not in REDACTED:
                values.add(text)
        spelled = {variant for value in values for variant in _spellings(value)}
        self._known: tuple[str, ...] = tuple(sorted(spelled, key=lambda s: (-len(s), s)))
        self._known_bytes: tuple[bytes, ...] = tuple(v.encode("utf-8") for v in self._known)

    def __repr__(self) -> str:  # never show the values
        return f"Redactor({len(self._known)} known spellings)"

    @property
    def known_count(self) -> int:
        """How many known secret spellings are searched for (values are never exposed)."""
        return len(self._known)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()
    ) -> Redactor:
        """Collect known secrets from the environment (see :func:`looks_secret`) plus *extra*."""
        env = os.environ if environ is None else environ
        secrets: list[str] = [s for s in extra if s]
        for name in ALWAYS_SECRET:
            value = env.get(name)
            if value and len(value.strip()) >= 4:
                secrets.append(value)
        token_file = env.get("B2SHARE_TOKEN_FILE")
        if token_file:
            try:
                with open(os.path.expanduser(token_file), encoding="utf-8") as handle:
                    content = handle.read(_MAX_TOKEN_FILE).strip()
            except (OSError, UnicodeDecodeError):
                content = ""
            if content:
                secrets.append(content)
        for name, value in env.items():
            if SECRET_NAME.search(name) and looks_secret(value):
                secrets.append(value)
        return cls(secrets)

    # -- text -----------------------------------------------------------------------------

    def _matches(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, kind) of every secret in *text*; ``end - start`` spans the value only."""
        for value in self._known:
            start = text.find(value)
            while start != -1:
                yield start, start + len(value), KNOWN_VALUE
                start = text.find(value, start + 1)
        for kind, pattern in _TEXT_PATTERNS:
            for match in pattern.finditer(text):
                if kind == URL_CREDENTIALS and _is_placeholder(match.group("value")):
                    continue
                found = kind
                if kind == "keyword":
                    found = _keyword_kind(match.group("key"), bool(match.group("access")))
                yield match.start("value"), match.end("value"), found

    def redact_text(self, text: str) -> str:
        """*text* with every secret value replaced by ``[REDACTED]`` (idempotent)."""
        for value in self._known:
            if value in text:
                text = text.replace(value, REDACTED)
        for _kind, pattern in _TEXT_PATTERNS:
            text = pattern.sub(_redact_value, text)
        return text

    def redact_json(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string (and dict key) redacted."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            return {self.redact_json(k): self.redact_json(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_json(item) for item in obj]
        return obj

    def find_in_text(self, text: str) -> list[tuple[int, str]]:
        """``(line, kind)`` for every secret in *text*, 1-based lines, in text order."""
        spans = sorted({(start, kind) for start, _end, kind in self._matches(text)})
        return [(text.count("\n", 0, start) + 1, kind) for start, kind in spans]

    def scanner(self, path: str) -> ChunkScanner:
        """A streaming scanner for one file called *path* (used in findings only)."""
        return ChunkScanner(path, self._known_bytes)


# user:password pairs that are documentation placeholders, not credentials.
_PLACEHOLDER_PASSWORDS = frozenset(
    {"password", "passwd", "pass", "pw", "pwd", "secret", "token", "xxx", "xxxx", "***", "****"}
)


def _is_placeholder(userinfo: str) -> bool:
    user, colon, password = userinfo.partition(":")
    return bool(colon) and (password.lower() in _PLACEHOLDER_PASSWORDS or password == user)


def _redact_value(match: re.Match[str]) -> str:
    whole = match.group(0)
    if whole.startswith("://") and _is_placeholder(match.group("value")):
        return whole
    start, end = match.start("value") - match.start(), match.end("value") - match.start()
    return whole[:start] + REDACTED + whole[end:]


class ChunkScanner:
    """Scans one file fed in chunks, in constant memory, for known values and token shapes.

    A tail of the previous chunk is kept so that secrets split across a chunk boundary are
    found; findings are deduplicated by absolute offset, and lines are counted with
    ``bytes.count(b"\\n")`` as the chunks go by.
    """

    def __init__(self, path: str, known: Iterable[bytes] = ()) -> None:
        self.path = path
        self._known = tuple(known)
        self._known_in_runs = tuple(k for k in self._known if _fits_run(k))
        self._known_anywhere = tuple(k for k in self._known if not _fits_run(k))
        longest = max((len(k) for k in self._known), default=0)
        # Long enough for the longest known spelling and for any anchored pattern to decide.
        self._overlap = max(512, longest)
        self._tail = b""
        self._tail_offset = 0  # absolute offset of self._tail[0]
        self._tail_lines = 0  # newlines before self._tail[0]
        self._offset = 0  # absolute offset of the next chunk
        self._lines = 0  # newlines before the next chunk
        self._found: dict[tuple[int, str], SecretFinding] = {}

    def __repr__(self) -> str:
        return f"ChunkScanner({self.path!r}, {len(self._found)} findings)"

    def feed(self, chunk: bytes) -> None:
        """Scan the next *chunk* of the file."""
        if not chunk:
            return
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
        if self._tail:
            # The boundary region: matches that start in the tail and end in this chunk.
            boundary = self._tail + chunk[: self._overlap]
            limit = len(self._tail)
            for pos, kind in self._hits(boundary):
                if pos < limit:
                    line = self._tail_lines + boundary.count(b"\n", 0, pos) + 1
                    self._record(self._tail_offset + pos, line, kind)
        for pos, kind in self._hits(chunk):
            self._record(self._offset + pos, self._lines + chunk.count(b"\n", 0, pos) + 1, kind)
        # Keep the tail for the next call; count this chunk's newlines once.
        newlines = chunk.count(b"\n")
        if len(chunk) >= self._overlap:
            tail = chunk[-self._overlap :]
            self._tail_lines = self._lines + newlines - tail.count(b"\n")
            self._tail_offset = self._offset + len(chunk) - self._overlap
        else:
            joined = self._tail + chunk
            tail = joined[-self._overlap :]
            dropped = len(joined) - len(tail)
            self._tail_lines += joined.count(b"\n", 0, dropped)
            self._tail_offset += dropped
        self._tail = tail
        self._lines += newlines
        self._offset += len(chunk)

    def _record(self, offset: int, line: int, kind: str) -> None:
        key = (offset, kind)
        if key not in self._found:
            self._found[key] = SecretFinding(self.path, line, kind)

    def _hits(self, data: bytes) -> Iterator[tuple[int, str]]:
        """(position, kind) of secrets in *data*: known values, then anchored token shapes."""
        if b"\0" not in data:  # text: search it whole
            yield from _known_hits(data, 0, len(data), self._known)
            yield from _anchored(data, 0, len(data))
            return
        # Binary: values that could sit outside a printable run are searched everywhere, the
        # rest (long printable tokens) and the token shapes only inside printable runs.
        yield from _known_hits(data, 0, len(data), self._known_anywhere)
        printable = data.translate(_PRINTABLE)
        pos = printable.find(_RUN)
        while pos != -1:
            start = printable.rfind(b"\0", 0, pos) + 1
            end = printable.find(b"\0", pos)
            end = len(data) if end == -1 else end
            yield from _known_hits(data, start, end, self._known_in_runs)
            yield from _anchored(data, start, end)
            pos = printable.find(_RUN, end)

    def findings(self) -> list[SecretFinding]:
        """Everything found so far, in file order."""
        return [self._found[key] for key in sorted(self._found)]


def _fits_run(value: bytes) -> bool:
    """Whether *value* can only occur inside a printable run of at least _MIN_RUN bytes."""
    return len(value) >= _MIN_RUN and value.translate(_PRINTABLE) == b"a" * len(value)


def _known_hits(
    data: bytes, start: int, end: int, known: tuple[bytes, ...]
) -> Iterator[tuple[int, str]]:
    for value in known:
        pos = data.find(value, start, end)
        while pos != -1:
            yield pos, KNOWN_VALUE
            pos = data.find(value, pos + 1, end)


def _anchored(data: bytes, start: int, end: int) -> Iterator[tuple[int, str]]:
    """Token shapes in ``data[start:end]``, positions relative to *data*."""
    window = data[start:end] if (start or end != len(data)) else data
    lowered = window.lower()
    for anchor, kind in _TEXT_ANCHORS:
        pos = lowered.find(anchor)
        while pos != -1:
            hit = _confirm(window, pos, anchor, kind)
            if hit is not None:
                yield hit[0] + start, hit[1]
            pos = lowered.find(anchor, pos + 1)


def _confirm(data: bytes, pos: int, anchor: bytes, kind: str) -> tuple[int, str] | None:
    """Run the pattern belonging to *anchor* at *pos*; the finding's position, or None."""
    if kind == "keyword":
        start = pos
        match = _B_KEYWORD.match(data, start)
        if match is None:
            return None
        access = data[max(0, start - 7) : start].lower() == b"access_"
        return match.start("value"), _keyword_kind(match.group("key").decode(), access)
    if kind == BEARER:
        match = _B_BEARER.match(data, pos)
        return (match.start("value"), BEARER) if match else None
    if kind == URL_CREDENTIALS:
        match = _B_URL_CREDENTIALS.match(data, pos)
        if match is None or _is_placeholder(match.group("value").decode("ascii")):
            return None
        return match.start("value"), URL_CREDENTIALS
    match = _B_PRIVATE_KEY.match(data, pos)
    return (pos, PRIVATE_KEY) if match else None


def scan_file(path: Path, redactor: Redactor, name: str | None = None) -> list[SecretFinding]:
    """Stream one file through a :class:`ChunkScanner`."""
    scanner = redactor.scanner(name if name is not None else str(path))
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            scanner.feed(chunk)
    return scanner.findings()


def scan_tree(root: Path, redactor: Redactor, skip: Container[str] = ()) -> list[SecretFinding]:
    """Scan every regular file under *root* (symlinks not followed), streaming each file.

    Paths in findings and in *skip* are POSIX paths relative to *root*; skipping a directory
    skips everything below it.
    """
    root = Path(root)
    findings: list[SecretFinding] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if prefix + d not in skip)
        for filename in sorted(filenames):
            rel = prefix + filename
            full = here / filename
            if rel in skip or full.is_symlink() or not full.is_file():
                continue
            findings.extend(scan_file(full, redactor, rel))
    return findings


# Environment variables worth recording for reproducibility and free of secrets: locale, time
# zone, hash seed, thread counts of the numeric libraries, the conda env and container image
# names, HDF5/NetCDF/PROJ behaviour switches, batch-job identifiers. Not PATH, HOME, *_PREFIX
# or VIRTUAL_ENV (they only leak home paths), not JUPYTERHUB_USER (a person's name).
ENVIRONMENT_ALLOW_LIST: tuple[str, ...] = (
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONWARNINGS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "MKL_CBWR",
    "CUDA_VISIBLE_DEVICES",
    "MPLBACKEND",
    "CONDA_DEFAULT_ENV",
    "JUPYTER_IMAGE",
    "JUPYTER_IMAGE_SPEC",
    "HDF5_USE_FILE_LOCKING",
    "NETCDF_DISABLE_FILE_LOCKING",
    "PROJ_NETWORK",
    "SLURM_JOB_ID",
    "SLURM_CLUSTER_NAME",
    "SLURM_CPUS_PER_TASK",
    "SLURM_NTASKS",
)


def is_allowed_variable(name: str) -> bool:
    """Whether an environment variable may be recorded (allow-listed and not secret-named)."""
    if SECRET_NAME.search(name):
        return False
    return any(fnmatchcase(name, pattern) for pattern in ENVIRONMENT_ALLOW_LIST)


def allowed_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment variables, sorted by name, values redacted."""
    env = os.environ if environ is None else environ
    redactor = Redactor.from_environment(env)
    return {
        name: redactor.redact_text(env[name]) for name in sorted(env) if is_allowed_variable(name)
    }
