"""A snapshot killed with -9 leaves its hidden temporary bag; the next snapshot of the same target
removes it, and only it (never a live run's, another target's or a user's file)."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ecasrepro
from ecasrepro.bundle import remove_stale_temporaries

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLI = "import sys; from ecasrepro.cli import main; sys.exit(main())"
MiB = 1024 * 1024


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", root)
    return root


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def kill_mid_snapshot(project: Path, args: list[str]) -> Path:
    """Start a snapshot, stop it (SIGSTOP) as soon as its temporary bag holds attachment bytes,
    then SIGKILL it: what a kill -9 during the copy leaves."""
    process = subprocess.Popen([sys.executable, "-c", CLI, "snapshot", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            temps = [p for p in project.glob(".*.tmp-*") if p.is_dir()]
            if temps and any(f.stat().st_size > 0 for f in temps[0].glob("data/outputs/*")):
                os.kill(process.pid, signal.SIGSTOP)
                break
            assert process.poll() is None, "the snapshot finished before it could be killed"
            time.sleep(0.002)
        else:
            pytest.fail("no temporary bag appeared")
    finally:
        process.kill()
        process.wait()
    (temp,) = temps
    assert str(process.pid) in temp.name  # the writer's pid is in the name
    return temp


def test_kill_9_leftover_is_removed_by_the_next_snapshot_of_that_target(project: Path) -> None:
    big = project / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(512 * MiB)  # sparse: cheap to make, real bytes to copy
    notebook = str(project / "temperature_anomaly.ipynb")
    temp = kill_mid_snapshot(project, [notebook, "-a", str(big), "-o", str(project / "a.repro")])
    assert temp.is_dir() and (temp / "data").is_dir()  # the leftover the sweep saw
    # a snapshot of another target leaves it alone
    ecasrepro.snapshot(notebook, output=project / "other.repro")
    assert temp.is_dir()
    # the next snapshot of the same target removes it
    bundle = ecasrepro.snapshot(notebook, output=project / "a.repro")
    assert not temp.exists()
    assert temporaries(project) == []
    bundle.validate()


def test_only_dead_unlocked_temporaries_of_this_target_are_removed(project: Path) -> None:
    target = project / "b.repro"
    dead = dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        stale_dir = project / f".b.repro.tmp-{dead}-abc123"
        stale_zip = project / f".b.repro.zip.tmp-{dead}-def456"
        live = project / f".b.repro.tmp-{sleeper.pid}-live01"  # a run still working
        legacy = project / ".b.repro.tmp-k2j4h5"  # an older release's name: owner unknown
        other = project / f".c.repro.tmp-{dead}-zzz999"  # another target's
        locked = project / f".b.repro.tmp-{dead}-lock01"  # pid looks dead, but locked (a
        # writer in another pid namespace)
        aside = project / f".b.repro.old-{dead}-old001"  # the swap never finished: keep
        user_file = project / f".b.repro.tmp-{dead}"  # not a name we give, but close
        for path in (stale_dir, live, legacy, other, locked, aside):
            (path / "data").mkdir(parents=True)
            (path / "data" / "payload.bin").write_bytes(b"x" * 1000)
        stale_zip.write_bytes(b"PK")
        user_file.write_text("mine")
        fd = os.open(locked, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            removed = remove_stale_temporaries(target)
        finally:
            os.close(fd)
        assert sorted(removed) == sorted([stale_dir, stale_zip])
        for kept in (live, legacy, other, locked, aside, user_file):
            assert kept.exists(), kept.name
        # its lock released, the snapshot removes that one too; and once the bundle exists the
        # swap is over, so a dead run's set-aside copy may go as well
        ecasrepro.snapshot(project / "temperature_anomaly.ipynb", output=target)
        assert not locked.exists() and aside.exists()
        assert remove_stale_temporaries(target) == [aside]
        assert live.exists() and legacy.exists() and other.exists() and user_file.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
