"""Environment differences (``ecasrepro.verification.environment``): pins and platform versus
the interpreter a kernel launches. Real kernelspecs and real interpreters, no fakes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
import threading
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from ecasrepro.verification import (
    EnvironmentDifferences,
    PackageDifference,
    environment_differences,
    read_pins,
    verify_notebook,
)
from ecasrepro.verification import environment as environment_module
from ecasrepro.verification.environment import (
    _find_python_version,
    _interpreter_facts,
    _kernel_interpreter,
)
from ecasrepro.verification.verify import _verify_notebook

RUNNING = platform.python_version()


def test_read_pins(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# pinned\nNumPy==1.26.4\nzope.interface==6.0 ; python_version>'3'\nx @ https://e/x.whl\n")
    pins, unpinned = read_pins(path)
    assert pins == {"numpy": "1.26.4", "zope-interface": "6.0"}
    assert unpinned == ["x @ https://e/x.whl"]



def test_read_pins_handles_extras_comments_triple_equals_and_ranges(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "requests[socks]==2.31.0  # with SOCKS\n"
        "Legacy_Pkg===1.0a1\n"
        "\n"
        "numpy>=1.20\n"
        "--index-url https://example.org/simple\n"
    )
    pins, unpinned = read_pins(path)
    assert pins == {"requests": "2.31.0", "legacy-pkg": "1.0a1"}
    assert unpinned == ["numpy>=1.20", "--index-url https://example.org/simple"]


def test_python_version_is_found_in_the_usual_platform_layouts() -> None:
    assert _find_python_version({"python_version": "3.11.4 (main, Jun 7 2023)"}) == "3.11.4"
    assert _find_python_version({"python": {"version": "3.10.1"}}) == "3.10.1"
    assert _find_python_version({"python": "CPython"}) is None
    assert _find_python_version({"version": "3.9.0"}) == "3.9.0"
    assert _find_python_version({"version": "#1 SMP Debian"}) is None
    assert _find_python_version(["3.11.4"]) is None


def test_summary_names_what_changed_and_shortens_long_lists() -> None:
    same = EnvironmentDifferences(interpreter="py", python_captured=RUNNING, python_running=RUNNING)
    assert not same.any and same.summary() == "same as captured"
    many = EnvironmentDifferences(
        interpreter="py",
        python_captured="3.9.1",
        python_running="3.11.2",
        missing=[f"gone{i}==1" for i in range(6)],
        different=[PackageDifference(f"p{i}", "1", "2") for i in range(7)],
        platform={"system": {"captured": "Darwin", "running": "Linux"}},
    )
    assert many.any
    summary = many.summary()
    assert summary.startswith("python 3.9.1 -> 3.11.2; 7 package(s) at other versions (p0 1 -> 2")
    assert "p4 1 -> 2 and 2 more)" in summary and "p5" not in summary
    assert "6 pinned package(s) missing (gone0==1" in summary and "and 1 more" in summary
    assert summary.endswith("system Darwin -> Linux")
    # Only unpinned lines or extra packages are informational, not a difference.
    assert not EnvironmentDifferences(interpreter="py", unpinned=["-e ."], extra=40).any


def test_facts_in_process_and_from_a_subprocess_agree(tmp_path: Path) -> None:
    """Our own interpreter is inspected in-process; any other path runs a subprocess."""
    here = _interpreter_facts(sys.executable)
    # The same environment reached through another path (a linked copy of sys.prefix).
    (tmp_path / "env").symlink_to(sys.prefix, target_is_directory=True)
    other = tmp_path / "env" / Path(sys.executable).relative_to(sys.prefix)
    assert os.path.abspath(other) != os.path.abspath(sys.executable)
    there = _interpreter_facts(str(other))
    assert here["python"] == there["python"] == RUNNING
    assert here["system"] == there["system"] == platform.system()
    assert here["distributions"]["nbformat"] == importlib.metadata.version("nbformat")
    assert there["distributions"] == here["distributions"]


def test_python3_kernel_compared_with_pins_and_platform(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    nbformat_version = importlib.metadata.version("nbformat")
    requirements.write_text(
        f"nbformat=={nbformat_version}\nclick==0.0.1\nno-such-dist-xyz==1.0\ngit+https://e/x\n"
    )
    platform_file = tmp_path / "platform.json"
    platform_file.write_text(json.dumps(
        {"python": {"version": "2.7.18"}, "os": {"system": "Plan9", "machine": platform.machine()}}
    ))
    result = environment_differences(requirements, platform_file, "python3")
    assert result.interpreter == _kernel_interpreter("python3")
    assert (result.python_captured, result.python_running) == ("2.7.18", RUNNING)
    assert [d.name for d in result.different] == ["click"]
    assert result.different[0].captured == "0.0.1"
    assert result.missing == ["no-such-dist-xyz==1.0"]
    assert result.unpinned == ["git+https://e/x"]
    assert result.platform == {"system": {"captured": "Plan9", "running": platform.system()}}
    assert result.extra > 0 and result.note == ""


def test_missing_files_and_unknown_kernels_give_a_note_not_an_error(tmp_path: Path) -> None:
    no_files = environment_differences(None, None, "python3")
    assert no_files.note == "the bundle has no environment/requirements.txt; packages not compared"
    assert no_files.python_running == RUNNING and not no_files.different

    broken = tmp_path / "platform.json"
    broken.write_text("{not json")
    assert environment_differences(None, broken, "python3").note == (
        "platform.json is not valid JSON"
    )

    unknown = environment_differences(None, None, "no-such-kernel-abc")
    assert unknown.interpreter == "kernel no-such-kernel-abc"
    assert "is not a Python kernel; packages not compared" in unknown.note
    assert _kernel_interpreter("no-such-kernel-abc") is None


def test_threads_asking_at_once_share_one_reading() -> None:
    """Four workers finishing their first notebooks together read the distributions once."""
    environment_module._own_facts = None
    before = environment_module._readings
    barrier = threading.Barrier(4)
    results: list[dict[str, object]] = []

    def ask() -> None:
        barrier.wait()
        results.append(_interpreter_facts(sys.executable))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert environment_module._readings == before + 1
    assert len(results) == 4 and all(r == results[0] for r in results)
    results[0]["distributions"].clear()  # type: ignore[attr-defined]
    assert results[1]["distributions"]  # each caller has its own copy
    assert _interpreter_facts(sys.executable)["distributions"]
    assert environment_module._readings == before + 1  # and later callers too


def _join_warmups() -> None:
    for thread in threading.enumerate():
        if thread.name == "ecasrepro-environment-facts":
            thread.join(timeout=60)


def test_a_bundle_verification_reads_the_facts_while_its_cells_run(tmp_path: Path) -> None:
    """verify_bundle compares environments after the run: the facts are read while the cells
    run (started when the first cell ran), so the comparison finds them ready. A plain
    verify_notebook compares nothing and reads nothing."""
    path = tmp_path / "slow.ipynb"
    nb = new_notebook(cells=[new_code_cell("import time\ntime.sleep(1)\nprint(1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    nbformat.write(nb, path)
    environment_module._own_facts = None
    before = environment_module._readings
    assert verify_notebook(path).reproduced
    _join_warmups()
    assert environment_module._readings == before  # nothing to compare, nothing read

    options = {"outputs_dir": None, "outputs_paths": None, "data_dirs": (), "timeout": 60.0,
               "rtol": 1e-6, "atol": 0.0, "image_tolerance": 0.01, "kernel_name": None,
               "progress": False, "prestart": False}
    report = _verify_notebook(path, warm_environment=True, **options)  # verify_bundle's call
    assert report.reproduced
    _join_warmups()
    assert environment_module._readings == before + 1
    compared = environment_differences(None, None, "python3")
    assert compared.python_running == RUNNING
    assert environment_module._readings == before + 1  # the comparison found it ready
