"""HellaSwag and LAMBADA: both file formats, and an untrained model scoring at chance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warc2gpt.evaluate.tasks import (
    TaskFileError,
    evaluate_hellaswag,
    evaluate_lambada,
    load_hellaswag,
    load_lambada,
    score_continuations,
)

pytestmark = pytest.mark.shared_data

# HellaSwag's first validation item as the original jsonl writes it.
FIRST_ITEM_JSON = {
    "ind": 24,
    "activity_label": "Roof shingle removal",
    "ctx_a": "A man is sitting on a roof.",
    "ctx_b": "he",
    "ctx": "A man is sitting on a roof. he",
    "split": "val",
    "split_type": "indomain",
    "label": 3,
    "endings": [
        "is using wrap to wrap a pair of skis.",
        "is ripping level tiles off.",
        "is holding a rubik's cube.",
        "starts pulling up roofing on a roof.",
    ],
    "source_id": "activitynet~v_-JhWjGDPHMY",
}


@pytest.fixture(scope="module")
def hellaswag_file(shared_data: Path) -> Path:
    return shared_data / "eval" / "hellaswag_val_full.txt.bz2"


def test_hellaswag_text_format_reads_every_item(hellaswag_file: Path) -> None:
    items = load_hellaswag(hellaswag_file)
    assert len(items) == 10042
    assert items[0].context == "Roof shingle removal: A man is sitting on a roof. he"
    assert items[0].label == 3 and len(items[0].endings) == 4
    assert {it.label for it in items} == {0, 1, 2, 3}


def test_hellaswag_jsonl_matches_text_format(tmp_path: Path, hellaswag_file: Path) -> None:
    path = tmp_path / "hellaswag_val.jsonl"
    path.write_text(json.dumps(FIRST_ITEM_JSON) + "\n")
    assert load_hellaswag(path) == load_hellaswag(hellaswag_file, limit=1)


def test_hellaswag_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("ctx\n7\na\nb\nc\nd\n")
    with pytest.raises(TaskFileError, match=r"bad.txt:2: label 7"):
        load_hellaswag(bad)
    short = tmp_path / "short.txt"
    short.write_text("ctx\n1\na\n")
    with pytest.raises(TaskFileError, match="not a multiple of 6"):
        load_hellaswag(short)
    unlabelled = tmp_path / "test.jsonl"
    unlabelled.write_text(json.dumps({**FIRST_ITEM_JSON, "label": ""}) + "\n")
    with pytest.raises(TaskFileError, match="test.jsonl:1: no label"):
        load_hellaswag(unlabelled)


def test_lambada_splits_off_the_last_word(shared_data: Path) -> None:
    items = load_lambada(shared_data / "eval" / "lambada_test.jsonl")
    assert len(items) == 5153
    assert items[0].target == " signs"
    assert items[0].context.endswith("I don't care about")


def test_untrained_model_is_at_chance_on_hellaswag(model, tokenizer, hellaswag_file) -> None:
    items = load_hellaswag(hellaswag_file, limit=400)
    result = evaluate_hellaswag(model, tokenizer, items, max_len=model.config.sequence_len)
    assert result["items"] == 400
    # 400 items: a binomial(400, 0.25) accuracy is within +-0.065 of 0.25 at ~3 sigma.
    assert 0.185 <= result["acc"] <= 0.315
    assert 0.185 <= result["acc_norm"] <= 0.315


def test_untrained_model_scores_lambada(model, tokenizer, shared_data: Path) -> None:
    items = load_lambada(shared_data / "eval" / "lambada_test.jsonl", limit=40)
    result = evaluate_lambada(model, tokenizer, items, max_len=model.config.sequence_len)
    assert result["items"] == 40
    assert result["acc"] < 0.1
    # A near-uniform model's perplexity is about vocab_size ** (tokens per target word).
    assert result["ppl"] > tokenizer.vocab_size


def test_scores_do_not_depend_on_batch_padding(model, tokenizer) -> None:
    ctx = tokenizer.encode("Where the bee sucks, there suck")
    short, long_ = tokenizer.encode(" I"), tokenizer.encode(" I in a cowslip's bell I lie")
    alone = score_continuations(model, [(ctx, short)], max_len=256)[0]
    padded = score_continuations(model, [(ctx, short), (ctx, long_)], max_len=256)[0]
    assert alone.tokens == padded.tokens == len(short)
    assert alone.nll == pytest.approx(padded.nll, rel=1e-5)


def test_long_context_is_cut_from_the_left(model, tokenizer) -> None:
    ctx = tokenizer.encode("To be, or not to be, that is the question. " * 40)
    cont = tokenizer.encode(" Whether")
    (score,) = score_continuations(model, [(ctx, cont)], max_len=model.config.sequence_len)
    assert score.tokens == len(cont) and score.nll > 0


def test_hellaswag_batching_does_not_change_scores(model, tokenizer, hellaswag_file) -> None:
    items = load_hellaswag(hellaswag_file, limit=24)
    one = evaluate_hellaswag(model, tokenizer, items, max_len=256, batch_size=1)
    many = evaluate_hellaswag(model, tokenizer, items, max_len=256, batch_size=7)
    assert one == many
