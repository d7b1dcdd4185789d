"""IPython magics: ``%ecas_publish`` and ``%ecas_snapshot``, registered by ``%load_ext ecasrepro``.

A thin front end: it finds the running notebook's file, refuses a file that lacks cells the kernel
has run since it was saved, then calls :func:`ecasrepro.snapshot` and :func:`ecasrepro.publish`
and shows a rich result. Importing this module costs only IPython's own magic machinery (already
loaded in a kernel); nbconvert, jsonschema, gitpython and requests load when a magic first runs.

Which notebook, and the stale-file rule, live in :mod:`ecasrepro.whereami`; the result names
who told it the notebook (``__session__``, VS Code, the Jupyter server's sessions API, ...).

One job: the notebook front end, so that a notebook user snapshots and publishes without leaving
the kernel.

May import: ecasrepro.api, ecasrepro.errors, ecasrepro.whereami; never an engine directly
(ecasrepro.capture, ecasrepro.bundle, ecasrepro.b2share), and nothing heavy at import time.
"""

from __future__ import annotations

import contextlib
import html
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ecasrepro.errors import EcasReproError
from ecasrepro.whereami import (  # re-exported: the names the magic's users and tests know
    HOW_TO_SAVE,
    check_saved,
    find_notebook,
    ignorable,
    locate_notebook,
    saved_executions,
    unsaved_executions,
)

__all__ = [
    "HOW_TO_SAVE", "EcasReproMagics", "MagicError", "MagicResult", "check_saved",
    "find_notebook", "ignorable", "locate_notebook", "saved_executions", "unsaved_executions",
]
#: The mime type of the result's JSON summary (see ``MagicResult._repr_mimebundle_``).
RESULT_MIME = "application/vnd.ecasrepro.result+json"
#: JupyterLab's theme variables (light and dark), with fallbacks for other front ends.
RESULT_STYLE = (
    "<style>"
    ".ecasrepro-result{color:var(--jp-ui-font-color1,inherit);"
    "font-family:var(--jp-ui-font-family,inherit);font-size:var(--jp-ui-font-size1,13px)}"
    ".ecasrepro-result h4{margin:0 0 6px;color:var(--jp-ui-font-color0,inherit)}"
    ".ecasrepro-result a{color:var(--jp-content-link-color,#1976d2)}"
    ".ecasrepro-result code{font-family:var(--jp-code-font-family,monospace);"
    "background:var(--jp-layout-color2,transparent);padding:0 3px;border-radius:2px}"
    ".ecasrepro-result table{border-collapse:collapse;margin:4px 0}"
    ".ecasrepro-result thead{border-bottom:1px solid var(--jp-border-color1,#bdbdbd)}"
    ".ecasrepro-result table th,.ecasrepro-result table td{padding:3px 10px;"
    "text-align:left!important;white-space:nowrap;"
    "color:var(--jp-ui-font-color1,inherit)}"
    ".ecasrepro-result tbody tr:nth-child(odd){background:var(--jp-layout-color2,transparent)}"
    ".ecasrepro-warnings li{color:var(--jp-warn-color0,#8a6d3b)}"
    "</style>"
)


# --- results -------------------------------------------------------------------------------------


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@dataclass(frozen=True)
class FileRow:
    path: str  # relative to the bundle's data/
    size: int
    sha256: str
    md5: str | None = None  # as the server reported it, once uploaded


@dataclass(frozen=True)
class InputRow:
    identifier: str
    type: str
    url: str


@dataclass(frozen=True)
class FoundRow:
    """One discovered input: what, how it was found, at which level it is cited."""

    what: str
    source: str
    level: str
    url: str | None = None


@dataclass
class MagicResult:
    """What ``%ecas_publish``/``%ecas_snapshot`` produced; shown as HTML in the notebook.

    Holds no token: URLs come from the server's links and the bundle, never from the config.
    """

    title: str
    bundle: str
    notebook: str
    found_by: str = ""  # who said this kernel runs that notebook (see ecasrepro.whereami)
    files: list[FileRow] = field(default_factory=list)
    inputs: list[InputRow] = field(default_factory=list)
    found: list[FoundRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    draft_id: str | None = None
    state: str | None = None  # draft | submitted | published; None: not published
    review_url: str | None = None
    api_url: str | None = None
    server: str | None = None
    pids: dict[str, str] = field(default_factory=dict)
    planned: list[str] = field(default_factory=list)
    dry_run: bool = False

    def text(self) -> str:
        lines = [f"{self.title}", f"  notebook: {self.notebook}"
                 + (f" (found by {self.found_by})" if self.found_by else ""),
                 f"  bundle: {self.bundle}"]
        if self.dry_run:
            target = f" to draft {self.draft_id}" if self.draft_id else ""
            lines.append(f"  dry run: {len(self.planned)} write request(s) would be sent"
                         f"{target}; none was")
            lines.extend(f"    {request}" for request in self.planned)
        elif self.draft_id:
            lines.append(f"  {self.state}: {self.draft_id}  review: {self.review_url}")
        lines.extend(f"  {name}: {value}" for name, value in self.pids.items())
        lines.append(f"  files ({len(self.files)}):")
        lines.extend(f"    {_size(f.size):>10}  sha256:{f.sha256[:16]}...  {f.path}"
                     for f in self.files)
        lines.append("  inputs: " + (", ".join(i.url for i in self.inputs) or "none declared"))
        lines.extend(f"    found: {r.what} ({r.source}; {r.level} level)" for r in self.found)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        what = "dry run" if self.dry_run else (
            f"{self.state} {self.draft_id}" if self.draft_id else "bundle")
        return f"<ecasrepro {what}: {self.title!r}, {len(self.files)} files>\n{self.text()}"

    def summary(self) -> dict[str, Any]:
        """The result as JSON (the ``application/json`` part of the mime bundle): what a script
        reading the executed notebook needs, without parsing HTML."""
        return {
            "title": self.title, "bundle": self.bundle, "notebook": self.notebook,
            "found_by": self.found_by,
            "state": self.state, "draft_id": self.draft_id, "review_url": self.review_url,
            "api_url": self.api_url, "server": self.server, "pids": dict(self.pids),
            "dry_run": self.dry_run, "planned": list(self.planned),
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256, "md5": f.md5}
                      for f in self.files],
            "inputs": [{"identifier": i.identifier, "type": i.type, "url": i.url}
                       for i in self.inputs],
            "warnings": list(self.warnings),
        }

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        """HTML for the notebook, a JSON summary for scripts, plain text for terminals.

        The JSON goes under :data:`RESULT_MIME` (a ``+json`` type): JupyterLab prefers a plain
        ``application/json`` output over HTML and would show a JSON tree instead of the result.
        """
        return {"text/html": self._repr_html_(), RESULT_MIME: self.summary(),
                "text/plain": self.text()}

    def _repr_html_(self) -> str:
        e = html.escape
        parts = [RESULT_STYLE, '<div class="ecasrepro-result">', f"<h4>{e(self.title)}</h4>",
                 "<ul>"]
        if self.dry_run:
            target = f" to draft <code>{e(self.draft_id)}</code>" if self.draft_id else ""
            parts.append(f"<li>dry run: {len(self.planned)} write request(s) would be sent"
                         f"{target}; none was</li>")
        elif self.draft_id:
            link = (f'<a href="{e(self.review_url)}" target="_blank" rel="noopener">'
                    f"{e(self.review_url)}</a>") if self.review_url else ""
            parts.append(f"<li>{e(self.state or 'draft')} <code>{e(self.draft_id)}</code>: "
                         f"review it at {link}</li>")
        for name, value in self.pids.items():
            parts.append(f"<li>{e(name)}: <code>{e(value)}</code></li>")
        found = f" (found by {e(self.found_by)})" if self.found_by else ""
        parts.append(f"<li>notebook: <code>{e(self.notebook)}</code>{found}</li>")
        parts.append(f"<li>bundle: <code>{e(self.bundle)}</code></li></ul>")
        if self.planned:
            parts.append("<pre>" + e("\n".join(self.planned)) + "</pre>")
        parts.append("<table><thead><tr><th>file</th><th>size</th><th>sha256</th>"
                     "<th>server md5</th></tr></thead><tbody>")
        for row in self.files:
            parts.append(
                f"<tr><td><code>{e(row.path)}</code></td><td>{e(_size(row.size))}</td>"
                f'<td><code title="{e(row.sha256)}">{e(row.sha256[:16])}&hellip;</code></td>'
                f"<td><code>{e(row.md5 or '')}</code></td></tr>"
            )
        parts.append("</tbody></table>")
        if self.inputs:
            parts.append("<p>inputs (IsDerivedFrom):</p><ul>")
            parts.extend(
                f'<li><a href="{e(i.url)}" target="_blank" rel="noopener">{e(i.identifier)}</a>'
                f" ({e(i.type)})</li>" for i in self.inputs
            )
            parts.append("</ul>")
        else:
            parts.append("<p>inputs: none declared (use --input PID)</p>")
        if self.found:
            parts.append('<table class="ecasrepro-found"><thead><tr><th>discovered input</th>'
                         "<th>source</th><th>level</th></tr></thead><tbody>")
            for hit in self.found:
                what = (f'<a href="{e(hit.url)}" target="_blank" rel="noopener">{e(hit.what)}</a>'
                        if hit.url else f"<code>{e(hit.what)}</code>")
                parts.append(f"<tr><td>{what}</td><td>{e(hit.source)}</td>"
                             f"<td>{e(hit.level)}</td></tr>")
            parts.append("</tbody></table>")
        if self.warnings:
            parts.append('<ul class="ecasrepro-warnings">')
            parts.extend(f"<li>warning: {e(w)}</li>" for w in self.warnings)
            parts.append("</ul>")
        parts.append("</div>")
        return "".join(parts)


class MagicError(Exception):
    """A failed magic: the cell fails (so "Run All", nbclient and papermill stop) and shows one
    sentence. IPython calls ``_render_traceback_`` instead of formatting a Python traceback."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message

    def _render_traceback_(self) -> list[str]:
        return [f"ecasrepro error: {self.message}"]


def build_result(
    bundle: Any, notebook: Path, record: Any = None, found_by: str = ""
) -> MagicResult:
    """The result shown for a bundle (and the draft it was published as, if any)."""
    remote = {f.key: f.md5 for f in getattr(record, "files", []) or []}
    warnings = list(bundle.warnings)
    for warning in getattr(record, "warnings", []) or []:
        if warning not in warnings:
            warnings.append(warning)
    result = MagicResult(
        title=bundle.title,
        bundle=str(bundle.path),
        notebook=str(notebook),
        found_by=found_by,
        files=[FileRow(pf.relpath, pf.size, pf.sha256, remote.get(pf.relpath))
               for pf in bundle.payload_files()],
        inputs=[InputRow(pid.identifier, pid.type, pid.resolver_url) for pid in bundle.inputs],
        found=[FoundRow(r.what, r.source, r.level, r.url)
               for r in getattr(bundle, "discovered", []) or []],
        warnings=warnings,
    )
    if record is not None:
        result.draft_id = record.id
        result.state = record.state
        result.review_url = record.html_url
        result.api_url = record.url
        result.server = record.server
        result.pids = dict(record.pids)
        result.planned = [str(r) for r in getattr(record, "requests", []) or []]
        result.dry_run = bool(getattr(record, "dry_run", False))
    return result


# --- the magics ----------------------------------------------------------------------------------


def _capture_arguments(func: Any) -> Any:
    """The options both magics share (the snapshot's)."""
    for decorator in reversed([
        argument("--notebook", metavar="PATH",
                 help="The notebook file (default: this kernel's, from __session__, "
                 "JPY_SESSION_NAME, VS Code or the local Jupyter server)."),
        argument("--title", metavar="T", help="Record title (default: first heading)."),
        argument("--input", dest="inputs", action="append", metavar="PID",
                 help="PID of an input dataset (Handle, DOI or URL); repeatable."),
        argument("--attach", action="append", metavar="GLOB",
                 help="Output file, glob or directory to include; repeatable."),
        argument("--metadata", metavar="FILE", help="B2SHARE metadata JSON to merge."),
        argument("--creator", dest="creators", action="append", metavar="NAME",
                 help="Creator; repeatable."),
        argument("--description", metavar="D", help="Abstract of the record."),
        argument("--keyword", dest="keywords", action="append", metavar="K",
                 help="Keyword; repeatable."),
        argument("--community", metavar="ID", help="B2SHARE community id."),
        argument("--license", metavar="L",
                 help="Licence: SPDX id, name or URL (else the metadata's or the config's)."),
        argument("--output", metavar="DIR",
                 help="Bundle directory (default: <notebook stem>.repro beside the notebook)."),
        argument("--execute", action="store_true",
                 help="Capture a fresh headless run of the saved notebook instead."),
        argument("--input-file", dest="input_files", action="append", metavar="PATH/GLOB",
                 help="A file the analysis read (its PIDs are read from it); repeatable."),
        argument("--no-auto-inputs", action="store_true",
                 help="Cite only declared inputs: no files recorded, held or printed."),
        argument("--exclude-input", dest="exclude_inputs", action="append", metavar="GLOB",
                 help="Drop discovered input files matching GLOB; repeatable."),
        argument("--link", choices=["auto", "reflink", "hardlink", "copy"], default="auto",
                 help="How attachments enter the bundle: a copy-on-write clone where the "
                 "filesystem can (auto), only that (reflink), a hard link, or a copy."),
    ]):
        func = decorator(func)
    return func


def _connection_file() -> str | None:
    """This kernel's connection file (its name holds the kernel id the server knows it by)."""
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:  # not under ipykernel (a plain IPython shell)
        return None
    if not IPKernelApp.initialized():
        return None
    return str(IPKernelApp.instance().connection_file or "") or None


def _parse(magic: Any, line: str) -> Any:
    """Shell-like quoting (``--title 'My analysis'``), unlike IPython's non-POSIX default."""
    import shlex

    from IPython.core.error import UsageError

    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot parse the arguments ({exc}); check the quotes.") from None
    return magic.parser.parse_args(argv)


@magics_class
class EcasReproMagics(Magics):
    """``%ecas_publish`` and ``%ecas_snapshot``; errors show as one sentence, never a traceback."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self.finished_at: dict[int, float] = {}

    def post_run_cell(self, result: Any) -> None:
        """Remember when each execution finished (to tell a deleted cell from an unsaved one)."""
        count = getattr(result, "execution_count", None)
        if isinstance(count, int):
            self.finished_at[count] = time.time()

    @magic_arguments()
    @_capture_arguments
    @argument("--submit", action="store_true", help="Submit the draft after upload.")
    @argument("--dry-run", action="store_true",
              help="Validate and list the write requests; send none.")
    @argument("--server", metavar="URL", help="B2SHARE server (else B2SHARE_URL, config).")
    @argument("--api", choices=["auto", "v2", "v3"],
              help="B2SHARE API dialect (default: detect from the server).")
    @argument("--token-file", metavar="FILE",
              help="File holding the API token (else B2SHARE_TOKEN[_FILE], config).")
    @line_magic
    def ecas_publish(self, line: str) -> MagicResult:
        """Snapshot this notebook and publish it to B2SHARE as a draft for review."""
        args = _parse(self.ecas_publish, line)
        return self._run(args, publish=True)

    @magic_arguments()
    @_capture_arguments
    @line_magic
    def ecas_snapshot(self, line: str) -> MagicResult:
        """Snapshot this notebook into a bundle (no publishing)."""
        args = _parse(self.ecas_snapshot, line)
        return self._run(args, publish=False)

    def _run(self, args: Any, publish: bool) -> MagicResult:
        try:
            return self._capture_and_publish(args, publish)
        except EcasReproError as exc:
            raise MagicError(str(exc), int(exc.exit_code)) from None

    def _capture_and_publish(self, args: Any, publish: bool) -> MagicResult:
        from ecasrepro.api import kernel_inputs, recording_paused, refresh

        shell = self.shell
        located = locate_notebook(args.notebook, shell.user_ns if shell else {}, os.environ,
                                  connection_file=_connection_file())
        notebook = located.path
        if not args.execute and shell is not None:
            history = list(getattr(shell.history_manager, "input_hist_raw", []) or [])
            check_saved(notebook, history, int(shell.execution_count), self.finished_at)
        output = (Path(args.output).expanduser() if args.output
                  else notebook.with_name(f"{notebook.stem}.repro"))
        with recording_paused():  # the snapshot's own reads are not the analysis's inputs
            discovered = [] if args.no_auto_inputs else kernel_inputs(
                shell.user_ns if shell else {}, exclude=[notebook, output])
            bundle = refresh(
                notebook, output, inputs=args.inputs or [], attach=args.attach or [],
                metadata=args.metadata, title=args.title, creators=args.creators or [],
                description=args.description, keywords=args.keywords or [],
                community=args.community, license=args.license, execute=args.execute,
                input_files=args.input_files or [], discovered=discovered,
                exclude_inputs=args.exclude_inputs or [], link=args.link,
                harvest=not args.no_auto_inputs,
            )
        if not publish:
            return build_result(bundle, notebook, found_by=located.found_by)
        record = self._publish(bundle, args)
        return build_result(bundle, notebook, record, found_by=located.found_by)

    def _publish(self, bundle: Any, args: Any) -> Any:
        from ecasrepro.api import publish

        progress = _CellProgress(len(bundle.payload_files()), enabled=not args.dry_run)

        def echo(message: str) -> None:
            if message.startswith("uploaded "):
                progress.advance()

        try:
            return publish(
                bundle, server=args.server, token_file=args.token_file,
                community=args.community, submit=args.submit, dry_run=args.dry_run,
                progress=False, echo=echo, api=args.api,
            )
        finally:
            progress.close()


class _CellProgress:
    """"uploading 3 of 9 files" in the cell's output, updated in place and emptied at the end.

    A display that is replaced, not a bar on stderr: a text progress bar cleared with
    ``leave=False`` still leaves an empty red stderr box above the result in JupyterLab.
    """

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.total, self.done = total, 0
        self.handle: Any = None
        if enabled and total:
            from IPython.display import display

            self.handle = display(self._text(), raw=True, display_id=True)

    def _text(self) -> dict[str, str]:
        return {"text/plain": f"uploading {self.done} of {self.total} files"}

    def advance(self) -> None:
        self.done += 1
        if self.handle is not None:
            self.handle.update(self._text(), raw=True)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.handle = None


def register(ipython: Any) -> EcasReproMagics:
    """Register the magics on ``ipython`` and start recording when each execution finishes."""
    magics = EcasReproMagics(ipython)
    ipython.register_magics(magics)
    events = getattr(ipython, "events", None)
    if events is not None:
        events.register("post_run_cell", magics.post_run_cell)
    ipython._ecasrepro_magics = magics
    return magics


def unregister(ipython: Any) -> None:
    magics = getattr(ipython, "_ecasrepro_magics", None)
    if magics is None:
        return
    events = getattr(ipython, "events", None)
    if events is not None:
        with contextlib.suppress(ValueError):
            events.unregister("post_run_cell", magics.post_run_cell)
    table = ipython.magics_manager.magics.get("line", {})
    for name in ("ecas_publish", "ecas_snapshot"):
        table.pop(name, None)
    del ipython._ecasrepro_magics
