"""A stage run from its command and from its Prefect flow: the same work, the same outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from warc2gpt.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _params(tmp_path: Path, sample_dir: Path, name: str) -> Path:
    """Curate the sample into tmp_path/name on 2 processes, without extraction timeouts (a
    loaded machine must not change the output)."""
    curate = {"input": [f"{sample_dir}/*.warc.gz"], "output": str(tmp_path / name)}
    curate |= {"metrics": str(tmp_path / name / "curate.json"), "extraction_timeout": 60}
    curate |= {"workers": 2, "runner": "processes"}
    params = tmp_path / f"{name}.yaml"
    params.write_text(yaml.safe_dump({"curate": curate, "tracking": {"enabled": False}}))
    return params


def _counts(steps: dict) -> dict:
    return {name: {k: v for k, v in step.items() if k != "seconds"} for name, step in steps.items()}


def test_command_and_flow_of_curate_write_identical_shards(
    importable_flows, read_shards, sample_dir, tmp_path
):
    from prefect.testing.utilities import prefect_test_harness

    from flows.curate import curate_flow

    assert main(["curate", "--params", str(_params(tmp_path, sample_dir, "cli"))]) == 0
    with prefect_test_harness(server_startup_timeout=120):
        flow_metrics = curate_flow(str(_params(tmp_path, sample_dir, "flow")))
    cli_rows, flow_rows = read_shards(tmp_path / "cli"), read_shards(tmp_path / "flow")
    assert len(cli_rows) == 6  # kept and removed shards of the three sample files
    assert sum(len(rows) for rows in cli_rows.values()) == flow_metrics["pages"] > 0
    assert flow_rows == cli_rows
    cli_metrics = json.loads((tmp_path / "cli" / "curate.json").read_text())
    assert cli_metrics == json.loads((tmp_path / "flow" / "curate.json").read_text())
    cli_details = json.loads((tmp_path / "cli" / "stats.json").read_text())
    for key in ("files", "pages", "kept", "removed", "records", "pii_replacements"):
        assert cli_details[key] == flow_metrics[key], key
    assert _counts(cli_details["steps"]) == _counts(flow_metrics["steps"])  # not the timings
    assert flow_metrics["workers"] == 2


def test_a_hand_run_with_output_leaves_the_pipeline_metrics_alone(
    sample_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    pipeline_metrics = tmp_path / "metrics" / "curate.json"
    pipeline_metrics.parent.mkdir()
    pipeline_metrics.write_text('{"kept": 1}\n')
    args = ["curate", "--input", str(sample_dir / "sample-crawl-00000.warc.gz")]
    args += ["--output", "scratch/curated", "--extractor", "resiliparse", "--no-tracking"]
    assert main(args) == 0
    assert pipeline_metrics.read_text() == '{"kept": 1}\n'
    assert json.loads((tmp_path / "scratch/curated/metrics.json").read_text())["kept"] > 0
