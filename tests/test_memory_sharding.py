"""Sharded model states against the ZeRO paper's Figure 1, and the other strategies' formulas.

Rajbhandari et al. 2019 (ZeRO), Figure 1: Psi = 7.5B parameters, mixed-precision Adam, K = 12
(fp16 weights 2 + fp16 gradients 2 + fp32 master weights, momentum and variance 4 + 4 + 4 = 12
bytes per parameter), N_d = 64 devices. The paper's GB are 10^9 bytes printed to one decimal:
baseline 120 GB, P_os 31.4 GB, P_os+g 16.6 GB, P_os+g+p 1.9 GB.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcensus.analyses.memory import analyze_memory
from netcensus.analyses.memory import ParamInfo, model_states, optimizer_state, param_infos
from netcensus.errors import MemoryConfigError
from netcensus.options import OptimizerSpec, Precision, Sharding
from netcensus.events import Trace
from netcensus.trace.tracer import trace_model

PSI = 7_500_000_000
PAPER = {"none": 120.0, "zero1": 31.4, "zero2": 16.6, "zero3": 1.9}


def _states(strategy: str):
    params = [ParamInfo("w", (PSI,), "float16", True)]
    empty = Trace(events=(), calls=())
    return analyze_memory(empty, params, optimizer=OptimizerSpec("adam"), precision=Precision("fp16-mixed"), sharding=Sharding.parse(strategy, 64))


@pytest.mark.parametrize("strategy", list(PAPER))
def test_zero_paper_figure_1(strategy):
    r = _states(strategy)
    assert r.totals == {"weights": 2 * PSI, "gradients": 2 * PSI, "optimizer": 12 * PSI}
    # Exact per-device bytes: baseline 16 Psi; P_os 4 Psi + 12 Psi / 64; P_os+g 2 Psi + 14 Psi / 64;
    # P_os+g+p 16 Psi / 64.
    exact = {"none": 16 * PSI, "zero1": 4 * PSI + 12 * PSI // 64, "zero2": 2 * PSI + 14 * PSI // 64,
             "zero3": 16 * PSI // 64}[strategy]
    assert r.model_states == exact
    assert round(r.model_states / 1e9, 1) == PAPER[strategy]
    # The float32 step counter PyTorch's Adam keeps is host memory, not counted in the figure.
    assert r.optimizer_host == 4


def test_zero_strategies_by_hand():
    # W = 100, G = 100, O = 200 over 4 devices: divisions round up to whole bytes.
    assert model_states(100, 100, 200, Sharding.parse("zero1", 4)).total == 100 + 100 + 50
    assert model_states(100, 100, 200, Sharding.parse("zero2", 4)).total == 100 + 25 + 50
    assert model_states(100, 100, 200, Sharding.parse("zero3", 4)).total == 25 + 25 + 50
    assert model_states(101, 0, 0, Sharding.parse("fsdp-full", 4)).weights == 26
    # FSDP HYBRID_SHARD shards within a node of 8 and replicates across the 8 nodes of 64 devices.
    hybrid = Sharding.parse("fsdp-hybrid:8", 64)
    assert hybrid.group == 8 and model_states(800, 800, 1600, hybrid).total == 100 + 100 + 200
    # DDP keeps flat gradient buckets beside .grad unless gradient_as_bucket_view.
    assert model_states(100, 100, 200, Sharding.parse("ddp", 4)).total == 100 + 100 + 200 + 100
    assert model_states(100, 100, 200, Sharding.parse(None, 1)).total == 400
    assert Sharding.parse("fsdp-grad-op", 4).divisors() == (1, 4, 4)


def test_bad_sharding_lists_the_valid_values():
    with pytest.raises(MemoryConfigError, match="'zero3'"):
        Sharding.parse("zero4", 8)
    with pytest.raises(MemoryConfigError, match="node_size"):
        Sharding.parse("fsdp-hybrid", 8)
    with pytest.raises(MemoryConfigError, match="positive"):
        Sharding.parse("zero1", 0)


def test_sharded_training_peak_on_a_traced_model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64))
    trace = trace_model(m, (torch.randn(8, 64),), train=True)
    pi = param_infos(m)
    one = analyze_memory(trace, pi, optimizer=OptimizerSpec("adam"))
    z2 = analyze_memory(trace, pi, optimizer=OptimizerSpec("adam"), sharding=Sharding.parse("zero2", 4))
    z3 = analyze_memory(trace, pi, optimizer=OptimizerSpec("adam"), sharding=Sharding.parse("zero3", 4))
    w = one.weights
    assert z2.weights == w and z2.gradients == -(-w // 4) and z2.optimizer == -(-2 * w // 4)
    assert z3.weights == -(-w // 4)
    assert one.peak > z2.peak
    # No blocks in this model: parameter sharding gathers the whole model (twice: unit + prefetch).
    assert any(a.name == "gathered weights" for a in z3.assumptions)
    opt = optimizer_state(pi, "adam")
    assert z2.totals["optimizer"] == opt.device_bytes
