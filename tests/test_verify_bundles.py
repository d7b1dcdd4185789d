"""Bundle access for verification (``ecasrepro.verification.bundles``): which bundles are
accepted, where their notebook is found, fixity of the captured notebook, default inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest

from ecasrepro.bundle import Bundle
from ecasrepro.errors import BadInput
from ecasrepro.verification.bundles import _default_data_dirs, _notebook_fixity, _open_bundle


def make_bag(where: Path, name: str = "analysis.ipynb") -> Path:
    """The smallest bag ``Bundle.open`` accepts: a notebook, metadata and an environment."""
    root = where / "analysis.repro"
    (root / "notebook").mkdir(parents=True)
    (root / "notebook" / name).write_text(json.dumps({"cells": [], "nbformat": 4}))
    (root / "environment").mkdir()
    (root / "environment" / "requirements.txt").write_text("click==8.1.7\n")
    (root / "metadata.json").write_text(json.dumps({"titles": [{"title": "t"}]}))
    bagit.make_bag(str(root), checksums=["sha256"])
    return root


def test_a_bag_path_and_a_bundle_object_give_the_same_files(tmp_path: Path) -> None:
    root = make_bag(tmp_path)
    by_path = _open_bundle(root)
    by_object = _open_bundle(Bundle.open(root))
    for files in (by_path, by_object):
        assert files.notebook == root / "data" / "notebook" / "analysis.ipynb"
        assert files.outputs == root / "data" / "outputs"
        assert files.requirements == root / "data" / "environment" / "requirements.txt"
        assert files.platform == root / "data" / "environment" / "platform.json"
        assert hasattr(files.handle, "write_tag_file")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "absent.repro", "does not exist; pass the path of a .repro bundle"),
        (lambda tmp: _touch(tmp / "b.repro.zip"), "is a packed bundle; unpack it"),
        (lambda tmp: _mkdir(tmp / "plain"), "is not a bundle (no bagit.txt and data/ in it)"),
    ],
)
def test_paths_that_are_not_bundles_get_one_sentence(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(BadInput) as caught:
        _open_bundle(make(tmp_path))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def _touch(path: Path) -> Path:
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_a_bundle_without_a_notebook_is_bad_input(tmp_path: Path) -> None:
    root = make_bag(tmp_path)
    (root / "data" / "notebook" / "analysis.ipynb").unlink()
    with pytest.raises(BadInput, match="holds no notebook"):
        _open_bundle(root)


def test_fixity_of_the_captured_notebook(tmp_path: Path) -> None:
    root = make_bag(tmp_path)
    files = _open_bundle(root)
    assert _notebook_fixity(files) is None
    files.notebook.write_text("{}")  # edited after the bundle was made
    warning = _notebook_fixity(files)
    assert warning == (
        "data/notebook/analysis.ipynb does not match manifest-sha256.txt: the captured outputs "
        "were changed after the bundle was made"
    )
    manifest = root / "manifest-sha256.txt"
    manifest.write_text("".join(
        line + "\n" for line in manifest.read_text().splitlines() if "analysis.ipynb" not in line
    ))
    unlisted = _notebook_fixity(files)
    assert unlisted == "data/notebook/analysis.ipynb is not listed in manifest-sha256.txt"
    manifest.unlink()
    assert _notebook_fixity(files) is None  # nothing to check against


def test_default_inputs_come_from_beside_the_bundle_only_when_its_notebook_is_there(
    tmp_path: Path,
) -> None:
    files = _open_bundle(make_bag(tmp_path))
    notes: list[str] = []
    assert _default_data_dirs(files, notes) == [] and notes == []
    (tmp_path / "analysis.ipynb").write_text("{}")
    assert _default_data_dirs(files, notes) == [tmp_path.resolve()]
    assert notes == [f"inputs read from {tmp_path.resolve()}, where the bundle's notebook lives; "
                     "pass --data to choose"]
