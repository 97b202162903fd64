"""Step 2, one task per key range: for every band, gather that slice of every shard's band
bucket and link the documents that share a key. Exact hashes are handled as one more band."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from warc2gpt.dedup.plan import DedupPlan, atomic_save, global_ids


def key_range(part: int, partitions: int) -> tuple[int, int]:
    """[lo, hi) of the 64-bit keys that partition `part` of `partitions` holds."""
    return (part << 64) // partitions, ((part + 1) << 64) // partitions


def linked_pairs(keys: np.ndarray, gids: np.ndarray) -> np.ndarray:
    """(m, 2) edges: within every group of equal keys, its smallest id linked to each other id."""
    order = np.lexsort((gids, keys))
    keys, gids = keys[order], gids[order]
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    group_first = gids[first][np.cumsum(first) - 1]
    return np.stack([group_first[~first], gids[~first]], axis=1)


def bucket_edges(plan: DedupPlan, part: int) -> dict[str, Any]:
    """Write the edges of one key range, band after band (so one band's slice is in memory at a
    time); each band's file marks it done."""
    edges, seconds, resumed = 0, 0.0, True
    for band in plan.band_names:
        stats = band_edges(plan, band, part)
        edges += stats["edges"]
        seconds += stats["seconds"]
        resumed &= stats["resumed"]
    return {"part": part, "edges": edges, "seconds": seconds, "resumed": resumed}


def band_edges(plan: DedupPlan, band: str, part: int) -> dict[str, Any]:
    """The edges of one band's key range; done when its file exists."""
    out = plan.edges_path(band, part)
    if out.exists():
        with np.load(out) as stored:
            return {
                "edges": int(stored["edges"].shape[0]),
                "seconds": float(stored["seconds"]),
                "resumed": True,
            }
    started = time.perf_counter()
    lo, hi = key_range(part, plan.settings.partitions)
    all_keys, all_gids = [], []
    for shard in range(len(plan.inputs)):
        path = plan.signature_path(shard)
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: signatures of shard {shard} ({plan.inputs[shard]}) "
                "are missing; run the signature step first"
            )
        with np.load(path) as stored:
            keys = stored[f"{band}_keys"]
            a = int(np.searchsorted(keys, np.uint64(lo), side="left"))
            b = keys.size if hi >= 1 << 64 else int(np.searchsorted(keys, np.uint64(hi), "left"))
            all_keys.append(keys[a:b])
            all_gids.append(global_ids(shard, stored[f"{band}_rows"][a:b]))
    keys = np.concatenate(all_keys) if all_keys else np.zeros(0, np.uint64)
    gids = np.concatenate(all_gids) if all_gids else np.zeros(0, np.uint64)
    edges = linked_pairs(keys, gids)
    seconds = time.perf_counter() - started
    atomic_save(out, edges=edges, seconds=np.float64(seconds))
    return {"edges": int(edges.shape[0]), "seconds": seconds, "resumed": False}
