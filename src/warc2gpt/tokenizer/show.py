"""Text with each token's span marked, the way people inspect GPT-4's tokenizer in a browser."""

from __future__ import annotations

from dataclasses import dataclass

from warc2gpt.tokenizer.bpe import Tokenizer

# Background colours (ANSI 256-colour codes) cycled over spans; light enough for black text.
PALETTE = (153, 186, 223, 182, 151, 224, 189)
RESET = "\x1b[0m"


@dataclass
class Span:
    """A run of text and the token ids that spell it: one token, or several that together
    complete a character a byte-level BPE split across tokens."""

    text: str
    ids: list[int]


def token_spans(tokenizer: Tokenizer, ids: list[int]) -> list[Span]:
    """Group tokens into spans that each decode to whole UTF-8 characters."""
    spans: list[Span] = []
    pending, pending_ids = b"", []
    for token_id, piece in zip(ids, tokenizer.token_pieces(ids), strict=True):
        pending += piece
        pending_ids.append(token_id)
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError:
            continue
        spans.append(Span(text, pending_ids))
        pending, pending_ids = b"", []
    if pending_ids:  # an id list cut inside a character
        spans.append(Span(pending.decode("utf-8", errors="replace"), pending_ids))
    return spans


def _visible(text: str) -> str:
    # Newlines and tabs would vanish inside a coloured span; show them, keep the line break.
    return text.replace("\t", "→").replace("\n", "↵\n")


def render(tokenizer: Tokenizer, text: str, color: bool = True) -> str:
    """The text with token spans coloured and their ids; without colour, a table of tokens."""
    ids = tokenizer.encode(text)
    spans = token_spans(tokenizer, ids)
    size = len(text.encode("utf-8"))
    summary = f"{len(ids)} tokens, {size} bytes"
    if ids:
        summary += f", {size / len(ids):.2f} bytes/token"
    if not color:
        rows = [f"{','.join(map(str, s.ids)):>12}  {s.text!r}" for s in spans]
        return "\n".join([*rows, summary])
    painted, labels = [], []
    for number, span in enumerate(spans):
        start = f"\x1b[30;48;5;{PALETTE[number % len(PALETTE)]}m"
        lines = _visible(span.text).split("\n")
        # Colour each line separately so the background does not run to the terminal's edge.
        painted.append("\n".join(f"{start}{line}{RESET}" if line else "" for line in lines))
        labels.append(f"{start}{' '.join(map(str, span.ids))}{RESET}")
    return "".join(painted) + "\n\n" + " ".join(labels) + "\n" + summary
