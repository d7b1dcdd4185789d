"""Shared pytest fixtures: a real sandbox server (B2SHARE v2 API) over real HTTP on loopback.

``sandbox`` gives each test a fresh server and data directory (start-up takes a few ms), so tests
may change faults, restart it or fill quotas without affecting each other.  ``sandbox_factory``
starts servers with other options (quotas, faults, seed, token).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ecasrepro.sandbox import SandboxServer

# Snapshots in the suite resolve no pylock.toml against the public index (documented setting;
# tests/test_lockfile.py points it at its own loopback index). Subprocesses inherit it.
os.environ["ECASREPRO_LOCK_INDEX"] = "off"


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes with custom options; all are stopped at the end of the test."""
    started: list[SandboxServer] = []

    def start(name: str = "sandbox", **options: Any) -> SandboxServer:
        server = SandboxServer(tmp_path / name, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    """A running sandbox with a fresh data dir; see ``.url``, ``.token``, ``.users``."""
    return sandbox_factory()


@pytest.fixture
def sandbox_v3(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    """A running sandbox serving the v3 (InvenioRDM-style) API; same users and tokens."""
    return sandbox_factory("sandbox_v3", api="v3")
