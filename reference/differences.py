"""The known, still-open differences between the real InvenioRDM and the sandbox, and the check.

``reference/known_differences.json`` lists, per call of the journey, the paths (in the compared
``{status, headers, body}``) that still differ, each with the issue-22 item that explains it
(``0``: a difference the issue does not list yet). ``check`` fails a run on a difference not in
the file, and on an entry that no longer differs, so the list can only shrink. ``update``
rewrites the file from a run's report (``python -m reference.differences update``), giving each
path its item by the ``RULES`` below.

One job: hold a comparison's differences to the reviewed list of open ones.

May import: nothing of ecasrepro; never ecasrepro.sandbox (the list judges it).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
KNOWN = HERE / "known_differences.json"
REPORT = HERE / "out" / "report.json"

#: (item, call pattern, path pattern): the first match names a difference's issue-22 item.
RULES: tuple[tuple[int, str, str], ...] = (
    (1, r"^record as ", r""),
    (5, r"^search, unknown sort$", r""),
    (4, r"^search, size beyond the window$", r""),
    (2, r"", r"/parent/access/(grants|links)$|/versions/is_latest_draft$"),
    (3, r"^edit", r"^/body/(status|versions/is_latest)$"),
    (6, r"", r"^/body/(keys|aggregations)$"),
    (7, r"^(review put|submit review)", r"^/headers/ETag$"),
    (8, r"", r"/links/actions/|/reviewers$"),
    (9, r"", r"/parent/review"),
    (10, r"", r"/deletion_status$"),
    (10, r"^user drafts$", r"^/body/hit keys$"),  # a draft hit's keys: deletion_status
    (11, r"", r"/files/entries/[^/]+(/[^/]+)*/links$"),
    (12, r"^(files|file|record files)", r"/metadata$"),
    (13, r"partial save|bad related identifier", r"/metadata/related_identifiers"),
    (14, r"", r"/languages/\d+/title$"),
    (15, r"^create draft$", r"^/body/access/status$"),
    (16, r"", r"/links/(access\w*|media_files|archive_media|self_iiif_\w+|communities-suggestions"
              r"|rename|membership_requests|self_html)$|/communities/entries/\d+/links/"),
    (17, r"", r"/stats/"),
    (18, r"^(update draft, bad access|files init, an object|discard edit again)$", r"/errors|"
         r"/message$"),
    (20, r"stale If-Match", r"^/body/message$"),
)


@dataclass(frozen=True)
class Known:
    """One call's open differences, all explained by the same issue item."""

    call: str
    item: int
    paths: tuple[str, ...]


def path_of(line: str) -> str:
    """The compared path a difference line starts with (``/body/links/self: ...``)."""
    return line.split(": ", 1)[0]


def item_of(call: str, path: str) -> int:
    for item, call_re, path_re in RULES:
        if re.search(call_re, call) and re.search(path_re, path):
            return item
    return 0


def load(path: Path = KNOWN) -> list[Known]:
    data = json.loads(path.read_text())
    return [Known(e["call"], int(e["item"]), tuple(e["paths"])) for e in data["open"]]


@dataclass
class Verdict:
    """What a run's differences say against the list."""

    alike: int
    known: int
    new: dict[str, list[str]]  # call -> difference lines not in the list
    stale: dict[str, list[str]]  # call -> listed paths that no longer differ

    @property
    def ok(self) -> bool:
        return not self.new and not self.stale


def check(result: dict[str, list[str]], known: list[Known]) -> Verdict:
    listed: dict[str, set[str]] = {}
    for entry in known:
        listed.setdefault(entry.call, set()).update(entry.paths)
    new: dict[str, list[str]] = {}
    stale: dict[str, list[str]] = {}
    for call, lines in result.items():
        seen = {path_of(line) for line in lines}
        unlisted = [line for line in lines if path_of(line) not in listed.get(call, set())]
        if unlisted:
            new[call] = unlisted
        gone = sorted(listed.get(call, set()) - seen)
        if gone:
            stale[call] = gone
    for call in sorted(set(listed) - set(result)):
        stale[call] = sorted(listed[call])  # a call the journey no longer makes
    different = sum(1 for lines in result.values() if lines)
    return Verdict(len(result) - different, different, new, stale)


def update(result: dict[str, list[str]], path: Path = KNOWN) -> int:
    """Rewrite the list from a run; returns the number of entries."""
    entries = []
    for call, lines in result.items():
        by_item: dict[int, list[str]] = {}
        for line in lines:
            p = path_of(line)
            items = by_item.setdefault(item_of(call, p), [])
            if p not in items:
                items.append(p)
        for item in sorted(by_item):
            entries.append({"call": call, "item": item, "paths": by_item[item]})
    doc = {
        "about": "Differences between the real InvenioRDM 13 and `ecasrepro sandbox --api v3` "
                 "still open, per journey call: the compared paths, and the issue-22 item that "
                 "explains them (0: not in the issue's list). Only shrinks: "
                 "reference/test_reference.py fails on a new difference and on an entry that "
                 "no longer differs. Rewrite from a run: python -m reference.differences update",
        "open": entries,
    }
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return len(entries)


if __name__ == "__main__":
    if sys.argv[1:] != ["update"]:
        sys.exit("usage: python -m reference.differences update  (reads reference/out/report.json)")
    report = json.loads(REPORT.read_text())
    calls = {name: c["differences"] for name, c in report["calls"].items()}
    print(f"{update(calls)} entries written to {KNOWN}")
