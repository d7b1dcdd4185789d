"""Parse and normalise persistent identifiers (Handle, DOI, URL) of a notebook's input data.

Every accepted spelling of one identifier becomes one canonical string, so that the same
dataset named twice (``hdl:21.14100/x`` and ``https://hdl.handle.net/21.14100/x``) yields one
B2SHARE related identifier. Canonical forms (see CONTRIBUTING.md):

* Handle: bare ``prefix/suffix`` (``21.14100/abc``), as B2SHARE's own ECAS records store it;
* DOI: bare ``10.prefix/suffix`` with the prefix lower-cased and the suffix as given;
  DOIs are case-insensitive, so duplicates are detected case-insensitively;
* URL: the http(s) URL with scheme and host lower-cased, otherwise as given.

The v3 server's own, more lenient identifier rules (:func:`v3_identifier`) live here too, so
the v3 client check and the v3 sandbox use one copy of them.

This module is imported by the fast-loading notebook magic: standard library only.

One job: one canonical string per identifier, so that one dataset named twice is one related
identifier.

May import: ecasrepro.errors (itself standard library only); never another module of this package
(the notebook magic imports it and must load fast).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ecasrepro.errors import InvalidPID

PidType = Literal["Handle", "DOI", "URL"]
PID_TYPES: tuple[str, ...] = get_args(PidType)

# The relation_type enum of B2SHARE root schema v1/v2 (tests check it against the shipped schema).
RELATION_TYPES: tuple[str, ...] = (
    "IsCitedBy", "Cites", "IsSupplementTo", "IsPublishedIn", "IsSupplementedBy",
    "IsContinuedBy", "Continues", "HasMetadata", "IsMetadataFor", "IsNewVersionOf",
    "IsPreviousVersionOf", "IsPartOf", "HasPart", "IsReferencedBy", "References",
    "IsDocumentedBy", "Documents", "isCompiledBy", "Compiles", "IsVariantFormOf",
    "IsOriginalFormOf", "IsIdenticalTo", "IsReviewedBy", "Reviews", "IsDerivedFrom",
    "IsSourceOf", "Describes", "IsDescribedBy", "HasVersion", "IsVersionOf", "Requires",
    "IsRequiredBy", "Obsoletes", "IsObsoletedBy",
)

HANDLE_RESOLVER = "https://hdl.handle.net/"
DOI_RESOLVER = "https://doi.org/"
_HANDLE_HOSTS = frozenset({"hdl.handle.net"})
_DOI_HOSTS = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})

# A Handle prefix: digits, then optional dot-separated alphanumeric segments (21.14100, 21.T11148,
# 0.NA). A DOI is a Handle whose prefix is "10" or starts with "10.".
_PREFIX = re.compile(r"[0-9]+(?:\.[0-9A-Za-z]+)*\Z", re.ASCII)
_SUFFIX_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Characters left unescaped in resolver URLs (RFC 3986 pchar minus '%'; '/' kept as is).
_URL_SAFE = "/:@!$&'()*+,;=-._~"

_ACCEPTED = (
    "use a Handle (hdl:21.14100/abc, https://hdl.handle.net/21.14100/abc or 21.14100/abc), "
    "a DOI (doi:10.1234/xyz, https://doi.org/10.1234/xyz or 10.1234/xyz) or an http(s) URL"
)


def _shown(value: str) -> str:
    """The bad value as quoted in an error sentence: repr, shortened, URL credentials hidden."""
    shown = re.sub(r"(://)[^/@\s]*@", r"\1[REDACTED]@", value)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return repr(shown)


def _invalid(value: str, why: str = "is not a Handle, DOI or URL") -> InvalidPID:
    return InvalidPID(f"The input identifier {_shown(value)} {why}: {_ACCEPTED}.")


@dataclass(frozen=True)
class RelatedIdentifier:
    """One input PID in canonical form, with the relation the captured notebook has to it."""

    identifier: str
    type: PidType
    relation_type: str = "IsDerivedFrom"

    @property
    def resolver_url(self) -> str:
        """The https URL that resolves this identifier (the RO-Crate ``@id`` of the input)."""
        if self.type == "Handle":
            return HANDLE_RESOLVER + quote(self.identifier, safe=_URL_SAFE)
        if self.type == "DOI":
            return DOI_RESOLVER + quote(self.identifier, safe=_URL_SAFE)
        return self.identifier

    @property
    def key(self) -> tuple[str, str]:
        """Identity used for deduplication: DOIs compare case-insensitively, the rest exactly."""
        if self.type == "DOI":
            return (self.type, self.identifier.casefold())
        return (self.type, self.identifier)

    def to_b2share_v2(self) -> dict[str, str]:
        """The B2SHARE v2 ``related_identifiers`` item for this identifier."""
        return {
            "related_identifier": self.identifier,
            "related_identifier_type": self.type,
            "relation_type": self.relation_type,
        }

    @classmethod
    def from_b2share_v2(cls, obj: Mapping[str, Any]) -> RelatedIdentifier:
        """Read a ``related_identifiers`` item (e.g. from a metadata file), normalising it."""
        if not isinstance(obj, Mapping):
            raise InvalidPID(
                f"The related identifier {_shown(str(obj))} is not an object: write "
                '{"related_identifier": ..., "related_identifier_type": "Handle"|"DOI"|"URL", '
                '"relation_type": "IsDerivedFrom"}.'
            )
        value = obj.get("related_identifier")
        if not isinstance(value, str):
            raise InvalidPID(
                f"The related identifier {_shown(str(dict(obj)))} has no string "
                '"related_identifier": add one, for example "21.14100/abc".'
            )
        relation = obj.get("relation_type", "IsDerivedFrom")
        declared = obj.get("related_identifier_type")
        if declared is None:
            return parse_pid(value, relation_type=relation)
        if declared not in PID_TYPES:
            raise InvalidPID(
                f"The related identifier {_shown(value)} has related_identifier_type "
                f"{_shown(str(declared))}, which ecasrepro cannot check: use Handle, DOI or URL."
            )
        parsed = parse_pid(value, relation_type=relation)
        if parsed.type == declared:
            return parsed
        if declared == "Handle" and parsed.type == "DOI":
            # Every DOI is a Handle; keep the user's declared type.
            return cls(parsed.identifier, "Handle", parsed.relation_type)
        if declared == "URL" and value.strip().lower().startswith(("http://", "https://")):
            return cls(_normalise_url(value.strip()), "URL", parsed.relation_type)
        raise InvalidPID(
            f"The related identifier {_shown(value)} is declared as {declared} but reads as a "
            f"{parsed.type}: set related_identifier_type to {parsed.type!r} or fix the value."
        )


def _check_relation(value: str, relation_type: Any) -> str:
    if relation_type not in RELATION_TYPES:
        raise InvalidPID(
            f"The relation type {_shown(str(relation_type))} given for {_shown(value)} is not "
            "one of B2SHARE's relation types: use IsDerivedFrom, References, IsSupplementTo or "
            "another DataCite relation type."
        )
    return str(relation_type)


def _split_prefix(text: str) -> tuple[str, str] | None:
    """``(prefix, suffix)`` when *text* is a bare Handle/DOI name, else None."""
    prefix, slash, suffix = text.partition("/")
    if not slash or not suffix or not _PREFIX.match(prefix):
        return None
    if _SUFFIX_FORBIDDEN.search(suffix):
        return None
    return prefix, suffix


def _is_doi_prefix(prefix: str) -> bool:
    return prefix == "10" or prefix.startswith("10.")


def _name(text: str, want: PidType | None) -> RelatedIdentifier | None:
    """A bare ``prefix/suffix`` as a Handle or DOI (``want`` forces the scheme), else None."""
    parts = _split_prefix(text)
    if parts is None:
        return None
    prefix, suffix = parts
    is_doi = _is_doi_prefix(prefix)
    if want == "DOI" and not is_doi:
        return None
    if is_doi:  # also for hdl:10.x/...: a DOI reached through the Handle system is that DOI
        return RelatedIdentifier(f"{prefix.lower()}/{suffix}", "DOI")
    return RelatedIdentifier(f"{prefix}/{suffix}", "Handle")


def _normalise_url(text: str) -> str:
    parts = urlsplit(text)
    host = parts.hostname or ""
    netloc = parts.netloc
    if "@" in netloc:
        raise _invalid(text, "carries credentials in its URL")
    netloc = netloc.lower() if netloc else netloc
    if not host or netloc.startswith(":") or netloc.endswith(":"):
        raise _invalid(text, "has no host")
    path = parts.path
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, parts.fragment))


def _from_resolver(host: str, path: str) -> RelatedIdentifier | None:
    """A resolver URL's path (after the host) as the Handle or DOI it names, else None."""
    name = unquote(path.lstrip("/"))
    if host in _HANDLE_HOSTS:
        return _name(name, "Handle")
    return _name(name, "DOI")


def _parse(text: str) -> RelatedIdentifier:
    if not isinstance(text, str):
        raise InvalidPID(f"The input identifier {_shown(str(text))} is not a string: {_ACCEPTED}.")
    value = text.strip()
    if not value:
        raise _invalid(text, "is empty")
    if _SUFFIX_FORBIDDEN.search(value):
        raise _invalid(text, "contains whitespace or control characters")
    lowered = value.lower()
    if lowered.startswith("hdl:"):
        found = _name(value[4:], "Handle")
        if found is None:
            raise _invalid(text, "is not a valid Handle")
        return found
    if lowered.startswith("doi:"):
        found = _name(value[4:], "DOI")
        if found is None:
            raise _invalid(text, "is not a valid DOI")
        return found
    # Resolver URLs written without a scheme: "hdl.handle.net/21.14100/abc", "doi.org/10.1/x".
    host_guess = lowered.split("/", 1)[0]
    if host_guess in _HANDLE_HOSTS or host_guess in _DOI_HOSTS:
        value = "https://" + value
        lowered = value.lower()
    scheme = _SCHEME.match(value)
    if scheme and lowered.startswith(("http://", "https://")):
        try:
            parts = urlsplit(value)
            host = (parts.hostname or "").lower()
        except ValueError as exc:  # e.g. an invalid IPv6 literal or port
            raise _invalid(text, "is not a valid URL") from exc
        if (host in _HANDLE_HOSTS or host in _DOI_HOSTS) and "@" not in parts.netloc:
            # Query and fragment (?noredirect, ?locatt=...) are resolver options, not the PID.
            found = _from_resolver(host, parts.path)
            if found is not None:
                return found
            if not parts.path.strip("/"):
                raise _invalid(text, "is a resolver address that names no identifier")
        try:
            return RelatedIdentifier(_normalise_url(value), "URL")
        except ValueError as exc:
            raise _invalid(text, "is not a valid URL") from exc
    found = _name(value, None)
    if found is not None:
        return found
    if scheme:
        raise _invalid(text, f"uses the unsupported scheme {scheme.group(1)!r}")
    raise _invalid(text)


def parse_pid(text: str, relation_type: str = "IsDerivedFrom") -> RelatedIdentifier:
    """Parse one PID in any accepted spelling; raise :class:`InvalidPID` naming it otherwise."""
    found = _parse(text)
    relation = _check_relation(str(text), relation_type)
    if relation != found.relation_type:
        return RelatedIdentifier(found.identifier, found.type, relation)
    return found


def normalise_pid(text: str) -> str:
    """The canonical string of a PID; idempotent: ``normalise_pid(normalise_pid(x))`` is stable."""
    return _parse(text).identifier


def related_identifiers(
    values: Iterable[str | Mapping[str, Any] | RelatedIdentifier],
) -> list[RelatedIdentifier]:
    """Parse PIDs from strings, B2SHARE v2 items or ready objects; drop repeats, keep order.

    Two entries are repeats when they name the same identifier (after normalisation) with the
    same relation type.
    """
    seen: set[tuple[str, str, str]] = set()
    result: list[RelatedIdentifier] = []
    for value in values:
        if isinstance(value, RelatedIdentifier):
            item = value
        elif isinstance(value, str):
            item = parse_pid(value)
        else:
            item = RelatedIdentifier.from_b2share_v2(value)
        key = (*item.key, item.relation_type)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


# --- Identifiers as a B2SHARE v3 (InvenioRDM) server checks them ---------------------------------
# InvenioRDM 13 validates and normalises ``related_identifiers`` (and other identifier lists) with
# idutils (API-v3.md §7.1). The v3 client checks with these rules before any write, and the v3
# sandbox enforces them, so both reach the server's verdict. They are far more lenient than
# parse_pid above (idutils' Handle rule matches almost anything with a slash, and a URL is anything
# with a scheme and a host); every canonical RelatedIdentifier with a numeric DOI prefix passes.
#: ``RDM_RECORDS_IDENTIFIERS_SCHEMES`` (API-v3.md §7.1), in upstream's order (auto-detection
#: takes the first scheme that matches).
V3_IDENTIFIER_SCHEMES: tuple[str, ...] = (
    "ark", "arxiv", "ads", "crossreffunderid", "doi", "ean13", "eissn", "grid", "handle", "igsn",
    "isbn", "isni", "issn", "istc", "lissn", "lsid", "pmid", "purl", "upc", "url", "urn", "w3id",
    "other",
)
_V3_DOI = re.compile(r"(?:doi:\s*|(?:https?://)?(?:dx\.)?doi\.org/)?(10\.\d+(?:\.\d+)*/.+)", re.I)
_V3_HANDLE = re.compile(
    r"(?:hdl:\s*|(?:https?://)?hdl\.handle\.net/)?([^/.]+(?:\.[^/.]+)*/.*)", re.I
)


def _v3_is_url(value: str) -> bool:
    """idutils' ``is_url`` (a scheme and a host), except that blanks inside are refused.

    The server would store ``https://exa mple.org/``; both former ecasrepro patterns refused it,
    and no notebook input PID has one (parse_pid refuses blanks), so we keep refusing it.
    """
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # an invalid IPv6 literal: not a URL the server could store
        return False
    return bool(parts.scheme and parts.netloc)


def v3_identifier(scheme: str, identifier: str) -> str | None:
    """*identifier* as a v3 server stores it under *scheme* (a v3 scheme id such as ``"doi"``),
    or None when the server refuses it.

    ``doi``/``handle``: resolver prefixes (``doi:``, ``https://doi.org/``, ``hdl:``,
    ``https://hdl.handle.net/``, any case) are stripped; ``url`` needs a scheme and a host and is
    kept as sent. Other schemes are not checked beyond being non-blank (nor are they by ecasrepro).
    """
    value = identifier.strip()
    if not value:
        return None
    if scheme in ("doi", "handle"):
        found = (_V3_DOI if scheme == "doi" else _V3_HANDLE).fullmatch(value)
        return found.group(1) if found else None
    if scheme == "url" and not _v3_is_url(value):
        return None
    return value
