"""The train stage: `run` writes the model, headline metrics and summary, then drops checkpoints;
its figures go to the stage wrapper's MLflow run, or to one of its own when run bare."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from warc2gpt.config import Params, TrackingSettings
from warc2gpt.train import checkpoint as ckpt
from warc2gpt.train import stage
from warc2gpt.train.runlog import HEADLINE


def test_run_exports_the_model_writes_headline_metrics_and_removes_checkpoints(tiny_settings):
    params = Params(
        train=replace(tiny_settings, steps=12), tracking=TrackingSettings(enabled=False)
    )
    metrics = stage.run(params, mapper=None)

    headline = json.loads(Path(tiny_settings.metrics).read_text())
    assert tuple(headline) == HEADLINE  # the figures `dvc metrics show` lists
    assert headline == {k: metrics[k] for k in HEADLINE}
    assert metrics["steps"] == 12 and metrics["tokens"] == 12 * 4 * 16
    assert metrics["val_loss"] < metrics["unigram_entropy"] + 1
    full = json.loads((Path(tiny_settings.output) / "train_summary.json").read_text())
    assert [row["step"] for row in full["history"]] == list(range(12))
    assert [row["step"] for row in full["val_history"]] == [5, 10, 12]
    assert full["val_loss"] == metrics["val_loss"] and full["model"]["n_layer"] == 2
    assert ckpt.load_model(tiny_settings.output).config.n_embd == 32
    assert ckpt.list_checkpoints(tiny_settings.checkpoint_dir) == []

    text = stage.summary(metrics)
    assert text.startswith("train: 12 steps, 768 tokens, ")
    assert f"val loss      {metrics['val_loss']:.4f} (unigram entropy " in text
    assert "tokens/s" in text and "MFU" not in text  # no MFU on a CPU


def test_figures_go_to_the_wrappers_run_or_to_a_run_of_its_own(tiny_settings, tmp_path):
    from mlflow import MlflowClient

    from warc2gpt.stages import run_stage

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = TrackingSettings(tracking_uri=uri, experiment="train-test")
    params = Params(train=replace(tiny_settings, steps=6, log_every=2), tracking=tracking)

    run_stage("train", params, mapper=None)  # the wrapper opens the stage run
    stage.run(replace(params, train=replace(params.train, resume=False)))  # bare

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("train-test")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])
    assert [r.info.run_name for r in runs] == ["train", "train"]  # no run inside the wrapper's
    for run in runs:
        series = client.get_metric_history(run.info.run_id, "train/loss")
        assert [m.step for m in series] == [0, 2, 4, 5]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [5, 6]
        assert set(HEADLINE) - {"mfu"} <= set(run.data.metrics)  # the wrapper's, or its own
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"train.tsv", "val.tsv", "train_summary.json", "train.json"} <= files


def test_a_failed_export_leaves_the_previous_model_whole(tiny_settings, monkeypatch):
    params = Params(
        train=replace(tiny_settings, steps=6, eval_every=3, checkpoint_every=3),
        tracking=TrackingSettings(enabled=False),
    )
    first = stage.run(params, mapper=None)
    model_dir, metrics_file = Path(tiny_settings.output), Path(tiny_settings.metrics)
    (model_dir / "notes.txt").write_text("not the stage's")
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    headline = metrics_file.read_bytes()

    def save_half(model, directory):  # the weights written, then the disk fills up
        torch.save(model.state_dict(), Path(directory) / "model.pt")
        raise OSError("No space left on device")

    monkeypatch.setattr(ckpt, "save_model", save_half)
    wider = replace(params.train, n_embd=48, resume=False)
    with pytest.raises(OSError, match="No space left"):
        stage.run(replace(params, train=wider), mapper=None)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    assert metrics_file.read_bytes() == headline
    assert ckpt.load_model(model_dir).config.n_embd == 32
    summary = json.loads((model_dir / "train_summary.json").read_text())
    assert summary["val_loss"] == first["val_loss"]
    assert sorted(p.name for p in model_dir.parent.iterdir()) == [
        "checkpoints",  # the failed run's: a rerun resumes from them
        "metrics",
        "model",
        "plots",
    ]

    monkeypatch.undo()
    second = stage.run(replace(params, train=wider), mapper=None)
    assert ckpt.load_model(model_dir).config.n_embd == 48
    assert json.loads(metrics_file.read_text())["val_loss"] == second["val_loss"]
    assert (model_dir / "notes.txt").read_text() == "not the stage's"


def test_removing_checkpoints_also_removes_what_killed_writes_left(tmp_path):
    ckpt.save_checkpoint(tmp_path, 3, {"step": 3})
    (tmp_path / ".step_000006.pt.tmp-4242").write_bytes(b"half a checkpoint")
    (tmp_path / "notes.txt").write_text("kept")
    assert ckpt.remove_checkpoints(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
