"""The curate steps, one module each, and PIPELINE: the order they run in, FineWeb's.

Each module holds one step and its settings dataclass (see `base.Step`); config.py assembles
`curate:` in params.yaml from those settings classes, in this order. Adding a step: write its
module, put its class in PIPELINE, give it a section in params.yaml.
"""

from warc2gpt.curate.steps.base import Step
from warc2gpt.curate.steps.c4_quality import C4QualityFilter
from warc2gpt.curate.steps.extract import Extraction
from warc2gpt.curate.steps.fineweb_quality import FineWebQualityFilter
from warc2gpt.curate.steps.gopher_quality import GopherQualityFilter
from warc2gpt.curate.steps.gopher_repetition import GopherRepetitionFilter
from warc2gpt.curate.steps.language import LanguageFilter
from warc2gpt.curate.steps.pii import PIIScrubber
from warc2gpt.curate.steps.prefilter import LanguagePrefilter, PrefilterExtraction
from warc2gpt.curate.steps.url_filter import URLFilter

PIPELINE: tuple[type[Step], ...] = (
    URLFilter,
    PrefilterExtraction,  # only with prefilter_language: resiliparse, then language ID
    LanguagePrefilter,
    Extraction,
    LanguageFilter,
    GopherRepetitionFilter,
    GopherQualityFilter,
    C4QualityFilter,
    FineWebQualityFilter,
    PIIScrubber,  # rewrites what is kept
)

__all__ = ["PIPELINE", "Step"]
