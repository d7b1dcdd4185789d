"""Archival of finished analyses: one self-contained BagIt bag per analysis, as a zip or tar.gz.

An *analysis* is a bundle directory (``*.repro``) or a notebook (``*.ipynb``, snapshotted first
into ``<output>/.bundles/``, never beside the notebook). Directories are searched for both;
hidden directories (``.ipynb_checkpoints``, ``.git``, ``.venv``), virtualenvs and the output
directory itself are skipped, and a notebook whose ``<stem>.repro`` bundle sits beside it is
archived through that bundle.

Each archive is the bundle's bag with a richer ``bag-info.txt`` (``Title``, ``Creator``,
``Bagging-Date``, ``Source-Date``, one ``Ecasrepro-Input`` per input PID) and the tag manifest
updated to match. Every payload byte is read once: it is hashed against ``manifest-sha256.txt``
while it is compressed, so a damaged bundle is refused instead of archived. Archives are written
to a temporary sibling (named with the writer's pid, flock'ed while written) and renamed into
place; a run first removes the temporaries of writers that died (a worker killed with -9).

*Current* means: the archive's ``bag-info.txt`` records ``Ecasrepro-Source-Digest`` equal to the
analysis's digest now (a bundle: sha256 of its ``tagmanifest-sha256.txt``, which pins every tag
and payload file; a notebook: sha256 of the ``.ipynb`` bytes). Such analyses are skipped.

One job: archive finished analyses and extract archives safely, so that each analysis can be kept
as one self-contained file whose fixity is checked on the way in and out; it receives the snapshot
function instead of importing the API. Runs stream the analyses to an executor (Dask or a local
pool, :mod:`ecasrepro.executors`) and journal what finished in ``<output>/archive-run.json``.

May import: ecasrepro.bundle, ecasrepro.b2share.publisher (to publish an archived bundle),
ecasrepro.b2share.client (its pacer), ecasrepro.config, ecasrepro.errors, ecasrepro.executors,
ecasrepro.runjournal, ecasrepro.version; never ecasrepro.api (the snapshot function is passed
in) or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

from ecasrepro.bundle import INPUT_LABEL, _decode_manifest_path, _pid_alive, _temp_prefix
from ecasrepro.errors import BadInput, EcasReproError, ExitCode
from ecasrepro.version import __version__

ArchiveFormat = Literal["zip", "tar"]
SUFFIXES: dict[str, str] = {"zip": ".bag.zip", "tar": ".bag.tar.gz"}
CHUNK_SIZE = 4 * 1024 * 1024
STORE_MIN = 64 * 1024 * 1024  # larger payload files are stored, not deflated (usually binary)
WORK_DIR = ".bundles"  # notebook snapshots (and their publishing receipts) under the output dir
SKIP_DIR_NAMES = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env"})
DIGEST_LABEL = "Ecasrepro-Source-Digest"
#: bag-info labels the archive sets itself (the bundle's own values are replaced).
REPLACED_LABELS = frozenset(
    {"Bagging-Date", "Title", "Creator", "Source-Date", INPUT_LABEL, DIGEST_LABEL,
     "Ecasrepro-Source", "Ecasrepro-Archived-By", "Bag-Size"}
)
#: when several analyses fail, the exit code is that of the most severe failure, in this order.
SEVERITY = (
    ExitCode.INTERNAL,
    ExitCode.SECRET_FOUND,
    ExitCode.SERVER_REFUSED,
    ExitCode.UNREACHABLE,
    ExitCode.BAD_INPUT,
)


def most_severe(codes: set[int]) -> int:
    """The exit code of a run whose items failed with ``codes`` (0 when none failed)."""
    for code in SEVERITY:
        if int(code) in codes:
            return int(code)
    return max(codes, default=0)


@dataclass(frozen=True)
class Analysis:
    """One finished analysis to archive: a bundle directory or a notebook file."""

    source: Path
    kind: Literal["bundle", "notebook"]
    name: str  # the archive's base name, unique within one run


@dataclass
class ArchiveOutcome:
    """What happened to one analysis: archived, skipped (already current) or failed (why)."""

    source: str
    kind: str
    status: Literal["archived", "skipped", "failed"]
    archive: str | None = None
    title: str | None = None
    reason: str | None = None
    exit_code: int = 0
    bundle: str | None = None
    draft_id: str | None = None
    draft_url: str | None = None
    draft_state: str | None = None
    warnings: list[str] = field(default_factory=list)
    digest: str | None = None  # the analysis's source digest when this outcome was reached

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "kind": self.kind, "status": self.status,
            "archive": self.archive, "title": self.title, "reason": self.reason,
            "exit_code": self.exit_code, "bundle": self.bundle, "draft_id": self.draft_id,
            "draft_url": self.draft_url, "draft_state": self.draft_state,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> ArchiveOutcome:
        """An outcome from its journal line (``to_json`` and ``digest``)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in line.items() if k in known})

    def line(self) -> str:
        """One line of the summary."""
        text = f"{self.status:<8} {self.source}"
        if self.status == "failed":
            return f"{text}: {self.reason}"
        if self.archive:
            text += f" -> {self.archive}"
        if self.draft_id:
            text += f"  [{self.draft_state or 'draft'} {self.draft_id}: {self.draft_url}]"
        return text


@dataclass
class ArchiveReport:
    """A run's counts and failures; every outcome is read back from the run's journal lines.

    The driver keeps no list of outcomes (memory flat with the number of analyses):
    :meth:`iter_outcomes` streams them from the journal, in the order they finished.
    ``exit_code`` is 0 unless one failed (then the most severe)."""

    output: Path
    format: str
    counts: dict[str, int]
    failures: list[ArchiveOutcome]
    journal: Any = None  # the run's RunJournal (closed), or None for a report built by hand
    given: list[ArchiveOutcome] | None = None

    @classmethod
    def of(cls, output: Path, fmt: str, outcomes: Iterable[ArchiveOutcome]) -> ArchiveReport:
        """A report of outcomes in hand (tests, callers without a journal)."""
        listed = list(outcomes)
        counts: dict[str, int] = {}
        for outcome in listed:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return cls(output, fmt, counts, [o for o in listed if o.status == "failed"],
                   given=listed)

    def iter_outcomes(self) -> Iterator[ArchiveOutcome]:
        if self.given is not None:
            yield from self.given
        elif self.journal is not None:
            for line in self.journal.this_run():
                yield ArchiveOutcome.from_json(line)

    @property
    def outcomes(self) -> list[ArchiveOutcome]:
        """Every outcome of the run (read from the journal when asked)."""
        return list(self.iter_outcomes())

    @property
    def exit_code(self) -> int:
        return most_severe({o.exit_code for o in self.failures})

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    def summary(self) -> str:
        lines = [o.line() for o in self.iter_outcomes()]
        lines.append(
            f"{self.count('archived')} archived, {self.count('skipped')} skipped (current), "
            f"{self.count('failed')} failed; archives in {self.output}"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "format": self.format, "exit_code": self.exit_code,
            "archived": self.count("archived"), "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "outcomes": [o.to_json() for o in self.iter_outcomes()],
        }


# --- discovery -----------------------------------------------------------------------------------


def is_bundle_dir(path: Path) -> bool:
    return path.is_dir() and (path / "bagit.txt").is_file() and (
        path / "data" / "metadata.json"
    ).is_file()


def looks_like_bundle(path: Path) -> bool:
    """A ``*.repro`` directory or an ecasrepro bag: archived as a bundle (a broken one fails with
    its reason), never searched for notebooks (its own data/notebook/ would be snapshotted)."""
    return path.is_dir() and (path.suffix == ".repro" or is_bundle_dir(path) or (
        (path / "bagit.txt").is_file() and (path / "ecasrepro-fixity.json").is_file()))


def _skip_dir(path: Path, excluded: Sequence[Path]) -> bool:
    if path.name.startswith(".") or path.name in SKIP_DIR_NAMES:
        return True
    if (path / "pyvenv.cfg").exists() or (path / "conda-meta").is_dir():
        return True
    resolved = path.resolve()
    return any(resolved == e for e in excluded)


def _check_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The given paths (a handful, from the command line), each checked before any work."""
    checked = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise BadInput(f"{path} does not exist; pass bundles, notebooks or directories.")
        if not (looks_like_bundle(path) or path.is_dir()
                or (path.is_file() and path.suffix == ".ipynb")):
            raise BadInput(
                f"{path} is neither a bundle, a notebook (.ipynb) nor a directory; "
                "pass one of those."
            )
        checked.append(path)
    return checked


def iter_analyses(
    paths: Iterable[str | os.PathLike[str]], exclude: Sequence[Path] = ()
) -> Iterator[Analysis]:
    """Bundles and notebooks named by ``paths`` or found below them, each once, in path order,
    streamed as the directories are walked (a hub's thousands of analyses are never listed
    whole). Names are unique within the run: the first analysis called ``x`` gets ``x``, a
    later one ``x-<hash of its path>``. Only 64-bit digests of the paths and names seen are
    kept, to skip repeats."""
    excluded = [Path(e).resolve() for e in exclude]
    # 64-bit digests of the paths seen and the names given, not the strings: ~60 B each
    seen: set[int] = set()
    names: set[int] = set()

    def emit(path: Path, kind: Literal["bundle", "notebook"]) -> Iterator[Analysis]:
        resolved = path.resolve()
        key = str(resolved)
        digest = _short_hash(key)
        if digest in seen:
            return
        seen.add(digest)
        base = _base_name(resolved, kind)
        if _short_hash(base) in names:
            base = f"{base}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        names.add(_short_hash(base))
        yield Analysis(resolved, kind, base)

    def notebook(path: Path) -> Iterator[Analysis]:
        sibling = path.with_name(f"{path.stem}.repro")
        if is_bundle_dir(sibling):
            yield from emit(sibling, "bundle")
        else:
            yield from emit(path, "notebook")

    for path in _check_paths(paths):
        if looks_like_bundle(path):
            yield from emit(path, "bundle")
        elif path.is_file():
            yield from notebook(path)
        else:
            for root, dirs, files in os.walk(path):
                here = Path(root)
                keep = []
                for name in sorted(dirs):
                    sub = here / name
                    if _skip_dir(sub, excluded):
                        continue
                    if looks_like_bundle(sub):
                        yield from emit(sub, "bundle")
                    else:
                        keep.append(name)
                dirs[:] = keep
                for name in sorted(files):
                    if name.endswith(".ipynb") and not name.startswith("."):
                        yield from notebook(here / name)


def _short_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def discover_analyses(
    paths: Iterable[str | os.PathLike[str]], exclude: Sequence[Path] = ()
) -> list[Analysis]:
    """:func:`iter_analyses` as a list (for scripts and tests; runs stream it)."""
    return list(iter_analyses(paths, exclude))


def _base_name(path: Path, kind: str) -> str:
    name = path.name.removesuffix(".repro") if kind == "bundle" else path.stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "analysis"


# --- digests and currency ------------------------------------------------------------------------


def source_digest(analysis: Analysis) -> str:
    """What the archive must match to be current (see the module docstring)."""
    if analysis.kind == "bundle":
        target = analysis.source / "tagmanifest-sha256.txt"
    else:
        target = analysis.source
    digest = hashlib.sha256()
    try:
        with open(target, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
    except OSError as exc:
        raise BadInput(
            f"{target} cannot be read ({exc.strerror or exc}); check the {analysis.kind}."
        ) from None
    return f"{analysis.kind}:sha256:{digest.hexdigest()}"


def archive_path(output: Path, analysis: Analysis, fmt: str) -> Path:
    return output / f"{analysis.name}{SUFFIXES[fmt]}"


def read_archived_bag_info(path: Path) -> dict[str, list[str]]:
    """``bag-info.txt`` of an archive made here (it is the second member: cheap even for tar)."""
    text = ""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist()[:4]:
                if name.count("/") == 1 and name.endswith("/bag-info.txt"):
                    text = archive.read(name).decode("utf-8")
                    break
    else:
        with tarfile.open(path, "r|*") as archive:
            for count, member in enumerate(archive):
                if count > 4:
                    break
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith(
                    "/bag-info.txt"
                ):
                    handle = archive.extractfile(member)
                    text = handle.read().decode("utf-8") if handle else ""
                    break
    return _parse_bag_info(text)


def is_current(path: Path, digest: str) -> bool:
    if not path.is_file():
        return False
    try:
        info = read_archived_bag_info(path)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, UnicodeDecodeError, EOFError):
        return False
    return info.get(DIGEST_LABEL) == [digest]


# --- writing one archive --------------------------------------------------------------------------


def _parse_bag_info_lines(text: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and items:  # folded continuation line
            key, value = items[-1]
            items[-1] = (key, f"{value} {line.strip()}")
        elif ":" in line:
            key, value = line.split(":", 1)
            items.append((key.strip(), value.strip()))
    return items


def _parse_bag_info(text: str) -> dict[str, list[str]]:
    info: dict[str, list[str]] = {}
    for key, value in _parse_bag_info_lines(text):
        info.setdefault(key, []).append(value)
    return info


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def archive_bag_info(bundle: Any, digest: str, today: str | None = None) -> bytes:
    """The bundle's bag-info with the archival labels: title, creators, dates, input PIDs."""
    original = _parse_bag_info_lines((bundle.path / "bag-info.txt").read_text(encoding="utf-8"))
    metadata = bundle.metadata
    creators = [
        str(c.get("creator_name")) for c in metadata.get("creators") or []
        if isinstance(c, dict) and c.get("creator_name")
    ]
    snapshot_dates = [v for k, v in original if k == "Bagging-Date"]
    items: list[tuple[str, str]] = [
        ("Title", bundle.title),
        *[("Creator", name) for name in creators],
        ("Bagging-Date", today or datetime.now(timezone.utc).date().isoformat()),
        *[("Source-Date", date) for date in snapshot_dates[:1]],
        *[(INPUT_LABEL, pid.resolver_url) for pid in bundle.inputs],
        *[(k, v) for k, v in original if k not in REPLACED_LABELS],
        ("Ecasrepro-Archived-By", f"ecasrepro {__version__}"),
        (DIGEST_LABEL, digest),
    ]
    return "".join(f"{k}: {_one_line(v)}\n" for k, v in items).encode("utf-8")


def _manifest(path: Path) -> dict[str, str]:
    """relpath (``data/...``) -> sha256, from a manifest file."""
    entries: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            value, name = line.split(None, 1)
            name = _decode_manifest_path(name.strip())
            entries[name] = value.lower()
    return entries


class _HashingReader(io.RawIOBase):
    """A file read for tarfile that hashes every byte as it passes (one read per byte)."""

    def __init__(self, handle: IO[bytes], digest: Any, on_bytes: Callable[[int], None] | None):
        self._handle = handle
        self._digest = digest
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        if chunk:
            self._digest.update(chunk)
            if self._on_bytes is not None:
                self._on_bytes(len(chunk))
        return chunk


def _bundle_files(bundle_path: Path) -> tuple[list[str], list[str]]:
    """(top-level tag files, payload files) as bag-relative POSIX paths; refuses links."""
    tags, payload = [], []
    for entry in sorted(bundle_path.iterdir()):
        if entry.name == "data" or entry.name.startswith(".") or entry.name == "receipt.json":
            continue
        if entry.is_symlink() or not entry.is_file():
            continue
        tags.append(entry.name)
    for root, dirs, files in os.walk(bundle_path / "data"):
        dirs.sort()
        for name in sorted(files):
            file = Path(root) / name
            rel = file.relative_to(bundle_path).as_posix()
            if file.is_symlink() or not file.is_file():
                raise BadInput(
                    f"bundle {bundle_path} holds {rel}, which is not a regular file; archives "
                    "hold regular files only, so replace it with a copy."
                )
            payload.append(rel)
    return tags, payload


def write_archive(
    bundle: Any,
    target: Path,
    fmt: str,
    digest: str,
    on_bytes: Callable[[int], None] | None = None,
) -> Path:
    """Write ``bundle`` as a bag archive at ``target`` (atomically); checks every payload digest."""
    top = target.name.removesuffix(SUFFIXES[fmt])
    info = archive_bag_info(bundle, digest)
    manifest = _manifest(bundle.path / "manifest-sha256.txt")
    tags, payload = _bundle_files(bundle.path)
    extra = sorted(set(payload) - set(manifest))
    missing = sorted(set(manifest) - set(payload))
    if extra or missing:
        what = f"{extra[0]} is not in its manifest" if extra else f"{missing[0]} is missing"
        raise BadInput(f"bundle {bundle.path} is damaged ({what}); re-create it with snapshot.")
    tag_lines = []
    for line in (bundle.path / "tagmanifest-sha256.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        value, name = line.split(None, 1)
        if name.strip() == "bag-info.txt":
            value = hashlib.sha256(info).hexdigest()
        tag_lines.append(f"{value}  {name.strip()}\n")
    generated = {"bag-info.txt": info, "tagmanifest-sha256.txt": "".join(tag_lines).encode()}
    first = ["bagit.txt", "bag-info.txt"]
    ordered_tags = first + [t for t in tags if t not in first]

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=_temp_prefix(target.name, "tmp"),
                                         dir=target.parent)
    temp = Path(temp_name)
    _lock(handle)  # held until this writer ends (even by kill -9): a later run tells it is alive
    try:
        with _ArchiveWriter(temp, fmt) as writer:
            for name in ordered_tags:
                data = generated.get(name)
                if data is None:
                    data = (bundle.path / name).read_bytes()
                writer.add_bytes(f"{top}/{name}", data)
            for rel in payload:
                value = writer.add_file(f"{top}/{rel}", bundle.path / rel, on_bytes)
                if value != manifest[rel]:
                    raise BadInput(
                        f"bundle {bundle.path} is damaged ({rel} does not match its sha256 in "
                        "manifest-sha256.txt); re-create it with snapshot."
                    )
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    finally:
        os.close(handle)
    return target


def _lock(fd: int) -> None:
    with contextlib.suppress(ImportError, OSError):  # no flock: the pid alone decides
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


_ARCHIVE_TEMP = re.compile(r"^\.(?P<target>.+\.bag\.(?:zip|tar\.gz))\.tmp-(?P<pid>\d+)-")


def remove_stale_archive_temporaries(output: Path) -> list[Path]:
    """Remove the temporary archives that killed writers (a worker killed with -9) left in
    ``output``: only names :func:`write_archive` gives, whose pid is dead here and whose lock
    nobody holds (a live writer on another node keeps its flock on a shared disk)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: leave everything
        return []
    removed = []
    with os.scandir(output) as entries:
        for entry in entries:
            found = _ARCHIVE_TEMP.match(entry.name)
            if found is None or not entry.is_file(follow_symlinks=False):
                continue
            if _pid_alive(int(found["pid"])):
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_NONBLOCK", 0))
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                continue  # held: its writer is alive after all
            finally:
                os.close(fd)
    return removed


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


class _ArchiveWriter:
    """Adds members to a zip or a tar.gz; ``add_file`` returns the sha256 of what it wrote."""

    def __init__(self, path: Path, fmt: str):
        self.fmt = fmt
        self.stamp = datetime.now(timezone.utc)
        if fmt == "zip":
            self.zip: zipfile.ZipFile | None = zipfile.ZipFile(path, "w", allowZip64=True)
            self.tar: tarfile.TarFile | None = None
        else:
            self.zip = None
            self.tar = tarfile.open(  # noqa: SIM115 - closed in __exit__
                path, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT
            )

    def __enter__(self) -> _ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.zip is not None:
            self.zip.close()
        if self.tar is not None:
            self.tar.close()

    def _zip_info(self, name: str, size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self.stamp.timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED if size >= STORE_MIN else zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        return info

    def _tar_info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        info.mtime = int(self.stamp.timestamp())
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        if self.zip is not None:
            self.zip.writestr(self._zip_info(name, len(data)), data)
        elif self.tar is not None:
            self.tar.addfile(self._tar_info(name, len(data)), io.BytesIO(data))

    def add_file(self, name: str, source: Path, on_bytes: Callable[[int], None] | None) -> str:
        digest = hashlib.sha256()
        with open(source, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if self.zip is not None:
                info = self._zip_info(name, size)
                with self.zip.open(info, "w", force_zip64=size >= 2**31) as out:
                    while chunk := handle.read(CHUNK_SIZE):
                        digest.update(chunk)
                        out.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
            elif self.tar is not None:
                reader = _HashingReader(handle, digest, on_bytes)
                self.tar.addfile(self._tar_info(name, size), reader)
        return digest.hexdigest()


# --- safe extraction ------------------------------------------------------------------------------


def _unsafe_reason(name: str) -> str | None:
    if not name:
        return "an empty name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = re.split(r"[/\\]+", name)
    if ".." in parts:
        return "a '..' component"
    if "\x00" in name:
        return "a NUL character"
    return None


def _refuse(archive: Path, name: str, why: str) -> BadInput:
    return BadInput(
        f"archive {archive} holds an unsafe entry {name!r} ({why}); refusing to extract it."
    )


def extract_archive(path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Extract a zip or tar archive into ``dest``; returns the archive's single top directory.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    symbolic and hard links and device files are refused (zip-slip / tar-slip), with one
    sentence naming the entry. Extraction goes to a temporary directory first, so a failure
    leaves nothing half-extracted in ``dest``.
    """
    archive = Path(path)
    target = Path(dest)
    if not archive.is_file():
        raise BadInput(f"archive {archive} does not exist or is not a file; check the path.")
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as opened:
            members = opened.infolist()
            for info in members:
                why = _unsafe_reason(info.filename)
                mode = info.external_attr >> 16
                if why is None and stat.S_ISLNK(mode):
                    why = "a symbolic link"
                if why is None and mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    why = "a special file"
                if why:
                    raise _refuse(archive, info.filename, why)
            tops = {re.split(r"[/\\]+", i.filename)[0] for i in members}
            temp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
            try:
                opened.extractall(temp)
                return _move_tops(temp, target, tops, archive)
            finally:
                shutil.rmtree(temp, ignore_errors=True)
    try:
        opened_tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError:
        raise BadInput(
            f"{archive} is neither a zip nor a tar archive; pass an archive made by "
            "'ecasrepro archive'."
        ) from None
    with opened_tar:
        tar_members = opened_tar.getmembers()
        for member in tar_members:
            why = _unsafe_reason(member.name)
            if why is None and (member.issym() or member.islnk()):
                why = "a link"
            if why is None and not (member.isfile() or member.isdir()):
                why = "a special file"
            if why:
                raise _refuse(archive, member.name, why)
        tops = {re.split(r"[/\\]+", m.name)[0] for m in tar_members}
        temp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
        try:
            opened_tar.extractall(temp, members=tar_members, filter="data")
            return _move_tops(temp, target, tops, archive)
        finally:
            shutil.rmtree(temp, ignore_errors=True)


def _move_tops(temp: Path, target: Path, tops: set[str], archive: Path) -> Path:
    tops.discard("")
    tops.discard(".")
    for name in tops:
        if (target / name).exists():
            raise BadInput(
                f"{target / name} already exists; extract {archive} into an empty directory."
            )
    for name in sorted(tops):
        os.rename(temp / name, target / name)
    if len(tops) == 1:
        return target / next(iter(tops))
    return target


def validate_archive(path: str | os.PathLike[str]) -> Path:
    """Extract an archive (safely) into a temporary directory and validate the bag in it."""
    from ecasrepro.bundle import Bundle

    with tempfile.TemporaryDirectory(prefix="ecasrepro-check-") as scratch:
        top = extract_archive(path, scratch)
        Bundle(top).validate()
    return Path(path)


# --- the whole run --------------------------------------------------------------------------------


#: ``ecasrepro.api.snapshot``'s shape: (notebook, output=..., force=..., **options) -> Bundle.
#: Passed in by the caller, so that this engine never imports the API that wires it.
SnapshotFunction = Callable[..., Any]


def refresh_bundle(notebook: Path, output: Path, snapshot: SnapshotFunction,
                   **snapshot_options: Any) -> Any:
    """Snapshot ``notebook`` into ``output``, replacing an older bundle there but keeping its
    ``receipt.json``, so that publishing again continues the same draft instead of a new one."""
    receipt = output / "receipt.json"
    saved = receipt.read_bytes() if receipt.is_file() and is_bundle_dir(output) else None
    bundle = snapshot(notebook, output=output, force=output.exists(), **snapshot_options)
    if saved is not None and not bundle.receipt_path.exists():
        from ecasrepro.bundle import _atomic_write

        _atomic_write(bundle.receipt_path, saved)
    return bundle


def _archive_one(
    analysis: Analysis,
    output: Path,
    fmt: str,
    publisher_factory: Callable[[], Any] | None,
    snapshot: SnapshotFunction,
) -> ArchiveOutcome:
    from ecasrepro.bundle import Bundle

    outcome = ArchiveOutcome(str(analysis.source), analysis.kind, "failed")
    stage = "archiving"
    try:
        digest = outcome.digest = source_digest(analysis)
        target = archive_path(output, analysis, fmt)
        outcome.archive = str(target)
        work = output / WORK_DIR / f"{analysis.name}.repro"
        current = is_current(target, digest)
        bundle = None
        if analysis.kind == "bundle":
            bundle = Bundle.open(analysis.source)
        elif not current or (publisher_factory is not None and not is_bundle_dir(work)):
            stage = "snapshotting"
            work.parent.mkdir(parents=True, exist_ok=True)
            bundle = refresh_bundle(analysis.source, work, snapshot, progress=False)
            outcome.warnings = list(bundle.warnings)
        elif is_bundle_dir(work):
            bundle = Bundle.open(work)
        if bundle is not None:
            outcome.bundle = str(bundle.path)
            outcome.title = bundle.title
        stage = "archiving"
        if current:
            outcome.status = "skipped"
        else:
            assert bundle is not None
            write_archive(bundle, target, fmt, digest)
            outcome.status = "archived"
        if publisher_factory is not None and bundle is not None:
            stage = "publishing"
            with publisher_factory() as publisher:
                lines = getattr(publisher_factory, "journal_lines", None)
                if lines:  # the draft's id in the run journal before any upload to it
                    from ecasrepro.runjournal import append_draft

                    source = str(analysis.source)
                    publisher.on_draft = lambda draft_id: append_draft(lines, source, draft_id)
                record = publisher.publish(bundle)
            outcome.draft_id = record.id
            outcome.draft_url = record.html_url
            outcome.draft_state = record.state
    except EcasReproError as exc:
        done = f"archived to {outcome.archive}, but " if stage == "publishing" else ""
        outcome.status = "failed"
        outcome.reason = f"{done}{stage} failed: {exc}" if done else str(exc)
        outcome.exit_code = int(exc.exit_code)
    except Exception as exc:  # a bug in one analysis must not stop the others
        outcome.status = "failed"
        outcome.reason = (
            f"internal error while {stage}: {type(exc).__name__}: {exc} (a bug in ecasrepro; "
            "please report it)"
        )
        outcome.exit_code = int(ExitCode.INTERNAL)
    return outcome


JOURNAL_NAME = "archive-run.json"


@dataclass(frozen=True)
class PublisherFactory:
    """Opens a publisher where the task runs (a Dask worker, maybe on another node).

    It carries the settings (server, token file, community, dialect), never the token: a
    :class:`ecasrepro.config.Secret` refuses to be pickled, so each worker resolves the token as
    the driver did (``B2SHARE_TOKEN`` in its environment, or the token file on a shared disk).
    """

    settings: tuple[tuple[str, str | None], ...]
    #: the executor's shared rate and back-off (``Executor.pacer``), installed where this runs
    pacer: Any = None
    #: the run journal's lines, where a worker appends a draft's id as soon as it exists
    journal_lines: str | None = None

    def __call__(self) -> Any:
        from ecasrepro.b2share.client import set_pacer
        from ecasrepro.b2share.publisher import open_publisher
        from ecasrepro.config import resolve_config

        if self.pacer is not None:
            set_pacer(self.pacer)
        given = dict(self.settings)
        config = resolve_config(given.get("server"), token_file=given.get("token_file"),
                                community=given.get("community"), api=given.get("api"))
        config.require_token()
        return open_publisher(config, progress=False, echo=lambda message: None)


def _from_journal(analysis: Analysis, entry: dict[str, Any]) -> ArchiveOutcome:
    """A finished analysis's outcome on resume: skipped, with what the journal recorded."""
    return ArchiveOutcome(
        str(analysis.source), analysis.kind, "skipped", archive=entry.get("archive"),
        title=entry.get("title"), bundle=entry.get("bundle"), draft_id=entry.get("draft_id"),
        draft_url=entry.get("draft_url"), draft_state=entry.get("draft_state"),
        digest=entry.get("digest"),
    )


def _lost(analysis: Analysis, exc: BaseException) -> ArchiveOutcome:
    """The outcome of a task the executor lost (its worker died more often than it retries)."""
    return ArchiveOutcome(
        str(analysis.source), analysis.kind, "failed", exit_code=int(ExitCode.INTERNAL),
        reason=f"the task was lost ({type(exc).__name__}: {exc}); run again to resume",
    )


def archive_analyses(
    paths: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    snapshot: SnapshotFunction,
    fmt: str = "zip",
    jobs: int | None = None,
    publish: Mapping[str, str | None] | None = None,
    progress: bool | None = None,
    executor: str = "auto",
    scheduler: str | None = None,
    notify: Callable[[str], None] | None = None,
    publish_rate: float = 10.0,
) -> ArchiveReport:
    """Archive every analysis under ``paths`` into ``output``; failures are reported, not raised.

    ``snapshot`` makes a bundle of a notebook (``ecasrepro.api.snapshot``).
    ``publish`` (the settings of :func:`ecasrepro.config.resolve_config`: server, token_file,
    community, api; the caller has checked them) publishes each archived analysis as its own
    draft; the bundle's receipt keeps a re-run from making another. All workers share one pace
    of at most ``publish_rate`` requests per second and one back-off (a 429/503 seen by one
    pauses all). The analyses are streamed to ``executor`` (:mod:`ecasrepro.executors`:
    ``auto``, ``dask`` with an optional ``scheduler`` address, ``local``) with ``jobs`` workers;
    what finished is journalled in ``<output>/archive-run.json``, so a killed run resumes
    without redoing it.
    """
    from ecasrepro.executors import open_executor
    from ecasrepro.runjournal import RunJournal

    if fmt not in SUFFIXES:
        raise BadInput(f"archive format {fmt!r} is not one of zip, tar; pick one.")
    out = Path(output).expanduser()
    if out.exists() and not out.is_dir():
        raise BadInput(f"output {out} is not a directory; choose another -o DIR.")
    stream = iter_analyses(paths, exclude=[out])
    first = next(stream, None)
    if first is None:
        raise BadInput(
            "no bundles (*.repro) or notebooks (*.ipynb) were found in the given paths; "
            "pass the analyses to archive."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create {out} ({exc.strerror or exc}); choose another -o.") from None
    remove_stale_archive_temporaries(out)
    journal = RunJournal(out / JOURNAL_NAME, "archive")
    show = progress if progress is not None else sys.stderr.isatty()
    from tqdm import tqdm

    counts: dict[str, int] = {}
    failures: list[ArchiveOutcome] = []
    factory: PublisherFactory | None = None

    def tally(analysis: Analysis, outcome: ArchiveOutcome) -> None:
        """Journal one outcome as it comes; the driver keeps only counts and failures."""
        journal.record(str(analysis.source), {**outcome.to_json(), "digest": outcome.digest})
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == "failed":
            failures.append(outcome)

    def todo(bar: Any) -> Iterator[Analysis]:
        """The analyses still to do; those the journal finished (unchanged since) are skipped
        here, without a task."""
        for analysis in itertools.chain([first], stream):
            entry = journal.finished(str(analysis.source))
            if entry is not None and _still_done(analysis, entry, out, fmt, factory is not None):
                tally(analysis, _from_journal(analysis, entry))
                bar.update(1)
                continue
            yield analysis

    with tqdm(total=None, unit="analysis", desc="archiving", file=sys.stderr,
              disable=not show, leave=False) as bar, journal, open_executor(
        executor, workers=jobs, scheduler=scheduler
    ) as pool:
        if pool.notice and notify is not None:
            notify(pool.notice)
        if publish is not None:
            factory = PublisherFactory(tuple(sorted(publish.items())), pool.pacer(publish_rate),
                                       str(journal.lines_path))
        from ecasrepro.b2share.client import set_pacer

        previous = set_pacer(None)
        try:
            for analysis, outcome in pool.imap_unordered(
                _archive_one, todo(bar), out, fmt, factory, snapshot, on_error=_lost
            ):
                tally(analysis, outcome)
                bar.set_postfix_str(f"{outcome.status} {analysis.source.name}", refresh=False)
                bar.update(1)
        finally:
            set_pacer(previous)  # this process's threads (local pool, threaded cluster)
    journal.close({"counts": counts, "failures": [f.to_json() for f in failures]})
    return ArchiveReport(out, fmt, counts, failures, journal)


def _still_done(analysis: Analysis, entry: dict[str, Any], out: Path, fmt: str,
                publishing: bool) -> bool:
    """Whether a journalled analysis needs nothing: same source, its archive there (and, when
    publishing, a draft recorded)."""
    try:
        digest = source_digest(analysis)
    except EcasReproError:
        return False
    if entry.get("digest") != digest or not archive_path(out, analysis, fmt).is_file():
        return False
    return not publishing or bool(entry.get("draft_id"))


def iter_archives(output: Path) -> Iterator[Path]:
    """The archives in an output directory (for scripts and tests)."""
    for suffix in SUFFIXES.values():
        yield from sorted(output.glob(f"*{suffix}"))


__all__ = [
    "Analysis",
    "ArchiveOutcome",
    "ArchiveReport",
    "archive_analyses",
    "discover_analyses",
    "extract_archive",
    "iter_analyses",
    "iter_archives",
    "refresh_bundle",
    "validate_archive",
    "write_archive",
]
