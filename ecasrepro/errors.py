"""The exception hierarchy, and the one table that maps each kind of failure to an exit code.

Every error a user can cause is an :class:`EcasReproError` whose ``str()`` is one sentence that
says what is wrong and how to fix it. Front ends print that sentence and exit with
:attr:`EcasReproError.exit_code`; anything else is a bug (exit 1, traceback behind ``--debug``).

One job: the exceptions and the exit-code table, so that every front end reports a failure the same
way (one sentence, one code).

May import: the standard library only; never anything from ecasrepro (every module imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum


def os_reason(exc: BaseException) -> str:
    """Why a file could not be read, in words for a sentence (never a Python exception name)."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return getattr(exc, "strerror", None) or "the system refused to read it"


class ExitCode(IntEnum):
    """Exit codes of every ecasrepro command (the table in README.md mirrors this one)."""

    OK = 0
    INTERNAL = 1  # a bug: the only case with a traceback, behind --debug
    BAD_INPUT = 2  # bad input or usage: the sentence names the input and the fix
    SERVER_REFUSED = 3  # the server answered 4xx: its message, and what to do
    UNREACHABLE = 4  # the server could not be reached or kept failing; re-run resumes
    SECRET_FOUND = 5  # a secret was found in what would be written or published
    NOT_REPRODUCED = 6  # verify/reproduce: the notebook did not reproduce
    FIXITY = 7  # reproduce: a downloaded file does not match its checksum (it was refused)


MessageFilter = Callable[[str], str]
_message_filter: MessageFilter | None = None


def set_message_filter(scrub: MessageFilter | None) -> None:
    """Install the function every message passes through when shown (see :func:`redact_message`).

    This module imports nothing of ecasrepro, so the secrets engine cannot be called from here
    directly: the package's front door (``ecasrepro/__init__.py``, which runs before any of its
    modules) installs it, lazily, so that no error sentence is ever shown unscrubbed.
    """
    global _message_filter
    _message_filter = scrub


def redact_message(text: str) -> str:
    """*text* with every known secret and token-shaped value replaced by ``[REDACTED]``.

    The one place messages are scrubbed: every :class:`EcasReproError` sentence passes here
    when it is shown (a schema error quoting a value, a bad PID or community name that is in
    fact the token), and so do the CLI's other error lines. Known secrets are the environment's
    and every configured token (:meth:`ecasrepro.capture.secrets.Redactor.from_environment`).
    """
    return _message_filter(text) if _message_filter is not None else text


class EcasReproError(Exception):
    """Base class: a failure the user can act on, described in one sentence."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __str__(self) -> str:
        return redact_message(super().__str__())


class BadInput(EcasReproError):
    """A file, flag or value the user gave is wrong."""

    exit_code = ExitCode.BAD_INPUT


class InvalidPID(BadInput):
    """A string is neither a Handle, a DOI nor a URL."""


class MetadataInvalid(BadInput):
    """Record metadata violates the B2SHARE schema; the message names the field."""

    def __init__(self, message: str, field_errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.field_errors = field_errors or []


class ConfigurationError(BadInput):
    """Server, token or community are missing or unusable."""


@dataclass(eq=False)
class ServerRefused(EcasReproError):
    """The server answered with a 4xx; carries its own message and field errors."""

    message: str
    status: int
    field_errors: list[dict[str, str]] = field(default_factory=list)

    exit_code = ExitCode.SERVER_REFUSED

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return redact_message(self.message)


class ServerUnreachable(EcasReproError):
    """The server could not be reached, or kept failing after retries; a re-run resumes."""

    exit_code = ExitCode.UNREACHABLE


class SecretFound(EcasReproError):
    """A secret would leave the machine; the message names file and line, never the secret."""

    exit_code = ExitCode.SECRET_FOUND


class NotReproduced(EcasReproError):
    """``verify`` re-executed the notebook and some outputs differ."""

    exit_code = ExitCode.NOT_REPRODUCED


class TamperedFile(EcasReproError):
    """A downloaded file does not match the checksum its record or bag manifest states."""

    exit_code = ExitCode.FIXITY
