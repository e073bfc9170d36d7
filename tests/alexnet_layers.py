"""The seed notebook's AlexNet (seed/alexnet-parameter-count-notebook.txt), layer by layer, on a
[1, 1, 224, 224] input: the one place the tests write down what each layer should give.

``LAYERS`` holds, for every module of :func:`notebook_alexnet` in order, its output shape, its own
parameter count and its core multiply-accumulates, each as closed-form arithmetic done by hand (the
value in the comment), never computed by netcensus: tests/test_formulas_shapes.py checks the shapes,
tests/test_formulas_params.py the parameter counts and tests/test_compute_alexnet.py the MACs and FLOPs
against it. A fix to an expectation lands here once.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from netcensus.examples import alexnet

Shape = tuple[int, ...]

INPUT: Shape = (1, 1, 224, 224)


def notebook_alexnet(device: str | torch.device | None = None) -> nn.Sequential:
    """The notebook's AlexNet as netcensus ships it (``netcensus.examples.alexnet``, the CLI's built-in
    example); ``device="meta"`` builds it without allocating its weights. The expectations in
    ``LAYERS`` are the tests' own, worked out by hand from the notebook's layer list, so a change to
    the shipped example that departs from the notebook fails here."""
    with torch.device(device) if device is not None else contextlib.nullcontext():
        return alexnet()


def conv_out(size: int, k: int, p: int, s: int) -> int:
    return (size - k + 2 * p) // s + 1  # the notebook's formula


@dataclass(frozen=True)
class Layer:
    path: str
    """The module's name in the Sequential (its path in a trace)."""
    kind: type[nn.Module]
    out: Shape
    """Its output shape on ``INPUT``."""
    params: int = 0
    """Its own parameters: weight and bias."""
    macs: int = 0
    """Its core multiply-accumulates (a bias add is an addition, not a MAC)."""

    @property
    def numel(self) -> int:
        """Elements of its output."""
        return math.prod(self.out)


# Convolutions: params (k*k*C_in + 1)*C_out, MACs C_out*H_out*W_out * C_in*k*k.
# Linear: params in*out + out, MACs in*out. Sizes: floor((H + 2p - k)/s) + 1.
LAYERS: tuple[Layer, ...] = (
    # conv1: floor((224 + 2*1 - 11)/4) + 1 = 54
    Layer("0", nn.Conv2d, (1, 96, 54, 54),
          params=(11 * 11 * 1 + 1) * 96,        # 11,712
          macs=96 * 54 * 54 * 1 * 11 * 11),     # 33,872,256
    Layer("1", nn.ReLU, (1, 96, 54, 54)),
    Layer("2", nn.MaxPool2d, (1, 96, 26, 26)),  # floor((54 - 3)/2) + 1 = 26
    # conv2: floor((26 + 2*2 - 5)/1) + 1 = 26
    Layer("3", nn.Conv2d, (1, 256, 26, 26),
          params=(5 * 5 * 96 + 1) * 256,       # 614,656
          macs=256 * 26 * 26 * 96 * 5 * 5),     # 415,334,400
    Layer("4", nn.ReLU, (1, 256, 26, 26)),
    Layer("5", nn.MaxPool2d, (1, 256, 12, 12)),  # floor((26 - 3)/2) + 1 = 12
    # conv3..5: 3x3, padding 1, keep 12x12
    Layer("6", nn.Conv2d, (1, 384, 12, 12),
          params=(3 * 3 * 256 + 1) * 384,      # 885,120
          macs=384 * 12 * 12 * 256 * 3 * 3),    # 127,401,984
    Layer("7", nn.ReLU, (1, 384, 12, 12)),
    Layer("8", nn.Conv2d, (1, 384, 12, 12),
          params=(3 * 3 * 384 + 1) * 384,      # 1,327,488
          macs=384 * 12 * 12 * 384 * 3 * 3),    # 191,102,976
    Layer("9", nn.ReLU, (1, 384, 12, 12)),
    Layer("10", nn.Conv2d, (1, 256, 12, 12),
          params=(3 * 3 * 384 + 1) * 256,      # 884,992
          macs=256 * 12 * 12 * 384 * 3 * 3),    # 127,401,984
    Layer("11", nn.ReLU, (1, 256, 12, 12)),
    Layer("12", nn.MaxPool2d, (1, 256, 5, 5)),  # floor((12 - 3)/2) + 1 = 5
    Layer("13", nn.Flatten, (1, 256 * 5 * 5)),  # 6,400
    Layer("14", nn.Linear, (1, 4096),
          params=6400 * 4096 + 4096,            # 26,218,496
          macs=6400 * 4096),                    # 26,214,400
    Layer("15", nn.ReLU, (1, 4096)),
    Layer("16", nn.Dropout, (1, 4096)),
    Layer("17", nn.Linear, (1, 4096),
          params=4096 * 4096 + 4096,            # 16,781,312
          macs=4096 * 4096),                    # 16,777,216
    Layer("18", nn.ReLU, (1, 4096)),
    Layer("19", nn.Dropout, (1, 4096)),
    Layer("20", nn.Linear, (1, 10),
          params=4096 * 10 + 10,                # 40,970
          macs=4096 * 10),                      # 40,960
)


def of_kind(*kinds: type[nn.Module]) -> list[Layer]:
    return [layer for layer in LAYERS if layer.kind in kinds]
