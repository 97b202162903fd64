"""Curate-stage throughput and kept counts on the 1,033 real pages, next to datatrove's figures.

    python benchmarks/curate_throughput.py [--input PATH] [--configs trafilatura:1,resiliparse:2]
    python benchmarks/curate_throughput.py --whole-process [--repeats 3]

Each configuration runs the real stage (`run_local("curate", ...)`) into a fresh directory, timed end to end:
worker start-up and model loading included. Prints docs/s, docs/s per core and what each filter
removed. `--whole-process` times the command a user runs instead, with the default settings:
`warc2gpt curate` pinned to one core (taskset), Python's start and imports included, wall and
CPU seconds per run, next to datatrove's 46 s for its FineWeb recipe on the same file.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from warc2gpt.config import load_params
from warc2gpt.stages import run_local

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT.parent / "shared/data/warc/pages/trafilatura-pages.warc.gz"
# datatrove 0.10.1 with FineWeb's recipe on this 2-core machine (issue figures).
PEER = {"docs_per_s_per_core_1w": 26.0, "docs_per_s_2w": 41.0, "kept": 139}
# datatrove 0.10.1, FineWeb's recipe, 1 worker on 1 core, whole process (41.9 s in its executor).
PEER_WHOLE_PROCESS_S = 46.0
DEFAULT_CONFIGS = [
    "trafilatura:1",
    "trafilatura:2",
    "trafilatura+prefilter:1",
    "trafilatura+prefilter:2",
    "resiliparse:1",
    "resiliparse:2",
]


def run_config(spec: str, input_path: Path, work: Path) -> dict:
    name, workers = spec.rsplit(":", 1)
    extractor, _, option = name.partition("+")
    out = work / spec.replace(":", "_").replace("+", "_")
    overrides = [
        f"curate.input=[{json.dumps(str(input_path))}]",
        f"curate.output={json.dumps(str(out))}",
        f"curate.metrics={json.dumps(str(out / 'metrics.json'))}",
        f"curate.workers={workers}",
        f"curate.extractor={extractor}",
        f"curate.prefilter_language={str(option == 'prefilter').lower()}",
        "tracking.enabled=false",
    ]
    params = load_params(ROOT / "params.yaml", overrides)
    start = time.perf_counter()
    metrics = run_local("curate", params)
    wall = time.perf_counter() - start
    kept_ids = set(
        pq.read_table(out / f"{input_path.name.split('.')[0]}.parquet", columns=["id"])
        .column("id")
        .to_pylist()
    )
    return {
        "spec": spec,
        "workers": int(workers),
        "wall": wall,
        "metrics": metrics,
        "kept_ids": kept_ids,
    }


def whole_process(input_path: Path, repeats: int) -> None:
    """`warc2gpt curate` with the default settings on one core, as a user runs it."""
    command = [str(Path(sys.executable).with_name("warc2gpt")), "curate"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    print(f"{'run':>4}{'wall s':>9}{'CPU s':>8}{'docs/s':>9}{'kept':>6}{'vs peer 46 s':>14}")
    for run in range(1, repeats + 1):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "curated"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                [*command, "--input", str(input_path), "--output", str(out), "--workers", "1",
                 "--set", "tracking.enabled=false"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            metrics = json.loads((out / "stats.json").read_text())
        print(
            f"{run:>4}{wall:>9.1f}{cpu:>8.1f}{metrics['pages'] / wall:>9.1f}{metrics['kept']:>6}"
            f"{PEER_WHOLE_PROCESS_S / wall:>13.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    parser.add_argument("--whole-process", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.whole_process:
        whole_process(args.input, args.repeats)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.configs.split(","):
            results.append(run_config(spec, args.input, Path(tmp)))
            r = results[-1]
            print(f"done {spec}: {r['metrics']['pages']} pages in {r['wall']:.1f} s", flush=True)

    peer_per_core = PEER["docs_per_s_per_core_1w"]
    print()
    print(
        f"{'configuration':<26}{'workers':>8}{'docs/s':>9}{'/core':>8}{'vs peer/core':>14}"
        f"{'kept':>6}"
    )
    for r in results:
        pages = r["metrics"]["pages"]
        rate = pages / r["wall"]
        per_core = rate / r["workers"]
        print(
            f"{r['spec'].rsplit(':', 1)[0]:<26}{r['workers']:>8}{rate:>9.1f}{per_core:>8.1f}"
            f"{per_core / peer_per_core:>13.1f}x{r['metrics']['kept']:>6}"
        )
    print(f"{'datatrove 0.10.1 (peer)':<26}{1:>8}{26.0:>9.1f}{26.0:>8.1f}{1.0:>13.1f}x{139:>6}")
    print(
        f"{'datatrove 0.10.1 (peer)':<26}{2:>8}{41.0:>9.1f}{20.5:>8.1f}{20.5 / 26:>13.1f}x{139:>6}"
    )

    print("\nremoved per step (first run of each extractor)")
    seen = set()
    for r in results:
        key = r["spec"].rsplit(":", 1)[0]
        if key in seen:
            continue
        seen.add(key)
        steps = r["metrics"]["steps"]
        print(
            f"  {key}: "
            + ", ".join(f"{n} -{s['removed']}" for n, s in steps.items())
            + f"  -> kept {r['metrics']['kept']}"
        )

    straight = next((r for r in results if r["spec"].startswith("trafilatura:")), None)
    for r in results:
        if straight and r["spec"].startswith("trafilatura+prefilter"):
            diff = straight["kept_ids"] ^ r["kept_ids"]
            print(
                f"\nprefilter vs straight chain ({r['spec']}): {len(diff)} kept documents differ "
                f"({len(straight['kept_ids'] - r['kept_ids'])} only in straight, "
                f"{len(r['kept_ids'] - straight['kept_ids'])} only in prefilter)"
            )
            break


if __name__ == "__main__":
    main()
