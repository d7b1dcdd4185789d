"""Archival and verification on Dask against the local pool, side by side in one run.

Run by hand (nice'd on a shared machine): ``nice .venv/bin/python bench/bench_dask.py``.

1. 500 small analyses (copies of one snapshotted bundle, each its own directory) are archived
   with the local pool (``--executor local --jobs 2``) and with Dask (an embedded threaded
   LocalCluster of 2 workers), alternately, best of ``--repeats``; the ratio is pool/Dask
   (goal >= 0.95: Dask not slower). Per-task overhead: a no-op function over 2,000 items on
   each executor, per item, with Dask's batching of fast items and with one task per item.
2. 20 notebooks that each sleep 2 s are verified with ``verify-many`` on Dask with 2 and 4
   workers (and 1, the baseline); ideal is 20 x 2 s / workers (kernel start-up and comparison
   are real cost, not in that ideal); the figures are ideal / wall (goal >= 0.9) and the
   scaling from one worker, T1 / (workers x Tw).
3. Driver memory of the streamed listing: tracemalloc peak while 1,000 and 10,000 notebooks
   are discovered (``iter_analyses``) and journalled, to show it grows only by the per-analysis
   journal entry and seen-path set, not by holding every analysis object or future.

Usage: ``bench/bench_dask.py [--repeats N] [--skip-verify]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

import ecasrepro
from ecasrepro import executors
from ecasrepro.archival import iter_analyses
from ecasrepro.executors import open_executor
from ecasrepro.runjournal import RunJournal


def notebook(path: Path, source: str, text: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(source, execution_count=1, outputs=[
        new_output("stream", name="stdout", text=text)])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def small_bundles(root: Path, count: int) -> Path:
    src = notebook(root / "src" / "analysis.ipynb", "print(42)", "42\n")
    bundle = ecasrepro.snapshot(src, output=root / "src" / "analysis.repro")
    hub = root / "hub"
    for index in range(count):
        shutil.copytree(bundle.path, hub / f"user{index:03d}" / f"a{index:03d}.repro")
    return hub


def noop(item: int) -> int:
    return item


def per_task_overhead(name: str, items: int = 2000, batch: int | None = None) -> float:
    """Seconds per no-op item; ``batch=1`` makes every item its own Dask task."""
    saved = executors.MAX_BATCH
    executors.MAX_BATCH = batch or saved
    try:
        return _per_item(name, items)
    finally:
        executors.MAX_BATCH = saved


def _per_item(name: str, items: int) -> float:
    with open_executor(name, workers=2) as pool:
        start = time.perf_counter()
        for _ in pool.imap_unordered(noop, range(items), on_error=lambda i, e: -1):
            pass
        return (time.perf_counter() - start) / items


def archive_500(root: Path, repeats: int) -> None:
    hub = small_bundles(root, 500)
    best = {"local": float("inf"), "dask": float("inf")}
    for repeat in range(repeats):
        for name in ("local", "dask") if repeat % 2 == 0 else ("dask", "local"):
            out = root / f"out-{name}-{repeat}"
            start = time.perf_counter()
            report = ecasrepro.archive([hub], output=out, jobs=2, executor=name, progress=False)
            elapsed = time.perf_counter() - start
            assert report.count("archived") == 500, report.summary()[-300:]
            best[name] = min(best[name], elapsed)
            shutil.rmtree(out)
    print(f"archive 500: local pool --jobs 2 {best['local']:.2f} s, Dask LocalCluster 2 workers "
          f"{best['dask']:.2f} s; ratio pool/Dask {best['local'] / best['dask']:.2f} "
          f"(goal >= 0.95); per analysis {best['dask'] / 500 * 1000:.1f} ms on Dask")
    print(f"per-item overhead, no-op x2000: local {per_task_overhead('local') * 1000:.2f} ms, "
          f"Dask batched {per_task_overhead('dask') * 1000:.2f} ms, Dask one task per item "
          f"{per_task_overhead('dask', batch=1) * 1000:.2f} ms (goal < 20 ms)")


def kernel_start_cpu(samples: int = 5) -> float:
    """CPU seconds (this process and the kernels) to start a fresh kernel, see it answer and
    stop it: the part of a verification that needs a core whatever the notebook does."""
    import resource

    from jupyter_core.utils import run_sync

    from ecasrepro.verification.kernels import start_kernel, stop_kernel

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    before = cpu()
    for _ in range(samples):
        kernel = start_kernel("python3")
        client = kernel.manager.client()
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=60)
        client.stop_channels()
        stop_kernel(kernel)
    return (cpu() - before) / samples


def verify_sleepers(root: Path) -> None:
    hub = root / "sleepers"
    for index in range(20):
        src = notebook(hub / f"n{index:02d}" / f"sleep{index:02d}.ipynb",
                       f"import time\ntime.sleep(2)\nprint({index})", f"{index}\n")
        ecasrepro.snapshot(src, output=src.with_suffix(".repro"), progress=False)
    from distributed import LocalCluster

    for processes in (False, True):
        kind = "process" if processes else "threaded"
        walls: dict[int, float] = {}
        for workers in (1, 2, 4):
            journal = root / f"verify-{kind}-{workers}.json"
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                              dashboard_address=None,
                              scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
                start = time.perf_counter()
                report = ecasrepro.verify_many([hub], journal=journal, executor="dask",
                                               scheduler=cluster.scheduler_address,
                                               progress=False)
                wall = time.perf_counter() - start
            assert report.count("ok") == 20, report.summary()
            walls[workers] = wall
            ideal = 20 * 2 / workers
            print(f"verify-many 20 x sleep 2 s, {kind} cluster, {workers} workers: {wall:.2f} s, "
                  f"ideal {ideal:.1f} s, ideal/wall {ideal / wall:.2f} (goal >= 0.9); scaling "
                  f"from 1 worker {walls[1] / (workers * wall):.2f}; per notebook beyond its "
                  f"sleep {wall * workers / 20 - 2:.2f} s")
    per_start = kernel_start_cpu()
    cores = os.cpu_count() or 1
    for workers in (1, 2, 4):
        # A worker's later kernels start while its previous notebook sleeps; the first round's
        # cannot: `workers` cold starts share the cores before any notebook can run.
        ideal = 20 * 2 / workers
        first = per_start * max(1.0, workers / cores)
        print(f"floor: kernel start {per_start:.2f} CPU s; {workers} worker(s) on {cores} "
              f"cores wait >= {first:.2f} s for the first round's kernels, so at most "
              f"{ideal / (ideal + first):.2f} of ideal")


def _outcome(analysis: object) -> dict[str, object]:
    """The size of a real archive outcome's journal line, for the driver's loop."""
    return {"status": "archived", "digest": "sha256:" + "0" * 64, "kind": "notebook",
            "archive": "/hub/out/" + "x" * 40 + ".zip", "title": "An analysis",
            "reason": None, "exit_code": 0, "bundle": "/hub/out/.bundles/" + "x" * 40,
            "draft_id": None, "draft_url": None, "draft_state": None, "warnings": []}


def driver_memory(root: Path) -> None:
    """The driver's loop as archive runs it: the streamed listing, the executor's window,
    each outcome journalled as it comes, counts kept (tasks are trivial; the local pool, so
    only the driver's process is traced)."""
    for count in (1000, 10000):
        hub = root / f"many-{count}"
        text = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
        for index in range(count):
            folder = hub / f"u{index // 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"n{index:05d}.ipynb").write_text(text)
        tracemalloc.start()
        counts: dict[str, int] = {}
        with RunJournal(root / f"journal-{count}.json", "archive") as journal, \
                open_executor("local", workers=2) as pool:
            for analysis, outcome in pool.imap_unordered(_outcome, iter_analyses([hub]),
                                                         on_error=lambda a, e: {}):
                journal.record(str(analysis.source), outcome)
                status = str(outcome.get("status"))
                counts[status] = counts.get(status, 0) + 1
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert counts == {"archived": count}
        print(f"driver of {count} analyses: tracemalloc peak {peak / 2**20:.2f} MiB "
              f"({peak / count:.0f} B per analysis)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as scratch:
        root = Path(scratch)
        archive_500(root, args.repeats)
        if not args.skip_verify:
            verify_sleepers(root)
        driver_memory(root)


if __name__ == "__main__":
    main()
