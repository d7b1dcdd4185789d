"""Hostile input files: pipes, devices, huge and deeply nested files, odd tokens, a full disk.

Each must end in one sentence and its exit code (never a hang, a traceback or lost data). The
commands run as real subprocesses with a timeout, so that a hang fails the test instead of
hanging the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecasrepro.userfiles import JSON_MAX_DEPTH, METADATA_MAX, json_depth

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLI = "import sys; from ecasrepro.cli import main; sys.exit(main())"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(EXAMPLES / "temperature_anomaly.ipynb", root)
    return root


def ecasrepro(*args: str, env: dict[str, str] | None = None, preexec: object = None,
              timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess; a hang is a TimeoutExpired, so a failure."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("B2SHARE_TOKEN", None) if env is None or "B2SHARE_TOKEN" not in env else None
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=timeout,
        env=full_env, stdin=subprocess.DEVNULL, preexec_fn=preexec,  # type: ignore[arg-type]
    )


def one_sentence(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """Assert the exit code and that stderr is one line, no traceback, naming ``words``."""
    err = result.stderr.strip()
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def nested(depth: int, leaf: object = 1) -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# --- 10: the notebook, --metadata and token file are regular files of bounded size -----------


def special_files(directory: Path) -> Iterator[tuple[Path, str]]:
    """A FIFO (would block open()), /dev/zero (endless), a socket: each with its word."""
    fifo = directory / "pipe.ipynb"
    os.mkfifo(fifo)
    yield fifo, "named pipe"
    yield Path("/dev/zero"), "character device"
    sock_path = directory / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        yield sock_path, "socket"
    finally:
        sock.close()


def test_notebook_that_is_a_pipe_or_device_is_refused_without_hanging(project: Path) -> None:
    for path, kind in special_files(project):
        result = ecasrepro("snapshot", str(path), "-o", str(project / "out.repro"))
        one_sentence(result, 2, str(path), kind)
        assert not (project / "out.repro").exists()


def test_metadata_file_that_is_a_pipe_device_or_too_large_is_refused(project: Path) -> None:
    notebook = str(project / "temperature_anomaly.ipynb")
    for path, kind in special_files(project):
        result = ecasrepro("snapshot", notebook, "--metadata", str(path))
        one_sentence(result, 2, str(path), kind)
    huge = project / "huge.json"
    with open(huge, "wb") as handle:  # sparse: costs no disk
        handle.truncate(METADATA_MAX + 1)
    one_sentence(ecasrepro("snapshot", notebook, "--metadata", str(huge)), 2, str(huge), "larger")
    assert not leftovers(project) and not (project / "temperature_anomaly.repro").exists()


def test_attachment_that_is_a_pipe_is_refused_by_the_same_check(project: Path) -> None:
    notebook = str(project / "temperature_anomaly.ipynb")
    for path, kind in special_files(project):
        one_sentence(ecasrepro("snapshot", notebook, "-a", str(path)), 2, str(path), kind)


def test_token_file_that_is_a_pipe_never_hangs(project: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    notebook = str(project / "temperature_anomaly.ipynb")
    # the snapshot reads B2SHARE_TOKEN_FILE to redact the token: a pipe there is skipped
    done = ecasrepro("snapshot", notebook, env={"B2SHARE_TOKEN_FILE": str(fifo)})
    assert done.returncode == 0, done.stderr
    bundle = str(project / "temperature_anomaly.repro")
    for path, kind in ((fifo, "named pipe"), (Path("/dev/zero"), "character device")):
        result = ecasrepro("publish", bundle, "--server", "http://127.0.0.1:9",
                           "--token-file", str(path))
        one_sentence(result, 2, str(path), kind)


# --- 11: deep JSON, odd tokens, a full disk -----------------------------------------------------


def notebook_with(value_json: str, where: str) -> str:
    """The example notebook with ``value_json`` spliced in as metadata or as an output."""
    book = json.loads((EXAMPLES / "temperature_anomaly.ipynb").read_text())
    marker = "__DEEP__"
    if where == "metadata":
        book["metadata"]["deep"] = marker
    else:
        cell = next(c for c in book["cells"] if c["cell_type"] == "code")
        cell["outputs"].append({"output_type": "display_data", "metadata": {},
                                "data": {"application/json": marker}})
    return json.dumps(book).replace(json.dumps(marker), value_json)


@pytest.mark.parametrize("depth", [100_000, 5_000, 990, JSON_MAX_DEPTH + 5])
@pytest.mark.parametrize("where", ["metadata", "output"])
def test_deeply_nested_notebook_is_one_sentence(project: Path, depth: int, where: str) -> None:
    path = project / "deep.ipynb"
    path.write_text(notebook_with(nested(depth), where))
    result = ecasrepro("snapshot", str(path))
    one_sentence(result, 2, str(path), "nested more than")
    assert not (project / "deep.repro").exists() and not leftovers(project)


def test_nesting_within_the_limit_is_a_normal_snapshot(project: Path) -> None:
    path = project / "ok.ipynb"
    path.write_text(notebook_with(nested(JSON_MAX_DEPTH - 10), "output"))
    result = ecasrepro("snapshot", str(path))
    assert result.returncode == 0, result.stderr
    assert (project / "ok.repro" / "data" / "notebook" / "ok.ipynb").is_file()


@pytest.mark.parametrize("text", [
    nested(100_000), nested(990), '{"a":' * 3000 + "1" + "}" * 3000,
    '{"titles": [{"title": "T"}], "x": ' + nested(JSON_MAX_DEPTH + 1) + "}",
])
def test_deeply_nested_metadata_file_is_one_sentence(project: Path, text: str) -> None:
    meta = project / "meta.json"
    meta.write_text(text)
    result = ecasrepro("snapshot", str(project / "temperature_anomaly.ipynb"), "--metadata",
                       str(meta))
    one_sentence(result, 2, str(meta), "nested more than")


def test_json_depth_counts_without_recursion() -> None:
    assert json_depth(1) == 0 and json_depth([]) == 1 and json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth(json.loads(nested(JSON_MAX_DEPTH - 1))) == JSON_MAX_DEPTH - 1


@pytest.mark.parametrize("token", ["tökén-abc1", "abc\u00a0def2", "abc\u200bdef3", "\u202exyz4"])
def test_token_that_cannot_be_sent_is_a_sentence_that_does_not_echo_it(
    project: Path, tmp_path: Path, token: str
) -> None:
    assert ecasrepro("snapshot", str(project / "temperature_anomaly.ipynb")).returncode == 0
    bundle = str(project / "temperature_anomaly.repro")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    by_file = ecasrepro("publish", bundle, "--server", "http://127.0.0.1:9", "--token-file",
                        str(token_file))
    by_env = ecasrepro("publish", bundle, "--server", "http://127.0.0.1:9",
                       env={"B2SHARE_TOKEN": token})
    for result in (by_file, by_env):
        err = one_sentence(result, 2, "B2SHARE token" if result is by_env else str(token_file))
        assert "not printable ASCII" in err or "exactly one token" in err  # (NBSP splits)
        assert not any(part in err for part in [*token.split(), token[-4:]])


# --- the full disk: a real small tmpfs as root, else the file size limit (EFBIG) --------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, int | None]]:
    """(a directory, None) on a 1 MiB tmpfs when mounting works (root), else (a directory, the
    RLIMIT_FSIZE to run the command under): either way the bundle's writes really fail."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True
    ).returncode == 0
    try:
        yield where, None if mounted else 1024 * 1024
    finally:
        if mounted:
            subprocess.run(["umount", str(where)], check=True)


def limit_file_size(limit: int | None) -> object:
    if limit is None:
        return None

    def apply() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that write() fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def disk_words(limit: int | None) -> str:
    return "No space left on device" if limit is None else "File too large"


def test_disk_full_while_copying_an_attachment_blames_the_disk(
    project: Path, small_disk: tuple[Path, int | None]
) -> None:
    where, limit = small_disk
    big = project / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    out = where / "out.repro"
    result = ecasrepro("snapshot", str(project / "temperature_anomaly.ipynb"), "-a", str(big),
                       "-o", str(out), preexec=limit_file_size(limit))
    err = one_sentence(result, 2, str(out), disk_words(limit), "free space")
    assert "--attach" not in err and "big.bin" not in err
    assert list(where.iterdir()) == []  # nothing half-written kept


def test_disk_full_while_writing_the_zip_is_one_sentence(
    project: Path, small_disk: tuple[Path, int | None]
) -> None:
    where, limit = small_disk
    attachment = project / "noise.bin"
    attachment.write_bytes(os.urandom(400 * 1024))  # incompressible: the zip is as large
    out = where / "out.repro"
    args = ("snapshot", str(project / "temperature_anomaly.ipynb"), "-a", str(attachment),
            "-o", str(out))
    if limit is None:  # the bundle alone fits on the small disk: only the zip overflows it
        assert ecasrepro(*args).returncode == 0
        shutil.rmtree(out)
    result = ecasrepro(*args, "--zip", preexec=limit_file_size(limit and 600 * 1024))
    one_sentence(result, 2, f"{out}.zip", disk_words(limit), "--zip")
    assert list(where.iterdir()) == []
