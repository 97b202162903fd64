"""The GPT: shapes, loss, FLOP count, and the KV cache matching full-sequence logits."""

from __future__ import annotations

import math

import pytest
import torch

from warc2gpt.model.gpt import GPT, GPTConfig


def tiny(**overrides) -> GPTConfig:
    base = dict(vocab_size=101, sequence_len=32, n_layer=2, n_head=4, n_kv_head=4, n_embd=32)
    base.update(overrides)
    return GPTConfig(**base)


def randomized(config: GPTConfig, seed: int = 0) -> GPT:
    """A model with all weights random (the zero-initialized projections would hide bugs)."""
    torch.manual_seed(seed)
    model = GPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def test_logits_shape_and_initial_loss_near_uniform():
    config = tiny()
    torch.manual_seed(0)
    model = GPT(config)
    idx = torch.randint(0, config.vocab_size, (3, 16))
    logits = model(idx)
    assert logits.shape == (3, 16, config.vocab_size)
    loss = model(idx, targets=idx)
    # Fresh weights give near-uniform predictions over the padded vocabulary.
    assert abs(loss.item() - math.log(config.padded_vocab_size)) < 0.1


def test_ignored_targets_do_not_count():
    config = tiny()
    model = randomized(config)
    idx = torch.randint(0, config.vocab_size, (2, 8))
    targets = torch.randint(0, config.vocab_size, (2, 8))
    masked = targets.clone()
    masked[:, 4:] = -1
    # Causal: the first 4 positions' logits do not depend on the rest of the window.
    expected = model(idx[:, :4], targets=targets[:, :4])
    assert torch.allclose(model(idx, targets=masked), expected, atol=1e-5)
    assert not torch.allclose(model(idx, targets=targets), expected, atol=1e-3)


def test_causal_future_tokens_do_not_change_past_logits():
    config = tiny()
    model = randomized(config)
    idx = torch.randint(0, config.vocab_size, (2, 12))
    changed = idx.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % config.vocab_size
    assert torch.allclose(model(idx)[:, :8], model(changed)[:, :8], atol=1e-5)
    assert not torch.allclose(model(idx)[:, 8:], model(changed)[:, 8:], atol=1e-3)


@pytest.mark.parametrize("n_kv_head", [4, 2])
def test_kv_cache_matches_uncached_logits(n_kv_head):
    config = tiny(n_kv_head=n_kv_head)
    model = randomized(config, seed=1)
    idx = torch.randint(0, config.vocab_size, (2, 20))
    with torch.no_grad():
        full = model(idx)
        cache = model.new_kv_cache(batch_size=2)
        # prefill 7 tokens, then a chunk of 5, then one token at a time
        parts = [model(idx[:, :7], kv_cache=cache), model(idx[:, 7:12], kv_cache=cache)]
        parts += [model(idx[:, t : t + 1], kv_cache=cache) for t in range(12, 20)]
    cached = torch.cat(parts, dim=1)
    assert len(cache) == 20
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=1e-4)


def test_context_overflow_is_a_clear_error():
    config = tiny()
    model = randomized(config)
    cache = model.new_kv_cache(batch_size=1)
    model(torch.zeros(1, 30, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="exceed the model's context of 32"):
        model(torch.zeros(1, 3, dtype=torch.long), kv_cache=cache)


def test_flops_per_token_counts_nanogpt_formula():
    config = tiny()
    model = GPT(config)
    n = sum(p.numel() for p in model.parameters()) - model.wte.weight.numel()
    assert model.flops_per_token() == 6 * n + 12 * 2 * 4 * 8 * 32


def test_gpt2_small_parameter_count():
    # 12 layers, 768 wide, untied 50304-row head: 85.0M in blocks + 2 x 38.6M embeddings.
    model = GPT(GPTConfig(vocab_size=50257, sequence_len=64))
    assert model.num_params() == 12 * 12 * 768 * 768 + 2 * 50304 * 768


def test_bad_shapes_fail_clearly():
    with pytest.raises(ValueError, match="not divisible by n_head"):
        tiny(n_embd=30)
    with pytest.raises(ValueError, match="multiple of n_kv_head"):
        tiny(n_kv_head=3)


def test_bf16_residual_stream_under_autocast():
    config = tiny()
    model = randomized(config, seed=2)
    idx = torch.randint(0, config.vocab_size, (2, 16))
    seen = []
    model.blocks[1].register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        wide = model(idx, targets=idx)
        model.residual_dtype = torch.bfloat16
        narrow = model(idx, targets=idx)
    assert seen == [torch.float32, torch.bfloat16]
    assert model.wte.weight.dtype == torch.float32  # the weights are not touched
    assert narrow.item() == pytest.approx(wide.item(), rel=0.02)
    narrow.backward()
    assert model.wte.weight.grad is not None and model.wte.weight.grad.abs().sum() > 0


def test_fp8_head_is_close_to_the_plain_head():
    config = tiny(n_embd=32)
    model = randomized(config, seed=3)
    idx = torch.randint(0, config.vocab_size, (2, 16))
    plain = model(idx, targets=idx)
    model.fp8_head = True
    fp8 = model(idx, targets=idx)
    assert fp8.item() == pytest.approx(plain.item(), rel=0.05)
    assert model(idx).shape == (2, 16, config.vocab_size)


def test_training_forward_compiles_as_one_graph():
    # A graph break would split the compiled step on GPU; fullgraph=True makes it an error.
    config = tiny(logit_softcap=0.0)
    model = randomized(config, seed=4).train()
    model.residual_dtype, model.fp8_head = torch.bfloat16, True
    compiled = torch.compile(model, fullgraph=True)
    idx = torch.randint(0, config.vocab_size, (2, 32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = compiled(idx, targets=idx)
    loss.backward()
    grad = model.lm_head.weight.grad.clone()
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        eager = model(idx, targets=idx)
    eager.backward()
    assert loss.item() == pytest.approx(eager.item(), rel=0.01)
    ref = model.lm_head.weight.grad
    assert ((grad - ref).norm() / ref.norm()).item() < 0.1


OPTIMIZER_SETTINGS = dict(lr=0.01, muon_lr=0.02, weight_decay=0.1, betas=(0.9, 0.95), fused=False)


def test_adamw_optimizes_every_parameter_at_lr():
    model = GPT(tiny())
    [adam] = model.setup_optimizers("adamw", **OPTIMIZER_SETTINGS)
    [group] = adam.param_groups
    assert [id(p) for p in group["params"]] == [id(p) for p in model.parameters()]
    assert group["base_lr"] == group["lr"] == 0.01
    assert group["weight_decay"] == 0.1 and group["betas"] == (0.9, 0.95)


def test_muon_takes_the_block_matrices_and_adamw_the_embedding_and_head():
    model = GPT(tiny())
    adam, muon = model.setup_optimizers("muon", **OPTIMIZER_SETTINGS)
    assert isinstance(muon, torch.optim.Muon) and isinstance(adam, torch.optim.AdamW)
    [adam_group], [muon_group] = adam.param_groups, muon.param_groups
    assert adam_group["params"] == [model.wte.weight, model.lm_head.weight]
    assert adam_group["base_lr"] == 0.01 and muon_group["base_lr"] == muon_group["lr"] == 0.02
    assert [id(p) for p in muon_group["params"]] == [id(p) for p in model.blocks.parameters()]
    assert all(p.ndim == 2 for p in muon_group["params"])


def test_a_parameter_outside_the_groups_is_refused():
    model = GPT(tiny())
    model.gate = torch.nn.Parameter(torch.ones(4))
    with pytest.raises(AssertionError, match="a parameter is in no group"):
        model.setup_optimizers("muon", **OPTIMIZER_SETTINGS)
