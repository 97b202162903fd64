"""`python -m warc2gpt.train`: the stage's run and summary; unusable settings give one line, exit 2."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import yaml

from warc2gpt.train.__main__ import main


@pytest.fixture(autouse=True)
def _progress_setting_restored(monkeypatch):
    """--quiet turns progress off for the process: only for the test that asks."""
    import warc2gpt.progress

    monkeypatch.setattr(warc2gpt.progress, "_ENABLED", warc2gpt.progress._ENABLED)


def test_training_prints_the_summary_and_drops_the_checkpoints(tiny_settings, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    settings = asdict(replace(tiny_settings, steps=4))
    params.write_text(yaml.safe_dump({"train": settings, "tracking": {"enabled": False}}))
    assert main(["--params", str(params), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("train: 4 steps, 256 tokens, ") and "val loss" in out
    assert "step of" not in out  # --quiet: no progress lines
    assert Path(tiny_settings.metrics).exists() and Path(tiny_settings.output, "model.pt").exists()
    assert not list(Path(tiny_settings.checkpoint_dir).glob("step_*.pt"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.n_kv_head=3", "train settings give no valid model: n_head 2 is not a multiple"),
        ("train.total_batch_tokens=100", "train.total_batch_tokens 100 is not a multiple of"),
        ("train.head_dim=24", "train.n_embd 32 is not a multiple of train.head_dim 24"),
        ("train.fp8_head=true train.n_embd=24 train.head_dim=8", "width divisible by 16"),
    ],
)
def test_unusable_settings_are_one_line_errors(tiny_settings, tmp_path, capsys, override, message):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": asdict(tiny_settings)}))
    sets = [arg for item in override.split() for arg in ("--set", item)]
    assert main(["--params", str(params), "--quiet", *sets]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("warc2gpt train: configuration error: ")
    assert message in err and "\n" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_asking_for_a_missing_gpu_says_what_to_set(tiny_settings, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": asdict(replace(tiny_settings, device="cuda"))}))
    assert main(["--params", str(params), "--quiet"]) == 2
    assert "train.device is cuda but torch sees no CUDA GPU" in capsys.readouterr().err
