"""What verification costs on top of re-execution, and how long the stdlib PNG comparison takes.

Run by hand: ``.venv/bin/python bench/bench_verify.py [repeats]``.

1. The example notebook is snapshotted once. Then a plain nbclient run of it (kernel start,
   execute, nothing else) is timed side by side with ``ecasrepro.verify`` on the bundle
   (working copy, execute, compare, environment diff, verification.json). Both figures are
   medians, and the ratio is the overhead of verifying over re-running.
2. Two 640x480 RGBA PNGs (Paeth-filtered, matplotlib's usual size) that differ by a few pixels
   are compared: ``zlib.decompress`` alone (the floor) beside the full perceptual comparison.
"""

from __future__ import annotations

import base64
import shutil
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


def png(width: int, height: int, rows: list[list[int]]) -> bytes:
    """An RGBA PNG whose rows all use the Paeth filter (the slowest one to undo)."""
    raw = bytearray()
    prev = [0] * (width * 4)
    for row in rows:
        out = []
        for i, value in enumerate(row):
            a = row[i - 4] if i >= 4 else 0
            b = prev[i]
            c = prev[i - 4] if i >= 4 else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((value - pred) % 256)
        raw += b"\x04" + bytes(out)
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def median_time(func, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import nbformat
    from nbclient import NotebookClient

    import ecasrepro
    from ecasrepro.verification import Tolerances, compare_image

    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "example"
        shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns("*.repro", "*.zip"))
        bundle = ecasrepro.snapshot(
            project / "temperature_anomaly.ipynb",
            attach=[project / "outputs"],
            metadata=project / "metadata.json",
            output=Path(tmp) / "temperature_anomaly.repro",
        )
        notebook = project / "temperature_anomaly.ipynb"

        def plain_run() -> None:
            nb = nbformat.read(notebook, as_version=4)
            NotebookClient(nb, resources={"metadata": {"path": str(project)}}).execute()

        def verify_run() -> None:
            report = ecasrepro.verify(bundle.path, data_dirs=[project])
            assert report.reproduced, report.summary()

        plain_run()  # warm caches (imports, kernelspec lookup) for both sides
        plain = median_time(plain_run, repeats)
        verify = median_time(verify_run, repeats)
    print(f"example notebook, median of {repeats}:")
    print(f"  nbclient execute only     {plain:7.3f} s")
    print(f"  ecasrepro.verify (bundle) {verify:7.3f} s")
    print(f"  ratio verify / execute    {verify / plain:7.2f}x")

    width, height = 640, 480
    rows = [[(x * 3 + y) % 256 for x in range(width * 4)] for y in range(height)]
    changed = [row[:] for row in rows]
    changed[10][0:40] = [0] * 40
    a, b = png(width, height, rows), png(width, height, changed)
    a64, b64 = base64.b64encode(a).decode(), base64.b64encode(b).decode()
    floor = median_time(lambda: (zlib.decompress(a[41:-16]), zlib.decompress(b[41:-16])), 3)
    full = median_time(lambda: compare_image(a64, b64, Tolerances()), 3)
    print(f"two {width}x{height} RGBA PNGs that differ, median of 3:")
    print(f"  zlib.decompress only      {floor:7.3f} s")
    print(f"  perceptual comparison     {full:7.3f} s")
    print(f"  ratio                     {full / floor:7.0f}x")


if __name__ == "__main__":
    main()
