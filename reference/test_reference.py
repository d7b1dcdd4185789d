"""The v3 sandbox held against a real InvenioRDM 13, call by call, and our client against both.

Run by ``make test-reference`` (reference/start.sh first); plain ``make test`` never collects it
(testpaths is ``tests``). The reference is read from ``$REF_HOME/ref.json``.

One job: fail on any difference between the real server and the sandbox the journey can see
(beyond the reviewed list of open ones), and on our client failing against the real server.

May import: ecasrepro.sandbox (the server under test), reference.journey,
reference.differences, tests (the publish
tests, run against the real server too); never ecasrepro's internals beyond the public API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from ecasrepro.sandbox import SandboxServer
from reference.differences import check, load
from reference.journey import Client, compare, journey

REF_HOME = Path(os.environ.get("REF_HOME") or Path(os.environ.get("TMPDIR", "/tmp")) / "ecas-ref")
REPORT = Path(__file__).parent / "out" / "report.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, str]:
    path = REF_HOME / "ref.json"
    if not path.exists():
        pytest.fail(f"no reference running ({path} missing): run reference/start.sh first")
    ref: dict[str, str] = json.loads(path.read_text())
    return ref


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path_factory.mktemp("sandbox"), api="v3") as server:
        yield server


def test_sandbox_answers_every_call_as_the_real_server(
    reference: dict[str, str], sandbox: SandboxServer
) -> None:
    tokens = {"alice": reference["alice"], "reviewer": reference["reviewer"]}
    real = Client(reference["url"], tokens)
    users = {u.email.split("@")[0]: u.token for u in sandbox.users}
    fake = Client(sandbox.url, {"alice": users["alice"], "reviewer": users["reviewer"]},
                  b2share=True)
    journey(real)
    journey(fake)
    result = compare(real, fake)
    verdict = check(result, load())
    summary = (f"{verdict.alike} of {len(result)} calls alike, {verdict.known} differ; "
               f"{sum(map(len, verdict.new.values()))} differences not in "
               f"known_differences.json, {sum(map(len, verdict.stale.values()))} listed ones "
               "gone")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({
        "summary": summary,
        "new": verdict.new,
        "stale": verdict.stale,
        "calls": {name: {"alike": not lines, "differences": lines}
                  for name, lines in result.items()},
    }, indent=1, ensure_ascii=False))
    print(f"\n{summary}; report: {REPORT}")
    assert not verdict.new, (
        f"{summary}. New differences (fix the sandbox; a B2SHARE delta goes in journey.py's "
        f"normalisation with a line in docs/decisions.md):\n"
        + json.dumps(verdict.new, indent=1)[:20000])
    assert not verdict.stale, (
        f"{summary}. Fixed, so remove them from reference/known_differences.json "
        f"(python -m reference.differences update):\n" + json.dumps(verdict.stale, indent=1))


# --- our client's v3 publishing, against the real server ---------------------------------------
def _real_server(reference: dict[str, str]) -> Any:
    return SimpleNamespace(url=reference["url"], token=reference["alice"])


def _drop_drafts(server: Any) -> None:
    """The publish tests expect no other drafts of this user: earlier runs leave some."""
    auth = {"Authorization": f"Bearer {server.token}"}
    hits = requests.get(f"{server.url}/api/user/records", headers=auth, timeout=30,
                        params={"is_published": "false", "size": 100}).json()["hits"]["hits"]
    for hit in hits:
        if hit.get("is_published"):
            continue
        review = (hit.get("parent") or {}).get("review") or {}
        if review.get("status") == "submitted":  # a draft in review cannot be deleted
            requests.post(f"{server.url}/api/requests/{review['id']}/actions/cancel",
                          headers=auth, json={}, timeout=30)
        requests.delete(f"{server.url}/api/records/{hit['id']}/draft", headers=auth, timeout=30)


PUBLISH_TESTS = (
    "test_publish_makes_one_verified_draft_in_the_community",
    "test_submit_to_an_open_community_publishes",
    "test_submit_to_a_curated_community_waits_for_review",
    "test_new_version_of_a_published_record",
    "test_dry_run_sends_no_writes",
    "test_unknown_vocabulary_id_fails_before_any_write",
)


@pytest.mark.parametrize("name", PUBLISH_TESTS)
def test_client_publishes_to_the_real_server(
    name: str, reference: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import test_publish_v3
    from tests.test_publish_support import FAST_ENV

    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    server = _real_server(reference)
    _drop_drafts(server)
    getattr(test_publish_v3, name)(tmp_path, server)
