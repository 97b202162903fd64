"""Prefect flow of the tokenizer stage: `python -m flows.tokenizer`, the command of `dvc repro tokenizer`."""

from flows.stage import StageFlow

tokenizer_flow = StageFlow("tokenizer")

if __name__ == "__main__":
    raise SystemExit(tokenizer_flow.main())
