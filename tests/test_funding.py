"""Funding in the stress tests and collateral price moves (docs/model.md §5 "Funding", §6
"Collateral moves"): references written from the model, hand cases with numbers."""

from __future__ import annotations

import math

import liqcore as lq
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

MARK = 100.0
BOOK = lq.Book.synthetic(MARK, levels=200)
TAKEOVER = dict(execution="takeover")


def funding_step(m: float, notional: float, rate: float, mmr: float) -> int:
    """The model's step (1-based) at which a long with margin m, notional N and funding rate r
    per step on a flat path is liquidated: the first step k with m − k·r·N < mmr·N, i.e. the
    first step after (m − mmr·N)/(r·N) steps."""
    return math.floor((m - mmr * notional) / (rate * notional)) + 1


def isolated_liquidations(m, size, rate, mmr, steps, funding=None):
    pos = lq.Positions([size], [MARK], [m])
    res = lq.stress_test(
        pos,
        BOOK,
        MARK,
        lq.Policy(mmr=mmr, **TAKEOVER),
        paths=np.full((1, steps), MARK),
        funding=rate if funding is None else funding,
    )
    return int(res.liquidations[0]), res


# ---- funding, isolated positions ------------------------------------------------------------


def test_funding_liquidates_a_long_on_a_flat_path_at_the_model_step():
    # m = 10.05, N = 100, r = 0.001, mmr = 5%: (10.05 - 5)/0.1 = 50.5 steps -> step 51
    k = funding_step(10.05, 100.0, 0.001, 0.05)
    assert k == 51
    assert isolated_liquidations(10.05, 1.0, 0.001, 0.05, k - 1)[0] == 0
    n, res = isolated_liquidations(10.05, 1.0, 0.001, 0.05, k)
    assert n == 1
    # funding paid: r·N per step while open (no receiver: it leaves the population)
    assert res.funding_paid[0] == pytest.approx(k * 0.1, rel=1e-12)
    assert res.params["funding"] is True


@settings(max_examples=40, deadline=None)
@given(
    m=st.floats(2.0, 50.0),
    size=st.floats(0.1, 10.0),
    rate=st.floats(1e-4, 5e-3),
    mmr=st.sampled_from([0.0, 0.005, 0.02, 0.05]),
)
def test_funding_liquidation_step_property(m, size, rate, mmr):
    notional = size * MARK
    m = m * size  # margin in proportion to the size: leverage 2x to 50x
    if m <= mmr * notional:
        return
    x = (m - mmr * notional) / (rate * notional)
    if x > 150 or abs(x - round(x)) < 1e-6:  # too long, or on a rounding knife edge
        return
    k = funding_step(m, notional, rate, mmr)
    assert isolated_liquidations(m, size, rate, mmr, k - 1)[0] == 0
    assert isolated_liquidations(m, size, rate, mmr, k)[0] == 1


def test_shorts_pay_when_the_rate_is_negative_and_longs_never_do():
    # a short with the same numbers is liquidated at the same step under -r; a long is not
    k = funding_step(10.05, 100.0, 0.001, 0.05)
    assert isolated_liquidations(10.05, -1.0, -0.001, 0.05, k - 1)[0] == 0
    assert isolated_liquidations(10.05, -1.0, -0.001, 0.05, k)[0] == 1
    assert isolated_liquidations(10.05, 1.0, -0.001, 0.05, 3 * k)[0] == 0
    assert isolated_liquidations(10.05, -1.0, 0.001, 0.05, 3 * k)[0] == 0


def test_received_funding_is_the_payers_total_pro_rata():
    # rate -0.001: the short S (size 3, notional 300 at 100) pays 0.3 per step, credited pro
    # rata to the longs' notional: L1 (size 2) 0.2, L2 (size 1) 0.1 per step. Steps 1-9 at 100,
    # step 10 at 95 (S pays 0.285, L1 gets 0.19): L1's margin is 10 + 9·0.2 + 0.19 = 11.99, its
    # equity at 95 is 11.99 − 10 = 1.99 > MM 0.01·190 = 1.9: alive. Without funding its equity
    # 0 < 1.9: liquidated.
    pos = lq.Positions([2.0, 1.0, -3.0], [MARK, MARK, MARK], [10.0, 100.0, 1000.0])
    path = np.full((1, 10), MARK)
    path[0, -1] = 95.0
    pol = lq.Policy(mmr=0.01, **TAKEOVER)
    with_funding = lq.stress_test(pos, BOOK, MARK, pol, paths=path, funding=-0.001)
    without = lq.stress_test(pos, BOOK, MARK, pol, paths=path)
    assert int(with_funding.liquidations[0]) == 0
    assert int(without.liquidations[0]) == 1
    assert with_funding.funding_paid[0] == pytest.approx(
        0.001 * 300.0 * 9 + 0.001 * 3 * 95.0, rel=1e-12
    )
    # L2 of size 2: the longs' notional is 400, L1 gets 0.3·200/400 = 0.15 per step (0.1425 at
    # step 10): margin 11.4925, equity 1.4925 < 1.9: liquidated
    pos_half = lq.Positions([2.0, 2.0, -3.0], [MARK, MARK, MARK], [10.0, 100.0, 1000.0])
    r = lq.stress_test(pos_half, BOOK, MARK, pol, paths=path, funding=-0.001)
    assert int(r.liquidations[0]) == 1


def test_no_funding_and_zero_funding_are_bit_identical():
    pos = lq.Positions([1.0, -2.0, 0.5], [MARK, 101.0, 99.0], [5.0, 8.0, 3.0])
    a = lq.stress_test(pos, BOOK, MARK, scenarios=16, steps=20, seed=3)
    b = lq.stress_test(pos, BOOK, MARK, scenarios=16, steps=20, seed=3, funding=0.0)
    np.testing.assert_array_equal(a.deficit, b.deficit)
    np.testing.assert_array_equal(a.final_mark, b.final_mark)
    assert np.all(b.funding_paid == 0.0)


def test_funding_is_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(5)
    n = 400
    size = rng.choice([-1.0, 1.0], n) * rng.lognormal(-1.0, 1.0, n)
    pos = lq.Positions(size, MARK * np.exp(rng.normal(0, 0.02, n)), np.abs(size) * MARK / 10)
    rates = rng.normal(0.0, 1e-3, (40, 30))
    runs = [
        lq.stress_test(pos, BOOK, MARK, scenarios=40, steps=30, seed=9, funding=rates, threads=t)
        for t in (1, 2, 3)
    ]
    for r in runs[1:]:
        for f in ("deficit", "liquidations", "final_mark", "funding_paid", "insurance_fund"):
            np.testing.assert_array_equal(getattr(runs[0], f), getattr(r, f), err_msg=f)
    # and per-step rates shared by every scenario are the scenario rows repeated
    shared = lq.stress_test(pos, BOOK, MARK, scenarios=8, steps=30, seed=9, funding=rates[0])
    rows = lq.stress_test(
        pos, BOOK, MARK, scenarios=8, steps=30, seed=9, funding=np.tile(rates[0], (8, 1))
    )
    np.testing.assert_array_equal(shared.deficit, rows.deficit)
    np.testing.assert_array_equal(shared.funding_paid, rows.funding_paid)


@pytest.mark.parametrize(
    "funding, err, match",
    [
        ("0.1", TypeError, "funding"),
        ([0.1, 0.2], ValueError, r"funding must be a float, steps or scenarios × steps"),
        (np.full(5, np.nan), ValueError, r"funding\[0\] must be finite"),
        ([[0.1] * 5] * 3, ValueError, "funding must be"),
    ],
)
def test_bad_funding(funding, err, match):
    pos = lq.Positions([1.0], [MARK], [10.0])
    with pytest.raises(err, match=match):
        lq.stress_test(pos, BOOK, MARK, scenarios=2, steps=5, funding=funding)


# ---- funding, accounts ----------------------------------------------------------------------


def one_account(m, size, quote_price=1.0):
    pf = lq.Portfolio([0], [0], [size], [MARK])
    acc = lq.Accounts([[m]], [quote_price])
    return pf, acc


def test_account_funding_liquidates_at_the_model_step():
    k = funding_step(10.05, 100.0, 0.001, 0.05)
    pf, acc = one_account(10.05, 1.0)
    mk = lq.Markets([MARK], [0.05])
    pol = lq.Policy(**TAKEOVER)
    for steps, n in ((k - 1, 0), (k, 1)):
        res = lq.stress_test_accounts(
            pf, acc, mk, pol, paths=np.full((1, steps, 1), MARK), funding=0.001
        )
        assert int(res.liquidated_accounts[0]) == n
    assert res.funding_paid[0] == pytest.approx(k * 0.1, rel=1e-12)


def test_account_funding_per_market_and_conserved():
    # account 0: long 1 in market 0 (N 100), short 1 in market 1 (N 100); account 1 the
    # opposite sides. Market 0 rate +0.001: account 0 pays 0.1, account 1 receives 0.1;
    # market 1 rate +0.002: account 1 pays 0.2, account 0 receives 0.2. Net per step: account 0
    # +0.1, account 1 -0.1. Account 1 has collateral 10.05 and MM 0.05·200 = 10 on a flat path:
    # liquidated at the first step after 0.05/0.1 = 0.5 steps: step 1.
    pf = lq.Portfolio([0, 0, 1, 1], [0, 1, 0, 1], [1.0, -1.0, -1.0, 1.0], [MARK] * 4)
    acc = lq.Accounts([[10.05], [10.05]], [1.0])
    mk = lq.Markets([MARK, MARK], [0.05, 0.05])
    pol = lq.Policy(**TAKEOVER)
    path = np.full((1, 2, 2), MARK)
    res = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, funding=[0.001, 0.002])
    assert int(res.liquidated_accounts[0]) == 1
    # step 1 both accounts pay (0.1 + 0.2); at step 2 only account 0 is open: it pays 0.1 in
    # market 0 that nobody receives (unmatched) and receives nothing in market 1 (no payer
    # left), so its collateral 10.05 + 0.1 − 0.1 = 10.05 >= MM 10 keeps it alive; a third
    # step takes it to 9.95 < 10
    assert res.funding_paid[0] == pytest.approx(0.3 + 0.1, rel=1e-12)
    three = lq.stress_test_accounts(
        pf, acc, mk, pol, paths=np.full((1, 3, 2), MARK), funding=[0.001, 0.002]
    )
    assert int(three.liquidated_accounts[0]) == 2
    # swapping the signs: account 0 is the one liquidated
    res2 = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, funding=[-0.001, -0.002])
    assert int(res2.liquidated_accounts[0]) == 1
    # rates per step and market: 0 at step 1, so nobody is liquidated before step 2
    rates = np.array([[0.0, 0.0], [0.001, 0.002]])
    res3 = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, funding=rates)
    assert int(res3.liquidated_accounts[0]) == 1
    assert res3.funding_paid[0] == pytest.approx(0.3, rel=1e-12)


def test_account_funding_is_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(2)
    A = 60
    acc_id = np.repeat(np.arange(A), 2)
    market = np.tile([0, 1], A)
    size = rng.choice([-1.0, 1.0], 2 * A) * rng.uniform(0.5, 2.0, 2 * A)
    pf = lq.Portfolio(acc_id, market, size, [MARK, 50.0] * A)
    acc = lq.Accounts(rng.uniform(5.0, 30.0, (A, 1)), [1.0])
    mk = lq.Markets([MARK, 50.0], [0.05, 0.05])
    pol = lq.Policy(**TAKEOVER)
    rates = rng.normal(0.0, 2e-3, (24, 10, 2))
    runs = [
        lq.stress_test_accounts(
            pf, acc, mk, pol, scenarios=24, steps=10, seed=4, funding=rates, threads=t,
            sigma=0.05,
        )
        for t in (1, 2)
    ]
    for f in ("deficit", "liquidated_accounts", "funding_paid", "final_marks"):
        np.testing.assert_array_equal(getattr(runs[0], f), getattr(runs[1], f), err_msg=f)


# ---- collateral moves -----------------------------------------------------------------------


def depeg_case():
    """One account: collateral 20 units of a stablecoin (price 1, haircut 10%) and a long of
    1 at 100, mmr 5% (MM 5). TNC = 20·0.9 + PnL. The market falls 10% (PnL -10): TNC 8 > 5,
    alive at a fixed collateral price; a 40% depeg of the coin gives 20·0.6·0.9 - 10 = 0.8 < 5:
    liquidated (and its deficit is 0: equity 0.8 >= 0 before fees)."""
    pf = lq.Portfolio([0], [0], [1.0], [MARK])
    acc = lq.Accounts([[20.0]], [1.0], [0.1])
    mk = lq.Markets([MARK], [0.05])
    return pf, acc, mk


def test_a_collateral_depeg_liquidates_an_account_a_fixed_price_would_not():
    pf, acc, mk = depeg_case()
    pol = lq.Policy(**TAKEOVER)
    fixed = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, pol)
    assert fixed.accounts.round[0] == -1
    for shock in (-0.4, [-0.4], {0: -0.4}):
        r = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, pol, collateral_shock=shock)
        assert r.accounts.round[0] == 1
        # health at liquidation: TNC = 20·0.6·0.9 − 10 = 0.8, TMMR = 0.05·90 = 4.5
        assert r.accounts.equity[0] == pytest.approx(0.8, rel=1e-12)
        assert r.accounts.maintenance[0] == pytest.approx(4.5, rel=1e-12)
    # the threshold: TNC = 18(1 + s) − 10 < 4.5 <=> s < −14.5/18 + 1 = −0.19444...
    for move, round_ in ((-0.19, -1), (-0.2, 1)):
        r = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, pol, collateral_shock=move)
        assert r.accounts.round[0] == round_


def test_collateral_paths_in_the_stress_test():
    pf, acc, mk = depeg_case()
    pol = lq.Policy(**TAKEOVER)
    path = np.array([[[95.0], [90.0], [90.0], [90.0]]])
    fixed = lq.stress_test_accounts(pf, acc, mk, pol, paths=path)
    assert int(fixed.liquidated_accounts[0]) == 0
    coin = np.array([[1.0], [1.0], [0.6], [1.0]])  # a depeg at step 3 only
    depeg = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, collateral_paths=coin)
    assert int(depeg.liquidated_accounts[0]) == 1
    # the same prices as scenarios x steps x assets
    depeg3 = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, collateral_paths=coin[None])
    np.testing.assert_array_equal(depeg.deficit, depeg3.deficit)
    # a depeg before the market falls is not enough: 20·0.6·0.9 − 5 = 5.8 > 4.75
    early = np.array([[0.6], [1.0], [1.0], [1.0]])
    r = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, collateral_paths=early)
    assert int(r.liquidated_accounts[0]) == 0


def test_collateral_model_beta_one_follows_the_market():
    # beta 1 to market 0, sigma 0: the coin moves exactly as the market. A 12% market fall:
    # fixed coin TNC = 18 − 12 = 6 > MM 0.05·88 = 4.4, alive; with the model the coin falls
    # 12% too: TNC = 20·0.88·0.9 − 12 = 3.84 < 4.4, liquidated.
    pf, acc, mk = depeg_case()
    pol = lq.Policy(**TAKEOVER)
    path = np.array([[[88.0]]])
    fixed = lq.stress_test_accounts(pf, acc, mk, pol, paths=path)
    moved = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, collateral_beta=1.0)
    assert int(fixed.liquidated_accounts[0]) == 0
    assert int(moved.liquidated_accounts[0]) == 1
    assert moved.params["collateral_beta"].tolist() == [1.0]


def test_collateral_model_draws_are_bit_identical_for_any_thread_count():
    rng = np.random.default_rng(7)
    A = 50
    pf = lq.Portfolio(np.arange(A), np.zeros(A, np.int64), rng.choice([-1.0, 1.0], A), [MARK] * A)
    acc = lq.Accounts(rng.uniform(5.0, 40.0, (A, 2)), [1.0, 2.0], [0.05, 0.2])
    mk = lq.Markets([MARK], [0.05])
    pol = lq.Policy(**TAKEOVER)
    kw = dict(scenarios=30, steps=8, seed=12, collateral_beta=[0.5, 2.0], collateral_sigma=0.3)
    a = lq.stress_test_accounts(pf, acc, mk, pol, threads=1, **kw)
    b = lq.stress_test_accounts(pf, acc, mk, pol, threads=2, **kw)
    np.testing.assert_array_equal(a.deficit, b.deficit)
    np.testing.assert_array_equal(a.liquidated_accounts, b.liquidated_accounts)
    # the market paths are those without the collateral model (own Philox blocks)
    c = lq.stress_test_accounts(pf, acc, mk, pol, scenarios=30, steps=8, seed=12)
    np.testing.assert_array_equal(a.final_marks, c.final_marks)


def random_accounts(seed, haircut, A=25):
    rng = np.random.default_rng(seed)
    pf = lq.Portfolio(
        np.arange(A),
        np.zeros(A, np.int64),
        rng.choice([-1.0, 1.0], A) * rng.uniform(0.5, 2, A),
        [MARK] * A,
    )
    acc = lq.Accounts(rng.uniform(2.0, 40.0, (A, 1)), [1.0], [haircut])
    return rng, pf, acc, lq.Markets([MARK], [0.05])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), cut=st.floats(0.0, 0.9), haircut=st.floats(0.0, 0.5))
def test_lower_collateral_prices_never_liquidate_fewer_accounts_on_a_path(seed, cut, haircut):
    # on a fixed market path (takeover: liquidations do not move it), collateral prices lowered
    # by a factor 1 − cut at every step never liquidate fewer accounts: an account liquidatable
    # at a step with the higher prices is liquidatable then with the lower ones (or earlier)
    rng, pf, acc, mk = random_accounts(seed, haircut)
    pol = lq.Policy(**TAKEOVER)
    path = MARK * np.exp(np.cumsum(rng.normal(0.0, 0.05, (1, 6, 1)), axis=1))
    base = np.exp(np.cumsum(rng.normal(0.0, 0.05, (6, 1)), axis=0))
    hi = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, collateral_paths=base)
    lo = lq.stress_test_accounts(pf, acc, mk, pol, paths=path, collateral_paths=base * (1 - cut))
    assert int(lo.liquidated_accounts[0]) >= int(hi.liquidated_accounts[0])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    shock=st.floats(-0.3, 0.3),
    cuts=st.tuples(st.floats(-0.9, 0.5), st.floats(0.0, 0.5)),
    haircut=st.floats(0.0, 0.5),
)
def test_lower_collateral_prices_never_lose_less_on_one_shock(seed, shock, cuts, haircut):
    # one shock (a single step): a lower collateral price never liquidates fewer accounts nor
    # gives less bad debt. (Along a path of several steps the bad debt may fall: an account
    # liquidated earlier, before the market falls further, loses less -- docs/model.md §6.)
    _, pf, acc, mk = random_accounts(seed, haircut)
    pol = lq.Policy(**TAKEOVER)
    hi_move = cuts[0]
    lo_move = (1.0 + hi_move) * (1.0 - cuts[1]) - 1.0
    hi = lq.simulate_cascade_accounts(pf, acc, mk, shock, pol, collateral_shock=hi_move)
    lo = lq.simulate_cascade_accounts(pf, acc, mk, shock, pol, collateral_shock=lo_move)
    assert int(lo.accounts.liquidated.sum()) >= int(hi.accounts.liquidated.sum())
    assert lo.bad_debt >= hi.bad_debt - 1e-9
    assert np.all(lo.accounts.liquidated >= hi.accounts.liquidated)


@pytest.mark.parametrize(
    "kw, err, match",
    [
        (dict(collateral_shock="x"), TypeError, "collateral_shock"),
        (dict(collateral_shock=[-0.1, 0.2]), ValueError, "one value per asset"),
        (dict(collateral_shock=-1.0), ValueError, r"collateral_shock\[0\] must be finite and > -1"),
        (dict(collateral_shock={3: -0.1}), ValueError, "not an asset index"),
    ],
)
def test_bad_collateral_shock(kw, err, match):
    pf, acc, mk = depeg_case()
    with pytest.raises(err, match=match):
        lq.simulate_cascade_accounts(pf, acc, mk, -0.1, lq.Policy(**TAKEOVER), **kw)


@pytest.mark.parametrize(
    "kw, err, match",
    [
        (dict(collateral_paths=np.ones((3, 2))), ValueError, "collateral_paths must be steps"),
        (dict(collateral_paths=np.zeros((2, 1))), ValueError, r"collateral_paths\[0, 0\] must"),
        (dict(collateral_beta=[1.0, 2.0]), ValueError, "collateral_beta must be a scalar"),
        (dict(collateral_sigma=-1.0), ValueError, r"collateral_sigma\[0\] must be finite and >= 0"),
        (dict(collateral_beta=1.0, collateral_market=3), ValueError, r"collateral_market\[0\]"),
        (dict(funding=[0.1, 0.2]), ValueError, "funding must be a float, one per market"),
    ],
)
def test_bad_collateral_paths(kw, err, match):
    pf, acc, mk = depeg_case()
    with pytest.raises(err, match=match):
        lq.stress_test_accounts(pf, acc, mk, lq.Policy(**TAKEOVER), scenarios=2, steps=2, **kw)


def test_collateral_options_need_a_portfolio():
    with pytest.raises(ValueError, match="collateral_beta applies to a Portfolio"):
        lq.stress_test(
            lq.Positions([1.0], [MARK], [10.0]), BOOK, MARK, scenarios=2, steps=2,
            collateral_beta=1.0,
        )


def test_per_scenario_rows_follow_their_scenarios_in_batches():
    # progress= runs the scenarios in batches (as liqcore.distributed runs chunks): per-scenario
    # funding and collateral rows must follow their scenario
    rng = np.random.default_rng(11)
    pos = lq.Positions(rng.choice([-1.0, 1.0], 50), np.full(50, MARK), rng.uniform(2.0, 20.0, 50))
    rates = rng.normal(0.0, 2e-3, (120, 12))
    one = lq.stress_test(pos, BOOK, MARK, scenarios=120, steps=12, seed=1, funding=rates)
    batched = lq.stress_test(
        pos, BOOK, MARK, scenarios=120, steps=12, seed=1, funding=rates, progress=lambda d, t: None
    )
    np.testing.assert_array_equal(one.funding_paid, batched.funding_paid)
    np.testing.assert_array_equal(one.deficit, batched.deficit)
    # scenario 77 alone (its row as the shared path) gives scenario 77's numbers
    alone = lq.stress_test(
        pos, BOOK, MARK, scenarios=120, steps=12, seed=1, funding=np.tile(rates[77], (120, 1))
    )
    assert alone.funding_paid[77] == one.funding_paid[77]

    _, pf, acc, mk = random_accounts(3, 0.1, A=20)
    coins = np.exp(np.cumsum(rng.normal(0.0, 0.1, (120, 5, 1)), axis=1))
    fr = rng.normal(0.0, 2e-3, (120, 5, 1))
    pol = lq.Policy(**TAKEOVER)
    kw = dict(scenarios=120, steps=5, seed=2, funding=fr, collateral_paths=coins)
    a = lq.stress_test_accounts(pf, acc, mk, pol, **kw)
    b = lq.stress_test_accounts(pf, acc, mk, pol, progress=lambda d, t: None, **kw)
    np.testing.assert_array_equal(a.deficit, b.deficit)
    np.testing.assert_array_equal(a.funding_paid, b.funding_paid)
    np.testing.assert_array_equal(a.liquidated_accounts, b.liquidated_accounts)
    c = lq.stress_test_accounts(
        pf, acc, mk, pol, scenarios=120, steps=5, seed=2, funding=fr[77], collateral_paths=coins[77]
    )
    assert c.funding_paid[77] == a.funding_paid[77]
    assert c.deficit[77] == a.deficit[77]
