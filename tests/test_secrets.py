"""Secrets: redaction of known values and token shapes, streaming scans, the env allow-list."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecasrepro.capture import secrets as secrets_module
from ecasrepro.capture.secrets import (
    REDACTED,
    ChunkScanner,
    Redactor,
    SecretFinding,
    allowed_environment,
    looks_secret,
    scan_tree,
)

TOKEN = "Qx7pL2mN9vR4tY8wZ1bC5dF0gH3jK6"  # a B2SHARE-like token
HUB = "f3a1c9e2b7d84c6a9e0f1b2c3d4e5f60"

PLANTED = [
    ("see https://b2share.eudat.eu/api/records/?access_token=AbC123xyz456qwe",
     "access_token parameter", "AbC123xyz456qwe"),
    ('{"access_token": "zz9YY8xx7WW6"}', "access_token parameter", "zz9YY8xx7WW6"),
    ("GET /files?token=9f8e7d6c5b4a3 HTTP/1.1", "token parameter", "9f8e7d6c5b4a3"),
    ("export B2SHARE_TOKEN=abcd1234efgh5678", "token parameter", "abcd1234efgh5678"),
    ("Authorization: Bearer eyJhbGciOi.J9abc123.def456", "bearer token",
     "eyJhbGciOi.J9abc123.def456"),
    ("curl -H 'authorization: bearer 0a1b2c3d4e5f6a7b'", "bearer token", "0a1b2c3d4e5f6a7b"),
    ("git clone https://alice:hunter22@github.com/x/y.git", "URL credentials", "hunter22"),
    ("git+https://ghp_abcdef1234567890ABCDEF@github.com/o/r", "URL credentials",
     "ghp_abcdef1234567890ABCDEF"),
    ('password = "Passw0rd-long"', "password or key parameter", "Passw0rd-long"),
    ("client_secret: s3cr3t-v4lue-xyz", "password or key parameter", "s3cr3t-v4lue-xyz"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
     "private key", "MIIEpAIBAAKCAQEA7"),
    (f"print('{TOKEN}')", "known secret value", TOKEN),
]

HARMLESS = [
    "tokenizer = AutoTokenizer.from_pretrained('bert-base')",
    'token = os.environ["B2SHARE_TOKEN"]',
    "token = get_token2()",
    "token_count = 12345678",
    "n_tokens=42",
    "password = getpass()",
    'headers = {"Authorization": f"Bearer {token}"}',
    "https://github.com/ECAS-Lab/ecas-b2share ssh://git@host/repo.git",
    "Bearer tokens are described in RFC 6750",
    "http://[::1]:8080/path@x",
    f"the marker {REDACTED} is not a secret",
    "TOKEN_ADJUST_PRIVILEGES = 0x00000020",
    "token_auth_class = OAuth2Auth",
    "_OpenProcessToken = windll.advapi32.OpenProcessToken",
    '# "https://username:password@host.com:80/path?query#fragment"',
    'CrashDAO("postgresql://winappdbg:winappdbg@localhost/Crashes")',
]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([TOKEN, HUB])


@pytest.mark.parametrize(("text", "kind", "secret"), PLANTED)
def test_planted_secrets_are_found_and_redacted(redactor: Redactor, text: str, kind: str,
                                                secret: str) -> None:
    found = redactor.find_in_text("line one\n" + text)
    assert (2, kind) in found
    cleaned = redactor.redact_text(text)
    assert secret not in cleaned
    assert REDACTED in cleaned
    assert redactor.find_in_text(cleaned) == []
    assert redactor.redact_text(cleaned) == cleaned  # idempotent
    scanner = redactor.scanner("nb.ipynb")
    scanner.feed(("x\n" * 3 + text).encode())
    findings = scanner.findings()
    assert SecretFinding("nb.ipynb", 4, kind) in findings
    for finding in findings:
        assert secret not in str(finding) and secret not in repr(finding)


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_code_is_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.redact_text(text) == text
    assert redactor.find_in_text(text) == []
    scanner = redactor.scanner("f")
    scanner.feed(text.encode())
    assert scanner.findings() == []


def test_url_credentials_keep_the_host(redactor: Redactor) -> None:
    assert redactor.redact_text("https://u:p4ssw0rd@host.org/x") == "https://[REDACTED]@host.org/x"


def test_redact_json_walks_keys_and_values(redactor: Redactor) -> None:
    notebook = {
        "cells": [{"source": [f"token = '{TOKEN}'\n"], "outputs": [{"text": HUB}]}],
        "metadata": {"papermill": {"parameters": {HUB: "k", "n": 3, "ok": True}}},
    }
    clean = redactor.redact_json(notebook)
    dumped = json.dumps(clean)
    assert TOKEN not in dumped and HUB not in dumped
    assert clean["metadata"]["papermill"]["parameters"][REDACTED] == "k"
    assert clean["metadata"]["papermill"]["parameters"]["n"] == 3
    assert redactor.redact_json(clean) == clean


def test_json_escaped_known_value_is_found() -> None:
    odd = 'pa"ss\\wo/rd-12345'
    redactor = Redactor([odd])
    written = json.dumps({"text": f"value {odd}"}).encode()
    scanner = redactor.scanner("f.json")
    scanner.feed(written)
    assert [f.kind for f in scanner.findings()] == ["known secret value"]
    assert odd not in redactor.redact_text(json.dumps({"text": odd}))


@pytest.mark.parametrize("split", [1, 5, 13, 20, 29])
@pytest.mark.parametrize("binary", [False, True])
def test_chunk_boundary_split(redactor: Redactor, split: int, binary: bool) -> None:
    filler = (b"\x00\x01" if binary else b"ab") * 300 + b"\n"
    data = filler * 3 + b"x " + TOKEN.encode() + b" and ?access_token=AbC123xyz456qwe\n"
    cut = len(filler) * 3 + 2 + split
    for size in (cut, 7):
        scanner = redactor.scanner("big.bin")
        pieces = [data[:cut], data[cut:]] if size == cut else [
            data[i : i + size] for i in range(0, len(data), size)
        ]
        for piece in pieces:
            scanner.feed(piece)
        kinds = [(f.line, f.kind) for f in scanner.findings()]
        assert kinds == [(4, "known secret value"), (4, "access_token parameter")]


def test_binary_file_with_embedded_text(redactor: Redactor, tmp_path: Path) -> None:
    payload = os.urandom(3 << 20)
    planted = (b"\x00history: ncks https://bob:pw123456@thredds.example.org/x.nc\x00"
               + HUB.encode() + b"\x00")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.nc").write_bytes(payload[: 2 << 20] + planted + payload[2 << 20 :])
    (tmp_path / "clean.txt").write_text("nothing here\n")
    (tmp_path / "skipme").mkdir()
    (tmp_path / "skipme" / "t.txt").write_text(TOKEN)
    findings = scan_tree(tmp_path, redactor, skip={"skipme"})
    assert {f.kind for f in findings} == {"URL credentials", "known secret value"}
    assert {f.path for f in findings} == {"out/a.nc"}
    assert all("pw123456" not in str(f) and HUB not in str(f) for f in findings)
    assert [str(f) for f in scan_tree(tmp_path, redactor)][-1].startswith("skipme/t.txt:1: ")


def test_from_environment_rule(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {
        "JUPYTERHUB_API_TOKEN": HUB,
        "JPY_API_TOKEN": "jpy-0123456789",
        "B2SHARE_TOKEN_FILE": str(token_file),
        "MY_SERVICE_PASSWORD": "correct-horse-9",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "SSH_AUTH_SOCK": "/tmp/ssh-XXXX/agent.1",
        "SOME_KEY_FLAG": "true",
        "SHORT_TOKEN": "abc",
        "HOME": "/home/someone-long-name",
    }
    redactor = Redactor.from_environment(env, extra=["configured-b2share-token-1"])
    text = " ".join([*env.values(), "configured-b2share-token-1", TOKEN])
    cleaned = redactor.redact_text(text)
    for secret in (HUB, "jpy-0123456789", "correct-horse-9", "wJalrXUtnFEMI/K7MDENG", TOKEN,
                   "configured-b2share-token-1"):
        assert secret not in cleaned
    for kept in ("/tmp/ssh-XXXX/agent.1", "true", "abc", "/home/someone-long-name"):
        assert kept in cleaned
    assert TOKEN not in repr(redactor)


@pytest.mark.parametrize(
    ("value", "secret"),
    [("abcdefgh12", True), ("short", False), ("disabled", False), ("/usr/local/bin", False),
     ("~/secrets/token", False), ("C:\\Users\\x", False), ("--------", False)],
)
def test_looks_secret(value: str, secret: bool) -> None:
    assert looks_secret(value) is secret


def test_allowed_environment_is_an_allow_list() -> None:
    env = {
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "4", "TZ": "UTC",
        "JUPYTERHUB_API_TOKEN": HUB, "PATH": "/usr/bin", "HOME": "/home/x",
        "LC_SECRET_KEY": "leaky-value-123", "JUPYTER_IMAGE": f"img?token={HUB}x1",
    }
    assert allowed_environment(env) == {
        "JUPYTER_IMAGE": f"img?token={REDACTED}x1", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "4", "TZ": "UTC",
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    *"aZ09_-./=:@?&\"' \n\\",
    "token", "Bearer ", "https://", "access_token=", "password=", TOKEN[:10], TOKEN, "[",
]), max_size=40).map("".join))
def test_redaction_is_idempotent_and_leaves_nothing(text: str) -> None:
    redactor = Redactor([TOKEN])
    once = redactor.redact_text(text)
    assert redactor.redact_text(once) == once
    assert TOKEN not in once
    assert redactor.find_in_text(once) == []
    scanner = redactor.scanner("x")
    scanner.feed(once.encode())
    assert scanner.findings() == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300), st.integers(1, 64))
def test_scanner_agrees_however_the_bytes_are_chunked(before: bytes, after: bytes,
                                                      size: int) -> None:
    redactor = Redactor([TOKEN])
    data = before + TOKEN.encode() + after
    whole = redactor.scanner("f")
    whole.feed(data)
    pieces = ChunkScanner("f", [TOKEN.encode()])
    for i in range(0, len(data), size):
        pieces.feed(data[i : i + size])
    assert pieces.findings() == whole.findings()
    assert any(f.kind == "known secret value" for f in whole.findings())


# --- the fast streaming scanner against a naive whole-buffer reference ---------------------------


_REFERENCE_ANCHORS = re.compile(
    rb"(?=(token|secret|passw|api_key|apikey|bearer|-----begin|://|basic "
    # every prefixed credential shape, by its full prefix (the scanner finds most from "_"/"-")
    rb"|aizasy|akia|eyj|gh[pousr]_|github_|hf_|[sr]k_live_|[sr]k_test_|glpat-|xox[a-z]-|sk-"
    rb"|pypi-))"
)
_ANCHOR_KIND = {b"bearer": "bearer token", b"-----begin": "private key",
                b"://": "URL credentials", b"basic ": "basic auth credentials"}
_KEYWORDS = {b"token", b"secret", b"passw", b"api_key", b"apikey"}


def reference_findings(data: bytes, known: list[bytes]) -> list[tuple[int, str]]:
    """What a scan must report: every anchor position tried, the whole buffer at once, by regex."""
    hits: set[tuple[int, str]] = set()
    for value in known:
        for match in re.finditer(b"(?=" + re.escape(value) + b")", data):
            hits.add((match.start(), "known secret value"))
    for match in _REFERENCE_ANCHORS.finditer(data.lower()):
        anchor = match.group(1)
        kind = "keyword" if anchor in _KEYWORDS else _ANCHOR_KIND.get(anchor, "prefixed")
        hit = secrets_module._confirm(data, match.start(), kind)
        if hit is not None:
            hits.add(hit)
    return [(data.count(b"\n", 0, pos) + 1, kind) for pos, kind in sorted(hits)]


_PLANTS = [text.encode() for text, _kind, _secret in PLANTED] + [
    HUB.encode(), json.dumps(f'say "{TOKEN}"').encode(), b"https://carol:S3cure-pass@example.org/",
    b"x@y.org ://no-credentials-here", b"?token=" + b"a1" * 8 + b"&apikey=ZZ99yy88xx77ww66",
    b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", b"AKIAIOSFODNN7EXAMPLE",
    b"machine h.org login bob password hunter2x", b"ghp_" + b"A1b2C3d4E5" * 4,
    b"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", b"glpat-xYz12AbC34dEf56GhI78",
    b"xoxb-1234567890-0987654321-AbCdEf", b"hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    b"sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz", b"AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
    b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    b"sk_live_4eC39HqLyjWDarjtT1zdp7dc", b"Authorization: Basic YWxpY2U6d29uZGVybGFuZDc=",
    b'password = "Xk9#mQ2$vL7pR4tz"', b"api_token \\u001b[38;5;241m=\\u001b[39m abcdef123456gh",
    b"no-credentials: snake_case_words-and-dashes hf_hub sk-learn ghp_short",
]
_TEXT_WORDS = [b"lorem", b"ipsum", b"tokenizer", b"http://example.org/a", b"a@b.c", b"=",
               b":", b"0.25", b"\n", b"  ", b'"key": ', b"bearer", b"Password"]


def _corpus(rng: random.Random, size: int, binary: bool) -> tuple[bytes, list[bytes]]:
    """Filler (random bytes or word soup) with secrets planted at random offsets."""
    pieces: list[bytes] = []
    planted: list[bytes] = []
    length = 0
    while length < size:
        if rng.random() < 0.1:
            plant = rng.choice(_PLANTS)
            planted.append(plant)
            piece = (b"\0" if binary else b" ") + plant + (b"\0\n" if binary else b" \n")
        elif binary:
            piece = rng.randbytes(rng.randrange(1, 5000))
        else:
            piece = b" ".join(rng.choice(_TEXT_WORDS) for _ in range(rng.randrange(1, 400)))
        pieces.append(piece)
        length += len(piece)
    return b"".join(pieces), planted


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_scanner_matches_reference_however_chunked(seed: int, binary: bool, lazy: bool,
                                                   tmp_path: Path) -> None:
    """Eager line counts and lazy ones (counted from the source file, only for hits) agree."""
    rng = random.Random(seed)
    data, planted = _corpus(rng, 300_000, binary)
    redactor = Redactor([TOKEN, HUB])
    expected = reference_findings(data, list(redactor._known_bytes))
    assert len(expected) >= len([p for p in planted if b"no-credentials" not in p]) > 0
    source = tmp_path / "corpus.bin"
    source.write_bytes(data)
    for sizes in ([len(data)], [rng.randrange(1, 700) for _ in range(3)], [1 << 16, 4099]):
        scanner = redactor.scanner("corpus", source=source if lazy else None)
        pos = 0
        while pos < len(data):
            size = rng.choice(sizes)
            scanner.feed(data[pos : pos + size])
            pos += size
        findings = scanner.findings()
        assert [(f.line, f.kind) for f in findings] == expected
        for finding in findings:
            for secret in (TOKEN, HUB, "hunter22", "S3cure-pass", "ZZ99yy88xx77ww66"):
                assert secret not in str(finding) and secret not in repr(finding)


def test_text_scan_agrees_with_find_in_text() -> None:
    rng = random.Random(11)
    data, _planted = _corpus(rng, 200_000, binary=False)
    redactor = Redactor([TOKEN, HUB])
    scanner = redactor.scanner("t")
    for i in range(0, len(data), 1 << 15):
        scanner.feed(data[i : i + (1 << 15)])
    from_text = set(redactor.find_in_text(data.decode()))
    from_scan = {(f.line, f.kind) for f in scanner.findings()}
    assert from_text <= from_scan
    assert {line for line, _ in from_scan} == {line for line, _ in from_text}


@pytest.mark.parametrize("with_memmem", [True, False])
def test_find_all_is_exact(with_memmem: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not with_memmem:
        monkeypatch.setattr(secrets_module, "_memmem", None)
    rng = random.Random(3)
    data = bytes(rng.choice(b"ab\0") for _ in range(200_000)) + b"aaaa"
    for needle in (b"aab", b"ab\0a", b"aaaa", b"a" * 12, b"b"):
        for start, end in ((0, len(data)), (5, len(data) - 3), (70_000, 140_001), (7, 7)):
            naive = [m.start() for m in re.finditer(b"(?=" + re.escape(needle) + b")",
                                                     data[:end])
                     if m.start() >= start]
            assert secrets_module._find_all(data, needle, start, end) == naive


def test_url_credentials_among_many_at_signs() -> None:
    mails = b"".join(b"user%d@example.org, " % i for i in range(2000))
    userinfo = b"u" * 128 + b":" + b"p" * 128  # the longest userinfo the pattern allows
    data = (mails + b"\nhttps://alice:hunter22@host/\n" + b"https://" + userinfo + b"@h/\n"
            + b"a@b " * 10)
    for text in (data, mails[:100] + data[len(mails):]):  # many "@" and few
        scanner = Redactor().scanner("m")
        scanner.feed(text)
        assert [(f.line, f.kind) for f in scanner.findings()] == [
            (2, "URL credentials"), (3, "URL credentials")]


@pytest.mark.parametrize("lazy", [False, True])
def test_many_findings_in_one_chunk_get_their_lines(lazy: bool, tmp_path: Path) -> None:
    lines = [f"row {i}: token={'ab12' * 4}" if i % 3 == 0 else f"row {i}" for i in range(3000)]
    data = "\n".join(lines).encode()
    (tmp_path / "many").write_bytes(data)
    scanner = Redactor().scanner("many", source=tmp_path / "many" if lazy else None)
    for start in range(0, len(data), 5000):
        scanner.feed(data[start : start + 5000])
    assert [f.line for f in scanner.findings()] == [i + 1 for i in range(0, 3000, 3)]
    assert [f.line for f in scanner.findings()] == [i + 1 for i in range(0, 3000, 3)]  # twice


@pytest.mark.parametrize("cut", range(1, 30))
def test_keyword_and_value_in_different_chunks(cut: int) -> None:
    """A keyword before a chunk boundary and its value after it (or "access_" split off)."""
    head = b"x" * 1000 + b"\n"
    data = head + b"url?access_token=AbC123xyz456qwe&x=1\nf(token=abc123def456(3))\n"
    for tail_size in (1, 7, 600, 5000):
        scanner = Redactor().scanner("s")
        split = len(head) + cut
        scanner.feed(data[:split])
        rest = data[split:]
        for i in range(0, len(rest), tail_size):
            scanner.feed(rest[i : i + tail_size])
        assert [(f.line, f.kind) for f in scanner.findings()] == [(2, "access_token parameter")]


def test_findings_midway_then_more_data() -> None:
    scanner = Redactor([TOKEN]).scanner("f")
    scanner.feed(b"a" * 2000 + b" token=abc123def456")
    assert [f.kind for f in scanner.findings()] == ["token parameter"]  # as if the file ended
    scanner.feed(b"6(1)\n" + TOKEN.encode())  # it did not: the value was a call after all
    assert [(f.line, f.kind) for f in scanner.findings()] == [(2, "known secret value")]
