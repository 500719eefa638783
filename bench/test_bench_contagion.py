"""Multi-market cascades: simulate_cascade_accounts beside a Python driver of the same rounds.

    .venv/bin/python -m pytest bench/test_bench_contagion.py --benchmark-only

8 linear markets, each a 5,000-level BTCUSDT-shaped ``synthetic_book`` at its own mark; A
accounts of 4 positions (70% long) with collateral 5–30% of gross notional; every market shocked
-4% (BTC, the first, -8%). The peer is ``reference_contagion`` of tests/test_contagion.py: the
same round loop in Python (book bookkeeping, marks, attribution) around one
``lq.liquidate_accounts`` call per round; results are checked equal first. The ratio is the cost
of driving the rounds from Python, not of the liquidations themselves (both run them in C++).
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
MARKS = np.array([60_000.0, 3_000.0, 150.0, 0.6, 25.0, 7.0, 0.15, 600.0])
MMR = np.array([0.005, 0.01, 0.02, 0.025, 0.02, 0.03, 0.05, 0.01])
SHOCKS = np.array([-0.08] + [-0.04] * (M - 1))


def data(accounts: int) -> tuple[lq.Portfolio, lq.Accounts, lq.Markets]:
    rng = np.random.default_rng(accounts + 2)
    n = accounts * PER_ACCOUNT
    account = np.repeat(np.arange(accounts, dtype=np.int64), PER_ACCOUNT)
    market = rng.integers(0, M, n)
    notional = rng.lognormal(8.0, 1.2, n)
    size = rng.choice([-1.0, 1.0], n, p=[0.3, 0.7]) * notional / MARKS[market]
    ep = MARKS[market] * rng.uniform(0.99, 1.01, n)
    gross = np.bincount(account, notional, accounts)
    coll = (gross * rng.uniform(0.05, 0.3, accounts)).reshape(-1, 1)
    books = [lq.synthetic_book(float(mid), seed=k) for k, mid in enumerate(MARKS)]
    mk = lq.Markets(MARKS, MMR, books=books)
    return lq.Portfolio(account, market, size, ep), lq.Accounts(coll, [1.0]), mk


@pytest.mark.parametrize("accounts", [1_000, 10_000])
@pytest.mark.parametrize("impl", ["liqcore", "python"])
def test_simulate_cascade_accounts(benchmark: Any, accounts: int, impl: str) -> None:
    pf, acc, mk = data(accounts)
    policy = lq.Policy()
    r = lq.simulate_cascade_accounts(pf, acc, mk, SHOCKS, policy, 1e6)
    benchmark.group = f"simulate_cascade_accounts accounts={accounts:.0e}"
    benchmark.extra_info.update(
        accounts=accounts,
        rounds=r.rounds,
        liquidated=int(r.accounts.liquidated.sum()),
        cross_market_deficit=float(r.contagion.sum() - np.trace(r.contagion)),
    )
    if impl == "python":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from test_contagion import reference_contagion

        a_round, _o, C, _u, marks, fund, _s = reference_contagion(
            pf, acc, mk, SHOCKS, policy, 1e6, 0.0, "last"
        )
        np.testing.assert_array_equal(a_round, r.accounts.round)
        np.testing.assert_allclose(C, r.contagion, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(marks, r.final_marks, rtol=1e-12)
        assert fund == pytest.approx(r.insurance_fund, rel=1e-9)
        benchmark.pedantic(
            reference_contagion,
            args=(pf, acc, mk, SHOCKS, policy, 1e6, 0.0, "last"),
            rounds=3,
            iterations=1,
        )
    else:
        benchmark(lq.simulate_cascade_accounts, pf, acc, mk, SHOCKS, policy, 1e6)
