"""Upload throughput and client memory: ecasrepro vs ``curl -T`` vs the predecessor, one sandbox.

Run by hand: ``.venv/bin/python bench/bench_publish.py [--size-mib 1024] [--repeat 3]``.

The sandbox runs as its own process (``ecasrepro sandbox --port 0 --json``); every client runs
as a child process whose wall time and peak RSS (``ru_maxrss`` from ``os.wait4``) are measured:

* ``curl -T``: the reference raw streamed PUT into a fresh draft's bucket;
* ``ecasrepro upload``: our client's upload step alone (FileBody streaming + md5 in the same
  pass + checksum comparison) into a fresh draft's bucket;
* ``ecasrepro publish``: the whole ``ecasrepro publish BUNDLE --new-draft`` command on a bundle
  holding the file (bag check, stat check against the snapshot's fixity record, community/schema,
  draft, upload with the snapshot's md5, verification);
* ``(secret scan only)``: what a full re-scan of the bundle would cost (publish no longer does it
  for files the snapshot scanned and that did not change since; CONTRIBUTING.md says why);
* ``ecasb2share``: the predecessor's ``add_file_to_draft_record`` (multipart, whole file in RAM).

Each is repeated; medians are printed with the speed ratio (curl time / our time; >= 0.9 wanted).
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

import requests
from _harness import make_file, run_child

ECAS = "d2c6e694-0c0a-4884-ad15-ddf498008320"
PY = sys.executable
CLI = [PY, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]

OUR_UPLOAD = r"""
import sys
from pathlib import Path
from ecasrepro.b2share.client import B2ShareSession, FileBody
from ecasrepro.b2share.v2 import V2Api
from ecasrepro.config import resolve_config
url, bucket, path = sys.argv[1:4]
config = resolve_config(server=url)
with B2ShareSession(config) as session:
    api = V2Api(session)
    body = FileBody(Path(path), Path(path).stat().st_size)
    answer = api.put_file(bucket, "ours.bin", body)
    assert answer["checksum"] == "md5:" + body.md5, (answer, body.md5)
"""

SCAN_ONLY = r"""
import sys
from pathlib import Path
from ecasrepro.capture.secrets import Redactor, scan_tree
assert not scan_tree(Path(sys.argv[1]), Redactor.from_environment(), skip=("receipt.json",))
"""

PREDECESSOR_UPLOAD = r"""
import sys
from ecasb2share.ecasb2shareclient import EcasShare
url, token_file, bucket, path = sys.argv[1:5]
EcasShare(url=url, token_file=token_file).add_file_to_draft_record(path, bucket)
"""



def new_bucket(url: str, token: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = {"titles": [{"title": "bench"}], "community": ECAS, "open_access": True,
            "community_specific": {}}
    response = requests.post(url + "/api/records/", data=json.dumps(body), headers=headers,
                             timeout=30)
    response.raise_for_status()
    draft = response.json()
    return draft["id"], draft["links"]["files"].rsplit("/", 1)[-1]


def delete_draft(url: str, token: str, draft_id: str) -> None:
    requests.delete(f"{url}/api/records/{draft_id}/draft",
                    headers={"Authorization": f"Bearer {token}"}, timeout=60)



def make_bundle(where: Path, big: Path) -> Path:
    from ecasrepro.bundle import Attachment, BundleContent, write_bundle
    from ecasrepro.capture.secrets import Redactor

    content = BundleContent(
        title="bench", notebook_name="bench.ipynb",
        notebook_json=b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        notebook_html=b"<html></html>",
        metadata={"titles": [{"title": "bench"}], "community": ECAS, "open_access": True,
                  "creators": [{"creator_name": "Bench"}]},
        requirements_txt="numpy==2.0\n", platform={"python": "3"}, git_state={"repo": False},
        attachments=[Attachment(big, big.name, big.stat().st_size)],
    )
    return write_bundle(content, where / "bench.repro", Redactor([]), progress=False).path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-predecessor", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    sandbox = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--json", "--data",
         str(work / "sandbox")], stdout=subprocess.PIPE, text=True)
    assert sandbox.stdout is not None
    info = json.loads(sandbox.stdout.readline())
    url, token = info["url"].rstrip("/"), info["token"]
    token_file = work / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    env = dict(os.environ, B2SHARE_URL=url, B2SHARE_TOKEN_FILE=str(token_file),
               B2SHARE_COMMUNITY=ECAS, ECASREPRO_CACHE_DIR=str(work / "cache"))
    try:
        big = work / "big.bin"
        size = args.size_mib * 1024 * 1024
        make_file(big, size)
        bundle = make_bundle(work, big)
        print(f"file: {args.size_mib} MiB; sandbox {url}; {args.repeat} runs each, medians",
              flush=True)

        def curl(bucket: str) -> list[str]:
            return ["curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(big),
                    "-H", f"Authorization: Bearer {token}",
                    "-H", "Content-Type: application/octet-stream",
                    f"{url}/api/files/{bucket}/curl.bin"]

        methods = {
            "curl -T": lambda bucket: curl(bucket),
            "ecasrepro upload": lambda bucket: [PY, "-c", OUR_UPLOAD, url, bucket, str(big)],
            "ecasrepro publish": lambda bucket: [*CLI, "publish",
                                                 str(bundle), "--new-draft"],
        }
        methods["(secret scan only)"] = lambda bucket: [PY, "-c", SCAN_ONLY, str(bundle)]
        if not args.skip_predecessor:
            methods["ecasb2share"] = lambda bucket: [PY, "-c", PREDECESSOR_UPLOAD, url,
                                                     str(token_file), bucket, str(big)]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
        for _ in range(args.repeat):
            for name, argv_for in methods.items():  # interleaved: same conditions for each
                draft_id, bucket = new_bucket(url, token)
                os.sync()
                seconds, rss, code = run_child(argv_for(bucket), env, work)
                if code != 0:
                    print(f"{name}: exit code {code}", flush=True)
                results[name].append((seconds, rss))
                delete_draft(url, token, draft_id)
                if name == "ecasrepro publish":
                    receipt = json.loads((bundle / "receipt.json").read_text())
                    delete_draft(url, token, receipt["draft_id"])
        reference = statistics.median(s for s, _ in results["curl -T"])
        best_reference = min(s for s, _ in results["curl -T"])
        print(f"{'client':<22} {'median s':>9} {'MiB/s':>8} {'vs curl':>8} {'best s':>7} "
              f"{'best vs curl':>12} {'peak RSS MiB':>13}")
        for name, runs in results.items():
            median = statistics.median(s for s, _ in runs)
            peak = max(r for _, r in runs)
            best = min(s for s, _ in runs)
            print(f"{name:<22} {median:9.2f} {args.size_mib / median:8.1f} "
                  f"{reference / median:8.2f} {best:7.2f} {best_reference / best:12.2f} "
                  f"{peak:13.1f}")
        print("runs (s): " + "; ".join(
            f"{n}: " + ", ".join(f"{s:.2f}" for s, _ in r) for n, r in results.items()))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
