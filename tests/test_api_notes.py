"""What the Python API tells beside the figures: notes where an option had nothing to act on, and
per-module memory that adds up to the totals."""

from __future__ import annotations

import torch
from torch import nn

import netcensus


def test_kv_context_without_attention_says_so() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    p = netcensus.profile(model, input_size=(2, 16), kv_context=128)
    assert p.kv_cache is None
    assert any(n.startswith("kv_context=128 gave no KV cache") for n in p.notes)
    assert not any("KV cache" in n for n in netcensus.profile(model, input_size=(2, 16)).notes)


def test_cudnn_rnn_reserve_space_is_on_the_lstm_row() -> None:
    # On the CUDA target an LSTM's saved tensors are cuDNN's reserve space (the analysis adds it in place
    # of the meta decomposition's per-step tensors): the LSTM's row and the root's saved bytes hold it,
    # so the root row equals the step's "activations saved for backward"
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(64, 128, num_layers=2, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.lstm(x)[0])

    with torch.device("meta"):
        model = Tagger()
    p = netcensus.profile(model, input_size=(8, 32, 64), train=True)
    assert any(a.name == "cuDNN RNN" for a in p.memory.assumptions)
    assert p.layer("").saved_bytes == p.memory.activations
    assert p.layer("lstm").saved_bytes + p.layer("head").saved_bytes == p.memory.activations
