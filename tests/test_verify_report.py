"""Report types and writing (``ecasrepro.verification.report``): verdicts, summary, JSON form.

Reports are built from hand-made cell verdicts, so every sentence and count is checked without
running a kernel; ``write_report`` is checked on a real BagIt bag.
"""

from __future__ import annotations

import json
from pathlib import Path

import bagit

from ecasrepro.verification import (
    PASSING_VERDICTS,
    REPORT_NAME,
    VOLATILE_RULES,
    CellVerdict,
    EnvironmentDifferences,
    Tolerances,
    Verdict,
    VerificationReport,
    write_report,
)
from ecasrepro.verification.bundles import _open_bundle
from tests.test_verify_bundles import make_bag


def cell(index: int, verdict: Verdict, reason: str = "", count: int | None = 1,
         cell_type: str = "code") -> CellVerdict:
    return CellVerdict(index=index, cell_type=cell_type, execution_count=count,
                       first_line=f"line {index}", verdict=verdict, reason=reason)


def report(*cells: CellVerdict, **extra: object) -> VerificationReport:
    return VerificationReport(notebook="nb.ipynb", kernel="python3", tolerances=Tolerances(),
                              cells=list(cells), started="2030-01-01T00:00:00Z", seconds=1.23456,
                              **extra)  # type: ignore[arg-type]


def test_passing_verdicts_and_labels() -> None:
    assert {"same", "within-tolerance", "skipped"} == PASSING_VERDICTS
    assert set(PASSING_VERDICTS) < set(Verdict.__args__)  # type: ignore[attr-defined]
    assert cell(3, "same").label() == "cell 3 (In [1]) `line 3`"
    assert cell(0, "skipped", count=None, cell_type="markdown").label() == "cell 0 `line 0`"
    assert cell(1, "within-tolerance").passed and not cell(1, "timeout").passed


def test_a_reproduced_report() -> None:
    done = report(cell(0, "skipped", count=None, cell_type="markdown"), cell(1, "same"),
                  cell(2, "within-tolerance"))
    assert done.reproduced and done.verdict == "reproduced" and done.failing == []
    summary = done.summary()
    assert summary.splitlines()[0] == "verify nb.ipynb: REPRODUCED (2 code cells)"
    assert "  same: 1, within-tolerance: 1, skipped: 1" in summary
    assert "hint:" not in summary and "wrote" not in summary
    assert "tolerances: rtol=1e-06 atol=0 image=0.01; ran in 1.2 s with kernel python3" in summary


def test_a_failing_report_names_cells_in_order_and_shortens_the_sentence() -> None:
    failed = report(
        cell(0, "differs", "stdout line 1: text differs"),
        cell(1, "new-error", "raised KeyError: 'x'"),
        cell(2, "timeout", "did not finish within 600 s"),
        cell(3, "not-run", "the run stopped at an earlier cell"),
        cell(4, "same"),
        bundle="a.repro",
        report_path=Path("a.repro/verification.json"),
        environment=EnvironmentDifferences(interpreter="py", note="checked"),
        warnings=["something to know"],
    )
    assert not failed.reproduced and failed.verdict == "not-reproduced"
    assert [c.index for c in failed.failing] == [0, 1, 2, 3]
    assert failed.counts() == {"differs": 1, "new-error": 1, "timeout": 1, "not-run": 1, "same": 1}
    sentence = failed.failure_sentence()
    assert sentence.startswith("the re-executed notebook did not reproduce 4 cell(s): ")
    assert "cell 0 (In [1]) `line 0` differs; cell 1 (In [1]) `line 1` new-error;" in sentence
    assert "`line 3`" not in sentence and sentence.endswith(
        " and 1 more; details in a.repro/verification.json"
    )
    lines = failed.summary().splitlines()
    assert lines[0] == "verify a.repro: NOT REPRODUCED (4 of 5 code cells differ)"
    assert lines[1] == "  cell 0 (In [1]) `line 0`: differs - stdout line 1: text differs"
    assert any(line.startswith("  hint: is a differing output meant to change") for line in lines)
    # Counts follow the order of the Verdict type, not the order cells came in.
    assert "  same: 1, differs: 1, new-error: 1, timeout: 1, not-run: 1" in lines
    assert lines[-3:] == ["  environment: checked", "  warning: something to know",
                          "  wrote a.repro/verification.json"]


def test_no_hint_without_a_differing_cell() -> None:
    assert "hint:" not in report(cell(0, "timeout", "slow")).summary()


def test_to_dict_is_json_with_rounded_times_and_sparse_cells() -> None:
    timed = cell(1, "differs", "x")
    timed.seconds, timed.output, timed.captured = 0.123456, "stdout", "a"
    data = report(timed, ecasrepro_version="9.9").to_dict()
    json.dumps(data)  # serialisable as it is
    assert data["verdict"] == "not-reproduced" and data["ecasrepro_version"] == "9.9"
    assert data["timing"] == {"seconds": 1.235}
    assert data["volatile_rules"] == [name for name, _, _ in VOLATILE_RULES]
    assert data["tolerances"] == {"rtol": 1e-6, "atol": 0.0, "image": 0.01, "timeout": 600.0}
    assert data["cells"] == [{
        "index": 1, "cell_type": "code", "execution_count": 1, "first_line": "line 1",
        "verdict": "differs", "reason": "x", "output": "stdout", "captured": "a", "seconds": 0.123,
    }]
    assert data["environment"] is None


def test_write_report_stores_a_tag_file_and_keeps_the_bag_valid(tmp_path: Path) -> None:
    root = make_bag(tmp_path)
    files = _open_bundle(root)
    written = write_report(files, report(cell(0, "same")))
    assert written == root / REPORT_NAME
    assert json.loads(written.read_text()) == report(cell(0, "same")).to_dict()
    assert REPORT_NAME in (root / "tagmanifest-sha256.txt").read_text()
    assert REPORT_NAME not in (root / "manifest-sha256.txt").read_text()
    bagit.Bag(str(root)).validate()
