"""Image comparison: PNG/JPEG outputs by dimensions, pixels and a perceptual difference.

One job: decide whether a re-executed image is the captured one (identical bytes or pixels),
within the image tolerance (block-averaged grey levels), or different. Images are decoded with
Pillow when it is importable (``ecasrepro[images]``) and with a standard-library PNG reader
otherwise; both give the same difference. SVGs are compared as rendered images (resvg-py, same
extra) after their random ids and metadata are normalised, and as that normalised text when
resvg-py is missing.

May import: .report; never ecasrepro.api, ecasrepro.cli, ecasrepro.magic or a higher module of
this package (.compare, .execute, .verify).
"""

from __future__ import annotations

import array
import base64
import contextlib
import math
import re
import struct
import zlib
from collections.abc import Sequence

from ecasrepro.verification.report import _SAME, Tolerances, _Match

# PNG decoding with the standard library: enough for matplotlib's 8/16-bit non-interlaced output.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Width, height and rows of grey levels (0..255, composited on white).
_Grey = tuple[int, int, Sequence[Sequence[float]]]
#: Pillow modes whose 8-bit samples both readers see alike (16-bit RGB opens as "RGB", high byte).
_PILLOW_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA"})


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR or a JPEG's SOF marker (no decoding)."""
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                pos += 1
                continue
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    stride = width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += stride + 1
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=False))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    return rows


def _png_pixels(data: bytes) -> bytes | None:
    """IHDR plus the decompressed image data: equal means the same pixels, whatever metadata."""
    if data[:8] != _PNG_SIGNATURE:
        return None
    pos, header, idat = 8, b"", bytearray()
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8 : pos + 8 + length]
        elif kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        elif kind == b"IEND":
            break
        pos += 12 + length
    try:
        return header + zlib.decompress(bytes(idat))
    except zlib.error:
        return None


def _png_grey(data: bytes) -> _Grey | None:
    """Decode a PNG to grey levels 0..255 composited on white; None for unsupported kinds."""
    if data[:8] != _PNG_SIGNATURE:
        return None
    pos = 8
    idat = bytearray()
    palette = b""
    header: tuple[int, ...] | None = None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        return None
    width, height, depth, colour, _, _, interlace = header
    if interlace or depth not in (8, 16) or colour not in _PNG_CHANNELS:
        return None
    channels = _PNG_CHANNELS[colour]
    step = depth // 8
    try:
        rows = _unfilter(zlib.decompress(bytes(idat)), width, height, channels * step)
    except (zlib.error, IndexError):
        return None
    grey: list[list[float]] = []
    for row in rows:
        samples = row[::step] if step > 1 else row  # 16-bit: keep the high byte
        if colour == 0:
            values = [float(v) for v in samples]
        elif colour == 2:
            values = [
                0.299 * r + 0.587 * g + 0.114 * b
                for r, g, b in zip(samples[0::3], samples[1::3], samples[2::3], strict=False)
            ]
        elif colour == 3:
            values = []
            for index in samples:
                r, g, b = palette[3 * index : 3 * index + 3] or b"\0\0\0"
                values.append(0.299 * r + 0.587 * g + 0.114 * b)
        elif colour == 4:
            values = [
                (v * a + 255.0 * (255 - a)) / 255.0
                for v, a in zip(samples[0::2], samples[1::2], strict=False)
            ]
        else:
            values = [
                ((0.299 * r + 0.587 * g + 0.114 * b) * a + 255.0 * (255 - a)) / 255.0
                for r, g, b, a in zip(
                    samples[0::4], samples[1::4], samples[2::4], samples[3::4], strict=False
                )
            ]
        grey.append(values)
    return width, height, grey


def _pillow_grey(data: bytes) -> _Grey | None:
    """Decode with Pillow when it is importable (an optional import: ``ecasrepro[images]``).

    Pillow decodes in C (JPEG and interlaced PNG too); the grey levels are computed with
    Pillow's float images by the same formula as :func:`_png_grey`, so both readers give the
    same difference (to float32 precision). None when Pillow is missing or declines the data.
    """
    try:
        import io

        from PIL import Image, ImageMath
    except ImportError:
        return None
    if not hasattr(ImageMath, "lambda_eval"):  # Pillow < 10.3
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode not in _PILLOW_MODES:
                return None  # 16-bit grey ("I;16"): the stdlib reader keeps the high byte
            mode = image.mode
            rgba = image.convert("RGBA")
    except Exception:
        return None
    red, green, blue, alpha = (channel.convert("F") for channel in rgba.split())
    if mode in ("L", "LA"):
        grey = red  # as the stdlib reader: grey levels as they are, no weighting
    else:
        grey = ImageMath.lambda_eval(
            lambda a: a["r"] * 0.299 + a["g"] * 0.587 + a["b"] * 0.114, r=red, g=green, b=blue
        )
    flat = ImageMath.lambda_eval(
        lambda a: a["v"] * a["a"] / 255.0 + (255.0 - a["a"]), v=grey, a=alpha
    )
    values = array.array("f", flat.tobytes())
    width, height = flat.size
    return width, height, [values[y * width : (y + 1) * width] for y in range(height)]


def _block_means(
    width: int, height: int, grey: Sequence[Sequence[float]], grid: int = 32
) -> list[float]:
    """Mean grey level of each block of a grid x grid split (pixel x goes to block
    ``x * columns // width``); each row is summed slice by slice, so the loop is per block."""
    columns, rows = min(grid, width), min(grid, height)
    sums = [0.0] * (columns * rows)
    counts = [0] * (columns * rows)
    # First x of each block: the smallest x with x * columns // width == k.
    starts = [-(-k * width // columns) for k in range(columns + 1)]
    for y, line in enumerate(grey):
        base = (y * rows // height) * columns
        for k in range(columns):
            sums[base + k] += sum(line[starts[k] : starts[k + 1]])
            counts[base + k] += starts[k + 1] - starts[k]
    return [s / c if c else 0.0 for s, c in zip(sums, counts, strict=False)]


def _grey(data: bytes) -> _Grey | None:
    """Pillow first (C speed), the standard-library reader when Pillow is missing or declines."""
    return _pillow_grey(data) or _png_grey(data)


def image_difference(captured: bytes, new: bytes) -> float | None:
    """RMS of block-mean grey differences on a 32x32 grid, 0 (same) .. 1; None if undecodable.

    Rounded to 6 decimals, so that both readers (Pillow's float32 and the stdlib's float64)
    give the same figure."""
    a = _grey(captured)
    b = _grey(new)
    if a is None or b is None or a[:2] != b[:2]:
        return None
    means_a, means_b = _block_means(*a), _block_means(*b)
    squares = sum((x - y) ** 2 for x, y in zip(means_a, means_b, strict=False))
    return round(math.sqrt(squares / len(means_a)) / 255.0, 6)


def compare_image(captured_b64: str, new_b64: str, tol: Tolerances) -> _Match:
    """Images: identical bytes; else equal dimensions and a small perceptual difference."""
    if captured_b64.strip() == new_b64.strip():
        return _SAME
    try:
        captured = base64.b64decode(captured_b64)
        new = base64.b64decode(new_b64)
    except (ValueError, TypeError):
        return _Match(2, "image is not valid base64")
    return _compare_image_bytes(captured, new, tol)


def _compare_image_bytes(captured: bytes, new: bytes, tol: Tolerances) -> _Match:
    pixels = _png_pixels(captured)
    if pixels is not None and pixels == _png_pixels(new):
        return _SAME  # same pixels; only metadata chunks (e.g. Software, date) differ
    size_a, size_b = image_size(captured), image_size(new)
    if size_a != size_b:
        def fmt(size: tuple[int, int] | None) -> str:
            return f"{size[0]}x{size[1]}" if size else "unknown"

        return _Match(
            2, f"image size {fmt(size_a)} became {fmt(size_b)}", fmt(size_a), fmt(size_b)
        )
    difference = image_difference(captured, new)
    if difference is None:
        return _Match(1, "same image size; pixels not compared (format not decodable here)")
    if difference <= tol.image:
        return _Match(1, f"image within tolerance (difference {difference:.4f})")
    return _Match(
        2, f"image content differs (difference {difference:.4f} > image tolerance {tol.image:g})"
    )


# --- SVG ----------------------------------------------------------------------------------------

# What changes between two renderings of the same figure without changing a pixel: matplotlib
# writes random ids (clip paths ``p`` + 10 hex digits, markers ``m`` + 10, unless
# ``svg.hashsalt`` is set) and a <metadata> block with the date and its version; comments too.
_SVG_HIDDEN = re.compile(r"<metadata\b.*?</metadata>|<!--.*?-->", re.S)
_SVG_ID = re.compile(r"""\bid=(["'])(.+?)\1""")
_SVG_ID_OR_REF = re.compile(r"""(\bid=["']|#)([A-Za-z_][\w.:-]*)""")


def svg_normalised(text: str) -> str:
    """The SVG with metadata and comments dropped and ids renumbered in order of appearance
    (references ``#id`` follow), so two renderings of one figure are the same text."""
    text = _SVG_HIDDEN.sub("", text)
    ids: dict[str, str] = {}
    for match in _SVG_ID.finditer(text):
        ids.setdefault(match.group(2), f"id{len(ids) + 1}")

    def renumber(match: re.Match[str]) -> str:
        name = ids.get(match.group(2))
        return match.group(1) + name if name else match.group(0)

    return _SVG_ID_OR_REF.sub(renumber, text) if ids else text


def svg_rasteriser_available() -> bool:
    """Whether SVGs can be compared as rendered images (resvg-py, in ``ecasrepro[images]``)."""
    try:
        import resvg_py  # noqa: F401 - only whether it imports
    except ImportError:
        return False
    return True


#: An SVG whose size (in pixels at 96 dpi) exceeds this is not rendered but compared as text:
#: resvg allocates the whole canvas (a 20000x20000 one ran for over a minute here).
SVG_RENDER_LIMIT = 4096 * 4096
_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.S)
_SVG_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*(["'])(.*?)\2""", re.S)
_SVG_LENGTH = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*([a-z]*)\s*")
_CSS_PIXELS = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54,
               "mm": 96 / 25.4}


def _svg_area(text: str) -> float | None:
    """Pixels the root <svg> asks for at 96 dpi: its width and height, else its viewBox's, else
    resvg's default 100; None when there is no root element."""
    root = _SVG_ROOT.search(text)
    if root is None:
        return None
    attributes = {m.group(1): m.group(3) for m in _SVG_ATTRIBUTE.finditer(root.group(0))}
    box = attributes.get("viewBox", "").replace(",", " ").split()
    area = 1.0
    for position, name in enumerate(("width", "height")):
        length = _SVG_LENGTH.fullmatch(attributes.get(name, ""))
        side = 100.0
        if length and length.group(2) in _CSS_PIXELS:
            side = float(length.group(0).strip().removesuffix(length.group(2))) * _CSS_PIXELS[
                length.group(2)
            ]
        elif len(box) == 4:
            with contextlib.suppress(ValueError):
                side = abs(float(box[2 + position]))
        area *= side
    return area


def _render_svg(text: str) -> bytes | None:
    """PNG bytes of the SVG rendered by resvg (no browser, no system library); None when
    resvg-py is not installed, the canvas would be too large, or it cannot read the document."""
    try:
        import resvg_py
    except ImportError:
        return None
    area = _svg_area(text)
    if area is None or area > SVG_RENDER_LIMIT:
        return None
    try:
        # dpi 96 as CSS: with resvg-py's default (0), sizes in pt (matplotlib's) become 0.
        return bytes(resvg_py.svg_to_bytes(svg_string=text, dpi=96.0))
    except Exception:
        return None


def compare_svg(captured: str, new: str, tol: Tolerances) -> _Match | None:
    """SVGs: identical text, or identical once ids and metadata are normalised, or the same
    rendered image (within the image tolerance). None when they cannot be rendered here: the
    caller then compares :func:`svg_normalised` text."""
    if captured == new:
        return _SAME
    captured, new = svg_normalised(captured), svg_normalised(new)
    if captured == new:
        return _SAME
    rendered_a, rendered_b = _render_svg(captured), _render_svg(new)
    if rendered_a is None or rendered_b is None:
        return None
    result = _compare_image_bytes(rendered_a, rendered_b, tol)
    if not result.reason:
        return result
    return _Match(result.level, f"rendered {result.reason}", result.captured, result.reexecuted)
