"""Generation speed with and without the KV cache: tokens/s at N new tokens, greedy outputs compared.

    python benchmarks/generate_kv_cache.py [--new-tokens 512] [--depth 4] [--n-embd 256]
        [--model artifacts/model] [--device auto]

Without `--model` an untrained GPT of the given shape is timed (speed does not depend on the
weights). Greedy decoding makes both runs deterministic, so their outputs must match.
"""

from __future__ import annotations

import argparse
import time

import torch

from warc2gpt.model.device import resolve_device
from warc2gpt.model.generate import generate_tokens
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.model.store import load_model


def build_model(args: argparse.Namespace, device: torch.device) -> GPT:
    if args.model:
        return load_model(args.model, device)
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=args.vocab_size,
        sequence_len=args.prompt_tokens + args.new_tokens,
        n_layer=args.depth,
        n_head=max(1, args.n_embd // 64),
        n_kv_head=max(1, args.n_embd // 64),
        n_embd=args.n_embd,
    )
    model = GPT(config)
    with torch.no_grad():  # untrained blocks start as the identity; give them some work to show
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    return model.to(device).eval()


def timed(model: GPT, prompt: list[int], n: int, use_cache: bool) -> tuple[list[int], float]:
    device = next(model.parameters()).device
    list(generate_tokens(model, prompt, 4, temperature=0, use_cache=use_cache))  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = list(generate_tokens(model, prompt, n, temperature=0, use_cache=use_cache))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--model", help="an exported model directory instead of a random one")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = resolve_device(args.device)
    model = build_model(args, device)
    window = model.config.sequence_len
    n = min(args.new_tokens, window - args.prompt_tokens)
    prompt = torch.randint(0, model.config.vocab_size, (args.prompt_tokens,)).tolist()
    cached, t_cached = timed(model, prompt, n, use_cache=True)
    plain, t_plain = timed(model, prompt, n, use_cache=False)

    print(
        f"device {device}, {model.num_params() / 1e6:.1f}M params, layers "
        f"{model.config.n_layer}, width {model.config.n_embd}, prompt {len(prompt)} tokens"
    )
    print(f"{'mode':<10} {'new tokens':>10} {'seconds':>8} {'tokens/s':>9} {'speed-up':>8}")
    for mode, seconds in (("kv cache", t_cached), ("no cache", t_plain)):
        print(f"{mode:<10} {n:>10} {seconds:>8.2f} {n / seconds:>9.1f} {t_plain / seconds:>7.1f}x")
    agree = [a == b for a, b in zip(cached, plain, strict=True)]
    same = sum(agree)
    first_diff = agree.index(False) if not all(agree) else None
    print(
        f"greedy outputs identical: {cached == plain} ({same}/{n} positions agree"
        + (f", first difference at {first_diff})" if first_diff is not None else ")")
    )


if __name__ == "__main__":
    main()
