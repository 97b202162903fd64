"""Prefect flow for the train stage: one task that trains (or resumes) the GPT in this process.

A run killed part-way resumes from its newest checkpoint (DVC keeps `artifacts/checkpoints`
between runs); a transient I/O failure is retried once the same way. Once the model is
exported the checkpoints are removed, so a later run with other params starts fresh. For
several GPUs, run `torchrun --nproc_per_node=N -m warc2gpt.train`: the same code, no Prefect.
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, task

from flows.common import retry_on_io_error, run_flow_cli
from warc2gpt.config import load_params


@task(name="train-gpt", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_error)
def train_task(params_path: str, overrides: list[str]) -> dict:
    from warc2gpt.train.checkpoint import remove_checkpoints
    from warc2gpt.train.loop import train

    params = load_params(params_path, overrides)
    summary = train(
        params.train, params.tracking, params={"train": asdict(params.train)}, progress=False
    )
    summary.pop("history", None)
    remove_checkpoints(params.train.checkpoint_dir)
    return summary


@flow(name="train", log_prints=True)
def train_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Token shards -> artifacts/model, metrics/train.json, plots/train.tsv and plots/val.tsv."""
    summary = train_task(params_path, overrides or [])
    print(
        f"train: {summary['steps']} steps, val loss {summary['val_loss']:.4f} "
        f"(unigram entropy {summary['unigram_entropy']:.4f}), "
        f"{summary['tokens_per_s']:,.0f} tokens/s, {summary['wall_s']:.0f} s"
    )
    return summary


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(train_flow, "Run the train stage as a Prefect flow."))
