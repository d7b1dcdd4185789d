"""The ``ecasrepro`` command: a thin click front end over the library API.

Each command parses its flags, calls one library function, and prints: human text on stderr,
and with ``--json`` one JSON object on stdout. Errors are one sentence and an exit code from
:class:`ecasrepro.errors.ExitCode`; only bugs show a traceback, and only with ``--debug``.

One job: the command line, so that a shell user reaches the library API with flags and exit codes
and nothing more.

May import: ecasrepro.api, ecasrepro.errors, ecasrepro.version, ecasrepro.sandbox.server
(``ecasrepro sandbox``); never an engine directly (ecasrepro.capture, ecasrepro.bundle,
ecasrepro.b2share, ecasrepro.archival, ecasrepro.verification: the API wires them).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ecasrepro.errors import ConfigurationError, EcasReproError, ExitCode, redact_message
from ecasrepro.version import __version__

F = TypeVar("F", bound=Callable[..., Any])


def echo(message: str = "") -> None:
    """Human-readable output goes to stderr, so stdout stays clean for ``--json``."""
    click.echo(message, err=True)


_JSON_EMITTED = "ecasrepro.json_emitted"


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=None, sort_keys=False, default=str))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_JSON_EMITTED] = True


def _json_failure(ctx: click.Context, error: str, exit_code: int, message: str) -> None:
    """With ``--json``, a failure is one JSON object on stdout too (scripts read stdout only).

    A command that already printed its result (verify's report, then exit 6) prints nothing more:
    stdout always holds exactly one JSON object.
    """
    if ctx.params.get("as_json") and not ctx.meta.get(_JSON_EMITTED):
        emit_json({"error": error, "exit_code": exit_code, "message": message})


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
            _json_failure(ctx, exc.exit_code.name.lower(), int(exc.exit_code), str(exc))
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            message = ("interrupted: nothing half-written was kept; run the same command again "
                       "(publish resumes where it stopped).")
            click.echo(message, err=True)
            _json_failure(ctx, "interrupted", 130, message)
            ctx.exit(130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # a bug: say so, and where to look
            if debug:
                raise
            message = (
                f"internal error: {type(exc).__name__}: {redact_message(str(exc))} "
                "(this is a bug in ecasrepro; re-run with --debug for the traceback and report it)"
            )
            click.echo(message, err=True)
            _json_failure(ctx, "internal", int(ExitCode.INTERNAL), message)
            ctx.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


class _Group(click.Group):
    """Usage errors exit with 2 (click's default too) and say how to get help.

    Under ``--json`` a usage error is one JSON object on stdout as well, like every other failure:
    click raises it while parsing, before the command's own error handling exists.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ecasrepro.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # click quotes bad values: never a known secret
            vars(exc)["message"] = redact_message(exc.message)  # typed Final, set once here
            argv = ctx.meta.get("ecasrepro.argv", [])
            if "--json" in argv[: argv.index("--") if "--" in argv else None]:
                error = "usage" if isinstance(exc, click.UsageError) else "bad_input"
                emit_json({"error": error, "exit_code": exc.exit_code,
                           "message": exc.format_message()})
            raise


def _skip_iri_grammars() -> None:
    """Keep jsonschema from compiling rfc3987-syntax's grammars in this process (~1-2 s).

    Where rfc3987-syntax is installed (jupyter-events requires ``jsonschema[format-nongpl]``,
    so every JupyterLab environment has it), importing jsonschema, which nbformat does, builds
    38 lark parsers for the "iri" format checks of draft 7+ schemas: more time than copying and
    hashing 1 GiB of attachments. No command uses them (nbformat validates with fastjsonschema,
    the metadata and sandbox schemas are Draft 4), so this process makes that import fail, as
    if the package were absent. Only here, in the command's own process: the magic never does
    it, a kernel is the user's (see docs/decisions.md).
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def run() -> None:
    """The ``ecasrepro`` console script: :func:`main` in a process of its own."""
    _skip_iri_grammars()
    main()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecasrepro")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.option("-v", "--verbose", count=True,
              help="More log lines from the ecasrepro logger (-v: info, -vv: debug).")
@click.option("-q", "--quiet", count=True, help="Fewer log lines (-q: errors only).")
def main(debug: bool, verbose: int, quiet: int) -> None:
    """Capture, bundle and publish reproducible notebook analyses to B2SHARE."""
    import logging

    if not (verbose or quiet):
        return  # the library's own default (and ``ecasrepro sandbox``'s request log) stand
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logger = logging.getLogger("ecasrepro")
    logger.setLevel(max(logging.DEBUG, min(logging.CRITICAL, level)))
    if not any(getattr(h, "_ecasrepro_cli", False)
                                      for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)  # stdout stays clean for --json
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._ecasrepro_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


# --- commands -------------------------------------------------------------------------------
# Each command lives below in its own section; keep business logic in the library.

# @@ snapshot @@


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@main.command("snapshot")
@click.argument("notebook", type=click.Path(dir_okay=True, path_type=str))
@click.option("-i", "--input", "inputs", multiple=True, metavar="PID",
              help="PID of an input dataset (Handle, DOI or URL); repeatable.")
@click.option("--input-file", "input_files", multiple=True, metavar="PATH/GLOB",
              help="A file the analysis read: its PIDs (tracking_id, dataset) are read from it; "
              "repeatable.")
@click.option("--exclude-input", "exclude_inputs", multiple=True, metavar="GLOB",
              help="Drop input files matching GLOB; repeatable.")
@click.option("-a", "--attach", multiple=True, metavar="PATH",
              help="Output file, glob or directory to include under data/outputs/; repeatable.")
@click.option("--metadata", "metadata_file", metavar="FILE",
              help="B2SHARE metadata JSON to merge (flags win; related identifiers are merged).")
@click.option("--title", metavar="T", help="Record title (default: the notebook's first heading).")
@click.option("--creator", "creators", multiple=True, metavar="NAME", help="Creator; repeatable.")
@click.option("--description", metavar="D", help="Abstract of the record.")
@click.option("--keyword", "keywords", multiple=True, metavar="K", help="Keyword; repeatable.")
@click.option("--community", metavar="ID", help="B2SHARE community id (default: ECAS).")
@click.option("--license", "license_", metavar="L",
              help="Licence: SPDX id, name or URL (else the metadata's, else [snapshot] in the "
              "config; none: the bundle says none was stated).")
@click.option("-o", "--output", metavar="DIR",
              help="Bundle directory (default: <notebook stem>.repro beside the notebook).")
@click.option("--execute", is_flag=True, help="Re-run the notebook headless before capturing.")
@click.option("--zip", "zip_", is_flag=True, help="Also write <bundle>.zip beside the bundle.")
@click.option("--link", type=click.Choice(["auto", "reflink", "hardlink", "copy"]),
              default="auto", show_default=True,
              help="How attachments enter the bundle: a copy-on-write clone where the filesystem "
              "can (auto), only that (reflink), a hard link (no space; editing the original "
              "later changes the bundle) or a copy.")
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@user_errors
def snapshot_command(
    notebook: str, inputs: tuple[str, ...], input_files: tuple[str, ...],
    exclude_inputs: tuple[str, ...], attach: tuple[str, ...], metadata_file: str | None,
    title: str | None, creators: tuple[str, ...], description: str | None,
    keywords: tuple[str, ...], community: str | None, license_: str | None, output: str | None,
    execute: bool, zip_: bool, link: str, force: bool, as_json: bool,
) -> None:
    """Capture NOTEBOOK, its environment, git state and input PIDs into a BagIt bundle."""
    from ecasrepro.api import snapshot

    bundle = snapshot(
        notebook, inputs=inputs, attach=attach, metadata=metadata_file, title=title,
        creators=creators, description=description, keywords=keywords, community=community,
        license=license_, output=output, execute=execute, zip=zip_, force=force, link=link,
        input_files=input_files, exclude_inputs=exclude_inputs,
    )
    summary = bundle.summary()
    summary["discovered"] = [
        {"input": r.what, "source": r.source, "level": r.level} for r in bundle.discovered]
    if zip_:
        summary["zip"] = str(bundle.path.with_name(bundle.path.name + ".zip"))
    echo(f"bundle: {summary['bundle']}  ({len(summary['files'])} files, "
         f"{_size(summary['total_size'])})")
    echo(f"title: {summary['title']}")
    for entry in summary["files"]:
        echo(f"  {_size(entry['size']):>10}  data/{entry['relpath']}")
    if summary["inputs"]:
        echo("inputs (IsDerivedFrom):")
        for pid in summary["inputs"]:
            echo(f"  {pid['related_identifier_type']:<6} {pid['resolver_url']}")
    else:
        echo("inputs: none declared (use --input PID or metadata.ecasrepro.inputs)")
    for row in summary["discovered"]:
        echo(f"  found: {row['input']}  ({row['source']}; {row['level']} level)")
    for warning in summary["warnings"]:
        echo(f"warning: {warning}")
    if zip_:
        echo(f"zip: {summary['zip']}")
    if as_json:
        emit_json(summary)

# @@ sandbox @@


@main.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, type=click.IntRange(0, 65535),
              help="Port; 0 picks a free one.  [default: 0]")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data directory (SQLite + files); kept across restarts. "
    "[default: ~/.local/share/ecasrepro/sandbox]",
)
@click.option("--token", default=None, help="Token of the first user (default: generated).")
@click.option(
    "--faults", default=None, help="Fault spec, e.g. drop-upload=0.3,error-503=0.2,latency=50ms."
)
@click.option("--seed", type=int, default=None, help="Seed that makes --faults deterministic.")
@click.option("--max-file-size", type=int, default=None, help="Per-file limit in bytes (10 GiB).")
@click.option("--quota", type=int, default=None, help="Per-bucket quota in bytes (20 GiB).")
@click.option(
    "--allow-remote", is_flag=True, help="Allow a non-loopback --host (tokens are printed!)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON line once it accepts connections."
)
@click.option(
    "--api",
    type=click.Choice(["v2", "v3"]),
    default="v2",
    show_default=True,
    help="API dialect: v2 (B2SHARE 2.x) or v3 (B2SHARE v3 / InvenioRDM).",
)
@click.option(
    "--max-files", type=int, default=None, help="v3: files per record (500; upstream uses 100)."
)
@user_errors
def sandbox_command(
    host: str,
    port: int,
    data_dir: str | None,
    token: str | None,
    faults: str | None,
    seed: int | None,
    max_file_size: int | None,
    quota: int | None,
    allow_remote: bool,
    as_json: bool,
    api: str,
    max_files: int | None,
) -> None:
    """Run a B2SHARE-compatible (v2 or v3 API) server on loopback for tests and practice."""
    import logging
    from pathlib import Path

    try:
        from ecasrepro.sandbox.server import SandboxServer, serve_until_signalled
    except ImportError as exc:
        raise ConfigurationError(
            f"the sandbox needs the optional package {exc.name!r}; install it with "
            "pip install 'ecasrepro[sandbox]'"
        ) from None

    data = Path(data_dir) if data_dir else Path.home() / ".local/share/ecasrepro/sandbox"
    server = SandboxServer(
        data, host=host, port=port, token=token, faults=faults, seed=seed,
        max_file_size=max_file_size, quota_size=quota, allow_remote=allow_remote, api=api,
        max_files=max_files,
    )
    if not as_json:
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    def ready(srv: SandboxServer) -> None:
        if as_json:
            emit_json({"url": srv.url, "token": srv.token, "data": str(srv.data_dir)})
            sys.stdout.flush()
            return
        echo(f"B2SHARE sandbox ({srv.api} API) listening on {srv.url}/api/")
        echo(f"  token (user {srv.users[0].email}): {srv.token}")
        for other in srv.users[1:]:
            role = "superuser" if other.superuser else "user"
            echo(f"  token ({role} {other.email}): {other.token}")
        echo(f"  data directory: {srv.data_dir}")
        review_path = "uploads" if srv.api == "v3" else "records"
        echo(f"  review a draft at {srv.url}/{review_path}/<id> (sign in with a token above)")
        echo("  press Ctrl+C to stop")

    serve_until_signalled(server, ready)

# @@ publish @@


def _server_options(func: F) -> F:
    func = click.option(
        "--community", metavar="ID",
        help="Community id or name (else B2SHARE_COMMUNITY, config, metadata)."
    )(func)
    func = click.option(
        "--token-file", metavar="FILE", type=click.Path(dir_okay=False),
        help="File holding the API token (else B2SHARE_TOKEN[_FILE], config)."
    )(func)
    func = click.option(
        "--api", type=click.Choice(["auto", "v2", "v3"]), default=None,
        help="B2SHARE API dialect (else B2SHARE_API, config; default: detect from the server)."
    )(func)
    func = click.option("--server", metavar="URL",
                        help="B2SHARE server, e.g. https://b2share.example.org (else B2SHARE_URL, "
                        "config file).")(func)
    return func


@main.command("publish")
@click.argument("bundle", type=click.Path(file_okay=False, path_type=str))
@_server_options
@click.option("--submit", is_flag=True, help="Submit the draft for publication after upload.")
@click.option("--new-version-of", metavar="RECORD_ID",
              help="Make the draft a new version of this published record.")
@click.option("--new-draft", is_flag=True,
              help="Start a new draft even if the receipt records one.")
@click.option("--dry-run", is_flag=True,
              help="Validate and print every write request; send none (reads only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@user_errors
def publish_command(
    bundle: str, server: str | None, api: str | None, token_file: str | None,
    community: str | None, submit: bool, new_version_of: str | None, new_draft: bool,
    dry_run: bool, as_json: bool,
) -> None:
    """Publish BUNDLE to B2SHARE as a draft (re-running resumes the same draft)."""
    from ecasrepro.api import publish

    shown: list[str] = []

    def say(message: str) -> None:
        shown.append(message)
        echo(message)

    record = publish(bundle, server=server, token_file=token_file, community=community, api=api,
                     submit=submit, new_version_of=new_version_of, new_draft=new_draft,
                     dry_run=dry_run, echo=say)
    for warning in record.warnings:
        if warning not in shown:
            echo(warning)
    if dry_run:
        echo(f"dry run: {len(record.requests)} write request(s) would be sent; none was.")
    else:
        echo(f"{record.state}: {record.id}")
        echo(f"  API: {record.url}")
        echo(f"  web: {record.html_url}")
        for name, value in record.pids.items():
            echo(f"  {name}: {value}")
        echo(f"  files: {len(record.files)} ({len(record.uploaded)} uploaded now, "
             f"{len(record.skipped)} already there)")
    if as_json:
        emit_json(record.to_json())


@main.command("communities")
@click.option("--server", metavar="URL", help="B2SHARE server (else B2SHARE_URL, config file).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout.")
@user_errors
def communities_command(server: str | None, as_json: bool) -> None:
    """List the server's communities (id, name, workflow) to pick one for --community."""
    from ecasrepro.api import communities

    rows = communities(server=server, echo=echo)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        flags = " (restricted)" if row["restricted_submission"] else ""
        click.echo(f"{row['id']}  {row['name']:<20} {row['publication_workflow']}{flags}")


@main.command("schema")
@click.argument("community")
@click.option("--server", metavar="URL", help="B2SHARE server (else B2SHARE_URL, config file).")
@user_errors
def schema_command(community: str, server: str | None) -> None:
    """Print COMMUNITY's full JSON schema (root + block) to help fill data/metadata.json."""
    from ecasrepro.api import community_schema

    schema = community_schema(community, server=server, echo=echo)
    if schema.block_schema_id:
        echo(f"community-specific fields go under community_specific/{schema.block_schema_id}")
    click.echo(json.dumps(schema.json_schema, indent=2))


@main.command("status")
@click.argument("bundle", type=click.Path(file_okay=False, path_type=str))
@click.option("--server", metavar="URL", help="Server to ask (default: the one in the receipt).")
@click.option("--token-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="File holding the API token (else B2SHARE_TOKEN[_FILE], config).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@user_errors
def status_command(bundle: str, server: str | None, token_file: str | None, as_json: bool) -> None:
    """Show what BUNDLE's receipt and the server say: each file uploaded, missing or different."""
    from ecasrepro.api import status

    result = status(bundle, server=server, token_file=token_file, echo=echo)
    if as_json:
        emit_json(result.to_json())
        return
    echo(f"{bundle}: {result.state}" + (f" {result.draft_id}" if result.draft_id else "")
         + (f" on {result.server}" if result.server else ""))
    if result.html_url:
        echo(f"  web: {result.html_url}")
    for item in result.files:
        echo(f"  {item.state:<12} {item.key} ({item.size} bytes)")
    for key in result.extra:
        echo(f"  {'extra':<12} {key} (on the server, not in the bundle)")


# @@ verify @@

@main.command("verify")
@click.argument("bundle", type=click.Path(file_okay=True, dir_okay=True))
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds each cell may run before the run stops.",
)
@click.option(
    "--rtol",
    type=click.FloatRange(min=0),
    default=1e-6,
    show_default=True,
    help="Relative tolerance for numbers in text outputs.",
)
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Absolute tolerance for numbers (for values near zero).",
)
@click.option(
    "--image-tolerance",
    type=click.FloatRange(min=0, max=1),
    default=0.01,
    show_default=True,
    help="Largest perceptual difference (0..1) between a captured and a re-made image.",
)
@click.option("--kernel", "kernel_name", help="Kernel to run instead of the notebook's own.")
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Directory with the notebook's inputs as it read them (usually its original "
    "directory); mirrored into the working copy. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@user_errors
def verify_command(
    bundle: str,
    timeout: float,
    rtol: float,
    atol: float,
    image_tolerance: float,
    kernel_name: str | None,
    data_dirs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Re-execute BUNDLE's notebook and compare every output with the captured one.

    Writes verification.json into the bundle. Exit 0 when everything reproduces, 6 when a cell
    differs (the summary names it), 2 for a path that is not a bundle or a missing kernel.
    """
    from ecasrepro.api import verify
    from ecasrepro.errors import NotReproduced

    report = verify(
        bundle,
        timeout=timeout,
        rtol=rtol,
        atol=atol,
        image_tolerance=image_tolerance,
        kernel_name=kernel_name,
        data_dirs=data_dirs,
        progress=not as_json and sys.stderr.isatty(),
    )
    echo(report.summary())
    if as_json:
        path = report.report_path
        emit_json({**report.to_dict(), "report_path": None if path is None else str(path)})
    if not report.reproduced:
        raise NotReproduced(report.failure_sentence())

@main.command("reproduce")
@click.argument("record")
@click.option("--server", metavar="URL",
              help="B2SHARE server for a record id, DOI or Handle (else B2SHARE_URL, config); "
              "a record URL names its own.")
@click.option("--api", type=click.Choice(["auto", "v2", "v3"]), default=None,
              help="B2SHARE API dialect (default: detect from the server).")
@click.option("--token-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="File holding the API token, for a restricted record (else B2SHARE_TOKEN).")
@click.option("--output", "-o", metavar="DIR", type=click.Path(file_okay=False),
              help="Where to put bundle/ and venv/ (default ./b2share-<record id>).")
@click.option("--data", "data_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Directory with the notebook's inputs (the files its input PIDs name). "
              "Repeatable.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0,
              show_default=True, help="Seconds each cell may run.")
@click.option("--download-only", is_flag=True, help="Stop once the bundle is downloaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@user_errors
def reproduce_command(record: str, server: str | None, api: str | None, token_file: str | None,
                      output: str | None, data_dirs: tuple[str, ...], timeout: float,
                      download_only: bool, as_json: bool) -> None:
    """Download a published RECORD, rebuild its environment, re-execute and compare it.

    RECORD is a record id, record or landing URL, DOI or Handle (a PID is looked up on
    --server). Reports three stages: environment rebuilt, ran without error, outputs
    identical. Exit 0 when reproduced, 6 when a stage failed, 7 for a tampered file.
    """
    from ecasrepro.api import reproduce

    report = reproduce(record, server=server, api=api, token_file=token_file, output=output,
                       data_dirs=data_dirs, timeout=timeout, echo=echo,
                       download_only=download_only, progress=not as_json and sys.stderr.isatty())
    echo(report.summary())
    if as_json:
        emit_json(report.to_dict())
    if report.exit_code:
        ctx = click.get_current_context()
        ctx.exit(int(report.exit_code))

# @@ archive @@


def _executor_options(func: F) -> F:
    """--jobs, --executor, --scheduler: where ``archive`` and ``verify-many`` run their tasks."""
    func = click.option(
        "--scheduler", metavar="tcp://HOST:PORT", default=None,
        help="An existing Dask scheduler (else DASK_SCHEDULER_ADDRESS, else an embedded "
        "LocalCluster).")(func)
    func = click.option(
        "--executor", type=click.Choice(["auto", "dask", "local"]), default="auto",
        show_default=True,
        help="Where tasks run: Dask (auto when installed) or a local pool of threads.")(func)
    return click.option(
        "-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N",
        help="Workers (default: CPU count, at most 4; a --scheduler's cluster has its own).")(func)


@main.command("archive")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", default="archives", show_default=True, metavar="DIR",
              help="Directory for the archives (notebook snapshots go to DIR/.bundles/).")
@click.option("--zip", "fmt", flag_value="zip", default=True,
              help="Write <name>.bag.zip archives (default).")
@click.option("--tar", "fmt", flag_value="tar", help="Write <name>.bag.tar.gz archives instead.")
@click.option("--publish", is_flag=True,
              help="Also publish each analysis as its own B2SHARE draft (re-runs continue it).")
@_server_options
@click.option("--rate", type=float, default=None, metavar="N",
              help="Requests per second to the server, all workers together (else "
              "ECASREPRO_PUBLISH_RATE, else 10).")
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@user_errors
def archive_command(
    paths: tuple[str, ...], output: str, fmt: str, publish: bool, server: str | None,
    api: str | None, token_file: str | None, community: str | None, rate: float | None,
    jobs: int | None, executor: str, scheduler: str | None, as_json: bool,
) -> None:
    """Archive finished analyses (bundles, notebooks, or directories of them) as BagIt bags.

    One archive per analysis; current archives are skipped; one failure does not stop the
    rest; DIR/archive-run.jsonl journals what finished, so a killed run resumes. Exit 0 when
    every analysis was archived or skipped, else the most severe failure's code (1 internal >
    5 secret > 3 refused > 4 unreachable > 2 bad input).
    """
    from pathlib import Path

    from ecasrepro.api import archive

    report = archive(
        paths, output=output, format=fmt, jobs=jobs, publish=publish, server=server,
        token_file=token_file, community=community, api=api,
        progress=not as_json and sys.stderr.isatty(), echo=echo, executor=executor,
        scheduler=scheduler, rate=rate,
    )
    for outcome in report.outcomes:
        for warning in outcome.warnings:
            echo(f"warning: {Path(outcome.source).name}: {warning}")
    echo(report.summary())
    if as_json:
        emit_json(report.to_json())
    if report.exit_code:
        click.get_current_context().exit(report.exit_code)


@main.command("verify-many")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0,
              show_default=True, help="Seconds each cell may run.")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-6, show_default=True,
              help="Relative tolerance for numbers in text outputs.")
@click.option("--atol", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Absolute tolerance for numbers.")
@click.option("--image-tolerance", type=click.FloatRange(min=0, max=1), default=0.01,
              show_default=True, help="Largest perceptual difference (0..1) between images.")
@click.option("--kernel", "kernel_name", help="Kernel to run instead of each notebook's own.")
@click.option("--journal", default="verify-run.json", show_default=True, metavar="FILE",
              type=click.Path(dir_okay=False),
              help="Run summary; outcomes stream to its .jsonl sibling; a re-run resumes.")
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@user_errors
def verify_many_command(
    paths: tuple[str, ...], timeout: float, rtol: float, atol: float, image_tolerance: float,
    kernel_name: str | None, journal: str, jobs: int | None, executor: str,
    scheduler: str | None, as_json: bool,
) -> None:
    """Re-execute and compare every bundle in PATHS (bundles or directories of them).

    One task per bundle on Dask or a local pool; FILE journals what finished, so a re-run
    verifies only the rest and bundles whose payload changed. Exit 0 when all reproduce, 6 when
    one differs, else the most severe failure's code.
    """
    from ecasrepro.api import verify_many

    report = verify_many(
        paths, timeout=timeout, rtol=rtol, atol=atol, image_tolerance=image_tolerance,
        kernel_name=kernel_name, journal=journal, jobs=jobs, executor=executor,
        scheduler=scheduler, progress=not as_json and sys.stderr.isatty(), echo=echo,
    )
    echo(report.summary())
    if as_json:
        emit_json(report.to_json())
    if report.exit_code:
        click.get_current_context().exit(report.exit_code)


# @@ config @@


@main.command("config")
@click.option("--server", metavar="URL", help="As publish would be given it.")
@click.option("--token-file", metavar="FILE", help="As publish would be given it (not read).")
@click.option("--community", metavar="ID", help="As publish would be given it.")
@click.option("--api", type=click.Choice(["auto", "v2", "v3"]), default=None,
              help="As publish would be given it.")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON on stdout.")
@user_errors
def config_command(server: str | None, token_file: str | None, community: str | None,
                   api: str | None, as_json: bool) -> None:
    """Show every setting and where it comes from (flag, env, user file, site file)."""
    from ecasrepro.api import settings

    rows = settings(server=server, token_file=token_file, community=community, api=api)
    if as_json:
        emit_json({"settings": [row.to_json() for row in rows]})
        return
    for row in rows:
        where = f"{row.origin}: {row.source}" if row.source else row.origin
        echo(f"{row.name:<12} {row.value if row.value is not None else '-':<40} ({where})")
