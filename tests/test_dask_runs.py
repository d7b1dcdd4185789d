"""``archive`` and ``verify-many`` on a real Dask ``LocalCluster`` (2 worker processes): 50
generated analyses archived and verified, journals that resume, and a worker (then the driver)
killed with SIGKILL mid-run, after which the resumed run has every analysis exactly once;
publishing from the workers shares one rate and one back-off, and makes one draft each."""
# ruff: noqa: F811  (pytest fixtures imported from test_publish_support)

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook, new_output

from ecasrepro.archival import iter_archives, validate_archive
from ecasrepro.cli import main
from ecasrepro.executors import DaskPacer, LocalExecutor, open_executor
from ecasrepro.runjournal import RunJournal
from tests.test_publish_support import (  # noqa: F401 - fixtures
    bucket_listing,
    drafts_of,
    publish_env,
    server,
    token_file,
)

distributed = pytest.importorskip("distributed")
# Each journey here takes well under a minute; a stuck one must fail alone and soon, not hold
# the module's shared cluster for pytest-timeout's default 300 s.
pytestmark = pytest.mark.timeout(180)

COUNT = 50


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    running = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    try:
        yield running
    finally:
        # After the tests that kill workers, distributed's close can raise KeyError for a
        # worker address it saw removed twice (deploy/spec.py _update_worker_status); it is
        # raised last, when the workers and the scheduler are already closed.
        with contextlib.suppress(KeyError):
            running.close()


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster) as connected:
        yield connected


def write_notebooks(where: Path, count: int = COUNT) -> list[Path]:
    """``count`` executed notebooks, each printing its own number (a real output to verify)."""
    paths = []
    for index in range(count):
        folder = where / f"user{index:02d}"
        folder.mkdir(parents=True)
        nb = new_notebook(cells=[new_code_cell(
            f"print({index} * 3)", execution_count=1,
            outputs=[new_output("stream", name="stdout", text=f"{index * 3}\n")])])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        path = folder / f"analysis{index:02d}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def cli(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    stdout = result.stdout.strip()
    return result.exit_code, json.loads(stdout) if stdout else {}, result.stderr


def journal_of(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return RunJournal(path, kind).entries


def test_archive_then_verify_50_analyses_on_a_cluster_and_resume(
    tmp_path: Path, cluster: Any, client: Any
) -> None:
    work, out = tmp_path / "hub", tmp_path / "archives"
    notebooks = write_notebooks(work)
    address = cluster.scheduler_address
    code, report, stderr = cli("archive", str(work), "-o", str(out), "--scheduler", address)
    assert code == 0, stderr
    assert (report["archived"], report["skipped"], report["failed"]) == (COUNT, 0, 0)
    assert sorted(o["source"] for o in report["outcomes"]) == sorted(
        str(p.resolve()) for p in notebooks)
    archives = list(iter_archives(out))
    assert len(archives) == COUNT
    for archive in archives[:3]:
        validate_archive(archive)
    journal = journal_of(out / "archive-run.json", "archive")
    assert len(journal) == COUNT and {e["status"] for e in journal.values()} == {"archived"}

    # the tasks ran on the cluster's worker processes, not in this one
    assert client.run(os.getpid) and os.getpid() not in client.run(os.getpid).values()

    mtimes = {a: a.stat().st_mtime_ns for a in archives}
    code, again, _ = cli("archive", str(work), "-o", str(out), "--scheduler", address)
    assert code == 0 and (again["archived"], again["skipped"]) == (0, COUNT)
    assert {a: a.stat().st_mtime_ns for a in iter_archives(out)} == mtimes

    bundles = out / ".bundles"
    verify_journal = tmp_path / "verify-run.json"
    # a cell stuck in a kernel ends as that analysis's outcome, named, within the test's time
    code, verified, stderr = cli("verify-many", str(bundles), "--journal", str(verify_journal),
                                 "--scheduler", address, "--timeout", "60")
    assert code == 0, [o["reason"] for o in verified.get("outcomes", []) if o.get("reason")]
    assert (verified["ok"], verified["differs"], verified["failed"]) == (COUNT, 0, 0)
    assert all(Path(o["report_path"]).is_file() for o in verified["outcomes"])

    # one bundle's payload changes: only that one is verified again, and it differs
    changed = bundles / "analysis07.repro"
    notebook = changed / "data" / "notebook" / "analysis07.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].outputs[0]["text"] = "999\n"
    nbformat.write(nb, notebook)
    _rehash(changed)
    code, rerun, _ = cli("verify-many", str(bundles), "--journal", str(verify_journal),
                         "--scheduler", address, "--timeout", "60")
    assert code == 6
    assert (rerun["ok"], rerun["differs"], rerun["skipped"]) == (0, 1, COUNT - 1)
    (differs,) = [o for o in rerun["outcomes"] if o["status"] == "differs"]
    assert differs["source"] == str(changed) and "did not reproduce 1 cell" in differs["reason"]


def _rehash(bundle: Path) -> None:
    """Update a bag's manifests after a payload edit (what a re-snapshot would do)."""
    import bagit

    bag = bagit.Bag(str(bundle))
    bag.save(manifests=True)


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_killed_worker_and_a_killed_driver_leave_every_analysis_exactly_once(
    tmp_path: Path, cluster: Any, client: Any
) -> None:
    work, out = tmp_path / "hub", tmp_path / "archives"
    write_notebooks(work)
    command = [str(Path(sys.executable).with_name("ecasrepro")), "archive", str(work), "-o",
               str(out), "--scheduler", cluster.scheduler_address, "--json"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(list(iter_archives(out))) >= 5, 60, "the first archives")
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)  # a worker process dies mid-task
        _wait_for(lambda: len(journal_of(out / "archive-run.json", "archive")) >= 15
                  if (out / "archive-run.jsonl").exists() else False, 60, "journal entries")
        os.kill(driver.pid, signal.SIGKILL)  # then the whole run is killed
    finally:
        driver.wait(30)
    before = journal_of(out / "archive-run.json", "archive")
    assert 15 <= len(before) < COUNT  # the kill landed mid-run

    client.wait_for_workers(2, timeout=30)  # the nanny restarted the killed worker
    code, report, stderr = cli("archive", str(work), "-o", str(out),
                               "--scheduler", cluster.scheduler_address)
    assert code == 0, stderr
    sources = [o["source"] for o in report["outcomes"]]
    assert len(sources) == len(set(sources)) == COUNT  # every analysis exactly once
    assert report["failed"] == 0 and report["archived"] + report["skipped"] == COUNT
    assert report["skipped"] >= len(before)  # the journal's analyses were not redone
    archives = list(iter_archives(out))
    assert len(archives) == COUNT  # one archive each, and nothing half-written
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    after = journal_of(out / "archive-run.json", "archive")
    # an archive the killed run finished after its last journal write is found current: skipped
    assert len(after) == COUNT and {e["status"] for e in after.values()} <= {"archived", "skipped"}
    for archive in archives[::10]:
        validate_archive(archive)


def test_auto_uses_dask_and_the_local_pool_streams_with_a_window(tmp_path: Path) -> None:
    with open_executor("auto", workers=1) as pool:
        assert pool.name == "dask" and pool.workers == 1
    pulled: list[int] = []

    def items() -> Iterator[int]:
        for number in range(100):
            pulled.append(number)
            yield number

    with LocalExecutor(workers=2) as local:
        results = local.imap_unordered(lambda n: n * 2, items(), on_error=lambda n, e: -1)
        first = next(results)
        assert len(pulled) <= 2 * 2 + 1  # a bounded window, not the whole stream
        rest = list(results)
    assert sorted([first, *rest]) == [(n, n * 2) for n in range(100)]


def test_the_dask_pacer_spaces_requests_and_one_back_off_pauses_every_worker(
    client: Any
) -> None:
    pacer = DaskPacer("test-pacer", rate=20).start(client)

    def paced(count: int) -> list[float]:
        times = []
        for _ in range(count):
            pacer.wait()
            times.append(time.time())
        return times

    futures = [client.submit(paced, 8, pure=False, workers=[w]) for w in client.run(os.getpid)]
    stamps = sorted(t for part in client.gather(futures) for t in part)
    assert len(stamps) == 16
    # one shared rate of 20/s across both processes (not 20/s each, which would take half
    # as long): the 16 requests span 15 intervals of 0.05 s; a late wake-up under load may
    # shorten one gap (the next slot was booked before), never the whole span
    assert stamps[-1] - stamps[0] >= 15 * 0.05 * 0.95
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert sorted(gaps)[len(gaps) // 2] >= 0.045  # the median gap is one interval

    def back_off() -> float:
        pacer.hold(1.5)
        return time.time()

    first, second = list(client.run(os.getpid))
    held = client.submit(back_off, pure=False, workers=[first]).result()
    resumed = client.submit(lambda: (pacer.wait(), time.time())[1], pure=False,
                            workers=[second]).result()
    assert resumed - held >= 1.4  # the other process waited out the back-off it never saw


def test_publishing_from_workers_waits_out_one_503_together_and_makes_one_draft_each(
    tmp_path: Path, cluster: Any, server: Any, token_file: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    work, out = tmp_path / "hub", tmp_path / "archives"
    write_notebooks(work, 8)
    caplog.set_level(logging.INFO, logger="ecasrepro.sandbox.http")
    args = ("archive", str(work), "-o", str(out), "--publish", "--server", server.url,
            "--token-file", str(token_file), "--scheduler", cluster.scheduler_address)

    def overload_once_publishing_is_under_way() -> None:
        # the next draft creation after the second is refused, while the other worker uploads
        _wait_for(lambda: len(drafts_of(server.url, server.token)) >= 2, 60, "two drafts")
        server.set_faults("error-503-first=1@POST,retry-after=2")

    watcher = threading.Thread(target=overload_once_publishing_is_under_way, daemon=True)
    watcher.start()
    code, report, stderr = cli(*args)
    assert code == 0, stderr
    watcher.join(5)
    ids = {o["draft_id"] for o in report["outcomes"]}
    assert len(ids) == 8 and None not in ids
    assert {d["id"] for d in drafts_of(server.url, server.token)} == ids
    assert server.token not in json.dumps(report) + stderr

    lines = [(r.created, r.getMessage()) for r in caplog.records
             if r.name == "ecasrepro.sandbox.http"]
    (refused,) = [t for t, line in lines if line.endswith(" 503")]
    during = [line for t, line in lines if refused + 0.3 < t < refused + 1.8]
    assert not during, during  # no worker sent anything while the server asked all to wait

    code, again, _ = cli(*args)  # resumed: the journal and the receipts, no new draft
    assert code == 0 and again["skipped"] == 8
    assert {d["id"] for d in drafts_of(server.url, server.token)} == ids


def _draft_lines(out: Path) -> list[dict[str, Any]]:
    path = out / "archive-run.jsonl"
    if not path.is_file():
        return []
    found = []
    for text in path.read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if line.get("status") == "draft":
            found.append(line)
    return found


def test_workers_killed_mid_upload_leave_one_draft_per_analysis_and_the_resume_completes_it(
    tmp_path: Path, cluster: Any, client: Any, server: Any, token_file: Path
) -> None:
    work, out = tmp_path / "hub", tmp_path / "archives"
    write_notebooks(work, 4)
    server.set_faults("latency=400ms@PUT")  # uploads are slow: the kill lands mid-upload
    args = ["archive", str(work), "-o", str(out), "--publish", "--server", server.url,
            "--token-file", str(token_file), "--scheduler", cluster.scheduler_address]
    driver = subprocess.Popen([str(Path(sys.executable).with_name("ecasrepro")), *args,
                               "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _draft_lines(out), 90, "a draft id in the journal")
        for pid in client.run(os.getpid).values():  # every worker dies mid-task
            os.kill(pid, signal.SIGKILL)
        os.kill(driver.pid, signal.SIGKILL)  # and the run with them
    finally:
        driver.wait(30)
    recorded = {line["source"]: line["draft_id"] for line in _draft_lines(out)}
    assert recorded  # the draft was journalled before its upload finished
    journal = journal_of(out / "archive-run.json", "archive")
    assert not [s for s in recorded if journal.get(s, {}).get("status") in {"archived",
                                                                          "skipped"}]
    server.set_faults(None)
    client.wait_for_workers(2, timeout=30)
    code, report, stderr = cli(*args)
    assert code == 0, stderr
    assert report["failed"] == 0 and len(report["outcomes"]) == 4
    ids = {o["source"]: o["draft_id"] for o in report["outcomes"]}
    assert None not in ids.values() and len(set(ids.values())) == 4
    for source, draft_id in recorded.items():
        assert ids[source] == draft_id  # the resumed run continued the journalled draft
    assert sorted(d["id"] for d in drafts_of(server.url, server.token)) == sorted(ids.values())
    for outcome in report["outcomes"]:  # every draft holds all of its bundle's files
        payload = [p for p in (Path(outcome["bundle"]) / "data").rglob("*") if p.is_file()]
        listing = bucket_listing(server.url, server.token, outcome["draft_id"])
        assert len(listing) == len(payload), (outcome["source"], sorted(listing))


def test_rate_sets_the_pace_of_every_worker_together(
    tmp_path: Path, server: Any, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work, out = tmp_path / "hub", tmp_path / "archives"
    write_notebooks(work, 3)
    caplog.set_level(logging.INFO, logger="ecasrepro.sandbox.http")
    code, report, stderr = cli("archive", str(work), "-o", str(out), "--publish", "--server",
                               server.url, "--token-file", str(token_file), "--rate", "3",
                               "--executor", "local", "-j", "2")
    assert code == 0 and report["archived"] == 3, stderr
    stamps = sorted(r.created for r in caplog.records if r.name == "ecasrepro.sandbox.http")
    assert len(stamps) >= 10
    # The stamps are when the sandbox answered, so each carries its request's own handling
    # time (a notebook's PUT takes longer than a GET): one gap can shrink by that much. Any
    # three gaps together still span about one second at 3 requests/s, where the default,
    # 10/s, would have them span ~0.3 s.
    spans = [b - a for a, b in zip(stamps, stamps[3:], strict=False)]
    assert min(spans) >= 0.75, sorted(spans)[:5]
    assert stamps[-1] - stamps[0] >= (len(stamps) - 1) / 3 * 0.9

    code, _, stderr = cli("archive", str(work), "-o", str(out), "--rate", "0")
    assert code == 2 and "--rate 0 is not a positive number" in stderr


def _fails_on_seven(number: int) -> int:
    if number == 7:
        raise ValueError("seven")
    return number * 2


def test_dask_batches_fast_items_and_a_raising_item_fails_alone() -> None:
    with open_executor("dask", workers=2) as pool:
        results = dict(pool.imap_unordered(_fails_on_seven, range(300),
                                           on_error=lambda n, e: f"failed: {e}"))
    assert results.pop(7) == "failed: seven"
    assert results == {n: n * 2 for n in range(300) if n != 7}


def test_the_embedded_cluster_runs_without_diagnostics_that_take_the_gil() -> None:
    """Its profiler (every 10 ms) and loop tick (20 ms) would share the GIL with the analyses'
    threads; a cluster the user started keeps Dask's own settings."""
    import dask

    def callbacks(worker: Any) -> dict[str, float]:
        return {name: pc.callback_time for name, pc in worker.periodic_callbacks.items()}

    profiling = dask.config.get("distributed.worker.profile.enabled")
    with open_executor("dask", workers=2) as pool:
        (ours, _) = [callbacks(w) for w in pool._cluster.workers.values()]
        assert "profile" not in ours and ours["tick"] >= 1000
        assert ours["monitor"] >= 5000 and ours["memory_monitor"] >= 1000
        assert pool._cluster.scheduler.periodic_callbacks["tick"].callback_time >= 1000
    assert dask.config.get("distributed.worker.profile.enabled") is profiling  # not left changed
    # a user's cluster, with the settings the user gave (Dask's defaults here): kept as given
    with dask.config.set({"distributed.worker.profile.enabled": True,
                          "distributed.admin.tick.interval": "20ms"}), \
            distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None,
                                     scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as own:
        theirs = callbacks(next(iter(own.workers.values())))
    assert "profile" in theirs and theirs["tick"] < 1000


def test_without_dask_the_local_pool_runs_and_says_how_to_get_dask(tmp_path: Path) -> None:
    work, out = tmp_path / "hub", tmp_path / "archives"
    write_notebooks(work, 2)
    code = ("import sys; sys.modules['distributed'] = None; from ecasrepro.cli import main; "
            "sys.exit(main())")
    done = subprocess.run([sys.executable, "-c", code, "archive", str(work), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'ecasrepro[dask]'" in done.stderr
    assert len(list(iter_archives(out))) == 2
    named = subprocess.run([sys.executable, "-c", code, "archive", str(work), "-o", str(out),
                            "--scheduler", "tcp://127.0.0.1:1"],
                           capture_output=True, text=True, timeout=120)
    assert named.returncode == 2 and "Dask is not installed" in named.stderr


def test_a_clean_up_on_every_worker_runs_off_its_event_loop(tmp_path: Path, client: Any) -> None:
    """``Client.run`` calls a plain function on the worker's event loop: a kernel drain that
    blocks there would stop the worker's heartbeats and every task after it."""
    from ecasrepro.executors import DaskExecutor

    def where() -> None:
        import asyncio

        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        (tmp_path / f"{os.getpid()}.txt").write_text(str(on_loop))

    with DaskExecutor(scheduler=client.scheduler.address) as pool:
        pool.on_every_worker(where)
    marks = {p.name: p.read_text() for p in tmp_path.glob("*.txt")}
    assert len(marks) == 2 and set(marks.values()) == {"False"}
