"""Prefect flow of the register stage: `python -m flows.register`, the command of `dvc repro register`."""

from flows.stage import StageFlow

register_flow = StageFlow("register")

if __name__ == "__main__":
    raise SystemExit(register_flow.main())
