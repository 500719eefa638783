"""Cascade benchmark: simulate_cascade beside a NumPy peer on the same market.

Run: .venv/bin/python -m pytest bench/test_bench_cascade.py --benchmark-only --benchmark-columns=min,median,max,rounds

Market: the Binance USD-M BTCUSDT book of 2024-08-08 (every depth diff of ../shared/data
replayed, ~5,000 levels a side; a synthetic BTC-like book without that folder) and ~1e6 isolated
positions with $2B of open interest (bench/market_data.py). Shocks: -2% (a cascade of a few
rounds that stays inside the book) and -5% (the cascade runs through the bid side).
The NumPy peer (bench/cascade_numpy.py) rescans the whole population every round and fills
from cumulative sums; results are checked equal before timing.
"""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest
from cascade_numpy import numpy_cascade
from market_data import btc_book, population


@pytest.fixture(scope="module")
def market():
    book = btc_book()
    mark = book.mid
    return population(1_000_000, mark, open_interest=2e9), book, mark


@pytest.mark.parametrize("shock", [-0.02, -0.05])
def test_cascade_liqcore(benchmark, market, shock):
    pos, book, mark = market
    ref = numpy_cascade(pos, book, mark, shock)
    res = lq.simulate_cascade(pos, book, mark, shock)
    np.testing.assert_allclose(res.marks, ref.marks[1:], rtol=1e-9)
    np.testing.assert_allclose(res.deficit, ref.deficit, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.fee, ref.fee, rtol=1e-6, atol=1e-6)
    benchmark.extra_info.update(
        positions=len(pos), rounds=res.rounds, liquidations=res.n_liquidated, move=res.move
    )
    benchmark(lq.simulate_cascade, pos, book, mark, shock)


@pytest.mark.parametrize("shock", [-0.02, -0.05])
def test_cascade_numpy(benchmark, market, shock):
    pos, book, mark = market
    benchmark(numpy_cascade, pos, book, mark, shock)
