"""Benchmark: rebuilding the example's environment from its pylock.toml (what ``reproduce`` does)
with a warm cache vs ``pip install -r requirements.txt`` into a fresh venv (goal: >= 3x faster).

The example notebook runs in this project's environment (its kernel is this interpreter), so its
snapshot locks this environment: the bench builds that pylock.toml and requirements.txt the way a
snapshot does (``build_lock`` over the installed distributions, ``name==version`` pins), leaving
out ecasrepro itself (an editable install, not on any index). Run by hand, with the index the
environment is configured for (normally PyPI):
``.venv/bin/python bench/bench_rebuild.py [--rounds 1]``.

One warm-up round fills both caches (uv's for ours, pip's for pip); then each round builds one
venv each way, alternating the order, and checks both hold the same versions. Prints each run,
the medians and the ratio pip / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ecasrepro.capture.environment import installed_distributions
from ecasrepro.capture.lockfile import build_lock
from ecasrepro.reproduction.rebuild import build_environment

LIST = ("import json, importlib.metadata as m; print(json.dumps(sorted("
        "(d.metadata['Name'].lower(), d.version) for d in m.distributions())))")


def versions(python: Path) -> set[tuple[str, str]]:
    out = subprocess.run([str(python), "-c", LIST], capture_output=True, text=True, check=True)
    return {(n.replace("_", "-"), v) for n, v in json.loads(out.stdout)} - {("pip", "")}


def ours(data: Path, venv: Path) -> float:
    start = time.perf_counter()
    build_environment(data, venv)
    return time.perf_counter() - start


def pip(requirements: Path, venv: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-r", str(requirements)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    opts = parser.parse_args()
    os.environ.setdefault("ECASREPRO_INSTALLER", "auto")  # uv where installed (the test extra)
    found = [(d, p) for d, p in installed_distributions() if d.key != "ecasrepro"]
    lock = build_lock(found)
    if lock.toml is None:
        sys.exit("no pylock.toml could be built (no index reachable): " + "; ".join(lock.warnings))
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        work = Path(tmp)
        env_dir = work / "data" / "environment"
        env_dir.mkdir(parents=True)
        (env_dir / "pylock.toml").write_text(lock.toml)
        requirements = env_dir / "requirements.txt"
        requirements.write_text("".join(f"{d.requirement}\n" for d, _ in found))
        print(f"{len(found)} distributions, {len(lock.unresolved)} unresolved by the lock "
              f"({', '.join(lock.unresolved) or 'none'}); lock built in {lock.seconds:.1f} s")
        print(f"warm-up: ours {ours(work / 'data', work / 'warm-ours'):.1f} s, "
              f"pip {pip(requirements, work / 'warm-pip'):.1f} s")
        same = versions(work / "warm-ours" / "bin" / "python") == versions(
            work / "warm-pip" / "bin" / "python")
        print(f"both venvs hold the same versions: {same}")
        shutil.rmtree(work / "warm-ours")
        shutil.rmtree(work / "warm-pip")
        times: dict[str, list[float]] = {"ours": [], "pip": []}
        for i in range(opts.rounds):
            for side in (["ours", "pip"] if i % 2 == 0 else ["pip", "ours"]):
                venv = work / f"{side}-{i}"
                seconds = (ours(work / "data", venv) if side == "ours"
                           else pip(requirements, venv))
                times[side].append(seconds)
                print(f"round {i} {side}: {seconds:.1f} s (load {os.getloadavg()[0]:.1f})")
                shutil.rmtree(venv)
        ours_s, pip_s = statistics.median(times["ours"]), statistics.median(times["pip"])
        print(f"rebuild of {len(found)} distributions, warm caches: ours {ours_s:.1f} s, "
              f"pip install -r requirements.txt {pip_s:.1f} s, ratio pip/ours "
              f"{pip_s / ours_s:.1f}x (goal >= 3x); load "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
