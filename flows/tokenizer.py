"""Prefect flow for the tokenizer stage: train the byte-level BPE on the corpus."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import run_flow_cli
from warc2gpt.config import TokenizerSettings, load_params, to_dict
from warc2gpt.tokenizer.train import train_tokenizer
from warc2gpt.tracking import log_stage_metrics, write_metrics


@task(name="train-tokenizer", cache_policy=NO_CACHE)  # DVC decides what is stale
def train_tokenizer_task(settings: TokenizerSettings) -> dict:
    # One task: the HF trainer already uses every core while it counts and merges pairs.
    tokenizer, metrics = train_tokenizer(settings)
    get_run_logger().info(
        "%d documents -> vocabulary %d (%d merges) in %.1f s",
        metrics["documents"],
        tokenizer.vocab_size,
        tokenizer.merges,
        metrics["seconds"],
    )
    return metrics


@flow(name="tokenizer", log_prints=True)
def tokenizer_flow(params_path: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Parquet corpus -> artifacts/tokenizer (tokenizer.json, token_bytes.npy) + metrics."""
    params = load_params(params_path, overrides or [])
    settings = params.tokenizer
    metrics = train_tokenizer_task(settings)
    write_metrics(settings.metrics, metrics)
    log_stage_metrics(
        "tokenizer", params.tracking, to_dict(settings), metrics, artifacts=[settings.metrics]
    )
    return metrics


if __name__ == "__main__":
    raise SystemExit(run_flow_cli(tokenizer_flow, "Run the tokenizer stage as a Prefect flow."))
