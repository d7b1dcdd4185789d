"""The namespace scan at capture time: real PyOphidia cubes (no Ophidia server), and no import
of a library the kernel has not imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ecasrepro.capture.inputs import resolve_inputs
from ecasrepro.capture.namespace import scan_namespace
from tests.esgf_support import cmip6_drs_id, cmip6_file, expected_dataset_pid

T = "0b7c4a4e-3f7e-4d41-9c55-1d2e3f4a5b6c"


def test_a_pyophidia_cube_gives_its_pid_and_source_file(tmp_path: Path) -> None:
    from PyOphidia import cube

    source = cmip6_file(tmp_path / "pool", "20200622", f"hdl:21.14100/{T}")
    assert cube.Cube.client is None  # no server: the class's own constructor, nothing sent
    held = cube.Cube()
    held.pid = "http://ophidia.example/ophidia/7/42"  # what Cube(pid=...) or info() sets
    held.source_file = str(source)  # what info() reads back from OPH_CUBESCHEMA
    empty = cube.Cube()  # a cube not filled in yet: nothing to report
    found = scan_namespace({"tasmax": held, "pending": [empty], "_hidden": held})
    assert found == [("http://ophidia.example/ophidia/7/42", "id"), (str(source), "file")]
    report = resolve_inputs([(v, k, "namespace") for v, k in found])
    assert [r.identifier for r in report.related] == [
        expected_dataset_pid(cmip6_drs_id(), "20200622")[4:]]  # the cube's file's dataset
    assert [f.path for f in report.files] == [source]  # the server PID is no Handle: not cited


def test_the_scan_imports_no_library_the_kernel_has_not_imported() -> None:
    code = (
        "import sys\n"
        "from ecasrepro.capture.namespace import scan_namespace\n"
        "print(scan_namespace({'a': 1, 'b': [object()], 'c': {'d': 'x.nc'}}))\n"
        "print(sorted(m for m in ('PyOphidia', 'xarray', 'netCDF4', 'h5py', 'numpy')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]
