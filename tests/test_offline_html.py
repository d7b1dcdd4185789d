"""The bundle's HTML page in Debian's headless Chromium with every network request refused: it
asks for nothing beyond itself, and its cells, image, math (drawn as MathML) and the widget's
static fallback are all there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ecasrepro
from tests.test_sandbox_browser import CHROMIUM, CHROMIUM_ARGS

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "notebooks" / "offline_math_widget.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not shutil.which("chromium"),
    reason="Debian's chromium is not installed (make browser)",
)
def test_bundle_html_renders_with_network_blocked(tmp_path: Path) -> None:
    from playwright.sync_api import Route, sync_playwright

    notebook = tmp_path / FIXTURE.name
    shutil.copy(FIXTURE, notebook)
    bundle = ecasrepro.snapshot(notebook, output=tmp_path / "bundle", progress=False)
    assert any("static fallback" in w for w in bundle.warnings)
    page_file = tmp_path / "bundle" / "data" / "notebook" / f"{FIXTURE.stem}.html"
    url = page_file.as_uri()

    refused: list[str] = []

    def refuse(route: Route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", refuse)
            page.goto(url, wait_until="load")
            page.wait_for_timeout(300)  # a late script or module import would show up here
            facts = page.evaluate(
                """() => {
                  const frac = document.querySelector('.jp-MarkdownCell mfrac');
                  const [num, den] = frac ? frac.children : [];
                  const box = (e) => e.getBoundingClientRect();
                  const img = document.querySelector('.jp-OutputArea-output img');
                  return {
                    cells: document.querySelectorAll('.jp-Notebook-cell').length,
                    markdownMath: document.querySelectorAll('.jp-MarkdownCell math').length,
                    latexMath: document.querySelectorAll('.jp-RenderedLatex math').length,
                    stacked: !!num && box(num).bottom <= box(den).top + 1
                             && box(frac).height > 1.5 * box(den).height,
                    image: img ? [img.complete, img.naturalWidth, img.naturalHeight] : null,
                    text: document.body.innerText,
                    scripts: [...document.scripts].filter((s) => s.src).length,
                  };
                }"""
            )
        finally:
            browser.close()

    assert refused == []
    assert facts["scripts"] == 0
    assert facts["cells"] == 4
    assert facts["markdownMath"] == 2 and facts["latexMath"] == 1
    assert facts["stacked"], "the fraction is not drawn as math (numerator over denominator)"
    assert facts["image"] == [True, 40, 20]
    assert "IntSlider(value=7)" in facts["text"]
    assert "$" not in facts["text"]  # no TeX source left for a script that never comes
