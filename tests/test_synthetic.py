"""Synthetic books (liqcore.synthetic): determinism, validity, the fitted depth profile."""

from __future__ import annotations

from typing import Any

import liqcore
import numpy as np
import pytest
from liqcore.book import Book
from liqcore.synthetic import synthetic_book, synthetic_book_arrays

# Cumulative bid notional of the replayed Binance BTCUSDT book (data README; sum of qty * px).
README_NOTIONAL = {10: 6.485e6, 50: 45.12e6, 100: 83.10e6, 200: 202.7e6}


def notional_within(
    px: np.ndarray[Any, Any], qty: np.ndarray[Any, Any], mid: float, bps: float
) -> float:
    return float((px * qty)[np.abs(px - mid) <= mid * bps / 1e4].sum())


def test_deterministic() -> None:
    a = synthetic_book_arrays(seed=7)
    b = synthetic_book_arrays(seed=7)
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
    c = synthetic_book_arrays(seed=8)
    assert not np.array_equal(a.bid_qty, c.bid_qty)
    assert not np.array_equal(a.ask_px, c.ask_px)


@pytest.mark.parametrize(
    ("mid", "tick", "lot"), [(60_000.0, 0.1, 0.001), (3_000.0, 0.001, 0.01), (1.5, 1e-6, 10.0)]
)
def test_valid_book_on_grid(mid: float, tick: float, lot: float) -> None:
    a = synthetic_book_arrays(mid, seed=1)
    assert a.bid_px.size == 5_000
    assert a.ask_px.size == 5_000
    assert np.all(np.diff(a.bid_px) < 0)
    assert np.all(np.diff(a.ask_px) > 0)
    assert a.bid_px[0] < mid <= a.ask_px[0]
    assert abs((a.bid_px[0] + a.ask_px[0]) / 2 - mid) <= tick / 2 * (1 + 1e-9)
    assert a.ask_px[0] - a.bid_px[0] == pytest.approx(tick)
    assert a.bid_px[-1] > 0
    assert np.all(a.bid_qty > 0)
    assert np.all(a.ask_qty > 0)
    for px in (a.bid_px, a.ask_px):
        assert np.allclose(px / tick, np.round(px / tick), rtol=0, atol=1e-6)
    for q in (a.bid_qty, a.ask_qty):
        assert np.allclose(q / lot, np.round(q / lot), rtol=0, atol=1e-6)
        assert q.min() >= lot * (1 - 1e-12)
    for x in a:
        assert x.dtype == np.float64
        assert x.flags.c_contiguous
    Book(*a)


def test_decimal_prices_exact() -> None:
    a = synthetic_book_arrays(levels=50)
    assert a.bid_px[0] == float("59999.9")
    assert a.ask_px[0] == float("60000.0")
    assert all(len(repr(float(p)).split(".")[1]) == 1 for p in a.bid_px)


@pytest.mark.parametrize("mid", [60_000.0, 3_000.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_depth_profile_matches_readme(mid: float, seed: int) -> None:
    a = synthetic_book_arrays(mid, seed=seed)
    for px, q in ((a.bid_px, a.bid_qty), (a.ask_px, a.ask_qty)):
        for bps, want in README_NOTIONAL.items():
            assert notional_within(px, q, mid, bps) == pytest.approx(want, rel=0.25)


def test_quantity_scales_as_one_over_mid() -> None:
    hi = synthetic_book_arrays(60_000.0, seed=4)
    lo = synthetic_book_arrays(3_000.0, seed=4)
    assert lo.bid_qty.sum() / hi.bid_qty.sum() == pytest.approx(20.0, rel=0.2)
    for bps in (50, 200):
        assert notional_within(lo.bid_px, lo.bid_qty, 3_000.0, bps) == pytest.approx(
            notional_within(hi.bid_px, hi.bid_qty, 60_000.0, bps), rel=0.02
        )


def test_depth_scale() -> None:
    one = synthetic_book_arrays(seed=5)
    two = synthetic_book_arrays(seed=5, depth_scale=2.0)
    assert one.bid_px.tobytes() == two.bid_px.tobytes()
    for bps in (10, 100):
        assert notional_within(two.bid_px, two.bid_qty, 60_000.0, bps) == pytest.approx(
            2 * notional_within(one.bid_px, one.bid_qty, 60_000.0, bps), rel=0.01
        )


def test_realistic_quantity_distribution() -> None:
    # the real bid book within 200 bps: 35% dust (<= 0.01 BTC), top 1% of levels hold 46% of the
    # quantity, top 10% hold 76%, many repeated round sizes
    a = synthetic_book_arrays(seed=0)
    q = a.bid_qty[a.bid_px >= 60_000.0 * 0.98]
    assert 0.25 <= (q <= 0.01).mean() <= 0.45
    top = np.sort(q)[::-1]
    assert 0.25 <= top[: q.size // 100].sum() / q.sum() <= 0.7
    assert 0.65 <= top[: q.size // 10].sum() / q.sum() <= 0.92
    _, counts = np.unique(q[q > 0.05], return_counts=True)
    assert counts.max() >= 20  # clustered sizes (round numbers, ladders)
    gaps = np.round(-np.diff(a.bid_px[:2000]) / 0.1)
    assert gaps.min() == 1
    assert gaps.max() >= 5


@pytest.mark.parametrize("levels", [1, 2, 123, 20_000])
def test_level_count(levels: int) -> None:
    a = synthetic_book_arrays(levels=levels, seed=2)
    assert a.bid_px.size == levels
    assert a.ask_px.size == levels
    Book(*a)
    if levels >= 123:  # coarser books keep the same depth profile
        mid = 60_000.0
        assert notional_within(a.bid_px, a.bid_qty, mid, 200) == pytest.approx(202.7e6, rel=0.25)


def test_tick_and_spread() -> None:
    a = synthetic_book_arrays(tick=0.5, spread_bps=2.0, levels=1000)
    assert np.all(a.bid_px % 0.5 == 0)
    assert np.all(a.ask_px % 0.5 == 0)
    assert a.ask_px[0] - a.bid_px[0] == 12.0  # 2 bps of 60,000 = 24 ticks of 0.5
    assert a.bid_px[0] < 60_000.0 < a.ask_px[0]
    b = synthetic_book_arrays(spread_bps=0.0, levels=10)
    assert b.ask_px[0] - b.bid_px[0] == pytest.approx(0.1)  # at least one tick


def test_book_and_exports() -> None:
    assert isinstance(synthetic_book(levels=100), Book)
    assert liqcore.synthetic_book is synthetic_book
    assert "synthetic_book" in liqcore.__all__


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"mid": 0.0}, ValueError, r"mid must be finite and > 0 \(got 0\.0\)"),
        ({"mid": float("nan")}, ValueError, "mid must be finite and > 0"),
        ({"mid": "60000"}, TypeError, "mid must be a real number"),
        ({"levels": 0}, ValueError, r"levels must be >= 1 \(got 0\)"),
        ({"levels": 5.0}, TypeError, "levels must be an int"),
        ({"tick": -0.1}, ValueError, "tick must be finite and > 0"),
        ({"depth_scale": float("inf")}, ValueError, "depth_scale must be finite and > 0"),
        ({"spread_bps": -1.0}, ValueError, r"spread_bps must be finite and >= 0 \(got -1\.0\)"),
        ({"spread_bps": "1"}, TypeError, "spread_bps must be a real number"),
        ({"seed": -1}, ValueError, r"seed must be a non-negative int \(got -1\)"),
        ({"seed": 1.5}, ValueError, "seed must be a non-negative int"),
        ({"mid": 100.0, "tick": 1000.0}, ValueError, "tick 1000.0 is too coarse for mid 100.0"),
        (
            {"mid": 100.0, "tick": 1.0, "levels": 500},
            ValueError,
            "levels=500 bid levels do not fit above 0",
        ),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        synthetic_book_arrays(**kwargs)
