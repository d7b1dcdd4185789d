"""Notebooks nobody here wrote the way Jupyter does today: older and newer formats, other kernels,
attachments, raw cells, an empty one. Each fixture (tests/fixtures/notebooks/) goes through
`ecasrepro snapshot` with exit 0 and its warnings, into a valid bag holding an nbformat-valid
notebook; damaged ones are refused with one sentence that names no Python exception."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bagit
import nbformat
import pytest
from click.testing import CliRunner

from ecasrepro.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"

#: A Python exception or warning class name, as it would leak from ``type(exc).__name__``.
EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning)\b")

Check = Callable[[dict[str, Any], str], None]


def check_nbformat2(nb: dict[str, Any], page: str) -> None:
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[0]["source"] == "total = sum(range(10))\ntotal"
    assert code[0]["outputs"][0]["data"]["text/plain"] == "45"
    assert code[1]["outputs"][0]["text"] == "done\n"
    assert ">45<" in page.replace("\n", "")


def check_nbformat3(nb: dict[str, Any], page: str) -> None:
    assert nb["cells"][0] == {**nb["cells"][0], "cell_type": "markdown",
                              "source": "# An nbformat 3 notebook"}
    assert nb["cells"][3]["cell_type"] == "raw"
    assert "image/png" in nb["cells"][2]["outputs"][0]["data"]
    assert '<img alt="' in page and 'src="data:image/png;base64,' in page


def check_running(nb: dict[str, Any], page: str) -> None:
    running = nb["cells"][2]
    assert running["execution_count"] is None
    assert running["outputs"][0]["text"] == "partial output\n"
    assert nb["cells"][1]["execution_count"] == 1
    assert "partial output" in page


def check_future(nb: dict[str, Any], page: str) -> None:
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 99)
    assert nb["cells"][1] == {"cell_type": "hologram", "id": "future", "metadata": {},
                              "payload": {"frames": 3}}
    assert nb["metadata"]["a_future_field"] == {"kept": True}
    assert "A notebook from a newer Jupyter" in page and "print" in page
    main = page[page.index("<main>"):]
    assert "hologram" not in main and "frames" not in main  # nbconvert leaves it out


def check_r(nb: dict[str, Any], page: str) -> None:
    assert nb["metadata"]["language_info"]["name"] == "R"
    assert "hl-r" in page and "hl-ipython" not in page
    assert "14.3333333333333" in page and 'src="data:image/png;base64,' in page


def check_julia(nb: dict[str, Any], page: str) -> None:
    assert nb["metadata"]["kernelspec"]["name"] == "julia-1.10"
    assert "hl-julia" in page and "hl-ipython" not in page


def check_attachments(nb: dict[str, Any], page: str) -> None:
    assert set(nb["cells"][0]["attachments"]) == {"map.png"}
    assert '<img alt="map" src="data:image/png;base64,' in page
    assert "[missing attachment: lost.png]" in page


def check_raw(nb: dict[str, Any], page: str) -> None:
    assert [c["cell_type"] for c in nb["cells"]] == ["raw", "raw", "raw", "code"]
    main = page[page.index("<main>"):]
    # as nbconvert's lab template shows them: text/html raw cells as escaped text, untyped ones
    # as they are, LaTeX ones not at all
    assert '&lt;p class="raw-html"&gt;raw HTML&lt;/p&gt;' in main
    assert "plain raw text" in main and "Raw LaTeX" not in main


def check_empty(nb: dict[str, Any], page: str) -> None:
    assert nb["cells"] == []
    assert "<main>" in page


CASES: dict[str, tuple[list[str], Check]] = {
    "nbformat2": (["nbformat 2 notebook; it was upgraded"], check_nbformat2),
    "nbformat3": (["nbformat 3 notebook; it was upgraded"], check_nbformat3),
    "nbformat3_running_cell": (
        ["saved while cell(s) 3 were still running", "kept as cells that never ran"],
        check_running,
    ),
    "nbformat4_99_unknown_cell": (
        ["nbformat 4.99 notebook, newer than", "does not know: 2 ('hologram')"], check_future
    ),
    "r_kernel": ([], check_r),
    "julia_kernel": ([], check_julia),
    "attachments": (["do not carry: lost.png (cell 1)"], check_attachments),
    "raw_cells": ([], check_raw),
    "empty": (["has no code cells"], check_empty),
}


def snapshot(notebook: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["snapshot", str(notebook), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_notebook_snapshots(tmp_path: Path, name: str) -> None:
    expected_warnings, check = CASES[name]
    notebook = tmp_path / f"{name}.ipynb"
    notebook.write_bytes((FIXTURES / notebook.name).read_bytes())
    out = tmp_path / "bundle"
    code, stdout, stderr = snapshot(notebook, "-o", str(out), "--json", "--license", "CC-BY-4.0")
    assert code == 0, stderr
    warnings = json.loads(stdout)["warnings"]
    for expected in expected_warnings:
        assert any(expected in w for w in warnings), (expected, warnings)
    if name in ("r_kernel", "julia_kernel", "raw_cells"):
        assert warnings == []
    assert not any(EXCEPTION_NAME.search(w) for w in warnings), warnings
    bagit.Bag(str(out)).validate()
    saved = out / "data" / "notebook" / notebook.name
    kept = nbformat.read(saved, as_version=nbformat.NO_CONVERT)  # sources joined into strings
    nbformat.validate(kept)
    page = (out / "data" / "notebook" / f"{name}.html").read_text(encoding="utf-8")
    check(kept, page)


DAMAGED = {
    "no cells (v4 with worksheets)": '{"nbformat": 4, "nbformat_minor": 5, "worksheets": []}',
    "v3 code cell without fields": (
        '{"nbformat": 3, "nbformat_minor": 0, "metadata": {},'
        ' "worksheets": [{"cells": [{"cell_type": "code"}]}]}'
    ),
    "worksheets not a list": (
        '{"nbformat": 3, "nbformat_minor": 0, "worksheets": 5, "metadata": {}}'
    ),
    "cell not an object": '{"nbformat": 4, "nbformat_minor": 5, "cells": [5], "metadata": {}}',
    "cells a string": '{"nbformat": 4, "nbformat_minor": 5, "cells": "abc", "metadata": {}}',
    "future cell without metadata": (
        '{"nbformat": 4, "nbformat_minor": 99, "cells": [{"cell_type": "hologram"}],'
        ' "metadata": {}}'
    ),
    "unknown cell in a current format": (
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {},'
        ' "cells": [{"cell_type": "hologram", "id": "x", "metadata": {}}]}'
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_notebook_refused_in_words(tmp_path: Path, case: str) -> None:
    notebook = tmp_path / "damaged.ipynb"
    notebook.write_text(DAMAGED[case], encoding="utf-8")
    code, _stdout, stderr = snapshot(notebook, "-o", str(tmp_path / "bundle"))
    assert code == 2, stderr
    sentence = stderr.strip()
    assert sentence.startswith("error: damaged.ipynb is not a ") and "\n" not in sentence
    assert "Jupyter notebook" in sentence and sentence.endswith("repair it.")
    assert "internal error" not in sentence
    assert not EXCEPTION_NAME.search(sentence), sentence
    assert not (tmp_path / "bundle").exists()
