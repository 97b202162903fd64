"""Bucket linking and union-find clustering."""

from __future__ import annotations

import numpy as np

from warc2gpt.dedup.buckets import key_range, linked_pairs
from warc2gpt.dedup.clusters import union_find
from warc2gpt.dedup.plan import global_ids, split_ids

U = np.uint64


def test_linked_pairs_star_from_smallest_id():
    keys = np.array([7, 3, 7, 9, 7, 3], dtype=U)
    gids = np.array([50, 40, 20, 10, 30, 60], dtype=U)
    edges = {tuple(e) for e in linked_pairs(keys, gids).tolist()}
    assert edges == {(20, 30), (20, 50), (40, 60)}


def test_union_find_components_and_roots():
    # 1-2-3 chain (given out of order), 10-11, 5 alone in a self-loop-free graph.
    edges = np.array([[3, 2], [2, 1], [11, 10], [1, 3]], dtype=U)
    nodes, roots = union_find(edges)
    assert dict(zip(nodes.tolist(), roots.tolist(), strict=True)) == {
        1: 1,
        2: 1,
        3: 1,
        10: 10,
        11: 10,
    }


def test_union_find_long_chain_converges():
    n = 5000
    chain = np.stack([np.arange(1, n), np.arange(n - 1)], axis=1).astype(U)[::-1]
    nodes, roots = union_find(chain)
    assert nodes.size == n and (roots == 0).all()


def test_union_find_empty():
    nodes, roots = union_find(np.zeros((0, 2), dtype=U))
    assert nodes.size == 0 and roots.size == 0


def test_key_ranges_cover_all_keys():
    ranges = [key_range(p, 3) for p in range(3)]
    assert ranges[0][0] == 0 and ranges[-1][1] == 1 << 64
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(2))


def test_global_ids_round_trip():
    gids = global_ids(7, np.array([0, 5, 2**32 - 1]))
    shards, rows = split_ids(gids)
    assert shards.tolist() == [7, 7, 7] and rows.tolist() == [0, 5, 2**32 - 1]
