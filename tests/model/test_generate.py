"""Sampling: greedy output is the same with and without the KV cache; settings behave."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from warc2gpt.cli import main as cli_main
from warc2gpt.model.generate import check_sampling, generate_text, generate_tokens, sample_next
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.model.store import save_model
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


BAD_SAMPLING = [
    ({"max_new_tokens": -1}, "max_new_tokens must be >= 1, got -1"),
    ({"max_new_tokens": 0}, "max_new_tokens must be >= 1, got 0"),
    ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
    (
        {"temperature": float("nan")},
        "temperature must be a finite number >= 0 (0 is greedy), got nan",
    ),
    ({"temperature": float("inf")}, "temperature must be a finite number >= 0"),
    ({"top_k": -1}, "top_k must be >= 0 (0 keeps every token), got -1"),
    ({"top_p": 0.0}, "top_p must be in (0, 1], got 0.0"),
    ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5"),
    ({"top_p": float("nan")}, "top_p must be in (0, 1], got nan"),
]
GOOD_SAMPLING = {"max_new_tokens": 5, "temperature": 0.8, "top_k": 50, "top_p": 0.95}


@pytest.mark.parametrize("bad, message", BAD_SAMPLING)
def test_sampling_settings_that_cannot_sample_are_refused(busy_model, bad, message) -> None:
    settings = {**GOOD_SAMPLING, **bad}
    with pytest.raises(ValueError) as info:
        check_sampling(**settings)
    assert str(info.value) == message or str(info.value).startswith(message)
    with pytest.raises(ValueError, match=next(iter(bad))):
        next(generate_tokens(busy_model, [1, 2, 3], **settings))
    check_sampling(**GOOD_SAMPLING)
    check_sampling(**{**GOOD_SAMPLING, "temperature": 0.0, "top_k": 0, "top_p": 1.0})


@pytest.fixture
def saved(busy_model, tokenizer, tmp_path: Path) -> list[str]:
    """`warc2gpt generate` arguments for the test model, saved as a model directory."""
    save_model(busy_model, tmp_path / "model")
    tokenizer.save(tmp_path / "tokenizer")
    (tmp_path / "params.yaml").write_text("tracking:\n  enabled: false\n")
    return [
        "generate",
        "--params",
        str(tmp_path / "params.yaml"),
        "--model",
        str(tmp_path / "model"),
        "--tokenizer",
        str(tmp_path / "tokenizer"),
        "--device",
        "cpu",
        "--no-stream",
    ]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
        (
            ["--temperature", "nan"],
            "--temperature must be a finite number >= 0 (0 is greedy), got nan",
        ),
        (
            ["--temperature", "-1"],
            "--temperature must be a finite number >= 0 (0 is greedy), got -1.0",
        ),
        (["--max-tokens", "-3"], "--max-tokens must be >= 1, got -3"),
        (["--top-k", "-2"], "--top-k must be >= 0 (0 keeps every token), got -2"),
    ],
)
def test_generate_command_names_the_option(saved, capsys, options, message) -> None:
    assert cli_main([*saved, "--prompt", "KING:", *options]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"warc2gpt generate: {message}\n"
    assert captured.out == ""


def test_generate_command_continues_a_long_prompt_from_its_end(
    saved, busy_model, tokenizer, capsys
) -> None:
    window = busy_model.config.sequence_len
    prompt = "ROMEO: But soft, what light through yonder window breaks? " * 6
    ids = tokenizer.encode(prompt)
    assert len(ids) > window
    options = ["--prompt", prompt, "--max-tokens", "8", "--temperature", "0"]
    assert cli_main([*saved, *options]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        f"warc2gpt generate: the prompt is {len(ids)} tokens and the model reads {window} "
        f"(its sequence_len): continuing from the prompt's last {window - 1} tokens"
    )
    tail = list(generate_tokens(busy_model, ids[-(window - 1) :], 8, temperature=0))
    whole = list(generate_tokens(busy_model, ids, 8, temperature=0))
    assert tail != whole  # the test tells the two apart
    assert captured.out == prompt + tokenizer.decode(tail) + "\n"
