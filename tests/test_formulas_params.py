"""Parameter formulas and layer descriptions, checked against independent oracles.

Oracles: closed forms written here (AlexNet's in tests/alexnet_layers.py) with their arithmetic in a
comment, and ``sum(p.numel())`` over the module's own parameters for many randomly drawn
hyper-parameters (modules built on the meta device, so no memory is allocated). Every formula's
``numbers`` text must also evaluate to its value.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from alexnet_layers import LAYERS, notebook_alexnet, of_kind
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from netcensus.formulas import Formula, describe, param_formula

META = torch.device("meta")
FAST = settings(max_examples=60, deadline=None)


def own_numel(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters(recurse=False))


def check(m: nn.Module) -> Formula:
    """The invariants every formula must satisfy, against sum(numel) and its own arithmetic."""
    f = param_formula(m)
    assert f is not None, describe(m)
    assert f.value == own_numel(m)
    assert sum(n for _, n in f.terms) == f.value
    own = {n for n, _ in m.named_parameters(recurse=False)}
    if isinstance(m, nn.RNNBase):  # weight_ih_l0, weight_ih_l0_reverse... are summed per kind
        own = {re.sub(r"_l\d+(_reverse)?$", "", n) for n in own}
    assert {name for name, _ in f.terms} == own
    # the bound numbers are real arithmetic: evaluating them gives the value
    assert eval(f.numbers, {"__builtins__": {}}) == f.value  # noqa: S307 (our own arithmetic text)
    assert f.short
    return f


# --- AlexNet from the seed notebook (its layer table: tests/alexnet_layers.py) -----------------------

def test_alexnet_layers_match_closed_forms() -> None:
    net = notebook_alexnet(META)
    assert [type(m) for m in net] == [layer.kind for layer in LAYERS]
    for m, layer in zip(net, LAYERS):  # layers without a formula have no parameters of their own
        assert (check(m).value if param_formula(m) is not None else own_numel(m)) == layer.params, layer.path
    counted = [check(m).value for m in net if param_formula(m) is not None]
    assert counted == [layer.params for layer in of_kind(nn.Conv2d, nn.Linear)]
    assert sum(counted) == 46_764_746 == sum(p.numel() for p in net.parameters())


def test_alexnet_notebook_error_is_the_linear_biases() -> None:
    # the notebook counts in*out for Linear and prints 46,756,544; the difference is the bias terms
    net = notebook_alexnet(META)
    biases = [dict(check(m).terms)["bias"] for m in net if isinstance(m, nn.Linear)]
    # a Linear's params less its MACs: in*out + out - in*out = out, its bias
    assert biases == [layer.params - layer.macs for layer in of_kind(nn.Linear)] == [4096, 4096, 10]
    assert 46_764_746 - sum(biases) == 46_756_544


def test_conv_formula_text() -> None:
    f = check(nn.Conv2d(1, 96, 11, 4, 1, device=META))
    assert f.symbolic == "(k_h*k_w*C_in/groups + 1)*C_out"
    assert (f.numbers, f.value) == ("(11*11*1/1 + 1)*96", 11712)
    assert f.terms == (("weight", 11616), ("bias", 96))  # 11*11*1*96, 96


def test_linear_formula_shows_bias() -> None:
    f = check(nn.Linear(4096, 4096, device=META))
    assert (f.symbolic, f.numbers, f.value) == ("in*out + out", "4096*4096 + 4096", 16_781_312)
    assert f.line() == "in*out + out = 4096*4096 + 4096 = 16,781,312"
    assert f.terms == (("weight", 16_777_216), ("bias", 4096))


def test_linear_without_bias_has_note() -> None:
    f = check(nn.Linear(4096, 10, bias=False, device=META))
    assert (f.symbolic, f.numbers, f.value) == ("in*out", "4096*10", 40_960)
    assert any("bias=False" in n for n in f.notes)


# --- closed forms of the other types --------------------------------------------------------------

CLOSED_FORMS = [
    # (module, value, arithmetic)
    (lambda: nn.Conv1d(6, 9, 5, groups=3), 99),                     # 5*6/3*9 + 9 = 90 + 9
    (lambda: nn.Conv3d(2, 4, (1, 2, 3), bias=False), 48),           # 1*2*3*2*4
    (lambda: nn.Conv2d(4, 8, 3, padding="same", padding_mode="reflect", dilation=2), 296),  # 3*3*4*8 + 8
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=2), 114),           # 3*3*4*(6/2) + 6 = 108 + 6
    (lambda: nn.ConvTranspose1d(3, 5, 4, bias=False), 60),          # 4*3*5
    (lambda: nn.ConvTranspose3d(2, 2, 2), 34),                      # 2*2*2*2*2 + 2 = 32 + 2
    (lambda: nn.Bilinear(3, 4, 5), 65),                             # 3*4*5 + 5
    (lambda: nn.BatchNorm2d(64), 128),                              # 64 weight + 64 bias
    (lambda: nn.BatchNorm1d(7, affine=False), 0),
    (lambda: nn.InstanceNorm2d(5), 0),                              # affine=False by default
    (lambda: nn.InstanceNorm3d(5, affine=True), 10),                # 5 + 5
    (lambda: nn.LayerNorm(768), 1536),                              # 768 + 768
    (lambda: nn.LayerNorm((3, 4), bias=False), 12),                 # 3*4 weight only
    (lambda: nn.LayerNorm(8, elementwise_affine=False), 0),
    (lambda: nn.GroupNorm(4, 32), 64),                              # 32 + 32
    (lambda: nn.RMSNorm(16), 16),                                   # weight only
    (lambda: nn.Embedding(1000, 64, padding_idx=0), 64_000),        # 1000*64
    (lambda: nn.EmbeddingBag(50, 8, mode="sum"), 400),              # 50*8
    (lambda: nn.MultiheadAttention(512, 8), 787_968),               # 3*512*512 + 3*512 (out_proj apart)
    (lambda: nn.MultiheadAttention(8, 2, kdim=4, vdim=6, add_bias_kv=True), 184),  # 64+32+48 + 24 + 8+8
    (lambda: nn.MultiheadAttention(8, 2, bias=False), 192),         # 3*8*8
    (lambda: nn.LSTM(10, 20), 2560),                                # 4*20*10 + 4*20*20 + 2*4*20
    (lambda: nn.LSTM(10, 20, num_layers=2, bidirectional=True), 15_040),  # 2*2560 + 2*(4*20*40 + 1600 + 160)
    (lambda: nn.LSTM(10, 20, proj_size=5), 1460),                   # 800 + 4*20*5 + 160 + 5*20
    (lambda: nn.GRU(3, 4), 108),                                    # 3*4*3 + 3*4*4 + 2*3*4
    (lambda: nn.RNN(3, 4, num_layers=2, bias=False), 60),           # (4*3 + 4*4) + (4*4 + 4*4)
    (lambda: nn.PReLU(), 1),
    (lambda: nn.PReLU(64), 64),
]


@pytest.mark.parametrize(("make", "value"), CLOSED_FORMS)
def test_closed_forms(make, value) -> None:  # type: ignore[no-untyped-def]
    with torch.device("meta"):
        m = make()
    assert check(m).value == value


def test_mha_out_proj_is_a_separate_linear() -> None:
    m = nn.MultiheadAttention(512, 8, device=META)
    f = check(m)
    assert dict(f.terms) == {"in_proj_weight": 3 * 512 * 512, "in_proj_bias": 3 * 512}
    assert check(m.out_proj).value == 512 * 512 + 512
    assert f.value + check(m.out_proj).value == sum(p.numel() for p in m.parameters())


# --- random hyper-parameters against sum(numel) ---------------------------------------------------

small = st.integers(1, 6)


@FAST
@given(nd=st.integers(1, 3), groups=st.integers(1, 3), cin=small, cout=small, k=st.lists(small, min_size=3,
       max_size=3), bias=st.booleans(), transposed=st.booleans(), dilation=st.integers(1, 3),
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
def test_conv_random(nd, groups, cin, cout, k, bias, transposed, dilation, mode) -> None:  # type: ignore[no-untyped-def]
    cls = getattr(nn, f"{'ConvTranspose' if transposed else 'Conv'}{nd}d")
    kw = {} if transposed else {"padding_mode": mode}
    m = cls(cin * groups, cout * groups, tuple(k[:nd]), groups=groups, bias=bias, dilation=dilation,
            device=META, **kw)
    f = check(m)
    assert (("bias", cout * groups) in f.terms) == bias


@FAST
@given(i=small, o=small, bias=st.booleans(), bilinear=st.booleans(), i2=small)
def test_linear_random(i, o, bias, bilinear, i2) -> None:  # type: ignore[no-untyped-def]
    m = nn.Bilinear(i, i2, o, bias=bias, device=META) if bilinear else nn.Linear(i, o, bias=bias, device=META)
    f = check(m)
    assert dict(f.terms).get("bias", 0) == (o if bias else 0)


@FAST
@given(kind=st.sampled_from(["bn", "in", "ln", "gn", "rms"]), nd=st.integers(1, 3), c=small,
       affine=st.booleans(), bias=st.booleans(), track=st.booleans(),
       shape=st.lists(small, min_size=1, max_size=3))
def test_norm_random(kind, nd, c, affine, bias, track, shape) -> None:  # type: ignore[no-untyped-def]
    with torch.device("meta"):
        if kind == "bn":
            m = getattr(nn, f"BatchNorm{nd}d")(c, affine=affine, track_running_stats=track)
        elif kind == "in":
            m = getattr(nn, f"InstanceNorm{nd}d")(c, affine=affine, track_running_stats=track)
        elif kind == "ln":
            m = nn.LayerNorm(shape, elementwise_affine=affine, bias=bias)
        elif kind == "gn":
            m = nn.GroupNorm(c, c * nd, affine=affine)
        else:
            m = nn.RMSNorm(shape, elementwise_affine=affine)
    check(m)


@FAST
@given(e_heads=st.integers(1, 3), head_dim=small, kdim=st.none() | small, vdim=st.none() | small,
       bias=st.booleans(), bias_kv=st.booleans())
def test_mha_random(e_heads, head_dim, kdim, vdim, bias, bias_kv) -> None:  # type: ignore[no-untyped-def]
    m = nn.MultiheadAttention(e_heads * head_dim, e_heads, kdim=kdim, vdim=vdim, bias=bias,
                              add_bias_kv=bias_kv, device=META)
    check(m)
    check(m.out_proj)


@FAST
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), i=small, h=st.integers(2, 6), layers=st.integers(1, 3),
       bidirectional=st.booleans(), bias=st.booleans(), proj=st.integers(0, 5))
def test_rnn_random(kind, i, h, layers, bidirectional, bias, proj) -> None:  # type: ignore[no-untyped-def]
    kw = {"proj_size": proj % h} if kind == "LSTM" else {}
    m = getattr(nn, kind)(i, h, num_layers=layers, bidirectional=bidirectional, bias=bias, device=META, **kw)
    check(m)


@FAST
@given(n=small, d=small, bag=st.booleans(), pad=st.booleans(), prelu=small)
def test_embedding_and_prelu_random(n, d, bag, pad, prelu) -> None:  # type: ignore[no-untyped-def]
    cls = nn.EmbeddingBag if bag else nn.Embedding
    check(cls(n, d, padding_idx=0 if pad else None, device=META))
    check(nn.PReLU(prelu, device=META))


def test_per_module_sums_add_up_on_a_transformer_layer() -> None:
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, device=META)
    values = [param_formula(m) for m in layer.modules()]
    total = sum(f.value for f in values if f is not None)
    # every parameter of this layer sits in a module with a formula
    assert total == sum(p.numel() for p in layer.parameters())
    # 4*32*32 + 3*32 + 32 (attention incl. out_proj) + 32*64 + 64 + 64*32 + 32 + 2*(32 + 32)
    assert total == 4 * 32 * 32 + 4 * 32 + 32 * 64 + 64 + 64 * 32 + 32 + 128


# --- None where no formula applies ----------------------------------------------------------------

class Scaled(nn.Linear):
    def __init__(self) -> None:
        super().__init__(3, 4)
        self.scale = nn.Parameter(torch.ones(4))


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3, 4))


def test_none_for_unknown_or_mismatching_modules() -> None:
    assert param_formula(nn.ReLU()) is None
    assert param_formula(nn.Sequential(nn.Linear(2, 2))) is None
    assert param_formula(Custom()) is None
    assert param_formula(Scaled()) is None  # a known type with an extra parameter: no wrong number
    with pytest.warns(FutureWarning):
        old_style = torch.nn.utils.weight_norm(nn.Linear(3, 4))  # weight -> weight_g, weight_v
    assert param_formula(old_style) is None
    new_style = torch.nn.utils.parametrizations.weight_norm(nn.Linear(3, 4))  # weight moves to a child
    assert param_formula(new_style) is None


def test_lazy_linear_before_and_after_materialisation() -> None:
    m = nn.LazyLinear(5)
    assert param_formula(m) is None
    m(torch.ones(2, 7))
    assert type(m) is nn.Linear
    assert check(m).value == 7 * 5 + 5


# --- describe ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "text"), [
    (lambda: nn.Conv2d(1, 96, 11, 4, 1), "Conv2d(1, 96, k=11, s=4, p=1)"),
    (lambda: nn.Conv2d(3, 8, (3, 5), padding="same", bias=False),
     "Conv2d(3, 8, k=(3, 5), p=same, bias=False)"),
    (lambda: nn.Conv1d(4, 8, 3, dilation=2, groups=4, padding_mode="reflect"),
     "Conv1d(4, 8, k=3, d=2, groups=4, padding_mode=reflect)"),
    (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
     "ConvTranspose2d(4, 2, k=3, s=2, op=1)"),
    (lambda: nn.Linear(6400, 4096), "Linear(6400, 4096)"),
    (lambda: nn.Linear(4096, 10, bias=False), "Linear(4096, 10, bias=False)"),
    (lambda: nn.MaxPool2d(kernel_size=3, stride=2), "MaxPool2d(k=3, s=2)"),
    (lambda: nn.MaxPool2d(2), "MaxPool2d(k=2)"),
    (lambda: nn.AvgPool1d(3, padding=1, ceil_mode=True), "AvgPool1d(k=3, p=1, ceil_mode)"),
    (lambda: nn.AdaptiveAvgPool2d((6, None)), "AdaptiveAvgPool2d((6, None))"),
    (lambda: nn.LSTM(10, 20, num_layers=2, bidirectional=True), "LSTM(10, 20, layers=2, bidirectional)"),
    (lambda: nn.BatchNorm2d(64), "BatchNorm2d(64)"),
    (lambda: nn.LayerNorm(768, eps=1e-6), "LayerNorm(768, eps=1e-06)"),
    (lambda: nn.MultiheadAttention(512, 8, batch_first=True),
     "MultiheadAttention(512, heads=8, batch_first)"),
    (lambda: nn.Embedding(1000, 64, padding_idx=0), "Embedding(1000, 64, padding_idx=0)"),
    (lambda: nn.Dropout(p=0.5), "Dropout(0.5)"),
    (lambda: nn.Flatten(), "Flatten()"),
    (lambda: nn.Upsample(scale_factor=2), "Upsample(scale=2)"),
    (lambda: nn.LazyLinear(10), "LazyLinear(?, 10)"),
    (lambda: nn.ReLU(), "ReLU"),
    (lambda: Custom(), "Custom"),
])
def test_describe(make, text) -> None:  # type: ignore[no-untyped-def]
    assert describe(make()) == text


def test_numbers_are_exact_divisions() -> None:
    # the bound arithmetic of a grouped conv divides exactly: 3*3*6/3*9 = 162, plus 9 bias
    f = check(nn.Conv2d(6, 9, 3, groups=3, device=META))
    assert math.isclose(eval(f.numbers), 171) and f.value == 171  # noqa: S307
