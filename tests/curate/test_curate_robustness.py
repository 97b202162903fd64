"""The curate stage on broken input: bad records and unreadable files are counted and reported,
the other files are curated, and only inputs that are not WARC/WET/ARC at all fail the run."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warc2gpt.cli import main as cli_main
from warc2gpt.config import load_params
from warc2gpt.curate import stage
from warc2gpt.curate.stage import paths_for, summary
from warc2gpt.ingest.warc import NotWarcError
from warc2gpt.stages import run_local

ROOT = Path(__file__).resolve().parents[2]
PARAGRAPH = (
    "<p>The river runs past the old mill, where the village keeps its library and a small "
    "museum of farm tools. Visitors walk the path along the water every summer weekend.</p>"
)


def write_warc(path: Path, urls: list[str | None]) -> Path:
    """Response records for `urls` (None: no WARC-Target-URI), plus one image and a warcinfo."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
    entries = [(url, f"<html><body>{PARAGRAPH * 8}</body></html>", "text/html") for url in urls]
    entries.append(("https://example.org/logo.png", "\x89PNG", "image/png"))
    for url, body, ctype in entries:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            url or "", "response", payload=io.BytesIO(body.encode()), http_headers=http
        )
        if url is None:
            record.rec_headers.remove_header("WARC-Target-URI")
        writer.write_record(record)
    path.write_bytes(out.getvalue())
    return path


def params_for(tmp: Path, inputs: list[Path]):
    overrides = [
        f"curate.input={json.dumps([str(p) for p in inputs])}",
        f"curate.output={json.dumps(str(tmp / 'curated'))}",
        f"curate.metrics={json.dumps(str(tmp / 'metrics/curate.json'))}",
        "curate.workers=1",
        "tracking.enabled=false",
    ]
    return load_params(ROOT / "params.yaml", overrides)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    good = write_warc(
        folder / "good.warc.gz",
        ["https://example.org/a", "http://[::1/x", "HTTP://EXAMPLE.ORG/B", None],
    )
    notes = folder / "notes.warc"
    notes.write_text("just some notes\n")
    empty = folder / "empty.warc.gz"
    empty.write_bytes(b"")
    return {"good": good, "notes": notes, "empty": empty}


def test_non_warc_files_fail_the_run_after_the_others_are_curated(tmp_path, inputs):
    params = params_for(tmp_path, list(inputs.values()))
    with pytest.raises(NotWarcError) as failure:
        run_local("curate", params)
    message = str(failure.value)
    assert "\n" not in message
    assert "notes.warc: not a WARC" in message and "empty.warc.gz: empty file" in message
    assert "2 of 3 input files failed" in message

    out = Path(params.curate.output)
    kept, removed, marker = paths_for(out, "good")
    assert kept.exists() and removed.exists() and marker.exists()
    assert not paths_for(out, "notes")[2].exists()  # no marker: a later run retries it
    metrics = json.loads((out / "stats.json").read_text())
    assert sorted(Path(f["file"]).name for f in metrics["files_failed"]) == [
        "empty.warc.gz",
        "notes.warc",
    ]
    assert all(f["not_warc"] for f in metrics["files_failed"])
    # the good file: warcinfo + 4 pages-to-be + an image; two URLs are problems
    assert metrics["records"] == 6
    assert metrics["skipped_records"] == {"response_not_html": 1, "warcinfo": 1}
    assert metrics["pages"] == 2 and metrics["read_problems"] == 2
    assert metrics["records"] == (
        metrics["pages"] + sum(metrics["skipped_records"].values()) + metrics["read_problems"]
    )
    problems = " | ".join(metrics["read_problem_examples"])
    assert "unparseable URL 'http://[::1/x'" in problems
    assert "response record without WARC-Target-URI" in problems
    file_stats = json.loads(marker.read_text())
    assert file_stats["records"] == 6 and file_stats["skipped_records"]["warcinfo"] == 1
    assert json.loads(Path(params.curate.metrics).read_text())  # the headline file was written
    assert "2 failed" in summary(metrics) and "failed file: " in summary(metrics)


def test_an_unreadable_warc_is_reported_and_the_run_succeeds(tmp_path, inputs, monkeypatch):
    other = write_warc(tmp_path / "in/other.warc.gz", ["https://example.org/c"])
    real = stage.iter_pages

    def iter_pages(path, *args):
        if Path(path).name == "other.warc.gz":
            raise PermissionError(f"[Errno 13] Permission denied: '{path}'")
        return real(path, *args)

    monkeypatch.setattr(stage, "iter_pages", iter_pages)
    metrics = run_local("curate", params_for(tmp_path, [inputs["good"], other]))
    (failed,) = metrics["files_failed"]
    assert failed["file"] == str(other) and not failed["not_warc"]
    assert "Permission denied" in failed["reason"]
    assert metrics["kept"] + metrics["removed"] == 2  # the good file's two readable pages


def test_cli_prints_one_line_naming_the_file(tmp_path, inputs, capsys):
    options = {
        "--params": ROOT / "params.yaml",
        "--input": inputs["notes"],
        "--output": tmp_path / "out",
        "--set": f"curate.metrics={tmp_path / 'm.json'}",
    }
    argv = ["curate", "--no-progress", "--no-tracking"]
    code = cli_main(argv + [str(x) for pair in options.items() for x in pair])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("warc2gpt curate: ") and "notes.warc: not a WARC" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_file_that_kills_its_worker_twice_is_reported_and_the_others_finish(
    tmp_path: Path, monkeypatch
) -> None:
    doomed = write_warc(tmp_path / "doomed.warc.gz", ["https://example.org/a"])
    fine = [write_warc(tmp_path / f"ok{i}.warc.gz", ["https://example.org/b"]) for i in range(2)]
    read_pages = stage.iter_pages

    def pages_or_death(path, *args, **kwargs):
        if Path(path).name == doomed.name:  # as an out-of-memory kill would, in the worker
            os.kill(os.getpid(), signal.SIGKILL)
        return read_pages(path, *args, **kwargs)

    monkeypatch.setattr(stage, "iter_pages", pages_or_death)  # forked workers inherit it
    params = load_params(ROOT / "params.yaml", ["curate.workers=2", "tracking.enabled=false"])
    params.curate.input = [str(doomed), *map(str, fine)]
    params.curate.output = str(tmp_path / "curated")
    params.curate.metrics = str(tmp_path / "metrics" / "curate.json")
    metrics = run_local("curate", params)
    (failure,) = metrics["files_failed"]
    assert failure["file"] == str(doomed) and "worker process died twice" in failure["reason"]
    assert metrics["files"] == 3 and metrics["kept"] + metrics["removed"] == 2
    assert not paths_for(params.curate.output, "doomed")[2].exists()  # retried by the next run
