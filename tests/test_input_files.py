"""`ecasrepro snapshot --input-file`: PIDs read from the files themselves, cited per dataset.

Real netCDF files made here (two files of one CMIP6 dataset, one of another, a CMIP5 file with a
bare UUID, a CSV and a corrupt .nc); the crate lists each file read, the record one
IsDerivedFrom per dataset, and one warning names the inputs without a PID.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ecasrepro
from ecasrepro.cli import main
from tests.esgf_support import cmip5_file, cmip6_drs_id, cmip6_file, expected_dataset_pid
from tests.test_rocrate import context_cache, validate_offline  # noqa: F401 - fixture

A = "11111111-2222-4333-8444-555555555555"
B = "66666666-7777-4888-9999-000000000000"
C = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
CMIP5 = "a42f8f28-a042-4ab9-98a5-ef2362563310"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    import nbformat

    cell = nbformat.v4.new_code_cell("print(1)", execution_count=1,
                                     outputs=[nbformat.v4.new_output("stream", text="1\n")])
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), root / "temperature_anomaly.ipynb")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.chdir(root)
    pool = root / "pool"
    cmip6_file(pool, "20200622", f"hdl:21.14100/{A}", start="201501")
    cmip6_file(pool, "20200622", f"hdl:21.14100/{B}", start="201601")
    cmip6_file(pool, "20190815", f"hdl:21.14100/{C}", experiment_id="historical",
               activity_id="CMIP")
    cmip5_file(pool, CMIP5)
    (root / "stations.csv").write_text("station,t\nA,1.5\n")
    (root / "broken.nc").write_bytes(b"CDF\x01" + b"\xff" * 20)  # a header, then garbage
    return root


def test_input_files_become_files_and_datasets(
    project: Path, context_cache: Path,  # noqa: F811 - the fixture
) -> None:
    result = CliRunner().invoke(main, [
        "snapshot", "temperature_anomaly.ipynb", "--license", "CC-BY-4.0", "--json",
        "--input-file", "pool/**/*.nc", "--input-file", "stations.csv",
        "--input-file", "broken.nc", "--exclude-input", "*historical*"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    scenario = expected_dataset_pid(cmip6_drs_id(), "20200622")
    # one dataset for two files; the excluded dataset, the CMIP5 file, the CSV: no identifier
    assert [(i["related_identifier"], i["related_identifier_type"], i["relation_type"])
            for i in summary["inputs"]] == [(scenario[4:], "Handle", "IsDerivedFrom")]
    crate = json.loads((project / "temperature_anomaly.repro/data/ro-crate-metadata.json")
                       .read_text())
    read = {e["name"]: e for e in crate["@graph"]
            if e.get("@type") == "File" and "referenced, not copied" in e.get("description", "")}
    cmip5_name = "pool/cmip5/output1/CMCC/CMCC-CM/rcp85/mon/v1/tas_Amon_CMCC-CM_rcp85_r1i1p1_" \
        "200601-200612.nc"
    assert sorted(read) == sorted([
        *(n for n in read if n.startswith("pool/CMIP6/ScenarioMIP/")), cmip5_name,
        "stations.csv", "broken.nc"])
    assert len([n for n in read if "ScenarioMIP" in n]) == 2
    for name, entity in read.items():
        if "ScenarioMIP" in name:  # a file PID: its Handle is its @id, no re-hash
            assert entity["@id"] in (f"https://hdl.handle.net/21.14100/{A}",
                                     f"https://hdl.handle.net/21.14100/{B}")
            assert entity["isPartOf"] == {"@id": "https://hdl.handle.net/" + scenario[4:]}
            assert "sha256" not in entity
        else:  # nothing identifies it: hashed
            body = (project / name).read_bytes()
            assert entity["sha256"] == hashlib.sha256(body).hexdigest()
            assert entity["contentSize"] == str(len(body))
    graph = {e["@id"]: e for e in crate["@graph"]}
    label = graph[read[cmip5_name]["identifier"]["@id"]]
    assert (label["@type"], label["propertyID"], label["value"]) == (
        "PropertyValue", "tracking_id", CMIP5)  # labelled a tracking id, not a Handle
    run = next(e for e in crate["@graph"] if e["@id"] == "#notebook-run")
    assert {o["@id"] for o in run["object"]} >= {e["@id"] for e in read.values()}
    warnings = summary["warnings"]
    assert any("broken.nc" in w and "netCDF" in w for w in warnings)
    assert [w for w in warnings if "no PID" in w] == [
        f"3 inputs have no PID: {cmip5_name}, stations.csv, broken.nc (listed in the RO-Crate "
        "by path, size and sha256)."]
    assert not (project / "temperature_anomaly.repro/data/outputs").exists()  # never copied
    assert validate_offline(project / "temperature_anomaly.repro", context_cache) == []


def test_a_pattern_matching_nothing_is_one_sentence(project: Path) -> None:
    result = CliRunner().invoke(main, ["snapshot", "temperature_anomaly.ipynb",
                                       "--input-file", "nowhere/*.nc"])
    assert result.exit_code == 2
    assert "--input-file nowhere/*.nc matches no file" in result.stderr
    assert not (project / "temperature_anomaly.repro").exists()


def test_the_library_takes_input_files_and_kernel_discoveries(project: Path) -> None:
    other = f"hdl:21.14100/{'9' * 8}-9999-4999-8999-{'9' * 12}"
    bundle = ecasrepro.snapshot(
        "temperature_anomaly.ipynb", input_files=["pool/CMIP6/CMIP/**/*.nc"],
        discovered=[("pool/CMIP6/CMIP", "file", "recorded"),  # a directory: not an input
                    (f"hdl:21.14100/{C}", "id", "namespace"),  # that file's: adds nothing
                    (other, "id", "printed")],  # no file behind it: the file Handle
        license="CC-BY-4.0")
    historical = expected_dataset_pid(
        cmip6_drs_id(experiment_id="historical", activity_id="CMIP"), "20190815")
    assert [p.identifier for p in bundle.inputs] == [historical[4:], other[4:]]
    assert [(r.source, r.level) for r in bundle.discovered] == [
        ("file attribute (declared, namespace)", "dataset"), ("printed", "file")]
