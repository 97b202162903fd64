"""An FP8 matrix product for the output head: `fp8_linear(x, weight)` ≈ `x @ weight.T`.

The head of a GPT-2-sized model is a third of its matmul FLOPs (768 × 50,304 of ~124M
non-embedding parameters), and FP8 tensor cores (compute capability 8.9+: H100, H200, L4) run
twice as many FLOP/s as bf16 ones. Inputs and weights are cast to float8_e4m3 (3 mantissa bits),
the incoming gradient to float8_e5m2 (wider range, 2 mantissa bits), each with one scale per
tensor taken from its largest magnitude, so the largest value lands at the top of the format.
The weight stays a float32 parameter; only its copy for the product is FP8.

`torch._scaled_mm` wants its first operand row-major and its second column-major, so the
backward pass lays out transposed copies where the product needs them.
"""

from __future__ import annotations

import torch

E4M3 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2


def _to_fp8(t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """`t` in `dtype` scaled to its range, and the float32 scale that undoes it."""
    amax = t.detach().abs().amax().float().clamp(min=1e-12)
    scale = amax / torch.finfo(dtype).max
    return (t / scale).to(dtype), scale


def _column_major(t: torch.Tensor) -> torch.Tensor:
    """The same matrix, stored column by column."""
    return t.t().contiguous().t()


class _FP8Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        x8, x_scale = _to_fp8(x, E4M3)
        w8, w_scale = _to_fp8(weight, E4M3)
        out = torch._scaled_mm(
            x8,
            w8.t(),
            scale_a=x_scale,
            scale_b=w_scale,
            out_dtype=torch.bfloat16,
            use_fast_accum=True,
        )
        ctx.save_for_backward(x8, x_scale, w8, w_scale)
        ctx.x_dtype, ctx.w_dtype = x.dtype, weight.dtype
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x8, x_scale, w8, w_scale = ctx.saved_tensors
        g8, g_scale = _to_fp8(grad, E5M2)
        # (M, N) @ (N, K) -> gradient of the input.
        grad_x = torch._scaled_mm(
            g8, _column_major(w8), scale_a=g_scale, scale_b=w_scale, out_dtype=torch.bfloat16
        )
        # (N, M) @ (M, K) -> gradient of the weight, accumulated in float32.
        grad_w = torch._scaled_mm(
            g8.t().contiguous(),
            _column_major(x8),
            scale_a=g_scale,
            scale_b=x_scale,
            out_dtype=torch.float32,
        )
        return grad_x.to(ctx.x_dtype), grad_w.to(ctx.w_dtype)


def fp8_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`x @ weight.T` through FP8 products, in bf16; `x` (..., K), `weight` (N, K).

    K and N must be multiples of 16 (the FP8 kernels' tile).
    """
    n, k = weight.shape
    if k % 16 or n % 16:
        raise ValueError(f"fp8_linear needs both weight dimensions divisible by 16, got {n}×{k}")
    lead = x.shape[:-1]
    out = _FP8Linear.apply(x.reshape(-1, k), weight)
    return out.view(*lead, n)


def fp8_supported(device: torch.device) -> tuple[bool, str]:
    """Whether FP8 products run on `device`, and if not, why."""
    if device.type == "cpu":
        return True, ""
    if device.type != "cuda":
        return False, f"FP8 products are not available on {device.type}"
    major, minor = torch.cuda.get_device_capability(device)
    if (major, minor) < (8, 9):
        name = torch.cuda.get_device_name(device)
        return False, f"{name} has compute capability {major}.{minor}; FP8 needs 8.9 or newer"
    return True, ""
