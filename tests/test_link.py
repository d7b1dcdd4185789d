"""``--link auto|reflink|hardlink|copy``: attachments cloned (copy-on-write) where the filesystem
can, hard-linked only when asked (with a warning, and publish/verify naming an original edited
later through the fixity record), copied otherwise; the bag is the same whichever way."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules)

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ecasrepro
from ecasrepro.bundle import FICLONE, Bundle
from ecasrepro.errors import BadInput
from ecasrepro.sandbox import SandboxServer
from ecasrepro.verification import verify_bundle
from tests.test_attach_layout import reader_project, tree  # noqa: F401
from tests.test_publish_support import publish_env  # noqa: F401

CRATE = "data/ro-crate-metadata.json"

#: Payload files that state when they were captured (to the second): two snapshots a second
#: apart differ there and nowhere else.
CAPTURE_TIMED = {CRATE, "data/environment/requirements.txt", "data/environment/platform.json"}


def undated(value: Any) -> Any:
    """The crate without its timestamps and without the checksums of the files that hold one
    (two snapshots a second apart differ only there)."""
    if isinstance(value, dict):
        timed = f"data/{value.get('@id')}" in CAPTURE_TIMED
        return {k: undated(v) for k, v in value.items()
                if not k.startswith("date") and not (timed and k == "sha256")}
    if isinstance(value, list):
        return [undated(v) for v in value]
    return value


def same_bag(one: Path, other: Path) -> bool:
    """The same payload paths; every payload file's sha256 and md5 the same but for the capture
    time; bagit.txt, bag-info.txt and the crate (undated) the same."""
    for name in ("manifest-sha256.txt", "manifest-md5.txt"):
        lines = [(b / name).read_text().splitlines() for b in (one, other)]
        entries = [dict(reversed(ln.split(maxsplit=1)) for ln in side) for side in lines]
        if entries[0].keys() != entries[1].keys():
            return False
        if any(entries[0][p] != entries[1][p] for p in entries[0] if p not in CAPTURE_TIMED):
            return False
    crates = [undated(json.loads((b / CRATE).read_text())) for b in (one, other)]
    return crates[0] == crates[1] and all(
        (one / n).read_bytes() == (other / n).read_bytes() for n in ("bagit.txt", "bag-info.txt"))


def can_clone(where: Path) -> str | None:
    """None where FICLONE works in ``where``; else why not (the filesystem type and errno)."""
    source, target = where / "clone-probe-a", where / "clone-probe-b"
    source.write_bytes(b"x" * 4096)
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
        return None
    except OSError as exc:
        kind = subprocess.run(["stat", "-f", "-c", "%T", str(where)], capture_output=True,
                              text=True).stdout.strip() or "unknown"
        return f"{where} is on {kind}, which cannot clone files (FICLONE: " \
               f"{errno.errorcode.get(exc.errno or 0, exc.errno)})"
    finally:
        source.unlink()
        target.unlink(missing_ok=True)


#: Where the reflink tests put the project and the bundle: a directory on a filesystem that
#: can clone (``mkfs.xfs -m reflink=1`` on a loop device, btrfs), else the test's tmp_path.
REFLINK_DIR = "ECASREPRO_TEST_REFLINK_DIR"
FS_IOC_FIEMAP = 0xC020660B  # _IOWR('f', 11, struct fiemap)
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_SHARED = 0x2000
_FIEMAP_HEAD = struct.Struct("=QQIIII")  # fm_start, fm_length, fm_flags, mapped, count, reserved
_FIEMAP_EXTENT = struct.Struct("=QQQQQIIII")  # logical, physical, length, 2 reserved, flags, 3


def extents(path: Path) -> list[tuple[int, int, int]]:
    """(physical offset, length, flags) of each of the file's extents (FIEMAP, up to 32)."""
    count = 32
    request = bytearray(_FIEMAP_HEAD.pack(0, 2**64 - 1, FIEMAP_FLAG_SYNC, 0, count, 0)
                        + bytes(_FIEMAP_EXTENT.size * count))
    with open(path, "rb") as handle:
        fcntl.ioctl(handle.fileno(), FS_IOC_FIEMAP, request)
    mapped = _FIEMAP_HEAD.unpack_from(request)[3]
    found = []
    for index in range(mapped):
        at = _FIEMAP_HEAD.size + index * _FIEMAP_EXTENT.size
        fields = _FIEMAP_EXTENT.unpack_from(request, at)
        found.append((fields[1], fields[2], fields[5]))
    return found


@pytest.fixture
def clone_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory under $ECASREPRO_TEST_REFLINK_DIR (removed after), else tmp_path."""
    base = os.environ.get(REFLINK_DIR)
    if not base:
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="ecasrepro-reflink-", dir=base))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cloneable_project(reader_project: Path, root: Path) -> Path:
    """The reader project copied under *root*, with a 1 MiB output (no inline extent)."""
    if root == reader_project.parent:
        project = reader_project
    else:
        project = root / "project"
        shutil.copytree(reader_project, project)
    (project / "outputs" / "field.bin").write_bytes(os.urandom(1 << 20))
    return project


def test_reflink_is_used_where_the_filesystem_can_clone(
    reader_project: Path, clone_root: Path
) -> None:
    why_not = can_clone(clone_root)
    if why_not:
        pytest.skip(f"{why_not}; the reflink path needs btrfs, XFS or similar (set "
                    f"{REFLINK_DIR} to a directory on one)")
    project = cloneable_project(reader_project, clone_root)
    bundle = ecasrepro.snapshot(project / "analysis.ipynb", link="reflink",
                                attach=[project / "outputs"], output=clone_root / "r.repro")
    assert set(bundle.arrived.values()) == {"reflink"}
    copied = Path(bundle.path) / "data" / "outputs" / "values.txt"
    assert copied.read_text() == "1.5\n2.25\n"
    assert os.stat(copied).st_ino != os.stat(project / "outputs" / "values.txt").st_ino
    # A clone shares the original's blocks: the same physical extents, flagged shared.
    original, clone = project / "outputs" / "field.bin", copied.with_name("field.bin")
    assert clone.read_bytes() == original.read_bytes()
    theirs, ours = extents(original), extents(clone)
    assert ours and [e[:2] for e in ours] == [e[:2] for e in theirs]
    assert all(flags & FIEMAP_EXTENT_SHARED for _start, _length, flags in ours)
    # Changing the original later leaves the bundle's copy as it was (copy on write).
    with open(original, "r+b") as handle:
        handle.write(b"changed")
    assert clone.read_bytes()[:7] != b"changed"
    assert verify_bundle(bundle.path).reproduced


def test_auto_clones_or_copies_and_reflink_alone_says_when_it_cannot(
    reader_project: Path, clone_root: Path
) -> None:
    tmp_path = clone_root
    why_not = can_clone(tmp_path)
    project = cloneable_project(reader_project, clone_root)
    notebook, attach = project / "analysis.ipynb", [project / "outputs"]
    auto = ecasrepro.snapshot(notebook, attach=attach, output=tmp_path / "auto.repro")
    assert set(auto.arrived.values()) == {"copy" if why_not else "reflink"}
    assert not any("hard link" in w for w in auto.warnings)
    if why_not is None:
        return
    with pytest.raises(BadInput) as refused:
        ecasrepro.snapshot(notebook, attach=attach, output=tmp_path / "r.repro", link="reflink")
    assert "--link reflink" in str(refused.value) and "cannot clone" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "r.repro").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.repro")]  # no temp left
    with pytest.raises(BadInput, match="is not one of auto, reflink, hardlink, copy"):
        ecasrepro.snapshot(notebook, attach=attach, output=tmp_path / "x.repro", link="symlink")


def test_hardlink_warns_bags_the_same_and_an_edited_original_is_named(
    reader_project: Path, tmp_path: Path, sandbox: SandboxServer, publish_env: dict[str, str],
) -> None:
    notebook, attach = reader_project / "analysis.ipynb", [reader_project / "outputs"]
    copy = ecasrepro.snapshot(notebook, attach=attach, output=tmp_path / "copy.repro",
                              link="copy")
    linked = ecasrepro.snapshot(notebook, attach=attach, output=tmp_path / "linked.repro",
                                link="hardlink")
    assert set(copy.arrived.values()) == {"copy"}
    assert linked.arrived == {"outputs/values.txt": "hardlink", "outputs/maps/more.txt": "hardlink"}
    original = reader_project / "outputs" / "values.txt"
    in_bag = Path(linked.path) / "data" / "outputs" / "values.txt"
    assert os.stat(in_bag).st_ino == os.stat(original).st_ino
    warning = next(w for w in linked.warnings if "--link hardlink" in w)
    assert "data/outputs/values.txt" in warning and "editing an original" in warning
    assert not any("--link hardlink" in w for w in copy.warnings)
    assert same_bag(Path(copy.path), Path(linked.path))
    assert Bundle.open(linked.path).changed_since_snapshot() == []

    original.write_text("9\n9.5\n")  # the analysis is re-run: the original is rewritten in place
    changed = Bundle.open(linked.path).changed_since_snapshot()
    assert len(changed) == 1 and changed[0].startswith("data/outputs/values.txt changed after")
    assert "hard link (--link hardlink) and its original was edited" in changed[0]
    assert Bundle.open(copy.path).changed_since_snapshot() == []  # the copy is untouched

    with pytest.raises(BadInput) as refused:
        ecasrepro.publish(linked, server=sandbox.url, token=sandbox.token, progress=False)
    message = str(refused.value)
    assert "data/outputs/values.txt changed after the snapshot" in message
    assert "hard link" in message and "\n" not in message
    report = verify_bundle(linked.path)
    assert any(w.startswith("data/outputs/values.txt changed after the snapshot")
               for w in report.warnings), report.warnings
