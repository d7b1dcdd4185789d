"""Packaging facts agree with each other: licence text, CITATION.cff, and a declared floor for
every third-party package the code imports (``make test-lowest`` then proves the floors)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

from ecasrepro.version import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: imported but deliberately not declared: present by construction where the code runs
#: (the magics load inside IPython) or optional with a fallback (Pillow, for PNG comparison).
UNDECLARED_OK = {"IPython", "PIL"}
#: import name -> distribution name, where they differ
DISTRIBUTION = {"git": "gitpython", "yaml": "pyyaml", "jupyter_client": "jupyter-client"}


def _requirement_name(spec: str) -> str:
    name = spec.split(";")[0]
    for stop in "<>=!~[ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def _declared() -> dict[str, str]:
    project = PYPROJECT["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += [s for s in extra if not s.startswith("ecasrepro")]
    return {_requirement_name(s): s for s in specs}


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "ecasrepro").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    stdlib = set(sys.stdlib_module_names) | {"tomllib", "__future__"}
    return {n for n in names if n not in stdlib and n != "ecasrepro"}


def test_every_imported_package_has_a_declared_floor() -> None:
    declared = _declared()
    for module in sorted(_third_party_imports() - UNDECLARED_OK):
        distribution = DISTRIBUTION.get(module, module).lower().replace("_", "-")
        assert distribution in declared, f"{module} is imported but not declared in pyproject"
        assert ">=" in declared[distribution] or "==" in declared[distribution], (
            f"{declared[distribution]} has no floor")


def test_urllib3_floor_covers_what_the_client_uses() -> None:
    """b2share/client.py passes Retry(backoff_max=...), new in urllib3 2.0, and caps Retry-After
    itself, so it must not rely on Retry(retry_after_max=...) (urllib3 2.6.3 and newer only)."""
    source = (ROOT / "ecasrepro" / "b2share" / "client.py").read_text(encoding="utf-8")
    assert "backoff_max=" in source
    assert "retry_after_max=" not in source
    spec = _declared()["urllib3"]
    floor = tuple(int(p) for p in spec.split(">=")[1].split(",")[0].split(";")[0].split("."))
    assert floor >= (2, 0)


def test_licence_file_is_the_apache_2_text_pyproject_declares() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "LICENSE" in PYPROJECT["project"]["license-files"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert " ".join(text.split()[:4]) == "Apache License Version 2.0,"
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text


def test_citation_cff_agrees_with_the_package() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert citation["type"] == "software" and citation["title"] == PYPROJECT["project"]["name"]
    assert citation["version"] == __version__
    assert citation["license"] == PYPROJECT["project"]["license"]
    assert citation["repository-code"] == PYPROJECT["project"]["urls"]["Source"]
    assert citation["authors"] and all("name" in a or "family-names" in a
                                       for a in citation["authors"])
    assert set(citation["keywords"]) <= set(PYPROJECT["project"]["keywords"])


def test_project_metadata_for_indexes() -> None:
    project = PYPROJECT["project"]
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(project["urls"])
    classifiers = project["classifiers"]
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    minimum = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the expression
