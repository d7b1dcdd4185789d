"""Verification by re-execution: run a bundle's notebook again and compare what it prints.

"Reproducible" should be a measured claim. :func:`verify_bundle` re-executes the captured notebook
headless (nbclient, fresh kernel) in a temporary copy of the notebook's directory, then compares
every code cell's new outputs with the captured ones:

* text exactly, after removing parts that change on every run (memory addresses, clock dates and
  times, durations, progress bars, temporary paths, random ids) -- see :data:`VOLATILE_RULES`;
* numbers within a relative tolerance (``rtol``) and an absolute one (``atol``);
* PNG images by dimensions, then by a perceptual difference of block-averaged grey levels;
* errors as errors (exception name and message).

The result (:class:`VerificationReport`) is written into the bundle as the tag file
``verification.json``; nothing in the payload changes. Heavy imports (nbclient, nbformat,
jupyter_client) happen inside functions so ``import ecasrepro`` stays fast.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ecasrepro.errors import BadInput, NotReproduced

Verdict = Literal[
    "same",  # identical after removing volatile parts
    "within-tolerance",  # equal up to rtol/atol, whitespace layout or the image tolerance
    "differs",  # a real difference; ``reason`` names the first one
    "new-error",  # the cell raised although it did not when captured
    "missing-output",  # the cell had outputs when captured and now has none
    "skipped",  # markdown/raw, empty, never executed when captured, or output ignored by tag
    "timeout",  # the cell did not finish within the per-cell timeout
    "not-run",  # the run stopped (timeout, dead kernel) before this cell
]
PASSING_VERDICTS: frozenset[str] = frozenset({"same", "within-tolerance", "skipped"})

REPORT_NAME = "verification.json"
SKIP_TAG = "ecasrepro-verify-skip"  # put on cells we must not execute (private to the run)
#: Cell tags that exclude a cell's output from comparison (the cell still runs).
IGNORE_OUTPUT_TAGS = frozenset({"ecasrepro-ignore-output", "nbval-ignore-output"})
#: Cell tags that exclude a cell from the run altogether (nbmake/nbval conventions).
SKIP_EXECUTION_TAGS = frozenset({"skip-execution", "nbval-skip", "ecasrepro-skip"})
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_EXCERPT_CHARS = 160


@dataclass(frozen=True)
class Tolerances:
    """How much a re-executed output may differ and still count as reproduced."""

    rtol: float = 1e-6  # relative tolerance for every number found in text outputs
    atol: float = 0.0  # absolute tolerance (for values that should be ~0)
    image: float = 0.01  # RMS of the block-mean grey difference (0..1) on a 32x32 grid
    timeout: float = 600.0  # seconds per cell


@dataclass
class CellVerdict:
    """The outcome for one notebook cell; ``index`` is its 0-based position in ``nb.cells``."""

    index: int
    cell_type: str
    execution_count: int | None
    first_line: str
    verdict: Verdict
    reason: str = ""
    output: str | None = None  # which output differed: "stdout", "stderr", "output 2", "error"
    captured: str | None = None  # short excerpt of the first differing captured line
    reexecuted: str | None = None  # ... and of the re-executed one
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING_VERDICTS

    def label(self) -> str:
        """How the summary names the cell: position, prompt number and first source line."""
        prompt = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
        return f"cell {self.index}{prompt} `{self.first_line}`"


@dataclass
class PackageDifference:
    name: str
    captured: str
    running: str | None  # None when the package is not installed


@dataclass
class EnvironmentDifferences:
    """Lockfile pins versus the interpreter that re-ran the notebook (informational only)."""

    interpreter: str
    python_captured: str | None = None
    python_running: str | None = None
    missing: list[str] = field(default_factory=list)  # pinned "name==version", not installed
    different: list[PackageDifference] = field(default_factory=list)
    extra: int = 0  # installed but not pinned: not relevant to the captured run, counted only
    unpinned: list[str] = field(default_factory=list)  # VCS/URL/editable lines, presence only
    platform: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> captured/running
    note: str = ""

    @property
    def any(self) -> bool:
        return bool(
            self.missing
            or self.different
            or self.platform
            or (self.python_captured and self.python_captured != self.python_running)
        )

    def summary(self) -> str:
        parts: list[str] = []
        if self.python_captured and self.python_captured != self.python_running:
            parts.append(f"python {self.python_captured} -> {self.python_running}")
        if self.different:
            shown = ", ".join(
                f"{d.name} {d.captured} -> {d.running}" for d in self.different[:5]
            )
            more = f" and {len(self.different) - 5} more" if len(self.different) > 5 else ""
            parts.append(f"{len(self.different)} package(s) at other versions ({shown}{more})")
        if self.missing:
            shown = ", ".join(self.missing[:5])
            more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
            parts.append(f"{len(self.missing)} pinned package(s) missing ({shown}{more})")
        for key, values in self.platform.items():
            parts.append(f"{key} {values.get('captured')} -> {values.get('running')}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts) if parts else "same as captured"


@dataclass
class VerificationReport:
    """Everything ``verify`` found; ``to_dict()`` is what ``verification.json`` holds."""

    notebook: str
    kernel: str
    tolerances: Tolerances
    cells: list[CellVerdict]
    started: str
    seconds: float
    environment: EnvironmentDifferences | None = None
    warnings: list[str] = field(default_factory=list)
    bundle: str | None = None
    report_path: Path | None = None
    ecasrepro_version: str = ""

    @property
    def reproduced(self) -> bool:
        return all(cell.passed for cell in self.cells)

    @property
    def verdict(self) -> str:
        return "reproduced" if self.reproduced else "not-reproduced"

    @property
    def failing(self) -> list[CellVerdict]:
        return [cell for cell in self.cells if not cell.passed]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "ecasrepro_version": self.ecasrepro_version,
            "verified_at": self.started,
            "verdict": self.verdict,
            "bundle": self.bundle,
            "notebook": self.notebook,
            "kernel": self.kernel,
            "tolerances": asdict(self.tolerances),
            "volatile_rules": [name for name, _, _ in VOLATILE_RULES],
            "timing": {"seconds": round(self.seconds, 3)},
            "counts": self.counts(),
            "cells": [_cell_dict(cell) for cell in self.cells],
            "environment": asdict(self.environment) if self.environment else None,
            "warnings": self.warnings,
        }

    def failure_sentence(self) -> str:
        """One sentence for the exit-6 error: how many cells failed and which."""
        failing = self.failing
        names = "; ".join(f"{c.label()} {c.verdict}" for c in failing[:3])
        more = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
        where = f"; details in {self.report_path}" if self.report_path else ""
        return (
            f"the re-executed notebook did not reproduce {len(failing)} cell(s): "
            f"{names}{more}{where}"
        )

    def summary(self) -> str:
        """Human summary for stderr: the verdict, each failing cell, counts, environment."""
        code_cells = [c for c in self.cells if c.cell_type == "code"]
        name = self.bundle or self.notebook
        if self.reproduced:
            head = f"verify {name}: REPRODUCED ({len(code_cells)} code cells)"
        else:
            head = (
                f"verify {name}: NOT REPRODUCED "
                f"({len(self.failing)} of {len(code_cells)} code cells differ)"
            )
        lines = [head]
        for cell in self.failing:
            lines.append(f"  {cell.label()}: {cell.verdict} - {cell.reason}")
        if any(cell.verdict == "differs" for cell in self.failing):
            lines.append(
                "  hint: is a differing output meant to change on every run (random numbers, "
                "timings)? seed it, or tag the cell 'ecasrepro-ignore-output' to skip comparing it"
            )
        counts = self.counts()
        order = [v for v in Verdict.__args__ if v in counts]  # type: ignore[attr-defined]
        lines.append("  " + ", ".join(f"{v}: {counts[v]}" for v in order))
        tol = self.tolerances
        lines.append(
            f"  tolerances: rtol={tol.rtol:g} atol={tol.atol:g} image={tol.image:g}; "
            f"ran in {self.seconds:.1f} s with kernel {self.kernel}"
        )
        if self.environment is not None:
            lines.append(f"  environment: {self.environment.summary()}")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        if self.report_path is not None:
            lines.append(f"  wrote {self.report_path}")
        return "\n".join(lines)


def _cell_dict(cell: CellVerdict) -> dict[str, Any]:
    data = asdict(cell)
    if data["seconds"] is not None:
        data["seconds"] = round(data["seconds"], 3)
    return {key: value for key, value in data.items() if value not in (None, [], "")}


# --- volatile parts of text ------------------------------------------------------------------

# Dates and times are handled apart from the other rules: a date in the re-executed output that
# lies within a day of the re-execution was read from the clock (volatile); any other date came
# from the data and must match. See _Volatile.dates.
_DATE_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    r"|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\b"
)

#: (name, pattern, replacement) applied in order to both sides before comparing.
VOLATILE_RULES: list[tuple[str, re.Pattern[str], str]] = [
    # IPython %time / %%time and %timeit lines measure this machine, not the analysis.
    ("ipython-timing", re.compile(r"^(?:CPU times|Wall time):.*$", re.M), "<TIMING>"),
    (
        "timeit",
        re.compile(r"^.*±.* per loop \(mean ± std\. dev\. of .*\)$", re.M),
        "<TIMEIT>",
    ),
    # tqdm bars (with and without a total) and their final states.
    (
        "progress-bar",
        re.compile(
            r"^.*?(?:\d{1,3}%\|.*?\|.*?\[[^\]\n]*\]|\d+(?:\.\d+)?[kMG]?it \[[^\]\n]*\]).*$", re.M
        ),
        "",
    ),
    ("memory-address", re.compile(r"\b0x[0-9a-fA-F]{6,16}\b"), "0x<ADDR>"),
    (
        "uuid",
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<UUID>",
    ),
    # pandas Styler ids: T_ plus 5 random hex digits, used all over its HTML and CSS.
    ("styler-id", re.compile(r"\bT_[0-9a-f]{5}(?=[_\"'\s#])"), "T_<ID>"),
    (
        "temp-path",
        re.compile(
            r"(?:/tmp|/var/tmp|/private/var/folders|/var/folders|[A-Za-z]:\\Users\\[^\\\s]+"
            r"\\AppData\\Local\\Temp)[/\\][^\s'\"<>)\]]*"
        ),
        "<TMP>",
    ),
    (
        "duration",
        re.compile(
            r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds|min|mins|minutes)\b"
        ),
        "<DURATION>",
    ),
    ("clock-time", re.compile(r"(?<![\w:])\d{2}:\d{2}:\d{2}(?:\.\d+)?(?![\w:])"), "<TIME>"),
]

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?!\w)(?!\.\d)")
_WARNING_LINE = re.compile(r"^\S.*:\d+: \w*Warning: .*$")


def _carriage_returns(text: str) -> str:
    """Render ``\\r`` as a terminal does: only the last rewrite of each line stays."""
    if "\r" not in text:
        return text
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        segments = [s for s in line.split("\r") if s]
        lines.append(segments[-1] if segments else "")
    return "\n".join(lines)


def _strip_warnings(text: str) -> str:
    """Drop Python warning lines (and the source line under each): they name paths and lines."""
    out: list[str] = []
    skip_indented = False
    for line in text.split("\n"):
        if _WARNING_LINE.match(line):
            skip_indented = True
            continue
        if skip_indented and line.startswith((" ", "\t")):
            continue
        skip_indented = False
        out.append(line)
    return "\n".join(out)


@dataclass
class _Normalised:
    text: str
    dates: list[str]


def normalise_text(text: str, *, workdir: str | None = None, stderr: bool = False) -> _Normalised:
    """Remove volatile parts so that two runs of the same analysis print the same text."""
    text = _carriage_returns(text)
    if workdir:
        text = text.replace(workdir, "<NOTEBOOK_DIR>")
    if stderr:
        text = _strip_warnings(text)
    dates: list[str] = []

    def keep_date(match: re.Match[str]) -> str:
        dates.append(match.group(0))
        return "<DATE>"

    text = _DATE_TIME.sub(keep_date, text)
    for _, pattern, replacement in VOLATILE_RULES:
        text = pattern.sub(replacement, text)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    # Removed progress bars leave empty lines behind; drop runs of them.
    compact: list[str] = []
    for line in lines:
        if line or (compact and compact[-1]):
            compact.append(line)
    return _Normalised("\n".join(compact).strip("\n"), dates)


def _parse_date(token: str) -> dt.date | None:
    try:
        if token[:4].isdigit():
            return dt.date.fromisoformat(token[:10])
        return dt.datetime.strptime(token, "%a %b %d %H:%M:%S %Y").date()
    except ValueError:
        return None


# --- comparing text, numbers, images --------------------------------------------------------


@dataclass
class _Match:
    """Result of comparing one captured thing with its re-executed counterpart."""

    level: int  # 0 same, 1 within tolerance, 2 differs
    reason: str = ""
    captured: str | None = None
    reexecuted: str | None = None


_SAME = _Match(0)


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    text = _redactor().redact_text(text)
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


class _TokenScrubber:
    """Fallback redactor: token-shaped strings only (used if capture.secrets is unavailable)."""

    _token = re.compile(r"[A-Za-z0-9_\-]{40,}")

    def redact_text(self, text: str) -> str:
        return self._token.sub("[REDACTED]", text)


_REDACTOR: Any = None


def _redactor() -> Any:
    """The same redaction snapshot applies: secrets never reach verification.json or stderr."""
    global _REDACTOR
    if _REDACTOR is None:
        try:
            from ecasrepro.capture.secrets import Redactor

            _REDACTOR = Redactor.from_environment()
        except ImportError:
            _REDACTOR = _TokenScrubber()
    return _REDACTOR


def _split_numbers(line: str) -> tuple[list[str], list[str]]:
    """Split a line into the text between numbers and the numbers themselves."""
    texts: list[str] = []
    numbers: list[str] = []
    last = 0
    for match in _NUMBER.finditer(line):
        texts.append(line[last : match.start()])
        numbers.append(match.group(0))
        last = match.end()
    texts.append(line[last:])
    return texts, numbers


def _close(a: str, b: str, tol: Tolerances) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=tol.rtol, abs_tol=tol.atol)


def _compare_tokens(captured: str, new: str, tol: Tolerances) -> _Match:
    """Compare two texts whose numbers may differ within tolerance (and layout by whitespace)."""
    c_texts, c_numbers = _split_numbers(captured)
    n_texts, n_numbers = _split_numbers(new)
    level = 0
    if c_texts != n_texts:
        if len(c_texts) != len(n_texts) or [" ".join(t.split()) for t in c_texts] != [
            " ".join(t.split()) for t in n_texts
        ]:
            return _Match(2, "text differs")
        level = 1
    for a, b in zip(c_numbers, n_numbers, strict=False):
        if a == b:
            continue
        if not _close(a, b, tol):
            return _Match(
                2, f"number {a} became {b} (outside rtol={tol.rtol:g}, atol={tol.atol:g})"
            )
        level = 1
    return _Match(level, "numbers within tolerance" if level else "")


def compare_text(
    captured: str,
    new: str,
    tol: Tolerances,
    *,
    today: dt.date | None = None,
    workdir: str | None = None,
    stderr: bool = False,
) -> _Match:
    """Compare two outputs as text: exact after normalising, numbers within tolerance."""
    c = normalise_text(captured, stderr=stderr)
    n = normalise_text(new, workdir=workdir, stderr=stderr)
    today = today or dt.date.today()
    level = 0
    if c.text != n.text:
        c_lines, n_lines = c.text.split("\n"), n.text.split("\n")
        if len(c_lines) == len(n_lines):
            for number, (a, b) in enumerate(zip(c_lines, n_lines, strict=False), start=1):
                if a == b:
                    continue
                result = _compare_tokens(a, b, tol)
                if result.level == 2:
                    return _Match(2, f"line {number}: {result.reason}", _excerpt(a), _excerpt(b))
                level = max(level, result.level)
        else:
            # Line counts differ: numbers may have changed width and re-wrapped an array.
            result = _compare_tokens(c.text, n.text, tol)
            if result.level == 2:
                first = next(
                    (i for i, (a, b) in enumerate(zip(c_lines, n_lines, strict=False)) if a != b),
                    min(len(c_lines), len(n_lines)),
                )
                a = c_lines[first] if first < len(c_lines) else "(no line)"
                b = n_lines[first] if first < len(n_lines) else "(no line)"
                return _Match(
                    2,
                    f"line {first + 1}: {len(c_lines)} lines became {len(n_lines)}",
                    _excerpt(a),
                    _excerpt(b),
                )
            level = max(level, result.level)
    # Dates: equal, or the re-executed one is "now" (read from the clock) -> volatile.
    for a, b in zip(c.dates, n.dates, strict=False):
        if a == b:
            continue
        new_date = _parse_date(b)
        if new_date is not None and abs((new_date - today).days) <= 1:
            continue
        return _Match(2, f"date {a} became {b}", _excerpt(a), _excerpt(b))
    if level:
        return _Match(1, "numbers or layout within tolerance")
    return _SAME


# PNG decoding with the standard library: enough for matplotlib's 8/16-bit non-interlaced output.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR or a JPEG's SOF marker (no decoding)."""
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                pos += 1
                continue
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    stride = width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += stride + 1
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=False))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    return rows


def _png_pixels(data: bytes) -> bytes | None:
    """IHDR plus the decompressed image data: equal means the same pixels, whatever metadata."""
    if data[:8] != _PNG_SIGNATURE:
        return None
    pos, header, idat = 8, b"", bytearray()
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8 : pos + 8 + length]
        elif kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        elif kind == b"IEND":
            break
        pos += 12 + length
    try:
        return header + zlib.decompress(bytes(idat))
    except zlib.error:
        return None


def _png_grey(data: bytes) -> tuple[int, int, list[list[float]]] | None:
    """Decode a PNG to grey levels 0..255 composited on white; None for unsupported kinds."""
    if data[:8] != _PNG_SIGNATURE:
        return None
    pos = 8
    idat = bytearray()
    palette = b""
    header: tuple[int, ...] | None = None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        return None
    width, height, depth, colour, _, _, interlace = header
    if interlace or depth not in (8, 16) or colour not in _PNG_CHANNELS:
        return None
    channels = _PNG_CHANNELS[colour]
    step = depth // 8
    try:
        rows = _unfilter(zlib.decompress(bytes(idat)), width, height, channels * step)
    except (zlib.error, IndexError):
        return None
    grey: list[list[float]] = []
    for row in rows:
        samples = row[::step] if step > 1 else row  # 16-bit: keep the high byte
        if colour == 0:
            values = [float(v) for v in samples]
        elif colour == 2:
            values = [
                0.299 * r + 0.587 * g + 0.114 * b
                for r, g, b in zip(samples[0::3], samples[1::3], samples[2::3], strict=False)
            ]
        elif colour == 3:
            values = []
            for index in samples:
                r, g, b = palette[3 * index : 3 * index + 3] or b"\0\0\0"
                values.append(0.299 * r + 0.587 * g + 0.114 * b)
        elif colour == 4:
            values = [
                (v * a + 255.0 * (255 - a)) / 255.0
                for v, a in zip(samples[0::2], samples[1::2], strict=False)
            ]
        else:
            values = [
                ((0.299 * r + 0.587 * g + 0.114 * b) * a + 255.0 * (255 - a)) / 255.0
                for r, g, b, a in zip(
                    samples[0::4], samples[1::4], samples[2::4], samples[3::4], strict=False
                )
            ]
        grey.append(values)
    return width, height, grey


def _pillow_grey(data: bytes) -> tuple[int, int, list[list[float]]] | None:
    """Use Pillow when it happens to be installed (JPEG, interlaced PNG); never required."""
    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat = Image.alpha_composite(background, rgba).convert("L")
            width, height = flat.size
            pixels = list(flat.getdata())
    except Exception:
        return None
    return width, height, [
        [float(v) for v in pixels[y * width : (y + 1) * width]] for y in range(height)
    ]


def _block_means(width: int, height: int, grey: list[list[float]], grid: int = 32) -> list[float]:
    columns, rows = min(grid, width), min(grid, height)
    sums = [0.0] * (columns * rows)
    counts = [0] * (columns * rows)
    col_of = [x * columns // width for x in range(width)]
    for y, line in enumerate(grey):
        base = (y * rows // height) * columns
        for x, value in enumerate(line):
            sums[base + col_of[x]] += value
            counts[base + col_of[x]] += 1
    return [s / c if c else 0.0 for s, c in zip(sums, counts, strict=False)]


def image_difference(captured: bytes, new: bytes) -> float | None:
    """RMS of block-mean grey differences on a 32x32 grid, 0 (same) .. 1; None if undecodable."""
    a = _png_grey(captured) or _pillow_grey(captured)
    b = _png_grey(new) or _pillow_grey(new)
    if a is None or b is None or a[:2] != b[:2]:
        return None
    means_a, means_b = _block_means(*a), _block_means(*b)
    squares = sum((x - y) ** 2 for x, y in zip(means_a, means_b, strict=False))
    return math.sqrt(squares / len(means_a)) / 255.0


def compare_image(captured_b64: str, new_b64: str, tol: Tolerances) -> _Match:
    """Images: identical bytes; else equal dimensions and a small perceptual difference."""
    if captured_b64.strip() == new_b64.strip():
        return _SAME
    try:
        captured = base64.b64decode(captured_b64)
        new = base64.b64decode(new_b64)
    except (ValueError, TypeError):
        return _Match(2, "image is not valid base64")
    pixels = _png_pixels(captured)
    if pixels is not None and pixels == _png_pixels(new):
        return _SAME  # same pixels; only metadata chunks (e.g. Software, date) differ
    size_a, size_b = image_size(captured), image_size(new)
    if size_a != size_b:
        def fmt(size: tuple[int, int] | None) -> str:
            return f"{size[0]}x{size[1]}" if size else "unknown"

        return _Match(
            2, f"image size {fmt(size_a)} became {fmt(size_b)}", fmt(size_a), fmt(size_b)
        )
    difference = image_difference(captured, new)
    if difference is None:
        return _Match(1, "same image size; pixels not compared (format not decodable here)")
    if difference <= tol.image:
        return _Match(1, f"image within tolerance (difference {difference:.4f})")
    return _Match(
        2, f"image content differs (difference {difference:.4f} > image tolerance {tol.image:g})"
    )


# --- comparing cells ------------------------------------------------------------------------


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


@dataclass
class _CellOutputs:
    stdout: str = ""
    stderr: str = ""
    rich: list[dict[str, Any]] = field(default_factory=list)  # display_data / execute_result
    error: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return not (self.stdout or self.stderr or self.rich or self.error)


def _is_volatile_display(output: dict[str, Any]) -> bool:
    """A display that only carries a widget or a progress bar (tqdm.auto) is not a result."""
    data = output.get("data", {})
    if not set(data) <= {"text/plain", _WIDGET_MIME, "application/vnd.jupyter.widget-state+json"}:
        return False
    text = normalise_text(_joined(data.get("text/plain", ""))).text
    return _WIDGET_MIME in data or not text or text.startswith(("HBox(", "FloatProgress("))


def _collect(outputs: list[Any]) -> _CellOutputs:
    """Group a cell's outputs: streams joined per channel (interleaving varies), rich in order."""
    collected = _CellOutputs()
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = _joined(output.get("text", ""))
            if output.get("name") == "stderr":
                collected.stderr += text
            else:
                collected.stdout += text
        elif kind in ("display_data", "execute_result"):
            if not _is_volatile_display(output):
                collected.rich.append(output)
        elif kind == "error" and collected.error is None:
            collected.error = output
    if not normalise_text(collected.stderr, stderr=True).text:
        collected.stderr = ""
    if not normalise_text(collected.stdout).text:
        collected.stdout = ""
    return collected


def _compare_rich(
    captured: dict[str, Any], new: dict[str, Any], tol: Tolerances, workdir: str
) -> _Match:
    c_data, n_data = captured.get("data", {}), new.get("data", {})
    worst = _SAME
    for mime, value in c_data.items():
        if mime.startswith("application/vnd.jupyter.widget"):
            continue  # widget model ids are random per kernel
        if mime not in n_data:
            return _Match(2, f"the {mime} representation is missing")
        if mime.startswith("image/") and mime != "image/svg+xml":
            result = compare_image(_joined(value), _joined(n_data[mime]), tol)
        elif mime.endswith("json") and not isinstance(value, (str, list)):
            result = compare_text(
                json.dumps(value, sort_keys=True, indent=1),
                json.dumps(n_data[mime], sort_keys=True, indent=1),
                tol,
                workdir=workdir,
            )
        else:
            result = compare_text(_joined(value), _joined(n_data[mime]), tol, workdir=workdir)
        if result.level == 2:
            return _Match(2, f"{mime}: {result.reason}", result.captured, result.reexecuted)
        if result.level > worst.level:
            worst = result
    return worst


def compare_cell_outputs(
    captured_outputs: list[Any], new_outputs: list[Any], tol: Tolerances, *, workdir: str = ""
) -> tuple[Verdict, str, str | None, str | None, str | None]:
    """Compare one cell: (verdict, reason, which output, captured excerpt, new excerpt)."""
    captured = _collect(captured_outputs)
    new = _collect(new_outputs)
    c_err, n_err = captured.error, new.error
    if n_err is not None and c_err is None:
        message = f"{n_err.get('ename')}: {n_err.get('evalue')}"
        return "new-error", f"raised {_excerpt(message)}", "error", None, _excerpt(message)
    if c_err is not None and n_err is None:
        message = f"{c_err.get('ename')}: {c_err.get('evalue')}"
        return (
            "differs",
            f"raised {_excerpt(message)} when captured but ran without error now",
            "error",
            _excerpt(message),
            None,
        )
    if not captured.empty and new.empty:
        return "missing-output", "the cell produced no output", None, None, None
    level = 0
    if c_err is not None and n_err is not None:
        if c_err.get("ename") != n_err.get("ename"):
            return (
                "differs",
                f"raised {n_err.get('ename')} instead of {c_err.get('ename')}",
                "error",
                _excerpt(str(c_err.get("ename"))),
                _excerpt(str(n_err.get("ename"))),
            )
        result = compare_text(
            str(c_err.get("evalue", "")), str(n_err.get("evalue", "")), tol, workdir=workdir
        )
        if result.level == 2:
            return ("differs", f"error message {result.reason}", "error",
                    result.captured, result.reexecuted)
        level = max(level, result.level)
    for channel in ("stdout", "stderr"):
        a, b = getattr(captured, channel), getattr(new, channel)
        if not a and not b:
            continue
        result = compare_text(a, b, tol, workdir=workdir, stderr=channel == "stderr")
        if result.level == 2:
            return "differs", f"{channel} {result.reason}", channel, result.captured, (
                result.reexecuted
            )
        level = max(level, result.level)
    if len(captured.rich) != len(new.rich):
        return (
            "differs",
            f"{len(captured.rich)} displayed result(s) when captured, {len(new.rich)} now",
            "display",
            None,
            None,
        )
    for number, (a_out, b_out) in enumerate(zip(captured.rich, new.rich, strict=False), start=1):
        result = _compare_rich(a_out, b_out, tol, workdir)
        if result.level == 2:
            return "differs", f"result {number} {result.reason}", f"result {number}", (
                result.captured
            ), result.reexecuted
        level = max(level, result.level)
    if level:
        return "within-tolerance", "equal within tolerance", None, None, None
    return "same", "", None, None, None


# --- environment differences ----------------------------------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> tuple[dict[str, str], list[str]]:
    """Exact pins ``name==version`` from a requirements file; other lines listed as unpinned."""
    pins: dict[str, str] = {}
    unpinned: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;]+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
        else:
            unpinned.append(line)
    return pins, unpinned


_INSPECT_SNIPPET = (
    "import json,platform,sys,importlib.metadata as m\n"
    "d={}\n"
    "for x in m.distributions():\n"
    "    n=x.metadata['Name']\n"
    "    if n: d.setdefault(n,x.version)\n"
    "print(json.dumps({'python':platform.python_version(),'system':platform.system(),"
    "'machine':platform.machine(),'distributions':d}))\n"
)


def _interpreter_facts(interpreter: str) -> dict[str, Any]:
    """Python version and installed distributions of the interpreter that ran the kernel."""
    if os.path.abspath(interpreter) == os.path.abspath(sys.executable):
        namespace: dict[str, Any] = {}
        exec(compile(_INSPECT_SNIPPET.replace("print(", "result=("), "<inspect>", "exec"),
             namespace)
        return json.loads(namespace["result"])
    completed = subprocess.run(
        [interpreter, "-c", _INSPECT_SNIPPET], capture_output=True, text=True, timeout=120,
        check=True,
    )
    return json.loads(completed.stdout)


def _kernel_interpreter(kernel_name: str) -> str | None:
    """The python a kernelspec launches (jupyter_client maps bare ``python`` to ours)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return None
    if spec.language.lower() != "python" or not spec.argv:
        return None
    first = spec.argv[0]
    major, minor = sys.version_info[:2]
    if first in {"python", f"python{major}", f"python{major}.{minor}"}:
        return sys.executable
    return shutil.which(first) or first


def _find_python_version(platform_facts: Any) -> str | None:
    if isinstance(platform_facts, dict):
        for key in ("python_version", "python"):
            value = platform_facts.get(key)
            if isinstance(value, str) and re.match(r"^\d+\.\d+", value):
                return value.split()[0]
            if isinstance(value, dict):
                found = _find_python_version(value)
                if found:
                    return found
        version = platform_facts.get("version")
        if isinstance(version, str) and re.match(r"^\d+\.\d+\.\d+", version):
            return version.split()[0]
    return None


def environment_differences(
    requirements: Path | None, platform_file: Path | None, kernel_name: str
) -> EnvironmentDifferences:
    """Compare the bundle's pins and platform with the kernel's interpreter (never fails)."""
    interpreter = _kernel_interpreter(kernel_name)
    result = EnvironmentDifferences(interpreter=interpreter or f"kernel {kernel_name}")
    if interpreter is None:
        result.note = f"kernel {kernel_name} is not a Python kernel; packages not compared"
        return result
    try:
        facts = _interpreter_facts(interpreter)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        result.note = f"could not inspect {interpreter}: {type(exc).__name__}"
        return result
    result.python_running = facts.get("python")
    platform: dict[str, Any] = {}
    if platform_file is not None and platform_file.is_file():
        try:
            platform = json.loads(platform_file.read_text(encoding="utf-8"))
        except ValueError:
            result.note = f"{platform_file.name} is not valid JSON"
        result.python_captured = _find_python_version(platform)
        for key in ("system", "machine"):
            captured_value = None
            if isinstance(platform, dict):
                nested = platform.get("os")
                captured_value = platform.get(key) or (
                    nested.get(key) if isinstance(nested, dict) else None
                )
            if isinstance(captured_value, str) and captured_value != facts.get(key):
                result.platform[key] = {"captured": captured_value, "running": facts.get(key)}
    if requirements is not None and requirements.is_file():
        pins, result.unpinned = read_pins(requirements)
        installed = {_canonical(k): v for k, v in facts.get("distributions", {}).items()}
        for name, version in sorted(pins.items()):
            running = installed.get(name)
            if running is None:
                result.missing.append(f"{name}=={version}")
            elif running != version:
                result.different.append(PackageDifference(name, version, running))
        result.extra = len(set(installed) - set(pins))
    elif not result.note:
        result.note = "the bundle has no environment/requirements.txt; packages not compared"
    return result


# --- running the notebook -------------------------------------------------------------------


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 60 else line[:57] + "..."
    return ""


def _tags(cell: Any) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


@dataclass
class _Run:
    nb: Any
    seconds: dict[int, float]
    stopped_at: int | None = None  # index of the cell that timed out / killed the kernel
    stop_reason: str = ""
    kernel_log: str = ""  # the kernel's last log line when it died


def _resolve_kernel(nb: Any, kernel_name: str | None, warnings: list[str]) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    if kernel_name:
        if kernel_name not in available:
            raise BadInput(
                f"kernel {kernel_name!r} is not installed "
                f"(installed: {', '.join(sorted(available))}); install it (for Python: "
                f"python -m ipykernel install --user --name {kernel_name}) "
                "or pass --kernel with one of those"
            )
        return kernel_name
    wanted = nb.metadata.get("kernelspec", {}).get("name") or "python3"
    if wanted in available:
        return str(wanted)
    language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get(
        "language_info", {}
    ).get("name", "")
    if str(language).lower() == "python" and "python3" in available:
        warnings.append(f"kernel {wanted!r} is not installed here; ran with 'python3' instead")
        return "python3"
    raise BadInput(
        f"the notebook's kernel {wanted!r} is not installed here; install it (for Python: "
        f"python -m ipykernel install --user --name {wanted}) or pass --kernel NAME"
    )


def _execute(nb: Any, workdir: Path, kernel: str, tol: Tolerances, progress: bool) -> _Run:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = _Run(nb=nb, seconds={})
    started: dict[int, float] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(1 for c in nb.cells if c.cell_type == "code" and SKIP_TAG not in _tags(c))
        bar = tqdm(total=total, desc="re-executing", unit="cell", file=sys.stderr, leave=False)

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        started[cell_index] = time.monotonic()

    def on_executed(cell: Any, cell_index: int, **_: Any) -> None:
        run.seconds[cell_index] = time.monotonic() - started.get(cell_index, time.monotonic())
        if bar is not None:
            bar.update(1)

    client = NotebookClient(
        nb,
        timeout=math.ceil(tol.timeout),
        kernel_name=kernel,
        allow_errors=True,
        skip_cells_with_tag=SKIP_TAG,
        resources={"metadata": {"path": str(workdir)}},
        on_cell_start=on_start,
        on_cell_executed=on_executed,
    )
    # The kernel's own log lines (transport warnings, crashes) go to a file, not the user's stderr.
    log_path = workdir.parent / "kernel-stderr.log"
    try:
        with open(log_path, "wb") as kernel_log:
            client.execute(cwd=str(workdir), stderr=kernel_log)
    except CellTimeoutError:
        run.stopped_at = max(started) if started else 0
        run.stop_reason = "timeout"
    except DeadKernelError:
        run.stopped_at = max(started) if started else 0
        run.stop_reason = "dead-kernel"
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if (
            log_path.is_file()
        ) else []
        run.kernel_log = tail[0][:200] if tail else ""
    finally:
        if bar is not None:
            bar.close()
    return run


#: Files from ``data_dirs`` up to this size are copied into the working copy; bigger ones (input
#: data sets) are symlinked, so verifying never duplicates large inputs.
COPY_LIMIT = 16 * 1024 * 1024
_NOT_MIRRORED = {".git", ".ipynb_checkpoints", "__pycache__", ".venv"}


def _mirror(source: Path, target: Path) -> None:
    """Make ``source``'s files visible under ``target``: small ones copied, large ones linked."""
    for root, dirs, names in os.walk(source):
        here = Path(root)
        # Skip VCS/cache directories and bundles (any directory holding a bagit.txt).
        dirs[:] = [
            d for d in dirs if d not in _NOT_MIRRORED and not (here / d / "bagit.txt").is_file()
        ]
        destination = target / here.relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in names:
            file = here / name
            if not file.is_file():
                continue
            if file.stat().st_size <= COPY_LIMIT:
                shutil.copy2(file, destination / name)
            else:
                (destination / name).symlink_to(file.resolve())


def _prepare_workdir(
    notebook: Path, outputs_dirs: list[Path], data_dirs: list[Path], workdir: Path
) -> Path:
    """Lay out the notebook's directory as it was: inputs, then the notebook, then attachments.

    Later layers win: the bundle's own notebook and attached files replace same-named files
    from ``data_dirs``, so a re-run writes into copies, never into the user's originals.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for directory in data_dirs:
        _mirror(directory, workdir)
    for item in notebook.parent.iterdir():
        if item.is_file():
            (workdir / item.name).unlink(missing_ok=True)
            shutil.copy2(item, workdir / item.name)
    for directory in outputs_dirs:
        if directory.is_dir():
            for file in sorted(p for p in directory.rglob("*") if p.is_file()):
                destination = workdir / file.relative_to(directory)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.unlink(missing_ok=True)
                shutil.copy2(file, destination)
    return workdir / notebook.name


def verify_notebook(
    notebook: str | os.PathLike[str],
    *,
    outputs_dir: str | os.PathLike[str] | None = None,
    data_dirs: Sequence[str | os.PathLike[str]] = (),
    timeout: float = 600.0,
    rtol: float = 1e-6,
    atol: float = 0.0,
    image_tolerance: float = 0.01,
    kernel_name: str | None = None,
    progress: bool = False,
) -> VerificationReport:
    """Re-execute an executed notebook in a temporary copy of its directory and compare outputs.

    ``data_dirs`` (usually the notebook's original directory, holding its inputs) are mirrored
    first, then the notebook's own directory, then ``outputs_dir`` (a bundle's ``data/outputs``),
    so files the notebook read or wrote relative to itself are where they were.
    """
    import nbformat

    from ecasrepro import __version__

    path = Path(notebook)
    if not path.is_file():
        raise BadInput(f"{path} does not exist; pass the path of an executed .ipynb notebook")
    try:
        original = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise BadInput(
            f"{path} is not a readable notebook ({type(exc).__name__}); pass an .ipynb file"
        ) from None
    tol = Tolerances(rtol=rtol, atol=atol, image=image_tolerance, timeout=timeout)
    for directory in data_dirs:
        if not Path(directory).is_dir():
            raise BadInput(
                f"--data {directory} is not a directory; pass the directory that holds the "
                "notebook's input files (usually where the notebook was run)"
            )
    for name, value in (("rtol", rtol), ("atol", atol), ("image tolerance", image_tolerance)):
        if not value >= 0:
            raise BadInput(f"{name} must be a number >= 0, not {value}")
    if not timeout > 0:
        raise BadInput(f"timeout must be a positive number of seconds, not {timeout}")
    warnings: list[str] = []
    kernel = _resolve_kernel(original, kernel_name, warnings)
    global _REDACTOR
    _REDACTOR = None  # one redaction snapshot per run, from the environment the kernel inherits
    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    clock = time.monotonic()

    working = nbformat.from_dict(json.loads(json.dumps(original)))
    for cell in working.cells:
        if cell.cell_type != "code":
            continue
        never_ran = cell.get("execution_count") is None and not cell.get("outputs")
        if never_ran or not cell.source.strip() or _tags(cell) & SKIP_EXECUTION_TAGS:
            cell.metadata.setdefault("tags", []).append(SKIP_TAG)
        cell.outputs = []
        cell.execution_count = None

    with tempfile.TemporaryDirectory(prefix="ecasrepro-verify-") as tmp:
        workdir = Path(tmp) / "notebook"
        outputs = [Path(outputs_dir)] if outputs_dir is not None else []
        _prepare_workdir(path, outputs, [Path(d) for d in data_dirs], workdir)
        run = _execute(working, workdir, kernel, tol, progress)
        cells = _judge(original, run, tol, os.path.realpath(workdir), str(workdir))

    if any(c.verdict == "new-error" and "FileNotFoundError" in c.reason for c in cells):
        warnings.append(
            "a file the notebook reads is missing in the working copy: pass --data DIR with the "
            "directory the notebook ran in (inputs referenced by PID are not copied into bundles)"
        )
    if run.stop_reason == "timeout" and run.stopped_at is not None:
        warnings.append(
            f"cell {run.stopped_at} did not finish within {tol.timeout:g} s, so the run stopped"
            " there; raise --timeout if the analysis needs longer"
        )
    elif run.stop_reason == "dead-kernel":
        warnings.append(
            f"the kernel died while running cell {run.stopped_at} (out of memory or a crash)"
            + (f"; its last log line: {_excerpt(run.kernel_log)}" if run.kernel_log else "")
        )
    return VerificationReport(
        notebook=str(path),
        kernel=kernel,
        tolerances=tol,
        cells=cells,
        started=started_at.isoformat().replace("+00:00", "Z"),
        seconds=time.monotonic() - clock,
        warnings=warnings,
        ecasrepro_version=__version__,
    )


def _judge(original: Any, run: _Run, tol: Tolerances, *workdirs: str) -> list[CellVerdict]:
    cells: list[CellVerdict] = []
    for index, (cell, new_cell) in enumerate(zip(original.cells, run.nb.cells, strict=False)):
        verdict = CellVerdict(
            index=index,
            cell_type=cell.cell_type,
            execution_count=cell.get("execution_count") if cell.cell_type == "code" else None,
            first_line=_first_line(cell.source),
            verdict="skipped",
            seconds=run.seconds.get(index),
        )
        cells.append(verdict)
        if cell.cell_type != "code":
            verdict.reason = f"{cell.cell_type} cell"
            continue
        if SKIP_TAG in _tags(new_cell):
            verdict.reason = (
                "never executed when captured"
                if cell.get("execution_count") is None and not cell.get("outputs")
                else "empty or tagged to skip"
            )
            continue
        if run.stopped_at is not None and index >= run.stopped_at:
            if index == run.stopped_at:
                verdict.verdict = "timeout" if run.stop_reason == "timeout" else "new-error"
                verdict.reason = (
                    f"did not finish within {tol.timeout:g} s"
                    if run.stop_reason == "timeout"
                    else "the kernel died"
                )
            else:
                verdict.verdict, verdict.reason = "not-run", "the run stopped at an earlier cell"
            continue
        if _tags(cell) & IGNORE_OUTPUT_TAGS or "NBVAL_IGNORE_OUTPUT" in cell.source:
            verdict.reason = "output ignored by tag"
            continue
        new_outputs = [dict(o) for o in new_cell.get("outputs", [])]
        for output in new_outputs:
            _as_captured(output, workdirs)
        kind, reason, which, captured, reexecuted = compare_cell_outputs(
            [dict(o) for o in cell.get("outputs", [])], new_outputs, tol
        )
        verdict.verdict, verdict.reason = kind, reason
        verdict.output, verdict.captured, verdict.reexecuted = which, captured, reexecuted
    return cells


def _as_captured(output: dict[str, Any], workdirs: tuple[str, ...]) -> None:
    """Treat a re-executed output as capture did: temp-copy paths marked, secrets redacted."""
    redact = _redactor().redact_text

    def fix(text: str) -> str:
        for workdir in workdirs:
            text = text.replace(workdir, "<NOTEBOOK_DIR>")
        return redact(text)

    if "text" in output:
        output["text"] = fix(_joined(output["text"]))
    if "evalue" in output:
        output["evalue"] = fix(str(output["evalue"]))
    data = output.get("data")
    if isinstance(data, dict):
        output["data"] = {
            mime: (
                fix(_joined(value))
                if isinstance(value, (str, list)) and not mime.startswith("image/")
                else value
            )
            for mime, value in data.items()
        }


# --- bundles --------------------------------------------------------------------------------


@dataclass
class _BundleFiles:
    root: Path
    notebook: Path
    outputs: Path
    requirements: Path
    platform: Path
    handle: Any  # the ecasrepro.bundle.Bundle: reads the layout, writes tag files


def _open_bundle(bundle: Any) -> _BundleFiles:
    """Find the notebook and environment files of a bundle (a Bundle or a path to one)."""
    handle = None
    if hasattr(bundle, "notebook_path") and hasattr(bundle, "write_tag_file"):
        handle = bundle
        root = Path(bundle.path)
    else:
        root = Path(bundle)
        if not root.exists():
            raise BadInput(f"{root} does not exist; pass the path of a .repro bundle directory")
        if root.is_file() and root.suffix.lower() in (".zip", ".tar", ".tgz", ".gz"):
            raise BadInput(
                f"{root} is a packed bundle; unpack it and verify the directory, so that "
                "verification.json can be written into it"
            )
        if not (root / "bagit.txt").is_file() or not (root / "data").is_dir():
            raise BadInput(
                f"{root} is not a bundle (no bagit.txt and data/ in it); "
                "create one with `ecasrepro snapshot NOTEBOOK`"
            )
        from ecasrepro.bundle import Bundle

        handle = Bundle.open(root)
    data = root / "data"
    notebook: Path | None = None
    if handle is not None:
        try:
            notebook = Path(handle.notebook_path)
        except Exception:
            notebook = None
    if notebook is None or not notebook.is_file():
        found = sorted((data / "notebook").glob("*.ipynb")) if (data / "notebook").is_dir() else []
        notebook = found[0] if found else None
    if notebook is None:
        raise BadInput(
            f"{root} holds no notebook (data/notebook/*.ipynb is missing); "
            "re-create the bundle with `ecasrepro snapshot NOTEBOOK`"
        )
    return _BundleFiles(
        root=root,
        notebook=notebook,
        outputs=data / "outputs",
        requirements=data / "environment" / "requirements.txt",
        platform=data / "environment" / "platform.json",
        handle=handle,
    )


def _notebook_fixity(files: _BundleFiles) -> str | None:
    """Check the captured notebook against the bag manifest: a warning when it was altered."""
    manifest = files.root / "manifest-sha256.txt"
    if not manifest.is_file():
        return None
    relative = files.notebook.relative_to(files.root).as_posix()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition(" ")
        if name.strip() == relative:
            actual = hashlib.sha256(files.notebook.read_bytes()).hexdigest()
            if actual != digest.strip().lower():
                return (
                    f"{relative} does not match manifest-sha256.txt: the captured outputs were "
                    "changed after the bundle was made"
                )
            return None
    return f"{relative} is not listed in manifest-sha256.txt"


def write_report(files: _BundleFiles, report: VerificationReport) -> Path:
    """Store verification.json as a tag file via ``Bundle.write_tag_file`` (atomic; it updates
    tagmanifest-sha256.txt). The payload and its manifest stay untouched."""
    data = (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return Path(files.handle.write_tag_file(REPORT_NAME, data))


def _default_data_dirs(files: Any, notes: list[str]) -> list[Path]:
    """Without ``--data``, a bundle that sits beside its own notebook (where ``snapshot`` puts it
    by default) takes its inputs from that directory: the notebook ran there."""
    home = Path(files.root).resolve().parent
    if (home / files.notebook.name).is_file():
        notes.append(
            f"inputs read from {home}, where the bundle's notebook lives; pass --data to choose"
        )
        return [home]
    return []


def verify_bundle(
    bundle: Any,
    *,
    timeout: float = 600.0,
    rtol: float = 1e-6,
    atol: float = 0.0,
    image_tolerance: float = 0.01,
    kernel_name: str | None = None,
    data_dirs: Sequence[str | os.PathLike[str]] = (),
    progress: bool = False,
    write: bool = True,
) -> VerificationReport:
    """Re-execute a bundle's notebook, compare outputs, write ``verification.json`` into it.

    The notebook runs in a temporary copy of its directory: ``data_dirs`` (where its inputs
    are, e.g. the original notebook directory) mirrored first, then ``data/notebook/``, then
    ``data/outputs/`` (attachments keep their layout relative to the notebook).
    Returns the report whatever the verdict; callers decide (the CLI exits 6 when
    ``report.reproduced`` is false). Raises :class:`BadInput` for a path that is not a bundle,
    a bundle without a notebook, or a kernel that is not installed.
    """
    files = _open_bundle(bundle)
    notes: list[str] = []
    if not data_dirs:
        data_dirs = _default_data_dirs(files, notes)
    report = verify_notebook(
        files.notebook,
        outputs_dir=files.outputs,
        data_dirs=data_dirs,
        timeout=timeout,
        rtol=rtol,
        atol=atol,
        image_tolerance=image_tolerance,
        kernel_name=kernel_name,
        progress=progress,
    )
    report.bundle = str(files.root)
    report.notebook = files.notebook.relative_to(files.root).as_posix()
    report.warnings[:0] = notes
    fixity = _notebook_fixity(files)
    if fixity:
        report.warnings.insert(0, fixity)
    report.environment = environment_differences(files.requirements, files.platform, report.kernel)
    if write:
        try:
            report.report_path = write_report(files, report)
        except OSError as exc:  # a bundle on read-only media still gets its verdict
            report.warnings.append(
                f"could not write {REPORT_NAME} into {files.root} ({exc.strerror or exc}); "
                "copy the bundle somewhere writable to keep the report in it"
            )
    return report


def raise_if_not_reproduced(report: VerificationReport) -> None:
    """For callers that want an exception (exit code 6) instead of inspecting the report."""
    if not report.reproduced:
        raise NotReproduced(report.failure_sentence())
