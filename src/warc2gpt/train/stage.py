"""The train stage: token shards in, the exported GPT, metrics/train.json and the plots out.

`run` trains (or resumes from the newest checkpoint) in this process, or in each process under
torchrun, then removes the checkpoints once the model is exported, so a later run with other
settings starts fresh while a killed one resumes. The full summary, with the step history, is
`train_summary.json` beside the model, swapped in with it (checkpoint.export_model). A run that
continues a model (train.init) and finds nothing new to train on trains not: the exported model
stays as it is (continuation.py says when).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from warc2gpt.config import Params
from warc2gpt.train.checkpoint import remove_checkpoints
from warc2gpt.train.distributed import dist_from_env
from warc2gpt.train.loop import train
from warc2gpt.train.runlog import restore_published

if TYPE_CHECKING:
    from warc2gpt.mapper import Mapper


def run(params: Params, mapper: Mapper | None = None) -> dict[str, Any]:
    """Train per params.train; returns the run's figures (metrics/train.json holds the headline).

    Training has no fan-out: `mapper` is not used. Figures go to the active MLflow run when a
    stage wrapper opened one, else to a run of its own when tracking is on (runlog.py). With
    nothing new to train on it returns `nothing_new` (the reason) and `model`, the exported
    model's folder, left as it is.
    """
    settings = params.train
    figures = train(settings, params.tracking, model_name=params.register.model_name)
    master = dist_from_env().is_master
    if "nothing_new" in figures:
        if master:
            restore_published(settings)
        return {"nothing_new": figures["nothing_new"], "model": settings.output}
    if master:
        remove_checkpoints(settings.checkpoint_dir)
    return {k: v for k, v in figures.items() if not isinstance(v, (list, dict))}


def summary(metrics: dict[str, Any]) -> str:
    """A few lines: steps, losses against the unigram entropy, throughput, wall time; one line
    when there was nothing new to train on."""
    if "nothing_new" in metrics:
        model = Path(metrics["model"])
        kept = "left as it is" if model.is_dir() else "does not exist (persist it in dvc.yaml)"
        return f"train: nothing new to train on ({metrics['nothing_new']}); {model} {kept}"
    lines = [
        f"train: {metrics['steps']:,} steps, {metrics['tokens']:,} tokens, "
        f"{metrics['params']:,} parameters"
    ]
    if metrics.get("init"):  # continuing, or a new model while train.init has nothing yet
        lines.append(
            f"  started from  {metrics.get('started_from') or 'a new model (no champion yet)'}"
        )
    if metrics.get("total_steps", metrics["steps"]) != metrics["steps"]:
        lines.append(
            f"  in all        {metrics['total_steps']:,} steps, {metrics['total_tokens']:,} "
            f"tokens (increment {metrics.get('increment') or '-'})"
        )
    val = f"  val loss      {metrics['val_loss']:.4f}"
    if metrics.get("unigram_entropy") is not None:
        val += f" (unigram entropy {metrics['unigram_entropy']:.4f})"
    lines.append(val)
    if metrics.get("train_loss") is not None:
        lines.append(f"  train loss    {metrics['train_loss']:.4f}")
    speed = f"  throughput    {metrics['tokens_per_s']:,.0f} tokens/s"
    if metrics.get("mfu") is not None:
        speed += f", MFU {100 * metrics['mfu']:.1f}%"
    lines.append(speed)
    lines.append(f"  wall time     {metrics['wall_s']:.1f} s")
    return "\n".join(lines)
