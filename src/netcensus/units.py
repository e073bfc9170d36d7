"""Every number format netcensus prints lives here.

Counts and FLOPs use SI prefixes (K = 10^3, M = 10^6, G = 10^9, T = 10^12, P = 10^15); bytes use IEC
prefixes (KiB = 2^10, MiB = 2^20, GiB = 2^30, TiB = 2^40) unless SI is asked for. Exact values are
printed with thousands separators. This module never imports torch.
"""

from __future__ import annotations

_SI = ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_IEC = ((1 << 50, "PiB"), (1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
_SI_BYTES = ((10**15, "PB"), (10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB"))


def exact(n: int | float) -> str:
    """``46764746`` -> ``46,764,746``."""
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.2f}"
    return f"{int(n):,}"


def si(n: int | float, digits: int = 2) -> str:
    """``46764746`` -> ``46.76 M``; below 1000 the plain number."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {prefix}"
    return exact(n)


def nbytes(n: int | float, *, iec: bool = True, digits: int = 2) -> str:
    """``187058984`` -> ``178.39 MiB`` (IEC) or ``187.06 MB`` (SI)."""
    for scale, unit in (_IEC if iec else _SI_BYTES):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {unit}"
    return f"{exact(n)} B"


def shape(dims: tuple[int, ...] | list[int]) -> str:
    """``(1, 96, 54, 54)`` -> ``[1, 96, 54, 54]``."""
    return "[" + ", ".join(str(d) for d in dims) + "]"


def nbytes_range(lo: int, hi: int) -> str:
    """``(139264, 141312)`` -> ``136.00-138.00 KiB`` (one unit, that of the larger); one value when equal."""
    if lo == hi:
        return nbytes(lo)
    unit_text = nbytes(hi)
    for scale, _ in _IEC:
        if abs(hi) >= scale:
            return f"{lo / scale:.2f}-{unit_text}"
    return f"{exact(lo)}-{unit_text}"


def signed(n: int | float) -> str:
    """A difference with its sign and thousands separators: ``+8,202``, ``-10``, ``0``."""
    return "0" if n == 0 else ("+" if n > 0 else "-") + exact(abs(n))


def signed_si(n: int | float) -> str:
    """A difference in SI units: ``+1.20 G``, ``-3.00 K``, ``0``."""
    return "0" if n == 0 else ("+" if n > 0 else "-") + si(abs(n))


def signed_bytes(n: int | float) -> str:
    """A difference of bytes in IEC units: ``+1.50 MiB``."""
    return "0" if n == 0 else ("+" if n > 0 else "-") + nbytes(abs(n))


def percent(part: int | float, whole: int | float) -> str:
    """``part`` as a share of ``whole``: ``12.3%``; ``-`` when ``whole`` is 0."""
    if not whole:
        return "-"
    return f"{100 * part / whole:.1f}%"


def ratio(new: int | float, old: int | float) -> str:
    """Relative change: ``+12.3%``, ``-50.0%``; ``new`` when ``old`` is 0 and ``new`` is not."""
    if old == new:
        return "0%"
    if not old:
        return "new"
    return f"{100 * (new - old) / old:+.1f}%"


CONVENTION = ("Units: counts exact with thousands separators, SI prefixes for large counts and FLOPs "
              "(K = 10^3, M = 10^6, G = 10^9, T = 10^12); bytes IEC (KiB = 2^10, MiB = 2^20, GiB = 2^30 B).")
"""The units line every report prints."""
