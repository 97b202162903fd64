"""The pipeline's report: headline figures, key params, run names, the closing summary."""

from __future__ import annotations

import json
from pathlib import Path

from warc2gpt.config import load_params
from warc2gpt.pipeline_report import (
    collect_metrics,
    headline_metrics,
    key_params,
    prefect_run_link,
    run_name,
    where_to_look,
)

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "curate": {"pages": 300, "kept": 120},
    "dedup": {"docs_in": 120, "docs_out": 110},
    "tokenize": {"train": {"tokens": 9000}, "val": {"tokens": 1000}, "vocab_size": 512},
    "train": {"train_loss": 4.5, "val_loss": 4.9, "steps": 20, "history": [1, 2]},
    "evaluate": {"val_loss": 4.8, "val_bpb": 1.7, "val_tokens": 4096},
    "register": {"challenger_version": "2", "promoted": True, "reason": "first model"},
}


def test_headline_metrics_are_the_few_that_say_how_the_run_went():
    assert headline_metrics(METRICS) == {
        "documents_kept": 110.0,
        "corpus_tokens": 10000.0,
        "train_loss": 4.5,
        "val_loss": 4.8,
        "val_bpb": 1.7,
    }
    with_tasks = {"evaluate": {"hellaswag_acc": 0.25, "lambada_acc": 0.1, "val_bpb": 2.0}}
    assert headline_metrics(with_tasks) == {
        "hellaswag_acc": 0.25,
        "lambada_acc": 0.1,
        "val_bpb": 2.0,
    }
    # before dedup ran, the curated count; nothing for the stages that did not run
    assert headline_metrics({"curate": {"kept": 7}}) == {"documents_kept": 7.0}


def test_key_params_are_a_handful_plus_the_overrides():
    params = load_params(ROOT / "params.yaml", ["train.steps=400"])
    logged = key_params(params, ["train.steps=400", "curate.workers=1"])
    assert logged["train.steps"] == "400"
    assert logged["curate.workers"] == "1"
    assert logged["tokenizer.vocab_size"] == str(params.tokenizer.vocab_size)
    assert len(logged) <= 10


def test_run_names_carry_time_and_overrides():
    assert run_name("2026-12-01 14:03", ["train.steps=400"]) == (
        "pipeline 2026-12-01 14:03 train.steps=400"
    )
    assert run_name("2026-12-01 14:03", []) == "pipeline 2026-12-01 14:03"


def test_prefect_link_outlives_the_temporary_server():
    assert prefect_run_link("abc", None) == (
        "prefect server start  (then http://127.0.0.1:4200/runs/flow-run/abc)"
    )
    assert (
        prefect_run_link("abc", "http://prefect:4200/") == "http://prefect:4200/runs/flow-run/abc"
    )
    assert prefect_run_link(None, None) == "prefect server start  (then http://127.0.0.1:4200)"


def test_summary_of_an_up_to_date_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = load_params(ROOT / "params.yaml")
    Path("metrics").mkdir()
    Path("metrics/eval.json").write_text(json.dumps(METRICS["evaluate"]), encoding="utf-8")
    metrics = collect_metrics(params)
    assert metrics == {"evaluate": METRICS["evaluate"]}

    result = {"up_to_date": True, "ran": [], "skipped": [], "wall_seconds": 0.4}
    text = where_to_look(params, result, metrics, "sqlite:///mlflow.db", mlflow_run=("1", "r9"))

    assert "stages run: nothing to do, all stages up to date" in text
    assert "evaluate: val_loss 4.8, val_bpb 1.7" in text
    assert "http://127.0.0.1:5000/#/experiments/1/runs/r9" in text
    assert "git add dvc.lock params.yaml metrics/ plots/ && git commit" in text
