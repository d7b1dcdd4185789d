"""``ecasrepro verify``: re-execute a bundle's notebook under a real kernel and compare outputs.

One notebook is executed once per module (real ipykernel); each test builds a BagIt bundle in the
DESIGN layout from it, tampers with what it needs, and runs the real command.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import bagit
import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ecasrepro.cli import main
from ecasrepro.errors import BadInput, NotReproduced
from ecasrepro.verification import (
    image_size,
    raise_if_not_reproduced,
    verify_bundle,
    verify_notebook,
)
from tests.test_verify_images import png_bytes

PNG_HELPER = '''import struct, zlib
from IPython.display import Image, display

def png(width, height, shade):
    raw = b"".join(b"\\x00" + bytes([shade, 255 - shade, 128]) * width for _ in range(height))
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

display(Image(data=png(8, 6, 40)))'''

CELLS: list[tuple[str, str]] = [
    ("markdown", "# A small analysis"),
    (  # 1: reads an input relative to the notebook, prints numbers
        "code",
        "from pathlib import Path\n"
        "values = [float(v) for v in Path('data/values.csv').read_text().split()[1:]]\n"
        "print(f'{len(values)} values, mean {sum(values) / len(values):.6f}')",
    ),
    (  # 2: everything volatile
        "code",
        "import datetime, sys, tempfile, time\n"
        "from tqdm import tqdm\n"
        "t0 = time.perf_counter()\n"
        "for _ in tqdm(range(3)): pass\n"
        "print(object())\n"
        "print('now', datetime.datetime.now().isoformat(), time.ctime())\n"
        "elapsed = time.perf_counter() - t0\n"
        "print(f'took {elapsed:.4f} s and {1000 * elapsed:.2f}ms')\n"
        "print('scratch in', tempfile.mkdtemp())\n"
        "print('data date', datetime.date(1990, 1, 1))",
    ),
    ("code", "%time total = sum(range(1000))"),  # 3
    ("code", "ratio = sum(values) / 3\nratio"),  # 4: execute_result text/plain float
    ("code", PNG_HELPER),  # 5: image/png 8x6
    ("code", "raise KeyError('missing-key')"),  # 6: an error, captured
    (  # 7: rich outputs: HTML and JSON
        "code",
        "from IPython.display import HTML, JSON\n"
        "display(HTML(f'<b>{len(values)}</b> values'))\n"
        "JSON({'mean': sum(values) / len(values), 'label': 'values'})",
    ),
    (  # 8: writes an output file relative to the notebook
        "code",
        "Path('outputs').mkdir(exist_ok=True)\n"
        "Path('outputs/result.txt').write_text(str(sum(values)))\n"
        "print('wrote outputs/result.txt')",
    ),
]
NEVER_RAN = "print('this cell was never executed')"  # 9: added after execution


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project directory of an analysis, with its notebook executed once by a real kernel."""
    project = tmp_path_factory.mktemp("project")
    (project / "data").mkdir()
    (project / "data" / "values.csv").write_text("value\n1.5\n2.25\n3.125\n4.0\n")
    nb = new_notebook(
        cells=[new_markdown_cell(s) if k == "markdown" else new_code_cell(s) for k, s in CELLS]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    NotebookClient(
        nb, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(project)}}
    ).execute()
    nb.cells.append(new_code_cell(NEVER_RAN))
    nbformat.write(nb, project / "analysis.ipynb")
    return project


def make_bundle(project: Path, where: Path, requirements: str = "", platform: Any = None) -> Path:
    """A bundle in the DESIGN layout, made with bagit-python from the executed project."""
    staging = where / "analysis.repro"
    (staging / "notebook").mkdir(parents=True)
    shutil.copy2(project / "analysis.ipynb", staging / "notebook" / "analysis.ipynb")
    (staging / "environment").mkdir()
    (staging / "environment" / "requirements.txt").write_text(requirements or "")
    (staging / "environment" / "platform.json").write_text(json.dumps(platform or {}))
    shutil.copytree(project / "data", staging / "outputs" / "data")
    shutil.copytree(project / "outputs", staging / "outputs" / "outputs")
    (staging / "metadata.json").write_text(json.dumps({"titles": [{"title": "A small analysis"}]}))
    bagit.make_bag(str(staging), checksums=["sha256"])
    return staging


def tamper(bundle: Path, change: Any) -> None:
    """Edit the captured notebook in a bundle, then re-write the manifests (a valid bag)."""
    path = bundle / "data" / "notebook" / "analysis.ipynb"
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)
    bagit.Bag(str(bundle)).save(manifests=True)


def run_verify(*args: str) -> Any:
    return CliRunner().invoke(main, ["verify", *args])


def report_of(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "verification.json").read_text())


def failing(report: dict[str, Any]) -> dict[int, str]:
    return {
        c["index"]: c["verdict"]
        for c in report["cells"]
        if c["verdict"] not in ("same", "within-tolerance", "skipped")
    }


# --- end to end -------------------------------------------------------------------------------


def test_clean_bundle_verifies_and_records_report(executed: Path, tmp_path: Path) -> None:
    import bagit as bagit_module

    requirements = (
        f"bagit=={bagit_module.__version__ if hasattr(bagit_module, '__version__') else '1.9.0'}\n"
        "click==0.0.1\nsurely-not-installed-package==1.0\n-e git+https://example.org/x.git#egg=x\n"
    )
    platform = {"python": {"version": "2.7.18"}, "os": {"system": "Plan9"}}
    bundle = make_bundle(executed, tmp_path, requirements, platform)
    result = run_verify(str(bundle), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["verdict"] == "reproduced"
    report = report_of(bundle)
    assert report == {k: v for k, v in out.items() if k != "report_path"}
    verdicts = {c["index"]: c["verdict"] for c in report["cells"]}
    assert verdicts[0] == "skipped"  # markdown
    assert verdicts[9] == "skipped"  # never executed when captured
    assert {verdicts[i] for i in range(1, 9)} == {"same"}, report["cells"]
    assert report["tolerances"]["rtol"] == 1e-6
    env = report["environment"]
    assert env["python_captured"] == "2.7.18"
    assert env["python_running"] == ".".join(map(str, sys.version_info[:3]))
    assert {d["name"] for d in env["different"]} == {"click"}
    assert env["missing"] == ["surely-not-installed-package==1.0"]
    assert env["unpinned"] == ["-e git+https://example.org/x.git#egg=x"]
    assert env["platform"]["system"]["captured"] == "Plan9"
    assert "REPRODUCED" in result.stderr and "click 0.0.1 ->" in result.stderr
    # verification.json is a tag file: the bag stays valid and lists it in the tag manifest.
    bagit.Bag(str(bundle)).validate()
    assert "verification.json" in (bundle / "tagmanifest-sha256.txt").read_text()
    assert "verification.json" not in (bundle / "manifest-sha256.txt").read_text()


def test_tampered_output_fails_on_exactly_that_cell(executed: Path, tmp_path: Path) -> None:
    bundle = make_bundle(executed, tmp_path)

    def change(nb: Any) -> None:
        out = nb.cells[1].outputs[0]
        assert out.text.startswith("4 values, mean 2.718750")
        out.text = out.text.replace("2.718750", "2.918750")

    tamper(bundle, change)
    result = run_verify(str(bundle))
    assert result.exit_code == 6, result.output
    assert "NOT REPRODUCED (1 of 9 code cells differ)" in result.stderr
    assert "cell 1 (In [1]) `from pathlib import Path`: differs" in result.stderr
    assert "number 2.918750 became 2.718750" in result.stderr
    error_line = result.stderr.strip().splitlines()[-1]
    assert error_line.startswith("error: the re-executed notebook did not reproduce 1 cell(s)")
    report = report_of(bundle)
    assert failing(report) == {1: "differs"}
    cell = report["cells"][1]
    assert cell["output"] == "stdout"
    assert cell["captured"] == "4 values, mean 2.918750"
    assert cell["reexecuted"] == "4 values, mean 2.718750"


def test_numbers_within_rtol_pass_and_outside_fail(executed: Path, tmp_path: Path) -> None:
    bundle = make_bundle(executed, tmp_path)

    def nudge(nb: Any) -> None:
        data = nb.cells[4].outputs[0].data
        assert data["text/plain"] == "3.625"
        data["text/plain"] = "3.6250000001"  # relative difference 3e-11

    tamper(bundle, nudge)
    result = run_verify(str(bundle), "--json")
    assert result.exit_code == 0, result.output
    assert report_of(bundle)["cells"][4]["verdict"] == "within-tolerance"

    result = run_verify(str(bundle), "--rtol", "1e-12", "--json")
    assert result.exit_code == 6
    assert failing(report_of(bundle)) == {4: "differs"}
    assert json.loads(result.stdout)["tolerances"]["rtol"] == 1e-12


def test_image_dimensions_and_errors(executed: Path, tmp_path: Path) -> None:
    """A resized image fails; a captured error must come back with the same exception."""
    bundle = make_bundle(executed, tmp_path)

    def change(nb: Any) -> None:
        image = nb.cells[5].outputs[0].data
        assert image_size(base64.b64decode(image["image/png"])) == (8, 6)
        image["image/png"] = base64.b64encode(png_bytes(9, 6)).decode()
        error = nb.cells[6].outputs[0]
        assert error.ename == "KeyError"
        error.ename = "ValueError"

    tamper(bundle, change)
    result = run_verify(str(bundle))
    assert result.exit_code == 6
    assert failing(report_of(bundle)) == {5: "differs", 6: "differs"}
    assert "image size 9x6 became 8x6" in result.stderr
    assert "raised KeyError instead of ValueError" in result.stderr


def test_new_error_and_missing_input(executed: Path, tmp_path: Path) -> None:
    """Without the attached input file, the reading cell raises where it did not: new-error."""
    bundle = make_bundle(executed, tmp_path)
    (bundle / "data" / "outputs" / "data" / "values.csv").unlink()
    bagit.Bag(str(bundle)).save(manifests=True)
    report = verify_bundle(bundle)
    assert not report.reproduced
    first = report.cells[1]
    assert first.verdict == "new-error"
    assert "FileNotFoundError" in first.reason
    assert any("pass --data DIR" in warning for warning in report.warnings)
    with pytest.raises(NotReproduced, match="cell 1 \\(In \\[1\\]\\)"):
        raise_if_not_reproduced(report)


def test_inputs_come_from_data_dirs_and_originals_stay_untouched(
    executed: Path, tmp_path: Path
) -> None:
    """Inputs referenced by PID are not in the bundle: --data DIR supplies them, unharmed."""
    project = tmp_path / "project"
    shutil.copytree(executed, project)
    bundle = make_bundle(project, tmp_path)
    shutil.rmtree(bundle / "data" / "outputs" / "data")  # the input is not attached
    bagit.Bag(str(bundle)).save(manifests=True)
    (project / "outputs" / "result.txt").write_text("the user's own file")
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))

    result = run_verify(str(bundle), "--data", str(project), "--json")
    assert result.exit_code == 0, result.output
    # The notebook wrote outputs/result.txt in its working copy, not in the user's directory.
    assert (project / "outputs" / "result.txt").read_text() == "the user's own file"
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == before

    result = run_verify(str(bundle), "--data", str(tmp_path / "absent"))
    assert result.exit_code == 2 and "is not a directory" in result.stderr


def test_bad_input_exits_2_with_one_sentence(executed: Path, tmp_path: Path) -> None:
    result = run_verify(str(executed / "analysis.ipynb"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "is not a bundle" in result.stderr

    (tmp_path / "analysis.repro.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    result = run_verify(str(tmp_path / "analysis.repro.zip"))
    assert result.exit_code == 2 and "is a packed bundle; unpack it" in result.stderr

    result = run_verify(str(tmp_path / "nowhere.repro"))
    assert result.exit_code == 2 and "does not exist" in result.stderr

    bundle = make_bundle(executed, tmp_path)
    result = run_verify(str(bundle), "--kernel", "no-such-kernel")
    assert result.exit_code == 2
    assert "kernel 'no-such-kernel' is not installed" in result.stderr
    assert result.stderr.count("\n") == 1

    (bundle / "data" / "notebook" / "analysis.ipynb").unlink()
    result = run_verify(str(bundle))
    assert result.exit_code == 2
    assert "notebook" in result.stderr and result.stderr.count("\n") == 1
    assert not (bundle / "verification.json").exists()


def test_missing_kernel_falls_back_to_python3_for_python_notebooks(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell("print(1 + 1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb.cells[0].execution_count = 1
    nb.metadata["kernelspec"] = {"name": "conda-env-gone-py", "language": "python"}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    report = verify_notebook(tmp_path / "nb.ipynb")
    assert report.reproduced and report.kernel == "python3"
    assert "'conda-env-gone-py' is not installed here" in report.warnings[0]

    nb.metadata["kernelspec"] = {"name": "ir", "language": "R"}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    with pytest.raises(BadInput, match="kernel 'ir' is not installed"):
        verify_notebook(tmp_path / "nb.ipynb")


def test_secrets_never_reach_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell printing a token: captured redacted, re-run redacted the same way, excerpts too."""
    secret = "s3cr3t-Value-0123456789abcdef"
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)  # the kernel inherits it
    nb = new_notebook(
        cells=[
            new_code_cell("import os\nprint('token', os.environ['MY_SERVICE_TOKEN'])"),
            new_code_cell("import os\nprint('token', os.environ['MY_SERVICE_TOKEN'], 1)"),
        ]
    )
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="token [REDACTED]\n")
    ]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="token [REDACTED] 2\n")
    ]
    for number, cell in enumerate(nb.cells, start=1):
        cell.execution_count = number
    nbformat.write(nb, tmp_path / "secret.ipynb")
    report = verify_notebook(tmp_path / "secret.ipynb")
    assert [c.verdict for c in report.cells] == ["same", "differs"]
    assert report.cells[1].reexecuted == "token [REDACTED] 1"
    assert secret not in json.dumps(report.to_dict()) and secret not in report.summary()


@pytest.mark.slow
def test_timeout_stops_with_a_clear_verdict(tmp_path: Path) -> None:
    nb = new_notebook(
        cells=[
            new_code_cell("import time\ntime.sleep(30)"),
            new_code_cell("print('after')"),
        ]
    )
    for number, cell in enumerate(nb.cells, start=1):
        cell.execution_count = number
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="after\n")]
    nbformat.write(nb, tmp_path / "slow.ipynb")
    report = verify_notebook(tmp_path / "slow.ipynb", timeout=1)
    assert [c.verdict for c in report.cells] == ["timeout", "not-run"]
    assert "did not finish within 1 s" in report.cells[0].reason
    assert "raise --timeout" in report.warnings[0]


@pytest.mark.slow
def test_example_notebook_bundle_verifies_clean(tmp_path: Path) -> None:
    """The shipped example, snapshotted like the demo does, reproduces (its input via --data)."""
    import ecasrepro

    examples = Path(__file__).resolve().parent.parent / "examples"
    project = tmp_path / "example"
    shutil.copytree(examples, project, ignore=shutil.ignore_patterns("*.repro", "*.zip"))
    bundle = ecasrepro.snapshot(
        project / "temperature_anomaly.ipynb",
        attach=[project / "outputs"],
        metadata=project / "metadata.json",
        output=tmp_path / "temperature_anomaly.repro",
    )
    result = run_verify(str(bundle.path), "--data", str(project), "--json")
    assert result.exit_code == 0, result.output
    report = report_of(Path(bundle.path))
    assert report["verdict"] == "reproduced"
    assert {c["verdict"] for c in report["cells"] if c["cell_type"] == "code"} == {"same"}
    assert report["environment"]["missing"] == [] and report["environment"]["different"] == []
    ecasrepro.Bundle.open(bundle.path).validate()  # verification.json kept the bag valid


@pytest.mark.slow
def test_bundle_beside_its_notebook_takes_inputs_from_there(tmp_path: Path) -> None:
    """Where `snapshot` puts a bundle by default (beside the notebook), verify needs no --data."""
    import ecasrepro

    examples = Path(__file__).resolve().parent.parent / "examples"
    project = tmp_path / "example"
    shutil.copytree(examples, project, ignore=shutil.ignore_patterns("*.repro", "*.zip"))
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb", attach=[project / "outputs"])
    assert Path(bundle.path).parent == project
    result = run_verify(str(bundle.path))
    assert result.exit_code == 0, result.output
    assert f"inputs read from {project.resolve()}" in result.stderr

    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(str(bundle.path), moved)  # away from its notebook: the inputs are not found
    result = run_verify(str(moved / Path(bundle.path).name))
    assert result.exit_code == 6
    assert "pass --data DIR" in result.stderr


def _make_read_only(path: Path) -> Any:
    """chmod for users; root ignores modes, so there the immutable attribute (chattr) is used."""
    import os

    path.chmod(0o555)
    if os.geteuid() != 0:
        return lambda: path.chmod(0o755)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        path.chmod(0o755)
        pytest.skip("running as root without chattr: cannot make a read-only bundle")
    return lambda: (subprocess.run(["chattr", "-i", str(path)]), path.chmod(0o755))


def test_read_only_bundle_still_reports_its_verdict(executed: Path, tmp_path: Path) -> None:
    bundle = make_bundle(executed, tmp_path)
    undo = _make_read_only(bundle)
    try:
        result = run_verify(str(bundle), "--json")
    finally:
        undo()
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.stderr
    assert "REPRODUCED" in result.stderr
    assert "could not write verification.json" in result.stderr
    out = json.loads(result.stdout)
    assert out["verdict"] == "reproduced" and out["report_path"] is None
    assert not (bundle / "verification.json").exists()


def test_a_random_number_cell_says_how_to_accept_it(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell("import random\nprint(random.random())")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    NotebookClient(nb, kernel_name="python3").execute()
    nbformat.write(nb, tmp_path / "nb.ipynb")
    report = verify_notebook(tmp_path / "nb.ipynb")
    assert not report.reproduced
    summary = report.summary()
    assert "cell 0 (In [1]) `import random`: differs - stdout line 1: number" in summary
    assert "seed it, or tag the cell 'ecasrepro-ignore-output'" in summary
    nb.cells[0].metadata["tags"] = ["ecasrepro-ignore-output"]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    tagged = verify_notebook(tmp_path / "nb.ipynb")
    assert tagged.reproduced and "ecasrepro-ignore-output" not in tagged.summary()
