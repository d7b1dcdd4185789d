"""Record every file the kernel reads, so that a snapshot cites what the analysis really used.

Two sources, both cheap:

* Python-level opens: a ``sys.addaudithook`` hook keeps the path of each ``open`` event in a read
  mode (``open()``, ``os.open()`` without write or create flags). That covers pandas, csv, json and
  anything else reading through Python.
* Libraries that open files in C (libnetcdf, HDF5) raise no such event, so ``netCDF4.Dataset``,
  ``h5py.File`` and ``xarray.open_dataset``/``open_mfdataset`` (globs and lists, through the
  ``open_dataset`` it calls per file) are wrapped: each records its path, then does exactly what it
  did before. They are wrapped only once the kernel has imported them (now, or later through an
  import hook): the recorder never imports a library itself.

The hook stores raw paths; filtering (the virtualenv, site-packages, ``sys.prefix``, system
directories, Python sources read by imports, the bundle and the notebook) happens once, when
:func:`recorded_files` is asked. Audit hooks cannot be removed, so :func:`stop_recording` only
turns it off; ecasrepro's own reads during a snapshot are not recorded (:func:`paused`).
Standard library only: it is installed by ``%load_ext ecasrepro``, which must stay fast.

One job: the set of files this process read, so that inputs need not be declared by hand.

May import: nothing (the standard library only); never ecasrepro.bundle, ecasrepro.b2share,
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterable, Iterator
from importlib.abc import MetaPathFinder
from pathlib import Path
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
#: Files with these suffixes are read by imports, not as data.
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".pyi")
#: System locations never holding an analysis's inputs.
SYSTEM_DIRS = ("/proc", "/sys", "/dev", "/etc", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/run",
               "/var/lib", "/var/cache", "/var/run", "/snap")
_HOME_DIRS = (".ipython", ".jupyter", ".local/share/jupyter", ".cache", ".config",
              ".matplotlib", ".local/lib")
WATCHED = ("netCDF4", "h5py", "xarray")
#: package metadata and caches read by importlib (an editable install keeps them in the source tree)
_METADATA_PARTS = ("/__pycache__/", ".egg-info/", ".dist-info/", "/.git/")

_recording = False
_installed = False
_seen: dict[str, str] = {}  # raw absolute path -> how it was read ("open", "netCDF4", ...)
_originals: list[tuple[Any, str, Any]] = []  # (owner, attribute, original) to undo wrapping


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The audit hook: one string compare for every event that is not an open."""
    if event != "open" or not _recording:
        return
    path, mode, flags = args
    if mode is None:
        if flags & _WRITE_FLAGS:
            return
    elif "r" not in mode or "+" in mode:
        return
    if path.__class__ is str and path[:1] == "/":  # the common case, kept short
        if path not in _seen:
            _seen[path] = "open"
        return
    try:
        _note(path, "open")
    except Exception:  # never let recording change what the user's code sees
        return


def _off() -> None:
    """At exit: the interpreter tears modules down while the hook stays installed."""
    global _recording
    _recording = False


def _note(path: Any, how: str) -> None:
    if isinstance(path, int):
        return  # a file descriptor: whatever opened it was seen (or not) already
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return  # a file-like object
    if "://" in text:
        return  # a URL (OPeNDAP, S3): not a local file
    if not os.path.isabs(text):
        text = os.path.join(os.getcwd(), text)
    _seen.setdefault(text, how)


# --- wrapping the libraries that open files in C -------------------------------------------------


def _replace(owner: Any, name: str, value: Any) -> None:
    _originals.append((owner, name, getattr(owner, name)))
    setattr(owner, name, value)


def _wrap_netcdf4(module: Any) -> None:
    original = module.Dataset
    if getattr(original, "_ecasrepro_wrapped", False):
        return

    class _Meta(type(original)):  # type: ignore[misc]
        # isinstance/issubclass against netCDF4.Dataset behave as before (Groups included)
        def __instancecheck__(cls, obj: Any) -> bool:
            return isinstance(obj, original)

        def __subclasscheck__(cls, sub: Any) -> bool:
            return issubclass(sub, original)

    init = original.__init__

    def __init__(self: Any, filename: Any = None, mode: str = "r", *args: Any,
                 **kwargs: Any) -> None:
        if _recording and (mode == "r" or str(mode)[:1] == "r") and "memory" not in kwargs:
            if filename.__class__ is str and filename[:1] == "/":
                if filename not in _seen:
                    _seen[filename] = "netCDF4"
            else:
                _note(filename, "netCDF4")
        init(self, filename, mode, *args, **kwargs)

    wrapped = _Meta("Dataset", (original,), {
        "__init__": __init__, "__module__": original.__module__,
        "__doc__": original.__doc__, "_ecasrepro_wrapped": True,
        "__slots__": (),  # no per-instance __dict__: instances cost what they did
    })
    _replace(module, "Dataset", wrapped)


def _wrap_h5py(module: Any) -> None:
    cls = module.File
    original = cls.__init__
    if getattr(original, "_ecasrepro_wrapped", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, name: Any, mode: str | None = None, *args: Any, **kwargs: Any) -> None:
        if _recording and (mode is None or mode == "r"):
            _note(name, "h5py")
        original(self, name, mode, *args, **kwargs)

    __init__._ecasrepro_wrapped = True  # type: ignore[attr-defined]
    _replace(cls, "__init__", __init__)


def _wrap_xarray(module: Any) -> None:
    api = sys.modules.get("xarray.backends.api")
    original = getattr(api, "open_dataset", None) or module.open_dataset
    if getattr(original, "_ecasrepro_wrapped", False):
        return

    @functools.wraps(original)
    def open_dataset(filename_or_obj: Any, *args: Any, **kwargs: Any) -> Any:
        if _recording:
            _note(filename_or_obj, "xarray")
        return original(filename_or_obj, *args, **kwargs)

    open_dataset._ecasrepro_wrapped = True  # type: ignore[attr-defined]
    # open_mfdataset, load_dataset and open_dataarray call the module's own open_dataset per file
    if api is not None and getattr(api, "open_dataset", None) is original:
        _replace(api, "open_dataset", open_dataset)
    if getattr(module, "open_dataset", None) is original:
        _replace(module, "open_dataset", open_dataset)


_WRAPPERS = {"netCDF4": _wrap_netcdf4, "h5py": _wrap_h5py, "xarray": _wrap_xarray}


def _wrap(name: str, module: Any) -> None:
    with contextlib.suppress(Exception):  # a library we do not know the shape of stays as it was
        _WRAPPERS[name](module)


class _ImportWatcher(MetaPathFinder):
    """Wraps a watched library right after the kernel imports it (never imports one itself)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _WRAPPERS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        execute = getattr(loader, "exec_module", None)
        if execute is None:
            return spec

        def exec_module(module: Any) -> None:
            execute(module)
            _wrap(fullname, module)

        with contextlib.suppress(AttributeError, TypeError):
            loader.exec_module = exec_module  # type: ignore[method-assign,union-attr]
        return spec


_watcher = _ImportWatcher()


# --- the public surface --------------------------------------------------------------------------


def start_recording() -> None:
    """Record from now on (idempotent): the audit hook, and wrappers for imported libraries."""
    global _recording, _installed
    if not _installed:
        import atexit

        sys.addaudithook(_audit)
        atexit.register(_off)
        _installed = True
    if _watcher not in sys.meta_path:
        sys.meta_path.insert(0, _watcher)
    for name in WATCHED:
        module = sys.modules.get(name)
        if module is not None:
            _wrap(name, module)
    _recording = True


def stop_recording() -> None:
    """Stop recording and put the wrapped library functions back (the hook stays, idle)."""
    global _recording
    _recording = False
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_watcher)
    while _originals:
        owner, name, value = _originals.pop()
        setattr(owner, name, value)


def is_recording() -> bool:
    return _recording


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """ecasrepro's own reads (the notebook, config, attachments) are not the analysis's."""
    global _recording
    was, _recording = _recording, False
    try:
        yield
    finally:
        _recording = was


def clear() -> None:
    """Forget what was recorded (a new analysis in the same process)."""
    _seen.clear()


def _excluded_prefixes() -> list[str]:
    import site

    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, *SYSTEM_DIRS}
    with contextlib.suppress(AttributeError):
        prefixes.update(site.getsitepackages())
    with contextlib.suppress(AttributeError):
        prefixes.add(site.getusersitepackages())
    if os.environ.get("VIRTUAL_ENV"):
        prefixes.add(os.environ["VIRTUAL_ENV"])
    home = os.path.expanduser("~")
    prefixes.update(os.path.join(home, d) for d in _HOME_DIRS)
    return sorted({os.path.realpath(p) for p in prefixes} | prefixes)


def _under(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def recorded_files(exclude: Iterable[str | os.PathLike[str]] = ()) -> list[tuple[str, str]]:
    """``(absolute path, how)`` of each existing file read so far, outside the excluded places
    (the environment, system directories, code read by imports, and ``exclude``)."""
    prefixes = _excluded_prefixes()
    skip = [os.path.abspath(os.fspath(p)) for p in exclude]
    found: dict[str, str] = {}
    for raw, how in list(_seen.items()):
        path = os.path.normpath(raw)
        if path.endswith(CODE_SUFFIXES) or any(part in path for part in _METADATA_PARTS):
            continue
        real = os.path.realpath(path)
        if _under(path, prefixes) or _under(real, prefixes) or _under(path, skip) or (
                _under(real, skip)):
            continue
        if not os.path.isfile(path) or Path(path).name.startswith(".ecasrepro"):
            continue
        found.setdefault(path, how)
    return list(found.items())
