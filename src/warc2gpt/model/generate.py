"""The GPT's inference: sampling text with temperature, top-k, top-p, a seed, streaming, and a
KV cache. Evaluation samples, `warc2gpt generate` and the served model all go through here.

With the cache the prompt is fed once and every new token costs one position; without it the
whole window is recomputed at each step (kept as the reference the cache must match).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch


def attention_backends(device: torch.device) -> contextlib.AbstractContextManager:
    """SDPA kernels for inputs whose length changes call by call (decoding, task scoring).

    cuDNN's attention builds a plan for every new shape (~40 ms on an H200), and decoding makes
    a new shape each step; flash and memory-efficient attention have no such cost.
    """
    if device.type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(
        [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    )


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Next token ids (B,) from last-position logits (B, V).

    temperature 0 is greedy; top_k > 0 keeps the k likeliest tokens; top_p < 1 keeps the
    smallest set whose probability reaches p (always at least the likeliest token).
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k > 0 and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach p.
        drop = cumulative - sorted_logits.softmax(dim=-1) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def check_sampling(
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    names: Mapping[str, str] | None = None,
) -> None:
    """Raise ValueError, naming the argument (or `names[argument]`), for a setting that cannot
    sample: fewer than one new token, a negative or non-finite temperature, a negative top_k,
    or a top_p outside (0, 1] (0 would keep no token at all)."""
    names = names or {}
    rules = (
        ("max_new_tokens", max_new_tokens, max_new_tokens >= 1, "must be >= 1"),
        (
            "temperature",
            temperature,
            math.isfinite(temperature) and temperature >= 0,
            "must be a finite number >= 0 (0 is greedy)",
        ),
        ("top_k", top_k, top_k >= 0, "must be >= 0 (0 keeps every token)"),
        ("top_p", top_p, 0 < top_p <= 1, "must be in (0, 1]"),
    )
    for key, value, ok, rule in rules:
        if not ok:
            raise ValueError(f"{names.get(key, key)} {rule}, got {value!r}")


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate_tokens(
    model: torch.nn.Module,
    prompt: Sequence[int],
    max_new_tokens: int,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 1.0,
    seed: int | None = None,
    use_cache: bool = True,
    stop_ids: Sequence[int] = (),
) -> Iterator[int]:
    """Yield up to `max_new_tokens` new token ids after `prompt`, one at a time.

    When the context window fills, the cached path re-reads the last half window and goes on
    (the uncached path slides by one token), so past the window the two may differ.
    """
    if not prompt:
        raise ValueError("the prompt encodes to no tokens; give a non-empty prompt")
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    device = _device_of(model)
    window = model.config.sequence_len
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
    tokens = list(prompt)
    stop = set(stop_ids)
    cache = None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for _ in range(max_new_tokens):
        with autocast, attention_backends(device):
            if not use_cache:
                idx = torch.tensor([tokens[-window:]], dtype=torch.long, device=device)
                logits = model(idx)[:, -1]
            elif cache is None or len(cache) >= window:
                cache = model.new_kv_cache(1, window)
                keep = tokens[-max(1, window // 2) :] if len(tokens) >= window else tokens
                idx = torch.tensor([keep], dtype=torch.long, device=device)
                logits = model(idx, kv_cache=cache)[:, -1]
            else:
                idx = torch.tensor([[tokens[-1]]], dtype=torch.long, device=device)
                logits = model(idx, kv_cache=cache)[:, -1]
        token = int(sample_next(logits, temperature, top_k, top_p, generator)[0])
        tokens.append(token)
        yield token
        if token in stop:
            return


class TextStream:
    """Turns a stream of token ids into text pieces, holding back split UTF-8 characters."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.emitted = 0

    def push(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):  # a multi-byte character still incomplete
            return ""
        piece, self.emitted = text[self.emitted :], len(text)
        return piece

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids)
        piece, self.emitted = text[self.emitted :], len(text)
        return piece


def generate_text(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt: str,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_k: int = 50,
    top_p: float = 1.0,
    seed: int | None = None,
    use_cache: bool = True,
    on_text: Callable[[str], None] | None = None,
) -> str:
    """The continuation of `prompt` (without the prompt); `on_text` receives it piece by piece.

    Generation stops early at the end-of-text token, which is not part of the returned text.
    """
    eot = getattr(tokenizer, "eot_id", None)
    stream = TextStream(tokenizer)
    for token in generate_tokens(
        model,
        tokenizer.encode(prompt),
        max_new_tokens,
        temperature,
        top_k,
        top_p,
        seed,
        use_cache,
        stop_ids=() if eot is None else (eot,),
    ):
        if token == eot:
            break
        piece = stream.push(token)
        if piece and on_text is not None:
            on_text(piece)
    rest = stream.flush()
    if rest and on_text is not None:
        on_text(rest)
    return tokenizer.decode(stream.ids)
