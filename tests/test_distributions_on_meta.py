"""Models that build torch.distributions objects in their forward (VAEs, policies) trace on meta: the
argument checks, which read values, are skipped, the parameters assumed valid, and the trace says so.

Oracles: a real CPU run of the same step (FLOPs and peak), and the untouched state of
``torch.distributions.Distribution`` after profiling.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

import netcensus
from netcensus.trace.values import DISTRIBUTIONS


@pytest.fixture(autouse=True)
def validating():
    """Distributions check their arguments by default (torch._dynamo, once imported, turns that default
    off for the whole process: set it here so the tests do not depend on the order they run in)."""
    before = Distribution._validate_args
    Distribution.set_default_validate_args(True)
    yield
    Distribution.set_default_validate_args(before)


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(16, 8)
        self.dec = nn.Linear(4, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_var = self.enc(x).chunk(2, -1)
        z = Normal(mu, (0.5 * log_var).exp()).rsample()
        kl = -0.5 * (1 + log_var - mu**2 - log_var.exp()).sum()
        return F.mse_loss(self.dec(z), x) + kl


class Policy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        dist = Categorical(logits=self.net(x))
        return -(dist.log_prob(actions)).mean() - 0.01 * dist.entropy().mean()


def test_vae_traces_and_matches_a_real_run():
    init, default = Distribution.__init__, Distribution._validate_args
    with torch.device("meta"):
        meta = VAE()
    a = netcensus.profile(meta, torch.empty(4, 16, device="meta"), train=True, target="cpu")
    b = netcensus.profile(VAE(), torch.randn(4, 16), device="cpu", train=True, target="cpu")
    assert DISTRIBUTIONS in a.trace.assumptions
    assert DISTRIBUTIONS not in b.trace.assumptions  # a real run checks its arguments itself
    assert a.compute.totals.total.core_macs == b.compute.totals.total.core_macs
    # forward: enc 4 x 16 x 8 and dec 4 x 4 x 16 MACs
    assert a.compute.totals.forward.core_macs == 4 * 16 * 8 + 4 * 4 * 16
    assert a.memory.peak == b.memory.peak
    assert Distribution.__init__ is init and Distribution._validate_args is default


def test_policy_with_categorical():
    with torch.device("meta"):
        model = Policy()
    inputs = (torch.empty(8, 16, device="meta"), torch.randint(0, 5, (8,)))
    prof = netcensus.profile(model, inputs, train=True)
    assert DISTRIBUTIONS in prof.trace.assumptions
    assert prof.compute.totals.forward.core_macs == 8 * 16 * 5
