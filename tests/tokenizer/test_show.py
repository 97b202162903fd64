"""Token spans for display: whole characters, even where BPE split one across tokens."""

from __future__ import annotations

from warc2gpt.tokenizer.bpe import Tokenizer
from warc2gpt.tokenizer.show import render, token_spans


def test_spans_spell_the_text_and_keep_every_id(tokenizer: Tokenizer) -> None:
    text = "Ἐν ἀρχῇ ἦν ὁ λόγος — In the beginning 🌍\n"
    ids = tokenizer.encode(text)
    spans = token_spans(tokenizer, ids)
    assert "".join(s.text for s in spans) == text
    assert [i for s in spans for i in s.ids] == ids
    assert any(len(s.ids) > 1 for s in spans)  # the emoji needs several byte tokens
    assert "\ufffd" not in "".join(s.text for s in spans)


def test_ids_cut_inside_a_character(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("🌍")
    spans = token_spans(tokenizer, ids[:-1])
    assert [i for s in spans for i in s.ids] == ids[:-1]
    assert spans[-1].text.endswith("\ufffd")


def test_plain_rendering_lists_one_span_per_row(tokenizer: Tokenizer) -> None:
    text = "a\tb\n"
    ids = tokenizer.encode(text)
    rows = render(tokenizer, text, color=False).splitlines()
    assert len(rows) == len(token_spans(tokenizer, ids)) + 1
    assert rows[-1].startswith(f"{len(ids)} tokens, 4 bytes")
    coloured = render(tokenizer, text, color=True)
    assert "→" in coloured and "↵" in coloured  # tab and newline made visible
