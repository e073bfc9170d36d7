"""nn.TransformerEncoder in eval with a padding mask traces on meta, on the padded tensors, and says so.

A real device packs the valid positions into a nested tensor there (PyTorch's fast path); nested tensors
have no meta form. Oracle: a real CPU run of the same model with the nested path switched off
(``enable_nested_tensor=False``), which runs the same padded matmuls.
"""

from __future__ import annotations

import torch
from torch import nn

import netcensus
from netcensus.trace.values import PADDED

B, S, D = 2, 10, 32


def _encoder(nested: bool) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(D, 4, 64, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=nested)


def _mask() -> torch.Tensor:
    pad = torch.zeros(B, S, dtype=torch.bool)
    pad[0, 7:] = True  # the first sequence has 7 tokens, the second 10
    return pad


def test_padding_mask_in_eval_traces_padded():
    with torch.device("meta"):
        model = _encoder(nested=True)
    x = torch.empty(B, S, D, device="meta")
    prof = netcensus.profile(model, (x,), input_kwargs={"src_key_padding_mask": _mask()}, target="cpu")
    assert PADDED in prof.trace.assumptions
    assert prof.compute.coverage.unsupported == 0
    torch.manual_seed(0)
    real = _encoder(nested=False).eval()
    ref = netcensus.profile(real, (torch.randn(B, S, D),), input_kwargs={"src_key_padding_mask": _mask()},
                            device="cpu", target="cpu")
    # the matmuls agree (the CPU run takes the fused layer op, whose pointwise work is counted apart)
    assert prof.compute.totals.forward.core_macs == ref.compute.totals.forward.core_macs
    assert prof.layers[0].output_shapes == [(B, S, D)]


def test_no_mask_assumes_nothing():
    with torch.device("meta"):
        model = _encoder(nested=True)
    prof = netcensus.profile(model, (torch.empty(B, S, D, device="meta"),), target="cpu")
    assert PADDED not in prof.trace.assumptions
