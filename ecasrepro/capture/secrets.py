"""Keep secrets out of bundles: redact known values and token-shaped strings, scan what was written.

Two kinds of secret are recognised:

* **known values**: the configured B2SHARE token and the values of environment variables whose
  names say they hold a secret (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*KEY*``, ...), found
  verbatim and in their JSON-escaped and URL-quoted spellings (a notebook is JSON);
* **token-shaped strings**: ``access_token=...``, ``token: ...``, ``password = "..."``,
  ``Bearer ...``, ``https://user:password@host``, PEM private keys.

:class:`Redactor` rewrites text and JSON before it is written; :class:`ChunkScanner` checks bytes
as they are copied (fast: libc ``memmem``/``bytes.find`` for literal anchors, a regex only where
an anchor hit), and :func:`scan_tree` checks a finished bundle. Findings name path, line and
kind, never the value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
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

# Literal anchors, searched at C speed (libc memmem when available, else bytes.find) in the
# lower-cased text; the precise regex runs only where one hits. URL credentials are anchored on
# the rarer "@" (memchr) and the "://" before it. Text chunks are searched whole; in binary
# chunks (with NUL bytes: images, NetCDF/HDF5 arrays) only runs of at least _MIN_RUN printable
# ASCII characters are, because no token shape is shorter and random bytes rarely form such runs.
_TEXT_ANCHORS: tuple[tuple[bytes, str], ...] = (
    (b"token", "keyword"),
    (b"secret", "keyword"),
    (b"passw", "keyword"),
    (b"api_key", "keyword"),
    (b"apikey", "keyword"),
    (b"bearer", BEARER),
    (b"-----begin", PRIVATE_KEY),
)
# "://" + at most 128 + 1 + 128 userinfo characters + "@": the "://" of a match lies this far
# before its "@" at most.
_URL_REACH = 3 + 128 + 1 + 128
# When "@" is common (e-mail logs), finding "://" directly is cheaper than one look-back per "@".
_MAX_AT_HITS = 256
_MIN_RUN = 12
_BEFORE = len(b"access_")  # context a keyword needs before its anchor
_PRINTABLE = bytes(
    ord("a") if (32 <= b < 127 or b in (9, 10, 13)) else 0 for b in range(256)
)
_RUN = b"a" * _MIN_RUN
_CHUNK = 1 << 20
# Below this many bytes a ctypes call costs more than bytes.find saves.
_MEMMEM_MIN = 1 << 16


def _load_memmem() -> Callable[[int, int, bytes, int], int | None] | None:
    """libc's memmem (several GB/s, and ctypes releases the GIL during the call), if present."""
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        if name is None:
            return None
        function = ctypes.CDLL(name).memmem
    except (ImportError, OSError, AttributeError):
        return None
    function.restype = ctypes.c_void_p
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
    return function


_memmem = _load_memmem()


def _address(data: bytes) -> int:
    import ctypes

    return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0


def _find_all(data: bytes, needle: bytes, start: int = 0, end: int | None = None) -> list[int]:
    """Every position of *needle* in ``data[start:end]`` (overlapping), at C speed."""
    end = len(data) if end is None else end
    found: list[int] = []
    if _memmem is None or end - start < _MEMMEM_MIN or len(needle) < 2:
        pos = data.find(needle, start, end)
        while pos != -1:
            found.append(pos)
            pos = data.find(needle, pos + 1, end)
        return found
    base = _address(data)  # *data* stays referenced (and immutable) while memmem reads it
    size = len(needle)
    pos = start
    while end - pos >= size:
        hit = _memmem(base + pos, end - pos, needle, size)
        if not hit:
            break
        pos = hit - base
        found.append(pos)
        pos += 1
    return found


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
            from ecasrepro.errors import BadInput
            from ecasrepro.userfiles import read_limited

            try:  # a FIFO or device named here must not hang the snapshot
                raw = read_limited(Path(token_file).expanduser(), "token file", _MAX_TOKEN_FILE)
                content = raw.decode("utf-8").strip()
            except (OSError, UnicodeDecodeError, BadInput):
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

    Each candidate is decided once, with at least ``overlap`` bytes of context after its anchor
    (or the true end of the file): a chunk's last ``overlap`` bytes are kept as the tail and
    their anchors decided with the next chunk's start (or in :meth:`findings`). So secrets split
    across a chunk boundary are found, and none is reported twice or from a cut-off view.
    Lines are counted with ``bytes.count(b"\\n")``: once per chunk, and up to each hit.
    """

    def __init__(self, path: str, known: Iterable[bytes] = ()) -> None:
        self.path = path
        self._known = tuple(known)
        self._known_in_runs = tuple(k for k in self._known if _fits_run(k))
        self._known_anywhere = tuple(k for k in self._known if not _fits_run(k))
        longest = max((len(k) for k in self._known), default=0)
        # Long enough for the longest known spelling and for any anchored pattern to decide.
        self._overlap = max(512, longest)
        self._tail = b""  # the last _overlap bytes fed; their anchors are not decided yet
        self._before_tail = b""  # the _BEFORE bytes preceding the tail ("access_" of a token)
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
        overlap = self._overlap
        # Anchors before this point have enough context once this chunk is here.
        decide_to = self._offset + len(chunk) - overlap
        if self._tail and decide_to > self._tail_offset:
            # The tail's anchors, with the start of this chunk as context.
            boundary = self._tail + chunk[:overlap]
            limit = min(len(self._tail), decide_to - self._tail_offset)
            hits = [h for h in self._hits(boundary, self._before_tail) if h[2] < limit]
            self._record_all(self._found, boundary, hits, self._tail_offset, self._tail_lines)
        before = (self._before_tail + self._tail)[-_BEFORE:]
        if len(chunk) > overlap:
            limit = len(chunk) - overlap
            hits = [h for h in self._hits(chunk, before) if h[2] < limit]
            self._record_all(self._found, chunk, hits, self._offset, self._lines)
        # Keep the tail for the next call; count this chunk's newlines once.
        newlines = chunk.count(b"\n")
        if len(chunk) >= overlap:
            tail = chunk[-overlap:]
            cut = len(chunk) - overlap
            self._before_tail = (before + chunk[max(0, cut - _BEFORE) : cut])[-_BEFORE:]
            self._tail_lines = self._lines + newlines - tail.count(b"\n")
            self._tail_offset = self._offset + cut
        else:
            joined = self._tail + chunk
            tail = joined[-overlap:]
            dropped = len(joined) - len(tail)
            self._before_tail = (self._before_tail + joined[:dropped])[-_BEFORE:]
            self._tail_lines += joined.count(b"\n", 0, dropped)
            self._tail_offset += dropped
        self._tail = tail
        self._lines += newlines
        self._offset += len(chunk)

    def _record_all(
        self,
        found: dict[tuple[int, str], SecretFinding],
        data: bytes,
        hits: Iterable[tuple[int, str, int]],
        offset: int,
        lines: int,
    ) -> None:
        """Record *hits* in *data* (which starts at *offset* after *lines* newlines)."""
        counted_to = 0
        for pos, kind in sorted({(pos, kind) for pos, kind, _anchor in hits}):
            lines += data.count(b"\n", counted_to, pos)
            counted_to = pos
            key = (offset + pos, kind)
            if key not in found:
                found[key] = SecretFinding(self.path, lines + 1, kind)

    def _hits(self, data: bytes, before: bytes = b"") -> list[tuple[int, str, int]]:
        """(position, kind, anchor position) of secrets in *data*: known values, token shapes.

        *before* holds the bytes just before *data* (so ``access_`` split off is still seen).
        """
        if b"\0" not in data:  # text: search it whole
            return [
                *_known_hits(data, 0, len(data), self._known),
                *_anchored(data, 0, len(data), before),
            ]
        # Binary: values that could sit outside a printable run are searched everywhere, the
        # rest (long printable tokens) and the token shapes only inside printable runs.
        hits = _known_hits(data, 0, len(data), self._known_anywhere)
        printable = data.translate(_PRINTABLE)
        end = -1
        for pos in _find_all(printable, _RUN):
            if pos < end:  # inside the run already scanned
                continue
            start = printable.rfind(b"\0", 0, pos) + 1
            end = printable.find(b"\0", pos)
            end = len(data) if end == -1 else end
            hits.extend(_known_hits(data, start, end, self._known_in_runs))
            hits.extend(_anchored(data, start, end, before if start == 0 else b""))
        return hits

    def findings(self) -> list[SecretFinding]:
        """Everything found so far, in file order (the tail decided as the end of the file)."""
        found = dict(self._found)
        if self._tail:
            hits = self._hits(self._tail, self._before_tail)
            self._record_all(found, self._tail, hits, self._tail_offset, self._tail_lines)
        return [found[key] for key in sorted(found)]


def _fits_run(value: bytes) -> bool:
    """Whether *value* can only occur inside a printable run of at least _MIN_RUN bytes."""
    return len(value) >= _MIN_RUN and value.translate(_PRINTABLE) == b"a" * len(value)


def _known_hits(
    data: bytes, start: int, end: int, known: tuple[bytes, ...]
) -> list[tuple[int, str, int]]:
    return [
        (pos, KNOWN_VALUE, pos) for value in known for pos in _find_all(data, value, start, end)
    ]


def _anchored(
    data: bytes, start: int, end: int, before: bytes = b""
) -> list[tuple[int, str, int]]:
    """Token shapes in ``data[start:end]`` (*before* precedes it), positions in *data*."""
    window = data[start:end] if (start or end != len(data)) else data
    lowered = window.lower()
    hits: list[tuple[int, str, int]] = []
    for anchor, kind in _TEXT_ANCHORS:
        for pos in _find_all(lowered, anchor):
            hit = _confirm(window, pos, kind, before)
            if hit is not None:
                hits.append((hit[0] + start, hit[1], pos + start))
    for pos in _url_anchors(window):
        hit = _confirm(window, pos, URL_CREDENTIALS)
        if hit is not None:
            hits.append((hit[0] + start, hit[1], pos + start))
    return hits


def _url_anchors(window: bytes) -> list[int]:
    """Positions of every "://" that has an "@" close enough after it to be a credential."""
    at = window.find(b"@")
    if at == -1:
        return []
    anchors: set[int] = set()
    seen = 0
    while at != -1:
        seen += 1
        if seen > _MAX_AT_HITS:  # "@" is common here: find "://" directly instead
            return _find_all(window, b"://")
        low = max(0, at - _URL_REACH)
        anchors.update(_find_all(window, b"://", low, max(low, at - 1)))
        at = window.find(b"@", at + 1)
    return sorted(anchors)


def _confirm(data: bytes, pos: int, kind: str, before: bytes = b"") -> tuple[int, str] | None:
    """Run the pattern of *kind* at the anchor *pos*; the finding's position, or None."""
    if kind == "keyword":
        match = _B_KEYWORD.match(data, pos)
        if match is None:
            return None
        prefix = data[pos - _BEFORE : pos] if pos >= _BEFORE else (before + data[:pos])[-_BEFORE:]
        access = prefix.lower() == b"access_"
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
