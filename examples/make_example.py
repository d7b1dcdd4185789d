"""Regenerate the example dataset and the executed example notebook, deterministically.

    .venv/bin/python examples/make_example.py

The CSV is synthetic (a seeded random walk around a warming trend), shaped like a station's
annual mean near-surface air temperature; the notebook computes anomalies against the WMO
1961-1990 baseline and a least-squares trend. Nothing depends on the clock, so re-executing the
notebook (``ecasrepro verify`` later) reproduces its outputs byte for byte.
"""

from __future__ import annotations

import random
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CSV = HERE / "data" / "annual_temperature.csv"
NOTEBOOK = HERE / "temperature_anomaly.ipynb"

#: The input PIDs the analysis is derived from (declared in the notebook metadata).
INPUTS = [
    "hdl:21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
    "doi:10.1029/2019JD032361",
]


def write_csv() -> None:
    rng = random.Random(20240611)
    lines = ["year,tas_celsius"]
    for year in range(1950, 2024):
        value = 13.9 + 0.019 * (year - 1950) + rng.gauss(0.0, 0.15)
        lines.append(f"{year},{value:.2f}")
    CSV.parent.mkdir(exist_ok=True)
    CSV.write_text("\n".join(lines) + "\n", encoding="utf-8")


CELLS = [
    ("markdown", """# Annual temperature anomaly and trend

Station annual mean near-surface air temperature (`tas`), its anomaly relative to the WMO
1961-1990 baseline, and the least-squares linear trend. Inputs are declared by PID in the
notebook metadata (`metadata.ecasrepro.inputs`)."""),
    ("code", """import csv
from pathlib import Path
from statistics import fmean

with Path("data/annual_temperature.csv").open(encoding="utf-8") as source:
    rows = list(csv.DictReader(source))
years = [int(r["year"]) for r in rows]
tas = [float(r["tas_celsius"]) for r in rows]
print(f"{len(years)} years, {years[0]}-{years[-1]}")"""),
    ("code", """BASELINE = (1961, 1990)
baseline = fmean(t for y, t in zip(years, tas, strict=True) if BASELINE[0] <= y <= BASELINE[1])
anomaly = [t - baseline for t in tas]
print(f"baseline {BASELINE[0]}-{BASELINE[1]} mean: {baseline:.3f} degC")"""),
    ("code", """def linear_trend(x, y):
    \"\"\"Ordinary least squares slope and intercept.\"\"\"
    mx, my = fmean(x), fmean(y)
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    slope = sxy / sxx
    return slope, my - slope * mx

slope, intercept = linear_trend(years, anomaly)
print(f"trend: {slope * 10:+.3f} degC per decade")"""),
    ("markdown", "## Decadal mean anomalies"),
    ("code", """for start in range(1950, 2020, 10):
    values = [a for y, a in zip(years, anomaly, strict=True) if start <= y < start + 10]
    bar = "#" * max(0, round((fmean(values) + 0.5) * 20))
    print(f"{start}s {fmean(values):+.3f} {bar}")"""),
    ("code", """warmest = max(zip(anomaly, years, strict=True))
print(f"warmest year: {warmest[1]} ({warmest[0]:+.2f} degC)")
Path("outputs").mkdir(exist_ok=True)
with Path("outputs/anomaly.csv").open("w", encoding="utf-8") as out:
    out.write("year,anomaly_celsius\\n")
    out.writelines(f"{y},{a:.3f}\\n" for y, a in zip(years, anomaly, strict=True))
print("wrote outputs/anomaly.csv")"""),
]


def write_notebook() -> None:
    nb = nbformat.v4.new_notebook()
    for index, (kind, source) in enumerate(CELLS):
        cell = (nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell)(
            source
        )
        cell["id"] = f"cell-{index}"  # stable ids: no random churn between regenerations
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }
    nb.metadata["ecasrepro"] = {"inputs": INPUTS}
    NotebookClient(
        nb, timeout=60, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(HERE)}},
    ).execute()
    # Keep only the stable parts of language_info (no patch version that differs per machine).
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, NOTEBOOK)


if __name__ == "__main__":
    write_csv()
    write_notebook()
    print(f"wrote {CSV.relative_to(HERE)} and {NOTEBOOK.relative_to(HERE)}")
