"""Sampling: greedy output is the same with and without the KV cache; settings behave."""

from __future__ import annotations

import pytest
import torch

from warc2gpt.model.generate import generate_text, generate_tokens, sample_next
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.tokenizer.bpe import Tokenizer, train_bpe

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def tokenizer(shared_data) -> Tokenizer:
    """A real byte-level BPE, so multi-byte characters split across tokens as they do in use."""
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    return train_bpe([text[:200_000]], vocab_size=512)


@pytest.fixture(scope="module")
def busy_model(tokenizer) -> GPT:
    """An untrained GPT whose attention and MLPs all contribute (none starts at zero)."""
    torch.manual_seed(1)
    shape = dict(sequence_len=64, n_layer=2, n_head=2, n_kv_head=2, n_embd=64)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **shape)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3 if p.dim() > 1 else 1.0)
    return model


def test_greedy_is_identical_with_and_without_cache(busy_model, tokenizer) -> None:
    prompt = tokenizer.encode("ROMEO: But soft, what light")
    cached = list(generate_tokens(busy_model, prompt, 40, temperature=0, use_cache=True))
    plain = list(generate_tokens(busy_model, prompt, 40, temperature=0, use_cache=False))
    assert len(cached) == 40
    assert cached == plain
    assert len(set(cached)) > 3  # the test model really varies its output


def test_generation_runs_past_the_context_window(busy_model, tokenizer) -> None:
    prompt = tokenizer.encode("ROMEO: But soft")
    window = busy_model.config.sequence_len
    out = list(generate_tokens(busy_model, prompt, window + 20, temperature=0.9, seed=3))
    assert len(out) == window + 20


def test_seed_makes_sampling_repeatable(busy_model, tokenizer) -> None:
    kwargs = dict(max_new_tokens=30, temperature=1.0, top_k=0, top_p=1.0)
    a = generate_text(busy_model, tokenizer, "JULIET:", seed=7, **kwargs)
    b = generate_text(busy_model, tokenizer, "JULIET:", seed=7, **kwargs)
    c = generate_text(busy_model, tokenizer, "JULIET:", seed=8, **kwargs)
    assert a == b
    assert a != c


def test_streamed_pieces_add_up_to_the_text(busy_model, tokenizer) -> None:
    pieces: list[str] = []
    text = generate_text(
        busy_model,
        tokenizer,
        "Good morrow",
        max_new_tokens=25,
        temperature=1.0,
        seed=1,
        on_text=pieces.append,
    )
    assert len(pieces) > 1
    assert "".join(pieces) == text


def test_top_k_and_top_p_keep_only_the_likeliest() -> None:
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]]).repeat(500, 1)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, top_k=2, generator=gen).tolist()) == {0, 1}
    # softmax of these logits: 0.64, 0.24, 0.09, ...: top_p 0.8 keeps the first two.
    assert set(sample_next(logits, 1.0, top_p=0.8, generator=gen).tolist()) == {0, 1}
    assert set(sample_next(logits, 1.0, top_p=0.5, generator=gen).tolist()) == {0}
    assert len(set(sample_next(logits, 1.0, generator=gen).tolist())) == 5
    assert sample_next(logits, 0.0).unique().tolist() == [0]
