"""Mark-price rules (liqcore.MarkRule, docs/model.md §4 "The mark"; the index blend's closed
form is in test_cascade.py): "index" with w = 1 is "last" bit for bit and w = 0 has no feedback, Binance's and
Hyperliquid's medians against a pure-Python reference written from the venues' documentation,
the rules in stress tests and multi-market cascades, and bad inputs."""

from __future__ import annotations

import math
import pickle
import statistics

import liqcore as lq
import numpy as np
import pytest
from test_cascade import linear_market, population

# ---- the reference: the venues' rules, as their documentation states them -------------------


def ema_weight(half_life):
    """The weight of a new sample in an EMA whose half-life is `half_life` samples."""
    return 1.0 if half_life == 0 else 1.0 - 0.5 ** (1.0 / half_life)


def binance_mark(index, last, funding_basis, ma_basis):
    """Binance: median(Price 1, Price 2, contract price), Price 1 = index·(1 + funding term),
    Price 2 = index + moving-average basis, the contract price the last trade."""
    return statistics.median([index * (1.0 + funding_basis), index + ma_basis, last])


class HyperliquidMark:
    """Hyperliquid: median(oracle + EMA(mid − oracle), median(best bid, best ask, last trade),
    external perp mids (here: the index)), at most cap × an EMA of the mark."""

    def __init__(self, mark, basis_half_life, cap, cap_half_life):
        self.basis, self.ema_mark = 0.0, mark
        self.a, self.a_cap, self.cap = ema_weight(basis_half_life), ema_weight(cap_half_life), cap

    def update(self, oracle, bid, ask, last):
        self.basis += self.a * ((bid + ask) / 2.0 - oracle - self.basis)
        m = statistics.median([oracle + self.basis, statistics.median([bid, ask, last]), oracle])
        m = min(m, self.cap * self.ema_mark)
        self.ema_mark += self.a_cap * (m - self.ema_mark)
        return m


# ---- the blend's closed form: test_cascade.py (test_closed_form and after) ----------------


def test_index_blend_tames_a_runaway_book():
    # λρ = 1.2: "last" runs through every position; w = 0.5 (w·λρ = 0.59) converges
    pos, book, policy = linear_market(1.2, span=5.0)
    last = lq.simulate_cascade(pos, book, 100.0, -0.01, policy)
    blend = lq.simulate_cascade(pos, book, 100.0, -0.01, policy, mark_rule=lq.MarkRule.index(0.5))
    assert last.liquidated.all() and last.final_mark < 95.0
    assert blend.converged and blend.final_mark > 97.0


# ---- w = 1 is "last", w = 0 is the index -----------------------------------------------------

POLICIES = [lq.Policy(), lq.Policy.binance(), lq.Policy.hyperliquid(), lq.Policy.drift()]


def assert_same(a, b):
    np.testing.assert_array_equal(a.marks, b.marks)
    for name in ("round", "closed", "vwap", "deficit", "fee", "adl", "shortfall"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.ledger.amount, b.ledger.amount)
    assert a.summary() == b.summary()
    assert a.book == b.book


@pytest.mark.parametrize("policy", POLICIES, ids=["default", "binance", "hyperliquid", "drift"])
@pytest.mark.parametrize("resilience", [0.0, 0.4])
def test_weight_one_is_last_bit_for_bit(policy, resilience):
    mark = 60_000.0
    pos = population(4_000, mark)
    book = lq.Book.synthetic(mark, levels=400)
    for shock in (-0.06, 0.05):
        last = lq.simulate_cascade(pos, book, mark, shock, policy, 1e4, resilience)
        one = lq.simulate_cascade(
            pos, book, mark, shock, policy, 1e4, resilience, mark_rule=lq.MarkRule.index(w=1.0)
        )
        assert last.rounds > 1
        assert_same(one, last)


def test_weight_zero_has_no_feedback():
    mark, shock = 60_000.0, -0.06
    pos = population(4_000, mark)
    book = lq.Book.synthetic(mark, levels=400)
    index = mark * (1.0 + shock)
    res = lq.simulate_cascade(pos, book, mark, shock, mark_rule="index")  # "index": w = 0
    assert res.rounds == 1 and res.converged
    assert np.all(res.marks == index) and res.final_mark == index
    # liquidated: exactly the positions liquidatable at the index
    lp = lq.liquidation_price(pos.size, pos.entry_price, pos.margin, 0.005)
    hit = np.where(pos.size > 0, index < lp, index > lp)
    np.testing.assert_array_equal(res.liquidated, hit)
    last = lq.simulate_cascade(pos, book, mark, shock)
    assert last.n_liquidated > res.n_liquidated  # the feedback "last" has
    # Binance with zero bases is the index too (median(I, I, B) = I)
    assert_same(lq.simulate_cascade(pos, book, mark, shock, mark_rule="binance"), res)


# ---- Binance's and Hyperliquid's medians against the reference -------------------------------


def one_round_case():
    """A long liquidated in round 1 whatever the rule; a deep book. P0 = 100, shock -1%: the
    index is 99."""
    bid_px = 99.9 - 0.1 * np.arange(30)
    ask_px = 100.1 + 0.1 * np.arange(30)
    book = lq.Book(bid_px, np.ones(30), ask_px, np.ones(30))
    q, ep, lp = 2.5, 100.0, 99.6
    margin = q * (ep - lp * (1.0 - 0.005))  # LP = 99.6 > every rule's mark after the shock
    return lq.Positions([q], [ep], [margin]), book, 100.0, -0.01


def last_round_inputs():
    """What the round feeds the mark, from the "last" rule's run: the round's book price and the
    best prices of the book left."""
    pos, book, P0, shock = one_round_case()
    last = lq.simulate_cascade(pos, book, P0, shock)
    assert last.rounds == 1 and last.liquidated.all()
    (bp, _), (ap, _) = last.book.bids, last.book.asks
    return last.marks[1], float(bp[0]), float(ap[0])


@pytest.mark.parametrize(
    "funding_basis, ma_basis",
    [(0.0, 0.0), (0.002, -0.2), (-0.002, 0.1), (0.001, -1.0), (0.003, -0.5), (-0.001, 0.05)],
)
def test_binance_median_matches_the_reference(funding_basis, ma_basis):
    pos, book, P0, shock = one_round_case()
    rule = lq.MarkRule.binance(funding_basis=funding_basis, ma_basis=ma_basis)
    res = lq.simulate_cascade(pos, book, P0, shock, mark_rule=rule)
    index = P0 * (1.0 + shock)
    B, _, _ = last_round_inputs()
    assert res.shocked_mark == pytest.approx(binance_mark(index, index, funding_basis, ma_basis))
    assert res.rounds == 1
    assert res.final_mark == pytest.approx(
        binance_mark(index, B, funding_basis, ma_basis), rel=1e-14
    )


@pytest.mark.parametrize("basis_half_life", [0.0, 1.0, 35.0])
@pytest.mark.parametrize("cap, cap_half_life", [(10.0, 6654.0), (1.0, 0.0), (0.995, 1e9)])
def test_hyperliquid_median_matches_the_reference(basis_half_life, cap, cap_half_life):
    pos, book, P0, shock = one_round_case()
    rule = lq.MarkRule.hyperliquid(basis_half_life=basis_half_life, cap=cap,
                                   cap_half_life=cap_half_life)
    res = lq.simulate_cascade(pos, book, P0, shock, mark_rule=rule)
    f = 1.0 + shock
    index = P0 * f
    ref = HyperliquidMark(P0, basis_half_life, cap, cap_half_life)
    (bp, _), (ap, _) = book.bids, book.asks
    shocked = ref.update(index, bp[0] * f, ap[0] * f, index)  # the shock: one sample
    assert res.shocked_mark == pytest.approx(shocked, rel=1e-14)
    B, bid, ask = last_round_inputs()
    assert res.rounds == 1
    assert res.final_mark == pytest.approx(ref.update(index, bid, ask, B), rel=1e-14)


def test_hyperliquid_cap_binds_after_a_jump():
    # +50% with nothing to liquidate: the mark may not exceed cap × its (slow) EMA, still ~P0
    pos = lq.Positions([0.1], [100.0], [50.0])
    book = lq.Book.synthetic(100.0, levels=50)
    capped = lq.MarkRule.hyperliquid(cap=1.2, cap_half_life=1e9)
    res = lq.simulate_cascade(pos, book, 100.0, 0.5, mark_rule=capped)
    assert res.rounds == 0 and res.final_mark == pytest.approx(120.0, rel=1e-12)
    free = lq.simulate_cascade(pos, book, 100.0, 0.5, mark_rule="hyperliquid")
    assert free.final_mark == pytest.approx(150.0, rel=1e-9)  # 10x: inactive


def test_hyperliquid_damps_the_feedback():
    pos, book, policy = linear_market(0.75, span=8.0)
    last = lq.simulate_cascade(pos, book, 100.0, -0.01, policy)
    hl = lq.simulate_cascade(pos, book, 100.0, -0.01, policy, mark_rule="hyperliquid")
    # the slow basis EMA keeps one median input near the index: less amplification
    assert hl.converged and 99.0 > hl.final_mark > last.final_mark


# ---- stress tests -----------------------------------------------------------------------------


def stress_inputs():
    mark = 60_000.0
    return population(2_000, mark), lq.Book.synthetic(mark, levels=300), mark


def test_stress_weight_one_is_last_and_weight_zero_follows_the_path():
    pos, book, mark = stress_inputs()
    rng = np.random.default_rng(3)
    paths = rng.normal(-0.01, 0.03, (16, 6))
    kw = dict(paths=paths, path_type="return", resilience=0.3, threads=1)
    last = lq.stress_test(pos, book, mark, lq.Policy(), 1e5, **kw)
    one = lq.stress_test(pos, book, mark, lq.Policy(), 1e5, mark_rule=lq.MarkRule.index(1.0), **kw)
    for name in ("deficit", "final_mark", "min_mark", "max_mark", "liquidations", "rounds"):
        np.testing.assert_array_equal(getattr(one, name), getattr(last, name), err_msg=name)
    assert last.liquidations.sum() > 0
    zero = lq.stress_test(pos, book, mark, lq.Policy(), 1e5, mark_rule="index", **kw)
    index = mark * np.cumprod(1.0 + paths, axis=1)
    np.testing.assert_allclose(zero.final_mark, index[:, -1], rtol=1e-12)
    np.testing.assert_allclose(zero.min_mark, np.minimum(index.min(axis=1), mark), rtol=1e-12)
    np.testing.assert_allclose(zero.max_mark, np.maximum(index.max(axis=1), mark), rtol=1e-12)
    assert zero.params["mark_rule"] == "index(w=0)"


@pytest.mark.parametrize(
    "rule", ["mid", lq.MarkRule.index(0.4), lq.MarkRule.binance(0.001, -30.0), "hyperliquid"]
)
def test_stress_one_step_is_the_cascade(rule):
    pos, book, mark = stress_inputs()
    shock = -0.05
    s = lq.stress_test(pos, book, mark, lq.Policy(), 1e5, paths=[[shock]], path_type="return",
                       mark_rule=rule)
    c = lq.simulate_cascade(pos, book, mark, shock, lq.Policy(), 1e5, mark_rule=rule)
    assert s.final_mark[0] == c.final_mark
    assert s.deficit[0] == pytest.approx(c.bad_debt, rel=1e-12, abs=1e-6)
    assert s.liquidations[0] == c.n_liquidated
    assert s.params["mark_rule"] == str(lq.MarkRule.of(rule))


# ---- multi-market cascades --------------------------------------------------------------------


RULES = [
    "last",
    "mid",
    "index",
    lq.MarkRule.index(w=0.35),
    lq.MarkRule.index(w=1.0),
    "binance",
    lq.MarkRule.binance(funding_basis=0.002, ma_basis=-0.3),
    "hyperliquid",
    lq.MarkRule.hyperliquid(basis_half_life=0.0, cap=1.02, cap_half_life=3.0),
]


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_accounts_take_the_rule(rule):
    mark = 100.0
    pos = population(300, mark, seed=5)
    book = lq.Book.synthetic(mark, levels=200)
    n = len(pos)
    iso = lq.simulate_cascade(pos, book, mark, -0.04, lq.Policy(), 1e3, 0.2, mark_rule=rule)
    acc = lq.simulate_cascade_accounts(
        lq.Portfolio(np.arange(n), 0, pos.size, pos.entry_price),
        lq.Accounts(np.asarray(pos.margin)[:, None], [1.0]),
        lq.Markets([mark], [0.005], books=[book]),
        -0.04,
        lq.Policy(),
        1e3,
        0.2,
        mark_rule=rule,
    )
    assert iso.rounds >= 1
    np.testing.assert_array_equal(acc.round, iso.round)
    np.testing.assert_allclose(acc.trace.marks_after[:, 0], iso.marks[1:], rtol=1e-12)
    assert acc.markets.shocked_mark[0] == pytest.approx(iso.shocked_mark, rel=1e-15)


def test_stress_accounts_take_the_rule():
    mark = 100.0
    pos = population(200, mark, seed=6)
    book = lq.Book.synthetic(mark, levels=200)
    n = len(pos)
    args = (
        lq.Portfolio(np.arange(n), 0, pos.size, pos.entry_price),
        lq.Accounts(np.asarray(pos.margin)[:, None], [1.0]),
        lq.Markets([mark], [0.005], books=[book]),
        lq.Policy(),
        1e3,
    )
    paths = np.array([[[-0.02], [-0.03], [0.01]], [[0.02], [0.04], [-0.01]]])
    zero = lq.stress_test_accounts(*args, paths=paths, path_type="return", mark_rule="index")
    np.testing.assert_allclose(
        zero.final_marks[:, 0], mark * np.prod(1.0 + paths[:, :, 0], axis=1), rtol=1e-12
    )
    last = lq.stress_test_accounts(*args, paths=paths, path_type="return")
    one = lq.stress_test_accounts(*args, paths=paths, path_type="return",
                                  mark_rule=lq.MarkRule.index(w=1.0))
    np.testing.assert_array_equal(one.final_marks, last.final_marks)
    np.testing.assert_array_equal(one.deficit, last.deficit)
    assert one.params["mark_rule"] == "index(w=1)"


# ---- the object ------------------------------------------------------------------------------


def test_mark_rule_object():
    r = lq.MarkRule.index(w=0.3)
    assert r == lq.MarkRule("index", w=0.3) and hash(r) == hash(lq.MarkRule("index", w=0.3))
    assert pickle.loads(pickle.dumps(r)) == r
    assert str(r) == "index(w=0.3)"
    assert lq.MarkRule.of("last") == lq.MarkRule.last() and str(lq.MarkRule.mid()) == "mid"
    assert lq.MarkRule.of("index").w == 0.0
    assert lq.MarkRule.of("binance") == lq.MarkRule.binance(0.0, 0.0)
    h = lq.MarkRule.of("hyperliquid")
    assert (h.basis_half_life, h.cap, h.cap_half_life) == (35.0, 10.0, 6654.0)
    assert lq.MarkRule.hyperliquid(cap=math.inf).cap == math.inf
    with pytest.raises(AttributeError):
        r.w = 0.5  # type: ignore[misc]


def test_bad_mark_rules():
    pos, book, P0, shock = one_round_case()
    with pytest.raises(ValueError, match=r"mark_rule.w must be in \[0, 1\] \(got 1.5\)"):
        lq.MarkRule.index(w=1.5)
    with pytest.raises(ValueError, match=r"mark_rule.w must be in \[0, 1\] \(got nan\)"):
        lq.MarkRule.index(w=math.nan)
    with pytest.raises(TypeError, match="mark_rule.w must be a real number"):
        lq.MarkRule.index(w="0.3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"mark_rule.funding_basis must be finite and > -1"):
        lq.MarkRule.binance(funding_basis=-1.0)
    with pytest.raises(ValueError, match=r"mark_rule.ma_basis must be finite \(got inf\)"):
        lq.MarkRule.binance(ma_basis=math.inf)
    with pytest.raises(ValueError, match=r"mark_rule.cap must be > 0 \(got 0.0\)"):
        lq.MarkRule.hyperliquid(cap=0.0)
    with pytest.raises(ValueError, match=r"mark_rule.basis_half_life must be finite and >= 0"):
        lq.MarkRule.hyperliquid(basis_half_life=-1.0)
    with pytest.raises(ValueError, match=r"mark_rule.cap_half_life must be finite and >= 0"):
        lq.MarkRule.hyperliquid(cap_half_life=math.inf)
    with pytest.raises(ValueError, match="mark_rule.name must be one of 'last', 'mid', 'index', "
                       "'binance', 'hyperliquid' \\(got 'flox'\\)"):
        lq.MarkRule("flox")
    with pytest.raises(TypeError, match="mark_rule.name must be a str"):
        lq.MarkRule(None)  # type: ignore[arg-type]
    for run in (
        lambda r: lq.simulate_cascade(pos, book, P0, shock, mark_rule=r),
        lambda r: lq.stress_test(pos, book, P0, scenarios=2, steps=2, mark_rule=r),
        lambda r: lq.simulate_cascade_accounts(
            lq.Portfolio([0], 0, pos.size, pos.entry_price),
            lq.Accounts([[float(pos.margin[0])]], [1.0]),
            lq.Markets([P0], [0.005], books=[book]),
            shock,
            mark_rule=r,
        ),
    ):
        with pytest.raises(ValueError, match="mark_rule must be one of 'last', 'mid', 'index'"):
            run("vwap")
        with pytest.raises(TypeError, match="mark_rule must be a str, one of .* or a "
                           "liqcore.MarkRule \\(got float\\)"):
            run(0.5)
        with pytest.raises(TypeError, match="mark_rule must be a str"):
            run(lq.MarkRule.index)  # the constructor, not a rule


def test_kernel_checks_the_parameters():
    # the bindings check what they are given, whoever calls them
    from liqcore import _core

    pos, book, P0, shock = one_round_case()
    args = (pos._size, pos._entry_price, pos._margin, book._b, P0, shock,
            lq.Policy()._to_core(), 0.0, 0.0, 2, 10)
    with pytest.raises(ValueError, match=r"mark_rule.w must be in \[0, 1\]"):
        _core.simulate_cascade(*args, mark_params=[2.0, 0.0, 0.0, 0.0, 10.0, 1.0])
    with pytest.raises(ValueError, match="mark_params must hold 6 values"):
        _core.simulate_cascade(*args, mark_params=[0.5])
    with pytest.raises(ValueError, match="mark_rule must be 0..4"):
        _core.simulate_cascade(*args[:-2], 7, 10)


def test_a_mark_away_from_the_index_liquidates_each_position_once():
    # A capped jump leaves the mark (101) below the index (103.45): the single cascade's first
    # window of liquidation prices (around the index) must grow on the long side while two
    # shorts of a partly crossed bucket are already hit: each is liquidated once, as in the
    # stress test's complete index.
    mmr = 0.005
    short_lp, short_ep = np.array([94.4, 99.5, 101.55]), np.array([90.0, 95.0, 97.0])
    size = np.array([1.0, -1.0, -1.0, -1.0])
    entry = np.array([103.0, *short_ep])
    margin = np.array([103.0 - 101.5 * (1.0 - mmr), *(short_lp * (1.0 + mmr) - short_ep)])
    pos = lq.Positions(size, entry, margin)
    book = lq.Book([99.0, 98.0], [5.0, 5.0], [101.0, 102.0], [5.0, 5.0])
    rule = lq.MarkRule.hyperliquid(basis_half_life=0.0, cap=1.01, cap_half_life=0.0)
    res = lq.simulate_cascade(pos, book, 100.0, 0.0345, mark_rule=rule)
    assert res.shocked_mark == pytest.approx(101.0)
    events = res._compact.position
    assert len(events) == len(set(events.tolist())) == res.n_liquidated
    np.testing.assert_array_equal(res.round[:3], [1, 1, 1])  # the long and both crossed shorts
    st = lq.stress_test(pos, book, 100.0, paths=[[0.0345]], path_type="return", mark_rule=rule)
    assert st.liquidations[0] == res.n_liquidated
    assert st.deficit[0] == pytest.approx(res.bad_debt, rel=1e-12, abs=1e-9)
    assert st.final_mark[0] == res.final_mark
