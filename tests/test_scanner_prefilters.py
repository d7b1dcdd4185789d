"""Each literal prefilter of the streaming scanner, with the secret across a chunk boundary.

:class:`~ecasrepro.capture.secrets.ChunkScanner` runs a regex only where a literal anchor hit
(``token``, ``bearer``, ``-----begin``, ``basic``, ``akia``, ``eyj``..., the ``@`` and ``://`` of
URL credentials, the ``_``/``-`` of prefixed tokens) and, for ``_``/``-``, switches to
searching the prefixes themselves where the separator is common, remembering that for the
file's next large chunks. Here every anchor class is found, in text and in binary data, with the
secret split at each point by a chunk boundary, with the separators rare and common, and the
findings are the same as one whole-buffer scan's.
"""

from __future__ import annotations

import base64
import os

import pytest

from ecasrepro.capture.secrets import Redactor

KIB = 1024
#: One example per anchor class: (anchor class, text holding the secret, the finding's kind).
ANCHOR_CLASSES = [
    ("token", "access_token=AbC123xyz456qwe789", "access_token parameter"),
    ("secret", 'client_secret: "Zx9Yw8Vu7Ts6Rq5Po4"', "password or key parameter"),
    ("passw", "db_password = 'Xk9#mQ2$vL7pR4tz'", "password or key parameter"),
    ("api_key", "API_KEY=ab12CD34ef56GH78ij90", "password or key parameter"),
    ("apikey", "apikey: 0a1b2c3d4e5f6a7b8c9d", "password or key parameter"),
    ("bearer", "Authorization: Bearer 0a1b2c3d4e5f6a7b", "bearer token"),
    ("-----begin", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n"
     "-----END RSA PRIVATE KEY-----", "private key"),
    ("basic", "Authorization: Basic " + base64.b64encode(b"jane:Tr0ub4dor3").decode(),
     "basic auth credentials"),
    ("netrc passw", "machine example.org login bob password hunter2x", "netrc password"),
    ("aizasy", "key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "Google API key"),
    ("akia", "id AKIAZ3XQ5R7T9V1W2Y4B in the log", "AWS access key id"),
    ("eyj", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
     "JSON web token"),
    ("@ and ://", "https://jane:s3cretPass99@data.example.org/x", "URL credentials"),
    ("_ ghp_", "gh ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8", "GitHub token"),
    ("_ github_pat_", "github_pat_11ABCDEFG0123456789abcdefghijklmnopqrs", "GitHub token"),
    ("_ hf_", "login(hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789)", "Hugging Face token"),
    ("_ k_live_", "stripe rk_live_4eC39HqLyjWDarjtT1zdp7dc", "Stripe key"),
    ("- glpat-", "CI: glpat-xYz12AbC34dEf56GhI78", "GitLab token"),
    ("- xox", "slack xoxb-1234567890-0987654321-AbCdEfGh", "Slack token"),
    ("- sk-", "openai sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9", "OpenAI-style API key"),
    ("- pypi-", "twine pypi-AgEIcHlwaS5vcmcCJGE4ZTQ3ZjYwLTk4YzMtNDYzZC1iNTk4LWI1Mj",
     "PyPI token"),
]


def filler(size: int, binary: bool, separators_common: bool) -> bytes:
    """*size* bytes of text or binary data, with "_" and "-" rare or common in it."""
    if binary:
        block = bytes(range(256)).replace(b"_", b"\x00").replace(b"-", b"\x00")
        if separators_common:
            block = block.replace(b"\x01", b"_").replace(b"\x02", b"-")
    else:
        block = b"2020-01-01,273.15,a_b\n" if separators_common else b"lorem ipsum dolor\n"
    return (block * (size // len(block) + 1))[:size]


def findings(data: bytes, cuts: list[int]) -> list[tuple[int, str]]:
    scanner = Redactor().scanner("f")
    start = 0
    for cut in [*cuts, len(data)]:
        scanner.feed(data[start:cut])
        start = cut
    return [(f.line, f.kind) for f in scanner.findings()]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("common", [False, True], ids=["separators-rare", "separators-common"])
@pytest.mark.parametrize(("anchor", "text", "kind"), ANCHOR_CLASSES,
                         ids=[c[0] for c in ANCHOR_CLASSES])
def test_each_anchor_class_is_found_across_a_chunk_boundary(
    anchor: str, text: str, kind: str, binary: bool, common: bool
) -> None:
    head = filler(72 * KIB, binary, common)
    secret = text.encode()
    data = head + b"\n" + secret + b"\n" + filler(8 * KIB, binary, common)
    start = len(head) + 1
    whole = findings(data, [])
    assert kind in [k for _line, k in whole], anchor
    # A boundary before, inside (at several points) and after the secret; the first chunk is
    # large enough to set the scanner's memo of common separators.
    for offset in sorted({0, 1, 2, 3, 5, len(secret) // 2, len(secret) - 1, len(secret)}):
        assert findings(data, [start + offset]) == whole, (anchor, offset)
    assert findings(data, list(range(7 * KIB, len(data), 7 * KIB))) == whole


def test_common_separators_are_remembered_and_probed_again() -> None:
    """After chunks where "-" is common the scanner searches prefixes directly, finds the same,
    and probes again after a while (a later stretch of rare "-" still finds every shape)."""
    redactor = Redactor()
    scanner = redactor.scanner("f")
    csv = filler(128 * KIB, binary=False, separators_common=True)
    scanner.feed(csv)
    scanner.feed(csv)
    assert scanner._common.get(b"-", 0) > 0  # the memo is in use
    secrets_text = b"\n".join(t.encode() for _a, t, _k in ANCHOR_CLASSES)
    prose = filler(128 * KIB, binary=False, separators_common=False)
    for _ in range(40):  # more large windows than the memo lasts: it runs out, probes again
        scanner.feed(prose)
    assert scanner._common.get(b"-", 0) == 0
    scanner.feed(secrets_text + b"\n" + prose)
    fresh = redactor.scanner("f")
    fresh.feed(csv + csv + prose * 40 + secrets_text + b"\n" + prose)
    got = [(f.line, f.kind) for f in scanner.findings()]
    assert got == [(f.line, f.kind) for f in fresh.findings()]
    assert {k for _a, _t, k in ANCHOR_CLASSES} <= {kind for _line, kind in got}


def test_random_binary_with_planted_shapes_matches_whole_scan() -> None:
    """Planted shapes in random bytes, fed in 1 MiB chunks as the snapshot does, every third
    shape also cut in two by a chunk boundary."""
    data = bytearray(os.urandom(3 << 20))
    slot = len(data) // (len(ANCHOR_CLASSES) + 1)
    cuts = set(range(1 << 20, len(data), 1 << 20))
    for index, (_anchor, text, _kind) in enumerate(ANCHOR_CLASSES):
        at = (index + 1) * slot
        data[at - 1 : at + len(text) + 1] = b"\n" + text.encode() + b"\n"
        if index % 3 == 0:
            cuts.add(at + len(text) // 2)
    whole = findings(bytes(data), [])
    assert findings(bytes(data), sorted(cuts)) == whole
    assert {k for _a, _t, k in ANCHOR_CLASSES} <= {kind for _line, kind in whole}
