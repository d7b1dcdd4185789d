"""Git capture on real temporary repositories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ecasrepro.capture.vcs import GitState, capture_git, clean_remote_url


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.org",
         "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "notebooks" / "analysis.ipynb").write_text("{}\n")
    (root / "README.md").write_text("hello\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_repository(repo: Path) -> None:
    state = capture_git(repo / "notebooks")
    assert state.is_repository and state.reason is None
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert state.branch == "main"
    assert state.dirty is False and state.diff == "" and state.untracked == []
    assert state.root == "project" and state.path_in_repo == "notebooks"
    data = state.to_json()
    assert "diff" not in data and data["has_uncommitted_changes_patch"] is False
    assert json.loads(json.dumps(data)) == data
    assert str(repo.parent) not in json.dumps(data)


def test_dirty_untracked_and_diff_applies(repo: Path, tmp_path: Path) -> None:
    (repo / "README.md").write_text("hello\nchanged\n")
    (repo / "notebooks" / "analysis.ipynb").write_text('{"staged": true}\n')
    git(repo, "add", "notebooks/analysis.ipynb")
    (repo / "notebooks" / "new.py").write_text("print(1)\n")
    state = capture_git(repo / "notebooks" / "analysis.ipynb")  # a file: its directory is used
    assert state.dirty is True
    assert state.untracked == ["notebooks/new.py"]
    assert "+changed" in state.diff and '+{"staged": true}' in state.diff
    # the patch recreates the working tree from the commit
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    (clone / "p.patch").write_text(state.diff)
    git(clone, "apply", "p.patch")
    assert (clone / "README.md").read_text() == "hello\nchanged\n"
    assert (clone / "notebooks" / "analysis.ipynb").read_text() == '{"staged": true}\n'


def test_remotes_lose_credentials(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:ghp_t0ken12345@github.com/org/project.git")
    git(repo, "remote", "add", "mirror", "git@gitlab.example.org:org/project.git")
    git(repo, "remote", "add", "other", "bob@host.example.org:srv/project.git")
    state = capture_git(repo)
    assert state.remotes == {
        "origin": "https://github.com/org/project.git",
        "mirror": "git@gitlab.example.org:org/project.git",
        "other": "host.example.org:srv/project.git",
    }
    assert "ghp_t0ken12345" not in json.dumps(state.to_json())


def test_detached_head(repo: Path) -> None:
    (repo / "README.md").write_text("two\n")
    git(repo, "commit", "-q", "-am", "second")
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", first)
    state = capture_git(repo)
    assert state.commit == first and state.branch is None and not state.dirty


def test_empty_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("x\n")
    state = capture_git(tmp_path)
    assert state.is_repository and state.reason == "no commits yet"
    assert state.commit is None and state.branch == "main"
    assert state.untracked == ["a.txt"] and state.dirty is False
    git(tmp_path, "add", "a.txt")
    staged = capture_git(tmp_path)
    assert staged.dirty and "+x" in staged.diff


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    state = capture_git(plain)
    assert state == GitState(is_repository=False, reason="not a git repository")
    assert capture_git(tmp_path / "missing").reason == "not a git repository"


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:pw@host/x.git", "https://host/x.git"),
        ("https://oauth2:tok123456@gitlab.com/g/p.git", "https://gitlab.com/g/p.git"),
        ("ssh://user@host:22/x.git", "ssh://host:22/x.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
    ],
)
def test_clean_remote_url(url: str, clean: str) -> None:
    assert clean_remote_url(url) == clean
