"""CERN's own client, inveniordm-py (unmodified), against the v3 sandbox: draft, 3-step upload."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ecasrepro.sandbox import SandboxServer

inveniordm_py = pytest.importorskip("inveniordm_py")

from inveniordm_py.client import InvenioAPI  # noqa: E402
from inveniordm_py.files.metadata import FilesListMetadata, OutgoingStream  # noqa: E402
from inveniordm_py.records.metadata import DraftMetadata  # noqa: E402

DRAFT = {
    "metadata": {
        "title": "Test",
        "resource_types": [{"id": "publication-article"}],
        "publication_date": "2024",
        "creators": [
            {"person_or_org": {"family_name": "Brown", "given_name": "Troy", "type": "personal"}}
        ],
        "publisher": "Zenodo",
    }
}


def _stream(handle: object) -> OutgoingStream:
    """An OutgoingStream whose body is the open file itself.

    inveniordm-py 0.1.1's README writes ``OutgoingStream(data=stream)``, but ``Metadata.__init__``
    keeps keyword arguments as a dict, so requests would form-encode ``{"data": <file>}``
    (see the next test).  ``Stream.to_request`` returns ``_data`` unchanged, so setting it to the
    file makes the library send the raw bytes; no library code is changed or patched.
    """
    stream = OutgoingStream()
    stream._data = handle
    return stream


def test_inveniordm_py_creates_uploads_and_reads_back(
    sandbox_v3: SandboxServer, tmp_path: Path
) -> None:
    payload = b"col1,col2\n" + b"1,2\n" * 50_000
    path = tmp_path / "data.csv"
    path.write_bytes(payload)
    client = InvenioAPI(f"{sandbox_v3.url}/api", sandbox_v3.token)

    draft = client.records.create(data=DraftMetadata(**DRAFT))
    record_id = draft.data["id"]
    assert draft.data["is_draft"] and draft.data["metadata"]["title"] == "Test"

    draft.files.create(FilesListMetadata([{"key": "data.csv"}]))
    file = draft.files("data.csv")
    with path.open("rb") as handle:
        file.set_contents(_stream(handle))
    committed = file.commit()
    assert committed.data["status"] == "completed"
    assert committed.data["checksum"] == "md5:" + hashlib.md5(payload).hexdigest()
    assert committed.data["size"] == len(payload)

    assert file.get().data["key"] == "data.csv"
    assert file.download().content == payload
    keys = [f.data["key"] for f in draft.files]
    assert keys == ["data.csv"]
    again = client.records(record_id).draft.get()
    assert again.data["files"]["entries"]["data.csv"]["checksum"] == committed.data["checksum"]
    assert len(client.records.search()) == 0  # nothing published yet


def test_readme_style_stream_is_form_encoded_and_the_checksum_shows_it(
    sandbox_v3: SandboxServer, tmp_path: Path
) -> None:
    """The server stores what it received; the md5 it reports lets a client detect the damage."""
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello\n")
    client = InvenioAPI(f"{sandbox_v3.url}/api", sandbox_v3.token)
    draft = client.records.create(data=DraftMetadata(**DRAFT))
    draft.files.create(FilesListMetadata([{"key": "a.txt"}]))
    file = draft.files("a.txt")
    with path.open("rb") as handle:
        file.set_contents(OutgoingStream(data=handle))
    committed = file.commit()
    assert committed.data["checksum"] != "md5:" + hashlib.md5(b"hello\n").hexdigest()
    assert file.download().content.startswith(b"data=")
