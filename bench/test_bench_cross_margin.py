"""Cross margin: account health and account-wide liquidation beside NumPy / Python peers.

    .venv/bin/python -m pytest bench/test_bench_cross_margin.py --benchmark-only

Health: A accounts × 4 positions across 8 linear markets (flat mmr), 2 collateral assets with
haircuts; positions sorted by account (streamed) or shuffled (scattered). The NumPy peer computes
the same equity, maintenance, notional and liquidatable flag with fancy indexing and
``np.bincount``; results are checked equal (rtol 1e-9) before timing. ``test_copy_bandwidth``
times ``np.copyto`` of 1e7 doubles in the same run: the floor of ``health`` is the bytes it must
move (4 × 8 B per position; 2 × 8 B of collateral + 6 × 8 B + 1 B of outputs per account) divided
by that bandwidth.

Account-wide liquidation: 8 markets, each with a 5,000-level BTCUSDT-shaped ``synthetic_book``
at its own mid, marks 3% below the mids (a sell-off) so that some accounts are liquidatable; the
peer is the pure-Python reference of tests/test_account_liquidation.py (checked equal first).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import liqcore as lq
import numpy as np
import pytest

M = 8
PER_ACCOUNT = 4
MIDS = np.array([60_000.0, 3_000.0, 150.0, 0.6, 25.0, 7.0, 0.15, 600.0])
MMR = np.array([0.005, 0.01, 0.02, 0.025, 0.02, 0.03, 0.05, 0.01])


def health_data(accounts: int, layout: str) -> tuple[lq.Portfolio, lq.Accounts, lq.Markets]:
    rng = np.random.default_rng(accounts)
    n = accounts * PER_ACCOUNT
    account = np.repeat(np.arange(accounts, dtype=np.int64), PER_ACCOUNT)
    market = rng.integers(0, M, n)
    notional = rng.lognormal(7.0, 1.5, n)
    size = rng.choice([-1.0, 1.0], n) * notional / MIDS[market]
    ep = MIDS[market] * rng.uniform(0.9, 1.1, n)
    if layout == "shuffled":
        p = rng.permutation(n)
        account, market, size, ep = account[p], market[p], size[p], ep[p]
    coll = np.column_stack([rng.lognormal(6.0, 1.5, accounts), rng.lognormal(-3.0, 1.0, accounts)])
    acc = lq.Accounts(coll, [1.0, 3_000.0], [0.0, 0.2])
    mk = lq.Markets(MIDS, MMR)
    return lq.Portfolio(account, market, size, ep), acc, mk


def np_health(pf: lq.Portfolio, acc: lq.Accounts, mk: lq.Markets) -> tuple[Any, ...]:
    a, m, q, ep = pf.account, pf.market, pf.size, pf.entry_price
    P = mk.marks[m]
    nt = np.abs(q) * P
    c = acc.collateral
    cv = (c * acc.asset_prices * np.where(c > 0, 1.0 - acc.haircuts, 1.0)).sum(axis=1)
    A = c.shape[0]
    eq = cv + np.bincount(a, q * (P - ep), A)
    tm = np.bincount(a, nt * MMR[m], A)
    tn = np.bincount(a, nt, A)
    return eq, tm, tn, tm > eq


SIZES = [10_000, 100_000, 1_000_000]


@pytest.mark.parametrize("accounts", SIZES)
@pytest.mark.parametrize("layout", ["sorted", "shuffled"])
@pytest.mark.parametrize("impl", ["liqcore", "numpy"])
def test_health(benchmark: Any, accounts: int, layout: str, impl: str) -> None:
    pf, acc, mk = health_data(accounts, layout)
    h = lq.health(pf, acc, mk)
    eq, tm, tn, liq = np_health(pf, acc, mk)
    scale = float(np.abs(eq).max())
    np.testing.assert_allclose(h.equity, eq, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(h.maintenance, tm, rtol=1e-9)
    np.testing.assert_allclose(h.notional, tn, rtol=1e-9)
    assert np.mean(h.liquidatable == liq) > 0.999  # equal but for ties at the rounding level
    benchmark.group = f"health {layout} accounts={accounts:.0e}"
    benchmark.extra_info.update(
        accounts=accounts, positions=len(pf), bytes=accounts * (PER_ACCOUNT * 32 + 16 + 49)
    )
    if impl == "liqcore":
        benchmark(lq.health, pf, acc, mk)
    else:
        benchmark(np_health, pf, acc, mk)


def test_copy_bandwidth(benchmark: Any) -> None:
    n = 10**7
    src = np.random.default_rng(0).random(n)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in before timing
    benchmark.group = "copy bandwidth"
    benchmark.extra_info.update(n=n, bytes=16 * n)
    benchmark(np.copyto, dst, src)
    assert np.array_equal(dst, src)


# ---- account-wide liquidation on real-shaped books ----------------------------------------------


def liquidation_data(accounts: int) -> tuple[lq.Portfolio, lq.Accounts, lq.Markets]:
    rng = np.random.default_rng(accounts + 1)
    n = accounts * PER_ACCOUNT
    account = np.repeat(np.arange(accounts, dtype=np.int64), PER_ACCOUNT)
    market = rng.integers(0, M, n)
    notional = rng.lognormal(8.0, 1.2, n)
    size = rng.choice([-1.0, 1.0], n, p=[0.3, 0.7]) * notional / MIDS[market]
    ep = MIDS[market] * rng.uniform(0.97, 1.03, n)
    gross = np.bincount(account, notional, accounts)
    coll = (gross * rng.uniform(0.03, 0.3, accounts)).reshape(-1, 1)
    books = [lq.synthetic_book(float(mid), seed=k) for k, mid in enumerate(MIDS)]
    mk = lq.Markets(MIDS * 0.97, MMR, books=books)
    return lq.Portfolio(account, market, size, ep), lq.Accounts(coll, [1.0]), mk


@pytest.mark.parametrize("accounts", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("impl", ["liqcore", "python"])
def test_liquidate_accounts(benchmark: Any, accounts: int, impl: str) -> None:
    pf, acc, mk = liquidation_data(accounts)
    policy = lq.Policy()
    r = lq.liquidate_accounts(pf, acc, mk, policy=policy, insurance_fund=1e6)
    benchmark.group = f"liquidate_accounts accounts={accounts:.0e}"
    benchmark.extra_info.update(accounts=accounts, liquidated=r.n_accounts, closes=r.n_positions)
    if impl == "python":
        if accounts > 1_000:
            pytest.skip("the pure-Python reference is timed at 1e3 accounts only")
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from test_account_liquidation import ref_liquidate_accounts

        out, acc_out, fund, _ = ref_liquidate_accounts(pf, acc, mk, policy, 1e6)
        np.testing.assert_allclose(r.closed, out["closed"], rtol=1e-9)
        np.testing.assert_allclose(r.accounts.deficit, acc_out["deficit"], rtol=1e-9, atol=1e-6)
        assert r.insurance_fund == pytest.approx(fund, rel=1e-9)
        benchmark.pedantic(
            ref_liquidate_accounts, args=(pf, acc, mk, policy, 1e6), rounds=1, iterations=1
        )
    else:
        benchmark(lq.liquidate_accounts, pf, acc, mk, policy, 1e6)
