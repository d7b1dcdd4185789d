"""The v3 sandbox under load: three-step uploads serial vs parallel with latency; a 1 GiB PUT.

Run by hand: ``.venv/bin/python bench/bench_sandbox_v3.py [--files 100] [--latency-ms 50]
[--big-mib 1024]``.  The sandbox runs as its own process (``ecasrepro sandbox --api v3``); the
client is ``requests`` (1 vs 4 threads, one session each), and the big file goes with
``curl -T`` (streamed).  Prints seconds, the parallel/serial ratio, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

TOKEN = "bench-token-123456"
OCTET = {"Content-Type": "application/octet-stream"}


def start(data: Path, latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-c", "from ecasrepro.cli import main; main()", "sandbox", "--api",
            "v3", "--json", "--data", str(data), "--token", TOKEN, "--max-files", "10000"]
    if latency_ms:
        argv += ["--faults", f"latency={latency_ms}ms"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def new_draft(url: str) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(f"{url}/api/records", json={"metadata": {"title": "bench"}}, headers=headers)
    return str(r.json()["id"])


def three_steps(url: str, files: int, size: int, workers: int) -> float:
    rid = new_draft(url)
    payload = os.urandom(size)
    local = threading.local()

    def one(n: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {TOKEN}"
        s, key = local.session, f"f{n:04d}.bin"
        base = f"{url}/api/records/{rid}/draft/files"
        assert s.post(base, json=[{"key": key}]).status_code == 201
        assert s.put(f"{base}/{key}/content", data=payload, headers=OCTET).status_code == 200
        assert s.post(f"{base}/{key}/commit").json()["status"] == "completed"

    start_time = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(files)))
    return time.perf_counter() - start_time


def big_put(url: str, path: Path) -> float:
    rid = new_draft(url)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{url}/api/records/{rid}/draft/files"
    requests.post(base, json=[{"key": "big.bin"}], headers=headers)
    start_time = time.perf_counter()
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", f"Authorization: Bearer {TOKEN}",
                    "-H", "Content-Type: application/octet-stream", "-T", str(path),
                    f"{base}/big.bin/content"], check=True)
    elapsed = time.perf_counter() - start_time
    done = requests.post(f"{base}/big.bin/commit", headers=headers).json()
    assert done["size"] == path.stat().st_size
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--file-kib", type=int, default=64)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--big-mib", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-v3-"))
    try:
        proc, url = start(work / "data", args.latency_ms)
        try:
            serial = three_steps(url, args.files, args.file_kib * 1024, 1)
            parallel = three_steps(url, args.files, args.file_kib * 1024, 4)
            print(f"{args.files} x {args.file_kib} KiB, init/content/commit, "
                  f"latency {args.latency_ms} ms")
            print(f"  serial (1 client)     {serial:7.2f} s")
            print(f"  parallel (4 clients)  {parallel:7.2f} s   ratio {serial / parallel:.2f}x")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        if args.big_mib and shutil.which("curl"):
            big = work / "big.bin"
            with big.open("wb") as handle:
                for _ in range(args.big_mib):
                    handle.write(os.urandom(1 << 20))
            proc, url = start(work / "data-big", 0)
            try:
                rss_before = peak_rss_mib(proc.pid)
                seconds = big_put(url, big)
                rss_after = peak_rss_mib(proc.pid)
                rate = args.big_mib / seconds
                print(f"{args.big_mib} MiB content PUT (curl -T), no latency")
                print(f"  {seconds:.2f} s, {rate:.0f} MiB/s; server peak RSS "
                      f"{rss_before:.0f} MiB before, {rss_after:.0f} MiB after")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
