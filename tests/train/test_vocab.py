"""The model's vocabulary against the shards' ids and the tokenizer's size: one-line errors
before training starts, instead of an IndexError (a device assert on GPU) at the first bad batch."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from warc2gpt.config import ConfigError
from warc2gpt.tokenizer.shards import read_token_shard, write_token_shard
from warc2gpt.train.__main__ import main
from warc2gpt.train.loader import LoaderError, check_token_ids, find_shards
from warc2gpt.train.loop import resolve_vocab_size

VOCAB = 64  # the vocabulary of the token_dir fixture's shards and of tiny_settings


def test_shard_ids_past_the_vocabulary_name_the_shard(token_dir: Path) -> None:
    paths = find_shards(token_dir, "train") + find_shards(token_dir, "val")
    check_token_ids(paths, VOCAB)  # the fixture's ids are all below VOCAB
    top = int(read_token_shard(paths[0]).max())
    assert top == max(int(read_token_shard(p).max()) for p in paths)
    with pytest.raises(LoaderError) as info:
        check_token_ids(paths, top)
    message = str(info.value)
    assert message.startswith(f"{paths[0]}: token id {top} is outside the model's vocabulary of")
    assert "train.vocab_size" in message and "\n" not in message
    check_token_ids(paths, top + 1)


def test_a_wide_shard_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "train_000000.bin"
    write_token_shard(path, np.array([5, 70_000, 9]), 70_001)  # uint32 tokens
    with pytest.raises(LoaderError, match="token id 70000 is outside the model's vocabulary"):
        check_token_ids([path], 70_000)
    check_token_ids([path], 70_001)


def write_params(tmp_path: Path, settings) -> Path:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": asdict(settings), "tracking": {"enabled": False}}))
    return params


def test_training_on_ids_past_the_vocabulary_stops_with_one_line(
    tiny_settings, tmp_path: Path, capsys
) -> None:
    val = Path(tiny_settings.data) / "val_000000.bin"
    tokens = np.array(read_token_shard(val))
    tokens[-1] = VOCAB + 6  # an id from a larger tokenizer, in the last val window
    write_token_shard(val, tokens, VOCAB + 7)
    params = write_params(tmp_path, tiny_settings)
    assert main(["--params", str(params), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"warc2gpt train: {val}: token id {VOCAB + 6} is outside the model's vocabulary of "
        f"{VOCAB} (train.vocab_size, or the tokenizer's size when it is 0): tokenize with the "
        "tokenizer the model trains with, or raise train.vocab_size\n"
    )
    assert not Path(tiny_settings.output).exists()


def tokenizer_of(tmp_path: Path, size: int) -> Path:
    directory = tmp_path / "tokenizer"
    directory.mkdir()
    np.save(directory / "token_bytes.npy", np.ones(size, dtype=np.int32))
    return directory


def test_vocab_size_above_the_tokenizers_is_refused(tiny_settings, tmp_path: Path) -> None:
    directory = tokenizer_of(tmp_path, 300)
    at = replace(tiny_settings, tokenizer_dir=str(directory))
    assert resolve_vocab_size(replace(at, vocab_size=0)) == 300
    assert resolve_vocab_size(replace(at, vocab_size=300)) == 300
    assert resolve_vocab_size(replace(at, vocab_size=VOCAB)) == VOCAB  # the shards decide
    with pytest.raises(
        ConfigError, match="train.vocab_size 320 is larger than the tokenizer's 300"
    ):
        resolve_vocab_size(replace(at, vocab_size=320))
    # Without a tokenizer there is nothing to compare with.
    assert resolve_vocab_size(replace(at, tokenizer_dir=str(tmp_path / "none"), vocab_size=320))


def test_vocab_size_above_the_tokenizers_stops_the_command(
    tiny_settings, tmp_path: Path, capsys
) -> None:
    directory = tokenizer_of(tmp_path, VOCAB)
    settings = replace(tiny_settings, tokenizer_dir=str(directory), vocab_size=VOCAB + 64)
    assert main(["--params", str(write_params(tmp_path, settings)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("warc2gpt train: configuration error: ")
    assert f"train.vocab_size {VOCAB + 64} is larger than the tokenizer's {VOCAB}" in err
    assert err.count("\n") == 1
