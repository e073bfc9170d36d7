"""Training forwards that read a random draw (LayerDrop) or index with a mask built from host data
trace on meta.

LayerDrop (``if self.training and torch.rand([]) < p: skip the layer``; wav2vec2, HuBERT, WavLM default
to p = 0.1) reads a value meta tensors do not have: the draw is taken as the largest value below 1, so
every layer runs (the most a step costs) and the trace says so. A boolean mask made from host data
(``torch.tensor(numpy_mask, device=x.device)``, SpecAugment's) is indexed again in backward: its values
are kept from the host copy.

Oracles: the closed form of the layers' FLOPs, the same model without LayerDrop (which runs every
layer on every path), and a real CPU run of the same step (torch's FlopCounterMode).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netcensus
from netcensus.trace.values import DRAWS

B, D, N = 4, 32, 6


class LayerDropMLP(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.layers = nn.ModuleList(nn.Linear(D, D, bias=False) for _ in range(N))

    def forward(self, x):
        for layer in self.layers:
            if self.training and self.p > 0 and torch.rand([]) < self.p:
                continue
            x = torch.relu(layer(x))
        return x


def _meta(p: float) -> nn.Module:
    with torch.device("meta"):
        return LayerDropMLP(p)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.99])
def test_layerdrop_runs_every_layer_and_says_so(p):
    prof = netcensus.profile(_meta(p), torch.empty(B, D, device="meta"), train=True)
    # Every layer runs: N matmuls of (B x D) @ (D x D), B * D * D MACs each, forward; backward: the
    # weight gradients of all N and the input gradients of the last N - 1 (the input needs none).
    assert prof.compute.totals.forward.core_macs == N * B * D * D
    assert prof.compute.totals.backward.core_macs == (2 * N - 1) * B * D * D
    assert DRAWS in prof.trace.assumptions
    without = netcensus.profile(_meta(0.0), torch.empty(B, D, device="meta"), train=True)
    # the same step, but for the N comparisons (rand < p: one FLOP each) the draws add
    assert prof.compute.totals.total.flops == without.compute.totals.total.flops + N
    assert prof.memory.peak == without.memory.peak
    assert DRAWS not in without.trace.assumptions  # no draw read, nothing assumed


def test_inference_reads_no_draw():
    prof = netcensus.profile(_meta(0.5), torch.empty(B, D, device="meta"))
    assert prof.compute.totals.forward.core_macs == N * B * D * D and DRAWS not in prof.trace.assumptions


class HostMask(nn.Module):
    """Overwrites the rows a mask built from numpy names with a learned vector (SpecAugment's pattern):
    backward indexes the gradient with the same mask."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(D, D)
        self.fill = nn.Parameter(torch.zeros(D))

    def forward(self, x):
        h = self.proj(x)
        rows = torch.tensor(np.array([True, False, True, False]), device=h.device, dtype=torch.bool)
        h[rows] = self.fill
        return h * 2


def test_host_mask_indexed_again_in_backward():
    with torch.device("meta"):
        model = HostMask()
    prof = netcensus.profile(model, torch.empty(B, D, device="meta"), train=True)
    real = HostMask()
    x = torch.randn(B, D)
    with FlopCounterMode(display=False) as counter:
        real(x).backward(torch.ones(B, D))
    # The projection's matmuls are all the FLOPs FlopCounterMode counts: forward 2*B*D*D, backward the
    # weight gradient's as many (x needs no gradient).
    assert counter.get_total_flops() == 2 * 2 * B * D * D
    assert prof.compute.totals.forward.core_macs * 2 + prof.compute.totals.backward.core_macs * 2 \
        == counter.get_total_flops()


transformers = pytest.importorskip("transformers")


def _wav2vec2(layerdrop: float, mask_time_prob: float = 0.05):
    cfg = transformers.Wav2Vec2Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=32,
        conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4, layerdrop=layerdrop, mask_time_prob=mask_time_prob)
    return cfg


def test_wav2vec2_trains_with_its_defaults():
    # layerdrop 0.1 and SpecAugment (mask_time_prob 0.05) are the config's defaults for training
    with torch.device("meta"):
        dropping = transformers.Wav2Vec2ForCTC(_wav2vec2(0.1))
        keeping = transformers.Wav2Vec2ForCTC(_wav2vec2(0.0))
    audio = torch.empty(2, 4000, device="meta")
    a = netcensus.profile(dropping, {"input_values": audio}, train=True)
    b = netcensus.profile(keeping, {"input_values": audio}, train=True)
    assert DRAWS in a.trace.assumptions and DRAWS not in b.trace.assumptions
    assert a.compute.totals.total.core_macs == b.compute.totals.total.core_macs > 0
    assert a.memory.peak == b.memory.peak
    assert a.total_params == sum(p.numel() for p in dropping.parameters())
