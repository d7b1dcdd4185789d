"""nbval's markers (``ecasrepro.verification.execute``): which cells run, which are compared.

nbval reads a marker as a whole-line comment (``# NBVAL_IGNORE_OUTPUT``, or its older spelling
``# PYTEST_VALIDATE_IGNORE_OUTPUT``) or as a tag (the marker lower-cased with dashes); verify
honours the same forms, and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from ecasrepro.verification import IGNORE_OUTPUT_TAGS, verify_notebook
from ecasrepro.verification.execute import _ignores_output, _skips_execution


@pytest.mark.parametrize(
    "source",
    [
        "# NBVAL_IGNORE_OUTPUT\nprint(1)",
        "# PYTEST_VALIDATE_IGNORE_OUTPUT\nprint(1)",
        "import time\n   #   NBVAL_IGNORE_OUTPUT  \nprint(time.time())",
        "## PYTEST_VALIDATE_IGNORE_OUTPUT",
    ],
)
def test_comment_markers_ignore_the_output(source: str) -> None:
    assert _ignores_output(new_code_cell(source))
    assert not _skips_execution(new_code_cell(source))


@pytest.mark.parametrize(
    "source",
    [
        "print(1)  # NBVAL_IGNORE_OUTPUT",  # after code: nbval does not read it either
        "print('NBVAL_IGNORE_OUTPUT')",  # inside a string
        "# NBVAL_IGNORE_OUTPUT_PLEASE",  # another word
        "# nbval_ignore_output",  # markers are upper case, tags lower case
        "# NBVAL_CHECK_OUTPUT",
    ],
)
def test_look_alike_markers_do_not(source: str) -> None:
    assert not _ignores_output(new_code_cell(source))


@pytest.mark.parametrize(
    "tag", ["nbval-ignore-output", "pytest-validate-ignore-output", "ecasrepro-ignore-output"]
)
def test_tags_ignore_the_output(tag: str) -> None:
    assert tag in IGNORE_OUTPUT_TAGS
    assert _ignores_output(new_code_cell("print(1)", metadata={"tags": ["other", tag]}))
    assert not _ignores_output(new_code_cell("print(1)", metadata={"tags": ["other"]}))


def test_skip_marker_and_tags_skip_the_cell() -> None:
    assert _skips_execution(new_code_cell("# NBVAL_SKIP\nraise SystemExit"))
    assert _skips_execution(new_code_cell("x = 1", metadata={"tags": ["nbval-skip"]}))
    assert not _skips_execution(new_code_cell("x = 1  # NBVAL_SKIP"))
    # A list-of-lines source (as a raw JSON notebook has it) is read the same way.
    assert _ignores_output({"source": ["x = 1\n", "# PYTEST_VALIDATE_IGNORE_OUTPUT\n"]})


def test_a_notebook_with_each_marker_verifies(tmp_path: Path) -> None:
    """Random output under each marker form passes; the inline look-alike is still compared."""
    cells = [
        new_code_cell("import random"),
        new_code_cell("# PYTEST_VALIDATE_IGNORE_OUTPUT\nprint(random.random())"),
        new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(random.random())"),
        new_code_cell(
            "print(random.random())", metadata={"tags": ["pytest-validate-ignore-output"]}
        ),
        new_code_cell("# NBVAL_SKIP\nprint('ran when captured')"),
        new_code_cell("print(random.random())  # NBVAL_IGNORE_OUTPUT"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    NotebookClient(nb, kernel_name="python3").execute()
    # The skipped cell would raise now: if it ran, the verdict would be new-error.
    nb.cells[4].source = "# NBVAL_SKIP\nraise RuntimeError('must not run')"
    nbformat.write(nb, tmp_path / "nb.ipynb")
    report = verify_notebook(tmp_path / "nb.ipynb")
    verdicts = [cell.verdict for cell in report.cells]
    assert verdicts == ["same", "skipped", "skipped", "skipped", "skipped", "differs"]
    assert report.cells[1].reason == "output ignored by tag or marker"
    assert report.cells[4].reason == "empty or tagged to skip"
