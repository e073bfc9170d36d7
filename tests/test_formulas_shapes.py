"""Shape formulas, diagnoses and explain lines, checked against real PyTorch runs.

Oracle: the module is built on CPU with small random hyper-parameters and run on a small random
tensor. When PyTorch succeeds, shape_formula() must give the same shape and diagnose() must stay
silent; when PyTorch raises, shape_formula() must be None and diagnose() must explain. A stated
"smallest input that works" is itself run: it must work, and one less must fail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from alexnet_layers import INPUT, LAYERS, notebook_alexnet, of_kind
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from netcensus.formulas import DimFormula, diagnose, explain_lines, shape_formula

# PyTorch's own advisories on the random configurations drawn here; they are not failures
pytestmark = [
    pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
    pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning"),
    pytest.mark.filterwarnings("ignore:input's size at dim=1 does not match num_features:UserWarning"),
]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Shape = tuple[int, ...]


def real_shape(m: nn.Module, *shapes: Shape) -> Shape | None:
    """The output shape PyTorch gives, or None when it raises."""
    try:
        with torch.no_grad():
            out = m(*(torch.randn(s) for s in shapes))
    except (RuntimeError, ValueError, IndexError, NotImplementedError, AssertionError, TypeError):
        return None
    return tuple((out[0] if isinstance(out, tuple) else out).shape)


def evaluates(dim: DimFormula) -> bool:
    return eval(dim.numbers, {"__builtins__": {}, "floor": math.floor, "ceil": math.ceil}) == dim.value  # noqa: S307


def agree(m: nn.Module, *shapes: Shape) -> Shape | None:
    """Assert that formula and diagnosis agree with the real run; returns the real shape."""
    real = real_shape(m, *shapes)
    sf = shape_formula(m, shapes)
    if real is None:
        assert sf is None, f"formula says {sf} but PyTorch raised for {m} on {shapes}"
        msg = diagnose(m, shapes)
        assert msg is not None and type(m).__name__ in msg, f"no diagnosis for {m} on {shapes}"
        check_smallest(m, shapes, msg)
    else:
        assert sf is not None, f"no formula for {m} on {shapes}, PyTorch gives {real}"
        assert sf.shape == real, (m, shapes)
        assert all(evaluates(d) for d in sf.dims), sf.dims
        assert diagnose(m, shapes) is None
    return real


SMALLEST = re.compile(r"the smallest (\w)_in that works is (\d+)")


def check_smallest(m: nn.Module, shapes: tuple[Shape, ...], msg: str) -> None:
    """Run the sizes the diagnosis calls the smallest that work: they must work, one less must not."""
    claims = SMALLEST.findall(msg)
    if not claims:
        return
    x = list(shapes[0])
    names = {1: "L", 2: "HW", 3: "DHW"}
    ks: Any = getattr(m, "kernel_size", None)
    by_name = next((n for n in (3, 2, 1) if type(m).__name__.endswith(f"{n}d")), 0)
    nd = len(ks) if isinstance(ks, tuple) else by_name
    first = len(x) - nd
    for name, size in claims:
        x[first + names[nd].index(name)] = int(size)
    assert real_shape(m, tuple(x), *shapes[1:]) is not None, (m, x, msg)
    for name, size in claims:
        if int(size) > 1:
            y = list(x)
            y[first + names[nd].index(name)] = int(size) - 1
            assert real_shape(m, tuple(y), *shapes[1:]) is None, (m, y, msg)


# --- AlexNet from the seed notebook (its layer table: tests/alexnet_layers.py) -----------------------

def test_alexnet_spatial_sizes_on_224() -> None:
    net = notebook_alexnet()
    assert [type(m) for m in net] == [layer.kind for layer in LAYERS]
    shape: Shape = INPUT
    sizes = []
    for m, layer in zip(net, LAYERS):
        sf = shape_formula(m, (shape,))
        assert sf is not None, m
        shape = sf.shape
        assert shape == layer.out, layer.path
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            sizes.append(shape[2])
    # conv1: floor((224 + 2 - 10 - 1)/4) + 1 = 54; pool: floor((54 - 3)/2) + 1 = 26; conv2 keeps 26;
    # pool -> 12; three 3x3 p=1 convs keep 12; pool: floor((12 - 3)/2) + 1 = 5; 256*5*5 = 6400
    # (the table: tests/alexnet_layers.py)
    assert sizes == [layer.out[2] for layer in of_kind(nn.Conv2d, nn.MaxPool2d)]
    assert shape == LAYERS[-1].out  # (1, 10)


def test_conv_dim_formula_text() -> None:
    sf = shape_formula(nn.Conv2d(1, 96, 11, 4, 1), ((1, 1, 224, 224),))
    assert sf is not None and sf.shape == (1, 96, 54, 54)
    assert sf.dims[0] == DimFormula("H", "floor((H_in + 2*p - d*(k-1) - 1)/s) + 1",
                                    "floor((224 + 2*1 - 1*(11-1) - 1)/4) + 1", 54)
    assert sf.dims[1].name == "W" and sf.dims[1].value == 54


# --- random layers run for real -------------------------------------------------------------------

def _input(draw: Callable[..., Any], channels: int, nd: int, batched: bool, hi: int = 9) -> Shape:
    c = channels if draw(st.integers(0, 7)) else draw(st.integers(1, 5))  # sometimes a wrong C
    spatial = tuple(draw(st.integers(1, hi)) for _ in range(nd))
    return ((draw(st.integers(1, 2)),) if batched else ()) + (c, *spatial)


@FAST
@given(st.data())
def test_conv_matches_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    pad_kind = draw(st.sampled_from(["int", "int", "same", "valid"]))
    stride = (1,) * nd if pad_kind == "same" else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    padding = pad_kind if pad_kind != "int" else tuple(draw(st.integers(0, 3)) for _ in range(nd))
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    m = getattr(nn, f"Conv{nd}d")(cin, cout, k, stride, padding, d, groups, draw(st.booleans()), mode)
    agree(m, _input(draw, cin, nd, draw(st.booleans())))


@FAST
@given(st.data())
def test_conv_transpose_matches_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, 3)) for _ in range(nd))
    op = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    m = getattr(nn, f"ConvTranspose{nd}d")(cin, cout, k, s, p, op, groups, True, d)
    # oneDNN lets some size-0 outputs through where the meta kernels (what netcensus traces on) and
    # the reference CPU path raise "Output size is too small"; compare with the reference path
    with torch.backends.mkldnn.flags(enabled=False):
        agree(m, _input(draw, cin, nd, draw(st.booleans()), hi=5))


@FAST
@given(st.data())
def test_pool_matches_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    nd = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Max", "Avg"]))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    s = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    ceil_mode = draw(st.booleans())
    if kind == "Max":
        d = tuple(draw(st.integers(1, 3)) for _ in range(nd))
        m = getattr(nn, f"MaxPool{nd}d")(k, s, p, d, ceil_mode=ceil_mode)
    else:
        m = getattr(nn, f"AvgPool{nd}d")(k, s, p, ceil_mode, draw(st.booleans()))
    agree(m, _input(draw, 2, nd, draw(st.booleans())))


@FAST
@given(st.data())
def test_adaptive_pool_matches_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    nd = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Max", "Avg"]))
    sizes = tuple(draw(st.none() | st.integers(1, 5)) for _ in range(nd))
    out = sizes[0] if nd == 1 or draw(st.booleans()) and sizes[0] is not None else sizes
    m = getattr(nn, f"Adaptive{kind}Pool{nd}d")(out)
    agree(m, _input(draw, 2, nd, draw(st.booleans())))


@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=5), start=st.integers(-5, 4),
       end=st.integers(-5, 4))
def test_flatten_matches_pytorch(shape: list[int], start: int, end: int) -> None:
    agree(nn.Flatten(start, end), tuple(shape))


@FAST
@given(st.data())
def test_upsample_matches_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    ndim = draw(st.integers(2, 6))
    x = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    mode = draw(st.sampled_from(["nearest", "bilinear", "linear"]))
    if draw(st.booleans()):
        size = draw(st.integers(1, 8)) if draw(st.booleans()) else tuple(
            draw(st.integers(1, 8)) for _ in range(max(ndim - 2, 1)))
        m = nn.Upsample(size=size, mode=mode)
    else:
        m = nn.Upsample(scale_factor=draw(st.sampled_from([0.5, 1.0, 1.5, 1.7, 2.0, 3.0, 0.3])), mode=mode)
    agree(m, x)


@FAST
@given(lead=st.lists(st.integers(1, 3), max_size=3), fin=st.integers(1, 6), fout=st.integers(1, 6),
       wrong=st.booleans())
def test_linear_matches_pytorch(lead: list[int], fin: int, fout: int, wrong: bool) -> None:
    agree(nn.Linear(fin, fout), (*lead, fin + 1 if wrong else fin))


@FAST
@given(st.data())
def test_norms_match_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    kind = draw(st.sampled_from(["bn", "in", "ln", "gn", "rms"]))
    nd = draw(st.integers(1, 3))
    c = draw(st.integers(1, 4))
    x = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 5))))
    if kind == "bn":
        m = getattr(nn, f"BatchNorm{nd}d")(c, track_running_stats=draw(st.booleans()))
    elif kind == "in":
        m = getattr(nn, f"InstanceNorm{nd}d")(c, affine=draw(st.booleans()),
                                             track_running_stats=draw(st.booleans()))
    elif kind == "gn":
        m = nn.GroupNorm(c, c * draw(st.integers(1, 2)))
    else:
        cls = nn.LayerNorm if kind == "ln" else nn.RMSNorm
        m = cls(x[len(x) - nd:] if draw(st.booleans()) else (c,) * nd)
    m.train(draw(st.booleans()))
    if kind in ("bn", "gn") and draw(st.booleans()) and len(x) >= 2:
        x = (x[0], m.num_features if kind == "bn" else m.num_channels, *x[2:])
    agree(m, x)


@FAST
@given(st.data())
def test_sequence_layers_match_pytorch(data: st.DataObject) -> None:
    draw = data.draw
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU", "MHA", "Embedding", "PReLU", "GLU", "Softmax"]))
    x = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4))))
    m: nn.Module
    if kind == "MHA":
        m = nn.MultiheadAttention(4, 2, batch_first=draw(st.booleans()))
        agree(m, x, x, x)
        return
    if kind == "Embedding":
        m = nn.Embedding(5, 3)
        out = m(torch.zeros(x, dtype=torch.long))
        sf = shape_formula(m, (x,))
        assert sf is not None and sf.shape == tuple(out.shape)
        return
    if kind == "PReLU":
        m = nn.PReLU(draw(st.sampled_from([1, 2, 3])))
    elif kind == "GLU":
        m = nn.GLU(draw(st.integers(-2, 1)))
    elif kind == "Softmax":
        m = nn.Softmax(draw(st.integers(-4, 3)))
    else:
        kw = {"proj_size": 1} if kind == "LSTM" and draw(st.booleans()) else {}
        m = getattr(nn, kind)(draw(st.integers(1, 4)), 2, bidirectional=draw(st.booleans()), **kw)
    agree(m, x)


# --- diagnose -------------------------------------------------------------------------------------

def test_diagnose_channel_mismatch() -> None:
    msg = diagnose(nn.Conv2d(3, 64, 7, 2, 3), ((1, 1, 224, 224),))
    assert msg is not None and "Conv2d expects C_in=3 channels at dim 1, got 1" in msg


def test_diagnose_channels_last_hint() -> None:
    msg = diagnose(nn.Conv2d(3, 64, 3), ((8, 32, 32, 3),))
    assert msg is not None and "channels-last" in msg


def test_diagnose_input_too_small_shows_arithmetic_and_smallest() -> None:
    m = nn.Conv2d(1, 4, 5)
    msg = diagnose(m, ((1, 1, 3, 8),))
    assert msg is not None
    assert "floor((3 + 2*0 - 1*(5-1) - 1)/1) + 1 = -1" in msg  # H: (3 - 4 - 1) + 1
    assert "the smallest H_in that works is 5" in msg
    check_smallest(m, ((1, 1, 3, 8),), msg)


def test_diagnose_linear_after_flatten() -> None:
    # AlexNet's classifier fed a 6x6 map: 256*6*6 = 9216 where it expects 256*5*5 = 6400
    msg = diagnose(nn.Linear(6400, 4096), ((1, 9216),))
    assert msg is not None
    assert "in_features=6400" in msg and "9216" in msg
    assert "256*5*5" in msg and "6x6" in msg and "5x5" in msg


def test_diagnose_wrong_rank_and_silence_when_fine() -> None:
    msg = diagnose(nn.BatchNorm2d(8), ((4, 8),))
    assert msg is not None and "4-D" in msg
    assert diagnose(nn.Conv2d(3, 8, 3), ((1, 3, 8, 8),)) is None
    assert diagnose(nn.Sequential(), ((1, 2),)) is None


def test_unbatched_inputs() -> None:
    assert agree(nn.Conv2d(3, 4, 3), (3, 8, 8)) == (4, 6, 6)
    assert agree(nn.MaxPool1d(2), (3, 8)) == (3, 4)
    assert agree(nn.AdaptiveAvgPool2d((2, None)), (3, 8, 5)) == (3, 2, 5)


def test_ceil_mode_last_window_rule() -> None:
    # n=4, k=2, s=3, p=1: ceil((4 + 2 - 1 - 1)/3) + 1 = 3 windows, but the third would start at
    # (3-1)*3 = 6 >= n + p = 5, i.e. entirely in the right padding, so PyTorch drops it: 2
    m = nn.MaxPool1d(2, 3, 1, ceil_mode=True)
    assert agree(m, (1, 1, 4)) == (1, 1, 2)
    sf = shape_formula(m, ((1, 1, 4),))
    assert sf is not None and "dropped" in sf.dims[0].symbolic
    assert sf.dims[0].numbers == "ceil((4 + 2*1 - 1*(2-1) - 1)/3) + 1 - 1"
    # n=5, same layer: ceil(5/3) + 1 = 3, the third window starts at 6 = n + p... also dropped: 2;
    # n=6: ceil(6/3) + 1 = 3, starts at 6 < 7: kept
    assert agree(m, (1, 1, 5)) == (1, 1, 2)
    assert agree(m, (1, 1, 6)) == (1, 1, 3)


# --- explain_lines --------------------------------------------------------------------------------

def test_explain_alexnet_conv1() -> None:
    lines = explain_lines(nn.Conv2d(1, 96, 11, 4, 1), ((1, 1, 224, 224),), ((1, 96, 54, 54),))
    assert lines == [
        "params  (k_h*k_w*C_in/groups + 1)*C_out = (11*11*1/1 + 1)*96 = 11,712",
        "output  floor((224 + 2*1 - 1*(11-1) - 1)/4) + 1 = 54  ->  [1, 96, 54, 54]",
    ]


def test_explain_linear_shows_bias() -> None:
    lines = explain_lines(nn.Linear(4096, 4096), ((1, 4096),), ((1, 4096),))
    assert lines[0] == "params  in*out + out = 4096*4096 + 4096 = 16,781,312"


def test_explain_per_dim_lines_when_they_differ() -> None:
    lines = explain_lines(nn.Conv2d(1, 2, 3), ((1, 1, 10, 12),), ((1, 2, 8, 10),))
    out = [line for line in lines if line.startswith("output")]
    assert out == [
        "output  H: floor((10 + 2*0 - 1*(3-1) - 1)/1) + 1 = 8",
        "output  W: floor((12 + 2*0 - 1*(3-1) - 1)/1) + 1 = 10  ->  [1, 2, 8, 10]",
    ]


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3, 4))
        self.scale = nn.Parameter(torch.ones(4))


def test_explain_lists_tensors_without_formula() -> None:
    lines = explain_lines(Scale(), ((2, 3),), ((2, 4),))
    assert lines[0] == "params  weight [3, 4] = 12; scale [4] = 4; total 16"


def test_explain_warns_when_trace_disagrees() -> None:
    m = nn.Conv2d(1, 96, 11, 4, 1)
    lines = explain_lines(m, ((1, 1, 224, 224),), ((1, 96, 55, 55),))
    assert lines[-1].startswith("WARNING: analytic output shape [1, 96, 54, 54] differs from traced")
    assert not any(line.startswith("WARNING") for line in explain_lines(m, ((1, 1, 224, 224),),
                                                                          ((1, 96, 54, 54),)))


@pytest.mark.parametrize(("m", "note"), [
    (nn.Linear(4, 2, bias=False), "bias=False"),
    (nn.BatchNorm2d(3, affine=False), "affine=False"),
])
def test_explain_shows_notes(m: nn.Module, note: str) -> None:
    assert note in explain_lines(m, (), ())[0]


def test_lazy_layers_infer_their_input_size() -> None:
    # a lazy layer takes whatever C_in / in_features it is first given
    cases: list[tuple[nn.Module, Shape]] = [
        (nn.LazyConv2d(4, 3), (2, 5, 8, 8)), (nn.LazyLinear(3), (2, 7)), (nn.LazyBatchNorm2d(), (2, 5, 3, 3))]
    for m, x in cases:
        sf = shape_formula(m, (x,))
        real = real_shape(m, x)  # materialises the module
        assert sf is not None and sf.shape == real


def test_explain_uninitialised_lazy_parameters() -> None:
    lines = explain_lines(nn.LazyLinear(3), ((2, 7),), ((2, 3),))
    assert lines[0].startswith("params  weight [uninitialized]; bias [uninitialized]; total unknown")


def test_unknown_module_has_no_shape_formula() -> None:
    assert shape_formula(Scale(), ((2, 3),)) is None
    assert explain_lines(Scale(), ((2, 3),), ((2, 4),))[-1] == "output  [2, 4]  (traced; no analytic formula)"
