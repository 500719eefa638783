"""ADL / socialized-loss allocators: pure-Python references, properties, published numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import liqcore as lq
from liqcore import _core

# ---- references (they define the semantics) -------------------------------------------------


def ref_queue(capacity, scores, amount):
    cap = [float(x) for x in capacity]
    taken = [0.0] * len(cap)
    if amount >= math.fsum(cap):
        return np.array(cap)
    remaining = float(amount)
    for i in sorted(range(len(cap)), key=lambda i: (-scores[i], i)):
        if remaining <= 0:
            break
        t = min(cap[i], remaining)
        taken[i] = t
        remaining -= t
    return np.array(taken)


def ref_pro_rata(capacity, amount):
    total = math.fsum(capacity)
    f = min(1.0, amount / total) if total > 0 else 0.0
    return f * np.asarray(capacity, dtype=float)


def ref_risk_aware(capacity, weights, caps, amount):
    """Weighted water-filling by bisection on eta: sum(min(eta*w, c)*cap) = amount."""
    cap, w, c = (np.asarray(x, dtype=float) for x in (capacity, weights, caps))
    live = w > 0

    def g(eta):
        return math.fsum((np.minimum(eta * w[live], c[live]) * cap[live]).tolist())

    if amount >= g(np.inf) or not live.any():
        return np.where(live, c * cap, 0.0)
    if amount == 0:
        return np.zeros(len(cap))
    lo, hi = 0.0, float(np.max(c[live] / w[live]))
    for _ in range(5000):  # until lo and hi are adjacent doubles
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if g(mid) < amount else (lo, mid)
    return np.where(live, np.minimum(hi * w, c) * cap, 0.0)


def ref_capped(capacity, caps, amount):
    return ref_risk_aware(capacity, np.ones(len(capacity)), caps, amount)


def ref_socialize(size, amount):
    oi = math.fsum(abs(float(q)) for q in size)
    if oi == 0:
        return np.zeros(len(size))
    return np.array([amount * (abs(q) / oi) for q in size])


def ref_rank(size, ep, m, mark, contract="linear", C=1.0):
    with np.errstate(all="ignore"):  # IEEE semantics, like the kernel (BP may be 0 or inf)
        return _ref_rank(size, ep, m, mark, contract, C)


def _ref_rank(size, ep, m, mark, contract, C):
    out = []
    for q, e, mm in zip(size, ep, m):
        if q == 0:
            out.append(-np.inf)
            continue
        if contract == "linear":
            pnl, entry_val, mark_val = q * (mark - e), abs(q) * e, abs(q) * mark
            bp = max(e - mm / q, 0.0)
            cushion = q * (mark - bp)
        else:
            pnl = q * C * (1 / e - 1 / mark)
            entry_val, mark_val = abs(q) * C / e, abs(q) * C / mark
            den = mm + q * C / e
            bp = q * C / den if (den > 0 if q > 0 else den < 0) else np.inf
            cushion = q * C * (1 / bp - 1 / mark)
        pct = pnl / entry_val
        lev = mark_val / cushion if cushion > 0 else np.inf
        out.append(pct * lev if pct > 0 else (pct / lev if pct < 0 else 0.0))
    return np.array(out)


def close(a, b, scale):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * scale)


# ---- strategies -----------------------------------------------------------------------------

mags = st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e9, 1e12])


@st.composite
def problems(draw, min_n=0, max_n=25):
    n = draw(st.integers(min_n, max_n))
    scale = draw(mags)
    unit = st.one_of(st.just(0.0), st.floats(0.0, 1.0), st.integers(0, 5).map(float))
    cap = np.array(draw(st.lists(unit, min_size=n, max_size=n))) * scale
    caps = np.array(draw(st.lists(st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1)), min_size=n, max_size=n)))
    weights = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 50), st.integers(1, 3).map(float)),
                                     min_size=n, max_size=n)))
    scores = np.array(draw(st.lists(st.integers(-3, 3).map(float), min_size=n, max_size=n)))
    frac = draw(st.one_of(st.just(0.0), st.floats(0.0, 1.5), st.just(1.0), st.just(10.0)))
    amount = frac * float(cap.sum())
    return cap, caps, weights, scores, amount


FAST = settings(max_examples=150, deadline=None)

# ---- agreement with the references -----------------------------------------------------------


@FAST
@given(problems())
def test_queue_matches_reference(p):
    cap, _, _, scores, amount = p
    close(lq.adl.queue(cap, scores, amount), ref_queue(cap, scores, amount), cap.sum() + amount)


@FAST
@given(problems())
def test_pro_rata_matches_reference(p):
    cap, _, _, _, amount = p
    close(lq.adl.pro_rata(cap, amount), ref_pro_rata(cap, amount), cap.sum() + amount)


@FAST
@given(problems())
def test_capped_matches_reference(p):
    cap, caps, _, _, amount = p
    close(lq.adl.capped_pro_rata(cap, caps, amount), ref_capped(cap, caps, amount), cap.sum() + amount)


@FAST
@given(problems())
def test_risk_aware_matches_reference(p):
    cap, caps, w, _, amount = p
    close(lq.adl.risk_aware(cap, w, caps, amount), ref_risk_aware(cap, w, caps, amount), cap.sum() + amount)


@FAST
@given(problems())
def test_socialize_matches_reference(p):
    cap, _, _, scores, amount = p
    size = cap * np.where(scores >= 0, 1.0, -1.0)
    close(lq.adl.socialize(size, amount), ref_socialize(size, amount), amount)


# ---- properties --------------------------------------------------------------------------


def allocations(cap, caps, w, scores, amount):
    """(name, taken, most that can be covered, per-counterparty limit) for every allocator."""
    live = w > 0
    return [
        ("queue", lq.adl.queue(cap, scores, amount), math.fsum(cap), cap),
        ("pro_rata", lq.adl.pro_rata(cap, amount), math.fsum(cap), cap),
        ("capped", lq.adl.capped_pro_rata(cap, caps, amount), math.fsum(caps * cap), caps * cap),
        ("risk_aware", lq.adl.risk_aware(cap, w, caps, amount), math.fsum((caps * cap)[live]),
         np.where(live, caps * cap, 0.0)),
    ]


@FAST
@given(problems())
def test_sum_rule_and_bounds(p):
    cap, caps, w, scores, amount = p
    for name, taken, most, limit in allocations(cap, caps, w, scores, amount):
        assert taken.dtype == np.float64 and taken.shape == cap.shape, name
        assert math.fsum(taken) == pytest.approx(min(amount, most), rel=1e-9, abs=1e-300), name
        assert np.all(taken >= 0), name
        assert np.all(taken <= limit * (1 + 1e-12)), name
        assert lq.adl.uncovered(amount, taken) == pytest.approx(max(0.0, amount - most), rel=1e-9,
                                                                abs=1e-9 * (amount + most)), name


@FAST
@given(problems(), st.floats(0, 1))
def test_monotone_in_amount(p, shrink):
    cap, caps, w, scores, amount = p
    more = allocations(cap, caps, w, scores, amount)
    less = allocations(cap, caps, w, scores, amount * shrink)
    for (name, hi, _, _), (_, lo, _, _) in zip(more, less):
        assert np.all(lo <= hi * (1 + 1e-12) + 1e-12 * amount), name


@FAST
@given(problems(min_n=1), st.randoms(use_true_random=False))
def test_permutation_equivariance(p, rnd):
    cap, caps, w, _, amount = p
    n = len(cap)
    scores = np.arange(n, dtype=float)
    rnd.shuffle(scores)  # distinct scores: no tie-breaking by index
    perm = np.array(rnd.sample(range(n), n))
    base = allocations(cap, caps, w, scores, amount)
    moved = allocations(cap[perm], caps[perm], w[perm], scores[perm], amount)
    for (name, a, _, _), (_, b, _, _) in zip(base, moved):
        close(b, a[perm], cap.sum() + amount)
        if name == "queue":
            np.testing.assert_array_equal(b, a[perm])


def test_queue_ties_go_to_lower_index():
    np.testing.assert_array_equal(lq.adl.queue([5, 5, 5], [1, 1, 1], 7), [5, 2, 0])
    np.testing.assert_array_equal(lq.adl.queue([5, 5, 5], [0, 1, 1], 7), [0, 5, 2])


def test_queue_accepts_minus_inf_scores_last():
    np.testing.assert_array_equal(lq.adl.queue([5, 5], [-np.inf, -1e300], 6), [1, 5])


def test_deterministic_bits():
    rng = np.random.default_rng(7)
    cap = rng.lognormal(size=2000)
    caps = rng.uniform(size=2000)
    w = rng.uniform(0, 20, size=2000)
    a = 0.3 * cap.sum()
    for f in (lambda: lq.adl.capped_pro_rata(cap, caps, a), lambda: lq.adl.risk_aware(cap, w, caps, a),
              lambda: lq.adl.queue(cap, w, a)):
        assert f().tobytes() == f().tobytes()


def test_capped_equals_risk_aware_with_equal_weights():
    rng = np.random.default_rng(1)
    cap, caps = rng.lognormal(size=500), rng.uniform(size=500)
    for frac in (0.01, 0.2, 0.5, 0.99):
        a = frac * float((caps * cap).sum())
        capped = lq.adl.capped_pro_rata(cap, caps, a)
        np.testing.assert_array_equal(capped, lq.adl.risk_aware(cap, np.ones(500), caps, a))
        np.testing.assert_allclose(capped, lq.adl.risk_aware(cap, np.full(500, 3.0), caps, a), rtol=1e-13)


# ---- published and hand-checked numbers --------------------------------------------------


def test_drift_socialized_loss():
    # docs/model.md §8: loss 100, OI 5 long + 5 short, empty IF -> 10 per unit; each position pays 50.
    charge = lq.adl.socialize([5.0, -5.0], 100.0)
    np.testing.assert_array_equal(charge, [50.0, 50.0])
    np.testing.assert_allclose(lq.adl.socialize([5.0, -5.0, 0.0, 1.0], 100.0), [500 / 11, 500 / 11, 0, 100 / 11],
                               rtol=1e-15)


def test_socialize_without_open_interest_leaves_residual():
    charge = lq.adl.socialize([0.0, 0.0], 100.0)
    np.testing.assert_array_equal(charge, [0.0, 0.0])
    assert lq.adl.uncovered(100.0, charge) == 100.0


def test_bitmex_adl_queue():
    # docs/model.md §8: longs (account, qty, rank); a liquidated short of 20 closes account 2 fully
    # (10) and 10 of account 5.
    qty = [10, 10, 20, 30, 20, 10]
    rank = [3, 6, 1, 4, 5, 2]
    np.testing.assert_array_equal(lq.adl.queue(qty, rank, 20), [0, 10, 0, 0, 10, 0])
    # and the rest of the queue in order: 2 (10), 5 (20), 4 (30), 1 (10), ...
    np.testing.assert_array_equal(lq.adl.queue(qty, rank, 65), [5, 10, 0, 30, 20, 0])


def test_queue_versus_pro_rata():
    # Winners' positive PnL 100, 50, 10 (queue priority in that order); 60 to cover. The queue
    # takes it all from the top winner; pro-rata takes 37.5% of everyone; capping everyone at
    # 50% of their PnL spreads it as 40 / 15 / 5 (eta = 0.4, nobody at the cap) and capping at
    # 30% leaves 60 - 48 = 12 uncovered.
    pnl, score = [100.0, 50.0, 10.0], [3.0, 2.0, 1.0]
    np.testing.assert_array_equal(lq.adl.queue(pnl, score, 60), [60, 0, 0])
    np.testing.assert_allclose(lq.adl.pro_rata(pnl, 60), [37.5, 18.75, 3.75], rtol=1e-15)
    np.testing.assert_allclose(lq.adl.capped_pro_rata(pnl, [0.5, 0.5, 0.5], 60), [37.5, 18.75, 3.75],
                               rtol=1e-15)
    np.testing.assert_allclose(lq.adl.capped_pro_rata(pnl, [0.3, 1.0, 1.0], 60), [30, 25, 5], rtol=1e-15)
    short = lq.adl.capped_pro_rata(pnl, 0.3, 60)
    np.testing.assert_allclose(short, [30, 15, 3], rtol=1e-15)
    assert lq.adl.uncovered(60, short) == pytest.approx(12.0, rel=1e-15)
    # Leverage weights 1 : 2 : 4 shift the haircut onto the more levered winners.
    taken = lq.adl.risk_aware(pnl, [1.0, 2.0, 4.0], 1.0, 60)
    np.testing.assert_allclose(taken, [60 / 240 * 100, 60 / 240 * 100, 60 / 240 * 40], rtol=1e-14)


def test_capped_pro_rata_water_level():
    # caps 10%, 50%, 100% of 10 each; 12 to cover: 1 + 5 saturated, eta = 0.6 on the third.
    np.testing.assert_allclose(lq.adl.capped_pro_rata([10, 10, 10], [0.1, 0.5, 1.0], 12), [1, 5, 6],
                               rtol=1e-15)


def test_rank_linear_by_hand():
    # Long 1 @ 100, margin 10, mark 110: PnL% 10%, BP 90, EffLev 110 / 20 = 5.5 -> 0.55.
    # Short 1 @ 100, margin 20, mark 110: PnL% -10%, BP 120, EffLev 110 / 10 = 11 -> -1/110.
    s = lq.adl.rank([1.0, -1.0, 0.0], [100.0, 100.0, 100.0], [10.0, 20.0, 5.0], 110.0)
    np.testing.assert_allclose(s[:2], [0.55, -0.1 / 11], rtol=1e-14)
    assert s[2] == -np.inf


def test_rank_inverse_by_hand():
    # 100 contracts of C = 1 at 100 (entry value 1 coin), margin 0.1 coin, mark 110:
    # PnL% = 1 - 100/110, equity 0.1 + PnL% coin, mark value 100/110 coin.
    s = lq.adl.rank(100.0, 100.0, 0.1, 110.0, contract="inverse")
    pct = 1 - 100 / 110
    np.testing.assert_allclose(s, [pct * (100 / 110) / (0.1 + pct)], rtol=1e-13)


def test_rank_never_bankrupt_has_unit_leverage_and_bankrupt_is_infinite():
    # A long with margin >= entry notional has BP 0 -> EffLev 1, score = PnL%.
    np.testing.assert_allclose(lq.adl.rank(1.0, 100.0, 500.0, 120.0), [0.2], rtol=1e-15)
    # A losing long past its bankruptcy price: EffLev +inf -> score -0.
    assert lq.adl.rank(1.0, 100.0, 10.0, 80.0)[0] == 0.0


@FAST
@given(
    st.lists(st.tuples(st.one_of(st.just(0.0), st.floats(-1e6, 1e6)), st.floats(1e-3, 1e6),
                       st.floats(0, 1e6)), min_size=0, max_size=20),
    st.floats(1e-3, 1e6),
    st.sampled_from(["linear", "inverse"]),
    st.floats(0.1, 100),
)
def test_rank_matches_reference(rows, mark, contract, csize):
    q, ep, m = (np.array(c, dtype=float) for c in zip(*rows)) if rows else (np.zeros(0),) * 3
    got = lq.adl.rank(q, ep, m, mark, contract=contract, contract_size=csize)
    np.testing.assert_allclose(got, ref_rank(q, ep, m, mark, contract, csize), rtol=1e-9, atol=1e-300)


def test_rank_then_queue_takes_most_profitable_levered_first():
    size = np.array([2.0, 1.0, 1.0, 0.0])
    ep = np.array([100.0, 100.0, 120.0, 100.0])
    margin = np.array([10.0, 50.0, 10.0, 1.0])
    s = lq.adl.rank(size, ep, margin, 110.0)
    assert s[0] > s[1] > s[2] and s[3] == -np.inf
    np.testing.assert_array_equal(lq.adl.queue(np.abs(size), s, 2.5), [2.0, 0.5, 0.0, 0.0])


def test_scalars_and_empty():
    np.testing.assert_array_equal(lq.adl.pro_rata(4.0, 1.0), [1.0])
    assert lq.adl.queue([], [], 5.0).shape == (0,)
    assert lq.adl.risk_aware([], [], [], 0.0).shape == (0,)
    assert lq.adl.socialize([], 1.0).shape == (0,)
    np.testing.assert_array_equal(lq.adl.pro_rata([0.0, 0.0], 3.0), [0.0, 0.0])
    np.testing.assert_array_equal(lq.adl.capped_pro_rata([3.0, 1.0], [0.0, 0.0], 3.0), [0.0, 0.0])
    np.testing.assert_array_equal(lq.adl.risk_aware([3.0, 1.0], [0.0, 1.0], 1.0, 3.0), [0.0, 1.0])


# ---- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: lq.adl.queue([1, np.nan], [1, 2], 1), ValueError, r"capacity\[1\] must be finite and >= 0 \(got nan\)"),
        (lambda: lq.adl.queue([1, 2], [1, np.nan], 1), ValueError, r"scores\[1\] must be a number \(got nan\)"),
        (lambda: lq.adl.queue([1, 2], [1, 2, 3], 1), ValueError, r"scores has length 3, expected 2"),
        (lambda: lq.adl.queue([1, 2], [1, 2], np.nan), ValueError, r"amount must be finite and >= 0 \(got nan\)"),
        (lambda: lq.adl.queue([1, 2], [1, 2], [1, 2]), ValueError, r"amount must have at most 0 dimension"),
        (lambda: lq.adl.queue("ab", [1, 2], 1), TypeError, r"capacity must be a real number"),
        (lambda: lq.adl.pro_rata([1, -2], 1), ValueError, r"capacity\[1\] must be finite and >= 0 \(got -2\)"),
        (lambda: lq.adl.pro_rata([1, np.inf], 1), ValueError, r"capacity\[1\] must be finite and >= 0 \(got inf\)"),
        (lambda: lq.adl.pro_rata([1, 2], -1), ValueError, r"amount must be finite and >= 0 \(got -1\)"),
        (lambda: lq.adl.pro_rata([[1, 2]], 1), ValueError, r"capacity must have at most 1 dimension"),
        (lambda: lq.adl.pro_rata([1e308, 1e308], 1), ValueError, r"capacity sum overflows"),
        (lambda: lq.adl.capped_pro_rata([1, 2], [0.5, 1.5], 1), ValueError, r"caps\[1\] must be in \[0, 1\] \(got 1.5\)"),
        (lambda: lq.adl.capped_pro_rata([1, 2], [0.5, -0.0001], 1), ValueError, r"caps\[1\] must be in \[0, 1\]"),
        (lambda: lq.adl.capped_pro_rata([1, 2, 3], [0.5, 1], 1), ValueError, r"caps has length 2, expected 3"),
        (lambda: lq.adl.risk_aware([1, 2], [1, -1], 1, 1), ValueError, r"weights\[1\] must be finite and >= 0 \(got -1\)"),
        (lambda: lq.adl.risk_aware([1, 2], [np.inf, 1], 1, 1), ValueError, r"weights\[0\] must be finite and >= 0"),
        (lambda: lq.adl.risk_aware([1, 2], [1, 1], [1, np.nan], 1), ValueError, r"caps\[1\] must be in \[0, 1\] \(got nan\)"),
        (lambda: lq.adl.socialize([1, np.nan], 1), ValueError, r"size\[1\] must be finite \(got nan\)"),
        (lambda: lq.adl.socialize([1, 2], np.inf), ValueError, r"amount must be finite and >= 0 \(got inf\)"),
        (lambda: lq.adl.socialize({"a": 1}, 1), TypeError, r"size must be a real number"),
        (lambda: lq.adl.rank([1, 1], [100, 0], [1, 1], 100), ValueError, r"entry_price\[1\] must be finite and > 0 \(got 0\)"),
        (lambda: lq.adl.rank([1, np.inf], [100, 100], [1, 1], 100), ValueError, r"size\[1\] must be finite \(got inf\)"),
        (lambda: lq.adl.rank([1, 1], [100, 100], [1, -1], 100), ValueError, r"margin\[1\] must be finite and >= 0 \(got -1\)"),
        (lambda: lq.adl.rank([1, 1], [100, 100], [1, 1, 1], 100), ValueError, r"margin has length 3, expected 2"),
        (lambda: lq.adl.rank([1], [100], [1], 0.0), ValueError, r"mark must be finite and > 0 \(got 0\)"),
        (lambda: lq.adl.rank([1], [100], [1], 100, contract="quanto"), ValueError, r"contract must be one of 'linear', 'inverse'"),
        (lambda: lq.adl.rank([1], [100], [1], 100, contract="inverse", contract_size=-1), ValueError,
         r"contract_size must be finite and > 0 \(got -1\)"),
    ],
)
def test_bad_inputs(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_kernel_checks_lengths_itself():
    # Direct _core use (the C++ engine calls the same kernels) still gets named errors.
    with pytest.raises(ValueError, match=r"scores has length 2, expected 3 \(the length of capacity\)"):
        _core.adl_queue(np.ones(3), np.ones(2), 1.0)
    with pytest.raises(ValueError, match=r"weights has length 1, expected 2"):
        _core.adl_risk_aware(np.ones(2), np.ones(1), np.ones(2), 1.0)
    with pytest.raises(ValueError, match=r"contract must be one of"):
        _core.adl_rank(np.ones(1), np.ones(1), np.ones(1), 1.0, "x", 1.0)


def test_pro_rata_tiny_amount_over_a_huge_total_is_not_lost():
    # amount / sum(capacity) underflows to 0 (6.86e-247 / 1e308): the shares must still add up
    # to the amount (found by the fuzz test), each in proportion to its capacity.
    cap = np.array([1e308, 0.0, 5e307])
    taken = lq.adl.pro_rata(cap, 6.86e-247)
    assert math.isclose(float(taken.sum()), 6.86e-247, rel_tol=1e-12)
    assert math.isclose(float(taken[0]), 6.86e-247 / 1.5, rel_tol=1e-12)
    assert taken[1] == 0.0


def test_risk_aware_tiny_amount_against_tiny_weights_is_not_overcharged():
    # Found by the fuzz test: with an amount of 4.6e-230 and a relative weight of 1e-191, the
    # saturation test num·w < caps·den underflowed to 0 < 0 and charged everyone their cap
    # (6.9e-230 in all). Position 2 saturates (t = caps/w = 4.6e-230 < eta); position 0 gives
    # the rest, amount − caps·capacity of position 2.
    cap = np.array([1.0, 0.0, 0.5])
    weights = np.array([7.450980996418463e-190, 0.005, 68.06112095632791])
    caps = np.array([4.568371735916369e-230, 0.0, 4.568371735916369e-230])
    amount = 4.568371735916369e-230
    taken = lq.adl.risk_aware(cap, weights, caps, amount)
    assert math.isclose(float(taken.sum()), amount, rel_tol=1e-12)
    assert taken[2] == caps[2] * cap[2]
    assert math.isclose(float(taken[0]), amount - caps[2] * cap[2], rel_tol=1e-12)
    assert taken[1] == 0.0
