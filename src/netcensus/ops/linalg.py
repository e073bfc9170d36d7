"""Dense linear algebra (``torch.linalg``) and pairwise distances (``torch.cdist``).

Convention: the classic LAPACK operation counts (Golub & Van Loan, "Matrix Computations"), in FLOPs,
per matrix of the batch, rounded to a whole number per matrix; no MACs (these are not GEMMs, though
libraries block them into some). For an ``n x n`` matrix (``m x n`` for QR) and ``k`` right-hand sides:

====================================  ======================================================
Cholesky                              ``n^3 / 3``
LU factorisation (det, slogdet too)   ``2 n^3 / 3``
inverse                               ``2 n^3`` (LU, then the inverse from it)
solve                                 ``2 n^3 / 3 + 2 n^2 k`` (LU, two triangular solves)
triangular solve                      ``n^2 k``
QR (Householder, m >= n)              ``2 m n^2 - 2 n^3 / 3`` for R, as much again to form Q
Q from k reflectors (m x n)           ``4 m n k - 2 (m + n) k^2 + 4 k^3 / 3`` (LAPACK's xORGQR)
====================================  ======================================================

Eigen- and singular-value decompositions are iterative (their cost depends on the values): they stay
unsupported rather than get a number nobody can check.

``cdist`` between ``P`` and ``R`` points of ``M`` coordinates: 3 FLOPs per (pair, coordinate)
(difference, power or square, accumulate) + 1 per pair (the root); its backward 4 per (pair,
coordinate) (difference, scale by the gradient over the distance, accumulate) for each input it is
called for.
"""

from __future__ import annotations

import math

from .call import Call
from .cost import FormulaError, OpCost, n
from .registry import aten_ops, register


def _square(call: Call, name: str) -> tuple[int, int]:
    """(matrices in the batch, n) of a batch of square matrices."""
    shape = call.shape(name)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise FormulaError(f"{call.label}: {name} is not a batch of square matrices: {shape}")
    return math.prod(shape[:-2]), shape[-1]


def _per_matrix(call: Call, batch: int, per: float, text: str) -> OpCost:
    flops = round(per) * batch
    return OpCost(0, flops, 0, f"{call.label}: {batch:,} x ({text}) = {n(flops)}")


@register(*aten_ops("linalg_cholesky_ex"), optional=True)
def cholesky(call: Call) -> OpCost:
    """Cholesky: n^3/3 per matrix."""
    batch, size = _square(call, "self")
    return _per_matrix(call, batch, size**3 / 3, f"n^3/3, n = {size}")


@register(*aten_ops("linalg_lu_factor_ex", "_linalg_det", "_linalg_slogdet"), optional=True)
def lu(call: Call) -> OpCost:
    """LU factorisation (and the determinants computed from it): 2n^3/3 per matrix."""
    batch, size = _square(call, "A")
    return _per_matrix(call, batch, 2 * size**3 / 3, f"2n^3/3, n = {size}")


@register(*aten_ops("linalg_inv_ex"), optional=True)
def inverse(call: Call) -> OpCost:
    """Inverse: 2n^3 per matrix."""
    batch, size = _square(call, "A")
    return _per_matrix(call, batch, 2 * size**3, f"2n^3, n = {size}")


def _rhs(call: Call, name: str, size: int) -> int:
    b = call.shape(name)
    return b[-1] if len(b) >= 2 and b[-2] == size else 1


@register(*aten_ops("linalg_solve_ex", "_linalg_solve_ex"), optional=True)
def solve(call: Call) -> OpCost:
    """Solve: 2n^3/3 + 2n^2 k per matrix (k right-hand sides)."""
    batch, size = _square(call, "A")
    k = _rhs(call, "B", size)
    return _per_matrix(call, batch, 2 * size**3 / 3 + 2 * size**2 * k,
                       f"2n^3/3 + 2n^2 k, n = {size}, k = {k}")


@register(*aten_ops("linalg_solve_triangular"), optional=True)
def solve_triangular(call: Call) -> OpCost:
    """Triangular solve: n^2 k per matrix."""
    batch, size = _square(call, "self")
    rhs = call.shape("B")
    k = rhs[-1] if call.arg("left", True) else rhs[-2]
    return _per_matrix(call, batch, size**2 * k, f"n^2 k, n = {size}, k = {k}")


@register(*aten_ops("linalg_qr"), optional=True)
def qr(call: Call) -> OpCost:
    """Householder QR of m x n: 2mn^2 - 2n^3/3 for R, twice that when Q is formed (mode != "r")."""
    shape = call.shape("A")
    if len(shape) < 2:
        raise FormulaError(f"{call.label}: A is not a matrix: {shape}")
    m, cols = shape[-2], shape[-1]
    k = min(m, cols)
    r_cost = 2 * max(m, cols) * k**2 - 2 * k**3 / 3
    times = 1 if call.arg("mode", "reduced") == "r" else 2
    return _per_matrix(call, math.prod(shape[:-2]), times * r_cost,
                       f"{times} x (2mn^2 - 2n^3/3), m = {max(m, cols)}, n = {k}")


@register(*aten_ops("linalg_householder_product"), optional=True)
def householder_product(call: Call) -> OpCost:
    """Q (m x n) from k Householder reflectors (``torch.linalg.householder_product``; the orthogonal
    parametrization's default): LAPACK's xORGQR count, 4mnk - 2(m+n)k^2 + 4k^3/3 (LAPACK Working Note
    41)."""
    shape, tau = call.shape("input"), call.shape("tau")
    if len(shape) < 2 or not tau:
        raise FormulaError(f"{call.label}: expected a matrix and reflector scalars: {shape}, {tau}")
    m, cols, k = shape[-2], shape[-1], tau[-1]
    per = 4 * m * cols * k - 2 * (m + cols) * k**2 + 4 * k**3 / 3
    return _per_matrix(call, math.prod(shape[:-2]), per,
                       f"4mnk - 2(m+n)k^2 + 4k^3/3, m = {m}, n = {cols}, k = {k}")


@register(*aten_ops("_cdist_forward"), optional=True)
def cdist(call: Call) -> OpCost:
    """``cdist``: 3 FLOPs per (pair, coordinate) + 1 per pair."""
    x1, x2 = call.shape("x1"), call.shape("x2")
    pairs = call.out().numel
    coords = x1[-1]
    flops = 3 * pairs * coords + pairs
    return OpCost(0, flops, 0, f"{call.label}: 3 x {n(pairs)} pairs x {coords} coordinates + {n(pairs)} "
                               f"roots ({x1[-2]} x {x2[-2]} points) = {n(flops)}")


@register(*aten_ops("_cdist_backward"), optional=True)
def cdist_backward(call: Call) -> OpCost:
    """``cdist`` backward (per input): 4 FLOPs per (pair, coordinate)."""
    pairs = call.tensor("cdist").numel
    coords = call.shape("x1")[-1]
    flops = 4 * pairs * coords
    return OpCost(0, flops, 0, f"{call.label}: 4 x {n(pairs)} pairs x {coords} coordinates = {n(flops)}")
