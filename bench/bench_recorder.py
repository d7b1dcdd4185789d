"""What the kernel recorder costs a cell that opens 1,000 small files (goal: under 2%).

    .venv/bin/python bench/bench_recorder.py [--files 1000] [--rounds 7]

Two cells, each timed in fresh interpreters with and without ``start_recording()`` (an audit
hook cannot be removed, so the baseline is a process that never installed one), alternating,
side by side in one run: reading 1,000 small text files with ``open()`` (the audit hook), and
opening 1,000 small netCDF files with ``netCDF4.Dataset`` (the wrapper). Each child runs the
cell several times and reports its best time; the ratio is shown of the medians and of the
best over the rounds (the best is the steadiest on a shared machine).
The filtering the recorder does once, at snapshot time (``recorded_files``), is timed too.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import sys, time
from pathlib import Path
mode, kind, folder, repeats = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
from ecasrepro.capture import recorder  # both children load it: only recording differs
if mode == "on":
    recorder.start_recording()
files = sorted(str(p) for p in folder.iterdir())
if kind == "netcdf":
    import netCDF4
    def cell():
        for name in files:
            with netCDF4.Dataset(name) as ds:
                ds.getncattr("tracking_id")
else:
    def cell():
        for name in files:
            with open(name) as handle:
                handle.read()
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    cell()
    best = min(best, time.perf_counter() - start)
extra = ""
if mode == "on":
    start = time.perf_counter()
    found = recorder.recorded_files()
    extra = f" {time.perf_counter() - start:.6f} {len(found)}"
print(f"{best:.6f}{extra}")
"""


def make_files(folder: Path, count: int, kind: str) -> None:
    folder.mkdir()
    if kind == "text":
        for i in range(count):
            (folder / f"station_{i:04d}.csv").write_text(f"station,t\n{i},{i * 0.1:.1f}\n")
        return
    import netCDF4

    for i in range(count):
        with netCDF4.Dataset(str(folder / f"tas_{i:04d}.nc"), "w") as ds:
            ds.createDimension("x", 2)
            ds.createVariable("tas", "f4", ("x",))[:] = [280.0, 281.0]
            ds.tracking_id = f"hdl:21.14100/00000000-0000-4000-8000-{i:012d}"


def child(mode: str, kind: str, folder: Path, repeats: int) -> list[float]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, kind, str(folder), str(repeats)],
                          capture_output=True, text=True, check=True)
    return [float(x) for x in done.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecasrepro-bench-recorder-") as tmp:
        print(f"{'cell':<44} {'off (ms)':>9} {'on (ms)':>9} {'overhead':>9}")
        for kind, label in (("text", f"open()+read {args.files} text files"),
                            ("netcdf", f"netCDF4.Dataset {args.files} files")):
            folder = Path(tmp) / kind
            make_files(folder, args.files, kind)
            off, on, scan = [], [], []
            for _ in range(args.rounds):
                off.append(child("off", kind, folder, args.repeats)[0])
                result = child("on", kind, folder, args.repeats)
                on.append(result[0])
                scan.append(result[1])
            for how, pick in (("median", statistics.median), ("best", min)):
                a, b = pick(off), pick(on)
                print(f"{label + ' (' + how + ')':<44} {a * 1000:9.2f} {b * 1000:9.2f} "
                      f"{(b / a - 1) * 100:8.2f}%")
            print(f"{'  recorded_files() at snapshot':<44} {statistics.median(scan) * 1000:9.2f}"
                  " ms once")


if __name__ == "__main__":
    main()
