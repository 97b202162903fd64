"""Token shards in llm.c's layout: header, token widths, and clear failures on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from warc2gpt.tokenizer.shards import (
    HEADER_BYTES,
    MAGIC,
    ShardError,
    read_shard_header,
    read_token_shard,
    version_for_vocab,
    write_token_shard,
)


def test_uint16_shard_round_trip_and_header(tmp_path: Path) -> None:
    tokens = np.array([0, 1, 4095, 65535, 7], dtype=np.int64)
    path = tmp_path / "train_000000.bin"
    assert write_token_shard(path, tokens, vocab_size=65536) == 5
    header = np.fromfile(path, dtype=np.int32, count=256)
    assert header[:3].tolist() == [MAGIC, 1, 5] and not header[3:].any()
    assert path.stat().st_size == HEADER_BYTES + 5 * 2
    shard = read_token_shard(path)
    assert shard.dtype == np.uint16 and shard.tolist() == tokens.tolist()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_large_vocabulary_switches_to_uint32(tmp_path: Path) -> None:
    assert version_for_vocab(65536) == 1 and version_for_vocab(65537) == 2
    tokens = np.array([70_000, 3, 100_255], dtype=np.uint32)
    path = tmp_path / "val_000000.bin"
    write_token_shard(path, tokens, vocab_size=100_277)
    assert read_shard_header(path) == (2, 3)
    shard = read_token_shard(path)
    assert shard.dtype == np.uint32 and shard.tolist() == tokens.tolist()


def test_empty_shard_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    write_token_shard(path, np.array([], dtype=np.uint32), vocab_size=4096)
    assert read_token_shard(path).size == 0


def test_rejects_ids_outside_the_vocabulary(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="token id 4096 >= vocab size 4096"):
        write_token_shard(tmp_path / "x.bin", np.array([1, 4096]), vocab_size=4096)
    assert not any(tmp_path.iterdir())


def _valid_shard(tmp_path: Path) -> Path:
    path = tmp_path / "train_000000.bin"
    write_token_shard(path, np.arange(100), vocab_size=4096)
    return path


def test_wrong_magic_fails_clearly(tmp_path: Path) -> None:
    path = _valid_shard(tmp_path)
    data = bytearray(path.read_bytes())
    data[0:4] = np.int32(20240801).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=r"train_000000.bin: magic 20240801, expected 20240520"):
        read_token_shard(path)


def test_unknown_version_fails_clearly(tmp_path: Path) -> None:
    path = _valid_shard(tmp_path)
    data = bytearray(path.read_bytes())
    data[4:8] = np.int32(7).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(ShardError, match="unsupported shard version 7"):
        read_token_shard(path)


def test_truncated_shard_fails_clearly(tmp_path: Path) -> None:
    path = _valid_shard(tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ShardError, match="promises 100 tokens.*truncated"):
        read_token_shard(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ShardError, match="shorter than the 1024-byte header"):
        read_token_shard(path)
