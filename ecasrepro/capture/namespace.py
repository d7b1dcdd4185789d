"""Scan the user's namespace at capture time for the data objects an analysis holds.

xarray Datasets and DataArrays carry the file they came from (``encoding["source"]``) and the
tracking ids of their files (``attrs["tracking_id"]``, a space-separated list for some multi-file
datasets); netCDF4 Datasets and h5py Files know their file; PyOphidia cubes know their PID (a
server-local one: shown, not cited) and ``source_file``, read as plain attributes (no server
call). The scan looks at top-level names and one level into lists, tuples and dicts, and only
at types whose library the kernel has already imported (it checks ``sys.modules``; it never
imports one).

One job: the files and ids the objects in a namespace point to, so that what an analysis holds is
cited even when its opening was not recorded.

May import: nothing (the standard library only); never ecasrepro.bundle, ecasrepro.b2share,
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

#: names IPython keeps in the user namespace for its own history: not the user's objects
_IPYTHON_NAMES = frozenset({"In", "Out", "_", "__", "___", "_oh", "_ih", "_dh", "exit", "quit",
                            "get_ipython"})


def _values(namespace: Mapping[str, Any]) -> Iterator[Any]:
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in _IPYTHON_NAMES:
            continue
        yield value
        if isinstance(value, (list, tuple)):
            yield from value[:1000]
        elif isinstance(value, dict):
            yield from list(value.values())[:1000]


def _types() -> dict[str, tuple[type, ...]]:
    """The data types whose libraries are imported, by what the scan reads from them."""
    found: dict[str, tuple[type, ...]] = {}
    xarray = sys.modules.get("xarray")
    if xarray is not None and hasattr(xarray, "Dataset"):
        found["xarray"] = (xarray.Dataset, xarray.DataArray)
    netcdf4 = sys.modules.get("netCDF4")
    if netcdf4 is not None and hasattr(netcdf4, "Dataset"):
        found["netCDF4"] = (getattr(netcdf4, "_netCDF4", netcdf4).Dataset,)
    h5py = sys.modules.get("h5py")
    if h5py is not None and hasattr(h5py, "File"):
        found["h5py"] = (h5py.File,)
    cube = sys.modules.get("PyOphidia.cube")
    if cube is not None and hasattr(cube, "Cube"):
        found["PyOphidia"] = (cube.Cube,)
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def scan_namespace(namespace: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(value, "file"|"id")`` for each file path and id the namespace's data objects hold."""
    types = _types()
    if not types:
        return []
    found: dict[tuple[str, str], None] = {}
    for value in _values(namespace):
        for library, classes in types.items():
            if not isinstance(value, classes):
                continue
            try:
                for item in _read(library, value):
                    found.setdefault(item, None)
            except Exception:  # a closed file or an odd object: skip it, never fail a snapshot
                continue
    return list(found)


def _read(library: str, value: Any) -> Iterator[tuple[str, str]]:
    if library == "xarray":
        source = _text((getattr(value, "encoding", None) or {}).get("source"))
        if source:
            yield source, "file"
        tracking = _text((getattr(value, "attrs", None) or {}).get("tracking_id"))
        if tracking:
            yield from ((part, "id") for part in tracking.split())
    elif library == "netCDF4":
        if value.isopen():
            path = _text(value.filepath())
            if path:
                yield path, "file"
            if "tracking_id" in value.ncattrs():
                yield from ((p, "id") for p in str(value.getncattr("tracking_id")).split())
    elif library == "h5py":
        path = _text(getattr(value, "filename", None))
        if path:
            yield path, "file"
    elif library == "PyOphidia":
        # a cube's PID names it on its Ophidia server (offered as an id; no Handle, so never
        # cited); source_file is the file it was imported from (after Cube.info()): on ECAS the
        # server reads the same data pool, so the file's own PIDs are found when it is here
        pid = _text(getattr(value, "pid", None))
        if pid:
            yield pid, "id"
        source = _text(getattr(value, "source_file", None))
        if source and "://" not in source:
            yield source, "file"
