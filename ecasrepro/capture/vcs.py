"""Capture the git state of the directory a notebook lives in, without credentials.

Not being in a repository (or having no commits yet, or no git at all) is a fact to record, not
an error: :func:`capture_git` never raises for those, it fills ``reason``. The repository root
is recorded by its directory name only, and the notebook's place in it as a relative path, so
that home-directory paths do not end up in a published bundle.

The uncommitted diff is returned verbatim: the bundle code redacts it (with the same
:class:`~ecasrepro.capture.secrets.Redactor` as everything else) before writing
``git/uncommitted.patch``.

One job: record the git state without credentials, so that a bundle says which code it ran.

May import: ecasrepro.urls (the one rule for URL credentials); never ecasrepro.bundle,
ecasrepro.b2share, ecasrepro.api or a front end (ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecasrepro.urls import strip_credentials

_SCP_LIKE = re.compile(r"(?P<user>[^@/:]+)@(?P<host>[^:/]+):(?P<path>.*)\Z")
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


@dataclass
class GitState:
    """The git facts of one working tree; ``diff`` goes to git/uncommitted.patch, the rest to
    git/state.json."""

    is_repository: bool
    reason: str | None = None
    commit: str | None = None
    branch: str | None = None  # None when HEAD is detached or there is no repository
    dirty: bool = False
    remotes: dict[str, str] = field(default_factory=dict)
    untracked: list[str] = field(default_factory=list)
    diff: str = ""
    root: str | None = None  # the repository directory's name, not its full path
    path_in_repo: str | None = None  # the captured directory relative to the root ("." = root)

    def to_json(self) -> dict[str, Any]:
        """Everything but the diff, as JSON-ready data."""
        data = asdict(self)
        data.pop("diff")
        data["has_uncommitted_changes_patch"] = bool(self.diff)
        return data


def clean_remote_url(url: str) -> str:
    """A remote URL without credentials: ``https://user:token@host/x`` -> ``https://host/x``;
    ssh-style ``user@host:path`` keeps only the conventional ``git@`` user."""
    url = url.strip()
    if "://" in url:
        return strip_credentials(url)
    scp = _SCP_LIKE.match(url)
    if scp and scp["user"] != "git":
        return f"{scp['host']}:{scp['path']}"
    return url


def _safe_message(exc: BaseException) -> str:
    """First line of an error, with any URL credentials removed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "no reason given"
    return _URL_USERINFO.sub(r"\1", text)[:300]


def capture_git(path: Path) -> GitState:
    """The git state of the repository containing *path* (a directory, usually the notebook's)."""
    try:
        import git  # gitpython: imported here because it fails at import when git is missing
    except ImportError as exc:
        return GitState(is_repository=False, reason=f"git is not available ({_safe_message(exc)})")
    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    try:
        repo = git.Repo(directory, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return GitState(is_repository=False, reason="not a git repository")
    except git.GitError as exc:
        return GitState(is_repository=False, reason=f"git failed: {_safe_message(exc)}")
    with repo:
        try:
            return _read_state(repo, directory)
        except (git.GitError, ValueError, OSError) as exc:
            return GitState(is_repository=True, reason=f"git failed: {_safe_message(exc)}")


def _read_state(repo: Any, directory: Path) -> GitState:
    if repo.working_tree_dir is None:
        return GitState(is_repository=True, reason="a bare repository has no working tree")
    root = Path(repo.working_tree_dir)
    try:
        relative = directory.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = None
    state = GitState(is_repository=True, root=root.name, path_in_repo=relative)
    for remote in repo.remotes:
        urls = list(remote.urls)
        if urls:
            state.remotes[remote.name] = clean_remote_url(urls[0])
    state.untracked = sorted(repo.untracked_files)
    has_commits = repo.head.is_valid()
    state.branch = None if repo.head.is_detached else repo.head.reference.name
    if not has_commits:
        state.reason = "no commits yet"
        state.dirty = bool(repo.git.diff("--cached", "--name-only"))
        state.diff = repo.git.diff("--cached", "--binary")
        return state
    state.commit = repo.head.commit.hexsha
    state.dirty = repo.is_dirty(index=True, working_tree=True, untracked_files=False)
    if state.dirty:
        # Staged and unstaged changes against HEAD, applicable with `git apply`.
        state.diff = repo.git.diff("HEAD", "--binary")
        if state.diff and not state.diff.endswith("\n"):
            state.diff += "\n"
    return state
