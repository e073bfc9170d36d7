"""Models whose own forward replaces submodules (BigBird swaps its block-sparse attention for full
attention when the sequence is short): profiling must not fail on the new modules, the census must be
that of the model the trace ran, and a note must say what changed.

Oracle: ``sum(p.numel())`` of the model after a real forward of an identical copy, and of the profiled
model itself afterwards (its forward changed it, as a real run does).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import netcensus


class Full(nn.Module):
    """What the forward swaps in: the old Linear, kept, plus a new Linear(8, 8) and a dropout."""

    def __init__(self, kept: nn.Linear):
        super().__init__()
        self.kept = kept
        self.mix = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.mix(self.kept(x)))


class Switching(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.Sequential(nn.Linear(8, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        if not isinstance(self.attn, Full):
            self.attn = Full(self.attn[0])
        return self.head(self.attn(x))


def test_a_model_that_replaces_its_submodules_is_profiled_as_it_ran():
    torch.manual_seed(0)
    model = Switching()
    ran = copy.deepcopy(model)
    ran(torch.randn(2, 8))
    # before: Linear(8, 8) 72 + head 18 = 90; after: + the new Linear(8, 8) 72 = 162
    assert sum(p.numel() for p in model.parameters()) == 90
    assert sum(p.numel() for p in ran.parameters()) == 162
    for train in (False, True):
        m = copy.deepcopy(model)
        p = netcensus.profile(m, input_size=(2, 8), train=train)
        assert p.total_params == 162 == sum(q.numel() for q in m.parameters())
        paths = {row.path for row in p.layers}
        assert {"attn.kept", "attn.mix", "attn.drop"} <= paths and "attn.0" not in paths
        assert any("replaced or added submodules (attn, attn.0, attn.drop and 2 more)" in n for n in p.notes)
        # 2 x 8 x 8 x 2 (two 8 x 8 matmuls) + 2 x 8 x 2 (head) MACs, forward
        assert p.compute.totals.forward.macs == 2 * 8 * 8 * 2 + 2 * 8 * 2


def test_a_model_that_keeps_its_submodules_gets_no_note():
    p = netcensus.profile(nn.Sequential(nn.Linear(8, 8)), input_size=(2, 8))
    assert not any("replaced or added submodules" in n for n in p.notes)


def test_bigbird_switching_to_full_attention():
    transformers = pytest.importorskip("transformers")
    config = transformers.BigBirdConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                                        intermediate_size=128, vocab_size=1000)
    with torch.device("meta"):
        model = transformers.BigBirdForMaskedLM(config)
    assert config.attention_type == "block_sparse"
    p = netcensus.profile(model, input_size=["input_ids=1x32:int64", "attention_mask=1x32:int64"],
                          train=True)
    # the forward switched to full attention: its layers now have a dropout module in attention.self
    assert type(model.bert.encoder.layer[0].attention.self).__name__ == "BigBirdSelfAttention"
    assert "bert.encoder.layer.0.attention.self.dropout" in {row.path for row in p.layers}
    # tied input and output embeddings counted once, as sum(p.numel()) over distinct parameters does
    assert p.total_params == sum(q.numel() for q in model.parameters())
    assert any("replaced or added submodules" in n for n in p.notes)
