"""Regenerate docs/magic-output.png: what ``%ecas_publish`` shows in a real JupyterLab.

    .venv/bin/python docs/make_magic_screenshot.py [--out docs/magic-output.png] [--dark]

Runs the real journey of tests/test_jupyterlab_journey.py (its helpers, tests/jupyterlab.py):
starts a sandbox B2SHARE and JupyterLab 4 on loopback in a temporary copy of
examples/temperature_anomaly.ipynb, opens it in Debian's headless chromium (Playwright), runs
all cells, saves, runs ``%ecas_publish`` in a new cell (the token reaches the kernel only through
``B2SHARE_TOKEN``; the magic finds the notebook itself) and screenshots that cell. ``--dark``
uses JupyterLab's dark theme. Refuses to write the image if the token appears in the cell.
Needs the ``test`` extra (jupyterlab, playwright, flask) and /usr/bin/chromium (``make browser``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test helpers (tests/jupyterlab.py)

EXAMPLES = REPO / "examples"
NOTEBOOK = "temperature_anomaly.ipynb"
HANDLE = "hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "magic-output.png")
    parser.add_argument("--dark", action="store_true", help="JupyterLab's dark theme")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from ecasrepro.sandbox import SandboxServer
    from tests.jupyterlab import (
        CHROMIUM,
        CHROMIUM_ARGS,
        HOW_TO_INSTALL,
        JupyterLab,
        copy_unexecuted,
        finished,
        kernel_env,
        open_notebook,
        run_all,
        run_new_cell,
        save,
    )

    if not Path(CHROMIUM).exists():
        raise SystemExit(HOW_TO_INSTALL + ".")
    work = Path(tempfile.mkdtemp(prefix="ecasrepro-screenshot-"))
    server = SandboxServer(work / "sandbox").start()
    try:
        project = work / "analysis"
        project.mkdir()
        copy_unexecuted(EXAMPLES / NOTEBOOK, project)
        shutil.copytree(EXAMPLES / "data", project / "data")
        state = work / "lab"
        state.mkdir()
        theme = "JupyterLab Dark" if args.dark else None
        magic = ("%load_ext ecasrepro\n"
                 f"%ecas_publish --server {server.url} --attach outputs/anomaly.csv "
                 "--license CC-BY-4.0")
        with JupyterLab(project, state, kernel_env(work, server.token), theme=theme) as lab, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                open_notebook(page, lab, NOTEBOOK)
                run_all(page)
                save(page, project / NOTEBOOK)
                cell = run_new_cell(page, magic)
                finished(page, cell)
                result = cell.locator(".ecasrepro-result")
                if result.count() != 1:
                    raise SystemExit(f"the magic did not publish: {cell.inner_text()}")
                if server.token in cell.inner_html():
                    raise SystemExit("the token appears in the magic's output; not writing it")
                page.locator(".jp-Notebook .jp-Cell").last.click()  # leave the magic cell
                page.keyboard.press("Escape")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                cell.scroll_into_view_if_needed()
                cell.screenshot(path=str(args.out))
            finally:
                browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
