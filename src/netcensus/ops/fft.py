"""Fast Fourier transforms: ``torch.fft`` reaches the dispatcher as ``_fft_c2c``, ``_fft_r2c`` and
``_fft_c2r``.

Convention (the one FFT benchmarks report, FFTW's): a complex transform of ``N`` points costs
``5 N log2 N`` real FLOPs, a real-input or real-output one ``2.5 N log2 N``, where ``N`` is the product
of the transformed dimensions' sizes (a multi-dimensional transform as separable passes sums to the
same), per transform of the batch (the other dimensions); rounded to a whole number per call. A
normalisation (``norm="ortho"`` or ``"forward"``/``"backward"`` where it scales) adds 2 FLOPs per
complex output element or 1 per real one. The backward of each transform is a transform of the same
kind, recorded as its own op. FFTs have no MACs.
"""

from __future__ import annotations

import math

from .call import Call
from .cost import OpCost, n
from .registry import aten_ops, register


def _cost(call: Call, points: int, batch: int, per_point: float, scaled_elements: int, per_scaled: int,
          kind: str) -> OpCost:
    core = round(per_point * points * math.log2(points)) * batch if points > 1 else 0
    scale = per_scaled * scaled_elements
    text = f"{call.label}: {batch:,} x {per_point:g} N log2 N, N = {n(points)} ({kind})"
    if scale:
        text += f" + normalisation {per_scaled}x{n(scaled_elements)}"
    return OpCost(0, core + scale, 0, f"{text} = {n(core + scale)}")


def _dims(call: Call, shape: tuple[int, ...]) -> list[int]:
    return [int(d) % len(shape) for d in call.arg("dim")]


@register(*aten_ops("_fft_c2c"), optional=True)
def fft_c2c(call: Call) -> OpCost:
    """``_fft_c2c``: 5 N log2 N per transform (+2 per element when normalised)."""
    x = call.tensor("self")
    points = math.prod(x.shape[d] for d in _dims(call, x.shape))
    batch = x.numel // points if points else 0
    scaled = x.numel if call.arg("normalization") else 0
    return _cost(call, points, batch, 5, scaled, 2, "complex")


@register(*aten_ops("_fft_r2c"), optional=True)
def fft_r2c(call: Call) -> OpCost:
    """``_fft_r2c``: 2.5 N log2 N per transform of ``N`` real points (+2 per complex output element when
    normalised)."""
    x = call.tensor("self")
    points = math.prod(x.shape[d] for d in _dims(call, x.shape))
    batch = x.numel // points if points else 0
    scaled = call.out().numel if call.arg("normalization") else 0
    return _cost(call, points, batch, 2.5, scaled, 2, "real input")


@register(*aten_ops("_fft_c2r"), optional=True)
def fft_c2r(call: Call) -> OpCost:
    """``_fft_c2r``: 2.5 N log2 N per transform to ``N`` real points (+1 per real output element when
    normalised)."""
    y = call.out()
    points = math.prod(y.shape[d] for d in _dims(call, y.shape))
    batch = y.numel // points if points else 0
    scaled = y.numel if call.arg("normalization") else 0
    return _cost(call, points, batch, 2.5, scaled, 1, "real output")
