"""Where ``--attach`` puts files in a bundle, and that ``verify`` puts them back where the notebook
reads them: for new bundles and for a bundle written by the code before the layout changed
(``tests/fixtures/old-layout.repro``, made by ``tests/fixtures/make_old_layout_bundle.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import bagit

from ecasrepro.verification import verify_bundle

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def code_verdicts(report: object) -> list[str]:
    return [c.verdict for c in report.cells if c.cell_type == "code"]  # type: ignore[attr-defined]


def test_bundle_in_the_old_layout_still_verifies(tmp_path: Path) -> None:
    """data/outputs/outputs/... (the old layout, no path record) still lands in outputs/..."""
    bundle = tmp_path / "old-layout.repro"
    shutil.copytree(FIXTURES / "old-layout.repro", bundle)
    bagit.Bag(str(bundle)).validate()
    assert (bundle / "data" / "outputs" / "outputs" / "maps" / "more.txt").is_file()
    report = verify_bundle(bundle)
    assert report.reproduced, report.failure_sentence()
    assert code_verdicts(report) == ["same"]
    bagit.Bag(str(bundle)).validate()  # verification.json kept the bag valid
