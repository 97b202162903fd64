"""Benchmark tasks scored by completion likelihood: HellaSwag (acc, acc_norm) and LAMBADA.

Each candidate continuation is scored by the model's negative log-likelihood of its tokens after
the context, as GPT-2/3 and lm-evaluation-harness score them; no prompt template, no few-shot.
"""

from __future__ import annotations

import bz2
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from warc2gpt.model.generate import attention_backends


class TaskFileError(ValueError):
    """A benchmark file that does not match the format expected for it."""


@dataclass(frozen=True)
class ChoiceItem:
    """One multiple-choice item: a context, its candidate endings and the right one's index."""

    context: str
    endings: tuple[str, ...]
    label: int


@dataclass(frozen=True)
class ClozeItem:
    """One LAMBADA passage split into its context and the last word to predict (with its space)."""

    context: str
    target: str


# --------------------------------------------------------------------------- loading


def _open_text(path: Path):
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _hellaswag_clean(text: str) -> str:
    # The cleaning lm-evaluation-harness applies (and the 6-line files already carry):
    # WikiHow's " [title]" markers become sentence breaks, other bracketed notes go.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag_from_json(record: dict[str, Any], where: str) -> ChoiceItem:
    try:
        # `ctx` is ctx_a and ctx_b joined, as the 6-line files carry it.
        ctx = record["ctx"] if "ctx" in record else f"{record['ctx_a']} {record['ctx_b']}"
        endings = record["endings"]
        label = record["label"]
    except KeyError as exc:
        raise TaskFileError(
            f"{where}: missing key {exc.args[0]!r}; expected HellaSwag's jsonl fields "
            "(activity_label, ctx or ctx_a/ctx_b, endings, label)"
        ) from None
    if label in (None, ""):
        raise TaskFileError(
            f"{where}: no label (HellaSwag's test split is unlabelled; use the validation file)"
        )
    label_activity = record.get("activity_label", "")
    context = _hellaswag_clean(f"{label_activity}: {ctx}" if label_activity else ctx)
    return _choice_item(context, [_hellaswag_clean(e) for e in endings], label, where)


def _choice_item(context: str, endings: Sequence[str], label: Any, where: str) -> ChoiceItem:
    try:
        label = int(label)
    except (TypeError, ValueError):
        raise TaskFileError(f"{where}: label {label!r} is not an integer") from None
    if len(endings) < 2 or not 0 <= label < len(endings):
        raise TaskFileError(f"{where}: label {label} does not index one of {len(endings)} endings")
    return ChoiceItem(context=context, endings=tuple(endings), label=label)


def load_hellaswag(path: str | Path, limit: int = 0) -> list[ChoiceItem]:
    """HellaSwag items from the 6-line text format (.txt or .txt.bz2) or the original .jsonl.

    The text format repeats: context line, label (0-3), then the 4 endings, one per line.
    `limit` > 0 keeps the first `limit` items.
    """
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: HellaSwag file not found (set evaluate.hellaswag)")
    items: list[ChoiceItem] = []
    is_jsonl = path.name.endswith((".jsonl", ".jsonl.bz2", ".json"))
    with _open_text(path) as fh:
        if is_jsonl:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TaskFileError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
                items.append(_hellaswag_from_json(record, f"{path}:{lineno}"))
                if limit and len(items) >= limit:
                    break
        else:
            lines = [line.rstrip("\n") for line in fh]
            while lines and not lines[-1].strip():
                lines.pop()
            if len(lines) % 6:
                raise TaskFileError(
                    f"{path}: {len(lines)} lines, not a multiple of 6; expected the 6-line "
                    "HellaSwag format (context, label, 4 endings) or a .jsonl file"
                )
            for start in range(0, len(lines), 6):
                block = lines[start : start + 6]
                items.append(
                    _choice_item(
                        block[0].strip(),
                        [e.strip() for e in block[2:]],
                        block[1].strip(),
                        f"{path}:{start + 2}",
                    )
                )
                if limit and len(items) >= limit:
                    break
    if not items:
        raise TaskFileError(f"{path}: no HellaSwag items")
    return items


def load_lambada(path: str | Path, limit: int = 0) -> list[ClozeItem]:
    """LAMBADA passages from OpenAI's jsonl (`{"text": ...}` per line), last word as target."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: LAMBADA file not found (set evaluate.lambada)")
    items: list[ClozeItem] = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise TaskFileError(
                    f'{path}:{lineno}: expected a JSON object with a "text" field'
                ) from None
            context, sep, word = text.strip().rpartition(" ")
            if not sep or not word:
                raise TaskFileError(f"{path}:{lineno}: passage has no last word to predict")
            items.append(ClozeItem(context=context, target=" " + word))
            if limit and len(items) >= limit:
                break
    if not items:
        raise TaskFileError(f"{path}: no LAMBADA passages")
    return items


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ContinuationScore:
    """The model's view of one continuation after its context."""

    nll: float  # summed negative log-likelihood of the continuation tokens, nats
    tokens: int
    greedy: bool  # every continuation token was the model's top choice


@torch.no_grad()
def score_continuations(
    model: torch.nn.Module,
    pairs: Sequence[tuple[list[int], list[int]]],
    max_len: int,
    device: torch.device | str = "cpu",
) -> list[ContinuationScore]:
    """Score (context ids, continuation ids) pairs in one padded batch.

    A pair longer than `max_len` loses context tokens from the left; a continuation longer
    than the whole window is scored on its first `max_len` tokens.
    """
    rows, spans = [], []
    for ctx, cont in pairs:
        if not cont or not ctx:
            raise ValueError("scoring needs a non-empty context and continuation")
        cont = list(cont)[:max_len]
        seq = (list(ctx) + cont)[-(max_len + 1) :]
        rows.append(seq)
        spans.append(len(cont))
    width = max(len(r) for r in rows) - 1
    inputs = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.zeros((len(rows), width), dtype=torch.long)
    for i, seq in enumerate(rows):
        t = torch.tensor(seq, dtype=torch.long)
        inputs[i, : len(seq) - 1] = t[:-1]
        targets[i, : len(seq) - 1] = t[1:]
    device = torch.device(device)
    with (
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"),
        attention_backends(device),
    ):
        logits = model(inputs.to(device))
    scores = []
    for i, seq in enumerate(rows):
        end = len(seq) - 1
        sl = slice(end - spans[i], end)
        # Only the continuation's positions: the softmax over the vocabulary is the costly part.
        logp = F.log_softmax(logits[i, sl].float(), dim=-1).cpu()
        target = targets[i, sl]
        token_logp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        greedy = bool((logp.argmax(-1) == target).all())
        scores.append(
            ContinuationScore(nll=float(-token_logp.sum()), tokens=spans[i], greedy=greedy)
        )
    return scores


def evaluate_hellaswag(
    model: torch.nn.Module,
    tokenizer: Any,
    items: Iterable[ChoiceItem],
    max_len: int,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> dict[str, float]:
    """acc picks the ending with the lowest summed loss; acc_norm the lowest loss per byte.

    Normalising by the ending's UTF-8 bytes (lm-evaluation-harness uses characters) keeps
    acc_norm independent of the tokenizer, like bits-per-byte. `batch_size` items (all their
    endings) go through the model together.
    """
    items = list(items)
    if not items:
        raise ValueError("no HellaSwag items to score")
    correct = correct_norm = 0
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        pairs, ending_bytes = [], []
        for item in batch:
            ctx = tokenizer.encode(item.context)
            for ending in item.endings:
                pairs.append((ctx, tokenizer.encode(" " + ending)))
                ending_bytes.append(len((" " + ending).encode("utf-8")))
        scores = iter(
            zip(score_continuations(model, pairs, max_len, device), ending_bytes, strict=True)
        )
        for item in batch:
            scored = [next(scores) for _ in item.endings]
            sums = [s.nll for s, _ in scored]
            per_byte = [s.nll / n for s, n in scored]
            correct += int(sums.index(min(sums)) == item.label)
            correct_norm += int(per_byte.index(min(per_byte)) == item.label)
    total = len(items)
    return {"acc": correct / total, "acc_norm": correct_norm / total, "items": total}


def evaluate_lambada(
    model: torch.nn.Module,
    tokenizer: Any,
    items: Iterable[ClozeItem],
    max_len: int,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> dict[str, float]:
    """Last-word accuracy (every target token greedy) and perplexity exp(mean target NLL)."""
    items = list(items)
    if not items:
        raise ValueError("no LAMBADA items to score")
    correct = 0
    nll_total = 0.0
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        pairs = [(tokenizer.encode(it.context), tokenizer.encode(it.target)) for it in batch]
        for score in score_continuations(model, pairs, max_len, device):
            correct += int(score.greedy)
            nll_total += score.nll
    mean_nll = nll_total / len(items)
    return {"acc": correct / len(items), "ppl": math.exp(min(mean_nll, 700.0)), "items": len(items)}
