"""Curate-stage throughput and kept counts on the 1,033 real pages, next to datatrove's figures.

    python benchmarks/curate_throughput.py [--input PATH] [--configs trafilatura:1,resiliparse:2]

Each configuration runs the real stage (`run_local("curate", ...)`) into a fresh directory, timed end to end:
worker start-up and model loading included. Prints docs/s, docs/s per core and what each filter
removed.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    args = parser.parse_args()
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
