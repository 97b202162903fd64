"""The evaluate stage: model + val shards -> metrics/eval.json and reports/.

metrics/eval.json holds the headline figures (DVC compares them across experiments);
reports/eval.json holds every figure, next to the report page, the loss curves and the
fixed-prompt samples. The report folder is written beside the previous one and swapped in
whole, so a failed run leaves the previous report's files together.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from warc2gpt.atomic import StagedDirectory
from warc2gpt.config import EvaluateSettings, Params
from warc2gpt.evaluate.bpb import evaluate_val, val_shards
from warc2gpt.evaluate.report import CURVES_FILE, REPORT_FILE, write_report
from warc2gpt.evaluate.tasks import (
    evaluate_hellaswag,
    evaluate_lambada,
    load_hellaswag,
    load_lambada,
)
from warc2gpt.model.device import resolve_device
from warc2gpt.model.generate import generate_text
from warc2gpt.model.store import load_model_and_tokenizer
from warc2gpt.tracking import write_metrics

log = logging.getLogger(__name__)
# What metrics/eval.json keeps (those measured); every figure goes to reports/eval.json.
HEADLINE = ("val_bpb", "hellaswag_acc", "lambada_acc")
FIGURES_FILE = "eval.json"
SAMPLES_FILE = "samples.json"
# The report folder's files this stage writes; other files there are kept.
REPORT_FILES = (REPORT_FILE, CURVES_FILE, SAMPLES_FILE, FIGURES_FILE)


def fixed_prompt_samples(
    model: Any, tokenizer: Any, settings: EvaluateSettings, use_cache: bool = True
) -> list[dict[str, str]]:
    """One seeded continuation per configured prompt (the same every run of the same model)."""
    g = settings.generation
    return [
        {
            "prompt": prompt,
            "completion": generate_text(
                model,
                tokenizer,
                prompt,
                g.max_new_tokens,
                g.temperature,
                g.top_k,
                g.top_p,
                g.seed,
                use_cache,
            ),
        }
        for prompt in settings.prompts
    ]


def measure(settings: EvaluateSettings) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(every figure, the fixed-prompt samples) for the model `settings` name."""
    started = time.perf_counter()
    device = resolve_device(settings.device, setting="evaluate.device")
    model, tokenizer = load_model_and_tokenizer(settings.model_dir, settings.tokenizer_dir, device)
    window = model.config.sequence_len
    val = evaluate_val(
        model,
        val_shards(settings.val_tokens),
        tokenizer.token_bytes,
        window,
        settings.batch_size,
        settings.max_val_tokens,
        device,
    )
    figures: dict[str, Any] = {
        "val_loss": val.loss,
        "val_bpb": val.bpb,
        "val_tokens": val.tokens,
        "val_bytes": val.bytes,
        "model_params": model.num_params(),
    }
    log.info("val loss %.4f, %.4f bits per byte over %d tokens", val.loss, val.bpb, val.tokens)
    if settings.hellaswag:
        items = load_hellaswag(settings.hellaswag, settings.hellaswag_limit)
        scores = evaluate_hellaswag(model, tokenizer, items, window, device, settings.batch_size)
        figures.update({f"hellaswag_{k}": v for k, v in scores.items()})
    if settings.lambada:
        items = load_lambada(settings.lambada, settings.lambada_limit)
        scores = evaluate_lambada(model, tokenizer, items, window, device, settings.batch_size)
        figures.update({f"lambada_{k}": v for k, v in scores.items()})
    samples = fixed_prompt_samples(model, tokenizer, settings)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return figures, samples


def run(params: Params, mapper: Any = None) -> dict[str, Any]:
    """Evaluate the trained model; writes metrics/eval.json (the headline) and reports/ (every
    figure, the report, the samples); returns every figure.

    Nothing fans out here, so `mapper` is unused. The report files are logged to the active
    MLflow run when there is one.
    """
    settings = params.evaluate
    figures, samples = measure(settings)
    with StagedDirectory(settings.report_dir, REPORT_FILES.__contains__) as staged:
        write_report(staged.path, figures, samples, settings.loss_curves)
        write_metrics(staged.path / SAMPLES_FILE, {"samples": samples})
        write_metrics(staged.path / FIGURES_FILE, figures)
        staged.commit()
    write_metrics(settings.metrics, {k: figures[k] for k in HEADLINE if k in figures})
    _log_reports_to_active_run(settings)
    return figures


def _log_reports_to_active_run(settings: EvaluateSettings) -> None:
    """The report files, into the caller's MLflow run (the stage wrapper logs the figures)."""
    # A run can only be active where mlflow is imported; evaluation never imports it itself.
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or mlflow.active_run() is None:
        return
    try:
        for path in report_files(settings):
            mlflow.log_artifact(str(path), artifact_path="reports")
    except Exception as exc:  # tracking must never sink a finished evaluation
        log.warning("MLflow logging of the evaluation report failed: %s", exc)


def report_files(settings: EvaluateSettings) -> list[Path]:
    """The report files the last run wrote."""
    return [p for p in (Path(settings.report_dir) / n for n in REPORT_FILES) if p.exists()]


def summary(metrics: dict[str, Any]) -> str:
    """The lines printed at the end: val loss and bpb, and the task accuracies when run."""
    lines = [f"val loss {metrics['val_loss']:.4f}  bpb {metrics['val_bpb']:.4f}"]
    if "val_tokens" in metrics:
        lines[0] += f"  ({metrics['val_tokens']:,} tokens)"
    for task in ("hellaswag", "lambada"):
        if f"{task}_acc" in metrics:
            line = f"{task} acc {metrics[f'{task}_acc']:.4f}"
            if f"{task}_items" in metrics:
                line += f"  ({metrics[f'{task}_items']} items)"
            lines.append(line)
    return "\n".join(lines)
