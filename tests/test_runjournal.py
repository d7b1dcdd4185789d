"""The run journal's lines: streamed outcomes read back per run, a torn last line ignored, a
draft id kept across a killed run, superseded lines compacted, and a version 1 journal still
resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecasrepro.errors import BadInput
from ecasrepro.runjournal import RunJournal


def test_outcomes_stream_to_lines_and_each_run_reads_back_only_its_own(tmp_path: Path) -> None:
    path = tmp_path / "archive-run.json"
    with RunJournal(path, "archive") as first:
        first.record("a", {"status": "archived", "digest": "1"})
        first.record("b", {"status": "failed", "reason": "no"})
        assert not first.entries  # nothing of this run is kept in memory
    first.close({"counts": {"archived": 1, "failed": 1}})
    assert json.loads(path.read_text())["counts"] == {"archived": 1, "failed": 1}
    again = RunJournal(path, "archive")
    assert again.finished("a", "1") and again.finished("b") is None  # failed: done again
    with again:
        again.record("b", {"status": "archived", "digest": "2"})
    assert [line["source"] for line in again.this_run()] == ["b"]
    assert RunJournal(path, "archive").finished("b", "2")


def test_a_torn_line_is_ignored_and_a_draft_id_survives_the_kill(tmp_path: Path) -> None:
    path = tmp_path / "archive-run.json"
    with RunJournal(path, "archive") as run:
        run.record("a", {"status": "archived", "digest": "1"})
        run.record_draft("a", "draft-7")
    with open(tmp_path / "archive-run.jsonl", "a") as lines:
        lines.write('{"source": "b", "status": "arch')  # killed mid-write
    resumed = RunJournal(path, "archive")
    # the draft exists but its publishing did not finish: redone (continuing the draft)
    assert resumed.draft_of("a") == "draft-7" and resumed.finished("a") is None
    assert "b" not in resumed.entries
    with resumed:
        resumed.record("a", {"status": "failed", "reason": "upload cut"})
    assert RunJournal(path, "archive").draft_of("a") == "draft-7"  # kept for the next run


def test_superseded_lines_are_compacted_and_version_1_still_resumes(tmp_path: Path) -> None:
    path = tmp_path / "verify-run.json"
    for _ in range(3):
        with RunJournal(path, "verify") as run:
            for number in range(600):
                run.record(f"s{number}", {"status": "ok", "digest": str(number)})
    before = (tmp_path / "verify-run.jsonl").read_text().count("\n")
    compacted = RunJournal(path, "verify")
    after = (tmp_path / "verify-run.jsonl").read_text().count("\n")
    assert before == 3 * 601 and after == 601 and len(compacted.entries) == 600
    assert compacted.finished("s5", "5")

    old = tmp_path / "old" / "verify-run.json"
    old.parent.mkdir()
    old.write_text(json.dumps({"ecasrepro_run": "verify", "version": 1,
                               "analyses": {"x": {"status": "ok", "digest": "d"}}}))
    assert RunJournal(old, "verify").finished("x", "d")
    with pytest.raises(BadInput, match="not an ecasrepro archive journal"):
        RunJournal(old, "archive")
