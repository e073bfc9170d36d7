"""Exact polynomials in the batch size ``b`` and sequence length ``s``, recovered from a few traces.

For a fixed model whose op sequence does not depend on the input's size, every op's FLOPs and every
tensor's size are polynomials of low degree in ``b`` and ``s`` (attention scores are ``b·h·s²``). Traced at
the sizes of a tensor grid (``b`` in ``B``, ``s`` in ``S``), a quantity's values determine the polynomial
with monomials ``b^i·s^j`` (``i < |B|``, ``j < |S|``) exactly: :class:`Design` inverts that Vandermonde
system once in :class:`fractions.Fraction` arithmetic and solves every quantity with it.

Peak memory is not one polynomial: it is the maximum over the points of the liveness timeline, each a
polynomial (the sum of the sizes of the storages alive there, plus what the memory analysis adds at that
point), and on CUDA every storage is rounded up to the allocator's 512-byte block.
:class:`TimelineModel` keeps, per timeline point, the polynomial of the unrounded live bytes and the
number of live storages whose size is not always a multiple of the block; the exact peak at any size is
the maximum, over the points that can still be it (a Pareto front computed once), of that polynomial
plus the exact rounding excess of those storages.

Nothing here checks that the model *is* polynomial: the caller traces one more size and compares
(:func:`netcensus.sweep.sweep`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import lcm

from ..results.scaling import Monomial, Polynomial

__all__ = ["Design", "NotPolynomial", "Observation", "TimelineModel", "grid"]


class NotPolynomial(Exception):
    """The traces at different sizes cannot be one polynomial model (the reason is the message)."""


class Design:
    """The traced sizes and the monomials they determine, with the inverse of their Vandermonde matrix."""

    def __init__(self, points: Sequence[tuple[int, int]], monomials: Sequence[Monomial]):
        if len(points) != len(monomials) or len(set(points)) != len(points):
            raise ValueError("a design needs as many distinct points as monomials")
        self.points = tuple(points)
        self.monomials = tuple(monomials)
        matrix = [[Fraction(b ** i * s ** j) for (i, j) in self.monomials] for (b, s) in self.points]
        self._inverse = _invert(matrix)
        self._cache: dict[tuple[int, ...], tuple[Fraction, ...]] = {}

    def coefficients(self, values: Sequence[int]) -> tuple[Fraction, ...]:
        """The coefficients (one per monomial) of the polynomial taking ``values`` at the points."""
        key = tuple(values)
        found = self._cache.get(key)
        if found is None:
            if len(set(key)) == 1:  # a constant (the common case: weights, most op counts)
                found = tuple(Fraction(key[0]) if m == (0, 0) else Fraction(0) for m in self.monomials)
            else:
                found = tuple(sum((row[k] * key[k] for k in range(len(key))), Fraction(0))
                              for row in self._inverse)
            self._cache[key] = found
        return found

    def solve(self, values: Sequence[int]) -> Polynomial:
        return Polynomial.of(dict(zip(self.monomials, self.coefficients(values))))


def grid(batches: Sequence[int], seqs: Sequence[int]) -> Design:
    """The tensor grid ``batches x seqs`` and its monomials ``b^i·s^j``, ``i < len(batches)``,
    ``j < len(seqs)``."""
    points = [(b, s) for b in batches for s in seqs]
    monomials = [(i, j) for i in range(len(batches)) for j in range(len(seqs))]
    return Design(points, monomials)


def _invert(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    n = len(matrix)
    aug = [row[:] + [Fraction(int(i == k)) for k in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if aug[r][col] != 0), None)
        if pivot is None:
            raise ValueError("singular design")
        aug[col], aug[pivot] = aug[pivot], aug[col]
        p = aug[col][col]
        aug[col] = [x / p for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                f = aug[r][col]
                aug[r] = [x - f * y for x, y in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


@dataclass(frozen=True)
class Observation:
    """What one trace at one design size says of the memory timeline.

    ``lives``: ``(size, born, died)`` of every storage the timeline counts, in the analysis' order
    (unrounded sizes); ``totals``: the live bytes at every point (position ``i + 1`` is event ``i``, as
    in :class:`netcensus.analyses.memory.timeline.Series`); ``step``: the optimizer step's live bytes
    (training) or None; ``peak``: the profile's peak, which must be ``max(totals + [step])``.
    """

    lives: tuple[tuple[int, int, int], ...]
    totals: tuple[int, ...]
    step: int | None
    peak: int


class TimelineModel:
    """The peak memory at any (b, s), from the timeline's polynomials (see the module docstring)."""

    def __init__(self, design: Design, observations: Sequence[Observation], block: int = 1,
                 labels: Sequence[tuple[str, str]] = ()):
        self.design = design
        self.block = block
        first = observations[0]
        n_pos = len(first.totals)
        for obs in observations[1:]:
            if len(obs.totals) != n_pos or len(obs.lives) != len(first.lives) or \
                    (obs.step is None) != (first.step is None):
                raise NotPolynomial("the memory timeline has a different length at another size")
            if any(a[1:] != b[1:] for a, b in zip(obs.lives, first.lives)):
                raise NotPolynomial("storages live over different events at another size")
        for obs in observations:
            if max(obs.totals + ((obs.step,) if obs.step is not None else ())) != obs.peak:
                raise NotPolynomial("the memory timeline read back does not give the profile's peak")
        self.monomials = design.monomials
        m = len(self.monomials)
        rnd = _rounder(block)
        n_obs = len(observations)
        # pass 1: the live bytes (rounded as the analysis rounds) at every point of every design trace, and
        # what the analysis adds there beyond the storages (model states, workspaces...)
        live = [[0] * (n_pos + 1) for _ in observations]
        end_sums = [0] * n_obs
        spans = []
        for k, (_, born, died) in enumerate(first.lives):
            lo = min(max(born + 1, 0), n_pos)
            hi = min(max(died + 1, lo), n_pos)
            at_end = died > n_pos - 1  # alive after the last event: held through the optimizer step
            spans.append((lo, hi, at_end))
            for t, obs in enumerate(observations):
                r = rnd(obs.lives[k][0])
                if lo < hi:
                    live[t][lo] += r
                    live[t][hi] -= r
                if at_end:
                    end_sums[t] += r
        for t in range(n_obs):
            running = 0
            for i in range(n_pos):
                running += live[t][i]
                live[t][i] = running
        extras = [design.coefficients([obs.totals[i] - live[t][i] for t, obs in enumerate(observations)])
                  for i in range(n_pos)]
        if first.step is not None:
            extras.append(design.coefficients([(obs.step or 0) - end_sums[t]
                                               for t, obs in enumerate(observations)]))
        # the distinct size polynomials of the storages
        index: dict[tuple[Fraction, ...], int] = {}
        kinds = [index.setdefault(design.coefficients([obs.lives[k][0] for obs in observations]), len(index))
                 for k in range(len(first.lives))]
        polys = list(index)
        self.denominator = den = lcm(1, *{x.denominator for c in polys + extras for x in c})
        ints = [[int(x * den) for x in c] for c in polys]
        unaligned = [i for i, c in enumerate(polys)
                     if block > 1 and any(x.denominator != 1 or x.numerator % block for x in c)]
        slot = {k: i for i, k in enumerate(unaligned)}
        # pass 2: per point, the sum of the live sizes' (scaled) coefficients and counts of the unaligned
        diff = [[0] * m for _ in range(n_pos + 1)]
        count = [[0] * len(unaligned) for _ in range(n_pos + 1)]
        end_coeffs = [0] * m
        end_count = [0] * len(unaligned)
        for k, (lo, hi, at_end) in enumerate(spans):
            coeffs = ints[kinds[k]]
            if lo < hi:
                d_lo, d_hi = diff[lo], diff[hi]
                for c in range(m):
                    if coeffs[c]:
                        d_lo[c] += coeffs[c]
                        d_hi[c] -= coeffs[c]
                if kinds[k] in slot:
                    count[lo][slot[kinds[k]]] += 1
                    count[hi][slot[kinds[k]]] -= 1
            if at_end:
                for c in range(m):
                    end_coeffs[c] += coeffs[c]
                if kinds[k] in slot:
                    end_count[slot[kinds[k]]] += 1
        rows: list[list[int]] = []
        counts: list[list[int]] = []
        acc = [0] * m
        cnt = [0] * len(unaligned)
        for i in range(n_pos):
            acc = [a + d for a, d in zip(acc, diff[i])]
            if unaligned:
                cnt = [a + d for a, d in zip(cnt, count[i])]
            rows.append([a + int(e * den) for a, e in zip(acc, extras[i])])
            counts.append(cnt)
        self.labels = list(labels)[:n_pos] + [("", "")] * max(0, n_pos - len(labels))
        if first.step is not None:
            rows.append([a + int(e * den) for a, e in zip(end_coeffs, extras[n_pos])])
            counts.append(end_count)
            self.labels.append(("optimizer step", "optimizer.step()"))
        self._rows = rows
        self._counts = counts
        self._excess = [ints[k] for k in unaligned]
        self._front = self._pareto()

    # the peak -----------------------------------------------------------------------------------------

    def _slack(self, i: int) -> int:
        return (self.block - 1) * sum(self._counts[i]) * self.denominator

    def _pareto(self) -> list[int]:
        """Positions that can be the peak at some b, s >= 1: drop a position ``i`` when another ``j`` has
        every non-constant coefficient at least ``i``'s and a constant at least ``i``'s plus its rounding
        slack (then ``T_i <= U_i + slack_i <= U_j <= T_j`` at every size)."""
        const = self.monomials.index((0, 0))
        probe = [b ** i * s ** j for (i, j) in self.monomials for b, s in [(64, 4096)]]
        order = sorted(range(len(self._rows)),
                       key=lambda i: -sum(c * x for c, x in zip(self._rows[i], probe)))
        front: list[int] = []
        for i in order:
            row, slack = self._rows[i], self._slack(i)
            dominated = False
            for j in front:
                other = self._rows[j]
                if other[const] >= row[const] + slack and all(
                        other[c] >= row[c] for c in range(len(row)) if c != const):
                    dominated = True
                    break
            if not dominated:
                front.append(i)
        return front

    def peak(self, b: int, s: int = 1) -> tuple[int, int]:
        """``(peak bytes, position)`` at ``(b, s)``; the position indexes :attr:`labels`."""
        mono = [b ** i * s ** j for (i, j) in self.monomials]
        bounds = [sum(c * x for c, x in zip(self._rows[i], mono)) for i in self._front]
        top = max(bounds)
        keep = [(i, u) for i, u in zip(self._front, bounds) if u + self._slack(i) >= top]
        return self._exact(b, s, [i for i, _ in keep], [u for _, u in keep])

    def peaks(self, points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """:meth:`peak` at many points: the bounds of every front position at every point in one int64
        matrix product (torch), then the exact value of the positions that can be the peak."""
        import torch

        front = self._front
        if not points or len(front) < 8:
            return [self.peak(b, s) for b, s in points]
        mono = [[b ** i * s ** j for (b, s) in points] for (i, j) in self.monomials]
        rows = [self._rows[i] for i in front]
        bound = sum(max(abs(r[c]) for r in rows) * max(abs(x) for x in mono[c]) for c in range(len(mono)))
        bound += max(self._slack(i) for i in front)
        if bound >= 1 << 62:
            return [self.peak(b, s) for b, s in points]
        u = torch.tensor(rows, dtype=torch.int64) @ torch.tensor(mono, dtype=torch.int64)
        slack = torch.tensor([self._slack(i) for i in front], dtype=torch.int64)
        top = u.max(dim=0).values
        maybe = (u + slack[:, None]) >= top[None, :]
        out = []
        for p, (b, s) in enumerate(points):
            rows_p = maybe[:, p].nonzero().flatten().tolist()
            out.append(self._exact(b, s, [front[r] for r in rows_p], [int(u[r, p]) for r in rows_p]))
        return out

    def _exact(self, b: int, s: int, candidates: Sequence[int], bounds: Sequence[int]) -> tuple[int, int]:
        den = self.denominator
        mono = [b ** i * s ** j for (i, j) in self.monomials]
        excess = None
        best, where = -1, -1
        for i, u in zip(candidates, bounds):
            value = u // den
            if any(self._counts[i]):
                if excess is None:
                    excess = [_excess(sum(c * x for c, x in zip(p, mono)) // den, self.block)
                              for p in self._excess]
                value += sum(n * e for n, e in zip(self._counts[i], excess))
            if value > best or (value == best and i < where):
                best, where = value, i
        return best, where

    def polynomial(self, position: int) -> Polynomial:
        """The unrounded live bytes at ``position`` as a polynomial."""
        return Polynomial.of({m: Fraction(c, self.denominator)
                              for m, c in zip(self.monomials, self._rows[position])})

    @property
    def front(self) -> tuple[int, ...]:
        return tuple(self._front)


def _rounder(block: int) -> Callable[[int], int]:
    if block <= 1:
        return lambda n: n
    return lambda n: 0 if n <= 0 else -(-n // block) * block


def _excess(n: int, block: int) -> int:
    return (0 if n <= 0 else -(-n // block) * block) - n
