"""How much ``import ecasrepro`` and ``%load_ext ecasrepro`` cost, next to ``import requests``.

    .venv/bin/python bench/bench_import.py [--runs N]

Each import is timed in a fresh interpreter (``python -c ...``, wall clock, best and median of N
runs); the target is ``import ecasrepro`` <= 1.5x ``import requests``. ``%load_ext`` is timed
inside one interpreter that already holds an IPython InteractiveShell (as a kernel does): the
time to import ``ecasrepro``, import ``ecasrepro.magic`` and register the magics, and which heavy
modules (nbconvert, jsonschema, git, requests) that pulled in (none is the goal).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

LOAD_EXT = r"""
import sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
start = time.perf_counter()
shell.run_line_magic("load_ext", "ecasrepro")
elapsed = time.perf_counter() - start
heavy = [m for m in ("nbconvert", "jsonschema", "git", "requests", "nbclient", "bagit")
         if m in sys.modules and m not in before]
print(f"{elapsed * 1000:.2f} {','.join(heavy) or '-'} {len(set(sys.modules) - before)}")
"""


def wall(code: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    rows = {
        "python -c pass": wall("pass", args.runs),
        "import requests": wall("import requests", args.runs),
        "import ecasrepro": wall("import ecasrepro", args.runs),
        "import ecasrepro.cli": wall("import ecasrepro.cli", args.runs),
    }
    print(f"{'fresh interpreter':<24}{'best ms':>10}{'median ms':>12}")
    for name, times in rows.items():
        print(f"{name:<24}{min(times) * 1000:>10.1f}{statistics.median(times) * 1000:>12.1f}")
    base = rows["python -c pass"]
    ratio = min(rows["import ecasrepro"]) / min(rows["import requests"])
    ratio_median = statistics.median(rows["import ecasrepro"]) / statistics.median(
        rows["import requests"])
    print(f"ratio import ecasrepro / import requests: best {ratio:.2f}x, median "
          f"{ratio_median:.2f}x (target <= 1.5x)")
    own = min(rows["import ecasrepro"]) - min(base)
    print(f"import ecasrepro over a bare interpreter: {own * 1000:.1f} ms")

    loads = []
    for _ in range(max(3, args.runs // 3)):
        done = subprocess.run([sys.executable, "-c", LOAD_EXT], check=True,
                              capture_output=True, text=True)
        loads.append(done.stdout.split())
    millis = [float(row[0]) for row in loads]
    print(f"%load_ext ecasrepro in a live InteractiveShell: best {min(millis):.2f} ms, median "
          f"{statistics.median(millis):.2f} ms; {loads[0][2]} new modules; heavy modules "
          f"imported: {loads[0][1]}")


if __name__ == "__main__":
    main()
