"""Live engine benchmark: Engine.on_mark and Engine.run_marks when nothing triggers, and the
replay of the recorded BTCUSDT feed.

Run: .venv/bin/python -m pytest bench/test_bench_engine.py --benchmark-only \
         --benchmark-columns=min,median,max,rounds

Market: ~1e6 isolated positions with $2B of open interest around the BTCUSDT mark
(bench/market_data.py) and the recorded book (synthetic without ../shared/data). The engine is
first fed the edges of a band of +-0.01% around the start mark, so that the positions
liquidatable there are gone; the benchmarked marks then stay inside the band, where no position
is liquidatable (E < MM is monotonic in the mark).
The NumPy peer of a mark is the full scan ``E < MM`` over every position (what an engine without
the sorted liquidation-price index must do); results are checked equal before timing.
AccountEngine: 1e5 cross-margin accounts, ~3e5 positions in 4 markets; its peer is one
vectorized ``lq.health`` pass per mark.
Replay: the whole Binance USD-M BTCUSDT recording (6,548 depth events) with 1e5 positions
(skipped without ../shared/data).
"""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest
from market_data import DATA, btc_book, population

N_MARKS = 1_000_000
CALLS = 10_000


@pytest.fixture(scope="module")
def engine():
    book = btc_book()
    mark = book.mid
    pos = population(1_000_000, mark, open_interest=2e9)
    eng = lq.Engine(pos, book, mark, insurance_fund=1e7)
    for p in (mark * (1.0 - 1e-4), mark * (1.0 + 1e-4), mark):  # the edges of the quiet band
        eng.on_mark(p)
    return eng, mark


def _quiet_marks(mark, n, seed=1):
    rng = np.random.default_rng(seed)
    return mark * (1.0 + rng.uniform(-1e-4, 1e-4, n))


def test_on_mark_nothing_triggers(benchmark, engine):
    eng, mark = engine
    marks = _quiet_marks(mark, CALLS).tolist()
    pos = eng.positions
    for p in (min(marks), max(marks)):  # the NumPy peer agrees: nothing is liquidatable
        e = lq.equity(pos.size, pos.entry_price, pos.margin, p)
        assert not (e < lq.maintenance_margin(pos.size, p)).any()

    def run():
        on_mark = eng.on_mark
        for p in marks:
            on_mark(p)

    benchmark.extra_info.update(positions=len(eng), calls=CALLS)
    benchmark(run)
    assert len(eng) == len(pos)


def test_on_mark_numpy_full_scan(benchmark, engine):
    eng, mark = engine
    pos = eng.positions

    def scan():
        e = lq.equity(pos.size, pos.entry_price, pos.margin, mark)
        return bool((e < lq.maintenance_margin(pos.size, mark)).any())

    assert benchmark(scan) is False


def test_run_marks_nothing_triggers(benchmark, engine):
    eng, mark = engine
    marks = _quiet_marks(mark, N_MARKS, seed=2)
    benchmark.extra_info.update(positions=len(eng), marks=N_MARKS)
    run = benchmark(eng.run_marks, marks)
    assert len(run) == 0


@pytest.mark.skipif(not DATA.exists(), reason="recorded BTCUSDT feed not present")
def test_replay_btcusdt(benchmark):
    book = lq.io.read_binance_depth(DATA)
    pos = population(100_000, book.mid, open_interest=2e8)
    r = lq.replay(DATA, pos, insurance_fund=1e6)
    benchmark.extra_info.update(positions=len(pos), events=r.events,
                                liquidations=int(r.n_liquidated.sum()))
    benchmark.pedantic(lq.replay, args=(DATA, pos), kwargs={"insurance_fund": 1e6},
                       rounds=3, iterations=1)


# ---- cross margin: AccountEngine.on_mark when nothing triggers ---------------------------------

N_ACCOUNTS = 100_000
ACCOUNT_MARKETS = 4


@pytest.fixture(scope="module")
def account_engine():
    """1e5 accounts, ~3e5 positions over 4 markets at mark 100 (each account's collateral
    50 to 500 quote, positions of up to 1 unit), takeover execution (no books needed)."""
    rng = np.random.default_rng(3)
    n = 3 * N_ACCOUNTS
    mk = lq.Markets([100.0] * ACCOUNT_MARKETS, mmr=0.01)
    acc = lq.Accounts(rng.uniform(50.0, 500.0, N_ACCOUNTS), [1.0])
    pf = lq.Portfolio(rng.integers(0, N_ACCOUNTS, n), rng.integers(0, ACCOUNT_MARKETS, n),
                      rng.uniform(-1.0, 1.0, n), rng.uniform(98.0, 102.0, n))
    eng = lq.AccountEngine(pf, acc, mk, policy=lq.Policy(execution="takeover"))
    return eng


def _quiet_account_marks(n, seed=4):
    rng = np.random.default_rng(seed)
    return (100.0 * (1.0 + rng.uniform(-5e-4, 5e-4, n))).tolist()


def test_account_engine_on_mark_nothing_triggers(benchmark, account_engine):
    eng = account_engine
    marks = _quiet_account_marks(CALLS)
    for p in (min(marks), max(marks)):  # the NumPy-vectorized peer agrees: nothing triggers
        h = lq.health(eng.portfolio, eng.accounts, eng.markets.with_marks([p] * ACCOUNT_MARKETS))
        assert not h.liquidatable.any()

    def run():
        on_mark = eng.on_mark
        for k, p in enumerate(marks):
            on_mark(k % ACCOUNT_MARKETS, p)

    benchmark.extra_info.update(accounts=N_ACCOUNTS, positions=len(eng), calls=CALLS)
    benchmark(run)
    assert eng.insurance_fund == 0.0


def test_account_engine_health_per_mark(benchmark, account_engine):
    """The peer: one vectorized health pass over every account per mark."""
    eng = account_engine
    pf, acc, mk = eng.portfolio, eng.accounts, eng.markets
    assert benchmark(lambda: bool(lq.health(pf, acc, mk).liquidatable.any())) is False
