"""Publishing end to end against the sandbox over real HTTP: draft, resume, submit, versions."""

# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

import ecasrepro
from ecasrepro.b2share.publisher import open_publisher
from ecasrepro.b2share.receipt import Receipt
from ecasrepro.config import resolve_config
from ecasrepro.errors import BadInput, ExitCode, MetadataInvalid, SecretFound, ServerRefused
from tests.test_publish_support import (  # noqa: F401 - fixtures
    ECAS,
    assert_one_complete_draft,
    bucket_listing,
    cli_env,
    drafts_of,
    local_md5s,
    make_bundle,
    metadata,
    publish_env,
    server,
    token_file,
)


def publish(bundle: Any, server: Any, **options: Any) -> Any:
    return ecasrepro.publish(bundle, server=server.url, token=server.token, progress=False,
                             **options)


def test_publish_makes_one_verified_draft_and_a_receipt(
    tmp_path: Path, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = make_bundle(tmp_path, {"anomaly.csv": b"year,anomaly\n2020,1.2\n"})
    with caplog.at_level(logging.DEBUG):
        record = publish(bundle, server)
    draft_id = assert_one_complete_draft(server.url, server.token, bundle)
    assert record.id == draft_id and record.state == "draft"
    assert record.url == f"{server.url}/api/records/{draft_id}/draft"
    assert record.html_url and record.html_url.startswith(server.url)
    assert "access_token" not in record.html_url  # the sandbox page wants it; we never add it
    review = requests.get(record.html_url, params={"access_token": server.token}, timeout=10)
    assert review.status_code == 200 and draft_id in review.text  # the review page
    keys = {f.key for f in record.files}
    assert {"ro-crate-metadata.json", "notebook/analysis.ipynb", "outputs/anomaly.csv"} <= keys
    assert {f.key: f.checksum for f in record.files} == {
        k: "md5:" + v for k, v in local_md5s(bundle).items()}

    receipt = json.loads((bundle.path / "receipt.json").read_text())
    assert receipt["server"] == server.url and receipt["dialect"] == "v2"
    assert receipt["draft_id"] == draft_id and receipt["bucket"] == record.bucket
    assert {k: v["md5"] for k, v in receipt["files"].items()} == local_md5s(bundle)

    draft = requests.get(record.url, headers={"Authorization": f"Bearer {server.token}"},
                         timeout=10).json()
    assert draft["metadata"]["community_specific"] == {
        "c9097f4d-95b7-484a-9b10-a261bbbb20b0": {}}
    assert draft["metadata"]["related_identifiers"][0]["relation_type"] == "IsDerivedFrom"

    text = caplog.text + (bundle.path / "receipt.json").read_text() + repr(record)
    assert server.token not in text


def test_rerun_continues_the_same_draft_and_uploads_nothing(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 100})
    first = publish(bundle, server)
    second = publish(bundle, server)
    assert second.id == first.id and second.uploaded == []
    assert len(second.skipped) == len(first.uploaded)
    assert_one_complete_draft(server.url, server.token, bundle)


def test_remote_file_removed_or_changed_is_repaired(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    record = publish(bundle, server)
    headers = {"Authorization": f"Bearer {server.token}"}
    files = f"{server.url}/api/files/{record.bucket}"
    requests.delete(f"{files}/outputs/a.txt", headers=headers, timeout=10).raise_for_status()
    requests.put(f"{files}/outputs/b.txt", data=b"tampered", timeout=10,
                 headers={**headers, "Content-Type": "application/octet-stream"}
                 ).raise_for_status()
    with open_publisher(resolve_config(server=server.url, token=server.token)) as publisher:
        status = publisher.status(bundle)
    states = {f.key: f.state for f in status.files}
    assert states["outputs/a.txt"] == "missing" and states["outputs/b.txt"] == "different"
    again = publish(bundle, server)
    assert sorted(again.uploaded) == ["outputs/a.txt", "outputs/b.txt"]
    assert_one_complete_draft(server.url, server.token, bundle)


def test_deleted_remote_draft_says_so_and_new_draft_recovers(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    record = publish(bundle, server)
    requests.delete(record.url, headers={"Authorization": f"Bearer {server.token}"},
                    timeout=10).raise_for_status()
    with pytest.raises(ServerRefused) as info:
        publish(bundle, server)
    assert "no longer exists" in str(info.value) and "--new-draft" in str(info.value)
    fresh = publish(bundle, server, new_draft=True)
    assert fresh.id != record.id
    assert_one_complete_draft(server.url, server.token, bundle)
    receipt = Receipt.load(bundle.path / "receipt.json")
    assert receipt is not None and receipt.previous[0]["draft_id"] == record.id


def test_submit_publishes_with_pids_and_rerun_changes_nothing(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    record = publish(bundle, server, submit=True)
    assert record.state == "published"
    assert record.pids["ePIC_PID"].startswith("http") and "DOI" in record.pids
    public = requests.get(f"{server.url}/api/records/{record.id}", timeout=10).json()
    assert {f["key"]: f["checksum"] for f in public["files"]} == {
        k: "md5:" + v for k, v in local_md5s(bundle).items()}
    again = publish(bundle, server)
    assert again.state == "published" and again.id == record.id
    assert any("already published" in w for w in again.warnings)


def test_review_community_reports_submitted(tmp_path: Path, server: Any) -> None:
    from ecasrepro.sandbox import REVIEW_COMMUNITY_ID

    bundle = make_bundle(tmp_path, {"a.txt": b"a"}, meta=metadata(community=REVIEW_COMMUNITY_ID))
    record = publish(bundle, server, submit=True)
    assert record.state == "submitted" and record.pids == {}


def test_new_version_carries_the_new_files(tmp_path: Path, server: Any) -> None:
    first_bundle = make_bundle(tmp_path / "v1", {"a.txt": b"old", "gone.txt": b"x"})
    first = publish(first_bundle, server, submit=True)
    second_bundle = make_bundle(tmp_path / "v2", {"a.txt": b"new"})
    second = publish(second_bundle, server, new_version_of=first.id, submit=True)
    assert second.id != first.id and second.state == "published"
    assert "outputs/gone.txt" in second.removed
    public = requests.get(f"{server.url}/api/records/{second.id}", timeout=10).json()
    assert {f["key"]: f["checksum"] for f in public["files"]} == {
        k: "md5:" + v for k, v in local_md5s(second_bundle).items()}


def test_dry_run_sends_no_write(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    lines: list[str] = []
    record = ecasrepro.publish(bundle, server=server.url, token=server.token, dry_run=True,
                               submit=True, echo=lines.append, progress=False)
    assert record.dry_run and record.id is None
    methods = [r.method for r in record.requests]
    assert methods[0] == "POST" and methods[-1] == "PATCH"
    assert methods.count("PUT") == len(bundle.payload_files())
    assert all(line.startswith("would send ") for line in lines)
    assert drafts_of(server.url, server.token) == []
    assert not (bundle.path / "receipt.json").exists()
    assert all(server.token not in str(r) for r in record.requests)


def test_schema_violation_names_the_field_and_sends_nothing(tmp_path: Path, server: Any) -> None:
    bad = metadata()
    bad["descriptions"] = [{"description": "x", "description_type": "Summary"}]
    bundle = make_bundle(tmp_path, {"a.txt": b"a"}, meta=bad)
    with pytest.raises(MetadataInvalid) as info:
        publish(bundle, server)
    assert "description_type" in str(info.value)
    assert drafts_of(server.url, server.token) == []


def test_submit_mode_validation_happens_before_any_write(tmp_path: Path, server: Any) -> None:
    incomplete = metadata()
    incomplete.pop("open_access")
    bundle = make_bundle(tmp_path, {"a.txt": b"a"}, meta=incomplete)
    with pytest.raises(MetadataInvalid, match="open_access"):
        publish(bundle, server, submit=True)
    assert drafts_of(server.url, server.token) == []


def test_unknown_community(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    with pytest.raises(ServerRefused) as info:
        publish(bundle, server, community="00000000-0000-0000-0000-000000000000")
    assert info.value.exit_code == ExitCode.SERVER_REFUSED
    assert "community" in str(info.value) and "ecasrepro communities" in str(info.value)


def test_secret_in_bundle_is_refused(tmp_path: Path, server: Any) -> None:
    secret = f"token={server.token}\n".encode()
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * len(secret)})
    (bundle.path / "data" / "outputs" / "a.txt").write_bytes(secret)  # same size: bag still ok
    with pytest.raises(SecretFound) as info:
        publish(bundle, server)
    assert server.token not in str(info.value) and "a.txt" in str(info.value)
    assert drafts_of(server.url, server.token) == []


ECASREPRO = [sys.executable, "-c", "import sys; from ecasrepro.cli import main; sys.exit(main())"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ECASREPRO, *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_publish_json_status_communities_schema(
    tmp_path: Path, server: Any, token_file: Path
) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    env = cli_env(server, token_file)
    done = run_cli("publish", str(bundle.path), "--json", env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"id", "url", "html_url", "state", "files"} <= set(out)
    assert all({"key", "size", "checksum"} <= set(f) for f in out["files"])
    assert out["html_url"] in done.stderr and out["id"] in done.stderr

    status = run_cli("status", str(bundle.path), "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert {f["state"] for f in json.loads(status.stdout)["files"]} == {"uploaded"}

    listing = run_cli("communities", "--json", env=env)
    assert ECAS in {c["id"] for c in json.loads(listing.stdout)}
    schema = run_cli("schema", ECAS, env=env)
    assert schema.returncode == 0 and "allOf" in json.loads(schema.stdout)
    for result in (done, status, listing, schema):
        assert server.token not in result.stdout + result.stderr


def test_cli_bad_token_is_exit_3_in_one_sentence(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    bad = tmp_path / "bad-token"
    bad.write_text("not-a-valid-token-123456")
    bad.chmod(0o600)
    done = run_cli("publish", str(bundle.path), env=cli_env(server, bad))
    assert done.returncode == ExitCode.SERVER_REFUSED
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "token" in lines[0] and lines[0].startswith("error: ")


def test_cli_unreachable_server_is_exit_4(tmp_path: Path, token_file: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    env = cli_env(server, token_file, B2SHARE_URL="http://127.0.0.1:9",
                  ECASREPRO_HTTP_RETRIES="1")
    done = run_cli("publish", str(bundle.path), env=env)
    assert done.returncode == ExitCode.UNREACHABLE
    assert len(done.stderr.strip().splitlines()) == 1 and "could not be reached" in done.stderr


def test_cli_missing_bundle_is_exit_2_before_any_request(
    tmp_path: Path, token_file: Path, server: Any
) -> None:
    """A mistyped bundle path is bad input at once: no retries against an unreachable server."""
    env = cli_env(server, token_file, B2SHARE_URL="http://127.0.0.1:9")
    done = run_cli("publish", str(tmp_path / "no-such.repro"), env=env)
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such.repro is not an ecasrepro bundle" in lines[0]


def test_cli_token_file_warning_is_shown_once(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    loose = tmp_path / "loose-token"
    loose.write_text(server.token + "\n")
    loose.chmod(0o644)
    done = run_cli("publish", str(bundle.path), "--dry-run", env=cli_env(server, loose))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("accessible by others") == 1
    assert server.token not in done.stdout + done.stderr


def test_cli_nothing_configured_is_exit_2(tmp_path: Path, publish_env: dict[str, str]) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    done = run_cli("publish", str(bundle.path), env={**publish_env, "PATH": "/usr/bin",
                                                     "HOME": str(tmp_path)})
    assert done.returncode == ExitCode.BAD_INPUT and "B2SHARE_URL" in done.stderr


def test_over_quota_file_is_exit_3(tmp_path: Path, publish_env: dict[str, str]) -> None:
    from ecasrepro.compat import ECAS_COMMUNITY_ID, EcasShare
    from ecasrepro.sandbox import SandboxServer

    with SandboxServer(tmp_path / "small", max_file_size=1000) as small:
        bundle = make_bundle(tmp_path, {"big.bin": b"x" * 5000})
        with pytest.raises(ServerRefused) as info:
            publish(bundle, small)
        assert info.value.exit_code == ExitCode.SERVER_REFUSED
        assert "maximum file size of 1000 bytes" in str(info.value)  # refused before sending
        # Without the local pre-check (the compat path), the server's own 400 is mapped:
        small_token = tmp_path / "small-token"
        small_token.write_text(small.token)
        small_token.chmod(0o600)
        client = EcasShare(url=small.url, token_file=str(small_token))
        _, bucket = client.create_draft_record(ECAS_COMMUNITY_ID, "quota")
        with pytest.raises(ServerRefused, match="Maximum file size exceeded") as info:
            client.add_file_to_draft_record(str(bundle.path / "data/outputs/big.bin"), bucket)
        assert info.value.status == 400


def test_bad_token_is_caught_before_any_write_even_in_dry_run(tmp_path: Path, server: Any) -> None:
    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    for dry_run in (True, False):
        with pytest.raises(ServerRefused) as info:
            ecasrepro.publish(bundle, server=server.url, token="wrong-token-0123456789",
                              dry_run=dry_run, progress=False)
        assert info.value.exit_code == ExitCode.SERVER_REFUSED and "token" in str(info.value)
        assert "wrong-token" not in str(info.value)
    assert drafts_of(server.url, server.token) == []
    assert not (bundle.path / "receipt.json").exists()


def _add_md5_manifest(bundle: Any) -> None:
    """What a bundle that records md5 while it is written looks like (BagIt: two manifests)."""
    import bagit

    bag = bagit.Bag(str(bundle.path))
    bag.algorithms = ["sha256", "md5"]
    bag.save(manifests=True)


def test_md5_recorded_in_the_bag_is_reused_and_enforced(tmp_path: Path, server: Any) -> None:
    from ecasrepro.errors import BadInput

    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 3000})
    _add_md5_manifest(bundle)
    record = publish(bundle, server)
    assert_one_complete_draft(server.url, server.token, bundle)
    assert record.state == "draft"

    changed = make_bundle(tmp_path / "changed", {"a.txt": b"a" * 3000})
    _add_md5_manifest(changed)
    (changed.path / "data" / "outputs" / "a.txt").write_bytes(b"b" * 3000)  # same size
    with pytest.raises(BadInput, match=r"manifest-md5\.txt"):
        publish(changed, server)


def test_refused_new_version_keeps_the_published_record_in_the_receipt(
    tmp_path: Path, server: Any
) -> None:
    """A mistyped --new-version-of must not make the next plain run create a second record."""
    bundle = make_bundle(tmp_path, {"a.txt": b"a" * 10})
    published = publish(bundle, server, submit=True)
    assert published.state == "published"
    with pytest.raises(ServerRefused):
        publish(bundle, server, new_version_of="0" * 32)
    receipt = Receipt.load(bundle.path / "receipt.json")
    assert receipt is not None
    assert receipt.draft_id == published.id and receipt.state == "published"
    again = publish(bundle, server)  # reports the published record, creates nothing
    assert again.id == published.id and again.state == "published"
    assert again.uploaded == []


def test_status_of_a_draft_asks_only_the_server_the_receipt_names(
    tmp_path: Path, server: Any, token_file: Path, sandbox_factory: Any
) -> None:
    """Asking another server about the recorded id would report the draft as 'deleted'."""
    from ecasrepro.b2share.publisher import bundle_status

    bundle = make_bundle(tmp_path, {"a.txt": b"a"})
    unpublished = bundle_status(bundle, server="http://127.0.0.1:9")  # nothing to ask: no request
    assert unpublished.state == "unpublished" and unpublished.draft_id is None
    record = publish(bundle, server)
    other = sandbox_factory("other")
    with pytest.raises(BadInput, match=other.url):
        bundle_status(bundle, server=other.url, token=other.token)
    env = cli_env(server, token_file)
    done = run_cli("status", str(bundle.path), "--server", other.url, env=env)
    assert done.returncode == ExitCode.BAD_INPUT and "deleted" not in done.stderr
    mine = bundle_status(bundle, token=server.token)
    assert mine.state == "draft" and mine.draft_id == record.id


def test_published_technical_description_is_a_sentence(tmp_path: Path, server: Any) -> None:
    """The record's TechnicalInfo names the kernel and the Python, never a repr of a dict."""
    import platform
    import shutil

    examples = Path(__file__).resolve().parent.parent / "examples"
    shutil.copy(examples / "temperature_anomaly.ipynb", tmp_path)
    notebook = tmp_path / "temperature_anomaly.ipynb"
    kernel = json.loads(notebook.read_text())["metadata"]["kernelspec"]["name"]
    bundle = ecasrepro.snapshot(notebook, license="CC-BY-4.0")
    record = publish(bundle, server)
    draft = requests.get(record.url, headers={"Authorization": f"Bearer {server.token}"},
                         timeout=10).json()
    technical = [d["description"] for d in draft["metadata"]["descriptions"]
                 if d["description_type"] == "TechnicalInfo"]
    assert len(technical) == 1
    expected = (f"(kernel {kernel}, {platform.python_implementation()} "
                f"{platform.python_version()})")
    assert f"Snapshot of the Jupyter notebook temperature_anomaly.ipynb {expected} made with" in (
        technical[0])
    assert not any(c in technical[0] for c in "{}'")
