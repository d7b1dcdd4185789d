"""Request-scoped helpers shared by the v2 and v3 apps (and the review pages): the storage, the
base URL, streaming an upload body into a blob (with fault injection) and a file back out.

One job: the request helpers both apps share, so that v2 and v3 stream uploads (and inject faults)
the same way.

May import: .faults, .storage; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a
front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

from flask import current_app, request

from ecasrepro.sandbox.faults import DROP_ENV_KEY
from ecasrepro.sandbox.storage import READ_CHUNK, BlobWrite, Storage


def storage() -> Storage:
    result: Storage = current_app.extensions["ecasrepro.storage"]
    return result


def base_url() -> str:
    """Absolute base of this server, ending in '/' (links are absolute, like the real server's)."""
    return request.host_url


#: Deepest JSON nesting a request body may have.  B2SHARE metadata is a few levels deep; without a
#: bound a body like ``[[[[…]]]]`` parses (or not: RecursionError is no ValueError) and then blows
#: the stack in deepcopy/validation/dumps, a 500 with a traceback.
MAX_JSON_DEPTH = 64


def parse_json(raw: bytes) -> Any:
    """``json.loads`` for request bodies; raises ``ValueError`` on bad JSON and on deep nesting."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    pending = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        item, depth = pending.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                if depth >= MAX_JSON_DEPTH:
                    raise ValueError("JSON nested too deeply")
                pending.append((child, depth + 1))
    return value


def drop_connection() -> None:
    """Fault injection: reset the TCP connection mid-upload, as a broken network would."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)


def receive_upload(length: int) -> BlobWrite:
    """Stream the request body (``length`` bytes) into a new blob; a ``drop-upload`` fault cuts it.

    Raises :class:`~ecasrepro.sandbox.storage.IncompleteUpload` if the body ends early or the
    fault dropped it (nothing is stored then).
    """
    fraction = request.environ.get(DROP_ENV_KEY)
    stop_at = int(length * float(fraction)) if fraction is not None else None
    return storage().write_blob(
        request.environ["wsgi.input"], length, stop_at=stop_at, on_stop=drop_connection
    )


def stream_file(path: str) -> Iterator[bytes]:
    """A download body: the file in READ_CHUNK pieces (constant memory)."""
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk
