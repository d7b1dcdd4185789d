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
CORDEX-CMIP6 (prefix 21.14103), CORDEX-CMIP5 and CMIP7 (21.14107) have their own recipes
(:class:`DrsRecipe`); a CORDEX-CMIP5 dataset Handle is computed only when its file carries a
Handle, since most carry bare UUIDs (docs/decisions.md says where each element list comes from).

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


@dataclass(frozen=True)
class DrsRecipe:
    """How one project builds its dataset id from a file's global attributes (and path)."""

    project: str  # "CMIP6", "CORDEX-CMIP6", "CORDEX-CMIP5", "CMIP7"
    prefix: str  # the Handle prefix its dataset PIDs are minted under
    elements: tuple[str, ...]  # attribute names, in order; derived ones are computed
    #: True when ESGF minted dataset PIDs for it only if its files carry Handles (CORDEX-CMIP5
    #: files mostly carry bare UUIDs, like CMIP5 ones: then no dataset Handle is computed)
    pid_needs_handle: bool = False


CMIP6 = DrsRecipe("CMIP6", CMIP6_PREFIX, CMIP6_DRS)
#: CORDEX-CMIP6 archive specifications v2 (10.5281/zenodo.15047096), section 4, the ESGF
#: directory structure without its version, dot-joined (every element is a global attribute).
CORDEX_CMIP6 = DrsRecipe("CORDEX-CMIP6", "21.14103", (
    "project_id", "activity_id", "domain_id", "institution_id", "driving_source_id",
    "driving_experiment_id", "driving_variant_label", "source_id", "version_realization",
    "frequency", "variable_id",
))
#: The ESGF publisher's CORDEX(-CMIP5) dataset_id template (esg.cordex.ini):
#: cordex.product.domain.institute.driving_model.experiment.ensemble.rcm_name.rcm_version.
#: time_frequency.variable, from the CORDEX-CMIP5 global attributes. ``rcm_name`` is
#: ``model_id`` without its ``<institute_id>-`` prefix (the ini's rcm_name_map, e.g.
#: GERICS-REMO2009 -> REMO2009); ``variable`` is no attribute: the file name's first element.
CORDEX_CMIP5 = DrsRecipe("CORDEX-CMIP5", "21.14103", (
    "project", "product", "CORDEX_domain", "institute_id", "driving_model_id", "experiment_id",
    "driving_model_ensemble_member", "rcm_name", "rcm_version_id", "frequency", "variable",
), pid_needs_handle=True)
#: CMIP7 (MIP-DRS7, CMIP7 global attributes v1.0, 10.5281/zenodo.17250297): the dataset id
#: before its version.
CMIP7 = DrsRecipe("CMIP7", "21.14107", (
    "mip_era", "activity_id", "institution_id", "source_id", "experiment_id", "variant_label",
    "region", "frequency", "variable_id", "branding_suffix", "grid_label",
))


def drs_recipe(attrs: Mapping[str, Any]) -> DrsRecipe | None:
    """Which project's DRS the file follows, from ``project_id`` and ``mip_era``."""
    project = (_text(attrs, "project_id") or "").upper()
    if project in ("CORDEX", "CORDEX-CMIP6"):
        # CORDEX-CMIP6 files say mip_era CMIP6 and name their domain domain_id; v1 of the
        # specifications still had project_id CORDEX, as CORDEX-CMIP5 files do
        if _text(attrs, "domain_id") is not None or project == "CORDEX-CMIP6":
            return CORDEX_CMIP6
        return CORDEX_CMIP5
    era = (_text(attrs, "mip_era") or "").upper()
    return {"CMIP6": CMIP6, "CMIP7": CMIP7}.get(era)


def _element(name: str, attrs: Mapping[str, Any], path: PurePath | None) -> str | None:
    if name == "member_id":
        return member_id(attrs)
    if name == "activity_id":
        return _activity(attrs, path)
    if name == "project":  # CORDEX-CMIP5 ids begin with the lower-cased project
        return (_text(attrs, "project_id") or "").lower() or None
    if name == "rcm_name":
        model, institute = _text(attrs, "model_id"), _text(attrs, "institute_id")
        if model and institute and model.startswith(institute + "-"):
            return model[len(institute) + 1:]
        return None  # not derivable by the rule: no dataset id rather than a wrong one
    if name == "variable":
        return path.name.split("_", 1)[0] if path is not None and "_" in path.name else None
    return _text(attrs, name)


def dataset_id(attrs: Mapping[str, Any], path: str | PurePath | None = None) -> str | None:
    """The DRS dataset id (CMIP6, CORDEX-CMIP6, CORDEX-CMIP5, CMIP7) from global attributes,
    or None when the project is another or an element is missing or odd."""
    recipe = drs_recipe(attrs)
    if recipe is None:
        return None
    pure = PurePath(path) if path is not None else None
    values: list[str] = []
    for name in recipe.elements:
        value = _element(name, attrs, pure)
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
    project: str | None = None  # the DRS followed: CMIP6, CORDEX-CMIP6, CORDEX-CMIP5, CMIP7
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
    recipe = drs_recipe(attrs)
    drs = dataset_id(attrs, path)
    version = version_of(path)
    pid = None
    if recipe is not None and drs and version and (
            not recipe.pid_needs_handle or (tracking is not None and tracking.pid)):
        pid = dataset_handle(drs, version, recipe.prefix)
    dois = tuple(d for d in (_text(attrs, "doi"), _text(attrs, "DOI")) if d)
    return FileFacts(
        tracking_id=tracking,
        dataset_id=drs,
        project=recipe.project if recipe is not None else None,
        version=version,
        dataset_pid=pid,
        further_info_url=_text(attrs, "further_info_url"),
        dois=tuple(dict.fromkeys(dois)),
    )
