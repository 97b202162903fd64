"""Step 3, one task: exact duplicates, then near-duplicate clusters by union-find over the LSH
edges of all shards; one survivor per cluster, the rest listed per shard for the filter step."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from warc2gpt.atomic import write_json
from warc2gpt.dedup.minhash import estimated_jaccard, mix64
from warc2gpt.dedup.plan import EXACT, DedupPlan, atomic_save, split_ids

EXACT_DUPLICATE, NEAR_DUPLICATE = 0, 1
REASONS = {EXACT_DUPLICATE: "exact_duplicate", NEAR_DUPLICATE: "near_duplicate"}


def union_find(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of an edge list: (nodes, root of each node), the root being the
    smallest id of its component.

    Vectorised union-find: every round links the roots of each edge's two ends to the smaller
    one (union by minimum) and then compresses paths fully, until all edges join equal roots.
    """
    if edges.size == 0:
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty
    nodes, index = np.unique(edges, return_inverse=True)
    index = index.reshape(edges.shape)
    u, v = index[:, 0], index[:, 1]
    parent = np.arange(nodes.size)
    while True:
        pu, pv = parent[u], parent[v]
        differ = pu != pv
        if not differ.any():
            break
        low = np.minimum(pu[differ], pv[differ])
        np.minimum.at(parent, pu[differ], low)
        np.minimum.at(parent, pv[differ], low)
        while True:  # path compression: point every node at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return nodes, nodes[parent]


def _load_edges(plan: DedupPlan, bands: list[str]) -> np.ndarray:
    parts = []
    for band in bands:
        for part in range(plan.settings.partitions):
            path = plan.edges_path(band, part)
            if not path.exists():
                raise FileNotFoundError(
                    f"{path}: edges of {band} part {part} are missing; run the bucket step first"
                )
            with np.load(path) as stored:
                parts.append(stored["edges"])
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.uint64)


def cluster_duplicates(plan: DedupPlan) -> dict[str, Any]:
    """Decide which documents go; writes one removal list per shard, then clusters.json."""
    if plan.clusters_path.exists():
        import json

        summary = json.loads(plan.clusters_path.read_text(encoding="utf-8"))
        summary["resumed"] = True
        return summary
    started = time.perf_counter()
    near_bands = [b for b in plan.band_names if b != EXACT]

    # Exact: equal hashes are one group already; the first document of each stays.
    exact_edges = _load_edges(plan, [EXACT]) if plan.settings.exact else np.zeros((0, 2), np.uint64)
    exact_removed, first = np.unique(exact_edges[:, 1], return_index=True)
    exact_keeper = exact_edges[first, 0]

    # Near: an exact duplicate's survivor has the same signature, so its edges suffice.
    near_edges = _load_edges(plan, near_bands) if near_bands else np.zeros((0, 2), np.uint64)
    candidate_pairs = int(near_edges.shape[0])
    if exact_removed.size and near_edges.size:
        gone = np.isin(near_edges, exact_removed).any(axis=1)
        near_edges = near_edges[~gone]
    nodes, roots = union_find(near_edges)
    near_mask = nodes != roots
    near_removed, near_keeper = nodes[near_mask], roots[near_mask]
    clusters = int(np.unique(roots).size)

    removed = np.concatenate([exact_removed, near_removed])
    keepers = np.concatenate([exact_keeper, near_keeper])
    reasons = np.concatenate(
        [
            np.full(exact_removed.size, EXACT_DUPLICATE, np.int8),
            np.full(near_removed.size, NEAR_DUPLICATE, np.int8),
        ]
    )
    order = np.argsort(removed, kind="stable")
    removed, keepers, reasons = removed[order], keepers[order], reasons[order]
    shards, rows = split_ids(removed)
    bounds = np.searchsorted(shards, np.arange(len(plan.inputs) + 1))
    for shard in range(len(plan.inputs)):
        a, b = bounds[shard], bounds[shard + 1]
        atomic_save(
            plan.removed_ids_path(shard), rows=rows[a:b], reasons=reasons[a:b], keepers=keepers[a:b]
        )

    summary = {
        "exact_duplicates": int(exact_removed.size),
        "candidate_pairs": candidate_pairs,
        "near_duplicate_clusters": clusters,
        "near_duplicates": int(near_removed.size),
        "largest_cluster": int(np.unique(roots, return_counts=True)[1].max()) if roots.size else 0,
        "samples": _sample_pairs(plan, removed, keepers, reasons),
        "seconds": time.perf_counter() - started,
    }
    write_json(plan.clusters_path, summary)
    summary["resumed"] = False
    return summary


def _sample_pairs(
    plan: DedupPlan, removed: np.ndarray, keepers: np.ndarray, reasons: np.ndarray
) -> list[dict[str, Any]]:
    """A fixed pseudo-random sample of (removed, kept) pairs, near duplicates first, with the
    Jaccard similarity their signatures estimate."""
    count = plan.settings.sample_pairs
    if count == 0 or removed.size == 0:
        return []
    rank = mix64(removed.copy())
    picked: list[int] = []
    for reason, share in ((NEAR_DUPLICATE, count), (EXACT_DUPLICATE, max(1, count // 4))):
        candidates = np.flatnonzero(reasons == reason)
        candidates = candidates[np.argsort(rank[candidates])][: max(0, share)]
        picked += candidates.tolist()
    picked = picked[:count] if len(picked) > count else picked
    signatures: dict[int, np.ndarray] = {}

    def signature(gid: int) -> np.ndarray | None:
        shard, row = (int(x[0]) for x in split_ids(np.array([gid])))
        if not plan.settings.near:
            return None
        if shard not in signatures:
            signatures[shard] = np.load(plan.minhash_path(shard), mmap_mode="r")
        return np.asarray(signatures[shard][row])

    samples = []
    for i in picked:
        a, b = signature(int(removed[i])), signature(int(keepers[i]))
        samples.append(
            {
                "removed": int(removed[i]),
                "kept": int(keepers[i]),
                "reason": REASONS[int(reasons[i])],
                "estimated_jaccard": None if a is None else round(estimated_jaccard(a, b), 4),
            }
        )
    return samples
