"""The reference suite's own logic, without a reference: normalising, diffing, the shrinking list.

``make test-reference`` needs a real InvenioRDM; these checks of how it judges need none, so they
run in ``make test`` (milliseconds) and a broken comparison cannot hide behind a missing server.
"""

from __future__ import annotations

import json
from pathlib import Path

from reference.differences import KNOWN, Known, check, item_of, load, path_of, update
from reference.journey import Call, Client, Normaliser, compare, diff


def _client(url: str, body: dict[str, object], b2share: bool = False) -> Client:
    client = Client(url, {}, b2share=b2share)
    client.calls.append(Call("read draft", 200, {"ETag": '"3"'}, body))
    return client


def test_ids_times_users_and_the_host_are_named_alike_on_both_sides() -> None:
    real = _client("http://real:1", {
        "id": "abcde-12345", "updated": "2026-12-07T09:25:22.244506+00:00",
        "links": {"self": "http://real:1/api/records/abcde-12345/draft"},
        "parent": {"access": {"owned_by": {"user": "2"}}}, "revision_id": 3,
        "metadata": {"resource_type": {"id": "dataset"}},
    })
    real.label(real.calls[0].body, "record")
    real.label(real.calls[0].body, "alice", "parent", "access", "owned_by", "user")
    fake = _client("http://fake:2", {
        "id": "zzzzz-99999", "updated": "2026-12-07T10:00:00+00:00",
        "links": {"self": "http://fake:2/api/records/zzzzz-99999/draft"},
        "parent": {"access": {"owned_by": {"user": "1"}}}, "revision_id": 3,
        "metadata": {"resource_types": [{"id": "dataset"}]},
    }, b2share=True)
    fake.label(fake.calls[0].body, "record")
    fake.label(fake.calls[0].body, "alice", "parent", "access", "owned_by", "user")
    assert compare(real, fake) == {"read draft": []}
    assert Normaliser(real).call(real.calls[0])["body"]["links"]["self"] == (
        "<base>/api/records/<record>/draft")
    # a record's revision number is compared: both servers count its commits alike
    real.calls[0].body["revision_id"] = 9
    assert compare(real, fake) == {"read draft": ["/body/revision_id: real 9 != sandbox 3"]}


def test_a_value_that_differs_is_reported_with_its_path() -> None:
    real = _client("http://real:1", {"files": {"entries": [{"key": "b", "size": 1},
                                                            {"key": "a", "metadata": {}}]}})
    fake = _client("http://fake:2", {"files": {"entries": [{"key": "a", "metadata": None},
                                                            {"key": "b", "size": 1}]}})
    lines = compare(real, fake)["read draft"]
    assert lines == ["/body/files/entries/0/metadata: real {} != sandbox null"]  # order ignored
    assert diff({"k": ["x", "y"]}, {"k": ["x", "z"]}) == [
        '/k: real ["x", "y"] != sandbox ["x", "z"]']  # a list of scalars: one value
    assert diff({"a": 1}, {"b": 1}) == ["/a: only real = 1", "/b: only sandbox = 1"]


def test_the_list_fails_new_differences_and_entries_that_no_longer_differ() -> None:
    known = [Known("create draft", 10, ("/body/deletion_status",)),
             Known("read draft", 14, ("/body/metadata/languages/0/title",))]
    result = {
        "create draft": ["/body/deletion_status: only sandbox = {}",
                         "/body/links/x: only real = 1"],
        "read draft": [],
        "unknown path": [],
    }
    verdict = check(result, known)
    assert not verdict.ok
    assert verdict.new == {"create draft": ["/body/links/x: only real = 1"]}
    assert verdict.stale == {"read draft": ["/body/metadata/languages/0/title"]}
    assert (verdict.alike, verdict.known) == (2, 1)
    fixed = {"create draft": ["/body/deletion_status: only sandbox = {}"], "read draft": [
        "/body/metadata/languages/0/title: only real = {}"]}
    assert check(fixed, known).ok


def test_update_writes_what_check_then_accepts(tmp_path: Path) -> None:
    result = {"create draft": ["/body/deletion_status: only sandbox = {}",
                               "/body/access/status: real 1 != sandbox 2",
                               "/body/odd: only real = 1"],
              "search, unknown sort": ["/body/errors: only real = []"]}
    path = tmp_path / "known.json"
    assert update(result, path) == 4
    assert check(result, load(path)).ok
    items = {(e.call, e.item) for e in load(path)}
    assert items == {("create draft", 10), ("create draft", 15), ("create draft", 0),
                     ("search, unknown sort", 5)}


def test_the_committed_list_is_well_formed() -> None:
    entries = json.loads(KNOWN.read_text())["open"]
    seen = set()
    for entry in entries:
        assert set(entry) == {"call", "item", "paths"}
        assert 0 <= entry["item"] <= 20 and entry["paths"]
        assert all(p.startswith("/") and p == path_of(p) for p in entry["paths"])
        assert all(item_of(entry["call"], p) == entry["item"] for p in entry["paths"])
        assert (entry["call"], entry["item"]) not in seen
        seen.add((entry["call"], entry["item"]))


def test_a_serialisation_reports_its_first_differing_line() -> None:
    real = "@dataset{doe_2026_abcde-12345,\n  title = {A},\n}"
    fake = "@dataset{doe_2026_zzzzz-99999,\n  title = {B},\n}"
    r, f = _client("http://real:1", {}), _client("http://fake:2", {})
    r.ids["abcde-12345"] = f.ids["zzzzz-99999"] = "<record>"
    assert Normaliser(r).text(real) == Normaliser(f).text(fake).replace("{B}", "{A}")
    assert diff({"text": Normaliser(r).text(real)}, {"text": Normaliser(f).text(fake)}) == [
        '/text: line 2: real "  title = {A}," != sandbox "  title = {B},"']
    assert diff({"text": "a\nb"}, {"text": "a"}) == ['/text: line 2: real "b" != sandbox "<end>"']
