"""What verification costs on top of re-execution, and how long an image comparison takes.

Run by hand: ``.venv/bin/python bench/bench_verify.py [repeats]``.

1. The example notebook is snapshotted once. Then a plain nbclient run of it (kernel start,
   execute, nothing else) is timed side by side with ``ecasrepro.verify`` on the bundle
   (working copy, execute, compare, environment diff, verification.json). Both figures are
   medians, and the ratio is the overhead of verifying over re-running.
2. Two 640x480 RGBA PNGs (Paeth-filtered, matplotlib's usual size) that differ by a few pixels
   are compared: ``zlib.decompress`` alone (the floor) beside the full perceptual comparison
   (today's reader: Pillow when it is importable).
3. Two 1200x800 RGBA PNGs that differ (a figure saved at a higher dpi), side by side in one
   run: the comparison of ``--baseline REV`` (its ``verification/images.py`` loaded from git;
   default ``fe6bd78``, before Pillow came first), today's with Pillow, and today's with
   Pillow made unimportable (the standard-library fallback).

Usage: ``bench/bench_verify.py [repeats] [--baseline REV] [--images-only]``.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import shutil
import statistics
import struct
import subprocess
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
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=5)
    parser.add_argument("--baseline", default="fe6bd78")
    parser.add_argument("--images-only", action="store_true")
    args = parser.parse_args()
    repeats = args.repeats
    if not args.images_only:
        bench_notebook(repeats)
        bench_png_640()
    bench_png_1200(args.baseline, repeats)


def bench_notebook(repeats: int) -> None:
    import nbformat
    from nbclient import NotebookClient

    import ecasrepro

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


def bench_png_640() -> None:
    from ecasrepro.verification import Tolerances, compare_image

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


def baseline_images(rev: str):  # type: ignore[no-untyped-def]
    """``verification/images.py`` as it was at ``rev``, imported under a name of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:ecasrepro/verification/images.py"],
        cwd=HERE.parent, check=True, capture_output=True, text=True,
    ).stdout
    folder = Path(tempfile.mkdtemp())
    (folder / "baseline_images.py").write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_images", folder / "baseline_images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shutil.rmtree(folder)
    return module


def bench_png_1200(rev: str, repeats: int) -> None:
    from ecasrepro.verification import Tolerances, compare_image

    old = baseline_images(rev)
    width, height = 1200, 800
    rows = [[(x * 7 + y * 3) % 256 for x in range(width * 4)] for y in range(height)]
    changed = [row[:] for row in rows]
    for y in range(100, 300):  # a moved curve: a real, small change
        changed[y][400:1600] = [30, 60, 90, 255] * 300
    a64 = base64.b64encode(png(width, height, rows)).decode()
    b64 = base64.b64encode(png(width, height, changed)).decode()
    tol = Tolerances()
    verdicts = {}

    def timed(name: str, func) -> float:  # type: ignore[no-untyped-def]
        verdicts[name] = func().level
        return median_time(func, repeats)

    before = timed("before", lambda: old.compare_image(a64, b64, tol))
    pillow = timed("pillow", lambda: compare_image(a64, b64, tol))
    saved = sys.modules.get("PIL")
    sys.modules["PIL"] = None  # type: ignore[assignment]  # import PIL now fails
    try:
        fallback = timed("fallback", lambda: compare_image(a64, b64, tol))
    finally:
        if saved is None:
            del sys.modules["PIL"]
        else:
            sys.modules["PIL"] = saved
    print(f"two {width}x{height} RGBA PNGs that differ, per pair, median of {repeats}:")
    print(f"  {f'before ({rev}, stdlib first)':32} {before:7.3f} s")
    print(f"  {'now, Pillow':32} {pillow:7.3f} s  ({before / pillow:.0f}x faster)")
    print(f"  {'now, stdlib fallback':32} {fallback:7.3f} s")
    print(f"  verdict levels (0 same, 1 within, 2 differs): {verdicts}")


if __name__ == "__main__":
    main()
