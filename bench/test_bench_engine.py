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
