"""Provenance from a live kernel: the files an analysis really read become its inputs.

One real kernel (nbclient + ipykernel) runs an analysis over CMIP6-like netCDF files made here
(DRS attributes, tracking ids, ``vYYYYMMDD`` directories) and a CMIP5-style file with a bare
UUID: xarray (one file, and open_mfdataset over a glob), netCDF4, pandas (CSV), and a corrupt
file. It also names a file it never opens and writes two files. The notebook is saved, then
``%ecas_snapshot`` runs: the record's IsDerivedFrom identifiers are exactly the datasets read
(their PIDs checked against an independent uuid3), the crate lists exactly the files read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.esgf_support import cmip5_file, cmip6_drs_id, cmip6_file, expected_dataset_pid

T = ["11111111-2222-4333-8444-55555555555" + str(i) for i in range(6)]
CMIP5 = "a42f8f28-a042-4ab9-98a5-ef2362563310"


def _html(cell: Any) -> str:
    return "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.get("outputs", []))


@pytest.mark.slow
def test_a_kernel_cites_exactly_the_datasets_it_read(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ECASREPRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    project = tmp_path / "project"
    pool = tmp_path / "pool"  # the shared data pool, outside the notebook's directory
    project.mkdir()
    # dataset A: two files, read with open_mfdataset over a glob
    a1 = cmip6_file(pool, "20200622", f"hdl:21.14100/{T[0]}", start="201501")
    a2 = cmip6_file(pool, "20200622", f"hdl:21.14100/{T[1]}", start="201601")
    # dataset B: one file, read with xarray.open_dataset (and displayed: its id is printed)
    b = cmip6_file(pool, "20190815", f"hdl:21.14100/{T[2]}", experiment_id="historical",
                   activity_id="CMIP")
    # dataset C: a sub-experiment, read with netCDF4 directly (a name imported before %load_ext)
    c = cmip6_file(pool, "20210101", f"hdl:21.14100/{T[3]}", sub_experiment_id="s1960",
                   activity_id="DCPP", experiment_id="dcppA-hindcast")
    # dataset D: only named (and stat'ed), never opened
    d = cmip6_file(pool, "20220202", f"hdl:21.14100/{T[4]}", variable_id="pr")
    old = cmip5_file(pool, CMIP5)
    (project / "stations.csv").write_text("station,t\nA,1.5\nB,2.5\n")
    (project / "broken.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    glob = f"{a1.parent}/*.nc"
    sources = [
        "from netCDF4 import Dataset as NC",  # bound before the extension loads: rebound by it
        "%load_ext ecasrepro",
        "import os\nimport netCDF4\nimport pandas as pd\nimport xarray as xr",
        f"scenario = xr.open_mfdataset({glob!r}, combine='by_coords')\n"
        "scenario.tas.mean().values",
        f"hist = xr.open_dataset({str(b)!r})\nhist",  # the HTML display shows its tracking id
        f"with NC({str(c)!r}) as nc:\n    hindcast = nc['tas'][:].mean()",
        f"cmip5 = xr.open_dataset({str(old)!r})",
        "stations = pd.read_csv('stations.csv')",
        f"named = {str(d)!r}\nos.path.getsize(named) > 0",
        "try:\n    xr.open_dataset('broken.nc')\nexcept Exception:\n    pass",
        "stations.to_csv('written.csv')\nhist.to_netcdf('written.nc')",
        "%ecas_snapshot --notebook analysis.ipynb --output snap.repro --license CC-BY-4.0",
        "%ecas_snapshot --notebook analysis.ipynb --output quiet.repro --license CC-BY-4.0 "
        "--no-auto-inputs",
        "%ecas_snapshot --notebook analysis.ipynb --output some.repro --license CC-BY-4.0 "
        "--exclude-input '*historical*' --exclude-input '*.csv'",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Analysis\nData: hdl:21.14100/{T[5]}"),
                *[nbformat.v4.new_code_cell(s) for s in sources]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = project / "analysis.ipynb"
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(project)}})
    first_magic = sources.index(next(s for s in sources if s.startswith("%ecas_snapshot"))) + 1
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if index == first_magic:
                nbformat.write(nb, path)  # the user saves, then runs the magic
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    errors = [o for cell in nb.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []

    def record(name: str) -> tuple[list[str], dict[str, Any]]:
        bundle = project / name / "data"
        metadata = json.loads((bundle / "metadata.json").read_text())
        related = [r["related_identifier"] for r in metadata.get("related_identifiers", [])
                   if r["relation_type"] == "IsDerivedFrom"]
        crate = json.loads((bundle / "ro-crate-metadata.json").read_text())
        read = {e["name"]: e for e in crate["@graph"] if e.get("@type") == "File"
                and "referenced, not copied" in e.get("description", "")}
        return related, read

    related, read = record("snap.repro")
    expected = {
        expected_dataset_pid(cmip6_drs_id(), "20200622"),
        expected_dataset_pid(cmip6_drs_id(experiment_id="historical", activity_id="CMIP"),
                             "20190815"),
        expected_dataset_pid(cmip6_drs_id(sub_experiment_id="s1960", activity_id="DCPP",
                                          experiment_id="dcppA-hindcast"), "20210101"),
    }
    assert sorted(related) == sorted(p[4:] for p in expected)  # exactly the datasets read
    shown = {str(p.relative_to(Path.home())) if p.is_relative_to(Path.home()) else str(p)
             for p in (a1, a2, b, c, old)}
    shown = {("~/" + s) if not s.startswith("/") else s for s in shown}
    assert set(read) == shown | {"stations.csv", "broken.nc"}  # exactly the files read
    assert "sha256" in read["stations.csv"] and "sha256" in read["broken.nc"]
    assert "sha256" not in read[next(s for s in shown if s.endswith(a1.name))]

    result = _html(nb.cells[first_magic])
    assert "discovered input" in result
    for source in ("file attribute (recorded, namespace)", "file attribute (recorded)",
                   "file attribute (recorded, namespace, printed)"):
        assert source in result
    assert "dataset" in result and "broken.nc" in result
    warnings = json.dumps(nb.cells[first_magic].outputs)
    assert "broken.nc could not be read as netCDF" in warnings
    assert "3 inputs have no PID" in warnings

    quiet_related, quiet_read = record("quiet.repro")
    assert (quiet_related, quiet_read) == ([], {})

    some_related, some_read = record("some.repro")
    assert len(some_related) == 2 and not any("historical" in n for n in some_read)
    assert "stations.csv" not in some_read
