"""DDP through the real entry point: torchrun with 2 gloo processes against 1 process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml


def run_training(tmp_path: Path, settings, name: str, nproc: int) -> list[float]:
    train = asdict(settings)
    train.update(
        total_batch_tokens=128,  # 2 x 4 windows x 16 tokens: accumulation 2 alone, 1 per rank
        steps=6,
        eval_every=3,
        checkpoint_dir=str(tmp_path / name / "checkpoints"),
        output=str(tmp_path / name / "model"),
        metrics=str(tmp_path / name / "train.json"),
        plot=str(tmp_path / name / "train.tsv"),
        val_plot=str(tmp_path / name / "val.tsv"),
    )
    params = tmp_path / f"{name}.yaml"
    params.write_text(yaml.safe_dump({"train": train, "tracking": {"enabled": False}}))
    entry = ["-m", "warc2gpt.train", "--params", str(params), "--quiet"]
    if nproc == 1:
        cmd = [sys.executable, *entry]
    else:
        torchrun = shutil.which("torchrun") or pytest.skip("torchrun is not installed")
        cmd = [torchrun, "--standalone", f"--nproc_per_node={nproc}", *entry]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = (tmp_path / name / "train.tsv").read_text().splitlines()[1:]
    metrics = json.loads((tmp_path / name / "train.json").read_text())
    summary = json.loads((tmp_path / name / "model" / "train_summary.json").read_text())
    assert summary["world_size"] == nproc
    assert summary["grad_accum"] == 2 // nproc
    return [float(r.split("\t")[1]) for r in rows] + [metrics["val_loss"]]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_accumulation(tmp_path, tiny_settings):
    single = run_training(tmp_path, tiny_settings, "single", 1)
    ddp = run_training(tmp_path, tiny_settings, "ddp", 2)
    assert len(single) == 7
    assert ddp == pytest.approx(single, rel=1e-4)
    assert single[-2] < single[0]  # it trained
