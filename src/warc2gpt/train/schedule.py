"""Learning-rate schedules: linear warmup, then cosine or warmup-stable-decay (WSD)."""

from __future__ import annotations

import math


def lr_factor(
    step: int,
    total_steps: int,
    warmup_steps: int,
    kind: str = "cosine",
    decay_frac: float = 0.2,
    min_ratio: float = 0.0,
) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `total_steps`.

    cosine: warmup, then a half cosine from 1 down to `min_ratio` at the last step.
    wsd: warmup, flat at 1, then a linear decay to `min_ratio` over the last `decay_frac`.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "cosine":
        span = max(1, total_steps - 1 - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if kind == "wsd":
        decay_steps = max(1, round(decay_frac * total_steps))
        decay_start = total_steps - decay_steps
        if step < decay_start:
            return 1.0
        progress = min(1.0, (step - decay_start + 1) / decay_steps)
        return 1 - (1 - min_ratio) * progress
    raise ValueError(f"unknown learning-rate schedule {kind!r}: expected cosine or wsd")
