"""What one formula returns: the cost of one op call, with its arithmetic written out.

Conventions (see docs/conventions.md):

* a MAC is one multiply-accumulate; a FLOP is one floating-point operation; 1 MAC = 2 FLOPs;
* ``macs`` counts the multiply-accumulates of ops whose work is a sum of products (matmul-like ops
  and interpolation weights);
* ``core_macs`` counts only conv, linear, matmul and attention products, the figure papers and
  torchvision's model tables report;
* ``flops`` counts every operation the formula charges: ``2 * macs`` plus the documented
  per-element costs of everything else (bias adds, pointwise ops, reductions, norms, softmax...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class FormulaError(ValueError):
    """A formula was given arguments it cannot count (an unexpected shape or a missing argument)."""


@dataclass(frozen=True, slots=True)
class OpCost:
    """The cost of one op call (or one watched-function call) with the formula that produced it.

    ``formula`` is the formula with the numbers bound, e.g.
    ``"mm: MACs = m*k*n = 2*144*5 = 1,440; FLOPs = 2*MACs = 2,880"``. ``causal`` is, for attention
    with a causal mask, the same cost counting only the unmasked query/key pairs; None where the
    causal-aware figure equals this one.
    """

    macs: int
    flops: int
    core_macs: int
    formula: str
    causal: OpCost | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.macs < 0 or self.flops < 0 or self.core_macs < 0:
            raise ValueError(f"negative cost: {self}")
        if self.core_macs > self.macs:
            raise ValueError(f"core MACs exceed MACs: {self}")

    @property
    def aware(self) -> OpCost:
        """The causal-aware figure: ``causal`` when there is one, else this cost."""
        return self.causal if self.causal is not None else self


def n(value: int) -> str:
    """An integer with thousands separators, as every formula string writes its results."""
    return f"{value:,}"


def prod(values: Iterable[int]) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def dims(values: Iterable[int]) -> str:
    """``(2, 3, 4)`` -> ``"2*3*4"`` (``"1"`` when empty)."""
    text = "*".join(str(int(v)) for v in values)
    return text or "1"


def elementwise(label: str, per_element: int, count: int, what: str = "elements",
                reason: str = "") -> OpCost:
    """``per_element`` FLOPs on each of ``count`` elements, no MACs."""
    why = f" ({reason})" if reason else ""
    flops = per_element * count
    return OpCost(0, flops, 0, f"{label}: {per_element} FLOP/element{why} x {n(count)} {what} = {n(flops)}")


def zero_cost(label: str, reason: str) -> OpCost:
    """A counted op that does no arithmetic (an explicit 0 with its reason, not a silent one)."""
    return OpCost(0, 0, 0, f"{label}: 0 FLOPs ({reason})")


def combine(label: str, parts: Iterable[tuple[str, OpCost]]) -> OpCost:
    """The sum of named parts, with each part's figures in the formula."""
    parts = list(parts)
    macs = sum(c.macs for _, c in parts)
    flops = sum(c.flops for _, c in parts)
    core = sum(c.core_macs for _, c in parts)
    text = "; ".join(f"{name}: {c.formula}" for name, c in parts)
    causal = None
    if any(c.causal is not None for _, c in parts):
        causal = combine(label + " (causal-aware)", [(name, c.aware) for name, c in parts])
    return OpCost(macs, flops, core, f"{label} = [{text}] = {n(macs)} MACs, {n(flops)} FLOPs", causal)
