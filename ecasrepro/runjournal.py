"""The run journal (``archive-run.json``, ``verify-run.json``): what a long run has finished.

A run over thousands of analyses is killed sometimes (a node drained, a wall time reached, a
Ctrl-C). The journal is one JSON object, ``{"ecasrepro_run": kind, "version": 1, "updated":
..., "analyses": {source: entry}}``, rewritten atomically (a temporary sibling, fsync,
``os.replace``): a reader sees the old journal or the new one, never half of one. Writes are
grouped (at most one per ``FLUSH_SECONDS``, and always at the end), so the journal costs
nothing per task; an analysis finished in the last fraction of a second before a kill is just
checked again on resume (its outputs are atomic and current, so it is skipped cheaply).

Each entry is the outcome's JSON plus ``digest`` (what the analysis was when it finished) and
``finished`` (UTC time). Drafts are recorded by the bundle's own ``receipt.json`` before any
upload (the publisher writes it once the draft exists); the journal repeats the draft id.

One job: remember which analyses a run finished, atomically, so that a resumed run redoes none.

May import: ecasrepro.errors; never ecasrepro.api or a front end (ecasrepro.cli,
ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput

VERSION = 1
FLUSH_SECONDS = 0.5
#: statuses a resumed run does not redo
FINISHED = frozenset({"archived", "skipped", "ok", "differs"})


class RunJournal:
    """The journal at ``path`` for runs of ``kind`` (``archive`` or ``verify``)."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.path = Path(path)
        self.kind = kind
        self.entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._flushed = 0.0
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BadInput(
                    f"{self.path} cannot be read as a run journal ({exc}); move it aside to "
                    "start the run afresh."
                ) from None
            if not isinstance(data, dict) or data.get("ecasrepro_run") != kind:
                raise BadInput(
                    f"{self.path} is not an ecasrepro {kind} journal; move it aside or choose "
                    "another output."
                )
            analyses = data.get("analyses")
            if isinstance(analyses, dict):
                self.entries = {str(k): v for k, v in analyses.items() if isinstance(v, dict)}

    def finished(self, source: str, digest: str | None = None) -> dict[str, Any] | None:
        """The entry of ``source`` if it finished (and, given ``digest``, was then the same)."""
        entry = self.entries.get(source)
        if entry is None or entry.get("status") not in FINISHED:
            return None
        if digest is not None and entry.get("digest") != digest:
            return None
        return entry

    def record(self, source: str, entry: dict[str, Any]) -> None:
        self.entries[source] = {
            **entry, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self._dirty = True
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the journal atomically (nothing when nothing changed)."""
        if not self._dirty:
            return
        data = {
            "ecasrepro_run": self.kind, "version": VERSION,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "analyses": self.entries,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        self._dirty = False
        self._flushed = time.monotonic()

    def __enter__(self) -> RunJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


__all__ = ["FINISHED", "RunJournal"]
