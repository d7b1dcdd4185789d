"""Benchmark: ``reproduce --download-only`` of a large record vs ``curl`` of the same file.

Run by hand: ``.venv/bin/python bench/bench_download.py [--size-mib 1024] [--repeat 2]``. The
sandbox runs as a subprocess on loopback with one published v2 record holding one file of
incompressible bytes; each repeat downloads it with curl (writes only) and with
``ecasrepro.reproduce(..., download_only=True)`` in a fresh process (writes, md5 and sha256,
the bag), alternating the order. Prints each run, the medians, the ratio (curl time / ours: the
goal is >= 0.9), our peak RSS (GNU time; the goal is < 80 MiB) and the md5 ceiling (hashlib.md5
alone over the file from page cache: the checks the download must make cannot go faster).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
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
            curl_times: list[float] = []
            our_times: list[float] = []
            peaks: list[float] = []
            for i in range(opts.repeat):
                for side in (["curl", "ours"] if i % 2 == 0 else ["ours", "curl"]):
                    out = work / f"{side}-{i}"
                    if side == "curl":
                        start = time.perf_counter()
                        subprocess.run(["/usr/bin/curl", "-sS", "--fail", "-o", str(out), url],
                                       check=True)
                        curl_times.append(time.perf_counter() - start)
                        out.unlink()
                    else:
                        seconds, peak, code = run_child(
                            [sys.executable, "-c", ours_code, draft["id"], str(out)], env, work)
                        assert code == 0, "reproduce --download-only failed"
                        our_times.append(seconds)
                        peaks.append(peak)
                        shutil.rmtree(out)
                    last = (curl_times if side == "curl" else our_times)[-1]
                    print(f"run {i} {side}: {last:.2f} s")
            curl_s, ours_s = statistics.median(curl_times), statistics.median(our_times)
            mib = opts.size_mib
            start = time.perf_counter()
            digest = hashlib.md5()
            with payload.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            ceiling = mib / (time.perf_counter() - start)
            print(f"{mib} MiB: curl {curl_s:.2f} s ({mib / curl_s:.0f} MiB/s), ours {ours_s:.2f} s "
                  f"({mib / ours_s:.0f} MiB/s, md5+sha256+bag), ratio curl/ours "
                  f"{curl_s / ours_s:.2f}, our peak RSS {max(peaks):.0f} MiB, "
                  f"md5 ceiling {ceiling:.0f} MiB/s")
        finally:
            sandbox.terminate()
            sandbox.wait(10)


if __name__ == "__main__":
    main()
