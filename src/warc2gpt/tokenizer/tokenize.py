"""The tokenize stage: documents -> token ids, each document after `<|endoftext|>` -> shards.

Every input Parquet shard is encoded on its own (in parallel across shards) into
`<output>/train_<index>.bin` and `<output>/val_<index>.bin`, where index is the input's place in
the sorted input list. A document's split comes from a hash of its id alone, so growing the
corpus never moves a document from train to val or back.

With `tokenize.append` the shards are the current increment's (the last id in `ingest.state`),
`train_i0003_0000.bin`, added beside those of the other increments; `increments.json` lists
each increment's shards, documents and tokens (a rerun of an increment replaces its entry):

    {"current": 3, "tokenizer": "<sha256 of tokenizer.json>",
     "increments": [{"id": 1, "train": {"shards": [...], "documents": 61, "tokens": 52311},
                     "val": {...}}, ...]}

Shards encoded with another tokenizer (a new vocabulary) are dropped, not mixed in.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from warc2gpt.atomic import StagedDirectory, write_json
from warc2gpt.config import Params
from warc2gpt.documents import iter_documents
from warc2gpt.ingest.increments import current_increment
from warc2gpt.mapper import Mapper, advance
from warc2gpt.progress import Progress
from warc2gpt.stages import headline
from warc2gpt.tokenizer.bpe import TOKENIZER_FILE, Tokenizer, TokenizerError
from warc2gpt.tokenizer.shards import (
    VERSION_DTYPES,
    ShardError,
    version_for_vocab,
    write_token_shard,
)
from warc2gpt.tokenizer.train import resolve_corpus
from warc2gpt.tracking import write_metrics

SPLITS = ("train", "val")
DETAILS = "stats.json"
MANIFEST = "increments.json"
_INCREMENT_SHARD = re.compile(r"(?:train|val)_i(\d+)_\d+\.bin")


# Failures the command reports as one line, not a traceback.
USER_ERRORS = (TokenizerError, ShardError)


def split_of(doc_id: str, val_fraction: float) -> str:
    """`val` for a stable `val_fraction` of document ids, `train` for the rest."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "big") < val_fraction * 2**64 else "train"


def shard_path(output: str | Path, split: str, index: int, increment: int = 0) -> Path:
    """`<split>_<index>.bin`; an increment's shards are `<split>_i<increment>_<index>.bin`."""
    if increment:
        return Path(output) / f"{split}_i{increment:04d}_{index:04d}.bin"
    return Path(output) / f"{split}_{index:06d}.bin"


def shard_increment(name: str) -> int | None:
    """The increment a shard name is tagged with; None for any other name."""
    match = _INCREMENT_SHARD.fullmatch(name)
    return int(match.group(1)) if match else None


def tokenize_inputs(params: Params) -> list[Path]:
    """tokenize.input when set, else the corpus the tokenizer stage trained on."""
    if params.tokenize.input:
        files: dict[str, Path] = {}
        for pattern in params.tokenize.input:
            for path in resolve_corpus([pattern]):
                files.setdefault(str(path), path)
        return sorted(files.values())
    return resolve_corpus(params.tokenizer.input)


def owns(name: str) -> bool:
    """The entries of the output folder this stage writes (anything else there is kept)."""
    split, _, rest = name.partition("_")
    return name in (DETAILS, MANIFEST) or (split in SPLITS and rest.endswith(".bin"))


def owns_all_but(kept: Iterable[int]) -> Callable[[str], bool]:
    """What an appending run writes: everything `owns` names but the shards of the `kept`
    increments, which the new folder carries over as they are."""
    kept = frozenset(kept)
    return lambda name: owns(name) and shard_increment(name) not in kept


def read_manifest(output: str | Path) -> dict[str, Any]:
    """`<output>/increments.json`; an empty one when the folder has none."""
    path = Path(output) / MANIFEST
    if not path.is_file():
        return {"current": 0, "tokenizer": "", "increments": []}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TokenizerError(
            f"{path}: not valid JSON ({exc}); restore the folder (`dvc checkout "
            f"{Path(output)}`), or delete it to start the increments' shards anew"
        ) from None


def tokenizer_digest(directory: str | Path) -> str:
    """sha256 of tokenizer.json: shards encoded under another digest hold other token ids."""
    return hashlib.sha256((Path(directory) / TOKENIZER_FILE).read_bytes()).hexdigest()


def _load_tokenizer(directory: str | Path) -> Tokenizer:
    """Once per worker process and tokenizer file, however many input shards it encodes.

    Keyed by the absolute path and the file's modification time: a long-lived worker (a Dask
    cluster's) must not keep encoding with a tokenizer that was since retrained or moved.
    """
    path = (Path(directory) / "tokenizer.json").resolve()
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    return _load_tokenizer_at(str(path.parent), stamp)


@lru_cache(maxsize=2)
def _load_tokenizer_at(directory: str, stamp: int) -> Tokenizer:
    return Tokenizer.load(directory)


def tokenize_file(
    path: str | Path,
    index: int,
    tokenizer_dir: str | Path,
    output: str | Path,
    val_fraction: float,
    increment: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Encode one Parquet shard into its train and val token shards; returns their counts.

    A split that receives no document writes no file. `increment` tags the shard names.
    """
    started = time.perf_counter()
    tokenizer = _load_tokenizer(str(tokenizer_dir))
    eot = np.array([tokenizer.eot_id], dtype=np.uint32)
    pieces: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    stats: dict[str, Any] = {
        split: {"documents": 0, "tokens": 0, "bytes": 0, "shard": ""} for split in SPLITS
    }
    for number, row in enumerate(
        iter_documents([path], columns=["id", "text"], batch_size=batch_size)
    ):
        doc_id, text = row["id"], row["text"]
        if doc_id is None or text is None:
            raise TokenizerError(
                f"{path}: row {number} has no {'id' if doc_id is None else 'text'}; the shard "
                "does not follow the document schema (rebuild it with the curate stage)"
            )
        split = split_of(doc_id, val_fraction)
        tokens = tokenizer.encode_to_numpy(text)
        pieces[split] += (eot, tokens)
        counts = stats[split]
        counts["documents"] += 1
        counts["tokens"] += 1 + tokens.size
        counts["bytes"] += len(text.encode("utf-8"))
        advance(1)
    for split in SPLITS:
        if pieces[split]:
            target = shard_path(output, split, index, increment)
            write_token_shard(target, np.concatenate(pieces[split]), tokenizer.vocab_size)
            stats[split]["shard"] = str(target)
    stats["input"] = str(path)
    stats["seconds"] = time.perf_counter() - started
    return stats


def summarize(
    file_stats: Iterable[dict[str, Any]],
    seconds: float,
    vocab_size: int,
    workers: int,
    earlier_documents: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Per-split totals of the per-file counts; fails when a split came out empty (counting
    the `earlier_documents` per split that other increments hold)."""
    file_stats = list(file_stats)
    metrics: dict[str, Any] = {}
    for split in SPLITS:
        documents = sum(s[split]["documents"] for s in file_stats)
        tokens = sum(s[split]["tokens"] for s in file_stats)
        size = sum(s[split]["bytes"] for s in file_stats)
        # Each document adds one separator; bytes per token counts the text's own tokens.
        text_tokens = tokens - documents
        metrics[split] = {
            "documents": documents,
            "tokens": tokens,
            "bytes": size,
            "bytes_per_token": round(size / text_tokens, 4) if text_tokens else 0.0,
            "shards": sum(1 for s in file_stats if s[split]["shard"]),
        }
    earlier_documents = earlier_documents or {}
    total_docs = sum(metrics[s]["documents"] + earlier_documents.get(s, 0) for s in SPLITS)
    for split in SPLITS:
        if metrics[split]["documents"] + earlier_documents.get(split, 0) == 0:
            raise TokenizerError(
                f"no document fell in the {split} split ({total_docs} documents in all): "
                "set tokenize.val_fraction so that both splits get some, or add documents"
            )
    total_bytes = sum(metrics[s]["bytes"] for s in SPLITS)
    metrics.update(
        {
            "inputs": len(file_stats),
            "train_tokens": metrics["train"]["tokens"],
            "vocab_size": vocab_size,
            "token_dtype": VERSION_DTYPES[version_for_vocab(vocab_size)].name,
            "workers": workers,
            "seconds": round(seconds, 3),
            "mb_per_second": round(total_bytes / 1e6 / seconds, 3) if seconds > 0 else 0.0,
        }
    )
    return metrics


# The figures of metrics/tokenize.json; the per-split table stays in <output>/stats.json.
HEADLINE = ["train_tokens"]


def run(params: Params, mapper: Mapper) -> dict[str, Any]:
    """Encode every input shard, one call per shard on `mapper`; writes and returns the metrics.

    The shards are written into a staging folder beside the output, which replaces the output
    folder only once every input is encoded, so a failed run leaves the earlier shards usable.
    Shards of the earlier run that this one did not write are listed as `pruned`. Appending,
    the other increments' shards (encoded with this tokenizer) are carried into the new folder.
    """
    settings = params.tokenize
    inputs = tokenize_inputs(params)
    tokenizer = Tokenizer.load(params.tokenizer.output)  # fails early on a missing tokenizer
    increment, earlier, dropped = appending(params) if settings.append else (0, [], [])
    with StagedDirectory(settings.output, owns_all_but(e["id"] for e in earlier)) as staged:
        calls = [
            (
                str(path),
                index,
                params.tokenizer.output,
                str(staged.path),
                settings.val_fraction,
                increment,
            )
            for index, path in enumerate(inputs)
        ]
        started = time.perf_counter()
        total = sum(pq.ParquetFile(path).metadata.num_rows for path in inputs)
        with Progress("tokenize", total=total, unit="doc") as progress:
            file_stats = mapper.map(tokenize_file, calls, progress)
        metrics = summarize(
            file_stats,
            time.perf_counter() - started,
            tokenizer.vocab_size,
            settings.workers,
            {s: sum(e[s]["documents"] for e in earlier) for s in SPLITS},
        )
        if settings.append:
            entries = sorted(
                [*earlier, increment_entry(increment, file_stats)], key=lambda e: e["id"]
            )
            digest = tokenizer_digest(params.tokenizer.output)
            manifest = {"current": increment, "tokenizer": digest, "increments": entries}
            write_json(staged.path / MANIFEST, manifest)
            metrics |= {"increment": increment, "increments": len(entries), "dropped": dropped}
        # DETAILS and the manifest are written anew each run: not pruned.
        metrics["pruned"] = [p for p in staged.stale() if p not in (DETAILS, MANIFEST)]
        write_metrics(staged.path / DETAILS, metrics)
        staged.commit()
    keys = HEADLINE + ["increment"] if settings.append else HEADLINE
    write_metrics(settings.metrics, headline(metrics, keys))
    return metrics


def appending(params: Params) -> tuple[int, list[dict[str, Any]], list[int]]:
    """(the current increment, the manifest entries of the other increments to keep, the ids
    of those dropped because their shards were encoded with another tokenizer)."""
    increment = current_increment(params.ingest.state) or 1
    previous = read_manifest(params.tokenize.output)
    others = [e for e in previous.get("increments", []) if e["id"] != increment]
    if previous.get("tokenizer") == tokenizer_digest(params.tokenizer.output):
        return increment, others, []
    return increment, [], [e["id"] for e in others]  # a new vocabulary: a new line of shards


def increment_entry(increment: int, file_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """One increment's line in the manifest: its shards, documents and tokens per split."""
    entry: dict[str, Any] = {"id": increment}
    for split in SPLITS:
        entry[split] = {
            "shards": [Path(s[split]["shard"]).name for s in file_stats if s[split]["shard"]],
            "documents": sum(s[split]["documents"] for s in file_stats),
            "tokens": sum(s[split]["tokens"] for s in file_stats),
        }
    return entry


def summary(metrics: dict[str, Any]) -> str:
    """The tokenize metrics as a small table."""
    lines = [f"{'split':<6} {'documents':>10} {'tokens':>12} {'bytes':>14} {'bytes/token':>11}"]
    for split in ("train", "val"):
        m = metrics[split]
        lines.append(
            f"{split:<6} {m['documents']:>10} {m['tokens']:>12} {m['bytes']:>14} "
            f"{m['bytes_per_token']:>11.3f}"
        )
    lines.append(
        f"{metrics['inputs']} input shards, {metrics['token_dtype']} tokens, "
        f"{metrics['seconds']:.1f} s ({metrics['mb_per_second']:.1f} MB/s)"
    )
    if "increment" in metrics:
        earlier = metrics["increments"] - 1
        lines.append(
            f"increment {metrics['increment']}: its shards added beside {earlier} other "
            f"increments' ({MANIFEST})"
        )
    if metrics.get("dropped"):
        lines.append(
            f"a new tokenizer: the shards of increments {', '.join(map(str, metrics['dropped']))} "
            "(encoded with the previous one) were dropped"
        )
    pruned = metrics.get("pruned", [])
    if pruned:
        more = f" and {len(pruned) - 5} more" if len(pruned) > 5 else ""
        lines.append(f"pruned {len(pruned)} stale shards: {', '.join(pruned[:5])}{more}")
    return "\n".join(lines)
