"""Prefect flow of the tokenize stage: `python -m flows.tokenize`, the command of `dvc repro tokenize`."""

from flows.stage import StageFlow

tokenize_flow = StageFlow("tokenize")

if __name__ == "__main__":
    raise SystemExit(tokenize_flow.main())
