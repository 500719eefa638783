"""Pure-Python reference of liqcore.liquidate: the definition the C++ kernel must match.

One loop over the liquidatable positions in order, a book as lists of (price, quantity) walked
with a (level, used) cursor, the waterfall spelled out. The ADL allocators come from
liqcore.adl, which has its own reference in tests/test_adl.py.
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

    def add(self, c: Contract, s: float, mark: float, x: float, p: float) -> None:
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
        stop = False
        if math.isfinite(allowance):
            unit = c.pnl(s, bp, p)
            if unit < 0.0:
                room = max(0.0, allowance + net)
                if take * -unit > room:
                    take = room / -unit
                    stop = True
            net += c.pnl(s * take, bp, p)
        if take > 0.0:
            acc.add(c, s, mark, take, p)
        remaining -= take
        if take == avail:
            cur.level += 1
            cur.used = 0.0
        else:
            cur.used += take
        if stop:
            break
    return max(remaining, 0.0)


def fee_of(pol: lq.Policy, surplus: float, fill_notional: float) -> float:
    if not surplus > 0.0:
        return 0.0
    if pol.fee == "surplus":
        return surplus
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
            "adl",
            "adl_closed",
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

    if pol.execution == "book":
        bcur, acur = Cursor(list(bids), True), Cursor(list(asks), False)
    else:
        bcur = Cursor([], True, takeover_px=P * (1.0 - pol.takeover_fee))
        acur = Cursor([], False, takeover_px=P * (1.0 + pol.takeover_fee))

    # counterparties: ADL queue order by liqcore.adl.rank
    scores = (
        lq.adl.rank(
            np.array(q_),
            np.array(ep_),
            np.array(m_),
            P,
            contract=pol.contract,
            contract_size=pol.contract_size,
        )
        if n
        else np.zeros(0)
    )

    def remaining(j: int) -> float:
        return q_[j] - out["adl_closed"][j] if q_[j] > 0 else q_[j] + out["adl_closed"][j]

    queues = {
        s: sorted(
            (j for j in range(n) if not liq[j] and q_[j] * s < 0), key=lambda j: (-scores[j], j)
        )
        for s in (1.0, -1.0)
    }
    nxt = {1.0: 0, -1.0: 0}

    def place(s: float, qty: float, bp: float) -> float:
        left = qty
        order = queues[s]
        while left > 0.0 and nxt[s] < len(order):
            j = order[nxt[s]]
            cap = abs(remaining(j))
            x = min(cap, left)
            out["adl_closed"][j] += x
            out["adl"][j] += -c.pnl(s * x, bp, P)
            left -= x
            if x == cap:
                nxt[s] += 1
        return qty - left

    led: dict[str, list[float]] = {
        k: []
        for k in (
            "traders",
            "makers",
            "liquidators",
            "fund_fees",
            "fund_takeover",
            "fund_deficit",
            "fund_residual",
            "adl_takeover",
            "residual_transfers",
            "uncovered",
        )
    }
    balance = fund
    sums: dict[str, list[float]] = {
        k: []
        for k in (
            "notional",
            "fees",
            "deficit",
            "surplus",
            "takeover",
            "draw",
            "short_long",
            "short_short",
        )
    }

    for k, i in enumerate(hits):
        q, ep, m = q_[i], ep_[i], m_[i]
        s = 1.0 if q > 0 else -1.0
        Q = abs(q)
        E = m + c.pnl(q, ep, P)
        MM = c.mm(q, P)
        BP = c.bp(q, ep, m)
        cur = bcur if s > 0 else acur
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
                available = max(0.0, balance - pol.reserve)
                allowance = (
                    available
                    if pol.refuse_uncovered and delta == Q and pol.execution == "book"
                    else INF
                )
                fallback = walk(cur, c, s, P, delta, limit, BP, allowance, fills)
        else:
            fallback = Q
        book_filled = delta - fallback
        led["makers" if pol.execution == "book" else "liquidators"].append(-fills.gain)
        gain, vw_num, vw_den = fills.gain, fills.vw_num, fills.vw_den
        takeover_cost = 0.0
        if fallback > 0.0:
            gain += c.pnl(s * fallback, P, BP)
            if c.linear:
                vw_num += fallback * BP
                vw_den += fallback
            else:
                vw_num += fallback
                vw_den += fallback / BP
            to_fund = fallback
            cost = -c.pnl(s * fallback, BP, P)
            if pol.residual == "queue" and cost > max(0.0, balance - pol.reserve):
                placed = min(fallback, place(s, fallback, BP))
                to_fund = fallback - placed
                led["adl_takeover"].append(c.pnl(s * placed, BP, P))
            takeover_cost = -c.pnl(s * to_fund, BP, P)
            led["fund_takeover"].append(-takeover_cost)
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
        loss = deficit + max(takeover_cost, 0.0)
        balance += fee + max(-takeover_cost, 0.0)
        draw = min(loss, max(0.0, balance - pol.reserve))
        balance -= draw
        draw_takeover = min(max(takeover_cost, 0.0), draw)
        shortfall = loss - draw
        led["fund_deficit"].append(-(draw - draw_takeover))
        led["fund_residual"].append(max(takeover_cost, 0.0) - draw_takeover)
        out["sequence"][i] = k
        out["closed"][i] = delta
        out["book_closed"][i] = book_filled
        out["fallback_closed"][i] = fallback
        out["vwap"][i] = vw_num / vw_den if vw_den > 0.0 else NAN
        out["deficit"][i] = deficit
        out["surplus"][i] = surplus
        out["fee"][i] = fee
        out["insurance_draw"][i] = draw
        out["shortfall"][i] = shortfall
        sums["notional"].append(c.notional(delta, P))
        sums["fees"].append(fee)
        sums["deficit"].append(deficit)
        sums["surplus"].append(surplus)
        sums["takeover"].append(takeover_cost)
        sums["draw"].append(draw)
        sums["short_long" if s > 0 else "short_short"].append(shortfall)

    short_long, short_short = math.fsum(sums["short_long"]), math.fsum(sums["short_short"])
    residual = short_long + short_short
    transfers = settle(pol, c, q_, ep_, m_, liq, P, remaining, out, short_long, short_short, scores)
    led["residual_transfers"].append(-transfers)
    led["uncovered"].append(-(residual - transfers))
    totals = {
        "liquidated": float(len(hits)),
        "closed_notional": math.fsum(sums["notional"]),
        "fees": math.fsum(sums["fees"]),
        "deficit": math.fsum(sums["deficit"]),
        "surplus": math.fsum(sums["surplus"]),
        "takeover_loss": math.fsum(sums["takeover"]),
        "insurance_draw": math.fsum(sums["draw"]),
        "residual": residual,
        "adl_transfers": transfers,
        "uncovered": max(0.0, residual - transfers),
        "insurance_fund": balance,
    }
    ledger = [math.fsum(v) for v in led.values()]
    if pol.execution == "book":
        new_bids, new_asks = bcur.remaining_levels(), acur.remaining_levels()
    else:
        new_bids, new_asks = list(bids), list(asks)
    return RefResult(out, totals, ledger, new_bids, new_asks)


def settle(
    pol: lq.Policy,
    c: Contract,
    q_: list[float],
    ep_: list[float],
    m_: list[float],
    liq: list[bool],
    P: float,
    remaining: Any,
    out: dict[str, np.ndarray],
    short_long: float,
    short_short: float,
    scores: np.ndarray,
) -> float:
    n = len(q_)
    if pol.residual == "none":
        return 0.0
    if pol.residual == "socialize":
        amount = short_long + short_short
        if not amount > 0.0:
            return 0.0
        size = np.array([0.0 if liq[j] else remaining(j) for j in range(n)])
        charge = lq.adl.socialize(size, amount)
        out["adl"] += charge
        return math.fsum(charge.tolist())
    total = []
    for s in (1.0, -1.0):
        amount = short_long if s > 0 else short_short
        if not amount > 0.0:
            continue
        idx = [j for j in range(n) if not liq[j] and remaining(j) * s < 0.0]
        cap = np.array([max(0.0, c.pnl(remaining(j), ep_[j], P)) for j in idx])
        if pol.residual == "queue":
            taken = lq.adl.queue(cap, scores[idx], amount)
        elif pol.residual == "pro_rata":
            taken = lq.adl.pro_rata(cap, amount)
        elif pol.residual == "capped_pro_rata":
            taken = lq.adl.capped_pro_rata(cap, np.full(len(idx), pol.adl_cap), amount)
        else:
            w = []
            for j in idx:
                r = remaining(j)
                e = (m_[j] * (r / q_[j]) if q_[j] != 0.0 else 0.0) + c.pnl(r, ep_[j], P)
                w.append(c.notional(r, P) / e if e > 0.0 else 0.0)
            taken = lq.adl.risk_aware(cap, np.array(w), np.full(len(idx), pol.adl_cap), amount)
        for a, j in enumerate(idx):
            out["adl"][j] += taken[a]
        total.extend(taken.tolist())
    return math.fsum(total)
