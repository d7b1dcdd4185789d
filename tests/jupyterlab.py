"""Helpers for driving a real JupyterLab in Debian's chromium with Playwright (tests and docs).

``JupyterLab`` starts ``jupyter lab`` on loopback with a random token, its own runtime, config,
settings and workspace directories (nothing of the user's leaks in), in a directory holding the
notebook; ``open_notebook``, ``run_all``, ``save``, ``run_new_cell`` drive it through the page
the way a user does (menus, keys). ``chromium()`` fails with a sentence when the browser is
missing instead of letting the test skip.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HOW_TO_INSTALL = (
    "Debian's chromium is not installed at /usr/bin/chromium; run `make browser` (apt-get install "
    "chromium) and run the test again"
)


def copy_unexecuted(notebook: Path, project: Path) -> Path:
    """``notebook`` into ``project`` with every output and execution count cleared.

    The examples are stored executed: opened as they are, a dropped Run All would look like a
    finished one (the stored ``[1]``..``[5]`` and outputs), and the journey would go on to
    publish from a kernel that never ran the analysis.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    target = project / notebook.name
    nbformat.write(nb, target)
    return target


def chromium() -> str:
    """The browser's path; a failing test (never a skip) when it is missing."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        pytest.fail(HOW_TO_INSTALL, pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class JupyterLab:
    """``jupyter lab`` serving ``root`` on 127.0.0.1; the kernels inherit ``env``."""

    def __init__(self, root: Path, state: Path, env: Mapping[str, str], *,
                 theme: str | None = None) -> None:
        self.root = root
        self.state = state
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        settings = state / "settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        tracker = settings / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)  # "Always start the preferred kernel": no
        (tracker / "tracker.jupyterlab-settings").write_text(  # Select Kernel dialog racing us
            json.dumps({"autoStartDefaultKernel": True}))
        if theme:
            themes = settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
            themes.write_text(json.dumps({"theme": theme}))
        self.env = {**env, "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
                    "JUPYTER_CONFIG_DIR": str(state / "config"),
                    "JUPYTER_DATA_DIR": str(state / "data"), "JUPYTER_TOKEN": self.token}
        self.argv = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={state / 'workspaces'}",
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.log = state / "jupyterlab.log"

    def start(self, timeout: float = 60) -> JupyterLab:
        log = self.log.open("wb")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.root,
                                        stdout=log, stderr=subprocess.STDOUT)
        runtime = self.state / "runtime"
        deadline = time.monotonic() + timeout
        while not list(runtime.glob("jpserver-*.json")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("JupyterLab did not start:\n" + self.log.read_text())
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def wait_connected(self, deadline: float) -> None:
        """Until one kernel is idle with the page's websocket attached, and stays so for 1 s.

        The page shows "Idle" before its kernel channel is really open (jupyter_server answers
        the first websocket with 500 while the kernel starts, and the page reconnects): an
        execute request sent in between is dropped, and Run All then runs nothing.
        """
        import requests

        stable_since: float | None = None
        while time.monotonic() < deadline:
            kernels = requests.get(f"{self.url}api/kernels", timeout=10,
                                   headers={"Authorization": f"token {self.token}"}).json()
            ready = (len(kernels) == 1 and kernels[0]["execution_state"] == "idle"
                     and kernels[0]["connections"] >= 1)
            now = time.monotonic()
            stable_since = (stable_since or now) if ready else None
            if stable_since is not None and now - stable_since >= 1.0:
                return
            time.sleep(0.1)
        raise AssertionError("the notebook's kernel never became idle with the page connected")

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kernel_env(work: Path, sandbox_token: str) -> dict[str, str]:
    """The environment JupyterLab (and so the kernel) runs with: the sandbox's token only in
    ``B2SHARE_TOKEN``, nothing of the user's own ecasrepro configuration."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("B2SHARE_URL", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY",
                        "JPY_SESSION_NAME", "JUPYTER_TOKEN")}
    env.update({"B2SHARE_TOKEN": sandbox_token, "XDG_CONFIG_HOME": str(work / "xdg"),
                "ECASREPRO_SITE_CONFIG": str(work / "no-site.toml"),
                "ECASREPRO_CACHE_DIR": str(work / "cache"), "ECASREPRO_LOCK_INDEX": "off"})
    return env


# --- driving the page ----------------------------------------------------------------------------


def open_notebook(page: Any, lab: JupyterLab, name: str, timeout: float = 90_000) -> None:
    """Open ``name`` and wait until its kernel is idle."""
    # the launcher first: once it lists the Python kernel, the kernel specs are loaded and opening
    # the notebook does not race them (JupyterLab would ask "Select Kernel")
    page.goto(f"{lab.url}lab?token={lab.token}", timeout=timeout)
    page.locator(".jp-LauncherCard", has_text="Python 3").first.wait_for(timeout=timeout)
    page.locator(".jp-DirListing-item", has_text=name).first.dblclick()
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout)
    idle = page.locator(IDLE)
    deadline = time.monotonic() + timeout / 1000
    while not idle.count():
        # JupyterLab sometimes asks for the kernel while the kernel specs still load: the
        # notebook's own (Python 3) is the preselected answer
        accept_kernel_dialog(page)
        if time.monotonic() > deadline:
            raise AssertionError("the notebook's kernel did not start")
        time.sleep(0.1)
    lab.wait_connected(deadline)


IDLE = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']"


def accept_kernel_dialog(page: Any) -> None:
    """JupyterLab sometimes asks for the kernel while the kernel specs still load, even after the
    notebook's kernel started: the notebook's own (Python 3) is the preselected answer."""
    choose = page.locator(".jp-Dialog", has_text="Select Kernel")
    if choose.count():
        choose.locator(".jp-Dialog-button.jp-mod-accept").click()
        choose.wait_for(state="detached")
        wait_idle(page)


def wait_idle(page: Any, timeout: float = 90_000) -> None:
    page.wait_for_selector(IDLE, timeout=timeout)


def menu(page: Any, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel").filter(
        has_text=item).first.click()


ALL_RAN = ("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
           ".every(p => /\\[\\d+\\]/.test(p.textContent))")
NONE_RUNNING = ("() => ![...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                ".some(p => p.textContent.includes('*'))")
ANY_STARTED = ("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
               ".some(p => /\\[(\\d+|\\*)\\]/.test(p.textContent))")


def run_all(page: Any, timeout: float = 90_000) -> None:
    """Run > Run All Cells. A request sent while the kernel connection is still settling can be
    dropped by JupyterLab (cells stay ``[ ]``); then it is asked once more, as a user would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function(ANY_STARTED, timeout=20_000)
            page.wait_for_function(ALL_RAN, timeout=timeout)
            break
        except PlaywrightTimeout:
            # asked again only once nothing runs: a request still in flight is never doubled
            if attempt == 2 or not page.evaluate(NONE_RUNNING):
                raise
    wait_idle(page, timeout)


def save(page: Any, path: Path, timeout: float = 30_000) -> None:
    """Ctrl+S, and wait until the file on disk is the saved one."""
    before = path.stat().st_mtime_ns
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        raise AssertionError("a dialog is open: " + dialog.first.inner_text())
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + timeout / 1000
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} was not saved")
        time.sleep(0.05)
    page.wait_for_selector(".jp-NotebookPanel:not(.jp-mod-dirty)", timeout=timeout)


def run_new_cell(page: Any, source: str) -> Any:
    """Add a code cell at the end, type ``source``, run it; the new cell's locator."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    count = cells.count()
    cells.last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    new = cells.nth(count)  # by index: Shift+Enter below adds another cell after it
    new.locator(".cm-content").click()
    page.keyboard.type(source)
    page.keyboard.press("Shift+Enter")
    return new


def finished(page: Any, cell: Any, timeout: float = 90_000) -> None:
    """Wait until ``cell`` has run (its prompt holds a count, not ``*``)."""
    cell.locator(".jp-InputPrompt").filter(has_text=re.compile(r"\[\d+\]")).wait_for(
        timeout=timeout)
    wait_idle(page, timeout)
