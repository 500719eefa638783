"""Account-wide liquidation across markets: a pure-Python reference, the isolated engine as the
one-position case, the ledger, cross vs isolated deficits, partial restoration, and bad input."""

from __future__ import annotations

import math

import liqcore as lq
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from model_reference import allocate_residual
from test_cross_margin import ref_health, ref_position_values

# ---- pure-Python reference (linear markets, full sizing) ---------------------------------------


def fee_of(policy, surplus, notional):
    if not surplus > 0:
        return 0.0
    if policy.fee == "surplus":
        return surplus
    if policy.fee == "drift":
        return min(0.95 * surplus, policy.fee_rate * notional)
    rate = policy.fee_cap if policy.fee == "capped" else policy.fee_rate
    return min(surplus, rate * notional)


def band_edge(s, P, band):
    """The worst price the band admits: a sell (s = +1) down to P·(1 - band), a buy up to
    P·(1 + band) (docs/model.md §2)."""
    return max(0.0, P * (1.0 - band)) if s > 0 else P * (1.0 + band)


def record(flow, key, fills):
    """Per market and side: [quantity filled through the book, deepest price] (for the mark)."""
    if flow is None or not fills:
        return
    f = flow.setdefault(key, [0.0, math.nan])
    for x, p in fills:
        f[0] += x
        f[1] = p if math.isnan(f[1]) else (min(f[1], p) if key[1] > 0 else max(f[1], p))


def walk_side(side, s, qty, limit):
    """Market order of `qty` into one book side (a list of [price, quantity], consumed in place;
    emptied levels stay at 0), never at a price worse than `limit` (None: no limit). Returns the
    fills [(x, p)] and the rest."""
    fills, rem = [], qty
    for level in side:
        if not rem > 0:
            break
        p, avail = level
        if limit is not None and (p < limit if s > 0 else p > limit):
            break
        x = min(rem, avail)
        if x > 0:
            fills.append((x, p))
            rem -= x
            level[1] = avail - x
    return fills, max(rem, 0.0)


def as_levels(b):
    """A liqcore.Book as mutable sides: {"bid": [[price, quantity], ...], "ask": [...]}."""
    return {
        side: [[float(p), float(q)] for p, q in zip(*levels)]
        for side, levels in (("bid", b.bids), ("ask", b.asks))
    }


def ref_account_closes(pf, acc, mk, policy, books, fund, flow=None):
    """Steps 1-3 of the loss rules (docs/model.md §3, §6) for accounts, linear markets, full
    sizing: every liquidatable account closed in full, account by account (policy order),
    position by position (largest requirement first), each walking its market's book (`books`,
    consumed) under the tighter of the rule's limit and the price band at its market's mark. The
    account's fee is credited, then the fund pays each close's deficit share in close order. The
    fallbacks become inventory lots [position, quantity, slice bankruptcy price] per market and
    side, in close order.

    Returns (per-position outputs, per-account outputs, lots, close order, fund)."""
    marks = np.asarray(mk.marks)
    tiers = [mk.tiers(m) for m in range(len(mk))]
    coll, eq, tm, tn = ref_health(pf, acc, mk)
    coll_mkt = (np.asarray(acc.collateral) * np.asarray(acc.asset_prices)).sum(axis=1)
    acct, mkt = np.asarray(pf.account), np.asarray(pf.market)
    size, ep = np.asarray(pf.size), np.asarray(pf.entry_price)
    _pnl, mm, nt = ref_position_values(
        marks, mk.contract, np.asarray(mk.contract_size), tiers, mkt, size, ep
    )
    band = policy.price_band
    n, A, M = size.shape[0], coll.shape[0], len(mk)
    out = {
        k: np.zeros(n)
        for k in (
            "closed",
            "book_closed",
            "fallback_closed",
            "deficit",
            "fee",
            "draw",
            "shortfall",
            "inventory_loss",
        )
    }
    out["vwap"] = np.full(n, np.nan)
    acc_out = {k: np.zeros(A) for k in ("deficit", "surplus", "fee")}
    acc_out["liquidated"] = np.zeros(A, dtype=bool)
    hits = [a for a in range(A) if tm[a] > eq[a] and np.any((acct == a) & (size != 0))]

    def abr(e, t):
        return min(max(policy.ba * (1 - e / t), 0.0), 1.0) if t > 0 else 1.0

    if policy.order != "given":

        def key(a):
            if policy.order == "largest" or tn[a] <= 0:
                k = tn[a] if policy.order == "largest" else 0.0
            elif policy.limit == "fillable":
                k = abr(eq[a], tm[a]) * policy.smmr * tm[a] / tn[a]
            else:
                k = (tm[a] - eq[a]) / tn[a]
            return (-k, -tn[a], a)

        hits.sort(key=key)
    balance = fund
    close_order = []  # positions in the order they were closed
    lots = {(m, s): [] for m in range(M) for s in (1.0, -1.0)}
    for a in hits:
        acc_out["liquidated"][a] = True
        idx = [i for i in range(n) if acct[i] == a and size[i] != 0]
        if policy.order != "given":
            idx.sort(key=lambda i: ((-mm[i]) if policy.order == "underwater" else 0.0, -nt[i], i))
        tnc, tmmr, ntl = eq[a], tm[a], tn[a]
        e0 = coll_mkt[a] + (eq[a] - coll[a])  # equity at market value (no haircut)
        gains, notionals = {}, {}
        for i in idx:
            close_order.append(i)
            m = mkt[i]
            P, q = marks[m], size[i]
            s, Q = math.copysign(1.0, q), abs(q)
            # the slice bankruptcy price of the whole position when its close begins
            share = mm[i] / tmmr if tmmr > 0 else (nt[i] / ntl if ntl > 0 else 0.0)
            bp = max(P - tnc * share / (s * Q), 0.0)
            fb = bp if bp > 0 else P  # no positive bankruptcy price: the fund takes it at P
            if policy.execution == "book":
                limit = band_edge(s, P, band)
                rule = None
                if policy.limit == "bankruptcy" and bp > 0:
                    rule = bp
                elif policy.limit == "fillable":
                    rule = P * (1 - s * abr(tnc, tmmr) * policy.smmr * mm[i] / nt[i])
                if rule is not None:  # the tighter of the two
                    limit = max(limit, rule) if s > 0 else min(limit, rule)
                fills, rem = walk_side(books[m]["bid" if s > 0 else "ask"], s, Q, limit)
                record(flow, (m, s), fills)
            else:
                fills, rem = [(Q, P * (1 - s * policy.takeover_fee))], 0.0
            G = sum(s * x * (p - P) for x, p in fills)
            N = sum(x * p for x, p in fills)
            vn, vd = sum(x * p for x, p in fills), sum(x for x, _ in fills)
            out["book_closed"][i] = Q - rem
            out["fallback_closed"][i] = rem
            if rem > 0:  # the fund takes the rest over at BP: inventory
                G += s * rem * (fb - P)
                vn, vd = vn + rem * fb, vd + rem
                lots[(m, s)].append([i, rem, fb])
            out["closed"][i] = Q
            out["vwap"][i] = vn / vd
            gains[i], notionals[i] = G, N
            tnc += G
            tmmr -= mm[i]
            ntl -= nt[i]
        after = e0 + sum(gains.values())
        deficit, surplus = max(0.0, -after), max(0.0, after)
        fee = fee_of(policy, surplus, sum(notionals.values()))
        # dYdX's slice rule: result_i = G_i + E·MM_i/TMMR; the deficit goes to the negative ones
        results = {
            i: gains[i] + e0 * (mm[i] / tm[a] if tm[a] > 0 else (nt[i] / tn[a] if tn[a] > 0 else 0.0))
            for i in idx
        }
        neg = sum(max(0.0, -r) for r in results.values())
        ntot = sum(notionals.values())
        balance += fee  # the account's fee first, then each close's deficit in close order
        for i in idx:
            # (no negative slice can only be rounding of a deficit at the ulp level: none to share)
            out["deficit"][i] = deficit * max(0.0, -results[i]) / neg if deficit > 0 and neg > 0 else 0.0
            out["fee"][i] = fee * notionals[i] / ntot if ntot > 0 else 0.0
            out["draw"][i] = min(out["deficit"][i], max(0.0, balance - policy.reserve))
            balance -= out["draw"][i]
            out["shortfall"][i] = out["deficit"][i] - out["draw"][i]
        acc_out["deficit"][a], acc_out["surplus"][a], acc_out["fee"][a] = deficit, surplus, fee
    return out, acc_out, lots, close_order, balance


def sell_lots(lots, books, marks, band, value_rest, flow=None):
    """The fund's inventory sale (docs/model.md §3 step 4): per market and side, lot by lot in
    order, a market order into the book (`books`, consumed) within the band at the market's mark.
    Each lot's quantity drops by what sold; with `value_rest` the rest is valued at the band edge
    (and the lot emptied). Returns [(position, loss of the lot)] for the lots that sold or were
    valued (loss = Σ -s·x·(p - BP), negative for a gain), and the quantity valued at the edge."""
    pieces, valued = [], 0.0
    for (m, s), side_lots in lots.items():
        edge = band_edge(s, marks[m], band)
        side = books[m]["bid" if s > 0 else "ask"] if books else []
        for lot in side_lots:
            i, x, px = lot
            fills, left = walk_side(side, s, x, edge)
            record(flow, (m, s), fills)
            parts = [-s * y * (p - px) for y, p in fills]
            if value_rest and left > 0:
                parts.append(-s * left * (edge - px))
                valued += left
                left = 0.0
            lot[1] = left
            if parts:
                pieces.append((i, math.fsum(parts)))
    return pieces, valued


def settle_lots(pieces, order, balance, reserve):
    """The fund credits every lot's gain first, then pays the losses in `order` (positions) while
    it can (down to the reserve). Returns (draw per position, fund)."""
    for _i, x in pieces:
        if x < 0:
            balance += -x
    rank = {i: k for k, i in enumerate(order)}
    draws = {}
    for i, x in sorted(pieces, key=lambda ix: rank[ix[0]]):
        if x > 0:
            draws[i] = draws.get(i, 0.0) + min(x, max(0.0, balance - reserve))
            balance -= min(x, max(0.0, balance - reserve))
    return draws, balance


def ref_liquidate_accounts(pf, acc, mk, policy, fund):
    """One batch of the loss rules with accounts: the closes (ref_account_closes); after ALL of
    them the fund sells the lots into each book left (close order per market and side, within
    the band at the market's mark), the unsold rest valued at the band edge; per lot net loss,
    gains credited first, then losses paid in close order; unpaid losses join the position's
    shortfall (the residual of its market and side; residual "none" here: uncovered)."""
    books = [as_levels(b) for b in mk.books or []]
    out, acc_out, lots, order, balance = ref_account_closes(pf, acc, mk, policy, books, fund)
    pieces, unabsorbed = sell_lots(lots, books, np.asarray(mk.marks), policy.price_band, True)
    draws, balance = settle_lots(pieces, order, balance, policy.reserve)
    for i, x in pieces:
        out["inventory_loss"][i] += x
        if x > 0:
            out["draw"][i] += draws[i]
            out["shortfall"][i] += x - draws[i]
    # the residual per market and side, allocated to that market's counterparties (the positions
    # of accounts not liquidated), each at most its positive PnL and its equity at the mark (the
    # account's collateral split over its positions by notional); socialize: per unit of size
    marks = np.asarray(mk.marks)
    coll, _eq, _tm, tn = ref_health(pf, acc, mk)
    acct, mkt = np.asarray(pf.account), np.asarray(pf.market)
    size, ep = np.asarray(pf.size), np.asarray(pf.entry_price)
    out["adl"] = np.zeros(len(size))
    transfers = []
    for m in range(len(mk)):
        idx = np.flatnonzero(mkt == m)
        side = {s: math.fsum(out["shortfall"][i] for i in idx if size[i] * s > 0) for s in (1, -1)}
        nt = np.abs(size[idx]) * marks[m]
        margin = [coll[acct[i]] * nt[k] / tn[acct[i]] if tn[acct[i]] > 0 else 0.0
                  for k, i in enumerate(idx)]
        liq = [bool(acc_out["liquidated"][acct[i]]) for i in idx]
        # step 5 from the independent reference (exact): each side's residual to the other
        # side's counterparties, at most min(positive PnL, equity) each
        charge = allocate_residual(
            policy.residual, side[1], side[-1], size[idx].tolist(), ep[idx].tolist(),
            [max(0.0, x) for x in margin], marks[m], [not x for x in liq],
            {"adl_cap": policy.adl_cap},
        )
        out["adl"][idx] = [float(x) for x in charge]
        transfers.append(math.fsum(out["adl"][idx].tolist()))
    totals = {
        "adl_transfers": math.fsum(transfers),
        "inventory_loss": math.fsum(max(x, 0.0) for _, x in pieces),
        "inventory_gain": math.fsum(max(-x, 0.0) for _, x in pieces),
        "unabsorbed": unabsorbed,
        "residual": math.fsum(out["shortfall"].tolist()),
        "insurance_fund": balance,
    }
    books = [{k: [lv for lv in side if lv[1] > 0] for k, side in b.items()} for b in books]
    return out, acc_out, totals, books


# ---- strategies -------------------------------------------------------------------------------


def make_book(mid, rng, levels):
    tick = mid * 1e-4
    bid_px = mid - tick * (1 + np.arange(levels))
    ask_px = mid + tick * (1 + np.arange(levels))
    return lq.Book(bid_px, rng.uniform(0.05, 2.0, levels), ask_px, rng.uniform(0.05, 2.0, levels))


@st.composite
def scenarios(draw, inverse=False, max_markets=3, max_accounts=6, max_positions=12):
    M = draw(st.integers(1, max_markets))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    marks = rng.uniform(10.0, 1_000.0, M)
    kinds = [
        draw(st.sampled_from(["linear", "inverse"])) if inverse else "linear" for _ in range(M)
    ]
    books = [make_book(marks[m], rng, int(rng.integers(1, 30))) for m in range(M)]
    mmr = rng.uniform(0.005, 0.2, M)
    mk = lq.Markets(marks, mmr, books=books, contract=kinds, contract_size=100.0)
    A = draw(st.integers(1, max_accounts))
    coll = rng.uniform(0.0, 200.0, (A, 2))
    acc = lq.Accounts(coll, [1.0, rng.uniform(0.5, 2.0)], [0.0, rng.uniform(0.0, 0.5)])
    n = draw(st.integers(1, max_positions))
    account = rng.integers(0, A, n)
    market = rng.integers(0, M, n)
    size = rng.choice([-1.0, 1.0], n) * rng.uniform(0.01, 3.0, n)
    ep = marks[market] * rng.uniform(0.8, 1.2, n)
    return lq.Portfolio(account, market, size, ep), acc, mk


policies = st.builds(
    lq.Policy,
    order=st.sampled_from(["underwater", "largest", "given"]),
    sizing=st.sampled_from(["full", "partial", "slices"]),
    execution=st.sampled_from(["book", "takeover"]),
    limit=st.sampled_from(["none", "bankruptcy", "fillable"]),
    fee=st.sampled_from(["capped", "surplus", "rate", "drift"]),
    residual=st.sampled_from(
        ["none", "queue", "pro_rata", "capped_pro_rata", "risk_aware", "socialize"]
    ),
    backstop=st.one_of(st.none(), st.floats(0.1, 1.0)),
    refuse_uncovered=st.booleans(),
    buffer=st.floats(0.0, 0.2),
    reserve=st.floats(0.0, 50.0),
    slice_threshold=st.floats(0.0, 500.0),
    smmr=st.floats(0.0, 2.0),
)


def rel_close(a, b, scale):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.allclose(a, b, rtol=1e-9, atol=1e-9 * scale, equal_nan=True)


# ---- the reference ----------------------------------------------------------------------------


@given(
    scenarios(),
    st.sampled_from(["underwater", "largest", "given"]),
    st.sampled_from(["none", "bankruptcy", "fillable"]),
    st.sampled_from(["book", "takeover"]),
    st.sampled_from(["capped", "surplus", "rate", "drift"]),
    st.floats(0.0, 500.0),
    st.sampled_from(
        ["none", "queue", "pro_rata", "capped_pro_rata", "risk_aware", "socialize"]
    ),
    st.sampled_from([0.3, 1.0]),
)
def test_matches_reference(case, order, limit, execution, fee, fund, residual, adl_cap):
    pf, acc, mk = case
    policy = lq.Policy(
        order=order, limit=limit, execution=execution, fee=fee, smmr=0.5, residual=residual,
        adl_cap=adl_cap,
    )
    r = lq.liquidate_accounts(pf, acc, mk, policy=policy, insurance_fund=fund)
    out, acc_out, tot, books = ref_liquidate_accounts(pf, acc, mk, policy, fund)
    scale = 1.0 + float(np.abs(np.asarray(mk.marks)).max()) * 10
    for k in ("closed", "book_closed", "fallback_closed", "vwap", "deficit", "fee", "shortfall"):
        assert rel_close(getattr(r, k), out[k], scale), k
    assert rel_close(r.insurance_draw_by_position, out["draw"], scale)
    assert rel_close(r.inventory_loss_by_position, out["inventory_loss"], scale)
    for k in ("deficit", "surplus", "fee"):
        assert rel_close(getattr(r.accounts, k), acc_out[k], scale), k
    for k in ("inventory_loss", "inventory_gain", "unabsorbed", "residual", "insurance_fund"):
        assert getattr(r, k) == pytest.approx(tot[k], rel=1e-9, abs=1e-9 * scale), k
    assert rel_close(r.adl, out["adl"], scale)
    assert r.adl_transfers == pytest.approx(tot["adl_transfers"], rel=1e-9, abs=1e-9 * scale)
    assert r.uncovered == pytest.approx(
        tot["residual"] - tot["adl_transfers"], rel=1e-9, abs=1e-9 * scale
    )
    # the books left (under takeover too: the fund sells its inventory into them)
    assert len(r.books) == len(books)
    for m, b in enumerate(r.books):
        px, qty = b.bids
        assert rel_close(px, [p for p, _ in books[m]["bid"]], scale)
        assert rel_close(qty, [q for _, q in books[m]["bid"]], scale)
        px, qty = b.asks
        assert rel_close(px, [p for p, _ in books[m]["ask"]], scale)
        assert rel_close(qty, [q for _, q in books[m]["ask"]], scale)


# ---- an isolated position is an account with one position -------------------------------------


@given(
    st.integers(0, 2**32 - 1), st.sampled_from(["linear", "inverse"]), policies, st.floats(0.0, 1e3)
)
def test_one_position_accounts_equal_isolated_liquidation(seed, contract, policy, fund):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    mark = float(rng.uniform(50.0, 500.0))
    book = make_book(mark, rng, int(rng.integers(1, 40)))
    size = rng.choice([-1.0, 1.0], n) * rng.uniform(0.01, 3.0, n)
    if contract == "inverse":
        size *= 100.0
    ep = mark * rng.uniform(0.8, 1.2, n)
    # margin in the margin currency; the account holds it in quote (coin valued at the mark)
    margin = rng.uniform(0.0, 40.0, n) / (mark if contract == "inverse" else 1.0)
    mmr = float(rng.uniform(0.01, 0.2))
    over = {"mmr": mmr, "contract": contract, "contract_size": 100.0}
    if contract == "inverse" and policy.order == "underwater" and policy.limit == "fillable":
        # the key ABR·SMMR·MM/notional of positions with ABR clamped at 1 is SMMR·mmr for all of
        # them: a tie broken by notional in coin (isolated) vs by rounding noise in quote
        over["order"] = "largest"
    pol = lq.Policy(**{**policy.to_dict(), **over})
    iso = lq.liquidate(lq.Positions(size, ep, margin), book, mark, policy=pol, insurance_fund=fund)
    f = mark if contract == "inverse" else 1.0
    mk = lq.Markets([mark], mmr, books=[book], contract=contract, contract_size=100.0)
    acc = lq.Accounts(margin * f, [1.0])
    pf = lq.Portfolio(np.arange(n), np.zeros(n, np.int64), size, ep)
    # money fields of the policy are in the margin currency for isolated, quote for accounts
    cpol = lq.Policy(
        **{**pol.to_dict(), "reserve": pol.reserve * f, "slice_threshold": pol.slice_threshold * f}
    )
    cr = lq.liquidate_accounts(pf, acc, mk, policy=cpol, insurance_fund=fund * f)
    scale = 1.0 + mark * 1e3
    assert np.array_equal(cr.liquidated, iso.liquidated)
    assert np.array_equal(cr.sequence, iso.sequence)
    for k in ("closed", "book_closed", "fallback_closed", "vwap"):
        assert rel_close(getattr(cr, k), getattr(iso, k), scale), k
    for k in ("deficit", "fee", "insurance_draw_by_position", "shortfall", "adl",
              "inventory_loss_by_position"):
        assert rel_close(getattr(cr, k), getattr(iso, k) * f, scale * f), k
    for k in (
        "insurance_fund",
        "residual",
        "adl_transfers",
        "uncovered",
        "total_fees",
        "total_deficit",
        "inventory_loss",
        "inventory_gain",
        "bad_debt",
    ):
        assert getattr(cr, k) == pytest.approx(
            getattr(iso, k) * f, rel=1e-9, abs=1e-9 * scale * f
        ), k
    assert rel_close(cr.accounts.surplus, iso.surplus * f, scale * f)
    assert rel_close(cr.ledger.amount, iso.ledger.amount * f, scale * f)
    if policy.execution == "book":
        assert rel_close(cr.books[0].bids[1], iso.book.bids[1], scale)
        assert rel_close(cr.books[0].asks[1], iso.book.asks[1], scale)


def test_one_position_takeover_sells_inventory_into_the_book():
    # long 10 @100, margin 40 (BP 96), mark 96, backstop: the fund takes the 10 over at 96 and
    # sells them into the bid at 99 after the closes: a gain of 30 (isolated liquidate).
    book = lq.Book([99.0], [100.0], [101.0], [100.0])
    pol = lq.Policy(mmr=0.05, execution="takeover", backstop=1.0)
    iso = lq.liquidate(lq.Positions([10.0], [100.0], [40.0]), book, 96.0, pol)
    assert iso.inventory_gain == pytest.approx(30.0)
    mk = lq.Markets([96.0], 0.05, books=[book])
    cr = lq.liquidate_accounts(
        lq.Portfolio([0], [0], [10.0], [100.0]), lq.Accounts([[40.0]], [1.0]), mk, policy=pol
    )
    assert cr.inventory_gain == pytest.approx(30.0)
    assert cr.insurance_fund == pytest.approx(iso.insurance_fund)


def test_account_closes_stay_inside_the_price_band():
    # long 10 @100, margin 40, mark 97, band 0.05 (edge 92.15); the only bid is at 90: isolated
    # liquidate fills nothing through the book (fallback 10 at BP 96, valued at the edge).
    book = lq.Book([90.0], [100.0], [101.0], [100.0])
    pol = lq.Policy(mmr=0.05, price_band=0.05)
    iso = lq.liquidate(lq.Positions([10.0], [100.0], [40.0]), book, 97.0, pol)
    assert iso.book_closed[0] == 0.0
    mk = lq.Markets([97.0], 0.05, books=[book])
    cr = lq.liquidate_accounts(
        lq.Portfolio([0], [0], [10.0], [100.0]), lq.Accounts([[40.0]], [1.0]), mk, policy=pol
    )
    assert cr.book_closed[0] == 0.0


# ---- the ledger, the fund and the accounts balance -----------------------------------------------


@given(scenarios(inverse=True), policies, st.floats(0.0, 1e3))
def test_ledger_balances(case, policy, fund):
    pf, acc, mk = case
    if policy.execution == "book" and mk.books is None:
        return
    r = lq.liquidate_accounts(pf, acc, mk, policy=policy, insurance_fund=fund)
    scale = 1.0 + float(np.abs(r.ledger.amount).sum()) + fund
    assert abs(r.ledger.balance) <= 1e-9 * scale
    assert abs(float(np.sum(r.ledger.amount))) <= 1e-9 * scale
    led = r.ledger.to_dict()
    # traders' row: every liquidated account's market equity change
    liq = r.accounts.liquidated
    change = float(np.sum(r.accounts.equity_after[liq] - r.accounts.equity_market[liq]))
    assert led["traders/equity change"] == pytest.approx(change, rel=1e-9, abs=1e-9 * scale)
    # the fund: its change is the sum of its ledger rows (fees + takeover gains - draws), and it
    # never pays below the reserve
    fund_rows = sum(v for k, v in led.items() if k.startswith("insurance_fund/"))
    assert r.insurance_fund - fund == pytest.approx(fund_rows, rel=1e-9, abs=1e-9 * scale)
    assert r.insurance_fund >= min(fund, policy.reserve) - 1e-9 * scale
    assert r.residual == pytest.approx(float(np.sum(r.shortfall)), rel=1e-9, abs=1e-9 * scale)
    assert r.residual == pytest.approx(
        float(np.sum(r.markets.residual)), rel=1e-9, abs=1e-9 * scale
    )
    assert r.uncovered == pytest.approx(
        float(np.sum(r.markets.uncovered)), rel=1e-9, abs=1e-9 * scale
    )
    # per account, the deficit is attributed to its positions exactly
    acct = np.asarray(pf.account)
    per_acc = np.zeros(len(acc))
    np.add.at(per_acc, acct, r.deficit)
    assert rel_close(per_acc, r.accounts.deficit, scale)
    # closes never exceed positions; untouched accounts untouched
    assert np.all(r.closed <= np.abs(pf.size) * (1 + 1e-12))
    assert np.all(r.closed[~r.liquidated] == 0)
    assert np.all(r.accounts.deficit >= 0)
    assert np.all(r.accounts.fee >= 0)


# ---- cross margin nets: deficit <= sum of isolated deficits for the same fills -------------------


@given(scenarios(max_accounts=3), st.sampled_from(["none", "bankruptcy", "fillable"]), st.data())
def test_cross_deficit_at_most_isolated_for_same_fills(case, limit, data):
    pf, acc, mk = case
    r = lq.liquidate_accounts(pf, acc, mk, policy=lq.Policy(limit=limit), insurance_fund=0.0)
    marks = np.asarray(mk.marks)[np.asarray(pf.market)]
    size, ep = np.asarray(pf.size), np.asarray(pf.entry_price)
    acct = np.asarray(pf.account)
    coll_mkt = (np.asarray(acc.collateral) * np.asarray(acc.asset_prices)).sum(axis=1)
    for a in np.flatnonzero(r.accounts.liquidated & (r.accounts.sequence >= 0)):
        idx = np.flatnonzero((acct == a) & (size != 0))
        if not np.all(r.closed[idx] == np.abs(size[idx])):
            continue
        # the same fills (vwap of each close): equity after of each position with margin C_j
        w = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=idx.size, max_size=idx.size)))
        w = w / w.sum() if w.sum() > 0 else np.full(idx.size, 1.0 / idx.size)
        c_split = coll_mkt[a] * w
        after = c_split + size[idx] * (r.vwap[idx] - ep[idx])
        isolated = np.maximum(0.0, -after).sum()
        assert r.accounts.deficit[a] <= isolated + 1e-9 * (1 + np.abs(after).sum())
        # and the cross deficit is the netted one
        assert r.accounts.deficit[a] == pytest.approx(
            max(0.0, -after.sum()), rel=1e-9, abs=1e-9 * (1 + np.abs(after).sum())
        )
    del marks


# ---- semantics on small hand-made cases ----------------------------------------------------------


def dydx_books():
    btc = lq.Book([49_900.0, 49_000.0], [0.002, 1.0], [50_100.0], [1.0])
    eth = lq.Book([2_990.0, 2_900.0], [0.05, 1.0], [3_010.0], [1.0])
    return btc, eth


def test_dydx_account_full_liquidation_by_hand():
    btc, eth = dydx_books()
    mk = lq.Markets(marks=[50_000.0, 3_000.0], mmr=[0.1, 0.1], books=[btc, eth])
    acc = lq.Accounts(collateral=[[10.0]], asset_prices=[1.0])
    pf = lq.Portfolio(
        account=[0, 0], market=[0, 1], size=[0.004, 0.1], entry_price=[50_000.0, 3_000.0]
    )
    r = lq.liquidate_accounts(pf, acc, mk, policy=lq.Policy(fee="surplus"), insurance_fund=100.0)
    # ETH first (MM 30 > 20): 0.05 @ 2,990 + 0.05 @ 2,900 → G = -5.5; BTC: 0.002 @ 49,900 +
    # 0.002 @ 49,000 → G = -2.2. E_after = 10 - 7.7 = 2.3: surplus, whole to the fund.
    assert r.sequence.tolist() == [1, 0]
    assert r.vwap[1] == pytest.approx(2_945.0)
    assert r.vwap[0] == pytest.approx(49_450.0)
    assert r.accounts.surplus[0] == pytest.approx(2.3)
    assert r.accounts.fee[0] == pytest.approx(2.3)
    assert r.insurance_fund == pytest.approx(102.3)
    assert r.total_deficit == 0.0
    # slice bankruptcy prices when each close began: ETH 3,000 - 10·30/50/0.1 = 2,940; then
    # BTC with TNC 10 - 5.5 = 4.5 and TMMR 20: 50,000 - 4.5/0.004 = 48,875
    assert r.bankruptcy_price[1] == pytest.approx(2_940.0)
    assert r.bankruptcy_price[0] == pytest.approx(48_875.0)
    # slice results: ETH -5.5 + 10·0.6 = 0.5, BTC -2.2 + 10·0.4 = 1.8; they sum to E_after
    assert r.result.tolist() == pytest.approx([1.8, 0.5])
    # the books were consumed; the input books were not
    assert r.books[1].bids[0].tolist() == [2_900.0]
    assert r.books[1].bids[1].tolist() == pytest.approx([0.95])
    assert eth.bids[0].tolist() == [2_990.0, 2_900.0]


def test_deficit_is_attributed_by_slice_rule_and_paid_by_fund():
    btc = lq.Book([45_000.0], [1.0], [50_100.0], [1.0])
    eth = lq.Book([3_000.0], [1.0], [3_010.0], [1.0])
    mk = lq.Markets(marks=[50_000.0, 3_000.0], mmr=0.1, books=[btc, eth])
    acc = lq.Accounts(collateral=[[10.0]], asset_prices=[1.0])
    pf = lq.Portfolio(
        account=[0, 0], market=[0, 1], size=[0.004, 0.1], entry_price=[50_000.0, 3_000.0]
    )
    r = lq.liquidate_accounts(pf, acc, mk, insurance_fund=5.0)
    # BTC at 45,000: G = -20; ETH at the mark: G = 0. E_after = 10 - 20 = -10 → deficit 10.
    # Results: BTC -20 + 10·0.4 = -16, ETH 0 + 10·0.6 = 6: the whole deficit is BTC's.
    assert r.accounts.deficit[0] == pytest.approx(10.0)
    assert r.deficit.tolist() == pytest.approx([10.0, 0.0])
    assert r.markets.deficit.tolist() == pytest.approx([10.0, 0.0])
    assert r.insurance_draw == pytest.approx(5.0)
    assert r.insurance_fund == pytest.approx(0.0)
    assert r.residual == pytest.approx(5.0)
    assert r.markets.residual.tolist() == pytest.approx([5.0, 0.0])
    assert r.uncovered == pytest.approx(5.0)
    assert r.accounts.equity_after[0] == 0.0


def test_order_and_consumption_across_accounts():
    book = lq.Book([99.0, 98.0, 90.0], [1.0, 1.0, 10.0], [101.0], [1.0])
    mk = lq.Markets(marks=[100.0], mmr=0.05, books=[book])
    acc = lq.Accounts(collateral=[4.0, 1.0, 1_000.0], asset_prices=[1.0])
    pf = lq.Portfolio(account=[0, 1, 2], market=0, size=[1.0, 1.0, 1.0], entry_price=100.0)
    r = lq.liquidate_accounts(pf, acc, mk)
    # account 1 is most underwater ((5 - 1)/100 > (5 - 4)/100), so it takes the best bid
    assert r.accounts.sequence.tolist() == [1, 0, -1]
    assert r.vwap.tolist()[:2] == pytest.approx([98.0, 99.0])
    assert not r.liquidated[2]
    assert r.closed[2] == 0.0
    given = lq.liquidate_accounts(pf, acc, mk, policy=lq.Policy(order="given"))
    assert given.vwap.tolist()[:2] == pytest.approx([99.0, 98.0])


@given(scenarios(max_accounts=4), st.floats(0.0, 0.3), st.sampled_from(["book", "takeover"]))
def test_partial_restores_the_account(case, buffer, execution):
    pf, acc, mk = case
    policy = lq.Policy(
        sizing="partial",
        buffer=buffer,
        execution=execution,
        takeover_fee=0.002,
        fee="rate",
        fee_rate=0.001,
    )
    r = lq.liquidate_accounts(pf, acc, mk, policy=policy)
    size, ep = np.asarray(pf.size), np.asarray(pf.entry_price)
    left = size - np.sign(size) * r.closed
    realized = np.where(r.closed > 0, np.sign(size) * r.closed * (np.nan_to_num(r.vwap) - ep), 0.0)
    acct = np.asarray(pf.account)
    gain = np.zeros(len(acc))
    np.add.at(gain, acct, realized)
    c = np.array(acc.collateral, dtype=float)
    c[:, 0] += (
        gain - r.accounts.fee
    )  # realized PnL and fees settle in the quote asset (price 1, no haircut)
    after = lq.health(
        lq.Portfolio(acct, pf.market, left, ep), lq.Accounts(c, acc.asset_prices, acc.haircuts), mk
    )
    for a in np.flatnonzero(r.accounts.liquidated):
        still_open = np.any((acct == a) & (left != 0))
        if still_open:  # restored: equity >= (1 + buffer)·maintenance after the closes and fees
            scale = 1e-7 * (1 + after.notional[a] + abs(after.equity[a]))
            assert after.equity[a] >= (1 + buffer) * after.maintenance[a] - scale
            assert r.accounts.deficit[a] == 0.0


# ---- results, frames, bad input ------------------------------------------------------------------


def test_frames_and_summary():
    pytest.importorskip("pandas")
    btc, eth = dydx_books()
    mk = lq.Markets(marks=[50_000.0, 3_000.0], mmr=0.1, books=[btc, eth])
    acc = lq.Accounts(collateral=[[10.0], [1e6]], asset_prices=[1.0])
    pf = lq.Portfolio(
        account=[0, 0, 1], market=[0, 1, 1], size=[0.004, 0.1, -1.0], entry_price=[5e4, 3e3, 3e3]
    )
    r = lq.liquidate_accounts(pf, acc, mk)
    df = r.to_frame()
    assert len(df) == 3
    assert {"account", "market", "deficit", "result"} <= set(df.columns)
    assert len(r.to_frame("accounts")) == 2
    assert len(r.to_frame("markets")) == 2
    s = r.summary()
    assert s["liquidated_accounts"] == 1
    assert s["liquidated_positions"] == 2
    assert s["accounts"] == 2
    with pytest.raises(
        ValueError, match=r"level must be one of 'positions', 'accounts', 'markets'"
    ):
        r.to_frame("nope")
    assert "AccountLiquidationResult(accounts=1" in repr(r)


def test_bad_input():
    mk = lq.Markets(marks=[100.0], mmr=0.05)
    acc = lq.Accounts(collateral=[1.0], asset_prices=[1.0])
    pf = lq.Portfolio(account=[0], market=[0], size=1.0, entry_price=100.0)
    with pytest.raises(
        ValueError, match=r"mk has no books: liquidate_accounts with execution='book' needs"
    ):
        lq.liquidate_accounts(pf, acc, mk)
    r = lq.liquidate_accounts(pf, acc, mk, policy=lq.Policy(execution="takeover"))
    assert r.n_accounts == 1
    assert r.books is None
    with pytest.raises(TypeError, match=r"policy must be a liqcore.Policy"):
        lq.liquidate_accounts(pf, acc, mk, policy={"execution": "takeover"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"insurance_fund must be finite and >= 0"):
        lq.liquidate_accounts(
            pf, acc, mk, policy=lq.Policy(execution="takeover"), insurance_fund=-1.0
        )
    with pytest.raises(TypeError, match=r"insurance_fund must be a real number"):
        lq.liquidate_accounts(
            pf, acc, mk, policy=lq.Policy(execution="takeover"), insurance_fund="1"
        )
    bad = lq.Portfolio(account=[0, 3], market=[0, 0], size=1.0, entry_price=100.0)
    with pytest.raises(ValueError, match=r"account\[1\] is not a known account"):
        lq.liquidate_accounts(bad, acc, mk, policy=lq.Policy(execution="takeover"))


# ---- the CLI ------------------------------------------------------------------------------------


def test_cli_accounts(tmp_path, capsys):
    import json

    from liqcore.cli import main
    from liqcore.io import write_book
    from liqcore.synthetic import synthetic_book_arrays

    write_book(synthetic_book_arrays(50_000.0, levels=50), tmp_path / "btc.json")
    write_book(synthetic_book_arrays(3_000.0, levels=50), tmp_path / "eth.json")
    (tmp_path / "markets.json").write_text(
        json.dumps(
            {
                "marks": [50_000.0, 3_000.0],
                "mmr": [0.1, 0.1],
                "books": ["btc.json", "eth.json"],
                "assets": {
                    "USDC": {"price": 1.0, "haircut": 0.0},
                    "ETH": {"price": 3_000.0, "haircut": 0.5},
                },
            }
        )
    )
    (tmp_path / "pos.csv").write_text(
        "account,market,size,entry_price\n0,0,0.004,50000\n0,1,0.1,3000\n1,1,-2,2800\n"
    )
    (tmp_path / "coll.csv").write_text("USDC,ETH\n10,0\n1000,0.5\n")
    args = [
        "accounts",
        "--positions",
        str(tmp_path / "pos.csv"),
        "--collateral",
        str(tmp_path / "coll.csv"),
        "--markets",
        str(tmp_path / "markets.json"),
    ]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["health"]["liquidatable"] == 1
    assert out["health"]["equity_of_liquidatable"] == pytest.approx(10.0)  # the dYdX account
    assert main([*args, "--liquidate", "--fund", "100"]) == 0
    text = capsys.readouterr().out
    assert "liquidated accounts" in text
    assert "ledger balance" in text
    (tmp_path / "bad.csv").write_text("account,market,size,entry_price\n0,5,1,1\n")
    bad = ["accounts", "--positions", str(tmp_path / "bad.csv"), *args[3:]]
    with pytest.raises(SystemExit) as e:
        main(bad)
    assert e.value.code == 2
    assert "market[0] is not a known market" in capsys.readouterr().err
