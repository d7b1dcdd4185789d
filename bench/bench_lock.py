"""pylock.toml resolution for this interpreter's environment, cold and warm cache, vs
``pip lock --no-deps`` and ``uv pip compile --no-deps --format pylock.toml`` of the same pins
(each cold: an empty cache, and warm: the same cache again), with a check that they pin the same
wheels.

Run by hand (it uses the index the environment is configured for, normally PyPI):
``.venv/bin/python bench/bench_lock.py [--no-pip]``. Each side runs in a fresh process; the cold
run gets an empty cache directory, the warm runs reuse it. The last lines are the ratios (their
time / ours), cold vs cold and warm vs warm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

CHILD = (
    "import json, time; from ecasrepro.capture.lockfile import build_lock; "
    "t = time.perf_counter(); r = build_lock(); s = time.perf_counter() - t; "
    "print(json.dumps({'seconds': s, 'requests': r.requests, 'unresolved': r.unresolved, "
    "'toml': r.toml}))"
)


def ours(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def wheels(toml_text: str) -> dict[str, tuple[str, str]]:
    """name -> (wheel or sdist file name, sha256) of every index artifact in a lock."""
    found = {}
    for package in tomllib.loads(toml_text).get("packages", []):
        for artifact in [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package
                                                       else [])]:
            found[package["name"]] = (artifact.get("name") or artifact["url"].rsplit("/", 1)[-1],
                                      artifact["hashes"].get("sha256", ""))
    return found


def main() -> int:
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "XDG_CACHE_HOME": work, "ECASREPRO_CACHE_DIR": ""}
        env.pop("ECASREPRO_LOCK_INDEX", None)
        wall, cold = ours(env)
        print(f"ours, cold cache   {cold['seconds']:7.2f} s in process ({wall:.2f} s with start-up)"
              f", {cold['requests']} index requests, unresolved: {cold['unresolved']}")
        warm_times = []
        for _ in range(3):
            wall, warm = ours(env)
            warm_times.append((warm["seconds"], wall, warm["requests"]))
        best = min(warm_times)
        print(f"ours, warm cache   {best[0] * 1000:7.1f} ms in process ({best[1]:.2f} s with "
              f"start-up), {best[2]} index requests")
        if "--no-pip" in sys.argv or not cold["toml"]:
            return 0
        pins = Path(work) / "pins.txt"
        packages = [p for p in tomllib.loads(cold["toml"])["packages"] if "wheels" in p]
        locked = {k: v for k, v in wheels(cold["toml"]).items()
                  if k in {p["name"] for p in packages}}
        lines = [f"{p['name']}=={p['version']}" for p in packages]
        pins.write_text("\n".join(lines) + "\n")
        uv = Path(sys.executable).parent / "uv"
        tools = {
            "pip lock": [sys.executable, "-m", "pip", "lock", "--no-deps", "--quiet",
                         "--cache-dir", f"{work}/pip-cache", "--only-binary", ":all:", "-r",
                         str(pins), "-o", f"{work}/pylock.pip.toml"],
            "uv pip compile": [str(uv), "pip", "compile", "--no-deps", "--quiet",
                               "--cache-dir", f"{work}/uv-cache", "--only-binary", ":all:",
                               "--format", "pylock.toml", str(pins),
                               "-o", f"{work}/pylock.uv.toml"],
        }
        theirs_env = {**env, "PIP_FIND_LINKS": "", "UV_NO_CONFIG": "1"}
        ratios = []
        for tool, argv in tools.items():
            if not Path(argv[0]).exists():
                print(f"{tool}: not installed, skipped")
                continue
            runs = []
            for _run in ("cold", "warm"):
                start = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, text=True, env=theirs_env)
                runs.append(time.perf_counter() - start)
                if done.returncode != 0:
                    print(f"{tool} failed ({done.returncode}): {done.stderr[-500:]}")
                    return 1
            out = Path(argv[-1])
            theirs = wheels(out.read_text())
            same = sorted(n for n in locked if theirs.get(n) == locked[n])
            differ = sorted(n for n in locked if n in theirs and theirs[n] != locked[n])
            print(f"{tool:<15} cold {runs[0]:6.2f} s, warm {runs[1]:6.2f} s for the same "
                  f"{len(lines)} pins; same artifact and sha256 as ours: {len(same)} of "
                  f"{len(locked)}" + (f"; different: {differ}" if differ else ""))
            ratios.append(f"{tool}/ours cold {runs[0] / cold['seconds']:.1f}x, warm "
                          f"{runs[1] / best[0]:.0f}x")
        print("ratios (their time / ours; ours in process, theirs with start-up): "
              + "; ".join(ratios) + f"; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
