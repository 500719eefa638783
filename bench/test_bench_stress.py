"""Stress-test benchmark: 1,000 scenarios x 100k positions on 1 and 2 threads, and a NumPy peer.

Run: .venv/bin/python -m pytest bench/test_bench_stress.py --benchmark-only --benchmark-columns=min,median,max,rounds

Market: the BTCUSDT book (bench/market_data.py) and ~1e5 positions with $200M of open interest.
Paths: the default jump-diffusion (1 day, 100 steps, sigma 4%/day, 0.1 jumps/day of mean -3%,
std 5%), no resilience: the calm workload (~10% of the positions liquidated per scenario). The
crash workload is the same with sigma 20%/day: ~58% of the positions liquidated per scenario, in
~40 rounds over the path, so its time is mostly liquidations (the issue's "crash population").
Every run is checked bit-identical across thread counts, and the kernel
equal to the NumPy peer (bench/cascade_numpy.py, which rescans the population every round of
every step) on a few user paths, before timing. extra_info holds position-scenarios per second.
"""

from __future__ import annotations

import resource
import time

import liqcore as lq
import numpy as np
import pytest
from cascade_numpy import numpy_stress
from liqcore.stress import SCENARIO_FIELDS
from market_data import btc_book, population

SCENARIOS = 1_000


@pytest.fixture(scope="module")
def market():
    book = btc_book()
    mark = book.mid
    return population(100_000, mark, open_interest=2e8), book, mark


#: The path model of each workload (stress_test keywords; the rest are its defaults).
WORKLOADS = {"calm": {}, "crash": {"sigma": 0.2}}


def run(market, threads, scenarios=SCENARIOS, workload="calm"):
    pos, book, mark = market
    return lq.stress_test(
        pos, book, mark, insurance_fund=1e6, scenarios=scenarios, seed=0, threads=threads,
        **WORKLOADS[workload],
    )


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_threads_agree(market, workload):
    a, b = run(market, 1, 64, workload), run(market, 2, 64, workload)
    for f in SCENARIO_FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_numpy_peer_agrees(market):
    pos, book, mark = market
    paths = mark * np.exp(np.cumsum(lq.stress_log_returns(3, 100, seed=0), axis=1))
    st = lq.stress_test(pos, book, mark, paths=paths)
    prev = np.concatenate((np.full((3, 1), mark), paths[:, :-1]), axis=1)
    ref = numpy_stress(pos, book, mark, paths / prev)
    np.testing.assert_allclose(st.deficit, [r[0] for r in ref], rtol=1e-6, atol=1e-3)
    np.testing.assert_array_equal(st.liquidations, [r[1] for r in ref])
    np.testing.assert_allclose(st.final_mark, [r[2] for r in ref], rtol=1e-9)


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("threads", [1, 2])
def test_stress_liqcore(benchmark, market, threads, workload):
    res = benchmark.pedantic(
        run, args=(market, threads), kwargs={"workload": workload}, rounds=3, iterations=1
    )
    t = benchmark.stats.stats.median
    n_liq = float(np.sum(res.liquidations))
    benchmark.extra_info.update(
        position_scenarios_per_s=len(market[0]) * SCENARIOS / t,
        mean_liquidations=n_liq / SCENARIOS,
        mean_rounds=float(np.mean(res.rounds)),
        ns_per_liquidation_per_thread=1e9 * t * threads / max(n_liq, 1.0),
    )


def test_stress_numpy_peer(benchmark, market):
    """The peer on 5 scenarios (its time per scenario x 1,000 compares with the kernel)."""
    pos, book, mark = market
    paths = mark * np.exp(np.cumsum(lq.stress_log_returns(5, 100, seed=0), axis=1))
    prev = np.concatenate((np.full((5, 1), mark), paths[:, :-1]), axis=1)
    benchmark.pedantic(numpy_stress, args=(pos, book, mark, paths / prev), rounds=3, iterations=1)


def test_speedup_two_threads(market):
    """Interleaved 1- and 2-thread runs; prints the wall-time speed-up and the CPU time of each
    (no assertion: the machine is shared, see BENCHMARKS.md)."""
    wall = {1: [], 2: []}
    cpu = {1: [], 2: []}
    for _ in range(3):
        for threads in (1, 2):
            r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            run(market, threads)
            r1, w = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t
            wall[threads].append(w)
            cpu[threads].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    w1, w2 = np.median(wall[1]), np.median(wall[2])
    c1, c2 = np.median(cpu[1]), np.median(cpu[2])
    n = len(market[0]) * SCENARIOS
    print(
        f"\nstress 1 thread {w1:.3f} s (cpu {c1:.3f} s), 2 threads {w2:.3f} s (cpu {c2:.3f} s): "
        f"wall speed-up {w1 / w2:.2f}x, cpu(2)/cpu(1) {c2 / c1:.3f}, "
        f"{n / c1:.3g} position-scenarios per cpu-second"
    )
