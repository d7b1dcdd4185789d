"""Regenerate docs/magic-output.png: what ``%ecas_publish`` shows in a notebook.

    .venv/bin/python docs/make_magic_screenshot.py [--out docs/magic-output.png] [--keep DIR]

Runs the real flow: starts a sandbox B2SHARE, executes a two-cell notebook under a real kernel
(nbclient) that loads the extension and publishes examples/temperature_anomaly.ipynb with
``%ecas_publish`` (the token reaches the kernel only through ``B2SHARE_TOKEN``), takes that cell's
text/html output, wraps it in a page styled like JupyterLab's code cell and output area, and
screenshots the cell with Debian's headless chromium (driven by playwright, so the image is
cropped to the cell). Refuses to write the image if the token appears anywhere in the page.
Needs the ``sandbox`` and ``test`` extras (flask, ipykernel, playwright) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HANDLE = "hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2"
TITLE = "Annual temperature anomaly"

#: JupyterLab's light theme, reduced to what one code cell and its HTML output use.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>%ecas_publish output</title><style>
body {{ margin: 0; background: #fff; color: rgba(0,0,0,0.87);
       font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       font-size: 13px; line-height: 1.42; }}
#cell {{ display: inline-block; width: 940px; padding: 12px 16px 12px 8px; }}
.row {{ display: flex; }}
.prompt {{ flex: 0 0 64px; padding: 6px 6px 0 0; text-align: right;
          font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }}
.in {{ color: #307fc1; }}
.out {{ color: #bf5b3d; }}
.editor {{ flex: 1; background: #f5f5f5; border: 1px solid #e0e0e0; padding: 5px 8px;
          font-family: "DejaVu Sans Mono", monospace; font-size: 13px; white-space: pre-wrap;
          overflow-wrap: anywhere; }}
.magic {{ color: #aa22ff; font-weight: bold; }}
.output {{ flex: 1; padding: 6px 8px 0 8px; overflow-x: auto; }}
.output h4 {{ margin: 0 0 6px; font-size: 15px; }}
.output ul {{ margin: 4px 0 8px; padding-left: 22px; }}
.output p {{ margin: 6px 0 2px; }}
.output a {{ color: #1976d2; text-decoration: none; }}
.output code {{ font-family: "DejaVu Sans Mono", monospace; font-size: 12px;
               background: #eee; padding: 1px 3px; border-radius: 2px; }}
.output table {{ border-collapse: collapse; border: none; font-size: 12px; margin: 4px 0; }}
.output thead {{ border-bottom: 1px solid #616161; }}
.output th {{ font-weight: bold; text-align: left; padding: 4px 10px; }}
.output td {{ padding: 4px 10px; text-align: left; vertical-align: middle; }}
.output td code {{ background: none; padding: 0; }}
.output tbody tr:nth-child(odd) {{ background: #f5f5f5; }}
</style></head><body><div id="cell">
<div class="row"><div class="prompt in">[2]:</div><div class="editor">{source}</div></div>
<div class="row"><div class="prompt out">[2]:</div><div class="output">{output}</div></div>
</div></body></html>
"""


def publish_with_magic(project: Path, server_url: str, token: str) -> tuple[str, str]:
    """(the magic's source line, its text/html output) from a real kernel run."""
    magic = (f"%ecas_publish --notebook temperature_anomaly.ipynb --title '{TITLE}' "
             f"--input {HANDLE} --attach outputs/anomaly.csv --server {server_url}")
    runner = nbformat.v4.new_notebook()
    runner.cells = [nbformat.v4.new_code_cell("%load_ext ecasrepro"),
                    nbformat.v4.new_code_cell(magic)]
    runner.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
    nbformat.write(runner, project / "publish.ipynb")
    saved = dict(os.environ)
    os.environ.update({  # the kernel inherits these; nothing from the user's own config leaks in
        "B2SHARE_TOKEN": token,
        "XDG_CONFIG_HOME": str(project / ".xdg"),
        "ECASREPRO_SITE_CONFIG": str(project / "no-site.toml"),
        "ECASREPRO_CACHE_DIR": str(project / ".cache"),
    })
    for name in ("B2SHARE_URL", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY", "JPY_SESSION_NAME"):
        os.environ.pop(name, None)
    try:
        NotebookClient(runner, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(project)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    outputs = runner.cells[1].get("outputs", [])
    rich = [str(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    if not rich or "ecasrepro-error" in rich[-1] or "review it at" not in rich[-1]:
        raise SystemExit(f"the magic did not publish a draft; its outputs: {outputs}")
    return magic, rich[-1]


def render_page(magic: str, output_html: str) -> str:
    source = html.escape(magic).replace("%ecas_publish", '<span class="magic">%ecas_publish</span>')
    return PAGE.format(source=source, output=output_html)


def screenshot(page: Path, out: Path) -> None:
    """Screenshot just the cell (a 1000 px wide window) with headless chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1000, "height": 700})
            tab.goto(page.as_uri())
            tab.locator("#cell").screenshot(path=str(out))
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "magic-output.png")
    parser.add_argument("--keep", type=Path, help="also write the HTML page here")
    args = parser.parse_args()

    from ecasrepro.sandbox import SandboxServer

    work = Path(tempfile.mkdtemp(prefix="ecasrepro-screenshot-"))
    server = SandboxServer(work / "sandbox").start()
    try:
        project = work / "analysis"
        project.mkdir()
        shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", project)
        shutil.copytree(EXAMPLES / "outputs", project / "outputs")
        magic, output_html = publish_with_magic(project, server.url, server.token)
        page_text = render_page(magic, output_html)
        if server.token in page_text:
            raise SystemExit("the token appears in the magic's output; not writing an image")
        page = work / "magic-output.html"
        page.write_text(page_text, encoding="utf-8")
        if args.keep:
            shutil.copy(page, args.keep)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
