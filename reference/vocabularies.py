"""Write app_data/vocabularies.yaml for the reference: every vocabulary InvenioRDM loads by default,
but the two large ones (languages, ORCID names: ~9,000 entries, minutes to index) cut to the few
terms the reference suite uses. The data files stay the installed package's; subsets are filtered
from them, so nothing of InvenioRDM's is copied into this repository.

Usage: python vocabularies.py <instance app_data dir>
"""

import sys
from pathlib import Path

import invenio_rdm_records
import yaml

LANGUAGES = {"eng", "deu", "fra", "ita", "spa", "nld", "pol", "por", "fin", "swe", "dan", "nor"}
NAMES = 3  # the first few ORCID names: the vocabulary must exist, nothing here uses it


def main(out: Path) -> None:
    data = Path(invenio_rdm_records.__file__).parent / "fixtures" / "data"
    entries = yaml.safe_load((data / "vocabularies.yaml").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for entry in entries.values():
        source = entry.get("data-file")
        if not isinstance(source, str):
            continue
        entry["data-file"] = str(data / source)  # absolute: the package's own file
    languages = yaml.safe_load((data / "vocabularies" / "languages.yaml").read_text())
    kept = [t for t in languages if t["id"] in LANGUAGES]
    (out / "languages.yaml").write_text(yaml.safe_dump(kept))
    entries["languages"]["data-file"] = str(out / "languages.yaml")
    names = yaml.safe_load((data / "vocabularies" / "names_orcid.yaml").read_text())
    (out / "names.yaml").write_text(yaml.safe_dump(names[:NAMES]))
    entries["names"]["data-file"] = str(out / "names.yaml")
    (out / "vocabularies.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
