"""Notebook capture: parsing, validation, upgrade, execution-order facts, inputs, HTML."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from ecasrepro.capture.notebook import capture_notebook, latex_to_html, render_html, tex_to_mathml
from ecasrepro.errors import BadInput

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write_notebook(path: Path, counts: list[int | None], **metadata: object) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata.update(metadata)
    nb.cells.append(nbformat.v4.new_markdown_cell("# My analysis\n\ntext"))
    for i, count in enumerate(counts):
        cell = nbformat.v4.new_code_cell(f"x{i} = {i}\nprint(x{i})", execution_count=count)
        if count is not None:
            cell.outputs = [nbformat.v4.new_output("stream", text=f"{i}\n")]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def test_example_notebook_facts() -> None:
    capture = capture_notebook(EXAMPLES / "temperature_anomaly.ipynb")
    assert capture.kernel_name == "python3"
    assert capture.language == "python"
    assert capture.original_nbformat.startswith("4.")
    assert capture.code_cell_count == capture.executed_cell_count == 5
    assert capture.executed_in_order
    assert capture.warnings == []
    assert capture.first_heading == "Annual temperature anomaly and trend"
    assert "hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2" in capture.declared_inputs


def test_out_of_order_and_never_run_cells_warn(tmp_path: Path) -> None:
    capture = capture_notebook(write_notebook(tmp_path / "a.ipynb", [1, 3, 2, None]))
    assert not capture.executed_in_order
    assert capture.execution_counts == [1, 3, 2, None]
    text = " | ".join(capture.warnings)
    assert "ran out of order (execution counts top to bottom: 1, 3, 2)" in text
    assert "1 code cell(s) of a.ipynb never ran (cell 5)" in text


def test_in_order_with_gaps_is_fine(tmp_path: Path) -> None:
    capture = capture_notebook(write_notebook(tmp_path / "a.ipynb", [2, 5, 9]))
    assert capture.executed_in_order and capture.warnings == []


def test_notebook_without_code_cells_warns(tmp_path: Path) -> None:
    empty = write_notebook(tmp_path / "empty.ipynb", [])
    capture = capture_notebook(empty)
    assert capture.code_cell_count == 0
    assert any("empty.ipynb has no code cells" in w for w in capture.warnings)


def test_empty_file_is_named_empty(tmp_path: Path) -> None:
    (tmp_path / "blank.ipynb").write_bytes(b"")
    with pytest.raises(BadInput, match=r"blank.ipynb is empty"):
        capture_notebook(tmp_path / "blank.ipynb")


def test_v3_notebook_is_upgraded_with_a_warning(tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook()
    ws = nbformat.v3.new_worksheet()
    ws.cells.append(nbformat.v3.new_code_cell(input="print(1)", prompt_number=1,
                                              outputs=[nbformat.v3.new_output("stream", "1\n")]))
    v3.worksheets.append(ws)
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.v3.writes_json(v3))
    capture = capture_notebook(path)
    assert capture.original_nbformat.startswith("3.")
    assert capture.notebook.nbformat == 4
    assert capture.notebook.cells[0].source == "print(1)"
    assert any("nbformat 3" in w and "upgraded to nbformat 4" in w for w in capture.warnings)
    nbformat.validate(capture.notebook)


def test_file_older_than_last_execution_warns(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "a.ipynb", [1])
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["execution"] = {"shell.execute_reply": "2031-01-01T00:00:00.000000Z"}
    nbformat.write(nb, path)
    past = time.time() - 3600
    os.utime(path, (past, past))
    capture = capture_notebook(path)
    assert any("older than its last recorded execution" in w for w in capture.warnings)


def test_tracking_ids_are_harvested_from_outputs(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "a.ipynb", [1])
    nb = nbformat.read(path, as_version=4)
    pid = "hdl:21.14100/0a1b2c3d-0000-4000-8000-123456789abc"
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text=f"tracking_id: {pid}\n")]
    nbformat.write(nb, path)
    assert capture_notebook(path).harvested_inputs == [pid]
    assert capture_notebook(path, harvest=False).harvested_inputs == []


def test_ids_are_harvested_from_html_and_json_outputs_only(tmp_path: Path) -> None:
    """xarray's HTML display holds the full tracking id its text display cuts short; ids in
    markdown, in source and in a cut-short text are not inputs."""
    path = write_notebook(tmp_path / "a.ipynb", [1])
    nb = nbformat.read(path, as_version=4)
    cmip6 = "hdl:21.14100/0a1b2c3d-0000-4000-8000-123456789abc"
    cordex = "hdl:21.14103/11111111-2222-4333-8444-555555555555"
    cmip7 = "hdl:21.14107/66666666-7777-4888-9999-000000000000"
    in_prose = "hdl:21.14100/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    in_code = "hdl:21.14100/99999999-8888-4777-8666-555555555555"
    html_display = (
        '<div class="xr-wrap"><dl class="xr-attrs"><dt><span>tracking_id :</span></dt>'
        f"<dd>{cmip6} {cordex}</dd></dl></div>")
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"Data: {in_prose}"))
    nb.cells[-1].source = f"ds = open('{in_code}')"
    nb.cells[-1].outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/plain": "tracking_id:  hdl:21.14100/0a1b2c3d-0000-4000-80...",
            "text/html": html_display}),
        nbformat.v4.new_output("execute_result", execution_count=1,
                               data={"application/json": {"attrs": {"tracking_id": cmip7}}}),
    ]
    nbformat.write(nb, path)
    assert capture_notebook(path).harvested_inputs == [cmip6, cordex, cmip7]


def test_missing_not_json_and_not_a_notebook(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"notebook .*nope\.ipynb does not exist; check the path"):
        capture_notebook(tmp_path / "nope.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("this is not json")
    with pytest.raises(BadInput, match=r"bad\.ipynb is not JSON .*pass the \.ipynb file"):
        capture_notebook(bad)
    other = tmp_path / "x.json"
    other.write_text(json.dumps({"a": 1}))
    with pytest.raises(BadInput) as info:
        capture_notebook(other)
    assert str(info.value) == (
        "x.json is JSON but not a Jupyter notebook (no 'cells'/'nbformat' fields); "
        "pass the .ipynb file."
    )


def test_invalid_notebook_structure_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                "cells": [{"cell_type": "code", "source": 5}]}))
    expected = r"broken\.ipynb is not a (valid|readable) Jupyter notebook .*repair it"
    with pytest.raises(BadInput, match=expected):
        capture_notebook(path)


def test_bad_declared_inputs_are_bad_input(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "a.ipynb", [1], ecasrepro={"inputs": {"x": 1}})
    with pytest.raises(BadInput, match=r"'ecasrepro\.inputs' must be a list"):
        capture_notebook(path)


def test_html_rendering_contains_the_outputs() -> None:
    capture = capture_notebook(EXAMPLES / "temperature_anomaly.ipynb")
    html = render_html(capture.notebook)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "trend: +0.185 degC per decade" in html


@pytest.mark.slow
def test_execute_runs_the_notebook_in_its_directory(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    path = tmp_path / "t.ipynb"
    nb = nbformat.read(EXAMPLES / "temperature_anomaly.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    assert capture_notebook(path).executed_cell_count == 0
    capture = capture_notebook(path, execute=True, timeout=60)
    assert capture.executed_now and capture.executed_in_order and capture.warnings == []
    original = nbformat.read(EXAMPLES / "temperature_anomaly.ipynb", as_version=4)
    assert [c.get("outputs") for c in capture.notebook.cells] == [
        c.get("outputs") for c in original.cells
    ]
    assert (tmp_path / "outputs" / "anomaly.csv").read_text() == (
        EXAMPLES / "outputs" / "anomaly.csv"
    ).read_text()


def test_math_becomes_mathml_and_unparsable_tex_stays_readable() -> None:
    page = latex_to_html(r"cost \$3 <b>: $x<y$ and \begin{equation}\label{e1}E=mc^2\end{equation}")
    assert page.startswith(r"cost \$3 &lt;b&gt;: <math ")
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in page
    assert "<mo>&#x0003C;</mo>" in page and 'display="block"' in page
    assert "label" not in page and "e1" not in page
    broken = tex_to_mathml(r"\left( <x", display=False)
    assert broken == r'<code class="ecasrepro-tex">\left( &lt;x</code>'
