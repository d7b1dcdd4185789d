"""Pillow first, the standard-library PNG reader as fallback (``verification.images``).

The same image pairs go through both readers (Pillow made unimportable for the second): the
differences agree to the rounding ``image_difference`` applies, and so do the verdicts, also
next to the tolerance threshold and for sizes that do not divide into the 32x32 grid.
"""

from __future__ import annotations

import base64
import random
import sys
from typing import Any

import pytest

from ecasrepro.verification import Tolerances, compare_image, image_difference, images
from ecasrepro.verification.images import _block_means
from tests.test_verify_images import png_bytes, png_file

TOL = Tolerances()


def pairs() -> dict[str, tuple[bytes, bytes]]:
    """Named (captured, re-executed) PNG pairs: same, noise, shade steps, changes, alpha."""
    rng = random.Random(7)
    width, height = 75, 41  # neither divides by 32: blocks of unequal size
    base = [[rng.randrange(40, 216) for _ in range(width * 3)] for _ in range(height)]

    def shifted(rows: list[list[int]], by: int) -> list[list[int]]:
        return [[v + by for v in row] for row in rows]

    square = [row[:] for row in base]
    for y in range(10, 30):
        square[y][60:150] = [0] * 90
    noise = [[v + rng.choice((-1, 1)) for v in row] for row in base]
    rgba = [[v if i % 4 != 3 else rng.randrange(256) for i, v in enumerate(row)]
            for row in [[rng.randrange(256) for _ in range(width * 4)] for _ in range(height)]]
    rgba_changed = [row[:] for row in rgba]
    rgba_changed[5][0:120] = [255, 0, 0, 255] * 30
    grey_alpha = [[rng.randrange(256) for _ in range(width * 2)] for _ in range(height)]
    grey_alpha_changed = [row[:] for row in grey_alpha]
    for y in range(0, 20):  # an opaque black band over the top left
        grey_alpha_changed[y][0:60] = [0, 255] * 30
    palette = bytes(rng.randrange(256) for _ in range(3 * 16))
    indices = b"".join(b"\x00" + bytes(rng.randrange(16) for _ in range(width))
                       for _ in range(height))
    other_palette = palette[:-3] + b"\xff\xff\xff"
    found = {
        "same pixels": (png_bytes(width, height, base), png_bytes(width, height, base, 4)),
        "one-level noise": (png_bytes(width, height, base), png_bytes(width, height, noise)),
        "dark square": (png_bytes(width, height, base), png_bytes(width, height, square)),
        "rgba with alpha": (png_bytes(width, height, rgba, colour=6),
                            png_bytes(width, height, rgba_changed, 2, colour=6)),
        "grey and alpha": (png_bytes(width, height, grey_alpha, colour=4),
                           png_bytes(width, height, grey_alpha_changed, 3, colour=4)),
        "palette": (png_file(width, height, 8, 3, indices, palette),
                    png_file(width, height, 8, 3, indices, other_palette)),
    }
    for by in range(1, 6):  # 1/255 .. 5/255 around the default tolerance 0.01 (2.55 levels)
        found[f"lighter by {by}"] = (
            png_bytes(width, height, base), png_bytes(width, height, shifted(base, by))
        )
    return found


PAIRS = pairs()


def both_readers(monkeypatch: pytest.MonkeyPatch, func: Any) -> tuple[Any, Any]:
    with_pillow = func()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "PIL", None)
        without = func()
    return with_pillow, without


@pytest.mark.parametrize("name", PAIRS)
def test_both_readers_give_the_same_difference_and_verdict(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = PAIRS[name]
    a64, b64 = base64.b64encode(a).decode(), base64.b64encode(b).decode()
    pillow, stdlib = both_readers(monkeypatch, lambda: image_difference(a, b))
    assert pillow is not None and stdlib is not None
    assert pillow == pytest.approx(stdlib, abs=2e-6)
    verdicts = both_readers(monkeypatch, lambda: compare_image(a64, b64, TOL).level)
    assert verdicts[0] == verdicts[1]


def test_the_threshold_falls_between_the_same_shades_for_both_readers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for reader in both_readers(monkeypatch, lambda: [
        compare_image(*(base64.b64encode(p).decode() for p in PAIRS[f"lighter by {by}"]),
                      TOL).level
        for by in range(1, 6)
    ]):
        assert reader == [1, 1, 2, 2, 2]


def test_pillow_is_tried_first_and_the_stdlib_reader_only_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = PAIRS["dark square"]
    calls: list[int] = []
    real = images._png_grey

    def counted(data: bytes) -> Any:
        calls.append(1)
        return real(data)

    monkeypatch.setattr(images, "_png_grey", counted)
    assert image_difference(a, b) is not None
    assert calls == []  # Pillow decoded both
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert image_difference(a, b) is not None
    assert calls == [1, 1]


def test_pillow_reads_what_the_stdlib_reader_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG: decoded and compared with Pillow; without it, only the size is compared."""
    import io

    from PIL import Image

    def jpeg(shade: int) -> str:
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (shade, shade, shade)).save(out, "JPEG")
        return base64.b64encode(out.getvalue()).decode()

    dark, light = jpeg(30), jpeg(200)
    pillow, stdlib = both_readers(monkeypatch, lambda: compare_image(dark, light, TOL))
    assert pillow.level == 2 and "image content differs" in pillow.reason
    assert stdlib.level == 1 and "pixels not compared" in stdlib.reason


@pytest.mark.parametrize("size", [(75, 41), (32, 32), (1, 5), (100, 3), (1200, 7)])
def test_block_means_match_the_per_pixel_definition(size: tuple[int, int]) -> None:
    width, height = size
    rng = random.Random(width * height)
    grey = [[float(rng.randrange(256)) for _ in range(width)] for _ in range(height)]
    columns, rows = min(32, width), min(32, height)
    sums = [0.0] * (columns * rows)
    counts = [0] * (columns * rows)
    for y in range(height):
        for x in range(width):
            block = (y * rows // height) * columns + x * columns // width
            sums[block] += grey[y][x]
            counts[block] += 1
    expected = [s / c for s, c in zip(sums, counts, strict=True)]
    assert _block_means(width, height, grey) == pytest.approx(expected)
