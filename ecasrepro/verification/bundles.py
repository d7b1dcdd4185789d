"""Bundle access for verification: find a bundle's notebook and environment files.

One job: open a bundle (a ``Bundle`` or a path to one) for re-execution, check the captured
notebook's fixity against the bag manifest, and choose default input directories.

May import: ecasrepro.errors, ecasrepro.bundle (lazily); never ecasrepro.api, ecasrepro.cli,
ecasrepro.magic or another module of this package.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecasrepro.errors import BadInput


@dataclass
class _BundleFiles:
    root: Path
    notebook: Path
    outputs: Path
    outputs_paths: dict[str, str]  # path under outputs/ -> where the notebook saw the file
    requirements: Path
    platform: Path
    handle: Any  # the ecasrepro.bundle.Bundle: reads the layout, writes tag files


def _open_bundle(bundle: Any) -> _BundleFiles:
    """Find the notebook and environment files of a bundle (a Bundle or a path to one)."""
    handle = None
    if hasattr(bundle, "notebook_path") and hasattr(bundle, "write_tag_file"):
        handle = bundle
        root = Path(bundle.path)
    else:
        root = Path(bundle)
        if not root.exists():
            raise BadInput(f"{root} does not exist; pass the path of a .repro bundle directory")
        if root.is_file() and root.suffix.lower() in (".zip", ".tar", ".tgz", ".gz"):
            raise BadInput(
                f"{root} is a packed bundle; unpack it and verify the directory, so that "
                "verification.json can be written into it"
            )
        if not (root / "bagit.txt").is_file() or not (root / "data").is_dir():
            raise BadInput(
                f"{root} is not a bundle (no bagit.txt and data/ in it); "
                "create one with `ecasrepro snapshot NOTEBOOK`"
            )
        from ecasrepro.bundle import Bundle

        handle = Bundle.open(root)
    data = root / "data"
    notebook: Path | None = None
    if handle is not None:
        try:
            notebook = Path(handle.notebook_path)
        except Exception:
            notebook = None
    if notebook is None or not notebook.is_file():
        found = sorted((data / "notebook").glob("*.ipynb")) if (data / "notebook").is_dir() else []
        notebook = found[0] if found else None
    if notebook is None:
        raise BadInput(
            f"{root} holds no notebook (data/notebook/*.ipynb is missing); "
            "re-create the bundle with `ecasrepro snapshot NOTEBOOK`"
        )
    return _BundleFiles(
        root=root,
        notebook=notebook,
        outputs=data / "outputs",
        outputs_paths=handle.attachment_paths() if hasattr(handle, "attachment_paths") else {},
        requirements=data / "environment" / "requirements.txt",
        platform=data / "environment" / "platform.json",
        handle=handle,
    )


def _notebook_fixity(files: _BundleFiles) -> str | None:
    """Check the captured notebook against the bag manifest: a warning when it was altered."""
    manifest = files.root / "manifest-sha256.txt"
    if not manifest.is_file():
        return None
    relative = files.notebook.relative_to(files.root).as_posix()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition(" ")
        if name.strip() == relative:
            actual = hashlib.sha256(files.notebook.read_bytes()).hexdigest()
            if actual != digest.strip().lower():
                return (
                    f"{relative} does not match manifest-sha256.txt: the captured outputs were "
                    "changed after the bundle was made"
                )
            return None
    return f"{relative} is not listed in manifest-sha256.txt"


def _default_data_dirs(files: Any, notes: list[str]) -> list[Path]:
    """Without ``--data``, a bundle that sits beside its own notebook (where ``snapshot`` puts it
    by default) takes its inputs from that directory: the notebook ran there."""
    home = Path(files.root).resolve().parent
    if (home / files.notebook.name).is_file():
        notes.append(
            f"inputs read from {home}, where the bundle's notebook lives; pass --data to choose"
        )
        return [home]
    return []
