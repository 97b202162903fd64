"""Where a training run's figures go: progress, the MLflow run, the plot files and the summaries.

Every process keeps the step and validation history (a checkpoint carries it); only rank 0
shows progress and writes: plots/train.tsv and plots/val.tsv for DVC, the headline figures to
metrics/train.json (`HEADLINE`, narrow enough for `dvc metrics show`), everything else (shape,
batch, device, resume, the histories) to `train_summary.json` beside the exported model. MLflow
gets the per-step series as `train/<figure>` and `val/loss`; with tracking off, MLflow missing
or on other ranks its place is taken by a tracker that does nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warc2gpt.atomic import write_text
from warc2gpt.config import TrackingSettings, TrainSettings, to_dict
from warc2gpt.progress import Progress
from warc2gpt.tracking import log_metrics_safely, stage_run, write_metrics
from warc2gpt.train.checkpoint import SUMMARY_FILE
from warc2gpt.train.inflight import StepFigures

log = logging.getLogger(__name__)

PLOT_COLUMNS = ["step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu"]
VAL_PLOT_COLUMNS = ["step", "val_loss"]
# metrics/train.json: the figures that fit one `dvc metrics show` row; the rest is the summary's.
HEADLINE = ("train_loss", "val_loss")


def summary_path(settings: TrainSettings) -> Path:
    """The run's full summary: beside the exported model, not a DVC metric."""
    return Path(settings.output) / SUMMARY_FILE


def write_tsv(path: str | Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """A tab-separated plot file for DVC, written atomically."""
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(_fmt(row.get(c)) for c in columns))
    write_text(path, "\n".join(lines) + "\n")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def restore_published(settings: TrainSettings) -> list[str]:
    """The plots and metrics/train.json of the exported model, from its summary, where they are
    missing (a run that trains nothing leaves the model as it is, and DVC may have removed the
    stage's other outputs before running it). Returns the files written."""
    path = summary_path(settings)
    if not path.is_file():
        return []
    summary = json.loads(path.read_text(encoding="utf-8"))
    missing = [
        p for p in (settings.plot, settings.val_plot, settings.metrics) if not Path(p).exists()
    ]
    if settings.plot in missing:
        write_tsv(settings.plot, PLOT_COLUMNS, summary.get("history", []))
    if settings.val_plot in missing:
        write_tsv(settings.val_plot, VAL_PLOT_COLUMNS, summary.get("val_history", []))
    if settings.metrics in missing:
        write_metrics(settings.metrics, {k: summary.get(k) for k in HEADLINE})
    return [str(p) for p in missing]


class NoTracking:
    """The tracker when nothing is tracked: every call does nothing."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def finish(self, headline: dict[str, Any], metrics_file: Path, files: list[Path]) -> None:
        pass


class MlflowTracking:
    """Figures to an MLflow run; a failure turns logging off, never the training.

    `owns_run`: the run was opened for this training (a bare `python -m warc2gpt.train`), so
    the headline figures and the metrics file go there too; a stage wrapper's run gets those
    from the wrapper.
    """

    def __init__(self, mlflow: Any, owns_run: bool) -> None:
        self.mlflow, self.owns_run = mlflow, owns_run

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self.mlflow is None:
            return
        try:
            self.mlflow.log_metrics(metrics, step=step)
        except Exception as exc:  # noqa: BLE001 - tracking must never stop the training
            log.warning("MLflow logging failed, continuing without it: %s", exc)
            self.mlflow = None

    def finish(self, headline: dict[str, Any], metrics_file: Path, files: list[Path]) -> None:
        if self.mlflow is None:
            return
        if self.owns_run:
            log_metrics_safely(self.mlflow, "train", headline, [metrics_file, *files])
        else:
            log_metrics_safely(self.mlflow, "train", {}, files)


@contextmanager
def open_tracking(
    tracking: TrackingSettings | None, settings: TrainSettings, writes: bool
) -> Iterator[NoTracking | MlflowTracking]:
    """The MLflow run this process's figures go to.

    The active run when there is one (a stage wrapper opened it); else, with tracking on and
    MLflow installed, a `train` stage run of its own; else (and on ranks other than 0) none.
    """
    if not writes or tracking is None or not tracking.enabled:
        yield NoTracking()
        return
    try:
        import mlflow
    except ImportError:
        yield NoTracking()
        return
    if mlflow.active_run() is not None:
        yield MlflowTracking(mlflow, owns_run=False)
        return
    with stage_run("train", tracking, to_dict(settings)) as run:
        yield MlflowTracking(run, owns_run=True) if run is not None else NoTracking()


@dataclass
class Throughput:
    """What turns a step's seconds into tokens/s and MFU; `peak_flops` None: no MFU (off GPU)."""

    tokens_per_step: int
    flops_per_token: int
    peak_flops: float | None

    def mfu(self, tokens_per_s: float) -> float | None:
        if self.peak_flops is None:
            return None
        return self.flops_per_token * tokens_per_s / self.peak_flops


class RunLog:
    """A run's record: `step(figures)` per optimizer step, `val(step, loss)` per evaluation,
    `finish(...)` at the end; leaving the `with` closes the progress display.

    `writes`: this process shows progress and writes files (rank 0); the others only keep the
    history. `progress` None: as the process's progress setting says. `resumed`: a
    checkpoint's `history` and `val_history`, continued here.
    """

    def __init__(
        self,
        settings: TrainSettings,
        tracker: NoTracking | MlflowTracking,
        throughput: Throughput,
        *,
        writes: bool,
        progress: bool | None,
        resumed: dict[str, Any],
    ) -> None:
        self.settings, self.tracker, self.throughput = settings, tracker, throughput
        self.writes = writes
        self.history = list(resumed.get("history", ()))
        self.val_history = list(resumed.get("val_history", ()))
        self.first_step = len(self.history)  # of this process: one row per step before it
        self.progress = Progress(
            "train",
            total=settings.steps,
            unit="step",
            enabled=progress if writes else False,
            every_n=settings.log_every,
            initial=self.first_step,
        )
        self.started = time.perf_counter()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.close()

    def steps(self, read: list[StepFigures]) -> None:
        """Record steps as they are read: history, MLflow every train.log_every, progress."""
        for figures in read:
            tokens_per_s = self.throughput.tokens_per_step / figures.seconds
            row = {
                "step": figures.step,
                "loss": figures.loss,
                "lr": figures.lr,
                "grad_norm": figures.grad_norm,
                "tokens_per_s": tokens_per_s,
                "mfu": self.throughput.mfu(tokens_per_s),
                "time_s": figures.seconds,
            }
            self.history.append(row)
            step = figures.step
            if step % self.settings.log_every == 0 or step == self.settings.steps - 1:
                series = {f"train/{k}": v for k, v in row.items() if k != "step" and v is not None}
                self.tracker.log_metrics(series, step)
            shown = {"loss": f"{figures.loss:.4f}", "tokens/s": f"{tokens_per_s:,.0f}"}
            if row["mfu"] is not None:
                shown["MFU"] = f"{100 * row['mfu']:.1f}%"
            self.progress.update(1, **shown)

    def val(self, step: int, val_loss: float) -> None:
        self.val_history.append({"step": step, "val_loss": val_loss})
        self.tracker.log_metrics({"val/loss": val_loss}, step)
        self.progress.update(0, **{"val loss": f"{val_loss:.4f}"})

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the record."""
        return {"history": self.history, "val_history": self.val_history}

    def finish(
        self, params: int, unigram_entropy: float | None, details: dict[str, Any]
    ) -> dict[str, Any]:
        """The run's figures and `details`; the progress display ends here.

        The summary beside the model is `summary(figures)`, written with the exported model;
        `publish(figures)` then writes the rest.
        """
        wall_s = time.perf_counter() - self.started
        self.progress.close()
        # Throughput over the second half of this process's steps: past compilation and warm-up.
        run = self.history[self.first_step :]
        timed = run[len(run) // 2 :]
        seconds = sum(row["time_s"] for row in timed)
        tokens_per_s = self.throughput.tokens_per_step * len(timed) / seconds if timed else 0.0
        settings = self.settings
        figures = {
            "params": params,
            "steps": settings.steps,
            "tokens": settings.steps * self.throughput.tokens_per_step,
            "train_loss": self.history[-1]["loss"] if self.history else None,
            "val_loss": self.val_history[-1]["val_loss"],
            "unigram_entropy": unigram_entropy,
            "tokens_per_s": tokens_per_s,
            "mfu": self.throughput.mfu(tokens_per_s),
            "wall_s": wall_s,
            **details,
        }
        return figures

    def summary(self, figures: dict[str, Any]) -> dict[str, Any]:
        """What `train_summary.json` holds: every figure and the step and validation histories."""
        return {**figures, **self.state_dict()}

    def publish(self, figures: dict[str, Any]) -> None:
        """Rank 0 writes the plots and the `HEADLINE` figures to metrics/train.json and hands
        them, with the summary beside the exported model, to MLflow. Called once the model is
        in place, so these never describe a model a failed export left out."""
        if not self.writes:
            return
        settings = self.settings
        headline = {k: figures[k] for k in HEADLINE}
        write_tsv(settings.plot, PLOT_COLUMNS, self.history)
        write_tsv(settings.val_plot, VAL_PLOT_COLUMNS, self.val_history)
        write_metrics(settings.metrics, headline)
        files = [Path(settings.plot), Path(settings.val_plot), summary_path(settings)]
        self.tracker.finish(headline, Path(settings.metrics), files)
