"""The run journal (``archive-run.jsonl``, ``verify-run.jsonl``): what a long run has finished.

A run over thousands of analyses is killed sometimes (a node drained, a wall time reached, a
Ctrl-C). The journal is append-only JSON lines: a header line per run (``{"ecasrepro_run":
kind, "version": 2, "run": n, "started": ...}``), then one line per outcome as it comes
(``{"source": ..., "status": ..., "digest": ..., "finished": ...}``; a draft's id the moment
it exists, ``"status": "draft"``). The driver keeps no list of outcomes: what a run did is
read back from its own lines (:meth:`RunJournal.this_run`), so its memory stays flat with the
number of analyses. A line torn by a kill is ignored on reading; lines are flushed as written
and fsynced at most every ``FLUSH_SECONDS`` (and at the end), so an analysis finished in the
last fraction of a second before a power cut is just checked again on resume (its outputs are
atomic and current, so it is skipped cheaply). At the end, the run's summary (counts and
failures) is written atomically beside it (``archive-run.json``: a temporary sibling, fsync,
``os.replace``).

On opening, the latest line of each analysis is the resume's done-set; when superseded lines
outnumber those, the file is compacted (rewritten atomically with only the latest lines). A
version 1 journal (one JSON object at the ``.json`` path) is still read for resume.

One job: remember which analyses a run finished, streamed and crash-safe, so that a resumed
run redoes none.

May import: ecasrepro.errors; never ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput

VERSION = 2
FLUSH_SECONDS = 0.5
#: statuses a resumed run does not redo
FINISHED = frozenset({"archived", "skipped", "ok", "differs"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON at ``path`` atomically (temporary sibling, fsync, replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


class RunJournal:
    """The journal of runs of ``kind`` (``archive`` or ``verify``) named by ``path``.

    ``path`` is the summary (``...-run.json``); the lines are beside it (``...-run.jsonl``).
    ``entries`` is the done-set of the runs before this one (the latest line per analysis)."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.path = Path(path)
        self.lines_path = self.path.with_name(self.path.stem + ".jsonl")
        self.kind = kind
        self.entries: dict[str, dict[str, Any]] = {}
        self.runs = 0
        self._out: int | None = None  # the lines' O_APPEND descriptor while running
        self._start = 0  # byte offset of this run's header line
        self._synced = 0.0
        self._read_legacy()
        superseded = self._read_lines()
        if superseded > max(1000, len(self.entries)):
            self._compact()

    # --- reading -------------------------------------------------------------------------------

    def _bad(self, why: str) -> BadInput:
        return BadInput(f"{self.lines_path} {why}; move it aside to start the run afresh.")

    def _read_legacy(self) -> None:
        """A version 1 journal: one JSON object with every analysis, at ``path``."""
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(
                f"{self.path} cannot be read as a run journal ({exc}); move it aside to start "
                "the run afresh."
            ) from None
        if not isinstance(data, dict) or data.get("ecasrepro_run") != self.kind:
            raise BadInput(
                f"{self.path} is not an ecasrepro {self.kind} journal; move it aside or choose "
                "another output."
            )
        analyses = data.get("analyses")
        if isinstance(analyses, dict):
            self.entries = {str(k): v for k, v in analyses.items() if isinstance(v, dict)}

    def _read_lines(self) -> int:
        """Load the done-set from the lines; the number of superseded lines."""
        if not self.lines_path.is_file():
            return 0
        superseded = 0
        try:
            with open(self.lines_path, encoding="utf-8") as lines:
                for number, text in enumerate(lines):
                    try:
                        line = json.loads(text)
                    except ValueError:
                        continue  # torn by a kill mid-write
                    if not isinstance(line, dict):
                        continue
                    if "ecasrepro_run" in line:
                        if line["ecasrepro_run"] != self.kind:
                            raise self._bad(f"is not an ecasrepro {self.kind} journal")
                        self.runs = max(self.runs, int(line.get("run", 0)))
                    elif number == 0:
                        raise self._bad(f"is not an ecasrepro {self.kind} journal")
                    elif isinstance(line.get("source"), str):
                        superseded += line["source"] in self.entries
                        self.entries[line["source"]] = self._merged(line)
        except OSError as exc:
            raise self._bad(f"cannot be read ({exc.strerror or exc})") from None
        return superseded

    def _merged(self, line: dict[str, Any]) -> dict[str, Any]:
        """A draft line keeps the analysis's earlier outcome and adds the draft; an outcome
        line keeps a draft id recorded before it (a run killed after the draft existed)."""
        source = line["source"]
        before = self.entries.get(source, {})
        if line.get("status") == "draft":  # not finished: its publishing was under way
            return {**before, "draft_id": line.get("draft_id"), "status": "draft"}
        if not line.get("draft_id") and before.get("draft_id"):
            return {**line, "draft_id": before["draft_id"]}
        return line

    def finished(self, source: str, digest: str | None = None) -> dict[str, Any] | None:
        """The entry of ``source`` if it finished (and, given ``digest``, was then the same)."""
        entry = self.entries.get(source)
        if entry is None or entry.get("status") not in FINISHED:
            return None
        if digest is not None and entry.get("digest") != digest:
            return None
        return entry

    def draft_of(self, source: str) -> str | None:
        """The draft id a run recorded for ``source`` (even one killed mid-publish)."""
        entry = self.entries.get(source)
        return None if entry is None else entry.get("draft_id")

    # --- writing -------------------------------------------------------------------------------

    def _compact(self) -> None:
        """Rewrite the lines with only each analysis's latest one (atomically)."""
        handle, name = tempfile.mkstemp(prefix=f".{self.lines_path.name}.tmp-",
                                        dir=self.lines_path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                header = {"ecasrepro_run": self.kind, "version": VERSION, "run": self.runs,
                          "started": _now(), "compacted": True}
                out.write(json.dumps(header) + "\n")
                for source, entry in self.entries.items():
                    out.write(json.dumps({**entry, "source": source}) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, self.lines_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    def start(self) -> RunJournal:
        """Open the lines for appending and write this run's header."""
        self.lines_path.parent.mkdir(parents=True, exist_ok=True)
        self._out = os.open(self.lines_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._start = os.lseek(self._out, 0, os.SEEK_END)
        self.runs += 1
        self._write({"ecasrepro_run": self.kind, "version": VERSION, "run": self.runs,
                     "started": _now()})
        self.sync()
        return self

    def _write(self, line: dict[str, Any]) -> None:
        assert self._out is not None, "start() the journal first"
        # one write of the whole line on an O_APPEND descriptor: lines appended by workers
        # (drafts, :func:`append_draft`) never interleave with it on a local file system
        os.write(self._out, (json.dumps(line, sort_keys=True) + "\n").encode())
        if time.monotonic() - self._synced >= FLUSH_SECONDS:
            self.sync()

    def record(self, source: str, entry: dict[str, Any]) -> None:
        """Append one analysis's outcome (it is not kept in memory)."""
        self._write({**entry, "source": source, "finished": _now()})

    def record_draft(self, source: str, draft_id: str) -> None:
        """Append that ``source``'s draft exists (before any upload to it)."""
        append_draft(str(self.lines_path), source, draft_id)


    def sync(self) -> None:
        if self._out is not None:
            os.fsync(self._out)
            self._synced = time.monotonic()

    def this_run(self) -> Iterator[dict[str, Any]]:
        """This run's outcome lines, in the order they came (read back from the file)."""
        with open(self.lines_path, encoding="utf-8") as lines:
            lines.seek(self._start)
            next(lines, None)  # the header
            for text in lines:
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("status") != "draft":
                    yield line

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Sync and close the lines; write ``summary`` atomically at ``path`` when given."""
        if self._out is not None:
            self.sync()
            os.close(self._out)
            self._out = None
        if summary is not None:
            atomic_write_json(self.path, {
                "ecasrepro_run": self.kind, "version": VERSION, "run": self.runs,
                "updated": _now(), "journal": self.lines_path.name, **summary,
            })

    def __enter__(self) -> RunJournal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def append_draft(lines_path: str, source: str, draft_id: str) -> None:
    """Append (from a worker, anywhere the output is mounted) that ``source``'s draft exists:
    one write on an O_APPEND descriptor, fsynced, before any upload to the draft."""
    line = {"source": source, "status": "draft", "draft_id": draft_id, "finished": _now()}
    fd = os.open(lines_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (json.dumps(line, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["FINISHED", "RunJournal", "append_draft", "atomic_write_json"]
