"""Helpers the benchmarks share: timing a child process with its peak memory, test files.

Run the benchmarks as scripts (``python bench/bench_x.py``); this directory is then on sys.path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def run_child(argv: list[str], env: dict[str, str], work: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, exit code) of one child process.

    Peak RSS comes from GNU time (``%M``): Linux carries a parent's high-water mark into a child
    across fork+exec, so ``wait4`` from this (large) Python process would overstate small
    clients; /usr/bin/time is a tiny parent, and its own child's figure is clean.
    """
    report = work / "time.txt"
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *argv], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
    peak_kib = int(report.read_text().split()[-1])
    return elapsed, peak_kib / 1024, done.returncode


def make_file(path: Path, size: int) -> None:
    """``size`` bytes of incompressible data, written fast (one random block repeated)."""
    block = os.urandom(min(size, 8 * 1024 * 1024) or 1)
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            handle.write(chunk)
            written += len(chunk)
