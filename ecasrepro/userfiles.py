"""Reading a file the user named (notebook, ``--metadata``, token file, ``-a``): one set of checks.

A FIFO or a device given as a file would hang ``open()`` or read without end, a file can grow
while read, and a JSON document nested 100,000 levels deep overflows every recursive consumer
(the json module, jsonschema, deepcopy). So each such file must be a regular file of bounded
size, and each such JSON document bounded in depth; the failures are one-sentence BadInputs.

One job: read a user-named file safely, so that no front end or engine can be hung, exhausted or
overflowed by what it was given.

May import: ecasrepro.errors; never an engine (ecasrepro.bundle, ecasrepro.capture,
ecasrepro.b2share), ecasrepro.api or a front end.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput

NOTEBOOK_MAX = 2 * 1024**3  # a notebook is parsed whole; beyond this memory runs out first
METADATA_MAX = 16 * 1024**2
TOKEN_FILE_MAX = 64 * 1024
# Deeper than any real notebook (plotly and vega specs nest about 15 levels) and shallow enough
# that every recursive consumer stays far below Python's recursion limit.
JSON_MAX_DEPTH = 100

_KINDS = (
    (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)


def special_kind(mode: int) -> str:
    """What a non-regular, non-directory file is, in words ("a named pipe", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def not_regular(path: Path | str, what: str) -> BadInput:
    """The one sentence for a path that is neither a regular file nor a directory."""
    try:
        kind = special_kind(os.stat(path).st_mode)
    except OSError:
        kind = "not a regular file"
    return BadInput(f"{what} {path} is {kind}, not a regular file; pass a regular file.")


def read_limited(path: Path, what: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, which must hold at most ``limit`` bytes.

    OSError (missing, a directory, unreadable) propagates so that the caller says it in its own
    words; a pipe, device or socket, or a file over ``limit``, is a BadInput naming ``what``.
    """
    mode = os.stat(path).st_mode  # stat never blocks; open() on a FIFO waits for a writer
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        raise not_regular(path, what)
    # O_NONBLOCK: should the path have become a FIFO since the stat, open() still returns
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb", closefd=True) as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise not_regular(path, what)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise BadInput(
            f"{what} {path} is larger than {_size(limit)}; check that it is the right file."
        )
    return data


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def loads_json(text: str | bytes, what: str) -> Any:
    """``json.loads``, refusing documents nested deeper than :data:`JSON_MAX_DEPTH`.

    json.JSONDecodeError propagates (the caller names line and column in its own sentence).
    """
    too_deep = BadInput(
        f"{what} is nested more than {JSON_MAX_DEPTH} levels deep; no notebook or metadata is, "
        "so check that it is the right file."
    )
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep from None
    if json_depth(value) > JSON_MAX_DEPTH:
        raise too_deep
    return value


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > JSON_MAX_DEPTH:
            return depth
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest
