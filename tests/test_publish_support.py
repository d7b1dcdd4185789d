"""Shared helpers for the publishing tests (no tests here): bundles, a sandbox, API checks.

Bundles are written with the real bundle writer (``ecasrepro.bundle.write_bundle``) from small
in-memory content, so they are valid BagIt bags with the DESIGN layout without running
nbconvert; one end-to-end test elsewhere goes through ``ecasrepro.snapshot`` itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ECAS = "d2c6e694-0c0a-4884-ad15-ddf498008320"

FAST_ENV = {
    "ECASREPRO_HTTP_RETRIES": "5",
    "ECASREPRO_HTTP_BACKOFF": "0.05",
    "ECASREPRO_HTTP_BACKOFF_MAX": "0.5",
    "ECASREPRO_HTTP_TIMEOUT": "20",
}


def metadata(title: str = "Temperature anomaly", community: str = ECAS) -> dict[str, Any]:
    return {
        "titles": [{"title": title}],
        "creators": [{"creator_name": "Doe, Jane"}],
        "descriptions": [{"description": "A test bundle.", "description_type": "Abstract"}],
        "keywords": [{"keyword": "climate"}],
        "open_access": True,
        "community": community,
        "resource_types": [{"resource_type_general": "ComputationalNotebook"}],
        "related_identifiers": [{
            "related_identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
            "related_identifier_type": "Handle", "relation_type": "IsDerivedFrom"}],
    }


def make_bundle(
    where: Path,
    outputs: dict[str, bytes] | None = None,
    meta: dict[str, Any] | None = None,
    name: str = "analysis.repro",
) -> Any:
    """A real bundle (BagIt bag + RO-Crate) with the given files under data/outputs/."""
    from ecasrepro.bundle import Attachment, BundleContent, write_bundle
    from ecasrepro.capture.secrets import Redactor

    sources = where / "sources"
    attachments = []
    for relpath, data in (outputs or {}).items():
        source = sources / relpath
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        attachments.append(Attachment(source, relpath, len(data)))
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    content = BundleContent(
        title=(meta or metadata())["titles"][0]["title"],
        notebook_name="analysis.ipynb",
        notebook_json=json.dumps(notebook).encode(),
        notebook_html=b"<html><body>analysis</body></html>",
        metadata=meta or metadata(),
        requirements_txt="requests==2.34.2\n",
        platform={"python": "3.11"},
        git_state={"repository": False},
        attachments=attachments,
    )
    return write_bundle(content, where / name, Redactor([]), progress=False)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def local_md5s(bundle: Any) -> dict[str, str]:
    return {pf.relpath: md5(Path(pf.path).read_bytes()) for pf in bundle.payload_files()}


def drafts_of(url: str, token: str) -> list[dict[str, Any]]:
    """Every draft the user can see, straight from the API (not through our client)."""
    response = requests.get(url + "/api/records/", params={"drafts": 1, "size": 100},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return [h for h in response.json()["hits"]["hits"]
            if h.get("metadata", {}).get("publication_state", "draft") == "draft"]


def bucket_listing(url: str, token: str, draft_id: str) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    draft = requests.get(f"{url}/api/records/{draft_id}/draft", headers=headers, timeout=10)
    draft.raise_for_status()
    files = requests.get(draft.json()["links"]["files"], headers=headers, timeout=10)
    files.raise_for_status()
    return {item["key"]: item for item in files.json()["contents"]}


def assert_one_complete_draft(url: str, token: str, bundle: Any) -> str:
    """Exactly one draft exists and it holds every payload file with a matching md5."""
    drafts = drafts_of(url, token)
    assert len(drafts) == 1, [d["id"] for d in drafts]
    listing = bucket_listing(url, token, drafts[0]["id"])
    expected = local_md5s(bundle)
    assert {k: v["checksum"] for k, v in listing.items()} == {
        k: "md5:" + v for k, v in expected.items()}
    return str(drafts[0]["id"])


@pytest.fixture
def publish_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No user/site config leaks in; fast retries; a private schema cache."""
    env = {
        **FAST_ENV,
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "ECASREPRO_SITE_CONFIG": str(tmp_path / "no-site-config.toml"),
        "ECASREPRO_CACHE_DIR": str(tmp_path / "cache"),
    }
    for name in ("B2SHARE_URL", "B2SHARE_TOKEN", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY",
                 "ECASREPRO_TEST_HOOK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def server(tmp_path: Path, publish_env: dict[str, str]) -> Iterator[Any]:
    """A private sandbox per test (its own data dir), so faults/restarts stay local."""
    from ecasrepro.sandbox import SandboxServer

    with SandboxServer(tmp_path / "sandbox-data", seed=1) as sandbox:
        yield sandbox


@pytest.fixture
def token_file(tmp_path: Path, server: Any) -> Path:
    path = tmp_path / "token.txt"
    path.write_text(server.token + "\n")
    path.chmod(0o600)
    return path


def cli_env(server: Any, token_file: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"B2SHARE_URL": server.url, "B2SHARE_TOKEN_FILE": str(token_file)})
    env.update(extra)
    return env
