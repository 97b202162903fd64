"""Continuing a saved model (train.init) on increments of data (train.replay), the shape check,
and runs that find nothing new to train on."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from warc2gpt.config import ConfigError, Params, TrackingSettings
from warc2gpt.model.gpt import GPT
from warc2gpt.model.store import OPTIMIZER_FILE, save_model, save_optimizer_state
from warc2gpt.train import checkpoint as ckpt
from warc2gpt.train import stage
from warc2gpt.train.continuation import (
    MANIFEST,
    load_optimizer_state,
    read_manifest,
    train_data,
)
from warc2gpt.train.loader import LoaderError, TrainLoader, find_shards
from warc2gpt.train.loop import model_config, train
from warc2gpt.train.schedule import lr_factor

VOCAB = 64  # the vocabulary of the conftest's shards and of tiny_settings


def summary_of(settings) -> dict:
    return json.loads((Path(settings.output) / "train_summary.json").read_text())


def write_manifest(data: Path, current: int, train: dict[int, list[str]]) -> None:
    increments = {str(i): {"train": names, "val": [], "documents": 1} for i, names in train.items()}
    (data / MANIFEST).write_text(json.dumps({"current": current, "increments": increments}))


def test_a_run_continues_a_saved_model_and_adds_to_its_steps_and_tokens(
    tiny_settings, tmp_path, caplog
):
    first = replace(tiny_settings, steps=10)
    train(first, progress=False)
    assert (Path(first.output) / OPTIMIZER_FILE).is_file()

    then = replace(
        tiny_settings,
        init=first.output,
        steps=6,
        output=str(tmp_path / "continued"),
        checkpoint_dir=str(tmp_path / "continued_checkpoints"),
    )
    with caplog.at_level(logging.INFO, logger="warc2gpt.train.loop"):
        figures = train(then, progress=False)
    assert "with its optimizer state" in caplog.text

    summary = summary_of(then)
    assert summary["total_steps"] == 16 and summary["total_tokens"] == 16 * 4 * 16
    assert summary["steps"] == 6 and figures["total_steps"] == 16
    assert summary["parent"] == {
        "source": first.output,
        "uri": first.output,
        "model_name": None,
        "version": None,
        "increment": None,
        "total_steps": 10,
        "total_tokens": 640,
    }
    # The first step's loss is the saved model's on the first batch: its weights were loaded.
    parent = ckpt.load_model(first.output)
    x, y = TrainLoader(find_shards(then.data, "train"), 16, 4, 1, seed=then.seed).next_step()[0]
    with torch.no_grad():
        assert figures["history"][0]["loss"] == pytest.approx(float(parent(x, targets=y)), 1e-5)
    # A continued run rewarms, stays flat and decays at its end (auto: warmup-stable-decay).
    assert summary["schedule"] == "wsd"
    expected = [then.lr * lr_factor(s, 6, 3, "wsd", 0.2, 0.1) for s in range(6)]
    assert [row["lr"] for row in figures["history"]] == pytest.approx(expected)


def test_the_optimizer_state_carries_over_and_this_runs_settings_stay(tiny_settings, tmp_path):
    def optimizers(model: GPT, lr: float) -> list[torch.optim.Optimizer]:
        return model.setup_optimizers(
            "adamw", lr=lr, muon_lr=0.02, weight_decay=0.1, betas=(0.9, 0.95), fused=False
        )

    torch.manual_seed(0)
    model = GPT(model_config(tiny_settings, VOCAB))
    trained = optimizers(model, lr=0.01)
    model(torch.randint(0, VOCAB, (2, 8)), targets=torch.randint(0, VOCAB, (2, 8))).backward()
    trained[0].step()
    save_optimizer_state(trained, "adamw", tmp_path)
    saved = torch.load(tmp_path / OPTIMIZER_FILE, weights_only=True)

    fresh = optimizers(model, lr=0.5)
    assert load_optimizer_state(fresh, saved, "adamw")
    moments = [s["exp_avg"] for s in trained[0].state.values()]
    loaded = [s["exp_avg"] for s in fresh[0].state.values()]
    assert all(torch.equal(a, b) for a, b in zip(moments, loaded, strict=True))
    assert fresh[0].param_groups[0]["base_lr"] == 0.5  # the schedule scales this run's rate
    assert not load_optimizer_state(optimizers(model, lr=0.5), saved, "muon")


def test_a_model_of_another_shape_is_a_one_line_error(tiny_settings, tmp_path):
    saved = tmp_path / "saved"
    save_model(GPT(model_config(tiny_settings, VOCAB)), saved)
    with pytest.raises(ConfigError) as wider:
        train(replace(tiny_settings, init=str(saved), n_embd=64), progress=False)
    message = str(wider.value)
    assert "\n" not in message
    assert "train.n_embd gives n_embd 64, the model has 32" in message
    assert "train.init: '' for a new model" in message
    with pytest.raises(ConfigError, match=r"train.depth gives n_layer 3, the model has 2"):
        train(replace(tiny_settings, init=str(saved), depth=3), progress=False)
    assert not Path(tiny_settings.output).exists()  # refused before any training
    with pytest.raises(ConfigError, match="no such model folder"):
        train(replace(tiny_settings, init=str(tmp_path / "absent")), progress=False)


def test_the_manifest_splits_the_shards_into_current_and_earlier(token_dir):
    assert read_manifest(token_dir) is None
    alone = train_data(token_dir)  # no manifest: every shard is the current increment's
    assert alone.current == find_shards(token_dir, "train") and alone.earlier == []

    write_manifest(token_dir, 2, {1: ["train_000000.bin"], 2: ["train_000001.bin"]})
    data = train_data(token_dir)
    assert [p.name for p in data.current] == ["train_000001.bin"]
    assert [p.name for p in data.earlier] == ["train_000000.bin"]
    assert data.increment == 2 and data.current_tokens() == 3000

    # The list-of-entries shape, with shards and counts per split.
    entries = [
        {"id": 1, "train": {"shards": ["train_000000.bin"], "tokens": 6000}, "val": {}},
        {"id": 2, "train": {"shards": [], "tokens": 0}, "val": {}},
    ]
    (token_dir / MANIFEST).write_text(json.dumps({"current": 2, "increments": entries}))
    data = train_data(token_dir)
    assert data.current == [] and data.current_tokens() == 0
    assert [p.name for p in data.earlier] == ["train_000000.bin"]

    write_manifest(token_dir, 1, {1: ["train_000009.bin"]})
    with pytest.raises(LoaderError, match=r"train_000009.bin is listed in .* but missing"):
        train_data(token_dir)
    (token_dir / MANIFEST).write_text('{"current": 1}')
    with pytest.raises(LoaderError, match="not an increments manifest"):
        train_data(token_dir)


def test_nothing_new_trains_nothing_and_leaves_the_model(tiny_settings, tmp_path, markov_shard):
    data = tmp_path / "increments"
    markov_shard(data / "train_i0001_0000.bin", 6000, 1)
    markov_shard(data / "val_i0001_0000.bin", 2000, 3)
    write_manifest(data, 1, {1: ["train_i0001_0000.bin"]})
    settings = replace(tiny_settings, data=str(data), steps=6, eval_every=3)
    params = Params(train=settings, tracking=TrackingSettings(enabled=False))
    stage.run(params)  # a new model on increment 1
    assert summary_of(settings)["increment"] == 1
    model_dir = Path(settings.output)
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    headline = Path(settings.metrics).read_bytes()

    # The model continues itself: it has seen increment 1 already.
    again = replace(params, train=replace(settings, init=settings.output))
    result = stage.run(again)
    assert (
        result["nothing_new"] == f"{settings.output} was trained up to increment 1, the current one"
    )
    assert stage.summary(result) == (
        f"train: nothing new to train on ({result['nothing_new']}); {model_dir} left as it is"
    )
    # Increment 2 brought no train tokens; the headline DVC removed before the run comes back.
    write_manifest(data, 2, {1: ["train_i0001_0000.bin"], 2: []})
    Path(settings.metrics).unlink()
    result = stage.run(again)
    assert result["nothing_new"] == "increment 2 holds no train tokens"
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    assert Path(settings.metrics).read_bytes() == headline
    assert ckpt.list_checkpoints(settings.checkpoint_dir) == []

    # Increment 2 with data: the model continues, half of each batch replayed from increment 1.
    markov_shard(data / "train_i0002_0000.bin", 3000, 2)
    write_manifest(data, 2, {1: ["train_i0001_0000.bin"], 2: ["train_i0002_0000.bin"]})
    metrics = stage.run(again)
    summary = summary_of(settings)
    assert metrics["total_steps"] == 12 and summary["increment"] == 2
    assert summary["parent"]["increment"] == 1 and summary["replay"] == 0.5
    text = stage.summary(metrics)
    assert (
        f"  started from  {settings.output}\n  in all        12 steps, 768 tokens (increment 2)"
        in text
    )
