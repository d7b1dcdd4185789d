"""The bundle's RO-Crate passes the validators people use: roc-validator (RO-Crate 1.1 and the
Process Run Crate profile it declares, REQUIRED level) and ro-crate-py, offline.

roc-validator fetches the JSON-LD context through its HTTP cache (requests-cache, SQLite); the
tests seed a private cache with the context documents shipped under ``tests/fixtures/jsonld``
and run the validator in its offline mode, so nothing is fetched from the network.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

import ecasrepro
from ecasrepro.metadata import opening_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "jsonld"
#: remote JSON-LD documents the validator resolves -> shipped copy (see fixtures/README.md)
CONTEXTS = {"https://w3id.org/ro/crate/1.1/context": FIXTURES / "ro-crate-1.1-context.jsonld"}
PROFILE = "process-run-crate-0.5"


@pytest.fixture(scope="module")
def context_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A requests-cache database holding the shipped contexts, as the validator's cache."""
    import requests
    import urllib3
    from requests_cache import CachedSession

    path = tmp_path_factory.mktemp("roc-cache") / "http_cache"
    session = CachedSession(cache_name=str(path), backend="sqlite", expire_after=-1)
    for url, document in CONTEXTS.items():
        body = document.read_bytes()
        headers = {"Content-Type": "application/ld+json"}
        response = requests.Response()
        response.status_code, response.reason, response.url = 200, "OK", url
        response._content = body
        response.headers.update(headers)
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, status=200,
                                            preload_content=False, request_url=url)
        response.request = requests.Request("GET", url).prepare()
        session.cache.save_response(response)
    session.close()
    return path


def validate_offline(crate: Path, cache: Path) -> list[tuple[str, str, str]]:
    """roc-validator's issues (severity, check id, message) at REQUIRED level, offline."""
    from rocrate_validator import models, services

    settings = models.ValidationSettings(
        rocrate_uri=str(crate), profile_identifier=PROFILE,
        requirement_severity=models.Severity.REQUIRED, offline=True, cache_path=cache,
        skip_availability_check=True,
    )
    result = services.validate(settings)
    issues = [(i.severity.name, i.check.identifier, i.message) for i in result.get_issues()]
    assert result.passed() == (not issues)
    return issues


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", root)
    shutil.copytree(EXAMPLES / "outputs", root / "outputs")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    return root


def crate_of(bundle: Any) -> dict[str, Any]:
    crate = json.loads((bundle.path / "data" / "ro-crate-metadata.json").read_text())
    return {entity["@id"]: entity for entity in crate["@graph"]}


def test_example_crate_passes_roc_validator_and_ro_crate_py(project: Path,
                                                           context_cache: Path) -> None:
    bundle = ecasrepro.snapshot(
        project / "temperature_anomaly.ipynb", attach=[project / "outputs"],
        metadata=EXAMPLES / "metadata.json", inputs=["doi:10.5281/zenodo.1234"],
    )
    assert validate_offline(bundle.path, context_cache) == []

    from rocrate.rocrate import ROCrate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crate = ROCrate(bundle.path / "data")
    assert [str(w.message) for w in caught] == []
    root = crate.root_dataset
    # The example metadata states CC-BY-4.0.
    assert root["license"].id == "https://creativecommons.org/licenses/by/4.0/"
    assert root["description"].startswith("Annual temperature anomaly and trend. Station annual")
    parts = {e.id.rstrip("/") for e in root["hasPart"]}  # ro-crate-py ends Dataset ids in "/"
    assert "https://doi.org/10.5281/zenodo.1234" in parts


def test_the_offline_validator_does_catch_a_broken_crate(project: Path,
                                                         context_cache: Path) -> None:
    """The check above could fail: the same validator refuses a crate without its licence."""
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb", license="CC-BY-4.0")
    path = bundle.path / "data" / "ro-crate-metadata.json"
    crate = json.loads(path.read_text())
    for entity in crate["@graph"]:
        if entity["@id"] == "./":
            del entity["license"]
        elif entity["@type"] == "File":
            entity["md5"] = "0" * 32  # a key no context defines
    path.write_text(json.dumps(crate))
    checks = {check for _, check, _ in validate_offline(bundle.path, context_cache)}
    assert {"ro-crate-1.1_8.3", "ro-crate-1.1_3.1"} <= checks


def test_licence_from_flag_then_metadata_then_config_and_never_invented(
    project: Path, tmp_path: Path, context_cache: Path
) -> None:
    notebook = project / "temperature_anomaly.ipynb"
    bare = ecasrepro.snapshot(notebook, output=tmp_path / "bare.repro")
    assert "license" not in bare.metadata
    assert crate_of(bare)["#no-license-stated"]["name"] == "No licence stated"
    # The honest statement is still a licence the validator accepts, not a gap it reports.
    assert validate_offline(bare.path, context_cache) == []
    assert any("no licence was stated" in w and "--license" in w for w in bare.warnings)

    config = tmp_path / "xdg" / "ecasrepro" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[snapshot]\nlicense = "CC-BY-4.0"\n')
    configured = ecasrepro.snapshot(notebook, output=tmp_path / "conf.repro")
    assert configured.metadata["license"] == {"license": "CC-BY-4.0"}
    graph = crate_of(configured)
    assert graph["./"]["license"] == {"@id": "#license"}
    assert graph["#license"]["name"] == "CC-BY-4.0"
    assert not any("licence" in w for w in configured.warnings)

    user = {"license": {"license": "ODbL-1.0",
                        "license_uri": "https://opendatacommons.org/licenses/odbl/1-0/"}}
    from_file = ecasrepro.snapshot(notebook, metadata=user, output=tmp_path / "file.repro")
    graph = crate_of(from_file)
    assert graph["./"]["license"] == {"@id": "https://opendatacommons.org/licenses/odbl/1-0/"}

    flagged = ecasrepro.snapshot(notebook, metadata=user, output=tmp_path / "flag.repro",
                                 license="https://creativecommons.org/licenses/by/4.0/")
    assert flagged.metadata["license"]["license_uri"] == (
        "https://creativecommons.org/licenses/by/4.0/"
    )


def test_cli_license_option_and_an_empty_one_is_one_sentence(project: Path) -> None:
    from click.testing import CliRunner

    from ecasrepro.cli import main

    notebook = str(project / "temperature_anomaly.ipynb")
    ok = CliRunner().invoke(main, ["snapshot", notebook, "--license", "MIT", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((project / "temperature_anomaly.repro" / "data" / "metadata.json")
                      .read_text())["license"] == {"license": "MIT"}
    bad = CliRunner().invoke(main, ["snapshot", notebook, "--license", " ", "--force"])
    assert bad.exit_code == 2
    assert "--license is empty" in bad.output and "Traceback" not in bad.output


def test_description_is_the_users_else_the_notebooks_opening_text(project: Path,
                                                                 tmp_path: Path) -> None:
    notebook = project / "temperature_anomaly.ipynb"
    given = ecasrepro.snapshot(notebook, description="My own words.",
                               output=tmp_path / "given.repro")
    assert crate_of(given)["./"]["description"] == "My own words."
    from_metadata = ecasrepro.snapshot(
        notebook, output=tmp_path / "meta.repro",
        metadata={"descriptions": [{"description": "From the file.",
                                    "description_type": "Abstract"}]},
    )
    assert crate_of(from_metadata)["./"]["description"] == "From the file."
    derived = crate_of(ecasrepro.snapshot(notebook, output=tmp_path / "nb.repro"))
    assert "#" not in derived["./"]["description"]
    assert derived["./"]["description"].endswith("(`metadata.ecasrepro.inputs`).")


def test_opening_text_drops_heading_markup_and_shortens_at_a_sentence() -> None:
    cells = [
        {"cell_type": "code", "source": "print(1)"},
        {"cell_type": "markdown", "source": ["## Results ##\n", "\n", "First sentence. " * 40]},
    ]
    text = opening_text(cells, limit=100)
    assert text is not None
    assert text.startswith("Results. First sentence.")
    assert len(text) <= 100 and text.endswith(".")
    assert opening_text([{"cell_type": "markdown", "source": "Title\n=====\nBody"}]) == (
        "Title. Body"
    )
    assert opening_text([{"cell_type": "markdown", "source": "word " * 100}], limit=50) == (
        "word " * 10
    ).strip() + "…"
    assert opening_text([{"cell_type": "code", "source": "# not markdown"}]) is None
