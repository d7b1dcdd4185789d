"""Reproduction from a publication: a B2SHARE record back to a re-executed, compared notebook.

* :mod:`.rebuild` -- check a bundle's pylock.toml against this machine, build a fresh venv from
  it (uv or pip), and a kernelspec for it;
* :mod:`.engine` -- download the record (``ecasrepro.b2share.download``), rebuild the bag, the
  environment, re-execute with ``verify``'s comparison, report the three stages.

The package is named ``reproduction``, not ``reproduce``: a submodule named like the lazily
exported ``ecasrepro.reproduce()`` would replace that function on the package when imported.

May import: .engine, .rebuild (to re-export them); never ecasrepro.api, ecasrepro.cli or
ecasrepro.magic.
"""

from __future__ import annotations

from ecasrepro.reproduction.engine import ReproductionReport, Stage, reproduce_published
from ecasrepro.reproduction.rebuild import BuiltEnvironment, build_environment, check_lock

__all__ = ["BuiltEnvironment", "ReproductionReport", "Stage", "build_environment", "check_lock",
           "reproduce_published"]
