"""Prefect flow of the train stage: `python -m flows.train`, the command of `dvc repro train`."""

from flows.stage import StageFlow

train_flow = StageFlow("train")

if __name__ == "__main__":
    raise SystemExit(train_flow.main())
