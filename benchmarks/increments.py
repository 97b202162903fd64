"""Scheduled increments end to end: WARC files in, one continued model per increment out.

`--increments` small WARC files are made from the 1,033 real pages of
../shared/data/warc/pages/trafilatura-pages.warc.gz (read with crawl_scale.py's `source_pages`),
as crawl_scale.py makes its records: record i is page i mod 1,033 of a fixed shuffle of them
(the file lists pages site by site, and most are German: about one page in eight passes curate's
English and quality filters, so every file gets a mix), with crawl_scale's `varied` words and,
past the first pass, a URL of its own. File k holds the next `--new` records (100); from the
second file on also `--repeats` (20) records of earlier files fetched again (the same URL and
payload, a new record id), so dedup has documents to decide against earlier increments' kept
ones. The files sit in one folder, the ingest source, taken one per run in file-name order.

Each increment then runs every stage in this process (`run_local`) with the settings of
presets/increments.yaml (ingest.mode increment, dedup.index, tokenizer.frozen, tokenize.append,
train.replay) over a small CPU model: ingest, curate (resiliparse), dedup, tokenizer (trained on
the first increment, kept after), tokenize, train (`--steps` steps; from the second increment on
train.init is the previous increment's exported model folder, each increment's model in its own
folder) and evaluate on a frozen set, the first increment's val shards. Every file lives under
`--work`, wiped first; its params.yaml holds the settings every increment shares.

The table shows per increment: documents into and out of curate and dedup, those dedup removed
against earlier increments next to the repeats of pages an earlier increment kept (what it
must remove; a later pass's copy of a page whose text `varied` barely changes can match too),
the documents tokenize encoded, each stage's wall seconds, the
train tokens the model has seen in all, and val bits per byte on the frozen set. Then the data
stages' time (ingest + curate + dedup + tokenize) of the last increment over the first's, and
the median of the last 5 over that of increments 2-6 (the first pays one-off costs: imports,
model loads), and whether val bpb went down from the first increment to the last. PyTorch runs
on `--torch-threads` (1): the model is too small to gain from more, and on busy cores its
threads' spin-waits made a train step 20x slower.

    python benchmarks/increments.py [--increments 30] [--work .bench_data/increments]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_scale import PAGES, source_pages, varied  # noqa: E402

from warc2gpt.config import deep_merge, load_params, read_yaml  # noqa: E402
from warc2gpt.progress import set_enabled  # noqa: E402
from warc2gpt.stages import run_local  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "presets" / "increments.yaml"
DATA_STAGES = ("ingest", "curate", "dedup", "tokenize")
STAGES = ("ingest", "curate", "dedup", "tokenizer", "tokenize", "train", "evaluate")


class StageFailed(RuntimeError):
    """A stage raised: which increment, which stage (the stage's own error is its cause)."""


def write_warc(path: Path, records: list[tuple[str, str, list, str, bytes, str]]) -> None:
    """A gzip-per-record WARC file of (url, date, HTTP headers, status line, body, record id)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, date, headers, status, body, record_id in records:
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=StatusAndHeaders(status, list(headers), protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": record_id},
            )
            writer.write_record(record)


def make_increment_files(folder: Path, count: int, new: int, repeats: int) -> list[list[str]]:
    """`count` WARC files in `folder` (see the module's docstring); the URLs of the records
    each repeats from earlier files."""
    pages = source_pages()
    order = list(range(len(pages)))
    random.Random(0).shuffle(order)
    rng = random.Random(1)
    folder.mkdir(parents=True)
    earlier: list[tuple] = []
    repeated = []
    for k in range(count):
        records = []
        for i in range(k * new, (k + 1) * new):
            url, date, headers, status, body = pages[order[i % len(pages)]]
            copy = i // len(pages)
            if copy:
                url = f"{url}{'&' if '?' in url else '?'}copy={copy}"
            record_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{i}:{url}')}>"
            records.append((url, date, headers, status, varied(body, copy), record_id))
        # A page fetched again: the same URL and payload in a record of its own.
        again = [
            (*record[:5], f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{k}:{record[5]}')}>")
            for record in rng.sample(earlier, min(repeats, len(earlier)))
        ]
        write_warc(folder / f"inc-{k + 1:04d}.warc.gz", records + again)
        earlier += records
        repeated.append([record[0] for record in again])
    return repeated


def shared_params(work: Path, steps: int) -> dict[str, Any]:
    """presets/increments.yaml with every path in `work`, a small CPU model and evaluation."""
    w = str(work)
    bench = {
        "ingest": {
            "sources": [f"{w}/warcs"],
            "output": f"{w}/raw",
            "state": f"{w}/increments/state.json",
            "metrics": f"{w}/metrics/ingest.json",
            "workers": 1,
        },
        "curate": {
            "output": f"{w}/curated",
            "metrics": f"{w}/metrics/curate.json",
            "extractor": "resiliparse",
            "runner": "threads",
            "workers": 1,
        },
        "dedup": {
            "input": [f"{w}/curated/*.parquet"],
            "output": f"{w}/dedup",
            "work_dir": f"{w}/dedup_work",
            "index": f"{w}/dedup_index",
            "metrics": f"{w}/metrics/dedup.json",
            "runner": "threads",
            "workers": 1,
            "partitions": 1,
        },
        "tokenizer": {
            "input": [f"{w}/dedup/*.parquet"],
            "output": f"{w}/tokenizer",
            "metrics": f"{w}/metrics/tokenizer.json",
            "vocab_size": 512,
        },
        "tokenize": {
            "output": f"{w}/tokens",
            "metrics": f"{w}/metrics/tokenize.json",
            "runner": "threads",
            "workers": 1,
        },
        "train": {
            "data": f"{w}/tokens",
            "tokenizer_dir": f"{w}/tokenizer",
            "checkpoint_dir": f"{w}/checkpoints",
            "metrics": f"{w}/metrics/train.json",
            "plot": f"{w}/plots/train.tsv",
            "val_plot": f"{w}/plots/val.tsv",
            "depth": 1,
            "n_embd": 64,
            "head_dim": 32,
            "sequence_len": 64,
            "device_batch_size": 4,
            "steps": steps,
            "warmup_steps": 2,
            "eval_every": 0,
            "eval_tokens": 2048,
            "checkpoint_every": 0,
            "log_every": 10,
            "device": "cpu",
            "compile": False,
        },
        "evaluate": {
            "tokenizer_dir": f"{w}/tokenizer",
            "val_tokens": f"{w}/tokens/val_i0001_*.bin",
            "device": "cpu",
            "max_val_tokens": 4096,
            "prompts": ["The web page"],
            "generation": {"max_new_tokens": 8},
            "loss_curves": [f"{w}/plots/train.tsv", f"{w}/plots/val.tsv"],
            "metrics": f"{w}/metrics/eval.json",
            "report_dir": f"{w}/reports",
        },
        "tracking": {"enabled": False},
    }
    return deep_merge(read_yaml(PRESET.read_text(encoding="utf-8")), bench)


def run_stage(k: int, name: str, params: Any) -> tuple[dict[str, Any], float]:
    """(metrics, wall seconds) of one stage; StageFailed names the increment and the stage."""
    started = time.perf_counter()
    try:
        metrics = run_local(name, params)
    except Exception as exc:
        raise StageFailed(
            f"increment {k}: the {name} stage failed: {type(exc).__name__}: {exc}"
        ) from exc
    return metrics, time.perf_counter() - started


def kept_urls(folder: Path) -> set[str]:
    """The URLs of the documents in a folder of Parquet shards."""
    return {
        url
        for path in sorted(folder.glob("*.parquet"))
        for url in pq.read_table(path, columns=["url"]).column("url").to_pylist()
    }


def run_increment(
    k: int, work: Path, previous_model: Path | None, repeated: list[str], kept: set[str]
) -> dict[str, Any]:
    """Every stage of increment k; the row of the table. `repeated`: the URLs of its records
    that repeat earlier files' ones; `kept`: those of every document earlier increments kept,
    to which this increment's are added."""
    model = work / "models" / f"i{k:04d}"
    init = str(previous_model) if previous_model else ""
    settings = [f"train.init={json.dumps(init)}", f"train.output={json.dumps(str(model))}"]
    params = load_params(work / "params.yaml", settings)
    row: dict[str, Any] = {"increment": k, "seconds": {}}
    figures = {}
    for name in STAGES:
        if name == "evaluate":
            # Nothing new to train on leaves no model of this increment: the previous one stands.
            model = model if model.is_dir() else previous_model
            params = load_params(
                work / "params.yaml", settings + [f"evaluate.model_dir={json.dumps(str(model))}"]
            )
        figures[name], row["seconds"][name] = run_stage(k, name, params)
        if name == "ingest" and figures[name].get("new_files") != 1:
            raise StageFailed(
                f"increment {k}: ingest took {figures[name].get('new_files')} files, not 1"
            )
        if name == "dedup":
            # Counted before this increment's survivors join: a repeat of a page an earlier
            # increment kept is what the index must remove.
            row["expected"] = len(set(repeated) & kept)
            kept |= kept_urls(work / "dedup")
    curate, dedup, tokenize, train, evaluate = (
        figures[n] for n in ("curate", "dedup", "tokenize", "train", "evaluate")
    )
    row |= {
        "model": model,
        "curate_in": curate["pages"],
        "curate_out": curate["kept"],
        "dedup_in": dedup["docs_in"],
        "dedup_out": dedup["docs_out"],
        "repeats": len(repeated),
        "earlier": dedup["removed_earlier"],
        "tokenize_docs": tokenize["train"]["documents"] + tokenize["val"]["documents"],
        "train_tokens": tokenize["train_tokens"],
        "trained": "nothing_new" not in train,
        "tokens_seen": train.get("total_tokens"),
        "val_bpb": evaluate["val_bpb"],
        "val_tokens": evaluate["val_tokens"],
    }
    row["data_seconds"] = sum(row["seconds"][n] for n in DATA_STAGES)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'inc':>4} {'rep':>4} {'curate':>9} {'dedup':>9} {'earlier':>8} {'expect':>6} "
        f"{'tok docs':>8} {'ingest':>7} {'curate':>7} {'dedup':>7} {'tokzr':>6} {'tokize':>7} "
        f"{'data s':>7} {'train':>7} {'eval':>6} {'tokens seen':>12} {'val bpb':>8}"
    )
    for row in rows:
        s = row["seconds"]
        seen = f"{row['tokens_seen']:,}" if row["tokens_seen"] is not None else "-"
        mark = "" if row["trained"] else "*"
        print(
            f"{row['increment']:>4} {row['repeats']:>4} "
            f"{row['curate_in']:>4}>{row['curate_out']:<4} "
            f"{row['dedup_in']:>4}>{row['dedup_out']:<4} {row['earlier']:>8} {row['expected']:>6} "
            f"{row['tokenize_docs']:>8} {s['ingest']:>7.2f} {s['curate']:>7.2f} "
            f"{s['dedup']:>7.2f} {s['tokenizer']:>6.2f} {s['tokenize']:>7.2f} "
            f"{row['data_seconds']:>7.2f} {s['train']:>7.2f} {s['evaluate']:>6.2f} "
            f"{seen + mark:>12} {row['val_bpb']:>8.4f}"
        )
    print(
        "rep: records repeating an earlier file's; curate/dedup: documents in>out; earlier: "
        "removed against earlier increments; expect: repeats of pages an earlier increment "
        "kept (a later pass's copy of a page can match too); data s: "
        "ingest+curate+dedup+tokenize"
        + ("; *: nothing new to train on" if not all(r["trained"] for r in rows) else "")
    )
    print(
        f"val bpb on the frozen set: {rows[0]['val_tokens']:,} tokens of increment 1's val shards"
    )
    first, last = rows[0], rows[-1]
    print(
        f"data stages: last/first {last['data_seconds'] / first['data_seconds']:.2f} "
        f"({last['data_seconds']:.2f} s / {first['data_seconds']:.2f} s)"
    )
    if len(rows) >= 7:
        early = statistics.median(r["data_seconds"] for r in rows[1:6])
        late = statistics.median(r["data_seconds"] for r in rows[-5:])
        print(
            f"data stages: median of the last 5 / median of increments 2-6 {late / early:.2f} "
            f"({late:.2f} s / {early:.2f} s)"
        )
    went = "went down" if last["val_bpb"] < first["val_bpb"] else "did not go down"
    print(
        f"val bpb {went}: {first['val_bpb']:.4f} after increment 1, "
        f"{last['val_bpb']:.4f} after increment {last['increment']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--increments", type=int, default=30)
    parser.add_argument("--work", type=Path, default=ROOT / ".bench_data" / "increments")
    parser.add_argument("--new", type=int, default=100, help="new records per WARC file")
    parser.add_argument(
        "--repeats", type=int, default=20, help="records repeated from earlier files, per file"
    )
    parser.add_argument("--steps", type=int, default=30, help="train steps per increment")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="PyTorch's CPU threads; 1 suits the small model (more spin on busy cores)",
    )
    args = parser.parse_args()
    if not PAGES.exists():
        raise SystemExit(f"{PAGES} not found (set WARC2GPT_SHARED_DATA)")

    set_enabled(False)  # one line per increment instead of the stages' progress bars
    torch.set_num_threads(args.torch_threads)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    repeated = make_increment_files(work / "warcs", args.increments, args.new, args.repeats)
    print(
        f"made {args.increments} WARC files of {args.new} new records (+ up to {args.repeats} "
        f"repeated) in {work / 'warcs'} in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    params = shared_params(work, args.steps)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    rows: list[dict[str, Any]] = []
    previous_model = None
    kept: set[str] = set()
    loop_started = time.perf_counter()
    for k in range(1, args.increments + 1):
        row = run_increment(k, work, previous_model, repeated[k - 1], kept)
        rows.append(row)
        previous_model = row["model"]
        elapsed = time.perf_counter() - loop_started
        eta = elapsed / k * (args.increments - k)
        print(
            f"[{k}/{args.increments}] curate {row['curate_in']}>{row['curate_out']}, "
            f"dedup {row['dedup_in']}>{row['dedup_out']} ({row['earlier']} earlier), "
            f"data {row['data_seconds']:.1f} s, train {row['seconds']['train']:.1f} s, "
            f"val bpb {row['val_bpb']:.4f}; {elapsed:.0f} s of increments so far, ETA {eta:.0f} s",
            flush=True,
        )
    print_table(rows)
    print(f"total wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
