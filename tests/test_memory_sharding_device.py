"""One device of a sharded run: the storages the analysis counts are those that device holds, and the
caching-allocator replay (the reserved estimate) allocates the same bytes as the peak counts.

Model: nn.Sequential(Linear(1024, 4096), GELU, Linear(4096, 1024), LayerNorm(1024), Linear(1024, 1000)),
batch 64, Adam, over S = 4 devices. Its parameters (the oracle is ``sum(p.numel())``):
1024*4096 + 4096 + 4096*1024 + 1024 + 1024 + 1024 + 1024*1000 + 1000 = 9,420,776.

Two independent computations meet here: the live bytes per category (a sum over event positions, plus
the model states as constants) and the allocator replay (every allocation put through the caching
allocator's best-fit/split/merge rules, in order). The replay's allocated peak must be the analysed
peak up to the allocator's 512-byte blocks on per-parameter optimizer slices (the live-bytes count
rounds the model states as whole tensors): at most 0.5% apart here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netcensus
from netcensus.analyses.memory import cuda_step
from netcensus.analyses.memory.timeline import observe_timelines
from netcensus.devices.cuda import round_block

S = 4
SHARDS = [None, "ddp", "zero1", "zero2", "zero3", "fsdp-full"]


def _model() -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 1024), nn.LayerNorm(1024),
                             nn.Linear(1024, 1000))


def _profile(shard, precision, monkeypatch=None):
    replays: list[tuple[int, int]] = []
    if monkeypatch is not None:
        real = cuda_step.replay_reserved

        def recorded(*args, **kwargs):
            out = real(*args, **kwargs)
            replays.append(out)
            return out

        monkeypatch.setattr(cuda_step, "replay_reserved", recorded)
    with observe_timelines() as seen:
        p = netcensus.profile(_model(), input_size=(64, 1024), train=True, optimizer="adam",
                              precision=precision, shard=shard, devices=S if shard else 1)
    return p.memory, seen[0], replays


def test_parameter_count_oracle():
    assert sum(p.numel() for p in _model().parameters()) == 9_420_776


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
@pytest.mark.parametrize("shard", SHARDS)
def test_allocator_replay_allocates_what_the_peak_counts(shard, precision, monkeypatch):
    m, _, replays = _profile(shard, precision, monkeypatch)
    assert len(replays) == 1
    reserved, allocated = replays[0]
    # Before the device's lives were used, the replay held whole float32 gradients and autocast copies
    # under sharding (zero3 fp32: 1.16 x the peak), and freed the gradients before the optimizer step
    # (unsharded fp32: 0.86 x the peak).
    assert allocated == pytest.approx(m.peak, rel=0.005)
    assert m.reserved == max(reserved, m.peak)


@pytest.mark.parametrize("shard", ["zero2", "zero3", "fsdp-full"])
def test_sharded_gradients_are_one_shard(shard):
    m, timeline, _ = _profile(shard, "fp32")
    grads = [x for x in timeline.lives if x.category == "gradients"]
    # the whole float32 gradients (4 bytes x 9,420,776) give way to the device's flat shard, in blocks
    assert [x.size for x in grads] == [round_block(-(-4 * 9_420_776 // S))]
    assert m.gradients == -(-4 * 9_420_776 // S)
    # it exists from the start of backward to after the step (set to None by the next zero_grad)
    assert grads[0].died > timeline.n_events
    assert m.peak_at.breakdown.get("gradients", 0) <= grads[0].size


def test_framework_precision_has_no_autocast_copies():
    # FSDP MixedPrecision gathers bfloat16 units, DeepSpeed stores 2-byte weights: autocast finds its
    # weights already low precision; without sharding it makes copies (the control)
    for shard in ("zero1", "zero3", "fsdp-full"):
        _, timeline, _ = _profile(shard, "bf16-mixed")
        assert not [x for x in timeline.lives if x.category == "weight_copies"]
    _, plain, _ = _profile(None, "bf16-mixed")
    assert [x for x in plain.lives if x.category == "weight_copies"]


def test_deepspeed_zero1_gradients_are_two_bytes():
    # zero1 shards only the optimizer state; DeepSpeed's gradients are 2-byte like its weights: each
    # parameter's gradient at 2 bytes per element, in the allocator's 512-byte blocks
    m, timeline, _ = _profile("zero1", "bf16-mixed")
    at_end = sorted(x.size for x in timeline.lives
                    if x.category == "gradients" and x.died > timeline.n_events)
    numels = sorted(p.numel() for p in _model().parameters())
    assert at_end == sorted(round_block(2 * k) for k in numels)
    assert m.gradients == 2 * 9_420_776
