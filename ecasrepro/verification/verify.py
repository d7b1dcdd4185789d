"""Verification by re-execution: the entry points that run a notebook again and judge each cell.

One job: orchestrate -- validate the arguments, re-execute (:mod:`.execute`), treat the new
outputs as capture did (paths marked, secrets redacted), compare every cell (:mod:`.compare`),
and for a bundle add fixity, environment differences and write ``verification.json``.

May import: ecasrepro.version, ecasrepro.errors, .bundles, .compare, .environment,
.execute, .images, .kernels, .normalise, .redaction, .report; never ecasrepro.api, ecasrepro.cli or
ecasrepro.magic.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput, NotReproduced
from ecasrepro.verification.bundles import _default_data_dirs, _notebook_fixity, _open_bundle
from ecasrepro.verification.compare import compare_cell_outputs
from ecasrepro.verification.environment import environment_differences, warm_facts
from ecasrepro.verification.execute import (
    SKIP_TAG,
    _execute,
    _ignores_output,
    _prepare_workdir,
    _resolve_kernel,
    _Run,
    _skips_execution,
    _tags,
)
from ecasrepro.verification.images import svg_rasteriser_available
from ecasrepro.verification.kernels import POOL
from ecasrepro.verification.normalise import _joined
from ecasrepro.verification.redaction import _excerpt, _redactor, _reset_redactor
from ecasrepro.verification.report import (
    REPORT_NAME,
    CellVerdict,
    Tolerances,
    VerificationReport,
    write_report,
)


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 60 else line[:57] + "..."
    return ""


def verify_notebook(
    notebook: str | os.PathLike[str],
    *,
    outputs_dir: str | os.PathLike[str] | None = None,
    outputs_paths: Mapping[str, str] | None = None,
    data_dirs: Sequence[str | os.PathLike[str]] = (),
    timeout: float = 600.0,
    rtol: float = 1e-6,
    atol: float = 0.0,
    image_tolerance: float = 0.01,
    kernel_name: str | None = None,
    progress: bool = False,
    prestart: bool = False,
) -> VerificationReport:
    """Re-execute an executed notebook in a temporary copy of its directory and compare outputs.

    ``prestart`` (for runs of many notebooks on one thread) starts the next fresh kernel while
    this notebook runs (:mod:`.kernels`); the kernel this one ran in is never reused.

    ``data_dirs`` (usually the notebook's original directory, holding its inputs) are mirrored
    first, then the notebook's own directory, then ``outputs_dir`` (a bundle's ``data/outputs``;
    each file at ``outputs_paths[its path there]`` when given, else at that path), so files the
    notebook read or wrote relative to itself are where they were.
    """
    return _verify_notebook(
        notebook, outputs_dir=outputs_dir, outputs_paths=outputs_paths, data_dirs=data_dirs,
        timeout=timeout, rtol=rtol, atol=atol, image_tolerance=image_tolerance,
        kernel_name=kernel_name, progress=progress, prestart=prestart, warm_environment=False,
    )


def _verify_notebook(
    notebook: str | os.PathLike[str],
    *,
    outputs_dir: str | os.PathLike[str] | None,
    outputs_paths: Mapping[str, str] | None,
    data_dirs: Sequence[str | os.PathLike[str]],
    timeout: float,
    rtol: float,
    atol: float,
    image_tolerance: float,
    kernel_name: str | None,
    progress: bool,
    prestart: bool,
    warm_environment: bool,
) -> VerificationReport:
    """:func:`verify_notebook`; ``warm_environment`` (verify_bundle, which compares the
    environment after the run) reads the kernel's interpreter facts while the cells run."""
    import nbformat

    from ecasrepro.version import __version__

    path = Path(notebook)
    if not path.is_file():
        raise BadInput(f"{path} does not exist; pass the path of an executed .ipynb notebook")
    try:
        original = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise BadInput(
            f"{path} is not a readable notebook ({type(exc).__name__}); pass an .ipynb file"
        ) from None
    tol = Tolerances(rtol=rtol, atol=atol, image=image_tolerance, timeout=timeout)
    for directory in data_dirs:
        if not Path(directory).is_dir():
            raise BadInput(
                f"--data {directory} is not a directory; pass the directory that holds the "
                "notebook's input files (usually where the notebook was run)"
            )
    for name, value in (("rtol", rtol), ("atol", atol), ("image tolerance", image_tolerance)):
        if not value >= 0:
            raise BadInput(f"{name} must be a number >= 0, not {value}")
    if not timeout > 0:
        raise BadInput(f"timeout must be a positive number of seconds, not {timeout}")
    warnings: list[str] = []
    kernel = _resolve_kernel(original, kernel_name, warnings)
    # One redaction snapshot per run, from the environment the kernel inherits.
    _reset_redactor()
    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    clock = time.monotonic()

    working = nbformat.from_dict(json.loads(json.dumps(original)))
    for cell in working.cells:
        if cell.cell_type != "code":
            continue
        never_ran = cell.get("execution_count") is None and not cell.get("outputs")
        if never_ran or not cell.source.strip() or _skips_execution(cell):
            cell.metadata.setdefault("tags", []).append(SKIP_TAG)
        cell.outputs = []
        cell.execution_count = None

    # a fresh kernel, started in an empty temporary directory (ahead of time with prestart)
    with POOL.kernel(kernel, prestart=prestart) as fresh:
        if warm_environment:  # read for the comparison that follows, while the cells run
            fresh.first_cell_hooks.append(lambda: warm_facts(kernel))
        workdir = fresh.workdir
        outputs = [Path(outputs_dir)] if outputs_dir is not None else []
        _prepare_workdir(path, outputs, [Path(d) for d in data_dirs], workdir, outputs_paths)
        run = _execute(working, fresh, tol, progress)
        cells = _judge(original, run, tol, os.path.realpath(workdir), str(workdir))

    if _compared_svg(original, cells) and not svg_rasteriser_available():
        warnings.append(
            "SVG outputs were compared as text (random ids and metadata dropped), not as rendered"
            " images: install resvg-py (pip install 'ecasrepro[images]') to compare how they look"
        )
    if any(c.verdict == "new-error" and "FileNotFoundError" in c.reason for c in cells):
        warnings.append(
            "a file the notebook reads is missing in the working copy: pass --data DIR with the "
            "directory the notebook ran in (inputs referenced by PID are not copied into bundles)"
        )
    if run.stop_reason == "timeout" and run.stopped_at is not None:
        warnings.append(
            f"cell {run.stopped_at} did not finish within {tol.timeout:g} s, so the run stopped"
            " there; raise --timeout if the analysis needs longer"
        )
    elif run.stop_reason == "dead-kernel":
        warnings.append(
            f"the kernel died while running cell {run.stopped_at} (out of memory or a crash)"
            + (f"; its last log line: {_excerpt(run.kernel_log)}" if run.kernel_log else "")
        )
    return VerificationReport(
        notebook=str(path),
        kernel=kernel,
        tolerances=tol,
        cells=cells,
        started=started_at.isoformat().replace("+00:00", "Z"),
        seconds=time.monotonic() - clock,
        warnings=warnings,
        ecasrepro_version=__version__,
    )


def _compared_svg(original: Any, cells: list[CellVerdict]) -> bool:
    """Whether a compared cell (not skipped) had an SVG among its captured outputs."""
    return any(
        "image/svg+xml" in output.get("data", {})
        for verdict in cells
        if verdict.cell_type == "code" and verdict.verdict != "skipped"
        for output in original.cells[verdict.index].get("outputs", [])
    )


def _judge(original: Any, run: _Run, tol: Tolerances, *workdirs: str) -> list[CellVerdict]:
    cells: list[CellVerdict] = []
    for index, (cell, new_cell) in enumerate(zip(original.cells, run.nb.cells, strict=False)):
        verdict = CellVerdict(
            index=index,
            cell_type=cell.cell_type,
            execution_count=cell.get("execution_count") if cell.cell_type == "code" else None,
            first_line=_first_line(cell.source),
            verdict="skipped",
            seconds=run.seconds.get(index),
        )
        cells.append(verdict)
        if cell.cell_type != "code":
            verdict.reason = f"{cell.cell_type} cell"
            continue
        if SKIP_TAG in _tags(new_cell):
            verdict.reason = (
                "never executed when captured"
                if cell.get("execution_count") is None and not cell.get("outputs")
                else "empty or tagged to skip"
            )
            continue
        if run.stopped_at is not None and index >= run.stopped_at:
            if index == run.stopped_at:
                verdict.verdict = "timeout" if run.stop_reason == "timeout" else "new-error"
                verdict.reason = (
                    f"did not finish within {tol.timeout:g} s"
                    if run.stop_reason == "timeout"
                    else "the kernel died"
                )
            else:
                verdict.verdict, verdict.reason = "not-run", "the run stopped at an earlier cell"
            continue
        if _ignores_output(cell):
            verdict.reason = "output ignored by tag or marker"
            continue
        new_outputs = [dict(o) for o in new_cell.get("outputs", [])]
        for output in new_outputs:
            _as_captured(output, workdirs)
        kind, reason, which, captured, reexecuted = compare_cell_outputs(
            [dict(o) for o in cell.get("outputs", [])], new_outputs, tol
        )
        verdict.verdict, verdict.reason = kind, reason
        verdict.output, verdict.captured, verdict.reexecuted = which, captured, reexecuted
    return cells


def _as_captured(output: dict[str, Any], workdirs: tuple[str, ...]) -> None:
    """Treat a re-executed output as capture did: temp-copy paths marked, secrets redacted."""
    redact = _redactor().redact_text

    def fix(text: str) -> str:
        for workdir in workdirs:
            text = text.replace(workdir, "<NOTEBOOK_DIR>")
        return redact(text)

    if "text" in output:
        output["text"] = fix(_joined(output["text"]))
    if "evalue" in output:
        output["evalue"] = fix(str(output["evalue"]))
    data = output.get("data")
    if isinstance(data, dict):
        output["data"] = {
            mime: (
                fix(_joined(value))
                if isinstance(value, (str, list)) and not mime.startswith("image/")
                else value
            )
            for mime, value in data.items()
        }


def verify_bundle(
    bundle: Any,
    *,
    timeout: float = 600.0,
    rtol: float = 1e-6,
    atol: float = 0.0,
    image_tolerance: float = 0.01,
    kernel_name: str | None = None,
    data_dirs: Sequence[str | os.PathLike[str]] = (),
    progress: bool = False,
    write: bool = True,
    prestart: bool = False,
) -> VerificationReport:
    """Re-execute a bundle's notebook, compare outputs, write ``verification.json`` into it.

    The notebook runs in a temporary copy of its directory: ``data_dirs`` (where its inputs
    are, e.g. the original notebook directory) mirrored first, then ``data/notebook/``, then
    ``data/outputs/`` (each attachment where the notebook saw it, from the RO-Crate).
    Returns the report whatever the verdict; callers decide (the CLI exits 6 when
    ``report.reproduced`` is false). Raises :class:`BadInput` for a path that is not a bundle,
    a bundle without a notebook, or a kernel that is not installed.
    """
    files = _open_bundle(bundle)
    notes: list[str] = []
    if not data_dirs:
        data_dirs = _default_data_dirs(files, notes)
    report = _verify_notebook(
        files.notebook,
        outputs_dir=files.outputs,
        outputs_paths=files.outputs_paths,
        data_dirs=data_dirs,
        timeout=timeout,
        rtol=rtol,
        atol=atol,
        image_tolerance=image_tolerance,
        kernel_name=kernel_name,
        progress=progress,
        prestart=prestart,
        warm_environment=True,
    )
    report.bundle = str(files.root)
    report.notebook = files.notebook.relative_to(files.root).as_posix()
    report.warnings[:0] = notes
    fixity = _notebook_fixity(files)
    if fixity:
        report.warnings.insert(0, fixity)
    if hasattr(files.handle, "changed_since_snapshot"):  # an attachment edited since (hard link)
        changed = [c for c in files.handle.changed_since_snapshot()
                   if not c.startswith("data/notebook/")]  # the notebook's own warning is above
        report.warnings[:0] = changed
    report.environment = environment_differences(files.requirements, files.platform, report.kernel)
    if write:
        try:
            report.report_path = write_report(files, report)
        except OSError as exc:  # a bundle on read-only media still gets its verdict
            report.warnings.append(
                f"could not write {REPORT_NAME} into {files.root} ({exc.strerror or exc}); "
                "copy the bundle somewhere writable to keep the report in it"
            )
    return report


def raise_if_not_reproduced(report: VerificationReport) -> None:
    """For callers that want an exception (exit code 6) instead of inspecting the report."""
    if not report.reproduced:
        raise NotReproduced(report.failure_sentence())
