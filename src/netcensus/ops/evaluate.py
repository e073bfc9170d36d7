"""Classify and count one traced op call: counted by a formula, zero by definition, or unsupported.

Order of resolution for an op name (``"aten.add_.Tensor"``):

1. a registered formula for the overload, its packet, or (in-place variants) the functional op;
2. the zero-by-definition set (zero.py);
3. the op's tags: ``pointwise`` -> 1 FLOP per output element, ``reduction`` -> 1 FLOP per input element
   (the family defaults of pointwise.py and reduction.py);
4. a ``prims`` op (which PyTorch's Python decompositions call: ``prims.where`` in a meta kernel's
   backward) is counted as the aten op of the same name, by 1 to 3;
5. otherwise unsupported: reported per op and per module, never counted as a silent zero.

A formula that cannot count a call (an unexpected shape) makes that call unsupported too, with the
reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from ..events import OpEvent, Region
from .call import Call
from .cost import FormulaError, OpCost
from .pointwise import default_pointwise
from .reduction import default_reduction
from .registry import RegionCall, find, find_region
from .zero import zero_category

COUNTED = "counted"
ZERO = "zero"
UNSUPPORTED = "unsupported"

_FORMULA_FAILURES = (FormulaError, KeyError, IndexError, TypeError, ValueError, ZeroDivisionError,
                     AttributeError)


@dataclass(frozen=True, slots=True)
class Resolution:
    """How an op name is handled, before looking at any call."""

    status: str
    """``counted``, ``zero`` or ``unsupported``."""
    source: str
    """counted: the registry key or family (``"aten.mm"``, ``"family:pointwise"``); zero: the category;
    unsupported: ``"no formula"``."""
    formula: Callable[[Call], OpCost] | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One call's classification and, when counted, its cost."""

    status: str
    cost: OpCost | None
    reason: str
    """counted: where the formula came from; zero: the category; unsupported: why."""


@functools.lru_cache(maxsize=4096)
def resolve(op_name: str, tags: tuple[str, ...] = ()) -> Resolution:
    """How ``op_name`` with these torch tags is counted (see the module docstring)."""
    found = find(op_name)
    if found is not None:
        return Resolution(COUNTED, found[0], found[1])
    category = zero_category(op_name)
    if category is not None:
        return Resolution(ZERO, category)
    if "pointwise" in tags:
        return Resolution(COUNTED, "family:pointwise", default_pointwise)
    if "reduction" in tags:
        return Resolution(COUNTED, "family:reduction", default_reduction)
    if op_name.startswith("prims."):
        name = op_name.split(".")[1]
        twin = resolve(f"aten.{name}.default", _aten_tags(name))
        if twin.status != UNSUPPORTED:
            return Resolution(twin.status, f"{twin.source} (as prims.{name})", twin.formula)
    return Resolution(UNSUPPORTED, "no formula")


def _aten_tags(name: str) -> tuple[str, ...]:
    """The tags of the aten op called ``name`` (of its first overload), or () when there is none."""
    import torch

    packet = getattr(torch.ops.aten, name, None)
    overloads = packet.overloads() if packet is not None else []
    if not overloads:
        return ()
    return tuple(t.name for t in getattr(packet, overloads[0]).tags)


def evaluate(event: OpEvent) -> Evaluation:
    """Classify and count one op call."""
    res = resolve(event.op, tuple(event.tags))
    if res.status != COUNTED or res.formula is None:
        return Evaluation(res.status, None, res.source)
    try:
        cost = res.formula(Call(event))
    except _FORMULA_FAILURES as exc:
        return Evaluation(UNSUPPORTED, None, f"formula {res.source} failed: {exc}")
    return Evaluation(COUNTED, cost, res.source)


def evaluate_region(region: Region, phase: str) -> OpCost | None:
    """The cost of one watched-function call in one phase; None when no formula knows the region's
    name. Raises :class:`FormulaError` when the formula cannot count it."""
    formula = find_region(region.name)
    if formula is None:
        return None
    try:
        return formula(RegionCall(region, phase))
    except _FORMULA_FAILURES as exc:
        raise FormulaError(f"region {region.name} ({phase}): {exc}") from exc
