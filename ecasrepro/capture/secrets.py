"""Keep secrets out of bundles: redact known values and token-shaped strings, scan what was written.

Two kinds of secret are recognised:

* **known values**: every configured B2SHARE token (:func:`ecasrepro.config.known_tokens`) and
  the values of environment variables whose names say they hold a secret (``*TOKEN*``,
  ``*SECRET*``, ``*PASSWORD*``, ``*KEY*``, ``*_PASS``, ...), found verbatim, in their JSON-escaped
  and URL-quoted spellings (a notebook is JSON) and base64-encoded at any alignment;
* **token-shaped strings**: ``access_token=...``, ``token: ...``, ``password = "..."`` (ANSI
  colour codes allowed in between), ``Bearer ...``, ``Basic <user:password>``,
  ``https://user:password@host``, netrc passwords, PEM private keys, and services' credential
  formats (AWS, GitHub, GitLab, Slack, Hugging Face, OpenAI-style, Stripe, PyPI, Google, JWT).

PNG text chunks are decoded (:mod:`ecasrepro.capture.png`): dropped from notebook images when
they hold a secret, reported when scanning files.

:class:`Redactor` rewrites text and JSON before it is written; :class:`ChunkScanner` checks bytes
as they are copied (fast: libc ``memmem``/``bytes.find`` for literal anchors, a regex only where
an anchor hit), and :func:`scan_tree` checks a finished bundle. Findings name path, line and
kind, never the value.

One job: find and redact secrets, so that no token or password ever reaches a bundle, a log line or
an upload.

May import: .png, ecasrepro.config, ecasrepro.errors; never ecasrepro.bundle, ecasrepro.b2share,
ecasrepro.api or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ecasrepro.capture import png

REDACTED = "[REDACTED]"

KNOWN_VALUE = "known secret value"
ACCESS_TOKEN = "access_token parameter"
TOKEN_PARAMETER = "token parameter"
SECRET_PARAMETER = "password or key parameter"
BEARER = "bearer token"
URL_CREDENTIALS = "URL credentials"
PRIVATE_KEY = "private key"
BASIC_AUTH = "basic auth credentials"
NETRC_PASSWORD = "netrc password"
AWS_KEY_ID = "AWS access key id"
GITHUB_TOKEN = "GitHub token"
GITLAB_TOKEN = "GitLab token"
SLACK_TOKEN = "Slack token"
HUGGING_FACE_TOKEN = "Hugging Face token"
OPENAI_KEY = "OpenAI-style API key"
GOOGLE_API_KEY = "Google API key"
JWT = "JSON web token"
STRIPE_KEY = "Stripe key"
PYPI_TOKEN = "PyPI token"

# Variable names that say "my value is a secret" (a name match, case-insensitive).
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH|COOKIE|(?:^|_)(?:PASS|PWD)(?:_|$)",
    re.IGNORECASE,
)
# Variables whose values are always secrets, whatever the rule below says.
ALWAYS_SECRET = ("B2SHARE_TOKEN", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
MIN_SECRET_LENGTH = 8
_NOT_SECRETS = frozenset(
    {"true", "false", "yes", "no", "none", "null", "on", "off", "enabled", "disabled", "default"}
)

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
# Terminal colour codes (as IPython writes tracebacks: ``token \x1b[38;5;241m=\x1b[39m "..."``),
# raw or JSON/Python-escaped, may sit between a key word, its "=" and the value.
_ANSI = r"(?:(?:\x1b|\\u001[bB]|\\x1[bB]|\\033|\\e)\[[0-9;]{0,16}m)"
_GAP = r"(?:[ \t]|" + _ANSI + r"){0,8}"
_KEYWORD = (
    r"(?P<key>token|secret|passw(?:or)?d|api_?key)s?"
    r"(?:[_-]?(?:access|key|value|string|str|text|id)){0,2}"
    r"(?:\\?[\"'])?" + _GAP + r"[:=]" + _GAP + r"(?:[bru]{0,2}\\?[\"'])?" + _VALUE
)
# A quoted value may hold any printable character but quotes, backslashes, white space and
# template brackets ("{password}", "<your password>"): password = "Xk9#mQ2$vL7pR4tz".
_KEYWORD_QUOTED = (
    r"(?P<key>token|secret|passw(?:or)?d|api_?key)s?"
    r"(?:[_-]?(?:access|key|value|string|str|text|id)){0,2}"
    r"(?:\\?[\"'])?" + _GAP + r"[:=]" + _GAP + r"[bru]{0,2}(?P<quote>\\?[\"'])"
    r"(?P<value>(?=[^\s\"'\\]*[0-9])(?=[^\s\"'\\]*[A-Za-z])[^\s\"'\\{}<>()\[\]]{8,128})"
    r"(?P=quote)"
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

# Credential formats with a fixed prefix (each service's documented token shape); matched case-
# sensitively, and only where the byte before is not a letter or digit.
_PREFIXED_SHAPES: tuple[tuple[str, str], ...] = (
    (GITHUB_TOKEN, r"gh[pousr]_[A-Za-z0-9]{36,251}"),
    (GITHUB_TOKEN, r"github_pat_[A-Za-z0-9_]{22,244}"),
    (GITLAB_TOKEN, r"glpat-[A-Za-z0-9_-]{20,250}"),
    (SLACK_TOKEN, r"xox[abposr]-(?=[A-Za-z0-9-]*[0-9])[A-Za-z0-9-]{10,250}"),
    (HUGGING_FACE_TOKEN, r"hf_[A-Za-z0-9]{30,250}"),
    (
        OPENAI_KEY,
        r"sk-(?:proj-|svcacct-|admin-|ant-)?(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])"
        r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,250}",
    ),
    (STRIPE_KEY, r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,247}"),
    (PYPI_TOKEN, r"pypi-AgE[A-Za-z0-9_-]{50,1000}"),
    (GOOGLE_API_KEY, r"AIzaSy[0-9A-Za-z_-]{33}"),  # every Google API key starts "AIzaSy"
    (AWS_KEY_ID, r"AKIA[0-9A-Z]{16}"),
    (JWT, r"eyJ[A-Za-z0-9_-]{8,1024}={0,2}\.eyJ[A-Za-z0-9_-]{8,4096}={0,2}\.[A-Za-z0-9_-]{0,1024}"),
)
_PREFIXED = "|".join(f"(?P<p{i}>{shape})" for i, (_kind, shape) in enumerate(_PREFIXED_SHAPES))
_PREFIXED_KINDS = {f"p{i}": kind for i, (kind, _shape) in enumerate(_PREFIXED_SHAPES)}
# "Authorization: Basic base64(user:password)": decoded, it must be printable with a colon.
_BASIC = r"basic {1,4}(?P<value>[A-Za-z0-9+/]{8,684}={0,2})(?![A-Za-z0-9+/=])"
# netrc: "machine HOST login U [account A] [port P] password VALUE" (one line or several; the
# login is required so that prose such as "machine learning password reset" is not one).
_NETRC_PASSWORD = r"passw(?:or)?d[ \t]+(?!\[REDACTED\])(?P<value>[^\s\"'`<>]{4,128})"
# Between netrc words: white space, or (in a notebook's JSON) an escaped newline and the quotes
# and comma between the lines of a list of strings, or a diff's "+"/"-" line marks.
_NETRC_GAP = r"(?:\s|\\[nrt]|[\",+-])+"
_NETRC_BEFORE = (
    r"(?<![A-Za-z0-9_])(?:machine[ \t]+[^\s\"]{1,128}|default)"
    r"(?:" + _NETRC_GAP + r"(?:login|account|port)[ \t]+[^\s\"]{1,128}){1,3}" + _NETRC_GAP + "$"
)
_LOOKBACK = 256  # bytes of context before an anchor (netrc: the machine/login before password)

_FLAGS = re.IGNORECASE | re.ASCII
_B_KEYWORD = re.compile(_KEYWORD.encode(), _FLAGS)
_B_KEYWORD_QUOTED = re.compile(_KEYWORD_QUOTED.encode(), _FLAGS)
_B_BEARER = re.compile(_BEARER.encode(), _FLAGS)
_B_URL_CREDENTIALS = re.compile(_URL_CREDENTIALS.encode(), _FLAGS)
_B_PRIVATE_KEY = re.compile(_PRIVATE_KEY_BEGIN.encode(), _FLAGS)
_B_PREFIXED = re.compile(_PREFIXED.encode(), re.ASCII)
_B_BASIC = re.compile(_BASIC.encode(), _FLAGS)
_B_NETRC_PASSWORD = re.compile(_NETRC_PASSWORD.encode(), _FLAGS)
_B_NETRC_BEFORE = re.compile(_NETRC_BEFORE.encode(), _FLAGS)
_T_PREFIXED = re.compile(_PREFIXED, re.ASCII)
_T_BASIC = re.compile(_BASIC, _FLAGS)
_T_NETRC_PASSWORD = re.compile(_NETRC_PASSWORD, _FLAGS)
_T_NETRC_BEFORE = re.compile(_NETRC_BEFORE, _FLAGS)
_TEXT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("keyword", re.compile(r"(?P<access>access_)?" + _KEYWORD, _FLAGS)),
    ("keyword", re.compile(r"(?P<access>access_)?" + _KEYWORD_QUOTED, _FLAGS)),
    (BEARER, re.compile(_BEARER, _FLAGS)),
    (URL_CREDENTIALS, re.compile(_URL_CREDENTIALS, _FLAGS)),
    (PRIVATE_KEY, re.compile(_PRIVATE_KEY_BLOCK, re.ASCII)),
    ("prefixed", re.compile(r"(?<![A-Za-z0-9])(?P<value>" + _PREFIXED + ")", re.ASCII)),
    (BASIC_AUTH, _T_BASIC),
    (NETRC_PASSWORD, _T_NETRC_PASSWORD),
)


_CHECKED_KINDS = frozenset({"prefixed", BASIC_AUTH, NETRC_PASSWORD})


def _redact_checked(kind: str, text: str, match: re.Match[str]) -> str:
    return _redact_value(match) if _text_kind(kind, match, text) is not None else match.group(0)


def _text_kind(kind: str, match: re.Match[str], text: str) -> str | None:
    """The kind of a token-shape match in *text*, or None where the match is no secret."""
    if kind == "keyword":
        return _keyword_kind(match.group("key"), bool(match.group("access")))
    if kind == URL_CREDENTIALS:
        return None if _is_placeholder(match.group("value")) else kind
    if kind == "prefixed":
        return _prefixed_kind(match)
    if kind == BASIC_AUTH:
        return kind if _is_basic_credentials(match.group("value").encode("ascii")) else None
    if kind == NETRC_PASSWORD:
        start = match.start()
        before = text[max(0, start - _LOOKBACK) : start]
        return kind if _T_NETRC_BEFORE.search(before) else None
    return kind


def _prefixed_kind(match: re.Match[Any]) -> str:
    for group, kind in _PREFIXED_KINDS.items():
        if match.group(group) is not None:
            return kind
    return JWT  # pragma: no cover - one alternative always matched


def _is_basic_credentials(value: bytes) -> bool:
    """Whether base64 *value* decodes to printable ``user:password`` (HTTP Basic auth)."""
    import base64
    import binascii

    padded = value + b"=" * (-len(value) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    _user, colon, password = text.partition(":")
    return bool(colon and password and text.isprintable() and len(text) >= 6)

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
    (b"basic ", BASIC_AUTH),  # longer needles are faster for memmem: "basic " and "aizasy"
    (b"aizasy", "prefixed"),
    (b"akia", "prefixed"),
    (b"eyj", "prefixed"),
)
# The other prefixed shapes are found from their "_" or "-" (one memchr pass each) where those
# are rare, as in outputs and base64 data; where they are common (code), by their own prefixes.
# Per separator: the lower-cased text just before it that starts a prefix (the "github" of
# "github_pat_"), and the needles searched instead when the separator is common (each starts
# its prefix, except "k_..." which starts one byte after the "s"/"r" of a Stripe key).
_SEPARATED: tuple[tuple[bytes, frozenset[bytes], tuple[bytes, ...]], ...] = (
    (
        b"_",
        frozenset({b"ghp", b"gho", b"ghu", b"ghs", b"ghr", b"github", b"hf", b"sk", b"rk"}),
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_", b"hf_", b"k_live_",
         b"k_test_"),  # "k_live_": sk_live_ and rk_live_ in one pass, one byte before
    ),
    (
        b"-",
        frozenset({b"glpat", b"xoxa", b"xoxb", b"xoxp", b"xoxo", b"xoxs", b"xoxr", b"sk",
                   b"pypi"}),
        (b"glpat-", b"xox", b"sk-", b"pypi-"),
    ),
)
# A memmem pass over 4 MiB costs about as much as looking at 2,000 separator hits in Python:
# beyond that many hits per needle the needles are searched instead.
_HITS_PER_PASS = 1 / 2048
# Once a separator proved common in a large window (a CSV's dates, code), a scanner searches its
# needles directly in the next _COMMON_WINDOWS large windows of the file, without first paying
# the Python loop over the budget of separator hits again, then probes again. Either way the
# candidate positions are a superset of the prefixes' (the regex decides), so findings are the
# same; only the cost differs.
_COMMON_WINDOWS = 32
_COMMON_MIN = 1 << 16  # windows this large or larger consult and update the memo
# "://" + at most 128 + 1 + 128 userinfo characters + "@": the "://" of a match lies this far
# before its "@" at most.
_URL_REACH = 3 + 128 + 1 + 128
# When "@" is common (e-mail logs), finding "://" directly is cheaper than one look-back per "@".
_MAX_AT_HITS = 256
_MIN_RUN = 12
_BEFORE = _LOOKBACK  # context an anchor may need before it ("access_", a netrc "machine")
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


# A value whose base64 core would be shorter than this is not searched for encoded (too short
# to be told apart from other base64 text).
_MIN_BASE64_CORE = 12


def _base64_spellings(secret: str) -> list[str]:
    """The value's base64 (standard and URL-safe) as it appears inside any longer encoded text.

    base64 encodes 3 bytes as 4 characters, so a value starting at byte offset k (mod 3) of the
    encoded text is spelled differently for each k: for each k the characters that depend on
    its bytes alone are those of ``value[j:]`` cut to whole 3-byte groups (j = 0, 1, 2). So
    ``Authorization: Basic base64(user:token)`` contains one of the three whatever ``user`` is.
    """
    import base64

    raw = secret.encode("utf-8")
    out: list[str] = []
    for skip in range(3):
        part = raw[skip:]
        part = part[: len(part) // 3 * 3]
        encoded = base64.b64encode(part).decode("ascii")
        if len(encoded) < _MIN_BASE64_CORE:
            continue
        for variant in (encoded, encoded.replace("+", "-").replace("/", "_")):
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
        self._values: tuple[str, ...] = tuple(sorted(values))
        spelled = {variant for value in values for variant in _spellings(value)}
        spelled.update(variant for value in values for variant in _base64_spellings(value))
        self._known: tuple[str, ...] = tuple(sorted(spelled, key=lambda s: (-len(s), s)))
        self._known_bytes: tuple[bytes, ...] = tuple(v.encode("utf-8") for v in self._known)

    def __repr__(self) -> str:  # never show the values
        return f"Redactor({len(self._known)} known spellings)"

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()
    ) -> Redactor:
        """Known secrets: the environment (see :func:`looks_secret`), every configured token
        (:func:`ecasrepro.config.known_tokens`), plus *extra*."""
        env = os.environ if environ is None else environ
        secrets: list[str] = [s for s in extra if s]
        for name in ALWAYS_SECRET:
            value = env.get(name)
            if value and len(value.strip()) >= 4:
                secrets.append(value)
        from ecasrepro.config import known_tokens

        secrets.extend(known_tokens(env))  # B2SHARE_TOKEN(_FILE), config.toml, given tokens
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
                found = _text_kind(kind, match, text)
                if found is not None:
                    yield match.start("value"), match.end("value"), found

    def redact_text(self, text: str) -> str:
        """*text* with every secret value replaced by ``[REDACTED]`` (idempotent)."""
        for value in self._known:
            if value in text:
                text = text.replace(value, REDACTED)
        for kind, pattern in _TEXT_PATTERNS:
            if kind in _CHECKED_KINDS:  # the regex alone does not decide: check each match
                text = pattern.sub(partial(_redact_checked, kind, text), text)
            else:
                text = pattern.sub(_redact_value, text)
        return text

    def redact_json(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string (and dict key) redacted.

        Base64 PNGs (image outputs, cell attachments) lose the text chunks that hold a secret
        (see :meth:`redact_png`).
        """
        passwords = _password_widget_values(obj)
        redactor = Redactor([*self._values, *passwords]) if passwords else self
        return redactor._redact_json(obj)

    def _redact_json(self, obj: Any) -> Any:
        if isinstance(obj, str):
            if obj.startswith(png.BASE64_SIGNATURE):
                obj = self._redact_png_base64(obj)
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            if _is_password_widget(obj):
                obj = {k: REDACTED if k == "value" else v for k, v in obj.items()}
            return {self._redact_json(k): self._redact_json(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self._redact_json(item) for item in obj]
        return obj

    def redact_png(self, data: bytes) -> bytes:
        """PNG *data* without the text chunks that hold a secret or cannot be checked.

        The pixels and every other chunk stay byte for byte; a PNG's text is metadata
        (``Software``, ``Comment``...), so dropping a chunk loses no part of the image.
        """
        return png.without_chunks(data, self._chunk_has_secret)

    def _chunk_has_secret(self, chunk: png.TextChunk) -> bool:
        if chunk.text is None:
            return True
        raw = chunk.keyword + b"\n" + chunk.text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # tEXt and zTXt are Latin-1
        return bool(self.find_in_text(text))

    def _redact_png_base64(self, value: str) -> str:
        import base64
        import binascii

        try:
            data = base64.b64decode(value)
        except (binascii.Error, ValueError):
            return value
        clean = self.redact_png(data)
        if clean is data:
            return value
        return base64.b64encode(clean).decode("ascii") + ("\n" if value.endswith("\n") else "")

    def find_in_text(self, text: str) -> list[tuple[int, str]]:
        """``(line, kind)`` for every secret in *text*, 1-based lines, in text order."""
        spans = sorted({(start, kind) for start, _end, kind in self._matches(text)})
        return [(text.count("\n", 0, start) + 1, kind) for start, kind in spans]

    def scanner(self, path: str, source: Path | None = None) -> ChunkScanner:
        """A streaming scanner for one file called *path* (used in findings only).

        *source*: the file the chunks come from, read again only for a hit's line number.
        """
        return ChunkScanner(path, self._known_bytes, source=source)

    def upload_guard(self, name: str) -> UploadGuard:
        """A known-values-only check of a file as it is uploaded (see :class:`UploadGuard`)."""
        return UploadGuard(name, ChunkScanner(name, self._known_bytes, shapes=False))


class UploadGuard:
    """Checks an upload's bytes for known secrets one chunk ahead of sending them.

    ``publish`` trusts the snapshot's scan of a large unchanged file, but a token configured
    after the snapshot was not among its known values. The upload reads every byte anyway, so
    each chunk is fed here before the previous one is sent (:meth:`check` after every feed):
    a known value is found before the chunk holding its start leaves, and :meth:`check`
    raises :class:`~ecasrepro.errors.SecretFound` naming the file. Known values only (memmem
    per value): the token shapes were already checked by the snapshot.
    """

    def __init__(self, name: str, scanner: ChunkScanner) -> None:
        self.name = name
        self._scanner = scanner

    def feed(self, chunk: bytes) -> None:
        self._scanner.feed(chunk)

    def check(self) -> None:
        findings = self._scanner.findings()
        if findings:
            from ecasrepro.errors import SecretFound

            raise SecretFound(
                f"{self.name} holds a secret known now but not when the bundle was made "
                f"({findings[0]}); its upload was stopped before that part was sent. Remove "
                "it from the file, snapshot again and publish the new bundle."
            )


def _is_password_widget(state: Mapping[str, Any]) -> bool:
    """An ipywidgets Password model's state (ipywidgets 7 and 8 name it ``PasswordModel``)."""
    return state.get("_model_name") == "PasswordModel"


def _password_widget_values(notebook: Any) -> list[str]:
    """Values typed into Password widgets, from a notebook's saved widget state.

    Jupyter saves widget state under ``metadata.widgets`` (MIME type
    ``application/vnd.jupyter.widget-state+json``), a Password widget's ``value`` included; the
    value is then a known secret wherever else it appears (a ``print(pw.value)`` output).
    """
    if not isinstance(notebook, Mapping):
        return []
    metadata = notebook.get("metadata")
    widgets = metadata.get("widgets") if isinstance(metadata, Mapping) else None
    if not isinstance(widgets, Mapping):
        return []
    found: list[str] = []
    for bundle in widgets.values():
        models = bundle.get("state") if isinstance(bundle, Mapping) else None
        for model in (models or {}).values() if isinstance(models, Mapping) else ():
            state = model.get("state") if isinstance(model, Mapping) else None
            if isinstance(state, Mapping) and _is_password_widget(state):
                value = state.get("value")
                if isinstance(value, str) and value:
                    found.append(value)
    return found


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
    Lines are counted with ``bytes.count(b"\\n")``: once per chunk and up to each hit, or, given
    the *source* file the chunks come from, only when a hit needs a line number: then the
    scanner keeps each hit's offset and :meth:`findings` counts the newlines before it by
    reading *source* again (a second read only where a secret was found; the count holds the
    GIL for about 0.3 ms/MiB, a third of a binary file's scan).
    """

    def __init__(
        self, path: str, known: Iterable[bytes] = (), shapes: bool = True,
        source: Path | None = None,
    ) -> None:
        self.path = path
        self._source = source
        self._counting = True  # False once lines are counted lazily, from the source
        self._known = tuple(known)
        self._shapes = shapes  # False: known values only (publish's pass over trusted files)
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
        # None: a hit whose line is counted lazily (see findings)
        self._found: dict[tuple[int, str], SecretFinding | None] = {}
        self._common: dict[bytes, int] = {}  # separator -> large windows left to skip its loop
        self._png: png.TextCollector | None = png.TextCollector()  # dropped if no PNG

    def __repr__(self) -> str:
        return f"ChunkScanner({self.path!r}, {len(self._found)} findings)"

    def feed(self, chunk: bytes) -> None:
        """Scan the next *chunk* of the file."""
        if not chunk:
            return
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
        if self._png is not None:
            self._png.feed(chunk, self._lines)
            if not self._png.active and not self._png.done:
                self._png = None
        if self._png is None and self._source is not None:
            self._counting = False
        counting = self._counting
        overlap = self._overlap
        # Anchors before this point have enough context once this chunk is here.
        decide_to = self._offset + len(chunk) - overlap
        if self._tail and decide_to > self._tail_offset:
            # The tail's anchors, with the start of this chunk as context.
            boundary = self._tail + chunk[:overlap]
            limit = min(len(self._tail), decide_to - self._tail_offset)
            hits = [h for h in self._hits(boundary, self._before_tail) if h[2] < limit]
            self._record_all(self._found, boundary, hits, self._tail_offset,
                             self._tail_lines if counting else None)
        before = (self._before_tail + self._tail)[-_BEFORE:]
        if len(chunk) > overlap:
            limit = len(chunk) - overlap
            hits = [h for h in self._hits(chunk, before) if h[2] < limit]
            self._record_all(self._found, chunk, hits, self._offset,
                             self._lines if counting else None)
        # Keep the tail for the next call; count this chunk's newlines once (if counting).
        newlines = chunk.count(b"\n") if counting else 0
        if len(chunk) >= overlap:
            tail = chunk[-overlap:]
            cut = len(chunk) - overlap
            self._before_tail = (before + chunk[max(0, cut - _BEFORE) : cut])[-_BEFORE:]
            if counting:
                self._tail_lines = self._lines + newlines - tail.count(b"\n")
            self._tail_offset = self._offset + cut
        else:
            joined = self._tail + chunk
            tail = joined[-overlap:]
            dropped = len(joined) - len(tail)
            self._before_tail = (self._before_tail + joined[:dropped])[-_BEFORE:]
            if counting:
                self._tail_lines += joined.count(b"\n", 0, dropped)
            self._tail_offset += dropped
        self._tail = tail
        self._lines += newlines
        self._offset += len(chunk)

    def _record_all(
        self,
        found: dict[tuple[int, str], SecretFinding | None],
        data: bytes,
        hits: Iterable[tuple[int, str, int]],
        offset: int,
        lines: int | None,
    ) -> None:
        """Record *hits* in *data* (which starts at *offset* after *lines* newlines).

        *lines* None: the newlines are counted later, from the source (see :meth:`findings`).
        """
        counted_to = 0
        for pos, kind in sorted({(pos, kind) for pos, kind, _anchor in hits}):
            key = (offset + pos, kind)
            if lines is None:
                found.setdefault(key, None)
                continue
            lines += data.count(b"\n", counted_to, pos)
            counted_to = pos
            if key not in found:
                found[key] = SecretFinding(self.path, lines + 1, kind)

    def _count_lines(self, found: dict[tuple[int, str], SecretFinding | None]) -> None:
        """Give the lazily recorded hits in *found* their lines, reading the source once."""
        waiting = sorted(key for key, value in found.items() if value is None)
        if not waiting:
            return
        lines = counted = 0
        assert self._source is not None
        with open(self._source, "rb") as handle:
            for offset, kind in waiting:
                while counted < offset:
                    piece = handle.read(min(_CHUNK, offset - counted))
                    if not piece:
                        break
                    lines += piece.count(b"\n")
                    counted += len(piece)
                found[(offset, kind)] = SecretFinding(self.path, lines + 1, kind)

    def _hits(self, data: bytes, before: bytes = b"") -> list[tuple[int, str, int]]:
        """(position, kind, anchor position) of secrets in *data*: known values, token shapes.

        *before* holds the bytes just before *data* (so ``access_`` split off is still seen).
        """
        if not self._shapes:
            return _known_hits(data, 0, len(data), self._known)
        if b"\0" not in data:  # text: search it whole
            return [
                *_known_hits(data, 0, len(data), self._known),
                *_anchored(data, 0, len(data), before, self._common),
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
            hits.extend(_anchored(data, start, end, before if start == 0 else b"", self._common))
        return hits

    def findings(self) -> list[SecretFinding]:
        """Everything found so far, in file order (the tail decided as the end of the file)."""
        self._count_lines(self._found)
        found = dict(self._found)
        if self._tail:
            hits = self._hits(self._tail, self._before_tail)
            self._record_all(found, self._tail, hits, self._tail_offset,
                             self._tail_lines if self._counting else None)
            self._count_lines(found)
        if self._png is not None:
            self._png_findings(found)
        return [finding for _key, finding in sorted(found.items()) if finding is not None]

    def _png_findings(self, found: dict[tuple[int, str], SecretFinding | None]) -> None:
        """Secrets in the PNG's text chunks, decoded (zTXt and iTXt may be compressed)."""
        assert self._png is not None
        for ctype, start, line, body in self._png.done:
            where = f"in a PNG {ctype.decode('ascii')} chunk"
            text = None if body is None else png.decode_text(ctype, body)
            if text is None or text[1] is None:
                kind = f"text {where} too large or damaged to check"
                found.setdefault((start, kind), SecretFinding(self.path, line, kind))
                continue
            for _pos, kind, _anchor in self._hits(text[0] + b"\n" + text[1]):
                key = (start, f"{kind} {where}")
                found.setdefault(key, SecretFinding(self.path, line, key[1]))


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
    data: bytes, start: int, end: int, before: bytes = b"", common: dict[bytes, int] | None = None
) -> list[tuple[int, str, int]]:
    """Token shapes in ``data[start:end]`` (*before* precedes it), positions in *data*.

    *common* is the scanner's memo of separators found common (see :func:`_separated_prefixes`).
    """
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
    for pos in _separated_prefixes(lowered, common):
        hit = _confirm(window, pos, "prefixed", before)
        if hit is not None:
            hits.append((hit[0] + start, hit[1], pos + start))
    return hits


def _needle_starts(lowered: bytes, needles: tuple[bytes, ...]) -> list[int]:
    return [
        hit - (needle[:1] == b"k")  # "k_live_"/"k_test_" start a byte before
        for needle in needles
        for hit in _find_all(lowered, needle)
    ]


def _separated_prefixes(lowered: bytes, common: dict[bytes, int] | None = None) -> list[int]:
    """Where a "_"/"-" prefixed shape (``ghp_``, ``hf_``, ``glpat-``, ``sk-``...) may start.

    From each separator (memchr, a set lookup per hit) while they are rare; once they prove
    common (code), from the needles (a memmem pass each) instead, and (with a scanner's
    *common* memo) directly so in the file's next large windows. Every position where a prefix
    occurs is among the results either way; the regex in :func:`_confirm` decides.
    """
    starts: list[int] = []
    large = common is not None and len(lowered) >= _COMMON_MIN
    for separator, heads, needles in _SEPARATED:
        if large and common is not None and common.get(separator, 0) > 0:
            common[separator] -= 1
            starts.extend(_needle_starts(lowered, needles))
            continue
        budget = int(len(lowered) * _HITS_PER_PASS * len(needles)) + 16
        lengths = sorted({len(head) for head in heads})
        found: list[int] = []
        find = lowered.find
        pos = find(separator)
        while pos != -1:
            budget -= 1
            if budget < 0:  # common here: the needles are cheaper
                found = _needle_starts(lowered, needles)
                if large and common is not None:
                    common[separator] = _COMMON_WINDOWS
                break
            if pos and 97 <= lowered[pos - 1] <= 122:  # every head ends in a letter
                for size in lengths:
                    if pos >= size and lowered[pos - size : pos] in heads:
                        found.append(pos - size)
            pos = find(separator, pos + 1)
        starts.extend(found)
    return sorted({start for start in starts if start >= 0})


def _after_boundary(data: bytes, pos: int, before: bytes) -> bool:
    """Whether the byte before *pos* ends a word (not a letter or digit, or an escape like \\n)."""
    prev = data[pos - 1 : pos] if pos > 0 else before[-1:]
    if not prev or not prev.isalnum():
        return True
    escape = data[pos - 2 : pos - 1] if pos > 1 else (before + data[:pos])[-2:-1]
    return prev in b"ntr" and escape == b"\\"


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
        match = _B_KEYWORD.match(data, pos) or _B_KEYWORD_QUOTED.match(data, pos)
        if match is None:
            return _netrc_password(data, pos, before) if data[pos : pos + 1] in b"pP" else None
        size = len(b"access_")
        prefix = data[pos - size : pos] if pos >= size else (before + data[:pos])[-size:]
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
    if kind == "prefixed":
        match = _B_PREFIXED.match(data, pos)
        if match is None or not _after_boundary(data, pos, before):
            return None
        return pos, _prefixed_kind(match)
    if kind == BASIC_AUTH:
        match = _B_BASIC.match(data, pos)
        if match is None or not _is_basic_credentials(match.group("value")):
            return None
        return match.start("value"), BASIC_AUTH
    match = _B_PRIVATE_KEY.match(data, pos)
    return (pos, PRIVATE_KEY) if match else None


def _netrc_password(data: bytes, pos: int, before: bytes) -> tuple[int, str] | None:
    """``password VALUE`` after a netrc ``machine HOST [login USER]`` (within _LOOKBACK bytes)."""
    match = _B_NETRC_PASSWORD.match(data, pos)
    if match is None:
        return None
    context = data[max(0, pos - _LOOKBACK) : pos]
    if pos < _LOOKBACK:
        context = (before + context)[-_LOOKBACK:]
    if not _B_NETRC_BEFORE.search(context):
        return None
    return match.start("value"), NETRC_PASSWORD


def scan_file(path: Path, redactor: Redactor, name: str | None = None) -> list[SecretFinding]:
    """Stream one file through a :class:`ChunkScanner`."""
    scanner = redactor.scanner(name if name is not None else str(path), source=path)
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
