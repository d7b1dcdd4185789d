"""Read, check and (optionally) execute a Jupyter notebook, and render it as HTML.

The notebook is parsed once and validated once; everything downstream (redaction, the bundle, the
HTML) reuses that in-memory model. Problems a user should know about but that do not stop a
snapshot (cells run out of order, cells never run, an unsaved notebook) become ``warnings``.

One job: one validated model of the notebook, so that every later step of a snapshot works from the
same parse.

May import: ecasrepro.errors, ecasrepro.userfiles; never ecasrepro.bundle, ecasrepro.b2share,
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput, os_reason

#: ESGF tracking ids (CMIP6 21.14100, CORDEX 21.14103, CMIP7 21.14107) as an output shows
#: ``ds.attrs["tracking_id"]``: a very specific shape, and only outputs are read (never markdown
#: or source), so PIDs merely mentioned in prose or code are not taken for inputs; a value cut
#: short by a text display ("hdl:21.14100/02d9e6d5-94...") does not match at all.
TRACKING_ID = re.compile(
    r"hdl:21\.141(?:00|03|07)/"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9a-fA-F-])"
)
#: Output types read for ids: xarray's HTML display holds the full attribute values that its
#: text display cuts short; JSON outputs are read as their serialised text.
HARVESTED_TYPES = ("text/plain", "text/html", "application/json")


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
            if cell.get("cell_type") != "markdown":
                continue
            for line in str(cell.get("source", "")).splitlines():
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
        raise BadInput(
            f"notebook {path} cannot be read ({os_reason(exc)}); check the file."
        ) from None
    if not text.strip():
        raise BadInput(f"notebook {path} is empty; save it in Jupyter first.")
    try:
        return loads_json(text, f"notebook {path}")
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}), so it is not "
            "a Jupyter notebook; pass the .ipynb file."
        ) from None


#: The cell types nbformat 4 defines; others come from a newer minor version of the format.
KNOWN_CELL_TYPES = ("code", "markdown", "raw")


def _damage(exc: Exception) -> str:
    """What is wrong with a notebook nbformat choked on, in words (no Python exception name)."""
    field = str(exc.args[0]) if exc.args else ""
    if isinstance(exc, (KeyError, AttributeError)) and re.fullmatch(r"[A-Za-z_][\w-]*", field):
        return f"a field {field!r} is missing"  # nbformat's nodes raise these for absent fields
    return "its fields do not have the shape the notebook format requires"


def _still_running(notebook: Any, name: str) -> list[str]:
    """Cells saved while running (Jupyter's ``"*"`` prompt in nbformat 3) become never-run cells,
    as Jupyter shows them; their partial outputs are kept."""
    running: list[int] = []
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        count = cell.get("execution_count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            cell["execution_count"] = None
            running.append(index)
        for output in cell.get("outputs", []):
            if "execution_count" in output and not isinstance(output["execution_count"], int):
                output["execution_count"] = None
    if not running:
        return []
    cells = ", ".join(str(i) for i in running[:10]) + (", ..." if len(running) > 10 else "")
    return [
        f"{name} was saved while cell(s) {cells} were still running (execution count '*'); "
        "they are kept as cells that never ran."
    ]


def _unknown_cells(notebook: Any, name: str, version: str) -> list[str]:
    """Cells of a type from a newer format are kept as they are (nbformat keeps them; nbconvert
    leaves them out of the HTML)."""
    unknown = [
        (index, str(cell.get("cell_type")))
        for index, cell in enumerate(notebook.cells, start=1)
        if cell.get("cell_type") not in KNOWN_CELL_TYPES
    ]
    if not unknown:
        return []
    shown = ", ".join(f"{i} ({kind!r})" for i, kind in unknown[:10])
    return [
        f"{name} (nbformat {version}) has cell(s) of a type this nbformat does not know: "
        f"{shown}; they are kept in the bundle's notebook but not shown in its HTML page."
    ]


#: ``attachment:NAME`` references in Markdown (images pasted into a cell).
_ATTACHMENT_REF = re.compile(r"attachment:([^\s)\"'>]+)")


def _missing_attachments(notebook: Any, name: str) -> list[str]:
    """Markdown that shows an attachment the cell does not carry: Jupyter draws a broken image;
    nbconvert stops, so the HTML page says what is missing instead."""
    missing = [
        (index, ref)
        for index, cell in enumerate(notebook.cells, start=1)
        if cell.get("cell_type") == "markdown"
        for ref in _ATTACHMENT_REF.findall(str(cell.get("source", "")))
        if ref not in (cell.get("attachments") or {})
    ]
    if not missing:
        return []
    shown = ", ".join(f"{ref} (cell {i})" for i, ref in missing[:10])
    return [
        f"{name} shows attachment(s) its cells do not carry: {shown}; the HTML page says they "
        "are missing. Paste the images again in Jupyter to keep them."
    ]


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
    major: Any = data.get("nbformat")
    minor: Any = data.get("nbformat_minor", 0)
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
        elif isinstance(minor, int) and minor > nbformat.v4.nbformat_minor:
            warnings.append(
                f"{path.name} is an nbformat {major}.{minor} notebook, newer than this nbformat "
                f"reads (4.{nbformat.v4.nbformat_minor}); it is kept as it is and shown as "
                "nbconvert shows it (upgrade nbformat for the newer format's features)."
            )
        warnings += _still_running(notebook, path.name)
        nbformat.validate(notebook)
        warnings += _unknown_cells(notebook, path.name, f"{major}.{minor}")
        warnings += _missing_attachments(notebook, path.name)
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
            f"{path.name} is not a readable Jupyter notebook (nbformat {major}: {_damage(exc)}); "
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
    code_cells = [c for c in notebook.cells if c.get("cell_type") == "code"]
    counts = [c.get("execution_count") for c in code_cells]
    ran = [n for n in counts if n is not None]
    in_order = all(a < b for a, b in itertools.pairwise(ran))
    warnings: list[str] = []
    never_run = [
        i + 1
        for i, cell in enumerate(notebook.cells)
        if cell.get("cell_type") == "code" and cell.get("execution_count") is None
        and str(cell.get("source", "")).strip()
        and not _only_ecasrepro_magics(str(cell.get("source", "")))
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


def _output_texts(output: Any) -> Iterator[str]:
    if "text" in output:
        yield "".join(output["text"]) if isinstance(output["text"], list) else str(output["text"])
    data = output.get("data", {}) or {}
    for kind in HARVESTED_TYPES:
        if kind not in data:
            continue
        value = data[kind]
        if kind == "application/json":
            yield json.dumps(value)
        elif kind == "text/html":
            text = "".join(value) if isinstance(value, list) else str(value)
            yield html.unescape(text)
        else:
            yield "".join(value) if isinstance(value, list) else str(value)


def harvest_tracking_ids(notebook: Any) -> list[str]:
    """ESGF tracking ids (``hdl:21.14100/<uuid>``...) shown in code cells' outputs, in order."""
    found: dict[str, None] = {}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
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
    if has_widgets(notebook):
        facts["warnings"].append(
            f"{path.name} has interactive widgets; the bundle's HTML page shows their static "
            "fallback (text or image output), as live widgets need scripts from the network."
        )
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


#: Output types a live widget would need a JavaScript widget manager (from a CDN) to draw; the
#: offline page shows each widget's static fallback (its text or image output) instead.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

#: The HTML's display priority: nbconvert's, less the widget view (see WIDGET_VIEW).
_HTML_PRIORITY = [
    "application/javascript",
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "text/vnd.mermaid",
    "text/latex",
    "image/png",
    "image/jpeg",
    "text/plain",
]

#: nbconvert's ``lab`` page less every remote resource: no require.js, widget manager, MathJax or
#: mermaid from a CDN (math is MathML written at snapshot time; docs/decisions.md says why).
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}
<style type="text/css">
math[display="block"] { display: block math; margin: 0.6em 0; }
code.ecasrepro-tex { white-space: pre-wrap; }
</style>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_latex scoped %}
<div class="jp-RenderedLatex jp-OutputArea-output {{ extra_class }}" data-mime-type="text/latex">
{{ output.data['text/latex'] | latex_to_html }}
</div>
{%- endblock data_latex %}
"""

#: TeX math in a text/latex output, as MathJax finds it: $$..$$, \[..\], environments, $..$, \(..\).
_LATEX_MATH = re.compile(
    r"\$\$(?P<dd>.+?)\$\$|\\\[(?P<db>.+?)\\\]"
    r"|(?P<env>\\begin\{(?P<name>[A-Za-z]+\*?)\}.*?\\end\{(?P=name)\})"
    r"|(?<![\\$])\$(?P<id>[^$]+?)\$|\\\((?P<ib>.+?)\\\)",
    re.DOTALL,
)


def tex_to_mathml(tex: str, display: bool) -> str:
    """TeX math as MathML, which browsers draw natively; the escaped source where it cannot be."""
    from latex2mathml.converter import convert

    cleaned = re.sub(r"\\(?:label|nonumber|notag)(?:\{[^}]*\})?", "", tex).strip()
    try:
        mathml = convert(cleaned, display="block" if display else "inline")
    except Exception:  # latex2mathml raises assorted errors on TeX it cannot parse
        return f'<code class="ecasrepro-tex">{html.escape(tex)}</code>'
    return mathml.replace(">&<", ">&amp;<")  # a bare alignment '&' is not XML


def latex_to_html(text: str) -> str:
    """A text/latex output: its math as MathML, the text around it escaped."""
    parts: list[str] = []
    position = 0
    for match in _LATEX_MATH.finditer(text):
        parts.append(html.escape(text[position : match.start()]))
        inline = match.group("id") or match.group("ib")
        body = inline or match.group("dd") or match.group("db") or match.group("env") or ""
        parts.append(tex_to_mathml(body, display=inline is None))
        position = match.end()
    parts.append(html.escape(text[position:]))
    return "".join(parts)


@functools.cache
def _offline_exporter_class() -> type:
    """nbconvert's HTMLExporter with the offline template and math turned into MathML."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return tex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return tex_to_mathml(body, display=False)

        def latex_environment(self, name: str, body: str) -> str:
            return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

        def image(self, text: str, url: str, title: str | None = None) -> str:
            name = url.removeprefix("attachment:")
            if name != url and name not in self.attachments:  # nbconvert would stop here
                return f"<em>[missing attachment: {html.escape(name)}]</em>"
            return str(super().image(text, url, title))

    class OfflineHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context: Any, source: str) -> str:
            cell = context.get("cell", {})
            renderer = MathMLRenderer(
                escape=False,
                attachments=cell.get("attachments", {}),
                embed_images=False,
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=self.exclude_anchor_links,
                **getattr(self, "lexer_options", {}),  # nbconvert >= 7.16.5 only
            )
            return str(MarkdownWithMath(renderer=renderer).render(source))

        def default_filters(self) -> Any:
            yield from super().default_filters()
            yield ("markdown2html", self.markdown2html)
            yield ("latex_to_html", latex_to_html)

    return OfflineHTMLExporter


def has_widgets(notebook: Any) -> bool:
    """Widget state saved in the notebook, or a widget shown in an output."""
    if "widgets" in notebook.metadata:
        return True
    return any(
        WIDGET_VIEW in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def render_html(notebook: Any) -> str:
    """The notebook as one HTML page that needs no network (nbconvert's lab template, math as
    MathML, widgets as their static fallback): a reader in ten years has no CDN."""
    from jinja2 import DictLoader
    from traitlets.config import Config

    config = Config({"NbConvertBase": {"display_data_priority": _HTML_PRIORITY}})
    exporter = _offline_exporter_class()(
        config=config,
        template_name="lab",
        template_file="ecasrepro-offline.html.j2",
        extra_loaders=[DictLoader({"ecasrepro-offline.html.j2": _OFFLINE_TEMPLATE})],
    )
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


def _common_prefix(texts: list[str]) -> str:
    shortest, longest = min(texts), max(texts)  # the lexical extremes differ first
    index = next((i for i, (a, b) in enumerate(zip(shortest, longest, strict=False)) if a != b),
                 len(shortest))
    return shortest[:index]


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
    # The frame is what pages of no cell, a markdown cell and a code cell share at both ends
    # (cells of different types start differently, so the frame cannot reach into a cell).
    empty = render_html(shell([]))
    probes = [render_html(shell([nbformat.v4.new_markdown_cell("x")])),
              render_html(shell([nbformat.v4.new_code_cell("x")]))]
    head = _common_prefix([empty, *probes])
    ends = _common_prefix([page[::-1] for page in (empty, *probes)])[::-1]
    tail = ends[len(ends) - min(len(ends), len(empty) - len(head)):]
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
