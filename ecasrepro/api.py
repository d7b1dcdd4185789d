"""The library API that every front end (CLI, notebook magic, archive) calls.

Each function wires engines together (capture -> bundle -> publish); the engines live in their own
modules, and heavy imports happen inside the functions so ``import ecasrepro`` stays fast.

One job: be the one library API, so that every front end stays a thin layer and no engine needs to
know who calls it.

May import: ecasrepro.archival, ecasrepro.batchverify, ecasrepro.b2share.publisher,
ecasrepro.b2share.download, ecasrepro.bundle, ecasrepro.capture, ecasrepro.config,
ecasrepro.errors, ecasrepro.metadata, ecasrepro.pids, ecasrepro.reproduction,
ecasrepro.verification, ecasrepro.version; never ecasrepro.cli, ecasrepro.magic or
ecasrepro.compat (the front ends import it, not the reverse).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecasrepro.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.bundle import Bundle


def snapshot(
    notebook: str | os.PathLike[str],
    *,
    inputs: Iterable[Any] = (),
    attach: Iterable[str | os.PathLike[str]] = (),
    metadata: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    title: str | None = None,
    creators: Iterable[str] = (),
    description: str | None = None,
    keywords: Iterable[str] = (),
    community: str | None = None,
    license: str | None = None,
    output: str | os.PathLike[str] | None = None,
    execute: bool = False,
    zip: bool = False,
    force: bool = False,
    progress: bool | None = None,
    timeout: int = 600,
    harvest: bool = True,
    link: str = "auto",
    input_files: Iterable[str | os.PathLike[str]] = (),
    discovered: Iterable[Any] = (),
    exclude_inputs: Iterable[str] = (),
) -> Bundle:
    """Capture ``notebook`` and everything needed to reproduce it into a bundle on disk.

    Every input is checked before anything is written; secrets are redacted from the notebook,
    its HTML and every generated file before they are written, and the result is scanned again.
    The bundle (default ``<notebook stem>.repro`` beside the notebook) appears atomically.
    ``license`` (an SPDX id, a name or a URL) wins over the metadata's ``license`` and over
    ``license`` under ``[snapshot]`` in the config file; with none, the bundle says so.
    ``link`` says how attachments arrive: ``auto`` (a copy-on-write clone where the filesystem
    can, else a copy), ``reflink``, ``hardlink`` (no space, but editing the original later
    changes the bundle: publish and verify then name the file) or ``copy``; the bag is the same.

    ``input_files`` (paths or globs) are files the analysis read: their PIDs are read from the
    files (tracking_id, DRS attributes, DOI) and each dataset becomes one ``IsDerivedFrom``;
    ``discovered`` are ``(value, "file"|"id", source)`` items a kernel found (the magic passes
    what the recorder and the namespace scan saw); ``exclude_inputs`` are globs to drop.
    ``harvest=False`` also turns off the ids printed in outputs.
    """
    from ecasrepro import bundle as bundles
    from ecasrepro import metadata as meta

    if link not in bundles.LINK_MODES:
        raise BadInput(f"link={link!r} is not one of {', '.join(bundles.LINK_MODES)}.")
    from ecasrepro import pids
    from ecasrepro.capture.notebook import (
        HTML_BATCH_CHARS,
        capture_notebook,
        notebook_json_chunks,
        notebook_weight,
        render_html,
        render_html_chunks,
    )
    from ecasrepro.capture.secrets import Redactor

    notebook_path = Path(notebook).expanduser()
    out = (
        Path(output).expanduser()
        if output is not None
        else notebook_path.with_name(f"{notebook_path.stem}.repro")
    )
    # 1. Everything the user gave is checked first: nothing is written for a bad input.
    user: dict[str, Any] = {}
    source = "the metadata passed in"
    if isinstance(metadata, Mapping):
        user = dict(metadata)
    elif metadata is not None:
        user = meta.load_user_metadata(metadata)
        source = Path(metadata).name
    schema = meta.load_root_schema()
    if user:
        meta.validate_metadata(user, schema, "draft", source=source)
    flag_inputs = pids.related_identifiers(list(inputs))
    bundles.check_output(out, force, zip)
    capture = capture_notebook(notebook_path, execute=execute, timeout=timeout, harvest=harvest)
    try:
        declared = pids.related_identifiers(capture.declared_inputs)
    except BadInput as exc:
        raise BadInput(
            f"{notebook_path.name}: notebook metadata 'ecasrepro.inputs' holds a bad PID ({exc})"
        ) from None
    from ecasrepro.capture.inputs import Discovered, expand_input_files, resolve_inputs

    found = [Discovered(str(p), "file", "declared")
             for p in expand_input_files(input_files, Path.cwd())]
    found += [d if isinstance(d, Discovered) else Discovered(*d) for d in discovered]
    found += [Discovered(p, "id", "printed") for p in capture.harvested_inputs]
    report = resolve_inputs(found, base=notebook_path.parent.resolve(),
                            exclude=list(exclude_inputs), skip=[notebook_path, out])
    user_related = pids.related_identifiers(user.get("related_identifiers") or [])
    related = pids.related_identifiers(
        [*user_related, *flag_inputs, *declared, *report.related])
    derived = [r for r in related if r.relation_type == "IsDerivedFrom"]
    attachments = bundles.resolve_attachments(
        attach, bases=[notebook_path.parent, Path.cwd()], exclude=[out]
    )

    # 2. Redact the notebook before anything is written; render its HTML on a thread, so that
    # (mostly importing nbconvert) overlaps the rest of the capture and the copy.
    from concurrent.futures import ThreadPoolExecutor

    import nbformat

    redactor = Redactor.from_environment()
    scrubbed = nbformat.from_dict(redactor.redact_json(capture.notebook))
    notebook_json = notebook_json_chunks(scrubbed)  # encoded a cell at a time while written
    notebook_html: Any
    if notebook_weight(scrubbed) > HTML_BATCH_CHARS:  # rendered in batches while written
        notebook_html = functools.partial(render_html_chunks, scrubbed)
    else:
        renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecasrepro-html")
        notebook_html = renderer.submit(render_html, scrubbed).result
        renderer.shutdown(wait=False)

    # 3. Capture the rest.
    from ecasrepro.capture.environment import capture_environment
    from ecasrepro.capture.lockfile import start_lock
    from ecasrepro.capture.vcs import capture_git

    environment = capture_environment()
    lock = start_lock(environment.found)  # index look-ups overlap the rest (bounded, cached)
    git = capture_git(notebook_path.parent)
    warnings = [*capture.warnings, *report.warnings, *environment.warnings]
    licence, licence_warning = _licence(license, user)
    if licence_warning:
        warnings.append(licence_warning)
    creator_names = [c for c in creators if c]
    final_title = title or capture.first_heading or notebook_path.stem
    record = meta.build_record_metadata(
        title=final_title,
        title_from_flag=title is not None,
        creators=creator_names,
        description=description,
        keywords=list(keywords),
        community=community,
        related_identifiers=[r.to_b2share_v2() for r in related],
        has_outputs=bool(attachments),
        technical_info=_technical_info(capture, environment),
        user_metadata=user,
        license=licence,
    )
    record = redactor.redact_json(record)
    meta.validate_metadata(record, schema, "draft", source="the command-line values")
    titles = record.get("titles") or [{}]
    record_title = str(titles[0].get("title") or final_title)
    names = [c.get("creator_name", "") for c in record.get("creators", []) if isinstance(c, dict)]
    last = capture.last_executed.isoformat() if capture.last_executed else None
    locked = lock.result()
    warnings += locked.warnings
    content = bundles.BundleContent(
        title=record_title,
        notebook_name=notebook_path.name,
        notebook_json=notebook_json,
        notebook_html=notebook_html,
        metadata=record,
        requirements_txt=redactor.redact_text(environment.requirements_txt),
        conda_environment_yml=(
            redactor.redact_text(environment.conda_environment_yml)
            if environment.conda_environment_yml
            else None
        ),
        platform=redactor.redact_json(environment.platform),
        pylock_toml=redactor.redact_text(locked.toml) if locked.toml else None,
        git_state=redactor.redact_json(git.to_json()),
        git_patch=redactor.redact_text(git.diff) if getattr(git, "diff", "") else None,
        attachments=attachments,
        inputs=derived,
        input_files=report.files,
        creators=[n for n in names if n],
        description=(
            meta.record_abstract(record)
            or redactor.redact_text(meta.opening_text(capture.notebook.get("cells") or []) or "")
            or f"The executed Jupyter notebook {notebook_path.name} with its software "
            "environment, git state and outputs."
        ),
        warnings=[redactor.redact_text(w) for w in warnings],
        link=link,
        notebook_facts={
            "language": capture.language,
            "kernel": capture.kernel_name,
            "last_executed": last,
        },
    )
    # 4. Write, atomically, then scan again (inside write_bundle).
    written = bundles.write_bundle(content, out, redactor, force=force, zip=zip,
                                   progress=progress)
    written.discovered = report.rows
    return written


def start_recording() -> None:
    """Record the files this process reads from now on (``%load_ext ecasrepro`` calls it)."""
    from ecasrepro.capture.recorder import start_recording as start

    start()


def recording_paused() -> Any:
    """A context in which ecasrepro's own reads (a snapshot's) are not recorded as inputs."""
    from ecasrepro.capture.recorder import paused

    return paused()


def kernel_inputs(namespace: Mapping[str, Any],
                  exclude: Iterable[str | os.PathLike[str]] = ()) -> list[tuple[str, str, str]]:
    """What this kernel read (recorded) and holds (namespace scan), as ``discovered`` items for
    :func:`snapshot`; ``exclude`` are paths (the notebook, the bundle) that are never inputs."""
    from ecasrepro.capture.namespace import scan_namespace
    from ecasrepro.capture.recorder import recorded_files

    found = [(path, "file", "recorded") for path, _how in recorded_files(exclude)]
    found += [(value, kind, "namespace") for value, kind in scan_namespace(namespace)]
    return found


def _licence(flag: str | None, user: Mapping[str, Any]) -> tuple[dict[str, str] | None, str]:
    """(the record's ``license`` to set, or None; a warning when no licence is stated at all).

    ``license`` from the flag, else the user's metadata (already in the record), else the
    configuration; never a default: an unstated licence is recorded as unstated.
    """
    from ecasrepro.config import configured_license, shown_path, user_config_path
    from ecasrepro.metadata import license_field

    if flag is not None and flag.strip():
        return license_field(flag), ""
    if flag is not None:
        raise BadInput("--license is empty; pass an SPDX id (e.g. CC-BY-4.0), a name or a URL.")
    if user.get("license"):
        return None, ""
    configured = configured_license()
    if configured:
        return license_field(configured[0]), ""
    return None, (
        "no licence was stated, so the bundle says that none was (reusers must ask); pass "
        "--license (e.g. CC-BY-4.0), put \"license\" in the metadata file, or set license "
        f"under [snapshot] in {shown_path(user_config_path())}."
    )


def _technical_info(capture: Any, environment: Any) -> str:
    """The TechnicalInfo description: a sentence, e.g. "(kernel python3, CPython 3.11.7)"."""
    from ecasrepro.version import __version__

    runtime = _runtime(capture, environment.platform or {})
    facts = ", ".join(
        part for part in (f"kernel {capture.kernel_name}" if capture.kernel_name else "", runtime)
        if part
    )
    return (
        f"Snapshot of the Jupyter notebook {capture.name}{f' ({facts})' if facts else ''} made "
        f"with ecasrepro {__version__}: a BagIt bag whose payload is an RO-Crate with the "
        "executed notebook, its HTML, the software environment, the git state and the attached "
        "outputs."
    )


def _runtime(capture: Any, platform: Mapping[str, Any]) -> str:
    """"CPython 3.11.7" for a Python kernel (from the captured platform), else the notebook's
    own language name and version (e.g. "R 4.3.2"); "" when nothing is known."""
    info = (capture.notebook.get("metadata") or {}).get("language_info") or {}
    language = str(capture.language or info.get("name") or "")
    python = platform.get("python")
    if language.lower() in ("", "python") and isinstance(python, Mapping) and python.get("version"):
        return f"{python.get('implementation') or 'Python'} {python['version']}".strip()
    if language.lower() in ("", "python") and isinstance(python, str) and python:
        return f"Python {python}"
    if language:
        pretty = "Python" if language.lower() == "python" else language
        return f"{pretty} {info.get('version') or ''}".strip()
    return ""


def publish(
    bundle: Any,
    *,
    server: str | None = None,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    community: str | None = None,
    submit: bool = False,
    new_version_of: str | None = None,
    new_draft: bool = False,
    dry_run: bool = False,
    progress: bool | None = None,
    echo: Any = None,
    api: str | None = None,
) -> Any:
    """Publish a bundle to B2SHARE as a draft record (or submit it with ``submit=True``).

    ``api`` is the server's dialect, ``"v2"`` or ``"v3"`` (else ``B2SHARE_API``, the config
    file, or detected from the server); both dialects take the same arguments and return the
    same result.

    ``bundle`` is a :class:`Bundle` or its directory. Server, token and community come from the
    arguments, then ``B2SHARE_URL``/``B2SHARE_TOKEN[_FILE]``/``B2SHARE_COMMUNITY``, then the
    config files (see :mod:`ecasrepro.config`). A re-run continues the draft recorded in the
    bundle's ``receipt.json``. Returns a :class:`ecasrepro.b2share.DraftRecord` (``.id``,
    ``.url``, ``.html_url``, ``.state``, ``.files``, ``.pids``).
    """
    from ecasrepro.b2share.publisher import open_bundle, open_publisher

    opened = open_bundle(bundle)  # bad input first: before any configuration or network
    config = _publish_config(echo, server=server, token=token, token_file=token_file,
                             community=community, api=api)
    with open_publisher(config, progress=progress, echo=echo) as publisher:
        return publisher.publish(
            opened,
            submit=submit,
            new_version_of=new_version_of,
            new_draft=new_draft,
            dry_run=dry_run,
        )


if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.verification import VerificationReport


def verify(
    bundle: Any,
    *,
    timeout: float = 600.0,
    rtol: float = 1e-6,
    atol: float = 0.0,
    image_tolerance: float = 0.01,
    kernel_name: str | None = None,
    data_dirs: Iterable[str | os.PathLike[str]] = (),
    progress: bool = False,
    check: bool = False,
) -> VerificationReport:
    """Re-execute a bundle's notebook, compare every output, store ``verification.json`` in it.

    ``data_dirs`` are directories holding the notebook's inputs as it read them (usually its
    original directory); they are mirrored into the temporary working copy before the run.
    Returns the report (``report.reproduced`` says whether everything matched); with
    ``check=True`` a mismatch raises :class:`ecasrepro.errors.NotReproduced` (exit code 6).
    """
    from ecasrepro.verification import raise_if_not_reproduced, verify_bundle

    report = verify_bundle(
        bundle,
        timeout=timeout,
        rtol=rtol,
        atol=atol,
        image_tolerance=image_tolerance,
        kernel_name=kernel_name,
        data_dirs=list(data_dirs),
        progress=progress,
    )
    if check:
        raise_if_not_reproduced(report)
    return report


def verify_many(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    timeout: float = 600.0,
    rtol: float = 1e-6,
    atol: float = 0.0,
    image_tolerance: float = 0.01,
    kernel_name: str | None = None,
    journal: str | os.PathLike[str] = "verify-run.json",
    jobs: int | None = None,
    executor: str = "auto",
    scheduler: str | None = None,
    progress: bool | None = None,
    echo: Any = None,
) -> VerifyManyReport:
    """:func:`verify` every bundle under ``paths``, one task each on ``executor`` (as for
    :func:`archive`); ``journal`` records what finished, so a re-run verifies only the rest
    (and bundles whose payload changed). Read ``report.outcomes`` and ``report.exit_code``."""
    from ecasrepro.batchverify import VerifyOptions
    from ecasrepro.batchverify import verify_many as run

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    options = VerifyOptions(timeout=timeout, rtol=rtol, atol=atol,
                            image_tolerance=image_tolerance, kernel_name=kernel_name)
    return run(list(paths), options=options, journal=journal, jobs=jobs, executor=executor,
               scheduler=scheduler, progress=progress, notify=echo)


if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.batchverify import VerifyManyReport
    from ecasrepro.reproduction import ReproductionReport


def reproduce(
    record: str,
    *,
    server: str | None = None,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    api: str | None = None,
    output: str | os.PathLike[str] | None = None,
    data_dirs: Iterable[str | os.PathLike[str]] = (),
    timeout: float = 600.0,
    progress: bool = False,
    echo: Any = None,
    check: bool = False,
    download_only: bool = False,
) -> ReproductionReport:
    """Reproduce a published analysis: download, rebuild its environment, re-execute, compare.

    ``record`` is a B2SHARE record id, record or landing URL, DOI or Handle (a PID is looked up
    on ``server``: no resolver is used). Returns the report of the three stages (environment
    rebuilt, ran without error, outputs identical); with ``check=True`` anything but
    "reproduced" raises :class:`ecasrepro.errors.NotReproduced`; ``download_only`` stops once
    the bundle is rebuilt. A token configured for another
    server is never sent to the server a record URL names.
    """
    from ecasrepro.b2share.download import parse_record_ref
    from ecasrepro.errors import BadInput as _BadInput
    from ecasrepro.errors import NotReproduced
    from ecasrepro.reproduction import reproduce_published

    ref = parse_record_ref(record)
    config = _publish_config(echo, server=ref.server or server, token=token,
                             token_file=token_file, api=api)
    if ref.server is not None and token is None and token_file is None:
        try:  # the server the token was configured for (flag, environment or config file)
            configured: str | None = _publish_config(None, server=server, api=api).server
        except _BadInput:
            configured = None
        if configured != config.server:
            from dataclasses import replace

            config = replace(config, token=None)  # never send it to another server
    report = reproduce_published(
        ref, config, output=None if output is None else Path(output).expanduser(),
        data_dirs=[Path(d).expanduser() for d in data_dirs], timeout=timeout, progress=progress,
        download_only=download_only)
    if check and report.verdict != "reproduced":
        raise NotReproduced(report.summary().splitlines()[0])
    return report


if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.archival import ArchiveReport


def archive(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] = "archives",
    format: str = "zip",
    jobs: int | None = None,
    publish: bool = False,
    server: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    community: str | None = None,
    api: str | None = None,
    progress: bool | None = None,
    echo: Any = None,
    executor: str = "auto",
    scheduler: str | None = None,
    rate: float | None = None,
) -> ArchiveReport:
    """Archive finished analyses (bundles, notebooks, directories of them) as BagIt zips/tars.

    One archive per analysis in ``output`` (``<name>.bag.zip`` or ``<name>.bag.tar.gz``);
    notebooks are snapshotted into ``<output>/.bundles/`` first, never beside themselves. An
    analysis whose archive is current is skipped. One failing analysis does not stop the rest:
    read ``report.outcomes`` and ``report.exit_code``. With ``publish=True`` each analysis also
    becomes its own B2SHARE draft (server, token and community as for :func:`publish`).
    ``executor`` runs one task per analysis: ``auto`` (Dask when installed, else a local pool),
    ``dask`` (an embedded LocalCluster, or the cluster at ``scheduler`` / DASK_SCHEDULER_ADDRESS)
    or ``local``; ``<output>/archive-run.jsonl`` journals what finished, so a re-run resumes.
    ``rate`` (requests per second to the server, all workers together; else
    ``ECASREPRO_PUBLISH_RATE``, else 10) paces publishing.
    """
    from ecasrepro.archival import archive_analyses
    from ecasrepro.config import publish_rate

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    settings = None
    pace = publish_rate(rate)  # a bad rate fails before any work
    if publish:
        token_path = None if token_file is None else os.fspath(token_file)
        settings = {"server": server, "token_file": token_path, "community": community,
                    "api": api}
        _publish_config(echo, **settings).require_token()  # fail before any work
    return archive_analyses(
        list(paths), output, snapshot=snapshot, fmt=format, jobs=jobs, publish=settings,
        progress=progress, executor=executor, scheduler=scheduler, notify=echo,
        publish_rate=pace,
    )


def refresh(notebook: str | os.PathLike[str], output: str | os.PathLike[str],
            **snapshot_options: Any) -> Bundle:
    """:func:`snapshot` into ``output`` again, keeping its ``receipt.json``: the next
    :func:`publish` continues the same draft instead of making another (``%ecas_publish``)."""
    from ecasrepro.archival import refresh_bundle

    bundle: Bundle = refresh_bundle(Path(notebook), Path(output), snapshot, **snapshot_options)
    return bundle


if TYPE_CHECKING:  # pragma: no cover
    from ecasrepro.b2share.publisher import BundleStatus
    from ecasrepro.config import PublishConfig


def status(
    bundle: Any,
    *,
    server: str | None = None,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    echo: Any = None,
) -> BundleStatus:
    """What a bundle's receipt and its server say, file by file (``ecasrepro status``)."""
    from ecasrepro.b2share.publisher import bundle_status

    return bundle_status(bundle, server=server, token=token, token_file=token_file, echo=echo)


def communities(*, server: str | None = None, echo: Any = None) -> list[dict[str, Any]]:
    """The server's communities as rows (id, name, publication_workflow, restricted_submission,
    description), to pick one for ``community=``."""
    from ecasrepro.b2share.publisher import list_communities

    return list_communities(_publish_config(echo, server=server))


def community_schema(community: str, *, server: str | None = None, echo: Any = None) -> Any:
    """A community's full JSON schema (root + block) where the server's API has one (v2)."""
    from ecasrepro.b2share.publisher import community_schema as schema_of

    return schema_of(_publish_config(echo, server=server), community)


def settings(
    *, server: str | None = None, token_file: str | None = None, community: str | None = None,
    api: str | None = None,
) -> list[Any]:
    """Every setting with where it comes from (flag, env, user file, site file), token masked:
    what ``ecasrepro config`` shows (see :func:`ecasrepro.config.describe_settings`)."""
    from ecasrepro.config import describe_settings

    return describe_settings(server=server, token_file=token_file, community=community, api=api)


def _publish_config(echo: Any, **settings: Any) -> PublishConfig:
    """The resolved configuration; its warnings go to ``echo`` once."""
    from ecasrepro.config import resolve_config

    config = resolve_config(**settings)
    if echo is not None:
        for warning in config.warnings:
            echo(warning)
    return config
