"""Environment capture: pins match pip, direct_url.json installs, conda-meta, platform facts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ecasrepro.capture.environment import (
    EnvironmentSnapshot,
    canonical_name,
    capture_environment,
)
from ecasrepro.urls import strip_credentials


@pytest.fixture(scope="module")
def snapshot() -> EnvironmentSnapshot:
    return capture_environment()


def test_pins_match_pip_freeze_all(snapshot: EnvironmentSnapshot) -> None:
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
        check=True,
    ).stdout
    pinned = {
        (canonical_name(m[1]), m[2])
        for m in re.finditer(r"^([A-Za-z0-9._-]+)==(\S+)$", freeze, re.MULTILINE)
    }
    ours = {(d.key, d.version) for d in snapshot.distributions}
    assert pinned <= ours
    # pip writes editable installs as "-e ..." lines; everything else has the same pin
    assert {name for name, _ in ours - pinned} == {
        canonical_name(d.name) for d in snapshot.distributions if d.requirement.startswith("#")
    }


def test_requirements_txt_is_sorted_and_parseable(snapshot: EnvironmentSnapshot) -> None:
    lines = snapshot.requirements_txt.splitlines()
    assert lines[0].startswith("# ") and "Python " in lines[1]
    body = lines[2:]
    names = [re.split(r"[ =#]", line.lstrip("# "))[0] for line in body]
    assert names == sorted(names, key=lambda n: (n.lower(), n))
    for line in body:
        if not line.startswith("#"):
            requirement = Requirement(line)
            assert requirement.specifier or requirement.url
    assert any(line.startswith("pip==") for line in body)


def _fake_dist(site: Path, name: str, version: str, direct_url: dict | None) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_direct_url_installs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _fake_dist(site, "vcs_pkg", "1.2.3", {
        "url": "https://alice:ghp_secret123456@github.com/org/vcs-pkg.git",
        "vcs_info": {"vcs": "git", "commit_id": "0123456789abcdef0123456789abcdef01234567",
                     "requested_revision": "main"},
        "subdirectory": "python",
    })
    _fake_dist(site, "ssh_pkg", "0.1", {
        "url": "ssh://git@gitlab.example.org/g/ssh-pkg.git",
        "vcs_info": {"vcs": "git", "commit_id": "fedcba9876543210fedcba9876543210fedcba98"},
    })
    _fake_dist(site, "local_edit", "2.0", {"url": "file:///home/someone/src/local-edit",
                                           "dir_info": {"editable": True}})
    _fake_dist(site, "remote_zip", "3.0", {"url": "https://files.example.org/remote_zip-3.0.zip",
                                           "archive_info": {"hashes": {"sha256": "ab" * 32}}})
    _fake_dist(site, "plain", "4.0.post1", None)
    (site / "Legacy-Name.dist-info").mkdir()  # not name-version: METADATA headers are read
    (site / "Legacy-Name.dist-info" / "METADATA").write_text("Name: Legacy-Name\nVersion: 5\n\n")
    _fake_dist(tmp_path / "later", "plain", "9.9", None)  # shadowed: first on the path wins

    snap = capture_environment(path=[str(site), str(tmp_path / "later")], prefix=str(tmp_path))
    got = {d.name: d for d in snap.distributions}
    assert got["vcs_pkg"].requirement == (
        "vcs_pkg @ git+https://github.com/org/vcs-pkg.git"
        "@0123456789abcdef0123456789abcdef01234567#subdirectory=python"
    )
    assert got["ssh_pkg"].requirement == (
        "ssh_pkg @ git+ssh://git@gitlab.example.org/g/ssh-pkg.git"
        "@fedcba9876543210fedcba9876543210fedcba98"
    )
    assert got["remote_zip"].requirement == (
        f"remote_zip @ https://files.example.org/remote_zip-3.0.zip#sha256={'ab' * 32}"
    )
    assert got["plain"].requirement == "plain==4.0.post1"
    assert got["Legacy-Name"].version == "5"
    assert got["local_edit"].requirement.startswith("# local_edit==2.0")
    assert any("local_edit==2.0 is an editable install" in w for w in snap.warnings)
    text = snap.requirements_txt
    assert "ghp_secret123456" not in text and "/home/someone" not in text
    for line in text.splitlines()[2:]:
        if not line.startswith("#"):
            Requirement(line)
    assert snap.conda_environment_yml is None


def test_conda_meta_becomes_environment_yml(tmp_path: Path) -> None:
    prefix = tmp_path / "envs" / "climate"
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True)
    records = [
        {"name": "python", "version": "3.11.7", "build": "hab00c5b_1_cpython",
         "channel": "https://conda.anaconda.org/conda-forge/linux-64"},
        {"name": "numpy", "version": "1.26.4", "build": "py311h64a7726_0",
         "channel": "https://conda.anaconda.org/conda-forge/linux-64"},
        {"name": "private", "version": "0.1", "build": "0",
         "channel": "https://conda.anaconda.org/t/tk-SECRET-123/acme/noarch"},
        {"name": "internal", "version": "2", "build": "h1",
         "channel": "https://bob:pw9876543@conda.example.org/channel/linux-64"},
    ]
    for record in records:
        (meta / f"{record['name']}-{record['version']}-{record['build']}.json").write_text(
            json.dumps(record))
    (meta / "history").write_text("not json")
    site = tmp_path / "site"
    _fake_dist(site, "numpy", "1.26.4", None)
    (site / "numpy-1.26.4.dist-info" / "INSTALLER").write_text("conda\n")
    _fake_dist(site, "pip_only", "1.0", None)
    snap = capture_environment(path=[str(site)], prefix=str(prefix))
    yml = snap.conda_environment_yml
    assert yml is not None
    assert "name: climate" in yml
    assert "  - conda-forge\n" in yml
    assert "  - https://conda.example.org/channel\n" in yml
    assert "  - python=3.11.7=hab00c5b_1_cpython\n" in yml
    assert "  - numpy=1.26.4=py311h64a7726_0\n" in yml
    assert "  - pip:\n    - pip_only==1.0\n" in yml
    assert "numpy==" not in yml
    assert "tk-SECRET-123" not in yml and "pw9876543" not in yml


def test_platform_facts(snapshot: EnvironmentSnapshot) -> None:
    facts = snapshot.platform
    assert facts["python"]["version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert "/" not in facts["python"]["executable"]
    assert facts["cpu_count"] >= 1
    assert isinstance(facts["environment"], dict)
    assert json.loads(json.dumps(facts)) == facts


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://u:p@host/x.git", "https://host/x.git"),
        ("https://token123@host/x", "https://host/x"),
        ("ssh://git@host/x.git", "ssh://git@host/x.git"),
        ("https://host/x", "https://host/x"),
    ],
)
def test_strip_url_credentials(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean
