"""Cascade benchmark: simulate_cascade beside a NumPy peer and a Numba peer on the same market.

Run: .venv/bin/python -m pytest bench/test_bench_cascade.py --benchmark-only

Market: the Binance USD-M BTCUSDT book of 2024-08-08 (every depth diff of ../shared/data
replayed, ~5,000 levels a side; a synthetic BTC-like book without that folder) and ~9e5 isolated
positions with $2B of open interest (bench/market_data.py). Shocks: -1% and -2% (cascades of a
few rounds that stay inside the book) and -5% (the cascade runs through the bid side, down to the
price band: the rest becomes the fund's inventory, carried from round to round and sold as the
band follows the mark down; what is left at the end is valued at the band edge).
The NumPy peer (bench/cascade_numpy.py) rescans the whole population every round and fills
from cumulative sums; the Numba peer (bench/numba_peers.py) sorts the liquidation prices once
and walks the book level by level. Results are checked against liqcore's before timing.
"""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest
from cascade_numpy import numpy_cascade
from market_data import btc_book, population

SHOCKS = [-0.01, -0.02, -0.05]


@pytest.fixture(scope="module")
def market():
    book = btc_book()
    mark = book.mid
    return population(900_000, mark, open_interest=2e9), book, mark


def _check_numpy(res, ref):
    np.testing.assert_allclose(res.marks, ref.marks[1:], rtol=1e-9)
    np.testing.assert_allclose(res.deficit, ref.deficit, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.fee, ref.fee, rtol=1e-6, atol=1e-6)
    assert res.n_liquidated == ref.liquidations
    assert res.inventory_loss == pytest.approx(ref.inventory_loss, rel=1e-6, abs=1e-6)
    assert res.bad_debt == pytest.approx(ref.loss, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("shock", SHOCKS)
def test_cascade_liqcore(benchmark, market, shock):
    pos, book, mark = market
    res = lq.simulate_cascade(pos, book, mark, shock)
    _check_numpy(res, numpy_cascade(pos, book, mark, shock))
    benchmark.extra_info.update(
        positions=len(pos), rounds=res.rounds, liquidations=res.n_liquidated, move=res.move
    )
    benchmark(lq.simulate_cascade, pos, book, mark, shock)


@pytest.mark.parametrize("shock", SHOCKS)
def test_cascade_numpy(benchmark, market, shock):
    pos, book, mark = market
    benchmark(numpy_cascade, pos, book, mark, shock)


# ---- Numba peer: the three implementations in one group per shock -----------------------------


@pytest.fixture(scope="module")
def numba_peers():
    pytest.importorskip("numba")
    import numba_peers as nbp

    nbp.warm_up()
    return nbp


def numba_cascade(nbp, pos, book, mark, shock):
    (bp, bq), (ap, aq) = book.bids, book.asks
    p = lq.Policy()
    return nbp.cascade(
        pos.size, pos.entry_price, pos.margin, bp, bq, ap, aq, mark, shock,
        p.mmr, p.fee_cap, p.price_band, 0.0,
    )  # fmt: skip


@pytest.mark.parametrize("impl", ["liqcore", "numba", "numpy"])
@pytest.mark.parametrize("shock", SHOCKS)
def test_numba_cascade(benchmark, market, numba_peers, shock, impl):
    pos, book, mark = market
    res = lq.simulate_cascade(pos, book, mark, shock)
    marks, rounds, liquidations, deficit, inv_loss, unabsorbed, fees, fund = numba_cascade(
        numba_peers, pos, book, mark, shock
    )
    np.testing.assert_allclose(res.marks, marks, rtol=1e-9)
    assert res.final_mark == pytest.approx(marks[-1], rel=1e-9)
    assert res.rounds == rounds
    assert res.n_liquidated == liquidations
    assert res.total_deficit == pytest.approx(deficit, rel=1e-6, abs=1e-6)
    assert res.inventory_loss == pytest.approx(inv_loss, rel=1e-6, abs=1e-6)
    assert res.unabsorbed == pytest.approx(unabsorbed, rel=1e-9, abs=1e-9)
    assert res.total_fees == pytest.approx(fees, rel=1e-6, abs=1e-6)
    assert res.insurance_fund == pytest.approx(fund, rel=1e-6, abs=1e-6)
    if impl == "numpy":
        _check_numpy(res, numpy_cascade(pos, book, mark, shock))
    benchmark.group = f"numba: cascade {shock:+.0%}"
    benchmark.extra_info.update(
        positions=len(pos), rounds=res.rounds, liquidations=res.n_liquidated, move=res.move
    )
    if impl == "liqcore":
        benchmark(lq.simulate_cascade, pos, book, mark, shock)
    elif impl == "numba":
        benchmark(numba_cascade, numba_peers, pos, book, mark, shock)
    else:
        benchmark(numpy_cascade, pos, book, mark, shock)
