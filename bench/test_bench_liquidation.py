"""Liquidation benchmark: liqcore.liquidate beside a vectorized NumPy peer on the same data.

Run:
    .venv/bin/python -m pytest bench/test_bench_liquidation.py --benchmark-only

Book: the Binance USD-M BTCUSDT book of 2024-08-08 after replaying every depth diff of
../shared/data (about 5,000 levels a side); without that folder a synthetic book stands in.
Positions: 1e6 isolated linear positions around the mid (half long, half short; notional
log-normal, median $500; leverage log-normal, median 15x, 2x-100x; entries log-normal around the
mid, 4% dispersion), so that about 10% are liquidatable at the mark = the book's mid (about
$100M of notional, half on each side of the book).
Policy: ``Policy()`` (flat 0.5% maintenance, most underwater first, full closes through the book,
fee capped at 1.5% of fill notional, no residual allocation); fund $1M. Single thread.

The NumPy peer computes the same thing without a per-liquidation loop: vectorized detection,
argsort ordering, sequential book consumption as cumulative order quantity mapped onto the
book's prefix sums (searchsorted + interpolation), and the fund as a Lindley recursion through
cumsum / minimum.accumulate. Both return the per-liquidation results in liquidation order
(liqcore expands them to per-position arrays on first access), checked equal before timing.
`test_numba_liquidate` (skipped without numba) adds a Numba peer (bench/numba_peers.py: detection
loop, argsort, level-by-level walk) in one group with both: `-k numba`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import liqcore as lq
import numpy as np
import pytest

DATA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "binance_usdm_btcusdt_20240808.jsonl.gz"
)
if not DATA.exists():
    DATA = Path("/work/shared/data/binance_usdm_btcusdt_20240808.jsonl.gz")

N = 1_000_000
FUND = 1e6
POLICY = lq.Policy()


@pytest.fixture(scope="module")
def book() -> lq.Book:
    if DATA.exists():
        from liqcore.io import read_binance_depth

        return read_binance_depth(DATA)
    return lq.synthetic_book(60_000.0, levels=5_000, seed=0)


def make_positions(mid: float, n: int = N, seed: int = 7) -> lq.Positions:
    rng = np.random.default_rng(seed)
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    notional = np.clip(rng.lognormal(np.log(500.0), 1.2, n), 10.0, 5e6)
    lev = np.clip(rng.lognormal(np.log(15.0), 0.6, n), 2.0, 100.0)
    entry = mid * rng.lognormal(0.0, 0.04, n)
    return lq.Positions(side * notional / entry, entry, notional / lev)


@pytest.fixture(scope="module")
def market(book: lq.Book) -> tuple[lq.Positions, lq.Book, float]:
    mark = book.mid
    return make_positions(mark), book, mark


# ---- the NumPy peer ------------------------------------------------------------------------


def numpy_liquidate(
    q: Any, ep: Any, m: Any, bids: Any, asks: Any, P: float, mmr: float, fee_cap: float, fund: float
) -> dict[str, Any]:
    E = m + q * (P - ep)
    notional = np.abs(q) * P
    MM = notional * mmr
    idx = np.flatnonzero((q != 0) & (E < MM))
    key = (MM[idx] - E[idx]) / notional[idx]
    order = idx[np.lexsort((idx, -notional[idx], -key))]
    qo, epo, mo, Eo = q[order], ep[order], m[order], E[order]
    s = np.sign(qo)
    Q = np.abs(qo)
    fill_n = np.empty(order.shape[0])
    filled = np.empty(order.shape[0])
    consumed = {}
    for sign, (px, qty) in ((1.0, bids), (-1.0, asks)):
        sel = s == sign
        Qs = Q[sel]
        cq = np.concatenate(([0.0], np.cumsum(qty)))
        cn = np.concatenate(([0.0], np.cumsum(qty * px)))
        tot = cq[-1]
        x1 = np.minimum(np.cumsum(Qs), tot)
        x0 = np.minimum(np.concatenate(([0.0], np.cumsum(Qs)[:-1])), tot)

        def notional_at(x: Any, px: Any = px, cq: Any = cq, cn: Any = cn) -> Any:
            if px.shape[0] == 0:
                return np.zeros_like(x)
            j = np.minimum(np.searchsorted(cq, x, side="right") - 1, px.shape[0] - 1)
            return cn[j] + (x - cq[j]) * px[j]

        filled[sel] = x1 - x0
        fill_n[sel] = notional_at(x1) - notional_at(x0)
        consumed[sign] = x1[-1] if x1.shape[0] else 0.0
    bp = np.maximum(epo - mo / qo, 0.0)
    fallback = Q - filled
    gain = s * (fill_n - P * filled) + s * fallback * (bp - P)
    with np.errstate(invalid="ignore"):
        vwap = (fill_n + fallback * bp) / Q
    after = Eo + gain
    deficit = np.maximum(-after, 0.0)
    surplus = np.maximum(after, 0.0)
    fee = np.minimum(surplus, fee_cap * fill_n)
    cost = s * fallback * (bp - P)  # the fund's takeover loss at the mark
    loss = deficit + np.maximum(cost, 0.0)
    income = fee + np.maximum(-cost, 0.0)
    # Lindley: W_k = max(W_{k-1} + income_k - loss_k, 0), W_0 = fund (reserve 0)
    S = fund + np.cumsum(income - loss)
    W = S - np.minimum(0.0, np.minimum.accumulate(S))
    prev = np.concatenate(([fund], W[:-1]))
    draw = prev + income - W
    return {
        "order": order,
        "closed": Q,
        "vwap": vwap,
        "deficit": deficit,
        "surplus": surplus,
        "fee": fee,
        "insurance_draw": draw,
        "shortfall": loss - draw,
        "fund_after": W[-1] if W.shape[0] else fund,
        "consumed": consumed,
    }


def kernel(pos: lq.Positions, book: lq.Book, mark: float) -> lq.LiquidationResult:
    return lq.liquidate(pos, book, mark, POLICY, FUND)


def peer(pos: lq.Positions, book: lq.Book, mark: float) -> dict[str, Any]:
    return numpy_liquidate(
        pos.size, pos.entry_price, pos.margin, book.bids, book.asks, mark, 0.005, 0.015, FUND
    )


def test_results_agree(market: tuple[lq.Positions, lq.Book, float]) -> None:
    pos, book, mark = market
    res, ref = kernel(pos, book, mark), peer(pos, book, mark)
    frac = res.n_liquidated / len(pos)
    assert 0.05 < frac < 0.2, frac
    scale = float(np.sum(np.abs(pos.size[res.liquidated]) * mark))
    tol = {"rtol": 1e-9, "atol": 1e-12 * scale}
    got = res.liquidations
    np.testing.assert_array_equal(got.position, ref["order"])
    np.testing.assert_allclose(got.closed, ref["closed"], **tol)
    np.testing.assert_allclose(got.vwap, ref["vwap"], rtol=1e-9)
    for name in ("deficit", "surplus", "fee", "shortfall", "insurance_draw"):
        np.testing.assert_allclose(getattr(got, name), ref[name], **tol, err_msg=name)
    assert res.insurance_fund == pytest.approx(ref["fund_after"], rel=1e-9, abs=1e-12 * scale)
    assert abs(res.ledger.balance) <= 1e-9 * scale
    for side, (_, qty) in (("bid", book.bids), ("ask", book.asks)):
        left = res.book.bids if side == "bid" else res.book.asks
        consumed = ref["consumed"][1.0 if side == "bid" else -1.0]
        assert qty.sum() - left[1].sum() == pytest.approx(consumed, rel=1e-9)


@pytest.mark.benchmark(group="liquidate 1e6 positions")
def test_bench_liqcore(benchmark: Any, market: tuple[lq.Positions, lq.Book, float]) -> None:
    pos, book, mark = market
    res = benchmark(kernel, pos, book, mark)
    assert res.n_liquidated > 0


@pytest.mark.benchmark(group="liquidate 1e6 positions")
def test_bench_numpy_peer(benchmark: Any, market: tuple[lq.Positions, lq.Book, float]) -> None:
    pos, book, mark = market
    out = benchmark(peer, pos, book, mark)
    assert out["closed"].shape[0] > 0


# ---- Numba peer (bench/numba_peers.py): detection loop, argsort, level-by-level walk ----------


@pytest.fixture(scope="module")
def numba_peers() -> Any:
    pytest.importorskip("numba")
    import numba_peers as nbp

    nbp.warm_up()
    return nbp


def numba_peer(nbp: Any, pos: lq.Positions, book: lq.Book, mark: float) -> Any:
    (bp, bq), (ap, aq) = book.bids, book.asks
    return nbp.liquidate(
        pos.size, pos.entry_price, pos.margin, bp, bq, ap, aq, mark,
        POLICY.mmr, POLICY.fee_cap, POLICY.price_band, FUND,
    )  # fmt: skip


@pytest.mark.parametrize("impl", ["liqcore", "numba", "numpy"])
def test_numba_liquidate(
    benchmark: Any, numba_peers: Any, market: tuple[lq.Positions, lq.Book, float], impl: str
) -> None:
    pos, book, mark = market
    res = kernel(pos, book, mark)
    order, closed, vwap, deficit, surplus, fee, draw, shortfall, fund, fallback = numba_peer(
        numba_peers, pos, book, mark
    )
    # the deep real book takes every close: no fallback, no inventory (both engines)
    assert fallback == 0.0
    assert not np.any(res.liquidations.fallback_closed)
    assert res.unabsorbed == 0.0
    scale = float(np.sum(np.abs(pos.size[res.liquidated]) * mark))
    tol = {"rtol": 1e-9, "atol": 1e-12 * scale}
    got = res.liquidations
    np.testing.assert_array_equal(got.position, order)
    np.testing.assert_allclose(got.closed, closed, **tol)
    np.testing.assert_allclose(got.vwap, vwap, rtol=1e-9)
    for name, want in (
        ("deficit", deficit), ("surplus", surplus), ("fee", fee),
        ("insurance_draw", draw), ("shortfall", shortfall),
    ):  # fmt: skip
        np.testing.assert_allclose(getattr(got, name), want, **tol, err_msg=name)
    assert res.insurance_fund == pytest.approx(fund, rel=1e-9, abs=1e-12 * scale)
    benchmark.group = "numba: liquidate 1e6 positions"
    benchmark.extra_info.update(positions=len(pos), liquidated=res.n_liquidated)
    if impl == "liqcore":
        benchmark(kernel, pos, book, mark)
    elif impl == "numba":
        benchmark(numba_peer, numba_peers, pos, book, mark)
    else:
        benchmark(peer, pos, book, mark)
