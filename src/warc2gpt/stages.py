"""The stages and the one way they are run, by the command line and by the Prefect flows alike.

Every stage module has `run(params, mapper) -> metrics`, which writes the stage's outputs and its
metrics file, and `summary(metrics) -> str`, its closing table. `run_stage` wraps a call in the
stage's MLflow run (nested under the pipeline's run when there is one) and logs the stage's
settings, its numeric figures and its metrics file there.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from warc2gpt.config import Params, flatten, to_dict
from warc2gpt.mapper import Mapper, mapper_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """A stage: its name, its params section, and the module holding `run` and `summary`."""

    name: str
    section: str
    module: str
    metrics_key: str = "metrics"  # the section's setting that names its metrics file
    # (the setting naming a folder, the file in it) that holds every figure of the last run;
    # the metrics file holds only the headline ones, for `dvc metrics show` and `dvc exp show`.
    details: tuple[str, str] | None = None

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def settings(self, params: Params) -> Any:
        return getattr(params, self.section)

    def metrics_path(self, params: Params) -> Path:
        return Path(getattr(self.settings(params), self.metrics_key))

    def details_path(self, params: Params) -> Path | None:
        if self.details is None:
            return None
        key, name = self.details
        return Path(getattr(self.settings(params), key)) / name


# In pipeline order.
STAGES = {
    stage.name: stage
    for stage in (
        Stage(
            "ingest", "ingest", "warc2gpt.ingest.stage", details=("output", ".ingest-stats.json")
        ),
        Stage("curate", "curate", "warc2gpt.curate.stage", details=("output", "stats.json")),
        Stage("dedup", "dedup", "warc2gpt.dedup.stage", details=("output", "stats.json")),
        Stage("tokenizer", "tokenizer", "warc2gpt.tokenizer.train"),
        Stage(
            "tokenize", "tokenize", "warc2gpt.tokenizer.tokenize", details=("output", "stats.json")
        ),
        Stage("train", "train", "warc2gpt.train.stage", details=("output", "train_summary.json")),
        Stage(
            "evaluate", "evaluate", "warc2gpt.evaluate.stage", details=("report_dir", "eval.json")
        ),
        Stage("register", "register", "warc2gpt.registry.stage", metrics_key="output"),
    )
}


def stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}: expected one of {', '.join(STAGES)}") from None


def fan_out(settings: Any) -> tuple[str, int, str]:
    """(runner, workers, cluster address) of a section; a section without them runs in-process."""
    return (
        getattr(settings, "runner", "threads"),
        getattr(settings, "workers", 1),
        getattr(settings, "cluster_address", ""),
    )


def local_mapper(name: str, params: Params) -> Mapper:
    """The mapper the command line uses for a stage: what its settings name."""
    return mapper_for(*fan_out(stage(name).settings(params)))


def run_stage(name: str, params: Params, mapper: Mapper) -> dict[str, Any]:
    """Run one stage inside its MLflow run; returns its metrics."""
    from warc2gpt.tracking import log_metrics_safely, stage_run

    spec = stage(name)
    settings = spec.settings(params)
    with stage_run(name, params.tracking, to_dict(settings)) as mlflow:
        metrics = spec.load().run(params, mapper)
        if mlflow is not None:
            log_metrics_safely(mlflow, name, metrics, [spec.metrics_path(params)])
    return metrics


def summary(name: str, metrics: dict[str, Any]) -> str:
    return stage(name).load().summary(metrics)


def figures(name: str, params: Params) -> dict[str, Any]:
    """Every figure of stage `name`'s last run (its details, the headline over them); {} if none."""
    spec = stage(name)
    found: dict[str, Any] = {}
    for path in (spec.details_path(params), spec.metrics_path(params)):
        if path is not None and path.is_file():
            try:
                found.update(json.loads(path.read_text(encoding="utf-8")))
            except json.JSONDecodeError:
                log.warning("%s is not valid JSON (a killed run?): its figures are skipped", path)
    return found


def headline(metrics: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The figures of `metrics` named in `keys` (dotted for nested ones) that are present."""
    flat = flatten(metrics)
    return {key: flat[key] for key in keys if key in flat}


def run_local(name: str, params: Params) -> dict[str, Any]:
    """Run a stage on the mapper its settings name, without MLflow (tests, benchmarks)."""
    return stage(name).load().run(params, local_mapper(name, params))
