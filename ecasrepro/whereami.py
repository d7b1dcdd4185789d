"""Which notebook a kernel runs, and whether its saved file holds what the kernel ran.

A kernel is not told its notebook's path; each front end says it its own way, asked in this order:

1. ``--notebook PATH`` (the user);
2. ``__session__`` in the namespace (ipykernel, from ``JPY_SESSION_NAME``) or the
   ``JPY_SESSION_NAME`` variable itself (jupyter_server 2 / JupyterLab 4): relative to the
   server's root, so looked up from the kernel's directory and each parent;
3. ``__vsc_ipynb_file__`` (VS Code's Jupyter extension): an absolute path;
4. the local Jupyter server's sessions API (``GET /api/sessions``): the running servers are read
   from jupyter_server's runtime files (``jpserver-*.json``); only loopback servers are asked, with
   the server's token (``JUPYTER_TOKEN`` from the kernel's environment, else the runtime file's,
   which only this user can read) in the ``Authorization`` header, never in a URL; the session
   whose kernel id matches this kernel's connection file (``kernel-<id>.json``) names the file.

If none tells, one sentence asks for ``--notebook``.

Stale-file rule (kernel history against the saved ``.ipynb``):

* the *aligned* count is the highest execution count in the saved file whose cell source equals
  what the kernel ran under that count (0 when none does: the file is from another session);
* every later execution the kernel made (up to the magic's own cell) is *unsaved*, unless it is
  ignorable (blank, comments, ``%load_ext``/``%reload_ext``, the ``%ecas_*`` magics) or the file
  was saved after that execution finished (a cell run and then deleted before saving: the user
  has decided; the finish times are recorded from the moment the extension is loaded);
* any unsaved execution makes the file stale: the sentence says which ones and asks the user to
  save (Ctrl+S), or to pass ``--execute`` to capture a fresh headless run of the saved file.

One job: tell the notebook front end which file it runs in and whether that file is saved, so that
a magic never publishes the wrong or a stale notebook.

May import: ecasrepro.errors, ecasrepro.userfiles; never an engine (ecasrepro.capture,
ecasrepro.bundle, ecasrepro.b2share), ecasrepro.api or a front end.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ecasrepro.errors import BadInput, EcasReproError

IGNORABLE_PREFIXES = ("%load_ext", "%reload_ext", "%unload_ext", "%ecas_", "#")
HOW_TO_SAVE = (
    "save the notebook (File > Save, or Ctrl+S) and run this cell again, or pass --execute to "
    "capture a fresh headless run of the saved file"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SESSIONS_TIMEOUT = 3.0  # seconds per local server; a hung server must not hang the cell
_KERNEL_FILE = re.compile(r"kernel-([0-9a-fA-F-]{8,})\.json$")


@dataclass(frozen=True)
class Located:
    """The notebook file, and who said it is this kernel's (shown in the magic's result)."""

    path: Path
    found_by: str


# --- finding the notebook ------------------------------------------------------------------------


def _relative_candidates(value: str, here: Path) -> list[Path]:
    relative = Path(value).expanduser()
    if relative.is_absolute():
        return [relative]
    return [*(base / relative for base in (here, *here.parents)), here / relative.name]


def kernel_id_of(connection_file: str | None) -> str | None:
    """The kernel id in a connection file's name (``kernel-<id>.json``, as jupyter_server names
    them), or None."""
    if not connection_file:
        return None
    found = _KERNEL_FILE.search(os.path.basename(connection_file))
    return found.group(1) if found else None


def running_servers(runtime_dirs: Iterable[Path]) -> list[dict[str, Any]]:
    """The local Jupyter servers' runtime files (``jpserver-*.json``), loopback ones only."""
    servers = []
    for directory in runtime_dirs:
        try:
            files = sorted(directory.glob("jpserver-*.json"))
        except OSError:
            continue
        for path in files:
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            url = info.get("url") if isinstance(info, dict) else None
            if isinstance(url, str) and urlsplit(url).hostname in LOOPBACK:
                servers.append(info)
    return servers


def _default_runtime_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Where jupyter_server writes ``jpserver-*.json`` (jupyter_core's rule, on POSIX)."""
    if environ.get("JUPYTER_RUNTIME_DIR"):
        return [Path(environ["JUPYTER_RUNTIME_DIR"])]
    if environ.get("JUPYTER_DATA_DIR"):
        return [Path(environ["JUPYTER_DATA_DIR"]) / "runtime"]
    home = Path(environ.get("HOME") or Path.home())
    data = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [data / "jupyter" / "runtime"]


def session_path_from_servers(
    kernel_id: str, servers: Sequence[Mapping[str, Any]], environ: Mapping[str, str]
) -> tuple[Path, str] | None:
    """Ask each local server's ``/api/sessions`` which notebook runs ``kernel_id``:
    ``(absolute path, server URL)``, or None. The token never enters a URL or a message."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    for info in servers:
        base = str(info.get("url", "")).rstrip("/") + "/"
        token = environ.get("JUPYTER_TOKEN") or str(info.get("token") or "")
        request = urllib.request.Request(base + "api/sessions")
        if token:
            request.add_header("Authorization", f"token {token}")
        try:
            with opener.open(request, timeout=SESSIONS_TIMEOUT) as response:
                sessions = json.loads(response.read(2_000_000).decode("utf-8"))
        except (OSError, ValueError):
            continue  # not running any more, refused the token, or not a Jupyter server
        for session in sessions if isinstance(sessions, list) else []:
            kernel = session.get("kernel") if isinstance(session, dict) else None
            path = session.get("path") if isinstance(session, dict) else None
            if isinstance(kernel, dict) and kernel.get("id") == kernel_id and isinstance(
                    path, str) and path.endswith(".ipynb"):
                root = Path(str(info.get("root_dir") or info.get("notebook_dir") or "."))
                return (root / path).expanduser(), base
    return None


def locate_notebook(
    explicit: str | None,
    user_ns: Mapping[str, Any],
    environ: Mapping[str, str],
    cwd: Path | None = None,
    *,
    connection_file: str | None = None,
    runtime_dirs: Iterable[Path] | None = None,
) -> Located:
    """The notebook this kernel runs, by the order in the module docstring; BadInput (one
    sentence asking for ``--notebook``) when nothing tells."""
    here = cwd or Path.cwd()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise BadInput(f"--notebook {explicit} is not a file; check the path.")
        return Located(path, "--notebook")
    named: list[tuple[str, str]] = []
    for source, value in (
        ("__session__", user_ns.get("__session__")),
        ("JPY_SESSION_NAME", environ.get("JPY_SESSION_NAME")),
        ("__vsc_ipynb_file__", user_ns.get("__vsc_ipynb_file__")),
    ):
        if isinstance(value, str) and value.strip().endswith(".ipynb"):
            named.append((source, value.strip()))
    for source, value in named:
        for candidate in _relative_candidates(value, here):
            if candidate.is_file():
                return Located(candidate, source)
    kernel_id = kernel_id_of(connection_file)
    if kernel_id:
        dirs = list(runtime_dirs) if runtime_dirs is not None else _default_runtime_dirs(environ)
        found = session_path_from_servers(kernel_id, running_servers(dirs), environ)
        if found is not None and found[0].is_file():
            return Located(found[0], f"the Jupyter server at {found[1]} (/api/sessions)")
    if named:
        source, value = named[0]
        raise BadInput(
            f"the notebook {value} named by {source} is not found from {here}; "
            "pass --notebook PATH."
        )
    raise BadInput(
        "cannot tell which notebook this kernel runs (no __session__, JPY_SESSION_NAME or "
        "__vsc_ipynb_file__, and no local Jupyter server knows this kernel); pass --notebook PATH."
    )


def find_notebook(
    explicit: str | None, user_ns: Mapping[str, Any], environ: Mapping[str, str],
    cwd: Path | None = None, **where: Any,
) -> Path:
    """Just the path of :func:`locate_notebook`."""
    return locate_notebook(explicit, user_ns, environ, cwd, **where).path


# --- the stale-file check ------------------------------------------------------------------------


def _normal(source: Any) -> str:
    text = "".join(source) if isinstance(source, list) else str(source or "")
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def ignorable(source: str) -> bool:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return all(line.startswith(IGNORABLE_PREFIXES) for line in lines)


def saved_executions(notebook_json: Mapping[str, Any]) -> dict[int, str]:
    """execution count -> normalised source of the saved file's code cells."""
    saved: dict[int, str] = {}
    for cell in notebook_json.get("cells", []) or []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            if isinstance(count, int):
                saved[count] = _normal(cell.get("source", ""))
    return saved


def unsaved_executions(
    history: Sequence[str],
    current: int,
    saved: Mapping[int, str],
    finished_at: Mapping[int, float],
    saved_mtime: float,
) -> list[int]:
    """Execution counts the kernel ran that the saved file lacks (see the module docstring).

    ``history[n]`` is the raw source the kernel ran as execution ``n`` (``history[0]`` unused);
    ``current`` is the count of the cell running the magic.
    """
    last = min(current - 1, len(history) - 1)
    aligned = max(
        (n for n, source in saved.items() if 0 < n <= last and _normal(history[n]) == source),
        default=0,
    )
    unsaved = []
    for n in range(aligned + 1, last + 1):
        source = history[n]
        if ignorable(source):
            continue
        done = finished_at.get(n)
        if done is not None and saved_mtime >= done:
            continue
        unsaved.append(n)
    return unsaved


def check_saved(
    path: Path, history: Sequence[str], current: int, finished_at: Mapping[int, float]
) -> None:
    """Raise BadInput naming the unsaved executions when the saved file is stale."""
    from ecasrepro.userfiles import NOTEBOOK_MAX, loads_json, read_limited

    try:
        notebook_json = loads_json(read_limited(path, "notebook", NOTEBOOK_MAX), "notebook")
    except (OSError, ValueError, EcasReproError):
        return  # snapshot reads it again and reports what is wrong with it, in one sentence
    if not history:
        return
    unsaved = unsaved_executions(
        history, current, saved_executions(notebook_json), finished_at, path.stat().st_mtime,
    )
    if unsaved:
        shown = ", ".join(f"[{n}]" for n in unsaved[:8]) + (", ..." if len(unsaved) > 8 else "")
        raise BadInput(
            f"{path.name} on disk lacks cell(s) {shown} that this kernel ran after it was last "
            f"saved; {HOW_TO_SAVE}."
        )

