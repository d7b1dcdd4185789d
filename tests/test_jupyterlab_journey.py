"""The publishing journey in a real JupyterLab in a real browser: open the example notebook, run
all, save, run ``%ecas_publish`` in a new cell (the magic finds the notebook itself, through what
JupyterLab tells the kernel), read the rich result, follow its review link to the sandbox's
review page, submit, and check the record is published. One journey; Debian's chromium."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from ecasrepro.sandbox import SandboxServer
from tests.jupyterlab import (
    CHROMIUM_ARGS,
    JupyterLab,
    chromium,
    copy_unexecuted,
    finished,
    kernel_env,
    open_notebook,
    run_all,
    run_new_cell,
    save,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOK = "temperature_anomaly.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_publish_from_jupyterlab_then_submit_on_the_review_page(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    browser_path = chromium()  # fails (never skips) with how to install it
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    project = tmp_path / "project"
    project.mkdir()
    copy_unexecuted(EXAMPLES / NOTEBOOK, project)
    shutil.copytree(EXAMPLES / "data", project / "data")
    state = tmp_path / "lab"
    state.mkdir()
    magic = ("%load_ext ecasrepro\n"
             f"%ecas_publish --server {sandbox.url} --attach outputs/anomaly.csv")

    with JupyterLab(project, state, kernel_env(tmp_path, sandbox.token)) as lab, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            open_notebook(page, lab, NOTEBOOK)
            run_all(page)
            assert "warmest year" in page.locator(".jp-Notebook").inner_text()
            assert (project / "outputs" / "anomaly.csv").is_file(), "Run All did not run"
            save(page, project / NOTEBOOK)
            saved = json.loads((project / NOTEBOOK).read_text())
            counts = [c["execution_count"] for c in saved["cells"] if c["cell_type"] == "code"]
            assert len(counts) == 5 and counts == list(range(counts[0], counts[0] + 5)), counts

            cell = run_new_cell(page, magic)
            finished(page, cell)
            result = cell.locator(".ecasrepro-result")
            assert result.count() == 1, cell.inner_text()
            # progress is shown in place and emptied: no stderr box is left above the result
            stderr = cell.locator("[data-mime-type='application/vnd.jupyter.stderr']")
            assert stderr.count() == 0, stderr.all_inner_texts()
            text = result.inner_text()

            # the notebook was found by what JupyterLab told the kernel, not by --notebook
            found = re.search(r"notebook: (\S+) \(found by ([^)]+)\)", text)
            assert found and found.group(1) == str(project / NOTEBOOK), text
            assert found.group(2) in ("__session__", "JPY_SESSION_NAME"), text
            # files with sizes and checksums; the inputs with their type; no token anywhere
            rows = result.locator("tbody tr")
            assert rows.count() >= 6
            paths = [rows.nth(i).locator("td").nth(0).inner_text() for i in range(rows.count())]
            assert "notebook/temperature_anomaly.ipynb" in paths and "outputs/anomaly.csv" in paths
            checksum = rows.first.locator("td code[title]").get_attribute("title") or ""
            assert re.fullmatch(r"[0-9a-f]{64}", checksum)
            assert re.search(r"\d+(\.\d)? (B|KiB|MiB)", rows.first.inner_text())
            md5s = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]
            assert all(re.fullmatch(r"(md5:)?[0-9a-f]{32}", m.strip()) for m in md5s), md5s
            inputs = result.locator("a[href^='https://hdl.handle.net/'], a[href^='https://doi.org/']")
            assert inputs.count() == 2 and "(Handle)" in text and "(DOI)" in text
            assert sandbox.token not in result.inner_html()
            # the theme's colours, not fixed ones: the result reads in the dark theme too
            colour = result.evaluate("e => getComputedStyle(e).color")
            lab_colour = page.evaluate(
                "() => getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color1')")
            assert lab_colour.strip(), "JupyterLab's theme variables are not on the page"

            review = result.locator("a[href*='/records/']").first
            review_url = review.get_attribute("href") or ""
            draft_id = review_url.rstrip("/").split("/")[-1]
            assert review_url.startswith(sandbox.url) and draft_id in text
            with context.expect_page() as opened:
                review.click()
            tab = opened.value
            tab.wait_for_selector("#token")
            tab.fill("#token", sandbox.token)
            tab.click("#signin-button")
            tab.wait_for_selector("#state")
            assert tab.text_content("#state") == "draft"
            assert tab.text_content("#title") == "Annual temperature anomaly and trend"
            tab.click("#submit")
            tab.wait_for_selector("#state.state-published")
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"))
            print("screenshot of the failure:", tmp_path / "failed.png")
            raise
        finally:
            browser.close()

    record = requests.get(f"{sandbox.url}/api/records/{draft_id}", timeout=10).json()
    assert record["metadata"]["publication_state"] == "published"
    keys = {f["key"] for f in record["files"]}
    assert {"notebook/temperature_anomaly.ipynb", "outputs/anomaly.csv"} <= keys
    assert colour  # computed from var(--jp-ui-font-color1, ...)
    elapsed = time.monotonic() - started
    print(f"JupyterLab journey: {elapsed:.1f} s")
    assert elapsed < 120, f"the journey took {elapsed:.0f} s (budget 120 s on 2 cores)"
