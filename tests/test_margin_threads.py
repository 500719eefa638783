"""Margin math on several threads: same bits and same error whatever `threads` is.

The kernels cut [0, n) into at most `threads` contiguous chunks of whole 256-position blocks
(n = 3000: chunks start every 1536 positions for 2 threads, 1024 for 3, 512 for 7), so the
inputs below span several chunk boundaries and end in a partial block.
"""

from __future__ import annotations

from typing import Any, Callable

import liqcore as lq
import numpy as np
import pytest

N = 3000
THREADS = [1, 2, 3, 7]
TIERS5 = lq.MarginTiers(
    [0, 50_000, 250_000, 1_000_000, 10_000_000], [0.004, 0.005, 0.01, 0.025, 0.05]
)
# more tiers than the kernels unroll (8): the one-pass-per-tier path
TIERS12 = lq.MarginTiers(
    np.concatenate([[0.0], np.geomspace(1e3, 1e9, 11)]), np.linspace(0.002, 0.2, 12)
)


def _positions(n: int, inverse: bool, seed: int = 7) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    q = rng.choice([-1.0, 1.0], n) * 10 ** rng.uniform(-4, 4, n)
    q[::97] = 0.0  # NaN prices
    ep = 60_000.0 * np.exp(rng.normal(0, 0.3, n))
    if inverse:
        q = np.round(q * 100)  # contracts
    notional = np.abs(q) * (100.0 / ep if inverse else ep)
    m = notional / rng.uniform(0.5, 125, n)  # some 1x-or-less: "never" prices 0 / +inf
    m[::89] = 0.0
    mark = ep * np.exp(rng.normal(0, 0.1, n))
    mmr = rng.uniform(0, 0.2, n)
    return q, ep, m, mark, mmr


Call = Callable[..., Any]
CASES: dict[str, Call] = {
    "equity": lambda q, ep, m, p, r, **kw: lq.equity(q, ep, m, p, **kw),
    "equity_scalar_mark": lambda q, ep, m, p, r, **kw: lq.equity(q, ep, m, 61_000.0, **kw),
    "mm_flat": lambda q, ep, m, p, r, **kw: lq.maintenance_margin(q, p, r, **kw),
    "mm_tiers5": lambda q, ep, m, p, r, **kw: lq.maintenance_margin(q, p, tiers=TIERS5, **kw),
    "mm_tiers12": lambda q, ep, m, p, r, **kw: lq.maintenance_margin(q, p, tiers=TIERS12, **kw),
    "bankruptcy": lambda q, ep, m, p, r, **kw: lq.bankruptcy_price(q, ep, m, **kw),
    "lp_flat": lambda q, ep, m, p, r, **kw: lq.liquidation_price(q, ep, m, r, **kw),
    "lp_flat_entry": lambda q, ep, m, p, r, **kw: lq.liquidation_price(
        q, ep, m, r, mm_at_entry=True, **kw
    ),
    "lp_tiers5": lambda q, ep, m, p, r, **kw: lq.liquidation_price(q, ep, m, tiers=TIERS5, **kw),
    "lp_tiers12": lambda q, ep, m, p, r, **kw: lq.liquidation_price(q, ep, m, tiers=TIERS12, **kw),
    "lp_tiers5_entry": lambda q, ep, m, p, r, **kw: lq.liquidation_price(
        q, ep, m, tiers=TIERS5, mm_at_entry=True, **kw
    ),
    "ratio_flat": lambda q, ep, m, p, r, **kw: lq.margin_ratio(q, ep, m, p, r, **kw),
    "ratio_tiers5": lambda q, ep, m, p, r, **kw: lq.margin_ratio(q, ep, m, p, tiers=TIERS5, **kw),
}


def _bits(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


@pytest.mark.parametrize("contract", ["linear", "inverse"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_bits_for_every_thread_count(case: str, contract: str) -> None:
    inverse = contract == "inverse"
    args = _positions(N, inverse)
    kw: dict[str, Any] = {"contract": contract, "contract_size": 100.0} if inverse else {}
    one = CASES[case](*args, threads=1, **kw)
    assert one.shape == (N,)
    for t in THREADS[1:] + [None]:
        np.testing.assert_array_equal(_bits(CASES[case](*args, threads=t, **kw)), _bits(one))
    # and the same bits as the scalar path, element by element, around the chunk edges
    for i in (0, 511, 512, 1023, 1024, 1535, 1536, N - 1):
        scalars = tuple(float(a[i]) for a in args)
        assert _bits(CASES[case](*scalars, threads=7, **kw)) == _bits(one[i])


def test_same_bits_auto_threads_on_a_large_input() -> None:
    # from 65,536 positions on, threads=None uses every core
    n = 70_001
    args = _positions(n, False, seed=3)
    for case in ("lp_tiers5", "lp_flat", "mm_tiers5", "ratio_tiers5"):
        np.testing.assert_array_equal(
            _bits(CASES[case](*args, threads=None)), _bits(CASES[case](*args, threads=1))
        )


@pytest.mark.parametrize("threads", THREADS + [None])
def test_first_bad_index_whatever_the_thread_count(threads: int | None) -> None:
    q, ep, m, p, r = _positions(N, False)
    # bad values in several chunks: the first in index order must win
    bad_ep = ep.copy()
    bad_ep[[2999, 1100, 2100]] = -1.0
    with pytest.raises(ValueError, match=r"^entry_price\[1100\] must be finite and > 0 \(got -1\)"):
        lq.liquidation_price(q, bad_ep, m, tiers=TIERS5, threads=threads)
    # two arguments bad: argument order first (size before entry_price), then index
    bad_q = q.copy()
    bad_q[[2600, 700]] = np.nan
    bad_ep2 = ep.copy()
    bad_ep2[5] = 0.0
    for f in (
        lambda: lq.liquidation_price(bad_q, bad_ep2, m, r, threads=threads),
        lambda: lq.equity(bad_q, bad_ep2, m, p, threads=threads),
        lambda: lq.margin_ratio(bad_q, bad_ep2, m, p, tiers=TIERS5, threads=threads),
        lambda: lq.bankruptcy_price(bad_q, bad_ep2, m, threads=threads),
    ):
        with pytest.raises(ValueError, match=r"^size\[700\] must be finite \(got nan\)$"):
            f()
    bad_r = r.copy()
    bad_r[[1600, 513]] = 1.5
    msg = r"^mmr\[513\] must be finite and >= 0 and <= 1 \(got 1.5\)$"
    with pytest.raises(ValueError, match=msg):
        lq.maintenance_margin(q, p, bad_r, threads=threads)


ARITY = {
    "equity": 4,
    "maintenance_margin": 2,
    "bankruptcy_price": 3,
    "liquidation_price": 3,
    "margin_ratio": 4,
}


@pytest.mark.parametrize("func", list(ARITY))
def test_threads_validation(func: str) -> None:
    f = getattr(lq, func)
    pos = [1.0, 100.0, 10.0, 100.0][: ARITY[func]]
    for bad in (0, -1, np.int64(-3)):
        msg = rf"^threads must be a positive int or None \(got {int(bad)}\)$"
        with pytest.raises(ValueError, match=msg):
            f(*pos, threads=bad)
    for bad in (1.5, "2", True, [2]):
        with pytest.raises(TypeError, match=r"^threads must be a positive int or None \(got "):
            f(*pos, threads=bad)
    assert f(*pos, threads=np.int32(2)) == f(*pos, threads=1) == f(*pos)
