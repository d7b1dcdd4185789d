"""Every module's opening docstring says what it may import, and the code is held to it.

The line has one checkable form, ``May import: <ecasrepro modules or packages>; never <what it
must not import>.`` (a package allows its submodules; ``.name`` is relative to the module's own
package and is allowed only inside a sub-package). The test reads every import statement of the
file -- at any depth, lazy ones in functions and ``TYPE_CHECKING`` blocks too -- plus the module
names a file hands to ``importlib.import_module``, and holds the module to both halves of its
line and to the layering of CONTRIBUTING.md's architecture table. A failure names the file, the
import and its line, so the fix is one edit. ``ecasrepro/verification/`` has its own, stricter
test (tests/test_verify_package.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import ecasrepro

PACKAGE = Path(ecasrepro.__file__).parent
SOURCE_ROOT = PACKAGE.parent
#: the front ends (and the compat shim): no engine may import or declare them
FRONT_ENDS = ("ecasrepro.api", "ecasrepro.cli", "ecasrepro.magic", "ecasrepro.compat")
#: modules that are not engines: the front ends and the package's lazy front door
NOT_ENGINES = {*FRONT_ENDS, "ecasrepro"}
#: what the sandbox must never import besides the front ends (CONTRIBUTING.md)
SANDBOX_NEVER = ("ecasrepro.b2share",)
FRONT_DOOR = (
    " (the package's front door, which exports the API lazily: import the name from the module"
    " that defines it)"
)

NAME = r"(?<![\w.])(?:ecasrepro(?:\.\w+)*|\.+\w+(?:\.\w+)*)"


def module_files() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] != "verification" and "__pycache__" not in p.parts
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def is_module(name: str) -> bool:
    """``name`` is a module or a package of ecasrepro (looked up on disk, nothing imported)."""
    if not (name == "ecasrepro" or name.startswith("ecasrepro.")):
        return False
    base = SOURCE_ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def covers(declared: str, name: str) -> bool:
    """A declared package allows its submodules; bare ``ecasrepro`` is the front door only."""
    return name == declared or (declared != "ecasrepro" and name.startswith(declared + "."))


def forbids(never: str, name: str) -> bool:
    return name == never or name.startswith(never + ".") or never == "ecasrepro"


def imported_modules(path: Path) -> dict[str, int]:
    """Each ecasrepro module the file imports, with the line of its first import.

    ``from x import y`` counts as ``x.y`` when that is a module and as ``x`` when ``y`` is a name
    defined in ``x`` (importing ``x.y`` loads ``x`` anyway, as ``import x.y`` does).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = package_of(path).split(".")
    found: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        if name == "ecasrepro" or name.startswith("ecasrepro."):
            found.setdefault(name, line)

    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if alias.name != "*" and is_module(sub) else base, node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            dynamic = dynamic or called in {"import_module", "__import__"}
    if dynamic:  # the names it imports by name: every string that is one of our modules
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and is_module(
                node.value
            ):
                add(node.value, node.lineno)
    found.pop(module_name(path), None)
    return found


def resolve(name: str, path: Path) -> str:
    if not name.startswith("."):
        return name
    package = package_of(path)
    if package == "ecasrepro":
        raise ValueError(f"relative name {name!r} outside a sub-package (write the full name)")
    dots = len(name) - len(name.lstrip("."))
    parts = package.split(".")
    return ".".join([*parts[: len(parts) - dots + 1], name.lstrip(".")])


def require(condition: object, message: str) -> None:
    if not condition:
        pytest.fail(message, pytrace=False)


def declaration(path: Path) -> tuple[set[str], set[str]]:
    """The names after "May import:" (up to "; never") and those after "never", resolved."""
    where = path.relative_to(SOURCE_ROOT)
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    require(doc, f"{where}: no opening docstring (it says the module's job and what it imports)")
    assert doc
    lines = re.findall(r"May import:(.*?);\s*never\b(.*?)\.(?=\s|$)", doc, re.S)
    require(
        len(lines) == 1 and doc.count("May import:") == 1,
        f"{where}: its docstring needs exactly one line of the form "
        "'May import: <ecasrepro modules>; never <what it must not import>.'",
    )
    allowed_text, never_text = lines[0]
    try:
        allowed = {resolve(n, path) for n in re.findall(NAME, allowed_text)}
        never = {resolve(n, path) for n in re.findall(NAME, never_text)}
    except ValueError as exc:
        pytest.fail(f"{where}: its 'May import:' line has a {exc}", pytrace=False)
    unknown = sorted(n for n in allowed | never if not is_module(n))
    require(not unknown, f"{where}: its 'May import:' line names {unknown}, not ecasrepro modules")
    both = sorted(a for a in allowed if any(forbids(n, a) for n in never))
    require(not both, f"{where}: its 'May import:' line both allows and forbids {both}")
    return allowed, never


MODULES = module_files()
IDS = [str(p.relative_to(SOURCE_ROOT)) for p in MODULES]


def test_every_module_but_verification_is_checked() -> None:
    names = {module_name(p) for p in MODULES}
    assert {
        "ecasrepro", "ecasrepro.api", "ecasrepro.cli", "ecasrepro.bundle", "ecasrepro.capture",
        "ecasrepro.capture.secrets", "ecasrepro.b2share.publisher", "ecasrepro.sandbox.v3.records",
    } <= names
    assert not any(n.startswith("ecasrepro.verification") for n in names)
    assert len(names) == len(list(PACKAGE.rglob("*.py"))) - len(
        list((PACKAGE / "verification").rglob("*.py"))
    )


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_imports_are_exactly_within_the_docstring(path: Path) -> None:
    where = path.relative_to(SOURCE_ROOT)
    allowed, never = declaration(path)
    problems = []
    for name, line in sorted(imported_modules(path).items()):
        if any(forbids(n, name) for n in never):
            problems.append(
                f"{where} imports {name} (line {line}), which its docstring's 'never' forbids "
                "(CONTRIBUTING.md, Architecture): remove the import or move that code to a "
                "module that may import it"
            )
        elif not any(covers(a, name) for a in allowed):
            problems.append(
                f"{where} imports {name}{FRONT_DOOR if name == 'ecasrepro' else ''} (line {line})"
                " but its docstring's 'May import:' line "
                f"does not list it: add {name} there if CONTRIBUTING.md's architecture table "
                "allows that import, otherwise remove the import"
            )
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_no_engine_imports_or_declares_a_front_end(path: Path) -> None:
    where = path.relative_to(SOURCE_ROOT)
    name = module_name(path)
    if name in NOT_ENGINES:
        return
    allowed, _ = declaration(path)
    banned = (*FRONT_ENDS, "ecasrepro")
    if name.startswith("ecasrepro.sandbox"):
        banned += SANDBOX_NEVER
    problems = [
        f"{where} imports {imported} (line {line}): an engine never imports {imported}"
        f"{FRONT_DOOR if imported == 'ecasrepro' else ''} (CONTRIBUTING.md, Architecture); "
        "move that code up into the caller"
        for imported, line in sorted(imported_modules(path).items())
        if any(forbids(b, imported) if b != "ecasrepro" else imported == b for b in banned)
    ]
    problems += [
        f"{where}: its 'May import:' line lists {a}, which an engine never imports"
        for a in sorted(allowed)
        if any(forbids(b, a) if b != "ecasrepro" else a == b for b in banned)
    ]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_the_parser_reads_what_the_docstrings_mean() -> None:
    """The checks above could fail: an undeclared, a forbidden and a relative import are seen."""
    records = PACKAGE / "sandbox" / "v3" / "records.py"
    found = imported_modules(records)
    assert {"ecasrepro.sandbox.v3.store", "ecasrepro.sandbox.v3.errors"} <= set(found)
    allowed, never = declaration(records)
    assert {"ecasrepro.sandbox.v3.store", "ecasrepro.sandbox.v3.errors"} <= allowed  # ".store"
    assert {"ecasrepro.api", "ecasrepro.b2share"} <= never
    registry = imported_modules(PACKAGE / "b2share" / "registry.py")
    assert {"ecasrepro.b2share.v2", "ecasrepro.b2share.v3"} <= set(registry)  # by name
    front_door = imported_modules(PACKAGE / "__init__.py")
    assert {"ecasrepro.api", "ecasrepro.magic", "ecasrepro.version"} <= set(front_door)
    assert covers("ecasrepro.capture", "ecasrepro.capture.secrets")
    assert not covers("ecasrepro", "ecasrepro.api")
    assert not covers("ecasrepro.capture", "ecasrepro.capturex")
