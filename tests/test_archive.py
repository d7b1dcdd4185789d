"""``ecasrepro archive``: valid bags per analysis, idempotent re-runs, failures isolated, tar,
publishing one draft per analysis, and an extractor that refuses zip-slip and tar-slip."""

from __future__ import annotations

import io
import json
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import bagit
import pytest
from click.testing import CliRunner

from ecasrepro.archival import extract_archive, read_archived_bag_info, validate_archive
from ecasrepro.bundle import Bundle
from ecasrepro.cli import main
from ecasrepro.errors import BadInput
from ecasrepro.sandbox import SandboxServer
from tests.test_publish_support import drafts_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_NB = EXAMPLES / "temperature_anomaly.ipynb"
EXAMPLE_PIDS = [
    "https://hdl.handle.net/21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
    "https://doi.org/10.1029/2019JD032361",
]


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(main, ["archive", *args, "--json"], catch_exceptions=False)
    stdout = result.stdout.strip()
    return result.exit_code, json.loads(stdout) if stdout else {}, result.stderr


def tree(path: Path) -> dict[str, float]:
    return {str(p.relative_to(path)): p.stat().st_mtime for p in path.rglob("*")}


def test_archive_examples_makes_valid_bags_then_skips(tmp_path: Path) -> None:
    before = tree(EXAMPLES)
    out = tmp_path / "archives"
    code, report, stderr = run(str(EXAMPLES), "-o", str(out))
    assert code == 0, stderr
    assert report["archived"] >= 1 and report["failed"] == 0
    assert tree(EXAMPLES) == before  # nothing written into the analysis directory
    (outcome,) = [o for o in report["outcomes"] if "temperature_anomaly" in o["source"]]
    archive = Path(outcome["archive"])
    assert archive.name == "temperature_anomaly.bag.zip" and archive.parent == out

    top = extract_archive(archive, tmp_path / "extracted")
    bagit.Bag(str(top)).validate()  # every payload and tag digest, Payload-Oxum
    info = bagit.Bag(str(top)).info
    assert info["Title"] == "Annual temperature anomaly and trend"
    assert info["Ecasrepro-Input"] == EXAMPLE_PIDS  # External-Identifier is the bag's own id
    assert "External-Identifier" not in info
    assert info["Bagging-Date"] and info["Source-Date"]
    assert info["Ecasrepro-Source-Digest"].startswith("notebook:sha256:")
    assert (top / "data" / "notebook" / "temperature_anomaly.ipynb").is_file()
    assert not (top / "receipt.json").exists()

    code, again, _ = run(str(EXAMPLES), "-o", str(out))
    assert code == 0 and again["archived"] == 0 and again["skipped"] == report["archived"]


def test_a_broken_notebook_fails_alone_and_directories_are_searched(tmp_path: Path) -> None:
    work = tmp_path / "analyses"
    for sub in ("a", "b", "c/deep"):
        (work / sub).mkdir(parents=True)
        shutil.copy(EXAMPLE_NB, work / sub / "analysis.ipynb")
    (work / "broken.ipynb").write_text("{ not json")
    for hidden in (".ipynb_checkpoints", ".venv/lib", "__pycache__"):
        (work / hidden).mkdir(parents=True)
        shutil.copy(EXAMPLE_NB, work / hidden / "skipped.ipynb")
    out = tmp_path / "out"
    code, report, stderr = run(str(work), "-o", str(out), "--jobs", "3")
    assert code == 2, stderr
    by_source = {Path(o["source"]).relative_to(work).as_posix(): o for o in report["outcomes"]}
    assert set(by_source) == {"a/analysis.ipynb", "b/analysis.ipynb", "c/deep/analysis.ipynb",
                              "broken.ipynb"}
    broken = by_source.pop("broken.ipynb")
    assert broken["status"] == "failed" and broken["exit_code"] == 2
    assert "broken.ipynb is not JSON" in broken["reason"] and "\n" not in broken["reason"]
    assert "failed" in stderr and "broken.ipynb" in stderr
    names = set()
    for outcome in by_source.values():
        assert outcome["status"] == "archived", outcome
        names.add(Path(outcome["archive"]).name)
        validate_archive(outcome["archive"])
    assert len(names) == 3  # same notebook name in three places: told apart by a path hash
    assert not list(work.rglob("*.repro"))  # snapshots went to the output dir
    assert len(list((out / ".bundles").glob("*.repro"))) == 3


def test_tar_archives_and_bundles_as_input(tmp_path: Path) -> None:
    import ecasrepro

    bundle = ecasrepro.snapshot(EXAMPLE_NB, output=tmp_path / "made.repro", progress=False)
    out = tmp_path / "out"
    code, report, stderr = run(str(bundle.path), "--tar", "-o", str(out))
    assert code == 0, stderr
    archive = Path(report["outcomes"][0]["archive"])
    assert archive.name == "made.bag.tar.gz" and tarfile.is_tarfile(archive)
    top = extract_archive(archive, tmp_path / "x")
    bagit.Bag(str(top)).validate()
    assert read_archived_bag_info(archive)["Ecasrepro-Source-Digest"][0].startswith("bundle:")

    # a change to the bundle (a new tag file, as verify adds) makes the archive out of date
    Bundle.open(bundle.path).write_tag_file("verification.json", b"{}\n")
    code, report, _ = run(str(bundle.path), "--tar", "-o", str(out))
    assert report["archived"] == 1
    top = extract_archive(archive, tmp_path / "y")
    bagit.Bag(str(top)).validate()
    assert (top / "verification.json").read_bytes() == b"{}\n"

    # a damaged payload is refused, not archived (and the old archive is left alone)
    archive.unlink()
    (bundle.path / "data" / "environment" / "requirements.txt").write_text("tampered\n")
    code, report, _ = run(str(bundle.path), "--tar", "-o", str(out))
    assert code == 2 and "does not match its sha256" in report["outcomes"][0]["reason"]
    assert not archive.exists() and not list(out.glob(".*tmp*"))


@pytest.mark.slow
def test_publish_makes_one_draft_per_analysis_and_a_rerun_none(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("B2SHARE_URL", "B2SHARE_TOKEN_FILE", "B2SHARE_COMMUNITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("B2SHARE_TOKEN", sandbox.token)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ECASREPRO_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "analyses"
    work.mkdir()
    shutil.copy(EXAMPLE_NB, work / "first.ipynb")
    shutil.copy(EXAMPLE_NB, work / "second.ipynb")
    out = tmp_path / "out"
    args = (str(work), "-o", str(out), "--publish", "--server", sandbox.url)
    code, report, stderr = run(*args)
    assert code == 0, stderr
    ids = {o["draft_id"] for o in report["outcomes"]}
    assert len(ids) == 2 and None not in ids
    assert {d["id"] for d in drafts_of(sandbox.url, sandbox.token)} == ids
    assert sandbox.token not in json.dumps(report) and sandbox.token not in stderr

    code, again, _ = run(*args)
    assert code == 0 and again["skipped"] == 2
    assert {o["draft_id"] for o in again["outcomes"]} == ids
    assert {d["id"] for d in drafts_of(sandbox.url, sandbox.token)} == ids


def test_publish_without_a_server_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("B2SHARE_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ECASREPRO_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    result = CliRunner().invoke(main, ["archive", str(EXAMPLE_NB), "-o", str(tmp_path / "o"),
                                       "--publish"])
    assert result.exit_code == 2 and "no B2SHARE server" in result.stderr
    assert not (tmp_path / "o").exists()


def test_nothing_to_archive_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["archive", str(tmp_path / "empty"), "-o",
                                       str(tmp_path / "o")])
    assert result.exit_code == 2 and "no bundles" in result.stderr


# --- safe extraction -----------------------------------------------------------------------------


def _zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            data = b"x" * member.size
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


REGULAR = stat.S_IFREG | 0o644


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([("bag/ok.txt", b"1", REGULAR), ("../evil.txt", b"2", REGULAR)], "'..'"),
        ([("bag/../../evil.txt", b"2", REGULAR)], "'..'"),
        ([("/tmp/evil.txt", b"2", REGULAR)], "absolute"),
        ([("C:/evil.txt", b"2", REGULAR)], "absolute"),
        ([("bag/link", b"/etc/passwd", stat.S_IFLNK | 0o777)], "symbolic link"),
    ],
)
def test_extract_refuses_zip_slip(tmp_path: Path, entries: Any, why: str) -> None:
    archive = _zip(tmp_path / "evil.zip", entries)
    dest = tmp_path / "dest" / "inner"
    with pytest.raises(BadInput, match="unsafe entry") as caught:
        extract_archive(archive, dest)
    assert why in str(caught.value) and str(caught.value).count("\n") == 0
    assert list(dest.iterdir()) == [] and not (tmp_path / "dest" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([_member("bag/ok"), _member("../evil")], "'..'"),
        ([_member("/abs/evil")], "absolute"),
        ([_member("bag/link", tarfile.SYMTYPE, "/etc/passwd")], "a link"),
        ([_member("bag/ok"), _member("bag/hard", tarfile.LNKTYPE, "bag/ok")], "a link"),
        ([_member("bag/dev", tarfile.CHRTYPE)], "special file"),
    ],
)
def test_extract_refuses_tar_slip(tmp_path: Path, members: Any, why: str) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", members)
    dest = tmp_path / "dest"
    with pytest.raises(BadInput, match="unsafe entry") as caught:
        extract_archive(archive, dest)
    assert why in str(caught.value)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil").exists()


def test_extract_good_archives_and_refuse_non_archives(tmp_path: Path) -> None:
    good = _zip(tmp_path / "good.zip", [("bag/a/b.txt", b"hello", REGULAR)])
    top = extract_archive(good, tmp_path / "d")
    assert top == tmp_path / "d" / "bag" and (top / "a" / "b.txt").read_bytes() == b"hello"
    with pytest.raises(BadInput, match="already exists"):
        extract_archive(good, tmp_path / "d")
    (tmp_path / "plain.txt").write_text("not an archive")
    with pytest.raises(BadInput, match="neither a zip nor a tar"):
        extract_archive(tmp_path / "plain.txt", tmp_path / "e")


def test_the_archive_function_is_not_shadowed_by_its_engine_module() -> None:
    import ecasrepro
    import ecasrepro.archival  # importing the engine must not replace the function

    assert callable(ecasrepro.archive)


def test_a_bundle_missing_its_metadata_fails_instead_of_its_notebook_being_archived(
    tmp_path: Path,
) -> None:
    """The walker used to enter a broken bundle and snapshot data/notebook/*.ipynb (exit 0)."""
    import ecasrepro

    found = tmp_path / "in"
    found.mkdir()
    bundle = ecasrepro.snapshot(EXAMPLE_NB, output=found / "made.repro", progress=False)
    (bundle.path / "data" / "metadata.json").unlink()
    out = tmp_path / "out"
    for given in (found, bundle.path):
        code, report, stderr = run(str(given), "-o", str(out))
        assert code == 2, stderr
        assert [o["status"] for o in report["outcomes"]] == ["failed"]
        assert "made.repro" in report["outcomes"][0]["source"]
        assert not (out / ".bundles").exists() and not list(out.glob("*.zip"))


def test_a_dead_writers_temporary_archive_is_removed_and_a_live_ones_kept(
    tmp_path: Path
) -> None:
    import fcntl
    import os
    import subprocess

    from ecasrepro.archival import remove_stale_archive_temporaries

    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f".a.bag.zip.tmp-{gone.pid}-x1"
    held = tmp_path / f".b.bag.tar.gz.tmp-{gone.pid}-x2"  # dead pid, but its lock is held
    live = tmp_path / f".c.bag.zip.tmp-{os.getpid()}-x3"
    mine = tmp_path / ".notes.tmp-1-x"  # not a name write_archive gives
    for path in (stale, held, live, mine):
        path.write_bytes(b"partial")
    with open(held, "rb") as locked:
        fcntl.flock(locked.fileno(), fcntl.LOCK_EX)
        assert remove_stale_archive_temporaries(tmp_path) == [stale]
    assert not stale.exists() and held.exists() and live.exists() and mine.exists()
