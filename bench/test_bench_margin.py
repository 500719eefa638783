"""Margin math: liqcore vs a vectorized NumPy baseline of the same function on the same data.

    .venv/bin/python -m pytest bench/test_bench_margin.py --benchmark-only            # all sizes
    .venv/bin/python -m pytest bench/test_bench_margin.py --benchmark-only -m "not slow"  # no 1e7

Each case first asserts that both give the same results (allclose), then times both; the groups
pair them per function and size. liqcore runs twice: `threads=1` and the default (`threads=None`:
every core from 65,536 positions on), beside the same NumPy baseline. `test_copy_bandwidth` times
np.copyto on 1e7 doubles in the same run: the memory-bandwidth floor of a kernel is (bytes it must
read + write) / that bandwidth, and `test_first_touch_bandwidth` the rate at which a fresh
output array is first written (np.ones, 1e7). `test_numba_lp_bp_flat` (group "numba: ...",
skipped without numba) times liquidation + bankruptcy prices at 1e7 beside Numba peers (bench/numba_peers.py), and
`test_numba_lp_bp_flat_out` (group "numba out=: ...") the same with every implementation writing
into preallocated output arrays reused across calls (liqcore's `out=`, Numba's `*_into`), so no
call pays the first touch of fresh output memory:

    .venv/bin/python -m pytest bench/test_bench_margin.py -k "numba or bandwidth" --benchmark-only
"""

from __future__ import annotations

from typing import Any, Callable

import liqcore as lq
import numpy as np
import pytest

SIZES = [10**3, 10**4, 10**5, 10**6, pytest.param(10**7, marks=pytest.mark.slow)]
FLOORS = np.array([0, 50_000, 250_000, 1_000_000, 10_000_000], dtype=float)
RATES = np.array([0.004, 0.005, 0.01, 0.025, 0.05])
TIERS = lq.MarginTiers(FLOORS, RATES)
CUM = TIERS.cum
MMR = 0.005
MARK = 60_000.0


def _data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    q = rng.choice([-1.0, 1.0], n) * 10 ** rng.uniform(-3, 2, n)  # BTC, notional ~60 .. 6M
    ep = MARK * np.exp(rng.normal(0, 0.05, n))
    m = np.abs(q) * ep / rng.uniform(2, 100, n)
    return q, ep, m


# ---- NumPy baselines (linear contracts) -------------------------------------------------------


def np_lp_flat(q: np.ndarray, ep: np.ndarray, m: np.ndarray, mmr: float) -> np.ndarray:
    lp = (m - q * ep) / (np.abs(q) * mmr - q)
    lp = np.maximum(lp, 0.0)
    return np.where(q == 0, np.nan, lp)


def np_lp_tiers(q: np.ndarray, ep: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Solve each tier's closed form, keep the one whose notional lies in that tier."""
    aq = np.abs(q)
    out = np.zeros_like(q)
    for k in range(len(FLOORS)):
        lp = np.maximum((m + CUM[k] - q * ep) / (aq * RATES[k] - q), 0.0)
        n = aq * lp
        hi = FLOORS[k + 1] if k + 1 < len(FLOORS) else np.inf
        inside = (n >= FLOORS[k]) & (n < hi)
        out = np.where(inside, lp, out)
    return np.where(q == 0, np.nan, out)


def np_equity(q: np.ndarray, ep: np.ndarray, m: np.ndarray, mark: float) -> np.ndarray:
    return m + q * (mark - ep)


def np_mm_tiers(q: np.ndarray, mark: float) -> np.ndarray:
    n = np.abs(q) * mark
    k = np.searchsorted(FLOORS, n, side="right") - 1
    return n * RATES[k] - CUM[k]


CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "liquidation_price_flat": (
        lambda q, ep, m, **kw: lq.liquidation_price(q, ep, m, MMR, **kw),
        lambda q, ep, m: np_lp_flat(q, ep, m, MMR),
    ),
    "liquidation_price_tiers": (
        lambda q, ep, m, **kw: lq.liquidation_price(q, ep, m, tiers=TIERS, **kw),
        np_lp_tiers,
    ),
    "equity": (
        lambda q, ep, m, **kw: lq.equity(q, ep, m, MARK, **kw),
        lambda q, ep, m: np_equity(q, ep, m, MARK),
    ),
    "maintenance_margin_tiers": (
        lambda q, ep, m, **kw: lq.maintenance_margin(q, MARK, tiers=TIERS, **kw),
        lambda q, ep, m: np_mm_tiers(q, MARK),
    ),
}
# arrays each kernel must read + write (8 bytes each): scalars (mark, mmr) cost nothing
BYTES_PER_POSITION = {
    "liquidation_price_flat": 32,
    "liquidation_price_tiers": 32,
    "equity": 32,
    "maintenance_margin_tiers": 16,
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", ["liqcore-1thread", "liqcore", "numpy"])
def test_margin(benchmark: Any, case: str, impl: str, n: int) -> None:
    q, ep, m = _data(n)
    ours, theirs = CASES[case]
    a, b = ours(q, ep, m), theirs(q, ep, m)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    benchmark.group = f"{case} n={n:.0e}"
    benchmark.extra_info.update(n=n, bytes_per_position=BYTES_PER_POSITION[case])
    if impl == "numpy":
        benchmark(theirs, q, ep, m)
    elif impl == "liqcore":
        benchmark(ours, q, ep, m)  # threads=None: every core from 65,536 positions on
    else:
        benchmark(lambda *x: ours(*x, threads=1), q, ep, m)


def test_copy_bandwidth(benchmark: Any) -> None:
    n = 10**7
    src = np.random.default_rng(0).random(n)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in before timing
    benchmark.group = "copy bandwidth"
    benchmark.extra_info.update(n=n, bytes=16 * n)
    benchmark(np.copyto, dst, src)
    assert np.array_equal(dst, src)


def test_first_touch_bandwidth(benchmark: Any) -> None:
    """np.ones of 1e7 doubles: a fresh 80 MB block (NumPy maps it and advises huge pages, as for
    any output array it allocates) written once: the rate at which a function returning a new
    array can fill it. The floor of a call with fresh outputs counts its outputs at this rate
    and its inputs at the copy bandwidth's."""
    n = 10**7
    benchmark.group = "first-touch bandwidth"
    benchmark.extra_info.update(n=n, bytes=8 * n)
    out = benchmark(np.ones, n)
    assert out.shape == (n,) and out[-1] == 1.0


# ---- Numba peers (bench/numba_peers.py): liquidation + bankruptcy prices, flat mmr, 1e7 ---------
# liqcore: two calls (liquidation_price, bankruptcy_price); NumPy: the two vectorized formulas;
# Numba: the one fused loop a user would write (3 arrays in, 2 out), plain @njit (one thread) and
# @njit(parallel=True) with prange (Numba's default thread count, every core).

N_NUMBA = 10**7


def np_bp(q: np.ndarray, ep: np.ndarray, m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.maximum(ep - m / q, 0.0)
    return np.where(q == 0, np.nan, bp)


def _lq_lp_bp(q: np.ndarray, ep: np.ndarray, m: np.ndarray, threads: Any = None) -> Any:
    return (
        lq.liquidation_price(q, ep, m, MMR, threads=threads),
        lq.bankruptcy_price(q, ep, m, threads=threads),
    )


@pytest.fixture(scope="module")
def numba_peers() -> Any:
    pytest.importorskip("numba")
    import numba_peers as nbp

    nbp.warm_up()
    return nbp


@pytest.fixture(scope="module")
def data_1e7() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _data(N_NUMBA)


@pytest.mark.parametrize(
    "impl", ["liqcore-1thread", "numba-1thread", "liqcore", "numba-prange", "numpy"]
)
def test_numba_lp_bp_flat(benchmark: Any, numba_peers: Any, data_1e7: Any, impl: str) -> None:
    q, ep, m = data_1e7
    fns: dict[str, Callable[..., Any]] = {
        "liqcore-1thread": lambda q, ep, m: _lq_lp_bp(q, ep, m, threads=1),
        "liqcore": _lq_lp_bp,
        "numpy": lambda q, ep, m: (np_lp_flat(q, ep, m, MMR), np_bp(q, ep, m)),
        "numba-1thread": lambda q, ep, m: numba_peers.margin_flat(q, ep, m, MMR),
        "numba-prange": lambda q, ep, m: numba_peers.margin_flat_parallel(q, ep, m, MMR),
    }
    want = _lq_lp_bp(q, ep, m, threads=1)
    got = fns[impl](q, ep, m)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    benchmark.group = f"numba: liquidation_price + bankruptcy_price flat n={N_NUMBA:.0e}"
    benchmark.extra_info.update(n=N_NUMBA, bytes_per_position=40)
    benchmark(fns[impl], q, ep, m)


# ---- the same with preallocated outputs, reused across calls (liqcore's out=, Numba's *_into):
# no call allocates or first-touches its outputs, for either implementation. Floors: liqcore
# 64 B per position (two calls, 2 x (24 in + 8 out)), the fused Numba loop 40 B (24 in + 16 out).

OUT_IMPLS = ["liqcore-1thread", "numba-1thread", "liqcore", "numba-prange"]


def _lq_lp_bp_into(q: np.ndarray, ep: np.ndarray, m: np.ndarray, lp: np.ndarray, bp: np.ndarray,
                   threads: Any = None) -> Any:
    return (
        lq.liquidation_price(q, ep, m, MMR, threads=threads, out=lp),
        lq.bankruptcy_price(q, ep, m, threads=threads, out=bp),
    )


@pytest.mark.parametrize("impl", OUT_IMPLS)
def test_numba_lp_bp_flat_out(benchmark: Any, numba_peers: Any, data_1e7: Any, impl: str) -> None:
    q, ep, m = data_1e7
    lp, bp = np.empty(N_NUMBA), np.empty(N_NUMBA)
    fns: dict[str, Callable[..., Any]] = {
        "liqcore-1thread": lambda: _lq_lp_bp_into(q, ep, m, lp, bp, threads=1),
        "liqcore": lambda: _lq_lp_bp_into(q, ep, m, lp, bp),
        "numba-1thread": lambda: numba_peers.margin_flat_into(q, ep, m, MMR, lp, bp),
        "numba-prange": lambda: numba_peers.margin_flat_parallel_into(q, ep, m, MMR, lp, bp),
    }
    fns[impl]()  # also faults the buffers' pages in before timing
    want = _lq_lp_bp(q, ep, m, threads=1)
    for a, b in zip((lp, bp), want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    benchmark.group = f"numba out=: liquidation_price + bankruptcy_price flat n={N_NUMBA:.0e}"
    benchmark.extra_info.update(n=N_NUMBA,
                                bytes_per_position=64 if impl.startswith("liqcore") else 40)
    benchmark(fns[impl])
