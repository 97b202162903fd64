"""Prefect flow of the dedup stage: `python -m flows.dedup`, the command of `dvc repro dedup`."""

from flows.stage import StageFlow

dedup_flow = StageFlow("dedup")

if __name__ == "__main__":
    raise SystemExit(dedup_flow.main())
