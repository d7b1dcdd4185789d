"""Clock-like displays (``ecasrepro.verification.normalise`` and ``compare_text``).

Python's reprs of "now" (``datetime.datetime(...)``, ``datetime.date(...)``, ``time.struct_time``,
pandas ``Timestamp('...')``, numpy ``datetime64('...')``) are read from the clock when they lie
within a day of the re-execution, and from the data otherwise. Each form is checked both ways,
and a changed number beside a clock value must still be a difference.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from ecasrepro.verification import Tolerances, compare_text, normalise_text, verify_notebook
from ecasrepro.verification.normalise import _parse_date

TOL = Tolerances()
TODAY = dt.date(2030, 6, 15)
CAPTURED = dt.datetime(2021, 3, 4, 5, 6, 7, 891011)  # when the notebook ran first
NOW = dt.datetime(2030, 6, 15, 23, 59, 58, 7)  # the re-execution (within a day of TODAY)


def struct(moment: dt.datetime) -> str:
    return repr(time.struct_time(moment.timetuple()))


#: Each clock-like display, as printed at capture time and at re-execution.
FORMS = {
    "datetime": (repr(CAPTURED), repr(NOW)),
    "datetime, whole seconds (fewer fields)": (repr(CAPTURED), repr(NOW.replace(microsecond=0))),
    "datetime with tzinfo": (
        repr(CAPTURED.replace(tzinfo=dt.timezone.utc)),
        repr(NOW.replace(tzinfo=dt.timezone.utc)),
    ),
    "date": (repr(CAPTURED.date()), repr(NOW.date())),
    "struct_time": (struct(CAPTURED), struct(NOW)),
    "pandas Timestamp": (
        "Timestamp('2021-03-04 05:06:07.891011')",
        "Timestamp('2030-06-15 23:59:58.000007')",
    ),
    "pandas Timestamp with tz": (
        "Timestamp('2021-03-04 05:06:07.891011+0000', tz='UTC')",
        "Timestamp('2030-06-15 23:59:58.000007+0000', tz='UTC')",
    ),
    "numpy datetime64": (
        "numpy.datetime64('2021-03-04T05:06:07.891011123')",
        "numpy.datetime64('2030-06-15T23:59:58.000007000')",
    ),
    "in a list": (f"[{CAPTURED!r}]", f"[{NOW!r}]"),
}


@pytest.mark.parametrize("form", FORMS)
def test_a_clock_display_is_volatile(form: str) -> None:
    captured, new = FORMS[form]
    assert compare_text(captured, new, TOL, today=TODAY).level == 0


@pytest.mark.parametrize("form", FORMS)
def test_the_same_display_from_data_must_match(form: str) -> None:
    """A re-executed value far from today came from the data: a change differs."""
    captured, _ = FORMS[form]
    later = captured.replace("2021", "2022")
    result = compare_text(captured, later, TOL, today=TODAY)
    assert result.level == 2 and result.reason.startswith("date "), result
    assert compare_text(captured, captured, TOL, today=TODAY).level == 0


@pytest.mark.parametrize("form", FORMS)
def test_a_changed_number_beside_a_clock_value_still_differs(form: str) -> None:
    captured, new = FORMS[form]
    same = compare_text(f"({captured}, 42.5)", f"({new}, 42.5)", TOL, today=TODAY)
    assert same.level == 0
    changed = compare_text(f"({captured}, 42.5)", f"({new}, 43.5)", TOL, today=TODAY)
    assert changed.level == 2 and "number 42.5 became 43.5" in changed.reason


def test_datetime_fields_are_compared_when_the_date_is_data() -> None:
    """Only the clock check exempts a value: a data datetime one microsecond off differs."""
    a = "datetime.datetime(1990, 1, 1, 0, 0)"
    b = "datetime.datetime(1990, 1, 1, 0, 0, 0, 1)"
    assert compare_text(a, b, TOL, today=TODAY).level == 2
    # A timezone written after the fields stays text: a changed zone is a difference.
    utc = repr(NOW.replace(tzinfo=dt.timezone.utc))
    plus1 = repr(NOW.replace(tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert compare_text(utc, plus1, TOL, today=TODAY).level == 2


def test_time_of_day_and_short_timedeltas_are_volatile_but_days_are_data() -> None:
    assert normalise_text(repr(dt.time(23, 59, 58, 7))).text == "<TIME>)"
    assert compare_text(repr(dt.time(1, 2)), repr(dt.time(3, 4, 5)), TOL).level == 0
    short = (repr(dt.timedelta(seconds=3, microseconds=5)), repr(dt.timedelta(microseconds=9)))
    assert compare_text(*short, TOL).level == 0
    assert normalise_text(repr(dt.timedelta(0))).text == "<DURATION>"
    days = compare_text(repr(dt.timedelta(days=3650)), repr(dt.timedelta(days=3651)), TOL)
    assert days.level == 2 and "number 3650 became 3651" in days.reason
    negative = (repr(dt.timedelta(days=-1, seconds=5)), repr(dt.timedelta(days=-2, seconds=5)))
    assert compare_text(*negative, TOL).level == 2


def test_look_alike_reprs_are_kept() -> None:
    """Not a date: other classes, too few fields, words that only contain the name."""
    for text in ("mydatetime.datetime(2030, 6, 15)", "datetime.datetime(2030, 6)",
                 "Point(2030, 6, 15)", "datetime.date.today"):
        assert normalise_text(text).dates == [], text


def test_parse_date_reads_each_repr() -> None:
    for form in ("datetime", "date", "struct_time", "pandas Timestamp", "numpy datetime64"):
        token = normalise_text(FORMS[form][1]).dates[0]
        assert _parse_date(token) == NOW.date(), form
    assert _parse_date("datetime.date(2023, 2, 30)") is None


def test_a_notebook_that_displays_now_verifies(tmp_path: Path) -> None:
    """Real reprs from a kernel; before this rule the minutes and microseconds differed."""
    nb = new_notebook(cells=[
        new_code_cell("import datetime, time"),
        new_code_cell("datetime.datetime.now()"),
        new_code_cell("print(datetime.datetime.now(datetime.timezone.utc), time.localtime())"),
        new_code_cell("(datetime.date.today(), datetime.datetime.now().time(), 41 + 1)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    NotebookClient(nb, kernel_name="python3").execute()
    nbformat.write(nb, tmp_path / "nb.ipynb")
    time.sleep(1.1)  # the seconds field differs for sure
    report = verify_notebook(tmp_path / "nb.ipynb")
    assert report.reproduced, report.summary()
    # ... and the number beside them is still compared.
    nb.cells[3].outputs[0]["data"]["text/plain"] = nb.cells[3].outputs[0]["data"][
        "text/plain"
    ].replace("42)", "43)")
    nbformat.write(nb, tmp_path / "nb.ipynb")
    changed = verify_notebook(tmp_path / "nb.ipynb")
    assert [c.verdict for c in changed.cells] == ["same", "same", "same", "differs"]
