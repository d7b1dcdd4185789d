"""Image comparison (``ecasrepro.verification.images``): both PNG readers and the verdicts.

PNGs are written here byte by byte (every filter type, colour type, palette, 16-bit, alpha), so
each decoding branch is checked against an independently built image of the same pixels. Every
test runs twice: with Pillow (the ``images`` extra, which the ``test`` extra installs) and with
Pillow made unimportable, so the standard-library reader must reach the same verdicts.
"""

from __future__ import annotations

import base64
import struct
import sys
import zlib

import pytest

from ecasrepro.verification import Tolerances, compare_image, image_difference, image_size
from ecasrepro.verification.images import _block_means, _png_grey

TOL = Tolerances()


@pytest.fixture(params=["pillow", "stdlib"], autouse=True)
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with Pillow, then with ``import PIL`` failing (the fallback reader)."""
    if request.param == "stdlib":
        monkeypatch.setitem(sys.modules, "PIL", None)
    else:
        import PIL  # noqa: F401 - the test extra installs it; a missing Pillow is an error here
    return str(request.param)


def png_bytes(width: int, height: int, rows: list[list[int]] | None = None, filter_type: int = 0,
              colour: int = 2) -> bytes:
    """A PNG written with one filter type for every row (to check the reader's unfiltering)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    if rows is None:
        rows = [[(x * 31 + y * 17) % 256 for x in range(width * channels)] for y in range(height)]
    raw = bytearray()
    prev = [0] * (width * channels)
    for row in rows:
        out = []
        for i, value in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filter_type == 0:
                pred = 0
            elif filter_type == 1:
                pred = a
            elif filter_type == 2:
                pred = b
            elif filter_type == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((value - pred) % 256)
        raw += bytes([filter_type]) + bytes(out)
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def png_file(width: int, height: int, depth: int, colour: int, raw: bytes,
             palette: bytes = b"", interlace: int = 0) -> bytes:
    """A PNG from already-filtered scanlines (each row starts with its filter byte)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + (chunk(b"PLTE", palette) if palette else b"")
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("colour", [0, 2, 4, 6])
def test_png_reader_handles_every_filter(filter_type: int, colour: int) -> None:
    reference = png_bytes(7, 5, filter_type=0, colour=colour)
    filtered = png_bytes(7, 5, filter_type=filter_type, colour=colour)
    assert image_size(filtered) == (7, 5)
    assert image_difference(reference, filtered) == 0.0


def test_images_compare_perceptually() -> None:
    width, height = 40, 30
    base = [[200] * (width * 3) for _ in range(height)]
    noisy = [[v + (1 if (i + y) % 2 else -1) for i, v in enumerate(row)] for y, row in
             enumerate(base)]
    changed = [row[:] for row in base]
    for y in range(5, 25):  # a dark square: a real change of the plot
        changed[y][30:90] = [0] * 60
    b64 = lambda rows: base64.b64encode(png_bytes(width, height, rows)).decode()  # noqa: E731
    assert compare_image(b64(base), b64(base), TOL).level == 0
    # Same pixels, other metadata (matplotlib writes its version in a tEXt chunk): same.
    plain = png_bytes(width, height, base)
    text = b"Software\x00matplotlib 9.9"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(
        ">I", zlib.crc32(b"tEXt" + text)
    )
    tagged = plain[:33] + chunk + plain[33:]
    result = compare_image(b64(base), base64.b64encode(tagged).decode(), TOL)
    assert result.level == 0, result
    assert compare_image(b64(base), b64(noisy), TOL).level == 1
    result = compare_image(b64(base), b64(changed), TOL)
    assert result.level == 2 and "image content differs" in result.reason
    result = compare_image(b64(base), base64.b64encode(png_bytes(41, 30)).decode(), TOL)
    assert result.level == 2 and "image size 40x30 became 41x30" in result.reason



def test_palette_png_decodes_to_the_same_grey_as_its_rgb_twin() -> None:
    colours = [(255, 0, 0), (0, 128, 255), (20, 20, 20)]
    indices = [[(x + y) % 3 for x in range(6)] for y in range(4)]
    palette = b"".join(bytes(c) for c in colours)
    indexed = png_file(6, 4, 8, 3, b"".join(b"\x00" + bytes(row) for row in indices), palette)
    rgb_rows = [[v for i in row for v in colours[i]] for row in indices]
    rgb = png_bytes(6, 4, rgb_rows)
    assert image_difference(indexed, rgb) == 0.0
    # ...and a palette with other colours is seen as another image.
    dark = png_file(6, 4, 8, 3, b"".join(b"\x00" + bytes(row) for row in indices), b"\0" * 9)
    difference = image_difference(dark, rgb)
    assert difference is not None and difference > 0.1


def test_sixteen_bit_png_compares_by_its_high_byte() -> None:
    rows = [[(x * 40 + y * 10) % 256 for x in range(5)] for y in range(3)]
    eight = png_bytes(5, 3, rows, colour=0)
    sixteen = png_file(5, 3, 16, 0, b"".join(
        b"\x00" + b"".join(bytes([v, 0x7F]) for v in row) for row in rows
    ))
    assert image_difference(eight, sixteen) == 0.0


def test_transparent_pixels_are_composited_on_white() -> None:
    clear = png_bytes(4, 4, [[0, 0, 0, 0] * 4 for _ in range(4)], colour=6)  # black, alpha 0
    white = png_bytes(4, 4, [[255] * 12 for _ in range(4)])
    black = png_bytes(4, 4, [[0] * 12 for _ in range(4)])
    assert image_difference(clear, white) == 0.0
    assert image_difference(clear, black) == 1.0


def test_unsupported_pngs_are_not_decoded() -> None:
    """Interlaced, 1-bit or corrupt data: the stdlib reader declines instead of guessing."""
    raw = b"\x00" + b"\x00" * 3
    assert _png_grey(png_file(1, 1, 8, 2, raw, interlace=1)) is None
    assert _png_grey(png_file(8, 1, 1, 0, b"\x00\xff")) is None
    assert _png_grey(b"GIF89a") is None
    good = png_bytes(3, 2)
    idat_data, iend = 41, len(good) - 12  # after the signature, IHDR and IDAT's own header
    corrupt = good[:idat_data] + b"\x00" * (iend - idat_data) + good[iend:]  # IDAT zeroed
    assert image_size(corrupt) == (3, 2)
    assert _png_grey(corrupt) is None


def test_same_size_but_undecodable_is_within_tolerance_with_a_reason() -> None:
    first = png_file(2, 2, 8, 2, b"\x00" + b"\x10" * 6 + b"\x00" + b"\x20" * 6, interlace=1)
    second = png_file(2, 2, 8, 2, b"\x00" + b"\x90" * 6 + b"\x00" + b"\xa0" * 6, interlace=1)
    result = compare_image(b64(first), b64(second), TOL)
    assert result.level == 1 and "pixels not compared" in result.reason


def test_invalid_base64_is_a_difference() -> None:
    result = compare_image(b64(png_bytes(2, 2)), "!!!not base64", TOL)
    assert result.level == 2 and result.reason == "image is not valid base64"


def test_image_size_reads_jpeg_frames_and_refuses_other_data() -> None:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 480, 640, 1) + b"\x01\x11\x00"
    jpeg = b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"
    assert image_size(jpeg) == (640, 480)
    # A DHT segment (0xC4) lies in the SOF range but is not a frame header: skipped.
    dht = b"\xff\xc4" + struct.pack(">H", 5) + b"\x00\x00\x00"
    assert image_size(b"\xff\xd8" + dht + sof0) == (640, 480)
    assert image_size(b"plain text") is None
    assert image_size(b"\xff\xd8" + app0) is None


def test_size_change_names_both_sizes_and_jpeg_against_png_is_unknown() -> None:
    result = compare_image(b64(png_bytes(4, 3)), b64(png_bytes(3, 4)), TOL)
    assert (result.level, result.captured, result.reexecuted) == (2, "4x3", "3x4")
    result = compare_image(b64(png_bytes(4, 3)), b64(b"\xff\xd8\xff\xd9"), TOL)
    assert result.level == 2 and "became unknown" in result.reason


def test_image_tolerance_is_the_threshold() -> None:
    base = png_bytes(8, 8, [[100] * 24 for _ in range(8)])
    lighter = png_bytes(8, 8, [[110] * 24 for _ in range(8)])  # difference 10/255 = 0.0392
    assert compare_image(b64(base), b64(lighter), Tolerances(image=0.05)).level == 1
    result = compare_image(b64(base), b64(lighter), Tolerances(image=0.03))
    assert result.level == 2 and "difference 0.0392 > image tolerance 0.03" in result.reason


def test_block_means_average_each_grid_cell() -> None:
    grey = [[0.0, 0.0, 255.0, 255.0], [0.0, 0.0, 255.0, 255.0]]
    assert _block_means(4, 2, grey, grid=2) == [0.0, 255.0, 0.0, 255.0]
    # An image smaller than the grid keeps one block per pixel.
    assert _block_means(2, 1, [[10.0, 20.0]]) == [10.0, 20.0]
