"""The evaluate stage: model + val shards -> metrics/eval.json and reports/.

Also where a model for evaluation or generation is found: an exported model directory, a
training checkpoint file, a logged MLflow model directory, or a `models:/` / `runs:/` URI.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from warc2gpt.config import EvaluateSettings, Params
from warc2gpt.evaluate.bpb import evaluate_val, val_shards
from warc2gpt.evaluate.generate import generate_text, resolve_device
from warc2gpt.evaluate.report import write_report
from warc2gpt.evaluate.tasks import (
    evaluate_hellaswag,
    evaluate_lambada,
    load_hellaswag,
    load_lambada,
)
from warc2gpt.tracking import write_metrics

log = logging.getLogger(__name__)
MLFLOW_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def _load_checkpoint_file(path: Path, device: torch.device):
    """The model inside a training checkpoint (`step_*.pt`): weights plus the run's shape."""
    from warc2gpt.model.gpt import GPT, GPTConfig

    state = torch.load(path, map_location="cpu", weights_only=True)
    identity = state.get("identity", {}) if isinstance(state, dict) else {}
    config = {k.removeprefix("model."): v for k, v in identity.items() if k.startswith("model.")}
    if "model" not in state or not config:
        raise ValueError(f"{path}: not a training checkpoint (no model weights and config)")
    model = GPT(GPTConfig.from_dict(config))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def load_model_and_tokenizer(
    source: str,
    tokenizer_dir: str | Path,
    device: torch.device | str = "cpu",
    tracking_uri: str | None = None,
):
    """(GPT in eval mode, Tokenizer) from a model directory, checkpoint file, or MLflow model.

    A logged MLflow model carries its own tokenizer; the others use `tokenizer_dir`.
    `tracking_uri` is the MLflow store a `models:/` or `runs:/` URI is looked up in.
    """
    from warc2gpt.tokenizer.bpe import Tokenizer
    from warc2gpt.train.checkpoint import load_model

    device = torch.device(device)
    if source.startswith(MLFLOW_URI_SCHEMES):
        from warc2gpt.registry.pyfunc import download_model

        source = str(download_model(source, tracking_uri))
    path = Path(source)
    if (path / "MLmodel").is_file():
        from warc2gpt.registry.pyfunc import load_logged_model

        return load_logged_model(path, device)
    if path.is_file():
        model = _load_checkpoint_file(path, device)
    elif path.is_dir():
        model = load_model(path, device)
    else:
        raise FileNotFoundError(
            f"{source}: no such model; give a model directory (artifacts/model), a checkpoint "
            "file, or a registry URI such as models:/warc2gpt@champion"
        )
    tokenizer = Tokenizer.load(tokenizer_dir)
    check_vocab(model, tokenizer, tokenizer_dir)
    return model, tokenizer


def check_vocab(model: Any, tokenizer: Any, where: str | Path) -> None:
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer in {where} has {tokenizer.vocab_size} ids but the model was trained "
            f"for {model.config.vocab_size}; use the tokenizer the model was trained with"
        )


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


def run_evaluate(params: Params) -> tuple[dict[str, Any], list[Path]]:
    """Evaluate the trained model; returns (metrics, report files). Writes metrics and report."""
    settings = params.evaluate
    started = time.perf_counter()
    device = resolve_device(settings.device)
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
    metrics: dict[str, Any] = {
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
        metrics.update({f"hellaswag_{k}": v for k, v in scores.items()})
    if settings.lambada:
        items = load_lambada(settings.lambada, settings.lambada_limit)
        scores = evaluate_lambada(model, tokenizer, items, window, device, settings.batch_size)
        metrics.update({f"lambada_{k}": v for k, v in scores.items()})
    samples = fixed_prompt_samples(model, tokenizer, settings)
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    write_metrics(settings.metrics, metrics)
    files = write_report(settings.report_dir, metrics, samples, settings.loss_curves)
    write_metrics(Path(settings.report_dir) / "samples.json", {"samples": samples})
    return metrics, files + [Path(settings.report_dir) / "samples.json"]


def format_summary(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal and logs."""
    lines = [
        f"val loss {metrics['val_loss']:.4f}  bpb {metrics['val_bpb']:.4f}  "
        f"({metrics['val_tokens']:,} tokens)"
    ]
    if "hellaswag_acc" in metrics:
        lines.append(
            f"hellaswag acc {metrics['hellaswag_acc']:.4f}  acc_norm "
            f"{metrics['hellaswag_acc_norm']:.4f}  ({metrics['hellaswag_items']} items)"
        )
    if "lambada_acc" in metrics:
        lines.append(
            f"lambada acc {metrics['lambada_acc']:.4f}  ppl "
            f"{metrics['lambada_ppl']:.2f}  ({metrics['lambada_items']} items)"
        )
    return "\n".join(lines)
