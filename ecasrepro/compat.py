"""``from ecasrepro.compat import EcasShare``: the predecessor ``ecasb2share``'s client, kept
importable under the name its migration note gives.

A front end: the class lives with the v2 dialect it speaks, in
:mod:`ecasrepro.b2share.ecasshare`.

One job: keep the migration note's import path working, so that moving the class never breaks
``from ecasrepro.compat import EcasShare``.

May import: ecasrepro.b2share.ecasshare; never ecasrepro.api or an engine's internals (it is a
name, not code).
"""

from __future__ import annotations

from ecasrepro.b2share.ecasshare import ECAS_COMMUNITY_ID, LEGACY_TOKEN_PATH, EcasShare

__all__ = ["ECAS_COMMUNITY_ID", "LEGACY_TOKEN_PATH", "EcasShare"]
