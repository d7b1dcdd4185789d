"""Benchmark: peak memory of `ecasrepro snapshot` of a large notebook, as a multiple of its size.

    .venv/bin/python bench/bench_notebook_memory.py [--mib 200] [--kind mixed] [--dir /tmp]

Writes a notebook of about ``--mib`` MiB whose bulk is outputs (``mixed``: half base64 PNG
``display_data``, half ``stream`` text, in 1 MiB outputs, as a notebook plotting and printing a lot
has), snapshots it (no attachments) in a child process and prints its peak RSS (GNU time, see
_harness.run_child), the ratio peak / notebook size, and the same for a bare interpreter that
only imports what a snapshot imports (the fixed cost) so that the size-proportional part shows.
Target (issue 20 #13): peak under 3x the notebook's size. Run by hand, not in the test suite.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _harness import run_child

CLI = "import sys; from ecasrepro.cli import main; sys.exit(main())"
IMPORTS = "import nbformat, nbconvert, jsonschema, ecasrepro.api, ecasrepro.capture.secrets"
MiB = 1024 * 1024


def make_notebook(path: Path, mib: int, kind: str) -> int:
    """A valid nbformat 4 notebook of about ``mib`` MiB; returns its size in bytes."""
    block = os.urandom(768 * 1024)  # 1 MiB of base64
    png = base64.b64encode(block).decode("ascii")
    text = ("temperature anomaly 0.123456789 K at step %d\n" * 24000)[: MiB]
    cells = []
    for n in range(mib):
        output: dict[str, object]
        if kind == "text" or (kind == "mixed" and n % 2):
            output = {"output_type": "stream", "name": "stdout", "text": text}
        else:
            output = {"output_type": "display_data", "metadata": {},
                      "data": {"image/png": png, "text/plain": "<Figure>"}}
        cells.append({"cell_type": "code", "execution_count": n + 1, "id": f"c{n:05d}",
                      "metadata": {}, "source": f"plot({n})", "outputs": [output]})
    book = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
            "display_name": "Python 3"}, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(book, indent=1), encoding="utf-8")
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--kind", choices=["mixed", "png", "text"], default="mixed")
    parser.add_argument("--dir", default=None, help="where to write the notebook (default: tmp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ecasrepro-bench-mem-", dir=args.dir))
    try:
        notebook = work / "big.ipynb"
        size = make_notebook(notebook, args.mib, args.kind)
        env = {**os.environ, "GIT_DIR": str(work / "no-git")}
        _s, base_mib, _c = run_child([sys.executable, "-c", IMPORTS], env, work)
        seconds, peak_mib, code = run_child(
            [sys.executable, "-c", CLI, "snapshot", str(notebook), "-o", str(work / "b.repro")],
            env, work)
        if code != 0:
            print(f"snapshot failed with exit code {code}")
            return 1
        size_mib = size / MiB
        print(f"notebook: {size_mib:.0f} MiB ({args.kind}); snapshot {seconds:.1f} s")
        print(f"peak RSS {peak_mib:.0f} MiB = {peak_mib / size_mib:.2f}x the notebook")
        print(f"fixed cost (imports only) {base_mib:.0f} MiB; size-proportional part "
              f"{(peak_mib - base_mib) / size_mib:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
