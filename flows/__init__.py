"""Prefect flows: thin orchestration over warc2gpt's stage functions."""
