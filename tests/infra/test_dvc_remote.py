"""`dvc push`, then `dvc pull` on a fresh clone, restores every output of real stages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from project_sandbox import ROOT, make_sandbox, run, sandbox_env

pytestmark = pytest.mark.slow


def tree_digests(repo: Path, outs: list[str]) -> dict[str, str]:
    """sha256 of every file under the given outputs, by path relative to the repository."""
    found = {}
    for out in outs:
        path = repo / out
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            found[str(file.relative_to(repo))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def lock_outs(repo: Path, stages: list[str]) -> list[str]:
    """Every output dvc.lock records for `stages`: cached ones travel through the remote,
    `cache: false` ones (metrics, plots) through git."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    return [out["path"] for stage in stages for out in lock["stages"][stage]["outs"]]


def test_project_has_a_default_remote():
    remotes = run(["dvc", "remote", "list"], ROOT, sandbox_env(ROOT)).stdout
    default = run(["dvc", "config", "core.remote"], ROOT, sandbox_env(ROOT)).stdout.strip()
    assert default and default in remotes


def test_push_then_pull_on_a_fresh_clone_restores_every_output(tmp_path):
    repo = make_sandbox(tmp_path / "repo")
    env = sandbox_env(repo)
    stages = ["ingest", "curate"]
    run(["dvc", "repro", *stages], repo, env, timeout=600)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "reproduce ingest and curate"], repo, env)
    outs = lock_outs(repo, stages)
    assert {"data/raw", "data/curated", "metrics/curate.json"} <= set(outs)
    expected = tree_digests(repo, outs)
    assert any(p.startswith("data/curated/removed/") for p in expected)  # nested files too
    assert len(expected) >= 6

    pushed = run(["dvc", "push"], repo, env, timeout=300)
    assert "pushed" in pushed.stdout.lower()
    remote = tmp_path / "repo-remote"
    assert any(p.is_file() for p in remote.rglob("*"))

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    assert not (clone / "data").exists()  # git carries no data
    clone_env = sandbox_env(clone)
    # The stages not reproduced here have nothing in dvc.lock to pull: name the ones that do.
    run(["dvc", "pull", *stages], clone, clone_env, timeout=300)

    assert tree_digests(clone, outs) == expected
    status = run(["dvc", "status", *stages], clone, clone_env).stdout
    assert "up to date" in status.lower(), status
