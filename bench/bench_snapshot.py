"""Benchmark: `ecasrepro snapshot --attach` of large outputs against `sha256sum` of the same files.

The snapshot does more than sha256sum in its one read of each attachment: it copies it, computes
sha256 and md5 (for manifest-sha256.txt and manifest-md5.txt) and scans it for secrets.

    .venv/bin/python bench/bench_snapshot.py [--sizes 256,1024] [--repeats 3] [--dir /tmp]

For each total size, writes files of 256 MiB (fast: repeated random blocks with a counter), warms
the page cache, then alternates `sha256sum FILES` and `ecasrepro snapshot NB -a DIR` runs in the
same process, and prints median wall times, the ratio (target <= 1.25) and the snapshot's peak
RSS (from wait4, per run) to show memory does not grow with file size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "temperature_anomaly.ipynb"
FILE_MIB = 256
BLOCK = 4 * 1024 * 1024


def make_files(directory: Path, total_mib: int) -> list[Path]:
    directory.mkdir(parents=True)
    pool = os.urandom(BLOCK)
    files = []
    for index in range(max(1, total_mib // FILE_MIB)):
        path = directory / f"output_{index:02d}.bin"
        size = min(FILE_MIB, total_mib) * 1024 * 1024
        with path.open("wb") as out:
            for block in range(size // BLOCK):
                out.write(block.to_bytes(8, "little") + pool[8:])
        files.append(path)
    return files


def warm(files: list[Path]) -> None:
    for path in files:
        with path.open("rb") as handle:
            while handle.read(BLOCK):
                pass


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed: {stderr}")
    return elapsed, usage.ru_maxrss // 1024


def bench(total_mib: int, repeats: int, base: Path) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="ecasrepro-bench-", dir=base))
    try:
        files = make_files(work / "outputs", total_mib)
        shutil.copy(NOTEBOOK, work)
        notebook = work / NOTEBOOK.name
        warm(files)
        ecasrepro = str(Path(sys.executable).with_name("ecasrepro"))
        snapshot_cmd = [ecasrepro, "snapshot", str(notebook), "-a", str(work / "outputs"),
                        "-o", str(work / "out.repro"), "--force"]
        hash_times, snap_times, rss = [], [], []
        for _ in range(repeats):
            hash_times.append(timed(["sha256sum", *map(str, files)])[0])
            elapsed, peak = timed(snapshot_cmd)
            snap_times.append(elapsed)
            rss.append(peak)
            shutil.rmtree(work / "out.repro")
        # Fixed cost of a snapshot with no attachments (start-up, capture, HTML), for context.
        fixed = statistics.median(
            timed([ecasrepro, "snapshot", str(notebook), "-o", str(work / "n.repro"),
                   "--force"])[0] for _ in range(repeats)
        )
        return {
            "MiB": total_mib,
            "sha256sum_s": statistics.median(hash_times),
            "snapshot_s": statistics.median(snap_times),
            "no_attach_s": fixed,
            "peak_rss_mib": max(rss),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024", help="total MiB per run, comma separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    print(f"{'attached':>9} {'sha256sum':>10} {'snapshot':>10} {'ratio':>6} "
          f"{'no-attach':>10} {'peak RSS':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(size, args.repeats, args.dir)
        ratio = r["snapshot_s"] / r["sha256sum_s"]
        print(f"{size:>5} MiB {r['sha256sum_s']:>9.2f}s {r['snapshot_s']:>9.2f}s {ratio:>6.2f} "
              f"{r['no_attach_s']:>9.2f}s {r['peak_rss_mib']:>5} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
