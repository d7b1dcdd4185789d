"""PNG text chunks (``tEXt``, ``zTXt``, ``iTXt``): where an image carries text, possibly compressed.

A PNG's metadata may hold any text (matplotlib writes ``Software``; a script may write a whole
command line with its token). ``zTXt`` and compressed ``iTXt`` are zlib streams, so a byte scan
of the file cannot see them. This module parses the chunk layout (standard library only),
yields each text chunk decoded, and rebuilds an image without chosen chunks, leaving every other
byte as it was. Decompression is bounded (:data:`MAX_TEXT`): a chunk that inflates beyond it is
reported as too large to check rather than inflated without limit.

One job: read and strip PNG text chunks, so that the secrets engine can check text a byte scan
cannot see.

May import: nothing (the standard library only); never ecasrepro.bundle,
ecasrepro.b2share, ecasrepro.api or a front end.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASE64_SIGNATURE = "iVBORw0KGgo"  # base64 of the signature: how a notebook stores a PNG
TEXT_TYPES = frozenset({b"tEXt", b"zTXt", b"iTXt"})
MAX_TEXT = 16 * 1024 * 1024  # decompressed bytes per text chunk that are checked


@dataclass(frozen=True)
class TextChunk:
    """One text chunk: its type, byte span in the file, and its keyword and text as bytes.

    ``text`` is None when the chunk is malformed or inflates beyond :data:`MAX_TEXT`.
    """

    type: bytes
    start: int
    end: int
    keyword: bytes
    text: bytes | None


def chunks(data: bytes) -> Iterator[tuple[bytes, int, int, int]]:
    """``(type, start, body_start, end)`` of each chunk of PNG *data*, up to IEND or damage."""
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return
        yield ctype, pos, pos + 8, end
        if ctype == b"IEND":
            return
        pos = end


def decode_text(ctype: bytes, body: bytes) -> tuple[bytes, bytes | None]:
    """(keyword, text) of a text chunk's body; text None when malformed or too large."""
    keyword, nul, rest = body.partition(b"\0")
    if not nul:
        return body[:79], None
    if ctype == b"tEXt":
        return keyword, rest
    if ctype == b"zTXt":
        return keyword, _inflate(rest[1:]) if rest[:1] == b"\0" else None
    # iTXt: compression flag, method, language tag\0, translated keyword\0, text
    if len(rest) < 2:
        return keyword, None
    compressed, method = rest[0], rest[1]
    _language, nul1, tail = rest[2:].partition(b"\0")
    translated, nul2, text = tail.partition(b"\0")
    if not (nul1 and nul2):
        return keyword, None
    if compressed:
        inflated = _inflate(text) if method == 0 else None
        return keyword, None if inflated is None else translated + b"\n" + inflated
    return keyword, translated + b"\n" + text


def _inflate(stream: bytes) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(stream, MAX_TEXT)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:  # more than MAX_TEXT: not checked, so not trusted
        return None
    return text


def text_chunks(data: bytes) -> list[TextChunk]:
    """Every text chunk of PNG *data* (empty for data that is not a PNG)."""
    if not data.startswith(SIGNATURE):
        return []
    found = []
    for ctype, start, body, end in chunks(data):
        if ctype in TEXT_TYPES:
            keyword, text = decode_text(ctype, data[body : end - 4])
            found.append(TextChunk(ctype, start, end, keyword, text))
    return found


def without_chunks(data: bytes, drop: Callable[[TextChunk], bool]) -> bytes:
    """*data* without the text chunks for which *drop* is true; every other byte unchanged."""
    spans = [(c.start, c.end) for c in text_chunks(data) if drop(c)]
    if not spans:
        return data
    out, pos = [], 0
    for start, end in spans:
        out.append(data[pos:start])
        pos = end
    out.append(data[pos:])
    return b"".join(out)


MAX_BODY = 4 * 1024 * 1024  # a text chunk body larger than this is not collected, and not trusted


class TextCollector:
    """Follows the chunk layout of a PNG fed in pieces and keeps its text chunks' bodies.

    Image data (IDAT) is skipped by its length, so this costs nothing per byte; only text
    chunks (small) are kept, each at most :data:`MAX_BODY` bytes (a larger one is kept as
    ``None``: reported, never trusted).
    """

    def __init__(self) -> None:
        self.active = True
        self._head = b""  # signature or chunk header bytes gathered so far
        self._need_signature = True
        self._offset = 0  # absolute offset of the next byte fed
        self._body_left = 0  # bytes of the current chunk (body + CRC) still to come
        self._current: tuple[bytes, int, int] | None = None  # (type, start, line) when text
        self._body: list[bytes] | None = None
        self.done: list[tuple[bytes, int, int, bytes | None]] = []  # (type, start, line, body)

    def feed(self, chunk: bytes, lines_before: int) -> None:
        """Feed the next bytes; *lines_before* is the number of newlines before ``chunk[0]``."""
        pos = 0
        size = len(chunk)
        while self.active and pos < size:
            if self._body_left:
                take = min(self._body_left, size - pos)
                if self._body is not None:
                    self._body.append(chunk[pos : pos + take])
                self._body_left -= take
                pos += take
                if not self._body_left:
                    self._finish_chunk()
                continue
            want = 8 - len(self._head)  # the signature and a chunk header are 8 bytes each
            piece = chunk[pos : pos + want]
            self._head += piece
            pos += len(piece)
            if len(self._head) < 8:
                break
            head, self._head = self._head, b""
            if self._need_signature:
                self._need_signature = False
                if head != SIGNATURE:
                    self.active = False
                continue
            (length,) = struct.unpack(">I", head[:4])
            ctype = head[4:8]
            start = self._offset + pos - 8
            self._body_left = length + 4
            if ctype in TEXT_TYPES:
                line = lines_before + chunk.count(b"\n", 0, max(0, pos - 8)) + 1
                self._current = (ctype, start, line)
                self._body = [] if length <= MAX_BODY else None
            else:
                self._current, self._body = None, None
            if ctype == b"IEND":
                self.active = False
        self._offset += size

    def _finish_chunk(self) -> None:
        if self._current is not None:
            ctype, start, line = self._current
            body = None if self._body is None else b"".join(self._body)[:-4]  # without the CRC
            self.done.append((ctype, start, line, body))
        self._current, self._body = None, None
