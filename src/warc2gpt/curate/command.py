"""`warc2gpt curate`: extract, filter and clean web pages from WARC files.

WARC/WET files -> main text -> URL, language and quality filters -> PII scrub -> Parquet shards,
one per input file (FineWeb's recipe by default).
"""

import argparse

from warc2gpt.cli import inputs_option, option, output_option, stage_command, workers_option

register = stage_command(
    "curate",
    __doc__,
    [
        inputs_option("WARC/WET paths or globs (default: curate.input, else the ingest output)"),
        output_option("output directory (default: curate.output)"),
        workers_option("curate"),
        option("--extractor", "extractor", choices=["trafilatura", "resiliparse"]),
        option(
            "--prefilter-language",
            "prefilter_language",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="cheap extraction + language ID before trafilatura (on by default)",
        ),
    ],
)
