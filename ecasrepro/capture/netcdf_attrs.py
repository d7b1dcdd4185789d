"""Read the global attributes of a netCDF file (tracking_id, the DRS attributes, DOI), nothing else.

With netCDF4 or h5netcdf installed (``pip install 'ecasrepro[netcdf]'``) the header is read, never
the data. A file is tried only when its first bytes are a netCDF-3 or HDF5 signature, so a CSV is
not handed to a netCDF library. A corrupt or unreadable file is a warning naming it, never an
error: it is still listed as an input, by path, size and sha256. Results are cached by path,
size and mtime, since the recorder may see one file opened many times.

One job: the global attributes of one file, so that its PIDs come from the file itself.

May import: nothing (the standard library only); never ecasrepro.bundle, ecasrepro.b2share,
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_NETCDF3 = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_HDF5 = b"\x89HDF\r\n\x1a\n"
#: Names that say "netCDF" even when the bytes do not: a bad one is reported, not ignored.
NETCDF_SUFFIXES = frozenset({".nc", ".nc4", ".netcdf", ".h5", ".hdf5", ".he5"})


@dataclass(frozen=True)
class Attributes:
    """The global attributes read (empty when the file is no netCDF) and a warning, if any."""

    values: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None
    netcdf: bool = False  # True when the file has a netCDF/HDF5 signature


_CACHE: dict[tuple[str, int, int], Attributes] = {}


def _signature(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(8)


def _plain(value: Any) -> Any:
    """A string attribute as str; numbers and arrays as given (only strings are used later)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _with_netcdf4(path: Path) -> dict[str, Any]:
    import netCDF4

    with netCDF4.Dataset(str(path), "r") as ds:
        return {name: _plain(ds.getncattr(name)) for name in ds.ncattrs()}


def _with_h5netcdf(path: Path) -> dict[str, Any]:
    import h5netcdf

    with h5netcdf.File(str(path), "r") as ds:
        return {str(name): _plain(value) for name, value in ds.attrs.items()}


def available_readers() -> list[str]:
    """The installed readers, in the order they are tried."""
    return [name for name in ("netCDF4", "h5netcdf") if importlib.util.find_spec(name)]


def read_global_attributes(path: str | os.PathLike[str], shown: str | None = None) -> Attributes:
    """The global attributes of ``path``; ``shown`` is how a warning names the file."""
    file = Path(path)
    name = shown or file.name
    try:
        stat = file.stat()
        key = (str(file), stat.st_size, stat.st_mtime_ns)
        if key in _CACHE:
            return _CACHE[key]
        head = _signature(file)
    except OSError as exc:
        return Attributes(warning=f"input {name} could not be read ({exc.strerror or exc}); "
                          "it is listed without its PID.")
    is_netcdf = head[:4] in _NETCDF3 or head == _HDF5
    if not is_netcdf:
        result = Attributes()
        if file.suffix.lower() in NETCDF_SUFFIXES:
            result = Attributes(warning=f"input {name} is named like a netCDF file but is not "
                                "one (corrupt or truncated?); it is listed without its PID.")
        _CACHE[key] = result
        return result
    readers = [r for r in available_readers() if r == "netCDF4" or head == _HDF5]
    if not readers:
        result = Attributes(netcdf=True, warning=(
            f"input {name} is a netCDF file, but no netCDF reader is installed to read its "
            "tracking id; install ecasrepro[netcdf] (netCDF4 or h5netcdf)."))
        _CACHE[key] = result
        return result
    errors = []
    for reader in readers:
        try:
            values = _with_netcdf4(file) if reader == "netCDF4" else _with_h5netcdf(file)
        except Exception as exc:  # a broken file raises anything (OSError, RuntimeError, KeyError)
            text = str(exc).replace(f"'{file}'", "").replace(str(file), name).strip(" :")
            errors.append(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
            continue
        result = Attributes(values, netcdf=True)
        _CACHE[key] = result
        return result
    result = Attributes(netcdf=True, warning=(
        f"input {name} could not be read as netCDF ({errors[0]}); it is listed without its PID."))
    _CACHE[key] = result
    return result
