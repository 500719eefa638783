"""Pure-Python reference of liqcore.liquidate: the definition the C++ kernel must match.

One loop over the liquidatable positions in order, a book as lists of (price, quantity) walked
with a (level, used) cursor, the waterfall spelled out. The ADL allocators come from
liqcore.adl, which has its own reference in tests/test_adl.py.

Caveat: this reference predates the loss rules of docs/model.md and still shares the kernel's
structure (a cursor, `walk`, `partial_size`) and its ADL allocators, so it can share their bugs.
Its waterfall was rewritten from docs/model.md §3, and it is kept for what the independent
reference does not cover (inverse contracts, partial sizing and slices, tiers, the fillable
limit, takeover and backstop). The independent definition is tests/model_reference.py (exact
fractions, its own walk and ADL, written from docs/model.md without the kernel), which
`liquidate`, one-position `liquidate_accounts` and `simulate_cascade` must match.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import liqcore as lq
import numpy as np

INF = math.inf
NAN = math.nan


class Contract:
    def __init__(self, policy: lq.Policy) -> None:
        self.linear = policy.contract == "linear"
        self.C = policy.contract_size
        tiers = policy.tiers if policy.tiers is not None else ((0.0, policy.mmr),)
        self.floors = [t[0] for t in tiers]
        self.rates = [t[1] for t in tiers]
        self.cum = [0.0]
        for k in range(1, len(tiers)):
            self.cum.append(self.cum[k - 1] + self.floors[k] * (self.rates[k] - self.rates[k - 1]))

    def pnl(self, q: float, ep: float, p: float) -> float:
        return q * (p - ep) if self.linear else q * self.C * (1.0 / ep - 1.0 / p)

    def notional(self, q: float, p: float) -> float:
        return abs(q) * p if self.linear else abs(q) * self.C / p

    def tier_below(self, n: float) -> int:
        return bisect.bisect_left(self.floors, n, 1) - 1

    def mm(self, q: float, p: float) -> float:
        """notional·mmr_k - cum_k, as margin.hpp's equal sum of hinges (same bits)."""
        n = self.notional(q, p)
        mm = 0.0
        for j in range(len(self.floors)):
            d = self.rates[j] - (self.rates[j - 1] if j > 0 else 0.0)
            x = n - self.floors[j]
            mm += d * (x if x > 0.0 else 0.0)
        return mm

    def bp(self, q: float, ep: float, m: float) -> float:
        if q == 0.0:
            return NAN
        s = math.copysign(1.0, q)
        if self.linear:  # (|q|·EP - s·M)/|q|, at least 0
            num = abs(q) * ep - s * m
            return (num if num > 0.0 else 0.0) / abs(q)
        ac = abs(q) * self.C  # |q|·C·EP / (s·M·EP + |q|·C), +inf when never bankrupt
        num = s * m * ep + ac
        return ac * ep / num if num > 0.0 else INF


@dataclass
class Cursor:
    levels: list[tuple[float, float]]
    bid: bool
    takeover_px: float | None = None
    level: int = 0
    used: float = 0.0

    def has(self, lv: int) -> bool:
        return lv == 0 if self.takeover_px is not None else lv < len(self.levels)

    def price(self, lv: int) -> float:
        return self.takeover_px if self.takeover_px is not None else self.levels[lv][0]

    def available(self, lv: int, used: float) -> float:
        return INF if self.takeover_px is not None else self.levels[lv][1] - used

    def acceptable(self, p: float, limit: float) -> bool:
        return math.isnan(limit) or (p >= limit if self.bid else p <= limit)

    def remaining_levels(self) -> list[tuple[float, float]]:
        out = list(self.levels[self.level :])
        if out and self.used > 0.0:
            q = out[0][1] - self.used
            out = out[1:] if not q > 0.0 else [(out[0][0], q), *out[1:]]
        return out


@dataclass
class Sums:
    gain: float = 0.0
    fill_notional: float = 0.0
    vw_num: float = 0.0
    vw_den: float = 0.0
    last: float = NAN  # price of the last fill

    def add(self, c: Contract, s: float, mark: float, x: float, p: float) -> None:
        self.last = p
        self.gain += c.pnl(s * x, mark, p)
        self.fill_notional += c.notional(x, p)
        if c.linear:
            self.vw_num += x * p
            self.vw_den += x
        else:
            self.vw_num += x
            self.vw_den += x / p


def walk(
    cur: Cursor,
    c: Contract,
    s: float,
    mark: float,
    qty: float,
    limit: float,
    bp: float,
    allowance: float,
    acc: Sums,
) -> float:
    remaining = qty
    net = 0.0
    while remaining > 0.0 and cur.has(cur.level):
        p = cur.price(cur.level)
        if not cur.acceptable(p, limit):
            break
        avail = cur.available(cur.level, cur.used)
        take = min(remaining, avail)
        if math.isfinite(allowance):
            # refuse_uncovered: a level worse than BP whose cost the fund cannot cover is
            # refused whole (never split); the walk stops before it
            unit = c.pnl(s, bp, p)
            if unit < 0.0 and take * -unit > max(0.0, allowance + net):
                break
            net += c.pnl(s * take, bp, p)
        if take > 0.0:
            acc.add(c, s, mark, take, p)
        remaining -= take
        if take == avail:
            cur.level += 1
            cur.used = 0.0
        else:
            cur.used += take
    return max(remaining, 0.0)


def fee_of(pol: lq.Policy, surplus: float, fill_notional: float) -> float:
    if not surplus > 0.0:
        return 0.0
    if pol.fee == "surplus":
        return surplus
    if pol.fee == "drift":  # docs/model.md §3: 95% of the surplus, at most fee_rate·N
        return min(0.95 * surplus, pol.fee_rate * fill_notional)
    rate = pol.fee_cap if pol.fee == "capped" else pol.fee_rate
    return min(surplus, rate * fill_notional)


def _interval(v: float, m: float, length: float) -> tuple[float, float]:
    if m > 0.0:
        return max(0.0, -v / m), length
    if m < 0.0:
        return (0.0, min(length, -v / m)) if v >= 0.0 else (INF, -INF)
    return (0.0, length) if v >= 0.0 else (INF, -INF)


def partial_size(
    cur: Cursor,
    pol: lq.Policy,
    c: Contract,
    s: float,
    mark: float,
    Q: float,
    E: float,
    limit: float,
) -> float:
    """Smallest Δ < Q with E + G - fee - (1 + buffer)·MM(Q - Δ) >= 0, else Q (see kernel)."""
    u = c.notional(1.0, mark)
    k1 = 1.0 + pol.buffer
    capped_rule = pol.fee != "surplus"
    rate = pol.fee_cap if pol.fee == "capped" else pol.fee_rate
    delta = G = N = 0.0
    lv, used = cur.level, cur.used
    while delta < Q and cur.has(lv):
        p = cur.price(lv)
        if not cur.acceptable(p, limit):
            break
        avail = cur.available(lv, used)
        whole_level = delta + avail <= Q
        seg_end = delta + avail if whole_level else Q
        dg = c.pnl(s, mark, p)
        dn = c.notional(1.0, p)
        a = delta
        while a < seg_end:
            r = Q - a
            k = c.tier_below(r * u)
            b = seg_end
            if k > 0:
                b = min(b, Q - c.floors[k] / u)
            if not b > a:
                b = seg_end
            length = b - a
            Ga = G + dg * (a - delta)
            Na = N + dn * (a - delta)
            Ta = k1 * (r * u * c.rates[k] - c.cum[k])
            base_v, base_m = E + Ga - Ta, dg + k1 * u * c.rates[k]
            Sa = (a / Q) * E + Ga
            i1 = _interval(base_v, base_m, length)
            i2 = _interval(base_v - Sa, k1 * u * c.rates[k] - E / Q, length)
            lo, hi = max(i1[0], i2[0]), min(i1[1], i2[1])
            best = lo if lo <= hi else INF
            if capped_rule:
                i3 = _interval(base_v - rate * Na, base_m - rate * dn, length)
                if i3[0] <= i3[1]:
                    best = min(best, i3[0])
            if best <= length:
                d = a + best
                return d if 0.0 < d < Q else Q
            a = b
        step = seg_end - delta
        G += dg * step
        N += dn * step
        if whole_level:
            lv += 1
            used = 0.0
        else:
            used += step
        delta = seg_end
    return Q


@dataclass
class RefResult:
    arrays: dict[str, np.ndarray]
    totals: dict[str, float]
    ledger: list[float]
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    extra: dict[str, Any] = field(default_factory=dict)


LEDGER_ROWS = (
    "traders",
    "makers",
    "liquidators",
    "fund_fees",
    "fund_inventory",
    "fund_deficit",
    "fund_residual",
    "valuation",
    "residual_transfers",
    "uncovered",
)


def band_edge(s: float, mark: float, band: float) -> float:
    """The worst price a sell (s = +1, into the bids) or a buy may fill at: mark·(1 ∓ band)."""
    return max(0.0, mark * (1.0 - band)) if s > 0 else mark * (1.0 + band)


def tighter(s: float, limit: float, edge: float) -> float:
    if math.isnan(limit):
        return edge
    return max(limit, edge) if s > 0 else min(limit, edge)


def reference_liquidate(
    size: Any,
    entry_price: Any,
    margin: Any,
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    mark: float,
    pol: lq.Policy,
    fund: float,
) -> RefResult:
    """One batch of the loss spec: closes in order (deficits paid as they come, fee first), the
    fallbacks taken over by the fund at BP as inventory, sold after all closes into the book left
    (per side, lots in liquidation order, within the price band), the unabsorbed rest valued at
    the band edge; the fund credits inventory gains first, then pays inventory losses in
    liquidation order; shortfalls per side are allocated as money (no quantity ADL)."""
    q_ = [float(x) for x in size]
    ep_ = [float(x) for x in entry_price]
    m_ = [float(x) for x in margin]
    n = len(q_)
    c = Contract(pol)
    P = mark
    for i in range(n):  # the kernel's rule: an inverse BP that underflows to 0 is rejected
        ac_ep = abs(q_[i]) * c.C * ep_[i]  # BP's numerator; BP = 0 when it (or BP) underflows
        if not c.linear and q_[i] != 0.0 and (ac_ep == 0.0 or c.bp(q_[i], ep_[i], m_[i]) == 0.0):
            raise ValueError(f"size[{i}]: the inverse position's bankruptcy price underflows to 0")
    out = {
        name: np.zeros(n)
        for name in (
            "closed",
            "book_closed",
            "fallback_closed",
            "deficit",
            "surplus",
            "fee",
            "insurance_draw",
            "shortfall",
            "inventory_loss",
            "adl",
        )
    }
    out["vwap"] = np.full(n, NAN)
    out["sequence"] = np.full(n, -1, dtype=np.int64)
    liq = [q_[i] != 0.0 and (m_[i] + c.pnl(q_[i], ep_[i], P)) < c.mm(q_[i], P) for i in range(n)]
    out["liquidated"] = np.array(liq, dtype=bool)
    hits = [i for i in range(n) if liq[i]]

    def fillable_spread(e: float, mm: float, nt: float) -> float:
        abr = min(max(pol.ba * (1.0 - e / mm), 0.0), 1.0) if mm > 0.0 else 1.0
        return abr * pol.smmr * mm / nt if nt > 0.0 else 0.0

    if pol.order != "given":

        def key(i: int) -> tuple[float, float, int]:
            nt = c.notional(q_[i], P)
            k = nt
            if pol.order == "underwater":
                e = m_[i] + c.pnl(q_[i], ep_[i], P)
                mm = c.mm(q_[i], P)
                k = (
                    fillable_spread(e, mm, nt)
                    if pol.limit == "fillable"
                    else ((mm - e) / nt if nt > 0 else 0.0)
                )
            return (-k, -nt, i)

        hits.sort(key=key)

    # the book (the closes of execution="book" and the fund's inventory sales walk it)
    book_cur = {1.0: Cursor(list(bids), True), -1.0: Cursor(list(asks), False)}
    if pol.execution == "book":
        close_cur = book_cur
    else:
        close_cur = {
            1.0: Cursor([], True, takeover_px=P * (1.0 - pol.takeover_fee)),
            -1.0: Cursor([], False, takeover_px=P * (1.0 + pol.takeover_fee)),
        }

    led: dict[str, list[float]] = {k: [] for k in LEDGER_ROWS}
    balance = fund

    def available() -> float:
        return max(0.0, balance - pol.reserve)

    sums: dict[str, list[float]] = {
        k: [] for k in ("notional", "fees", "deficit", "surplus", "draw", "short_long", "short_short")
    }
    # flow[s] = [quantity filled through the book on side s, deepest price]
    flow = {1.0: [0.0, NAN], -1.0: [0.0, NAN]}
    lots: dict[float, list[tuple[int, float, float]]] = {1.0: [], -1.0: []}  # (i, qty, BP)

    for k, i in enumerate(hits):
        q, ep, m = q_[i], ep_[i], m_[i]
        s = 1.0 if q > 0 else -1.0
        Q = abs(q)
        E = m + c.pnl(q, ep, P)
        MM = c.mm(q, P)
        BP = c.bp(q, ep, m)
        cur = close_cur[s]
        delta = Q
        fallback = 0.0
        fills = Sums()
        backstopped = pol.backstop is not None and pol.backstop * MM > E
        if not backstopped:
            limit = NAN
            if pol.execution == "book":
                if pol.limit == "bankruptcy":
                    limit = BP
                elif pol.limit == "fillable":
                    limit = P * (1.0 - s * fillable_spread(E, MM, c.notional(q, P)))
                limit = tighter(s, limit, band_edge(s, P, pol.price_band))
            done = False
            if pol.sizing == "partial":
                delta = partial_size(cur, pol, c, s, P, Q, E, limit)
            elif pol.sizing == "slices" and c.notional(q, P) > pol.slice_threshold:
                d = pol.slice_fraction * Q
                trial = Cursor(cur.levels, cur.bid, cur.takeover_px, cur.level, cur.used)
                f = Sums()
                if walk(trial, c, s, P, d, limit, BP, INF, f) == 0.0:
                    S = (d / Q) * E + f.gain
                    fee = fee_of(pol, S, f.fill_notional)
                    if E + f.gain - fee >= 0.0:
                        cur.level, cur.used = trial.level, trial.used
                        fills = f
                        delta = d
                        done = True
            if not done:
                allowance = (
                    available()
                    if pol.refuse_uncovered and delta == Q and pol.execution == "book"
                    else INF
                )
                fallback = walk(cur, c, s, P, delta, limit, BP, allowance, fills)
        else:
            fallback = Q
        book_filled = delta - fallback
        led["makers" if pol.execution == "book" else "liquidators"].append(-fills.gain)
        if pol.execution == "book" and book_filled > 0.0:
            flow[s][0] += book_filled
            flow[s][1] = fills.last
        gain, vw_num, vw_den = fills.gain, fills.vw_num, fills.vw_den
        if fallback > 0.0:  # the fund takes it over at BP, as inventory
            gain += c.pnl(s * fallback, P, BP)
            if c.linear:
                vw_num += fallback * BP
                vw_den += fallback
            else:
                vw_num += fallback
                vw_den += fallback / BP
            lots[s].append((i, fallback, BP))
            led["fund_inventory"].append(c.pnl(s * fallback, BP, P))
        full = delta == Q
        if full:
            after = E + gain
            deficit, surplus = max(0.0, -after), max(0.0, after)
        else:
            deficit, surplus = 0.0, max(0.0, (delta / Q) * E + gain)
        fee = fee_of(pol, surplus, fills.fill_notional)
        trader = (-E if deficit > 0.0 else surplus - fee - E) if full else gain - fee
        led["traders"].append(trader)
        led["fund_fees"].append(fee)
        balance += fee
        draw = min(deficit, available())
        balance -= draw
        led["fund_deficit"].append(-draw)
        out["sequence"][i] = k
        out["closed"][i] = delta
        out["book_closed"][i] = book_filled
        out["fallback_closed"][i] = fallback
        out["vwap"][i] = vw_num / vw_den if vw_den > 0.0 else NAN
        out["deficit"][i] = deficit
        out["surplus"][i] = surplus
        out["fee"][i] = fee
        out["insurance_draw"][i] = draw
        out["shortfall"][i] = deficit - draw
        sums["notional"].append(c.notional(delta, P))
        sums["fees"].append(fee)
        sums["deficit"].append(deficit)
        sums["surplus"].append(surplus)
        sums["draw"].append(draw)
        sums["short_long" if s > 0 else "short_short"].append(deficit - draw)

    # the fund sells its inventory into the book left by the closes, within the band
    loss: dict[int, list[float]] = {}
    unabsorbed: list[float] = []
    for s in (1.0, -1.0):
        edge = band_edge(s, P, pol.price_band)
        cur = book_cur[s]
        for i, x, bp in lots[s]:
            f = Sums()  # fills against the lot's bankruptcy price
            left = walk(cur, c, s, bp, x, edge, bp, INF, f)
            sold = x - left
            parts = loss.setdefault(i, [])
            if sold > 0.0:
                parts.append(-f.gain)
                vs_mark = c.pnl(s * sold, bp, P)
                vs_mark = f.gain - vs_mark  # the fund's gain vs the mark: Σ pnl(s·x, P → p)
                led["fund_inventory"].append(vs_mark)
                led["makers"].append(-vs_mark)
                flow[s][0] += sold
                flow[s][1] = f.last
            if left > 0.0:  # unabsorbed: valued at the band edge
                unabsorbed.append(left)
                parts.append(-c.pnl(s * left, bp, edge))
                vs_mark = c.pnl(s * left, P, edge)
                led["fund_inventory"].append(vs_mark)
                led["valuation"].append(-vs_mark)
    order = [i for i in hits if i in loss]  # liquidation order
    net = {i: math.fsum(loss[i]) for i in order}
    for i in order:  # gains first
        if net[i] < 0.0:
            balance += -net[i]
    inv_loss, inv_gain, inv_draw = [], [], []
    for i in order:  # then the losses, in liquidation order
        li = net[i]
        out["inventory_loss"][i] = li
        if li > 0.0:
            draw = min(li, available())
            balance -= draw
            out["insurance_draw"][i] += draw
            out["shortfall"][i] += li - draw
            led["fund_residual"].append(li - draw)
            sums["short_long" if q_[i] > 0 else "short_short"].append(li - draw)
            inv_loss.append(li)
            inv_draw.append(draw)
        else:
            inv_gain.append(-li)

    short_long, short_short = math.fsum(sums["short_long"]), math.fsum(sums["short_short"])
    residual = short_long + short_short
    transfers = settle(pol, c, q_, ep_, m_, liq, P, out, short_long, short_short)
    led["residual_transfers"].append(-transfers)
    led["uncovered"].append(-(residual - transfers))
    deficit_total = math.fsum(sums["deficit"])
    inventory_loss = math.fsum(inv_loss)
    totals = {
        "liquidated": float(len(hits)),
        "closed_notional": math.fsum(sums["notional"]),
        "fees": math.fsum(sums["fees"]),
        "deficit": deficit_total,
        "surplus": math.fsum(sums["surplus"]),
        "inventory_loss": inventory_loss,
        "inventory_gain": math.fsum(inv_gain),
        "unabsorbed": math.fsum(unabsorbed),
        "bad_debt": deficit_total + inventory_loss,
        "insurance_draw": math.fsum(sums["draw"] + inv_draw),
        "residual": residual,
        "adl_transfers": transfers,
        "uncovered": max(0.0, residual - transfers),
        "insurance_fund": balance,
    }
    ledger = [math.fsum(led[k]) for k in LEDGER_ROWS]
    new_bids, new_asks = book_cur[1.0].remaining_levels(), book_cur[-1.0].remaining_levels()
    return RefResult(out, totals, ledger, new_bids, new_asks, {"flow": flow})


def settle(
    pol: lq.Policy,
    c: Contract,
    q_: list[float],
    ep_: list[float],
    m_: list[float],
    liq: list[bool],
    P: float,
    out: dict[str, np.ndarray],
    short_long: float,
    short_short: float,
) -> float:
    """Money allocation of the residual: ADL rules per side of the liquidated positions, from
    the non-liquidated opposite side, each at most min(positive PnL, equity) at the mark; queue
    in adl.rank order (highest first); socialize per unit of |size| over both sides, each charge
    capped at the position's equity at the mark."""
    n = len(q_)
    if pol.residual == "none":
        return 0.0

    def equity(j: int) -> float:
        return m_[j] + c.pnl(q_[j], ep_[j], P)

    if pol.residual == "socialize":
        amount = short_long + short_short
        if not amount > 0.0:
            return 0.0
        size = np.array([0.0 if liq[j] else q_[j] for j in range(n)])
        charge = lq.adl.socialize(size, amount)
        charge = np.array(
            [min(x, max(0.0, equity(j))) if x > 0.0 else x for j, x in enumerate(charge)]
        )
        out["adl"] += charge
        return math.fsum(charge.tolist())
    scores = lq.adl.rank(
        np.array(q_), np.array(ep_), np.array(m_), P,
        contract=pol.contract, contract_size=pol.contract_size,
    )
    total = []
    for s in (1.0, -1.0):
        amount = short_long if s > 0 else short_short
        if not amount > 0.0:
            continue
        idx = [j for j in range(n) if not liq[j] and q_[j] * s < 0.0]
        cap = [max(0.0, min(c.pnl(q_[j], ep_[j], P), equity(j))) for j in idx]
        if pol.residual == "queue":  # highest rank first, each up to its capacity
            taken = np.zeros(len(idx))
            left = amount
            for a in sorted(range(len(idx)), key=lambda a: (-scores[idx[a]], idx[a])):
                if not left > 0.0:
                    break
                taken[a] = min(cap[a], left)
                left -= taken[a]
        elif pol.residual == "pro_rata":
            taken = lq.adl.pro_rata(np.array(cap), amount)
        elif pol.residual == "capped_pro_rata":
            taken = lq.adl.capped_pro_rata(np.array(cap), np.full(len(idx), pol.adl_cap), amount)
        else:
            w = []
            for j in idx:
                e = equity(j)
                w.append(c.notional(q_[j], P) / e if e > 0.0 else 0.0)
            taken = lq.adl.risk_aware(
                np.array(cap), np.array(w), np.full(len(idx), pol.adl_cap), amount
            )
        for a, j in enumerate(idx):
            out["adl"][j] += taken[a]
        total.extend(taken.tolist())
    return math.fsum(total)
