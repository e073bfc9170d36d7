"""nn.TransformerEncoderLayer's inference fast path (netcensus.trace.contexts.encoder).

Oracles: PyTorch itself on real CPU tensors (whether its forward calls the fused native op, and the
values that op computes), and the closed form of the live activations at the feed-forward's peak.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import netcensus
from netcensus.trace.contexts.encoder import EncoderFastPath, fast_forward, takes_fast_path


class _Ops(TorchDispatchMode):
    """Records the ATen ops a real CPU forward runs (a dispatch mode leaves the fast path on)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))


def _layer(norm_first: bool = True, activation: str = "relu", heads: int = 4) -> nn.TransformerEncoderLayer:
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(32, heads, 64, dropout=0.1, activation=activation, batch_first=True,
                                      norm_first=norm_first).eval()


def _pytorch_takes_fast_path(layer: nn.Module, x: torch.Tensor, **kwargs) -> bool:
    with _Ops() as ops:
        layer(x, **kwargs)
    return "_transformer_encoder_layer_fwd.default" in ops.names


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_the_op_sequence_computes_what_the_native_op_computes(norm_first: bool, activation: str) -> None:
    layer = _layer(norm_first, activation)
    x = torch.randn(2, 8, 32)
    with torch.no_grad():
        assert _pytorch_takes_fast_path(layer, x)
        native = layer(x)  # real CPU tensors, no mode: PyTorch's fast path
        ours = fast_forward(layer, x, "cuda")
    torch.testing.assert_close(ours, native, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("case", "change"), [
    ("eval, no grad", lambda layer, x, kw: None),
    ("training", lambda layer, x, kw: layer.train()),
    ("odd head count", None),
    ("a key padding mask",
     lambda layer, x, kw: kw.update(src_key_padding_mask=torch.zeros(2, 8, dtype=torch.bool))),
    ("a forward hook", lambda layer, x, kw: layer.linear1.register_forward_hook(lambda *a: None)),
])
def test_the_fast_path_is_taken_where_pytorch_takes_it(case: str, change) -> None:
    layer = _layer(heads=1) if change is None else _layer()
    x = torch.randn(2, 8, 32)
    kwargs: dict = {}
    if change is not None:
        change(layer, x, kwargs)
    with torch.no_grad():
        expected = _pytorch_takes_fast_path(layer, x, **kwargs)
        ours = takes_fast_path(layer, x, kwargs.get("src_mask"), kwargs.get("src_key_padding_mask"))
    if case == "a key padding mask":
        assert ours is False  # PyTorch takes its unfused native attention here, which is not modelled
    else:
        assert ours is expected, case


def test_grad_enabled_keeps_the_python_forward() -> None:
    layer = _layer()
    x = torch.randn(2, 8, 32)
    assert _pytorch_takes_fast_path(layer, x) is False  # weights require grad and grad mode is on
    assert takes_fast_path(layer, x, None, None) is False


def test_the_class_forward_is_restored() -> None:
    before = nn.TransformerEncoderLayer.forward
    with EncoderFastPath("cuda"):
        assert nn.TransformerEncoderLayer.forward is not before
    assert nn.TransformerEncoderLayer.forward is before


B, T, D, FF, LAYERS = 4, 64, 64, 256, 3


def _encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(D, 4, FF, batch_first=True, norm_first=True, device="meta")
    return nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False).eval()


def test_inference_peak_holds_what_the_native_op_holds() -> None:
    enc = _encoder()
    profile = netcensus.profile(enc, input_size=(B, T, D), target="cuda")
    assert any("fused fast path" in n for n in profile.notes)  # the report says what ran
    at = profile.memory.peak_at
    # The peak is the second linear of a later layer's feed-forward (addmm of ffn in transformer.cpp).
    # Alive then, fp32: the layer's input (the previous layer's output), the residual x (attention output
    # with src added in place), norm2's output, the first linear's output with ReLU applied in place
    # (B*T*FF) and the second linear's output: 4*B*T*D + B*T*FF elements, 4 bytes each; plus the model's
    # input (B*T*D, counted as an input).
    assert at.op == "aten.addmm.default" and at.module.startswith("layers.")
    assert at.breakdown["temporaries"] == (4 * B * T * D + B * T * FF) * 4
    assert at.breakdown["inputs"] == B * T * D * 4


def test_the_python_forward_holds_more() -> None:
    # target="cpu" keeps the Python forward: the activation's own output beside the first linear's, and
    # new tensors for both residual sums, so the peak is higher than the fast path's.
    cuda = netcensus.profile(_encoder(), input_size=(B, T, D), target="cuda").memory.peak_at
    cpu = netcensus.profile(_encoder(), input_size=(B, T, D), target="cpu").memory.peak_at
    assert cpu.breakdown["temporaries"] > cuda.breakdown["temporaries"] + B * T * FF * 4 - 1
