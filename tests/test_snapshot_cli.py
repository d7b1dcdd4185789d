"""`ecasrepro snapshot`: every bad input exits 2 with one sentence and leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner

from ecasrepro.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", root)
    shutil.copytree(EXAMPLES / "outputs", root / "outputs")
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["snapshot", *args])
    return result.exit_code, result.stdout, result.stderr


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_snapshot_json_output(project: Path) -> None:
    notebook = str(project / "temperature_anomaly.ipynb")
    code, out, err = run(notebook, "-i", "hdl:21.14100/abc", "-a", str(project / "outputs"),
                         "--creator", "Doe, Jane", "--keyword", "climate", "--title", "T",
                         "--description", "D", "--license", "CC-BY-4.0", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["bundle"] == str(project / "temperature_anomaly.repro")
    assert {"relpath", "size", "sha256"} <= set(summary["files"][0])
    relpaths = {f["relpath"] for f in summary["files"]}
    assert "outputs/anomaly.csv" in relpaths
    pids = [i["related_identifier"] for i in summary["inputs"]]
    assert "21.14100/abc" in pids
    assert summary["warnings"] == []
    assert "bundle: " in err and "inputs (IsDerivedFrom):" in err
    bagit.Bag(summary["bundle"]).validate()
    metadata = json.loads((project / "temperature_anomaly.repro/data/metadata.json").read_text())
    assert metadata["titles"] == [{"title": "T"}]
    assert metadata["descriptions"][0] == {"description": "D", "description_type": "Abstract"}


def test_warnings_are_reported(project: Path) -> None:
    import nbformat

    path = project / "temperature_anomaly.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].execution_count, nb.cells[2].execution_count = 2, 1
    nbformat.write(nb, path)
    code, out, err = run(str(path), "--json")
    assert code == 0
    assert any("out of order" in w for w in json.loads(out)["warnings"])
    assert "warning: code cells of temperature_anomaly.ipynb ran out of order" in err


def bad_metadata(tmp: Path, content: str) -> str:
    path = tmp / "meta.json"
    path.write_text(content)
    return str(path)


CASES = {
    "missing notebook": (lambda p: [str(p / "nope.ipynb")], "nope.ipynb does not exist"),
    "not JSON": (
        lambda p: [bad_metadata(p, "x") and str(p / "meta.json")],
        "meta.json is not JSON",
    ),
    "JSON but not a notebook": (
        lambda p: [bad_metadata(p, '{"a": 1}') and str(p / "meta.json")],
        "meta.json is JSON but not a Jupyter notebook (no 'cells'/'nbformat' fields)",
    ),
    "invalid PID": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "-i", "not a pid"], "not a pid",
    ),
    "missing metadata file": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "--metadata", str(p / "m.json")],
        "metadata file",
    ),
    "invalid metadata JSON": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "--metadata", bad_metadata(p, "{,")],
        "is not valid JSON",
    ),
    "metadata not an object": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "--metadata", bad_metadata(p, "[]")],
        "not an object",
    ),
    "schema-violating metadata": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "--metadata",
                   bad_metadata(p, '{"titles": [{"title": 5}]}')],
        "metadata field 'titles[0].title' must be a string, got 5; fix it in meta.json",
    ),
    "missing attach path": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "-a", str(p / "gone.nc")],
        "gone.nc does not exist",
    ),
    "output parent is not a directory": (
        lambda p: [str(p / "temperature_anomaly.ipynb"), "-o",
                   str(p / "temperature_anomaly.ipynb" / "out.repro")],
        "is not a directory; choose another --output",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_sentence(project: Path, case: str) -> None:
    make_args, expected = CASES[case]
    args = make_args(project)
    before = listing(project)
    code, out, err = run(*args)
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert listing(project) == before  # nothing half-written


def test_existing_output_needs_force(project: Path) -> None:
    notebook = str(project / "temperature_anomaly.ipynb")
    assert run(notebook)[0] == 0
    before = listing(project)
    code, out, err = run(notebook)
    assert code == 2 and "already exists; pass --force to replace it" in err
    assert listing(project) == before
    code, out, err = run(notebook, "--force", "--zip", "--json")
    assert code == 0, err
    assert json.loads(out)["zip"].endswith("temperature_anomaly.repro.zip")


CAP_DAC_OVERRIDE = 1  # linux/capability.h
PR_CAPBSET_DROP = 24  # linux/prctl.h


def drop_dac_override() -> None:
    """In the child before exec: remove CAP_DAC_OVERRIDE from the bounding set.

    Root's capabilities after exec are its bounding set, so the CLI then runs as root that
    must obey file mode bits (like any user), while still reading the venv under /root.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE) failed")


def test_unwritable_output_directory(project: Path, tmp_path: Path) -> None:
    """Runs the real CLI in a subprocess that cannot override permissions, even as root."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    output = locked / "x.repro"
    as_root = os.geteuid() == 0
    before = listing(project)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("ecasrepro")), "snapshot",
             str(project / "temperature_anomaly.ipynb"), "-o", str(output)],
            capture_output=True, text=True, timeout=60, cwd=project,
            preexec_fn=drop_dac_override if as_root else None,
        )
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert lines == [
            f"error: cannot write the bundle to {output}: {locked} is not writable; "
            "choose another --output."
        ], result.stderr
        assert list(locked.iterdir()) == []
        assert listing(project) == before
    finally:
        locked.chmod(0o700)


def test_secret_exit_code_5(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "zz_8c7b6a5f4e3d2c1b0a99887766554433"
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", token)
    (project / "outputs" / "env.txt").write_text(f"JUPYTERHUB_API_TOKEN={token}\n")
    before = listing(project)
    code, _out, err = run(str(project / "temperature_anomaly.ipynb"), "-a",
                          str(project / "outputs" / "env.txt"))
    assert code == 5
    assert "env.txt:1" in err and token not in err
    assert listing(project) == before


def test_the_command_skips_jsonschemas_iri_grammars(project: Path) -> None:
    """rfc3987-syntax (installed with JupyterLab) would cost ~1-2 s of lark grammar building
    when nbformat imports jsonschema; the ``ecasrepro`` process skips it and still validates."""
    import importlib.util

    assert importlib.util.find_spec("rfc3987_syntax") is not None  # else nothing to skip
    script = Path(sys.executable).with_name("ecasrepro")
    done = subprocess.run(
        [str(script), "snapshot", str(project / "temperature_anomaly.ipynb"), "-o",
         str(project / "out.repro")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert {"nbformat", "jsonschema", "jsonschema._format"} <= imported
    # (a refused import is still listed by name, its submodules and lark are not)
    assert not {name for name in imported if name.startswith(("rfc3987_syntax.", "lark"))}
    bagit.Bag(str(project / "out.repro")).validate()
