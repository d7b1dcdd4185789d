"""The %ecas_publish / %ecas_snapshot magics: under a real kernel (nbclient) against the sandbox,
plus the notebook-path and stale-file rules and the result's HTML, which need no kernel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from nbclient import NotebookClient

from ecasrepro.bundle import Bundle
from ecasrepro.errors import BadInput
from ecasrepro.magic import (
    RESULT_MIME,
    EcasReproMagics,
    FileRow,
    InputRow,
    MagicError,
    MagicResult,
    find_notebook,
    unsaved_executions,
)
from ecasrepro.sandbox import SandboxServer
from tests.test_publish_support import drafts_of

HANDLE = "hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2"


def _outputs(cell: Any) -> tuple[str, str]:
    """(all text/html of a cell's outputs, every output as JSON text)."""
    html = "".join(
        str(o.get("data", {}).get("text/html", "")) for o in cell.get("outputs", [])
    )
    return html, json.dumps(cell.get("outputs", []))


def _error(cell: Any) -> str:
    """The cell's error output as shown (its traceback lines), or "" when the cell succeeded."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) <= 1
    return "\n".join(errors[0]["traceback"]) if errors else ""


@pytest.mark.slow
def test_magic_publishes_from_a_real_kernel(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("B2SHARE_URL", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("B2SHARE_TOKEN", sandbox.token)  # the kernel inherits it
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ECASREPRO_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "project"
    project.mkdir()
    url = sandbox.url
    sources = [
        "%load_ext ecasrepro",
        "%ecas_publish --title 'No path'",  # no __session__, no JPY_SESSION_NAME
        f"%ecas_publish --notebook analysis.ipynb --input not-a-pid --server {url}",
        f"%ecas_publish --notebook analysis.ipynb --title 'Magic <test>' --input {HANDLE} "
        f"--server {url}",
        f"%ecas_publish --notebook analysis.ipynb --title 'Magic <test>' --input {HANDLE} "
        f"--server {url}",  # again: the receipt is kept, so the same draft continues
        "%ecas_snapshot --notebook analysis.ipynb --output snap.repro",
        f"%ecas_publish --notebook analysis.ipynb --dry-run --server {url}",
        "x = 41",  # run after the last save: the file no longer holds what the kernel ran
        f"%ecas_publish --notebook analysis.ipynb --server {url}",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Magic run"),
                *[nbformat.v4.new_code_cell(s) for s in sources]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, project / "analysis.ipynb")

    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(project)}}).execute()

    cells = nb.cells[1:]
    assert "pass --notebook PATH" in _error(cells[1])
    assert "no local Jupyter server knows this kernel" in _error(cells[1])
    bad_pid = _error(cells[2])
    assert bad_pid.startswith("ecasrepro error: ") and "not-a-pid" in bad_pid
    assert "\n" not in bad_pid and "Traceback" not in bad_pid  # one sentence, no traceback
    assert [o for o in cells[2].outputs if o.get("output_type") != "error"] == []

    html, _ = _outputs(cells[3])
    assert _error(cells[3]) == "", _error(cells[3])
    summary = [o["data"][RESULT_MIME] for o in cells[3].outputs if RESULT_MIME in o.get("data", {})]
    assert len(summary) == 1 and summary[0]["state"] == "draft"
    assert summary[0]["found_by"] == "--notebook"
    assert any(f["path"] == "notebook/analysis.ipynb" and len(f["sha256"]) == 64
               for f in summary[0]["files"])
    assert "Magic &lt;test&gt;" in html and "<test>" not in html  # escaped
    assert "https://hdl.handle.net/21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2" in html
    receipt = json.loads((project / "analysis.repro" / "receipt.json").read_text())
    draft_id = receipt["draft_id"]
    assert draft_id in html and receipt["html_url"] in html
    assert "notebook/analysis.ipynb" in html and "md5:" not in html.split("<table>")[0]
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    draft = requests.get(f"{url}/api/records/{draft_id}/draft", headers=headers, timeout=10)
    draft.raise_for_status()
    metadata = draft.json()["metadata"]
    assert metadata["titles"][0]["title"] == "Magic <test>"
    assert any(r["related_identifier"] == HANDLE.removeprefix("hdl:")
               for r in metadata["related_identifiers"])

    # the saved cells that only run ecasrepro magics are not "never ran"; the x = 41 cell is
    never_ran = [w for w in Bundle.open(project / "analysis.repro").warnings if "never ran" in w]
    assert len(never_ran) == 1 and "(cell 9)" in never_ran[0], never_ran

    again_html, _ = _outputs(cells[4])
    assert draft_id in again_html and _error(cells[4]) == ""
    assert json.loads((project / "analysis.repro" / "receipt.json").read_text())[
        "draft_id"] == draft_id
    assert [d["id"] for d in drafts_of(url, sandbox.token)] == [draft_id]
    snap_html, _ = _outputs(cells[5])
    assert (project / "snap.repro" / "bagit.txt").is_file() and "snap.repro" in snap_html
    assert "review it at" not in snap_html

    dry_html, _ = _outputs(cells[6])
    assert "dry run" in dry_html and "none was" in dry_html and _error(cells[6]) == ""

    stale = _error(cells[8])
    assert "[8]" in stale and "save the notebook" in stale and "--execute" in stale

    everything = json.dumps(nb.cells)
    assert sandbox.token not in everything
    for path in project.rglob("*"):
        if path.is_file():
            assert sandbox.token.encode() not in path.read_bytes(), path


def test_load_ext_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'ecasrepro')\n"
        "assert 'ecas_publish' in shell.magics_manager.magics['line']\n"
        "heavy = [m for m in ('nbconvert', 'jsonschema', 'git', 'requests', 'nbclient', "
        "'bagit', 'ecasrepro.api', 'xarray', 'netCDF4', 'h5py', 'numpy') if m in sys.modules]\n"
        "from ecasrepro.capture import recorder\n"
        "assert recorder.is_recording()\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


# --- the stale-file rule -------------------------------------------------------------------------


def test_saved_file_holding_every_execution_is_fresh() -> None:
    history = ["", "import csv", "x = 1", "print(x)", "%ecas_publish"]
    saved = {1: "import csv", 2: "x = 1", 3: "print(x)"}
    assert unsaved_executions(history, 4, saved, {}, saved_mtime=0.0) == []


def test_executions_after_the_last_save_are_unsaved() -> None:
    history = ["", "import csv", "x = 1", "x = 2", "print(x)", ""]
    saved = {1: "import csv", 2: "x = 1"}
    assert unsaved_executions(history, 5, saved, {}, saved_mtime=0.0) == [3, 4]


def test_a_rerun_of_a_saved_cell_counts_as_unsaved() -> None:
    # cell saved with count 2 re-run as 3: its output in the file is not what the kernel holds
    history = ["", "import csv", "x = 1", "x = 1"]
    assert unsaved_executions(history, 4, {1: "import csv", 2: "x = 1"}, {}, 0.0) == [3]


def test_magics_and_blank_cells_are_ignored_and_saving_after_a_deleted_cell_is_fresh() -> None:
    history = ["", "a = 1", "%load_ext ecasrepro", "   ", "scratch = 1", "%ecas_snapshot"]
    saved = {1: "a = 1"}
    assert unsaved_executions(history, 6, saved, {4: 100.0}, saved_mtime=50.0) == [4]
    assert unsaved_executions(history, 6, saved, {4: 100.0}, saved_mtime=150.0) == []


def test_a_file_from_another_session_is_stale_when_this_kernel_ran_code() -> None:
    history = ["", "y = 3"]
    saved = {1: "x = 1", 2: "x = 2", 40: "z"}
    assert unsaved_executions(history, 2, saved, {}, 0.0) == [1]
    assert unsaved_executions(["", "%load_ext ecasrepro"], 2, saved, {}, 0.0) == []


# --- finding the notebook ------------------------------------------------------------------------


def test_find_notebook_order_and_relative_session_names(tmp_path: Path) -> None:
    work = tmp_path / "root" / "work"
    work.mkdir(parents=True)
    (work / "a.ipynb").write_text("{}")
    (work / "b.ipynb").write_text("{}")
    # __session__ is relative to the server root (an ancestor of the kernel's directory)
    assert find_notebook(None, {"__session__": "work/a.ipynb"}, {}, cwd=work) == (
        tmp_path / "root" / "work" / "a.ipynb")
    assert find_notebook(None, {}, {"JPY_SESSION_NAME": "elsewhere/b.ipynb"}, cwd=work) == (
        work / "b.ipynb")
    assert find_notebook(None, {"__session__": "work/a.ipynb"},
                         {"JPY_SESSION_NAME": "b.ipynb"}, cwd=work).name == "a.ipynb"
    explicit = find_notebook(str(work / "b.ipynb"), {"__session__": "a.ipynb"}, {}, cwd=work)
    assert explicit.name == "b.ipynb"
    with pytest.raises(BadInput, match=r"pass --notebook PATH\.$"):
        find_notebook(None, {"__session__": "console-1"}, {}, cwd=work)
    with pytest.raises(BadInput, match=r"missing\.ipynb named by __session__ is not found"):
        find_notebook(None, {"__session__": "missing.ipynb"}, {}, cwd=work)


# --- the rich result -----------------------------------------------------------------------------


def test_result_html_escapes_everything_and_links_the_draft_and_inputs() -> None:
    result = MagicResult(
        title="<script>alert(1)</script>", bundle="/tmp/a&b.repro", notebook="a.ipynb",
        files=[FileRow("notebook/<a>.ipynb", 2048, "ab" * 32, "md5:00ff")],
        inputs=[InputRow("21.14100/x\"y", "Handle", "https://hdl.handle.net/21.14100/x\"y")],
        warnings=["cells ran <out of order>"], draft_id="abc123", state="draft",
        review_url="https://b2share.example/records/abc123/edit?x=1&y=2",
    )
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="https://b2share.example/records/abc123/edit?x=1&amp;y=2"' in html
    assert 'href="https://hdl.handle.net/21.14100/x&quot;y"' in html
    assert "notebook/&lt;a&gt;.ipynb" in html and "2.0 KiB" in html and "md5:00ff" in html
    assert "&lt;out of order&gt;" in html
    text = repr(result)
    assert "draft abc123" in text and "review: https://b2share.example" in text
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/html", RESULT_MIME, "text/plain"}
    assert "application/json" not in bundle  # JupyterLab would show a JSON tree, not the HTML
    assert bundle[RESULT_MIME]["review_url"] == result.review_url
    assert json.loads(json.dumps(bundle[RESULT_MIME]))["files"][0]["size"] == 2048
    assert "var(--jp-ui-font-color1," in html and "var(--jp-content-link-color," in html
    assert "#8a6d3b" not in html.split("</style>")[1]  # colours come from the theme's variables
    error = MagicError("bad <value>; fix it.", 2)
    assert error._render_traceback_() == ["ecasrepro error: bad <value>; fix it."]
    assert str(error) == "bad <value>; fix it." and error.exit_code == 2


def _failing_publish_notebook(project: Path) -> Any:
    """Load the extension, publish to a port nobody listens on, then a cell that must not run."""
    with socket.socket() as probe:  # a free loopback port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Fails"),
                nbformat.v4.new_code_cell("%load_ext ecasrepro"),
                nbformat.v4.new_code_cell(
                    f"%ecas_publish --notebook fails.ipynb --server http://127.0.0.1:{port}"),
                nbformat.v4.new_code_cell("open('after.txt', 'w').write('ran')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, project / "fails.ipynb")
    return nb


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("B2SHARE_URL", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("B2SHARE_TOKEN", "t" * 40)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ECASREPRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ECASREPRO_HTTP_RETRIES", "0")


def test_a_failed_publish_fails_the_cell_and_stops_nbclient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient.exceptions import CellExecutionError

    _isolate(tmp_path, monkeypatch)
    nb = _failing_publish_notebook(tmp_path)
    with pytest.raises(CellExecutionError):
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = _error(nb.cells[2])
    assert shown.startswith("ecasrepro error: ") and "127.0.0.1" in shown, shown
    assert "\n" not in shown and "Traceback" not in shown and "File " not in shown
    assert not (tmp_path / "after.txt").exists()  # the pipeline stopped at the failed publish
    assert nb.cells[3].get("outputs") == [] and nb.cells[3].get("execution_count") is None


def test_a_failed_publish_stops_papermill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    _isolate(tmp_path, monkeypatch)
    _failing_publish_notebook(tmp_path)
    with pytest.raises(PapermillExecutionError) as failed:
        papermill.execute_notebook(str(tmp_path / "fails.ipynb"), str(tmp_path / "out.ipynb"),
                                   cwd=str(tmp_path), kernel_name="python3",
                                   progress_bar=False)
    assert failed.value.ename == "MagicError" and "127.0.0.1" in failed.value.evalue
    assert not (tmp_path / "after.txt").exists()


def test_the_magics_take_every_capture_option_of_snapshot() -> None:
    """One set of capture options: a new snapshot flag (e.g. --license) reaches the magics too."""
    import inspect

    from ecasrepro.api import snapshot
    from ecasrepro.cli import main

    cli = {o for p in main.commands["snapshot"].params for o in getattr(p, "opts", [])
           if o.startswith("--")}
    capture = cli - {"--zip", "--force", "--json"}  # about the bundle file, not the capture
    for magic in (EcasReproMagics.ecas_snapshot, EcasReproMagics.ecas_publish):
        options = {o for a in magic.parser._actions for o in a.option_strings}
        assert capture <= options, capture - options
    parameters = set(inspect.signature(snapshot).parameters)
    names = {"input": "inputs", "creator": "creators", "keyword": "keywords",
             "input-file": "input_files", "exclude-input": "exclude_inputs"}
    assert {names.get(o[2:], o[2:]) for o in capture} <= parameters
