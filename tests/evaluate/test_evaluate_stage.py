"""The evaluate stage end to end, `warc2gpt evaluate` and `warc2gpt generate` on local files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from warc2gpt.cli import main as cli_main
from warc2gpt.config import load_params
from warc2gpt.evaluate import stage as evaluate_stage
from warc2gpt.evaluate.report import read_curves
from warc2gpt.evaluate.stage import report_files, run, summary
from warc2gpt.model.generate import generate_text
from warc2gpt.model.store import save_model
from warc2gpt.tracking import write_metrics

pytestmark = pytest.mark.shared_data

TRAIN_TSV = "step\tloss\tlr\n0\t6.2\t0.001\n10\t5.1\t0.001\n20\t4.7\t\n"
VAL_TSV = "step\tval_loss\n0\t6.3\n20\t4.9\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifacts, val_shard, shared_data):
    """A project directory after the train stage; returns its overrides for params."""
    monkeypatch.chdir(tmp_path)
    model_dir, tokenizer_dir = artifacts
    Path("plots").mkdir()
    Path("plots/train.tsv").write_text(TRAIN_TSV)
    Path("plots/val.tsv").write_text(VAL_TSV)
    return [
        f"evaluate.model_dir={model_dir}",
        f"evaluate.tokenizer_dir={tokenizer_dir}",
        f"evaluate.val_tokens={val_shard}",
        "evaluate.max_val_tokens=4000",
        f"evaluate.hellaswag={shared_data / 'eval' / 'hellaswag_val_full.txt.bz2'}",
        "evaluate.hellaswag_limit=20",
        f"evaluate.lambada={shared_data / 'eval' / 'lambada_test.jsonl'}",
        "evaluate.lambada_limit=10",
        "evaluate.generation.max_new_tokens=8",
        "tracking.enabled=false",
    ]


def test_run_writes_headline_metrics_and_report(project) -> None:
    metrics = run(load_params("absent.yaml", project), mapper=None)
    saved = json.loads(Path("metrics/eval.json").read_text())
    assert set(saved) == {"val_bpb", "hellaswag_acc", "lambada_acc"}  # the headline, for DVC
    assert 0 < saved["val_bpb"] < 20 and metrics["val_tokens"] >= 4000
    figures = json.loads(Path("reports/eval.json").read_text())
    assert figures == metrics
    assert figures["hellaswag_items"] == 20 and figures["lambada_items"] == 10
    assert {k: figures[k] for k in saved} == saved
    report = Path("reports/eval.md").read_text()
    assert "| val_bpb |" in report and "| lambada_ppl |" in report
    assert "![loss curves](loss_curves.png)" in report
    png = Path("reports/loss_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    samples = json.loads(Path("reports/samples.json").read_text())["samples"]
    assert [s["prompt"] for s in samples] == load_params("absent.yaml").evaluate.prompts
    text = summary(metrics)
    assert "bpb" in text and "hellaswag acc" in text and "lambada acc" in text


def test_run_writes_every_figure_and_the_report_files(project) -> None:
    settings = load_params("absent.yaml", project).evaluate
    headline = run(load_params("absent.yaml", project))
    figures = json.loads(Path("reports/eval.json").read_text())
    assert "hellaswag_acc_norm" in figures and "lambada_ppl" in figures
    assert headline == {k: figures[k] for k in headline}
    names = {f.name for f in report_files(settings)}
    assert names == {"eval.md", "loss_curves.png", "samples.json", "eval.json"}


def _snapshot() -> dict[str, bytes]:
    return {p.as_posix(): p.read_bytes() for p in sorted(Path("reports").iterdir())} | {
        "metrics/eval.json": Path("metrics/eval.json").read_bytes()
    }


def test_a_failed_run_leaves_the_previous_report_whole(project, monkeypatch) -> None:
    run(load_params("absent.yaml", project))
    Path("reports/notes.md").write_text("not the stage's")
    before = _snapshot()

    def fail_on_figures(path, figures):  # the report page, curves and samples are written
        if Path(path).name == "eval.json":
            raise OSError("No space left on device")
        write_metrics(path, figures)

    monkeypatch.setattr(evaluate_stage, "write_metrics", fail_on_figures)
    other = load_params("absent.yaml", [*project, "evaluate.lambada_limit=5"])
    with pytest.raises(OSError, match="No space left"):
        run(other)
    assert _snapshot() == before
    assert sorted(p.name for p in Path().iterdir()) == ["metrics", "plots", "reports"]

    monkeypatch.setattr(evaluate_stage, "write_metrics", write_metrics)
    Path("plots/train.tsv").unlink()
    Path("plots/val.tsv").unlink()
    figures = run(other)  # no curves this time: the old picture goes, the notes stay
    assert json.loads(Path("reports/eval.json").read_text())["lambada_items"] == 5
    assert figures["lambada_items"] == 5
    assert sorted(p.name for p in Path("reports").iterdir()) == [
        "eval.json",
        "eval.md",
        "notes.md",
        "samples.json",
    ]


def test_loss_curves_read_every_loss_column() -> None:
    assert read_curves(["absent.tsv"]) == {}


def test_curves_skip_blank_cells(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("step\tloss\tval_loss\n0\t6.0\t\n5\t5.0\t5.5\n")
    curves = read_curves([path])
    assert curves == {"train:loss": ([0.0, 5.0], [6.0, 5.0]), "train:val_loss": ([5.0], [5.5])}


def test_evaluate_command(project, capsys) -> None:
    args = ["evaluate", "--params", os.devnull, "--no-tracking"]
    args += [f"--set={o}" for o in project]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "bpb" in out and "hellaswag acc" in out and "lambada acc" in out


def test_evaluate_without_shards_says_what_to_run(project) -> None:
    params = load_params("absent.yaml", [*project, "evaluate.val_tokens=missing/val_*.bin"])
    with pytest.raises(FileNotFoundError, match="tokenize"):
        run(params)


def test_generate_from_model_dir_and_checkpoint(
    artifacts, model, tokenizer, tmp_path: Path, capsys
) -> None:
    model_dir, tokenizer_dir = artifacts
    expected = generate_text(model, tokenizer, "KING:", max_new_tokens=10, temperature=0)
    # A training checkpoint holds the weights and the run's model shape under `identity`.
    checkpoint = tmp_path / "step_000010.pt"
    identity = {f"model.{k}": v for k, v in model.config.to_dict().items()}
    torch.save({"model": model.state_dict(), "identity": identity, "step": 10}, checkpoint)
    base = ["generate", "--params", os.devnull, "--tokenizer", str(tokenizer_dir)]
    base += ["--prompt", "KING:", "--max-tokens", "10", "--temperature", "0"]
    for source in (model_dir, checkpoint):
        assert cli_main([*base, "--model", str(source)]) == 0
        assert capsys.readouterr().out == "KING:" + expected + "\n"


def test_generate_refuses_a_mismatched_tokenizer(artifacts, make_gpt, tmp_path: Path) -> None:
    _, tokenizer_dir = artifacts
    save_model(make_gpt(600), tmp_path / "model")
    argv = ["generate", "--model", str(tmp_path / "model"), "--tokenizer", str(tokenizer_dir)]
    with pytest.raises(ValueError, match="512 ids but the model was trained for 600"):
        cli_main([*argv, "--prompt", "x"])
