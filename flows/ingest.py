"""Prefect flow of the ingest stage: `python -m flows.ingest`, the command of `dvc repro ingest`."""

from flows.stage import StageFlow

ingest_flow = StageFlow("ingest")

if __name__ == "__main__":
    raise SystemExit(ingest_flow.main())
