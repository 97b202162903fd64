"""Training throughput: tokens/s, MFU and peak memory of our training step on random tokens.

`python benchmarks/train_throughput.py` times the GPU preset (presets/gpt2-124m.yaml over
params.yaml: 12 layers, 768 wide, vocabulary 50257) at sequence 1024 and 2048 with 65,536 tokens
per step: forward, backward, gradient clipping and a fused AdamW step, bf16 autocast and
torch.compile on CUDA, with the preset's precision switches. `--set train.KEY=VALUE` changes any
setting (e.g. `--set train.fp8_head=true`, `--set train.attention=cudnn`). FLOPs per token are
counted as nanoGPT does (6N + 12·L·H·Q·T); MFU is given against the bf16 matmul peak measured on
the card and against 989 TFLOP/s (H100/H200 dense bf16). Steps are timed with CUDA events and
no host synchronisation between them, so the host's launches overlap the device's work. On a
CPU, pass a tiny shape (e.g.
`--set train.depth=2 --set train.n_embd=128 --seq 64 128 --batch-tokens 2048`) to check the script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch

from warc2gpt.config import TrainSettings
from warc2gpt.model.gpt import GPT
from warc2gpt.train.command import load_train_params
from warc2gpt.train.loop import (
    attention_preference,
    build_optimizers,
    compile_model,
    configure_precision,
    model_config,
)

DATASHEET_TFLOPS = 989.0


def measure_matmul_tflops(device: torch.device, n: int = 8192, reps: int = 10) -> float:
    """bf16 n×n×n matmul rate on random data, median of `reps` timed products."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n**3 / statistics.median(times) / 1e12


# Kernel-name patterns of each kind of GPU work, first match wins.
KERNEL_KINDS = (
    ("matmul", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "scaled_mm", "addmm", "aten::mm")),
    ("attention", ("flash", "fmha", "attention", "cudnn", "sdpa", "dot_do_o", "convert_dq")),
    ("optimizer", ("multi_tensor", "adam", "foreach", "norm_kernel")),
    ("communication", ("nccl", "allreduce", "gloo")),
    ("fused (compiled)", ("triton",)),
)


def kernel_kind(name: str) -> str:
    low = name.lower()
    for kind, patterns in KERNEL_KINDS:
        if any(p in low for p in patterns):
            return kind
    return "other"


def print_kernel_shares(step: Callable[[int], None], n: int, cuda: bool) -> None:
    """Profile `n` steps; print where the device time goes by kind, then the top kernels."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for i in range(n):
            step(i)
        if cuda:
            torch.cuda.synchronize()

    def self_time(evt) -> float:
        return evt.self_device_time_total if cuda else evt.self_cpu_time_total

    events = [e for e in prof.key_averages() if self_time(e) > 0]
    if cuda:  # kernels only (where the profiler tells them apart): their times add up
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        events = kernels or events
    total = sum(self_time(e) for e in events) or 1.0
    kinds: dict[str, float] = {}
    for e in events:
        kind = kernel_kind(e.key)
        kinds[kind] = kinds.get(kind, 0.0) + self_time(e)
    where = "device" if cuda else "CPU"
    print(f"\n  {where} time per step by kind ({n} profiled steps):")
    for kind, t in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:<18} {t / n / 1e3:8.2f} ms  {t / total:6.1%}")
    print("  top kernels:")
    for e in sorted(events, key=self_time, reverse=True)[:12]:
        t = self_time(e)
        print(f"    {t / n / 1e3:8.2f} ms  {t / total:6.1%}  x{e.count // n:<4} {e.key[:90]}")


def bench_one(
    settings: TrainSettings,
    vocab: int,
    batch_tokens: int,
    steps: int,
    warmup: int,
    device: torch.device,
    use_compile: bool,
    profile_steps: int = 0,
) -> dict:
    config = model_config(settings, vocab)
    torch.manual_seed(0)
    raw = GPT(config).to(device)
    cuda = device.type == "cuda"
    autocast = configure_precision(raw, settings, device)
    optimizers = build_optimizers(raw, settings, device)
    model = compile_model(raw, settings) if use_compile else raw
    batch = batch_tokens // settings.sequence_len
    # A few distinct random batches, rotated, so no step reads the same cached input.
    data = [
        torch.randint(0, vocab, (batch, settings.sequence_len + 1), device=device) for _ in range(4)
    ]

    def step(i: int) -> None:
        chunk = data[i % len(data)]
        with autocast:
            loss = model(chunk[:, :-1], targets=chunk[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), settings.grad_clip)
        for opt in optimizers:
            opt.step()
        raw.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    for i in range(warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    warm_s = time.perf_counter() - t0
    if cuda:
        # One event before each step and one after the last; the host never waits in between.
        events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
        events[0].record()
        for i in range(steps):
            step(i)
            events[i + 1].record()
        events[-1].synchronize()
        times = [a.elapsed_time(b) / 1e3 for a, b in zip(events[:-1], events[1:], strict=True)]
    else:
        times = []
        for i in range(steps):
            t = time.perf_counter()
            step(i)
            times.append(time.perf_counter() - t)
    median = statistics.median(times)
    tokens_per_s = batch * settings.sequence_len / median
    if profile_steps:
        print_kernel_shares(step, profile_steps, cuda)
    return {
        "seq": settings.sequence_len,
        "batch": batch,
        "params_m": raw.num_params() / 1e6,
        "flops_per_token": raw.flops_per_token(),
        "step_ms": median * 1e3,
        "spread_ms": (max(times) - min(times)) * 1e3,
        "tokens_per_s": tokens_per_s,
        "tflops": raw.flops_per_token() * tokens_per_s / 1e12,
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan"),
        "warmup_s": warm_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--preset", default="presets/gpt2-124m.yaml", help="'' for none")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="train.KEY=VALUE"
    )
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--seq", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--batch-tokens", type=int, default=65536, help="tokens per step")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile N steps: time by kernel kind"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the table's rows as JSON")
    args = parser.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.set_float32_matmul_precision("high")
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
        peak = measure_matmul_tflops(device)
        print(f"measured bf16 matmul peak (8192^3, random): {peak:.0f} TFLOP/s")
    else:
        peak = float("nan")
        print(f"device: cpu, torch {torch.__version__} (no MFU on CPU)")
    base = load_train_params(args.params, args.preset or None, args.overrides).train
    print(
        f"settings: depth {base.depth}, n_embd {base.n_embd or 64 * base.depth}, "
        f"softcap {base.logit_softcap:g}, bf16_residual {base.bf16_residual}, "
        f"fp8_head {base.fp8_head}, attention {base.attention}, optimizer {base.optimizer}, "
        f"compile_mode {base.compile_mode}"
    )
    rows = []
    for seq in args.seq:
        settings = replace(base, sequence_len=seq)
        with attention_preference(settings.attention):
            row = bench_one(
                settings,
                args.vocab,
                args.batch_tokens,
                args.steps,
                args.warmup,
                device,
                use_compile=cuda and base.compile and not args.no_compile,
                profile_steps=args.profile,
            )
        rows.append(row)
        print(
            f"  seq {seq}: {row['tokens_per_s']:,.0f} tokens/s (warm-up {row['warmup_s']:.0f} s)",
            flush=True,
        )
        del row
        if cuda:
            torch.cuda.empty_cache()

    header = (
        f"{'seq':>5} {'batch':>5} {'params':>7} {'step ms':>8} {'±ms':>5} {'tokens/s':>10} "
        f"{'TFLOP/s':>8} {'MFU meas':>8} {'MFU 989':>8} {'mem GiB':>8}"
    )
    print("\n" + header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['seq']:>5} {r['batch']:>5} {r['params_m']:>6.1f}M {r['step_ms']:>8.1f} "
            f"{r['spread_ms']:>5.1f} {r['tokens_per_s']:>10,.0f} {r['tflops']:>8.1f} "
            f"{r['tflops'] / peak:>8.1%} {r['tflops'] / DATASHEET_TFLOPS:>8.1%} "
            f"{r['peak_mem_gib']:>8.1f}"
        )
    if args.json:
        rows = [{k: None if v != v else v for k, v in r.items()} for r in rows]  # NaN: none
        summary = {
            "settings": asdict(base),
            "matmul_peak_tflops": peak if cuda else None,
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
