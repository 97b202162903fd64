"""The pipeline survives a SIGKILL in curate or in train, and a failing stage stops it cleanly.

A killed run, run again, must resume and end with what an uninterrupted run gives (the same
documents in every shard, the same token counts, the same loss within a small tolerance). A stage
that fails must fail the flow with that stage's own message, without retrying what is not
transient, and leave the outputs of the stages before it untouched. Everything runs on the tiny
profile in throwaway copies of the project.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
from project_sandbox import (  # noqa: E402
    kill_group,
    make_sandbox,
    prefect_server,
    run,
    sandbox_env,
    start,
    wait_for,
)

from warc2gpt.tokenizer.shards import read_shard_header  # noqa: E402

pytestmark = pytest.mark.slow

RAN = re.compile(r"Running stage '([\w-]+)'")
# Tracking is not what these tests are about; trafilatura makes curate slow enough to kill.
PROFILE = {"tracking": {"enabled": False}, "curate": {"extractor": "trafilatura"}}
UP_TO_TRAIN = ["ingest", "curate", "dedup", "tokenizer", "tokenize", "train"]
LOSS_TOLERANCE = 0.01


def pipeline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.pipeline", *args]


def run_pipeline(repo: Path, api_url: str, *args: str, check: bool = True):
    env = sandbox_env(repo, {"PREFECT_API_URL": api_url})
    result = run(pipeline_cmd(*args), repo, env, timeout=900, check=check)
    output = result.stdout + result.stderr
    return result.returncode, RAN.findall(output), output


def curated_ids(repo: Path) -> dict[str, list[str]]:
    """Document ids of every curated shard (kept and removed), in file order."""
    root = repo / "data" / "curated"
    return {
        str(p.relative_to(root)): pq.read_table(p, columns=["id"]).column("id").to_pylist()
        for p in sorted(root.rglob("*.parquet"))
    }


def token_counts(repo: Path) -> dict[str, int]:
    return {p.name: read_shard_header(p)[0] for p in sorted((repo / "data/tokens").glob("*.bin"))}


def train_metrics(repo: Path) -> dict:
    """Every figure of the last training run (metrics/train.json keeps only the headline)."""
    path = repo / "artifacts" / "model" / "train_summary.json"
    return json.loads(path.read_text(encoding="utf-8"))


def digests(repo: Path, *outs: str) -> dict[str, str]:
    return {
        str(f.relative_to(repo)): hashlib.sha256(f.read_bytes()).hexdigest()
        for out in outs
        for f in sorted((repo / out).rglob("*"))
        if f.is_file()
    }


def copy_of(repo: Path, dest: Path) -> Path:
    """A copy of a built sandbox, data, DVC cache and git history included."""
    shutil.copytree(repo, dest, symlinks=True)
    return dest


def kill_when(repo: Path, api_url: str, ready, what: str, log: Path) -> None:
    """Start the pipeline up to train, SIGKILL its whole process tree once `ready()` holds."""
    process = start(
        pipeline_cmd("train"), repo, log, sandbox_env(repo, {"PREFECT_API_URL": api_url})
    )
    try:
        wait_for(
            lambda: ready() or process.poll() is not None, timeout=600, interval=0.02, what=what
        )
        assert process.poll() is None, (
            f"the pipeline ended before {what}:\n{log.read_text()[-4000:]}"
        )
    finally:
        kill_group(process, signal.SIGKILL)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict]:
    """A Prefect server for every run, and an uninterrupted run up to train to compare with."""
    base = tmp_path_factory.mktemp("reliability")
    with prefect_server(base / "prefect") as api_url:
        baseline = make_sandbox(base / "baseline", PROFILE)
        code, ran, output = run_pipeline(baseline, api_url, "train")
        assert ran == UP_TO_TRAIN, output[-6000:]
        yield {"base": base, "api_url": api_url, "baseline": baseline}


def test_kill_in_curate_then_rerun_resumes_and_matches(env):
    repo = make_sandbox(env["base"] / "killed-curate", PROFILE)
    # curate writes a file's stats marker last, once its kept and removed shards are complete.
    markers = repo / "data" / "curated" / "stats"
    files = len(list((env["baseline"] / "data" / "curated" / "stats").glob("*.json")))

    def one_file_done() -> bool:
        return any(markers.glob("[!.]*.json"))

    kill_when(
        repo, env["api_url"], one_file_done, "the first curated file", env["base"] / "curate.log"
    )
    done = len(list(markers.glob("[!.]*.json")))
    assert 0 < done < files and not (repo / "metrics" / "curate.json").exists()

    code, ran, output = run_pipeline(repo, env["api_url"], "train")

    assert ran == UP_TO_TRAIN[1:], output[-6000:]  # ingest had finished: not run again
    metrics = json.loads((repo / "data" / "curated" / "stats.json").read_text(encoding="utf-8"))
    assert metrics["files_resumed"] >= done, "curate started over instead of resuming"
    assert curated_ids(repo) == curated_ids(env["baseline"])
    assert token_counts(repo) == token_counts(env["baseline"])
    assert train_metrics(repo)["val_loss"] == pytest.approx(
        train_metrics(env["baseline"])["val_loss"], abs=LOSS_TOLERANCE
    )


def test_kill_in_train_then_rerun_resumes_from_checkpoint_and_matches(env):
    repo = copy_of(env["baseline"], env["base"] / "killed-train")
    # Without its outputs the train stage is stale: the pipeline runs it (and only it) again.
    shutil.rmtree(repo / "artifacts" / "model")
    shutil.rmtree(repo / "artifacts" / "checkpoints", ignore_errors=True)
    (repo / "metrics" / "train.json").unlink()
    checkpoints = repo / "artifacts" / "checkpoints"

    def checkpoint_written() -> bool:
        return any(checkpoints.glob("step_*.pt"))

    kill_when(
        repo,
        env["api_url"],
        checkpoint_written,
        "the first training checkpoint",
        env["base"] / "killed-train.log",
    )
    assert not (repo / "artifacts" / "model" / "model.pt").exists()

    code, ran, output = run_pipeline(repo, env["api_url"], "train")

    assert ran == ["train"], output[-6000:]
    resumed, baseline = train_metrics(repo), train_metrics(env["baseline"])
    assert resumed["resumed_from"], "train started over instead of resuming from its checkpoint"
    assert resumed["steps"] == baseline["steps"]
    assert resumed["val_loss"] == pytest.approx(baseline["val_loss"], abs=LOSS_TOLERANCE)


def test_bad_warc_directory_fails_the_flow_with_curates_message(env, tmp_path):
    repo = copy_of(env["baseline"], env["base"] / "bad-warc-dir")
    raw = digests(repo, "data/raw")
    empty = tmp_path / "no-warcs-here"
    empty.mkdir()

    code, ran, output = run_pipeline(
        repo, env["api_url"], "train", "--set", f"curate.input=['{empty}/*.warc.gz']", check=False
    )

    assert code != 0
    assert ran == ["curate"]
    assert "stage curate failed" in output and str(empty) in output, output[-4000:]
    assert "Retry 1/" not in output  # a missing input is not transient
    assert digests(repo, "data/raw") == raw  # ingest's output intact


def test_missing_tokenizer_fails_the_flow_with_trains_message(env):
    repo = copy_of(env["baseline"], env["base"] / "missing-tokenizer")
    before = digests(repo, "data/tokens", "artifacts/tokenizer")

    code, ran, output = run_pipeline(
        repo,
        env["api_url"],
        "train",
        "--set",
        "train.tokenizer_dir=artifacts/no-tokenizer",
        check=False,
    )

    assert code != 0
    assert ran == ["train"]
    assert "stage train failed" in output and "artifacts/no-tokenizer" in output, output[-4000:]
    assert "Retry 1/" not in output
    assert digests(repo, "data/tokens", "artifacts/tokenizer") == before


def test_corrupt_checkpoint_fails_the_flow_with_trains_message(env):
    repo = copy_of(env["baseline"], env["base"] / "corrupt-checkpoint")
    before = digests(repo, "data/tokens", "artifacts/tokenizer")
    for out in ("artifacts/model", "artifacts/checkpoints"):
        shutil.rmtree(repo / out, ignore_errors=True)
    (repo / "metrics" / "train.json").unlink()
    checkpoints = repo / "artifacts" / "checkpoints"
    checkpoints.mkdir(parents=True)
    # A checkpoint cut short, as a full disk or a bad copy would leave it.
    (checkpoints / "step_000010.pt").write_bytes(b"PK\x03\x04 truncated checkpoint")

    code, ran, output = run_pipeline(repo, env["api_url"], "train", check=False)

    assert code != 0, "train ignored the corrupt checkpoint:\n" + output[-4000:]
    assert ran == ["train"]
    assert "stage train failed" in output and "step_000010.pt" in output, output[-4000:]
    assert "Retry 1/" not in output
    assert digests(repo, "data/tokens", "artifacts/tokenizer") == before
