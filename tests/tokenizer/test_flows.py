"""The tokenizer and tokenize Prefect flows end to end (starts a temporary Prefect server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warc2gpt.documents import DOCUMENT_SCHEMA, iter_documents, write_parquet
from warc2gpt.tokenizer.bpe import Tokenizer
from warc2gpt.tokenizer.shards import read_token_shard

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_flows_train_and_tokenize(
    held_out_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.testing.utilities import prefect_test_harness

    monkeypatch.syspath_prepend(str(ROOT))  # `flows` lives at the project root
    from flows.tokenize import tokenize_flow
    from flows.tokenizer import tokenizer_flow

    rows = list(iter_documents([held_out_parquet]))
    for i in range(3):
        write_parquet(tmp_path / f"data/dedup/{i:05d}.parquet", rows[i::3], DOCUMENT_SCHEMA)
    params = tmp_path / "params.yaml"
    params.write_text(
        "tracking:\n  enabled: false\ntokenizer:\n  vocab_size: 400\n"
        "tokenize:\n  workers: 2\n  val_fraction: 0.25\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    with prefect_test_harness(server_startup_timeout=120):
        trained = tokenizer_flow(str(params))
        threads = tokenize_flow(str(params), ["tokenize.val_fraction=0.3"])
        shards = {p.name: p.read_bytes() for p in (tmp_path / "data/tokens").glob("*.bin")}
        metrics = tokenize_flow(
            str(params), ["tokenize.val_fraction=0.3", "tokenize.runner=processes"]
        )
    assert trained["documents"] == len(rows) and trained["vocab_size"] == 400
    assert Tokenizer.load(tmp_path / "artifacts/tokenizer").vocab_size == 400
    headline = json.loads((tmp_path / "metrics/tokenize.json").read_text())
    assert headline == {"train_tokens": metrics["train"]["tokens"]}
    assert json.loads((tmp_path / "data/tokens/stats.json").read_text()) == metrics
    assert metrics["train"]["documents"] + metrics["val"]["documents"] == len(rows)
    assert metrics["inputs"] == 3 and metrics["train"]["shards"] == 3
    written = sum(read_token_shard(p).size for p in (tmp_path / "data/tokens").glob("*.bin"))
    assert written == metrics["train"]["tokens"] + metrics["val"]["tokens"]
    # Worker processes write the same shards as threads.
    assert {p.name: p.read_bytes() for p in (tmp_path / "data/tokens").glob("*.bin")} == shards
    assert threads["train"] == metrics["train"] and threads["val"] == metrics["val"]
