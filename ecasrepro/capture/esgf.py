"""ESGF facts about one input file: what its tracking id is, and which dataset PID it belongs to.

A CMIP6 file's ``tracking_id`` global attribute is its file Handle (``hdl:21.14100/<uuid>``;
CORDEX uses 21.14103, CMIP7 21.14107). A CMIP5 tracking id is a bare UUID with no Handle behind
it: it identifies the file, labelled as a tracking id, and is never turned into a Handle.

What a publication cites is the *dataset* PID, which the ESGF publisher computes (esgf-pid's
``make_handle_from_drsid_and_versionnumber``) as ``hdl:<prefix>/`` +
``uuid3(NAMESPACE_URL, "<dataset id>.v<version>")``. The CMIP6 dataset id is the DRS id built from
global attributes (``mip_era.activity_id.institution_id.source_id.experiment_id.member_id.
table_id.variable_id.grid_label``; ``member_id`` is ``variant_label``, prefixed by
``sub_experiment_id-`` when that is not ``none``); the version is not an attribute but the
``vYYYYMMDD`` directory above the file. So the dataset PID is computed offline, with no lookup.

Pure: no netCDF library, no file reads beyond the path given (the attributes come in as a
mapping; see :mod:`.netcdf_attrs`).

One job: turn a file's global attributes and path into its file PID, dataset id, version and
dataset PID, so that inputs are cited at the level ESGF cites them.

May import: nothing (the standard library only); never ecasrepro.bundle, ecasrepro.b2share,
ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

#: Handle prefixes ESGF assigns file and dataset PIDs under (esgf-pid defaults, CMIP7 docs).
HANDLE_PREFIXES: dict[str, str] = {
    "21.14100": "CMIP6",
    "21.14103": "CORDEX",
    "21.14107": "CMIP7",
}
CMIP6_PREFIX = "21.14100"
#: The CMIP6 DRS dataset id, in order (``member_id`` is derived, see :func:`member_id`).
CMIP6_DRS = (
    "mip_era", "activity_id", "institution_id", "source_id", "experiment_id", "member_id",
    "table_id", "variable_id", "grid_label",
)

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_BARE_UUID = re.compile(_UUID + r"\Z")
_HANDLE = re.compile(r"(?:hdl:|https?://hdl\.handle\.net/)([0-9]+(?:\.[0-9A-Za-z]+)*)/(\S+)\Z",
                     re.IGNORECASE)
_VERSION_DIR = re.compile(r"v([0-9]{8})\Z")
_DRS_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")

TrackingKind = Literal["handle", "tracking-id"]


@dataclass(frozen=True)
class TrackingId:
    """One file's ``tracking_id``: a Handle (``21.14100/<uuid>``) or a bare tracking id."""

    value: str  # canonical: "21.14100/<uuid>" for a Handle, the lower-cased UUID otherwise
    kind: TrackingKind
    prefix: str | None = None  # the Handle prefix (None for a bare tracking id)

    @property
    def project(self) -> str | None:
        """CMIP6, CORDEX or CMIP7 for their prefixes; CMIP5 for a bare UUID; else None."""
        if self.kind == "tracking-id":
            return "CMIP5"
        return HANDLE_PREFIXES.get(self.prefix or "")

    @property
    def pid(self) -> str | None:
        """``hdl:<prefix>/<suffix>`` when this is a Handle; None for a bare tracking id."""
        return f"hdl:{self.value}" if self.kind == "handle" else None


def classify_tracking_id(text: Any) -> TrackingId | None:
    """The tracking id in ``text`` (one id), or None when it is neither a Handle nor a UUID."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if _BARE_UUID.match(value):
        return TrackingId(value.lower(), "tracking-id")
    found = _HANDLE.match(value)
    if found is None:
        return None
    prefix, suffix = found.groups()
    if prefix == "10" or prefix.startswith("10."):
        return None  # a DOI, not a tracking id
    return TrackingId(f"{prefix}/{suffix}", "handle", prefix)


def split_tracking_ids(text: Any) -> list[TrackingId]:
    """Every tracking id in a space-separated list (multi-file datasets carry such lists)."""
    if not isinstance(text, str):
        return []
    found = (classify_tracking_id(part) for part in text.split())
    return [t for t in found if t is not None]


def _text(attrs: Mapping[str, Any], name: str) -> str | None:
    value = attrs.get(name)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def member_id(attrs: Mapping[str, Any]) -> str | None:
    """``variant_label``, prefixed by ``<sub_experiment_id>-`` when that is not ``none``."""
    variant = _text(attrs, "variant_label")
    if variant is None:
        return None
    sub = _text(attrs, "sub_experiment_id")
    if sub and sub.lower() != "none":
        return f"{sub}-{variant}"
    return variant


def version_of(path: str | PurePath) -> str | None:
    """``YYYYMMDD`` from the ``vYYYYMMDD`` directory holding the file (the DRS version), or None."""
    parent = PurePath(path).parent.name
    found = _VERSION_DIR.match(parent)
    return found.group(1) if found else None


def _activity(attrs: Mapping[str, Any], path: PurePath | None) -> str | None:
    """``activity_id``; one of several (``"CMIP AerChemMIP"``) only when the DRS path names it."""
    value = _text(attrs, "activity_id")
    if value is None:
        return None
    parts = value.split()
    if len(parts) == 1:
        return parts[0]
    named = set(path.parts) if path is not None else set()
    chosen = [p for p in parts if p in named]
    return chosen[0] if len(chosen) == 1 else None


def dataset_id(attrs: Mapping[str, Any], path: str | PurePath | None = None) -> str | None:
    """The CMIP6 DRS dataset id from global attributes, or None when one is missing or odd."""
    mip_era = _text(attrs, "mip_era")
    if mip_era is None or mip_era.upper() != "CMIP6":
        return None
    pure = PurePath(path) if path is not None else None
    values: list[str] = []
    for name in CMIP6_DRS:
        if name == "member_id":
            value = member_id(attrs)
        elif name == "activity_id":
            value = _activity(attrs, pure)
        else:
            value = _text(attrs, name)
        if value is None or not _DRS_TOKEN.match(value):
            return None
        values.append(value)
    return ".".join(values)


def dataset_handle(drs_id: str, version: str, prefix: str = CMIP6_PREFIX) -> str:
    """``hdl:<prefix>/<uuid3(NAMESPACE_URL, "<drs_id>.v<version>")>``, as ESGF's publisher does."""
    return f"hdl:{prefix}/{uuid.uuid3(uuid.NAMESPACE_URL, f'{drs_id}.v{version}')}"


@dataclass(frozen=True)
class FileFacts:
    """What one input file's attributes and path say about its identity."""

    tracking_id: TrackingId | None = None
    dataset_id: str | None = None
    version: str | None = None
    dataset_pid: str | None = None  # hdl:<prefix>/<uuid3>, when dataset id and version are known
    further_info_url: str | None = None
    dois: tuple[str, ...] = ()

    @property
    def has_pid(self) -> bool:
        """True when something resolvable identifies the file or its dataset."""
        return bool(self.dataset_pid or (self.tracking_id and self.tracking_id.pid) or self.dois)


def file_facts(attrs: Mapping[str, Any], path: str | PurePath) -> FileFacts:
    """The identity of the file at ``path`` from its global attributes ``attrs``."""
    ids = split_tracking_ids(_text(attrs, "tracking_id"))
    tracking = ids[0] if len(ids) == 1 else None
    drs = dataset_id(attrs, path)
    version = version_of(path)
    pid = None
    if drs and version:
        prefix = tracking.prefix if tracking and tracking.prefix in HANDLE_PREFIXES else None
        pid = dataset_handle(drs, version, prefix or CMIP6_PREFIX)
    dois = tuple(d for d in (_text(attrs, "doi"), _text(attrs, "DOI")) if d)
    return FileFacts(
        tracking_id=tracking,
        dataset_id=drs,
        version=version,
        dataset_pid=pid,
        further_info_url=_text(attrs, "further_info_url"),
        dois=tuple(dict.fromkeys(dois)),
    )
