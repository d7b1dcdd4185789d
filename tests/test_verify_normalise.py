"""Output normalisation (``ecasrepro.verification.normalise``): what counts as volatile text.

Each rule is checked both ways: the volatile part is removed, and look-alike data is kept (a
rule that swallowed real numbers would hide a changed result).
"""

from __future__ import annotations

import datetime as dt

from ecasrepro.verification import VOLATILE_RULES, Tolerances, compare_text, normalise_text
from ecasrepro.verification.normalise import (
    _carriage_returns,
    _joined,
    _parse_date,
    _strip_warnings,
)

TOL = Tolerances()


def test_volatile_parts_are_removed() -> None:
    today = dt.date.today()
    captured = (
        "<__main__.Thing object at 0x7f3a2b1c0d90>\n"
        "started 2023-04-05T10:11:12.123456+00:00, finished Wed Apr  5 10:11:13 2023\n"
        "took 1.23 s, then 12ms and 3.5 µs; clock 10:11:12\n"
        "CPU times: user 1.2 ms, sys: 0 ns, total: 1.2 ms\n"
        "Wall time: 2.5 ms\n"
        "12.3 µs ± 1.1 µs per loop (mean ± std. dev. of 7 runs, 100,000 loops each)\n"
        " 33%|███▎      | 1/3 [00:00<00:00,  9.51it/s]\r"
        "100%|██████████| 3/3 [00:00<00:00, 28.1it/s]\n"
        "tmp at /tmp/tmpab12cd/x.nc; id 123e4567-e89b-12d3-a456-426614174000"
    )
    new = (
        "<__main__.Thing object at 0x55d0c0ffee00>\n"
        f"started {today.isoformat()}T08:00:01.5Z, finished "
        f"{dt.datetime.now().strftime('%a %b %d %H:%M:%S %Y')}\n"
        "took 0.98 s, then 15ms and 2.9 µs; clock 08:00:01\n"
        "CPU times: user 3 ms, sys: 1 ms, total: 4 ms\n"
        "Wall time: 4.1 ms\n"
        "9.8 µs ± 0.2 µs per loop (mean ± std. dev. of 7 runs, 10,000 loops each)\n"
        "100%|██████████| 3/3 [00:00<00:00, 100.5it/s]\n"
        "tmp at /tmp/tmpzz99/x.nc; id 00000000-1111-2222-3333-444444444444"
    )
    result = compare_text(captured, new, TOL)
    assert result.level == 0, result
    assert normalise_text("done\n 50%|#####     | 5/10 [00:01<00:01, 4.9it/s]\n").text == "done"



def test_carriage_returns_keep_the_last_rewrite_of_each_line() -> None:
    assert _carriage_returns("10%\r50%\r100%\ndone") == "100%\ndone"
    assert _carriage_returns("a\r\nb\r") == "a\nb"
    assert _carriage_returns("no returns\n") == "no returns\n"


def test_warning_lines_and_their_source_line_are_dropped() -> None:
    text = (
        "before\n"
        "/opt/lib/x.py:12: DeprecationWarning: old API\n"
        "  old_call()\n"
        "after\n"
        "  indented result stays\n"
    )
    assert _strip_warnings(text) == "before\nafter\n  indented result stays\n"
    # Only on stderr: the same line printed on stdout is a result.
    assert "DeprecationWarning" in normalise_text(text).text
    assert "DeprecationWarning" not in normalise_text(text, stderr=True).text


def test_notebook_directory_and_trailing_blank_lines() -> None:
    normalised = normalise_text("read /work/copy/data.csv   \n\n\n", workdir="/work/copy")
    assert normalised.text == "read <NOTEBOOK_DIR>/data.csv"
    # Runs of blank lines left by removed progress bars shrink to one.
    bars = "a\n 10%|#         | 1/10 [00:00<00:01, 9.0it/s]\n\n\nb"
    assert normalise_text(bars).text == "a\n\nb"


def test_dates_are_set_aside_in_order() -> None:
    normalised = normalise_text("from 1990-01-01 to 2001-02-03T04:05:06Z; Wed Apr  5 10:11:13 2023")
    assert normalised.text == "from <DATE> to <DATE>; <DATE>"
    assert normalised.dates == ["1990-01-01", "2001-02-03T04:05:06Z", "Wed Apr  5 10:11:13 2023"]


def test_look_alikes_of_volatile_parts_are_kept() -> None:
    """Data that resembles a volatile part must survive normalisation."""
    text = "0xff flags; 5 sheep; version 1.2.3; 12:30 meeting; 2 mice"
    assert normalise_text(text).text == text
    assert normalise_text("took 5 s").text == "took <DURATION>"
    assert normalise_text("at 0xdeadbeef").text == "at 0x<ADDR>"


def test_parse_date_reads_iso_and_ctime_and_rejects_others() -> None:
    assert _parse_date("2024-02-29T10:00:00Z") == dt.date(2024, 2, 29)
    assert _parse_date("Wed Apr  5 10:11:13 2023") == dt.date(2023, 4, 5)
    assert _parse_date("2023-02-30") is None


def test_rule_names_are_unique_and_stable() -> None:
    names = [name for name, _, _ in VOLATILE_RULES]
    assert len(names) == len(set(names))
    assert names[:2] == ["ipython-timing", "timeit"]  # before "duration" eats their numbers


def test_joined_accepts_nbformat_lists_and_strings() -> None:
    assert _joined(["a\n", "b"]) == "a\nb"
    assert _joined("plain") == "plain"
    assert _joined(3) == "3"
