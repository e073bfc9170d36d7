"""A zoo of models for the model-untouched guarantee (tests/test_reliability_untouched.py).

Each :class:`Case` builds one model with real CPU weights (small enough to run for real) and the real
inputs it takes, and says what profiling it must do: succeed, or raise a given exception (a forward that
raises part way, a ``KeyboardInterrupt``). Cases cover the ways a model can hold state that a tracer
could disturb: BatchNorm statistics in train and eval mode, skip connections, depthwise convolutions,
transformers models built from their config classes (GPT-2, BERT, Llama, ViT, T5; skipped without
``transformers``), recurrent layers, tied and shared weights, buffers (persistent or not, updated in
place), frozen parameters, parameters that are neither weight nor bias, modules called many times, dict
and dataclass outputs, lazy modules already materialised, the model's own hooks of every kind, weight
norm and other parametrizations, and models that keep Python state in their forward.

Models that tests/models.py already defines are reused from there (one definition per model): as they
are, or subclassed where this zoo needs more of them (each such class says what and why).

The transformers builders import transformers lazily through ``pytest.importorskip``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from netcensus import TraceError

_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:  # loaded by file path, as ``python -m netcensus tests/zoo_big.py:Name`` does
    sys.path.insert(0, _TESTS)
import models  # noqa: E402 - tests/models.py, found through the path set just above
from models import TiedLM  # noqa: E402 - as it is; the CLI rows name it as zoo_big:TiedLM


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_seeded(seed))


def _ids(*shape: int, vocab: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=_seeded(seed))


# -- convolutional --------------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """Conv-BN-ReLU-pool twice and a classifier: BatchNorm statistics are the state at risk."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.down is None else self.down(x)
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + skip)


class TinyResNet(nn.Module):
    """Residual blocks with identity and projection shortcuts; one ReLU module used many times."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8))
        self.act = nn.ReLU(inplace=True)
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.act(self.stem(x)))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class DepthwiseNet(nn.Module):
    """MobileNet-like: depthwise (groups = channels) and pointwise convs, ReLU6, hardswish, SE."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
            nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            SqueezeExcite(16),
            nn.Conv2d(16, 24, 1, bias=False), nn.BatchNorm2d(24),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out = nn.Linear(24, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.pool(self.block(x)).flatten(1))


class TinyUNet(nn.Module):
    """Encoder-decoder with a transposed conv, a concatenated skip, GroupNorm and InstanceNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU())
        self.down = nn.Conv2d(8, 16, 3, 2, 1)
        self.up = nn.ConvTranspose2d(16, 8, 2, 2)
        self.dec = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True),
                                 nn.LeakyReLU(0.1))
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        return self.out(self.dec(torch.cat([self.up(self.down(e)), e], dim=1)))


class TextCNN(nn.Module):
    """Embedding, Conv1d over the sequence, an EmbeddingBag side input, LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 12, padding_idx=0)
        self.conv = nn.Conv1d(12, 12, 3, padding=1)
        self.bag = nn.EmbeddingBag(40, 12, mode="mean")
        self.norm = nn.LayerNorm(12)
        self.fc = nn.Linear(12, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.conv(self.embed(ids).transpose(1, 2)).amax(-1)
        return self.fc(self.norm(h + self.bag(ids)))


# -- recurrent ------------------------------------------------------------------------------------


class RNNTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(6, 8, num_layers=2, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out)


class LSTMEncoder(nn.Module):
    """Bidirectional two-layer LSTM with projections and an LSTMCell decoder step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 8, num_layers=2, bidirectional=True, proj_size=4, batch_first=True)
        self.cell = nn.LSTMCell(8, 6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, (h, c) = self.lstm(x)
        h2, c2 = self.cell(out[:, -1])
        return h2, c2


class GRUWithCell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.cell = nn.GRUCell(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, h = self.gru(x)
        return self.cell(out[:, -1], h[0])


# -- weights: tied, shared, frozen, custom, buffers -----------------------------------------------


class SharedSubmodule(models.SharedSubmodule):
    """models.SharedSubmodule (one submodule under two names), plus one module called ten times: the
    case ``shared_and_called_10x`` puts aliasing and a long run of calls of one module in one model."""

    def __init__(self) -> None:
        super().__init__()
        self.step = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.second(self.first(x))
        for _ in range(10):
            x = torch.tanh(self.step(x))
        return self.last(x)


class FrozenParts(models.FrozenBackbone):
    """models.FrozenBackbone (a frozen backbone and a trained head), plus what this zoo checks on top:
    the backbone's BatchNorm in eval mode inside a model in train mode, and one parameter of the head
    frozen too."""

    def __init__(self) -> None:
        super().__init__()
        self.head.bias.requires_grad_(False)

    def configure(self) -> None:
        self.backbone.eval()


# Kept apart from models.CustomParams on purpose: this one adds a ParameterList, a ParameterDict and Python
# config, and holds no constant values (models' scale is all ones, pos all zeros), so the byte-for-byte
# untouched check would see a parameter reset to ones or zeros; test_census counts models' tensors exactly.
class CustomParams(nn.Module):
    """Parameters that are neither weight nor bias: on the root, in a ParameterList and a
    ParameterDict, frozen or not; Python values the forward reads."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 6))
        self.pos = nn.Parameter(_randn(4, 6, seed=1))
        self.table = nn.Parameter(_randn(6, 3, seed=2), requires_grad=False)
        self.extra = nn.ParameterList([nn.Parameter(torch.ones(6)), nn.Parameter(torch.zeros(6))])
        self.named = nn.ParameterDict({"gate": nn.Parameter(torch.full((6,), 0.5))})
        self.config = {"eps": 1e-5, "mode": "sum"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x + self.pos) * self.scale * self.named["gate"] + self.extra[0]
        return (h + self.extra[1]) @ self.table * self.config["eps"]


class PlainTensorAttribute(nn.Module):
    """A tensor kept as a plain attribute, neither parameter nor buffer (a common way to hold a
    positional-encoding table): on meta it meets meta activations."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.table = torch.arange(24.0).reshape(4, 6) / 24

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x + self.table)


class Buffers(nn.Module):
    """Persistent and non-persistent buffers, and buffers a training forward updates in place (a
    step counter and an exponential moving average), as BatchNorm does."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(5, 5)
        self.register_buffer("mask", torch.tril(torch.ones(5, 5)))
        self.register_buffer("table", torch.arange(10.0), persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("ema", torch.zeros(5))
        self.register_buffer("nothing", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x) @ self.mask + self.table[:5]
        if self.training:
            self.steps += 1
            self.ema.mul_(0.9).add_(0.1 * y.detach().mean(0))
        return y - self.ema


class MixedDtypes(nn.Module):
    """float32, float64 and bfloat16 layers and an integer buffer in one model."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4).double()
        self.b = nn.Linear(4, 4).to(torch.bfloat16)
        self.c = nn.Linear(4, 4)
        self.register_buffer("counts", torch.arange(4, dtype=torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x.double()).to(torch.bfloat16)
        return self.c(self.b(y).float()) + self.counts


class Routed(nn.Module):
    """A ModuleDict chosen by a Python string, and a ModuleList looped over."""

    def __init__(self) -> None:
        super().__init__()
        self.experts = nn.ModuleDict({"a": nn.Linear(6, 6), "b": nn.Linear(6, 6)})
        self.stack = nn.ModuleList([nn.Linear(6, 6) for _ in range(3)])
        self.route = "b"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.experts[self.route](x)
        for layer in self.stack:
            x = x + F.gelu(layer(x))
        return x


# -- inputs and outputs ---------------------------------------------------------------------------


class DictIO(models.DictIO):
    """models.DictIO (keyword inputs in, a dict out) with more in the dict: a tuple, a list, a None and
    a plain int, the output structures the untouched check walks."""

    def forward(self, left: torch.Tensor, right: torch.Tensor | None = None) -> dict[str, Any]:
        y = self.a(left)
        z = self.b(right) if right is not None else None
        return {"pair": (y + z, y), "list": [z], "none": None, "count": 2}


@dataclass
class Output:
    """models.Output has ``aux`` where this has ``loss``: a training trace seeds its backward from an
    output's ``loss`` field, which is what the case ``dataclass_out`` exercises here."""

    logits: torch.Tensor
    hidden: tuple[torch.Tensor, ...]
    loss: torch.Tensor | None = None


class DataclassOut(models.DataclassOut):
    """models.DataclassOut, returning an :class:`Output` with a ``loss`` the training trace seeds its
    backward from."""

    def forward(self, x: torch.Tensor) -> Output:  # type: ignore[override]
        h = self.proj(x)
        logits = self.cls(h)
        return Output(logits, (x, h), loss=logits.square().mean())


# -- lazy, hooks, parametrizations ----------------------------------------------------------------


def lazy_materialised() -> nn.Module:
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    with torch.no_grad():
        model(torch.zeros(1, 2, 6, 6))
    return model


class Hooked(nn.Module):
    """The model's own hooks of every kind must survive, and still be the same objects."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)
        self.a.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        self.a.register_forward_pre_hook(lambda m, args, kwargs: None, with_kwargs=True)
        self.a.register_forward_hook(lambda m, args, out: out + 1)
        self.b.register_forward_hook(lambda m, args, kwargs, out: None, with_kwargs=True, always_call=True)
        self.b.register_full_backward_hook(lambda m, gin, gout: None)
        self.b.register_full_backward_pre_hook(lambda m, gout: None)
        self.register_state_dict_pre_hook(lambda m, prefix, keep_vars: None)
        self._register_state_dict_hook(lambda m, state, prefix, local: None)
        self.register_load_state_dict_post_hook(lambda m, keys: None)
        self.a.weight.register_hook(lambda g: g)
        self.b.weight.register_post_accumulate_grad_hook(lambda p: None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


class Symmetric(nn.Module):
    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return (w + w.T) / 2


def parametrized() -> nn.Module:
    """New-style weight norm, spectral norm (its power-iteration buffers update in train mode) and
    a custom parametrization."""
    model = nn.Sequential(nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 5), nn.Linear(5, 3))
    parametrizations.weight_norm(model[0])
    parametrizations.spectral_norm(model[2])
    parametrize.register_parametrization(model[3], "bias", nn.Identity())
    parametrize.register_parametrization(model[2], "bias", nn.Tanh())
    sym = nn.Linear(3, 3)
    parametrize.register_parametrization(sym, "weight", Symmetric())
    model.append(sym)
    return model


def old_weight_norm() -> nn.Module:
    """The deprecated ``torch.nn.utils.weight_norm``: its forward pre-hook assigns ``module.weight``
    as a plain tensor attribute on every call."""
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.utils.weight_norm(model[0])
        torch.nn.utils.spectral_norm(model[2])
    with torch.no_grad():
        model(torch.zeros(1, 4))
    return model


class Caching(nn.Module):
    """Keeps Python state across calls: a call counter and the last input, set in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.calls = 0
        self.last: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.last = x
        return self.lin(x)


class InPlaceWrites(nn.Module):
    """A forward that writes in place: to its input (``x /= 4``, an in-place ReLU) and to its own
    weights (a max-norm constraint applied with ``clamp_`` under no_grad, as some EEG and GAN
    models do)."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU(inplace=True)
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x /= 4
        with torch.no_grad():
            self.lin.weight.clamp_(-0.1, 0.1)
        return self.lin(self.act(x))


# -- forwards that fail ---------------------------------------------------------------------------


class Boom(Exception):
    pass


class RaisesPartWay(nn.Module):
    """BatchNorm runs (its statistics would update in train mode), then the forward raises."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.inner = nn.Sequential(nn.ReLU(), nn.Dropout(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inner(self.bn(self.conv(x)))
        raise Boom("the forward gave up half way")


class InterruptedPartWay(nn.Module):
    """As if the user pressed Ctrl-C in the middle of a submodule's forward."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.deep = nn.Sequential(nn.Linear(4, 4), _Interrupt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deep(self.bn(self.lin(x)))


class _Interrupt(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise KeyboardInterrupt


class InterruptedInBackward(nn.Module):
    """Ctrl-C during the backward pass of a training trace (inference traces succeed)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _InterruptBackward.apply(self.lin(x))


class _InterruptBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 1

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise KeyboardInterrupt


# -- models that cannot be traced on meta, or misuse their inputs (the error catalogue) ------------


class _NoCpuBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.device = x.device.type
        return x * 2

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        if ctx.device == "cpu":  # (FlexAttention's own words)
            raise NotImplementedError("this kernel does not support backward on CPU. Please set the input "
                                      "requires_grad to False or use another device.")
        return grad * 2


class NoCpuBackward(nn.Module):
    """A kernel whose backward refuses CPU (as FlexAttention's does): training on --device cpu fails,
    the meta trace does not."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NoCpuBackward.apply(self.lin(x))


class RefusesMeta(nn.Module):
    """Checks the device itself and refuses meta (as FlexAttention does): not an input mistake."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type not in ("cpu", "cuda"):
            raise ValueError("this layer only runs on CPU or CUDA devices, found input tensors on "
                             f"{x.device.type} device")
        return self.lin(x)


class DataDependentItem(nn.Module):
    """Reads a value out of a tensor (``.item()``): meta tensors have none."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = float(x.abs().max().item())
        return self.lin(x) / (scale + 1)


class DataDependentBranch(nn.Module):
    """Python control flow on a tensor value."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


class DataDependentNonzero(nn.Module):
    """An output whose shape depends on the values (``nonzero``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.nonzero()


class MaskedSelect(nn.Module):
    """Boolean-mask indexing: the result's length depends on the values."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0]


class NumpyInForward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.detach().numpy() * 2)


class UniqueOnMeta(nn.Module):
    """``torch.unique``: PyTorch has no meta kernel for it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.unique(x)


_OPS: list[Any] = []


def _custom_ops() -> tuple[Any, Any]:
    """Two custom ops of our own, so that the catalogue does not depend on which aten ops netcensus
    covers: ``netcensus_test::no_fake`` has no meta (fake) implementation, ``netcensus_test::no_formula``
    has one but no compute formula."""
    if not _OPS:
        try:
            torch.library.custom_op("netcensus_test::no_fake", _double, mutates_args=())
            no_formula = torch.library.custom_op("netcensus_test::no_formula", _double, mutates_args=())
            no_formula.register_fake(lambda x: torch.empty_like(x))
        except Exception:  # noqa: BLE001 - already defined in this process (this file imported twice)
            pass
        _OPS.extend([torch.ops.netcensus_test.no_fake.default, torch.ops.netcensus_test.no_formula.default])
    return _OPS[0], _OPS[1]


def _double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


class CustomOpNoMeta(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _custom_ops()[0](x)


class CustomOpNoFormula(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _custom_ops()[1](self.lin(x))


class SelfRecursive(nn.Module):
    """A forward that calls itself without end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


class TwoInputs(models.DictIO):
    """models.DictIO's layers with ``right`` required (the catalogue's ``missing_input`` row needs a
    forward(left, right) that cannot be called with one input) and a plain tensor out."""

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.a(left) + self.b(right)


def lazy_unmaterialised() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(3), nn.ReLU())


def bf16_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)).to(torch.bfloat16)


def fp16_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)).to(torch.float16)


def fp64_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)).to(torch.float64)


def model_list() -> nn.Module:
    return nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])


def not_a_module() -> int:
    return 3


# -- transformers ---------------------------------------------------------------------------------


def _hf(config_cls: str, model_cls: str, **cfg: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        transformers = pytest.importorskip("transformers")
        torch.manual_seed(0)
        return getattr(transformers, model_cls)(getattr(transformers, config_cls)(**cfg))

    return build


_TINY = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64)


# -- the zoo --------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], Any]
    """Real inputs: a tuple of positional inputs or a dict of keyword inputs."""
    train_mode: bool = True
    """The mode the model is left in before profiling (``configure`` may then mix modes)."""
    raises: type[BaseException] | None = None
    """What profiling must raise (inference and training), or None."""
    raises_train: type[BaseException] | None = None
    """What a training trace must raise, where it differs from ``raises``."""
    raises_meta: type[BaseException] | None = None
    """What a trace on meta must raise, where it differs from ``raises`` (a real run succeeds)."""
    xfail: str | None = None
    """Why the untouched check is expected to fail today (the patch that fixes it)."""
    xfail_on: tuple[str, ...] = ("meta", "cpu")
    """The devices ``xfail`` applies to."""
    tags: tuple[str, ...] = field(default=())

    def make(self) -> nn.Module:
        torch.manual_seed(0)
        model = self.build()
        model.train(self.train_mode)
        configure = getattr(model, "configure", None)
        if callable(configure):
            configure()
        return model

    def call_inputs(self) -> tuple[tuple, dict]:
        value = self.inputs()
        if isinstance(value, dict):
            return (), value
        return tuple(value), {}


ZOO: list[Case] = [
    Case("cnn_bn_train", SmallCNN, lambda: (_randn(2, 3, 8, 8),)),
    Case("cnn_bn_eval", SmallCNN, lambda: (_randn(2, 3, 8, 8),), train_mode=False),
    Case("resnet_like", TinyResNet, lambda: (_randn(2, 3, 8, 8),)),
    Case("depthwise_se", DepthwiseNet, lambda: (_randn(2, 3, 8, 8),)),
    Case("unet_like", TinyUNet, lambda: (_randn(1, 1, 8, 8),)),
    Case("text_cnn", TextCNN, lambda: (_ids(2, 7, vocab=40),)),
    Case("rnn", RNNTagger, lambda: (_randn(2, 5, 6),)),
    Case("lstm_proj_bidir", LSTMEncoder, lambda: (_randn(2, 4, 5),)),
    Case("gru", GRUWithCell, lambda: (_randn(2, 4, 4),)),
    Case("tied_lm", lambda: TiedLM(vocab=30, dim=8), lambda: (_ids(2, 5, vocab=30),)),
    Case("shared_and_called_10x", SharedSubmodule, lambda: (_randn(3, 4),)),
    Case("frozen_parts", FrozenParts, lambda: (_randn(2, 3, 6, 6),)),
    Case("custom_params", CustomParams, lambda: (_randn(2, 4, 6),)),
    Case("plain_tensor_attribute", PlainTensorAttribute, lambda: (_randn(2, 4, 6),), raises_meta=TraceError),
    Case("buffers", Buffers, lambda: (_randn(3, 5),)),
    Case("mixed_dtypes", MixedDtypes, lambda: (_randn(2, 4),)),
    Case("routed", Routed, lambda: (_randn(2, 6),)),
    Case("dict_io", DictIO, lambda: {"left": _randn(2, 4), "right": _randn(2, 5)}),
    Case("dataclass_out", DataclassOut, lambda: (_randn(2, 6),)),
    Case("lazy_materialised", lazy_materialised, lambda: (_randn(2, 2, 6, 6),)),
    Case("own_hooks", Hooked, lambda: (_randn(2, 4),)),
    Case("parametrizations", parametrized, lambda: (_randn(2, 5),)),
    Case("transformer_encoder", lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, norm_first=True), 2,
        enable_nested_tensor=False), lambda: (_randn(2, 6, 16),)),
    Case("multihead_attention", lambda: nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=True),
         lambda: (_randn(2, 3, 8), _randn(2, 4, 6), _randn(2, 4, 5))),
    Case("hf_gpt2", _hf("GPT2Config", "GPT2LMHeadModel", n_layer=2, n_embd=32, n_head=2, vocab_size=64,
                        n_positions=32, bos_token_id=0, eos_token_id=0),
         lambda: {"input_ids": _ids(2, 8, vocab=64), "labels": _ids(2, 8, vocab=64)}, tags=("hf",)),
    Case("hf_bert", _hf("BertConfig", "BertForMaskedLM", vocab_size=64, max_position_embeddings=32, **_TINY),
         lambda: {"input_ids": _ids(2, 8, vocab=64)}, tags=("hf",)),
    Case("hf_llama", _hf("LlamaConfig", "LlamaForCausalLM", vocab_size=64, max_position_embeddings=32,
                         num_key_value_heads=1, **_TINY),
         lambda: {"input_ids": _ids(2, 8, vocab=64)}, tags=("hf",)),
    Case("hf_vit", _hf("ViTConfig", "ViTForImageClassification", image_size=16, patch_size=8, num_labels=3,
                       **_TINY),
         lambda: {"pixel_values": _randn(2, 3, 16, 16)}, tags=("hf",)),
    Case("hf_t5", _hf("T5Config", "T5ForConditionalGeneration", num_layers=2, num_decoder_layers=2,
                      d_model=32, d_kv=8, d_ff=64, num_heads=2, vocab_size=64, decoder_start_token_id=0),
         lambda: {"input_ids": _ids(2, 8, vocab=64), "decoder_input_ids": _ids(2, 4, vocab=64)},
         tags=("hf",)),
    Case("old_weight_norm", old_weight_norm, lambda: (_randn(2, 4),)),
    Case("caching_forward", Caching, lambda: (_randn(2, 4),)),
    Case("in_place_writes", InPlaceWrites, lambda: (_randn(2, 4),)),
    Case("raises_part_way", RaisesPartWay, lambda: (_randn(2, 3, 6, 6),), raises=TraceError),
    Case("keyboard_interrupt_part_way", InterruptedPartWay, lambda: (_randn(2, 4),),
         raises=KeyboardInterrupt),
    Case("keyboard_interrupt_in_backward", InterruptedInBackward, lambda: (_randn(2, 4),),
         raises_train=KeyboardInterrupt),
]
