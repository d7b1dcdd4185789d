"""Publishing to B2SHARE v3 with latency: ecasrepro vs the same three-step sequence with ``curl``.

Run by hand: ``.venv/bin/python bench/bench_publish_v3.py [--files 200] [--file-kib 64]
[--big-mib 1024] [--latency-ms 50] [--repeat 1]``.

The v3 sandbox runs as its own process with ``latency=<ms>`` injected on every API request. Two
scenarios, each timed as child processes (wall time; peak RSS via GNU time ``%M``):

* many small files (200 x 64 KiB plus the bundle's own files): ``ecasrepro publish BUNDLE
  --api v3 --new-draft`` (whole command: bag check, secret scan, community lookup, draft, uploads
  4 at a time, review request) vs ``curl`` doing init -> content -> commit file after file into
  a fresh draft (3 curl processes per file, the draft created beforehand and not timed);
* one big file (1 GiB): the same publish command vs ``curl`` doing init, the content PUT
  (``-T``, streamed) and the commit.

Targets (issue 6): small files >= 3x faster than curl; big file >= 0.9x curl; client peak RSS
< 100 MiB. The sandbox enforces InvenioRDM's 100-files-per-record limit; for the 200-file case it
is started with that limit raised (``MAX_FILES``), which changes nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import requests
from _harness import make_file, run_child

PY = sys.executable
CLI = [PY, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]
SANDBOX = r"""
import sys
from ecasrepro.sandbox.v3 import files as v3files
v3files.MAX_FILES = 10_000  # the bench needs more than InvenioRDM's 100 files per record
from ecasrepro.cli import main
sys.exit(main())
"""




def make_bundle(where: Path, name: str, sources: list[Path]) -> Path:
    from ecasrepro.bundle import Attachment, BundleContent, write_bundle
    from ecasrepro.capture.secrets import Redactor

    content = BundleContent(
        title="bench v3", notebook_name="bench.ipynb",
        notebook_json=b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        notebook_html=b"<html></html>",
        metadata={"titles": [{"title": "bench v3"}], "community": "ecas", "open_access": True,
                  "creators": [{"creator_name": "Bench, Mark"}]},
        requirements_txt="numpy==2.0\n", platform={"python": "3"}, git_state={"repo": False},
        attachments=[Attachment(p, p.name, p.stat().st_size) for p in sources],
    )
    return write_bundle(content, where / name, Redactor([]), progress=False).path


def new_draft(url: str, token: str) -> str:
    body = {"metadata": {"title": "curl bench"}, "files": {"enabled": True}}
    response = requests.post(url + "/api/records", json=body, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return str(response.json()["id"])


def delete_draft(url: str, token: str, draft_id: str) -> None:
    requests.delete(f"{url}/api/records/{draft_id}/draft",
                    headers={"Authorization": f"Bearer {token}"}, timeout=120)


def curl_script(url: str, token: str, draft_id: str, files: list[tuple[str, Path]]) -> str:
    """A shell script running init, content, commit per file, one curl each, file after file."""
    auth = f"Authorization: Bearer {token}"
    base = f"{url}/api/records/{draft_id}/draft/files"
    lines = ["set -e"]
    for key, path in files:
        item = f"{base}/{quote(key, safe='/')}"
        lines.append(f"curl -sS --fail -o /dev/null -H '{auth}' -H 'Content-Type: "
                     f"application/json' -d '[{{\"key\": \"{key}\"}}]' '{base}'")
        lines.append(f"curl -sS --fail -o /dev/null -H '{auth}' -H 'Content-Type: "
                     f"application/octet-stream' -T '{path}' '{item}/content'")
        lines.append(f"curl -sS --fail -o /dev/null -H '{auth}' -X POST '{item}/commit'")
    return "\n".join(lines) + "\n"


def scenario(name: str, bundle: Path, url: str, token: str, env: dict[str, str], work: Path,
             repeat: int) -> None:
    from ecasrepro.bundle import Bundle

    payload = [(pf.relpath, pf.path) for pf in Bundle.open(bundle).payload_files()]
    total = sum(p.stat().st_size for _, p in payload)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(repeat):
        draft_id = new_draft(url, token)
        script = work / "curl.sh"
        script.write_text(curl_script(url, token, draft_id, payload))
        os.sync()
        seconds, rss, code = run_child(["sh", str(script)], env, work)
        if code:
            print(f"curl: exit code {code}", flush=True)
        theirs.append((seconds, rss))
        delete_draft(url, token, draft_id)
        os.sync()
        seconds, rss, code = run_child(
            [*CLI, "publish", str(bundle), "--api", "v3", "--new-draft"], env, work)
        if code:
            print(f"ecasrepro: exit code {code}", flush=True)
        ours.append((seconds, rss))
        receipt = json.loads((bundle / "receipt.json").read_text())
        delete_draft(url, token, receipt["draft_id"])
    curl_s = statistics.median(s for s, _ in theirs)
    our_s = statistics.median(s for s, _ in ours)
    print(f"\n{name}: {len(payload)} files, {total / 2**20:.1f} MiB")
    print(f"  {'client':<34} {'median s':>9} {'MiB/s':>8} {'peak RSS MiB':>13}")
    print(f"  {'curl (3 calls per file, serial)':<34} {curl_s:9.2f} "
          f"{total / 2**20 / curl_s:8.1f} {max(r for _, r in theirs):13.1f}")
    print(f"  {'ecasrepro publish --api v3':<34} {our_s:9.2f} "
          f"{total / 2**20 / our_s:8.1f} {max(r for _, r in ours):13.1f}")
    print(f"  speed vs curl: {curl_s / our_s:.2f}x   runs ours: "
          + ", ".join(f"{s:.2f}" for s, _ in ours) + "; curl: "
          + ", ".join(f"{s:.2f}" for s, _ in theirs), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--file-kib", type=int, default=64)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-v3-"))
    sandbox = subprocess.Popen(
        [PY, "-c", SANDBOX, "sandbox", "--api", "v3", "--port", "0", "--json", "--data",
         str(work / "sandbox"), "--faults", f"latency={args.latency_ms}ms"],
        stdout=subprocess.PIPE, text=True)
    assert sandbox.stdout is not None
    info = json.loads(sandbox.stdout.readline())
    url, token = info["url"].rstrip("/"), info["token"]
    token_file = work / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    env = dict(os.environ, B2SHARE_URL=url, B2SHARE_TOKEN_FILE=str(token_file),
               B2SHARE_COMMUNITY="ecas", ECASREPRO_CACHE_DIR=str(work / "cache"))
    print(f"v3 sandbox {url}, latency {args.latency_ms} ms per request", flush=True)
    try:
        small_dir = work / "small"
        small_dir.mkdir()
        smalls = []
        for i in range(args.files):
            path = small_dir / f"part-{i:04d}.bin"
            make_file(path, args.file_kib * 1024)
            smalls.append(path)
        scenario(f"{args.files} x {args.file_kib} KiB", make_bundle(work, "small.repro", smalls),
                 url, token, env, work, args.repeat)
        if not args.skip_big:
            big = work / "big.bin"
            make_file(big, args.big_mib * 1024 * 1024)
            scenario(f"1 x {args.big_mib} MiB", make_bundle(work, "big.repro", [big]), url,
                     token, env, work, args.repeat)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
