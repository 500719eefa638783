"""simulate_cascade indexes only the positions near the shocked mark and widens that window when
the mark runs past it: cascades that cross several windows, on either side, against the
reference of test_cascade.py."""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest
from test_cascade import make_book, reference_cascade


def spread_out(n: int, mark: float, seed: int):
    """Positions whose liquidation prices spread from ~1% to ~90% away from the mark, and a thin
    book on both sides, so that a cascade walks through several index windows."""
    rng = np.random.default_rng(seed)
    size = rng.choice([-1.0, 1.0], n) * rng.lognormal(0.0, 0.5, n)
    entry = mark * np.exp(rng.normal(0.0, 0.01, n))
    lev = np.exp(rng.uniform(np.log(1.2), np.log(80.0), n))
    margin = np.abs(size) * entry / lev
    healthy = margin + size * (mark - entry) >= 0.005 * np.abs(size) * mark
    size, entry, margin = size[healthy], entry[healthy], margin[healthy]
    bids = [(mark * (1.0 - 0.004 * (k + 1)), 0.4) for k in range(150)]
    asks = [(mark * (1.0 + 0.004 * (k + 1)), 0.4) for k in range(150)]
    return size, entry, margin, bids, asks


@pytest.mark.parametrize("shock", [-0.03, 0.03, -0.3])
def test_cascade_across_index_windows(shock):
    mark = 60_000.0
    size, entry, margin, bids, asks = spread_out(300, mark, seed=7)
    res = lq.simulate_cascade(lq.Positions(size, entry, margin), make_book(bids, asks), mark, shock)
    marks, rnd, closed, deficit, fee, _ = reference_cascade(
        list(size), list(entry), list(margin), bids, asks, mark, shock
    )
    # the marks end far beyond the first window (1/64 of the shocked mark)
    assert abs(res.final_mark / res.shocked_mark - 1.0) > 0.1
    np.testing.assert_allclose(res.marks, marks, rtol=1e-12)
    np.testing.assert_array_equal(res.round, rnd)
    np.testing.assert_allclose(res.closed, closed, rtol=1e-12)
    np.testing.assert_allclose(res.deficit, deficit, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.fee, fee, rtol=1e-9, atol=1e-6)
    assert res.liquidated.sum() == np.count_nonzero(np.asarray(rnd) >= 1)


@pytest.mark.parametrize(
    "policy",
    [lq.Policy(), lq.Policy(tiers=[(0.0, 0.004), (5e4, 0.01), (2e5, 0.025)]),
     lq.Policy(contract="inverse", contract_size=100.0)],
    ids=["flat", "tiers", "inverse"],
)
def test_index_pass_same_bits_on_avx2_and_baseline(policy):
    # The index pass's block loop is compiled for the baseline and for AVX2 (the same IEEE
    # operations); both give the same cascade, bit for bit.
    from liqcore import _core

    forced = _core._kernel_isa() == "baseline"
    mark = 60_000.0
    size, entry, margin, bids, asks = spread_out(200_000, mark, seed=11)
    if policy.contract == "inverse":  # contracts of 100 quote: size in contracts, margin in base
        size, margin = size * mark / 100.0, margin / mark
    pos = lq.Positions(size, entry, margin)
    book = make_book(bids, asks)

    def run():
        r = lq.simulate_cascade(pos, book, mark, -0.3, policy)
        return (r.marks.tobytes(), r.round.tobytes(), r.closed.tobytes(),
                r.deficit.tobytes(), np.float64(r.bad_debt).tobytes())

    try:
        _core._kernel_isa(force_baseline=False)
        dispatched = run()
        _core._kernel_isa(force_baseline=True)
        assert run() == dispatched
    finally:
        _core._kernel_isa(force_baseline=forced)
    assert np.count_nonzero(np.frombuffer(dispatched[1], np.int64)) > 1_000
