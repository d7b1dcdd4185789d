"""ESGF identity of input files: tracking ids, DRS dataset ids, versions, computed dataset PIDs,
and the global attributes read from real netCDF files (netCDF4 and h5netcdf)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ecasrepro.capture import esgf, netcdf_attrs
from tests.esgf_support import (
    CMIP6_ATTRS,
    CORDEX_CMIP5_ATTRS,
    CORDEX_CMIP6_ATTRS,
    cmip5_file,
    cmip6_drs_id,
    cmip6_file,
    cmip7_file,
    cordex_cmip5_file,
    cordex_cmip6_file,
    expected_dataset_pid,
)

U = "02d9e6d5-9467-382e-8f9b-9300a64ac3cd"


@pytest.mark.parametrize(("text", "value", "kind", "project"), [
    (f"hdl:21.14100/{U}", f"21.14100/{U}", "handle", "CMIP6"),
    (f"  hdl:21.14103/{U} ", f"21.14103/{U}", "handle", "CORDEX"),
    (f"hdl:21.14107/{U}", f"21.14107/{U}", "handle", "CMIP7"),
    (f"https://hdl.handle.net/21.14100/{U}", f"21.14100/{U}", "handle", "CMIP6"),
    (f"hdl:21.14102/{U}", f"21.14102/{U}", "handle", None),  # obs4MIPs: a Handle all the same
    (U.upper(), U, "tracking-id", "CMIP5"),  # CMIP5: a bare UUID, never a Handle
])
def test_tracking_ids_are_classified(text: str, value: str, kind: str, project: str) -> None:
    found = esgf.classify_tracking_id(text)
    assert found is not None
    assert (found.value, found.kind, found.project) == (value, kind, project)
    assert found.pid == (f"hdl:{value}" if kind == "handle" else None)


@pytest.mark.parametrize("text", ["", "none", "hdl:10.1234/abc", "21.14100", 42, None,
                                  "hdl:21.14100/a b"])
def test_what_is_not_a_tracking_id(text: object) -> None:
    assert esgf.classify_tracking_id(text) is None


def test_a_space_separated_list_is_every_id_in_it() -> None:
    other = "6c3c7b0e-2b1a-4b8e-9d53-2f0d1c3e4a5b"
    found = esgf.split_tracking_ids(f"hdl:21.14100/{U} hdl:21.14100/{other}\nnot-an-id")
    assert [t.value for t in found] == [f"21.14100/{U}", f"21.14100/{other}"]


def test_member_id_carries_the_sub_experiment_when_there_is_one() -> None:
    assert esgf.member_id({"variant_label": "r1i1p1f1", "sub_experiment_id": "none"}) == "r1i1p1f1"
    assert esgf.member_id({"variant_label": "r1i1p1f1", "sub_experiment_id": "s1960"}) == (
        "s1960-r1i1p1f1")
    assert esgf.member_id({"variant_label": "r2i1p1f1"}) == "r2i1p1f1"
    assert esgf.member_id({}) is None


def test_version_is_the_directory_above_the_file() -> None:
    assert esgf.version_of("/pool/CMIP6/x/tas/gn/v20190802/tas.nc") == "20190802"
    assert esgf.version_of("/pool/CMIP6/x/tas/gn/latest/tas.nc") is None
    assert esgf.version_of("/pool/v20190802/gn/tas.nc") is None  # only the directory above
    assert esgf.version_of("tas.nc") is None


def test_dataset_id_and_pid_match_an_independent_uuid3() -> None:
    path = "/pool/CMIP6/ScenarioMIP/CMCC/CMCC-CM2-SR5/ssp585/r1i1p1f1/Amon/tas/gn/v20200622/t.nc"
    attrs = {**CMIP6_ATTRS, "tracking_id": f"hdl:21.14100/{U}"}
    facts = esgf.file_facts(attrs, path)
    drs = "CMIP6.ScenarioMIP.CMCC.CMCC-CM2-SR5.ssp585.r1i1p1f1.Amon.tas.gn"
    assert facts.dataset_id == drs == cmip6_drs_id()
    assert facts.version == "20200622"
    assert facts.dataset_pid == expected_dataset_pid(drs, "20200622")
    assert facts.tracking_id is not None and facts.tracking_id.pid == f"hdl:21.14100/{U}"
    assert facts.has_pid


def test_a_sub_experiment_and_a_multi_activity_path() -> None:
    attrs = {**CMIP6_ATTRS, "activity_id": "DCPP CMIP", "sub_experiment_id": "s1960"}
    drs = esgf.dataset_id(attrs, "/p/CMIP6/DCPP/CMCC/m/e/s1960-r1i1p1f1/Amon/tas/gn/v20200101/f.nc")
    assert drs == "CMIP6.DCPP.CMCC.CMCC-CM2-SR5.ssp585.s1960-r1i1p1f1.Amon.tas.gn"
    assert esgf.dataset_id(attrs, "/elsewhere/f.nc") is None  # which activity is not known


def test_without_a_version_the_file_handle_is_what_is_known() -> None:
    attrs = {**CMIP6_ATTRS, "tracking_id": f"hdl:21.14100/{U}"}
    facts = esgf.file_facts(attrs, "/scratch/copy/tas.nc")
    assert facts.dataset_id is not None and facts.version is None and facts.dataset_pid is None
    assert facts.has_pid


def test_a_cmip5_file_has_a_tracking_id_and_no_pid() -> None:
    facts = esgf.file_facts({"project_id": "CMIP5", "tracking_id": U}, "/p/v1/f.nc")
    assert facts.tracking_id is not None and facts.tracking_id.kind == "tracking-id"
    assert facts.dataset_pid is None and not facts.has_pid


def test_dois_are_kept() -> None:
    facts = esgf.file_facts({"doi": "10.22033/ESGF/CMIP6.1234", "DOI": "10.22033/ESGF/CMIP6.1234"},
                            "f.nc")
    assert facts.dois == ("10.22033/ESGF/CMIP6.1234",)
    assert facts.has_pid


def test_esgf_imports_no_netcdf_library() -> None:
    code = ("import sys, ecasrepro.capture.esgf; "
            "print(sorted(m for m in ('netCDF4','h5netcdf','h5py','numpy','xarray') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- real files --------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["netCDF4", "h5netcdf"])
def test_global_attributes_of_a_real_cmip6_file(tmp_path: Path, reader: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = cmip6_file(tmp_path / reader, "20200622", f"hdl:21.14100/{U}")
    monkeypatch.setattr(netcdf_attrs, "available_readers", lambda: [reader])
    found = netcdf_attrs.read_global_attributes(path)
    assert found.warning is None and found.netcdf
    assert found.values["tracking_id"] == f"hdl:21.14100/{U}"
    facts = esgf.file_facts(found.values, path)
    assert facts.dataset_pid == expected_dataset_pid(cmip6_drs_id(), "20200622")
    assert facts.further_info_url is not None
    assert facts.further_info_url.startswith("https://furtherinfo.es-doc.org/CMIP6.CMCC.")


def test_a_cmip5_file_read_from_disk(tmp_path: Path) -> None:
    path = cmip5_file(tmp_path, U)
    facts = esgf.file_facts(netcdf_attrs.read_global_attributes(path).values, path)
    assert facts.tracking_id is not None and facts.tracking_id.project == "CMIP5"
    assert not facts.has_pid


def test_a_csv_is_not_netcdf_and_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    found = netcdf_attrs.read_global_attributes(path)
    assert (found.values, found.warning, found.netcdf) == ({}, None, False)


def test_corrupt_and_unreadable_files_are_warnings_naming_them(tmp_path: Path) -> None:
    good = cmip6_file(tmp_path, "20200622", f"hdl:21.14100/{U}")
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(good.read_bytes()[:600])  # the HDF5 signature, then nothing
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"not a netCDF file at all")
    for path in (truncated, garbage, tmp_path / "missing.nc"):
        found = netcdf_attrs.read_global_attributes(path)
        assert found.values == {}
        assert found.warning is not None and path.name in found.warning, path


# --- CORDEX and CMIP7: real files, dataset ids written out by hand, an independent uuid3 -------


def test_a_cordex_cmip6_file_cites_its_dataset_under_21_14103(tmp_path: Path) -> None:
    path = cordex_cmip6_file(tmp_path, "20240319", f"hdl:21.14103/{U}")
    facts = esgf.file_facts(netcdf_attrs.read_global_attributes(path).values, path)
    drs = ("CORDEX-CMIP6.DD.EUR-12.GERICS.ERA5.evaluation.r1i1p1f1.REMO2020.v1-r1.mon.tas")
    assert (facts.project, facts.dataset_id, facts.version) == ("CORDEX-CMIP6", drs, "20240319")
    assert facts.dataset_pid == expected_dataset_pid(drs, "20240319", "21.14103")
    assert facts.tracking_id is not None and facts.tracking_id.project == "CORDEX"


def test_a_cordex_cmip5_file_cites_its_dataset_only_when_it_carries_a_handle(
        tmp_path: Path) -> None:
    drs = "cordex.output.EUR-11.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.REMO2015.v1.mon.tas"
    handled = cordex_cmip5_file(tmp_path / "a", "20160419", f"hdl:21.14103/{U}")
    facts = esgf.file_facts(netcdf_attrs.read_global_attributes(handled).values, handled)
    assert (facts.project, facts.dataset_id) == ("CORDEX-CMIP5", drs)
    assert facts.dataset_pid == expected_dataset_pid(drs, "20160419", "21.14103")
    bare = cordex_cmip5_file(tmp_path / "b", "20160419", U)  # a bare UUID, as most carry
    facts = esgf.file_facts(netcdf_attrs.read_global_attributes(bare).values, bare)
    assert facts.dataset_id == drs and facts.dataset_pid is None and not facts.has_pid
    # an RCM whose model_id does not begin with its institute: no dataset id, not a wrong one
    odd = {**CORDEX_CMIP5_ATTRS, "model_id": "REMO2015", "tracking_id": f"hdl:21.14103/{U}"}
    assert esgf.dataset_id(odd, bare) is None


def test_a_cmip7_file_cites_its_dataset_under_21_14107(tmp_path: Path) -> None:
    path = cmip7_file(tmp_path, "20260101", f"hdl:21.14107/{U}")
    facts = esgf.file_facts(netcdf_attrs.read_global_attributes(path).values, path)
    drs = "CMIP7.CMIP.CMCC.CMCC-CM3.historical.r1i1p1f1.glb.mon.tas.tavg-h2m-hxy-u.g1"
    assert (facts.project, facts.dataset_id) == ("CMIP7", drs)
    assert facts.dataset_pid == expected_dataset_pid(drs, "20260101", "21.14107")
    assert facts.tracking_id is not None and facts.tracking_id.project == "CMIP7"


def test_a_cordex_cmip6_file_is_not_read_as_cmip6() -> None:
    # CORDEX-CMIP6 files say mip_era CMIP6 too; v1 of the specifications said project_id CORDEX
    v1 = {**CORDEX_CMIP6_ATTRS, "project_id": "CORDEX"}
    assert esgf.drs_recipe(v1) is esgf.CORDEX_CMIP6
    assert esgf.drs_recipe(CMIP6_ATTRS) is esgf.CMIP6
    assert esgf.drs_recipe({"project_id": "CMIP5"}) is None
