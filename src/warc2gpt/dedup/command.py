"""`warc2gpt dedup`: remove exact and near-duplicate documents (MinHash LSH).

Exact duplicates of the normalised text, then MinHash LSH near-duplicates (FineWeb: word
5-grams, 14 bands x 8 rows) across all input shards; one document per cluster stays. Resumes an
interrupted run.
"""

from warc2gpt.cli import inputs_option, output_option, stage_command, workers_option

register = stage_command(
    "dedup",
    __doc__,
    [
        inputs_option("Parquet document shards (default: dedup.input)"),
        output_option("output directory (default: dedup.output)"),
        workers_option("dedup"),
    ],
)
