"""Turn what an analysis read (files, printed or held ids) into input files and dataset PIDs.

Front ends and the recorder hand in *discovered* inputs: file paths (recorded by the kernel,
found in the namespace, or named with ``--input-file``) and ids (printed in outputs, or held in
the namespace's attributes). Each file becomes one :class:`InputFile` (path as the user may see
it, size, tracking id; sha256 only when nothing else identifies it: ESGF's Handle records carry
the checksums of files with a PID); each **dataset** becomes one ``IsDerivedFrom`` related
identifier: the computed dataset Handle, else the file's own Handle; DOIs as DOIs. An id whose
file was read is that file's, so it adds nothing; only ids with no file behind them add a
file-level identifier. Files are referenced, never copied.

One job: one list of input files and one list of input PIDs from everything discovered, so that
a bundle cites exactly what was read, at the level ESGF cites it.

May import: ecasrepro.capture.esgf, ecasrepro.capture.netcdf_attrs, ecasrepro.pids,
ecasrepro.errors; never ecasrepro.bundle, ecasrepro.b2share, ecasrepro.api or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ecasrepro.capture.esgf import FileFacts, classify_tracking_id, file_facts
from ecasrepro.capture.netcdf_attrs import read_global_attributes
from ecasrepro.errors import BadInput
from ecasrepro.pids import RelatedIdentifier, parse_pid, related_identifiers

Source = Literal["recorded", "namespace", "file attribute", "printed", "declared"]
SOURCES: tuple[str, ...] = ("recorded", "namespace", "file attribute", "printed", "declared")
CHUNK = 1024 * 1024
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Discovered:
    """One file path or one id, and how it was found (see :data:`SOURCES`)."""

    value: str
    kind: str  # "file" | "id"
    source: str


@dataclass
class InputFile:
    """One file the analysis read: referenced (never copied) by path, size and identity."""

    path: Path  # absolute, as read
    shown: str  # relative to the notebook's directory, else with ~ for the home directory
    size: int
    sources: list[str]
    facts: FileFacts
    sha256: str | None = None  # only for files with no PID

    @property
    def pid(self) -> RelatedIdentifier | None:
        """What cites this file's data: the dataset Handle, else the file Handle."""
        if self.facts.dataset_pid:
            return parse_pid(self.facts.dataset_pid)
        tracking = self.facts.tracking_id
        if tracking is not None and tracking.pid:
            return parse_pid(tracking.pid)
        return None

    @property
    def level(self) -> str:
        return "dataset" if self.facts.dataset_pid else "file"


@dataclass(frozen=True)
class InputRow:
    """One line of the confirmation a front end shows: what, how found, at which level."""

    what: str  # an identifier, or a file's shown path
    source: str  # e.g. "file attribute (recorded)"
    level: str  # "dataset" | "file"
    url: str | None = None  # resolver URL of the identifier


@dataclass
class InputReport:
    """The input files, the related identifiers they give, what to show and warn about."""

    files: list[InputFile] = field(default_factory=list)
    related: list[RelatedIdentifier] = field(default_factory=list)
    rows: list[InputRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def shown_path(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base`` when inside it, else with the home directory as ``~``."""
    if base is not None:
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            pass
    try:
        return (Path("~") / path.relative_to(Path.home())).as_posix()
    except ValueError:
        return path.as_posix()


def expand_input_files(patterns: Iterable[str | os.PathLike[str]], base: Path) -> list[Path]:
    """``--input-file PATH/GLOB`` values as files (relative to ``base``); BadInput for none."""
    found: list[Path] = []
    for pattern in patterns:
        text = os.path.expanduser(os.fspath(pattern))
        full = text if os.path.isabs(text) else os.path.join(base, text)
        if _GLOB_CHARS & set(text):
            matches = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
            if not matches:
                raise BadInput(f"--input-file {pattern} matches no file; check the pattern.")
            found.extend(Path(p) for p in matches)
        elif os.path.isfile(full):
            found.append(Path(full))
        else:
            raise BadInput(f"--input-file {pattern} is not a file; check the path.")
    return found


def sha256_of(path: Path) -> str:
    """The file's sha256, read once in 1 MiB chunks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _excluded(path: Path, shown: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(candidate, pattern) for pattern in patterns
               for candidate in (str(path), shown, path.name))


def resolve_inputs(
    discovered: Iterable[Discovered | tuple[str, str, str]],
    *,
    base: Path | None = None,
    exclude: Sequence[str] = (),
    skip: Iterable[Path] = (),
) -> InputReport:
    """Every discovered file and id as input files, related identifiers, rows and warnings.

    ``base`` is the notebook's directory (paths are shown relative to it); ``exclude`` are
    globs matched against a file's absolute path, shown path and name; ``skip`` are files and
    directories never inputs (the notebook, the bundle being written).
    """
    items = [d if isinstance(d, Discovered) else Discovered(*d) for d in discovered]
    skipped = [Path(os.path.abspath(p)) for p in skip]
    report = InputReport()
    by_path: dict[Path, InputFile] = {}
    dropped: set[str] = set()  # tracking ids of excluded files
    for item in items:
        if item.kind != "file":
            continue
        path = Path(os.path.abspath(os.path.expanduser(item.value)))
        known = by_path.get(path)
        if known is not None:
            if item.source not in known.sources:
                known.sources.append(item.source)
            continue
        if any(path == s or s in path.parents for s in skipped) or not path.is_file():
            continue
        shown = shown_path(path, base)
        if _excluded(path, shown, exclude):
            # its ids (printed, held in the namespace) go with it
            tracking = file_facts(read_global_attributes(path, shown).values, path).tracking_id
            if tracking is not None:
                dropped.add(tracking.value)
            continue
        attrs = read_global_attributes(path, shown)
        if attrs.warning:
            report.warnings.append(attrs.warning)
        facts = file_facts(attrs.values, path)
        by_path[path] = InputFile(path, shown, path.stat().st_size, [item.source], facts)
    candidates: list[RelatedIdentifier] = []
    tracked: set[str] = set(dropped)
    files_by_id = {e.facts.tracking_id.value: e for e in by_path.values()
                   if e.facts.tracking_id is not None}
    tracked.update(files_by_id)
    loose: list[tuple[RelatedIdentifier, str]] = []  # ids with no file read behind them
    for item in items:
        if item.kind != "id":
            continue
        tracking = classify_tracking_id(item.value)
        if tracking is None:
            continue
        entry = files_by_id.get(tracking.value)
        if entry is not None:  # the id of a file already cited: it names that file too
            if item.source not in entry.sources:
                entry.sources.append(item.source)
            continue
        if tracking.value in tracked:
            continue
        tracked.add(tracking.value)
        if tracking.pid is None:
            continue  # a CMIP5 tracking id with no file behind it: nothing to cite
        loose.append((parse_pid(tracking.pid), item.source))
    rows: dict[tuple[str, str], InputRow] = {}
    for entry in by_path.values():
        pid = entry.pid
        if pid is not None:
            candidates.append(pid)
            key = (pid.identifier, entry.level)
            prior = rows.get(key)
            sources = list(dict.fromkeys(
                [*(prior.source[len("file attribute ("):-1].split(", ") if prior else []),
                 *entry.sources]))
            rows[key] = InputRow(pid.identifier, f"file attribute ({', '.join(sources)})",
                                 entry.level, pid.resolver_url)
        for doi in entry.facts.dois:
            try:
                parsed = parse_pid(doi)
            except BadInput:
                report.warnings.append(f"input {entry.shown} has a doi attribute that is no DOI "
                                       f"({doi!r}); it is left out.")
                continue
            candidates.append(parsed)
            rows.setdefault((parsed.identifier, "dataset"), InputRow(
                parsed.identifier, f"file attribute ({', '.join(entry.sources)})", "dataset",
                parsed.resolver_url))
        if not entry.facts.has_pid:
            entry.sha256 = sha256_of(entry.path)
            rows[(entry.shown, "file")] = InputRow(entry.shown, ", ".join(entry.sources), "file")
        report.files.append(entry)
    for pid, source in loose:
        candidates.append(pid)
        rows.setdefault((pid.identifier, "file"),
                        InputRow(pid.identifier, source, "file", pid.resolver_url))
    report.rows = list(rows.values())
    report.related = related_identifiers(candidates)
    missing = [f.shown for f in report.files if not f.facts.has_pid]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        noun = "input has" if len(missing) == 1 else "inputs have"
        report.warnings.append(f"{len(missing)} {noun} no PID: {shown} (listed in the RO-Crate "
                               "by path, size and sha256).")
    return report


def describe(report: InputReport) -> list[dict[str, Any]]:
    """The rows as plain dicts (for JSON and front ends)."""
    return [{"input": r.what, "source": r.source, "level": r.level, "url": r.url}
            for r in report.rows]
