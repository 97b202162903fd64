"""Scheduled increments end to end: the built-in sample crawl taken one file per pipeline run
(`presets/increments.yaml` over the tiny profile), through the real stages under `dvc repro`,
the Prefect flow and an MLflow registry, in a throwaway copy of the project."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
from project_sandbox import make_sandbox, prefect_server, run, sandbox_env  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PRESET = yaml.safe_load((ROOT / "presets" / "increments.yaml").read_text(encoding="utf-8"))
SAMPLE_FILES = [f"sample-crawl-{i:05d}.warc.gz" for i in range(3)]
DOWNSTREAM = ["curate", "dedup", "tokenizer", "tokenize", "train", "evaluate", "register"]


def pipeline(repo: Path, api_url: str, *args: str) -> str:
    env = sandbox_env(repo, {"PREFECT_API_URL": api_url})
    result = run([sys.executable, "-m", "flows.pipeline", *args], repo, env, timeout=900)
    return result.stdout + result.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(repo: Path, output: str) -> dict:
    """What one run left behind: the files it took, its outputs' figures, the registry."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'warc2gpt'")
    champion = client.get_registered_model("warc2gpt").aliases.get("champion")
    read = lambda rel: json.loads((repo / rel).read_text(encoding="utf-8"))  # noqa: E731
    return {
        "output": output,
        "state": read("increments/state.json"),
        "raw": sorted(p.name for p in (repo / "data/raw").glob("*.warc.gz")),
        "curated": sorted(p.name for p in (repo / "data/curated").glob("*.parquet")),
        "dedup": read("data/dedup/stats.json"),
        "tokenizer": digest(repo / "artifacts/tokenizer/tokenizer.json"),
        "tokens": read("data/tokens/increments.json"),
        "model": read("artifacts/model/train_summary.json"),
        "versions": {int(v.version): {**v.tags, "run_id": v.run_id} for v in versions},
        "champion": int(champion) if champion else None,
        "dvc_lock": digest(repo / "dvc.lock"),
    }


@pytest.fixture(scope="module")
def increments(tmp_path_factory) -> Iterator[tuple[Path, list[dict]]]:
    """Four `pipeline --increment` runs over the sample's three files, then a plain one."""
    base = tmp_path_factory.mktemp("increments")
    repo = make_sandbox(base / "repo", params=PRESET)
    with prefect_server(base / "prefect") as api_url:
        runs = [snapshot(repo, pipeline(repo, api_url, "--increment")) for _ in range(4)]
        runs.append(snapshot(repo, pipeline(repo, api_url)))
        yield repo, runs


def test_each_increment_takes_the_next_file_and_curates_only_it(increments):
    _, runs = increments
    for i, snap in enumerate(runs[:3]):
        assert snap["raw"] == [SAMPLE_FILES[i]], snap["output"][-3000:]
        assert snap["curated"] == [SAMPLE_FILES[i].removesuffix(".warc.gz") + ".parquet"]
        entry = snap["state"]["increments"][-1]
        assert (entry["id"], entry["files"]) == (i + 1, [SAMPLE_FILES[i]])


def test_dedup_removes_duplicates_of_documents_earlier_increments_kept(increments):
    _, runs = increments
    first, later = runs[0]["dedup"], runs[1:3]
    assert first["index_docs_before"] == 0 and first["removed_earlier"] == 0
    # the sample plants exact and near duplicates across its files
    assert sum(s["dedup"]["removed_earlier"] for s in later) >= 2
    for before, after in zip(runs[:2], runs[1:3], strict=True):
        assert after["dedup"]["index_docs_before"] == before["dedup"]["index_docs_after"]


def test_the_tokenizer_is_frozen_and_shards_are_appended(increments):
    _, runs = increments
    assert len({s["tokenizer"] for s in runs}) == 1
    for i, snap in enumerate(runs[:3]):
        assert snap["tokens"]["current"] == i + 1
        assert [inc["id"] for inc in snap["tokens"]["increments"]] == list(range(1, i + 2))


def test_training_continues_from_the_champion_and_accumulates(increments):
    _, runs = increments
    first = runs[0]["model"]
    assert first["total_steps"] > 0 and not first.get("parent"), "increment 1 starts anew"
    for before, snap in zip(runs[:2], runs[1:3], strict=True):
        model, parent = snap["model"], snap["model"]["parent"]
        # the champion when the run started, with what it had seen
        assert int(parent["version"]) == before["champion"], parent
        assert model["total_steps"] == parent["total_steps"] + first["total_steps"]
        assert model["total_tokens"] > parent["total_tokens"]
        assert snap["versions"][max(snap["versions"])]["model.parent"] == str(parent["version"])


def test_three_versions_with_lineage_and_a_champion_that_moves_only_on_improvement(increments):
    _, runs = increments
    versions = runs[2]["versions"]
    assert sorted(versions) == [1, 2, 3]
    champion, best = None, None
    for number in (1, 2, 3):
        bpb = float(versions[number]["val_bpb"])
        if best is None or bpb < best:
            champion, best = number, bpb
        assert runs[number - 1]["champion"] == champion, (number, versions)


def test_a_run_with_nothing_new_changes_nothing(increments):
    _, runs = increments
    third, fourth, plain = runs[2], runs[3], runs[4]
    for later in (fourth, plain):
        assert later["state"] == third["state"]
        assert later["versions"].keys() == third["versions"].keys()
        assert later["model"] == third["model"]
        assert later["tokens"] == third["tokens"]
    for stage in DOWNSTREAM:
        assert f"Running stage '{stage}'" not in fourth["output"] + plain["output"]
    assert "no new WARC files" in fourth["output"]
