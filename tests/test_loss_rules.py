"""The loss rules of docs/model.md on hand-worked cases, through the public API of both engines
(isolated positions, and the same positions as one-position accounts). Numbers are worked in
the comments from docs/model.md §3, §3b and §8."""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest


def _accounts(size, entry, margin, book, mark, policy, fund):  # type: ignore[no-untyped-def]
    n = len(size)
    mk = lq.Markets(marks=[mark], mmr=[policy.mmr], books=[book])
    acc = lq.Accounts(collateral=[[m] for m in margin], asset_prices=[1.0], haircuts=[0.0])
    pf = lq.Portfolio(account=list(range(n)), market=[0] * n, size=size, entry_price=entry)
    return lq.liquidate_accounts(pf, acc, mk, policy=policy, insurance_fund=fund)


def _both(size, entry, margin, book, mark, policy, fund):  # type: ignore[no-untyped-def]
    pos = lq.Positions(size=size, entry_price=entry, margin=margin)
    return (lq.liquidate(pos, book, mark, policy, fund),
            _accounts(size, entry, margin, book, mark, policy, fund))


def _identity(r) -> None:  # type: ignore[no-untyped-def]
    assert r.bad_debt == pytest.approx(r.insurance_draw + r.adl_transfers + r.uncovered, abs=1e-9)
    assert r.bad_debt == pytest.approx(r.total_deficit + r.inventory_loss, abs=1e-9)
    assert r.ledger.balance == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("bids", "band", "expected"),
    [
        # long 1 @ 10,000, margin 1,000: BP 9,000; mark 8,800. A full bid of 8,500: deficit 500.
        ([(8_500.0, 1.0)], 0.9, 500.0),
        # half filled at 8,500 (trader: -1,200 - 150 + 0.5·200 = -250 -> deficit 250), the fund
        # takes 0.5 over at 9,000; no bid is left: valued at the band edge 8,800·0.1 = 880,
        # 0.5·(9,000 - 880) = 4,060: bad debt 4,310.
        ([(8_500.0, 0.5)], 0.9, 4_310.0),
        # no bids: trader closes at BP (deficit 0), the fund's 1 unit at 880: 8,120.
        ([], 0.9, 8_120.0),
        # the same with band 1 (edge 0): 250 + 4,500 and 9,000.
        ([(8_500.0, 0.5)], 1.0, 4_750.0),
        ([], 1.0, 9_000.0),
    ],
)
def test_thinner_book_never_looks_cheaper(bids, band, expected) -> None:  # type: ignore[no-untyped-def]
    book = lq.Book([p for p, _ in bids], [q for _, q in bids], [9_000.0], [5.0])
    pol = lq.Policy(mmr=0.005, price_band=band)
    for r in _both([1.0], [10_000.0], [1_000.0], book, 8_800.0, pol, 1e6):
        assert r.bad_debt == pytest.approx(expected, rel=1e-12)
        assert r.insurance_draw == pytest.approx(expected, rel=1e-12)
        _identity(r)


def test_adl_never_charges_a_loser() -> None:
    # short 20 @ 600, margin 1,000 (BP 650), mark 700, no asks, fund 0; the only other position
    # is a losing long 20 @ 720 (margin 500, equity 100). The long is charged nothing; the fund's
    # inventory of 20 short at 650 is valued at the band edge 700·1.9 = 1,330: 20·680 = 13,600,
    # all uncovered.
    book = lq.Book([690.0], [5.0], [], [])
    pol = lq.Policy(residual="queue")
    for r in _both([-20.0, 20.0], [600.0, 720.0], [1_000.0, 500.0], book, 700.0, pol, 0.0):
        assert r.adl[1] == 0.0
        assert r.bad_debt == pytest.approx(13_600.0, rel=1e-12)
        assert r.uncovered == pytest.approx(13_600.0, rel=1e-12)
        _identity(r)


def test_fund_pays_first_then_adl_within_positive_pnl() -> None:
    # the same short, a profitable long counterparty 20 @ 500 (PnL at the mark 4,000) and a fund
    # of 900: the fund pays 900, ADL takes 4,000 (all of the long's PnL, never its margin) and
    # 13,600 - 4,900 = 8,700 stays uncovered.
    book = lq.Book([690.0], [5.0], [], [])
    pol = lq.Policy(residual="queue")
    for r in _both([-20.0, 20.0], [600.0, 500.0], [1_000.0, 500.0], book, 700.0, pol, 900.0):
        assert r.insurance_draw == pytest.approx(900.0, rel=1e-12)
        assert r.adl_transfers == pytest.approx(4_000.0, rel=1e-12)
        assert r.adl[1] == pytest.approx(4_000.0, rel=1e-12)
        assert r.uncovered == pytest.approx(8_700.0, rel=1e-12)
        _identity(r)


def test_refuse_uncovered_refuses_a_fill_whole() -> None:
    # long 1 @ 10,000, margin 1,000 (BP 9,000), mark 8,800, bids 8,900 x 0.5 and 8,500 x 0.5,
    # fund 60. The first level costs the fund 0.5·100 = 50 <= 60: filled. The second would cost
    # 0.5·500 = 250 more: refused whole (not 10/500 of it), so 0.5 goes to the fund at BP.
    book = lq.Book([8_900.0, 8_500.0], [0.5, 0.5], [9_000.0], [5.0])
    pol = lq.Policy(mmr=0.005, refuse_uncovered=True)
    pos = lq.Positions(size=[1.0], entry_price=[10_000.0], margin=[1_000.0])
    r = lq.liquidate(pos, book, 8_800.0, pol, 60.0)
    assert r.book_closed[0] == 0.5
    assert r.fallback_closed[0] == 0.5
    # the fund then sells its 0.5 into the 8,500 level: 0.5·(9,000 - 8,500) = 250 of loss
    assert r.inventory_loss == pytest.approx(250.0, rel=1e-12)
    assert r.total_deficit == pytest.approx(50.0, rel=1e-12)
    _identity(r)


def test_round_mark_does_not_depend_on_execution_order() -> None:
    # A long and a short liquidated in the same round with identical fills on each side; only
    # the long's margin changes, which changes which of the two goes first. The mark after the
    # round is the quantity-weighted mean of the two sides' deepest fills: the same either way.
    book = lq.Book([97.0, 96.0], [1.0, 10.0], [103.0, 104.0], [1.0, 10.0])
    marks = []
    for long_margin in (5.0, 9.0):
        pos = lq.Positions(size=[1.0, -1.0], entry_price=[110.0, 90.0],
                           margin=[long_margin, 7.0])
        c = lq.simulate_cascade(pos, book, 100.0, 0.0, lq.Policy(), 1e6, max_rounds=1)
        marks.append(c.marks[1])
    assert marks[0] == marks[1]
    assert marks[0] == pytest.approx(100.0)  # (1·97 + 1·103) / 2


def test_isolated_and_one_position_accounts_agree_on_a_cascade_and_a_stress_test() -> None:
    rng = np.random.default_rng(5)
    n = 200
    size = np.where(rng.random(n) < 0.5, 1.0, -1.0) * rng.uniform(0.1, 2.0, n)
    entry = 100.0 * rng.lognormal(0.0, 0.03, n)
    margin = np.abs(size) * entry / rng.uniform(5.0, 40.0, n)
    book = lq.Book.synthetic(mid=100.0, levels=50, seed=1)
    pos = lq.Positions(size=size, entry_price=entry, margin=margin)
    mk = lq.Markets(marks=[100.0], mmr=[0.005], books=[book])
    acc = lq.Accounts(collateral=[[m] for m in margin], asset_prices=[1.0], haircuts=[0.0])
    pf = lq.Portfolio(account=np.arange(n), market=np.zeros(n, dtype=np.int64), size=size,
                      entry_price=entry)
    iso = lq.simulate_cascade(pos, book, 100.0, -0.04, lq.Policy(), 1e3)
    cross = lq.simulate_cascade_accounts(pf, acc, mk, -0.04, policy=lq.Policy(), insurance_fund=1e3)
    assert iso.bad_debt == pytest.approx(cross.bad_debt, rel=1e-9, abs=1e-9)
    assert iso.final_mark == pytest.approx(cross.final_marks[0], rel=1e-12)
    np.testing.assert_allclose(iso.deficit, cross.deficit, rtol=1e-9, atol=1e-9)


def test_health_liquidatable_is_dydx_rule() -> None:
    # an account with a negative balance and no maintenance requirement (mmr 0) is not
    # liquidatable (TMMR > 0 fails), however negative its equity; with mmr 10% it is.
    pf = lq.Portfolio(account=[0], market=[0], size=[1.0], entry_price=[100.0])
    acc = lq.Accounts(collateral=[[-50.0]], asset_prices=[1.0], haircuts=[0.0])
    h0 = lq.health(pf, acc, lq.Markets(marks=[40.0], mmr=[0.0]))
    assert h0.equity[0] == pytest.approx(-110.0)
    assert not h0.liquidatable[0]
    h1 = lq.health(pf, acc, lq.Markets(marks=[40.0], mmr=[0.1]))
    assert h1.liquidatable[0]
