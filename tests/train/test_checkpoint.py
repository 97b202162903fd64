"""Checkpoints: atomic writes, pruning, weights-only loads, mismatches that say what differs."""

from __future__ import annotations

import json

import pytest
import torch

from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.train import checkpoint as ckpt


def test_failed_write_leaves_previous_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, 10, {"step": 10, "w": torch.ones(3)})

    def crash(obj, fh):  # the process dies halfway through writing
        fh.write(b"partial bytes")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, 20, {"step": 20})
    assert [p.name for p in tmp_path.iterdir()] == ["step_000010.pt"]
    assert ckpt.latest_checkpoint(tmp_path).name == "step_000010.pt"
    assert ckpt.load_checkpoint(tmp_path / "step_000010.pt", {})["step"] == 10


def test_keeps_only_newest_checkpoints(tmp_path):
    for step in (5, 10, 15, 20):
        ckpt.save_checkpoint(tmp_path, step, {"step": step}, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [15, 20]


def test_checkpoint_with_code_objects_is_refused(tmp_path):
    path = tmp_path / "step_000001.pt"
    torch.save({"step": 1, "fn": json.dumps}, path)  # pickled callable: not weights-only data
    with pytest.raises(ckpt.CheckpointError, match="not a readable checkpoint"):
        ckpt.load_checkpoint(path, {})


def test_identity_mismatch_names_the_setting(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, {"identity": {"model.n_layer": 4, "seed": 1}})
    with pytest.raises(ckpt.CheckpointError, match=r"model.n_layer: checkpoint 4, this run 6"):
        ckpt.load_checkpoint(tmp_path / "step_000001.pt", {"model.n_layer": 6, "seed": 1})


def test_export_and_load_model_roundtrip(tmp_path):
    config = GPTConfig(vocab_size=50, sequence_len=16, n_layer=1, n_head=2, n_kv_head=2, n_embd=16)
    torch.manual_seed(0)
    model = GPT(config)
    with torch.no_grad():
        model.blocks[0].mlp.c_proj.weight.normal_()
    ckpt.save_model(model, tmp_path)
    loaded = ckpt.load_model(tmp_path)
    x = torch.randint(0, 50, (2, 10))
    assert torch.equal(loaded(x), model.eval()(x))


def test_load_model_with_mismatched_config_fails_clearly(tmp_path):
    config = GPTConfig(vocab_size=50, sequence_len=16, n_layer=1, n_head=2, n_kv_head=2, n_embd=16)
    ckpt.save_model(GPT(config), tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["n_embd"] = 32
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ckpt.CheckpointError, match=r"does not match .*config.json: wte.weight"):
        ckpt.load_model(tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="config.json is missing: train a model first"):
        ckpt.load_model(tmp_path / "nowhere")
