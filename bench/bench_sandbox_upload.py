"""Benchmark: ``curl -T`` of a large file to the sandbox vs. to a minimal streaming sink.

Run by hand: ``.venv/bin/python bench/bench_sandbox_upload.py [--size-mib 1024] [--repeat 3]``.
Both servers run as subprocesses on loopback and are measured side by side in the same run
(alternating order); the script prints every run, the medians, the ratio sandbox/sink, and the
sandbox's memory growth (VmHWM after the uploads minus VmRSS before, from /proc).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
EUDAT = "e9b9792e-79fb-4b07-b6b4-b9c2bd06d095"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def curl_put(path: Path, url: str, headers: list[str]) -> float:
    """Seconds for one ``curl -T`` upload (fails loudly on a non-2xx answer)."""
    args = ["/usr/bin/curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(path), "-H", "Expect:"]
    for header in headers:
        args += ["-H", header]
    start = time.perf_counter()
    subprocess.run([*args, url], check=True)
    return time.perf_counter() - start


def md5_ceiling(path: Path) -> float:
    """MiB/s of hashlib.md5 alone over the file (from page cache): no server can beat it."""
    digest = hashlib.md5()
    start = time.perf_counter()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size / (time.perf_counter() - start) / 2**20


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--discard", action="store_true", help="sink drops bytes instead of writing"
    )
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        work = Path(tmp)
        payload = work / "payload.bin"
        make_file(payload, opts.size_mib)
        size = payload.stat().st_size
        ceiling = md5_ceiling(payload)

        sink_port = free_port()
        sink_args = [
            sys.executable,
            str(HERE / "streaming_sink.py"),
            str(sink_port),
            str(work / "sink.out"),
        ]
        sink = subprocess.Popen(
            sink_args + (["--discard"] if opts.discard else []), stdout=subprocess.PIPE, text=True
        )
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"

        sandbox = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from ecasrepro.cli import main; main()",
                "sandbox",
                "--json",
                "--data",
                str(work / "sandbox"),
                "--quota",
                str(size * (opts.repeat + 2)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert sandbox.stdout is not None
            info = json.loads(sandbox.stdout.readline())
            auth = {"Authorization": f"Bearer {info['token']}"}
            draft = requests.post(
                f"{info['url']}/api/records/",
                headers=auth,
                json={
                    "titles": [{"title": "bench"}],
                    "community": EUDAT,
                    "open_access": True,
                    "community_specific": {},
                },
                timeout=30,
            ).json()
            bucket = draft["links"]["files"]
            rss_before = proc_kib(sandbox.pid, "VmRSS")

            sink_times: list[float] = []
            sandbox_times: list[float] = []
            for i in range(opts.repeat):
                order = ["sink", "sandbox"] if i % 2 == 0 else ["sandbox", "sink"]
                for target in order:
                    if target == "sink":
                        sink_times.append(curl_put(payload, f"http://127.0.0.1:{sink_port}/x", []))
                    else:
                        sandbox_times.append(
                            curl_put(
                                payload,
                                f"{bucket}/run-{i}.bin",
                                [
                                    f"Authorization: Bearer {info['token']}",
                                    "Content-Type: application/octet-stream",
                                ],
                            )
                        )
                print(
                    f"run {i + 1}: sink {size / sink_times[-1] / 2**20:7.1f} MiB/s   "
                    f"sandbox {size / sandbox_times[-1] / 2**20:7.1f} MiB/s",
                    flush=True,
                )
            hwm_after = proc_kib(sandbox.pid, "VmHWM")
            listing = requests.get(bucket, headers=auth, timeout=30).json()
            assert all(c["size"] == size for c in listing["contents"]), listing
        finally:
            sandbox.terminate()
            sink.terminate()
            sandbox.wait(timeout=30)
            sink.wait(timeout=30)

    sink_rate = size / statistics.median(sink_times) / 2**20
    sandbox_rate = size / statistics.median(sandbox_times) / 2**20
    kind = "discarding" if opts.discard else "writing to disk"
    print(f"file: {size / 2**20:.0f} MiB, {opts.repeat} runs each, sink {kind}")
    print(f"median sink    {sink_rate:8.1f} MiB/s")
    print(f"median sandbox {sandbox_rate:8.1f} MiB/s")
    print(f"ratio sandbox/sink: {sandbox_rate / sink_rate:.2f}  (target >= 0.80)")
    print(
        f"md5 alone (hashlib, one core, same file): {ceiling:.1f} MiB/s; "
        f"sandbox reaches {sandbox_rate / ceiling:.2f} of it"
    )
    growth = (hwm_after - rss_before) / 1024
    print(
        f"sandbox memory: RSS before {rss_before / 1024:.1f} MiB, "
        f"peak after {hwm_after / 1024:.1f} MiB, growth {growth:.1f} MiB  (target < 50 MiB)"
    )


if __name__ == "__main__":
    main()
