"""A model wrapped in nn.DataParallel is profiled as the module it wraps: the same figures as that module
(the oracle: the module profiled directly, and sum(p.numel())), its paths without 'module.', a note
saying so, and the wrapper left as it was."""

from __future__ import annotations

import torch
from torch import nn
from untouched import untouched

import netcensus
from netcensus.api import WRAPPED_NOTE


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_data_parallel_is_profiled_as_its_module():
    inner = _mlp()
    wrapped = nn.DataParallel(inner)  # no GPU here: its forward runs the module on the whole batch
    with untouched(wrapped):
        a = netcensus.profile(wrapped, input_size=(4, 8), train=True)
    b = netcensus.profile(inner, input_size=(4, 8), train=True)
    assert a.model == "Sequential"
    assert [r.path for r in a.layers] == [r.path for r in b.layers] == ["", "0", "1", "2"]
    assert a.total_params == sum(p.numel() for p in inner.parameters()) == 8 * 16 + 16 + 16 * 2 + 2
    assert a.compute.totals == b.compute.totals and a.memory.peak == b.memory.peak
    assert WRAPPED_NOTE.format(wrapper="DataParallel") in a.notes


def test_nested_wrappers_are_all_removed():
    inner = _mlp()
    prof = netcensus.profile(nn.DataParallel(nn.DataParallel(inner)), torch.empty(2, 8, device="meta"))
    assert [r.path for r in prof.layers] == ["", "0", "1", "2"]
    assert sum(WRAPPED_NOTE.format(wrapper="DataParallel") == n for n in prof.notes) == 2
