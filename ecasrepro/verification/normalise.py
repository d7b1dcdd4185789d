"""Output normalisation: remove the parts of a cell's text that change on every run.

One job: turn an output's text into the form that two runs of the same analysis share (volatile
memory addresses, clock times, durations, progress bars, temporary paths and random ids replaced,
see :data:`VOLATILE_RULES`); the dates found are kept aside for the comparison to judge.

May import: the standard library only; never anything from ecasrepro (the lowest layer).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

# --- volatile parts of text ------------------------------------------------------------------

# Dates and times are handled apart from the other rules: a date in the re-executed output that
# lies within a day of the re-execution was read from the clock (volatile); any other date came
# from the data and must match (compare_text's date check). Besides ISO and ctime text, the reprs
# Python prints for a date are dates too: ``datetime.datetime(2024, 5, 1, 12, 0, 3, 512)`` (its
# integer fields, however many the value needs; a ``tzinfo=...`` after them stays text),
# ``datetime.date(...)`` and ``time.struct_time(tm_year=...)``. pandas ``Timestamp('...')`` and
# numpy ``datetime64('...')`` quote ISO text, which the first branch reads.
_DATE_TIME = re.compile(
    r"\bdatetime\.datetime\(\d{1,4}, \d{1,2}, \d{1,2}(?:, \d{1,6}){0,4}(?=[,)])"
    r"|\bdatetime\.date\(\d{1,4}, \d{1,2}, \d{1,2}\)"
    r"|\btime\.struct_time\(tm_year=\d{1,4}, tm_mon=\d{1,2}, tm_mday=\d{1,2}(?:, tm_\w+=-?\d+)*\)"
    r"|\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    r"|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\b"
)
# The year, month and day of a repr matched above.
_REPR_DATE = re.compile(r"\((?:tm_year=)?(\d{1,4}), (?:tm_mon=)?(\d{1,2}), (?:tm_mday=)?(\d{1,2})")

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
    # The reprs of a time of day and of an elapsed time under a day (no ``days=`` field), as the
    # two rules above treat "10:11:12" and "3 s"; a timedelta of days is data and is compared.
    ("time-repr", re.compile(r"\bdatetime\.time\(\d{1,2}(?:, \d{1,6}){0,3}(?=[,)])"), "<TIME>"),
    (
        "timedelta-repr",
        re.compile(r"\bdatetime\.timedelta\((?!days=|-?\d+, )[^()]*\)"),
        "<DURATION>",
    ),
]


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
        repr_date = _REPR_DATE.search(token) if token[:1].isalpha() else None
        if repr_date:
            year, month, day = (int(part) for part in repr_date.groups())
            return dt.date(year, month, day)
        if token[:4].isdigit():
            return dt.date.fromisoformat(token[:10])
        return dt.datetime.strptime(token, "%a %b %d %H:%M:%S %Y").date()
    except ValueError:
        return None


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)
