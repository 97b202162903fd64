"""The dedup stage: exact-hash then MinHash LSH near-duplicate removal across Parquet shards."""
