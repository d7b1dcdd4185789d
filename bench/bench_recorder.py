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

Within a round the workers take turns run by run (``--repeats`` runs each, the short text
cell five times as many), each keeping its best; the overhead of
each round is that round's ``on / off - 1``; printed are the median over rounds and the spread
(min..max). The filtering the recorder does once, at snapshot time (``recorded_files``), is
timed in the ``on`` worker after the last round. Last, the floor in nanoseconds per call
(``timeit`` in one more process, steady on a loaded machine): what CPython costs to call an
empty audit hook per event, what the recorder's hook body adds, and what each wrapper costs
around a stand-in that opens nothing; each is shown as a share of one file's time.
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

FLOOR = r"""
import sys, timeit, types
from ecasrepro.capture import recorder

def best(stmt, number=200_000):
    return min(timeit.repeat(stmt, number=number, repeat=7)) / number * 1e9  # ns per call

args = ("/pool/CMIP6/tas_0001.nc", "r", 0)
audit = sys.audit
bare = best(lambda: audit("open", *args))           # no hook in this process yet
def empty(event, arguments):
    pass
sys.addaudithook(empty)
with_empty = best(lambda: audit("open", *args))     # CPython builds the event, calls the hook
recorder._recording = True
body_on = best(lambda: recorder._audit("open", args))  # the recorder's hook body, recording
recorder._recording = False
body_paused = best(lambda: recorder._audit("open", args))
body_empty = best(lambda: empty("open", args))
other = best(lambda: recorder._audit("compile", args))  # any other event

class Plain:  # stands in for the wrapped library (no file is opened: only the wrapping costs)
    def __init__(self, filename=None, mode="r", **kwargs):
        pass
def opener(filename, *a, **k):
    return None
fake_nc = types.SimpleNamespace(Dataset=Plain, __name__="netCDF4")
fake_xr = types.SimpleNamespace(open_dataset=opener, __name__="xarray")
recorder._wrap_netcdf4(fake_nc)
recorder._wrap_xarray(fake_xr)
name = "/pool/CMIP6/tas_0001.nc"
nc_plain = best(lambda: Plain(name))
xr_plain = best(lambda: opener(name))
recorder._recording = True
nc_on = best(lambda: fake_nc.Dataset(name))
xr_on = best(lambda: fake_xr.open_dataset(name))
recorder._recording = False
nc_paused = best(lambda: fake_nc.Dataset(name))
xr_paused = best(lambda: fake_xr.open_dataset(name))
print(with_empty - bare, body_on - body_empty, body_paused - body_empty, other - body_empty,
      nc_on - nc_plain, nc_paused - nc_plain, xr_on - xr_plain, xr_paused - xr_plain)
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
    floor = [float(x) for x in subprocess.run([sys.executable, "-c", FLOOR], check=True,
                                              capture_output=True, text=True).stdout.split()]
    with tempfile.TemporaryDirectory(prefix="ecasrepro-bench-recorder-") as tmp:
        text_dir, nc_dir = Path(tmp) / "text", Path(tmp) / "nc"
        make_files(text_dir, nc_dir, args.files)
        workers = {mode: Worker(mode, text_dir, nc_dir) for mode in MODES}
        times: dict[tuple[str, str], list[float]] = {(c, m): [] for c in CELLS for m in MODES}
        try:
            for round_ in range(args.rounds):
                for cell in CELLS:
                    best = dict.fromkeys(MODES, float("inf"))
                    for repeat in range(args.repeats * (5 if cell == "text" else 1)):  # 8 ms
                        turn = (round_ + repeat) % len(MODES)
                        for mode in MODES[turn:] + MODES[:turn]:  # interleaved run by run
                            best[mode] = min(best[mode], workers[mode].ask(f"{cell} 1")[0])
                    for mode in MODES:
                        times[cell, mode].append(best[mode])
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
    per_file = {cell: statistics.median(times[cell, "off"]) / args.files * 1e9 for cell in CELLS}
    hook, body, body_paused, other, nc, nc_paused, xr, xr_paused = floor
    print("floor, in ns per call (timeit, best of 7), and as a share of one file's time off:")
    print(f"  CPython calling an empty audit hook, per event: {hook:6.0f} ns = "
          f"{hook / per_file['text'] * 100:.2f}% of an open()+read ({per_file['text']:.0f} ns)")
    print(f"  the recorder's hook body beyond an empty one: open {body:5.0f} ns recording, "
          f"{body_paused:.0f} ns paused; any other event {other:.0f} ns")
    print(f"  the netCDF4.Dataset wrapper: {nc:5.0f} ns recording, {nc_paused:.0f} ns paused = "
          f"{nc / per_file['netcdf'] * 100:.3f}% of an open ({per_file['netcdf'] / 1000:.0f} us)")
    print(f"  the xarray.open_dataset wrapper: {xr:5.0f} ns recording, {xr_paused:.0f} ns paused "
          f"= {xr / per_file['xarray'] * 100:.3f}% of an open ({per_file['xarray'] / 1000:.0f} us)")
    print(f"recorded_files() once at snapshot: {scan[0] * 1000:.1f} ms for "
          f"{int(scan[1])} files")


if __name__ == "__main__":
    main()
