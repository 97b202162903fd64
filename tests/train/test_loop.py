"""Training end to end on CPU: learning, exact resume, checkpoint checks, exported model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from warc2gpt.train import checkpoint as ckpt
from warc2gpt.train.loop import train


def losses(summary: dict) -> list[float]:
    return [row["loss"] for row in summary["history"]]


def test_training_learns_and_writes_outputs(tiny_settings):
    summary = train(replace(tiny_settings, steps=60), progress=False)
    history = losses(summary)
    assert history[-1] < history[0] - 1.0
    # A bigram chain with 3 successors: well under the unigram entropy once learned.
    assert summary["val_loss"] < summary["unigram_entropy"]
    metrics = json.loads(Path(tiny_settings.metrics).read_text())
    assert metrics["val_loss"] == pytest.approx(summary["val_loss"])
    assert summary["mfu"] is None  # no MFU on CPU
    rows = Path(tiny_settings.plot).read_text().splitlines()
    assert rows[0].split("\t") == ["step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu"]
    assert len(rows) == 61
    val_rows = Path(tiny_settings.val_plot).read_text().splitlines()
    assert [r.split("\t")[0] for r in val_rows] == ["step"] + [str(s) for s in range(5, 61, 5)]
    model = ckpt.load_model(tiny_settings.output)
    assert not model.training
    x = torch.randint(0, 64, (1, 8))
    assert model(x).shape == (1, 8, 64)


def test_resume_after_kill_gives_identical_losses(tiny_settings, tmp_path):
    straight = train(replace(tiny_settings, checkpoint_dir=str(tmp_path / "a")), progress=False)
    interrupted = replace(tiny_settings, checkpoint_dir=str(tmp_path / "b"))
    # Killed during step 14: the newest checkpoint is the one after step 10.
    first = train(interrupted, progress=False, stop_after_steps=14)
    assert first["stopped_at_step"] == 14
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "b")] == [10]
    resumed = train(interrupted, progress=False)
    assert resumed["resumed_from"].endswith("step_000010.pt")
    assert losses(resumed) == losses(straight)  # bitwise equal, all 20 steps
    assert resumed["val_loss"] == straight["val_loss"]


def test_checkpoint_from_another_config_fails_clearly(tiny_settings):
    train(replace(tiny_settings, steps=10), progress=False)
    with pytest.raises(ckpt.CheckpointError, match=r"model.n_embd: checkpoint 32, this run 64"):
        train(replace(tiny_settings, n_embd=64), progress=False)
    # Starting fresh is allowed when asked for.
    summary = train(replace(tiny_settings, n_embd=64, steps=2, resume=False), progress=False)
    assert summary["model"]["n_embd"] == 64


def test_muon_optimizer_trains(tiny_settings):
    summary = train(replace(tiny_settings, optimizer="muon", steps=30), progress=False)
    history = losses(summary)
    assert history[-1] < history[0] - 1.0


def test_gradient_accumulation_matches_one_big_batch(tiny_settings, tmp_path):
    def five_steps(windows: int, name: str) -> dict:
        settings = replace(tiny_settings, device_batch_size=windows, steps=5)
        settings = replace(settings, total_batch_tokens=128, checkpoint_dir=str(tmp_path / name))
        return train(settings, progress=False)

    big, accum = five_steps(8, "big"), five_steps(4, "acc")
    # Same windows per step, split in two micro-batches: equal up to float summation order.
    assert losses(accum) == pytest.approx(losses(big), rel=1e-5)


def test_fp8_head_trains_like_the_plain_head(tiny_settings, tmp_path):
    plain = train(replace(tiny_settings, steps=40, eval_every=0), progress=False)
    fp8 = train(
        replace(
            tiny_settings,
            steps=40,
            eval_every=0,
            fp8_head=True,
            checkpoint_dir=str(tmp_path / "fp8"),
            output=str(tmp_path / "fp8_model"),
        ),
        progress=False,
    )
    assert losses(fp8)[-1] < losses(fp8)[0] - 1.0
    assert fp8["val_loss"] == pytest.approx(plain["val_loss"], rel=0.1)
    # The exported model carries no run switch: it loads with the plain head.
    assert ckpt.load_model(str(tmp_path / "fp8_model")).fp8_head is False


def test_fp8_head_on_a_device_without_fp8_is_a_clear_error(tiny_settings):
    from warc2gpt.model.gpt import GPT
    from warc2gpt.train.loop import configure_precision, model_config

    model = GPT(model_config(tiny_settings, 64))
    with pytest.raises(ValueError, match="train.fp8_head is on but FP8 products are not"):
        configure_precision(model, replace(tiny_settings, fp8_head=True), torch.device("mps"))


def test_compiled_model_serves_a_second_batch_shape(tiny_settings):
    from warc2gpt.model.gpt import GPT
    from warc2gpt.train.loop import compile_model, model_config

    torch.manual_seed(0)
    model = GPT(model_config(tiny_settings, 64))
    compiled = compile_model(model, tiny_settings)
    for batch in (4, 3):  # a short last validation batch after full ones
        x = torch.randint(0, 64, (batch, 16))
        torch.testing.assert_close(compiled(x, targets=x), model(x, targets=x))


def test_preferred_attention_kernel_is_in_force_for_the_whole_run(
    tiny_settings, tmp_path, monkeypatch
):
    from torch.nn.attention import SDPBackend

    before = torch._C._get_sdp_priority_order()
    first_choice = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def watched(*args, **kwargs):
        first_choice.append(torch._C._get_sdp_priority_order()[0])
        return sdpa(*args, **kwargs)

    auto = train(replace(tiny_settings, steps=6, eval_every=3), progress=False)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", watched)
    math = train(
        replace(
            tiny_settings,
            steps=6,
            eval_every=3,
            attention="math",
            checkpoint_dir=str(tmp_path / "math"),
        ),
        progress=False,
    )
    # Every attention call of the training steps and the evaluations saw the math kernel first.
    assert first_choice and set(first_choice) == {SDPBackend.MATH.value}
    assert torch._C._get_sdp_priority_order() == before  # restored after the run
    assert losses(math) == pytest.approx(losses(auto), rel=1e-4)
    assert math["val_loss"] == pytest.approx(auto["val_loss"], rel=1e-4)


def test_preferring_a_kernel_the_device_lacks_falls_back(tiny_settings, tmp_path):
    auto = train(replace(tiny_settings, steps=4), progress=False)
    cudnn = train(
        replace(tiny_settings, steps=4, attention="cudnn", checkpoint_dir=str(tmp_path / "c")),
        progress=False,
    )
    # No cuDNN on a CPU: the next kernel in line is the one PyTorch picks by default there.
    assert losses(cudnn) == losses(auto)


def test_every_step_is_recorded_once_in_order_and_checkpoints_hold_all_before_them(
    tiny_settings,
):
    from warc2gpt.train.schedule import lr_factor

    settings = replace(tiny_settings, steps=16, eval_every=3, checkpoint_every=7)
    summary = train(settings, progress=False)
    history = summary["history"]
    # A step's figures are read after the next step is queued: none lost, none twice.
    assert [row["step"] for row in history] == list(range(16))
    assert summary["schedule"] == "cosine"  # auto, for a new model
    expected_lr = [
        settings.lr
        * lr_factor(
            s,
            settings.steps,
            settings.warmup_steps,
            summary["schedule"],
            settings.decay_frac,
            settings.min_lr_ratio,
        )
        for s in range(16)
    ]
    assert [row["lr"] for row in history] == pytest.approx(expected_lr)
    assert all(row["time_s"] > 0 and row["grad_norm"] > 0 for row in history)
    saved = ckpt.list_checkpoints(settings.checkpoint_dir)
    assert [s for s, _ in saved] == [14, 16]
    for step, path in saved:
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert [row["step"] for row in state["history"]] == list(range(step))
        assert state["history"] == history[:step]


def test_progress_off_a_terminal_is_a_line_every_log_every_steps(tiny_settings, capsys):
    train(replace(tiny_settings, steps=6, log_every=2, eval_every=4), progress=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("train:")]
    assert [line.split(",")[0] for line in lines] == [
        "train: 2 step of 6 step (33%)",
        "train: 4 step of 6 step (67%)",
        "train: 6 step of 6 step (100%)",
    ]
    assert "step/s" in lines[0] and "ETA" in lines[0] and "loss " in lines[0]
    assert "tokens/s " in lines[0] and "MFU" not in lines[0]  # no MFU on a CPU
    assert "val loss " in lines[-1]


def test_a_resumed_run_counts_on_from_its_checkpoint(tiny_settings, capsys):
    train(tiny_settings, progress=False, stop_after_steps=12)
    train(replace(tiny_settings, log_every=5), progress=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("train:")]
    assert [line.split(",")[0] for line in lines] == [
        "train: 15 step of 20 step (75%)",
        "train: 20 step of 20 step (100%)",
    ]
