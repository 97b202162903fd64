"""Token shards in llm.c's layout: a 256 x int32 header, then the tokens.

Header: magic 20240520, version (1: uint16 tokens, 2: uint32 tokens for vocabularies over
65,535), token count; the rest is zero. Shards are written atomically and read as a memmap.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MAGIC = 20240520
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
VERSION_DTYPES = {1: np.dtype(np.uint16), 2: np.dtype(np.uint32)}


class ShardError(ValueError):
    """A token shard that is not in the expected layout."""


def version_for_vocab(vocab_size: int) -> int:
    """Shard version (token width) for a vocabulary size."""
    return 1 if vocab_size <= 65536 else 2


def write_token_shard(path: str | Path, tokens: np.ndarray, vocab_size: int) -> int:
    """Write `tokens` to `path` atomically; returns the token count."""
    path = Path(path)
    version = version_for_vocab(vocab_size)
    dtype = VERSION_DTYPES[version]
    tokens = np.asarray(tokens)
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise ShardError(f"{path}: token id {int(tokens.max())} >= vocab size {vocab_size}")
    header = np.zeros(HEADER_INTS, dtype=np.int32)
    header[0], header[1], header[2] = MAGIC, version, tokens.size
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header.tobytes())
            fh.write(tokens.astype(dtype, copy=False).tobytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return int(tokens.size)


def read_shard_header(path: str | Path) -> tuple[int, int]:
    """Validate a shard's header; returns (version, token count)."""
    path = Path(path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(f"{path}: {size} bytes, shorter than the {HEADER_BYTES}-byte header")
    header = np.fromfile(path, dtype=np.int32, count=HEADER_INTS)
    if int(header[0]) != MAGIC:
        raise ShardError(f"{path}: magic {int(header[0])}, expected {MAGIC} (not a token shard)")
    version = int(header[1])
    if version not in VERSION_DTYPES:
        raise ShardError(f"{path}: unsupported shard version {version}, expected 1 or 2")
    count = int(header[2])
    expected = HEADER_BYTES + count * VERSION_DTYPES[version].itemsize
    if size != expected:
        raise ShardError(
            f"{path}: {size} bytes but the header promises {count} tokens ({expected} bytes); "
            "the shard is truncated or corrupt, rebuild it with the tokenize stage"
        )
    return version, count


def read_token_shard(path: str | Path) -> np.memmap:
    """Memory-map a shard's tokens after validating its header."""
    version, count = read_shard_header(path)
    return np.memmap(
        path, dtype=VERSION_DTYPES[version], mode="r", offset=HEADER_BYTES, shape=(count,)
    )
