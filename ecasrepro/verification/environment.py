"""Environment differences: the bundle's pins and platform versus the re-running interpreter.

One job: read the captured ``requirements.txt`` and ``platform.json`` and compare them with the
Python that the kernel launches (informational; never fails a verification).

May import: .report; never ecasrepro.api, ecasrepro.cli, ecasrepro.magic or a higher module of
this package (.compare, .execute, .verify).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ecasrepro.verification.report import EnvironmentDifferences, PackageDifference


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> tuple[dict[str, str], list[str]]:
    """Exact pins ``name==version`` from a requirements file; other lines listed as unpinned."""
    pins: dict[str, str] = {}
    unpinned: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;]+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
        else:
            unpinned.append(line)
    return pins, unpinned


_INSPECT_SNIPPET = (
    "import json,platform,sys,importlib.metadata as m\n"
    "d={}\n"
    "for x in m.distributions():\n"
    "    n=x.metadata['Name']\n"
    "    if n: d.setdefault(n,x.version)\n"
    "print(json.dumps({'python':platform.python_version(),'system':platform.system(),"
    "'machine':platform.machine(),'distributions':d}))\n"
)


#: this interpreter's facts, and the sys.path directories' mtimes they were read at
_own_facts: tuple[tuple[tuple[str, int], ...], dict[str, Any]] | None = None
#: held while this interpreter's facts are read: threads asking at once share one reading
_own_facts_lock = threading.Lock()
#: how many times this process has read its own distributions (a run of many: once)
_readings = 0


def _path_state() -> tuple[tuple[str, int], ...]:
    """The mtime of every sys.path directory: an install or removal changes one of them."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


def _is_own(interpreter: str) -> bool:
    return os.path.abspath(interpreter) == os.path.abspath(sys.executable)


def _own_interpreter_facts() -> dict[str, Any]:
    """This interpreter's facts, read once per sys.path state.

    Reading every distribution's metadata costs ~0.15 s of CPU, all of it holding the GIL:
    four worker threads finishing their first notebooks together each read it at once, and
    took 0.8 s each. Under the lock one reads and the others wait for its result."""
    global _own_facts, _readings
    with _own_facts_lock:
        state = _path_state()
        cached = _own_facts
        if cached is None or cached[0] != state:
            namespace: dict[str, Any] = {}
            exec(compile(_INSPECT_SNIPPET.replace("print(", "result=("), "<inspect>", "exec"),
                 namespace)
            cached = _own_facts = (state, json.loads(namespace["result"]))
            _readings += 1
    return json.loads(json.dumps(cached[1]))  # a copy: callers may change theirs


def _interpreter_facts(interpreter: str) -> dict[str, Any]:
    """Python version and installed distributions of the interpreter that ran the kernel."""
    if _is_own(interpreter):
        return _own_interpreter_facts()
    completed = subprocess.run(
        [interpreter, "-c", _INSPECT_SNIPPET], capture_output=True, text=True, timeout=120,
        check=True,
    )
    return json.loads(completed.stdout)


def warm_facts(kernel_name: str) -> None:
    """Read the kernel's interpreter facts on a background thread, while a notebook runs.

    The comparison after the run then finds them ready instead of adding their reading to
    every verification's critical path. Only this interpreter's facts are kept (another
    interpreter is asked afresh each time, so warming it would be wasted)."""

    def read() -> None:
        with contextlib.suppress(Exception):  # the comparison itself reports what fails
            interpreter = _kernel_interpreter(kernel_name)
            if interpreter is not None and _is_own(interpreter):
                _own_interpreter_facts()

    threading.Thread(target=read, name="ecasrepro-environment-facts", daemon=True).start()


def _kernel_interpreter(kernel_name: str) -> str | None:
    """The python a kernelspec launches (jupyter_client maps bare ``python`` to ours)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return None
    if spec.language.lower() != "python" or not spec.argv:
        return None
    first = spec.argv[0]
    major, minor = sys.version_info[:2]
    if first in {"python", f"python{major}", f"python{major}.{minor}"}:
        return sys.executable
    return shutil.which(first) or first


def _find_python_version(platform_facts: Any) -> str | None:
    if isinstance(platform_facts, dict):
        for key in ("python_version", "python"):
            value = platform_facts.get(key)
            if isinstance(value, str) and re.match(r"^\d+\.\d+", value):
                return value.split()[0]
            if isinstance(value, dict):
                found = _find_python_version(value)
                if found:
                    return found
        version = platform_facts.get("version")
        if isinstance(version, str) and re.match(r"^\d+\.\d+\.\d+", version):
            return version.split()[0]
    return None


def environment_differences(
    requirements: Path | None, platform_file: Path | None, kernel_name: str
) -> EnvironmentDifferences:
    """Compare the bundle's pins and platform with the kernel's interpreter (never fails)."""
    interpreter = _kernel_interpreter(kernel_name)
    result = EnvironmentDifferences(interpreter=interpreter or f"kernel {kernel_name}")
    if interpreter is None:
        result.note = f"kernel {kernel_name} is not a Python kernel; packages not compared"
        return result
    try:
        facts = _interpreter_facts(interpreter)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        result.note = f"could not inspect {interpreter}: {type(exc).__name__}"
        return result
    result.python_running = facts.get("python")
    platform: dict[str, Any] = {}
    if platform_file is not None and platform_file.is_file():
        try:
            platform = json.loads(platform_file.read_text(encoding="utf-8"))
        except ValueError:
            result.note = f"{platform_file.name} is not valid JSON"
        result.python_captured = _find_python_version(platform)
        for key in ("system", "machine"):
            captured_value = None
            if isinstance(platform, dict):
                nested = platform.get("os")
                captured_value = platform.get(key) or (
                    nested.get(key) if isinstance(nested, dict) else None
                )
            if isinstance(captured_value, str) and captured_value != facts.get(key):
                result.platform[key] = {"captured": captured_value, "running": facts.get(key)}
    if requirements is not None and requirements.is_file():
        pins, result.unpinned = read_pins(requirements)
        installed = {_canonical(k): v for k, v in facts.get("distributions", {}).items()}
        for name, version in sorted(pins.items()):
            running = installed.get(name)
            if running is None:
                result.missing.append(f"{name}=={version}")
            elif running != version:
                result.different.append(PackageDifference(name, version, running))
        result.extra = len(set(installed) - set(pins))
    elif not result.note:
        result.note = "the bundle has no environment/requirements.txt; packages not compared"
    return result
