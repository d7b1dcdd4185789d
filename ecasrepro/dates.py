"""The one check of an EDTF date as a B2SHARE v3 (InvenioRDM 13) server accepts it.

InvenioRDM validates ``publication_date`` and ``dates[].date`` with marshmallow-utils'
``EDTFDateString``: the ``edtf`` library's grammar, kept to its level-0 ``Date`` and ``Interval``
forms, and an interval must not end before it starts. The v3 client checks with
:func:`is_edtf_date` before any write and the v3 sandbox refuses with it, so both reach the
server's verdict (the decision is in CONTRIBUTING.md, "Publishing to v3").

Standard library only: a low-level module, importable from the client and the sandbox alike.

One job: the one EDTF date check, so that the v3 client and the v3 sandbox cannot disagree.

May import: the standard library only; never anything from ecasrepro.
"""

from __future__ import annotations

import calendar
import re

# A level-0 date: a four-digit year (or a negative one, except -0000), then optionally -MM, then
# optionally -DD. Day ranges follow the grammar: 31/30 by month, 29 for February in every year
# (the edtf grammar knows no leap years, so neither does the server).
_DATE = re.compile(r"(?P<year>-?[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

Bounds = tuple[tuple[int, int, int], tuple[int, int, int]]


def _last_day(year: int, month: int) -> int:
    """The month's real last day: what an interval's upper bound is compared with."""
    if month == 2:
        return 29 if calendar.isleap(year) else 28
    return _DAYS_IN_MONTH[month - 1]


def _bounds(text: str) -> Bounds | None:
    """The first and last day a level-0 date covers, as (year, month, day); None if invalid."""
    found = _DATE.fullmatch(text)
    if found is None or found["year"] == "-0000":
        return None
    year = int(found["year"])
    if found["month"] is None:
        return (year, 1, 1), (year, 12, 31)
    month = int(found["month"])
    if not 1 <= month <= 12:
        return None
    if found["day"] is None:
        return (year, month, 1), (year, month, _last_day(year, month))
    day = int(found["day"])
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        return None
    return (year, month, day), (year, month, day)


def is_edtf_date(text: object) -> bool:
    """True when a v3 server accepts *text* as a date: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``
    (month 01-12, a day that month can have) or an interval ``A/B`` of two such dates in order.
    """
    if not isinstance(text, str):
        return False
    start, slash, end = text.partition("/")
    first = _bounds(start)
    if first is None:
        return False
    if not slash:
        return True
    last = _bounds(end)
    # marshmallow-utils refuses an interval whose latest day is before its earliest day.
    return last is not None and last[1] >= first[0]
