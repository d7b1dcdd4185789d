"""Record every file the kernel reads, so that a snapshot cites what the analysis really used.

Two sources, both cheap:

* Python-level opens: a ``sys.addaudithook`` hook keeps the path of each ``open`` event in a read
  mode (``open()``, ``os.open()`` without write or create flags). That covers pandas, csv, json and
  anything else reading through Python.
* Libraries that open files in C (libnetcdf, HDF5) raise no such event, so ``netCDF4.Dataset``
  (and ``MFDataset``), ``h5py.File`` and ``xarray.open_dataset``/``open_mfdataset`` (globs and
  lists, through the ``open_dataset`` it calls per file) are wrapped: each records its path,
  then does exactly what it did before. They are wrapped only once the kernel has imported
  them (now, or later through an import hook): the recorder never imports a library itself.

The hot path is minimal, since the hook runs for every audit event in the process: two string
comparisons for events that are not opens, one dict store of the raw arguments for an open (the
wrappers likewise store their raw argument and return). Everything else (read modes, absolute
paths, deduplication, excluding the virtualenv, site-packages, ``sys.prefix``, system
directories, Python sources read by imports, the bundle and the notebook) happens lazily, when
:func:`recorded_files` is asked, or at an ``os.chdir`` event, which settles relative paths
against the directory being left. Audit hooks cannot be removed, so :func:`stop_recording` only
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
from collections.abc import Iterable, Iterator, MutableMapping
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
# The hot path only stores raw arguments, deduplicated by a dict; normalisation waits for
# :func:`_settle` (at a chdir, and when :func:`recorded_files` is asked).
_opened: dict[Any, None] = {}  # the audit event's (path, mode, flags) of each "open"
_called: dict[Any, None] = {}  # (filename, mode, library) from the wrappers
_settled: dict[str, str] = {}  # absolute path -> how it was read ("open", "netCDF4", ...)
_originals: list[tuple[Any, str, Any]] = []  # (owner, attribute, original) to undo wrapping


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The audit hook: two string comparisons for any other event, one dict store for an open."""
    if event == "open":
        if _recording:
            try:
                _opened[args] = None
            except Exception:  # an unhashable path object: never change what the user sees
                return  # (a try costs nothing in 3.11; contextlib.suppress would, per event)
    elif event == "os.chdir" and (_opened or _called):
        _settle()  # relative paths so far are relative to the directory being left


def _off() -> None:
    """At exit: the interpreter tears modules down while the hook stays installed."""
    global _recording
    _recording = False


def _absolute(path: Any) -> str | None:
    """``path`` as an absolute local path, or None (a file descriptor, file object, URL)."""
    if isinstance(path, int):
        return None  # a file descriptor: whatever opened it was seen (or not) already
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None  # a file-like object
    if "://" in text:
        return None  # a URL (OPeNDAP, S3): not a local file
    return text if os.path.isabs(text) else os.path.join(os.getcwd(), text)


def _reads(key: tuple[Any, Any, Any]) -> str | None:
    """How the raw entry ``key`` read its file ("open", a library), or None for a write."""
    _path, mode, third = key
    if isinstance(third, int):  # an audit "open" event: (path, mode or None, os.open flags)
        if mode is None:
            return None if third & _WRITE_FLAGS else "open"
        return "open" if "r" in mode and "+" not in mode else None
    if third == "netCDF4":
        return third if mode == "r" or str(mode)[:1] == "r" else None
    if third == "h5py":
        return third if mode is None or mode == "r" else None
    return third  # xarray opens read


def _settle() -> None:
    """Turn the raw entries recorded so far into absolute paths of files read."""
    global _opened, _called
    taken, _opened = _opened, {}  # swapped, not cleared: a store racing with this one is kept
    called, _called = _called, {}
    for key in [*called, *taken]:  # a library's name says more than the open() it made
        with contextlib.suppress(Exception):
            how = _reads(key)
            path = _absolute(key[0]) if how else None
            if path is not None:
                _settled.setdefault(path, how)  # type: ignore[arg-type]


def _note(value: Any, mode: Any, how: str) -> None:
    """A wrapper's record: the raw argument, kept only when it can name a file."""
    if value.__class__ is str or isinstance(value, (str, bytes, os.PathLike)):
        try:
            _called[(value, mode, how)] = None
        except Exception:  # an unhashable path-like object
            return


# --- wrapping the libraries that open files in C -------------------------------------------------


def _replace(owner: Any, name: str, value: Any) -> None:
    _originals.append((owner, name, getattr(owner, name)))
    setattr(owner, name, value)


def _wrap_netcdf4(module: Any) -> None:
    original = module.Dataset
    if getattr(original, "_ecasrepro_wrapped", False):
        return

    class _Meta(type(original)):  # type: ignore[misc]
        # Calling netCDF4.Dataset records the file and returns an instance of the original
        # class, so attribute access on it costs what it did (a subclass instance would pay a
        # Python-level attribute hook); isinstance/issubclass behave as before.
        def __call__(cls, filename: Any = None, mode: Any = "r", *args: Any,
                     **kwargs: Any) -> Any:
            if _recording and "memory" not in kwargs:
                _note(filename, mode, "netCDF4")
            if cls is wrapped:
                return original(filename, mode, *args, **kwargs)
            return super().__call__(filename, mode, *args, **kwargs)  # a user's subclass

        def __instancecheck__(cls, obj: Any) -> bool:
            if cls is wrapped:
                return isinstance(obj, original)
            return type.__instancecheck__(cls, obj)

        def __subclasscheck__(cls, sub: Any) -> bool:
            if cls is wrapped:
                return issubclass(sub, original)
            return type.__subclasscheck__(cls, sub)

    wrapped = _Meta("Dataset", (original,), {
        "__module__": original.__module__, "__doc__": original.__doc__,
        "_ecasrepro_wrapped": True, "__slots__": (),
    })
    _replace(module, "Dataset", wrapped)
    _wrap_mfdataset(getattr(module, "MFDataset", None))


def _wrap_mfdataset(cls: Any) -> None:
    """MFDataset opens its files through the C-level Dataset: its own ``__init__`` records them
    (a glob as MFDataset expands it: sorted)."""
    if cls is None or getattr(cls.__init__, "_ecasrepro_wrapped", False):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, files: Any, *args: Any, **kwargs: Any) -> None:
        if _recording:
            with contextlib.suppress(Exception):
                if isinstance(files, str):
                    import glob

                    files = sorted(glob.glob(files)) or files
                for name in [files] if isinstance(files, str) else list(files):
                    _note(name, "r", "netCDF4")
        original(self, files, *args, **kwargs)

    __init__._ecasrepro_wrapped = True  # type: ignore[attr-defined]
    _replace(cls, "__init__", __init__)


def _wrap_h5py(module: Any) -> None:
    cls = module.File
    original = cls.__init__
    if getattr(original, "_ecasrepro_wrapped", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, name: Any, mode: str | None = None, *args: Any, **kwargs: Any) -> None:
        if _recording:
            _note(name, mode, "h5py")
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
            _note(filename_or_obj, None, "xarray")
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


def start_recording(namespace: MutableMapping[str, Any] | None = None) -> None:
    """Record from now on (idempotent): the audit hook, and wrappers for imported libraries.

    ``namespace`` (the kernel's user namespace) has its names bound to an unwrapped original
    (``from netCDF4 import Dataset`` run before ``%load_ext``) rebound to the wrapper, so those
    opens are recorded too; the wrapper behaves as the original did.
    """
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
    if namespace is not None:
        _rebind(namespace)


def _rebind(namespace: MutableMapping[str, Any]) -> None:
    wrapped = {id(original): (original, getattr(owner, name))
               for owner, name, original in _originals if not name.startswith("__")}
    for key, value in list(namespace.items()):
        found = wrapped.get(id(value))
        if found is not None and found[0] is value:
            namespace[key] = found[1]


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
    _opened.clear()
    _called.clear()
    _settled.clear()


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
    with paused():
        _settle()
    found: dict[str, str] = {}
    for raw, how in list(_settled.items()):
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
