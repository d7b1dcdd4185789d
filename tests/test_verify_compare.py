"""Text, number and cell comparison (``ecasrepro.verification.compare``), without a kernel.

Outputs are written as nbformat dicts, so each rule of one cell's verdict is checked directly:
which output differed, the excerpts shown, and the tolerance that decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from ecasrepro.verification import Tolerances, compare_cell_outputs, compare_text
from ecasrepro.verification.compare import _collect, _compare_tokens, _split_numbers
from ecasrepro.verification.redaction import _EXCERPT_CHARS, _reset_redactor

TOL = Tolerances()


def stream(text: str, name: str = "stdout") -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def result(data: dict[str, Any], kind: str = "execute_result") -> dict[str, Any]:
    return {"output_type": kind, "data": data, "metadata": {}}


def error(ename: str, evalue: str) -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def test_data_dates_must_match_but_clock_dates_may_not() -> None:
    # A date far from today came from the data: a change is a real difference.
    result = compare_text("first year 1990-01-01", "first year 1991-01-01", TOL)
    assert result.level == 2 and "date 1990-01-01 became 1991-01-01" in result.reason
    today = dt.date.today().isoformat()
    assert compare_text("run on 2021-06-01", f"run on {today}", TOL).level == 0


def test_numbers_compare_with_relative_and_absolute_tolerance() -> None:
    assert compare_text("mean 0.333333333", "mean 0.3333333334", TOL).level == 1
    result = compare_text("mean 0.3333", "mean 0.3334", TOL)
    assert result.level == 2 and "number 0.3333 became 0.3334" in result.reason
    assert compare_text("x 1e-20", "x -3e-20", TOL).level == 2
    assert compare_text("x 1e-20", "x -3e-20", Tolerances(atol=1e-12)).level == 1
    # Versions are text, not numbers; a trailing full stop does not hide a number.
    assert compare_text("numpy 1.26.0", "numpy 1.26.1", TOL).level == 2
    assert compare_text("total 3.5.", "total 3.5000000001.", TOL).level == 1
    # numpy re-aligns columns when a number changes width: layout within tolerance.
    assert compare_text("[0.1  0.25]", "[0.1000000001 0.25]", TOL).level == 1
    assert compare_text("a\nb 1.0", "a\nc 1.0", TOL).level == 2


def test_stderr_warnings_and_stream_interleaving_are_not_results() -> None:
    captured = [
        {"output_type": "stream", "name": "stdout", "text": "a\n"},
        {"output_type": "stream", "name": "stderr", "text": "/x/y.py:3: FutureWarning: o\n  f()\n"},
        {"output_type": "stream", "name": "stdout", "text": "b\n"},
    ]
    new = [{"output_type": "stream", "name": "stdout", "text": "a\nb\n"}]
    assert compare_cell_outputs(captured, new, TOL)[0] == "same"
    assert compare_cell_outputs(captured, [], TOL)[0] == "missing-output"
    error = {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
             "traceback": []}
    verdict, reason, *_ = compare_cell_outputs(captured, [*new, error], TOL)
    assert verdict == "new-error" and "ZeroDivisionError" in reason
    verdict, reason, *_ = compare_cell_outputs([error], new, TOL)
    assert verdict == "differs" and "ran without error" in reason



def test_split_numbers_keeps_the_text_between_them() -> None:
    assert _split_numbers("x=1.5e-3, y=-2 and v1.2.3") == (["x=", ", y=", " and v1.2.3"],
                                                           ["1.5e-3", "-2"])


def test_compare_tokens_levels() -> None:
    assert _compare_tokens("a 1.0", "a 1.0", TOL).level == 0
    assert _compare_tokens("a  1.0", "a 1.0", TOL).level == 1  # whitespace layout only
    assert _compare_tokens("a 1.0", "b 1.0", TOL).reason == "text differs"
    assert _compare_tokens("a 1.0 2.0", "a 1.0", TOL).level == 2  # a number went missing


def test_rewrapped_array_within_tolerance_and_a_real_change_across_lines() -> None:
    captured = "[0.1 0.2\n 0.3]"
    assert compare_text(captured, "[0.1000000001 0.2 0.3]", TOL).level == 1
    changed = compare_text("a\nb\nc 1", "a\nb\nc 2\nd", TOL)
    assert changed.level == 2
    assert changed.reason == "line 3: 3 lines became 4"
    assert (changed.captured, changed.reexecuted) == ("c 1", "c 2")


def test_first_differing_line_is_named_with_excerpts() -> None:
    result_ = compare_text("same\nvalue 1.0", "same\nvalue 2.0", TOL)
    assert result_.reason.startswith("line 2: number 1.0 became 2.0")
    assert (result_.captured, result_.reexecuted) == ("value 1.0", "value 2.0")
    long = compare_text("x" * 400, "y" * 400, TOL)
    assert long.captured is not None and len(long.captured) == _EXCERPT_CHARS
    assert long.captured.endswith("...")


def test_date_within_a_day_of_today_is_clock_but_older_is_data() -> None:
    today = dt.date(2030, 6, 15)
    assert compare_text("on 2001-01-01", "on 2030-06-14", TOL, today=today).level == 0
    moved = compare_text("on 2001-01-01", "on 2030-06-12", TOL, today=today)
    assert moved.level == 2 and moved.reason == "date 2001-01-01 became 2030-06-12"


@pytest.fixture
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    secret = "Zq9-not-a-real-token-4711abcdef"
    monkeypatch.setenv("EXAMPLE_SERVICE_TOKEN", secret)
    _reset_redactor()  # the snapshot is taken from the environment as it is now
    yield secret
    monkeypatch.delenv("EXAMPLE_SERVICE_TOKEN")
    _reset_redactor()


def test_excerpts_are_redacted(secret_in_environment: str) -> None:
    secret = secret_in_environment
    outcome = compare_text(f"key {secret} 1", f"key {secret} 2", TOL)
    assert outcome.level == 2
    assert outcome.captured == "key [REDACTED] 1" and outcome.reexecuted == "key [REDACTED] 2"
    verdict = compare_cell_outputs([], [error("ValueError", f"bad {secret}")], TOL)
    assert verdict[0] == "new-error" and secret not in repr(verdict)


def test_error_messages_compare_as_text() -> None:
    same = compare_cell_outputs([error("KeyError", "'a' at 0x7f00aa11bb22")],
                                [error("KeyError", "'a' at 0x55aa00cc11dd")], TOL)
    assert same[0] == "same"
    verdict, reason, which, captured, new = compare_cell_outputs(
        [error("KeyError", "'a'")], [error("KeyError", "'b'")], TOL
    )
    assert (verdict, which) == ("differs", "error")
    assert reason.startswith("error message line 1: text differs")
    assert (captured, new) == ("'a'", "'b'")


def test_rich_outputs_by_mime_type() -> None:
    captured = [result({"text/plain": "<Figure>", "text/html": "<b>1.0</b>"})]
    assert compare_cell_outputs(captured, [result({"text/plain": "<Figure>"})], TOL)[1] == (
        "result 1 the text/html representation is missing"
    )
    near = [result({"text/plain": "<Figure>", "text/html": "<b>1.0000000001</b>"})]
    assert compare_cell_outputs(captured, near, TOL)[0] == "within-tolerance"
    verdict, reason, which, *_ = compare_cell_outputs(captured, [*captured, *captured], TOL)
    assert (verdict, which) == ("differs", "display")
    assert reason == "1 displayed result(s) when captured, 2 now"


def test_json_data_compares_by_content_not_key_order() -> None:
    captured = [result({"application/json": {"b": 1.0, "a": [1, 2]}})]
    reordered = [result({"application/json": {"a": [1, 2], "b": 1.0}})]
    assert compare_cell_outputs(captured, reordered, TOL)[0] == "same"
    changed = [result({"application/json": {"a": [1, 3], "b": 1.0}})]
    verdict, reason, which, *_ = compare_cell_outputs(captured, changed, TOL)
    assert verdict == "differs" and which == "result 1"
    assert "application/json" in reason and "number 2 became 3" in reason


def test_widgets_and_progress_displays_are_not_results() -> None:
    widget = result({"text/plain": "HBox(children=(FloatProgress(value=0.0),))",
                     "application/vnd.jupyter.widget-view+json": {"model_id": "abc"}},
                    kind="display_data")
    collected = _collect([widget, stream("done\n"), stream("\n", name="stderr")])
    assert collected.rich == [] and collected.stdout == "done\n" and collected.stderr == ""
    assert compare_cell_outputs([stream("done\n")], [widget, stream("done\n")], TOL)[0] == "same"
    # A widget model id inside an otherwise compared display is ignored too.
    def shown(model: str, html: str) -> dict[str, Any]:
        return result({"text/plain": "1", "text/html": html,
                       "application/vnd.jupyter.widget-view+json": {"model_id": model}})

    assert _collect([shown("x", "<i>1</i>")]).rich  # has HTML: a result, compared
    assert compare_cell_outputs([shown("x", "<i>1</i>")], [shown("y", "<i>1</i>")], TOL)[0] == (
        "same"
    )
    assert compare_cell_outputs([shown("x", "<i>1</i>")], [shown("x", "<i>2</i>")], TOL)[0] == (
        "differs"
    )


def test_the_notebook_working_copy_path_is_not_a_difference() -> None:
    captured = [stream("saved <NOTEBOOK_DIR>/out.csv\n")]
    new = [stream("saved /scratch/copy-17/out.csv\n")]
    assert compare_cell_outputs(captured, new, TOL, workdir="/scratch/copy-17")[0] == "same"
    assert compare_cell_outputs(captured, new, TOL)[0] == "differs"
