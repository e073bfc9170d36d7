"""The zoo of awkward models the suite runs everything over.

Each entry builds a model and the inputs it takes, small enough to also run for real on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from netcensus.examples import alexnet


class TiedLM(nn.Module):
    """An embedding and an output head that are one tensor."""

    def __init__(self, vocab: int = 50, dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.body = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(self.embed(ids))))


class Reused(nn.Module):
    """One block called three times."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(8, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = torch.tanh(self.block(x))
        return self.out(x)


class CustomParams(nn.Module):
    """Parameters that are neither weight nor bias, one on the root, one frozen, and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(6))
        self.pos = nn.Parameter(torch.zeros(4, 6))
        self.table = nn.Parameter(torch.randn(6, 3), requires_grad=False)
        self.register_buffer("mask", torch.ones(4, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.pos) * self.scale * self.mask) @ self.table


class DictIO(nn.Module):
    """Keyword inputs in, a dict with a tuple and a None out."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, left: torch.Tensor, right: torch.Tensor | None = None) -> dict[str, Any]:
        y = self.a(left)
        z = self.b(right) if right is not None else None
        return {"sum": (y + z, y), "none": None}


@dataclass
class Output:
    logits: torch.Tensor
    hidden: tuple[torch.Tensor, ...]
    aux: torch.Tensor | None = None


class DataclassOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 6)
        self.cls = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> Output:
        h = self.proj(x)
        return Output(self.cls(h), (x, h))


class FrozenBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.backbone(x)).flatten(1))


class TupleIn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(14, 2)

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, extra = pair
        out, (h, c) = self.rnn(x)
        return self.fc(out[:, -1]) + extra, h


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return x + self.ff(x + a)


class SharedSubmodule(nn.Module):
    """The same submodule registered under two names."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = self.first
        self.last = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.second(self.first(x)))


def _f(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


@dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], Any]
    """Returns args tuple, or a dict of keyword inputs."""


ZOO: list[Case] = [
    Case("alexnet", alexnet, lambda: (_f(1, 1, 224, 224),)),
    Case("tied_lm", TiedLM, lambda: (torch.randint(0, 50, (2, 5)),)),
    Case("reused", Reused, lambda: (_f(3, 8),)),
    Case("custom_params", CustomParams, lambda: (_f(2, 4, 6),)),
    Case("dict_io", DictIO, lambda: {"left": _f(2, 4), "right": _f(2, 5)}),
    Case("dataclass_out", DataclassOut, lambda: (_f(2, 6),)),
    Case("frozen_backbone", FrozenBackbone, lambda: (_f(2, 3, 8, 8),)),
    Case("tuple_in_lstm", TupleIn, lambda: ((_f(2, 4, 5), _f(2, 2)),)),
    Case("attention", Attention, lambda: (_f(2, 5, 16),)),
    Case("shared_submodule", SharedSubmodule, lambda: (_f(3, 4),)),
    Case("gru", lambda: nn.GRU(6, 5, num_layers=2), lambda: (_f(4, 2, 6),)),
    Case("transformer_layer", lambda: nn.TransformerEncoderLayer(16, 2, 32, batch_first=True),
         lambda: (_f(2, 6, 16),)),
    Case("conv_zoo", lambda: nn.Sequential(
        nn.Conv1d(3, 6, 3, groups=3, padding=2, dilation=2), nn.ConvTranspose1d(6, 4, 3, stride=2),
        nn.GroupNorm(2, 4), nn.PReLU(4), nn.AvgPool1d(2, ceil_mode=True)), lambda: (_f(2, 3, 11),)),
]


def call_inputs(case: Case) -> tuple[tuple, dict]:
    value = case.inputs()
    if isinstance(value, dict):
        return (), value
    return value, {}
