"""liqcore.liquidate against the independent reference (tests/model_reference.py: exact
fractions, written from docs/model.md), properties, and published numbers."""

from __future__ import annotations

import math
import pickle
from fractions import Fraction
from typing import Any

import liqcore as lq
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_reference import LEDGER_ROWS, fr, reference_liquidate
from model_reference import _policy as ref_policy

# an example whose discrete decisions (detection, order, band, limit, rounding...) came this close
# to flipping (relative) is skipped: the float kernel may rightly decide the other way
FRAGILE = Fraction(1, 10**7)

# ---- helpers ----------------------------------------------------------------------------------


class Money:
    """PnL, notional and maintenance of docs/model.md §1 in floats, from the reference's exact
    contract (for properties checked on the kernel's results)."""

    def __init__(self, policy: lq.Policy) -> None:
        self.c = ref_policy(policy)["_c"]

    def pnl(self, q: float, ep: float, p: float) -> float:
        return float(self.c.pnl(fr(q), fr(ep), fr(p)))

    def notional(self, q: float, p: float) -> float:
        return float(self.c.notional(fr(q), fr(p)))

    def mm(self, q: float, p: float) -> float:
        return float(self.c.mm(fr(q), fr(p)))


def make_book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> lq.Book:
    return lq.Book(
        [p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks]
    )


def levels(side: tuple[np.ndarray, np.ndarray]) -> list[tuple[float, float]]:
    return list(zip(side[0].tolist(), side[1].tolist()))


def scale_of(res: Any, pos: lq.Positions, mark: float) -> float:
    return max(
        1.0,
        float(np.sum(np.abs(pos.size) * mark)),
        float(np.sum(pos.margin)),
        res.insurance_fund_before,
    )


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


def _same_levels(got: list[tuple[float, float]], want: list[tuple[Any, Any]], tol: dict) -> None:
    """Book levels left, dust (quantities within the tolerance of 0) ignored on both sides."""
    dust = tol["atol"]
    g = np.array([lv for lv in got if lv[1] > dust], dtype=float).reshape(-1, 2)
    w = np.array([(float(p), float(x)) for p, x in want if float(x) > dust]).reshape(-1, 2)
    assert g.shape == w.shape, (got, want)
    np.testing.assert_allclose(g, w, **tol)


def compare_with_reference(
    res: Any, ref: Any, n: int, tol: dict, f: float = 1.0, book: Any = None
) -> None:
    """A kernel result against the reference's exact one; money fields times ``f`` (an account's
    quote value of an inverse position's coin amounts)."""
    np.testing.assert_array_equal(np.asarray(res.liquidated), ref.liquidated)
    seq = np.full(n, -1, dtype=np.int64)
    for k, i in enumerate(ref.order):
        seq[i] = k
    np.testing.assert_array_equal(np.asarray(res.sequence), seq)
    mtol = {"rtol": tol["rtol"], "atol": tol["atol"] * f}
    for name, want, t in [
        ("closed", ref.closed, tol),
        ("book_closed", ref.book_closed, tol),
        ("fallback_closed", ref.fallback, tol),
        ("vwap", ref.vwap_all, tol),
        ("deficit", ref.deficit, mtol),
        ("fee", ref.fee, mtol),
        ("insurance_draw_by_position", ref.draw, mtol),
        ("shortfall", ref.shortfall, mtol),
        ("inventory_loss_by_position", ref.inventory_loss, mtol),
        *([("adl", ref.adl, mtol)] if not ref.rank_ties else []),
    ]:
        scale = 1.0 if t is tol else f
        np.testing.assert_allclose(
            np.asarray(getattr(res, name), dtype=float),
            np.array([_f(x) * scale for x in want], dtype=float).reshape(-1),
            **t,
            err_msg=name,
        )
    for name, want in [
        ("insurance_fund", ref.fund_after),
        ("insurance_draw", ref.insurance_draw),
        ("residual", ref.residual),
        ("adl_transfers", ref.adl_transfers),
        ("uncovered", ref.uncovered),
        ("total_deficit", ref.total_deficit),
        ("total_fees", ref.total_fees),
        ("inventory_loss", ref.inventory_loss_total),
        ("inventory_gain", ref.inventory_gains),
        ("bad_debt", ref.bad_debt),
    ]:
        assert getattr(res, name) == pytest.approx(
            float(want) * f, rel=tol["rtol"], abs=mtol["atol"]
        ), (name, getattr(res, name), float(want) * f)
    assert res.n_liquidated == len(ref.order)
    np.testing.assert_allclose(
        np.asarray(res.ledger.amount), [float(ref.ledger[k]) * f for k in LEDGER_ROWS], **mtol
    )
    if book is not None:
        _same_levels(levels(book.bids), ref.bids_after, tol)
        _same_levels(levels(book.asks), ref.asks_after, tol)


def assert_matches_reference(
    pos: lq.Positions,
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    mark: float,
    policy: lq.Policy,
    fund: float,
    accounts: bool = True,
) -> lq.LiquidationResult | None:
    """liquidate (and, with ``accounts``, the same positions as one-position accounts) against
    the exact reference to 1e-9; None when the example is fragile or the kernel rejects it."""
    book = make_book(bids, asks)
    try:
        res = lq.liquidate(pos, book, mark, policy, fund)
    except ValueError as e:
        # float arithmetic only: an inverse BP whose product underflows (denormal sizes) is
        # rejected by the kernel (test_inverse_bankruptcy_price_underflow_is_rejected)
        if "underflows to 0" not in str(e):
            raise
        return None
    ref = reference_liquidate(
        pos.size.tolist(), pos.entry_price.tolist(), pos.margin.tolist(), bids, asks, mark, fund,
        policy,
    )
    if ref.fragile <= FRAGILE:
        return None
    n = len(pos)
    scale = scale_of(res, pos, mark)
    tol = {"rtol": 1e-9, "atol": 1e-9 * scale}
    compare_with_reference(res, ref, n, tol, book=res.book)
    assert res.total_surplus == pytest.approx(float(ref.total_surplus), rel=1e-9, abs=tol["atol"])
    np.testing.assert_allclose(res.surplus, [float(x) for x in ref.surplus], **tol)
    assert res.unabsorbed == pytest.approx(float(ref.unabsorbed), rel=1e-9, abs=tol["atol"])
    assert res.liquidated_notional == pytest.approx(
        float(ref.liquidated_notional), rel=1e-9, abs=tol["atol"]
    )
    # money is conserved on every case, and the bad debt is borne by someone
    assert res.bad_debt == pytest.approx(
        res.insurance_draw + res.adl_transfers + res.uncovered, rel=1e-9, abs=1e-9 * scale
    )
    assert abs(res.ledger.balance) <= 1e-9 * scale
    assert math.fsum(res.ledger.amount.tolist()) == pytest.approx(0.0, abs=1e-9 * scale)
    # nobody below zero equity after the residual (never principal)
    c = Money(policy)
    for j in np.flatnonzero(~np.asarray(res.liquidated)):
        e = pos.margin[j] + c.pnl(pos.size[j], pos.entry_price[j], mark)
        assert res.adl[j] <= max(0.0, e) + 1e-9 * scale, (j, res.adl[j], e)
        if policy.residual != "socialize":
            assert res.adl[j] <= max(0.0, c.pnl(pos.size[j], pos.entry_price[j], mark)) + (
                1e-9 * scale
            )
    # (mmr 0: §1 liquidates an isolated position with E < MM = 0, §6 never liquidates an
    # account with TMMR = 0: the one difference of the engines, docs/model.md §7 item 13)
    if accounts and n > 0 and (policy.tiers is not None or policy.mmr > 0):
        # the same positions as one-position accounts (collateral = margin): the same numbers
        f = mark if policy.contract == "inverse" else 1.0
        over = {"reserve": policy.reserve * f, "slice_threshold": policy.slice_threshold * f}
        cpol = lq.Policy(**{**policy.to_dict(), **over})
        if policy.tiers is not None:
            mk = lq.Markets([mark], tiers=[policy.tiers], books=[book], contract=policy.contract,
                            contract_size=policy.contract_size)
        else:
            mk = lq.Markets([mark], policy.mmr, books=[book], contract=policy.contract,
                            contract_size=policy.contract_size)
        acc = lq.Accounts(np.asarray(pos.margin) * f, [1.0])
        pf = lq.Portfolio(np.arange(n), np.zeros(n, np.int64), pos.size, pos.entry_price)
        cr = lq.liquidate_accounts(pf, acc, mk, policy=cpol, insurance_fund=fund * f)
        compare_with_reference(cr, ref, n, tol, f=f, book=cr.books[0])
    return res


# ---- random cases ------------------------------------------------------------------------------

POLICY_CHOICES = {
    "order": st.sampled_from(["underwater", "largest", "given"]),
    "sizing": st.sampled_from(["full", "partial", "slices"]),
    "execution": st.sampled_from(["book", "book", "takeover"]),
    "limit": st.sampled_from(["none", "bankruptcy", "fillable"]),
    "fee": st.sampled_from(["capped", "surplus", "rate", "drift"]),
    "residual": st.sampled_from(
        ["none", "queue", "pro_rata", "capped_pro_rata", "risk_aware", "socialize"]
    ),
    "refuse_uncovered": st.booleans(),
    "backstop": st.sampled_from([None, None, 2.0 / 3.0]),
    "buffer": st.sampled_from([0.0, 0.02, 0.1]),
    "fee_cap": st.sampled_from([0.005, 0.015, 1.0]),
    "fee_rate": st.sampled_from([0.0, 0.005, 0.02]),
    "takeover_fee": st.sampled_from([0.0, 0.01, 0.05]),
    "slice_threshold": st.sampled_from([0.0, 1_000.0, 100_000.0]),
    "slice_fraction": st.sampled_from([0.2, 0.5]),
    "reserve": st.sampled_from([0.0, 0.0, 50.0]),
    "adl_cap": st.sampled_from([0.3, 1.0]),
    "smmr": st.sampled_from([0.1, 1.5]),
    "ba": st.sampled_from([0.5, 1.0]),
    "price_band": st.sampled_from([0.9, 0.9, 0.05, 0.01, 1.0]),
}


@st.composite
def policies(draw: st.DrawFn, contract: str = "linear") -> lq.Policy:
    kw = {k: draw(v) for k, v in POLICY_CHOICES.items()}
    if contract == "inverse" and kw["price_band"] == 1.0:  # inverse bands stay below 1
        kw["price_band"] = 0.99
    if draw(st.booleans()):
        kw["tiers"] = ((0.0, 0.01), (2_000.0, 0.02), (20_000.0, 0.05))
    else:
        kw["mmr"] = draw(st.sampled_from([0.0, 0.005, 0.05]))
    return lq.Policy(contract=contract, contract_size=100.0 if contract == "inverse" else 1.0, **kw)


@st.composite
def markets(draw: st.DrawFn, contract: str = "linear") -> tuple:
    mark = draw(st.sampled_from([1.0, 100.0, 60_000.0, 1e-3]))
    n = draw(st.integers(0, 25))
    unit = (
        1.0 / mark if contract == "linear" else 1.0
    )  # sizes of ~1 quote-unit of notional per mark
    # (sizes below 1e-6 are flat: denormal sizes lose the kernel's float precision in BP, a
    # matter of float robustness, tested in test_fuzz/test_numerics, not of the model)
    size = [
        (x if abs(x) >= 1e-6 else 0.0) * unit * (100.0 if contract == "linear" else 1.0)
        for x in (draw(st.floats(-50, 50, allow_nan=False)) for _ in range(n))
    ]
    ep = [mark * draw(st.floats(0.7, 1.3)) for _ in range(n)]
    lev = [draw(st.floats(1.0, 100.0)) for _ in range(n)]
    c = Money(lq.Policy(contract=contract, contract_size=100.0))
    margin = [c.notional(q, e) / lv for q, e, lv in zip(size, ep, lev)]
    nb, na = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    spread = draw(st.floats(0.0, 0.05))

    def side(k: int, sign: float) -> list[tuple[float, float]]:
        px = mark * (
            1.0 + sign * (spread + np.cumsum([draw(st.floats(1e-4, 0.05)) for _ in range(k)]))
        )
        qty = [
            draw(st.floats(0.01, 20.0)) * (100.0 * unit if contract == "linear" else 1.0)
            for _ in range(k)
        ]
        return [(float(p), float(q)) for p, q in zip(px, qty) if p > 0]

    bids, asks = side(nb, -1.0), side(na, 1.0)
    fund = draw(st.sampled_from([0.0, 10.0, 1e3, 1e9])) * (1.0 if contract == "linear" else 1e-3)
    return lq.Positions(size, ep, margin), bids, asks, mark, fund


@given(data=st.data())
@settings(max_examples=60)
def test_linear_matches_reference(data: st.DataObject) -> None:
    pos, bids, asks, mark, fund = data.draw(markets("linear"))
    policy = data.draw(policies("linear"))
    assert_matches_reference(pos, bids, asks, mark, policy, fund)


@given(data=st.data())
@settings(max_examples=40)
def test_inverse_matches_reference(data: st.DataObject) -> None:
    pos, bids, asks, mark, fund = data.draw(markets("inverse"))
    policy = data.draw(policies("inverse"))
    assert_matches_reference(pos, bids, asks, mark, policy, fund)


def test_inverse_bankruptcy_price_underflow_is_rejected() -> None:
    """An inverse short of denormal size: |N|·C·EP underflows, BP rounds to 0, where a takeover's
    PnL is infinite. Kernel and reference both reject it, naming size[i] (found by Hypothesis in
    test_inverse_matches_reference: contract_size 100, mark 0.001, one short, empty book)."""
    policy = lq.Policy(contract="inverse", contract_size=100.0, mmr=0.0)
    size, ep = -5e-324, 0.001
    margin = abs(size) * 100.0 / ep / 2.0  # 2x leverage: BP rounds to 0 (1x: 0/0 = NaN)
    # the liquidation kernel's double arithmetic rounds BP to 0; the public margin function
    # recomputes it in extended precision: 2x short, BP = 2 EP
    assert lq.bankruptcy_price([size], [ep], [margin], contract="inverse",
                               contract_size=100.0)[0] == pytest.approx(2.0 * ep, rel=1e-15)
    pos = lq.Positions([1.0, size], [ep, ep], [1e5, margin])
    pos_1x = lq.Positions([size], [ep], [2.0 * margin])
    with pytest.raises(ValueError, match=r"^size\[0\]: .* underflows to 0"):
        lq.liquidate(pos_1x, make_book([], []), 0.001, policy)
    assert assert_matches_reference(pos, [], [], 0.001, policy, 0.0) is None
    with pytest.raises(ValueError, match=r"^size\[1\]: the inverse position's bankruptcy price "
                       r"underflows to 0"):
        lq.liquidate(pos, make_book([], []), 0.001, policy)
    with pytest.raises(ValueError, match=r"^size\[1\]: .* underflows to 0"):
        lq.simulate_cascade(pos, make_book([], []), 0.001, -0.01, policy)


@given(data=st.data())
@settings(max_examples=40)
def test_extreme_magnitudes_match_reference(data: st.DataObject) -> None:
    pos, bids, asks, mark, fund = data.draw(markets("linear"))
    k = data.draw(st.sampled_from([1e-6, 1e6]))
    scaled = lq.Positions(pos.size * k, pos.entry_price, pos.margin * k)
    bids = [(p, q * k) for p, q in bids]
    asks = [(p, q * k) for p, q in asks]
    policy = data.draw(policies("linear"))
    assert_matches_reference(scaled, bids, asks, mark, policy, fund * k)


# ---- properties --------------------------------------------------------------------------------


@given(data=st.data())
@settings(max_examples=40)
def test_healthy_positions_untouched(data: st.DataObject) -> None:
    pos, bids, asks, mark, fund = data.draw(markets("linear"))
    policy = data.draw(policies("linear"))
    res = lq.liquidate(pos, make_book(bids, asks), mark, policy, fund)
    c = Money(policy)
    healthy = np.array(
        [
            m + c.pnl(q, e, mark) >= c.mm(q, mark) or q == 0
            for q, e, m in zip(pos.size, pos.entry_price, pos.margin)
        ],
        dtype=bool,
    )
    assert not res.liquidated[healthy].any()
    for name in ("closed", "deficit", "surplus", "fee", "insurance_draw_by_position", "shortfall"):
        assert (getattr(res, name)[healthy] == 0).all(), name
    assert np.isnan(res.vwap[healthy]).all()
    assert (res.sequence[healthy] == -1).all()
    if not res.liquidated.any():
        assert res.book == make_book(bids, asks)
        assert res.insurance_fund == fund


@given(data=st.data())
@settings(max_examples=40)
def test_no_deficit_when_the_book_is_deep(data: st.DataObject) -> None:
    # Positions still solvent at the mark, and a book deep enough to take every close at the
    # mark (bids) or a hair above it (asks): no close can leave a deficit.
    pos, _, _, mark, fund = data.draw(markets("linear"))
    c = Money(lq.Policy())
    eq = np.array([m + c.pnl(q, e, mark) for q, e, m in zip(pos.size, pos.entry_price, pos.margin)])
    keep = eq >= np.abs(pos.size) * mark * 1e-9
    pos = pos[keep]
    total = float(np.sum(np.abs(pos.size))) + 1.0
    bids, asks = [(mark, total)], [(mark * (1 + 1e-12), total)]
    policy = lq.Policy(**{**data.draw(policies("linear")).to_dict(), "execution": "book"})
    res = lq.liquidate(pos, make_book(bids, asks), mark, policy, fund)
    tol = 1e-12 * scale_of(res, pos, mark)  # a fallback at the bankruptcy price leaves 0 ± rounding
    assert res.total_deficit <= tol
    assert (res.deficit <= tol).all()


@given(data=st.data(), k=st.floats(1.0, 5.0))
@settings(max_examples=40)
def test_deeper_book_never_increases_the_deficit(data: st.DataObject, k: float) -> None:
    # Full closes, no limit, and a book that can absorb every close (a last deep level): the
    # order depends only on the mark, every close fills entirely through the book, and at each
    # cumulative depth the deeper book's price is at least as good. (With a fallback the claim
    # does not hold: a takeover at the bankruptcy price can beat deep book fills.)
    pos, bids, asks, mark, fund = data.draw(markets("linear"))
    total = float(np.sum(np.abs(pos.size))) + 1.0
    # the deep levels stay inside the widest price band (1.0: sells down to 0, buys up to 2·mark)
    bids = [*bids, (min([p for p, _ in bids], default=mark) * 0.5, total)]
    asks = [*asks, (0.5 * (max([p for p, _ in asks], default=mark) + 2.0 * mark), total)]
    policy = lq.Policy(
        **{
            **data.draw(policies("linear")).to_dict(),
            "price_band": 1.0,
            "sizing": "full",
            "limit": "none",
            "execution": "book",
            "backstop": None,
            "refuse_uncovered": False,
        }
    )
    shallow = lq.liquidate(pos, make_book(bids, asks), mark, policy, fund)
    deep = lq.liquidate(
        pos,
        make_book([(p, q * k) for p, q in bids], [(p, q * k) for p, q in asks]),
        mark,
        policy,
        fund,
    )
    assert (shallow.fallback_closed == 0).all()
    assert (deep.fallback_closed == 0).all()
    assert deep.total_deficit <= shallow.total_deficit * (1 + 1e-12) + 1e-9 * scale_of(
        deep, pos, mark
    )
    assert (deep.deficit <= shallow.deficit * (1 + 1e-12) + 1e-9 * scale_of(deep, pos, mark)).all()


@given(data=st.data())
@settings(max_examples=60)
def test_partial_restores_maintenance_plus_buffer(data: st.DataObject) -> None:
    pos, bids, asks, mark, fund = data.draw(markets("linear"))
    base = data.draw(policies("linear"))
    policy = lq.Policy(**{**base.to_dict(), "sizing": "partial", "backstop": None})
    res = lq.liquidate(pos, make_book(bids, asks), mark, policy, fund)
    c = Money(policy)
    for i in np.flatnonzero(res.liquidated & (res.closed < np.abs(pos.size))):
        q, e, m = pos.size[i], pos.entry_price[i], pos.margin[i]
        s = np.sign(q)
        E = m + c.pnl(q, e, mark)
        # equity after: E + gain of the fills vs the mark - fee (no fallback in a partial close)
        assert res.fallback_closed[i] == 0.0
        gain = s * res.closed[i] * (res.vwap[i] - mark)
        E_after = E + gain - res.fee[i]
        q_after = q - s * res.closed[i]
        target = (1 + policy.buffer) * c.mm(q_after, mark)
        assert E_after >= target - 1e-9 * max(1.0, abs(q) * mark), (i, E_after, target)
        assert res.deficit[i] == 0.0
        assert res.shortfall[i] == 0.0


def test_partial_takeover_matches_the_closed_form() -> None:
    # Drift-style: a liquidator takes the close at P(1 - f), the fund charges a rate r of the
    # fill notional; MM = mmr·Q·P. The least close that restores E >= (1 + b)·MM is
    #   Δ = ((1 + b)·MM - E) / (P·((1 + b)·mmr - f - r·(1 - f))).
    P, mmr, b, f, r = 100.0, 0.05, 0.02, 0.01, 0.005
    q, ep, m = 10.0, 100.0, 40.0  # E = 40 < MM = 50
    policy = lq.Policy(
        mmr=mmr,
        sizing="partial",
        buffer=b,
        execution="takeover",
        takeover_fee=f,
        fee="rate",
        fee_rate=r,
    )
    res = lq.liquidate(lq.Positions([q], [ep], [m]), make_book([], []), P, policy)
    E, MM = m, mmr * q * P
    expected = ((1 + b) * MM - E) / (P * ((1 + b) * mmr - f - r * (1 - f)))
    assert res.closed[0] == pytest.approx(expected, rel=1e-12)
    assert res.vwap[0] == pytest.approx(P * (1 - f), rel=1e-15)
    assert res.fee[0] == pytest.approx(r * expected * P * (1 - f), rel=1e-12)


def test_partial_closes_in_full_when_the_book_cannot_restore() -> None:
    # Slippage worse than the margin the close releases: no partial close can help.
    policy = lq.Policy(mmr=0.05, sizing="partial", buffer=0.0)
    book = make_book([(50.0, 100.0)], [(200.0, 100.0)])
    res = lq.liquidate(
        lq.Positions([10.0], [100.0], [40.0]), book, 100.0, policy, insurance_fund=1e6
    )
    assert res.closed[0] == 10.0
    assert res.deficit[0] == pytest.approx(460.0)  # 40 + 10·(50 - 100)


def test_slices() -> None:
    policy = lq.Policy(mmr=0.05, sizing="slices", slice_threshold=100_000.0, slice_fraction=0.2)
    book = make_book([(60_000.0, 100.0)], [(60_001.0, 100.0)])
    big = (10.0, 60_000.0, 20_000.0)  # notional 600k: E = 20k < MM = 30k
    small = (1.0, 60_000.0, 2_000.0)  # notional 60k: E = 2k < MM = 3k
    pos = lq.Positions([big[0], small[0]], [big[1], small[1]], [big[2], small[2]])
    res = lq.liquidate(pos, book, 60_000.0, policy)
    np.testing.assert_allclose(res.closed, [2.0, 1.0])


def test_backstop_takes_over_at_the_bankruptcy_price() -> None:
    policy = lq.Policy(mmr=0.05, backstop=2 / 3)
    book = make_book([(99.0, 100.0)], [(101.0, 100.0)])
    # MM = 48 at the mark 96. E = 40 + 10·(96 - 100) = 0 < 2/3·MM: the fund takes it over at
    # BP = 96; E = 35 >= 2/3·MM = 32: through the book.
    pos = lq.Positions([10.0, 10.0], [100.0, 100.0], [40.0, 75.0])
    res = lq.liquidate(pos, book, 96.0, policy, insurance_fund=100.0)
    assert res.fallback_closed[0] == 10.0
    assert res.book_closed[0] == 0.0
    assert res.vwap[0] == pytest.approx(96.0)
    assert res.book_closed[1] == 10.0
    # After the closes the fund sells its 10 (bought at 96) into the 90 left at 99: a gain of
    # 30, credited to it; the second close's fee min(65, 1.5%·990) = 14.85 too.
    assert res.inventory_loss_by_position.tolist() == pytest.approx([-30.0, 0.0])
    assert res.inventory_gain == pytest.approx(30.0)
    assert res.inventory_loss == 0.0
    assert res.unabsorbed == 0.0
    assert res.bad_debt == 0.0
    assert res.insurance_fund == pytest.approx(100.0 + 14.85 + 30.0)
    assert levels(res.book.bids) == [(99.0, 80.0)]


def test_bankruptcy_limit_sends_the_rest_to_the_fund() -> None:
    policy = lq.Policy(mmr=0.05, limit="bankruptcy")
    book = make_book([(97.0, 4.0), (95.0, 100.0)], [(101.0, 100.0)])
    # long 10 @100, margin 40: BP 96; mark 98 → E = 20 < MM = 49
    res = lq.liquidate(
        lq.Positions([10.0], [100.0], [40.0]), book, 98.0, policy, insurance_fund=1e3
    )
    assert res.book_closed[0] == 4.0
    assert res.fallback_closed[0] == 6.0
    assert res.vwap[0] == pytest.approx((4 * 97 + 6 * 96) / 10)
    assert res.deficit[0] == 0.0
    # E + gain = 20 + 4·(97 - 98) + 6·(96 - 98) = 4: the fee min(4, 1.5%·388) = 4. The fund
    # bought 6 at 96 and sells them after the close into the bid at 95 (inside the band, whose
    # edge is 9.8): a loss of 6, which it pays.
    assert res.fee[0] == pytest.approx(4.0)
    assert res.inventory_loss == pytest.approx(6.0)
    assert res.inventory_loss_by_position[0] == pytest.approx(6.0)
    assert res.bad_debt == pytest.approx(6.0)
    assert res.insurance_draw == pytest.approx(6.0)
    assert res.insurance_fund == pytest.approx(1e3 + 4.0 - 6.0)
    assert res.unabsorbed == 0.0
    assert levels(res.book.bids) == [(95.0, 94.0)]
    ledger = res.ledger.to_dict()
    # taken over at 96 while worth 98 (+12), sold at 95 (-18)
    assert ledger["insurance_fund/inventory: taken over at bankruptcy price, sold or valued, vs mark"] \
        == pytest.approx(-6.0)


def test_fillable_price_limit() -> None:
    # dYdX: long 1 @100 with margin 7, mmr 5%, mark 97: E = 4 < MM = 4.85;
    # ABR = clamp(BA·(1 - E/MM), 0, 1), fillable price = P - ABR·SMMR·MM/q.
    P, mmr, ba, smmr = 97.0, 0.05, 1.0, 1.5
    E, MM = 4.0, mmr * P
    abr = min(max(ba * (1 - E / MM), 0.0), 1.0)
    limit = P - abr * smmr * MM / 1.0
    book = make_book([(limit + 0.01, 0.5), (limit - 0.01, 10.0)], [(98.0, 10.0)])
    policy = lq.Policy(mmr=mmr, limit="fillable", ba=ba, smmr=smmr)
    res = lq.liquidate(lq.Positions([1.0], [100.0], [7.0]), book, P, policy, insurance_fund=100.0)
    assert res.book_closed[0] == 0.5
    assert res.fallback_closed[0] == 0.5


def test_refuse_uncovered_fills() -> None:
    # long 10 @100, margin 40 → BP 96, mark 97 (E = 10). Bids (95, 2), (90, 100): the level at
    # 95 costs the fund 2·1 = 2 <= 12, accepted; the level at 90 would cost 8·6 = 48 > 12 - 2:
    # refused WHOLE (never split: the old rule filled 10/6 more units at 90). The 8 left are the
    # fallback at 96. Trader: 10 + 2·(95 - 97) + 8·(96 - 97) = -2, a deficit of 2 the fund pays.
    # After the close the fund sells its 8 at 90 (band edge 9.7): a loss of 48; it pays the 10
    # it has left, 38 stays uncovered.
    policy = lq.Policy(mmr=0.05, refuse_uncovered=True)
    book = make_book([(95.0, 2.0), (90.0, 100.0)], [(101.0, 100.0)])
    res = lq.liquidate(
        lq.Positions([10.0], [100.0], [40.0]), book, 97.0, policy, insurance_fund=12.0
    )
    assert res.book_closed[0] == 2.0
    assert res.fallback_closed[0] == 8.0
    assert res.deficit[0] == pytest.approx(2.0)
    assert res.inventory_loss == pytest.approx(48.0)
    assert res.insurance_draw == pytest.approx(12.0)
    assert res.shortfall[0] == pytest.approx(38.0)
    assert res.uncovered == pytest.approx(38.0)
    assert res.bad_debt == pytest.approx(50.0)
    assert res.insurance_fund == pytest.approx(0.0, abs=1e-12)
    assert levels(res.book.bids) == [(90.0, 92.0)]
    # with enough in the fund the level at 90 is accepted whole
    rich = lq.liquidate(
        lq.Positions([10.0], [100.0], [40.0]), book, 97.0, policy, insurance_fund=1e3
    )
    assert rich.book_closed[0] == 10.0
    assert rich.fallback_closed[0] == 0.0


def test_refuse_uncovered_does_not_credit_better_fills() -> None:
    # Long 1 @ 100, margin 10: BP 90; mark 91: E = 1 < MM = 4.55. Empty fund. Bids 95 x 0.5,
    # 89 x 1. The level at 89 costs the fund 0.5·(90 - 89) = 0.5 > 0 it can pay; the better fill
    # at 95 is not credited (docs/model.md §3, the conservative reading): refused whole. The fund
    # takes 0.5 over at 90 and sells it at 89 after the close: bad debt 0.5.
    args = ([1], [100], [10], [(95.0, 0.5), (89.0, 1.0)], [], 91.0, 0.0)
    pol = lq.Policy(mmr=0.05, refuse_uncovered=True)
    ref = reference_liquidate(*args, pol)
    assert ref.book_closed == [Fraction(1, 2)]
    assert ref.fallback == [Fraction(1, 2)]
    assert ref.bad_debt == Fraction(1, 2)
    res = lq.liquidate(lq.Positions([1.0], [100.0], [10.0]), make_book([(95.0, 0.5), (89.0, 1.0)],
                       []), 91.0, pol, 0.0)
    assert res.book_closed[0] == 0.5
    assert res.fallback_closed[0] == 0.5
    assert res.bad_debt == pytest.approx(0.5)


def test_one_position_account_slice_with_tiers_equals_isolated() -> None:
    # Tiers (0, 1%), (2,000, 2%): cum 20. Long 40 @ 104, margin 200, mark 100: notional 4,000,
    # MM = 80 - 20 = 60 > E = 200 - 160 = 40. A slice of 0.75 closes 30 at 99.99: G = -0.3; the
    # rest (notional 1,000, tier 0) has MM 10. §3: surplus (30/40)·40 - 0.3 = 29.7, all of it the
    # fee (fee="surplus"); the rest keeps 40 - 0.3 - 29.7 = 10 >= 0: the slice stands.
    # §6: the account's slice carries (30/40)·MM/TMMR = 3/4 of its equity, the same 29.7 (dYdX's
    # |ΔMMR|/TMMR = 50/60 would give 33.0333: the rule liqcore leaves for size tiers).
    pol = lq.Policy(tiers=((0.0, 0.01), (2_000.0, 0.02)), sizing="slices", slice_threshold=0.0,
                    slice_fraction=0.75, fee="surplus")
    book = make_book([(99.99, 1_000.0)], [(100.01, 1_000.0)])
    ref = reference_liquidate([40], [104], [200], [(99.99, 1_000.0)], [], 100.0, 0.0, pol)
    assert ref.closed == [30]
    assert float(ref.fee[0]) == pytest.approx(29.7, rel=1e-12)
    iso = lq.liquidate(lq.Positions([40.0], [104.0], [200.0]), book, 100.0, pol, 0.0)
    assert iso.fee[0] == pytest.approx(29.7, rel=1e-12)
    mk = lq.Markets([100.0], tiers=[pol.tiers], books=[book])
    cr = lq.liquidate_accounts(lq.Portfolio([0], [0], [40.0], [104.0]),
                               lq.Accounts([[200.0]], [1.0]), mk, policy=pol, insurance_fund=0.0)
    assert cr.closed[0] == pytest.approx(30.0, rel=1e-12)
    assert cr.fee[0] == pytest.approx(29.7, rel=1e-12)


def test_takeover_execution() -> None:
    policy = lq.Policy(mmr=0.05, execution="takeover", takeover_fee=0.02)
    pos = lq.Positions([10.0, -10.0], [100.0, 100.0], [40.0, 40.0])
    book = make_book([(99.0, 1.0)], [(101.0, 1.0)])
    res = lq.liquidate(pos, book, 97.0, policy)  # only the long is liquidatable at 97
    assert res.liquidated.tolist() == [True, False]
    assert res.vwap[0] == pytest.approx(97.0 * 0.98)
    assert res.book == book
    assert res.ledger.to_dict()["liquidators/takeover fills vs mark"] == pytest.approx(
        10 * 97 * 0.02
    )


def test_liquidations_consume_the_book_in_order() -> None:
    # Two longs; the more underwater goes first and gets the better bid.
    book = make_book([(99.0, 1.0), (98.0, 1.0)], [(101.0, 5.0)])
    pos = lq.Positions([1.0, 1.0], [100.0, 100.0], [1.0, 0.5])
    res = lq.liquidate(pos, book, 99.0, lq.Policy(mmr=0.05), insurance_fund=100.0)
    assert res.sequence.tolist() == [1, 0]
    assert res.vwap.tolist() == [98.0, 99.0]
    assert res.book.n_bids == 0
    assert book.n_bids == 2  # the input book is unchanged
    given_order = lq.liquidate(
        pos, book, 99.0, lq.Policy(mmr=0.05, order="given"), insurance_fund=100.0
    )
    assert given_order.vwap.tolist() == [99.0, 98.0]


def test_fees_refill_the_fund_for_later_liquidations() -> None:
    book = make_book([(100.0, 10.0), (80.0, 10.0)], [(120.0, 5.0)])
    pos = lq.Positions([1.0, 1.0], [100.0, 100.0], [4.0, 4.0])
    policy = lq.Policy(mmr=0.05, order="given", fee="surplus")
    res = lq.liquidate(pos, book, 99.0, policy, insurance_fund=0.0)
    # both fill at 100: surplus 4 each → fees 8; no deficit
    assert res.total_fees == pytest.approx(8.0)
    book2 = make_book([(100.0, 1.0), (80.0, 10.0)], [(120.0, 5.0)])
    res2 = lq.liquidate(pos, book2, 99.0, policy, insurance_fund=0.0)
    # first: fee 4 to the fund; second fills at 80: deficit 16, the fund pays 4, shortfall 12
    assert res2.fee.tolist() == [4.0, 0.0]
    assert res2.insurance_draw_by_position.tolist() == [0.0, 4.0]
    assert res2.residual == pytest.approx(12.0)
    assert res2.uncovered == pytest.approx(12.0)
    assert res2.insurance_fund == 0.0


def test_inverse_contract_by_hand() -> None:
    # 1000 contracts of $100 long at 50,000 with 0.2 BTC margin (lev 10); mark 46,000:
    # PnL = 1000·100·(1/50000 - 1/46000) = -0.173913 BTC; E = 0.026087 < MM 0.005·2.173913
    C, q, ep, m, P = 100.0, 1000.0, 50_000.0, 0.2, 46_000.0
    policy = lq.Policy(contract="inverse", contract_size=C, mmr=0.05, fee="surplus")
    book = make_book([(45_000.0, 400.0), (44_000.0, 10_000.0)], [(47_000.0, 10.0)])
    res = lq.liquidate(lq.Positions([q], [ep], [m]), book, P, policy, insurance_fund=1.0)
    coin = 400 * C / 45_000 + 600 * C / 44_000  # coin value of the contracts sold
    vwap = 1000 / (400 / 45_000 + 600 / 44_000)
    assert res.vwap[0] == pytest.approx(vwap, rel=1e-14)
    e_after = m + q * C * (1 / ep) - coin  # margin + entry value - coin paid back
    assert e_after < 0
    assert res.deficit[0] == pytest.approx(-e_after, rel=1e-12)


# ---- published numbers (docs/model.md §8) ----------------------------------------------------------


@pytest.mark.parametrize(("cap", "fee"), [(0.005, 28.05), (0.025, 140.25), (1.0, 510.0)])
def test_dydx_fee_cap(cap: float, fee: float) -> None:
    # 0.1 BTC long sold at 56,100 against a bankruptcy quote of 5,100 (BP 51,000: entry 60,000,
    # margin 900); mmr 10% makes it liquidatable at the mark 56,100 (E = 510 < MM = 561).
    pos = lq.Positions([0.1], [60_000.0], [900.0])
    book = make_book([(56_100.0, 1.0)], [(56_200.0, 1.0)])
    res = lq.liquidate(pos, book, 56_100.0, lq.Policy(mmr=0.1, fee="capped", fee_cap=cap))
    assert res.surplus[0] == pytest.approx(510.0, rel=1e-12)
    assert res.fee[0] == pytest.approx(fee, rel=1e-12)
    assert res.insurance_fund == pytest.approx(fee, rel=1e-12)


def test_bitmex_adl_queue_through_liquidate() -> None:
    # Longs (account, qty, rank) (1,10,3) (2,10,6) (3,20,1) (4,30,4) (5,20,5) (6,10,2). With the
    # same entry (PnL% equal), adl.rank orders them by effective leverage: margin per contract
    # 50·(7 - rank) gives exactly the published ranks. A short of 20 with BP 650 (entry 600,
    # margin 1,000) is underwater at the mark 700; empty fund. lq.adl.queue alone allocates
    # the 20 contracts to account 2 (10) and account 5 (10). Through liquidate ADL is money:
    # with limit="bankruptcy" the only ask (800) is beyond BP, so the fund takes the 20 over at
    # 650 (trader: E + gain = -1000 + 1000 = 0) and buys them back at 800 after the close: an
    # inventory loss of 3,000 it cannot pay. The longs cover it in rank order, each up to its
    # positive PnL at the mark (200 per contract): account 2 gives 2,000, account 5 1,000.
    accounts = [1, 2, 3, 4, 5, 6]
    qty = [10.0, 10.0, 20.0, 30.0, 20.0, 10.0]
    rank = [3, 6, 1, 4, 5, 2]
    margin = [q * 50.0 * (7 - r) for q, r in zip(qty, rank)]
    pos = lq.Positions(
        [*qty, -20.0], [500.0] * 6 + [600.0], [*margin, 1000.0], account=[*accounts, 7]
    )
    scores = lq.adl.rank(pos.size[:6], pos.entry_price[:6], pos.margin[:6], 700.0)
    assert np.argsort(-scores).tolist() == np.argsort(-np.array(rank)).tolist()
    np.testing.assert_array_equal(lq.adl.queue(np.array(qty), scores, 20.0), [0, 10, 0, 0, 10, 0])
    book = make_book([(690.0, 1.0)], [(800.0, 20.0)])
    policy = lq.Policy(residual="queue", limit="bankruptcy")
    res = lq.liquidate(pos, book, 700.0, policy, insurance_fund=0.0)
    assert res.liquidated.tolist() == [False] * 6 + [True]
    assert not hasattr(res, "adl_closed")
    assert res.fallback_closed[6] == 20.0
    assert res.vwap[6] == 650.0
    assert res.deficit[6] == 0.0
    assert res.inventory_loss == pytest.approx(3000.0)
    assert res.shortfall[6] == pytest.approx(3000.0)
    np.testing.assert_allclose(res.adl, [0, 2000, 0, 0, 1000, 0, 0])
    assert res.adl_transfers == pytest.approx(3000.0)
    assert res.uncovered == 0.0
    assert res.bad_debt == pytest.approx(3000.0)
    assert levels(res.book.asks) == []
    assert abs(res.ledger.balance) < 1e-9


def test_drift_socialized_loss() -> None:
    # A long (1 @1000, margin 100, BP 900) closes at 800: deficit 100, empty fund. Open interest
    # 5 long + 5 short: 10 per unit of size, 50 per 5-unit position.
    pos = lq.Positions([1.0, 5.0, -5.0], [1000.0, 850.0, 850.0], [100.0, 1000.0, 1000.0])
    book = make_book([(800.0, 1.0)], [(1100.0, 1.0)])
    res = lq.liquidate(pos, book, 850.0, lq.Policy(residual="socialize"), insurance_fund=0.0)
    assert res.deficit[0] == pytest.approx(100.0)
    np.testing.assert_allclose(res.adl, [0.0, 50.0, 50.0])
    assert res.adl_transfers == pytest.approx(100.0)
    assert res.uncovered == 0.0
    assert abs(res.ledger.balance) < 1e-12


def test_adl_never_takes_principal() -> None:
    # Deficit 100 to cover; the only opposite-side winner has 30 of positive PnL: pro-rata takes
    # 30, the rest stays uncovered.
    pos = lq.Positions([1.0, -1.0], [1000.0, 880.0], [100.0, 500.0])
    book = make_book([(800.0, 1.0)], [(1100.0, 1.0)])
    for rule in ("queue", "pro_rata", "capped_pro_rata", "risk_aware"):
        res = lq.liquidate(pos, book, 850.0, lq.Policy(residual=rule), insurance_fund=0.0)
        assert res.adl[1] == pytest.approx(30.0), rule
        assert res.uncovered == pytest.approx(70.0), rule


# ---- results -----------------------------------------------------------------------------------


def test_result_objects() -> None:
    pos = lq.Positions([1.0, -2.0], [100.0, 100.0], [2.0, 50.0], account=[7, 8])
    book = make_book([(97.0, 5.0)], [(103.0, 5.0)])
    res = lq.liquidate(pos, book, 98.0, insurance_fund=10.0)
    s = res.summary()
    assert s["liquidated"] == 1
    assert s["positions"] == 2
    assert s["insurance_fund_before"] == 10.0
    assert set(res.ledger.to_dict()) >= {"traders/equity change", "bad_debt/uncovered"}
    assert "LiquidationResult(" in repr(res)
    assert "Ledger(" in repr(res.ledger)
    # the compact view, in liquidation order, and the per-position arrays built from it
    liq = res.liquidations
    assert isinstance(liq, lq.Liquidations)
    assert len(liq) == 1
    assert liq.position.tolist() == [0]
    assert res.closed.tolist() == [1.0, 0.0]
    assert res.sequence.tolist() == [0, -1]
    assert res.vwap[0] == liq.vwap[0]
    assert np.isnan(res.vwap[1])
    assert res.adl.tolist() == [0.0, 0.0]
    assert res.inventory_loss_by_position.tolist() == [0.0, 0.0]
    assert not hasattr(res, "adl_closed")
    assert not hasattr(res, "takeover_loss")
    # the long sells 1 at 97: E + gain = 0 + (97 - 98) = -1, a deficit of 1 the fund pays
    assert res.bad_debt == pytest.approx(1.0)
    assert s["bad_debt"] == res.bad_debt
    assert res.bad_debt == pytest.approx(res.insurance_draw + res.adl_transfers + res.uncovered)
    assert res.insurance_fund == pytest.approx(9.0)
    assert s["inventory_loss"] == 0.0
    assert s["unabsorbed"] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        res.closed[0] = 2.0
    pd = pytest.importorskip("pandas")
    assert liq.to_frame()["position"].tolist() == [0]
    df = res.to_frame()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 2
    assert df["account"].tolist() == [7, 8]
    assert res.ledger.to_frame()["amount"].sum() == pytest.approx(0.0, abs=1e-12)


def test_deterministic_and_input_untouched() -> None:
    rng = np.random.default_rng(1)
    n = 2_000
    q = rng.normal(0, 1, n)
    ep = 100 * rng.uniform(0.9, 1.1, n)
    m = np.abs(q) * ep / rng.uniform(2, 50, n)
    pos = lq.Positions(q, ep, m)
    book = lq.synthetic_book(100.0, levels=500, seed=3)
    before = pickle.dumps(book)
    a = lq.liquidate(pos, book, 95.0, lq.Policy(residual="queue"), insurance_fund=5.0)
    b = lq.liquidate(pos, book, 95.0, lq.Policy(residual="queue"), insurance_fund=5.0)
    assert pickle.dumps(book) == before
    for name in ("closed", "vwap", "deficit", "fee", "adl"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    assert a.ledger.amount.tobytes() == b.ledger.amount.tobytes()
    assert a.book == b.book


def test_empty_positions() -> None:
    res = lq.liquidate(lq.Positions([], [], []), make_book([], []), 1.0, insurance_fund=3.0)
    assert len(res) == 0
    assert res.n_liquidated == 0
    assert res.insurance_fund == 3.0


# ---- errors ------------------------------------------------------------------------------------


def test_bad_inputs() -> None:
    pos = lq.Positions([1.0], [100.0], [10.0])
    book = make_book([(99.0, 1.0)], [(101.0, 1.0)])
    with pytest.raises(ValueError, match=r"mark must be finite and > 0 \(got nan\)"):
        lq.liquidate(pos, book, float("nan"))
    with pytest.raises(ValueError, match=r"mark must be finite and > 0 \(got -1.0\)"):
        lq.liquidate(pos, book, -1.0)
    with pytest.raises(ValueError, match=r"insurance_fund must be finite and >= 0 \(got -5.0\)"):
        lq.liquidate(pos, book, 100.0, insurance_fund=-5.0)
    with pytest.raises(ValueError, match=r"insurance_fund must be finite and >= 0 \(got inf\)"):
        lq.liquidate(pos, book, 100.0, insurance_fund=float("inf"))
    with pytest.raises(TypeError, match="mark must be a real number"):
        lq.liquidate(pos, book, "100")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mark must be a real number"):
        lq.liquidate(pos, book, np.array([1.0, 2.0]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"positions must be a liqcore\.Positions"):
        lq.liquidate({"size": [1.0]}, book, 100.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"book must be a liqcore\.Book"):
        lq.liquidate(pos, None, 100.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"policy must be a liqcore\.Policy"):
        lq.liquidate(pos, book, 100.0, policy={"mmr": 0.1})  # type: ignore[arg-type]


def test_kernel_validates_what_it_is_given() -> None:
    # _core.liquidate checks values in its detection pass (Positions checks them first in the API)
    from liqcore import _core

    book = make_book([(99.0, 1.0)], [(101.0, 1.0)])
    pol = lq.Policy()._to_core()
    ok = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match=r"size\[1\] must be finite \(got nan\)"):
        _core.liquidate(np.array([1.0, np.nan]), ok * 100, ok, book._b, 100.0, pol, 0.0)
    with pytest.raises(ValueError, match=r"entry_price\[0\] must be finite and > 0 \(got -1\)"):
        _core.liquidate(ok, np.array([-1.0, 1.0]), ok, book._b, 100.0, pol, 0.0)
    with pytest.raises(ValueError, match=r"margin\[1\] must be finite and >= 0 \(got -inf\)"):
        _core.liquidate(ok, ok * 100, np.array([1.0, -np.inf]), book._b, 100.0, pol, 0.0)
    with pytest.raises(ValueError, match="positions columns must have the same length"):
        _core.liquidate(ok, ok[:1], ok, book._b, 100.0, pol, 0.0)


def test_concurrent_calls_agree() -> None:
    # The kernel runs without the GIL, reading the shared book under its lock.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    n = 20_000
    q = rng.normal(0, 1, n)
    ep = 100 * rng.uniform(0.95, 1.05, n)
    pos = lq.Positions(q, ep, np.abs(q) * ep / rng.uniform(2, 50, n))
    book = lq.synthetic_book(100.0, levels=300, seed=1)
    want = lq.liquidate(pos, book, 97.0, lq.Policy(residual="pro_rata"), 10.0)
    with ThreadPoolExecutor(2) as ex:
        got = list(
            ex.map(
                lambda _: lq.liquidate(pos, book, 97.0, lq.Policy(residual="pro_rata"), 10.0),
                range(4),
            )
        )
    for g in got:
        assert g.liquidations.closed.tobytes() == want.liquidations.closed.tobytes()
        assert g.adl.tobytes() == want.adl.tobytes()
        assert g.insurance_fund == want.insurance_fund


def test_inventory_loss_is_net_per_fallback() -> None:
    # long 10 @100, margin 40 → BP 96; mark 96, backstop: the fund takes all 10 at 96. It sells
    # 4 into the bid at 99 (+12) and values 6 at the band edge 9.6 (-518.4): loss_k = 506.4,
    # one net loss; an empty fund pays nothing of it.
    pol = lq.Policy(mmr=0.05, backstop=1.0)
    res = lq.liquidate(
        lq.Positions([10.0], [100.0], [40.0]), make_book([(99.0, 4.0)], []), 96.0, pol, 0.0
    )
    assert res.fallback_closed[0] == 10.0
    assert res.inventory_loss_by_position[0] == pytest.approx(506.4)
    assert res.unabsorbed == pytest.approx(6.0)
    assert res.shortfall[0] == pytest.approx(506.4)
    assert res.inventory_loss == pytest.approx(506.4)
    assert res.inventory_gain == 0.0
    assert res.insurance_draw == 0.0
    assert res.bad_debt == pytest.approx(506.4)


def test_detection_on_every_core_gives_the_same_bits_as_on_one(
    on_one_core: Any, spread_positions: Any
) -> None:
    # Detection runs on every core the process may use, in fixed chunks joined in order: the
    # result is the same bits on one core (affinity restricted) as on all of them.
    pos = spread_positions(300_000, 11)  # several detection chunks
    book = lq.synthetic_book(100.0, levels=2_000, seed=5)

    def run() -> tuple[bytes, ...]:
        r = lq.liquidate(pos, book, 98.0, lq.Policy(), 1e4)
        return (np.asarray(r.liquidated).tobytes(), np.asarray(r.deficit).tobytes(),
                np.float64(r.bad_debt).tobytes(), np.float64(r.insurance_fund).tobytes())

    everywhere = run()
    assert np.asarray(lq.liquidate(pos, book, 98.0, lq.Policy(), 1e4).liquidated).sum() > 1_000
    assert on_one_core(run) == everywhere


def test_zero_requirement_isolated_liquidates_bankrupt_account_does_not() -> None:
    # docs/model.md §7 item 13: mmr 0. Long 1 @ 100, margin 10, mark 80: E = -10 < MM = 0, so the
    # isolated position is liquidated (bids at 79: deficit 100 - 79 - 10 = 11); the one-position
    # account has TMMR = 0 and dYdX's rule never liquidates it.
    pol = lq.Policy(mmr=0.0)
    book = make_book([(79.0, 10.0)], [(81.0, 10.0)])
    iso = lq.liquidate(lq.Positions([1.0], [100.0], [10.0]), book, 80.0, pol, 100.0)
    assert iso.liquidated.tolist() == [True]
    assert iso.bad_debt == pytest.approx(11.0)
    mk = lq.Markets([80.0], 0.0, books=[book])
    cr = lq.liquidate_accounts(lq.Portfolio([0], [0], [1.0], [100.0]),
                               lq.Accounts([[10.0]], [1.0]), mk, policy=pol, insurance_fund=100.0)
    assert cr.n_liquidated == 0
    assert cr.bad_debt == 0.0
    assert not bool(lq.health(lq.Portfolio([0], [0], [1.0], [100.0]), lq.Accounts([[10.0]], [1.0]),
                              mk).liquidatable[0])


def reference_underwater_order(q: np.ndarray, ep: np.ndarray, m: np.ndarray, mark: float,
                               mmr: float) -> list[int]:
    """docs/model.md §3 step 2, linear flat mmr: the liquidatable positions by (MM − E)/notional
    descending; neighbours whose keys tie (within 1e-12 relative, chained) by notional
    descending, then index."""
    notional = np.abs(q) * mark
    key = (notional * mmr - (m + q * (mark - ep))) / notional
    liq = np.flatnonzero(key > 0.0)
    by_key = liq[np.argsort(-key[liq], kind="stable")]
    out: list[int] = []
    group = [int(by_key[0])]
    for prev, i in zip(by_key[:-1], by_key[1:]):
        x, y = key[prev], key[i]
        if abs(x - y) <= 1e-12 * max(1.0, abs(x), abs(y)):
            group.append(int(i))
        else:
            out += sorted(group, key=lambda j: (-notional[j], j))
            group = [int(i)]
    return out + sorted(group, key=lambda j: (-notional[j], j))


def _order_population(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long positions in random order whose underwater keys spread over two binades and more,
    with clusters 2e-11 apart (closer than 32 bits tell apart, farther than a tie), exact
    duplicates and keys equal in exact arithmetic but not in float (ties: larger notional
    first); at mark 100, mmr 0.005."""
    rng = np.random.default_rng(17)
    q = np.ones(n)
    ep = rng.uniform(99.0, 140.0, n)  # keys from below 0 (healthy) to about 0.4
    m = rng.uniform(0.0, 0.5, n)
    c = 3 * n // 20  # 3,000 of 20,000
    cluster = np.arange(0, c)
    ep[cluster] = 120.0 + (cluster % (c // 10)) * 2e-9  # ten copies of c/10 keys 2e-11 apart
    m[cluster] = 0.25
    # pairs of keys equal in exact arithmetic: (q, m) = (1, m0), (4, 4 m0)
    tied = np.arange(c, c + c // 5)
    q[tied[1::2]] = 4.0
    m[tied[1::2]] = 4.0 * m[tied[0::2]]
    ep[tied[1::2]] = ep[tied[0::2]]
    rng.shuffle(perm := np.arange(n))
    return q[perm], ep[perm], m[perm]


def test_large_underwater_order_matches_the_reference() -> None:
    # Over 4096 liquidations in random order the order is a radix sort on 32 of each key's bits,
    # then a sort of the runs those bits leave equal.
    mark, mmr = 100.0, 0.005
    q, ep, m = _order_population(20_000)
    book = lq.synthetic_book(mark, levels=2_000, seed=3)
    res = lq.liquidate(lq.Positions(q, ep, m), book, mark, lq.Policy(mmr=mmr), insurance_fund=1e6)
    want = reference_underwater_order(q, ep, m, mark, mmr)
    assert len(want) > 4096
    assert res.liquidations.position.tolist() == want


@pytest.mark.parametrize("n", [2_000, 20_000])
@pytest.mark.parametrize("runs", [1, 2, 3, 8, 9])
def test_nearly_ordered_hits_order_matches_the_reference(n: int, runs: int) -> None:
    # Hits that arrive in up to 8 runs already in liquidation order (as a stress test's sorted
    # index yields them) are merged instead of sorted; 9 runs take the sort. The liquidatable
    # positions come as `runs` interleaved subsequences of their order (each in order), the
    # healthy ones after them.
    mark, mmr = 100.0, 0.005
    q, ep, m = _order_population(n)
    order = np.array(reference_underwater_order(q, ep, m, mark, mmr))
    healthy = np.setdiff1d(np.arange(n), order)
    perm = np.concatenate([order[r::runs] for r in range(runs)] + [healthy])
    q, ep, m = q[perm], ep[perm], m[perm]
    book = lq.synthetic_book(mark, levels=2_000, seed=3)
    res = lq.liquidate(lq.Positions(q, ep, m), book, mark, lq.Policy(mmr=mmr), insurance_fund=1e6)
    want = reference_underwater_order(q, ep, m, mark, mmr)
    assert (len(want) > 4096) == (n > 4096)
    assert res.liquidations.position.tolist() == want
