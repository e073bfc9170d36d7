"""fit(): the largest size under a budget; parse_bytes(): budgets in IEC and SI units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcensus.analyses.memory import fit
from netcensus.errors import MemoryConfigError
from netcensus.options import parse_bytes


@pytest.mark.parametrize("text,value", [
    ("80GiB", 80 * 2**30), ("80GB", 80 * 10**9), ("1.5TiB", 3 * 2**39), ("512 MiB", 512 * 2**20),
    ("16kB", 16_000), ("16KiB", 16_384), ("100", 100), ("100B", 100), (1024, 1024), ("0.5KiB", 512),
    ("80gib", 80 * 2**30),
])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["80G", "eighty GiB", "-1", "80 GiBs", "", True])
def test_parse_bytes_refuses(text):
    with pytest.raises(MemoryConfigError):
        parse_bytes(text)


def test_fit_by_hand():
    # peak(n) = 1 GiB of weights + 300 MiB per sample; budget 4 GiB: (4096 - 1024) / 300 = 10.24 -> 10.
    calls = []

    def peak(n):
        calls.append(n)
        return 2**30 + n * 300 * 2**20

    r = fit(peak, "4GiB")
    assert r.value == 10 and r.peak == 2**30 + 3000 * 2**20
    # 1, 2, 4, 8, 16 (too big), then bisect 12, 10, 11.
    assert calls == [1, 2, 4, 8, 16, 12, 10, 11]
    assert [n for n, _ in r.tries] == calls


def test_fit_nothing_and_limit():
    assert fit(lambda n: 100 * n, 50).value == 0
    r = fit(lambda n: n, "1GiB", limit=1000)
    assert r.value == 1000 and r.limited


@given(st.integers(1, 5000), st.integers(1, 50), st.integers(0, 10_000))
def test_fit_equals_brute_force(slope, start, offset):
    budget = 200_000

    def peak(n):
        return offset + slope * n

    # offset + slope * n <= budget  <=>  n <= (budget - offset) // slope
    largest = (budget - offset) // slope
    expected = largest if largest >= start else 0
    assert fit(peak, budget, start=start, limit=1 << 20).value == expected
