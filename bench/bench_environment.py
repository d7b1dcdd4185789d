"""Environment capture vs ``pip freeze --all`` on the same interpreter: times, ratio, same set.

Run by hand: ``.venv/bin/python bench/bench_environment.py [repeats]``. Both sides run as fresh
subprocesses of this interpreter (so interpreter start-up counts for both), each several times;
the medians are compared. ``--all`` makes pip list pip/setuptools/wheel too, as capture does.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time

OURS = (
    "import json; from ecasrepro.capture.environment import capture_environment; "
    "s = capture_environment(); "
    "print(json.dumps([[d.name, d.version] for d in s.distributions]))"
)


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_names(freeze: str) -> set[str]:
    """Names in pip freeze output: ``name==v``, ``name @ url`` and ``-e`` lines (via #egg= or the
    preceding ``# Editable install ... (name==v)`` comment)."""
    names: set[str] = set()
    pending: str | None = None
    for line in freeze.splitlines():
        if match := re.match(r"#.*\(([A-Za-z0-9._-]+)==", line):
            pending = match[1]
        elif match := re.match(r"([A-Za-z0-9._-]+)\s*(==| @ )", line):
            names.add(canonical(match[1]))
        elif line.startswith("-e "):
            egg = re.search(r"#egg=([A-Za-z0-9._-]+)", line)
            if egg or pending:
                names.add(canonical(egg[1] if egg else pending))  # type: ignore[index]
            pending = None
    return names


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pip_times, our_times, inproc_times, bare_times = [], [], [], []
    pip_out = our_out = ""
    for _ in range(repeats):
        seconds, pip_out = timed([sys.executable, "-m", "pip", "freeze", "--all"])
        pip_times.append(seconds)
        seconds, our_out = timed([sys.executable, "-c", OURS])
        our_times.append(seconds)
        bare_times.append(timed([sys.executable, "-c", "pass"])[0])
    from ecasrepro.capture.environment import capture_environment

    capture_environment()  # warm the import
    for _ in range(repeats):
        start = time.perf_counter()
        snapshot = capture_environment()
        inproc_times.append(time.perf_counter() - start)
    ours = {canonical(name) for name, _ in json.loads(our_out)}
    theirs = pip_names(pip_out)
    pip_median, our_median = statistics.median(pip_times), statistics.median(our_times)
    inproc = statistics.median(inproc_times)
    bare = statistics.median(bare_times)
    print(f"distributions: ours {len(ours)}, pip freeze --all {len(theirs)}")
    print(f"pip freeze --all (subprocess)        median {pip_median * 1000:8.1f} ms")
    print(f"capture_environment (subprocess)     median {our_median * 1000:8.1f} ms"
          f"   ratio {pip_median / our_median:6.1f}x")
    print(f"  (a bare interpreter start-up, `python -c pass`, takes {bare * 1000:.1f} ms of "
          "both subprocess times)")
    print(f"capture_environment (in process)     median {inproc * 1000:8.1f} ms"
          f"   ratio {pip_median / inproc:6.1f}x")
    if ours != theirs:
        print(f"SETS DIFFER: only ours {sorted(ours - theirs)}, only pip {sorted(theirs - ours)}")
        return 1
    print(f"same set of {len(ours)} distributions; warnings: {snapshot.warnings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
