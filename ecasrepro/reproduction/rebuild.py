"""A fresh virtual environment from a bundle's ``environment/pylock.toml``, and a kernel in it.

The lock is checked first with ``packaging.pylock`` (PEP 751's reader): its ``requires-python``
must admit this interpreter (same minor version: compiled wheels and pickles depend on it) and
``select()`` must find this machine among its ``environments`` with a wheel for every package;
otherwise one sentence says what the lock was made for. The venv is built by ``uv`` when it is on
PATH, else by ``pip`` (>= 26.1, which installs ``-r pylock.toml``; ``ECASREPRO_INSTALLER=pip``
or ``uv`` forces one); the pins the lock could not resolve (``[tool.ecasrepro] unresolved``) are
installed by name from the index afterwards, and the report names them. A bundle without a lock
is rebuilt from ``requirements.txt``, said so.

The kernel: when the rebuilt environment has ipykernel (the usual case: the analysis ran in a
Jupyter kernel, so the lock holds it), it runs from there. Otherwise ipykernel is *not* installed
into the venv, which would add or move packages the lock pinned; the kernel runs the venv's
interpreter with this environment's ipykernel and only its dependency closure appended *after*
the venv's own packages (a directory of links, put on ``sys.path`` by the kernel's argv), and the
report says so. A venv is complete only once its marker file is written; an unmarked one is
removed and rebuilt.

One job: turn a lock into a working interpreter plus a kernelspec for it, so that the engine can
re-execute a notebook in the environment it was captured in.

May import: ecasrepro.errors; never ecasrepro.api, ecasrepro.b2share or a front end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput

KERNEL_NAME = "ecasrepro-reproduce"
COMPLETE = ".ecasrepro-complete"
PIP_WITH_PYLOCK = (26, 1)
INSTALLER_SETTING = "ECASREPRO_INSTALLER"  # uv, pip or auto (default: uv when on PATH)


@dataclass
class BuiltEnvironment:
    """What the environment stage did: the interpreter, how, and what it could not pin."""

    python: Path
    installer: str  # "uv" or "pip"
    source: str  # "pylock.toml" or "requirements.txt"
    packages: int
    unresolved: list[str] = field(default_factory=list)  # pins installed by name (or failed)
    failed: list[str] = field(default_factory=list)  # pins that could not be installed
    kernel: str = "venv"  # "venv" (its own ipykernel) or "host-ipykernel"
    notes: list[str] = field(default_factory=list)


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path.name} in the record is not a readable TOML lock ({exc}); the "
                       "record's environment cannot be rebuilt from it") from None


def check_lock(lock_path: Path) -> tuple[dict[str, Any], int]:
    """The lock's document and its package count; BadInput when it does not fit this machine."""
    from packaging.markers import default_environment
    from packaging.pylock import Pylock, PylockSelectError, PylockValidationError
    from packaging.specifiers import SpecifierSet
    from packaging.tags import sys_tags

    doc = _toml(lock_path)
    here = ".".join(str(n) for n in sys.version_info[:3])
    wanted = str(doc.get("requires-python") or "")
    if wanted and not SpecifierSet(wanted).contains(here, prereleases=True):
        minor = wanted.lstrip("=~<>! ").removesuffix(".*")
        raise BadInput(f"the analysis ran on Python {minor} (pylock.toml requires-python "
                       f"{wanted}) and this is Python {here}; run ecasrepro reproduce with a "
                       f"Python {minor} interpreter")
    try:
        lock = Pylock.from_dict(doc)
        selected = list(lock.select(environment=default_environment(), tags=list(sys_tags())))
    except PylockValidationError as exc:
        raise BadInput(f"the record's pylock.toml is not a valid PEP 751 lock ({exc})") from None
    except PylockSelectError as exc:
        made_for = "; ".join(str(e) for e in doc.get("environments", [])) or "another platform"
        raise BadInput(f"the record's pylock.toml was made for {made_for} and does not fit this "
                       f"machine ({exc}); reproduce it on a matching platform") from None
    return doc, len(selected)


def _find_uv() -> str | None:
    """uv on PATH, else the one installed beside this interpreter (``pip install uv`` into a venv
    that is used without being activated)."""
    beside = Path(sys.executable).parent / "uv"
    return shutil.which("uv") or (str(beside) if os.access(beside, os.X_OK) else None)


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(p) for p in version("pip").split(".")[:2] if p.isdigit())
    except PackageNotFoundError:
        return ()


def _run(argv: list[str], what: str) -> None:
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines
                    else f"exit status {done.returncode}")
        raise RuntimeError(f"{what} failed: {last.strip()[:300]}")


def build_environment(
    bundle_data: Path,
    venv: Path,
    *,
    step: Callable[[str], Any] | None = None,
) -> BuiltEnvironment:
    """Create ``venv`` from the bundle's lock (or pins) and make a kernel runnable from it.

    ``step`` is called with a short description before each stage (the progress bar). Raises
    :class:`BadInput` when the lock does not fit this machine, RuntimeError (with the
    installer's last error line) when an install fails.
    """
    report = step or (lambda _: None)
    lock_path = bundle_data / "environment" / "pylock.toml"
    pins_path = bundle_data / "environment" / "requirements.txt"
    doc: dict[str, Any] = {}
    count = 0
    if lock_path.is_file():
        doc, count = check_lock(lock_path)
    elif not pins_path.is_file():
        raise BadInput("the record holds neither environment/pylock.toml nor "
                       "environment/requirements.txt, so its environment cannot be rebuilt")
    python = venv / "bin" / "python"
    if (venv / COMPLETE).is_file():
        done = BuiltEnvironment(**json.loads((venv / COMPLETE).read_text()))
        done.python = Path(done.python)
        done.notes.append(f"{venv} was already rebuilt; remove it to build it again")
        return done
    if venv.exists():
        shutil.rmtree(venv)  # an unmarked venv is a half-built one
    choice = os.environ.get(INSTALLER_SETTING, "").strip().lower()
    if choice not in ("", "auto", "uv", "pip"):
        raise BadInput(f"{INSTALLER_SETTING}={choice!r} is not uv, pip or auto; unset it or "
                       "pick one of those")
    uv = _find_uv() if choice != "pip" else None
    if choice == "uv" and not uv:
        raise BadInput(f"{INSTALLER_SETTING}=uv but uv is not on PATH; install uv or unset it")
    pip = _pip_version()
    if not uv and (not pip or (doc and pip < PIP_WITH_PYLOCK)):  # bare pins: any pip will do
        raise BadInput(f"rebuilding from {'pylock.toml' if doc else 'requirements.txt'} needs uv "
                       f"or pip{' >= 26.1' if doc else ''} (this pip is "
                       f"{'.'.join(map(str, pip)) or 'missing'}); "
                       "run: python -m pip install -U pip")
    installer = "uv" if uv else "pip"

    def install(*args: str) -> list[str]:
        if uv:
            return [uv, "pip", "install", "--python", str(python), *args]
        return [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *args]

    report("creating the virtual environment")
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "uv venv")
    else:
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "python -m venv")
    built = BuiltEnvironment(python=python, installer=installer,
                             source="pylock.toml" if doc else "requirements.txt", packages=count)
    if doc:
        report(f"installing {count} locked packages with {installer}")
        if count:
            _run(install("-r", str(lock_path)), f"{installer} install -r pylock.toml")
        built.unresolved = list(doc.get("tool", {}).get("ecasrepro", {}).get("unresolved", []))
        for pin in built.unresolved:
            report(f"installing {pin} by name (not in the lock)")
            try:
                _run(install("--no-deps", pin), f"{installer} install {pin}")
            except RuntimeError:
                built.failed.append(pin)
    else:
        report(f"installing requirements.txt pins with {installer}")
        built.notes.append("the record has no pylock.toml: the environment was rebuilt from "
                           "the requirements.txt pins (artifacts may differ from the captured)")
        _run(install("-r", str(pins_path)), f"{installer} install -r requirements.txt")
    report("preparing the kernel")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONNOUSERSITE": "1"}
    has_kernel = subprocess.run([str(python), "-c", "import ipykernel"], capture_output=True,
                                env=clean).returncode == 0
    if not has_kernel:
        built.kernel = "host-ipykernel"
        built.notes.append("ipykernel is not in the rebuilt environment: the kernel runs its "
                           "interpreter with this environment's ipykernel (and only its "
                           "dependencies) after the rebuilt packages")
        link_closure("ipykernel", venv / "ecasrepro-kernel-path")
    record = {k: (str(v) if isinstance(v, Path) else v) for k, v in built.__dict__.items()}
    (venv / COMPLETE).write_text(json.dumps(record))
    return built


def link_closure(name: str, target: Path) -> None:
    """Link the importable top-level names of ``name`` and its requirements into ``target``."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    target.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        key = current.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(current)
        except PackageNotFoundError:
            continue
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        tops: set[str] = set()
        for file in dist.files or []:
            first = file.parts[0]
            if first not in ("..", "__pycache__") and not first.endswith(".pth"):
                tops.add(first)
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source)


def write_kernelspec(built: BuiltEnvironment, venv: Path, where: Path) -> Path:
    """A kernelspec for the rebuilt interpreter under ``where/kernels/`` (for JUPYTER_PATH)."""
    spec_dir = where / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    python = str(built.python)
    if built.kernel == "venv":
        argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    else:
        extra = str(venv / "ecasrepro-kernel-path")
        boot = (f"import sys; sys.path.append({extra!r}); "
                "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()")
        argv = [python, "-c", boot, "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "ecasrepro reproduce", "language": "python",
            "env": {"PYTHONNOUSERSITE": "1", "PYTHONPATH": ""}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return where


__all__ = ["KERNEL_NAME", "BuiltEnvironment", "build_environment", "check_lock",
           "write_kernelspec"]
