"""``--force`` replaces only what ecasrepro made: a user's own BagIt bag is never deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner

import ecasrepro
import ecasrepro.api
from ecasrepro.cli import main
from ecasrepro.errors import BadInput

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REFUSED = "is not an ecasrepro bundle; refusing to replace it"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", root)
    return root


def tree(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` with its bytes: to show that nothing was touched."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def user_bag(path: Path, **extra: str) -> Path:
    """A bag made by bagit-python, as a user would make their own (not by ecasrepro)."""
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    bagit.make_bag(str(path), {"Contact-Name": "Doe, Jane", **extra}, checksums=["sha256"])
    return path


def lookalike(path: Path, agent: str | None) -> Path:
    """A bag with every file name ecasrepro writes, but another agent (or none) in bag-info."""
    (path / "data").mkdir(parents=True)
    (path / "data" / "metadata.json").write_text('{"titles": [{"title": "mine"}]}')
    (path / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (path / "ecasrepro-fixity.json").write_text('{"version": 1, "files": {}}')
    info = "Bagging-Date: 2026-01-01\n" + (f"Bag-Software-Agent: {agent}\n" if agent else "")
    (path / "bag-info.txt").write_text(info)
    return path


def variants(root: Path) -> list[Path]:
    return [
        user_bag(root / "plain-bag"),
        user_bag(root / "bag-with-description", **{"External-Description": "ecasrepro bundle"}),
        lookalike(root / "no-agent", None),
        lookalike(root / "other-agent", "bagit.py v1.8.1 <https://github.com/LibraryOfCongress>"),
        lookalike(root / "agent-mentions-us", "my-ecasrepro-clone 1.0"),
        lookalike(root / "agent-prefix", "ecasreprox 1.0"),
    ]


def test_force_never_replaces_a_bag_ecasrepro_did_not_make(project: Path) -> None:
    notebook = project / "temperature_anomaly.ipynb"
    for target in variants(project):
        before = tree(target)
        with pytest.raises(BadInput, match=REFUSED):
            ecasrepro.snapshot(notebook, output=target, force=True)
        assert tree(target) == before, target.name
        # the refresh path (%ecas_publish, ecasrepro archive) goes through the same check
        with pytest.raises(BadInput, match=REFUSED):
            ecasrepro.api.refresh(notebook, target)
        assert tree(target) == before, target.name
    assert not [p.name for p in project.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_force_refusal_on_the_command_line_is_one_sentence_and_exit_2(project: Path) -> None:
    target = user_bag(project / "mine.repro")
    link = project / "link.repro"
    link.symlink_to(target)
    before = tree(target)
    for output in (target, link):
        result = CliRunner().invoke(
            main, ["snapshot", str(project / "temperature_anomaly.ipynb"), "-o", str(output),
                   "--force"],
        )
        assert result.exit_code == 2, result.output
        assert REFUSED in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert tree(target) == before and link.is_symlink()


def test_force_replaces_ecasrepro_bundles_and_empty_directories(project: Path) -> None:
    notebook = project / "temperature_anomaly.ipynb"
    first = ecasrepro.snapshot(notebook, title="First")
    second = ecasrepro.snapshot(notebook, title="Second", force=True)
    assert second.path == first.path and second.title == "Second"
    third = ecasrepro.api.refresh(notebook, first.path, title="Third")
    assert third.title == "Third"
    empty = project / "empty"
    empty.mkdir()
    assert ecasrepro.snapshot(notebook, output=empty, force=True).path == empty
    # a user's bag with an ecasrepro bag inside it is still the user's
    outer = user_bag(project / "outer")
    shutil.copytree(first.path, outer / "data" / "inner.repro")
    with pytest.raises(BadInput, match=REFUSED):
        ecasrepro.snapshot(notebook, output=outer, force=True)
