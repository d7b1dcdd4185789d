"""The ``ecasrepro.verification`` package itself: its public names, and its import layering.

Each module's docstring says what it may import ("May import: ...; never ..."); the test reads
every import statement (lazy ones inside functions too) and holds the module to that line, so
the docstrings stay true and the modules cannot form an import circle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import ecasrepro.verification as verification

PACKAGE = Path(verification.__file__).parent
FRONT_ENDS = {"ecasrepro.api", "ecasrepro.cli", "ecasrepro.magic"}

#: What ``from ecasrepro.verification import ...`` offered when it was a single module.
PUBLIC = {
    "COPY_LIMIT", "IGNORE_OUTPUT_TAGS", "PASSING_VERDICTS", "REPORT_NAME", "SKIP_EXECUTION_TAGS",
    "SKIP_TAG", "VOLATILE_RULES", "CellVerdict", "EnvironmentDifferences", "PackageDifference",
    "Tolerances", "Verdict", "VerificationReport", "compare_cell_outputs", "compare_image",
    "compare_text", "environment_differences", "image_difference", "image_size",
    "normalise_text", "raise_if_not_reproduced", "read_pins", "verify_bundle", "verify_notebook",
    "write_report",
}


def module_name(path: Path) -> str:
    return "ecasrepro.verification" + ("" if path.stem == "__init__" else f".{path.stem}")


def imported_modules(path: Path) -> set[str]:
    """Every ecasrepro module the file imports, wherever the import statement stands."""
    package = "ecasrepro.verification"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([package, *([base] if base else [])])
            if base == package:  # ``from ecasrepro.verification import compare`` names modules
                found.update(f"{package}.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return {name for name in found if name == "ecasrepro" or name.startswith("ecasrepro.")}


def declared_imports(path: Path) -> set[str]:
    """The modules listed after "May import:" (up to "; never") in the module's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    match = re.search(r"May import:(.*?);\s*never", doc, re.S)
    assert match, f"{path.name}: its docstring has no 'May import: ...; never ...' line"
    names = re.findall(r"ecasrepro(?:\.\w+)*|(?<![\w.])\.\w+", match.group(1))
    return {f"ecasrepro.verification{n}" if n.startswith(".") else n for n in names}


def test_public_names_are_exactly_those_of_the_old_module() -> None:
    assert set(verification.__all__) == PUBLIC
    assert len(verification.__all__) == len(PUBLIC)  # no name listed twice
    for name in PUBLIC:
        assert getattr(verification, name) is not None
    public_here = {n for n in vars(verification) if not n.startswith("_")}
    submodules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert public_here - submodules - {"annotations"} == PUBLIC
    # A submodule named like a public name would replace it on the package once imported.
    assert not submodules & PUBLIC


def test_each_module_imports_only_what_its_docstring_allows() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {p.stem for p in modules} >= {"__init__", "compare", "images", "report", "verify"}
    for path in modules:
        actual = imported_modules(path) - {module_name(path)}
        assert not actual & FRONT_ENDS, f"{path.name} imports a front end: {actual & FRONT_ENDS}"
        allowed = declared_imports(path)
        assert not allowed & FRONT_ENDS, path.name
        assert actual <= allowed, f"{path.name} imports {sorted(actual - allowed)} undeclared"


def test_the_modules_form_no_import_circle() -> None:
    graph = {
        module_name(path): {
            m for m in imported_modules(path)
            if m.startswith("ecasrepro.verification.") and m != module_name(path)
        }
        for path in PACKAGE.glob("*.py")
    }
    order: list[str] = []
    remaining = dict(graph)
    while remaining:
        ready = sorted(m for m, deps in remaining.items() if deps <= set(order))
        assert ready, f"import circle among {sorted(remaining)}"
        order.extend(ready)
        for m in ready:
            del remaining[m]
    # The layering the package docstring describes: types below comparisons below the run.
    position = {name.rsplit(".", 1)[-1]: i for i, name in enumerate(order)}
    assert position["normalise"] < position["report"] < position["images"] < position["compare"]
    assert position["report"] < position["execute"] < position["verify"]
    assert max(position.values()) == position["verification"]  # __init__ re-exports the rest


def test_import_ecasrepro_does_not_load_the_execution_machinery() -> None:
    code = (
        "import sys, ecasrepro, ecasrepro.cli; ecasrepro.verify; "
        "print(sorted(m for m in ('nbclient', 'nbformat', 'jupyter_client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, ecasrepro.verification; "
        "print(sorted(m for m in ('nbclient', 'nbformat', 'jupyter_client', 'ecasrepro.bundle',"
        " 'ecasrepro.api', 'ecasrepro.cli') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
