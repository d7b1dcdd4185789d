"""Redaction of excerpts: secrets never reach verification.json or stderr.

One job: the redaction snapshot of one verification run (``ecasrepro.capture.secrets``, or a
token-shaped fallback) and the short, redacted excerpts the report quotes.

May import: ecasrepro.capture.secrets (lazily); never ecasrepro.api, ecasrepro.cli,
ecasrepro.magic or another module of this package.
"""

from __future__ import annotations

import re
from typing import Any

_EXCERPT_CHARS = 160


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    text = _redactor().redact_text(text)
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


class _TokenScrubber:
    """Fallback redactor: token-shaped strings only (used if capture.secrets is unavailable)."""

    _token = re.compile(r"[A-Za-z0-9_\-]{40,}")

    def redact_text(self, text: str) -> str:
        return self._token.sub("[REDACTED]", text)


_REDACTOR: Any = None


def _redactor() -> Any:
    """The same redaction snapshot applies: secrets never reach verification.json or stderr."""
    global _REDACTOR
    if _REDACTOR is None:
        try:
            from ecasrepro.capture.secrets import Redactor

            _REDACTOR = Redactor.from_environment()
        except ImportError:
            _REDACTOR = _TokenScrubber()
    return _REDACTOR


def _reset_redactor() -> None:
    """Forget the snapshot: the next excerpt takes one from the environment as it is now."""
    global _REDACTOR
    _REDACTOR = None
