"""The on-disk bundle: a BagIt bag (sha256) whose payload is an RO-Crate. The layout is a contract:

    <name>.repro/
      bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-md5.txt  tagmanifest-sha256.txt
      ecasrepro-fixity.json             # size and mtime_ns of each payload file at snapshot time
      receipt.json                      # after publish; not in any manifest
      data/ro-crate-metadata.json  data/metadata.json
      data/notebook/<name>.ipynb  data/notebook/<name>.html
      data/environment/{requirements.txt, pylock.toml, environment.yml, platform.json}
      data/git/{state.json, uncommitted.patch}
      data/outputs/...

Every payload byte is hashed exactly once, while it is written (generated files) or copied
(attachments, which are also scanned for secrets in the same pass): sha256 (the bag's primary
manifest) and md5 (what B2SHARE reports, so publishing never re-hashes) come from the same read.
The fixity record lets publishing tell, from a stat alone, that a file is still the one that was
hashed and scanned (the git-index approach). An attachment may also arrive without being copied
(``link``: a copy-on-write clone, FICLONE, where the filesystem can, or a hard link when asked);
it is then read once for its hashes and scan, and the bag is byte-for-byte the same. The bag is
assembled in a hidden temporary sibling and renamed into place only when complete, so a failure
never leaves a half-written bundle behind.

One job: write and read the bundle, so that its layout (a contract) and its fixity are decided in
one place.

May import: ecasrepro.errors, ecasrepro.pids, ecasrepro.version, ecasrepro.userfiles; never
ecasrepro.capture, ecasrepro.b2share, ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic,
ecasrepro.compat).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ecasrepro.errors import BadInput, SecretFound
from ecasrepro.userfiles import not_regular
from ecasrepro.version import __version__

# 1 MiB reads: few syscalls, hashlib releases the GIL per update, and the buffers come from
# reused heap memory and stay in cache for the hash and the scan (4 MiB reads were fresh mmaps,
# page-faulted on every read: copying 1 GiB cost 2-4x more system time).
CHUNK_SIZE = 1024 * 1024
THREADED_MIN = 8 * 1024 * 1024  # below this a file is hashed inline (a thread costs more)
PROGRESS_MIN = 64 * 1024 * 1024  # show a progress bar when attachments exceed this
MANIFEST = "manifest-sha256.txt"
MD5_MANIFEST = "manifest-md5.txt"
FIXITY = "ecasrepro-fixity.json"
FIXITY_VERSION = 1
# Files modified within this long before the fixity record is written are "racy" (a same-size
# edit in the same coarse timestamp tick would keep their mtime), so the snapshot waits this out.
RACY_NS = 20_000_000
TAGMANIFEST = "tagmanifest-sha256.txt"
# errnos of a write the disk refused: full, over quota, over the process's file size limit
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
LINK_MODES = ("auto", "reflink", "hardlink", "copy")
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int): clone the whole file, sharing its extents
# what FICLONE answers where the filesystem (or the pair of them) cannot clone
NO_CLONE = frozenset({errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                      errno.EPERM, errno.EBADF})
RECEIPT = "receipt.json"
CRATE = "ro-crate-metadata.json"
#: bag-info label of each input PID (resolver URL); RFC 8493 reserves External-Identifier for
#: the bag's own identifier, so inputs have a label of our own (bundles and archives alike).
INPUT_LABEL = "Ecasrepro-Input"
PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
# The RO-Crate property of an attached file that says where the notebook saw it (relative to the
# notebook's directory); schema.org's, so the crate needs no context of its own.
NOTEBOOK_PATH = "alternateName"
AGENT = f"ecasrepro {__version__} <https://github.com/ecasrepro/ecasrepro>"


@dataclass(frozen=True)
class PayloadFile:
    """One file under ``data/``: its path relative to data/ (POSIX), size, sha256 and md5.

    ``md5`` is None for bundles written before md5 was recorded (no manifest-md5.txt).
    """

    relpath: str
    path: Path
    size: int
    sha256: str
    md5: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"relpath": self.relpath, "size": self.size, "sha256": self.sha256,
                "md5": self.md5}


@dataclass(frozen=True)
class Attachment:
    """A user file to copy into ``data/outputs/<relpath>``.

    ``notebook_path`` is where the notebook saw it, relative to the notebook's directory (POSIX);
    None when the file is outside that directory. It is recorded in the RO-Crate so that
    ``verify`` puts the file back there whatever ``relpath`` is.
    """

    source: Path
    relpath: str  # relative to outputs/, POSIX
    size: int
    notebook_path: str | None = None


# --- attachments --------------------------------------------------------------------------------


def _layout_path(path: Path, bases: Sequence[Path]) -> str:
    """The path an attachment keeps: relative to the first base that contains it, else its name."""
    resolved = path.resolve()
    for base in bases:
        try:
            return resolved.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return path.name


def _inside(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base`` (POSIX), or None when it is not inside ``base``."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return None


def _shared_directories(anchors: Iterable[tuple[str, ...]]) -> int:
    """How many leading directories all the attached items' directories have in common."""
    split = list(anchors)
    shared = 0
    for names in zip(*split, strict=False):
        if any(name != names[0] for name in names):
            break
        shared += 1
    return shared


def resolve_attachments(
    specs: Iterable[str | os.PathLike[str]],
    bases: Sequence[Path],
    exclude: Sequence[Path] = (),
) -> list[Attachment]:
    """Expand files, globs and directories into attachments laid out under ``data/outputs/``.

    Each file's path relative to the first base that holds it (the notebook's directory, then
    the current directory; else its name) loses the leading directories that every attachment
    shares, so ``-a outputs`` stores ``outputs/x.csv`` as ``outputs/x.csv``, not
    ``outputs/outputs/x.csv``. ``bases[0]`` is the notebook's directory: each file's path there
    is kept as ``notebook_path`` for ``verify``. Checked before anything is written: a missing
    path, an empty glob or two files stored at the same path is a BadInput.
    """
    import glob

    excluded = [p.resolve() for p in exclude]
    # resolved source -> (path as given, layout path); and the directory of each attached item
    found: dict[Path, tuple[Path, str]] = {}
    anchors: set[tuple[str, ...]] = set()

    def skip(path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved == e or e in resolved.parents for e in excluded)

    def add(path: Path, layout: str, anchor: tuple[str, ...]) -> None:
        if skip(path) or ".ipynb_checkpoints" in path.parts:
            return
        check_payload_name(layout, path)
        found.setdefault(path.resolve(), (path, layout))
        anchors.add(anchor)

    for spec in specs:
        text = os.fspath(spec)
        path = Path(text).expanduser()
        if glob.has_magic(text) and not path.exists():
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                raise BadInput(f"--attach pattern {text!r} matched no files; check the pattern.")
            paths = [Path(m) for m in matches]
        elif not path.exists():
            raise BadInput(f"--attach path {text} does not exist; check the path.")
        else:
            paths = [path]
        for item in paths:
            if item.is_dir():
                top = _layout_path(item, bases)
                anchor = PurePosixPath(top).parts if top != "." else ()
                for root, dirs, names in os.walk(item):
                    dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
                    for name in sorted(names):
                        file = Path(root) / name
                        if file.is_file():
                            inner = file.relative_to(item).as_posix()
                            add(file, f"{top}/{inner}" if top != "." else inner, anchor)
            elif item.is_file():
                layout = _layout_path(item, bases)
                add(item, layout, PurePosixPath(layout).parts[:-1])
            else:
                raise not_regular(item, "--attach path")
    shared = _shared_directories(anchors)
    notebook_dir = bases[0] if bases else None
    stored: dict[str, Attachment] = {}
    for path, layout in found.values():
        relpath = PurePosixPath(*PurePosixPath(layout).parts[shared:]).as_posix()
        other = stored.get(relpath)
        if other is not None:
            raise BadInput(
                f"--attach {path} and {other.source} would both be stored as outputs/{relpath}; "
                "rename one of them or attach it from the notebook's directory."
            )
        seen = _inside(path, notebook_dir) if notebook_dir is not None else None
        stored[relpath] = Attachment(path, relpath, path.stat().st_size, seen)
    return list(stored.values())


# --- hashing writers ----------------------------------------------------------------------------


class _Worker:
    """Applies ``consume`` to every chunk on its own thread; a bounded queue keeps memory flat."""

    def __init__(self, consume: Callable[[bytes], Any], name: str):
        self._consume = consume
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._consume(chunk)
                except BaseException as exc:  # surfaced in finish()
                    self._error = exc

    def put(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class _Hasher:
    """sha256, md5 and the secret scan of one byte stream, in the same pass as the copy.

    For large files each runs on its own thread: hashlib releases the GIL, so both hashes, the
    scanner (the one GIL holder) and the read/write loop overlap.
    """

    def __init__(self, scanner: Any | None, threaded: bool):
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.scanner = scanner
        self._workers: list[_Worker] = []
        if threaded:
            self._workers.append(_Worker(self.sha256.update, "ecasrepro-sha256"))
            self._workers.append(_Worker(self.md5.update, "ecasrepro-md5"))
            if scanner is not None:
                self._workers.append(_Worker(scanner.feed, "ecasrepro-scan"))

    def feed(self, chunk: bytes) -> None:
        if self._workers:
            for worker in self._workers:
                worker.put(chunk)
            return
        self.sha256.update(chunk)
        self.md5.update(chunk)
        if self.scanner is not None:
            self.scanner.feed(chunk)

    def finish(self) -> tuple[str, str]:
        """(sha256 hex, md5 hex) once every worker has drained its queue."""
        errors = []
        for worker in self._workers:
            try:
                worker.finish()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return self.sha256.hexdigest(), self.md5.hexdigest()


def _reflink(src: int, dst: int) -> bool:
    """Clone ``src`` into ``dst`` (FICLONE); False where the filesystem cannot."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return False
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError as exc:
        if exc.errno in NO_CLONE:
            return False
        raise
    return True


def _hash_only(source: Path, scanner: Any | None,
               on_bytes: Callable[[int], None] | None) -> tuple[int, str, str]:
    """Read ``source`` once for its hashes and scan (the bundle's file shares its bytes)."""
    size = 0
    with open(source, "rb", buffering=0) as src:
        hasher = _Hasher(scanner, threaded=os.fstat(src.fileno()).st_size >= THREADED_MIN)
        try:
            while chunk := src.read(CHUNK_SIZE):
                hasher.feed(chunk)
                size += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        finally:
            sha256, md5 = hasher.finish()
    return size, sha256, md5


def place_hashed(
    source: Path,
    target: Path,
    link: str = "copy",
    scanner: Any | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[int, str, str, str]:
    """Put ``source`` at ``target`` as ``link`` says; (size, sha256, md5, how it arrived).

    ``how`` is "reflink", "hardlink" or "copy". ``auto`` clones where the filesystem can and
    copies elsewhere; ``reflink`` and ``hardlink`` raise BadInput where they cannot be done.
    """
    if link not in LINK_MODES:
        raise BadInput(f"--link {link!r} is not one of {', '.join(LINK_MODES)}.")
    if link == "hardlink":
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise
            raise BadInput(
                f"--link hardlink: {source} cannot be hard-linked into the bundle "
                f"({exc.strerror or exc}; a hard link needs the same filesystem); use "
                "--link auto or copy."
            ) from None
        return (*_hash_only(target, scanner, on_bytes), "hardlink")
    if link in ("auto", "reflink"):
        with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
            cloned = _reflink(src.fileno(), dst.fileno())
        if cloned:
            return (*_hash_only(target, scanner, on_bytes), "reflink")
        if link == "reflink":
            target.unlink(missing_ok=True)
            raise BadInput(
                f"--link reflink: the filesystem under {source} and the bundle cannot clone "
                "files (copy-on-write needs btrfs, XFS or similar, both on one filesystem); use "
                "--link auto or copy."
            )
    return (*copy_hashed(source, target, scanner, on_bytes), "copy")


def copy_hashed(
    source: Path,
    target: Path,
    scanner: Any | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[int, str, str]:
    """Copy ``source`` to ``target`` reading each byte once; returns (size, sha256, md5) hex."""
    size = 0
    with open(source, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
        stat = os.fstat(src.fileno())
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):
                os.posix_fadvise(src.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        threaded = stat.st_size >= THREADED_MIN
        hasher = _Hasher(scanner, threaded=threaded)

        def write_all(chunk: bytes) -> None:
            view = memoryview(chunk)
            while view:
                written = dst.write(view)
                view = view[written or 0:]

        # large files: the write on its own thread too, so reading never waits for a hash
        # before writing, nor a hash for a write held up by page-cache writeback
        writer = _Worker(write_all, "ecasrepro-write") if threaded else None
        try:
            while True:
                chunk = src.read(CHUNK_SIZE)
                if not chunk:
                    break
                hasher.feed(chunk)
                if writer is None:
                    write_all(chunk)
                else:
                    if writer._error is not None:
                        break  # finish() raises it (a full disk, say)
                    writer.put(chunk)
                size += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        finally:
            try:
                if writer is not None:
                    writer.finish()
            finally:
                sha256, md5 = hasher.finish()
    return size, sha256, md5


# --- the bundle being written -------------------------------------------------------------------


@dataclass
class BundleContent:
    """Everything a bundle holds, already captured and redacted (nothing here is re-read)."""

    title: str
    notebook_name: str  # e.g. "analysis.ipynb"
    # bytes, or chunks of them (a large notebook is encoded a cell at a time, never held whole)
    notebook_json: bytes | Iterable[bytes]
    # the page, or a callable giving it (a future's result, to overlap its rendering), or
    # giving it in pieces (a large notebook's page is rendered in batches while written)
    notebook_html: bytes | str | Callable[[], bytes | str | Iterable[str]]
    metadata: dict[str, Any]
    requirements_txt: str
    platform: dict[str, Any]
    git_state: dict[str, Any]
    conda_environment_yml: str | None = None
    git_patch: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)  # RelatedIdentifier
    creators: list[str] = field(default_factory=list)
    description: str | None = None
    warnings: list[str] = field(default_factory=list)
    notebook_facts: dict[str, Any] = field(default_factory=dict)
    pylock_toml: str | None = None  # PEP 751 lock (capture/lockfile.py); None when not written
    link: str = "auto"  # how attachments arrive: auto, reflink, hardlink or copy (LINK_MODES)
    # files the analysis read (capture/inputs.py InputFile): referenced in the crate, not copied
    input_files: list[Any] = field(default_factory=list)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


# RFC 8493 §2.1.3 percent-encodes CR, LF and "%" in manifest paths, and only those, so a reader
# decodes %0A, %0D and %25 only. A "%" that does not begin one of those is written as is:
# bagit-python (which `Bundle.validate` uses) decodes %0A and %0D only, so "100%25_done.csv"
# would be a missing file to it, while both read "100%_done.csv" back unchanged. A name that
# spells one of the escapes itself is refused (`check_payload_name`): no spelling of it is read
# alike by bagit-python and by the RFC. See docs/decisions.md (BagIt).
_MANIFEST_ESCAPE = re.compile(r"%(0[AaDd]|25)")


def check_payload_name(relpath: str, source: object) -> None:
    """BadInput for a name that BagIt tools would read back differently (it holds "%0A"...)."""
    found = _MANIFEST_ESCAPE.search(relpath)
    if found:
        raise BadInput(
            f"--attach file {source}: its name holds {found.group(0)!r}, which BagIt tools "
            "read back differently (as a newline or a percent sign); rename it."
        )


def _encode_manifest_path(relpath: str) -> str:
    """A payload path as a manifest line spells it (CR and LF percent-encoded)."""
    return relpath.replace("\r", "%0D").replace("\n", "%0A")


def _decode_manifest_path(text: str) -> str:
    """The inverse, in one pass (so "%250A" is "%0A", not a newline); any case of hex digits."""
    return _MANIFEST_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


class _BagWriter:
    """Writes payload and tag files into a temporary directory, hashing each once."""

    def __init__(self, root: Path, display_name: str, redactor: Any):
        self.root = root
        self.data = root / "data"
        self.data.mkdir()
        self.display_name = display_name
        self.redactor = redactor
        self.files: dict[str, PayloadFile] = {}
        self.tag_digests: dict[str, str] = {}  # tag file name -> sha256, for the tag manifest
        self.arrived: dict[str, str] = {}  # attachment relpath -> "copy", "reflink" or "hardlink"
        self.findings: list[Any] = []

    def _target(self, relpath: str) -> Path:
        pure = PurePosixPath(relpath)
        if pure.is_absolute() or ".." in pure.parts:
            raise BadInput(f"refusing to write {relpath!r} outside the bundle's data/ directory.")
        target = self.data.joinpath(*pure.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _scan(self, name: str, data: bytes) -> None:
        """Scan a generated file's bytes while they are in hand (attachments: while copied)."""
        scanner = self.redactor.scanner(f"{self.display_name}/{name}")
        scanner.feed(data)
        self.findings.extend(scanner.findings())

    def add_bytes(self, relpath: str, data: bytes) -> PayloadFile:
        target = self._target(relpath)
        target.write_bytes(data)
        self._scan(f"data/{relpath}", data)
        entry = PayloadFile(relpath, target, len(data), hashlib.sha256(data).hexdigest(),
                            hashlib.md5(data, usedforsecurity=False).hexdigest())
        self.files[relpath] = entry
        return entry

    def add_chunks(self, relpath: str, chunks: Iterable[bytes]) -> PayloadFile:
        """Write, hash and scan a stream of chunks: the file is never whole in memory."""
        target = self._target(relpath)
        scanner = self.redactor.scanner(f"{self.display_name}/data/{relpath}")
        hasher = _Hasher(scanner, threaded=False)
        size = 0
        with open(target, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                hasher.feed(chunk)
                size += len(chunk)
        sha256, md5 = hasher.finish()
        self.findings.extend(scanner.findings())
        entry = PayloadFile(relpath, target, size, sha256, md5)
        self.files[relpath] = entry
        return entry

    def add_large_text(self, relpath: str, text: str) -> PayloadFile:
        """A large str, encoded a slice at a time (no second, encoded copy of it all at once)."""
        return self.add_chunks(relpath, _encoded([text]))

    def add_text(self, relpath: str, text: str) -> PayloadFile:
        return self.add_bytes(relpath, text.encode("utf-8"))

    def add_json(self, relpath: str, obj: Any) -> PayloadFile:
        return self.add_bytes(relpath, _json_bytes(obj))

    def add_copy(
        self, relpath: str, source: Path, on_bytes: Callable[[int], None] | None = None,
        link: str = "copy",
    ) -> PayloadFile:
        target = self._target(relpath)
        # lines of a finding counted from the bundle's file, only if one is found
        scanner = self.redactor.scanner(f"{self.display_name}/data/{relpath}", source=target)
        try:
            size, sha256, md5, how = place_hashed(source, target, link, scanner, on_bytes)
            self.arrived[relpath] = how
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise  # the disk's fault, not the attachment's: write_bundle says so
            raise BadInput(
                f"--attach file {source} could not be copied ({exc.strerror or exc}); check it."
            ) from None
        self.findings.extend(scanner.findings())
        entry = PayloadFile(relpath, target, size, sha256, md5)
        self.files[relpath] = entry
        return entry

    def write_tag_files(self, bag_info: list[tuple[str, str]]) -> None:
        """bagit.txt, bag-info.txt and both payload manifests (the tag manifest comes last)."""
        ordered = sorted(self.files.values(), key=lambda f: f.relpath)
        sha_lines = [f"{f.sha256}  data/{_encode_manifest_path(f.relpath)}\n" for f in ordered]
        md5_lines = [f"{f.md5}  data/{_encode_manifest_path(f.relpath)}\n" for f in ordered]
        payload_bytes = sum(f.size for f in self.files.values())
        info = [*bag_info, ("Payload-Oxum", f"{payload_bytes}.{len(self.files)}")]
        tags = {
            "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
            "bag-info.txt": "".join(f"{k}: {_one_line(v)}\n" for k, v in info),
            MANIFEST: "".join(sha_lines),
            MD5_MANIFEST: "".join(md5_lines),
        }
        for name, text in tags.items():
            self._write_tag(name, text.encode("utf-8"))
        self._scan("bag-info.txt", tags["bag-info.txt"].encode("utf-8"))

    def _write_tag(self, name: str, data: bytes) -> None:
        (self.root / name).write_bytes(data)
        self.tag_digests[name] = hashlib.sha256(data).hexdigest()

    def write_fixity(self) -> None:
        """Record each payload file's size and mtime_ns, then the tag manifest (last of all).

        Waits out the racy window first: a file modified in the same coarse timestamp tick as
        its record could later change without its mtime changing.
        """
        newest = max((os.stat(f.path).st_mtime_ns for f in self.files.values()), default=0)
        wait_ns = newest + RACY_NS - time.time_ns()
        if wait_ns > 0:
            time.sleep(min(wait_ns, RACY_NS) / 1e9)
        self._write_tag(FIXITY, _json_bytes(_fixity_record(self.data, self.files.values())))
        lines = "".join(f"{digest}  {name}\n" for name, digest in self.tag_digests.items())
        (self.root / TAGMANIFEST).write_text(lines, encoding="utf-8")


def _encoded(pieces: Iterable[str]) -> Iterator[bytes]:
    """UTF-8 of each piece, a slice of CHUNK_SIZE characters at a time."""
    for piece in pieces:
        for at in range(0, len(piece), CHUNK_SIZE):
            yield piece[at:at + CHUNK_SIZE].encode("utf-8")


def _one_line(value: str) -> str:
    return " ".join(str(value).split())


def _fixity_record(data: Path, files: Iterable[PayloadFile]) -> dict[str, Any]:
    """``{"version": 1, "files": {relpath: {"size", "mtime_ns"}}}`` as the files are now."""
    record = {}
    for entry in sorted(files, key=lambda f: f.relpath):
        stat = os.stat(data.joinpath(*PurePosixPath(entry.relpath).parts))
        record[entry.relpath] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"version": FIXITY_VERSION, "files": record}


# --- RO-Crate ----------------------------------------------------------------------------------

_MEDIA_TYPES = {
    ".ipynb": "application/x-ipynb+json",
    ".html": "text/html",
    ".json": "application/json",
    ".txt": "text/plain",
    ".yml": "application/yaml",
    ".patch": "text/x-diff",
    ".csv": "text/csv",
    ".nc": "application/x-netcdf",
    ".png": "image/png",
}


#: RO-Crate 1.1's context does not define ``sha256``; later RO-Crate contexts map it to
#: schema.org's property, which the crate declares inline so it stays valid 1.1.
CRATE_CONTEXT: list[Any] = [
    "https://w3id.org/ro/crate/1.1/context",
    {"sha256": "http://schema.org/sha256"},
]
NO_LICENCE_ID = "#no-license-stated"


def _licence_entity(licence: Any) -> dict[str, Any]:
    """The root's ``license`` as a contextual entity; an unstated licence is said to be so."""
    if isinstance(licence, Mapping) and str(licence.get("license") or "").strip():
        name = str(licence["license"]).strip()
        uri = str(licence.get("license_uri") or "").strip()
        return {"@id": uri or "#license", "@type": "CreativeWork", "name": name,
                "description": f"The licence the creator stated: {name}."}
    return {
        "@id": NO_LICENCE_ID,
        "@type": "CreativeWork",
        "name": "No licence stated",
        "description": "The creator stated no licence when this bundle was made; no licence is "
        "implied, so ask the creator before reusing it.",
    }


def _crate_id(relpath: str) -> str:
    """A payload path as a data entity's ``@id``: a relative URI, so "%", spaces and newlines
    are percent-encoded (RO-Crate 1.1 §"Data entities")."""
    from urllib.parse import quote

    return quote(relpath, safe="/")


def _input_file_entity(entry: Any, index: int) -> dict[str, Any]:
    """A file the analysis read, as a ``File`` entity outside the payload: its file Handle as
    ``@id`` when it has one, else a local id; tracking id labelled as such; sha256 only when
    nothing else identifies it."""
    from urllib.parse import quote

    facts = entry.facts
    tracking = facts.tracking_id
    if tracking is not None and tracking.pid:
        entity_id = "https://hdl.handle.net/" + quote(tracking.value, safe="/")
    else:
        entity_id = f"#input-{index + 1}-{quote(PurePosixPath(entry.shown).name, safe='')}"
    how = ", ".join(entry.sources)
    entity: dict[str, Any] = {
        "@id": entity_id,
        "@type": "File",
        "name": entry.shown,
        "contentSize": str(entry.size),
        "description": f"An input file the analysis read ({how}); referenced, not copied into "
        "this bundle.",
    }
    if tracking is not None:  # a contextual PropertyValue (the crate stays flattened)
        entity["identifier"] = {"@id": f"#tracking-id-{quote(tracking.value, safe='')}"}
    if entry.sha256:
        entity["sha256"] = entry.sha256
    if facts.dataset_pid:
        entity["isPartOf"] = {"@id": "https://hdl.handle.net/" + quote(facts.dataset_pid[4:],
                                                                       safe="/")}
    if facts.further_info_url:
        entity["description"] += f" Simulation documentation: {facts.further_info_url}"
    return entity


def build_ro_crate(
    content: BundleContent, files: Sequence[PayloadFile], created: datetime
) -> dict[str, Any]:
    """RO-Crate 1.1 metadata (Process Run Crate profile): files, inputs by PID, the run.

    Input PIDs are web-based data entities, so the root's ``hasPart`` lists them too.
    """
    notebook_id = _crate_id(f"notebook/{content.notebook_name}")
    graph: list[dict[str, Any]] = [
        {
            "@id": CRATE,
            "@type": "CreativeWork",
            "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
            "about": {"@id": "./"},
        }
    ]
    seen = {f"outputs/{a.relpath}": a.notebook_path for a in content.attachments}
    file_entities = []
    for entry in sorted(files, key=lambda f: f.relpath):
        suffix = PurePosixPath(entry.relpath).suffix.lower()
        entity: dict[str, Any] = {
            "@id": _crate_id(entry.relpath),
            "@type": "File",
            "name": PurePosixPath(entry.relpath).name,
            "contentSize": str(entry.size),
            "sha256": entry.sha256,
        }
        if suffix in _MEDIA_TYPES:
            entity["encodingFormat"] = _MEDIA_TYPES[suffix]
        if seen.get(entry.relpath):
            entity[NOTEBOOK_PATH] = seen[entry.relpath]
        if entity["@id"] == notebook_id:
            entity["@type"] = ["File", "SoftwareSourceCode"]
            entity["programmingLanguage"] = content.notebook_facts.get("language") or "python"
            entity["description"] = "The executed notebook (secrets redacted)."
        file_entities.append(entity)
    input_entities = []
    for pid in content.inputs:
        input_entities.append(
            {
                "@id": pid.resolver_url,
                "@type": "Dataset",
                "identifier": pid.identifier,
                "name": f"{pid.type} {pid.identifier}",
                "additionalType": pid.type,
            }
        )
    read_entities = [_input_file_entity(f, i) for i, f in enumerate(content.input_files)]
    tracking_entities = [
        {"@id": e["identifier"]["@id"], "@type": "PropertyValue", "propertyID": "tracking_id",
         "value": f.facts.tracking_id.pid or f.facts.tracking_id.value}
        for e, f in zip(read_entities, content.input_files, strict=True) if "identifier" in e
    ]
    people = [
        {"@id": f"#creator-{i + 1}", "@type": "Person", "name": name}
        for i, name in enumerate(content.creators)
    ]
    outputs = [{"@id": _crate_id(f.relpath)} for f in files if f.relpath.startswith("outputs/")]
    run: dict[str, Any] = {
        "@id": "#notebook-run",
        "@type": "CreateAction",
        "name": f"Run of {content.notebook_name}",
        "instrument": {"@id": notebook_id},
        "object": [{"@id": pid.resolver_url} for pid in content.inputs]
        + [{"@id": e["@id"]} for e in read_entities],
        "result": [{"@id": _crate_id(f"notebook/{Path(content.notebook_name).stem}.html")},
                   *outputs],
        "endTime": content.notebook_facts.get("last_executed") or created.isoformat(),
        "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
    }
    if people:
        run["agent"] = [{"@id": p["@id"]} for p in people]
    licence = _licence_entity(content.metadata.get("license"))
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": content.title,
        "description": content.description or content.title,
        "datePublished": created.isoformat(),
        "license": {"@id": licence["@id"]},
        "conformsTo": {"@id": PROCESS_RUN_CRATE},
        "hasPart": [{"@id": e["@id"]}
                    for e in [*file_entities, *input_entities, *read_entities]],
        "mentions": [{"@id": "#notebook-run"}],
    }
    if input_entities:
        root["isBasedOn"] = [{"@id": e["@id"]} for e in input_entities]
    if people:
        root["author"] = [{"@id": p["@id"]} for p in people]
    profile = {
        "@id": PROCESS_RUN_CRATE,
        "@type": "CreativeWork",
        "name": "Process Run Crate",
        "version": "0.5",
    }
    graph += [root, profile, run, *file_entities, *input_entities, *read_entities,
              *tracking_entities, *people, licence]
    return {"@context": CRATE_CONTEXT, "@graph": graph}


# --- writing a bundle atomically ----------------------------------------------------------------


def check_output(output: Path, force: bool, zip_output: bool = False) -> None:
    """Fail before any work if the bundle cannot be written where asked."""
    parent = output.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise BadInput(
            f"cannot write the bundle to {output}: {parent} {what}; choose another --output."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(
            f"cannot write the bundle to {output}: {parent} is not writable; "
            "choose another --output."
        )
    if output.exists() or output.is_symlink():
        if not force:
            raise BadInput(
                f"output {output} already exists; pass --force to replace it or choose another "
                "--output."
            )
        _check_replaceable(output)
    zipped = zip_path(output)
    if zip_output and zipped.exists() and not force:
        raise BadInput(
            f"output {zipped} already exists; pass --force to replace it or choose another "
            "--output."
        )


def made_by_ecasrepro(path: Path) -> bool:
    """True iff ``path`` is a bag this tool wrote: its bag-info names ecasrepro as the agent.

    A bagit.txt alone proves nothing (a user's own BagIt bag has one), and ``--force`` must
    never delete what it did not make.
    """
    if not path.is_dir() or not (path / "bagit.txt").is_file():
        return False
    try:
        with open(path / "bag-info.txt", encoding="utf-8", errors="replace") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return False
    agent = AGENT.split(" ", 1)[0] + " "
    return any(
        line.partition(":")[0].strip().lower() == "bag-software-agent"
        and line.partition(":")[2].strip().startswith(agent)
        for line in head.splitlines()
    )


def _check_replaceable(output: Path) -> None:
    """``--force`` replaces an empty directory or a bundle ecasrepro made, nothing else."""
    empty = output.is_dir() and not output.is_symlink() and not any(output.iterdir())
    if not (empty or made_by_ecasrepro(output)):
        raise BadInput(
            f"output {output} exists and is not an ecasrepro bundle; refusing to replace it "
            "even with --force; choose another --output."
        )


def zip_path(output: Path) -> Path:
    return output.with_name(output.name + ".zip")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# --- temporaries: named by their writer's pid, locked while written -----------------------------


def _temp_prefix(name: str, kind: str) -> str:
    """``.<name>.<kind>-<pid>-``: what a later run reads to tell a dead writer's leftovers."""
    return f".{name}.{kind}-{os.getpid()}-"


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (a directory or file) while its writer works on it.

    The kernel drops it when the writer dies, even by kill -9; it is what tells a live writer
    in another pid namespace (a container sharing the directory) from a dead one.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the pid alone decides
        yield
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        with contextlib.suppress(OSError):  # a filesystem without locks: the pid alone decides
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(output: Path) -> list[Path]:
    """Remove what killed snapshots of ``output`` left beside it (its temporary bag, zip, and
    set-aside old bundle), and nothing else: only names this module gives, whose writer's pid
    is dead and whose lock nobody holds. Another target's, a live run's or an older release's
    (no pid in the name) temporaries stay. An old bundle set aside is kept unless the swap was
    done (``output`` exists), so that it is never the only copy lost."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: leave everything
        return []
    prefixes = [f".{output.name}.tmp-", f".{zip_path(output).name}.tmp-"]
    if output.exists():
        prefixes.append(f".{output.name}.old-")
    try:
        entries = sorted(output.parent.iterdir())
    except OSError:
        return []
    removed = []
    for entry in entries:
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is None or entry.is_symlink():
            continue
        pid, dash, _ = entry.name[len(prefix):].partition("-")
        if not dash or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        try:
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) |
                         getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # held: its writer is alive after all
        try:
            _remove(entry)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


def write_bundle(
    content: BundleContent,
    output: str | Path,
    redactor: Any,
    *,
    force: bool = False,
    zip: bool = False,
    progress: bool | None = None,
) -> Bundle:
    """Write ``content`` as a bag at ``output``; atomically, or not at all."""
    output = Path(output)
    check_output(output, force, zip)
    remove_stale_temporaries(output)
    try:
        temp = Path(tempfile.mkdtemp(prefix=_temp_prefix(output.name, "tmp"), dir=output.parent))
    except OSError as exc:
        raise BadInput(
            f"cannot write the bundle to {output} ({exc.strerror or exc}); choose another --output."
        ) from None
    with _held(temp):
        return _write_into(temp, content, output, redactor, force, zip, progress)


def _write_into(temp: Path, content: BundleContent, output: Path, redactor: Any, force: bool,
                zip: bool, progress: bool | None) -> Bundle:
    try:
        os.chmod(temp, 0o777 & ~_umask())  # mkdtemp makes it private; a bundle is not
        writer = _BagWriter(temp, output.name, redactor)
        _write_payload(writer, content, progress)
        if writer.findings:
            first = writer.findings[0]
            more = len(writer.findings) - 1
            extra = f" and {more} more place{'s' if more != 1 else ''}" if more else ""
            raise SecretFound(
                f"a secret was found in {first}{extra}; remove it from that file and snapshot "
                "again (nothing was written)."
            )
        if zip:
            try:
                _write_zip(temp, zip_path(output), output.name, force)
            except OSError as exc:
                if exc.errno in DISK_FULL:
                    raise _disk_full(zip_path(output), exc, "--zip archive") from None
                raise
        _move_into_place(temp, output, force)
    except OSError as exc:
        _remove(temp)
        if exc.errno in DISK_FULL:
            raise _disk_full(output, exc, "bundle") from None
        raise
    except BaseException:
        _remove(temp)
        raise
    bundle = Bundle.open(output)
    # Renaming the directory keeps its files' mtimes; should a filesystem disagree, the record
    # is re-taken in place so it describes the files where they now are.
    after = _json_bytes(_fixity_record(output / "data", writer.files.values()))
    if after != (output / FIXITY).read_bytes():
        bundle.write_tag_file(FIXITY, after)
    bundle.warnings = list(content.warnings)  # (a hard link's warning is not in the bag)
    linked = sorted(r for r, how in writer.arrived.items() if how == "hardlink")
    if linked:
        bundle.warnings.append(
            f"--link hardlink: {', '.join('data/' + r for r in linked)} share their bytes with "
            "the originals, so editing an original later changes the bundle; publish and verify "
            "detect that and name the file, but the snapshot's record of it is then lost")
    bundle.inputs = list(content.inputs)
    bundle.arrived = dict(writer.arrived)
    return bundle


def _disk_full(target: Path, exc: OSError, what: str) -> BadInput:
    """The sentence for a write that the disk refused (full, quota, file size limit)."""
    return BadInput(
        f"cannot write the {what} {target}: {exc.strerror} (nothing was kept); free space on "
        "that disk or choose another --output."
    )


def _write_payload(writer: _BagWriter, content: BundleContent, progress: bool | None) -> None:
    created = datetime.now(timezone.utc).replace(microsecond=0)
    stem = Path(content.notebook_name).stem
    notebook = content.notebook_json
    if isinstance(notebook, bytes):
        writer.add_bytes(f"notebook/{content.notebook_name}", notebook)
    else:
        writer.add_chunks(f"notebook/{content.notebook_name}", notebook)
    writer.add_text("environment/requirements.txt", content.requirements_txt)
    if content.pylock_toml:
        writer.add_text("environment/pylock.toml", content.pylock_toml)
    if content.conda_environment_yml:
        writer.add_text("environment/environment.yml", content.conda_environment_yml)
    writer.add_json("environment/platform.json", content.platform)
    writer.add_json("git/state.json", content.git_state)
    if content.git_patch:
        writer.add_text("git/uncommitted.patch", content.git_patch)
    total = sum(a.size for a in content.attachments)
    show = progress if progress is not None else (total >= PROGRESS_MIN and sys.stderr.isatty())
    from tqdm import tqdm

    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="attaching",
        file=sys.stderr, disable=not show or not content.attachments, leave=False,
    ) as bar:
        for attachment in content.attachments:
            writer.add_copy(f"outputs/{attachment.relpath}", attachment.source, bar.update,
                            content.link)
    html = content.notebook_html
    page = html() if callable(html) else html
    if isinstance(page, str):
        writer.add_large_text(f"notebook/{stem}.html", page)
    elif isinstance(page, bytes):
        writer.add_bytes(f"notebook/{stem}.html", page)
    else:
        writer.add_chunks(f"notebook/{stem}.html", _encoded(page))
    writer.add_json("metadata.json", content.metadata)
    crate = build_ro_crate(content, list(writer.files.values()), created)
    writer.add_json(CRATE, crate)
    info = [
        ("Bagging-Date", created.date().isoformat()),
        ("Bag-Software-Agent", AGENT),
        ("External-Description", content.title),
        *[("Contact-Name", name) for name in content.creators],
        *[(INPUT_LABEL, pid.resolver_url) for pid in content.inputs],
        *[("Ecasrepro-Warning", warning) for warning in content.warnings],
    ]
    writer.write_tag_files(info)
    writer.write_fixity()


def _write_zip(bag: Path, target: Path, top: str, force: bool) -> None:
    """``<name>.repro.zip`` beside the bundle, written to a temp file and renamed into place."""
    handle, temp_name = tempfile.mkstemp(prefix=_temp_prefix(target.name, "tmp"),
                                         dir=target.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        with _held(temp), zipfile.ZipFile(temp, "w", allowZip64=True) as archive:
            for path in sorted(bag.rglob("*")):
                if not path.is_file():
                    continue
                name = f"{top}/{path.relative_to(bag).as_posix()}"
                small = path.stat().st_size < PROGRESS_MIN
                method = zipfile.ZIP_DEFLATED if small else zipfile.ZIP_STORED
                archive.write(path, name, compress_type=method)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        _remove(temp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _move_into_place(temp: Path, output: Path, force: bool) -> None:
    if not (output.exists() or output.is_symlink()):
        try:
            os.rename(temp, output)
            return
        except OSError as exc:
            if not output.exists():
                raise BadInput(
                    f"cannot write the bundle to {output} ({exc.strerror or exc}); choose "
                    "another --output."
                ) from None
    if not force:  # appeared while we worked
        raise BadInput(
            f"output {output} already exists; pass --force to replace it or choose another "
            "--output."
        )
    _check_replaceable(output)  # may have been replaced while we worked
    aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(output.name, "old"), dir=output.parent))
    old = aside / "old"
    os.rename(output, old)
    try:
        os.rename(temp, output)
    except BaseException:
        os.rename(old, output)
        _remove(aside)
        raise
    _remove(aside)


# --- reading a bundle ----------------------------------------------------------------------------


class Bundle:
    """A bundle on disk: read its metadata and manifest, validate it, add tag files."""

    def __init__(self, path: Path):
        self.path = path
        self.warnings: list[str] = []
        self.inputs: list[Any] = []
        # how each attachment arrived when this bundle was just written ("copy", "reflink",
        # "hardlink" by relpath under data/); not recorded in the bag, which is the same either way
        self.arrived: dict[str, str] = {}
        # the confirmation rows of the inputs discovered by the snapshot that wrote this bundle
        # (capture/inputs.py InputRow); empty for a bundle opened from disk
        self.discovered: list[Any] = []
        self._fixity: dict[str, tuple[int, int]] | None = None

    def __repr__(self) -> str:
        return f"Bundle({str(self.path)!r})"

    @classmethod
    def open(cls, path: str | Path) -> Bundle:
        path = Path(path)
        if not (path / "bagit.txt").is_file() or not (path / "data" / "metadata.json").is_file():
            raise BadInput(
                f"{path} is not an ecasrepro bundle (no bagit.txt and data/metadata.json); "
                "pass a directory made by 'ecasrepro snapshot'."
            )
        bundle = cls(path)
        info = bundle.bag_info()
        bundle.warnings = info.get("Ecasrepro-Warning", [])
        from ecasrepro.pids import RelatedIdentifier

        inputs = []
        for item in bundle.metadata.get("related_identifiers", []) or []:
            if isinstance(item, Mapping) and item.get("relation_type") == "IsDerivedFrom":
                with contextlib.suppress(Exception):
                    inputs.append(RelatedIdentifier.from_b2share_v2(item))
        bundle.inputs = inputs
        return bundle

    @property
    def data_path(self) -> Path:
        return self.path / "data"

    @property
    def metadata(self) -> dict[str, Any]:
        try:
            value = json.loads((self.data_path / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(
                f"{self.path}/data/metadata.json cannot be read ({exc}); re-create the bundle."
            ) from None
        if not isinstance(value, dict):
            raise BadInput(f"{self.path}/data/metadata.json is not a JSON object; re-create it.")
        return value

    @property
    def title(self) -> str:
        titles = self.metadata.get("titles") or []
        if titles and isinstance(titles[0], Mapping) and titles[0].get("title"):
            return str(titles[0]["title"])
        return self.path.name

    @property
    def notebook_path(self) -> Path:
        notebooks = sorted((self.data_path / "notebook").glob("*.ipynb"))
        if not notebooks:
            raise BadInput(f"{self.path} holds no notebook under data/notebook/; re-create it.")
        return notebooks[0]

    def attachment_paths(self) -> dict[str, str]:
        """Attached file (path under data/outputs/) -> where the notebook saw it (relative to its
        directory), from the RO-Crate; ``verify`` puts each file back there.

        Files without a record (bundles made before it was kept, or files from outside the
        notebook's directory) are absent: they go back to their path under data/outputs/, which
        in older bundles was the path relative to the notebook.
        """
        try:
            crate = json.loads((self.data_path / CRATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        graph = crate.get("@graph") if isinstance(crate, dict) else None
        paths: dict[str, str] = {}
        for entity in graph if isinstance(graph, list) else []:
            if not isinstance(entity, dict):
                continue
            stored, seen = entity.get("@id"), entity.get(NOTEBOOK_PATH)
            if not (isinstance(stored, str) and stored.startswith("outputs/")
                    and isinstance(seen, str)):
                continue
            pure = PurePosixPath(seen)
            if not seen or pure.is_absolute() or ".." in pure.parts or "\\" in seen:
                raise BadInput(
                    f"{self.path}/data/{CRATE} places {stored} at {seen!r}, outside the "
                    "notebook's directory; re-create the bundle with `ecasrepro snapshot`."
                )
            paths[stored[len("outputs/"):]] = pure.as_posix()
        return paths

    @property
    def receipt_path(self) -> Path:
        return self.path / RECEIPT

    def bag_info(self) -> dict[str, list[str]]:
        """bag-info.txt as label -> values (labels may repeat)."""
        info: dict[str, list[str]] = {}
        text = (self.path / "bag-info.txt").read_text(encoding="utf-8")
        for line in text.splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                info.setdefault(key.strip(), []).append(value.strip())
        return info

    def _manifest(self, name: str) -> dict[str, str]:
        """relpath (under data/) -> lower-case hex digest from one manifest ({} if absent)."""
        try:
            text = (self.path / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        digests = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            digest, encoded = line.split(None, 1)
            decoded = _decode_manifest_path(encoded.strip())
            relpath = decoded[len("data/"):] if decoded.startswith("data/") else decoded
            digests[relpath] = digest.lower()
        return digests

    def payload_files(self) -> list[PayloadFile]:
        """Every payload file with the sha256 and md5 recorded at write time (nothing is hashed).

        ``md5`` is None when the bundle predates manifest-md5.txt.
        """
        if not (self.path / MANIFEST).is_file():
            raise BadInput(f"{self.path} has no {MANIFEST}; re-create it with ecasrepro snapshot.")
        md5s = self._manifest(MD5_MANIFEST)
        entries = []
        for relpath, sha256 in self._manifest(MANIFEST).items():
            path = self.data_path.joinpath(*PurePosixPath(relpath).parts)
            size = path.stat().st_size if path.exists() else -1
            entries.append(PayloadFile(relpath, path, size, sha256, md5s.get(relpath)))
        return entries

    def fixity(self) -> dict[str, tuple[int, int]]:
        """relpath -> (size, mtime_ns) recorded at snapshot time ({} for older bundles)."""
        if self._fixity is None:
            self._fixity = {}
            try:
                record = json.loads((self.path / FIXITY).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return self._fixity  # absent or unreadable: nothing is known unchanged
            if not isinstance(record, dict) or record.get("version") != FIXITY_VERSION:
                return self._fixity
            files = record.get("files")
            if isinstance(files, dict):
                for relpath, item in files.items():
                    with contextlib.suppress(KeyError, TypeError, ValueError):
                        self._fixity[relpath] = (int(item["size"]), int(item["mtime_ns"]))
        return self._fixity

    def unchanged_since_snapshot(self, pf: PayloadFile) -> bool:
        """True iff the file's size and mtime_ns are those recorded at snapshot time.

        A stat, no read: then the recorded sha256/md5 and the snapshot's secret scan still
        describe the file. False when unknown (older bundle) or changed: call verify_file.
        """
        recorded = self.fixity().get(pf.relpath)
        if recorded is None:
            return False
        try:
            stat = os.stat(self.data_path.joinpath(*PurePosixPath(pf.relpath).parts))
        except OSError:
            return False
        return (stat.st_size, stat.st_mtime_ns) == recorded

    def hardlink_note(self, pf: PayloadFile) -> str:
        """", a hard link whose original was edited" when the file has other names (--link
        hardlink), else ""; for the sentence that names a changed file."""
        try:
            links = os.stat(self.data_path.joinpath(*PurePosixPath(pf.relpath).parts)).st_nlink
        except OSError:
            return ""
        return "; it is a hard link (--link hardlink) and its original was edited" \
            if links > 1 else ""

    def changed_since_snapshot(self) -> list[str]:
        """Payload files whose bytes are no longer those bagged, found through the fixity record:
        a stat for each file, a re-hash only of those whose size or mtime moved. One sentence
        each, naming the file."""
        changed = []
        for pf in self.payload_files():
            if pf.relpath not in self.fixity() or self.unchanged_since_snapshot(pf):
                continue
            try:
                self.verify_file(pf)
            except BadInput:
                changed.append(f"data/{pf.relpath} changed after the snapshot (its sha256 no "
                               f"longer matches the bag's manifest{self.hardlink_note(pf)})")
        return changed

    def verify_file(self, pf: PayloadFile) -> None:
        """Re-hash one payload file (sha256, streamed); BadInput if it is not what was bagged."""
        path = self.data_path.joinpath(*PurePosixPath(pf.relpath).parts)
        changed = BadInput(
            f"data/{pf.relpath} changed after the snapshot (its sha256 no longer matches the "
            "bag's manifest); re-run `ecasrepro snapshot` to capture it again."
        )
        digest = hashlib.sha256()
        try:
            with open(path, "rb", buffering=0) as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    digest.update(chunk)
        except FileNotFoundError:
            raise changed from None
        except OSError as exc:
            raise BadInput(
                f"data/{pf.relpath} cannot be read ({exc.strerror or exc}); check the bundle "
                f"{self.path}."
            ) from None
        if digest.hexdigest() != pf.sha256:
            raise changed

    def validate(self, fast: bool = False) -> None:
        """bagit-python's own validation (full by default: every sha256 is recomputed)."""
        import logging

        import bagit

        logger = logging.getLogger("bagit")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            bagit.Bag(str(self.path)).validate(fast=fast)
        except bagit.BagValidationError as exc:
            details = "; ".join(str(d) for d in getattr(exc, "details", [])[:3])
            reason = f"{exc.message}: {details}" if details else str(exc.message)
            raise BadInput(f"bundle {self.path} is not a valid bag ({reason}).") from None
        except bagit.BagError as exc:
            raise BadInput(f"bundle {self.path} is not a valid bag ({exc}).") from None
        finally:
            logger.setLevel(level)

    def write_tag_file(self, name: str, data: bytes) -> Path:
        """Add or replace a tag file at the bag's top level and record it in the tag manifest."""
        if "/" in name or "\\" in name or name in ("", ".", "..") or name in (
            "bagit.txt", MANIFEST, TAGMANIFEST, RECEIPT
        ) or name.startswith(("manifest-", "tagmanifest-")):
            raise ValueError(f"{name!r} cannot be written as a tag file")
        target = self.path / name
        _atomic_write(target, data)
        digest = hashlib.sha256(data).hexdigest()
        manifest = self.path / TAGMANIFEST
        lines = [
            line for line in manifest.read_text(encoding="utf-8").splitlines()
            if line.strip() and line.split(None, 1)[1].strip() != name
        ]
        lines.append(f"{digest}  {name}")
        _atomic_write(manifest, ("\n".join(lines) + "\n").encode("utf-8"))
        return target

    def summary(self) -> dict[str, Any]:
        """What the CLI prints: the bundle, its files, inputs and warnings."""
        files = self.payload_files()
        return {
            "bundle": str(self.path),
            "title": self.title,
            "files": [f.to_json() for f in files],
            "total_size": sum(max(f.size, 0) for f in files),
            "inputs": [
                {**pid.to_b2share_v2(), "resolver_url": pid.resolver_url} for pid in self.inputs
            ],
            "warnings": list(self.warnings),
        }


def _atomic_write(target: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
