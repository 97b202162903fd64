"""Prefect flow of the evaluate stage: `python -m flows.evaluate`, the command of `dvc repro evaluate`."""

from flows.stage import StageFlow

evaluate_flow = StageFlow("evaluate")

if __name__ == "__main__":
    raise SystemExit(evaluate_flow.main())
