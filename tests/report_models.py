"""Models shared by the report tests: a small pre-norm transformer with identical blocks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

D, HEADS, FF, VOCAB, BLOCKS = 32, 4, 64, 100, 3


class Attention(nn.Module):
    def __init__(self, d: int = D, heads: int = HEADS):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d: int = D, ff: int = FF):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    def __init__(self, blocks: int = BLOCKS):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.blocks = nn.Sequential(*[Block() for _ in range(blocks)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.embed(ids))))


# Parameters by hand: per block ln 2*32, qkv 32*96 + 96, proj 32*32 + 32, ln 2*32,
# mlp 32*64 + 64 and 64*32 + 32.
BLOCK_PARAMS = 2 * 32 + (32 * 96 + 96) + (32 * 32 + 32) + 2 * 32 + (32 * 64 + 64) + (64 * 32 + 32)
TOTAL_PARAMS = VOCAB * D + BLOCKS * BLOCK_PARAMS + 2 * D + D * VOCAB


class Repeated(nn.Module):
    """Five linear blocks; the middle one is wider, so identical runs are 0-1 and 3-4."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(2)]
            + [nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))]
            + [nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
