"""The house rules of the layout, read from the code's own imports (CONTRIBUTING.md's map).

Engines never import the library API or a front end; only ``b2share/`` knows the dialect
implementations; the dialect interface imports none of them. A rule broken here is an arrow
running back up the house.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ecasrepro.b2share import registry
from ecasrepro.errors import ConfigurationError

PACKAGE = Path(__file__).resolve().parents[1] / "ecasrepro"
FRONT_ENDS = {"ecasrepro.cli", "ecasrepro.magic", "ecasrepro.compat"}
UPPER = FRONT_ENDS | {"ecasrepro.api"}
IMPLEMENTATIONS = {"ecasrepro.b2share.v2", "ecasrepro.b2share.v3"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ``ecasrepro`` module a file imports, at any depth (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "ecasrepro"}


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
ENGINES = sorted(name for name in MODULES
                 if name not in UPPER | {"ecasrepro"} and not name.startswith("ecasrepro.sandbox"))


def test_the_walk_sees_known_imports() -> None:
    # guards the rules below from passing because the AST walk found nothing
    assert "ecasrepro.archival" in imports_of(MODULES["ecasrepro.api"])
    assert "ecasrepro.b2share.registry" in imports_of(MODULES["ecasrepro.b2share.v2"])
    assert len(ENGINES) > 20


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_never_import_the_api_or_a_front_end(engine: str) -> None:
    upward = sorted(name for name in imports_of(MODULES[engine])
                    if any(name == up or name.startswith(up + ".") for up in UPPER))
    assert not upward, f"{engine} imports {upward}; pass what it needs in from ecasrepro.api"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_b2share_imports_a_dialect_implementation(name: str) -> None:
    if name == "ecasrepro.b2share" or name.startswith("ecasrepro.b2share."):
        return
    direct = sorted(imports_of(MODULES[name]) & IMPLEMENTATIONS)
    assert not direct, f"{name} imports {direct}; go through ecasrepro.b2share.registry"


def test_the_dialect_interface_imports_no_implementation() -> None:
    code = ("import sys, ecasrepro.b2share.dialect, ecasrepro.b2share.publisher; "
            "print(sorted(m for m in sys.modules if m in "
            "('ecasrepro.b2share.v2', 'ecasrepro.b2share.v3')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
    assert not imports_of(MODULES["ecasrepro.b2share.dialect"]) & (
        IMPLEMENTATIONS | {"ecasrepro.b2share.publisher", "ecasrepro.b2share.registry"})


def test_the_registry_knows_the_builtin_dialects_and_refuses_others() -> None:
    assert registry.dialect_names() == ("v2", "v3")
    with pytest.raises(ConfigurationError, match=r"'v9' is not a B2SHARE API .* v2, v3"):
        registry.dialect_for("v9", session=None)  # type: ignore[arg-type]


def test_a_registered_dialect_is_built_by_name() -> None:
    built: list[object] = []

    class Probe:
        def __init__(self, session: object) -> None:
            built.append(session)

    registry.register("probe-dialect", Probe)  # type: ignore[arg-type]
    try:
        assert isinstance(registry.dialect_for("probe-dialect", "session"), Probe)  # type: ignore[arg-type]
        assert built == ["session"]
        assert "probe-dialect" in registry.dialect_names()
    finally:
        registry._factories.pop("probe-dialect")
