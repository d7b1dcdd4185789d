"""Benchmark: ChunkScanner throughput (MB/s) on random binary and on notebook-like JSON text.

    .venv/bin/python bench/bench_scanner.py [--binary-mib 256] [--text-mib 64] [--repeats 3]
                                            [--baseline GIT_REV]

Feeds the data in 4 MiB chunks (the bundle writer's chunk size) to a scanner with a few known
secrets (as from a real environment), prints the median MB/s per data set and, with
``--baseline``, the same for ``ecasrepro/capture/secrets.py`` as it was at that git revision, side
by side with the ratio. For context it also prints hashlib sha256's speed on the same bytes: the
scan runs on its own thread beside the hash, so it must not be the slower of the two.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ecasrepro.capture import secrets as current  # noqa: E402

CHUNK = 4 * 1024 * 1024
MIB = 1024 * 1024
KNOWN = ["Qx7pL2mN9vR4tY8wZ1bC5dF0gH3jK6", "f3a1c9e2b7d84c6a9e0f1b2c3d4e5f60", "s3cr3t-v4lue-xyz!"]


def random_binary(mib: int) -> bytes:
    return os.urandom(mib * MIB)


def notebook_text(mib: int, seed: int = 7) -> bytes:
    """JSON like an executed notebook's: base64 PNGs, numeric tables, code and prose.

    Sprinkled with words that hit the scanner's anchors without being secrets (tokenizer, URLs,
    getpass), about one every few KiB, as in real notebooks.
    """
    rng = random.Random(seed)
    target = mib * MIB
    parts: list[bytes] = [b'{\n "cells": [\n']
    size = 0
    code_lines = [
        "import xarray as xr\\n", "ds = xr.open_dataset('https://thredds.example.org/x.nc')\\n",
        "tokenizer = AutoTokenizer.from_pretrained('bert-base')\\n",
        "password = getpass()\\n", "anomaly = ds.tas - ds.tas.mean('time')\\n",
        "# see https://docs.example.org/en/latest/api.html for details\\n",
        "headers = {\\\"Authorization\\\": f\\\"Bearer {token}\\\"}\\n",
        "trend = np.polyfit(years, anomaly, 1)\\n",
    ]
    while size < target:
        choice = rng.random()
        if choice < 0.5:
            png = base64.b64encode(rng.randbytes(rng.randrange(8_000, 60_000))).decode()
            cell = (
                '  {\n   "cell_type": "code",\n   "outputs": [\n    {\n     "data": {\n'
                f'      "image/png": "{png}",\n'
                '      "text/plain": ["<Figure size 640x480 with 1 Axes>"]\n'
                '     },\n     "output_type": "display_data"\n    }\n   ]\n  },\n'
            )
        elif choice < 0.8:
            rows = [
                f'     "{1950 + i}  {rng.uniform(-1, 1):+.6f}  {rng.uniform(10, 20):.4f}\\n",\n'
                for i in range(rng.randrange(50, 400))
            ]
            cell = (
                '  {\n   "cell_type": "code",\n   "outputs": [\n    {\n     "name": "stdout",\n'
                '     "output_type": "stream",\n     "text": [\n' + "".join(rows)
                + '      "done\\n"\n     ]\n    }\n   ]\n  },\n'
            )
        else:
            source = "".join(
                f'    "{rng.choice(code_lines)}",\n' for _ in range(rng.randrange(5, 40))
            )
            cell = (
                '  {\n   "cell_type": "code",\n   "execution_count": 3,\n   "metadata": {},\n'
                f'   "source": [\n{source}    "print(trend)"\n   ]\n  }},\n'
            )
        data = cell.encode()
        parts.append(data)
        size += len(data)
    parts.append(b' ]\n}\n')
    return b"".join(parts)[:target]


def load_baseline(rev: str) -> ModuleType:
    """secrets.py as it was at *rev*, imported under a private name."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:ecasrepro/capture/secrets.py"],
        check=True, capture_output=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "secrets_baseline.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("secrets_baseline", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["secrets_baseline"] = module
    spec.loader.exec_module(module)
    return module


def scan_rate(module: ModuleType, data: bytes, repeats: int) -> tuple[float, float, int]:
    """(median wall MB/s, median CPU MB/s, findings) of one scanner over *data* in CHUNKs.

    CPU time (this process only) is steadier than wall time on a shared machine.
    """
    view = memoryview(data)
    chunks = [bytes(view[i : i + CHUNK]) for i in range(0, len(data), CHUNK)]
    wall, cpu, count = [], [], 0
    redactor = module.Redactor(KNOWN)
    for _ in range(repeats):
        scanner = redactor.scanner("bench")
        start, start_cpu = time.perf_counter(), time.process_time()
        for chunk in chunks:
            scanner.feed(chunk)
        count = len(scanner.findings())
        wall.append(len(data) / (time.perf_counter() - start) / 1e6)
        cpu.append(len(data) / max(time.process_time() - start_cpu, 1e-9) / 1e6)
    return statistics.median(wall), statistics.median(cpu), count


def hash_rate(data: bytes, repeats: int) -> float:
    """Median CPU MB/s of hashlib sha256 over *data* (what the scanner runs beside)."""
    rates = []
    for _ in range(repeats):
        digest = hashlib.sha256()
        start = time.process_time()
        for i in range(0, len(data), CHUNK):
            digest.update(data[i : i + CHUNK])
        rates.append(len(data) / max(time.process_time() - start, 1e-9) / 1e6)
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary-mib", type=int, default=256)
    parser.add_argument("--text-mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="git revision of secrets.py to compare against")
    args = parser.parse_args()
    baseline = load_baseline(args.baseline) if args.baseline else None
    sets = [
        (f"random binary {args.binary_mib} MiB", random_binary(args.binary_mib)),
        (f"notebook JSON {args.text_mib} MiB", notebook_text(args.text_mib)),
    ]
    print("MB/s: wall (CPU time of this process)")
    header = f"{'data':<24} {'sha256':>13} {'scanner':>13} {'found':>5}"
    if baseline is not None:
        header += f" {'baseline':>13} {'found':>5} {'speed-up':>13}"
    print(header)
    for name, data in sets:
        wall, cpu, found = scan_rate(current, data, args.repeats)
        line = (f"{name:<24} {hash_rate(data, args.repeats):>13.0f} "
                f"{wall:>6.0f} ({cpu:>4.0f}) {found:>5}")
        if baseline is not None:
            old_wall, old_cpu, old_found = scan_rate(baseline, data, args.repeats)
            line += (f" {old_wall:>6.0f} ({old_cpu:>4.0f}) {old_found:>5} "
                     f"{wall / old_wall:>5.2f}x ({cpu / old_cpu:.2f}x)")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
