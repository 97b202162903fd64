"""`warc2gpt ingest`: fetch WARC files (paths, URLs or a Common Crawl crawl id).

Resolve sources (local paths/globs, http(s)/s3 URLs, crawl ids such as CC-MAIN-2024-22[:N]) and
fetch them into the output folder with retries, resume and verification. No sources: the
built-in sample crawl.
"""

from warc2gpt.cli import option, output_option, stage_command

register = stage_command(
    "ingest",
    __doc__,
    [
        option(
            "--source",
            "sources",
            action="append",
            metavar="SOURCE",
            help="path, glob, URL or crawl id (repeatable; default: ingest.sources)",
        ),
        output_option("output folder (default: ingest.output)"),
        option("--segments", "segments", type=int, help="WARC files per crawl id"),
        option(
            "--sample",
            "sample",
            action="store_true",
            default=None,
            help="a seeded sample of the crawl listing instead of its first files",
        ),
        option("--base-url", "base_url", help="crawl data base URL (ingest.base_url)"),
        option("--workers", "workers", type=int, help="files fetched at once (ingest.workers)"),
        option("--metrics", "metrics", help="metrics file (default: ingest.metrics)"),
    ],
)
