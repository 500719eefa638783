"""liqcore.simulate_cascade against a pure-Python reference, the closed form of docs/model.md §4,
consistency with liqcore.liquidate, properties and input errors."""

from __future__ import annotations

import math
import pickle
from typing import Any

import liqcore as lq
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

# ---- the reference ------------------------------------------------------------------------------


def reference_cascade(
    size,
    entry_price,
    margin,
    bids,
    asks,
    mark,
    shock,
    *,
    mmr=0.005,
    fee_cap=0.015,
    fund=0.0,
    resilience=0.0,
    mark_rule="last",
    max_rounds=1000,
    price_band=0.9,
    max_notional=math.inf,
    max_orders=None,
    waits=None,
):
    """The cascade of docs/model.md §4 (the loss rules of §3 each round) for linear contracts,
    a flat mmr, full closes through the book without a limit price (the price band only), the
    capped fee, no residual allocation, most underwater first.

    Each round at mark P: the closes (fallbacks become inventory lots at BP, after the lots the
    fund already holds); the fund sells all its inventory, per side oldest lot first, into the
    book left by the closes within the band at P, and carries what the book cannot absorb; the
    sold pieces settle per lot (gains first, then losses); the mark moves to the round's fills
    (order-free), the book recovers. A round happens if it liquidates or sells; at the end the
    inventory still held is valued on the book then (within the band at the final mark), the
    rest at the band edge.

    Rate limits (docs/model.md §4): each round takes the ordered liquidatable positions while
    the round holds at most ``max_orders`` of them and at most ``max_notional`` notional at P
    (the first always goes); the rest wait, and are detected again in the next round if still
    liquidatable at its mark. ``waits``: a list that gets (waited, waited notional) per round.

    Returns (marks, per-position round/closed/deficit/fee, fund after)."""
    n = len(size)
    f = 1.0 + shock
    px = {1.0: [f * p for p, _ in bids], -1.0: [f * p for p, _ in asks]}
    q0 = {1.0: [q for _, q in bids], -1.0: [q for _, q in asks]}
    qty = {s: list(q0[s]) for s in (1.0, -1.0)}
    # liquidation price, exactly as margin.hpp computes it for one tier with cum = 0
    lp = [
        (margin[i] + 0.0 - size[i] * entry_price[i]) / (abs(size[i]) * mmr - size[i])
        for i in range(n)
    ]
    P = mark * f
    marks = [P]
    rnd = [-1] * n
    closed = [0.0] * n
    deficit = [0.0] * n
    fee = [0.0] * n
    done = [False] * n
    lots = {1.0: [], -1.0: []}  # the fund's inventory per side: [quantity, bankruptcy price]

    def edge(s, P):  # the band's worst price for a sell (s = +1) or a buy at mark P
        return max(0.0, P * (1.0 - price_band)) if s > 0 else P * (1.0 + price_band)

    def walk(s, x, limit, q):
        """A market order of x into side s of quantities q (consumed), never worse than limit:
        the fills [(quantity, price)] and the rest."""
        fills = []
        for lv in range(len(q)):
            if not x > 0.0:
                break
            p = px[s][lv]
            if (p < limit) if s > 0 else (p > limit):
                break
            take = min(x, q[lv])
            if take > 0.0:
                fills.append((take, p))
                q[lv] -= take
                x -= take
        return fills, max(x, 0.0)

    def settle(losses):
        """The fund: every gain credited first, then the losses paid while it can."""
        nonlocal fund
        fund += sum(-x for x in losses if x < 0.0)
        for x in losses:
            if x > 0.0:
                fund -= min(x, max(fund, 0.0))

    def underwater(i, P):  # most underwater first: (MM − E)/notional descending
        q = size[i]
        e = margin[i] + q * (P - entry_price[i])
        nt = abs(q) * P
        mm = nt * mmr - 0.0
        return (-((mm - e) / nt), -nt, i)

    def record(flow, s, fills):  # per side: quantity through the book, deepest price
        for x, p in fills:
            flow[s][0] += x
            d = flow[s][1]
            flow[s][1] = p if math.isnan(d) else (min(d, p) if s > 0 else max(d, p))

    for k in range(1, max_rounds + 1):
        hits = [
            i
            for i in range(n)
            if not done[i]
            and size[i] != 0.0
            and lp[i] > 0.0
            and math.isfinite(lp[i])
            and ((size[i] > 0 and lp[i] > P) or (size[i] < 0 and lp[i] < P))
        ]
        sellable = any(
            lots[s] and walk(s, math.inf, edge(s, P), list(qty[s]))[0] for s in (1.0, -1.0)
        )
        if not hits and not sellable:
            break
        hits.sort(key=lambda i: underwater(i, P))
        taken, used = 0, 0.0
        for i in hits:
            nt = abs(size[i]) * P
            if taken > 0 and (
                (max_orders is not None and taken + 1 > max_orders) or used + nt > max_notional
            ):
                break
            taken, used = taken + 1, used + nt
        if waits is not None:
            waits.append((len(hits) - taken, sum(abs(size[i]) * P for i in hits[taken:])))
        hits = hits[:taken]
        flow = {1.0: [0.0, math.nan], -1.0: [0.0, math.nan]}  # [book quantity, deepest price]
        for i in hits:
            q = size[i]
            s = 1.0 if q > 0 else -1.0
            E = margin[i] + q * (P - entry_price[i])
            fills, rest = walk(s, abs(q), edge(s, P), qty[s])
            record(flow, s, fills)
            gain = sum(s * x * (p - P) for x, p in fills)
            fill_notional = sum(x * p for x, p in fills)
            if rest > 0.0:  # fallback: taken over by the fund at the bankruptcy price
                bp = max(entry_price[i] - margin[i] / q, 0.0)
                gain += s * rest * (bp - P)
                lots[s].append([rest, bp])
            after = E + gain
            d = max(0.0, -after)
            sur = max(0.0, after)
            fe = min(sur, fee_cap * fill_notional) if sur > 0.0 else 0.0
            fund += fe
            fund -= min(d, max(fund, 0.0))
            rnd[i], closed[i], deficit[i], fee[i], done[i] = k, abs(q), d, fe, True
        # the fund sells everything it holds, oldest lot first; the rest is carried
        losses = []
        for s in (1.0, -1.0):
            for lot in lots[s]:
                fills, lot[0] = walk(s, lot[0], edge(s, P), qty[s])
                record(flow, s, fills)
                if fills:
                    losses.append(sum(-s * x * (p - lot[1]) for x, p in fills))
            lots[s] = [lot for lot in lots[s] if lot[0] > 0.0]
        settle(losses)
        # the mark: order-free, from each side's deepest fill of the round
        if flow[1.0][0] > 0.0 or flow[-1.0][0] > 0.0:
            if mark_rule == "last":
                w = [(flow[s][0], flow[s][1]) for s in (1.0, -1.0) if flow[s][0] > 0.0]
                P = sum(x * p for x, p in w) / sum(x for x, _ in w)
            else:
                best = {
                    s: next((px[s][j] for j, x in enumerate(qty[s]) if x > 0.0), math.nan)
                    for s in (1.0, -1.0)
                }
                bb, ba = best[1.0], best[-1.0]
                mid = ba if math.isnan(bb) else (bb if math.isnan(ba) else 0.5 * (bb + ba))
                P = P if math.isnan(mid) else mid  # an empty book leaves the mark
        for s in (1.0, -1.0):
            qty[s] = [x + resilience * (x0 - x) for x, x0 in zip(qty[s], q0[s])]
        marks.append(P)
    # finish: what the fund still holds is valued on the book as it is, the rest at the edge
    losses = []
    for s in (1.0, -1.0):
        view = list(qty[s])  # the valuation does not consume the book
        for x, bp in lots[s]:
            fills, rest = walk(s, x, edge(s, P), view)
            losses.append(
                sum(-s * y * (p - bp) for y, p in fills) - s * rest * (edge(s, P) - bp)
            )
    settle(losses)
    return marks, rnd, closed, deficit, fee, fund


def make_book(bids, asks):
    return lq.Book(
        [p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks]
    )


@st.composite
def cascades(draw):
    n = draw(st.integers(1, 25))
    mark = draw(st.sampled_from([1.0, 100.0, 60_000.0, 3e7]))
    size = [draw(st.floats(0.01, 10.0)) * draw(st.sampled_from([-1.0, 1.0])) for _ in range(n)]
    entry = [mark * draw(st.floats(0.9, 1.1)) for _ in range(n)]
    lev = [draw(st.floats(2.0, 100.0)) for _ in range(n)]
    margin = [abs(q) * e / v for q, e, v in zip(size, entry, lev)]
    nb, na = draw(st.integers(0, 15)), draw(st.integers(0, 15))
    gaps_b = [draw(st.floats(1e-4, 0.01)) for _ in range(nb)]
    gaps_a = [draw(st.floats(1e-4, 0.01)) for _ in range(na)]
    bids, p = [], mark
    for g in gaps_b:
        p *= 1.0 - g
        bids.append((p, draw(st.floats(0.01, 20.0))))
    asks, p = [], mark
    for g in gaps_a:
        p *= 1.0 + g
        asks.append((p, draw(st.floats(0.01, 20.0))))
    shock = draw(st.floats(-0.1, 0.1))
    resilience = draw(st.sampled_from([0.0, 0.3, 1.0]))
    rule = draw(st.sampled_from(["last", "mid"]))
    fund = draw(st.sampled_from([0.0, 1e3 * mark]))
    return size, entry, margin, bids, asks, mark, shock, resilience, rule, fund


@settings(max_examples=60)
@given(cascades())
def test_matches_reference(case):
    size, entry, margin, bids, asks, mark, shock, resilience, rule, fund = case
    pos = lq.Positions(size, entry, margin)
    res = lq.simulate_cascade(
        pos,
        make_book(bids, asks),
        mark,
        shock,
        insurance_fund=fund,
        resilience=resilience,
        mark_rule=rule,
    )
    marks, rnd, closed, deficit, fee, fund_after = reference_cascade(
        size,
        entry,
        margin,
        bids,
        asks,
        mark,
        shock,
        fund=fund,
        resilience=resilience,
        mark_rule=rule,
    )
    np.testing.assert_allclose(res.marks, marks, rtol=1e-12)
    np.testing.assert_array_equal(res.round, rnd)
    np.testing.assert_allclose(res.closed, closed, rtol=1e-12)
    scale = max(1.0, float(np.sum(np.abs(size))) * mark)
    np.testing.assert_allclose(res.deficit, deficit, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(res.fee, fee, rtol=1e-9, atol=1e-9 * scale)
    assert res.insurance_fund == pytest.approx(fund_after, rel=1e-9, abs=1e-9 * scale)
    assert res.converged
    assert abs(res.ledger.balance) <= 1e-9 * scale


@settings(max_examples=60, deadline=None)
@given(cascades(), st.sampled_from([None, 1, 2, 3]), st.sampled_from([None, 0.05, 0.3, 1.0]))
def test_rate_limited_matches_reference(case, max_orders, cap_share):
    # cap_share: max_notional as a share of the population's notional at the mark
    size, entry, margin, bids, asks, mark, shock, resilience, rule, fund = case
    cap = None if cap_share is None else cap_share * float(np.sum(np.abs(size))) * mark
    policy = lq.Policy(max_orders=max_orders, max_notional=cap)
    res = lq.simulate_cascade(
        lq.Positions(size, entry, margin),
        make_book(bids, asks),
        mark,
        shock,
        policy,
        insurance_fund=fund,
        resilience=resilience,
        mark_rule=rule,
    )
    waits = []
    marks, rnd, closed, deficit, fee, fund_after = reference_cascade(
        size,
        entry,
        margin,
        bids,
        asks,
        mark,
        shock,
        fund=fund,
        resilience=resilience,
        mark_rule=rule,
        max_notional=math.inf if cap is None else cap,
        max_orders=max_orders,
        waits=waits,
    )
    np.testing.assert_allclose(res.marks, marks, rtol=1e-12)
    np.testing.assert_array_equal(res.round, rnd)
    np.testing.assert_allclose(res.closed, closed, rtol=1e-12)
    scale = max(1.0, float(np.sum(np.abs(size))) * mark)
    np.testing.assert_allclose(res.deficit, deficit, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(res.fee, fee, rtol=1e-9, atol=1e-9 * scale)
    assert res.insurance_fund == pytest.approx(fund_after, rel=1e-9, abs=1e-9 * scale)
    np.testing.assert_array_equal(res.trace.waited, [w for w, _ in waits])
    np.testing.assert_allclose(res.trace.waited_notional, [x for _, x in waits], rtol=1e-12)
    event(f"waited: {res.n_waited > 0}")
    assert res.n_waited == sum(w for w, _ in waits)
    assert res.waited_notional == pytest.approx(sum(x for _, x in waits), rel=1e-12)
    # never more than the caps per round, unless one position alone exceeds the notional cap
    if max_orders is not None:
        assert np.all(res.trace.liquidated <= max_orders)
    if cap is not None:
        over = res.trace.notional > cap * (1.0 + 1e-12)
        assert np.all(res.trace.liquidated[over] == 1)
    assert res.converged
    assert abs(res.ledger.balance) <= 1e-9 * scale


# ---- one round is a liquidation at the shocked mark on the shifted book ---------------------------


def population(n, mark, seed=1):
    rng = np.random.default_rng(seed)
    size = rng.choice([-1.0, 1.0], n) * rng.lognormal(-2.0, 1.0, n)
    entry = mark * np.exp(rng.normal(0.0, 0.02, n))
    margin = np.abs(size) * entry / rng.uniform(2.0, 50.0, n)
    return lq.Positions(size, entry, margin)


@pytest.mark.parametrize(
    "policy",
    [
        lq.Policy(),
        lq.Policy.binance(),
        lq.Policy.dydx(),
        lq.Policy.hyperliquid(),
        lq.Policy.drift(),
        lq.Policy(residual="socialize", limit="bankruptcy"),
        lq.Policy(order="given", fee="surplus"),
    ],
    ids=["default", "binance", "dydx", "hyperliquid", "drift", "socialize", "given"],
)
def test_first_round_is_liquidate_on_the_shifted_book(policy):
    mark, shock = 60_000.0, -0.04
    pos = population(2_000, mark)
    book = lq.Book.synthetic(mark, levels=400)
    cas = lq.simulate_cascade(pos, book, mark, shock, policy, insurance_fund=2e5, max_rounds=1)
    (bp, bq), (ap, aq) = book.bids, book.asks
    f = 1.0 + shock
    shifted = lq.Book(f * bp, bq, f * ap, aq)
    liq = lq.liquidate(pos, shifted, mark * f, policy, insurance_fund=2e5)
    assert cas.rounds == 1
    np.testing.assert_array_equal(cas.liquidated, liq.liquidated)
    for name in ("closed", "deficit", "surplus", "fee", "shortfall", "adl",
                 "inventory_loss_by_position", "insurance_draw_by_position"):
        np.testing.assert_array_equal(getattr(cas, name), getattr(liq, name), err_msg=name)
    np.testing.assert_array_equal(cas.vwap, liq.vwap)
    assert cas.insurance_fund == liq.insurance_fund
    assert cas.residual == liq.residual
    assert cas.adl_transfers == liq.adl_transfers
    for name in ("inventory_loss", "inventory_gain", "unabsorbed", "bad_debt", "uncovered"):
        assert getattr(cas, name) == getattr(liq, name), name
    np.testing.assert_array_equal(cas.ledger.amount, liq.ledger.amount)
    if policy.execution == "book":
        assert cas.book == liq.book


# ---- the closed form of docs/model.md §4 --------------------------------------------------------------


def linear_market(lam_rho, *, P0=100.0, L=1_000.0, delta=0.001, mmr=0.005, span=15.0):
    """A bid side of constant density L (base units per unit of price, levels every `delta`) and
    longs whose liquidation prices are spread evenly below P0 with density rho = lam_rho·L."""
    n_lev = int(2 * span / delta)
    bid_px = P0 - delta * (np.arange(n_lev) + 0.5)
    ask_px = P0 + delta * (np.arange(50) + 0.5)
    book = lq.Book(bid_px, np.full(n_lev, L * delta), ask_px, np.full(50, L * delta))
    h = 0.001
    lp = P0 - h * (np.arange(int(span / h)) + 0.5)
    q = np.full(lp.size, lam_rho * L * h)
    ep = np.full(lp.size, P0 + 1.0)
    margin = q * (ep - lp * (1.0 - mmr))  # long: LP = (q·EP − M) / (q·(1 − mmr))
    return lq.Positions(q, ep, margin), book, lq.Policy(mmr=mmr)


@pytest.mark.parametrize("lam_rho", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("rule", ["last", "mid", "index", 0.25, 0.5, 0.8])
def test_closed_form(lam_rho, rule):
    # rule: a name, or the weight w of the index blend (the index: the shocked mark), whose
    # multiplier is 1 / (1 − w·λρ) ("last": w = 1, "index": w = 0, "mid": w = 1/2 in effect)
    P0, L, shock = 100.0, 1_000.0, -0.01
    pos, book, policy = linear_market(lam_rho, P0=P0, L=L)
    w = {"last": 1.0, "mid": 0.5, "index": 0.0}.get(rule, rule)  # mid: the ask side stays
    mark_rule = lq.MarkRule.index(w=rule) if isinstance(rule, float) else rule
    res = lq.simulate_cascade(pos, book, P0, shock, policy, mark_rule=mark_rule)
    lam = (1.0 + shock) / L  # the shifted book's levels are (1 + shock)·delta apart
    eff = w * lam * lam_rho * L
    expected = P0 * shock / (1.0 - eff)
    assert res.final_mark - P0 == pytest.approx(expected, rel=0.10)
    assert res.final_mark - P0 == pytest.approx(expected, rel=0.01)  # in fact much closer
    assert res.converged and res.rounds > (1 if w > 0.0 else 0)
    assert res.rounds == 1 or w > 0.0  # w = 0: one round at the index, no feedback
    assert np.all(np.diff(res.marks) <= 0.0)


@pytest.mark.parametrize("lam_rho, w", [(1.2, 0.5), (2.0, 0.25), (1.1, 0.8)])
def test_closed_form_of_the_blend_beyond_lambda_rho_one(lam_rho, w):
    # λρ >= 1 runs away under "last" but converges when w·λρ < 1
    P0, L, shock = 100.0, 1_000.0, -0.01
    pos, book, policy = linear_market(lam_rho, P0=P0, L=L)
    res = lq.simulate_cascade(pos, book, P0, shock, policy, mark_rule=lq.MarkRule.index(w=w))
    expected = P0 * shock / (1.0 - w * (1.0 + shock) * lam_rho)
    assert res.final_mark - P0 == pytest.approx(expected, rel=0.01)
    assert res.converged


@pytest.mark.parametrize("rule", ["last", lq.MarkRule.index(w=0.9)], ids=str)
def test_runaway_when_w_lambda_rho_at_least_one(rule):
    # λρ = 1.2: w·λρ = 1.19 ("last", w = 1) and 1.07 (w = 0.9)
    pos, book, policy = linear_market(1.2, span=5.0)
    res = lq.simulate_cascade(pos, book, 100.0, -0.01, policy, mark_rule=rule)
    assert res.liquidated.all()  # the cascade runs through every position...
    w = 1.0 if rule == "last" else 0.9
    book_price = (res.final_mark - (1.0 - w) * 99.0) / w  # (the mark: (1 − w)·index + w·B)
    assert book_price < 95.0  # ...and past the lowest liquidation price (100 - span)


def test_no_liquidation_moves_exactly_by_the_shock():
    mark, shock = 60_000.0, -0.05
    pos = lq.Positions([0.1, -0.1], [60_000.0, 60_000.0], [6_000.0, 6_000.0])  # 10x: LP far away
    book = lq.Book.synthetic(mark, levels=300)
    res = lq.simulate_cascade(pos, book, mark, shock, insurance_fund=5.0)
    assert res.final_mark == mark * (1.0 + shock)
    assert res.rounds == 0 and len(res.trace) == 0
    np.testing.assert_array_equal(res.marks, [mark * (1.0 + shock)])
    assert not res.liquidated.any() and res.n_liquidated == 0
    assert res.insurance_fund == 5.0 and res.total_deficit == 0.0
    assert res.amplification == pytest.approx(1.0)
    (bp, bq), (ap, aq) = book.bids, book.asks
    assert res.book == lq.Book((1.0 + shock) * bp, bq, (1.0 + shock) * ap, aq)


def test_shorts_cascade_upwards():
    pos, book, policy = linear_market(0.5)
    (bp, bq), (ap, aq) = book.bids, book.asks
    mirror = lq.Book(200.0 - ap, aq, 200.0 - bp, bq)  # the mirror image around 100
    shorts = lq.Positions(-pos.size, 200.0 - pos.entry_price, pos.margin)
    res = lq.simulate_cascade(shorts, mirror, 100.0, 0.01, policy)
    assert res.final_mark - 100.0 == pytest.approx(100.0 * 0.01 / (1.0 - 0.5 * 1.01), rel=0.1)


def test_resilience_dampens_the_cascade():
    pos, book, policy = linear_market(0.75)
    moves = [
        lq.simulate_cascade(pos, book, 100.0, -0.01, policy, resilience=r).move
        for r in (0.0, 0.3, 1.0)
    ]
    assert moves[0] < moves[1] < moves[2] < 0.0


def test_full_resilience_restores_the_book():
    pos, book, policy = linear_market(0.5)
    res = lq.simulate_cascade(pos, book, 100.0, -0.01, policy, resilience=1.0)
    (bp, bq), _ = book.bids, book.asks
    (rp, rq), _ = res.book.bids, res.book.asks
    np.testing.assert_array_equal(rp, 0.99 * bp)
    np.testing.assert_allclose(rq, bq, rtol=1e-12)


def test_takeover_never_moves_the_mark():
    mark = 60_000.0
    pos = population(3_000, mark)
    book = lq.Book.synthetic(mark, levels=300)
    res = lq.simulate_cascade(pos, book, mark, -0.05, lq.Policy(execution="takeover"))
    assert res.rounds == 1 and res.final_mark == mark * 0.95
    # Drift: socialized losses lower other positions' equity, so later rounds liquidate more,
    # but at the same mark
    res = lq.simulate_cascade(pos, book, mark, -0.05, lq.Policy.drift())
    assert res.rounds > 1 and np.all(res.marks == mark * 0.95)


def test_max_rounds_stops_early():
    pos, book, policy = linear_market(0.75)
    res = lq.simulate_cascade(pos, book, 100.0, -0.01, policy, max_rounds=3)
    assert res.rounds == 3 and not res.converged and len(res.marks) == 4
    full = lq.simulate_cascade(pos, book, 100.0, -0.01, policy)
    np.testing.assert_array_equal(res.marks, full.marks[:4])


# ---- properties across policies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        lq.Policy(),
        lq.Policy.binance(),
        lq.Policy.dydx(),
        lq.Policy.hyperliquid(),
        lq.Policy.drift(),
        lq.Policy(sizing="partial", residual="pro_rata"),
        lq.Policy(residual="socialize"),
        lq.Policy(contract="inverse", contract_size=100.0, mmr=0.01),
    ],
    ids=["default", "binance", "dydx", "hyperliquid", "drift", "partial", "socialize", "inverse"],
)
def test_money_is_conserved_and_the_trace_adds_up(policy):
    mark = 60_000.0
    pos = population(5_000, mark, seed=3)
    if policy.contract == "inverse":  # contracts of 100 USD
        pos = lq.Positions(np.round(pos.size * 600.0), pos.entry_price, pos.margin / mark)
    res = lq.simulate_cascade(
        pos,
        lq.Book.synthetic(mark, levels=500),
        mark,
        -0.06,
        policy,
        insurance_fund=1e5 if policy.contract == "linear" else 2.0,
        resilience=0.2,
    )
    scale = float(np.sum(np.abs(res.ledger.amount))) + 1.0
    assert abs(res.ledger.balance) <= 1e-9 * scale
    tr = res.trace
    assert res.n_liquidated == int(tr.liquidated.sum()) >= int(res.liquidated.sum())
    assert res.total_deficit == pytest.approx(float(tr.deficit.sum()), rel=1e-12, abs=1e-9 * scale)
    assert res.insurance_draw == pytest.approx(
        float(np.sum(res.insurance_draw_by_position)), rel=1e-9, abs=1e-9
    )
    np.testing.assert_array_equal(tr.mark, res.marks[1:])
    np.testing.assert_array_equal(tr.mark_before, res.marks[:-1])
    if res.rounds:
        assert tr.insurance_fund[-1] == res.insurance_fund
    assert np.all(res.closed >= 0.0)
    assert np.all((res.round >= 1) == res.liquidated)
    assert np.all(res.round <= res.rounds)


def test_full_closes_liquidate_each_position_once():
    mark = 60_000.0
    pos = population(20_000, mark, seed=5)
    res = lq.simulate_cascade(pos, lq.Book.synthetic(mark), mark, -0.05)
    assert res.n_liquidated == int(res.liquidated.sum())
    np.testing.assert_array_equal(res.closed[res.liquidated], np.abs(pos.size[res.liquidated]))
    assert res.converged


# ---- results ----------------------------------------------------------------------------------


def test_result_views():
    mark = 60_000.0
    pos = population(500, mark)
    res = lq.simulate_cascade(
        pos, lq.Book.synthetic(mark, levels=200), mark, -0.05, insurance_fund=1e4
    )
    s = res.summary()
    assert s["liquidations"] == res.n_liquidated and s["final_mark"] == res.final_mark
    assert len(res) == 500 and "CascadeResult(" in repr(res)
    assert set(res.trace.to_dict()) >= {"round", "mark", "liquidated", "deficit", "insurance_fund"}
    pd = pytest.importorskip("pandas")
    assert isinstance(res.to_frame(), pd.DataFrame) and len(res.to_frame()) == 500
    assert len(res.trace.to_frame()) == res.rounds


def test_inputs_pickle_and_are_unchanged():
    mark = 60_000.0
    pos = population(300, mark)
    book = lq.Book.synthetic(mark, levels=200)
    before = book.copy()
    res = lq.simulate_cascade(pos, book, mark, -0.05)
    assert book == before
    again = lq.simulate_cascade(
        pickle.loads(pickle.dumps(pos)),
        pickle.loads(pickle.dumps(book)),
        mark,
        -0.05,
        pickle.loads(pickle.dumps(lq.Policy())),
    )
    np.testing.assert_array_equal(again.marks, res.marks)


# ---- errors -----------------------------------------------------------------------------------


def test_errors():
    pos = lq.Positions([1.0], [100.0], [10.0])
    book = lq.Book([99.0], [1.0], [101.0], [1.0])
    with pytest.raises(TypeError, match="positions must be a liqcore.Positions"):
        lq.simulate_cascade([1.0], book, 100.0, -0.1)
    with pytest.raises(TypeError, match="book must be a liqcore.Book"):
        lq.simulate_cascade(pos, {}, 100.0, -0.1)
    with pytest.raises(TypeError, match="policy must be a liqcore.Policy"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, policy="binance")
    with pytest.raises(ValueError, match=r"mark must be finite and > 0 \(got nan\)"):
        lq.simulate_cascade(pos, book, math.nan, -0.1)
    with pytest.raises(ValueError, match=r"shock must be finite and > -1 \(got -1.0\)"):
        lq.simulate_cascade(pos, book, 100.0, -1.0)
    with pytest.raises(ValueError, match="shock must be finite"):
        lq.simulate_cascade(pos, book, 100.0, math.inf)
    with pytest.raises(TypeError, match="shock must be a real number"):
        lq.simulate_cascade(pos, book, 100.0, "-0.1")
    with pytest.raises(ValueError, match=r"insurance_fund must be finite and >= 0 \(got -1.0\)"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, insurance_fund=-1.0)
    with pytest.raises(ValueError, match=r"resilience must be in \[0, 1\] \(got 1.5\)"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, resilience=1.5)
    with pytest.raises(ValueError, match="mark_rule must be one of 'last', 'mid'"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, mark_rule="vwap")
    with pytest.raises(TypeError, match="mark_rule must be a str"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, mark_rule=0)
    with pytest.raises(ValueError, match=r"max_rounds must be >= 0 \(got -1\)"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, max_rounds=-1)
    with pytest.raises(TypeError, match="max_rounds must be an int"):
        lq.simulate_cascade(pos, book, 100.0, -0.1, max_rounds=2.5)


def test_mmr_one_counterparty_charged_by_the_residual_is_liquidated_later() -> None:
    # mmr = 1: a long is liquidatable at every mark once its margin is below its notional at
    # entry (docs/model.md §1). Long 0.5 @ 50 with margin 26 is not (26 > 25); the pro-rata
    # residual of the four bankrupt shorts charges it more than 1, after which it is
    # liquidatable at any mark and the next round takes it (found by the model reference).
    pos = lq.Positions([0.5, -4.0, -4.0, -4.0, -4.0], [50.0] * 5, [26.0, 0.0, 0.0, 0.0, 0.0])
    book = lq.Book([], [], [81.0], [0.25])
    pol = lq.Policy(mmr=1.0, residual="pro_rata", price_band=1.0)
    res = lq.simulate_cascade(pos, book, 80.0, -0.05, pol, insurance_fund=0.0, max_rounds=20)
    assert res.n_liquidated == 5
    assert bool(np.asarray(res.liquidated)[0])
    assert res.bad_debt == pytest.approx(1648.9, rel=1e-12)


def test_unabsorbed_counts_only_what_the_end_values_at_the_edge():
    # docs/model.md §4: the fund carries what the book does not take from round to round; only
    # what is left at the end and finds no bid within the band is valued at the edge. Long 2 @
    # 100, margin 10, shock -10% (bids 90 x 1, 45 x 10; band 0.2 at 90: bids >= 72): the close
    # sells 1 @ 90, the fund takes 1 @ 95 and finds no bid. (Hand-worked in
    # tests/test_model_reference.py, test_cascade_inventory_carried_and_sold.)
    def run(resilience, max_rounds):
        return lq.simulate_cascade(
            lq.Positions([2.0], [100.0], [10.0]), lq.Book([100.0, 50.0], [1.0, 10.0], [110.0], [1.0]),
            100.0, -0.1, lq.Policy(price_band=0.2), insurance_fund=100.0, resilience=resilience,
            max_rounds=max_rounds,
        )

    # no refill: round 1 carries 1, the end values it at the edge 72 (loss 23): bad debt 28
    r = run(0.0, 1000)
    assert (r.rounds, r.held_at_end, r.unabsorbed, r.bad_debt) == (1, 1.0, 1.0, 28.0)
    # refill 0.25 per round, 2 rounds: held 1 then 0.75 (carried, not counted); at the end
    # 0.25 finds the refilled 90 bid and 0.5 is valued at the edge
    r = run(0.25, 2)
    np.testing.assert_array_equal(r.trace.unabsorbed, [1.0, 0.75])
    assert (r.rounds, r.held_at_end, r.unabsorbed, r.bad_debt) == (2, 0.75, 0.5, 19.0)
    # refill 0.5: everything sold by round 3, nothing left for the edge
    r = run(0.5, 1000)
    assert (r.rounds, r.held_at_end, r.unabsorbed, r.bad_debt) == (3, 0.0, 0.0, 10.0)


def test_index_on_every_core_gives_the_same_bits_as_on_one(
    on_one_core: Any, spread_positions: Any
) -> None:
    # The cascade's index is collected on every core the process may use, in fixed chunks
    # joined in chunk order, and bucketed chunk by chunk on a core each (a chunk's entries of a
    # bucket after those of the chunks before it): the cascade is the same bits on one core
    # (affinity restricted) as on all of them, through window extensions.
    pos = spread_positions(300_000, 12)  # several collection chunks
    book = lq.synthetic_book(100.0, levels=2_000, seed=5)

    def run() -> tuple[bytes, ...]:
        r = lq.simulate_cascade(pos, book, 100.0, -0.03, insurance_fund=1e4)
        return (
            np.asarray(r.liquidated).tobytes(), np.asarray(r.round).tobytes(),
            np.asarray(r.deficit).tobytes(), np.asarray(r.vwap).tobytes(),
            np.float64(r.bad_debt).tobytes(), np.float64(r.final_mark).tobytes(), bytes([r.rounds]),
        )  # fmt: skip

    everywhere = run()
    assert int(np.count_nonzero(lq.simulate_cascade(pos, book, 100.0, -0.03).liquidated)) > 10_000
    assert on_one_core(run) == everywhere
