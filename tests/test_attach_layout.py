"""Where ``--attach`` puts files in a bundle, and that ``verify`` puts them back where the notebook
reads them: for new bundles and for a bundle written by the code before the layout changed
(``tests/fixtures/old-layout.repro``, made by ``tests/fixtures/make_old_layout_bundle.py``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import bagit
import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import ecasrepro
from ecasrepro.bundle import Bundle, resolve_attachments
from ecasrepro.cli import main
from ecasrepro.errors import BadInput
from ecasrepro.verification import verify_bundle

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Reads two attached files by their paths relative to the notebook (as the fixture's notebook).
READER = (
    "from pathlib import Path\n\n"
    "top = Path('outputs/values.txt').read_text().split()\n"
    "more = Path('outputs/maps/more.txt').read_text().split()\n"
    "print('sum', sum(float(v) for v in top + more))"
)


def code_verdicts(report: Any) -> list[str]:
    return [c.verdict for c in report.cells if c.cell_type == "code"]


def layout(specs: list[str], notebook_dir: Path) -> dict[str, str | None]:
    """stored path under outputs/ -> where the notebook saw the file."""
    found = resolve_attachments(specs, bases=[notebook_dir, notebook_dir])
    return {a.relpath: a.notebook_path for a in found}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A notebook directory with outputs/ (nested), figures/, a loose file, and a sibling dir."""
    notebook_dir = tmp_path / "project"
    (notebook_dir / "outputs" / "maps").mkdir(parents=True)
    (notebook_dir / "figures").mkdir()
    (notebook_dir / "outputs" / "values.txt").write_text("1.5\n2.25\n")
    (notebook_dir / "outputs" / "maps" / "more.txt").write_text("3.125\n")
    (notebook_dir / "figures" / "plot.png").write_bytes(b"png")
    (notebook_dir / "summary.txt").write_text("s")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "values.txt").write_text("outside")
    return notebook_dir


def test_an_attached_folder_is_not_named_twice(tree: Path) -> None:
    assert layout([str(tree / "outputs")], tree) == {
        "values.txt": "outputs/values.txt", "maps/more.txt": "outputs/maps/more.txt",
    }
    assert layout([str(tree / "outputs" / "values.txt")], tree) == {
        "values.txt": "outputs/values.txt"
    }
    assert layout([str(tree / "outputs" / "*.txt")], tree) == {"values.txt": "outputs/values.txt"}
    # Subfolders of the attached folder keep their names (only what all attachments share goes).
    assert layout([str(tree / "outputs" / "maps")], tree) == {"more.txt": "outputs/maps/more.txt"}


def test_several_attachments_keep_the_names_that_tell_them_apart(tree: Path) -> None:
    assert layout([str(tree / "outputs"), str(tree / "figures")], tree) == {
        "outputs/values.txt": "outputs/values.txt",
        "outputs/maps/more.txt": "outputs/maps/more.txt",
        "figures/plot.png": "figures/plot.png",
    }
    assert layout([str(tree / "figures"), str(tree / "summary.txt")], tree) == {
        "figures/plot.png": "figures/plot.png", "summary.txt": "summary.txt",
    }


def test_attachments_from_outside_the_notebook_directory(tree: Path) -> None:
    """Stored by name (no path of the machine); no notebook path, so verify uses the stored one."""
    shared = tree.parent / "shared"
    assert layout([str(shared)], tree) == {"values.txt": None}
    assert layout([str(shared / "values.txt"), str(tree / "figures")], tree) == {
        "values.txt": None, "figures/plot.png": "figures/plot.png",
    }
    # outputs/values.txt and shared/values.txt do not collide: outputs/ tells them apart ...
    assert layout([str(tree / "outputs" / "values.txt"), str(shared / "values.txt")], tree) == {
        "outputs/values.txt": "outputs/values.txt", "values.txt": None,
    }
    # ... but a loose file of the same name would be stored at the same place: refused.
    (tree / "values.txt").write_text("loose")
    with pytest.raises(BadInput) as info:
        resolve_attachments([str(tree / "values.txt"), str(shared / "values.txt")],
                            bases=[tree, tree])
    message = str(info.value)
    assert "would both be stored as outputs/values.txt" in message
    assert message.endswith("from the notebook's directory.") and "\n" not in message


def test_collision_is_one_sentence_and_exit_2_from_the_cli(tree: Path, tmp_path: Path) -> None:
    notebook = tree / "analysis.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), notebook)
    (tree / "values.txt").write_text("loose")
    result = CliRunner().invoke(main, ["snapshot", str(notebook), "-a", str(tree / "values.txt"),
                                       "-a", str(tmp_path / "shared" / "values.txt")])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "would both be stored as" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tree / "analysis.repro").exists()


@pytest.fixture
def reader_project(tree: Path) -> Path:
    """``tree`` with an executed notebook that reads outputs/values.txt and outputs/maps/."""
    nb = new_notebook(cells=[new_markdown_cell("# Reader"), new_code_cell(READER)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tree)}}).execute()
    assert nb.cells[1].outputs[0]["text"] == "sum 6.875\n"
    nbformat.write(nb, tree / "analysis.ipynb")
    return tree


def test_verify_puts_an_attached_folder_back_where_the_notebook_reads_it(
    reader_project: Path, tmp_path: Path
) -> None:
    """-a outputs -> data/outputs/values.txt; verify still finds it at outputs/values.txt."""
    away = tmp_path / "away"  # not beside the notebook: nothing is read from the project
    away.mkdir()
    bundle = ecasrepro.snapshot(reader_project / "analysis.ipynb",
                                attach=[reader_project / "outputs"], output=away / "r.repro")
    outputs = Path(bundle.path) / "data" / "outputs"
    assert sorted(p.relative_to(outputs).as_posix() for p in outputs.rglob("*") if p.is_file()) \
        == ["maps/more.txt", "values.txt"]
    assert Bundle.open(bundle.path).attachment_paths() == {
        "values.txt": "outputs/values.txt", "maps/more.txt": "outputs/maps/more.txt",
    }
    report = verify_bundle(bundle.path)
    assert report.reproduced, report.failure_sentence()
    assert code_verdicts(report) == ["same"]
    bagit.Bag(str(bundle.path)).validate()

    # Without the record the files would land at values.txt, where the notebook does not look.
    crate_path = outputs.parent / "ro-crate-metadata.json"
    crate = json.loads(crate_path.read_text())
    for entity in crate["@graph"]:
        entity.pop("alternateName", None)
    crate_path.write_text(json.dumps(crate))
    bagit.Bag(str(bundle.path)).save(manifests=True)
    report = verify_bundle(bundle.path)
    assert not report.reproduced
    assert "FileNotFoundError" in report.cells[1].reason


def test_a_recorded_path_outside_the_notebook_directory_is_refused(
    reader_project: Path, tmp_path: Path
) -> None:
    bundle = ecasrepro.snapshot(reader_project / "analysis.ipynb",
                                attach=[reader_project / "outputs"], output=tmp_path / "r.repro")
    crate_path = Path(bundle.path) / "data" / "ro-crate-metadata.json"
    crate = json.loads(crate_path.read_text())
    for entity in crate["@graph"]:
        if entity.get("alternateName") == "outputs/values.txt":
            entity["alternateName"] = "../../escaped.txt"
    crate_path.write_text(json.dumps(crate))
    bagit.Bag(str(bundle.path)).save(manifests=True)
    result = CliRunner().invoke(main, ["verify", str(bundle.path)])
    assert result.exit_code == 2, result.output
    assert "outside the notebook's directory" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "escaped.txt").exists()


def test_bundle_in_the_old_layout_still_verifies(tmp_path: Path) -> None:
    """data/outputs/outputs/... (the old layout, no path record) still lands in outputs/..."""
    bundle = tmp_path / "old-layout.repro"
    shutil.copytree(FIXTURES / "old-layout.repro", bundle)
    bagit.Bag(str(bundle)).validate()
    assert (bundle / "data" / "outputs" / "outputs" / "maps" / "more.txt").is_file()
    assert Bundle.open(bundle).attachment_paths() == {}
    report = verify_bundle(bundle)
    assert report.reproduced, report.failure_sentence()
    assert code_verdicts(report) == ["same"]
    bagit.Bag(str(bundle)).validate()  # verification.json kept the bag valid
