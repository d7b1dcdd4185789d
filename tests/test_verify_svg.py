"""SVG outputs (``ecasrepro.verification.images.compare_svg``): compared as rendered images.

The SVGs are written like matplotlib's (random clip-path and marker ids, a <metadata> block with
the date and version), so a re-rendered identical figure differs as text but not as an image.
Each case runs with resvg-py and with it made unimportable (the normalised-text fallback).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from ecasrepro.verification import Tolerances, compare_cell_outputs, verify_notebook
from ecasrepro.verification.images import (
    _render_svg,
    compare_svg,
    svg_normalised,
    svg_rasteriser_available,
)

TOL = Tolerances()


def figure(seed: int, *, date: str = "2021-03-04T05:06:07.891011", bar: float = 40.0,
           colour: str = "#1f77b4", width: int = 200) -> str:
    """A small bar chart as matplotlib writes it: ids drawn from ``seed``, the date in metadata."""
    rng = random.Random(seed)
    clip = "p" + "".join(rng.choice("0123456789abcdef") for _ in range(10))
    marker = "m" + "".join(rng.choice("0123456789abcdef") for _ in range(10))
    return f"""<?xml version="1.0" encoding="utf-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"
  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="{width}pt" height="100pt"
 viewBox="0 0 {width} 100" xmlns="http://www.w3.org/2000/svg" version="1.1">
 <metadata>
  <rdf:RDF xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:cc="http://creativecommons.org/ns#"
   xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
   <cc:Work>
    <dc:date>{date}</dc:date>
    <dc:creator><cc:Agent><dc:title>Matplotlib v3.{seed}.0</dc:title></cc:Agent></dc:creator>
   </cc:Work>
  </rdf:RDF>
 </metadata>
 <!-- Created with matplotlib v3.{seed}.0 -->
 <g id="figure_1">
  <g id="patch_1"><path d="M 0 100 L {width} 100 L {width} 0 L 0 0 z" style="fill: #ffffff"/></g>
  <g id="axes_1">
   <g id="patch_2"><path d="M 20 90 L {20 + bar} 90 L {20 + bar} 30 L 20 30 z"
    clip-path="url(#{clip})" style="fill: {colour}"/></g>
   <g id="line2d_1">
    <defs><path id="{marker}" d="M 0 3.5 L 0 -3.5" style="stroke: #000000"/></defs>
    <g><use xlink:href="#{marker}" x="30" y="90" style="stroke: #000000"/>
       <use xlink:href="#{marker}" x="60" y="90" style="stroke: #000000"/></g>
   </g>
  </g>
 </g>
 <defs><clipPath id="{clip}"><rect x="10" y="10" width="180" height="85"/></clipPath></defs>
</svg>
"""


@pytest.fixture(params=["resvg", "text"])
def rasteriser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """With resvg-py (the test extra installs it), then with ``import resvg_py`` failing."""
    if request.param == "text":
        monkeypatch.setitem(sys.modules, "resvg_py", None)
        assert not svg_rasteriser_available()
    else:
        assert svg_rasteriser_available()
    return str(request.param)


def display(svg: str) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/svg+xml": svg, "text/plain": "<Figure size 200x100 with 1 Axes>"}}


def verdict(captured: str, new: str) -> tuple[str, str]:
    kind, reason, *_ = compare_cell_outputs([display(captured)], [display(new)], TOL)
    return kind, reason


def test_ids_are_renumbered_in_order_and_metadata_and_comments_dropped() -> None:
    a, b = figure(1), figure(2, date="2030-01-01T00:00:00")
    assert a != b and svg_normalised(a) == svg_normalised(b)
    normalised = svg_normalised(a)
    assert "<metadata" not in normalised and "<!--" not in normalised
    assert 'id="id1"' in normalised  # figure_1, the first id in the document
    clip = f"id{normalised.count('id=', 0, normalised.index('<clipPath')) + 1}"
    assert f'clip-path="url(#{clip})"' in normalised  # the reference follows its id
    assert f'<clipPath id="{clip}"' in normalised
    # A colour is not an id, and an SVG without ids is left as it is.
    assert 'fill: #1f77b4' in normalised
    assert svg_normalised('<svg><rect fill="#abc"/></svg>') == '<svg><rect fill="#abc"/></svg>'


def test_a_re_rendered_identical_figure_is_the_same(rasteriser: str) -> None:
    assert verdict(figure(1), figure(2, date="2031-07-08T09:10:11.5")) == ("same", "")


def test_a_changed_figure_differs(rasteriser: str) -> None:
    kind, reason = verdict(figure(1), figure(2, bar=80.0))
    assert kind == "differs"
    if rasteriser == "resvg":
        assert "image/svg+xml: rendered image content differs" in reason
    else:
        assert "image/svg+xml: line" in reason and "number 60.0 became 100.0" in reason
    kind, reason = verdict(figure(1), figure(2, colour="#ff7f0e"))
    assert kind == "differs", reason


def test_a_resized_figure_names_the_rendered_sizes() -> None:
    kind, reason = verdict(figure(1), figure(2, width=260))
    assert kind == "differs" and "rendered image size 267x133 became 347x133" in reason


def test_rendering_forgives_what_the_eye_cannot_see_and_text_does_not(
    rasteriser: str,
) -> None:
    """A bar 0.0001 wider: the same picture; as text, a number outside rtol=1e-6."""
    kind, _ = verdict(figure(1), figure(2, bar=40.0001))
    assert kind == ("same" if rasteriser == "resvg" else "differs")


def test_compare_svg_returns_none_when_it_cannot_render(rasteriser: str) -> None:
    broken = figure(1).replace("</svg>", "")
    result = compare_svg(broken, figure(2), TOL)
    assert result is None
    if rasteriser == "resvg":
        assert _render_svg(figure(1)) is not None and _render_svg(broken) is None
    else:
        assert _render_svg(figure(1)) is None
    # ... and the caller compares the normalised text instead: the cell differs.
    assert verdict(broken, figure(2))[0] == "differs"


SVG_CELL = """
import datetime, uuid
from IPython.display import SVG, display
clip = 'p' + uuid.uuid4().hex[:10]
display(SVG(f'''<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60">
 <metadata><date>{datetime.datetime.now().isoformat()}</date></metadata>
 <defs><clipPath id="{clip}"><rect width="100" height="50"/></clipPath></defs>
 <rect x="5" y="5" width="90" height="40" fill="#1f77b4" clip-path="url(#{clip})"/>
</svg>'''))
"""


def test_a_notebook_that_displays_svg_verifies_and_says_how_it_compared(
    tmp_path: Path, rasteriser: str
) -> None:
    nb = new_notebook(cells=[new_code_cell(SVG_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    NotebookClient(nb, kernel_name="python3").execute()
    assert "image/svg+xml" in nb.cells[0].outputs[0]["data"]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    report = verify_notebook(tmp_path / "nb.ipynb")
    assert report.reproduced, report.summary()
    noted = [w for w in report.warnings if "SVG outputs were compared as text" in w]
    assert len(noted) == (1 if rasteriser == "text" else 0), report.warnings
    if noted:
        assert "pip install 'ecasrepro[images]'" in noted[0]


def test_a_huge_canvas_is_compared_as_text_not_rendered() -> None:
    """resvg allocates the whole canvas: past SVG_RENDER_LIMIT pixels it is not asked to."""
    import time

    from ecasrepro.verification.images import SVG_RENDER_LIMIT, _svg_area

    assert _svg_area('<svg width="200pt" height="100pt">') == pytest.approx(267 * 133, rel=0.01)
    assert _svg_area('<svg viewBox="0 0 300 200">') == 60000
    assert _svg_area('<svg width="100%" viewBox="0,0,5e4,5e4" height="9in">') == 5e4 * 864
    assert _svg_area("<svg>") == 100 * 100 and _svg_area("not svg") is None
    huge = figure(1, width=30000).replace('height="100pt"', 'height="30000pt"')
    assert _svg_area(huge) > SVG_RENDER_LIMIT
    started = time.monotonic()
    assert _render_svg(huge) is None and compare_svg(huge, figure(2, bar=80.0), TOL) is None
    assert time.monotonic() - started < 5
    assert verdict(huge, huge.replace("#1f77b4", "#ff7f0e"))[0] == "differs"  # as text
