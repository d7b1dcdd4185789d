"""The sandbox's storage layer: a stored byte is only removed once nothing can point at it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ecasrepro.sandbox.storage import Storage


class Boom(Exception):
    pass


def test_blob_file_outlives_a_transaction_that_does_not_commit(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "data")
    try:
        written = storage.write_blob(io.BytesIO(b"payload"), 7)
        path = storage.blob_path(written.blob)
        assert path.read_bytes() == b"payload"

        with pytest.raises(Boom), storage.transaction() as db:
            storage.delete_blob_if_unused(db, written.blob)
            raise Boom  # the commit never happens: rows would still point at the blob
        assert path.read_bytes() == b"payload"

        with storage.transaction() as db:
            storage.delete_blob_if_unused(db, written.blob)
            assert path.exists()  # not before the commit
        assert not path.exists()
    finally:
        storage.close()
