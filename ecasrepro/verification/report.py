"""Verdict and report types, and writing ``verification.json`` into a bundle.

One job: what a verification found -- per-comparison matches, per-cell verdicts, environment
differences, the whole :class:`VerificationReport` (its JSON form and human summary) -- and
storing that report as a bundle tag file.

May import: .bundles (the type ``write_report`` takes), .normalise (the rule names a report
lists); never ecasrepro.api, ecasrepro.cli, ecasrepro.magic or a higher module of this package
(.compare, .environment, .execute, .images, .verify).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ecasrepro.verification.bundles import _BundleFiles
from ecasrepro.verification.normalise import VOLATILE_RULES

Verdict = Literal[
    "same",  # identical after removing volatile parts
    "within-tolerance",  # equal up to rtol/atol, whitespace layout or the image tolerance
    "differs",  # a real difference; ``reason`` names the first one
    "new-error",  # the cell raised although it did not when captured
    "missing-output",  # the cell had outputs when captured and now has none
    "skipped",  # markdown/raw, empty, never executed when captured, or output ignored by tag/marker
    "timeout",  # the cell did not finish within the per-cell timeout
    "not-run",  # the run stopped (timeout, dead kernel) before this cell
]
PASSING_VERDICTS: frozenset[str] = frozenset({"same", "within-tolerance", "skipped"})

REPORT_NAME = "verification.json"


@dataclass(frozen=True)
class Tolerances:
    """How much a re-executed output may differ and still count as reproduced."""

    rtol: float = 1e-6  # relative tolerance for every number found in text outputs
    atol: float = 0.0  # absolute tolerance (for values that should be ~0)
    image: float = 0.01  # RMS of the block-mean grey difference (0..1) on a 32x32 grid
    timeout: float = 600.0  # seconds per cell


@dataclass
class CellVerdict:
    """The outcome for one notebook cell; ``index`` is its 0-based position in ``nb.cells``."""

    index: int
    cell_type: str
    execution_count: int | None
    first_line: str
    verdict: Verdict
    reason: str = ""
    output: str | None = None  # which output differed: "stdout", "stderr", "output 2", "error"
    captured: str | None = None  # short excerpt of the first differing captured line
    reexecuted: str | None = None  # ... and of the re-executed one
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING_VERDICTS

    def label(self) -> str:
        """How the summary names the cell: position, prompt number and first source line."""
        prompt = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
        return f"cell {self.index}{prompt} `{self.first_line}`"


@dataclass
class PackageDifference:
    name: str
    captured: str
    running: str | None  # None when the package is not installed


@dataclass
class EnvironmentDifferences:
    """Lockfile pins versus the interpreter that re-ran the notebook (informational only)."""

    interpreter: str
    python_captured: str | None = None
    python_running: str | None = None
    missing: list[str] = field(default_factory=list)  # pinned "name==version", not installed
    different: list[PackageDifference] = field(default_factory=list)
    extra: int = 0  # installed but not pinned: not relevant to the captured run, counted only
    unpinned: list[str] = field(default_factory=list)  # VCS/URL/editable lines, presence only
    platform: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> captured/running
    note: str = ""

    @property
    def any(self) -> bool:
        return bool(
            self.missing
            or self.different
            or self.platform
            or (self.python_captured and self.python_captured != self.python_running)
        )

    def summary(self) -> str:
        parts: list[str] = []
        if self.python_captured and self.python_captured != self.python_running:
            parts.append(f"python {self.python_captured} -> {self.python_running}")
        if self.different:
            shown = ", ".join(
                f"{d.name} {d.captured} -> {d.running}" for d in self.different[:5]
            )
            more = f" and {len(self.different) - 5} more" if len(self.different) > 5 else ""
            parts.append(f"{len(self.different)} package(s) at other versions ({shown}{more})")
        if self.missing:
            shown = ", ".join(self.missing[:5])
            more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
            parts.append(f"{len(self.missing)} pinned package(s) missing ({shown}{more})")
        for key, values in self.platform.items():
            parts.append(f"{key} {values.get('captured')} -> {values.get('running')}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts) if parts else "same as captured"


@dataclass
class VerificationReport:
    """Everything ``verify`` found; ``to_dict()`` is what ``verification.json`` holds."""

    notebook: str
    kernel: str
    tolerances: Tolerances
    cells: list[CellVerdict]
    started: str
    seconds: float
    environment: EnvironmentDifferences | None = None
    warnings: list[str] = field(default_factory=list)
    bundle: str | None = None
    report_path: Path | None = None
    ecasrepro_version: str = ""

    @property
    def reproduced(self) -> bool:
        return all(cell.passed for cell in self.cells)

    @property
    def verdict(self) -> str:
        return "reproduced" if self.reproduced else "not-reproduced"

    @property
    def failing(self) -> list[CellVerdict]:
        return [cell for cell in self.cells if not cell.passed]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "ecasrepro_version": self.ecasrepro_version,
            "verified_at": self.started,
            "verdict": self.verdict,
            "bundle": self.bundle,
            "notebook": self.notebook,
            "kernel": self.kernel,
            "tolerances": asdict(self.tolerances),
            "volatile_rules": [name for name, _, _ in VOLATILE_RULES],
            "timing": {"seconds": round(self.seconds, 3)},
            "counts": self.counts(),
            "cells": [_cell_dict(cell) for cell in self.cells],
            "environment": asdict(self.environment) if self.environment else None,
            "warnings": self.warnings,
        }

    def failure_sentence(self) -> str:
        """One sentence for the exit-6 error: how many cells failed and which."""
        failing = self.failing
        names = "; ".join(f"{c.label()} {c.verdict}" for c in failing[:3])
        more = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
        where = f"; details in {self.report_path}" if self.report_path else ""
        return (
            f"the re-executed notebook did not reproduce {len(failing)} cell(s): "
            f"{names}{more}{where}"
        )

    def summary(self) -> str:
        """Human summary for stderr: the verdict, each failing cell, counts, environment."""
        code_cells = [c for c in self.cells if c.cell_type == "code"]
        name = self.bundle or self.notebook
        if self.reproduced:
            head = f"verify {name}: REPRODUCED ({len(code_cells)} code cells)"
        else:
            head = (
                f"verify {name}: NOT REPRODUCED "
                f"({len(self.failing)} of {len(code_cells)} code cells differ)"
            )
        lines = [head]
        for cell in self.failing:
            lines.append(f"  {cell.label()}: {cell.verdict} - {cell.reason}")
        if any(cell.verdict == "differs" for cell in self.failing):
            lines.append(
                "  hint: is a differing output meant to change on every run (random numbers, "
                "timings)? seed it, or tag the cell 'ecasrepro-ignore-output' to skip comparing it"
            )
        counts = self.counts()
        order = [v for v in Verdict.__args__ if v in counts]  # type: ignore[attr-defined]
        lines.append("  " + ", ".join(f"{v}: {counts[v]}" for v in order))
        tol = self.tolerances
        lines.append(
            f"  tolerances: rtol={tol.rtol:g} atol={tol.atol:g} image={tol.image:g}; "
            f"ran in {self.seconds:.1f} s with kernel {self.kernel}"
        )
        if self.environment is not None:
            lines.append(f"  environment: {self.environment.summary()}")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        if self.report_path is not None:
            lines.append(f"  wrote {self.report_path}")
        return "\n".join(lines)


def _cell_dict(cell: CellVerdict) -> dict[str, Any]:
    data = asdict(cell)
    if data["seconds"] is not None:
        data["seconds"] = round(data["seconds"], 3)
    return {key: value for key, value in data.items() if value not in (None, [], "")}


@dataclass
class _Match:
    """Result of comparing one captured thing with its re-executed counterpart."""

    level: int  # 0 same, 1 within tolerance, 2 differs
    reason: str = ""
    captured: str | None = None
    reexecuted: str | None = None


_SAME = _Match(0)


def write_report(files: _BundleFiles, report: VerificationReport) -> Path:
    """Store verification.json as a tag file via ``Bundle.write_tag_file`` (atomic; it updates
    tagmanifest-sha256.txt). The payload and its manifest stay untouched."""
    data = (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return Path(files.handle.write_tag_file(REPORT_NAME, data))
