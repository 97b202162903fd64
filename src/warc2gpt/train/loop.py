"""The training loop: build the GPT and optimizers, step through the shards, evaluate, checkpoint.

`train(settings, tracking)` runs the same in one process or under torchrun (DDP, rank 0 does
the I/O), on CPU (float32, eager) or GPU (bf16 autocast, torch.compile, TF32, fused AdamW).
The loop reads like nanoGPT's: setup, then one `while` whose `last_step` sends the final
checkpoint and evaluation through the same code as the periodic ones. A step's figures are read
one step late (inflight.py); where they go (progress, MLflow, plots, metrics) is runlog.py's.
Where the weights start and which shards feed the batches (train.init, train.replay) is
continuation.py's plan; a continued run's steps and tokens add to its parent's.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warc2gpt.config import ConfigError, RegisterSettings, TrackingSettings, TrainSettings
from warc2gpt.model.fp8 import fp8_supported
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.train import checkpoint as ckpt
from warc2gpt.train import distributed as dist
from warc2gpt.train.continuation import (
    Plan,
    TrainData,
    check_shape,
    load_optimizer_state,
    plan_run,
)
from warc2gpt.train.inflight import StepReader
from warc2gpt.train.loader import (
    TrainLoader,
    check_token_ids,
    find_shards,
    unigram_entropy,
    val_batches,
)
from warc2gpt.train.runlog import RunLog, Throughput, open_tracking
from warc2gpt.train.schedule import lr_factor

log = logging.getLogger(__name__)


def resolve_vocab_size(settings: TrainSettings) -> int:
    """train.vocab_size, or the tokenizer's (the length of its token_bytes.npy).

    A train.vocab_size above the tokenizer's is refused: its extra ids never occur in the
    shards and cannot be decoded, and padding for speed needs no setting (the model pads its
    embedding and head to a multiple of 64 itself, GPTConfig.padded_vocab_size). One below it
    is caught by the shards' largest id (`check_token_ids`).
    """
    path = Path(settings.tokenizer_dir) / "token_bytes.npy"
    tokenizer_size = int(np.load(path, mmap_mode="r").shape[0]) if path.exists() else None
    if settings.vocab_size:
        if tokenizer_size is not None and settings.vocab_size > tokenizer_size:
            raise ConfigError(
                f"train.vocab_size {settings.vocab_size} is larger than the tokenizer's "
                f"{tokenizer_size} ({path}): the model pads its vocabulary to a multiple of 64 "
                "itself; set train.vocab_size to 0 to take the tokenizer's size"
            )
        return settings.vocab_size
    if tokenizer_size is None:
        raise FileNotFoundError(
            f"{path} is missing, so the vocabulary size is unknown: run the tokenizer stage or "
            "set train.vocab_size"
        )
    return tokenizer_size


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
    """The model's optimizers as train.optimizer names them (see `GPT.setup_optimizers`)."""
    return model.setup_optimizers(
        settings.optimizer,
        lr=settings.lr,
        muon_lr=settings.muon_lr,
        weight_decay=settings.weight_decay,
        betas=(settings.beta1, settings.beta2),
        fused=device.type == "cuda",
    )


def wrap_model(
    model: GPT, settings: TrainSettings, info: dist.DistInfo, device: torch.device
) -> torch.nn.Module:
    """The model the steps run: compiled on CUDA (train.compile), inside DDP under torchrun."""
    cuda = device.type == "cuda"
    wrapped: torch.nn.Module = (
        compile_model(model, settings) if cuda and settings.compile else model
    )
    if info.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(wrapped, device_ids=[device.index] if cuda else None)
    return wrapped


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
    settings: TrainSettings, config: GPTConfig, tokens_per_step: int, plan: Plan | None = None
) -> dict[str, Any]:
    """What a checkpoint must share with the run that resumes from it: with a plan, also the
    model it continues and the replay share, when there are."""
    identity = {
        **{f"model.{k}": v for k, v in config.to_dict().items()},
        **{k: getattr(settings, k) for k in IDENTITY_SETTINGS},
        "tokens_per_step": tokens_per_step,
    }
    if plan is not None and plan.parent is not None:
        identity["init"] = plan.parent.record["uri"]
    if plan is not None and plan.settings.replay is not None:
        identity["replay"] = plan.settings.replay
    return identity


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


def _every(step: int, interval: int) -> bool:
    """`step` is a multiple of `interval` (0: never)."""
    return interval > 0 and step % interval == 0


def build_data(
    settings: TrainSettings,
    info: dist.DistInfo,
    grad_accum: int,
    vocab_size: int,
    data: TrainData | None = None,
) -> tuple[list[Path], TrainLoader, list]:
    """The train shards, this rank's loader over them, and its fixed validation windows;
    every shard's ids checked against the model's vocabulary first.

    With train.replay set, `data`'s earlier increments feed that share of each batch and the
    current increment the rest; with it null, every train shard feeds the batches alike.
    """
    data = data or TrainData(find_shards(settings.data, "train"), [], None)
    train_paths = data.every_shard
    val_paths = find_shards(settings.data, "val")
    check_token_ids(train_paths + val_paths, vocab_size)
    mixed = settings.replay is not None
    loader = TrainLoader(
        data.current if mixed else train_paths,
        settings.sequence_len,
        settings.device_batch_size,
        grad_accum,
        info.rank,
        info.world_size,
        settings.seed,
        earlier=data.earlier if mixed else [],
        replay=settings.replay or 0.0,
    )
    val = val_batches(
        val_paths,
        settings.sequence_len,
        settings.device_batch_size,
        settings.eval_tokens,
        info.rank,
        info.world_size,
    )
    return train_paths, loader, val


def set_lr(optimizers: list[torch.optim.Optimizer], step: int, settings: TrainSettings) -> None:
    """Every group's learning rate at `step`: its `base_lr` times the schedule's factor."""
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


def clip_gradients(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """The gradients' global norm, after clipping them to `max_norm` (0: no clipping)."""
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
    )


def run_details(
    model: GPT,
    loader: TrainLoader,
    info: dist.DistInfo,
    grad_accum: int,
    device: torch.device,
    resumed_from: str | None,
    plan: Plan,
) -> dict[str, Any]:
    """What the summary beside the model adds to the headline figures: shape, batch, device,
    and the line of training it continues (parent, increment, totals over every run)."""
    cuda = device.type == "cuda"
    steps_before, tokens_before = plan.totals
    settings = plan.settings
    return {
        "total_steps": steps_before + settings.steps,
        "total_tokens": tokens_before + settings.steps * loader.windows_per_step * loader.seq_len,
        "init": settings.init,
        "started_from": plan.parent.record["uri"] if plan.parent else None,
        "parent": plan.parent.record if plan.parent else None,
        "increment": plan.data.increment,
        "replay": settings.replay,
        "schedule": settings.schedule,
        "params_non_embedding": model.num_params(exclude_embedding=True),
        "flops_per_token": model.flops_per_token(),
        "train_tokens_available": loader.tokens,
        "epochs": loader.consumed * loader.seq_len / loader.tokens,
        "world_size": info.world_size,
        "grad_accum": grad_accum,
        "device": torch.cuda.get_device_name(device) if cuda else str(device),
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "model": model.config.to_dict(),
        "resumed_from": resumed_from,
    }


def resume(
    path: Path,
    identity: dict[str, Any],
    model: GPT,
    optimizers: list[torch.optim.Optimizer],
    loader: TrainLoader,
    device: torch.device,
) -> dict[str, Any]:
    """Load the checkpoint at `path` into the model, optimizers, loader and RNG.

    Returns where the run stands: `step`, `history`, `val_history` and `resumed_from`.
    """
    state = ckpt.load_checkpoint(path, identity)
    model.load_state_dict(state["model"])
    for opt, opt_state in zip(optimizers, state["optimizers"], strict=True):
        opt.load_state_dict(opt_state)
    loader.load_state_dict(state["loader"])
    _set_rng_state(state["rng"], device)
    return {
        "step": state["step"],
        "history": state["history"],
        "val_history": state["val_history"],
        "resumed_from": str(path),
    }


def train(
    settings: TrainSettings,
    tracking: TrackingSettings | None = None,
    *,
    model_name: str = RegisterSettings.model_name,
    progress: bool | None = None,
    stop_after_steps: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) per `settings`; returns the run's figures with its step history.

    Writes the exported model, the plots, metrics/train.json and the full summary (runlog.py).
    `model_name`: the registered model whose champion `train.init: champion` continues.
    `progress`: show it (on rank 0); None: as the process's setting (`progress.set_enabled`).
    `stop_after_steps` ends the process's work once that many optimizer steps are done in total,
    without a final checkpoint or export, as a killed run would (used to test resuming).
    A continued run with nothing new to train on writes nothing and returns only
    `nothing_new`, the reason.
    """
    info = dist.dist_from_env()
    device = dist.resolve_device(settings.device, info)
    dist.init_process_group(info, device)
    try:
        plan = plan_run(settings, tracking, model_name)
        if plan.nothing_new:
            return {"nothing_new": plan.nothing_new, "history": []}
        with attention_preference(settings.attention):
            return _train(plan, tracking, info, device, progress, stop_after_steps)
    finally:
        dist.destroy_process_group()


def start_from_parent(
    model: GPT, optimizers: list[torch.optim.Optimizer], plan: Plan, is_master: bool
) -> None:
    """The parent's weights (of the same shape: `check_shape`) into `model`, and its optimizer
    state into `optimizers` when it kept one for the same optimizer."""
    parent, settings = plan.parent, plan.settings
    model.load_state_dict(parent.saved.model.state_dict())
    kept = load_optimizer_state(optimizers, parent.saved.optimizer, settings.optimizer)
    if is_master:
        log.info(
            "continuing %s (%d steps, %d tokens so far), %s; replay %s",
            parent.record["uri"],
            parent.record["total_steps"],
            parent.record["total_tokens"],
            "with its optimizer state" if kept else "with a new optimizer state",
            settings.replay,
        )


def _train(
    plan: Plan,
    tracking: TrackingSettings | None,
    info: dist.DistInfo,
    device: torch.device,
    progress: bool | None,
    stop_after_steps: int | None,
) -> dict[str, Any]:
    settings = plan.settings
    cuda = device.type == "cuda"
    if cuda:
        torch.set_float32_matmul_precision("high")  # TF32 for any float32 matmul left

    config = model_config(settings, resolve_vocab_size(settings))
    grad_accum = grad_accum_steps(settings, info.world_size)
    tokens_per_step = (
        settings.device_batch_size * settings.sequence_len * grad_accum * info.world_size
    )
    if plan.parent is not None:  # before reading any data: a wrong shape is a settings error
        check_shape(plan.parent.saved.model.config, config, settings.init)
    train_paths, loader, val = build_data(settings, info, grad_accum, config.vocab_size, plan.data)
    # The loss of predicting tokens by their frequency alone: what the model must beat.
    entropy = unigram_entropy(train_paths) if info.is_master else None

    # Model and optimizers: new, or the parent's; a resumed run loads its newest checkpoint over
    # them.
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    raw_model = GPT(config).to(device)
    autocast = configure_precision(raw_model, settings, device)
    optimizers = build_optimizers(raw_model, settings, device)
    if plan.parent is not None:
        start_from_parent(raw_model, optimizers, plan, info.is_master)
    identity = run_identity(settings, config, tokens_per_step, plan)
    last = ckpt.latest_checkpoint(settings.checkpoint_dir) if settings.resume else None
    resumed = resume(last, identity, raw_model, optimizers, loader, device) if last else {}
    start_step = resumed.get("step", 0)
    if last and info.is_master:
        log.info("resumed from %s at step %d", last, start_step)
    model = wrap_model(raw_model, settings, info, device)
    peak_flops = settings.peak_tflops * 1e12 * info.world_size if cuda else None
    throughput = Throughput(tokens_per_step, raw_model.flops_per_token(), peak_flops)

    def save(step: int) -> None:
        state = {
            "model": raw_model.state_dict(),
            "optimizers": [opt.state_dict() for opt in optimizers],
            "step": step,
            "loader": loader.state_dict(),
            "rng": _rng_state(device),
            **runlog.state_dict(),
            "identity": identity,
            "settings": asdict(settings),
        }
        ckpt.save_checkpoint(settings.checkpoint_dir, step, state, settings.keep_checkpoints)

    with (
        open_tracking(tracking, settings, writes=info.is_master) as tracker,
        RunLog(
            settings,
            tracker,
            throughput,
            writes=info.is_master,
            progress=progress,
            resumed=resumed,
        ) as runlog,
    ):
        reader = StepReader(cuda, info.world_size)  # a step is read once the next is queued
        step = start_step
        while True:
            # `step` optimizer steps are done: checkpoint and evaluate when due, always at the end.
            last_step = step == settings.steps
            stopping = stop_after_steps is not None and step >= stop_after_steps
            saving = step > start_step and (last_step or _every(step, settings.checkpoint_every))
            evaluating = last_step or (step > 0 and _every(step, settings.eval_every))
            if last_step or stopping or saving or evaluating:
                runlog.steps(reader.settle())
            if stopping and not last_step:
                return {"stopped_at_step": step, "history": runlog.history}
            if saving and info.is_master:
                save(step)
            if evaluating:
                runlog.val(step, evaluate_loss(model, val, device, autocast, info))
            if last_step:
                break

            set_lr(optimizers, step, settings)
            reader.start()
            loss_sum = torch.zeros((), device=device)
            for micro, (x, y) in enumerate(loader.next_step()):
                if cuda:
                    x, y = x.pin_memory(), y.pin_memory()
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                # Under DDP, gradients are all-reduced only on the last micro-step.
                sync = micro == grad_accum - 1 or not info.is_distributed
                with contextlib.nullcontext() if sync else model.no_sync(), autocast:
                    loss = model(x, targets=y) / grad_accum
                loss.backward()
                loss_sum += loss.detach()
            grad_norm = clip_gradients(raw_model, settings.grad_clip)
            for opt in optimizers:
                opt.step()
            raw_model.zero_grad(set_to_none=True)
            dist.all_reduce_sum(loss_sum, info)
            lr = optimizers[0].param_groups[0]["lr"]
            runlog.steps(reader.hand_over(step, lr, loss_sum, grad_norm))
            step += 1

        details = run_details(
            raw_model, loader, info, grad_accum, device, resumed.get("resumed_from"), plan
        )
        figures = runlog.finish(raw_model.num_params(), entropy, details)
        if info.is_master:
            kept = (settings.optimizer, optimizers) if settings.save_optimizer else None
            ckpt.export_model(raw_model, settings.output, runlog.summary(figures), kept)
        runlog.publish(figures)
    return {**figures, "history": runlog.history}
