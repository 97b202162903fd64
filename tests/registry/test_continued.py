"""Scheduled increments through a real registry: train from the champion (a new model while
there is none), register the continued model with its lineage, draw the model line."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from warc2gpt.cli import main as cli_main
from warc2gpt.registry.line import LINE_TAG
from warc2gpt.registry.promotion import CHAMPION, aliases
from warc2gpt.tokenizer.shards import write_token_shard
from warc2gpt.train import stage as train_stage

pytestmark = [pytest.mark.shared_data, pytest.mark.integration]

WARC_FILES = {1: ["a.warc.gz", "b.warc.gz"], 2: ["c.warc.gz"]}


def add_increment(increment: int, vocab_size: int) -> None:
    """What ingest and tokenize leave for `increment`: its state entry, shards and manifest."""
    state = Path("increments/state.json")
    entries = json.loads(state.read_text())["increments"] if state.exists() else []
    files = WARC_FILES[increment]
    digest = hashlib.sha256("\n".join(files).encode()).hexdigest()
    entries.append({"id": increment, "files": files, "sources": files, "sha256": digest})
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps({"increments": entries}))
    data = Path("data/tokens")
    rng = np.random.default_rng(increment)
    for split, size in (("train", 3000), ("val", 1000)):
        tokens = rng.integers(0, vocab_size, size)
        write_token_shard(data / f"{split}_i{increment:04d}_0000.bin", tokens, vocab_size)
    manifest = {
        "current": increment,
        "increments": {
            str(i): {"train": [f"train_i{i:04d}_0000.bin"], "val": [f"val_i{i:04d}_0000.bin"]}
            for i in range(1, increment + 1)
        },
    }
    (data / "increments.json").write_text(json.dumps(manifest))


def test_increments_continue_the_champion_and_each_version_names_its_parent(
    project, register_with_bpb, client: MlflowClient, model_name, trained_dirs, caplog, capsys
) -> None:
    _, tokenizer_dir = trained_dirs
    # The shape of the conftest's model, from its tokenizer; a few steps of a few windows.
    train = [
        "train.init=champion",
        f"train.tokenizer_dir={tokenizer_dir}",
        "train.depth=2",
        "train.n_embd=64",
        "train.head_dim=32",
        "train.sequence_len=128",
        "train.device_batch_size=2",
        "train.steps=4",
        "train.warmup_steps=1",
        "train.eval_every=0",
        "train.eval_tokens=256",
        "train.device=cpu",
        "register.model_dir=artifacts/model",
    ]
    params = project(*train)
    vocab_size = json.loads(Path(trained_dirs[0] / "config.json").read_text())["vocab_size"]

    caplog.set_level(logging.INFO, logger="warc2gpt.train")
    add_increment(1, vocab_size)
    assert "  started from  a new model (no champion yet)" in train_stage.summary(
        train_stage.run(params)
    )
    assert f"registered model {model_name!r} has no champion yet" in caplog.text
    summary = json.loads(Path("artifacts/model/train_summary.json").read_text())
    assert summary["parent"] is None and summary["increment"] == 1
    assert register_with_bpb(params, 1.50)["promoted"]  # version 1, the first champion
    first = client.get_model_version(model_name, "1")
    assert first.tags["data.increments"] == "1 (2 WARC files)"
    assert "model.parent" not in first.tags

    # The champion has seen increment 1: nothing new, the exported model stays.
    weights = Path("artifacts/model/model.pt").read_bytes()
    result = train_stage.run(params)
    reason = f"models:/{model_name}/1 was trained up to increment 1, the current one"
    assert result["nothing_new"] == reason
    assert Path("artifacts/model/model.pt").read_bytes() == weights

    # Increment 2: the champion continues from the registry, with its optimizer state.
    add_increment(2, vocab_size)
    train_stage.run(params)
    summary = json.loads(Path("artifacts/model/train_summary.json").read_text())
    assert summary["parent"]["version"] == "1" and summary["parent"]["increment"] == 1
    assert summary["total_steps"] == 8 and summary["increment"] == 2
    assert (
        f"continuing models:/{model_name}/1 (4 steps, 1024 tokens so far), with its "
        + ("optimizer state")
        in caplog.text
    )
    assert register_with_bpb(params, 1.40)["promoted"]

    version = client.get_model_version(model_name, "2")
    assert version.tags["model.parent"] == "1"
    assert version.tags["data.increments"] == "2 (3 WARC files)"
    assert len(version.tags) <= 15, sorted(version.tags)
    lineage = json.loads(
        Path(client.download_artifacts(version.run_id, "lineage.json")).read_text()
    )
    files = ["a.warc.gz", "b.warc.gz", "c.warc.gz"]
    assert lineage["increments"] == {
        "count": 2,
        "ids": [1, 2],
        "warc_files": 3,
        "sha256": hashlib.sha256("\n".join(files).encode()).hexdigest(),
        "files_artifact": "warc_files.txt",
    }
    assert lineage["parent"]["uri"] == f"models:/{model_name}/1"
    listed = Path(client.download_artifacts(version.run_id, "warc_files.txt")).read_text()
    assert listed.splitlines() == files
    assert aliases(client, model_name)[CHAMPION] == "2"

    # `models list`: the line of descent in the parent column.
    common = ["--set", f"tracking.tracking_uri={params.tracking.tracking_uri}"]
    capsys.readouterr()
    assert cli_main(["models", *common, "--name", model_name, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["version", "aliases", "val_bpb", "parent"]
    parent = slice(table[0].index("parent"), table[0].index("decision"))
    assert {line.split()[0]: line[parent].strip() for line in table[1:]} == {"2": "1", "1": ""}

    # The model line: val bpb of successive versions, one point per version.
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    (line,) = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{LINE_TAG}` = '{model_name}'"
    )
    curve = client.get_metric_history(line.info.run_id, "val_bpb")
    assert [(m.step, m.value) for m in curve] == [(1, 1.5), (2, 1.4)]
    champion = client.get_metric_history(line.info.run_id, "champion_val_bpb")
    assert [(m.step, m.value) for m in champion] == [(1, 1.5), (2, 1.4)]


def test_the_gate_compares_versions_on_the_frozen_evaluation_set(
    project, client: MlflowClient, model_name, trained_dirs
) -> None:
    from warc2gpt.evaluate import stage as evaluate_stage
    from warc2gpt.registry.stage import run as run_register

    model_dir, tokenizer_dir = trained_dirs
    vocab_size = json.loads(Path(model_dir / "config.json").read_text())["vocab_size"]
    add_increment(1, vocab_size)
    evaluate = [
        f"evaluate.model_dir={model_dir}",
        f"evaluate.tokenizer_dir={tokenizer_dir}",
        "evaluate.generation.max_new_tokens=2",
    ]
    frozen = project(*evaluate, "evaluate.val_tokens=data/tokens/val_i0001_*.bin")
    first = evaluate_stage.run(frozen)
    assert run_register(frozen)["promoted"]

    # Increment 2 adds val shards: the frozen set is increment 1's alone, so the same model
    # measures the same, and the gate compares like with like.
    add_increment(2, vocab_size)
    again = evaluate_stage.run(frozen)
    assert (again["val_bpb"], again["val_tokens"]) == (first["val_bpb"], first["val_tokens"])
    decision = run_register(frozen)
    assert not decision["promoted"]
    bpb = f"{first['val_bpb']:.4f}"
    assert decision["reason"].startswith(f"val_bpb {bpb} vs champion {bpb}: relative gain +0 ")
    # Every val shard, increment 2's too, would have moved the figure under the champion's.
    growing = evaluate_stage.run(project(*evaluate))
    assert growing["val_tokens"] > first["val_tokens"]
    assert client.get_model_version(model_name, "2").tags["val_bpb"] == f"{first['val_bpb']:.6f}"
