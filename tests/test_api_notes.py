"""Notes the Python API gives where an option had nothing to act on."""

from __future__ import annotations

import torch
from torch import nn

import netcensus


def test_kv_context_without_attention_says_so() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    p = netcensus.profile(model, input_size=(2, 16), kv_context=128)
    assert p.kv_cache is None
    assert any(n.startswith("kv_context=128 gave no KV cache") for n in p.notes)
    assert not any("KV cache" in n for n in netcensus.profile(model, input_size=(2, 16)).notes)
