"""Step 3b, with `dedup.index` set: the run's documents against those earlier runs kept.

A document whose exact hash or one of whose band keys a document of an earlier increment has
goes, and so does the rest of its cluster in this run: the earlier document is the cluster's
survivor, as the earliest document is within a run (no similarity check is added: the clustering
has none either). The removals go to one file per shard beside the clustering's, for the filter
step. Once the run's shards are filtered, its survivors' hashes and band keys are added to the
index as its increment (`add_survivors`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from warc2gpt.dedup.index import DedupIndex, Documents
from warc2gpt.dedup.plan import EXACT, DedupPlan, atomic_save, global_ids, split_ids

EXACT_EARLIER, NEAR_EARLIER = 2, 3  # after clusters.EXACT_DUPLICATE, NEAR_DUPLICATE
EARLIER_REASONS = {
    EXACT_EARLIER: "exact_duplicate_of_earlier",
    NEAR_EARLIER: "near_duplicate_of_earlier",
}


def input_names(plan: DedupPlan) -> list[str]:
    """The run's shard names: what identifies its increment in the index."""
    return sorted(Path(p).name for p in plan.inputs)


def check_inputs(plan: DedupPlan, index: DedupIndex) -> None:
    """Fail before any work where the run could not be added to the index: inputs without ids,
    inputs sharing shards with an increment without being it, or an increment's shard names
    reused for other documents (a rerun replaces the increment's documents, so a run over
    other WARC files that happen to give the same names would drop them from the index)."""
    at = index.position(input_names(plan))
    for source in plan.inputs:
        if "id" not in pq.read_schema(source).names:
            raise ValueError(
                f"{source}: no `id` column; with dedup.index set, the index records each kept "
                "document by its id (warc2gpt.documents.DOCUMENT_SCHEMA)"
            )
    if at is None or index.increments[at].docs == 0:
        return
    before = set(index.increment_ids(at).tolist())
    for source in plan.inputs:
        if not before.isdisjoint(pq.read_table(source, columns=["id"]).column(0).to_pylist()):
            return
    raise ValueError(
        f"dedup.index: this run's shards ({', '.join(input_names(plan)[:3])}, ...) have the "
        f"names of increment {at} of {index.path} but none of its documents; a rerun would "
        "replace that increment's documents in the index. Give the new shards names of their "
        "own (curate names them after their WARC files)"
    )


def decide_against_index(plan: DedupPlan, index: DedupIndex) -> dict[str, Any]:
    """Write every shard's removals against the index; returns the lookup's figures."""
    started = time.perf_counter()
    consulted = index.earlier(input_names(plan))
    queries, query_gids = _run_keys(plan)
    # One row per (document, earlier document) match: kind 0 exact, 1 near; the earlier one as
    # (place of its segment in `consulted`, row): segments and rows are in increment order.
    found: list[tuple[np.ndarray, ...]] = []
    for place, (segment, rows_before) in enumerate(consulted):
        answers = index.find(segment, queries, rows_before)
        for (band, _), gids, (at, rows) in zip(queries, query_gids, answers, strict=True):
            kind = np.full(at.size, 0 if band is None else 1, np.int64)
            found.append((gids[at], kind, np.full(at.size, place, np.int64), rows))
    columns = [np.concatenate(c) for c in zip(*found, strict=True)] if found else []
    if columns and columns[0].size:
        gid, kind, place, row = columns
    else:
        gid = np.zeros(0, np.uint64)
        kind = place = row = np.zeros(0, np.int64)
    # Each matched document's best match: exact first, then the earliest document.
    order = np.lexsort((row, place, kind, gid))
    gid, kind, place, row = gid[order], kind[order], place[order], row[order]
    first = np.ones(gid.size, dtype=bool)
    first[1:] = gid[1:] != gid[:-1]
    matched, kind, place, row = gid[first], kind[first], place[first], row[first]

    removed, reasons, which = _with_clusters(plan, matched, kind, place, row)
    earlier_ids = np.full(removed.size, "", dtype=object)
    for p in np.unique(place[which]) if which.size else []:
        mine = np.flatnonzero(place[which] == p)
        earlier_ids[mine] = index.ids(consulted[int(p)][0], row[which[mine]])
    earlier_ids = earlier_ids.astype(str) if removed.size else np.zeros(0, dtype="<U1")

    shards, rows = split_ids(removed)
    bounds = np.searchsorted(shards, np.arange(len(plan.inputs) + 1))
    for shard in range(len(plan.inputs)):
        a, b = bounds[shard], bounds[shard + 1]
        atomic_save(
            plan.earlier_path(shard),
            rows=rows[a:b],
            reasons=reasons[a:b],
            earlier=earlier_ids[a:b],
        )
    return {
        "segments_consulted": len(consulted),
        "docs_consulted": sum(rows for _, rows in consulted),
        "matched": int(matched.size),
        "exact": int((reasons == EXACT_EARLIER).sum()),
        "near": int((reasons == NEAR_EARLIER).sum()),
        "seconds": time.perf_counter() - started,
    }


def _run_keys(plan: DedupPlan) -> tuple[list[tuple[int | None, np.ndarray]], list[np.ndarray]]:
    """The run's keys band by band, each sorted, as index queries (band number, or None for the
    exact hashes; keys), and their documents' ids."""
    keys: dict[str, list[np.ndarray]] = {band: [] for band in plan.band_names}
    gids: dict[str, list[np.ndarray]] = {band: [] for band in plan.band_names}
    for shard in range(len(plan.inputs)):
        with np.load(plan.signature_path(shard)) as stored:
            for band in plan.band_names:
                keys[band].append(stored[f"{band}_keys"])
                gids[band].append(global_ids(shard, stored[f"{band}_rows"]))
    queries, query_gids = [], []
    for band in plan.band_names:
        band_keys, band_gids = np.concatenate(keys[band]), np.concatenate(gids[band])
        order = np.argsort(band_keys, kind="stable")
        queries.append(
            (None if band == EXACT else int(band.removeprefix("band")), band_keys[order])
        )
        query_gids.append(band_gids[order])
    return queries, query_gids


def _cluster_removals(plan: DedupPlan) -> tuple[np.ndarray, np.ndarray]:
    """The clustering's removed documents (sorted) and each one's keeper, as global ids."""
    removed, keepers = [], []
    for shard in range(len(plan.inputs)):
        with np.load(plan.removed_ids_path(shard)) as stored:
            removed.append(global_ids(shard, stored["rows"]))
            keepers.append(stored["keepers"].astype(np.uint64))
    return np.concatenate(removed), np.concatenate(keepers)


def _with_clusters(
    plan: DedupPlan, matched: np.ndarray, kind: np.ndarray, place: np.ndarray, row: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every document of a cluster with a matched member: (ids sorted, reasons, the index into
    `matched` of the match each one is removed for). `matched` is sorted; each one's match is
    (`kind`, `place`, `row`) as in `decide_against_index`.

    A matched document goes for its own match. Its cluster's others go as near duplicates of
    the cluster's earliest match: the clustering's survivor, and the documents it removed for
    that survivor (whose reason changes to the earlier document's).
    """
    removed, keepers = _cluster_removals(plan)
    root_of_removed = _roots(removed, removed, keepers)
    matched_roots = _roots(matched, removed, keepers)
    # Every cluster's earliest match.
    order = np.lexsort((row, place, matched_roots))
    first = np.ones(order.size, dtype=bool)
    first[1:] = matched_roots[order][1:] != matched_roots[order][:-1]
    cluster_roots, cluster_match = matched_roots[order][first], order[first]

    members = np.unique(
        np.concatenate([matched, cluster_roots, removed[np.isin(root_of_removed, cluster_roots)]])
    )
    reasons = np.full(members.size, NEAR_EARLIER, np.int8)
    which = np.empty(members.size, np.int64)
    direct = np.isin(members, matched)
    at = np.searchsorted(matched, members[direct])
    which[direct] = at
    reasons[direct] = np.where(kind[at] == 0, EXACT_EARLIER, NEAR_EARLIER)
    others = np.flatnonzero(~direct)
    roots = _roots(members[others], removed, keepers)
    which[others] = cluster_match[np.searchsorted(cluster_roots, roots)]
    return members, reasons, which


def _roots(gids: np.ndarray, removed: np.ndarray, keepers: np.ndarray) -> np.ndarray:
    """Each document's cluster survivor within the run: itself unless the clustering removed it,
    then its keeper's survivor (a keeper has a smaller id, so the walk ends)."""
    roots = gids.astype(np.uint64).copy()
    if removed.size == 0:
        return roots
    while True:
        at = np.minimum(np.searchsorted(removed, roots), removed.size - 1)
        inside = removed[at] == roots
        if not inside.any():
            return roots
        roots[inside] = keepers[at[inside]]


def removals(
    plan: DedupPlan, shard: int, rows: np.ndarray, reasons: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shard's clustering removals (`rows`, `reasons`) with those against the index laid
    over them: (rows sorted, reasons, the earlier document's id or '' for each)."""
    with np.load(plan.earlier_path(shard)) as stored:
        e_rows, e_reasons, e_ids = stored["rows"], stored["reasons"], stored["earlier"]
    mine = ~np.isin(rows, e_rows)
    rows = np.concatenate([rows[mine], e_rows])
    reasons = np.concatenate([reasons[mine], e_reasons]).astype(np.int8)
    ids = np.concatenate([np.full(int(mine.sum()), "", dtype=object), e_ids.astype(object)])
    order = np.argsort(rows, kind="stable")
    return rows[order], reasons[order], ids[order]


def add_survivors(plan: DedupPlan, index: DedupIndex) -> dict[str, Any]:
    """Add the documents this run kept to the index as its increment."""
    started = time.perf_counter()
    settings = plan.settings
    docs_before = index.docs
    parts = []
    for shard, source in enumerate(plan.inputs):
        with np.load(plan.signature_path(shard)) as stored:
            n_docs = int(stored["docs"])
            gone = np.zeros(n_docs, dtype=bool)
            for path in (plan.removed_ids_path(shard), plan.earlier_path(shard)):
                with np.load(path) as removed:
                    gone[removed["rows"]] = True
            kept = np.flatnonzero(~gone)
            column = pq.read_table(source, columns=["id"]).column(0).to_pylist()
            ids = np.array([column[r] or "" for r in kept], dtype=str)
            exact = bands = None
            with_words = np.zeros(0, np.int64)
            if settings.exact:
                exact = _by_row(stored, EXACT, n_docs)[kept]
            if settings.near:
                rows = stored["band000_rows"]
                words = np.sort(rows[~gone[rows]])
                bands = np.stack(
                    [_by_row(stored, f"band{b:03d}", n_docs)[words] for b in range(settings.bands)]
                )
                with_words = np.searchsorted(kept, words)  # their rows among the kept
            parts.append(Documents(ids, exact, bands, with_words))
    replaced = index.put(input_names(plan), Documents.joined(parts))
    return {
        "replaced": replaced,
        "docs_added": sum(len(p) for p in parts),
        "docs_before": docs_before,
        "docs_after": index.docs,
        "increments": len(index.increments),
        "segments": len(index.segments),
        "seconds": time.perf_counter() - started,
    }


def _by_row(stored: np.lib.npyio.NpzFile, band: str, n_docs: int) -> np.ndarray:
    """A band's keys (or the exact hashes) of a shard in row order (0 where a row has none)."""
    keys = np.zeros(n_docs, np.uint64)
    keys[stored[f"{band}_rows"]] = stored[f"{band}_keys"]
    return keys
