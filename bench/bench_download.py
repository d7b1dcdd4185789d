"""Benchmark: ``reproduce --download-only`` of a large record vs ``curl`` of the same file.

Run by hand: ``.venv/bin/python bench/bench_download.py [--size-mib 1024] [--repeat 3]``. The
sandbox runs as a subprocess on loopback with one published v2 record holding one file of
incompressible bytes. Each round runs four sides, in an order rotated per round: curl of the file
(writes only), ``ecasrepro.reproduce(..., download_only=True)`` in a fresh process (writes, md5
and sha256, the bag), and hashlib md5 alone and sha256 alone over the same file from page cache
(in this process). Prints each run, then one summary line with the medians (min-max): the ratio
curl / ours (goal >= 0.9), our peak RSS (GNU time; goal < 80 MiB), and the ceiling curl / md5
alone: md5 must be checked and one stream's md5 runs on one core, so ours cannot beat md5 alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from _harness import make_file, run_child

EUDAT = "e9b9792e-79fb-4b07-b6b4-b9c2bd06d095"


def hash_alone(path: Path, algorithm: str) -> float:
    """Seconds for one hashlib digest over ``path`` in 1 MiB reads (the file in page cache)."""
    start = time.perf_counter()
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return time.perf_counter() - start


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=4)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        work = Path(tmp)
        payload = work / "payload.bin"
        make_file(payload, opts.size_mib * 2**20)
        sandbox = subprocess.Popen(
            [sys.executable, "-c", "from ecasrepro.cli import main; main()", "sandbox", "--json",
             "--data", str(work / "sandbox"), "--quota", str(payload.stat().st_size * 3)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert sandbox.stdout is not None
            info = json.loads(sandbox.stdout.readline())
            auth = {"Authorization": f"Bearer {info['token']}"}
            draft = requests.post(f"{info['url']}/api/records/", headers=auth, timeout=30, json={
                "titles": [{"title": "bench download"}], "community": EUDAT,
                "open_access": True, "community_specific": {}}).json()
            with payload.open("rb") as body:
                requests.put(f"{draft['links']['files']}/payload.bin", data=body, timeout=600,
                             headers={**auth, "Content-Type": "application/octet-stream"}
                             ).raise_for_status()
            requests.patch(f"{info['url']}/api/records/{draft['id']}/draft", timeout=30,
                           headers={**auth, "Content-Type": "application/json-patch+json"},
                           data=json.dumps([{"op": "add", "path": "/publication_state",
                                             "value": "submitted"}])).raise_for_status()
            record = requests.get(f"{info['url']}/api/records/{draft['id']}", timeout=30).json()
            url = f"{info['url']}/api/files/{record['files'][0]['bucket']}/payload.bin"
            env = {**os.environ, "B2SHARE_URL": info["url"]}
            env.pop("B2SHARE_TOKEN", None)
            ours_code = ("import sys, ecasrepro; ecasrepro.reproduce(sys.argv[1], "
                         "output=sys.argv[2], download_only=True)")
            times: dict[str, list[float]] = {"curl": [], "ours": [], "md5": [], "sha256": []}
            peaks: list[float] = []
            sides = list(times)
            for i in range(opts.repeat):
                for side in sides[i % 4:] + sides[:i % 4]:
                    out = work / f"{side}-{i}"
                    if side == "curl":
                        start = time.perf_counter()
                        subprocess.run(["/usr/bin/curl", "-sS", "--fail", "-o", str(out), url],
                                       check=True)
                        times[side].append(time.perf_counter() - start)
                        out.unlink()
                    elif side == "ours":
                        seconds, peak, code = run_child(
                            [sys.executable, "-c", ours_code, draft["id"], str(out)], env, work)
                        assert code == 0, "reproduce --download-only failed"
                        times[side].append(seconds)
                        peaks.append(peak)
                        shutil.rmtree(out)
                    else:
                        times[side].append(hash_alone(payload, side))
                    print(f"round {i} {side:<6} {times[side][-1]:.2f} s  (load {load()})")
            med = {side: statistics.median(values) for side, values in times.items()}
            spread = {side: f"{min(v):.2f}-{max(v):.2f}" for side, v in times.items()}
            mib = opts.size_mib
            print(f"{mib} MiB, median (min-max) of {opts.repeat}: curl {med['curl']:.2f} s "
                  f"({spread['curl']}), ours {med['ours']:.2f} s ({spread['ours']}), md5 alone "
                  f"{med['md5']:.2f} s ({spread['md5']}), sha256 alone {med['sha256']:.2f} s "
                  f"({spread['sha256']})")
            print(f"ratio curl/ours {med['curl'] / med['ours']:.2f} (goal >= 0.9); ceiling "
                  f"curl/md5-alone {med['curl'] / med['md5']:.2f}, curl/sha256-alone "
                  f"{med['curl'] / med['sha256']:.2f}; ours/md5-alone "
                  f"{med['ours'] / med['md5']:.2f}; our peak RSS {max(peaks):.0f} MiB (goal < 80); "
                  f"load {load()}")
        finally:
            sandbox.terminate()
            sandbox.wait(10)


if __name__ == "__main__":
    main()
