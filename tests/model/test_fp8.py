"""The FP8 head product: close to the float32 product forward and backward, clear on bad shapes."""

from __future__ import annotations

import pytest
import torch

from warc2gpt.model.fp8 import fp8_linear, fp8_supported


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def test_product_and_gradients_match_float32_within_fp8_precision():
    torch.manual_seed(0)
    x = torch.randn(3, 40, 128, requires_grad=True)
    w = (torch.randn(320, 128) * 0.02).requires_grad_()
    ref = x @ w.t()
    out = fp8_linear(x, w)
    assert out.shape == ref.shape and out.dtype == torch.bfloat16
    # e4m3 keeps 3 mantissa bits: a few percent of error, far from a wrong product.
    assert rel_err(out, ref) < 0.08
    grad = torch.randn_like(ref)
    ref_gx, ref_gw = torch.autograd.grad(ref, (x, w), grad)
    gx, gw = torch.autograd.grad(out.float(), (x, w), grad)
    assert gx.dtype == x.dtype and gw.dtype == w.dtype
    assert rel_err(gx, ref_gx) < 0.12
    assert rel_err(gw, ref_gw) < 0.12
    # A transposed or mis-scaled operand would be uncorrelated or off by orders of magnitude.
    cos = torch.nn.functional.cosine_similarity(gw.flatten(), ref_gw.flatten(), dim=0)
    assert cos > 0.99


def test_scales_follow_each_tensor_so_tiny_and_huge_values_survive():
    torch.manual_seed(1)
    x = torch.randn(16, 64)
    w = torch.randn(32, 64)
    for factor in (1e-6, 1e4):  # both far outside e4m3's unscaled range (~2e-3 .. 448)
        out = fp8_linear(x * factor, w)
        assert rel_err(out, (x * factor) @ w.t()) < 0.08


def test_zero_input_gives_zero_not_nan():
    out = fp8_linear(torch.zeros(16, 32), torch.randn(16, 32))
    assert torch.equal(out, torch.zeros_like(out))


def test_shapes_off_the_fp8_tile_fail_clearly():
    with pytest.raises(ValueError, match="divisible by 16"):
        fp8_linear(torch.randn(4, 24), torch.randn(32, 24))


def test_fp8_support_is_reported_per_device():
    assert fp8_supported(torch.device("cpu")) == (True, "")
    ok, why = fp8_supported(torch.device("mps"))
    assert not ok and "mps" in why
