"""Reproduce a published analysis: download the record, rebuild the bundle, its environment,
re-execute the notebook there and report the three stages separately.

Reproducibility studies report separately whether the environment could be rebuilt, whether the
code then ran without error, and whether it gave the same results; so does
:class:`ReproductionReport`. Layout of the output directory (default ``./b2share-<record id>``):
``bundle/`` (the BagIt bag rebuilt from the record's files: its payload exactly as published,
tag files written here), ``venv/`` (the rebuilt environment) and ``jupyter/`` (the kernelspec
for it). The files are downloaded into ``<dir>.part`` and the directory is renamed into place
only when every file has the md5 the server states and the sha256 the bundle's RO-Crate states
(a re-run resumes a ``.part`` directory); a venv is complete only with its marker file.

One job: run the reproduce stages in order over a fetcher, the rebuild module and the verifier,
so that the library API only resolves configuration and a front end only prints.

May import: ecasrepro.errors, ecasrepro.b2share.client, ecasrepro.b2share.download,
ecasrepro.b2share.registry, ecasrepro.bundle, ecasrepro.config, ecasrepro.verification,
.rebuild; never
ecasrepro.api, ecasrepro.b2share.v2/v3 or a front end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ecasrepro.errors import BadInput, ExitCode, TamperedFile

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.download import PublishedRecord, RecordFetcher, RecordRef
    from ecasrepro.config import PublishConfig
    from ecasrepro.verification import VerificationReport

DOWNLOADED = ".ecasrepro-download.json"  # in bundle/: the record it came from; written last
RUN_ERRORS = frozenset({"new-error", "timeout", "not-run"})


@dataclass
class Stage:
    """One stage's outcome: ``ok`` True/False, or None when it was not attempted."""

    ok: bool | None
    detail: str


@dataclass
class ReproductionReport:
    record: str
    server: str
    landing: str
    directory: str
    files: int
    bytes: int
    is_bundle: bool
    environment: Stage = field(default_factory=lambda: Stage(None, "not attempted"))
    ran: Stage = field(default_factory=lambda: Stage(None, "not attempted"))
    outputs: Stage = field(default_factory=lambda: Stage(None, "not attempted"))
    differing_cells: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verification: VerificationReport | None = None

    @property
    def verdict(self) -> str:
        if not self.is_bundle or self.environment.ok is None:
            return "downloaded"
        if self.environment.ok is False:
            return "environment-not-rebuilt"
        if self.ran.ok is False:
            return "ran-with-errors"
        return "reproduced" if self.outputs.ok else "differs"

    @property
    def exit_code(self) -> ExitCode:
        if self.verdict == "reproduced" or (self.is_bundle and self.verdict == "downloaded"):
            return ExitCode.OK
        return ExitCode.BAD_INPUT if not self.is_bundle else ExitCode.NOT_REPRODUCED

    def to_dict(self) -> dict[str, Any]:
        stage = {"ok": None, "detail": ""}
        return {
            "verdict": self.verdict, "record": self.record, "server": self.server,
            "landing": self.landing, "directory": self.directory, "files": self.files,
            "bytes": self.bytes,
            "stages": {name: {**stage, **getattr(self, name).__dict__}
                       for name in ("environment", "ran", "outputs")},
            "differing_cells": self.differing_cells, "notes": self.notes,
            "verification": self.verification.to_dict() if self.verification else None,
        }

    def summary(self) -> str:
        """The human summary: one line per stage, then the notes."""
        if not self.is_bundle:
            return (f"reproduce {self.record}: record {self.record} is not an ecasrepro bundle "
                    f"(no ro-crate-metadata.json with a notebook); its {self.files} file(s) were "
                    f"downloaded to {self.directory}, nothing was re-executed")
        mark = {True: "yes", False: "NO", None: "-"}
        lines = [f"reproduce {self.record}: {self.verdict.upper()} ({self.directory})"]
        for label, stage in (("environment rebuilt", self.environment),
                             ("ran without error", self.ran),
                             ("outputs identical", self.outputs)):
            lines.append(f"  {label:<20} {mark[stage.ok]:<4} {stage.detail}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _bar(total: int, desc: str, unit: str, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", file=sys.stderr,
                leave=False)


def _safe_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in key:
        raise TamperedFile(f"the record lists a file named {key!r}, which would land outside the "
                           "download directory; it was refused")
    return path


def _crate_digests(data: Path) -> dict[str, str] | None:
    """sha256 of each payload file as the bundle's RO-Crate states it; None: not a bundle."""
    crate = data / "ro-crate-metadata.json"
    if not crate.is_file() or not (data / "metadata.json").is_file():
        return None
    try:
        graph = json.loads(crate.read_text(encoding="utf-8")).get("@graph", [])
    except (ValueError, OSError, AttributeError):
        return None
    digests = {str(e["@id"]): str(e["sha256"]).lower() for e in graph
               if isinstance(e, dict) and "sha256" in e and "@id" in e}
    if not any(name.startswith("notebook/") and name.endswith(".ipynb") for name in digests):
        return None
    return digests


def _write_bag(root: Path, record: PublishedRecord, sums: dict[str, tuple[str, str, int]]) -> None:
    """bagit.txt, bag-info.txt and the manifests for the downloaded payload (tag manifest last)."""
    ordered = sorted(sums)
    size = sum(s[2] for s in sums.values())
    tags = {
        "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": (f"Source-Organization: B2SHARE {record.server}\n"
                         f"External-Identifier: {record.landing}\n"
                         f"Payload-Oxum: {size}.{len(sums)}\n"),
        "manifest-sha256.txt": "".join(f"{sums[k][1]}  data/{k}\n" for k in ordered),
        "manifest-md5.txt": "".join(f"{sums[k][0]}  data/{k}\n" for k in ordered),
    }
    lines = []
    for name, text in tags.items():
        (root / name).write_text(text, encoding="utf-8")
        lines.append(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n")
    (root / "tagmanifest-sha256.txt").write_text("".join(lines), encoding="utf-8")


def download_record(fetcher: RecordFetcher, record: PublishedRecord, out: Path,
                    progress: bool) -> tuple[bool, int]:
    """The record's files into ``out/bundle`` (via ``out.part``); (is a bundle, bytes)."""
    bundle = out / "bundle"
    if (bundle / DOWNLOADED).is_file():
        done = json.loads((bundle / DOWNLOADED).read_text())
        if done.get("record") != record.id:
            raise BadInput(f"{out} holds record {done.get('record')}, not {record.id}; pass "
                           "--output with another directory")
        return bool(done["is_bundle"]), int(done["bytes"])
    if out.exists():
        raise BadInput(f"{out} already exists and is not a finished download of record "
                       f"{record.id}; remove it or pass --output with another directory")
    part = out.with_name(out.name + ".part")
    data = part / "bundle" / "data"
    total = sum(f.size for f in record.files)
    bar = _bar(total, "downloading", "B", progress)
    sums: dict[str, tuple[str, str, int]] = {}
    try:
        for item in record.files:
            target = data.joinpath(*_safe_key(item.key).parts)
            md5, sha = fetcher.download(item, target, bar.update if bar else None)
            sums[item.key] = (md5, sha, target.stat().st_size)
    finally:
        if bar is not None:
            bar.close()
    digests = _crate_digests(data)
    if digests is not None:
        bad = sorted(k for k, (_, sha, _) in sums.items() if k in digests and digests[k] != sha)
        missing = sorted(k for k in digests if k not in sums)
        for key in bad:
            (data / key).unlink()
        if bad:
            raise TamperedFile(f"{', '.join(bad)} of record {record.id} do(es) not match the "
                               "sha256 in the bundle's ro-crate-metadata.json: the file was "
                               "changed after the snapshot, and was refused")
        if missing:
            raise TamperedFile(f"record {record.id} lacks {', '.join(missing)}, which its "
                               "ro-crate-metadata.json lists; the bundle is incomplete")
        _write_bag(part / "bundle", record, sums)
    size = sum(s[2] for s in sums.values())
    (part / "bundle" / DOWNLOADED).write_text(json.dumps(
        {"record": record.id, "server": record.server, "landing": record.landing,
         "is_bundle": digests is not None, "bytes": size}))
    part.rename(out)
    return digests is not None, size


@contextlib.contextmanager
def _jupyter_path(where: Path) -> Iterator[None]:
    """Put the reproduce kernelspec first on JUPYTER_PATH for the run (restored afterwards)."""
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(where), *([old] if old else [])])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def reproduce_published(
    ref: RecordRef,
    config: PublishConfig,
    *,
    output: Path | None = None,
    data_dirs: Sequence[Path] = (),
    timeout: float = 600.0,
    progress: bool = False,
    download_only: bool = False,
) -> ReproductionReport:
    """Download, rebuild and re-execute the record ``ref`` names; the report of all stages.

    ``download_only`` stops after the bundle is rebuilt (its stages stay "not attempted")."""
    from ecasrepro.b2share.client import B2ShareSession
    from ecasrepro.b2share.download import RecordFetcher
    from ecasrepro.b2share.registry import resolve_dialect
    from ecasrepro.reproduction.rebuild import KERNEL_NAME, build_environment, write_kernelspec
    from ecasrepro.verification import verify_bundle

    for directory in data_dirs:
        if not Path(directory).is_dir():
            raise BadInput(f"--data {directory} is not a directory; pass the directory that "
                           "holds the notebook's input files")
    with B2ShareSession(config) as session:
        fetcher = RecordFetcher(config, resolve_dialect(config, session), session)
        record = fetcher.record(ref)
        out = Path(output) if output is not None else Path.cwd() / f"b2share-{record.id}"
        is_bundle, size = download_record(fetcher, record, out, progress)
    report = ReproductionReport(record.id, record.server, record.landing, str(out),
                                len(record.files), size, is_bundle)
    if not is_bundle or download_only:
        return report
    data = out / "bundle" / "data"
    steps = _bar(4, "environment", "step", progress)

    def step(what: str) -> None:
        if steps is not None:
            steps.set_postfix_str(what)
            steps.update(1)

    try:
        built = build_environment(data, out / "venv", step=step)
    except BadInput as exc:
        raise BadInput(f"{exc} (the record's files are in {out})") from None
    except RuntimeError as exc:
        report.environment = Stage(False, str(exc))
        return report
    finally:
        if steps is not None:
            steps.close()
    detail = f"{built.source} with {built.installer}, {built.packages} locked package(s)"
    if built.unresolved:
        detail += f"; {len(built.unresolved)} pin(s) not in the lock installed by name"
    if built.failed:
        report.environment = Stage(False, detail + "; could not install " + ", ".join(built.failed))
        return report
    report.environment = Stage(True, detail)
    if built.unresolved:
        report.notes.append("installed from requirements.txt pins, not locked artifacts: "
                            + ", ".join(built.unresolved))
    report.notes += built.notes
    kernels = write_kernelspec(built, out / "venv", out / "jupyter")
    with _jupyter_path(kernels):
        verification = verify_bundle(out / "bundle", kernel_name=KERNEL_NAME,
                                     data_dirs=list(data_dirs), timeout=timeout,
                                     progress=progress)
    report.verification = verification
    errors = [c for c in verification.cells if c.verdict in RUN_ERRORS]
    report.ran = Stage(not errors, "; ".join(f"{c.label()} {c.verdict}: {c.reason}"
                                             for c in errors[:3]) or
                       f"{sum(c.cell_type == 'code' for c in verification.cells)} code cell(s)")
    report.differing_cells = [c.label() for c in verification.failing]
    report.outputs = Stage(verification.reproduced, "all outputs match" if verification.reproduced
                           else "differ: " + "; ".join(f"{c.label()} ({c.reason})"
                                                       for c in verification.failing[:3]))
    report.notes += verification.warnings
    missing_input = any(c.verdict == "new-error" and "FileNotFoundError" in c.reason
                        for c in verification.cells)
    if missing_input:
        from ecasrepro.bundle import Bundle

        inputs = Bundle.open(out / "bundle").inputs
        if inputs:
            report.notes.append("inputs not found: " + ", ".join(
                f"{p.type} {p.identifier}" for p in inputs)
                + "; download them and pass --data DIR with the directory that holds them")
    shutil.rmtree(out / "jupyter", ignore_errors=True)
    return report


__all__ = ["ReproductionReport", "Stage", "download_record", "reproduce_published"]
