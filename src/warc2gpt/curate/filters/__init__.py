"""FineWeb's quality filters, one module each: `filter(doc)` returns None to keep the document
or the reason it is removed."""

from warc2gpt.curate.filters.c4_quality import C4QualityFilter
from warc2gpt.curate.filters.fineweb_quality import FineWebQualityFilter
from warc2gpt.curate.filters.gopher_quality import GopherQualityFilter
from warc2gpt.curate.filters.gopher_repetition import GopherRepetitionFilter

__all__ = [
    "C4QualityFilter",
    "FineWebQualityFilter",
    "GopherQualityFilter",
    "GopherRepetitionFilter",
]
