"""Text and number comparison of cell outputs, and the verdict for one cell.

One job: compare a captured output with its re-executed counterpart -- text exactly after
normalisation, numbers within ``rtol``/``atol``, dates unless read from the clock, rich outputs
per MIME type (images and SVG via :mod:`ecasrepro.verification.images`), errors by name and
message -- and turn that into one cell's :data:`Verdict`.

May import: .images, .normalise, .redaction, .report; never ecasrepro.api, ecasrepro.cli,
ecasrepro.magic or a higher module of this package (.execute, .verify).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ecasrepro.verification.images import compare_image, compare_svg, svg_normalised
from ecasrepro.verification.normalise import _joined, _parse_date, normalise_text
from ecasrepro.verification.redaction import _excerpt
from ecasrepro.verification.report import _SAME, Tolerances, Verdict, _Match

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?!\w)(?!\.\d)")


_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


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
        if mime == "image/svg+xml":
            svg = compare_svg(_joined(value), _joined(n_data[mime]), tol)
            result = svg if svg is not None else compare_text(
                svg_normalised(_joined(value)),
                svg_normalised(_joined(n_data[mime])),
                tol,
                workdir=workdir,
            )
        elif mime.startswith("image/"):
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
