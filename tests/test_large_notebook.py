"""A large notebook is written and rendered in pieces (issue 20 #13): the same bytes as whole.

Peak memory itself is measured by hand with bench/bench_notebook_memory.py; these tests pin the
output, so that the pieces can never drift from what nbformat and nbconvert write in one go.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import nbformat
import pytest

import ecasrepro
from ecasrepro.capture import notebook as nbmod

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def varied_notebook() -> nbformat.NotebookNode:
    """Every part that nbformat treats specially: split lines, attachments, transient keys."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3",
                                       "language": "python"},
                        "orig_nbformat": 3, "title": "Ünïcode ✓", "widgets": {
                            "application/vnd.jupyter.widget-state+json": {
                                "state": {}, "version_major": 2, "version_minor": 0}}})
    png = base64.b64encode(os.urandom(3000)).decode()
    md = nbformat.v4.new_markdown_cell("# Title\n\n![x](attachment:x.png)\nline ✓\n")
    md.attachments = {"x.png": {"image/png": png}}
    code = nbformat.v4.new_code_cell("for i in range(3):\n    print(i)\n", execution_count=1)
    code.metadata["trusted"] = True
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="0\n1\n2\n"),
        nbformat.v4.new_output("display_data", data={"image/png": png,
                                                     "text/plain": "<Figure>\nsize"}),
        nbformat.v4.new_output("execute_result", data={"text/html": "<b>a</b>\n<i>b</i>",
                                                       "application/json": {"k": [1, 2]}},
                               execution_count=1),
        nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["\x1b[31mE\x1b[0m"]),
    ]
    raw = nbformat.v4.new_raw_cell("raw\ntext", metadata={"format": "text/plain"})
    nb.cells = [md, code, raw, nbformat.v4.new_code_cell("")]
    return nb


def notebooks() -> list[nbformat.NotebookNode]:
    example = nbformat.read(EXAMPLES / "temperature_anomaly.ipynb", as_version=4)
    empty = nbformat.v4.new_notebook()
    return [example, varied_notebook(), empty]


def test_notebook_json_in_chunks_is_byte_for_byte_nbformat() -> None:
    for nb in notebooks():
        whole = (nbformat.writes(nb) + "\n").encode("utf-8")
        assert b"".join(nbmod.notebook_json_chunks(nb)) == whole
    nb = varied_notebook()
    assert len(list(nbmod.notebook_json_chunks(nb))) == len(nb.cells) + 2  # one per cell


def test_html_in_batches_is_the_same_page(monkeypatch: pytest.MonkeyPatch) -> None:
    # head + one batch per cell + tail; but never cut beside a raw cell (whitespace is trimmed
    # around it): the varied notebook's [markdown | code, raw, code] are two batches
    example, varied, empty = notebooks()
    for nb, count in ((example, len(example.cells) + 2), (varied, 4), (empty, 1)):
        whole = nbmod.render_html(nb)
        monkeypatch.setattr(nbmod, "HTML_BATCH_CHARS", 1)  # every cell its own batch
        pieces = list(nbmod.render_html_chunks(nb))
        monkeypatch.undo()
        assert "".join(pieces) == whole
        assert len(pieces) == count
    assert list(nbmod.render_html_chunks(varied)) == [nbmod.render_html(varied)]  # small: whole


def test_snapshot_of_a_batched_notebook_writes_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "varied.ipynb"
    nbformat.write(varied_notebook(), source)
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", tmp_path)
    whole = ecasrepro.snapshot(source, output=tmp_path / "whole.repro")
    monkeypatch.setattr(nbmod, "HTML_BATCH_CHARS", 1)
    batched = ecasrepro.snapshot(source, output=tmp_path / "batched.repro")
    for name in ("notebook/varied.ipynb", "notebook/varied.html"):
        assert (batched.data_path / name).read_bytes() == (whole.data_path / name).read_bytes()
    batched.validate()
    digests = {f.relpath: f.sha256 for f in batched.payload_files()}
    assert digests["notebook/varied.html"] == {
        f.relpath: f.sha256 for f in whole.payload_files()}["notebook/varied.html"]
