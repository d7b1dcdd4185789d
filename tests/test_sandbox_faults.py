"""Fault injection: parsing, determinism under a seed, and real dropped uploads / 503s / latency."""

from __future__ import annotations

import time

import pytest
import requests

from ecasrepro.errors import BadInput
from ecasrepro.sandbox import EUDAT_COMMUNITY_ID, SandboxServer
from ecasrepro.sandbox.faults import FaultInjector, Selector, parse_faults


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_draft(sb: SandboxServer) -> dict[str, object]:
    r = requests.post(
        f"{sb.url}/api/records/",
        headers=auth(sb.token),
        json={
            "titles": [{"title": "faults"}],
            "community": EUDAT_COMMUNITY_ID,
            "open_access": True,
            "community_specific": {},
        },
    )
    assert r.status_code == 201
    return dict(r.json())


def test_parse_spec_and_errors() -> None:
    plan = parse_faults("drop-upload=0.3,error-503=0.2@PUT/api/files,latency=50ms,retry-after=2")
    assert plan.drop_upload == 0.3 and plan.error_503 == 0.2 and plan.latency_s == 0.05
    assert plan.error_selector == Selector(method="PUT", path_prefix="/api/files")
    assert plan.retry_after == 2 and parse_faults("latency=0.5s").latency_s == 0.5
    assert not parse_faults(None).active
    for bad in (
        "drop-upload=2",
        "nonsense=1",
        "latency=fast",
        "error-503",
        "error-503-first=x",
        "error-503=0.1@",
    ):
        with pytest.raises(BadInput):
            parse_faults(bad)


def test_same_seed_same_decisions() -> None:
    plan = parse_faults("drop-upload=0.5,error-503=0.3,error-503-burst=2")
    calls = [
        ("PUT", "/api/files/b/k"),
        ("GET", "/api/records/"),
        ("PATCH", "/api/records/x/draft"),
    ] * 30

    def run(seed: int) -> list[object]:
        injector = FaultInjector(plan, seed)
        return [injector.decide(m, p) for m, p in calls]

    assert run(7) == run(7)
    assert run(7) != run(8)
    decisions = run(7)
    assert any(d.error_503 for d in decisions) and any(d.drop_fraction for d in decisions)


def test_dropped_upload_leaves_nothing_behind(sandbox: SandboxServer) -> None:
    draft = new_draft(sandbox)
    bucket = str(draft["links"]["files"])  # type: ignore[index]
    payload = b"z" * (4 << 20)
    sandbox.set_faults("drop-upload-first=1,drop-at=0.5", seed=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.put(f"{bucket}/big.bin", data=payload, headers=auth(sandbox.token), timeout=10)
    listing = requests.get(bucket, headers=auth(sandbox.token)).json()
    assert listing["contents"] == [] and listing["size"] == 0
    assert list((sandbox.data_dir / "tmp").iterdir()) == []
    retry = requests.put(f"{bucket}/big.bin", data=payload, headers=auth(sandbox.token), timeout=10)
    assert retry.status_code == 200 and retry.json()["size"] == len(payload)
    assert len([p for p in (sandbox.data_dir / "blobs").rglob("*") if p.is_file()]) == 1


def test_503_burst_with_retry_after_then_recovery(sandbox: SandboxServer) -> None:
    sandbox.set_faults("error-503-first=2,retry-after=3@/api/records/")
    url = f"{sandbox.url}/api/records/"
    first, second, third = (requests.get(url) for _ in range(3))
    assert first.status_code == second.status_code == 503
    assert first.headers["Retry-After"] == "3" and first.json()["status"] == 503
    assert third.status_code == 200
    assert requests.get(f"{sandbox.url}/api/communities/").status_code == 200  # not targeted
    sandbox.set_faults(None)
    assert requests.get(url).status_code == 200


def test_503_never_changes_state(sandbox: SandboxServer) -> None:
    draft = new_draft(sandbox)
    sandbox.set_faults("error-503-first=1@PATCH")
    patch_url = str(draft["links"]["self"])  # type: ignore[index]
    ops = '[{"op": "add", "path": "/version", "value": "1"}]'
    headers = {**auth(sandbox.token), "Content-Type": "application/json-patch+json"}
    assert requests.patch(patch_url, data=ops, headers=headers).status_code == 503
    assert "version" not in requests.get(patch_url, headers=auth(sandbox.token)).json()["metadata"]
    assert requests.patch(patch_url, data=ops, headers=headers).json()["metadata"]["version"] == "1"


def test_latency_is_applied_to_selected_requests(sandbox: SandboxServer) -> None:
    sandbox.set_faults("latency=300ms@GET/api/communities/")
    start = time.monotonic()
    requests.get(f"{sandbox.url}/api/communities/")
    slow = time.monotonic() - start
    start = time.monotonic()
    requests.get(f"{sandbox.url}/api/")
    fast = time.monotonic() - start
    assert slow >= 0.3 and fast < 0.3


def test_faults_at_construction_and_after_restart(sandbox_factory: object) -> None:
    sb = sandbox_factory(faults="error-503-first=1", seed=3)  # type: ignore[operator]
    assert requests.get(f"{sb.url}/api/").status_code == 503
    assert requests.get(f"{sb.url}/api/").status_code == 200
    sb.restart()  # a restarted process starts its fault plan afresh
    assert requests.get(f"{sb.url}/api/").status_code == 503
