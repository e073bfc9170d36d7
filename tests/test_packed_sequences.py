"""Packed sequences (``pack_padded_sequence`` -> RNN -> ``pad_packed_sequence``) trace on meta: the lengths
a user passes as a CPU tensor decide the packed shapes, and the PackedSequence's ``batch_sizes`` stays a
CPU tensor as in a real run (the RNN reads its values).

Oracles: the closed form of an LSTM's MACs over the valid tokens only (packing skips the padding), a
real CPU run of the same model and inputs, and ``sum(p.numel())``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netcensus

LENGTHS = [12, 9, 5, 3]
B, T, E, H, OUT = 4, 12, 32, 64, 5


class Tagger(nn.Module):
    def __init__(self, rnn: type[nn.Module]):
        super().__init__()
        self.emb = nn.Embedding(100, E)
        self.rnn = rnn(E, H, batch_first=True, bidirectional=True, num_layers=2)
        self.out = nn.Linear(2 * H, OUT)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.rnn(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        return self.out(padded)


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, 100, (B, T), generator=torch.Generator().manual_seed(0)), torch.tensor(LENGTHS)


@pytest.mark.parametrize("rnn, gates", [(nn.LSTM, 4), (nn.GRU, 3)])
@pytest.mark.parametrize("train", [False, True])
def test_packed_rnn_traces_on_meta(rnn, gates, train):
    with torch.device("meta"):
        model = Tagger(rnn)
    prof = netcensus.profile(model, _inputs(), train=train)
    tokens = sum(LENGTHS)  # 29 valid positions of 4 x 12: packing skips the padding
    # per token and direction: layer 1 gates*H*(E + H), layer 2 gates*H*(2H + H); the head runs on the
    # padded 4 x 12 positions: 48 * 2H * OUT.
    rnn_macs = tokens * 2 * gates * H * ((E + H) + (2 * H + H))
    assert prof.compute.totals.forward.core_macs == rnn_macs + B * T * 2 * H * OUT
    assert prof.compute.coverage.unsupported == 0
    assert prof.total_params == sum(p.numel() for p in model.parameters())
    rows = {r.path: r for r in prof.layers}
    # the RNN's output is the PackedSequence: its data (29 tokens x 2H), batch_sizes (12 time steps), the
    # sorted and unsorted indices (4 each), then the final hidden state(s)
    assert rows["rnn"].output_shapes[:4] == [(29, 2 * H), (T,), (B,), (B,)]
    assert rows["out"].output_shapes == [(B, T, OUT)]


@pytest.mark.parametrize("rnn", [nn.LSTM, nn.GRU])
def test_meta_trace_matches_a_real_cpu_run(rnn):
    torch.manual_seed(0)
    real = Tagger(rnn)
    with torch.device("meta"):
        meta = Tagger(rnn)
    a = netcensus.profile(real, _inputs(), device="cpu", train=True, target="cpu")
    b = netcensus.profile(meta, _inputs(), train=True, target="cpu")
    assert a.compute.totals.forward.core_macs == b.compute.totals.forward.core_macs
    assert a.compute.totals.backward.core_macs == b.compute.totals.backward.core_macs
