"""Publishing to the B2SHARE v3 sandbox over real HTTP: draft, files, review, resume, versions."""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import ecasrepro
from ecasrepro.b2share.client import B2ShareSession
from ecasrepro.b2share.registry import detect_dialect, forget_detected
from ecasrepro.config import resolve_config
from ecasrepro.errors import ExitCode, MetadataInvalid
from tests.test_publish_support import (  # noqa: F401 - fixtures
    local_md5s,
    make_bundle,
    metadata,
    publish_env,
)

ECAS_V3 = "ecas"
CLI = [sys.executable, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]


@pytest.fixture
def v3(tmp_path: Path, publish_env: dict[str, str]) -> Iterator[Any]:
    """A private v3 sandbox per test."""
    from ecasrepro.sandbox import SandboxServer

    forget_detected()
    with SandboxServer(tmp_path / "sandbox-v3", api="v3", seed=1) as sandbox:
        yield sandbox
    forget_detected()


def auth(server: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def _get(server: Any, url: str, **params: Any) -> requests.Response:
    """A read by the test itself; it waits out the sandbox's injected 503s like a client would."""
    for _ in range(20):
        response = requests.get(url, params=params, headers=auth(server), timeout=10)
        if response.status_code != 503:
            break
    response.raise_for_status()
    return response


def user_drafts(server: Any) -> list[dict[str, Any]]:
    response = _get(server, server.url + "/api/user/records", is_published="false", size=100)
    return [h for h in response.json()["hits"]["hits"] if not h.get("is_published")]


def draft_files(server: Any, draft_id: str) -> dict[str, dict[str, Any]]:
    response = _get(server, f"{server.url}/api/records/{draft_id}/draft/files")
    return {e["key"]: e for e in response.json()["entries"]}


def assert_one_complete_draft(server: Any, bundle: Any) -> str:
    drafts = user_drafts(server)
    assert len(drafts) == 1, [d["id"] for d in drafts]
    listing = draft_files(server, drafts[0]["id"])
    assert {k: (v["status"], v.get("checksum")) for k, v in listing.items()} == {
        k: ("completed", "md5:" + v) for k, v in local_md5s(bundle).items()}
    return str(drafts[0]["id"])


def publish(bundle: Any, server: Any, **options: Any) -> Any:
    options.setdefault("community", ECAS_V3)
    return ecasrepro.publish(bundle, server=server.url, token=server.token, progress=False,
                             **options)


def cli(args: list[str], server: Any, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    token = tmp_path / "token.txt"
    token.write_text(server.token)
    token.chmod(0o600)
    full = {**__import__("os").environ, "B2SHARE_URL": server.url,
            "B2SHARE_TOKEN_FILE": str(token), **env}
    return subprocess.run([*CLI, *args], env=full, capture_output=True, text=True, timeout=120)


def test_dialect_is_detected_from_either_sandbox(tmp_path: Path, v3: Any) -> None:
    from ecasrepro.sandbox import SandboxServer

    with SandboxServer(tmp_path / "sandbox-v2") as v2:
        for server, expected in ((v2, "v2"), (v3, "v3")):
            config = resolve_config(server=server.url, environ={})
            with B2ShareSession(config) as session:
                assert detect_dialect(session) == expected


def test_publish_makes_one_verified_draft_in_the_community(tmp_path: Path, v3: Any) -> None:
    bundle = make_bundle(tmp_path, {"anomaly.csv": b"year,anomaly\n2020,1.2\n",
                                    "sub dir/plot.png": b"\x89PNG" + bytes(range(256)) * 40})
    record = publish(bundle, v3)  # dialect detected, not configured
    draft_id = assert_one_complete_draft(v3, bundle)
    assert record.id == draft_id and record.state == "draft"
    assert record.url == f"{v3.url}/api/records/{draft_id}/draft"
    assert {f.key: f.checksum for f in record.files} == {
        k: "md5:" + v for k, v in local_md5s(bundle).items()}
    assert sorted(record.uploaded) == sorted(local_md5s(bundle))

    draft = requests.get(record.url, headers=auth(v3), timeout=10).json()
    md = draft["metadata"]
    assert md["title"] == bundle.title
    assert md["creators"][0]["person_or_org"]["type"] in ("personal", "organizational")
    schemes = {r["scheme"] for r in md.get("related_identifiers", [])}
    assert schemes and schemes <= {"handle", "doi", "url"}
    assert {r["relation_type"]["id"] for r in md["related_identifiers"]} == {"isderivedfrom"}
    review = requests.get(record.url + "/review", headers=auth(v3), timeout=10).json()
    community = requests.get(f"{v3.url}/api/communities/{ECAS_V3}", timeout=10).json()
    assert review["receiver"] == {"community": community["id"]}
    assert review["status"] == "created"  # attached, not submitted: we stop at the draft

    receipt = json.loads((bundle.path / "receipt.json").read_text())
    assert receipt["dialect"] == "v3" and receipt["draft_id"] == draft_id
    assert {k: (v["md5"], v["status"]) for k, v in receipt["files"].items()} == {
        k: (m, "completed") for k, m in local_md5s(bundle).items()}
    assert v3.token not in json.dumps(receipt) + repr(record)

    again = publish(bundle, v3)
    assert again.id == draft_id and again.uploaded == [] and len(again.skipped) == len(
        record.uploaded)
    assert_one_complete_draft(v3, bundle)


def test_pending_file_left_by_an_interrupted_run_is_finished(tmp_path: Path, v3: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.bin": b"a" * 5000, "b.bin": b"b" * 7000})
    done = cli(["publish", str(bundle.path), "--community", ECAS_V3], v3, tmp_path,
               ECASREPRO_TEST_HOOK="kill-after-init")
    assert done.returncode == -9
    receipt = json.loads((bundle.path / "receipt.json").read_text())
    assert {v["status"] for v in receipt["files"].values()} == {"pending"}
    listing = draft_files(v3, receipt["draft_id"])
    assert {v["status"] for v in listing.values()} == {"pending"}
    # and one file got its bytes but no commit, as a dropped connection would leave it
    key = "outputs/a.bin"
    requests.put(f"{v3.url}/api/records/{receipt['draft_id']}/draft/files/{key}/content",
                 data=b"partial", headers={**auth(v3), "Content-Type": "application/octet-stream"},
                 timeout=10).raise_for_status()

    record = publish(bundle, v3)
    assert record.id == receipt["draft_id"]
    assert assert_one_complete_draft(v3, bundle) == record.id


@pytest.mark.parametrize("hook", ["kill-after-post", "kill-after-draft"])
def test_kill_after_draft_creation_then_rerun_keeps_one_draft(
    tmp_path: Path, v3: Any, hook: str
) -> None:
    bundle = make_bundle(tmp_path, {"x.txt": b"x" * 300})
    done = cli(["publish", str(bundle.path), "--community", ECAS_V3], v3, tmp_path,
               ECASREPRO_TEST_HOOK=hook)
    assert done.returncode == -9, done.stderr
    assert len(user_drafts(v3)) == 1
    done = cli(["publish", str(bundle.path), "--community", ECAS_V3, "--json"], v3, tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert assert_one_complete_draft(v3, bundle) == result["id"]


def test_submit_to_an_open_community_publishes(tmp_path: Path, v3: Any) -> None:
    bundle = make_bundle(tmp_path, {"r.csv": b"1,2\n"})
    record = publish(bundle, v3, submit=True)
    assert record.state == "published"
    assert record.url == f"{v3.url}/api/records/{record.id}"
    published = requests.get(record.url, timeout=10).json()
    assert published["is_published"] is True
    assert record.pids.get("DOI")
    receipt = json.loads((bundle.path / "receipt.json").read_text())
    assert receipt["state"] == "published" and receipt["request"]
    status = publish(bundle, v3, submit=True)  # re-run: reports, changes nothing
    assert status.state == "published" and status.id == record.id


def test_submit_to_a_curated_community_waits_for_review(tmp_path: Path, v3: Any) -> None:
    bundle = make_bundle(tmp_path, {"r.csv": b"1,2\n"})
    record = publish(bundle, v3, submit=True, community="ecas-review")
    assert record.state == "submitted"
    draft = requests.get(f"{v3.url}/api/records/{record.id}/draft", headers=auth(v3),
                         timeout=10).json()
    assert draft["status"] == "in_review"
    receipt = json.loads((bundle.path / "receipt.json").read_text())
    request = requests.get(receipt["request"], headers=auth(v3), timeout=10).json()
    assert request["status"] == "submitted"


def test_new_version_of_a_published_record(tmp_path: Path, v3: Any) -> None:
    first = make_bundle(tmp_path / "one", {"r.csv": b"1,2\n"})
    published = publish(first, v3, submit=True)
    second = make_bundle(tmp_path / "two", {"r.csv": b"1,2,3\n", "more.txt": b"more"})
    version = publish(second, v3, submit=True, new_version_of=published.id)
    assert version.id != published.id and version.state == "published"
    old = requests.get(f"{v3.url}/api/records/{published.id}", timeout=10).json()
    new = requests.get(f"{v3.url}/api/records/{version.id}", timeout=10).json()
    assert new["parent"]["id"] == old["parent"]["id"]
    assert {f.key for f in version.files} == set(local_md5s(second))
    assert new["metadata"]["publication_date"]


def test_dry_run_sends_no_writes(tmp_path: Path, v3: Any) -> None:
    bundle = make_bundle(tmp_path, {"r.csv": b"1,2\n"})
    record = publish(bundle, v3, dry_run=True, submit=True)
    assert record.dry_run and record.id is None and record.state == "planned"
    methods = [r.method for r in record.requests]
    assert methods[0] == "POST" and "PUT" in methods and methods.count("POST") >= 3
    assert user_drafts(v3) == []
    assert not (bundle.path / "receipt.json").exists()


def test_unknown_vocabulary_id_fails_before_any_write(tmp_path: Path, v3: Any) -> None:
    meta = metadata()
    meta["resource_types"] = [{"resource_type_general": "Spreadsheet"}]
    bundle = make_bundle(tmp_path, {"r.csv": b"1\n"}, meta=meta)
    with pytest.raises(MetadataInvalid, match=r"metadata\.resource_types\.\d+\.id"):
        publish(bundle, v3)
    done = cli(["publish", str(bundle.path), "--api", "v3", "--community", ECAS_V3], v3,
               tmp_path)
    assert done.returncode == ExitCode.BAD_INPUT
    assert "metadata.resource_types" in done.stderr and "Traceback" not in done.stderr
    assert user_drafts(v3) == []


def test_cli_json_output_has_the_v2_shape(tmp_path: Path, v3: Any) -> None:
    bundle = make_bundle(tmp_path, {"r.csv": b"1\n"})
    done = cli(["publish", str(bundle.path), "--community", ECAS_V3, "--json"], v3, tmp_path,
               B2SHARE_API="v3")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"id", "url", "html_url", "state", "bucket", "files", "pids", "server",
                           "community", "uploaded", "skipped", "warnings", "dry_run",
                           "requests", "receipt"}
    assert result["state"] == "draft"
    status = cli(["status", str(bundle.path), "--json"], v3, tmp_path)
    assert status.returncode == 0, status.stderr
    assert {f["state"] for f in json.loads(status.stdout)["files"]} == {"uploaded"}


def test_large_file_changed_after_the_snapshot_is_refused_before_any_write(
    tmp_path: Path, v3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trusted (not re-scanned) files are those whose stat is the snapshot's; others re-hashed."""
    from ecasrepro.b2share import publisher
    from ecasrepro.errors import BadInput, SecretFound

    monkeypatch.setattr(publisher, "TRUST_SNAPSHOT_MIN", 1000)  # "large" = over 1000 bytes
    leaked = b"x" * 3000 + b"\nexport B2SHARE_TOKEN=" + v3.token.encode() + b"\n"
    bundle = make_bundle(tmp_path, {"big.log": b"x" * len(leaked), "small.txt": b"fine"})
    (bundle.path / "data" / "outputs" / "big.log").write_bytes(leaked)  # edited after snapshot
    with pytest.raises(BadInput, match=r"outputs/big\.log changed after the snapshot"):
        publish(bundle, v3)
    assert user_drafts(v3) == []  # refused before any write: nothing was sent
    assert not (bundle.path / "receipt.json").exists()
    # a bundle without fixity data (made before it was recorded) is scanned as a whole
    (bundle.path / "ecasrepro-fixity.json").unlink()
    with pytest.raises(SecretFound, match=r"outputs/big\.log"):
        publish(bundle.path, v3)
    assert user_drafts(v3) == []


def test_dropped_uploads_and_503_bursts_end_in_one_complete_draft(
    tmp_path: Path, publish_env: dict[str, str]
) -> None:
    from ecasrepro.sandbox import SandboxServer

    forget_detected()
    faults = "error-503=0.2,retry-after=0,drop-upload-first=3@PUT/api/records"
    with SandboxServer(tmp_path / "faulty", api="v3", seed=7, faults=faults) as server:
        bundle = make_bundle(tmp_path, {f"f{i}.bin": bytes([i]) * (20000 + i) for i in range(6)})
        for _ in range(4):  # a run may give up (exit 4); re-running must finish the same draft
            try:
                record = publish(bundle, server)
                break
            except ecasrepro.errors.ServerUnreachable:
                continue
        else:
            pytest.fail("publishing never finished")
        assert assert_one_complete_draft(server, bundle) == record.id
    forget_detected()


def test_schema_on_a_v3_server_says_v3_has_no_community_schemas(tmp_path: Path, v3: Any) -> None:
    """Asking v2's schema URL of a v3 server used to end in a misleading 'not found' (exit 3)."""
    done = cli(["schema", "ecas"], v3, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "v3" in lines[0] and done.stdout == ""


def test_communities_lists_v3_communities_through_the_library(tmp_path: Path, v3: Any) -> None:
    from ecasrepro.b2share.publisher import list_communities
    from ecasrepro.config import resolve_config

    rows = list_communities(resolve_config(server=v3.url))
    assert {"id", "name", "publication_workflow", "restricted_submission"} <= set(rows[0])
    listing = cli(["communities", "--json"], v3, tmp_path)
    assert listing.returncode == 0 and json.loads(listing.stdout) == rows
