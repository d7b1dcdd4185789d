"""What the kernel recorder costs a cell that opens 1,000 small files (goal: under 2%).

    .venv/bin/python bench/bench_recorder.py [--files 1000] [--rounds 15] [--repeats 3]

Three cells, as the issue states them: 1,000 small text files each opened and read with
``open()`` (the audit hook); 1,000 small netCDF files opened with ``netCDF4.Dataset``; the same
1,000 files opened with ``xarray.open_dataset`` (the wrappers, and the ``open`` event xarray
raises when it sniffs a file's format). Each cell reads one attribute per file.

Paired and alternating: four long-lived worker processes run the same cell, round after round,
in a rotating order within each round, so that load from other processes hits them alike:

* ``off``: never installed anything (an audit hook cannot be removed, so the baseline is a
  process that never had one);
* ``on``: ``start_recording()``, what ``%load_ext ecasrepro`` does;
* ``paused``: the recorder installed but paused, so its hook and wrappers run and record
  nothing (the floor the interception itself costs);
* ``hook``: an empty audit hook only (the floor of any audit hook: CPython builds each event's
  arguments and calls Python code once per event).

Each worker times the cell ``--repeats`` times per round (the short text cell five times as
often) and keeps its best; the overhead of
each round is that round's ``on / off - 1``; printed are the median over rounds and the spread
(min..max). The filtering the recorder does once, at snapshot time (``recorded_files``), is
timed in the ``on`` worker after the last round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import sys, time
mode, text_dir, nc_dir = sys.argv[1], sys.argv[2], sys.argv[3]
from ecasrepro.capture import recorder  # every worker loads it: only what it does differs
import netCDF4, xarray
if mode in ("on", "paused"):
    recorder.start_recording()
if mode == "paused":
    _pause = recorder.paused()  # kept: a collected generator would end the pause
    _pause.__enter__()
if mode == "hook":
    def _empty(event, args):
        pass
    sys.addaudithook(_empty)
import os
texts = sorted(os.path.join(text_dir, n) for n in os.listdir(text_dir))
ncs = sorted(os.path.join(nc_dir, n) for n in os.listdir(nc_dir))

def text():
    for name in texts:
        with open(name) as handle:
            handle.read()

def netcdf():
    for name in ncs:
        with netCDF4.Dataset(name) as ds:
            ds.getncattr("tracking_id")

def xr():
    for name in ncs:
        with xarray.open_dataset(name) as ds:
            ds.attrs["tracking_id"]

cells = {"text": text, "netcdf": netcdf, "xarray": xr}
for kind in cells.values():
    kind()  # warm: imports, the OS's page cache
print("ready", flush=True)
for line in sys.stdin:
    kind, repeats = line.split()
    if kind == "scan":
        start = time.perf_counter()
        found = recorder.recorded_files()
        print(f"{time.perf_counter() - start:.6f} {len(found)}", flush=True)
        continue
    best = float("inf")
    for _ in range(int(repeats)):
        recorder.clear()
        start = time.perf_counter()
        cells[kind]()
        best = min(best, time.perf_counter() - start)
    print(f"{best:.6f}", flush=True)
"""

MODES = ("off", "on", "paused", "hook")
CELLS = ("text", "netcdf", "xarray")


def make_files(text_dir: Path, nc_dir: Path, count: int) -> None:
    import netCDF4

    text_dir.mkdir()
    nc_dir.mkdir()
    for i in range(count):
        (text_dir / f"station_{i:04d}.csv").write_text(f"station,t\n{i},{i * 0.1:.1f}\n")
        with netCDF4.Dataset(str(nc_dir / f"tas_{i:04d}.nc"), "w") as ds:
            ds.createDimension("time", 2)
            ds.createVariable("tas", "f4", ("time",))[:] = [280.0, 281.0]
            ds.tracking_id = f"hdl:21.14100/00000000-0000-4000-8000-{i:012d}"


class Worker:
    def __init__(self, mode: str, text_dir: Path, nc_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, mode, str(text_dir), str(nc_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            raise SystemExit(f"the {mode} worker did not start")

    def ask(self, line: str) -> list[float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return [float(x) for x in self.process.stdout.readline().split()]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ecasrepro-bench-recorder-") as tmp:
        text_dir, nc_dir = Path(tmp) / "text", Path(tmp) / "nc"
        make_files(text_dir, nc_dir, args.files)
        workers = {mode: Worker(mode, text_dir, nc_dir) for mode in MODES}
        times: dict[tuple[str, str], list[float]] = {(c, m): [] for c in CELLS for m in MODES}
        try:
            for round_ in range(args.rounds):
                for cell in CELLS:
                    order = MODES[round_ % len(MODES):] + MODES[:round_ % len(MODES)]
                    for mode in order:
                        repeats = args.repeats * (5 if cell == "text" else 1)  # 8 ms: more
                        times[cell, mode].append(workers[mode].ask(f"{cell} {repeats}")[0])
            scan = workers["on"].ask("scan 0")
        finally:
            for worker in workers.values():
                worker.close()
    print(f"recorder overhead, {args.files} small files per cell, {args.rounds} paired rounds "
          f"(best of {args.repeats}, text {args.repeats * 5}), load average {load:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")
    print(f"{'cell':<38} {'off ms':>8} {'on ms':>8}   {'overhead: median (min..max)':<30}")
    for cell, label in (("text", f"open()+read, {args.files} text files"),
                        ("netcdf", f"netCDF4.Dataset, {args.files} files"),
                        ("xarray", f"xarray.open_dataset, {args.files} files")):
        off = times[cell, "off"]
        for mode, what in (("on", "recording"), ("paused", "  floor: recorder paused"),
                           ("hook", "  floor: empty audit hook")):
            ratios = [(b / a - 1) * 100 for a, b in zip(off, times[cell, mode], strict=True)]
            name = label if mode == "on" else what
            print(f"{name:<38} {statistics.median(off) * 1000:8.2f} "
                  f"{statistics.median(times[cell, mode]) * 1000:8.2f}   "
                  f"{statistics.median(ratios):+6.2f}% ({min(ratios):+.2f}..{max(ratios):+.2f})")
    print(f"recorded_files() once at snapshot: {scan[0] * 1000:.1f} ms for "
          f"{int(scan[1])} files")


if __name__ == "__main__":
    main()
