"""Order-book benchmarks: the kernel beside NumPy / pure-Python baselines on the same data.

Run: .venv/bin/python -m pytest bench/test_bench_book.py --benchmark-only --benchmark-sort=name

The book is the Binance USD-M BTCUSDT book of 2024-08-08 after replaying every depth diff of
../shared/data (about 5,000 levels a side); without that folder a synthetic book stands in.
Order sizes are log-uniform from 1e-3 BTC to 1.2x the whole bid side (heavy-tailed, like
liquidations), so some orders overrun the side.
`test_numba_sweep_many` (skipped without numba) times sweep_many at 1e6 (default threads and
`threads=1`) beside the NumPy baseline and a Numba binary search (bench/numba_peers.py, plain
`@njit` and `prange`) in one group: `-k numba`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from liqcore import Book

DATA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "binance_usdm_btcusdt_20240808.jsonl.gz"
)
if not DATA.exists():
    DATA = Path("/work/shared/data/binance_usdm_btcusdt_20240808.jsonl.gz")


def _synthetic() -> Book:
    try:
        return Book.synthetic(60_000.0, levels=5000, seed=0)
    except ImportError:
        rng = np.random.default_rng(0)
        bp = 60_000.0 - 0.1 * np.arange(1, 5001) - np.cumsum(rng.integers(0, 5, 5000)) * 0.1
        ap = 60_000.0 + 0.1 * np.arange(1, 5001) + np.cumsum(rng.integers(0, 5, 5000)) * 0.1
        return Book(bp, 10.0 ** rng.uniform(-3, 0.5, 5000), ap, 10.0 ** rng.uniform(-3, 0.5, 5000))


@pytest.fixture(scope="module")
def book() -> Book:
    if DATA.exists():
        from liqcore.io import read_binance_depth

        return read_binance_depth(DATA)
    return _synthetic()


def orders(book: Book, n: int, seed: int = 1) -> np.ndarray:
    total = float(book.bids[1].sum())
    return 10.0 ** np.random.default_rng(seed).uniform(-3.0, math.log10(1.2 * total), n)


# ---- NumPy baselines (same semantics as the kernel, see tests/test_book.py) -----------------


def numpy_sweep_many(px, cum, cumn, q, limits=None):
    n = len(px)
    if limits is None:
        e = n
        full = q >= cum[n]
    else:
        e = np.searchsorted(-px, -limits, side="right")  # bids at or above the limit
        full = q >= cum[e]
    j = np.maximum(np.searchsorted(cum, q, side="left"), 1)
    jc = np.minimum(j, n)
    exact = cum[jc] == q
    part = np.where(exact, cumn[jc], cumn[j - 1] + (q - cum[j - 1]) * px[jc - 1])
    pos = q > 0
    levels = np.where(full, e, np.where(pos, j, 0))
    filled = np.where(full, cum[e], q)
    notional = np.where(full, cumn[e], np.where(pos, part, 0.0))
    worst = np.where(levels > 0, px[np.maximum(levels - 1, 0)], np.nan)
    vwap = np.full(q.shape, np.nan)
    np.divide(notional, filled, out=vwap, where=filled > 0)
    unfilled = np.where(full, q - cum[e], 0.0)
    return filled, notional, vwap, worst, levels, unfilled


def numpy_execute(px, cum, cumn, q):
    """Sequential orders without limits: order i takes [P_{i-1}, P_i] of the cumulative side."""
    pos = np.minimum(np.concatenate([[0.0], np.cumsum(q)]), cum[-1])
    k = np.clip(np.searchsorted(cum, pos, side="right") - 1, 0, len(px) - 1)
    notional_at = cumn[k] + (pos - cum[k]) * px[k]
    return np.diff(pos), np.diff(notional_at)


def python_walk(px, qty, q):
    filled = notional = 0.0
    level = 0
    remaining = q
    while remaining > 0.0 and level < len(px):
        take = min(remaining, qty[level])
        filled += take
        notional += take * px[level]
        remaining -= take
        level += 1
    return filled, notional


def _prefix(book: Book):
    px, qty = book.bids
    return px, np.concatenate([[0.0], np.cumsum(qty)]), np.concatenate([[0.0], np.cumsum(qty * px)])


SIZES = [1_000, 10_000, 100_000, 1_000_000]


@pytest.mark.parametrize("n", SIZES)
def test_sweep_many_liqcore(benchmark, book, n):
    q = orders(book, n)
    got = book.sweep_many("sell", q)
    want = numpy_sweep_many(*_prefix(book), q)
    for a, b in zip(
        (got.filled, got.notional, got.vwap, got.worst, got.levels, got.unfilled), want
    ):
        np.testing.assert_array_equal(a, b)
    benchmark(book.sweep_many, "sell", q)


@pytest.mark.parametrize("n", SIZES)
def test_sweep_many_numpy(benchmark, book, n):
    q = orders(book, n)
    px, cum, cumn = _prefix(book)
    benchmark(numpy_sweep_many, px, cum, cumn, q)


def _limits(book: Book, n: int) -> np.ndarray:
    px = book.bids[0]
    lim = px[np.random.default_rng(2).integers(0, len(px), n)]
    lim[::4] = np.nan
    return lim


@pytest.mark.parametrize("n", [1_000_000])
def test_sweep_many_limits_liqcore(benchmark, book, n):
    q, lim = orders(book, n), _limits(book, n)
    got = book.sweep_many("sell", q, lim)
    px, cum, cumn = _prefix(book)
    want = numpy_sweep_many(px, cum, cumn, q, np.where(np.isnan(lim), 0.0, lim))
    for a, b in zip(
        (got.filled, got.notional, got.levels, got.unfilled), (want[0], want[1], want[4], want[5])
    ):
        np.testing.assert_array_equal(a, b)
    benchmark(book.sweep_many, "sell", q, lim)


@pytest.mark.parametrize("n", [1_000_000])
def test_sweep_many_limits_numpy(benchmark, book, n):
    q, lim = orders(book, n), _limits(book, n)
    px, cum, cumn = _prefix(book)
    benchmark(numpy_sweep_many, px, cum, cumn, q, np.where(np.isnan(lim), 0.0, lim))


def _small_orders(book: Book, n: int) -> np.ndarray:
    # n sequential orders that together take ~80% of the bid side
    return np.random.default_rng(3).uniform(0, 1.6 * float(book.bids[1].sum()) / n, n)


@pytest.mark.parametrize("n", [10_000, 1_000_000])
def test_execute_liqcore(benchmark, book, n):
    q = _small_orders(book, n)
    got = book.copy().execute("sell", q)
    filled, notional = numpy_execute(*_prefix(book), q)
    np.testing.assert_allclose(got.filled, filled, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.notional, notional, rtol=1e-6, atol=1e-3)
    benchmark.pedantic(
        lambda b: b.execute("sell", q), setup=lambda: ((book.copy(),), {}), rounds=20
    )


@pytest.mark.parametrize("n", [10_000, 1_000_000])
def test_execute_numpy(benchmark, book, n):
    q = _small_orders(book, n)
    benchmark(numpy_execute, *_prefix(book), q)


def test_sweep_one_liqcore(benchmark, book):
    q = 0.5 * float(book.bids[1].sum())
    px, qty = book.bids
    f = book.sweep("sell", q)
    assert (f.filled, f.notional) == pytest.approx(
        python_walk(px.tolist(), qty.tolist(), q), rel=1e-12
    )
    benchmark(book.sweep, "sell", q)


def test_sweep_one_python(benchmark, book):
    q = 0.5 * float(book.bids[1].sum())
    px, qty = book.bids
    benchmark(python_walk, px.tolist(), qty.tolist(), q)


# ---- Numba peers (bench/numba_peers.py): binary search on the prefix sums, 1 thread and prange --


@pytest.fixture(scope="module")
def numba_peers():
    pytest.importorskip("numba")
    import numba_peers as nbp

    nbp.warm_up()
    return nbp


@pytest.mark.parametrize(
    "impl", ["liqcore", "liqcore-1thread", "numba", "numba-prange", "numpy"]
)
def test_numba_sweep_many(benchmark, book, numba_peers, impl):
    n = 1_000_000
    q = orders(book, n)
    px = book.bids[0]
    got = book.sweep_many("sell", q)
    ours = (got.filled, got.notional, got.vwap, got.worst, got.levels, got.unfilled)
    cum, cumn = numba_peers.prefix(*book.bids)
    for peer in (numba_peers.sweep_many, numba_peers.sweep_many_parallel):
        for a, b in zip(ours, peer(px, cum, cumn, q)):
            np.testing.assert_array_equal(a, b)
    benchmark.group = "numba: sweep_many 1e6 orders"
    benchmark.extra_info.update(n=n, levels=len(px))
    # a user would keep the prefix sums with the book, as liqcore does: not timed
    if impl == "liqcore":  # default threads: every core
        benchmark(book.sweep_many, "sell", q)
    elif impl == "liqcore-1thread":
        benchmark(book.sweep_many, "sell", q, threads=1)
    elif impl == "numba":
        benchmark(numba_peers.sweep_many, px, cum, cumn, q)
    elif impl == "numba-prange":
        benchmark(numba_peers.sweep_many_parallel, px, cum, cumn, q)
    else:
        benchmark(numpy_sweep_many, *_prefix(book), q)
