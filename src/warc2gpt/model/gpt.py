"""The GPT: a decoder-only transformer with rotary positions, RMSNorm, QK-norm and ReLU² MLPs.

One module, read top to bottom: config, building blocks, the model, and the KV cache that
generation uses to feed one new token at a time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from warc2gpt.model.fp8 import fp8_linear


@dataclass
class GPTConfig:
    """Model shape. `n_kv_head` below `n_head` shares key/value heads (grouped-query attention)."""

    vocab_size: int = 50257
    sequence_len: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int = 12
    n_embd: int = 768
    # Logits pass through softcap * tanh(logits / softcap); 0 turns the cap off.
    logit_softcap: float = 15.0
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError(f"head size {self.n_embd // self.n_head} must be even for rotary")
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ValueError(
                f"n_head {self.n_head} is not a multiple of n_kv_head {self.n_kv_head}"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def padded_vocab_size(self) -> int:
        # Embedding and head rows rounded up to a multiple of 64: faster matrix kernels.
        return (self.vocab_size + 63) // 64 * 64

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GPTConfig keys {unknown}: expected some of {sorted(known)}")
        return cls(**data)


def norm(x: torch.Tensor) -> torch.Tensor:
    """RMSNorm without a learned scale."""
    return F.rms_norm(x, (x.size(-1),))


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of each head's channels by position angles."""
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


class KVCache:
    """Keys and values of the tokens seen so far, per layer, for incremental decoding.

    `GPT.forward(new_tokens, kv_cache=cache)` attends over everything cached, then appends the
    new tokens' keys and values and advances `cache.pos`. Storage is allocated on first use,
    in the dtype and on the device of the keys (so autocast's bf16 is kept).
    """

    def __init__(
        self, batch_size: int, max_len: int, n_layer: int, n_kv_head: int, head_dim: int
    ) -> None:
        self.batch_size = batch_size
        self.max_len = max_len
        self.shape = (n_layer, batch_size, n_kv_head, max_len, head_dim)
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.pos = 0

    def __len__(self) -> int:
        return self.pos

    def reset(self) -> None:
        self.pos = 0

    def insert(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one layer's new keys/values (B, H, T, D); return all of them up to now."""
        if self.k is None or self.k.dtype != k.dtype or self.k.device != k.device:
            self.k = torch.zeros(self.shape, dtype=k.dtype, device=k.device)
            self.v = torch.zeros(self.shape, dtype=v.dtype, device=v.device)
        end = self.pos + k.size(2)
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n: int) -> None:
        self.pos += n


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.n_head, self.n_kv_head, self.head_dim = (
            config.n_head,
            config.n_kv_head,
            config.head_dim,
        )
        # One matrix for queries, keys and values: one larger matmul beats three small ones.
        self.c_qkv = nn.Linear(
            config.n_embd, (config.n_head + 2 * config.n_kv_head) * self.head_dim, bias=False
        )
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, kv_cache: KVCache | None
    ) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.c_qkv(x).view(B, T, self.n_head + 2 * self.n_kv_head, self.head_dim)
        q, k, v = qkv.split([self.n_head, self.n_kv_head, self.n_kv_head], dim=2)
        q, k = norm(apply_rotary(q, cos, sin)), norm(apply_rotary(k, cos, sin))
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, D)
        gqa = self.n_kv_head != self.n_head
        if kv_cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            k, v = kv_cache.insert(self.layer_idx, k, v)
            t_k = k.size(2)
            if T == t_k:  # prefill of an empty cache: plain causal attention
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
            elif T == 1:  # one new token sees every cached one
                y = F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
            else:  # several new tokens after a cached prefix: causal within the new ones
                start = t_k - T
                q_pos = torch.arange(start, t_k, device=x.device)[:, None]
                mask = torch.arange(t_k, device=x.device)[None, :] <= q_pos
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.relu(self.c_fc(x)).square())


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(config, layer_idx)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, kv_cache: KVCache | None
    ) -> torch.Tensor:
        x = x + self.attn(norm(x), cos, sin, kv_cache)
        return x + self.mlp(norm(x))


class GPT(nn.Module):
    """The model. Two precision switches belong to the run, not the weights (never saved):

    - `residual_dtype`: the dtype the residual stream is carried in (None: as the embedding
      gives it, float32). bf16 under bf16 autocast halves the bytes every norm and residual add
      moves; the weights stay float32.
    - `fp8_head`: the output head's products run in FP8 (see `warc2gpt.model.fp8`).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.residual_dtype: torch.dtype | None = None
        self.fp8_head = False
        self.wte = nn.Embedding(config.padded_vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        cos, sin = self._rotary_tables(config.sequence_len)
        # Not saved with the weights: recomputed from the config on load.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.init_weights()

    def _rotary_tables(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.config.head_dim // 2
        inv_freq = self.config.rope_base ** (-torch.arange(half, dtype=torch.float32) / half)
        angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
        return angles.cos()[None, :, None, :], angles.sin()[None, :, None, :]  # (1, T, 1, D/2)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Residual-branch outputs start at zero, so every block starts as the identity."""
        bound = math.sqrt(3.0 / self.config.n_embd)  # uniform with std 1/sqrt(n_embd)
        nn.init.normal_(self.wte.weight, std=1.0)
        nn.init.normal_(self.lm_head.weight, std=0.001)
        for block in self.blocks:
            nn.init.uniform_(block.attn.c_qkv.weight, -bound, bound)
            nn.init.uniform_(block.mlp.c_fc.weight, -bound, bound)
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)
        cos, sin = self._rotary_tables(self.config.sequence_len)
        self.cos.copy_(cos)
        self.sin.copy_(sin)

    def num_params(self, exclude_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.wte.weight.numel() if exclude_embedding else n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token as nanoGPT counts them: 6N + 12·L·H·Q·T.

        N excludes the input embedding (a lookup, not a matmul); the attention term counts the
        score and value products over a full window of T tokens.
        """
        c = self.config
        t = seq_len or c.sequence_len
        return (
            6 * self.num_params(exclude_embedding=True) + 12 * c.n_layer * c.n_head * c.head_dim * t
        )

    def setup_optimizers(
        self,
        optimizer: str = "adamw",
        *,
        lr: float,
        muon_lr: float,
        weight_decay: float,
        betas: tuple[float, float],
        fused: bool,
    ) -> list[torch.optim.Optimizer]:
        """The optimizers of a training run, each group carrying the `base_lr` a schedule scales.

        adamw: AdamW for every parameter. muon: Muon for the blocks' matrices (all 2-D, no
        biases), AdamW (at `lr`) for the embedding and the head.
        """
        matrices = list(self.blocks.parameters())
        embedding_and_head = [self.wte.weight, self.lm_head.weight]
        grouped = {id(p) for p in matrices + embedding_and_head}
        assert len(grouped) == len(matrices) + len(embedding_and_head), "a parameter is in 2 groups"
        assert grouped == {id(p) for p in self.parameters()}, "a parameter is in no group"
        if optimizer == "adamw":
            groups = [{"params": list(self.parameters()), "base_lr": lr}]
            adam = torch.optim.AdamW(
                groups, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused
            )
            return [adam]
        if optimizer != "muon":
            raise ValueError(f"unknown optimizer {optimizer!r}: expected adamw or muon")
        adam = torch.optim.AdamW(
            [{"params": embedding_and_head, "base_lr": lr}],
            lr=lr,
            betas=betas,
            weight_decay=weight_decay,
            fused=fused,
        )
        muon = torch.optim.Muon(
            [{"params": matrices, "base_lr": muon_lr}], lr=muon_lr, weight_decay=weight_decay
        )
        return [adam, muon]

    def new_kv_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty cache for up to `max_len` tokens (default: the model's sequence_len)."""
        c = self.config
        return KVCache(batch_size, max_len or c.sequence_len, c.n_layer, c.n_kv_head, c.head_dim)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, vocab_size) when `targets` is None, else the mean cross-entropy.

        Targets equal to -1 are ignored. With `kv_cache`, `idx` holds only the new tokens and
        their positions continue from the cache's length.
        """
        B, T = idx.shape
        start = kv_cache.pos if kv_cache is not None else 0
        if start + T > self.config.sequence_len:
            raise ValueError(
                f"positions {start}..{start + T - 1} exceed the model's context of "
                f"{self.config.sequence_len} tokens; crop the input or start a new cache"
            )
        if kv_cache is not None and start + T > kv_cache.max_len:
            raise ValueError(f"KV cache holds {kv_cache.max_len} tokens, {start + T} requested")
        cos = self.cos[:, start : start + T].to(self.wte.weight.dtype)
        sin = self.sin[:, start : start + T].to(self.wte.weight.dtype)
        if torch.is_autocast_enabled(idx.device.type):
            dtype = torch.get_autocast_dtype(idx.device.type)
            cos, sin = cos.to(dtype), sin.to(dtype)
        x = norm(self.wte(idx))
        if self.residual_dtype is not None:
            x = x.to(self.residual_dtype)
        for block in self.blocks:
            x = block(x, cos, sin, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(T)
        x = norm(x)
        logits = fp8_linear(x, self.lm_head.weight) if self.fp8_head else self.lm_head(x)
        cap = self.config.logit_softcap
        if targets is None:
            logits = logits[..., : self.config.vocab_size].float()
            return cap * torch.tanh(logits / cap) if cap else logits
        # Padded vocabulary rows stay in the loss: they only learn to be unlikely.
        logits = logits.float()
        if cap:
            logits = cap * torch.tanh(logits / cap)
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
        )
