"""Mixed precision under sharding: DeepSpeed ZeRO (zero1/2/3) and FSDP MixedPrecision (fsdp-*), by name.

Closed forms (P = parameters of one nn.Linear(1000, 1000) = 1000 * 1000 + 1000 = 1,001,000; S = 4 devices;
Adam keeps exp_avg and exp_avg_sq, 4 + 4 bytes per parameter in float32):

* DeepSpeed ZeRO with bf16 (the ZeRO paper's 2 + 2 + 12 bytes per parameter): 2-byte weights and
  gradients; the float32 master copy (4) joins Adam's state (8): 12 bytes, sharded.
* FSDP MixedPrecision(param_dtype=bf16): float32 sharded weights (the master copy), float32 sharded
  gradients, float32 state: 4 + 4 + 8 bytes, all divided by S.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netcensus

P = 1000 * 1000 + 1000
S = 4


def _memory(shard: str | None, precision: str = "bf16-mixed"):
    with torch.device("meta"):
        model = nn.Linear(1000, 1000)
    return netcensus.profile(model, input_size=(8, 1000), train=True, optimizer="adam", precision=precision,
                             shard=shard, devices=S if shard else 1).memory


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@pytest.mark.parametrize(("shard", "weights", "gradients", "optimizer"), [
    ("zero1", 2 * P, 2 * P, _ceil(12 * P, S)),
    ("zero2", 2 * P, _ceil(2 * P, S), _ceil(12 * P, S)),
    ("zero3", _ceil(2 * P, S), _ceil(2 * P, S), _ceil(12 * P, S)),
    ("fsdp-full", _ceil(4 * P, S), _ceil(4 * P, S), _ceil(8 * P, S)),
])
def test_model_states_follow_the_framework(shard, weights, gradients, optimizer):
    m = _memory(shard)
    assert (m.weights, m.gradients, m.optimizer) == (weights, gradients, optimizer)
    framework = {a.name: a.value for a in m.assumptions}["mixed precision under sharding"]
    assert framework == ("FSDP MixedPrecision" if shard.startswith("fsdp") else "DeepSpeed ZeRO")
    assert m.weight_copies == 0  # the weights already are low precision: no autocast copies


def test_zero_paper_bytes_per_parameter():
    # unsharded totals under zero1 with bf16-mixed Adam: 2 + 2 + 12 = 16 bytes per parameter
    m = _memory("zero1")
    assert m.totals["weights"] + m.totals["gradients"] + m.totals["optimizer"] == 16 * P


def test_without_sharding_plain_autocast_is_kept():
    # one device: float32 weights (4P) and gradients (4P), Adam state 8P, and autocast's bf16 copies of the
    # weight and the bias in the allocator's 512-byte blocks: 2,000,000 B -> 3907 blocks = 2,000,384 B and
    # 2,000 B -> 4 blocks = 2,048 B: 2,002,432 B
    m = _memory(None)
    assert (m.weights, m.gradients, m.optimizer) == (4 * P, 4 * P, 8 * P)
    assert m.weight_copies == 3907 * 512 + 4 * 512
