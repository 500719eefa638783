"""Order book (docs/model.md §2): the kernel against pure-Python / NumPy references."""

from __future__ import annotations

import copy
import math
import pickle
import threading

import liqcore as lq
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from liqcore import Book, Fill, Fills

NAN = float("nan")

# ---------------------------------------------------------------------------------------------
# References. A side is (px, qty) best first; `bid` says which way prices run.


def acceptable(p: float, limit: float, bid: bool) -> bool:
    return math.isnan(limit) or (p >= limit if bid else p <= limit)


def ref_walk(px, qty, q, limit=NAN, bid=True, level=0, used=0.0):
    """The definition of a market order: level by level from (level, used)."""
    filled = notional = 0.0
    worst = NAN
    levels = 0
    remaining = q
    while remaining > 0.0 and level < len(px) and acceptable(px[level], limit, bid):
        avail = qty[level] - used
        take = min(remaining, avail)
        filled += take
        notional += take * px[level]
        worst = px[level]
        levels += 1
        remaining -= take
        if take == avail:
            level, used = level + 1, 0.0
        else:
            used += take
    vwap = notional / filled if filled > 0.0 else NAN
    return (filled, notional, vwap, worst, levels, max(q - filled, 0.0)), level, used


def ref_prefix(px, qty, qtys, limits=None, bid=True):
    """Independent what-if orders from prefix sums, vectorized (the sweep_many semantics)."""
    px, qty = np.asarray(px, float), np.asarray(qty, float)
    q = np.asarray(qtys, float)
    cum = np.concatenate([[0.0], np.cumsum(qty)])
    cumn = np.concatenate([[0.0], np.cumsum(qty * px)])
    size = len(px)
    if limits is None:
        n = np.full(q.shape, size)
    else:
        lim = np.broadcast_to(np.asarray(limits, float), q.shape)
        with np.errstate(invalid="ignore"):
            n = (
                np.searchsorted(-px, -lim, side="right")
                if bid
                else np.searchsorted(px, lim, side="right")
            )
        n = np.where(np.isnan(lim), size, n)
    full = q >= cum[n]
    j = np.maximum(np.searchsorted(cum, q, side="left"), 1)
    jm = np.minimum(j, size) - 1 if size else np.zeros_like(j)
    pxj = px[jm] if size else np.zeros(q.shape)
    exact = cum[np.minimum(j, size)] == q
    part = np.where(exact, cumn[np.minimum(j, size)], cumn[j - 1] + (q - cum[j - 1]) * pxj)
    levels = np.where(full, n, np.where(q > 0, j, 0)).astype(np.int64)
    filled = np.where(full, cum[n], q)
    notional = np.where(full, cumn[n], np.where(q > 0, part, 0.0))
    worst = np.where(levels > 0, px[np.maximum(levels - 1, 0)] if size else 0.0, NAN)
    vwap = np.full(q.shape, NAN)
    np.divide(notional, filled, out=vwap, where=filled > 0)
    unfilled = np.where(full, q - cum[n], 0.0)
    return filled, notional, vwap, worst, levels, unfilled


def ref_execute(px, qty, qtys, limits, bid):
    """Sequential orders; returns the fills and the side left afterwards."""
    level, used = 0, 0.0
    fills = []
    for i, q in enumerate(qtys):
        lim = NAN if limits is None else float(np.broadcast_to(limits, len(qtys))[i])
        f, level, used = ref_walk(px, qty, q, lim, bid, level, used)
        fills.append(f)
    npx, nqty = list(px[level:]), list(qty[level:])
    if npx and used > 0.0:
        nqty[0] -= used
        if not nqty[0] > 0.0:
            npx, nqty = npx[1:], nqty[1:]
    return fills, np.array(npx), np.array(nqty)


def ref_apply(px, qty, upx, uqty, bid):
    d = dict(zip(px.tolist(), qty.tolist()))
    for p, q in zip(upx, uqty):
        if q == 0.0:
            d.pop(p, None)
        else:
            d[p] = q
    keys = sorted(d, reverse=bid)
    return np.array(keys, float), np.array([d[k] for k in keys], float)


def fills_tuple(f: Fills):
    return (f.filled, f.notional, f.vwap, f.worst, f.levels, f.unfilled)


def assert_fills_equal(got: Fills, want) -> None:
    for name, a, b in zip(
        ("filled", "notional", "vwap", "worst", "levels", "unfilled"), fills_tuple(got), want
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)


def same_fill(a: Fill, b: Fill) -> bool:
    """Field-wise equality with NaN == NaN."""
    return all(x == y or (x != x and y != y) for x, y in zip(fills_tuple(a), fills_tuple(b)))


def assert_close_to_walk(got: Fill, want, total: float) -> None:
    filled, notional, vwap, worst, levels, unfilled = want
    assert got.filled == pytest.approx(filled, rel=1e-12, abs=1e-12 * total)
    assert got.notional == pytest.approx(notional, rel=1e-9, abs=1e-300)
    assert got.unfilled == pytest.approx(unfilled, rel=1e-12, abs=1e-12 * total)
    if math.isnan(vwap):
        assert math.isnan(got.vwap) or got.filled <= 1e-12 * total
    else:
        assert got.vwap == pytest.approx(vwap, rel=1e-9)
    # At an exact level boundary, rounding may make the walk touch one more level.
    assert abs(got.levels - levels) <= 1
    if got.levels == levels:
        assert got.worst == worst or (math.isnan(got.worst) and math.isnan(worst))


# ---------------------------------------------------------------------------------------------
# Random books: prices anywhere in 1e-4 .. 1e6, quantities over several decades.


def make_side(rng: np.random.Generator, n: int, mid: float, bid: bool, qty_scale: float) -> tuple:
    gaps = rng.uniform(1e-6, 2e-3, n) * np.where(rng.random(n) < 0.2, 10.0, 1.0)
    rel = np.cumsum(gaps) + 1e-4
    px = mid * (np.exp(-rel) if bid else np.exp(rel))
    px = np.unique(px)  # ascending, distinct
    if bid:
        px = px[::-1]
    qty = qty_scale * 10.0 ** rng.uniform(-3, 2, len(px))
    return np.ascontiguousarray(px), qty


@st.composite
def books(draw, max_levels: int = 60):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nb = draw(st.integers(0, max_levels))
    na = draw(st.integers(0, max_levels))
    mid = 10.0 ** draw(st.floats(-3.5, 5.5))
    qty_scale = 10.0 ** draw(st.floats(-4, 4))
    bp, bq = make_side(rng, nb, mid, True, qty_scale)
    ap, aq = make_side(rng, na, mid, False, qty_scale)
    return bp, bq, ap, aq, rng


def random_orders(rng: np.random.Generator, px, qty, n: int):
    total = float(np.sum(qty)) if len(qty) else 1.0
    cum = np.concatenate([[0.0], np.cumsum(qty)])
    kinds = rng.integers(0, 5, n)
    q = np.select(
        [kinds == 0, kinds == 1, kinds == 2, kinds == 3],
        [
            rng.uniform(0, 1.2 * total, n),
            cum[rng.integers(0, len(cum), n)],
            np.zeros(n),
            total * 10.0 ** rng.uniform(-12, -3, n),
        ],
        total * rng.uniform(1, 10, n),  # larger than the whole side
    )
    return q


def random_limits(rng: np.random.Generator, px, n: int, bid: bool):
    if len(px) == 0:
        return np.where(rng.random(n) < 0.5, NAN, rng.uniform(1, 2, n))
    choice = rng.integers(0, 4, n)
    at_level = px[rng.integers(0, len(px), n)]
    beyond = px[-1] * (0.5 if bid else 2.0)  # outside the book on the far side: no effect
    better = px[0] * (2.0 if bid else 0.5)  # better than the best: nothing fills
    return np.select(
        [choice == 0, choice == 1, choice == 2],
        [np.full(n, NAN), at_level, np.full(n, beyond)],
        better,
    )


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(books(), st.sampled_from(["buy", "sell"]), st.booleans())
def test_sweep_many_matches_references(b, side, with_limits):
    bp, bq, ap, aq, rng = b
    book = Book(bp, bq, ap, aq)
    bid = side == "sell"
    px, qty = (bp, bq) if bid else (ap, aq)
    qtys = random_orders(rng, px, qty, 40)
    limits = random_limits(rng, px, 40, bid) if with_limits else None
    got = book.sweep_many(side, qtys, limits)
    assert len(got) == 40
    assert_fills_equal(got, ref_prefix(px, qty, qtys, limits, bid))
    total = float(np.sum(qty)) if len(qty) else 1.0
    for i in range(0, 40, 3):
        lim = NAN if limits is None else limits[i]
        want, _, _ = ref_walk(px, qty, qtys[i], lim, bid)
        assert_close_to_walk(got[i], want, total)
        one = book.sweep(side, qtys[i], None if math.isnan(lim) else lim)
        assert same_fill(one, got[i])
    # invariants
    np.testing.assert_allclose(got.filled + got.unfilled, qtys, rtol=1e-12)
    has = got.filled > 0
    if len(px):
        lo = np.minimum(px[0], got.worst[has]) * (1 - 1e-12)
        hi = np.maximum(px[0], got.worst[has]) * (1 + 1e-12)
        assert np.all((got.vwap[has] >= lo) & (got.vwap[has] <= hi))
    assert np.all(np.isnan(got.vwap[~has])) and np.all(got.levels[~has] == 0)


@pytest.mark.parametrize("with_limits", [False, True])
def test_sweep_many_threads_give_the_same_bits(with_limits: bool) -> None:
    # Orders are split in fixed chunks over the cores: the fills are the same bits for every
    # thread count, and equal the prefix-sum reference (many chunks: 200,000 orders).
    rng = np.random.default_rng(21)
    book = lq.synthetic_book(100.0, levels=500, seed=2)
    px, qty = book.bids
    n = 200_000
    qtys = random_orders(rng, px, qty, n)
    limits = random_limits(rng, px, n, True) if with_limits else None
    runs = [book.sweep_many("sell", qtys, limits, threads=t) for t in (None, 1, 2, 7)]
    for got in runs[1:]:
        for name in ("filled", "notional", "vwap", "worst", "levels", "unfilled"):
            assert getattr(got, name).tobytes() == getattr(runs[0], name).tobytes(), name
    assert_fills_equal(runs[0], ref_prefix(px, qty, qtys, limits, True))


@pytest.mark.parametrize(
    "threads, err, msg",
    [(0, ValueError, "threads"), (-1, ValueError, "threads"), (1.5, TypeError, "threads"),
     (True, TypeError, "threads")],
)  # fmt: skip
def test_sweep_many_bad_threads(threads: object, err: type, msg: str) -> None:
    book = lq.synthetic_book(100.0, levels=10, seed=0)
    with pytest.raises(err, match=msg):
        book.sweep_many("sell", [1.0], threads=threads)


def test_sweep_many_threads_report_the_first_bad_order() -> None:
    # a bad order in the last chunk and one in the first: the first is named, on any cores
    book = lq.synthetic_book(100.0, levels=10, seed=0)
    qtys = np.ones(100_000)
    qtys[90_000] = np.nan
    qtys[70_000] = -1.0
    for t in (1, 2, 4):
        with pytest.raises(ValueError, match=r"qtys\[70000\]"):
            book.sweep_many("sell", qtys, threads=t)


@SETTINGS
@given(books(), st.sampled_from(["buy", "sell"]), st.booleans())
def test_execute_matches_sequential_walk(b, side, with_limits):
    bp, bq, ap, aq, rng = b
    book = Book(bp, bq, ap, aq)
    bid = side == "sell"
    px, qty = (bp, bq) if bid else (ap, aq)
    total = float(np.sum(qty)) if len(qty) else 1.0
    qtys = rng.uniform(0, total / 4, 12) * (rng.random(12) < 0.9)
    limits = random_limits(rng, px, 12, bid) if with_limits else None
    want, npx, nqty = ref_execute(px, qty, qtys, limits, bid)
    # the same orders as sweeps, each on a book rebuilt by hand from the reference's state
    by_hand = []
    lvl, used = 0, 0.0
    for i, q in enumerate(qtys):
        rest_px, rest_qty = px[lvl:].copy(), qty[lvl:].copy()
        if used > 0.0:
            rest_qty[0] -= used
        sides = (rest_px, rest_qty, ap, aq) if bid else (bp, bq, rest_px, rest_qty)
        lim = None if limits is None or math.isnan(limits[i]) else limits[i]
        by_hand.append(Book(*sides).sweep(side, q, lim))
        _, lvl, used = ref_walk(px, qty, q, NAN if lim is None else lim, bid, lvl, used)

    got = book.execute(side, qtys, limits)
    for i in range(len(qtys)):
        assert same_fill(got[i], Fill(*want[i])), (got[i], want[i])
        assert_close_to_walk(by_hand[i], want[i], total)
    left_px, left_qty = book.bids if bid else book.asks
    np.testing.assert_array_equal(left_px, npx)
    np.testing.assert_array_equal(left_qty, nqty)
    other = book.asks if bid else book.bids
    np.testing.assert_array_equal(other[0], ap if bid else bp)


@SETTINGS
@given(books(max_levels=30), st.data())
def test_apply_matches_dict_reference(b, data):
    bp, bq, ap, aq, rng = b
    book = Book(bp, bq, ap, aq)
    before = book.copy()
    n = data.draw(st.integers(0, 25))
    mid = book.mid if not math.isnan(book.mid) else 1.0
    side = np.where(rng.random(n) < 0.5, "bid", "ask")
    existing = np.concatenate([bp, ap, [mid]])
    px = np.where(
        rng.random(n) < 0.4,
        existing[rng.integers(0, len(existing), n)],
        mid * np.exp(rng.normal(0, 0.01, n)),
    )
    qty = np.where(rng.random(n) < 0.3, 0.0, 10.0 ** rng.uniform(-3, 3, n))
    wb = ref_apply(bp, bq, px[side == "bid"], qty[side == "bid"], True)
    wa = ref_apply(ap, aq, px[side == "ask"], qty[side == "ask"], False)
    crossed = len(wb[0]) and len(wa[0]) and not wb[0][0] < wa[0][0]
    if crossed:
        with pytest.raises(ValueError, match="crossed"):
            book.apply(side, px, qty)
        assert book == before
        return
    book.apply(side, px, qty)
    for got, want in ((book.bids, wb), (book.asks, wa)):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    rebuilt = Book(*wb, *wa)
    assert book == rebuilt
    qtys = random_orders(rng, wb[0], wb[1], 20)
    assert_fills_equal(book.sweep_many("sell", qtys), fills_tuple(rebuilt.sweep_many("sell", qtys)))
    qtys = random_orders(rng, wa[0], wa[1], 20)
    assert_fills_equal(book.sweep_many("buy", qtys), fills_tuple(rebuilt.sweep_many("buy", qtys)))


def test_apply_single_side_and_repeated_price():
    book = Book([100.0, 99.0], [1.0, 2.0], [101.0], [1.0])
    book.apply("bid", [99.5, 99.5, 98.0, 97.0], [3.0, 4.0, 0.0, 1.0])  # later 99.5 wins; 98 absent
    np.testing.assert_array_equal(book.bids[0], [100.0, 99.5, 99.0, 97.0])
    np.testing.assert_array_equal(book.bids[1], [1.0, 4.0, 2.0, 1.0])
    book.apply("ask", 101.0, 0.0)  # scalar update deletes the only ask
    assert book.n_asks == 0 and math.isnan(book.best_ask) and book.mid == 100.0
    with pytest.raises(
        ValueError, match=r"book would be crossed by the update: best bid 100\.0+ >= best ask 100"
    ):
        book.apply("ask", [100.0], [1.0])
    # a move through the book in one diff is fine when both sides go in the same call
    book = Book([100.0], [1.0], [101.0], [1.0])
    book.apply(["ask", "bid", "ask"], [101.0, 101.5, 102.0], [0.0, 1.0, 2.0])
    assert (book.best_bid, book.best_ask) == (101.5, 102.0)


def test_depth_matches_reference():
    rng = np.random.default_rng(7)
    bp, bq = make_side(rng, 500, 60_000.0, True, 1.0)
    ap, aq = make_side(rng, 500, 60_000.0, False, 1.0)
    book = Book(bp, bq, ap, aq)
    mid = 0.5 * (bp[0] + ap[0])
    bps = np.array([0.0, 1.0, 10.0, 50.0, 100.0, 1e4, 1e6])
    for side, px, qty, sign in (("bid", bp, bq, -1), ("ask", ap, aq, 1)):
        edge = mid * (1.0 + sign * bps / 1e4)
        inside = (px[None, :] >= edge[:, None]) if side == "bid" else (px[None, :] <= edge[:, None])
        np.testing.assert_allclose(book.depth(side, bps), (inside * qty).sum(1), rtol=1e-12)
        np.testing.assert_allclose(
            book.depth_notional(side, bps), (inside * qty * px).sum(1), rtol=1e-12
        )
        assert book.depth(side, 50.0) == book.depth(side, [50.0])[0]
        assert isinstance(book.depth(side, 50.0), float)
    assert book.depth("bid", 1e6) == pytest.approx(bq.sum(), rel=1e-12)
    assert Book([], [], [], []).depth("bid", 10.0) == 0.0


def test_large_book_agrees_with_numpy():
    rng = np.random.default_rng(3)
    bp, bq = make_side(rng, 100_000, 1e6, True, 0.01)
    ap, aq = make_side(rng, 10, 1e6, False, 0.01)
    book = Book(bp, bq, ap, aq)
    assert book.n_bids > 90_000
    qtys = random_orders(rng, bp, bq, 20_000)
    limits = random_limits(rng, bp, 20_000, True)
    assert_fills_equal(book.sweep_many("sell", qtys), ref_prefix(bp, bq, qtys, None, True))
    assert_fills_equal(
        book.sweep_many("sell", qtys, limits), ref_prefix(bp, bq, qtys, limits, True)
    )


def test_extreme_magnitudes_and_boundaries():
    # levels of very different sizes: the bucket index must still find the right level
    px = np.array([1e6, 1e-4 * 1.01, 1e-4])
    qty = np.array([1e-6, 1e6, 1e-3])
    book = Book(px, qty, [], [])
    cum = np.concatenate([[0.0], np.cumsum(qty)])
    qtys = np.concatenate([cum, cum * (1 + 1e-15), cum * (1 - 1e-15), [5e-7, 1e9]])
    assert_fills_equal(book.sweep_many("sell", qtys), ref_prefix(px, qty, qtys, None, True))
    f = book.sweep("sell", 1e9)
    assert f.levels == 3 and f.unfilled == 1e9 - cum[-1] and f.worst == 1e-4


def test_scalars_limits_and_documented_cases():
    book = Book([100.0, 99.0, 98.0], [1.0, 2.0, 3.0], [101.0, 102.0], [1.0, 1.0])
    assert book.sweep("sell", 2.5) == Fill(2.5, 248.5, 99.4, 99.0, 2, 0.0)
    assert book.sweep("sell", 3.0) == Fill(3.0, 298.0, 298.0 / 3.0, 99.0, 2, 0.0)
    assert book.sweep("sell", 10.0) == Fill(6.0, 592.0, 592.0 / 6.0, 98.0, 3, 4.0)
    assert book.sweep("sell", 10.0, limit=99.0) == Fill(3.0, 298.0, 298.0 / 3.0, 99.0, 2, 7.0)
    assert book.sweep("buy", 1.5, limit=101.0) == Fill(1.0, 101.0, 101.0, 101.0, 1, 0.5)
    empty = book.sweep("buy", 0.0)
    assert (empty.filled, empty.levels, empty.unfilled) == (0.0, 0, 0.0)
    assert math.isnan(empty.vwap) and math.isnan(empty.worst)
    nothing = book.sweep("sell", 1.0, limit=150.0)
    assert nothing.unfilled == 1.0 and nothing.levels == 0
    # a scalar limit applies to every order; a scalar qty stands for the whole batch
    many = book.sweep_many("sell", [1.0, 5.0], 99.0)
    np.testing.assert_array_equal(many.filled, [1.0, 3.0])
    np.testing.assert_array_equal(book.sweep_many("sell", 1.0, [NAN, 100.5]).filled, [1.0, 0.0])
    assert len(book.sweep_many("sell", 2.0)) == 1
    assert book.spread == 1.0 and book.mid == 100.5
    assert (book.n_bids, book.n_asks) == (3, 2)


def test_copy_eq_repr_pickle():
    book = Book([100.0, 99.0], [1.0, 2.0], [101.0], [3.0])
    for other in (
        book.copy(),
        copy.copy(book),
        copy.deepcopy(book),
        pickle.loads(pickle.dumps(book)),
    ):
        assert other == book and other is not book
    c = book.copy()
    c.execute("sell", [1.5])
    assert c != book and book.n_bids == 2
    assert book != "book"
    assert repr(book) == "Book(n_bids=2, n_asks=1, best_bid=100.0, best_ask=101.0)"
    px, qty = book.bids
    px[0] = 1.0  # a copy
    assert book.best_bid == 100.0
    with pytest.raises(TypeError):
        hash(book)
    assert lq.Book is Book and lq.Fills is Fills and lq.Fill is Fill


def test_fills_to_frame():
    pd = pytest.importorskip("pandas")
    f = Book([100.0], [1.0], [], []).sweep_many("sell", [0.5, 2.0])
    df = f.to_frame()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == [
        "filled",
        "notional",
        "vwap",
        "worst",
        "levels",
        "unfilled",
    ]


def test_synthetic_delegates():
    pytest.importorskip("liqcore.synthetic")
    book = Book.synthetic(60_000.0)
    assert isinstance(book, Book)
    assert book.n_bids > 0 and book.n_asks > 0
    assert book.mid == pytest.approx(60_000.0, rel=1e-4)


# ---------------------------------------------------------------------------------------------
# Bad input: ValueError naming the argument and the first bad index; TypeError for wrong kinds.

GOOD = dict(
    bid_px=[100.0, 99.0, 98.0], bid_qty=[1.0, 1.0, 1.0], ask_px=[101.0, 102.0], ask_qty=[1.0, 1.0]
)


@pytest.mark.parametrize(
    ("arg", "value", "match"),
    [
        ("bid_px", [100.0, NAN, 98.0], r"bid_px\[1\] must be finite and > 0 \(got nan\)"),
        ("bid_px", [100.0, 99.0, float("inf")], r"bid_px\[2\] must be finite and > 0 \(got inf\)"),
        ("bid_px", [100.0, 0.0, -1.0], r"bid_px\[1\] must be finite and > 0 \(got 0\)"),
        ("ask_px", [-101.0, 102.0], r"ask_px\[0\] must be finite and > 0 \(got -101\)"),
        ("bid_qty", [1.0, 1.0, 0.0], r"bid_qty\[2\] must be finite and > 0 \(got 0\)"),
        ("ask_qty", [1.0, float("-inf")], r"ask_qty\[1\] must be finite and > 0 \(got -inf\)"),
        ("bid_px", [100.0, 98.0, 99.0], r"bid_px\[2\] must be strictly descending \(got 99\)"),
        ("bid_px", [100.0, 100.0, 99.0], r"bid_px\[1\] must be strictly descending"),
        ("ask_px", [102.0, 101.0], r"ask_px\[1\] must be strictly ascending \(got 101\)"),
        ("ask_px", [100.0, 102.0], r"book is crossed: best bid 100\.0+ >= best ask 100"),
        ("ask_px", [99.0, 102.0], r"book is crossed"),
        ("bid_qty", [1.0, 1.0], r"bid_qty has length 2, expected 3 \(the length of bid_px\)"),
        ("ask_qty", [1.0], r"ask_qty has length 1, expected 2 \(the length of ask_px\)"),
        ("bid_qty", [1e307, 1e307, 1e307], r"bid_qty total quantity or notional .* overflows"),
    ],
)
def test_bad_book(arg, value, match):
    with pytest.raises(ValueError, match=match):
        Book(**{**GOOD, arg: value})


@pytest.mark.parametrize("value", ["100", {"a": 1}, np.array(["1"]), [object()]])
def test_book_wrong_types(value):
    with pytest.raises(TypeError, match="bid_px"):
        Book(**{**GOOD, "bid_px": value})


def test_bad_orders():
    book = Book(**GOOD)
    for method in (book.sweep_many, book.execute):
        with pytest.raises(ValueError, match=r"qtys\[2\] must be finite and >= 0 \(got nan\)"):
            method("sell", [1.0, 0.0, NAN, -1.0])
        with pytest.raises(ValueError, match=r"qtys\[1\] must be finite and >= 0 \(got -1\)"):
            method("buy", [1.0, -1.0])
        with pytest.raises(ValueError, match=r"qtys\[0\] must be finite and >= 0 \(got inf\)"):
            method("buy", [float("inf")])
        with pytest.raises(
            ValueError, match=r"limits\[1\] must be finite and > 0, or NaN for no limit \(got 0\)"
        ):
            method("sell", [1.0, 1.0], [NAN, 0.0])
        with pytest.raises(
            ValueError, match=r"limits\[0\] must be finite and > 0, or NaN for no limit \(got inf\)"
        ):
            method("sell", [1.0, 1.0], [float("inf"), 1.0])
        with pytest.raises(
            ValueError, match=r"limits must be finite and > 0, or NaN for no limit \(got -5\)"
        ):
            method("sell", [1.0, 1.0], -5.0)
        with pytest.raises(
            ValueError, match=r"limits has length 3, expected 2 \(the length of qtys\)"
        ):
            method("sell", [1.0, 1.0], [1.0, 1.0, 1.0])
        with pytest.raises(ValueError, match=r"side must be one of 'buy', 'sell' \(got 'bid'\)"):
            method("bid", [1.0])
        with pytest.raises(TypeError, match="side must be a str"):
            method(1, [1.0])
        with pytest.raises(TypeError, match="qtys"):
            method("sell", ["1"])
        with pytest.raises(ValueError, match="qtys must have at most 1 dimension"):
            method("sell", [[1.0]])
    assert book == Book(**GOOD)  # a failed execute leaves the book unchanged
    with pytest.raises(ValueError, match=r"^qty must be finite and >= 0 \(got nan\)"):
        book.sweep("sell", NAN)
    with pytest.raises(
        ValueError, match=r"^limit must be finite and > 0, or NaN for no limit \(got -1\)"
    ):
        book.sweep("sell", 1.0, -1.0)
    with pytest.raises(TypeError, match="qty"):
        book.sweep("sell", "1")
    with pytest.raises(ValueError, match="qty must have at most 0 dimension"):
        book.sweep("sell", [1.0])


def test_bad_apply_and_depth():
    book = Book(**GOOD)
    with pytest.raises(ValueError, match=r"px\[1\] must be finite and > 0 \(got nan\)"):
        book.apply("bid", [99.5, NAN], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"px\[0\] must be finite and > 0 \(got -1"):
        book.apply("bid", [-1.0], [1.0])
    with pytest.raises(ValueError, match=r"qty\[1\] must be finite and >= 0 \(got -2"):
        book.apply("ask", [103.0, 104.0], [1.0, -2.0])
    with pytest.raises(ValueError, match=r"qty\[0\] must be finite and >= 0 \(got inf\)"):
        book.apply("ask", [103.0], [float("inf")])
    with pytest.raises(ValueError, match=r"qty has length 1, expected 2 \(the length of px\)"):
        book.apply("ask", [103.0, 104.0], [1.0])
    with pytest.raises(ValueError, match=r"side\[1\] must be one of 'bid', 'ask' \(got 'sell'\)"):
        book.apply(["bid", "sell"], [99.5, 99.6], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"side must be one of 'bid', 'ask' \(got 'buy'\)"):
        book.apply("buy", [99.5], [1.0])
    with pytest.raises(ValueError, match=r"px has length 2, expected 1 \(the length of side\)"):
        book.apply(["bid"], [99.5, 99.6], [1.0, 1.0])
    with pytest.raises(TypeError, match="side"):
        book.apply(0, [99.5], [1.0])
    with pytest.raises(TypeError, match="side"):
        book.apply(np.array([0, 1]), [99.5, 99.6], [1.0, 1.0])
    with pytest.raises(
        ValueError, match=r"book would be crossed by the update: best bid 101\.0+ >= best ask 101"
    ):
        book.apply("bid", [101.0], [1.0])
    with pytest.raises(ValueError, match=r"ask_qty total quantity or notional .* overflows"):
        book.apply("ask", [1e300], [1e300])
    assert book == Book(**GOOD)
    with pytest.raises(ValueError, match=r"bps\[1\] must be finite and >= 0 \(got -1\)"):
        book.depth("bid", [1.0, -1.0, NAN])
    with pytest.raises(ValueError, match=r"^bps must be finite and >= 0 \(got nan\)"):
        book.depth_notional("ask", NAN)
    with pytest.raises(ValueError, match=r"side must be one of 'bid', 'ask' \(got 'sell'\)"):
        book.depth("sell", 10.0)


# ---------------------------------------------------------------------------------------------
# Thread safety: readers racing a writer only ever see whole states.


def test_concurrent_sweeps_see_consistent_states():
    rng = np.random.default_rng(11)
    bp, bq = make_side(rng, 2000, 100.0, True, 1.0)
    ap, aq = make_side(rng, 2000, 100.0, False, 1.0)
    book = Book(bp, bq, ap, aq)
    # state B: the best 300 bids deleted and 5 deeper ones resized
    upd_px = np.concatenate([bp[:300], bp[1000:1005]])
    state_a, state_b = book.copy(), book.copy()
    state_b.apply("bid", upd_px, np.concatenate([np.zeros(300), np.full(5, 7.0)]))
    restore_qty = np.concatenate([bq[:300], bq[1000:1005]])
    qtys = rng.uniform(0, bq.sum() * 1.1, 5000)
    want = [fills_tuple(s.sweep_many("sell", qtys)) for s in (state_a, state_b)]
    serial = fills_tuple(book.sweep_many("sell", qtys))

    errors: list[BaseException] = []
    seen = [0, 0]
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                got = fills_tuple(book.sweep_many("sell", qtys))
                k = next(
                    (
                        k
                        for k in (0, 1)
                        if all(np.array_equal(g, w, equal_nan=True) for g, w in zip(got, want[k]))
                    ),
                    None,
                )
                assert k is not None, "a sweep saw a half-applied update"
                seen[k] += 1
                assert book.depth("bid", 1e5) in (
                    state_a.depth("bid", 1e5),
                    state_b.depth("bid", 1e5),
                )
        except BaseException as e:
            errors.append(e)

    def writer():
        try:
            for i in range(150):
                book.apply(
                    "bid",
                    upd_px,
                    np.concatenate([np.zeros(300), np.full(5, 7.0)]) if i % 2 == 0 else restore_qty,
                )
        except BaseException as e:
            errors.append(e)
        finally:
            stop.set()

    threads = [threading.Thread(target=reader) for _ in range(3)] + [
        threading.Thread(target=writer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(seen) > 0
    assert book == state_a  # even i applies state B, odd i (the last, 149) restores A
    # read-only concurrency gives exactly the serial results
    results: list = [None] * 4

    def read_only(k):
        results[k] = fills_tuple(state_a.sweep_many("sell", qtys))

    ts = [threading.Thread(target=read_only, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in results:
        for g, w in zip(r, serial):
            np.testing.assert_array_equal(g, w)


def test_concurrent_execute_is_serialized():
    book = Book([100.0 - 0.01 * i for i in range(1000)], np.ones(1000), [], [])

    def take():
        for _ in range(50):
            book.execute("sell", np.full(4, 0.5))

    ts = [threading.Thread(target=take) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert book.n_bids == 1000 - 400  # 4 threads x 50 batches x 2 units
    assert book.bids[1][0] == 1.0


def test_crowded_buckets_agree_with_numpy():
    # 2,000 equal levels before one huge level: the linear buckets are far wider than a level
    # and each top logarithmic bucket holds dozens of prefix sums (the binary-searched path).
    px = 100.0 - 0.01 * np.arange(2001)
    qty = np.concatenate([np.ones(2000), [1e9]])
    book = Book(px, qty, [], [])
    rng = np.random.default_rng(5)
    cum = np.concatenate([[0.0], np.cumsum(qty)])
    qtys = np.concatenate([rng.uniform(0, 2100, 5000), cum[:2001], cum[:2001] + 0.5])
    assert_fills_equal(book.sweep_many("sell", qtys), ref_prefix(px, qty, qtys, None, True))
