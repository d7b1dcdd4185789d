"""The bundle on disk: a valid BagIt bag with an RO-Crate, no secrets, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import bagit
import nbformat
import pytest

import ecasrepro
from ecasrepro import bundle as bundles
from ecasrepro.bundle import Bundle, copy_hashed
from ecasrepro.errors import BadInput, SecretFound
from ecasrepro.metadata import load_root_schema, validate_metadata

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project (notebook, data, outputs) in a temporary directory."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", root)
    shutil.copytree(EXAMPLES / "data", root / "data")
    shutil.copytree(EXAMPLES / "outputs", root / "outputs")
    return root


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def test_example_bundle_is_a_valid_bag_with_valid_metadata(project: Path) -> None:
    bundle = ecasrepro.snapshot(
        project / "temperature_anomaly.ipynb", attach=[project / "outputs"],
        metadata=EXAMPLES / "metadata.json", creators=["Doe, Jane"],
        inputs=["https://hdl.handle.net/21.T11148/abc-123"],
    )
    assert bundle.path == project / "temperature_anomaly.repro"
    bagit.Bag(str(bundle.path)).validate()  # full validation: every sha256 recomputed
    bundle.validate()
    metadata = json.loads((bundle.path / "data" / "metadata.json").read_text())
    validate_metadata(metadata, load_root_schema(1), "draft")
    assert metadata == bundle.metadata
    relpaths = {f.relpath for f in bundle.payload_files()}
    assert relpaths >= {
        "ro-crate-metadata.json", "metadata.json", "notebook/temperature_anomaly.ipynb",
        "notebook/temperature_anomaly.html", "environment/requirements.txt",
        "environment/platform.json", "git/state.json", "outputs/anomaly.csv",
    }
    for entry in bundle.payload_files():
        assert entry.size == entry.path.stat().st_size
        assert entry.sha256 == hashlib.sha256(entry.path.read_bytes()).hexdigest()
    kinds = [r["resource_type_general"] for r in metadata["resource_types"]]
    assert kinds == ["ComputationalNotebook", "Dataset"]
    derived = [r["related_identifier"] for r in metadata["related_identifiers"]]
    assert derived == [
        "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
        "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc1",
        "10.1029/2019JD032361",
        "21.T11148/abc-123",
    ]
    assert [p.identifier for p in bundle.inputs] == derived
    info = (bundle.path / "bag-info.txt").read_text()
    assert "Contact-Name: Doe, Jane" in info and "Payload-Oxum: " in info
    assert "External-Description: Station temperature anomaly and trend" in info
    assert not leftovers(project)


def test_ro_crate_lists_every_payload_file_and_each_pid(project: Path) -> None:
    bundle = ecasrepro.snapshot(
        project / "temperature_anomaly.ipynb", attach=[project / "outputs" / "anomaly.csv"],
        inputs=["doi:10.5281/zenodo.1234"], output=project / "out.repro",
    )
    crate = json.loads((bundle.path / "data" / "ro-crate-metadata.json").read_text())
    assert crate["@context"][0] == "https://w3id.org/ro/crate/1.1/context"
    graph = {entity["@id"]: entity for entity in crate["@graph"]}
    assert graph["ro-crate-metadata.json"]["about"] == {"@id": "./"}
    root = graph["./"]
    parts = {p["@id"] for p in root["hasPart"]}
    for entry in bundle.payload_files():
        if entry.relpath == "ro-crate-metadata.json":
            continue
        assert entry.relpath in parts
        assert graph[entry.relpath]["sha256"] == entry.sha256
        assert graph[entry.relpath]["contentSize"] == str(entry.size)
    expected = {
        "https://hdl.handle.net/21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
        "https://doi.org/10.1029/2019JD032361",
        "https://doi.org/10.5281/zenodo.1234",
    }
    assert {p["@id"] for p in root["isBasedOn"]} == expected
    assert expected <= parts  # web-based data entities are parts of the crate too
    for url in expected:
        assert graph[url]["@type"] == "Dataset"
    run = graph["#notebook-run"]
    assert run["@type"] == "CreateAction"
    assert run["instrument"] == {"@id": "notebook/temperature_anomaly.ipynb"}
    assert {o["@id"] for o in run["object"]} == expected
    assert {"@id": "outputs/anomaly.csv"} in run["result"]
    assert graph["outputs/anomaly.csv"]["alternateName"] == "outputs/anomaly.csv"


def test_planted_tokens_appear_nowhere(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    path = project / "temperature_anomaly.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs.append(nbformat.v4.new_output("stream", text=f"token is {TOKEN}\n"))
    nb.cells[2].source += "\n# curl -H 'Authorization: Bearer abcdefghijklmnop1234567890'"
    nb.metadata["note"] = f"https://user:{TOKEN}@example.org/repo.git"
    nbformat.write(nb, path)
    bundle = ecasrepro.snapshot(path, zip=True)
    files = [p for p in bundle.path.rglob("*") if p.is_file()]
    files.append(bundle.path.with_name(bundle.path.name + ".zip"))
    for file in files:
        data = file.read_bytes()
        assert TOKEN.encode() not in data, file
        assert b"abcdefghijklmnop1234567890" not in data, file
    with zipfile.ZipFile(files[-1]) as archive:
        for name in archive.namelist():
            assert TOKEN.encode() not in archive.read(name)
    text = (bundle.path / "data" / "notebook" / "temperature_anomaly.ipynb").read_text()
    assert "[REDACTED]" in text
    bagit.Bag(str(bundle.path)).validate()


def test_secret_in_an_attachment_fails_and_leaves_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    leaked = project / "outputs" / "log.txt"
    leaked.write_text(f"line one\nJUPYTERHUB_API_TOKEN={TOKEN}\n")
    with pytest.raises(SecretFound) as info:
        ecasrepro.snapshot(project / "temperature_anomaly.ipynb", attach=[leaked])
    message = str(info.value)
    assert "temperature_anomaly.repro/data/outputs/log.txt:2" in message
    assert TOKEN not in message
    assert info.value.exit_code == 5
    assert not (project / "temperature_anomaly.repro").exists()
    assert not leftovers(project)


def test_failure_mid_write_leaves_no_bundle_and_no_temp_dir(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "outputs" / "second.bin").write_bytes(b"x" * 1000)
    calls = []

    def failing_copy(source: Path, target: Path, *args: object, **kwargs: object) -> object:
        calls.append(source)
        if len(calls) == 2:
            target.write_bytes(b"partial")
            raise OSError(5, "Input/output error")
        return copy_hashed(source, target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bundles, "copy_hashed", failing_copy)
    with pytest.raises(BadInput, match="could not be copied"):
        ecasrepro.snapshot(project / "temperature_anomaly.ipynb", attach=[project / "outputs"])
    assert len(calls) == 2
    assert not (project / "temperature_anomaly.repro").exists()
    assert not leftovers(project)


def test_no_payload_file_is_read_back_while_writing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generated files are hashed and scanned from memory: each payload byte is read once."""
    read_back: list[str] = []
    real_open = open

    def watching_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "r" in mode and ".tmp-" in str(file):
            read_back.append(str(file))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(bundles, "open", watching_open, raising=False)
    bundle = ecasrepro.snapshot(
        project / "temperature_anomaly.ipynb", attach=[project / "outputs"]
    )
    assert read_back == []
    bagit.Bag(str(bundle.path)).validate()


def test_secret_left_in_a_generated_file_is_still_found(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final scan covers generated payload files and bag-info.txt, not only attachments."""
    from ecasrepro.capture.secrets import Redactor

    monkeypatch.setattr(Redactor, "redact_text", lambda self, text: text)
    monkeypatch.setattr(Redactor, "redact_json", lambda self, obj: obj)
    path = project / "temperature_anomaly.ipynb"
    with pytest.raises(SecretFound) as info:
        ecasrepro.snapshot(path, title=f"run https://bob:{TOKEN}@example.org/x")
    assert "bag-info.txt" in str(info.value) or "metadata.json" in str(info.value)
    assert TOKEN not in str(info.value)
    assert not (project / "temperature_anomaly.repro").exists()
    assert not leftovers(project)


def test_existing_bundle_needs_force_and_is_replaced(project: Path) -> None:
    notebook = project / "temperature_anomaly.ipynb"
    first = ecasrepro.snapshot(notebook, title="First")
    with pytest.raises(BadInput, match=r"already exists; pass --force"):
        ecasrepro.snapshot(notebook, title="Second")
    assert Bundle.open(first.path).title == "First"
    second = ecasrepro.snapshot(notebook, title="Second", force=True)
    assert second.path == first.path and second.title == "Second"
    second.validate()
    assert not leftovers(project)
    # --force never deletes something that is not a bundle.
    precious = project / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(BadInput, match="is not an ecasrepro bundle; refusing to replace it"):
        ecasrepro.snapshot(notebook, output=precious, force=True)
    assert (precious / "thesis.tex").exists()


def test_attachments_keep_layout_globs_and_missing_paths(project: Path) -> None:
    nested = project / "results" / "maps"
    nested.mkdir(parents=True)
    (nested / "a.txt").write_text("a")
    (nested / "b.txt").write_text("b")
    (project / "results" / "c.dat").write_text("c")
    found = bundles.resolve_attachments(
        [str(project / "results"), str(project / "outputs" / "*.csv")], bases=[project]
    )
    assert sorted(a.relpath for a in found) == [
        "outputs/anomaly.csv", "results/c.dat", "results/maps/a.txt", "results/maps/b.txt"
    ]
    with pytest.raises(BadInput, match=r"--attach path .*missing\.nc does not exist"):
        bundles.resolve_attachments([str(project / "missing.nc")], bases=[project])
    with pytest.raises(BadInput, match="matched no files"):
        bundles.resolve_attachments([str(project / "*.nc")], bases=[project])


def test_write_tag_file_keeps_the_bag_valid(project: Path) -> None:
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb")
    bundle.write_tag_file("verification.json", b'{"ok": true}\n')
    bundle.write_tag_file("verification.json", b'{"ok": false}\n')
    manifest = (bundle.path / "tagmanifest-sha256.txt").read_text()
    assert manifest.count("verification.json") == 1
    assert hashlib.sha256(b'{"ok": false}\n').hexdigest() in manifest
    bundle.receipt_path.write_text("{}")  # written by publish, in no manifest
    bagit.Bag(str(bundle.path)).validate()
    (bundle.path / "verification.json").write_text("tampered")
    with pytest.raises(BadInput, match="is not a valid bag"):
        bundle.validate()


def test_tampered_payload_fails_validation(project: Path) -> None:
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb")
    bundle.validate(fast=True)
    (bundle.path / "data" / "git" / "state.json").write_text("{}")
    with pytest.raises(BadInput, match="is not a valid bag"):
        bundle.validate()


def test_open_rejects_a_directory_that_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is not an ecasrepro bundle"):
        Bundle.open(tmp_path)


def test_copy_hashed_matches_hashlib_for_threaded_sizes(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with source.open("wb") as out:
        for _ in range(21):  # ~21 MiB: above the threaded threshold, not a chunk multiple
            out.write(block)
        out.write(b"tail")
    seen: list[int] = []
    size, sha256, md5 = copy_hashed(source, tmp_path / "copy.bin", on_bytes=seen.append)
    data = source.read_bytes()
    assert size == len(data) == sum(seen)
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert md5 == hashlib.md5(data).hexdigest()
    assert (tmp_path / "copy.bin").read_bytes() == data


def test_zip_holds_the_whole_bundle(project: Path) -> None:
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb", zip=True)
    archive = bundle.path.with_name("temperature_anomaly.repro.zip")
    with zipfile.ZipFile(archive) as handle:
        names = set(handle.namelist())
    on_disk = {f"temperature_anomaly.repro/{p.relative_to(bundle.path).as_posix()}"
               for p in bundle.path.rglob("*") if p.is_file()}
    assert names == on_disk


def test_md5_manifest_matches_the_files_and_bagit_checks_both(project: Path) -> None:
    big = project / "outputs" / "big.bin"
    with big.open("wb") as out:  # above the threaded threshold: md5 on its own worker
        for index in range(10):
            out.write(bytes([index]) * (1024 * 1024 + 7))
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb",
                                attach=[project / "outputs"])
    files = bundle.payload_files()
    assert any(f.relpath == "outputs/big.bin" for f in files)
    md5_lines = (bundle.path / "manifest-md5.txt").read_text().splitlines()
    assert len(md5_lines) == len(files)
    for entry in files:
        data = entry.path.read_bytes()
        assert entry.md5 == hashlib.md5(data).hexdigest()
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert f"{entry.md5}  data/{entry.relpath}" in md5_lines
    tags = (bundle.path / "tagmanifest-sha256.txt").read_text()
    for name in ("manifest-sha256.txt", "manifest-md5.txt", "ecasrepro-fixity.json"):
        digest = hashlib.sha256((bundle.path / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in tags
    bag = bagit.Bag(str(bundle.path))
    assert set(bag.algorithms) == {"sha256", "md5"}
    bag.validate()
    summary = {f["relpath"]: f["md5"] for f in bundle.summary()["files"]}
    assert summary == {f.relpath: f.md5 for f in files}


def test_tampering_fails_bagit_on_md5_alone_and_verify_file(project: Path) -> None:
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb")
    files = {f.relpath: f for f in bundle.payload_files()}
    state = files["git/state.json"]
    bundle.verify_file(state)  # untouched: no error
    # Corrupt only the md5 manifest: bagit must check it (not just the sha256 one).
    md5_manifest = bundle.path / "manifest-md5.txt"
    original = md5_manifest.read_text()
    md5_manifest.write_text(original.replace(state.md5 or "?", "0" * 32))
    tags = bundle.path / "tagmanifest-sha256.txt"
    tags.write_text("".join(
        f"{hashlib.sha256((bundle.path / line.split()[1]).read_bytes()).hexdigest()}  "
        f"{line.split()[1]}\n" for line in tags.read_text().splitlines()))
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bundle.path)).validate()
    md5_manifest.write_text(original)
    tags.write_text("".join(
        f"{hashlib.sha256((bundle.path / line.split()[1]).read_bytes()).hexdigest()}  "
        f"{line.split()[1]}\n" for line in tags.read_text().splitlines()))
    bagit.Bag(str(bundle.path)).validate()
    # Now change the payload itself, keeping its size.
    data = state.path.read_bytes()
    state.path.write_bytes(data[:-2] + (b"X" if data[-2:-1] != b"X" else b"Y") + data[-1:])
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bundle.path)).validate()
    with pytest.raises(BadInput) as info:
        bundle.verify_file(state)
    assert str(info.value) == (
        "data/git/state.json changed after the snapshot (its sha256 no longer matches the "
        "bag's manifest); re-run `ecasrepro snapshot` to capture it again."
    )
    state.path.unlink()
    with pytest.raises(BadInput, match="changed after the snapshot"):
        bundle.verify_file(state)


def test_unchanged_since_snapshot_follows_size_and_mtime(project: Path) -> None:
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb",
                                attach=[project / "outputs"], zip=True)
    record = json.loads((bundle.path / "ecasrepro-fixity.json").read_text())
    assert record["version"] == 1
    files = {f.relpath: f for f in bundle.payload_files()}
    assert set(record["files"]) == set(files)
    for relpath, entry in files.items():  # right after the snapshot (and its final rename)
        stat = entry.path.stat()
        assert record["files"][relpath] == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        assert Bundle.open(bundle.path).unchanged_since_snapshot(entry), relpath
    csv = files["outputs/anomaly.csv"]
    touched = os.stat(csv.path)
    os.utime(csv.path, ns=(touched.st_atime_ns, touched.st_mtime_ns + 1_000_000))
    assert not Bundle.open(bundle.path).unchanged_since_snapshot(csv)
    bundle.verify_file(csv)  # only touched: the content is still what was bagged
    state = files["git/state.json"]
    with state.path.open("a") as out:
        out.write("\n")
    os.utime(state.path, ns=(touched.st_atime_ns, record["files"]["git/state.json"]["mtime_ns"]))
    assert not Bundle.open(bundle.path).unchanged_since_snapshot(state)  # size differs
    with pytest.raises(BadInput, match=r"data/git/state\.json changed after the snapshot"):
        bundle.verify_file(state)
    assert Bundle.open(bundle.path).unchanged_since_snapshot(files["metadata.json"])


def test_bundles_without_md5_or_fixity_still_open(project: Path) -> None:
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb")
    # Make it look like a bundle written before md5 and fixity were recorded.
    (bundle.path / "manifest-md5.txt").unlink()
    (bundle.path / "ecasrepro-fixity.json").unlink()
    tags = bundle.path / "tagmanifest-sha256.txt"
    tags.write_text("".join(line + "\n" for line in tags.read_text().splitlines()
                            if line.split()[1] not in ("manifest-md5.txt",
                                                       "ecasrepro-fixity.json")))
    old = Bundle.open(bundle.path)
    old.validate()
    files = old.payload_files()
    assert files and all(f.md5 is None for f in files)
    assert not any(old.unchanged_since_snapshot(f) for f in files)
    for entry in files:
        old.verify_file(entry)
        assert entry.sha256 == hashlib.sha256(entry.path.read_bytes()).hexdigest()
    assert old.summary()["files"][0]["md5"] is None


def test_percent_and_newline_names_are_valid_for_bagit_python_and_round_trip(
    project: Path, tmp_path: Path
) -> None:
    """RFC 8493 §2.1.3 (CR, LF and "%"), read back alike by bagit-python and by the RFC."""
    odd = project / "odd"
    odd.mkdir()
    names = ["100%_done.csv", "upper%2a.csv"]
    try:
        (odd / "two\nlines.csv").write_bytes(b"x\n")
        names.append("two\nlines.csv")
    except OSError:  # a filesystem without newlines in names: the rest still counts
        pass
    for name in names:
        (odd / name).write_bytes(name.encode() + b"\n")
    bundle = ecasrepro.snapshot(project / "temperature_anomaly.ipynb", attach=[odd],
                                output=tmp_path / "odd.repro")
    manifest = (bundle.path / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert "data/outputs/100%_done.csv\n" in manifest  # begins no escape: as is
    if "two\nlines.csv" in names:
        assert "data/outputs/two%0Alines.csv\n" in manifest
    relpaths = {f.relpath for f in bundle.payload_files()}
    assert {f"outputs/{n}" for n in names} <= relpaths  # decoded back exactly
    bagit.Bag(str(bundle.path)).validate()  # bagit-python's own validator
    bundle.validate()
    crate = json.loads((bundle.path / "data" / "ro-crate-metadata.json").read_text())
    ids = {e["@id"] for e in crate["@graph"]}
    assert "outputs/100%25_done.csv" in ids  # an @id is a URI reference

    archive = ecasrepro.archive([bundle.path], output=tmp_path / "archives")
    (outcome,) = archive.outcomes
    from ecasrepro.archival import extract_archive

    top = extract_archive(Path(outcome.archive), tmp_path / "extracted")
    bagit.Bag(str(top)).validate()

    (odd / "literal%0A.csv").write_bytes(b"y\n")  # no spelling reads alike everywhere
    with pytest.raises(BadInput, match="rename it"):
        ecasrepro.snapshot(project / "temperature_anomaly.ipynb", attach=[odd],
                           output=tmp_path / "refused.repro")
    assert not (tmp_path / "refused.repro").exists()


def test_manifest_paths_decode_in_one_pass() -> None:
    assert bundles._decode_manifest_path("a%250Ab%0d%0Ac%25") == "a%0Ab\r\nc%"
    assert bundles._encode_manifest_path("x\r\ny%z") == "x%0D%0Ay%z"
