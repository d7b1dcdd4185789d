"""Re-execution: run a notebook headless under a fresh kernel in a working copy of its directory.

One job: choose the kernel, lay out the temporary working directory (inputs mirrored, the
notebook, attachments), and execute the notebook with nbclient, recording per-cell time and
where a timeout or a dead kernel stopped the run. Nothing here compares outputs.

May import: ecasrepro.errors, .kernels, .report; never ecasrepro.api, ecasrepro.cli,
ecasrepro.magic or a higher module of this package (.verify).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput
from ecasrepro.verification.kernels import Kernel
from ecasrepro.verification.report import Tolerances

SKIP_TAG = "ecasrepro-verify-skip"  # put on cells we must not execute (private to the run)
#: Cell tags that exclude a cell's output from comparison (the cell still runs);
#: ``pytest-validate-ignore-output`` is nbval's older spelling, still honoured by nbval.
IGNORE_OUTPUT_TAGS = frozenset(
    {"ecasrepro-ignore-output", "nbval-ignore-output", "pytest-validate-ignore-output"}
)
#: Cell tags that exclude a cell from the run altogether (nbmake/nbval conventions).
SKIP_EXECUTION_TAGS = frozenset({"skip-execution", "nbval-skip", "ecasrepro-skip"})
#: nbval's comment markers: a line ``# NBVAL_IGNORE_OUTPUT`` acts as the tag does.
IGNORE_OUTPUT_MARKERS = frozenset({"NBVAL_IGNORE_OUTPUT", "PYTEST_VALIDATE_IGNORE_OUTPUT"})
SKIP_EXECUTION_MARKERS = frozenset({"NBVAL_SKIP"})


def _tags(cell: Any) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


def _comment_markers(cell: Any) -> set[str]:
    """Whole-line comments of the cell, as nbval reads markers (``#  NBVAL_SKIP`` counts; a
    marker after code on the same line or inside a string does not)."""
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    return {
        line.strip().lstrip("#").strip()
        for line in source.splitlines()
        if line.strip().startswith("#")
    }


def _ignores_output(cell: Any) -> bool:
    """The one test of "run this cell but do not compare its output" (tags and markers)."""
    return bool(_tags(cell) & IGNORE_OUTPUT_TAGS or _comment_markers(cell) & IGNORE_OUTPUT_MARKERS)


def _skips_execution(cell: Any) -> bool:
    """The one test of "do not run this cell" by tag or marker (never-run cells aside)."""
    return bool(
        _tags(cell) & SKIP_EXECUTION_TAGS or _comment_markers(cell) & SKIP_EXECUTION_MARKERS
    )


@dataclass
class _Run:
    nb: Any
    seconds: dict[int, float]
    stopped_at: int | None = None  # index of the cell that timed out / killed the kernel
    stop_reason: str = ""
    kernel_log: str = ""  # the kernel's last log line when it died


def _resolve_kernel(nb: Any, kernel_name: str | None, warnings: list[str]) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    if kernel_name:
        if kernel_name not in available:
            raise BadInput(
                f"kernel {kernel_name!r} is not installed "
                f"(installed: {', '.join(sorted(available))}); install it (for Python: "
                f"python -m ipykernel install --user --name {kernel_name}) "
                "or pass --kernel with one of those"
            )
        return kernel_name
    wanted = nb.metadata.get("kernelspec", {}).get("name") or "python3"
    if wanted in available:
        return str(wanted)
    language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get(
        "language_info", {}
    ).get("name", "")
    if str(language).lower() == "python" and "python3" in available:
        warnings.append(f"kernel {wanted!r} is not installed here; ran with 'python3' instead")
        return "python3"
    raise BadInput(
        f"the notebook's kernel {wanted!r} is not installed here; install it (for Python: "
        f"python -m ipykernel install --user --name {wanted}) or pass --kernel NAME"
    )


def _execute(nb: Any, kernel: Kernel, tol: Tolerances, progress: bool) -> _Run:
    """Run ``nb`` in ``kernel`` (fresh, started in ``kernel.workdir``, laid out by now)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = _Run(nb=nb, seconds={})
    started: dict[int, float] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(1 for c in nb.cells if c.cell_type == "code" and SKIP_TAG not in _tags(c))
        bar = tqdm(total=total, desc="re-executing", unit="cell", file=sys.stderr, leave=False)

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        started[cell_index] = time.monotonic()
        kernel.first_cell_started()

    def on_executed(cell: Any, cell_index: int, **_: Any) -> None:
        run.seconds[cell_index] = time.monotonic() - started.get(cell_index, time.monotonic())
        if bar is not None:
            bar.update(1)

    workdir = kernel.workdir
    client = NotebookClient(
        nb,
        km=kernel.manager,
        timeout=math.ceil(tol.timeout),
        kernel_name=kernel.name,
        allow_errors=True,
        skip_cells_with_tag=SKIP_TAG,
        resources={"metadata": {"path": str(workdir)}},
        on_cell_start=on_start,
        on_cell_executed=on_executed,
    )
    # The kernel's own log lines (transport warnings, crashes) go to a file, not the user's stderr.
    log_path = kernel.log_path
    try:
        try:
            client.execute()
        except RuntimeError as exc:  # nbclient's words for a kernel that never became ready
            if started:
                raise
            process = getattr(kernel.manager.provisioner, "process", None)
            alive = process is not None and process.poll() is None
            what = (f"did not answer within {client.startup_timeout} s of starting" if alive
                    else "died while starting")
            raise BadInput(
                f"the kernel {kernel.name!r} {what}, before any cell ran{_last_line(log_path)};"
                f" check that it starts (jupyter kernel --kernel {kernel.name}) and reinstall"
                " it if not"
            ) from exc
    except CellTimeoutError:
        run.stopped_at = max(started) if started else 0
        run.stop_reason = "timeout"
    except DeadKernelError:
        run.stopped_at = max(started) if started else 0
        run.stop_reason = "dead-kernel"
        run.kernel_log = _kernel_log_tail(log_path)
    finally:
        # nbclient registers its own clean-up at exit and leaves it behind when the kernel
        # failed to start (it then fails at exit, printing a traceback); the kernel is ours
        atexit.unregister(client._cleanup_kernel)
        if bar is not None:
            bar.close()
        if client.kc is not None:  # the kernel is the pool's to stop; the channels are ours
            client.kc.stop_channels()
    return run


def _kernel_log_tail(log_path: Path) -> str:
    """The kernel's last log line (at most 200 characters), or ""."""
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if (
        log_path.is_file()
    ) else []
    return tail[0][:200] if tail else ""


def _last_line(log_path: Path) -> str:
    tail = _kernel_log_tail(log_path)
    return f" (its last log line: {tail})" if tail else ""


#: Files from ``data_dirs`` up to this size are copied into the working copy; bigger ones (input
#: data sets) are symlinked, so verifying never duplicates large inputs.
COPY_LIMIT = 16 * 1024 * 1024
_NOT_MIRRORED = {".git", ".ipynb_checkpoints", "__pycache__", ".venv"}


def _mirror(source: Path, target: Path) -> None:
    """Make ``source``'s files visible under ``target``: small ones copied, large ones linked."""
    for root, dirs, names in os.walk(source):
        here = Path(root)
        # Skip VCS/cache directories and bundles (any directory holding a bagit.txt).
        dirs[:] = [
            d for d in dirs if d not in _NOT_MIRRORED and not (here / d / "bagit.txt").is_file()
        ]
        destination = target / here.relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in names:
            file = here / name
            if not file.is_file():
                continue
            if file.stat().st_size <= COPY_LIMIT:
                shutil.copy2(file, destination / name)
            else:
                (destination / name).symlink_to(file.resolve())


def _prepare_workdir(
    notebook: Path, outputs_dirs: list[Path], data_dirs: list[Path], workdir: Path,
    outputs_paths: Mapping[str, str] | None = None,
) -> Path:
    """Lay out the notebook's directory as it was: inputs, then the notebook, then attachments.

    Later layers win: the bundle's own notebook and attached files replace same-named files
    from ``data_dirs``, so a re-run writes into copies, never into the user's originals.
    ``outputs_paths`` maps a file's path under an outputs dir to where the notebook saw it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for directory in data_dirs:
        _mirror(directory, workdir)
    for item in notebook.parent.iterdir():
        if item.is_file():
            (workdir / item.name).unlink(missing_ok=True)
            shutil.copy2(item, workdir / item.name)
    for directory in outputs_dirs:
        if directory.is_dir():
            for file in sorted(p for p in directory.rglob("*") if p.is_file()):
                stored = file.relative_to(directory).as_posix()
                destination = workdir / (outputs_paths or {}).get(stored, stored)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.unlink(missing_ok=True)
                shutil.copy2(file, destination)
    return workdir / notebook.name
