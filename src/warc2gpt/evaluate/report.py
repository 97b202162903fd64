"""The evaluation report: a markdown page of the figures and samples, and a PNG of the loss curves.

The PNG draws every `*loss*` column of the step-indexed TSV files the train stage writes.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from warc2gpt.atomic import atomic_write, write_text

REPORT_FILE = "eval.md"
CURVES_FILE = "loss_curves.png"


def read_curves(paths: Sequence[str | Path]) -> dict[str, tuple[list[float], list[float]]]:
    """{`file:column`: (steps, values)} for each loss column of the TSV files that exist."""
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for path in map(Path, paths):
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        for column in (c for c in rows[0] if c and "loss" in c):
            steps, values = [], []
            for row in rows:
                try:
                    step, value = float(row["step"]), float(row[column])
                except (TypeError, ValueError):
                    continue  # blank cell: the metric was not measured at this step
                if math.isfinite(value):
                    steps.append(step)
                    values.append(value)
            if steps:
                curves[f"{path.stem}:{column}"] = (steps, values)
    return curves


def plot_loss_curves(
    curves: Mapping[str, tuple[list[float], list[float]]], out: str | Path
) -> Path | None:
    """Draw the curves into a PNG; None when there is nothing to draw."""
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    out = Path(out)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        for name, (steps, values) in curves.items():
            ax.plot(steps, values, label=name, marker="o" if len(steps) < 20 else None)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats per token)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_write(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_markdown(
    metrics: Mapping[str, Any], samples: Sequence[Mapping[str, str]], curves_file: str | None
) -> str:
    """The report page: a metrics table, the loss curves image, the fixed-prompt samples."""
    lines = ["# Evaluation", "", "| metric | value |", "|---|---|"]
    lines += [
        f"| {key} | {_fmt(value)} |"
        for key, value in sorted(metrics.items())
        if isinstance(value, (int, float))
    ]
    lines.append("")
    if curves_file:
        lines += ["## Loss curves", "", f"![loss curves]({curves_file})", ""]
    lines += [
        "Interactive training and validation curves: `dvc plots show`, then open "
        "[dvc_plots/index.html](../dvc_plots/index.html) (renders offline); compare experiments "
        "with `dvc plots diff`.",
        "",
    ]
    if samples:
        lines += ["## Samples", ""]
        for sample in samples:
            lines += [
                f"**{sample['prompt']}**",
                "",
                "```text",
                sample["prompt"] + sample["completion"],
                "```",
                "",
            ]
    return "\n".join(lines)


def write_report(
    report_dir: str | Path,
    metrics: Mapping[str, Any],
    samples: Sequence[Mapping[str, str]],
    curve_files: Sequence[str | Path] = (),
) -> list[Path]:
    """Write eval.md (and loss_curves.png when there are curves), each atomically; returns the
    files written."""
    report_dir = Path(report_dir)
    png = plot_loss_curves(read_curves(curve_files), report_dir / CURVES_FILE)
    md = report_dir / REPORT_FILE
    write_text(md, render_markdown(metrics, samples, png.name if png else None))
    if png is None:
        (report_dir / CURVES_FILE).unlink(missing_ok=True)  # no stale curves from an older run
    return [md] + ([png] if png else [])
