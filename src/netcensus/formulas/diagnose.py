"""Explain, after a layer's forward failed, what about its input shapes made it fail.

Contract of :func:`diagnose`: a pure function of the module's hyper-parameters and the shapes of its
positional tensor inputs. It re-runs the shape analysis of :mod:`netcensus.formulas.shapes` and, when
that finds a problem (wrong number of dims, channel or feature mismatch, input too small, padding
rules), returns one readable paragraph: the reason with the numbers, a hint where one is cheap and
safe (the smallest input size that works, a channels-last input, the feature map a Linear after a
Flatten expects), then the layer and its input. ``None`` when it finds nothing to say; the caller
then shows PyTorch's own message.
"""

from __future__ import annotations

import math

from torch import nn

from netcensus.formulas._util import Shape, ShapeProblem, fmt_shape, has_lazy_params
from netcensus.formulas.describe import describe
from netcensus.formulas.shapes import analyse

__all__ = ["diagnose"]


def _square_split(n: int, channels: int) -> int | None:
    """s when n == channels*s*s with s >= 1, else None."""
    if channels < 1 or n % channels:
        return None
    s = math.isqrt(n // channels)
    return s if s * s * channels == n else None


def _flatten_hint(want: int, got: int) -> str:
    """For a Linear fed by a Flatten of a square [C, H, W] map: which H = W it expects.

    Looks for the largest C dividing both counts such that both are C times a perfect square, so
    that ``6400 = 256*5*5`` against ``9216 = 256*6*6`` reads "the map is 6x6 and must be 5x5".
    """
    g = math.gcd(want, got)
    small = [d for d in range(1, math.isqrt(g) + 1) if g % d == 0]
    for channels in sorted({*small, *(g // d for d in small)}, reverse=True):
        sw, sg = _square_split(want, channels), _square_split(got, channels)
        if sw and sg and sw != sg and channels > 1:
            return (f" If this input is a flattened [C, H, W] feature map: in_features={want} ="
                    f" {channels}*{sw}*{sw} but got {got} = {channels}*{sg}*{sg}, so the map before the"
                    f" Flatten is {sg}x{sg} and must be {sw}x{sw}; change the model's input size so that"
                    f" it comes out {sw}x{sw}, add nn.AdaptiveAvgPool2d({sw}) before the Flatten, or set"
                    f" in_features={got}.")
    return ""


def _linear_hint(m: nn.Linear, x: Shape) -> str:
    if not x or has_lazy_params(m) or x[-1] == m.in_features:
        return ""
    hint = _flatten_hint(int(m.in_features), int(x[-1]))
    if not hint and len(x) > 2 and x[1] == m.in_features:
        hint = " The features are at dim 1, not the last dim; flatten or transpose the input first."
    return hint


def diagnose(module: nn.Module, input_shapes: tuple[tuple[int, ...], ...]) -> str | None:
    """One paragraph on why ``module`` cannot take inputs of these shapes, or ``None``."""
    if not input_shapes:
        return None
    try:
        analyse(module, input_shapes)
    except ShapeProblem as problem:
        reason = problem.reason
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None
    else:
        return None
    hint = _linear_hint(module, tuple(input_shapes[0])) if isinstance(module, nn.Linear) else ""
    inputs = ", ".join(fmt_shape(s) for s in input_shapes)
    plural = "s" if len(input_shapes) > 1 else ""
    return f"{reason}.{hint} (layer {describe(module)}, input{plural} {inputs})"
