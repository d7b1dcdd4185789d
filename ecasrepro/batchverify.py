"""Verification of many bundles (``ecasrepro verify-many``): one task per bundle, journalled.

A centre re-verifies its archived analyses periodically; re-execution is minutes per notebook,
so the bundles are streamed (:func:`ecasrepro.archival.iter_analyses`) to an executor (Dask or
a local pool, :mod:`ecasrepro.executors`) and each outcome is journalled
(:mod:`ecasrepro.runjournal`, ``verify-run.json`` by default). A resumed run skips what finished
(reproduced or differing) while the bundle's payload is unchanged: the digest is the sha256 of
``manifest-sha256.txt``, which ``verification.json`` (a tag file) does not touch. A bundle that
fails (no kernel, not a bundle, a lost task) is tried again on the next run, and never stops
the others.

One job: re-verify many bundles on one executor with a resumable journal and one summary, so
that a periodic check of thousands of analyses is one command.

May import: ecasrepro.archival (discovery), ecasrepro.errors, ecasrepro.executors,
ecasrepro.runjournal, ecasrepro.verification; never ecasrepro.api or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ecasrepro.archival import Analysis, iter_analyses, most_severe
from ecasrepro.errors import BadInput, EcasReproError, ExitCode

JOURNAL_NAME = "verify-run.json"
Status = Literal["ok", "differs", "skipped", "failed"]


@dataclass(frozen=True)
class VerifyOptions:
    """The options of one bundle's verification, the same for every bundle of a run."""

    timeout: float = 600.0
    rtol: float = 1e-6
    atol: float = 0.0
    image_tolerance: float = 0.01
    kernel_name: str | None = None
    #: start each worker's next fresh kernel while its notebook runs (never reusing one)
    prestart: bool = True


@dataclass
class VerifyOutcome:
    """One bundle: reproduced (ok), differs (which cells), skipped (journal) or failed (why)."""

    source: str
    status: Status
    reason: str | None = None
    exit_code: int = 0
    seconds: float | None = None
    report_path: str | None = None
    digest: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "status": self.status, "reason": self.reason,
            "exit_code": self.exit_code, "seconds": self.seconds,
            "report_path": self.report_path, "warnings": list(self.warnings),
        }

    def line(self) -> str:
        text = f"{self.status:<8} {self.source}"
        if self.reason:
            text += f": {self.reason}"
        elif self.seconds is not None:
            text += f" ({self.seconds:.1f} s)"
        return text


@dataclass
class VerifyManyReport:
    """A run's counts and failures; every outcome is read back from the run's journal lines.

    Exit 6 when one differs, else the most severe failure's code."""

    counts: dict[str, int]
    failures: list[VerifyOutcome]
    journal: Path
    record: Any = None  # the run's RunJournal (closed)

    def iter_outcomes(self) -> Iterator[VerifyOutcome]:
        """Every outcome, in the order they finished (streamed from the journal)."""
        if self.record is None:
            return
        known = set(VerifyOutcome.__dataclass_fields__)
        for line in self.record.this_run():
            yield VerifyOutcome(**{k: v for k, v in line.items() if k in known})

    @property
    def outcomes(self) -> list[VerifyOutcome]:
        return list(self.iter_outcomes())

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def exit_code(self) -> int:
        failed = most_severe({o.exit_code for o in self.failures})
        return failed or (int(ExitCode.NOT_REPRODUCED) if self.count("differs") else 0)

    def summary(self) -> str:
        lines = [o.line() for o in self.iter_outcomes()]
        lines.append(
            f"{self.count('ok')} reproduced, {self.count('differs')} differ, "
            f"{self.count('skipped')} skipped (unchanged since verified), "
            f"{self.count('failed')} failed; journal {self.journal}"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal), "exit_code": self.exit_code,
            "ok": self.count("ok"), "differs": self.count("differs"),
            "skipped": self.count("skipped"), "failed": self.count("failed"),
            "outcomes": [o.to_json() for o in self.iter_outcomes()],
        }


def payload_digest(bundle: Path) -> str:
    """What a verification's verdict depends on: the payload manifest's sha256."""
    with open(bundle / "manifest-sha256.txt", "rb") as handle:
        return "payload:sha256:" + hashlib.sha256(handle.read()).hexdigest()


def verify_one(analysis: Analysis, options: VerifyOptions) -> VerifyOutcome:
    """Verify one bundle (a task: plain function, never raises)."""
    from ecasrepro.verification import verify_bundle

    outcome = VerifyOutcome(str(analysis.source), "failed")
    try:
        if analysis.kind != "bundle":
            raise BadInput(
                f"{analysis.source} is a notebook without a bundle; snapshot it first "
                "(verify re-executes a bundle's captured notebook)."
            )
        outcome.digest = payload_digest(analysis.source)
        report = verify_bundle(
            analysis.source, timeout=options.timeout, rtol=options.rtol, atol=options.atol,
            image_tolerance=options.image_tolerance, kernel_name=options.kernel_name,
            prestart=options.prestart,
        )
        outcome.seconds = round(report.seconds, 3)
        outcome.warnings = list(report.warnings)
        outcome.report_path = None if report.report_path is None else str(report.report_path)
        if report.reproduced:
            outcome.status = "ok"
        else:
            outcome.status = "differs"
            outcome.reason = report.failure_sentence()
            outcome.exit_code = int(ExitCode.NOT_REPRODUCED)
    except EcasReproError as exc:
        outcome.reason = str(exc)
        outcome.exit_code = int(exc.exit_code)
    except OSError as exc:
        outcome.reason = f"{analysis.source} cannot be read ({exc.strerror or exc})"
        outcome.exit_code = int(ExitCode.BAD_INPUT)
    except Exception as exc:  # a bug in one bundle must not stop the others
        outcome.reason = (
            f"internal error: {type(exc).__name__}: {exc} (a bug in ecasrepro; please report it)"
        )
        outcome.exit_code = int(ExitCode.INTERNAL)
    return outcome


def _lost(analysis: Analysis, exc: BaseException) -> VerifyOutcome:
    return VerifyOutcome(
        str(analysis.source), "failed", exit_code=int(ExitCode.INTERNAL),
        reason=f"the task was lost ({type(exc).__name__}: {exc}); run again to resume",
    )


def verify_many(
    paths: Iterable[str | os.PathLike[str]],
    *,
    options: VerifyOptions | None = None,
    journal: str | os.PathLike[str] = JOURNAL_NAME,
    jobs: int | None = None,
    executor: str = "auto",
    scheduler: str | None = None,
    progress: bool | None = None,
    notify: Callable[[str], None] | None = None,
) -> VerifyManyReport:
    """Verify every bundle under ``paths``; outcomes are reported, never raised."""
    from tqdm import tqdm

    from ecasrepro.executors import open_executor
    from ecasrepro.runjournal import RunJournal

    opts = options or VerifyOptions()
    stream = iter_analyses(paths)
    first = next(stream, None)
    if first is None:
        raise BadInput("no bundles (*.repro) were found in the given paths; pass bundles to "
                       "verify or directories holding them.")
    record = RunJournal(journal, "verify")
    counts: dict[str, int] = {}
    failures: list[VerifyOutcome] = []
    show = progress if progress is not None else sys.stderr.isatty()

    def tally(outcome: VerifyOutcome) -> None:
        """Journal one outcome as it comes; the driver keeps only counts and failures."""
        record.record(outcome.source, {**outcome.to_json(), "digest": outcome.digest})
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == "failed":
            failures.append(outcome)

    def todo(bar: Any) -> Iterator[Analysis]:
        for analysis in itertools.chain([first], stream):
            source = str(analysis.source)
            entry = record.finished(source)
            if entry is not None and analysis.kind == "bundle":
                try:
                    same = entry.get("digest") == payload_digest(analysis.source)
                except OSError:
                    same = False
                if same:
                    tally(VerifyOutcome(
                        source, "skipped", seconds=entry.get("seconds"),
                        report_path=entry.get("report_path"), digest=entry.get("digest")))
                    bar.update(1)
                    continue
            yield analysis

    with tqdm(total=None, unit="bundle", desc="verifying", file=sys.stderr, disable=not show,
              leave=False) as bar, record, open_executor(
        executor, workers=jobs, scheduler=scheduler
    ) as pool:
        if pool.notice and notify is not None:
            notify(pool.notice)
        from ecasrepro.verification.kernels import drain

        try:
            for analysis, outcome in pool.imap_unordered(verify_one, todo(bar), opts,
                                                         on_error=_lost):
                tally(outcome)
                bar.set_postfix_str(f"{outcome.status} {analysis.source.name}", refresh=False)
                bar.update(1)
        finally:
            pool.on_every_worker(drain)  # each worker's spare kernel
    record.close({"counts": counts, "failures": [f.to_json() for f in failures]})
    return VerifyManyReport(counts, failures, Path(journal), record)


__all__ = ["VerifyManyReport", "VerifyOptions", "VerifyOutcome", "verify_many", "verify_one"]
