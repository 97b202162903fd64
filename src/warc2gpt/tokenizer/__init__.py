"""BPE tokenizer training and token shards."""
