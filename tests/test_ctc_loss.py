"""CTC loss traces on meta (PyTorch has no meta kernel for it): the target lengths a user passes decide
the lattice, and the op runs on them with stand-ins for the activations.

Oracles: the lattice's closed form (N x T x (2 * max target length + 1)) in the documented convention
of netcensus.ops.loss, and a real CPU run of the same step, whose kernel sizes log_alpha itself.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netcensus

N, T, C, FEAT = 3, 20, 10, 16
TARGET_LENGTHS = [5, 7, 2]


class CTCHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(FEAT, C)

    def forward(self, x, targets, input_lengths, target_lengths):
        log_probs = self.proj(x).log_softmax(-1).transpose(0, 1)  # T x N x C
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths)


def _inputs(device: str) -> tuple:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, T, FEAT, generator=g).to(device)
    targets = torch.randint(1, C, (N, max(TARGET_LENGTHS)), generator=g)
    return x, targets, torch.tensor([20, 18, 15]), torch.tensor(TARGET_LENGTHS)


def _ctc_flops(prof, op: str) -> int:
    return sum(r.figures.flops for r in prof.compute.by_op if r.op.startswith(op + "."))


@pytest.mark.parametrize("train", [False, True])
def test_ctc_loss_on_meta_in_closed_form(train):
    with torch.device("meta"):
        model = CTCHead()
    prof = netcensus.profile(model, _inputs("meta"), train=train)
    assert prof.compute.coverage.unsupported == 0
    lattice = N * T * (2 * max(TARGET_LENGTHS) + 1)  # 3 * 20 * 15 = 900
    assert _ctc_flops(prof, "aten._ctc_loss") == 13 * lattice == 11_700
    if train:  # 20 per lattice element + 6 per log-probability (T x N x C = 600)
        assert _ctc_flops(prof, "aten._ctc_loss_backward") == 20 * lattice + 6 * T * N * C == 21_600


def test_meta_trace_matches_a_real_cpu_run():
    torch.manual_seed(0)
    real = CTCHead()
    with torch.device("meta"):
        meta = CTCHead()
    a = netcensus.profile(real, _inputs("cpu"), device="cpu", train=True, target="cpu")
    b = netcensus.profile(meta, _inputs("meta"), train=True, target="cpu")
    assert a.compute.totals.total.flops == b.compute.totals.total.flops
    assert _ctc_flops(a, "aten._ctc_loss") == _ctc_flops(b, "aten._ctc_loss") > 0
    assert a.memory.peak == b.memory.peak  # the outputs' sizes (log_alpha's among them) agree to the byte
