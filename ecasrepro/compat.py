"""``from ecasrepro.compat import EcasShare``: the predecessor ``ecasb2share``'s client, kept
importable under the name its migration note gives.

A front end: the class lives with the v2 dialect it speaks, in
:mod:`ecasrepro.b2share.ecasshare`. May import: that module only.
"""

from __future__ import annotations

from ecasrepro.b2share.ecasshare import ECAS_COMMUNITY_ID, LEGACY_TOKEN_PATH, EcasShare

__all__ = ["ECAS_COMMUNITY_ID", "LEGACY_TOKEN_PATH", "EcasShare"]
