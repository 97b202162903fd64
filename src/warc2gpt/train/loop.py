"""The training loop: build the GPT and optimizers, step through the shards, evaluate, checkpoint.

`train(settings, tracking)` runs the same in one process or under torchrun (DDP, rank 0 does
the I/O), on CPU (float32, eager) or GPU (bf16 autocast, torch.compile, TF32, fused AdamW).
Per-step metrics go to plots/train.tsv, the run's summary to metrics/train.json, and both to
MLflow when it is installed and tracking is on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warc2gpt.config import ConfigError, TrackingSettings, TrainSettings
from warc2gpt.model.fp8 import fp8_supported
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.train import checkpoint as ckpt
from warc2gpt.train import distributed as dist
from warc2gpt.train.loader import TrainLoader, find_shards, unigram_entropy, val_batches
from warc2gpt.train.schedule import lr_factor

log = logging.getLogger(__name__)

PLOT_COLUMNS = ["step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu"]


def resolve_vocab_size(settings: TrainSettings) -> int:
    """train.vocab_size, or the tokenizer's (the length of its token_bytes.npy)."""
    if settings.vocab_size:
        return settings.vocab_size
    path = Path(settings.tokenizer_dir) / "token_bytes.npy"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing, so the vocabulary size is unknown: run the tokenizer stage or "
            "set train.vocab_size"
        )
    return int(np.load(path, mmap_mode="r").shape[0])


def model_config(settings: TrainSettings, vocab_size: int) -> GPTConfig:
    """The GPT shape from the `depth` dial and its optional overrides."""
    n_embd = settings.n_embd or 64 * settings.depth
    if n_embd % settings.head_dim:
        raise ConfigError(
            f"train.n_embd {n_embd} is not a multiple of train.head_dim {settings.head_dim}"
        )
    n_head = n_embd // settings.head_dim
    try:
        return GPTConfig(
            vocab_size=vocab_size,
            sequence_len=settings.sequence_len,
            n_layer=settings.depth,
            n_head=n_head,
            n_kv_head=settings.n_kv_head or n_head,
            n_embd=n_embd,
            logit_softcap=settings.logit_softcap,
        )
    except ValueError as exc:
        raise ConfigError(f"train settings give no valid model: {exc}") from None


def grad_accum_steps(settings: TrainSettings, world_size: int) -> int:
    per_pass = settings.device_batch_size * settings.sequence_len * world_size
    total = settings.total_batch_tokens or per_pass
    if total % per_pass:
        raise ConfigError(
            f"train.total_batch_tokens {total} is not a multiple of device_batch_size x "
            f"sequence_len x processes = {settings.device_batch_size} x {settings.sequence_len} "
            f"x {world_size} = {per_pass}"
        )
    return total // per_pass


def configure_precision(
    model: GPT, settings: TrainSettings, device: torch.device
) -> contextlib.AbstractContextManager:
    """Set the run's precision switches on the model; return the autocast context for its steps.

    bf16 autocast where train.dtype asks for it (auto: on CUDA), with the residual stream in bf16
    unless train.bf16_residual is off; the FP8 head where train.fp8_head is on and the device can.
    """
    use_bf16 = settings.dtype == "bfloat16" or (settings.dtype == "auto" and device.type == "cuda")
    model.residual_dtype = torch.bfloat16 if use_bf16 and settings.bf16_residual else None
    if settings.fp8_head:
        ok, why = fp8_supported(device)
        if not ok:
            raise ConfigError(f"train.fp8_head is on but {why}: set train.fp8_head: false")
        if model.config.n_embd % 16:
            raise ConfigError(
                f"train.fp8_head needs a width divisible by 16, n_embd is {model.config.n_embd}"
            )
    model.fp8_head = settings.fp8_head
    if use_bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def attention_preference(kernel: str) -> contextlib.AbstractContextManager:
    """A context in which scaled_dot_product_attention tries `kernel` (train.attention) first.

    The other kernels stay enabled behind it, so a call the preferred one cannot serve (its
    shape, dtype or device) runs on the next that can. Entered once around the whole run: under
    torch.compile the kernel is picked when the graph is traced.
    """
    if kernel == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernels = {
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "math": SDPBackend.MATH,
    }
    first = kernels[kernel]
    return sdpa_kernel([first] + [k for k in kernels.values() if k != first], set_priority=True)


def compile_model(model: torch.nn.Module, settings: TrainSettings) -> torch.nn.Module:
    """torch.compile in train.compile_mode, for fixed shapes: a new batch shape (a short last
    validation batch) gets its own specialised graph instead of turning every graph dynamic."""
    return torch.compile(model, mode=settings.compile_mode, dynamic=False)


def build_optimizers(
    model: GPT, settings: TrainSettings, device: torch.device
) -> list[torch.optim.Optimizer]:
    """AdamW for everything, or Muon for the blocks' matrices and AdamW for embedding and head."""
    fused = device.type == "cuda"
    betas = (settings.beta1, settings.beta2)
    if settings.optimizer == "adamw":
        groups = [{"params": list(model.parameters()), "base_lr": settings.lr}]
        return [
            torch.optim.AdamW(
                groups, lr=settings.lr, betas=betas, weight_decay=settings.weight_decay, fused=fused
            )
        ]
    matrices = [p for p in model.blocks.parameters()]
    others = [model.wte.weight, model.lm_head.weight]
    adam = torch.optim.AdamW(
        [{"params": others, "base_lr": settings.lr}],
        lr=settings.lr,
        betas=betas,
        weight_decay=settings.weight_decay,
        fused=fused,
    )
    muon = torch.optim.Muon(
        [{"params": matrices, "base_lr": settings.muon_lr}],
        lr=settings.muon_lr,
        weight_decay=settings.weight_decay,
    )
    return [adam, muon]


# Settings that shape the trajectory: a checkpoint resumes only a run that shares them all.
# Left out: where things go, how often to evaluate/save/log, and how a step is split into
# micro-batches and processes (tokens per step is kept instead).
IDENTITY_SETTINGS = (
    "optimizer",
    "lr",
    "muon_lr",
    "weight_decay",
    "beta1",
    "beta2",
    "grad_clip",
    "schedule",
    "warmup_steps",
    "decay_frac",
    "min_lr_ratio",
    "steps",
    "seed",
)


def run_identity(
    settings: TrainSettings, config: GPTConfig, tokens_per_step: int
) -> dict[str, Any]:
    """What a checkpoint must share with the run that resumes from it."""
    return {
        **{f"model.{k}": v for k, v in config.to_dict().items()},
        **{k: getattr(settings, k) for k in IDENTITY_SETTINGS},
        "tokens_per_step": tokens_per_step,
    }


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@torch.no_grad()
def evaluate_loss(
    model: torch.nn.Module,
    batches: list,
    device: torch.device,
    autocast: contextlib.AbstractContextManager,
    info: dist.DistInfo,
) -> float:
    """Mean validation loss over every rank's fixed windows."""
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            loss = model(x, targets=y)
        totals[0] += loss.double() * y.numel()
        totals[1] += y.numel()
    dist.all_reduce_sum(totals, info)
    model.train()
    return float(totals[0] / totals[1])


def write_tsv(path: str | Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """A tab-separated plot file for DVC, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(_fmt(row.get(c)) for c in columns))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class _StepInFlight:
    """One optimizer step's loss and gradient norm on their way to the host.

    On CUDA both are copied to pinned host memory behind the step's kernels and an event marks
    the step's end, so the host can queue the next step before it reads them: the device does
    not wait for the host between steps. `since` is the event the step's time counts from (the
    previous step's end, or this step's start after a pause). On CPU the step has finished when
    this is built, so `since` is its start on the host clock and the time is taken now.
    """

    def __init__(
        self,
        step: int,
        lr: float,
        loss_sum: torch.Tensor,
        grad_norm: torch.Tensor,
        since: torch.cuda.Event | float,
    ) -> None:
        self.step, self.lr, self.since = step, lr, since
        values = torch.stack([loss_sum.float(), grad_norm.detach().float()])
        self.end: torch.cuda.Event | None = None
        if values.is_cuda:
            self.values = values.to("cpu", non_blocking=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.end.record()
        else:
            self.values = values
            self.seconds = time.perf_counter() - since

    @staticmethod
    def mark(cuda: bool) -> torch.cuda.Event | float:
        """Now, as a step's `since`: an event in the device's queue, or the host clock."""
        if not cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def read(self) -> tuple[float, float, float]:
        """(summed loss, gradient norm, seconds the step took); waits for the step's end."""
        if self.end is not None:
            self.end.synchronize()
            self.seconds = self.since.elapsed_time(self.end) / 1e3
        loss_sum, grad_norm = self.values.tolist()
        return loss_sum, grad_norm, self.seconds


class _MlflowLogger:
    """Per-step metrics to an MLflow run; any failure turns logging off, never the training."""

    def __init__(self, mlflow: Any) -> None:
        self.mlflow = mlflow

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.mlflow is None:
            return
        try:
            clean = {k: float(v) for k, v in metrics.items() if v is not None}
            self.mlflow.log_metrics(clean, step=step)
        except Exception as exc:
            log.warning("MLflow logging failed, continuing without it: %s", exc)
            self.mlflow = None


def train(
    settings: TrainSettings,
    tracking: TrackingSettings | None = None,
    *,
    params: dict[str, Any] | None = None,
    progress: bool = True,
    stop_after_steps: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) per `settings`; returns the run's summary metrics.

    `stop_after_steps` ends the process's work after that many optimizer steps in total without
    a final checkpoint or export, as a killed run would (used to test resuming).
    """
    info = dist.dist_from_env()
    device = dist.resolve_device(settings.device, info)
    dist.init_process_group(info, device)
    try:
        with attention_preference(settings.attention):
            return _train(settings, tracking, info, device, params, progress, stop_after_steps)
    finally:
        dist.destroy_process_group()


def _train(
    settings: TrainSettings,
    tracking: TrackingSettings | None,
    info: dist.DistInfo,
    device: torch.device,
    params: dict[str, Any] | None,
    progress: bool,
    stop_after_steps: int | None,
) -> dict[str, Any]:
    cuda = device.type == "cuda"
    if cuda:
        torch.set_float32_matmul_precision("high")  # TF32 for any float32 matmul left

    config = model_config(settings, resolve_vocab_size(settings))
    grad_accum = grad_accum_steps(settings, info.world_size)
    tokens_per_step = (
        settings.device_batch_size * settings.sequence_len * grad_accum * info.world_size
    )
    train_paths = find_shards(settings.data, "train")
    val_paths = find_shards(settings.data, "val")
    loader = TrainLoader(
        train_paths,
        settings.sequence_len,
        settings.device_batch_size,
        grad_accum,
        info.rank,
        info.world_size,
        settings.seed,
    )
    val = val_batches(
        val_paths,
        settings.sequence_len,
        settings.device_batch_size,
        settings.eval_tokens,
        info.rank,
        info.world_size,
    )

    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    raw_model = GPT(config).to(device)
    autocast = configure_precision(raw_model, settings, device)
    optimizers = build_optimizers(raw_model, settings, device)
    identity = run_identity(settings, config, tokens_per_step)

    start_step, history, val_history = 0, [], []
    resumed_from = None
    last = ckpt.latest_checkpoint(settings.checkpoint_dir) if settings.resume else None
    if last is not None:
        state = ckpt.load_checkpoint(last, identity)
        raw_model.load_state_dict(state["model"])
        for opt, opt_state in zip(optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        loader.load_state_dict(state["loader"])
        _set_rng_state(state["rng"], device)
        start_step, history, val_history = state["step"], state["history"], state["val_history"]
        resumed_from = str(last)
        if info.is_master:
            log.info("resumed from %s at step %d", last, start_step)

    model: torch.nn.Module = raw_model
    if cuda and settings.compile:
        model = compile_model(model, settings)
    if info.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    flops_per_token = raw_model.flops_per_token()
    peak_flops = settings.peak_tflops * 1e12 * info.world_size

    def save(step: int) -> None:
        if not info.is_master:
            return
        state = {
            "model": raw_model.state_dict(),
            "optimizers": [opt.state_dict() for opt in optimizers],
            "step": step,
            "loader": loader.state_dict(),
            "rng": _rng_state(device),
            "history": history,
            "val_history": val_history,
            "identity": identity,
            "settings": asdict(settings),
        }
        ckpt.save_checkpoint(settings.checkpoint_dir, step, state, settings.keep_checkpoints)

    mlflow_ctx: contextlib.AbstractContextManager = contextlib.nullcontext(None)
    if info.is_master and tracking is not None:
        from warc2gpt.tracking import stage_run

        mlflow_ctx = stage_run("train", tracking, params or {"train": asdict(settings)})
    bar = None
    if info.is_master and progress:
        from tqdm import tqdm

        bar = tqdm(
            total=settings.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True
        )

    with _quiet_mlflow(mlflow_ctx) as mlflow:
        tracker = _MlflowLogger(mlflow)

        def finish(record: _StepInFlight) -> None:
            """Read a step's figures; record, log and show them."""
            loss_sum, grad_norm, dt = record.read()
            loss_value = loss_sum / info.world_size
            tokens_per_s = tokens_per_step / dt
            row = {
                "step": record.step,
                "loss": loss_value,
                "lr": record.lr,
                "grad_norm": grad_norm,
                "tokens_per_s": tokens_per_s,
                "mfu": flops_per_token * tokens_per_s / peak_flops if cuda else None,
                "time_s": dt,
            }
            history.append(row)
            if not math.isfinite(loss_value):
                raise FloatingPointError(
                    f"loss became {loss_value} at step {record.step}: lower train.lr"
                )
            if record.step % settings.log_every == 0 or record.step == settings.steps - 1:
                tracker.log({k: v for k, v in row.items() if k != "step"}, record.step)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tokens_per_s:,.0f}")

        steps_run = 0
        # A step's figures are read once the next step is queued (see _StepInFlight), and
        # before a checkpoint, a stop or the end.
        in_flight: _StepInFlight | None = None
        previous_end: torch.cuda.Event | None = None
        t_run = time.perf_counter()
        for step in range(start_step, settings.steps):
            if settings.eval_every and step % settings.eval_every == 0 and step > 0:
                val_loss = evaluate_loss(model, val, device, autocast, info)
                val_history.append({"step": step, "val_loss": val_loss})
                tracker.log({"val_loss": val_loss}, step)
                previous_end = None  # the next step's time starts at the next step
            factor = lr_factor(
                step,
                settings.steps,
                settings.warmup_steps,
                settings.schedule,
                settings.decay_frac,
                settings.min_lr_ratio,
            )
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * factor
            since = previous_end if previous_end is not None else _StepInFlight.mark(cuda)
            batches = loader.next_step()
            loss_sum = torch.zeros((), device=device)
            for micro, (x, y) in enumerate(batches):
                if cuda:
                    x, y = x.pin_memory(), y.pin_memory()
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                # Under DDP, gradients are all-reduced only on the last micro-step.
                sync = micro == grad_accum - 1 or not info.is_distributed
                with contextlib.nullcontext() if sync else model.no_sync(), autocast:
                    loss = model(x, targets=y) / grad_accum
                loss.backward()
                loss_sum += loss.detach()
            if settings.grad_clip > 0:
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    raw_model.parameters(), settings.grad_clip
                )
            else:
                grad_norm = torch.linalg.vector_norm(
                    torch.stack(
                        [p.grad.norm() for p in raw_model.parameters() if p.grad is not None]
                    )
                )
            for opt in optimizers:
                opt.step()
            raw_model.zero_grad(set_to_none=True)
            dist.all_reduce_sum(loss_sum, info)
            lr = optimizers[0].param_groups[0]["lr"]
            record = _StepInFlight(step, lr, loss_sum, grad_norm, since)
            if in_flight is not None:
                finish(in_flight)
            in_flight, previous_end = record, record.end
            steps_run += 1
            done = step + 1
            stopping = stop_after_steps is not None and stop_after_steps <= done < settings.steps
            saving = bool(settings.checkpoint_every) and done % settings.checkpoint_every == 0
            if stopping or saving or done == settings.steps:
                finish(in_flight)
                in_flight = None
            if stopping:
                if bar is not None:
                    bar.close()
                return {"stopped_at_step": done, "history": history}
            if saving:
                save(done)
                previous_end = None  # the save's time is not the next step's
        if bar is not None:
            bar.close()
        periodic = settings.checkpoint_every and settings.steps % settings.checkpoint_every == 0
        if start_step < settings.steps and not periodic:
            save(settings.steps)
        val_loss = evaluate_loss(model, val, device, autocast, info)
        if not val_history or val_history[-1]["step"] != settings.steps:
            val_history.append({"step": settings.steps, "val_loss": val_loss})
            tracker.log({"val_loss": val_loss}, settings.steps)
        summary = _summary(
            settings,
            config,
            raw_model,
            history,
            val_loss,
            info,
            grad_accum,
            tokens_per_step,
            cuda,
            peak_flops,
            flops_per_token,
            train_paths,
            loader,
            time.perf_counter() - t_run,
            steps_run,
            resumed_from,
            device,
        )
        if info.is_master:
            ckpt.save_model(raw_model, settings.output)
            write_tsv(settings.plot, PLOT_COLUMNS, history)
            write_tsv(settings.val_plot, ["step", "val_loss"], val_history)
            from warc2gpt.tracking import numeric_metrics, write_metrics

            write_metrics(settings.metrics, summary)
            if tracker.mlflow is not None:
                try:
                    tracker.mlflow.log_metrics(numeric_metrics(summary, "final"))
                    for path in (settings.metrics, settings.plot, settings.val_plot):
                        tracker.mlflow.log_artifact(str(path))
                except Exception as exc:
                    log.warning("MLflow logging failed: %s", exc)
    summary["history"] = history
    return summary


@contextlib.contextmanager
def _quiet_mlflow(ctx: contextlib.AbstractContextManager):
    """Enter the MLflow run; if starting it fails, train without it."""
    try:
        mlflow = ctx.__enter__()
    except Exception as exc:
        log.warning("MLflow run could not start, training without it: %s", exc)
        yield None
        return
    try:
        yield mlflow
    except BaseException as exc:
        ctx.__exit__(type(exc), exc, exc.__traceback__)
        raise
    else:
        ctx.__exit__(None, None, None)


def _summary(
    settings: TrainSettings,
    config: GPTConfig,
    model: GPT,
    history: list[dict],
    val_loss: float,
    info: dist.DistInfo,
    grad_accum: int,
    tokens_per_step: int,
    cuda: bool,
    peak_flops: float,
    flops_per_token: int,
    train_paths: list[Path],
    loader: TrainLoader,
    elapsed: float,
    steps_run: int,
    resumed_from: str | None,
    device: torch.device,
) -> dict[str, Any]:
    # Throughput over the second half of this process's steps: past compilation and warm-up.
    timed = [r for r in history[len(history) - steps_run :]][steps_run // 2 :]
    tokens_per_s = tokens_per_step * len(timed) / sum(r["time_s"] for r in timed) if timed else 0.0
    summary: dict[str, Any] = {
        "steps": settings.steps,
        "tokens": settings.steps * tokens_per_step,
        "train_loss": history[-1]["loss"] if history else None,
        "val_loss": val_loss,
        "unigram_entropy": unigram_entropy(train_paths) if info.is_master else None,
        "train_tokens_available": loader.tokens,
        "epochs": settings.steps * loader.windows_per_step * settings.sequence_len / loader.tokens,
        "params": model.num_params(),
        "params_non_embedding": model.num_params(exclude_embedding=True),
        "flops_per_token": flops_per_token,
        "tokens_per_s": tokens_per_s,
        "mfu": flops_per_token * tokens_per_s / peak_flops if cuda else None,
        "wall_s": elapsed,
        "world_size": info.world_size,
        "grad_accum": grad_accum,
        "device": str(device) if not cuda else torch.cuda.get_device_name(device),
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "model": config.to_dict(),
        "resumed_from": resumed_from,
    }
    return summary
