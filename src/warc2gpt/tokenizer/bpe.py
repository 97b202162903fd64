"""Byte-level BPE: trained with Hugging Face `tokenizers`, run with tiktoken's encoder.

`train_bpe` streams texts through HF's BPE trainer behind a GPT-4-style split regex and saves
`tokenizer.json`. `Tokenizer.load` turns that vocabulary into a tiktoken `Encoding` (token id =
merge rank, as in GPT-2's and GPT-4's rank files), which encodes several times faster per core
than HF's own runtime; both read the same file, so the ids are the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import numpy as np

from warc2gpt.atomic import atomic_write, write_text

EOT = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"
TOKEN_BYTES_FILE = "token_bytes.npy"

# Pre-tokenization: text is cut into pieces by these patterns and BPE never merges across a cut.
# gpt4 is cl100k's pattern (case-insensitive contractions, digits in runs of at most three,
# punctuation kept apart from letters); gpt2 is r50k's.
SPLIT_PATTERNS = {
    "gpt4": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""",
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
}


class TokenizerError(ValueError):
    """A tokenizer directory or file that cannot be used."""


@cache
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table, which byte-level BPE vocabularies are written in.

    Printable Latin-1 bytes stand for themselves; the others are shifted to code points from 256
    up, so every token is a readable string with no whitespace or control characters.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


@cache
def unicode_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_unicode().items()}


def token_string_to_bytes(token: str) -> bytes:
    """A byte-level vocabulary entry back to the bytes it stands for."""
    table = unicode_to_byte()
    try:
        return bytes(table[c] for c in token)
    except KeyError as exc:
        raise TokenizerError(
            f"vocabulary entry {token!r} has character {exc.args[0]!r} outside the byte-level "
            "alphabet; the tokenizer.json was not written by `warc2gpt tokenizer train`"
        ) from None


def _limited(texts: Iterable[str], max_chars: int) -> Iterator[str]:
    """Texts until `max_chars` characters have passed (0: no limit); the last one is cut."""
    seen = 0
    for text in texts:
        if max_chars and seen + len(text) >= max_chars:
            yield text[: max_chars - seen]
            return
        seen += len(text)
        yield text


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    min_frequency: int = 2,
    special_tokens: Iterable[str] = (EOT,),
    split_pattern: str = "gpt4",
    max_chars: int = 0,
) -> Tokenizer:
    """Train a byte-level BPE on streamed texts; the corpus is never held in memory.

    Special tokens take the first ids, the 256 single bytes the next ones, then one id per merge
    in the order the trainer made them (so an id is also the merge's rank).
    """
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
    from tokenizers import Tokenizer as HFTokenizer

    special_tokens = list(dict.fromkeys(special_tokens))
    if EOT not in special_tokens:
        raise TokenizerError(f"special_tokens must include {EOT!r}: it separates documents")
    if split_pattern not in SPLIT_PATTERNS:
        raise TokenizerError(
            f"unknown split pattern {split_pattern!r}: expected one of {', '.join(SPLIT_PATTERNS)}"
        )
    smallest = 256 + len(special_tokens) + 1
    if vocab_size < smallest:
        raise TokenizerError(
            f"vocab_size {vocab_size} leaves no room for merges: the {len(special_tokens)} special "
            f"tokens and 256 byte tokens come first; use at least {smallest}"
        )
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERNS[split_pattern]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(_limited(texts, max_chars), trainer=trainer)
    return Tokenizer.from_json(hf.to_str())


def _split_regex(spec: dict) -> str:
    """The split regex of a byte-level BPE tokenizer.json's pre-tokenizer."""
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    for step in steps:
        if step.get("type") == "Split" and "Regex" in (step.get("pattern") or {}):
            return step["pattern"]["Regex"]
    raise TokenizerError(
        "tokenizer.json has no Split pre-tokenizer with a regex; expected a byte-level BPE "
        "written by `warc2gpt tokenizer train`"
    )


class Tokenizer:
    """A trained byte-level BPE: encode, decode, and the byte length of every token."""

    def __init__(self, spec: dict) -> None:
        import tiktoken

        model = spec.get("model") or {}
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise TokenizerError("tokenizer.json holds no BPE model with a vocabulary")
        self._spec = spec
        self.special_tokens: dict[str, int] = {
            t["content"]: int(t["id"]) for t in spec.get("added_tokens", []) if t.get("special")
        }
        if EOT not in self.special_tokens:
            raise TokenizerError(f"tokenizer.json has no special token {EOT!r}")
        ranks = {
            token_string_to_bytes(token): int(i)
            for token, i in model["vocab"].items()
            if token not in self.special_tokens
        }
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:
            raise TokenizerError(
                f"vocabulary lacks single-byte tokens {missing[:5]}...: byte-level BPE needs "
                "all 256 to encode any text"
            )
        self.split_pattern = _split_regex(spec)
        self._encoding = tiktoken.Encoding(
            name="warc2gpt",
            pat_str=self.split_pattern,
            mergeable_ranks=ranks,
            special_tokens=self.special_tokens,
        )
        self.eot_id: int = self.special_tokens[EOT]
        self.vocab_size: int = self._encoding.n_vocab
        self.token_bytes = np.zeros(self.vocab_size, dtype=np.int32)
        for token, i in ranks.items():
            self.token_bytes[i] = len(token)

    # ------------------------------------------------------------------ files

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        return cls(json.loads(text))

    @classmethod
    def load(cls, directory: str | Path) -> Tokenizer:
        """Read `tokenizer.json` from a tokenizer directory (the tokenizer stage's output)."""
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise TokenizerError(
                f"{path} not found: train one with `warc2gpt tokenizer train` (or `dvc repro "
                "tokenizer`), or point at the directory that holds tokenizer.json"
            )
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TokenizerError(f"{path}: not valid JSON ({exc}); retrain the tokenizer") from None
        except TokenizerError as exc:
            raise TokenizerError(f"{path}: {exc}") from None

    def save(self, directory: str | Path) -> list[Path]:
        """Write tokenizer.json and token_bytes.npy atomically; returns the paths written."""
        directory = Path(directory)
        json_path, bytes_path = directory / TOKENIZER_FILE, directory / TOKEN_BYTES_FILE
        write_text(json_path, json.dumps(self._spec, ensure_ascii=False, indent=2))
        with atomic_write(bytes_path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, self.token_bytes)
        return [json_path, bytes_path]

    # ------------------------------------------------------------------ text <-> ids

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`. Special-token strings in it are encoded as plain text."""
        return self._encoding.encode_ordinary(text)

    def encode_batch(self, texts: Iterable[str], num_threads: int = 1) -> list[list[int]]:
        """Token ids of several texts (on `num_threads` threads; tiktoken releases the GIL)."""
        texts = list(texts)
        if num_threads <= 1:
            return [self._encoding.encode_ordinary(t) for t in texts]
        return self._encoding.encode_ordinary_batch(texts, num_threads=num_threads)

    def encode_to_numpy(self, text: str) -> np.ndarray:
        """Like `encode`, straight into a uint32 array (no Python list in between)."""
        return self._encoding.encode_to_numpy(text, disallowed_special=())

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids; a sequence cut inside a UTF-8 character decodes to U+FFFD there."""
        return self._encoding.decode(list(ids))

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return self._encoding.decode_bytes(list(ids))

    def token_pieces(self, ids: Iterable[int]) -> list[bytes]:
        """The bytes each token stands for (special tokens as their own text)."""
        return self._encoding.decode_tokens_bytes(list(ids))

    @property
    def merges(self) -> int:
        """The number of merges learned (the vocabulary beyond bytes and special tokens)."""
        return self.vocab_size - 256 - len(self.special_tokens)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, eot_id={self.eot_id})"
