"""The curate stage end to end: the sample crawl's planted cases, real WARC files, resume, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from warc2gpt.cli import main as cli_main
from warc2gpt.config import load_params
from warc2gpt.curate.chain import chain_steps
from warc2gpt.curate.stage import HEADLINE, paths_for
from warc2gpt.ingest.sample import sample_manifest
from warc2gpt.ingest.warc import NotWarcError
from warc2gpt.stages import run_local

ROOT = Path(__file__).resolve().parents[2]


def params_for(tmp: Path, inputs: list[str], **curate):
    overrides = [
        f"curate.input={json.dumps(inputs)}",
        f"curate.output={json.dumps(str(tmp / 'curated'))}",
        f"curate.metrics={json.dumps(str(tmp / 'metrics/curate.json'))}",
        "curate.workers=1",
        "tracking.enabled=false",
    ]
    overrides += [f"curate.{k}={json.dumps(v)}" for k, v in curate.items()]
    return load_params(ROOT / "params.yaml", overrides)


@pytest.fixture(scope="module")
def sample_run(sample_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curate")
    params = params_for(tmp, [str(sample_dir / "*.warc.gz")])
    return params, run_local("curate", params)


def read_rows(path: Path, columns=None) -> list[dict]:
    return pq.read_table(path, columns=columns).to_pylist()


def test_every_planted_case_meets_its_fate(sample_run):
    params, metrics = sample_run
    out = Path(params.curate.output)
    fates = {}
    for shard in sorted(out.glob("*.parquet")):
        fates.update({r["url"]: "kept" for r in read_rows(shard, ["url"])})
    for shard in sorted((out / "removed").glob("*.parquet")):
        fates.update(
            {
                r["url"]: r["filter_reason"].split(":")[0]
                for r in read_rows(shard, ["url", "filter_reason"])
            }
        )
    expected = {p.url: p.expected for p in sample_manifest() if p.expected != "skipped"}
    wrong = {
        url: (fates.get(url), fate) for url, fate in expected.items() if fates.get(url) != fate
    }
    assert not wrong, f"pages with another fate than planted (got, expected): {wrong}"
    # each filter visibly acts on the sample
    for step in chain_steps(params.curate):
        if step != "extract":
            assert metrics["steps"][step]["removed"] > 0, step
    assert metrics["pii_replacements"] > 0
    assert metrics["kept"] == sum(1 for fate in expected.values() if fate == "kept")


def test_metrics_and_per_step_accounting(sample_run):
    params, metrics = sample_run
    on_disk = json.loads(Path(params.curate.metrics).read_text())
    assert on_disk == {key: metrics[key] for key in HEADLINE}  # headline figures for DVC
    assert json.loads((Path(params.curate.output) / "stats.json").read_text()) == metrics
    steps = list(metrics["steps"].values())
    for before, after in zip(steps, steps[1:], strict=False):
        assert after["in"] == before["kept"]
    assert metrics["kept"] + metrics["removed"] == metrics["pages"]
    kept_rows = sum(
        pq.read_metadata(p).num_rows for p in Path(params.curate.output).glob("*.parquet")
    )
    assert kept_rows == metrics["kept"]


def test_kept_documents_have_the_schema_and_scrubbed_pii(sample_run):
    params, _ = sample_run
    rows = [r for p in sorted(Path(params.curate.output).glob("*.parquet")) for r in read_rows(p)]
    assert {"id", "url", "date", "text", "language", "language_score"} <= set(rows[0])
    assert all(r["language"] == "en" and r["language_score"] > 0.65 for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    planted = {p.url for p in sample_manifest() if p.pii_emails}
    scrubbed = [r for r in rows if r["url"] in planted]
    assert scrubbed and all(r["pii_replacements"] > 0 for r in scrubbed)
    assert not any("@" in r["text"] and "email@example.com" not in r["text"] for r in scrubbed)


def test_resume_skips_finished_files_and_redoes_the_rest(sample_dir, tmp_path):
    params = params_for(tmp_path, [str(sample_dir / "*.warc.gz")])
    first = run_local("curate", params)
    names = sorted(p.name for p in Path(params.curate.output).glob("*.parquet"))
    kept, removed, stats = paths_for(params.curate.output, names[1].removesuffix(".parquet"))
    before = read_rows(kept)
    stats.unlink()  # as if the run died after writing the shards but before the marker
    second = run_local("curate", params)
    assert second["files_resumed"] == 2
    assert read_rows(kept) == before
    assert second["kept"] == first["kept"]


def test_killed_run_resumes_without_loss_or_duplicates(sample_dir, tmp_path):
    reference = run_local("curate", params_for(tmp_path / "ref", [str(sample_dir / "*.warc.gz")]))
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "warc2gpt.cli",
        "curate",
        "--params",
        str(ROOT / "params.yaml"),
        "--input",
        str(sample_dir / "*.warc.gz"),
        "--output",
        str(out / "curated"),
        "--set",
        f"curate.metrics={out / 'metrics.json'}",
        "--workers",
        "1",
        "--no-progress",
        "--no-tracking",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "curated" / "stats").glob("*.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "curated" / "stats").glob("*.json")))
    assert 1 <= done_before < 3, "the kill should land between files"
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    metrics = json.loads((out / "curated" / "stats.json").read_text())
    assert metrics["files_resumed"] == done_before
    ids = [
        r["id"] for p in sorted((out / "curated").glob("*.parquet")) for r in read_rows(p, ["id"])
    ]
    ref_ids = [
        r["id"]
        for p in sorted((tmp_path / "ref/curated").glob("*.parquet"))
        for r in read_rows(p, ["id"])
    ]
    assert ids == ref_ids and len(set(ids)) == len(ids) == reference["kept"]
    assert not list((out / "curated").rglob(".*tmp*")), "no temporary files left behind"


def test_real_warc_files_including_truncated_run_through(shared_data, tmp_path):
    inputs = [
        str(p)
        for p in sorted((shared_data / "warc").rglob("*.warc.gz"))
        if p.name != "trafilatura-pages.warc.gz"
    ]
    params = params_for(
        tmp_path,
        inputs,
        extractor="resiliparse",
        language={"enabled": True, "languages": [], "min_score": 0.0},
    )
    metrics = run_local("curate", params)
    assert metrics["files"] == len(inputs)
    assert metrics["read_problems"] == 1
    assert "clipped.warc.gz @ byte 0: truncated record" in metrics["read_problem_examples"][0]
    assert metrics["pages"] == 93 and metrics["kept"] > 0  # every HTML response and WET record


def test_non_warc_input_is_a_clear_error(shared_data, tmp_path):
    listing = shared_data / "warc/commoncrawl_whirlwind/CC-MAIN-2024-22.warc.paths.gz"
    target = tmp_path / "in/listing.warc.gz"
    target.parent.mkdir()
    target.write_bytes(listing.read_bytes())
    with pytest.raises(NotWarcError, match="listing.warc.gz: not a WARC"):
        run_local("curate", params_for(tmp_path, [str(target)]))


def test_no_input_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the ingest stage first"):
        run_local("curate", params_for(tmp_path, [str(tmp_path / "nothing/*.warc.gz")]))


def test_cli_writes_outputs_and_stats(sample_dir, tmp_path, capsys):
    code = cli_main(
        [
            "curate",
            "--params",
            str(ROOT / "params.yaml"),
            "--input",
            str(sample_dir / "sample-crawl-00000.warc.gz"),
            "--output",
            str(tmp_path / "out"),
            "--extractor",
            "resiliparse",
            "--workers",
            "2",
            "--no-progress",
            "--no-tracking",
            "--set",
            f"curate.metrics={tmp_path / 'm.json'}",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "gopher_repetition" in printed and "docs/s with 2 worker(s)" in printed
    assert (tmp_path / "out/sample-crawl-00000.parquet").exists()
    assert json.loads((tmp_path / "out/stats.json").read_text())["workers"] == 2


def test_cli_reports_a_bad_param_key(tmp_path, capsys):
    code = cli_main(
        [
            "curate",
            "--params",
            str(ROOT / "params.yaml"),
            "--set",
            "curate.gopher_quality.min_words=3",
        ]
    )
    assert code == 2
    assert "unknown key curate.gopher_quality.min_words" in capsys.readouterr().err


def test_prefilter_matches_the_straight_chain_on_the_sample(sample_dir, tmp_path, sample_run):
    _, straight = sample_run
    params = params_for(tmp_path, [str(sample_dir / "*.warc.gz")], prefilter_language=True)
    metrics = run_local("curate", params)
    assert metrics["kept"] == straight["kept"]
    assert metrics["steps"]["language"]["removed"] == straight["steps"]["language"]["removed"]


def test_changed_thresholds_redo_finished_files(sample_dir, tmp_path):
    inputs = [str(sample_dir / "sample-crawl-00000.warc.gz")]
    first = run_local("curate", params_for(tmp_path, inputs, extractor="resiliparse"))
    again = run_local("curate", params_for(tmp_path, inputs, extractor="resiliparse", workers=2))
    assert again["files_resumed"] == 1 and again["kept"] == first["kept"]
    stricter = run_local(
        "curate",
        params_for(
            tmp_path, inputs, extractor="resiliparse", gopher_quality={"min_doc_words": 400}
        ),
    )
    assert stricter["files_resumed"] == 0
    assert stricter["kept"] < first["kept"]


def test_shards_of_inputs_no_longer_given_are_pruned(sample_dir, tmp_path):
    both = [
        str(sample_dir / "sample-crawl-00000.warc.gz"),
        str(sample_dir / "sample-crawl-00001.warc.gz"),
    ]
    run_local("curate", params_for(tmp_path, both, extractor="resiliparse"))
    run_local("curate", params_for(tmp_path, both[:1], extractor="resiliparse"))
    out = tmp_path / "curated"
    assert sorted(p.name for p in out.glob("*.parquet")) == ["sample-crawl-00000.parquet"]
    assert sorted(p.name for p in (out / "removed").glob("*.parquet")) == [
        "sample-crawl-00000.parquet"
    ]


def test_the_url_blocklist_in_use_is_in_the_metrics_and_the_summary(sample_run):
    from warc2gpt.curate.stage import summary

    _, metrics = sample_run
    lists = metrics["url_blocklist"]
    text = summary(metrics)
    if lists["real"]:  # FineWeb's list was found (always so where ../shared/data is)
        assert lists["blocklist"] == "fineweb" and lists["domains"] > 4_000_000
        assert f"URL blocklist: fineweb, {lists['domains']:,} domains" in text
    else:
        assert lists["warning"] and f"WARNING: {lists['warning']}" in text


def test_files_are_redone_when_the_url_blocklist_found_changes(sample_dir, monkeypatch):
    from warc2gpt.curate import stage

    settings = params_for(Path("/tmp"), []).curate
    path = sorted(sample_dir.glob("*.warc.gz"))[0]
    before = stage.work_fingerprint(path, settings)
    report = stage.blocklist_report(settings)
    moved = {**report, "source": "/elsewhere"}  # the same list from another folder
    monkeypatch.setattr(stage, "blocklist_report", lambda s: moved)
    assert stage.work_fingerprint(path, settings) == before
    grown = {**report, "domains": report["domains"] + 1}
    monkeypatch.setattr(stage, "blocklist_report", lambda s: grown)
    assert stage.work_fingerprint(path, settings) != before


def test_the_language_prefilter_can_be_turned_off_from_the_command(tmp_path, sample_dir):
    out = tmp_path / "curated"
    code = cli_main(
        ["curate", "--input", str(sorted(sample_dir.glob("*.warc.gz"))[0]), "--output", str(out),
         "--no-prefilter-language", "--set", "tracking.enabled=false", "--set",
         "curate.extraction_timeout=60"]
    )  # fmt: skip
    assert code in (0, None)
    reasons = json.loads((out / "stats.json").read_text())["steps"]["language"]["reasons"]
    assert reasons and not any(r.startswith("prefilter_") for r in reasons)
