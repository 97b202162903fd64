"""Text splitting shared by the quality filters: NLTK-compatible English words, sentence counts,
lines and paragraphs, each computed once per document text and kept in `Document.cache`.

FineWeb splits words with NLTK's `word_tokenize` (Punkt sentences, then the Treebank rules).
`split_words` reproduces its output on ordinary English text with a few compiled regular
expressions and no model data: Punkt's English abbreviation list decides which sentence-final
periods stay attached to their word.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from warc2gpt.documents import Document

T = TypeVar("T")

# Characters that make a "symbol word" (FineWeb/datatrove's punctuation set): ASCII punctuation,
# common CJK and typographic punctuation, and the C0/C1 control characters except tab and newline.
PUNCTUATION = (
    string.punctuation
    + "—”“„’´–…«»►％１〈〉、━【】「」，；∶．（）？！：～《》。"
    + "".join(chr(c) for c in (*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)))
)
PUNCTUATION_SET = frozenset(PUNCTUATION)

# Punkt's English abbreviations (NLTK's trained model): a period after one of these does not end
# a sentence, so the word keeps it ("Dr.", "U.S.", single-letter initials).
ABBREVIATIONS = (
    "a.a a.c a.d a.g a.h a.m a.m.e a.s a.t adm ala ariz aug ave b.f b.v bros c c.i.t c.o.m.b "
    "c.v calif chg cie co col colo conn corp cos ct d d.c d.h d.w dec dr e e.f e.h e.l e.m f f.g "
    "f.j feb fla fri ft g g.d g.f g.k ga gen h h.c h.f h.m i.m.s ill inc j.b j.c j.j j.k j.p j.r "
    "jan jr k kan ky l l.a l.f l.p lt ltd m m.b.a m.d.c m.j maj messrs mg mich minn mr mrs ms n "
    "n.c n.d n.h n.j n.m n.v n.y nev nov oct ok okla ore p p.a.m p.m pa ph.d prof r r.a r.h r.i "
    "r.j r.k r.t rep reps s s.a s.a.y s.c s.g s.p.a s.s sen sep sept sr st sw t t.j tenn tues "
    "u.k u.n u.s u.s.a u.s.s.r v va vs vt w w.c w.r w.va w.w wash wed wis yr"
).split()
# Capitalised words that Punkt takes as the start of a new sentence even after an abbreviation.
SENTENCE_STARTERS = (
    "according although among both but despite even he however i if in indeed instead it many "
    "meanwhile moreover most nevertheless nonetheless nor separately similarly since so some "
    "sales the there these they this though thus under when while yet"
).split()

# Characters that NLTK always splits off as tokens of their own.
_ALWAYS_SPLIT = r";@#$%&?!*()\[\]{}<>«“‘„»”’\u2012-\u2015"
# A word character: anything but whitespace, the split characters and the joiners below.
_W = rf"[^\s{_ALWAYS_SPLIT}.,:'\"`\-]"
# Punkt considers one sentence break per whitespace-delimited run: after its last [.?!] that is
# followed by one of these characters or by whitespace. NLTK then splits that period off, unless
# the sentence ends in a quote that its Treebank rules do not take as closing („so“).
_NON_WORD = r"[)\";}\]*:@'({\[‘’“”«»!?]"
_QUOTE_TAIL = r"[\"')\]}‘’“”«»]*[‘“«][\"')\]}‘’“”«»]*(?:\s|$)"
_SENTENCE_END = rf"(?={_NON_WORD}|\s|$)(?![^\s.?!]*[.?!])(?!{_QUOTE_TAIL})"
_NOT_END = rf"(?:(?!{_NON_WORD}|\s|$)|(?=[^\s.?!]*[.?!])|(?={_QUOTE_TAIL}))"
_ABBREVIATION = (
    r"(?i:"
    + "|".join(re.escape(a) for a in sorted(ABBREVIATIONS, key=len, reverse=True))
    + r"|[^\W\d_])\."
)
_STARTER_AHEAD = r"\s+(?=[A-Z])(?i:" + "|".join(SENTENCE_STARTERS) + r")\b"

# Leading whitespace is consumed inside each match: findall then never fails at a blank.
_WORD_RE = re.compile(
    r"\s*("
    + "|".join(
        [
            r"\w+(?=\s)",  # the common case first: a plain word before a space
            # An abbreviation keeps its period, unless the text ends there or a sentence starts.
            # (The cheap look-ahead first keeps the long alternation off most words.)
            rf"(?=[\w.\-]{{1,8}}\.(?:{_NON_WORD}|\s|$))"
            rf"{_ABBREVIATION}{_SENTENCE_END}(?!{_NON_WORD}*\s*$)(?!{_NON_WORD}*{_STARTER_AHEAD})",
            # A number's period stays when a lowercase word follows ("am 1. und 2. Mai").
            r"-?[.,]?\d[\d,.\-]*\.(?=\s+[a-zß-öø-ÿ])",
            r"\.\.+",  # ellipsis
            r"--",
            r"``|''",  # quotes as NLTK rewrites them
            r"`+",
            rf"[{_ALWAYS_SPLIT}]",
            r"'(?!(?i:re|ve|ll|m|t|s|d|n)\b)(?=\w)",  # an opening single quote
            # A word: joined by inner periods, by commas/colons before digits, single hyphens and
            # inner apostrophes; a period before the end of a sentence stays outside.
            rf"(?:{_W}+|\.(?![.]){_NOT_END}|[,:](?=\d)|(?<=[,:])[,:]|-(?!-)|'(?={_W}|-))+",
            r"\S",
        ]
    )
    + ")"
)
# Clitics NLTK separates from their word ("do n't", "John 's"), when they end the word. Each
# pattern starts with a literal so that the regex engine can skip ahead between candidates.
_CLITIC_RE = re.compile(
    r"(?:'(?<=[^'\s]')(?:[sSmMdD]|ll|LL|re|RE|ve|VE)|n(?<=[^'\s]n)'t|N(?<=[^'\s]N)'T)"
    rf"(?=[\s{_ALWAYS_SPLIT}.,:\"]|$)"
)
# Words NLTK cuts in two ("can not", "gon na"); rare, so looked for only when present.
_CONTRACTION_RE = re.compile(
    r"(?i)\b(?:can(?=not\b)|gim(?=me\b)|gon(?=na\b)|got(?=ta\b)|lem(?=me\b)|wan(?=na\s)"
    r"|more(?='n\b)|d(?='ye\b))"
)
_CONTRACTION_HINTS = ("cannot", "gimme", "gonna", "gotta", "lemme", "wanna", "more'n", "d'ye")
# A double quote opening a quotation (start, after a space or an opening bracket, or after a
# line that ends a sentence).
_OPEN_QUOTE_RE = re.compile(
    r"\"(?:(?<=^\")|(?<=[ (\[{<]\")|(?<=[.?!]\n\"))|''(?:(?<=^'')|(?<=[ (\[{<]''))"
)
# A run that may end a sentence, and the next token, when more text than quotes follows.
_BREAK_CANDIDATE_RE = re.compile(
    rf"(?<!\S)(\S*[.?!])(?=\s+(\S+)|(?={_NON_WORD})(?s:.*?)[^\s\"')\]}}‘’“”«»])"
)
_REALIGN_RE = re.compile(r"[\"')\]}‘’“”«»]+(?=\s|$)")
_PUNKT_TOKEN_RE = re.compile(rf"[^\s{_NON_WORD[1:-1]}]+")
_STARTER_RE = re.compile(r"(?=[A-Z])(?i:" + "|".join(SENTENCE_STARTERS) + r")\b")
_NUMBER_RE = re.compile(r"-?[.,]?\d[\d,.\-]*\.?$")
_ABBREVIATION_SET = frozenset(ABBREVIATIONS)

PARAGRAPH_RE = re.compile(r"\n{2,}")
LINE_RUN_RE = re.compile(r"\n+")


def split_words(text: str) -> list[str]:
    """English words and punctuation tokens as NLTK's `word_tokenize` gives them."""
    lowered = text.lower()
    if any(hint in lowered for hint in _CONTRACTION_HINTS):
        text = _CONTRACTION_RE.sub(r"\g<0> ", text)
    if "'" in text:
        text = _CLITIC_RE.sub(r" \g<0>", text)
    if '"' in text or "''" in text:
        text = _OPEN_QUOTE_RE.sub(" `` ", text).replace('"', " '' ")
    return _WORD_RE.findall(text)


def count_sentences(text: str) -> int:
    """Sentences in `text` as Punkt's English model counts them (0 for blank text)."""
    if not text or text.isspace():
        return 0
    return 1 + sum(1 for _ in _sentence_breaks(text))


def split_sentences(text: str) -> list[str]:
    """`text` cut into sentences where Punkt's English model cuts it (stripped, none empty)."""
    sentences, start = [], 0
    for end in _sentence_breaks(text):
        sentences.append(text[start:end].strip())
        start = end
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def _sentence_breaks(text: str) -> Iterator[int]:
    """Offsets where Punkt ends a sentence. When a mark follows the run directly, Punkt's next
    token is that mark: the next token passed on is then empty."""
    for match in _BREAK_CANDIDATE_RE.finditer(text):
        if _breaks_sentence(match.group(1), match.group(2) or ""):
            # Closing quotes and brackets right after the mark stay with the sentence.
            closing = _REALIGN_RE.match(text, match.end(1))
            yield closing.end() if closing else match.end(1)


def _breaks_sentence(candidate: str, next_token: str) -> bool:
    if "?" in candidate or "!" in candidate:
        return True
    starter_follows = bool(_STARTER_RE.match(next_token))
    for token in _PUNKT_TOKEN_RE.findall(candidate):
        if not token.endswith("."):
            continue
        if token.endswith(".."):  # an ellipsis
            if starter_follows:
                return True
            continue
        stem = token[:-1].lower()
        if stem in _ABBREVIATION_SET or stem.rsplit("-", 1)[-1] in _ABBREVIATION_SET:
            if starter_follows:
                return True
        elif len(stem) == 1 and stem.isalpha():
            # An initial ends a sentence only before something that is not a word.
            if starter_follows or not next_token[:1].isalpha():
                return True
        elif _NUMBER_RE.match(token) and next_token[:1].islower():
            continue
        else:
            return True
    return False


def is_symbol_word(word: str) -> bool:
    """True when every character of `word` is punctuation."""
    return all(ch in PUNCTUATION_SET for ch in word)


def cached(doc: Document, key: str, compute: Callable[[str], T]) -> T:
    """`compute(doc.text)`, computed once per text: a filter that rewrites the text starts afresh."""
    entry: tuple[str, Any] | None = doc.cache.get(key)
    text = doc.text
    if entry is not None and (entry[0] is text or entry[0] == text):
        return entry[1]
    value = compute(text)
    doc.cache[key] = (text, value)
    return value


def words(doc: Document) -> list[str]:
    """The document's words (`split_words`), shared by the filters."""
    return cached(doc, "words", split_words)


def lines(doc: Document) -> list[str]:
    """`str.splitlines()` of the document text, shared by the filters."""
    return cached(doc, "lines", str.splitlines)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, their total characters): Gopher's repetition measure."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars
