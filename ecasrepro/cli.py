"""The ``ecasrepro`` command: a thin click front end over the library API.

Each command parses its flags, calls one library function, and prints: human text on stderr,
and with ``--json`` one JSON object on stdout. Errors are one sentence and an exit code from
:class:`ecasrepro.errors.ExitCode`; only bugs show a traceback, and only with ``--debug``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ecasrepro import __version__
from ecasrepro.errors import EcasReproError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])


def echo(message: str = "") -> None:
    """Human-readable output goes to stderr, so stdout stays clean for ``--json``."""
    click.echo(message, err=True)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=None, sort_keys=False, default=str))


def user_errors(func: F) -> F:
    """Turn library errors into one sentence on stderr and the matching exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return func(*args, **kwargs)
        except EcasReproError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo(
                "interrupted: nothing was lost; run the same command again to resume.", err=True
            )
            ctx.exit(130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # a bug: say so, and where to look
            if debug:
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc} "
                "(this is a bug in ecasrepro; re-run with --debug for the traceback and report it)",
                err=True,
            )
            ctx.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


class _Group(click.Group):
    """Usage errors exit with 2 (click's default too) and say how to get help."""


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecasrepro")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
def main(debug: bool) -> None:
    """Capture, bundle and publish reproducible notebook analyses to B2SHARE."""


# --- commands -------------------------------------------------------------------------------
# Each command lives below in its own section; keep business logic in the library.

# @@ snapshot @@

# @@ sandbox @@

# @@ publish @@

# @@ verify @@

# @@ archive @@


def run() -> None:  # pragma: no cover - console entry helper
    sys.exit(main())
