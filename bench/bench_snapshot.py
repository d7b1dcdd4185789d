"""Benchmark: `ecasrepro snapshot --attach` of large outputs against the serial work it must do.

The snapshot does more than sha256sum in its one read of each attachment: it copies it (or links
it), computes sha256 and md5 (for manifest-sha256.txt and manifest-md5.txt) and scans it for
secrets.

    .venv/bin/python bench/bench_snapshot.py [--sizes 1024] [--repeats 5] [--dir /tmp]

For each total size, writes files of 256 MiB (fast: repeated random blocks with a counter), warms
the page cache, then runs, in every round and in a rotating order: `snapshot --link copy`,
`cp -r` of the files followed by `md5sum` of the copies (the serial baseline: goal snapshot <=
1.0x), coreutils `sha256sum`, `snapshot --link hardlink` and `md5sum` of the data alone (goal
hardlink <= 1.1x). Prints the median and the spread (min-max) of each, the per-round ratios'
medians, the snapshot's peak RSS (from wait4) and the fixed cost of a snapshot without
attachments, and the attachments' share of the snapshot (snapshot minus that fixed cost) against
the same baselines. The ceiling: each snapshot's CPU seconds (user + system, from wait4)
spread perfectly over every core, against its baseline's wall time in the same round, is the
best ratio the work it does allows however well its stages overlap.

Then, in this process, each stage alone on the same data (1 MiB chunks, as the snapshot reads):
read from the page cache, write, `os.copy_file_range`, sha256, md5, `ChunkScanner.feed`, and
the snapshot's own copy loop (`bundle.place_hashed`, copy and hardlink) as a whole, rotated per
round; for each, how long it holds the GIL per MiB (a pure-Python counter thread beside it: the
share of its rate lost while the stage runs, times the stage's wall time). `--stages-only` skips
the subprocess sides.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in MiB, CPU seconds user + system) of one child process."""
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
    return elapsed, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class GilMeter:
    """A pure-Python counter on its own thread: how much of the GIL a stage leaves to others."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop:
            self.count += 1

    def __enter__(self) -> GilMeter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop = True
        self._thread.join()

    def rate(self, seconds: float = 0.3) -> float:
        start, begun = self.count, time.perf_counter()
        time.sleep(seconds)
        return (self.count - start) / (time.perf_counter() - begun)


def stages(files: list[Path], repeats: int, work: Path) -> None:
    """Each stage of the snapshot's copy alone, in this process, on the bench files."""
    sys.path.insert(0, str(REPO))
    from ecasrepro import bundle
    from ecasrepro.capture.secrets import Redactor

    redactor = Redactor(["bench-known-secret-value-1234"])
    chunk = bundle.CHUNK_SIZE
    total = sum(p.stat().st_size for p in files)
    with files[0].open("rb") as handle:  # one file's chunks, fed len(files) times: 1 MiB each
        chunks = [c for c in iter(lambda: handle.read(chunk), b"")]
    target = work / "stage.out"

    def each_chunk(consume: Callable[[bytes], object]) -> Callable[[], None]:
        def run() -> None:
            for _ in files:
                for piece in chunks:
                    consume(piece)
        return run

    def read() -> None:
        for path in files:
            with open(path, "rb", buffering=0) as src:
                while src.read(chunk):
                    pass

    def write() -> None:
        with open(target, "wb", buffering=0) as out:
            each_chunk(out.write)()
        target.unlink()

    def copy_range() -> None:
        for path in files:
            with open(path, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
                left = os.fstat(src.fileno()).st_size
                while left > 0:
                    left -= os.copy_file_range(src.fileno(), dst.fileno(), left)
            target.unlink()

    def scan() -> None:
        for path in files:  # as the snapshot scans: lines counted from the file, for hits only
            scanner = redactor.scanner("x", source=path)
            for piece in chunks:
                scanner.feed(piece)
            scanner.findings()

    def placed(link: str) -> Callable[[], None]:
        def run() -> None:
            for path in files:
                source = path if link == "copy" else work / "linked-source"
                if link != "copy":
                    shutil.copyfile(files[0], source) if not source.exists() else None
                bundle.place_hashed(source, target, link, redactor.scanner("x"))
                target.unlink()
        return run

    work.joinpath("linked-source").unlink(missing_ok=True)
    os.link(files[0], work / "linked-source")
    sides: dict[str, Callable[[], None]] = {
        "read (page cache)": read,
        "write": write,
        "copy_file_range": copy_range,
        "sha256": each_chunk(hashlib.sha256().update),
        "md5": each_chunk(hashlib.md5(usedforsecurity=False).update),
        "ChunkScanner.feed": scan,
        "place_hashed copy": placed("copy"),
        "place_hashed hardlink": placed("hardlink"),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    held: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    mib = total / 2**20
    for round_ in range(repeats):  # the times: each stage alone, nothing else running
        for name in order[round_ % len(order):] + order[:round_ % len(order)]:
            os.sync()
            begun = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - begun)
    # The GIL: the same stages beside a Python counter thread (which slows GIL-releasing stages
    # too, as any busy Python thread does: their times here are not the stages' times).
    with GilMeter() as meter:
        for _round in range(max(1, repeats // 2)):
            for name in order:
                os.sync()
                alone = meter.rate()
                before, begun = meter.count, time.perf_counter()
                sides[name]()
                elapsed = time.perf_counter() - begun
                beside = (meter.count - before) / elapsed
                held[name].append(max(0.0, 1 - beside / alone) * elapsed / mib * 1000)
    (work / "linked-source").unlink()
    print(f"stages in one process, {mib:.0f} MiB each, {repeats} rounds, median (min-max); "
          "GIL held in ms per MiB, median, beside a counter thread:")
    for name in sides:
        values = times[name]
        print(f"  {name:>22}: {statistics.median(values):.2f}s "
              f"({min(values):.2f}-{max(values):.2f}); GIL {statistics.median(held[name]):.2f}")


def bench(total_mib: int, repeats: int, base: Path, stages_only: bool = False) -> None:
    work = Path(tempfile.mkdtemp(prefix="ecasrepro-bench-", dir=base))
    try:
        files = make_files(work / "outputs", total_mib)
        shutil.copy(NOTEBOOK, work)
        notebook = work / NOTEBOOK.name
        warm(files)
        print(f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
        if stages_only:
            stages(files, repeats, work)
            return
        ecasrepro = str(Path(sys.executable).with_name("ecasrepro"))
        names = list(map(str, files))

        def snapshot(link: str) -> tuple[float, int, float]:
            done = timed([ecasrepro, "snapshot", str(notebook), "-a", str(work / "outputs"),
                          "-o", str(work / "out.repro"), "--force", "--link", link])
            shutil.rmtree(work / "out.repro")
            return done

        def cp_md5() -> tuple[float, int, float]:
            start, cpu = time.perf_counter(), children_cpu()
            subprocess.run(["cp", "-r", str(work / "outputs"), str(work / "copy")], check=True)
            subprocess.run(["md5sum", *[str(work / "copy" / p.name) for p in files]],
                           check=True, stdout=subprocess.DEVNULL)
            elapsed, cpu = time.perf_counter() - start, children_cpu() - cpu
            shutil.rmtree(work / "copy")
            return elapsed, 0, cpu

        sides = {
            "snapshot": lambda: snapshot("copy"),
            "cp+md5sum": cp_md5,
            "sha256sum": lambda: timed(["sha256sum", *names]),
            "hardlink": lambda: snapshot("hardlink"),
            "md5sum": lambda: timed(["md5sum", *names]),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        cpus: dict[str, list[float]] = {name: [] for name in sides}
        rss: list[int] = []
        order = list(sides)
        for round_ in range(repeats):
            for name in order[round_ % len(order):] + order[:round_ % len(order)]:
                os.sync()  # each side starts with no dirty pages of the one before
                elapsed, peak, cpu = sides[name]()
                times[name].append(elapsed)
                cpus[name].append(cpu)
                if name == "snapshot":
                    rss.append(peak)
            print(f"  round {round_}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in sides),
                  flush=True)
        fixed = statistics.median(
            timed([ecasrepro, "snapshot", str(notebook), "-o", str(work / "n.repro"),
                   "--force"])[0] for _ in range(repeats)
        )
        print(f"{total_mib} MiB attached, {repeats} rounds (median, min-max):")
        for name, values in times.items():
            print(f"  {name:>10}: {statistics.median(values):.2f}s "
                  f"({min(values):.2f}-{max(values):.2f}), CPU "
                  f"{statistics.median(cpus[name]):.2f}s")

        def ratio(top: str, bottom: str) -> str:
            each = [a / b for a, b in zip(times[top], times[bottom], strict=True)]
            return (f"{top}/{bottom} {statistics.median(each):.2f} "
                    f"({min(each):.2f}-{max(each):.2f})")

        print("  ratios per round, median (min-max): " + "; ".join([
            ratio("snapshot", "cp+md5sum") + " [goal <= 1.0]",
            ratio("snapshot", "sha256sum"),
            ratio("hardlink", "md5sum") + " [goal <= 1.1]"]))
        print(f"  snapshot peak RSS {max(rss)} MiB; snapshot without attachments {fixed:.2f}s")
        cores = os.cpu_count() or 1

        def ceiling(top: str, bottom: str) -> str:
            # the CPU the side spent, spread perfectly over every core, against the baseline
            each = [c / cores / b for c, b in zip(cpus[top], times[bottom], strict=True)]
            return (f"{top} CPU/{cores} cores over {bottom} {statistics.median(each):.2f} "
                    f"({min(each):.2f}-{max(each):.2f})")

        print("  ceiling (the best ratio the work done allows, fully overlapped): " + "; ".join(
            [ceiling("snapshot", "cp+md5sum"), ceiling("hardlink", "md5sum")]))

        def marginal(top: str, bottom: str) -> str:
            each = [(a - fixed) / b for a, b in zip(times[top], times[bottom], strict=True)]
            return (f"({top} - fixed)/{bottom} {statistics.median(each):.2f} "
                    f"({min(each):.2f}-{max(each):.2f})")

        print("  the attachments' share: " + "; ".join([
            marginal("snapshot", "cp+md5sum"), marginal("hardlink", "md5sum")]))
        stages(files, repeats, work)
        print(f"load average {os.getloadavg()[0]:.2f} at end")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024", help="total MiB per run, comma separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--stages-only", action="store_true",
                        help="only the in-process stage times (no snapshot subprocesses)")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        bench(size, args.repeats, args.dir, args.stages_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
