"""Scaling results: exact polynomials in the batch size ``b`` and sequence length ``s``, sweeps over
(b, s) and fits answered from them. Plain frozen data, torch-free (see :mod:`netcensus.analyses.scaling`
for how the polynomials are recovered from traces, :mod:`netcensus.sweep` for the entry points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

Monomial = tuple[int, int]
"""``(i, j)``: the monomial ``b**i * s**j``."""

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def monomial_text(mono: Monomial, *, plain: bool = False) -> str:
    """``b·s²`` (``b*s^2`` when ``plain``); ``1`` for the constant."""
    parts = []
    for var, power in (("b", mono[0]), ("s", mono[1])):
        if power == 1:
            parts.append(var)
        elif power > 1:
            parts.append(var + (f"^{power}" if plain else str(power).translate(_SUPERSCRIPT)))
    return ("*" if plain else "·").join(parts) or "1"


@dataclass(frozen=True)
class Polynomial:
    """An exact polynomial in ``b`` and ``s`` with rational coefficients (integers in practice)."""

    terms: tuple[tuple[Monomial, Fraction], ...]
    """Nonzero terms, ordered by total degree then by the power of ``b``."""

    @staticmethod
    def of(coefficients: dict[Monomial, Fraction | int]) -> Polynomial:
        items = [(m, Fraction(c)) for m, c in coefficients.items() if c]
        return Polynomial(tuple(sorted(items, key=lambda t: (t[0][0] + t[0][1], t[0][0]))))

    def __call__(self, b: int, s: int = 1) -> Fraction | int:
        total = sum((c * b ** i * s ** j for (i, j), c in self.terms), Fraction(0))
        return int(total) if total.denominator == 1 else total

    def coefficient(self, mono: Monomial) -> Fraction:
        return dict(self.terms).get(mono, Fraction(0))

    @property
    def degree(self) -> Monomial:
        """Highest power of ``b`` and of ``s``."""
        return (max((m[0] for m, _ in self.terms), default=0), max((m[1] for m, _ in self.terms), default=0))

    def text(self, *, plain: bool = False) -> str:
        """``6·b·s + 3 584`` style, highest degree first (``plain``: ASCII, ``*`` and ``^``)."""
        if not self.terms:
            return "0"
        out: list[str] = []
        for mono, c in reversed(self.terms):
            num = _number(abs(c), plain)
            name = monomial_text(mono, plain=plain)
            body = num if mono == (0, 0) else (name if abs(c) == 1 else f"{num}{'*' if plain else '·'}{name}")
            sign = "-" if c < 0 else "+"
            out.append(body if not out and c > 0 else (f"-{body}" if not out else f"{sign} {body}"))
        return " ".join(out)

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict[str, Any]:
        return {monomial_text(m, plain=True): (int(c) if c.denominator == 1 else str(c))
                for m, c in self.terms}


def _number(c: Fraction, plain: bool) -> str:
    if c.denominator != 1:
        return f"({c.numerator}/{c.denominator})"
    return str(c.numerator) if plain else f"{c.numerator:,}".replace(",", " ")


@dataclass(frozen=True)
class SweepPoint:
    """One (batch, seq) point of a sweep."""

    batch: int
    seq: int | None
    peak: int
    """Peak memory in bytes (``Profile.memory.peak``)."""
    flops: int
    params: int
    fits: bool | None = None
    """``peak <= budget`` (None without a budget)."""
    config: tuple[tuple[str, str], ...] = ()
    """The configuration overrides of this point (a sweep over ``--set`` values), else empty."""
    traced: bool = False
    """True when this point's numbers come from a trace at this size (not from the polynomials)."""

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "seq": self.seq, "peak": self.peak, "flops": self.flops,
                "params": self.params, "fits": self.fits, "config": dict(self.config), "traced": self.traced}


@dataclass(frozen=True)
class PeakPiece:
    """One polynomial that is the peak at some points of a sweep, and where."""

    polynomial: Polynomial
    phase: str
    """Where on the timeline this piece peaks: ``forward``, ``backward``, ``optimizer step``, ``start``."""
    op: str
    points: int
    """How many sweep points it is the peak at (polynomial rounding excess aside)."""


@dataclass(frozen=True)
class Term:
    """Where one coefficient of the FLOPs polynomial comes from: an op's share of it."""

    monomial: Monomial
    op: str
    coefficient: Fraction
    calls: int
    """Calls of the op in one step (the per-call share is ``coefficient / calls``)."""


@dataclass(frozen=True)
class Formulas:
    """The closed forms of one model and step, in ``b`` and ``s``."""

    flops: Polynomial
    forward_flops: Polynomial
    backward_flops: Polynomial
    params: int
    peak: tuple[PeakPiece, ...]
    """The pieces of the peak (the maximum of the timeline's polynomials) over the swept points."""
    terms: tuple[Term, ...] = ()
    """The FLOPs coefficients split by op, for the explanation."""
    rounding: int = 1
    """Allocator block the live tensors are rounded up to (1: none): the peak is then the pieces'
    polynomial plus at most ``rounding - 1`` bytes per live tensor."""
    block_notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"flops": self.flops.to_dict(), "forward_flops": self.forward_flops.to_dict(),
                "backward_flops": self.backward_flops.to_dict(), "params": self.params,
                "peak": [{"polynomial": p.polynomial.to_dict(), "phase": p.phase, "op": p.op,
                          "points": p.points} for p in self.peak],
                "terms": [{"monomial": monomial_text(t.monomial, plain=True), "op": t.op,
                           "coefficient": str(t.coefficient), "calls": t.calls} for t in self.terms],
                "rounding": self.rounding}


@dataclass(frozen=True)
class SweepResult:
    """A sweep over batch sizes and sequence lengths (and configurations)."""

    model: str
    points: tuple[SweepPoint, ...]
    budget: int | None
    method: str
    """``"polynomial"`` (traced at a few sizes, the rest evaluated) or ``"traced"`` (every point traced)."""
    reason: str = ""
    """Why every point was traced (the model is not polynomial in b and s, ...), else empty."""
    traces: int = 0
    """Traces made (design, verification and, when traced, every point)."""
    design: tuple[tuple[int, int], ...] = ()
    """The (b, s) sizes the polynomials were recovered from."""
    verified: tuple[tuple[int, int], ...] = ()
    """The (b, s) sizes traced to check the polynomials (every quantity equal)."""
    formulas: Formulas | None = None
    train: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "budget": self.budget, "method": self.method, "reason": self.reason,
                "traces": self.traces, "design": [list(p) for p in self.design],
                "verified": [list(p) for p in self.verified], "train": self.train,
                "seconds": round(self.seconds, 3), "notes": list(self.notes),
                "formulas": self.formulas.to_dict() if self.formulas else None,
                "points": [p.to_dict() for p in self.points]}


@dataclass(frozen=True)
class ScalingFit:
    """The largest size along one axis whose peak fits a budget, answered from the polynomials and
    confirmed by traces (or, when the model is not polynomial, by the re-tracing search)."""

    value: int
    """The largest size that fits (0 when nothing does)."""
    peak: int | None
    budget: int
    along: str
    multiple: int
    """The answer is a multiple of this (1: any size)."""
    method: str
    """``"polynomial"`` or ``"re-traced"``."""
    traces: tuple[tuple[int, int], ...]
    """Every (size, peak) traced, in order: the design sizes, then the confirmations."""
    tries: tuple[tuple[int, int], ...] = ()
    """Every (size, peak) the search evaluated (from the polynomials when ``method`` is polynomial)."""
    reason: str = ""
    limited: bool = False
    formula: Polynomial | None = None
    """The peak's polynomial at the answer (in the varied size; the other held)."""
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "peak": self.peak, "budget": self.budget, "along": self.along,
                "multiple": self.multiple, "method": self.method, "traces": [list(t) for t in self.traces],
                "tries": [list(t) for t in self.tries], "reason": self.reason, "limited": self.limited,
                "formula": self.formula.to_dict() if self.formula else None,
                "seconds": round(self.seconds, 3), "notes": list(self.notes)}
