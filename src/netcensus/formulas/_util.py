"""Small helpers shared by the formula modules: tuple normalisation, shape text, lazy checks.

Nothing here knows about a particular layer type; the functions are pure and never touch tensor data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import nn
from torch.nn.parameter import UninitializedParameter

Shape = tuple[int, ...]

SPATIAL_NAMES: dict[int, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
"""Names of the spatial dimensions of 1-, 2- and 3-d layers, in order."""


def ntuple(value: object, n: int) -> tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints: an int is repeated, a sequence of length n is kept."""
    if isinstance(value, (int, float)):
        return (int(value),) * n
    items = tuple(int(v) for v in value)  # type: ignore[attr-defined]
    if len(items) == 1 and n > 1:
        return items * n
    return items


def compact(values: Sequence[object]) -> str:
    """``3`` when all values are equal, else ``(3, 5)``: the way describe() prints kernel sizes."""
    items = list(values)
    if items and all(v == items[0] for v in items):
        return str(items[0])
    return "(" + ", ".join(str(v) for v in items) + ")"


def fmt_shape(shape: Sequence[int]) -> str:
    """``[1, 96, 54, 54]``."""
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def prod(values: Sequence[int]) -> int:
    return math.prod(int(v) for v in values)


def own_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The module's own parameters (not its children's), in registration order: what
    ``named_parameters(recurse=False)`` yields, read from the registry directly unless the module's
    class overrides that method (a generator per call is most of a layer table's time)."""
    registry = module.__dict__.get("_parameters")
    if not isinstance(registry, dict) or type(module).named_parameters is not nn.Module.named_parameters:
        return list(module.named_parameters(recurse=False))
    seen: set[int] = set()
    own = []
    for name, p in registry.items():
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            own.append((name, p))
    return own


def has_lazy_params(module: nn.Module) -> bool:
    """True when any own parameter is still an uninitialised lazy parameter (shape unknown)."""
    return any(isinstance(p, UninitializedParameter) for _, p in own_parameters(module))


class ShapeProblem(Exception):
    """Raised by the shape analysers when an input cannot pass through a layer.

    ``reason`` is a complete, readable sentence naming the layer class and the numbers involved
    (``"Conv2d expects C_in=3 channels at dim 1, got 1"``). shape_formula() turns it into ``None``;
    diagnose() shows it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def expect_ndim(cls: str, shape: Shape, layout: Sequence[str], unbatched: bool = True) -> int:
    """Check that ``shape`` has len(layout) dims, or one fewer (no batch dim) when ``unbatched``.

    ``layout`` names the batched dims (``["N", "C_in", "H", "W"]``). Returns the number of leading
    dims before the channel dim (1 batched, 0 unbatched).
    """
    n = len(layout)
    if len(shape) == n:
        return 1
    if unbatched and len(shape) == n - 1:
        return 0
    want = f"a {n}-D input [{', '.join(layout)}]"
    if unbatched:
        want += f" or an unbatched {n - 1}-D input [{', '.join(layout[1:])}]"
    raise ShapeProblem(f"{cls} expects {want}, got a {len(shape)}-D input {fmt_shape(shape)}")


def smallest(valid: Callable[[int], bool], limit: int = 1 << 20) -> int | None:
    """The smallest size n >= 1 with ``valid(n)``, assuming validity is monotone in n; None if none."""
    hi = 1
    while not valid(hi):
        hi *= 2
        if hi > limit:
            return None
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:
        mid = (lo + hi) // 2
        if valid(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
