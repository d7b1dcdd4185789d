"""Read, check and (optionally) execute a Jupyter notebook, and render it as HTML.

The notebook is parsed once and validated once; everything downstream (redaction, the bundle, the
HTML) reuses that in-memory model. Problems a user should know about but that do not stop a
snapshot (cells run out of order, cells never run, an unsaved notebook) become ``warnings``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput

#: ESGF / CMIP tracking ids as printed by ``ds.attrs["tracking_id"]``: a very specific shape, so
#: harvesting them from the notebook text does not pick up PIDs that are merely mentioned in prose.
TRACKING_ID = re.compile(
    r"hdl:21\.14100/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


@dataclass
class NotebookCapture:
    """A parsed, validated v4 notebook and the facts about how it was run."""

    path: Path
    notebook: Any  # nbformat.NotebookNode, nbformat v4
    original_nbformat: str  # e.g. "4.5" or "3.0" before any upgrade
    kernel_name: str | None
    language: str | None
    cell_count: int
    code_cell_count: int
    executed_cell_count: int
    execution_counts: list[int | None]
    executed_in_order: bool
    last_executed: datetime | None
    executed_now: bool = False
    declared_inputs: list[Any] = field(default_factory=list)  # metadata.ecasrepro.inputs
    harvested_inputs: list[str] = field(default_factory=list)  # tracking ids in the text
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def first_heading(self) -> str | None:
        """The first Markdown heading: a better default title than the file name."""
        for cell in self.notebook.cells:
            if cell.cell_type != "markdown":
                continue
            for line in str(cell.source).splitlines():
                match = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
                if match:
                    return match.group(1)
        return None


def _load_json(path: Path) -> Any:
    if not path.exists():
        raise BadInput(f"notebook {path} does not exist; check the path.")
    if path.is_dir():
        raise BadInput(f"notebook {path} is a directory; pass the .ipynb file.")
    from ecasrepro.userfiles import NOTEBOOK_MAX, loads_json, read_limited

    try:
        text = read_limited(path, "notebook", NOTEBOOK_MAX).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise BadInput(f"notebook {path} cannot be read ({reason}); check the file.") from None
    if not text.strip():
        raise BadInput(f"notebook {path} is empty; save it in Jupyter first.")
    try:
        return loads_json(text, f"notebook {path}")
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}), so it is not "
            "a Jupyter notebook; pass the .ipynb file."
        ) from None


def read_notebook(path: Path) -> tuple[Any, str, list[str]]:
    """(v4 NotebookNode, original "major.minor", warnings); BadInput for anything not a notebook."""
    import nbformat
    from nbformat.reader import get_version

    data = _load_json(path)
    if not isinstance(data, dict) or "nbformat" not in data or not (
        "cells" in data or "worksheets" in data
    ):
        raise BadInput(
            f"{path.name} is JSON but not a Jupyter notebook (no 'cells'/'nbformat' fields); "
            "pass the .ipynb file."
        )
    warnings: list[str] = []
    try:
        major, minor = get_version(data)
        if major not in nbformat.versions:
            raise BadInput(
                f"{path.name} uses notebook format {major}, which this nbformat cannot read; "
                "save it with a current Jupyter."
            )
        notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
        if major < 4:
            notebook = nbformat.convert(notebook, 4)
            warnings.append(
                f"{path.name} is an nbformat {major} notebook; it was upgraded to nbformat 4 "
                "for the bundle (the file itself is unchanged)."
            )
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", ()) or ())
        detail = f" at {where}" if where else ""
        message = str(getattr(exc, "message", exc)).splitlines()[0][:160]
        raise BadInput(
            f"{path.name} is not a valid Jupyter notebook ({message}{detail}); "
            "open and save it in Jupyter to repair it."
        ) from None
    except BadInput:
        raise
    except Exception as exc:  # nbformat raises assorted errors on damaged files
        raise BadInput(
            f"{path.name} is not a readable Jupyter notebook ({type(exc).__name__}: {exc}); "
            "open and save it in Jupyter to repair it."
        ) from None
    return notebook, f"{major}.{minor}", warnings


def execute_notebook(notebook: Any, path: Path, timeout: int, kernel_name: str | None) -> None:
    """Run every cell headless with nbclient, in the notebook's own directory (in place)."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    options: dict[str, Any] = {"timeout": timeout, "record_timing": False}
    if kernel_name:
        options["kernel_name"] = kernel_name
    client = NotebookClient(
        notebook, resources={"metadata": {"path": str(path.parent)}}, **options
    )
    try:
        client.execute()
    except NoSuchKernel:
        raise BadInput(
            f"{path.name} needs the Jupyter kernel {kernel_name!r}, which is not installed; "
            "install it or run without --execute."
        ) from None
    except CellTimeoutError:
        raise BadInput(
            f"executing {path.name} timed out (a cell ran longer than {timeout} s); "
            "fix the notebook or run without --execute."
        ) from None
    except CellExecutionError as exc:
        summary = f"{exc.ename}: {exc.evalue}" if getattr(exc, "ename", None) else "a cell failed"
        raise BadInput(
            f"executing {path.name} failed ({summary}); fix the notebook or run without --execute."
        ) from None
    except DeadKernelError:
        raise BadInput(
            f"the kernel died while executing {path.name}; fix the notebook or run without "
            "--execute."
        ) from None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _only_ecasrepro_magics(source: str) -> bool:
    """The cell running ``%ecas_publish`` is saved before it runs: not a cell that "never ran"."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return all(line.startswith(("%ecas_", "%load_ext ecasrepro", "#")) for line in lines)


def _execution_facts(notebook: Any, path: Path) -> dict[str, Any]:
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code_cells]
    ran = [n for n in counts if n is not None]
    in_order = all(a < b for a, b in itertools.pairwise(ran))
    warnings: list[str] = []
    never_run = [
        i + 1
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and cell.get("execution_count") is None and cell.source.strip()
        and not _only_ecasrepro_magics(str(cell.source))
    ]
    if not code_cells:
        warnings.append(
            f"{path.name} has no code cells, so the bundle records no computation; "
            "check that this is the notebook you meant."
        )
    if not in_order:
        shown = ", ".join(str(n) for n in ran[:12]) + (", ..." if len(ran) > 12 else "")
        warnings.append(
            f"code cells of {path.name} ran out of order (execution counts top to bottom: "
            f"{shown}); restart the kernel and run all cells, or use --execute."
        )
    if never_run:
        cells = ", ".join(str(i) for i in never_run[:10]) + (", ..." if len(never_run) > 10 else "")
        warnings.append(
            f"{len(never_run)} code cell(s) of {path.name} never ran (cell {cells}); "
            "run all cells, or use --execute."
        )
    last: datetime | None = None
    for cell in code_cells:
        timing = cell.get("metadata", {}).get("execution", {})
        for key in ("shell.execute_reply", "iopub.status.idle"):
            moment = _parse_time(timing.get(key))
            if moment is not None and moment.tzinfo is not None and (last is None or moment > last):
                last = moment
    if last is not None:
        saved = path.stat().st_mtime
        if saved < last.timestamp() - 1:
            warnings.append(
                f"{path.name} on disk is older than its last recorded execution; save the notebook "
                "in Jupyter so the bundle holds what you ran."
            )
    return {
        "code_cell_count": len(code_cells),
        "executed_cell_count": len(ran),
        "execution_counts": counts,
        "executed_in_order": in_order,
        "last_executed": last,
        "warnings": warnings,
    }


def declared_inputs(notebook: Any, name: str) -> list[Any]:
    """PIDs the author listed in ``metadata.ecasrepro.inputs`` (strings or related-id objects)."""
    section = notebook.metadata.get("ecasrepro") or {}
    if not isinstance(section, dict):
        raise BadInput(f"{name}: notebook metadata 'ecasrepro' must be an object with 'inputs'.")
    inputs = section.get("inputs", [])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, (str, dict)) for i in inputs):
        raise BadInput(
            f"{name}: notebook metadata 'ecasrepro.inputs' must be a list of PID strings; fix it "
            "in the notebook's metadata."
        )
    return list(inputs)


def harvest_tracking_ids(notebook: Any) -> list[str]:
    """ESGF ``hdl:21.14100/<uuid>`` tracking ids printed or written in the notebook, in order."""
    found: dict[str, None] = {}
    for cell in notebook.cells:
        texts = [str(cell.source)]
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append(str(output["text"]))
            data = output.get("data", {})
            if "text/plain" in data:
                texts.append(str(data["text/plain"]))
        for text in texts:
            for match in TRACKING_ID.findall(text):
                found.setdefault(match, None)
    return list(found)


def capture_notebook(
    path: str | Path, execute: bool = False, timeout: int = 600, harvest: bool = True
) -> NotebookCapture:
    """Read ``path`` (executing it first with ``execute``), validate it once, collect its facts."""
    import nbformat

    path = Path(path)
    notebook, original, warnings = read_notebook(path)
    kernelspec = notebook.metadata.get("kernelspec", {}) or {}
    kernel_name = kernelspec.get("name")
    language = (notebook.metadata.get("language_info", {}) or {}).get("name") or kernelspec.get(
        "language"
    )
    if execute:
        execute_notebook(notebook, path, timeout, kernel_name)
        nbformat.validate(notebook)
        kernelspec = notebook.metadata.get("kernelspec", {}) or {}
        kernel_name = kernelspec.get("name", kernel_name)
        language = (notebook.metadata.get("language_info", {}) or {}).get("name", language)
    facts = _execution_facts(notebook, path)
    if execute:  # the file on disk is not what we captured, and that is intended
        facts["warnings"] = [w for w in facts["warnings"] if "older than" not in w]
    return NotebookCapture(
        path=path,
        notebook=notebook,
        original_nbformat=original,
        kernel_name=kernel_name,
        language=language,
        cell_count=len(notebook.cells),
        code_cell_count=facts["code_cell_count"],
        executed_cell_count=facts["executed_cell_count"],
        execution_counts=facts["execution_counts"],
        executed_in_order=facts["executed_in_order"],
        last_executed=facts["last_executed"],
        executed_now=execute,
        declared_inputs=declared_inputs(notebook, path.name),
        harvested_inputs=harvest_tracking_ids(notebook) if harvest else [],
        warnings=warnings + facts["warnings"],
    )


def render_html(notebook: Any) -> str:
    """The notebook as a self-contained HTML page (nbconvert's classic template, no network)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="classic")
    body, _resources = exporter.from_notebook_node(notebook)
    return str(body)


def notebook_json_chunks(notebook: Any) -> Iterator[bytes]:
    """``nbformat.writes(notebook) + "\\n"`` as UTF-8, the same bytes, produced one cell at a time.

    nbformat.writes deep-copies the whole notebook, splits its text into lines and joins the
    pure-Python encoder's millions of pieces into one string: about 4x a large notebook's size
    at once. Here only one cell is copied and encoded at a time (cells are the bulk; the rest is
    metadata), so a 200 MB notebook costs little beyond its own objects.
    """
    import copy

    from nbformat import NotebookNode
    from nbformat.v4.nbjson import BytesEncoder
    from nbformat.v4.rwbase import split_lines, strip_transient

    def dumps(value: Any) -> str:
        return json.dumps(value, cls=BytesEncoder, indent=1, sort_keys=True,
                          separators=(",", ": "), ensure_ascii=False)

    rest = {key: value for key, value in notebook.items() if key != "cells"}
    if not rest or min(rest) < "cells":  # "cells" would not come first: not v4, let nbformat
        import nbformat

        yield (nbformat.writes(notebook) + "\n").encode("utf-8")
        return
    top = NotebookNode(copy.deepcopy(rest))
    top.cells = []
    strip_transient(top)
    del top["cells"]
    cells = notebook.get("cells", [])
    if not cells:
        yield ('{\n "cells": [],\n' + dumps(top)[2:] + "\n").encode("utf-8")
        return
    yield b'{\n "cells": [\n'
    for index, cell in enumerate(cells):
        shell = NotebookNode(cells=[copy.deepcopy(cell)], metadata={})
        one = strip_transient(split_lines(shell)).cells[0]
        text = "  " + dumps(one).replace("\n", "\n  ")
        yield (text + (",\n" if index < len(cells) - 1 else "\n")).encode("utf-8")
    yield (" ],\n" + dumps(top)[2:] + "\n").encode("utf-8")


#: A notebook heavier than this (characters in its strings) is rendered to HTML in batches of
#: about this many, so that nbconvert's ~4x peak applies to a batch and never to the whole.
HTML_BATCH_CHARS = 16 * 1024 * 1024


def notebook_weight(notebook: Any) -> int:
    """Characters in all strings of ``notebook`` (what its size in memory is made of)."""
    total, stack = 0, [notebook]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


def render_html_chunks(notebook: Any) -> Iterator[str]:
    """:func:`render_html`'s page in pieces: the same characters, rendered in batches of cells.

    nbconvert holds a page several times over while it renders (copies, template pieces, the
    joined string): for a large notebook that is most of a snapshot's memory. Cells render
    independently (except that raw cells trim the whitespace around them, so a batch never ends
    beside one), so the page is the head of an empty notebook's page, each batch's cells, and
    the tail; every batch's page is checked to have exactly that head and tail.
    """
    import nbformat

    def shell(cells: list[Any]) -> Any:
        copy = nbformat.NotebookNode({k: v for k, v in notebook.items() if k != "cells"})
        copy.cells = cells
        return copy

    cells = list(notebook.get("cells", []))
    if notebook_weight(notebook) <= HTML_BATCH_CHARS or len(cells) < 2:
        yield render_html(notebook)
        return
    empty = render_html(shell([]))
    one = render_html(shell([nbformat.v4.new_markdown_cell("x")]))
    pairs = enumerate(zip(empty, one, strict=False))
    common = next((i for i, (a, b) in pairs if a != b), len(empty))
    head = empty[: empty.rfind("\n", 0, common) + 1]
    tail = empty[len(head):]
    yield head
    batch: list[Any] = []
    weight = 0
    for index, cell in enumerate(cells):
        batch.append(cell)
        weight += notebook_weight(cell)
        last = index == len(cells) - 1
        # the template trims whitespace around raw cells: never cut next to one
        raw = cell.get("cell_type") == "raw" or (
            not last and cells[index + 1].get("cell_type") == "raw")
        if last or (weight >= HTML_BATCH_CHARS and not raw):
            page = render_html(shell(batch))
            if not (page.startswith(head) and page.endswith(tail)):
                raise RuntimeError("nbconvert's page layout changed: a batch has another frame")
            yield page[len(head): len(page) - len(tail)]
            batch, weight = [], 0
            del page
    yield tail
