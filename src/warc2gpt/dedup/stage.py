"""The dedup stage end to end: signatures per shard -> band buckets per key range -> clusters
-> (with `dedup.index`: lookup in the index of earlier increments) -> filter per shard -> (the
survivors added to the index) -> metrics. The steps that fan out go through the stage's mapper
(local processes, or Prefect tasks in the flow). The work files of every step stay in the work
directory, so a rerun resumes from them; the output folder is built beside the previous one and
swapped in whole at the end, so a failed run leaves the previous output complete."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from warc2gpt.atomic import StagedDirectory
from warc2gpt.config import DedupSettings, Params
from warc2gpt.dedup.buckets import bucket_edges
from warc2gpt.dedup.clusters import cluster_duplicates
from warc2gpt.dedup.earlier import (
    EARLIER_REASONS,
    EXACT_EARLIER,
    NEAR_EARLIER,
    add_survivors,
    check_inputs,
    decide_against_index,
)
from warc2gpt.dedup.filter import filter_shard
from warc2gpt.dedup.index import DedupIndex, open_index
from warc2gpt.dedup.minhash import lsh_probability
from warc2gpt.dedup.plan import DedupPlan, prepare
from warc2gpt.dedup.signatures import shard_signatures
from warc2gpt.mapper import Mapper
from warc2gpt.progress import Progress
from warc2gpt.stages import headline
from warc2gpt.tracking import write_metrics

# The figures of metrics/dedup.json; the rest stays in <output>/stats.json.
# With `dedup.index`, what earlier increments' documents removed (`removed_earlier`) is in the
# details and the summary: one more column would not fit `dvc exp show` in 150 columns.
HEADLINE = ["docs_out"]
DETAILS = "stats.json"
REMOVED = "removed"


def owns(name: str) -> bool:
    """The entries of the output folder this stage writes (anything else there is kept)."""
    return name.endswith(".parquet") or name in (DETAILS, REMOVED)


def run(params: Params, mapper: Mapper) -> dict[str, Any]:
    """Deduplicate `dedup.input` into `dedup.output`; writes and returns the metrics.

    Signatures and filtering fan out per shard and band buckets per key range on `mapper`;
    clustering runs once in between. The filtered shards go to a staging folder that replaces
    the output folder once all is done; shards of the previous output that this run did not
    write (their input is gone) are listed in the metrics as `pruned`, by their paths inside
    the output folder.

    With `dedup.index` set, documents matching one kept by an earlier increment go too, and the
    survivors are added to the index once every shard is filtered, before the output is swapped
    in (a run killed in between is rerun over the same inputs and replaces its own entry).
    """
    settings = params.dedup
    started = time.perf_counter()
    plan = prepare(settings)
    index = open_index(settings) if settings.index else nullcontext(None)
    with StagedDirectory(settings.output, owns) as staged, index as opened:
        metrics = _deduplicate(plan, mapper, started, opened)
        metrics["pruned"] = [p for p in staged.stale() if p != DETAILS]  # DETAILS: next line
        write_metrics(staged.path / DETAILS, metrics)
        staged.commit()
    write_metrics(settings.metrics, headline(metrics, HEADLINE))
    return metrics


def _deduplicate(
    plan: DedupPlan, mapper: Mapper, started: float, index: DedupIndex | None = None
) -> dict[str, Any]:
    """Every step on `mapper`, the filtered shards into the plan's staging folder; the metrics."""
    if index is not None:
        check_inputs(plan, index)
    shards = [(plan, i) for i in range(len(plan.inputs))]
    docs = plan_documents(plan)
    timings = {}

    def step(name: str, fn: Callable[..., Any], calls: list[tuple], counted: bool) -> Any:
        t = time.perf_counter()
        progress = Progress(f"dedup {name}", total=docs, unit="doc") if counted else None
        try:
            return mapper.map(fn, calls, progress)
        finally:
            if progress is not None:
                progress.close()
            timings[name] = time.perf_counter() - t

    signature_stats = step("signatures", shard_signatures, shards, True)
    bucket_calls = [(plan, p) for p in range(plan.settings.partitions)]
    bucket_stats = step("buckets", bucket_edges, bucket_calls, False)
    t = time.perf_counter()
    cluster_stats = cluster_duplicates(plan)
    timings["clusters"] = time.perf_counter() - t
    lookup = appended = None
    if index is not None:
        lookup = decide_against_index(plan, index)
        timings["index_lookup"] = lookup["seconds"]
    filter_stats = step("filter", filter_shard, shards, True)
    if index is not None:
        appended = add_survivors(plan, index)
        timings["index_append"] = appended["seconds"]
    timings["total"] = time.perf_counter() - started
    metrics = summarize(plan, signature_stats, bucket_stats, cluster_stats, filter_stats, timings)
    if index is not None:
        metrics.update(index_metrics(index, lookup, appended, filter_stats))
        removed = metrics["removed"] + sum(metrics["removed_against_index"].values())
        metrics["removed"] = removed
        metrics["removed_fraction"] = (
            round(removed / metrics["docs_in"], 6) if metrics["docs_in"] else 0.0
        )
    return metrics


def index_metrics(
    index: DedupIndex, lookup: dict, appended: dict, filter_stats: list[dict]
) -> dict[str, Any]:
    """The figures of a run with `dedup.index`: the index before and after, what it removed."""
    against = {
        kind: sum(f[EARLIER_REASONS[code]] for f in filter_stats)
        for kind, code in (("exact", EXACT_EARLIER), ("near", NEAR_EARLIER))
    }
    return {
        "index_docs_before": appended["docs_before"],
        "index_docs_after": appended["docs_after"],
        "removed_against_index": against,
        "removed_earlier": sum(against.values()),
        "index": {
            "path": str(index.path),
            "increments": appended["increments"],
            "segments": appended["segments"],
            "segments_consulted": lookup["segments_consulted"],
            "docs_consulted": lookup["docs_consulted"],
            "replaced": appended["replaced"],
        },
    }


def plan_documents(plan: DedupPlan) -> int:
    """Documents in the plan's input shards (from the Parquet footers)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in plan.inputs)


def summarize(
    plan: DedupPlan,
    signature_stats: list[dict],
    bucket_stats: list[dict],
    cluster_stats: dict,
    filter_stats: list[dict],
    timings: dict[str, float],
) -> dict[str, Any]:
    """metrics/dedup.json: counts, step timings, throughput and a sample of removed pairs."""
    s: DedupSettings = plan.settings
    docs_in = sum(f["docs_in"] for f in filter_stats)
    docs_out = sum(f["kept"] for f in filter_stats)
    exact = sum(f["exact_duplicate"] for f in filter_stats)
    near = sum(f["near_duplicate"] for f in filter_stats)
    signature_cpu = sum(x["cpu_seconds"] for x in signature_stats)
    docs_seen = {}
    for f in filter_stats:
        docs_seen.update(f.get("samples", {}))
    samples = []
    for pair in cluster_stats.get("samples", []):
        samples.append(
            {
                "reason": pair["reason"],
                "estimated_jaccard": pair["estimated_jaccard"],
                "removed": docs_seen.get(str(pair["removed"]), {"gid": pair["removed"]}),
                "kept": docs_seen.get(str(pair["kept"]), {"gid": pair["kept"]}),
            }
        )
    return {
        "shards": len(plan.inputs),
        "docs_in": docs_in,
        "exact_duplicates": exact,
        "near_duplicate_clusters": cluster_stats["near_duplicate_clusters"],
        "near_duplicates": near,
        "removed": exact + near,
        "docs_out": docs_out,
        "removed_fraction": round((exact + near) / docs_in, 6) if docs_in else 0.0,
        "candidate_pairs": cluster_stats["candidate_pairs"],
        "largest_cluster": cluster_stats["largest_cluster"],
        "lsh": {
            "ngram": s.ngram,
            "bands": s.bands,
            "rows": s.rows,
            "threshold": round((1 / s.bands) ** (1 / s.rows), 4),
            "p_match_at_0.8": round(float(lsh_probability(0.8, s.bands, s.rows)), 4),
            "p_match_at_0.9": round(float(lsh_probability(0.9, s.bands, s.rows)), 4),
        },
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "signature_docs_per_cpu_second": round(docs_in / signature_cpu, 1) if signature_cpu else 0,
        "docs_per_second": round(docs_in / timings["total"], 1) if timings.get("total") else 0,
        "resumed_steps": sum(
            bool(x.get("resumed"))
            for x in [*signature_stats, *bucket_stats, cluster_stats, *filter_stats]
        ),
        "sample_removed_pairs": samples,
    }


def summary(metrics: dict[str, Any]) -> str:
    lines = [
        f"dedup: {metrics['docs_in']} documents in {metrics['shards']} shards -> "
        f"{metrics['docs_out']} kept",
        f"  exact duplicates      {metrics['exact_duplicates']}",
        f"  near-dup clusters     {metrics['near_duplicate_clusters']} "
        f"({metrics['near_duplicates']} documents removed, largest {metrics['largest_cluster']})",
    ]
    if "index_docs_after" in metrics:
        against, index = metrics["removed_against_index"], metrics["index"]
        rerun = ", this increment's documents replaced" if index["replaced"] else ""
        lines += [
            f"  against the index     {against['exact']} exact, {against['near']} near "
            f"(of {index['docs_consulted']} earlier documents)",
            f"  index                 {metrics['index_docs_before']} -> "
            f"{metrics['index_docs_after']} documents, {index['increments']} increments in "
            f"{index['segments']} segments{rerun}",
        ]
    lines += [
        "  seconds               " + ", ".join(f"{k} {v}" for k, v in metrics["seconds"].items()),
        f"  signatures            {metrics['signature_docs_per_cpu_second']} docs per CPU second",
    ]
    for pair in metrics["sample_removed_pairs"][:5]:
        removed, kept = pair["removed"], pair["kept"]
        lines.append(
            f"  {pair['reason']:<16} J~{pair['estimated_jaccard']}  "
            f"{removed.get('url', removed.get('gid'))}  ~  {kept.get('url', kept.get('gid'))}"
        )
    pruned = metrics.get("pruned", [])
    if pruned:
        shown = ", ".join(pruned[:5])
        more = f" and {len(pruned) - 5} more" if len(pruned) > 5 else ""
        lines.append(f"  pruned                {len(pruned)} stale files: {shown}{more}")
    return "\n".join(lines)
