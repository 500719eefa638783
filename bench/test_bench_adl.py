"""ADL allocators vs NumPy baselines on the same data (1e3 .. 1e6 counterparties).

    .venv/bin/python -m pytest bench/test_bench_adl.py --benchmark-only

Each baseline computes the same allocation with vectorized NumPy; results are checked equal
(to rounding: the kernels use compensated sums) before timing.
"""

from __future__ import annotations

import numpy as np
import pytest

import liqcore as lq

SIZES = [1_000, 10_000, 100_000, 1_000_000]


def data(n):
    rng = np.random.default_rng(n)
    cap = rng.lognormal(0.0, 1.5, n)
    scores = rng.normal(size=n)
    caps = rng.uniform(0.05, 1.0, n)
    return cap, scores, caps


def np_queue(cap, scores, amount):
    order = np.lexsort((np.arange(len(cap)), -scores))  # score descending, index ascending
    c = cap[order]
    before = np.cumsum(c) - c
    taken = np.empty_like(cap)
    taken[order] = np.clip(amount - before, 0.0, c)
    return taken


def np_pro_rata(cap, amount):
    total = cap.sum()
    return min(1.0, amount / total) * cap if total > 0 else np.zeros_like(cap)


def np_capped(cap, caps, amount):
    order = np.argsort(caps, kind="stable")
    c, q = caps[order], cap[order]
    given = np.concatenate(([0.0], np.cumsum(c * q)))[:-1]  # saturated before breakpoint k
    slope = np.cumsum(q[::-1])[::-1]                      # still filling from k on
    k = int(np.searchsorted(given + c * slope, amount))
    if k >= len(c):
        return caps * cap
    eta = (amount - given[k]) / slope[k]
    return np.minimum(eta, caps) * cap


def check(a, b, amount):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * amount)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["liqcore", "numpy"])
def test_queue(benchmark, n, impl):
    cap, scores, _ = data(n)
    amount = 0.3 * cap.sum()
    check(lq.adl.queue(cap, scores, amount), np_queue(cap, scores, amount), amount)
    benchmark.group = f"queue n={n}"
    f = lq.adl.queue if impl == "liqcore" else np_queue
    benchmark(f, cap, scores, amount)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["liqcore", "numpy"])
def test_pro_rata(benchmark, n, impl):
    cap, _, _ = data(n)
    amount = 0.3 * cap.sum()
    check(lq.adl.pro_rata(cap, amount), np_pro_rata(cap, amount), amount)
    benchmark.group = f"pro_rata n={n}"
    f = lq.adl.pro_rata if impl == "liqcore" else np_pro_rata
    benchmark(f, cap, amount)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["liqcore", "numpy"])
def test_capped_pro_rata(benchmark, n, impl):
    cap, _, caps = data(n)
    amount = 0.3 * (caps * cap).sum()  # some counterparties reach their cap: the sorting path
    check(lq.adl.capped_pro_rata(cap, caps, amount), np_capped(cap, caps, amount), amount)
    benchmark.group = f"capped_pro_rata n={n}"
    f = lq.adl.capped_pro_rata if impl == "liqcore" else np_capped
    benchmark(f, cap, caps, amount)
