"""`dvc metrics show` and `dvc exp show` of the project read in a 150-column terminal: the
metrics files hold only the headline figures and params.yaml only what differs from defaults.

A throwaway repository with the project's dvc.yaml and params.yaml and metrics files of the
size a real crawl gives (the headline keys the stages write, crawl-sized values)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warc2gpt.config import load_params
from warc2gpt.stages import STAGES

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 150
# Crawl-sized figures: ten-digit counts; losses, bpb and accuracies at full float precision.
COUNT, FIGURE = 1234567890, 5.4074262170230645


def headline_keys() -> dict[str, list[str]]:
    """metrics file -> the keys its stage writes there, for the stages DVC shows as metrics."""
    from warc2gpt.curate.stage import HEADLINE as CURATE
    from warc2gpt.dedup.stage import HEADLINE as DEDUP
    from warc2gpt.evaluate.stage import HEADLINE as EVALUATE
    from warc2gpt.tokenizer.tokenize import HEADLINE as TOKENIZE
    from warc2gpt.train.runlog import HEADLINE as TRAIN

    keys = {"curate": CURATE, "dedup": DEDUP, "tokenize": TOKENIZE, "train": TRAIN}
    keys["evaluate"] = EVALUATE
    params = load_params(ROOT / "params.yaml")
    return {str(STAGES[s].metrics_path(params)): list(k) for s, k in keys.items()}


def _write_metrics(repo: Path, scale: int) -> None:
    for path, keys in headline_keys().items():
        values = {
            k: FIGURE / scale if k.endswith(("loss", "bpb", "acc")) else COUNT * scale for k in keys
        }
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(json.dumps(values))


def _dvc(repo: Path, *args: str) -> str:
    env = dict(os.environ, COLUMNS=str(WIDTH), DVC_NO_ANALYTICS="1")
    dvc = str(Path(sys.executable).with_name("dvc"))
    result = subprocess.run([dvc, *args], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The project's stage graph and params with one committed run and a changed workspace."""
    repo = tmp_path_factory.mktemp("views")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    _write_metrics(repo, 1)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "baseline"], cwd=repo, check=True)
    params = (repo / "params.yaml").read_text().replace("train: {}", "train:\n  steps: 400")
    (repo / "params.yaml").write_text(params)
    _write_metrics(repo, 2)
    return repo


def test_metrics_show_fits_with_every_headline_figure(repo: Path) -> None:
    table = _dvc(repo, "metrics", "show")
    assert max(len(line) for line in table.splitlines()) <= WIDTH, table
    header = table.splitlines()[0].split()
    assert {k for keys in headline_keys().values() for k in keys} <= set(header), table


def test_exp_show_lists_the_figures_and_the_changed_setting_in_full(repo: Path) -> None:
    # DVC adds a hash column per file dependency; dropping the path columns leaves the
    # experiment's own view: its headline figures and the settings it changed.
    table = _dvc(repo, "exp", "show", "--no-pager", "--drop", ".*/")
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= WIDTH, table
    assert "…" not in table, table  # nothing collapsed
    header = lines[1].split()
    assert {k for keys in headline_keys().values() for k in keys} <= set(header), table
    assert "train.steps" in header and "400" in table
