"""Re-execution (``ecasrepro.verification.execute``): kernel choice, the working copy, the run.

The working copy is checked file by file (copied or linked, which layer wins, what is left out);
the run uses a real python3 kernel.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ecasrepro.errors import BadInput
from ecasrepro.verification import COPY_LIMIT, SKIP_TAG, Tolerances
from ecasrepro.verification.execute import (
    _execute,
    _mirror,
    _prepare_workdir,
    _resolve_kernel,
    _tags,
)
from ecasrepro.verification.kernels import POOL


def big_file(path: Path) -> Path:
    """A sparse file just over the copy limit: cheap to make, too big to copy."""
    with open(path, "wb") as handle:
        handle.truncate(COPY_LIMIT + 1)
    return path


def test_mirror_copies_small_files_links_big_ones_and_skips_caches(tmp_path: Path) -> None:
    source, target = tmp_path / "project", tmp_path / "copy"
    (source / "data").mkdir(parents=True)
    (source / "data" / "small.csv").write_text("a,b\n")
    big_file(source / "data" / "big.nc")
    for skipped in (".git", ".ipynb_checkpoints", "__pycache__", ".venv"):
        (source / skipped).mkdir()
        (source / skipped / "x").write_text("x")
    (source / "old.repro").mkdir()
    (source / "old.repro" / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    _mirror(source, target)
    assert not (target / "data" / "small.csv").is_symlink()
    assert (target / "data" / "small.csv").read_text() == "a,b\n"
    assert (target / "data" / "big.nc").is_symlink()
    assert (target / "data" / "big.nc").resolve() == (source / "data" / "big.nc").resolve()
    assert sorted(p.name for p in target.iterdir()) == ["data"]


def test_later_layers_win_and_never_write_through_a_link(tmp_path: Path) -> None:
    data = tmp_path / "data-dir"
    data.mkdir()
    (data / "shared.txt").write_text("from data")
    (data / "only-data.txt").write_text("input")
    big_file(data / "result.bin")
    home = tmp_path / "home"
    home.mkdir()
    (home / "nb.ipynb").write_text("{}")
    (home / "shared.txt").write_text("from notebook dir")
    outputs = tmp_path / "outputs"
    (outputs / "sub").mkdir(parents=True)
    (outputs / "result.bin").write_bytes(b"attached")
    (outputs / "sub" / "out.txt").write_text("attached too")
    workdir = tmp_path / "work" / "notebook"

    notebook = _prepare_workdir(home / "nb.ipynb", [outputs], [data], workdir)
    assert notebook == workdir / "nb.ipynb" and notebook.read_text() == "{}"
    assert (workdir / "shared.txt").read_text() == "from notebook dir"
    assert (workdir / "only-data.txt").read_text() == "input"
    assert (workdir / "sub" / "out.txt").read_text() == "attached too"
    # The attachment replaced the link to the user's big file instead of writing into it.
    assert not (workdir / "result.bin").is_symlink()
    assert (workdir / "result.bin").read_bytes() == b"attached"
    assert os.path.getsize(data / "result.bin") == COPY_LIMIT + 1


def test_kernel_choice(tmp_path: Path) -> None:
    warnings: list[str] = []
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    assert _resolve_kernel(nb, None, warnings) == "python3" and warnings == []
    assert _resolve_kernel(new_notebook(), None, warnings) == "python3"  # no kernelspec at all
    with pytest.raises(BadInput, match=r"kernel 'nope-kernel' is not installed .*--kernel"):
        _resolve_kernel(nb, "nope-kernel", warnings)
    nb.metadata["kernelspec"] = {"name": "gone-env"}
    nb.metadata["language_info"] = {"name": "python"}
    assert _resolve_kernel(nb, None, warnings) == "python3"
    assert warnings == ["kernel 'gone-env' is not installed here; ran with 'python3' instead"]
    nb.metadata["language_info"] = {"name": "julia"}
    with pytest.raises(BadInput, match="the notebook's kernel 'gone-env' is not installed here"):
        _resolve_kernel(nb, None, [])


def test_tags_read_cell_metadata() -> None:
    cell = new_code_cell("x", metadata={"tags": ["a", "b"]})
    assert _tags(cell) == {"a", "b"}
    assert _tags(new_code_cell("x")) == set()
    assert _tags({"metadata": {"tags": None}}) == set()


def test_execute_runs_in_the_working_copy_and_skips_tagged_cells(tmp_path: Path) -> None:
    nb = new_notebook(cells=[
        new_code_cell("print(open('input.txt').read())"),
        new_code_cell("print('must not run')", metadata={"tags": [SKIP_TAG]}),
        new_code_cell("import os; print(os.getcwd())"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    with POOL.kernel("python3", prestart=False) as kernel:
        workdir = kernel.workdir  # laid out after the kernel started there, as verify does
        (workdir / "input.txt").write_text("42")
        run = _execute(nbformat.from_dict(nb), kernel, Tolerances(timeout=60), False)
    assert not workdir.exists()  # the kernel's directory goes with it
    assert run.stopped_at is None and run.stop_reason == ""
    assert run.nb.cells[0].outputs[0]["text"] == "42\n"
    assert run.nb.cells[1].outputs == []
    assert run.nb.cells[2].outputs[0]["text"].strip() == str(workdir)
    assert sorted(run.seconds) == [0, 2] and all(s >= 0 for s in run.seconds.values())


def test_a_kernel_that_dies_while_starting_is_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "internal error: RuntimeError: Kernel died before replying to kernel_info"."""
    import json
    import sys

    from ecasrepro.errors import BadInput

    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c",
                 "import sys; print('ImportError: no module named numpy', file=sys.stderr);"
                 " sys.exit(3)", "{connection_file}"],
        "display_name": "Broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = new_notebook(cells=[new_code_cell("print(1)")])
    with POOL.kernel("broken", prestart=False) as kernel, pytest.raises(BadInput) as caught:
        _execute(nbformat.from_dict(nb), kernel, Tolerances(timeout=60), False)
    message = str(caught.value)
    assert "kernel 'broken' died while starting" in message
    assert "ImportError: no module named numpy" in message  # the kernel's own last words
    assert "jupyter kernel --kernel broken" in message  # jupyter_client's own command
