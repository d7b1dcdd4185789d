"""CMIP6-like and CMIP5-like netCDF files made in the tests, and an independent dataset-PID check.

The files are real netCDF-4 files written with netCDF4, laid out as CMIP6 writes them: the DRS
directory ``.../<variable>/<grid>/vYYYYMMDD/<file>.nc``, an unlimited ``time`` with
``time_bnds``, ``lat``/``lon`` with bounds, one float32 variable, and the global attributes
ESGF reads (tracking_id, the DRS attributes, further_info_url).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

CMIP6_ATTRS = {
    "Conventions": "CF-1.7 CMIP-6.2",
    "mip_era": "CMIP6",
    "activity_id": "ScenarioMIP",
    "institution_id": "CMCC",
    "source_id": "CMCC-CM2-SR5",
    "experiment_id": "ssp585",
    "sub_experiment_id": "none",
    "variant_label": "r1i1p1f1",
    "table_id": "Amon",
    "variable_id": "tas",
    "grid_label": "gn",
    "frequency": "mon",
}


def expected_dataset_pid(drs_id: str, version: str, prefix: str = "21.14100") -> str:
    """uuid3(NAMESPACE_URL, name) by hand (RFC 4122 §4.3: md5, version 3, variant 10xx)."""
    digest = bytearray(hashlib.md5(uuid.NAMESPACE_URL.bytes + f"{drs_id}.v{version}".encode(),
                                   usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"hdl:{prefix}/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def cmip6_drs_id(**over: str) -> str:
    a = {**CMIP6_ATTRS, **over}
    member = a["variant_label"] if a["sub_experiment_id"] == "none" else (
        f"{a['sub_experiment_id']}-{a['variant_label']}")
    return ".".join([a["mip_era"], a["activity_id"], a["institution_id"], a["source_id"],
                     a["experiment_id"], member, a["table_id"], a["variable_id"],
                     a["grid_label"]])


def write_netcdf(path: Path, attrs: dict[str, str], variable: str = "tas", months: int = 2,
                 year: int = 2015) -> Path:
    """A small netCDF-4 file shaped like a CMIP6 one (time unlimited, bounds, float32 data)."""
    import netCDF4
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(str(path), "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("bnds", 2)
        ds.createDimension("lat", 3)
        ds.createDimension("lon", 4)
        time = ds.createVariable("time", "f8", ("time",))
        time.units = "days since 1850-01-01"
        time.calendar = "365_day"
        time.bounds = "time_bnds"
        time.standard_name = "time"
        first = (year - 1850) * 365.0
        time[:] = first + np.arange(months) * 30.0 + 15.0
        bounds = ds.createVariable("time_bnds", "f8", ("time", "bnds"))
        bounds[:] = first + np.stack([np.arange(months) * 30.0, np.arange(months) * 30.0 + 30.0],
                                     1)
        for name, size, step in (("lat", 3, 60.0), ("lon", 4, 90.0)):
            coord = ds.createVariable(name, "f8", (name,))
            coord.units = "degrees_north" if name == "lat" else "degrees_east"
            coord[:] = np.arange(size) * step
        data = ds.createVariable(variable, "f4", ("time", "lat", "lon"), fill_value=1e20)
        data.units = "K"
        data.standard_name = "air_temperature"
        data[:] = np.full((months, 3, 4), 280.0, dtype="f4")
        ds.setncatts(attrs)
    return path


def cmip6_file(root: Path, version: str, tracking: str, *, start: str = "201501",
               **over: str) -> Path:
    """A CMIP6-like file at its DRS path under ``root``; ``over`` changes attributes."""
    a = {**CMIP6_ATTRS, **over, "tracking_id": tracking}
    a["further_info_url"] = (
        f"https://furtherinfo.es-doc.org/CMIP6.{a['institution_id']}.{a['source_id']}."
        f"{a['experiment_id']}.{a['sub_experiment_id']}.{a['variant_label']}")
    directory = root.joinpath(
        "CMIP6", a["activity_id"], a["institution_id"], a["source_id"], a["experiment_id"],
        a["variant_label"], a["table_id"], a["variable_id"], a["grid_label"], f"v{version}")
    name = (f"{a['variable_id']}_{a['table_id']}_{a['source_id']}_{a['experiment_id']}_"
            f"{a['variant_label']}_{a['grid_label']}_{start}-{start[:4]}12.nc")
    return write_netcdf(directory / name, a, a["variable_id"], year=int(start[:4]))


def cmip5_file(root: Path, tracking_uuid: str) -> Path:
    """A CMIP5-style file: a bare UUID as tracking_id, CMIP5 attributes, a ``v1`` version dir."""
    attrs = {"project_id": "CMIP5", "institute_id": "CMCC", "model_id": "CMCC-CM",
             "experiment_id": "rcp85", "frequency": "mon", "modeling_realm": "atmos",
             "tracking_id": tracking_uuid}
    path = root / "cmip5" / "output1" / "CMCC" / "CMCC-CM" / "rcp85" / "mon" / "v1" / (
        "tas_Amon_CMCC-CM_rcp85_r1i1p1_200601-200612.nc")
    return write_netcdf(path, attrs)


#: CORDEX-CMIP6 global attributes (archive specifications v2: project_id CORDEX-CMIP6,
#: mip_era CMIP6, tracking ids under 21.14103)
CORDEX_CMIP6_ATTRS = {
    "project_id": "CORDEX-CMIP6", "mip_era": "CMIP6", "activity_id": "DD",
    "domain_id": "EUR-12", "institution_id": "GERICS", "driving_source_id": "ERA5",
    "driving_experiment_id": "evaluation", "driving_variant_label": "r1i1p1f1",
    "source_id": "REMO2020", "version_realization": "v1-r1", "frequency": "mon",
    "variable_id": "tas",
}
#: CORDEX-CMIP5 global attributes (no variable attribute: the file name's first element)
CORDEX_CMIP5_ATTRS = {
    "project_id": "CORDEX", "product": "output", "CORDEX_domain": "EUR-11",
    "institute_id": "GERICS", "driving_model_id": "MPI-M-MPI-ESM-LR", "experiment_id": "rcp85",
    "driving_model_ensemble_member": "r1i1p1", "model_id": "GERICS-REMO2015",
    "rcm_version_id": "v1", "frequency": "mon",
}
#: CMIP7 global attributes (MIP-DRS7: region and branding_suffix are DRS elements)
CMIP7_ATTRS = {
    "mip_era": "CMIP7", "activity_id": "CMIP", "institution_id": "CMCC",
    "source_id": "CMCC-CM3", "experiment_id": "historical", "variant_label": "r1i1p1f1",
    "region": "glb", "frequency": "mon", "variable_id": "tas",
    "branding_suffix": "tavg-h2m-hxy-u", "grid_label": "g1",
}


def cordex_cmip6_file(root: Path, version: str, tracking: str) -> Path:
    a = {**CORDEX_CMIP6_ATTRS, "tracking_id": tracking}
    directory = root.joinpath(*(a[k] for k in (
        "project_id", "activity_id", "domain_id", "institution_id", "driving_source_id",
        "driving_experiment_id", "driving_variant_label", "source_id", "version_realization",
        "frequency", "variable_id")), f"v{version}")
    name = "tas_EUR-12_ERA5_evaluation_r1i1p1f1_GERICS_REMO2020_v1-r1_mon_201101-201112.nc"
    return write_netcdf(directory / name, a, year=2011)


def cordex_cmip5_file(root: Path, version: str, tracking: str) -> Path:
    a = {**CORDEX_CMIP5_ATTRS, "tracking_id": tracking}
    directory = root.joinpath("cordex", "output", "EUR-11", "GERICS", "MPI-M-MPI-ESM-LR", "rcp85",
                              "r1i1p1", "GERICS-REMO2015", "v1", "mon", "tas", f"v{version}")
    name = "tas_EUR-11_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_GERICS-REMO2015_v1_mon_200601-200612.nc"
    return write_netcdf(directory / name, a, year=2006)


def cmip7_file(root: Path, version: str, tracking: str) -> Path:
    a = {**CMIP7_ATTRS, "tracking_id": tracking}
    directory = root.joinpath("MIP-DRS7", *(a[k] for k in (
        "mip_era", "activity_id", "institution_id", "source_id", "experiment_id",
        "variant_label", "region", "frequency", "variable_id", "branding_suffix",
        "grid_label")), f"v{version}")
    name = "tas_tavg-h2m-hxy-u_mon_glb_g1_CMCC-CM3_historical_r1i1p1f1_185001-185012.nc"
    return write_netcdf(directory / name, a, year=1850)
