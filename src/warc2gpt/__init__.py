"""warc2gpt: Common Crawl WARC files to a trained, evaluated and registered GPT."""

__version__ = "0.1.0"
