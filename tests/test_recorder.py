"""The kernel recorder's behaviour, in a fresh interpreter (an audit hook cannot be removed, so
none is installed in the test process): read modes only, relative paths across a chdir, names
bound before recording started, MFDataset, user subclasses, odd path objects, pauses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.esgf_support import cmip6_file

SCRIPT = r"""
import json, os, sys
from pathlib import Path
import netCDF4
from netCDF4 import Dataset             # bound before recording starts: the known trap
from xarray import open_dataset as xr_open
from ecasrepro.capture import recorder

work, early, late, plain = (Path(p) for p in sys.argv[1:5])
user = {"Dataset": Dataset, "xr_open": xr_open, "other": 1}
recorder.start_recording(user)
assert user["Dataset"] is netCDF4.Dataset and user["Dataset"] is not Dataset
user["Dataset"](str(early)).close()      # through the rebound name
user["xr_open"](str(late)).close()

os.chdir(work)
(work / "written.txt").write_text("w")    # write modes are not reads
with open("updated.txt", "w+") as handle:
    handle.write("u")
fd = os.open("created.bin", os.O_WRONLY | os.O_CREAT)
os.close(fd)
with open("table.csv") as handle:         # relative, then a chdir: relative to work
    handle.read()
os.mkdir("sub")
os.chdir("sub")

class Odd:                               # a path-like object that cannot be hashed
    __hash__ = None
    def __fspath__(self):
        return str(work / "odd.txt")
with open(Odd()) as handle:
    odd = handle.read()
with recorder.paused():
    (work / "private.txt").read_text()
(work / "sub" / "inner.txt").write_text("i")
with open("inner.txt") as handle:         # relative to sub, though the chdir is paused
    handle.read()
with recorder.paused():
    os.chdir(work)

os.mkdir(work / "mf")
for i in range(2):                       # MFDataset opens files through the C-level class
    with netCDF4.Dataset(str(work / "mf" / f"part{i}.nc"), "w", format="NETCDF4_CLASSIC") as ds:
        ds.createDimension("time", None)
        ds.createVariable("time", "f8", ("time",))[:] = [i]
with netCDF4.MFDataset(str(work / "mf" / "part*.nc")) as joined:
    assert list(joined["time"][:]) == [0.0, 1.0]

class Mine(netCDF4.Dataset):
    pass
mine = Mine(str(plain))
checks = {
    "mine": [type(mine) is Mine, isinstance(mine, Mine), isinstance(mine, netCDF4.Dataset)],
    "plain": isinstance(netCDF4.Dataset(str(plain)), Mine),
    "type": type(netCDF4.Dataset(str(plain))).__name__,
    "odd": odd,
}
mine.close()
print(json.dumps({"files": sorted(recorder.recorded_files()), "checks": checks}))
"""


def test_the_recorder_records_exactly_the_reads(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("table.csv", "odd.txt", "private.txt", "updated.txt"):
        (work / name).write_text("x\n")
    early = cmip6_file(tmp_path / "early", "20200622", "hdl:21.14100/early")
    late = cmip6_file(tmp_path / "late", "20200622", "hdl:21.14100/late")
    plain = cmip6_file(tmp_path / "plain", "20200622", "hdl:21.14100/plain")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(work), str(early), str(late),
                          str(plain)], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found["files"] == sorted([
        [str(early), "netCDF4"], [str(late), "xarray"], [str(plain), "netCDF4"],
        [str(work / "table.csv"), "open"], [str(work / "odd.txt"), "open"],
        [str(work / "sub" / "inner.txt"), "open"],
        [str(work / "mf" / "part0.nc"), "netCDF4"], [str(work / "mf" / "part1.nc"), "netCDF4"],
    ])
    assert found["checks"] == {"mine": [True, True, True], "plain": False, "type": "Dataset",
                               "odd": "x\n"}


def test_a_script_that_imported_dataset_before_recording_is_recorded(tmp_path: Path) -> None:
    data = cmip6_file(tmp_path, "20200622", "hdl:21.14100/script")
    code = ("import sys\n"
            "from netCDF4 import Dataset\n"
            "import ecasrepro.capture\n"
            "ecasrepro.capture.start_recording()\n"
            "Dataset(sys.argv[1]).close()\n"
            "from ecasrepro.capture.recorder import recorded_files\n"
            "print(recorded_files())\n")
    script = tmp_path / "analysis.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script), str(data)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == repr([(str(data), "netCDF4")])
