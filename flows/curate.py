"""Prefect flow of the curate stage: `python -m flows.curate`, the command of `dvc repro curate`."""

from flows.stage import StageFlow

curate_flow = StageFlow("curate")

if __name__ == "__main__":
    raise SystemExit(curate_flow.main())
