"""The tokenizer stage: train the byte-level BPE on the corpus's text and save it.

The tokenizer folder is written beside the previous one and swapped in whole, so a failed or
killed run leaves the previous tokenizer's files together and usable. With `tokenizer.frozen`
a tokenizer already there is kept byte for byte, whatever the corpus now holds: token ids keep
their meaning from one increment to the next.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from warc2gpt.atomic import StagedDirectory
from warc2gpt.config import Params, TokenizerSettings
from warc2gpt.documents import iter_texts
from warc2gpt.mapper import Mapper
from warc2gpt.tokenizer.bpe import (
    TOKEN_BYTES_FILE,
    TOKENIZER_FILE,
    Tokenizer,
    TokenizerError,
    train_bpe,
)
from warc2gpt.tracking import write_metrics

# Failures the command reports as one line, not a traceback.
USER_ERRORS = (TokenizerError,)
TOKENIZER_FILES = (TOKENIZER_FILE, TOKEN_BYTES_FILE)


def resolve_corpus(patterns: Iterable[str]) -> list[Path]:
    """The files of the first glob that matches any (dedup output before curated output)."""
    patterns = list(patterns)
    for pattern in patterns:
        files = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
        if files:
            return files
    raise TokenizerError(
        f"no Parquet shards match {', '.join(patterns) or '(no globs)'}: run the curate (and "
        "dedup) stage first, or point tokenizer.input at Parquet document shards"
    )


class _Counted:
    """Texts passing through, counted (the trainer consumes the stream exactly once)."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts, self.documents, self.chars = texts, 0, 0

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            self.documents += 1
            self.chars += len(text)
            yield text


def train_tokenizer(
    settings: TokenizerSettings,
    inputs: list[Path] | None = None,
) -> tuple[Tokenizer, dict[str, Any]]:
    """Train on the corpus streamed from Parquet, save to `settings.output`; returns metrics.

    Only `tokenizer.json` and `token_bytes.npy` in that folder are the stage's; other files
    there are kept.
    """
    inputs = inputs if inputs is not None else resolve_corpus(settings.input)
    started = time.perf_counter()
    texts = _Counted(iter_texts(inputs))
    tokenizer = train_bpe(
        texts,
        vocab_size=settings.vocab_size,
        min_frequency=settings.min_frequency,
        special_tokens=settings.special_tokens,
        split_pattern=settings.split_pattern,
        max_chars=settings.max_chars,
    )
    seconds = time.perf_counter() - started
    if texts.documents == 0:
        raise TokenizerError(f"the corpus {', '.join(map(str, inputs))} holds no documents")
    with StagedDirectory(settings.output, TOKENIZER_FILES.__contains__) as staged:
        tokenizer.save(staged.path)
        staged.commit()
    metrics = {
        "inputs": len(inputs),
        "documents": texts.documents,
        # With max_chars the last document read was cut short.
        "characters": min(texts.chars, settings.max_chars) if settings.max_chars else texts.chars,
        "vocab_size": tokenizer.vocab_size,
        "requested_vocab_size": settings.vocab_size,
        "merges": tokenizer.merges,
        "eot_id": tokenizer.eot_id,
        "frozen": False,
        "seconds": round(seconds, 3),
    }
    return tokenizer, metrics


def keep_frozen(settings: TokenizerSettings) -> dict[str, Any] | None:
    """The metrics of the tokenizer kept as it is in `settings.output`, when the settings
    freeze it and one is there; None when a tokenizer is to be trained."""
    output = Path(settings.output)
    if not settings.frozen or not (output / TOKENIZER_FILE).is_file():
        return None
    missing = [name for name in TOKENIZER_FILES if not (output / name).is_file()]
    if missing:
        raise TokenizerError(
            f"{output} lacks {', '.join(missing)}: restore the folder (`dvc checkout "
            f"{output}`), or delete it to train a new vocabulary (a new model line)"
        )
    tokenizer = Tokenizer.load(output)
    return {
        "frozen": True,
        "output": str(output),
        "vocab_size": tokenizer.vocab_size,
        "requested_vocab_size": settings.vocab_size,
        "merges": tokenizer.merges,
        "eot_id": tokenizer.eot_id,
    }


def run(params: Params, mapper: Mapper) -> dict[str, Any]:
    """The tokenizer stage: train on the corpus (one call: the trainer uses every core itself),
    or keep the frozen tokenizer."""
    metrics = keep_frozen(params.tokenizer)
    if metrics is None:
        _, metrics = train_tokenizer(params.tokenizer)
    write_metrics(params.tokenizer.metrics, metrics)
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    if metrics.get("frozen"):
        return (
            f"tokenizer: frozen: {metrics['output']} kept as it is (vocabulary "
            f"{metrics['vocab_size']}, {metrics['merges']} merges); a new vocabulary needs "
            "tokenizer.frozen=false, or the folder deleted"
        )
    text = (
        f"tokenizer: {metrics['documents']} documents, vocabulary {metrics['vocab_size']} "
        f"({metrics['merges']} merges) in {metrics['seconds']:.1f} s"
    )
    if metrics["vocab_size"] < metrics["requested_vocab_size"]:
        text += (
            f"\n  warning: {metrics['requested_vocab_size']} tokens were asked for; the corpus "
            f"({metrics['characters']:,} characters) has no more pairs seen at least "
            "tokenizer.min_frequency times: add text or lower tokenizer.vocab_size"
        )
    return text
