"""Which parts of a URL are credentials, and the URL without them.

Credentials reach us inside URLs in two places: recorded facts (a git remote, a ``direct_url.json``
install URL, a package index, a conda channel) and shown text (a request's URL in an error or a
log line). Both strip ``user:password@``; what they keep differs for a reason: a recorded URL keeps
a bare ``git@`` ssh user (it is no secret and the remote needs it) and its query and fragment (a
``#sha256=`` is part of an artifact's identity), while a shown URL also masks ``access_token``
query values (B2SHARE v2 accepts the token there) and drops the fragment.

One job: the one rule for URL credentials, so that the capture, the client and the configuration
report cannot disagree about what is secret in a URL.

May import: the standard library only; never anything from ecasrepro.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters whose value is a credential (B2SHARE v2 takes its token as a query value).
TOKEN_PARAMETERS = frozenset({"access_token"})


def strip_credentials(url: str) -> str:
    """``url`` as it may be recorded: without user and password; a bare ``git@`` user is kept."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo == "git":
        return url
    return urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))


def shown_url(url: str) -> str:
    """``url`` as it may be shown: no user or password, token values masked, no fragment."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return "<unparseable URL>"
    query = urlencode([(k, "***" if k.lower() in TOKEN_PARAMETERS else v)
                       for k, v in _query(url)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _query(url: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(urlsplit(url).query)
    except ValueError:
        return []


__all__ = ["TOKEN_PARAMETERS", "shown_url", "strip_credentials"]
