"""An independent, exact reference of the loss rules (docs/model.md, "the loss rules").

Written from the rules themselves, not from the kernel: exact rational arithmetic
(``fractions.Fraction``) on small cases, its own order-book walk, its own ADL allocation (queue by
rank, pro-rata, socialization), one obvious loop per rule. Slow on purpose; use it on a handful
of positions and levels.

* :func:`reference_liquidate`: one batch (``liqcore.liquidate``, one-position accounts of
  ``liqcore.liquidate_accounts``).
* :func:`reference_cascade`: the multi-round rules (``liqcore.simulate_cascade``).

Covered: linear contracts, flat ``mmr``; ``order`` underwater / largest / given; ``sizing`` full;
``execution`` book; ``limit`` none / bankruptcy; ``fee`` capped / surplus / rate / drift;
``reserve``; ``residual`` none / queue / pro_rata / socialize (cascades: none / pro_rata /
queue);
``price_band``; ``refuse_uncovered``. NOT covered, left to the existing references: inverse
contracts, partial and slice sizing, maintenance tiers, the fillable-price limit, takeover
execution, backstop, capped_pro_rata / risk_aware.

Money is in quote. Prices and quantities may be given as ints, floats (taken exactly, as the
binary value the kernel sees), strings or Fractions.

Readings of the spec (questions for the spec's author; each choice is the one implemented)
------------------------------------------------------------------------------------------
Q1 refuse_uncovered, "cost ... cannot be covered by what the fund can pay": per level, cost =
   s·x·(BP - p) for a level worse than BP. Choice: GROSS and cumulative within the close: the
   level is refused if its cost exceeds ``max(0, fund - reserve)`` at the start of this close
   minus the costs of the worse-than-BP levels of this close already accepted; levels better than
   BP earn the fund nothing in this test (dYdX checks every fill against its own bankruptcy
   quote). The alternative (net of better fills' surplus) refuses less.
Q2 Price band bounds are inclusive: a bid exactly at P·(1 - band) and an ask exactly at
   P·(1 + band) fill ("no fill at a bid BELOW ..."). Same for the bankruptcy limit (fill at BP).
Q3 Socialize: δ = residual / Σ|size| over the non-liquidated open positions of both sides; each
   charge min(δ·|q|, max(0, equity)); what the equity cap cuts off is NOT re-spread over the
   others: it stays uncovered (conservative: reports more uncovered). Residuals of both sides
   are pooled before δ is computed.
Q4 Inventory payments: per fallback, loss_k nets its pieces sold in one batch (or one cascade
   round); a net gain is credited, a net loss counts in bad debt. In cascades a fallback sold
   over several rounds counts max(loss, 0) per round (and for the final valuation), so that
   bad_debt == insurance_draw + adl_transfers + uncovered holds round by round.
Q5 Cascade mark: the "round's fills" include the fund's inventory sales of that round (they are
   book fills and happen before the mark update).
Q6 Cascade mark "mid": both sides left -> their mid; one side -> its best price; none -> P
   unchanged. A round without any book fill leaves P unchanged for both rules.
Q7 Cascade residual: allocated at the round's mark (the one its detection used), before the
   mark moves with the round's fills, as docs/model.md §4 says (this reference first read it at
   the new mark; the kernel and the docs settled on the round's mark); counterparties are the positions not liquidated in this
   or an earlier round. ADL charges are taken from the counterparty's margin, and its capacity in
   a later round is min(positive PnL, equity) at that round's mark (so nobody's equity goes below
   zero over several rounds; in one batch this equals the positive PnL).
Q8 Cascade end: inventory still held after the last round is valued by a what-if walk, FIFO per
   side, on the final book (after the last round's recovery) within the band at the final mark;
   the rest at the band edge. Its losses are paid by the fund; their shortfalls form one last
   residual, allocated like a round's at the final mark.
Q9 Cascade stop: a round that liquidates nothing and sells nothing is not counted and changes
   nothing (no recovery). ``max_rounds`` bounds the counted rounds.
Q10 Cascade shock (as liqcore.simulate_cascade today): round 0 multiplies the mark and every
   book price by (1 + shock); recovery restores levels at those shifted prices.
Q11 ADL queue charge: an earlier wording of the rule read it as "its loss against the mark from being closed at the
   bankrupt position's price", step 5 of the spec as money up to its positive PnL in rank order.
   With no quantity ADL these differ; implemented: step 5 (min(remaining, positive PnL) each).
   Ranks use the counterparty's margin as it is (in cascades, after earlier charges).
Q12 refuse_uncovered on a level the order takes only in part: the cost is that of the part it
   would take (x = min(remaining, level quantity)); "available" includes the fees credited and
   the draws paid for the positions liquidated before it in the batch.
Q13 A batch never yields an inventory gain (a fallback exists only where the band-limited book
   is empty or worse than BP), so "credit gains first" matters only in cascades.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction as F
from typing import Any, Callable

DEFAULTS: dict[str, Any] = {
    "mmr": 0.005,
    "order": "underwater",
    "sizing": "full",
    "limit": "none",
    "fee": "capped",
    "fee_cap": 0.015,
    "fee_rate": 0.005,
    "reserve": 0.0,
    "refuse_uncovered": False,
    "residual": "none",
    "price_band": 1.0,
    "contract": "linear",
    "execution": "book",
    "tiers": None,
    "backstop": None,
}
SUPPORTED = {
    "order": ("underwater", "largest", "given"),
    "sizing": ("full",),
    "limit": ("none", "bankruptcy"),
    "fee": ("capped", "surplus", "rate", "drift"),
    "residual": ("none", "queue", "pro_rata", "socialize"),
    "contract": ("linear",),
    "execution": ("book",),
}


def fr(x: Any) -> F:
    """Exact value of a number (a float is taken as its binary value)."""
    if isinstance(x, F):
        return x
    if isinstance(x, bool):
        raise TypeError("bool is not a number here")
    if isinstance(x, (int, str)):
        return F(x)
    return F(float(x))


def _policy(policy: dict[str, Any] | None) -> dict[str, Any]:
    p = dict(DEFAULTS)
    p.update(policy or {})
    for k, allowed in SUPPORTED.items():
        if p[k] not in allowed:
            raise NotImplementedError(f"model_reference: {k}={p[k]!r} is not covered")
    if p["tiers"] is not None or p["backstop"] is not None:
        raise NotImplementedError("model_reference: tiers / backstop are not covered")
    for k in ("mmr", "fee_cap", "fee_rate", "reserve", "price_band"):
        p[k] = fr(p[k])
    return p


# ---- decisions whose outcome jumps: how close did each come to flipping ----------------------


class Margins:
    """The smallest relative gap seen in a discrete decision (a comparison whose two outcomes
    give different numbers). A float kernel may decide the other way when the gap is ~1e-15:
    tests skip examples whose ``fragile`` is below a threshold."""

    def __init__(self) -> None:
        self.smallest = F(10**9)

    def gap(self, a: F, b: F, scale: F) -> None:
        s = max(abs(a), abs(b), abs(scale), F(1, 10**12))
        self.smallest = min(self.smallest, abs(a - b) / s)


# ---- the book ---------------------------------------------------------------------------------


class Side:
    """One side of an L2 book, best level first: prices and remaining quantities, plus the
    quantities before the cascade (for resilience). Levels at 0 stay in place (they can refill)."""

    def __init__(self, levels: Sequence[tuple[Any, Any]]) -> None:
        self.px = [fr(p) for p, _ in levels]
        self.qty = [fr(q) for _, q in levels]
        self.q0 = list(self.qty)

    def copy(self) -> Side:
        s = Side([])
        s.px, s.qty, s.q0 = list(self.px), list(self.qty), list(self.q0)
        return s

    def levels(self) -> list[tuple[F, F]]:
        return [(p, q) for p, q in zip(self.px, self.qty) if q > 0]

    def best(self) -> F | None:
        for p, q in zip(self.px, self.qty):
            if q > 0:
                return p
        return None

    def take(self, qty: F, accept: Callable[[F, F], bool]) -> list[tuple[F, F]]:
        """Walk from the best remaining level, consuming. ``accept(price, x)`` (x = what this
        level would fill) returning False stops the walk before that level. Returns the fills."""
        fills: list[tuple[F, F]] = []
        left = qty
        for k in range(len(self.px)):
            if left <= 0:
                break
            if self.qty[k] <= 0:
                continue
            x = min(left, self.qty[k])
            if not accept(self.px[k], x):
                break
            self.qty[k] -= x
            left -= x
            fills.append((self.px[k], x))
        return fills

    def recover(self, r: F) -> None:
        self.qty = [q + r * (q0 - q) for q, q0 in zip(self.qty, self.q0)]


# ---- small pieces of the model ------------------------------------------------------------


def pnl(q: F, a: F, b: F) -> F:
    """Linear PnL of signed size q from price a to price b."""
    return q * (b - a)


def sign(x: F) -> int:
    return (x > 0) - (x < 0)


def band_ok(s: int, p: F, mark: F, band: F, m: Margins) -> bool:
    """Inside the price band (Q2: inclusive). s: side of the position being closed/sold."""
    edge = mark * (1 - band) if s > 0 else mark * (1 + band)
    m.gap(p, edge, mark)
    return p >= edge if s > 0 else p <= edge


def band_edge(s: int, mark: F, band: F) -> F:
    return max(F(0), mark * (1 - band)) if s > 0 else mark * (1 + band)


def rank_score(q: F, ep: F, margin: F, mark: F) -> F:
    """BitMEX-style ADL score (docs/model.md §3, step 5), linear: PnL% x EffLev for winners,
    PnL% / EffLev for losers; PnL% = PnL/|entry value|, EffLev = |mark value| / equity
    (1 for a long that can never go bankrupt, +inf at or past bankruptcy)."""
    if q == 0:
        return F(-(10**30))
    pl = pnl(q, ep, mark)
    pct = pl / (abs(q) * ep)
    eq = margin + pl
    never_bankrupt = q > 0 and ep - margin / q <= 0
    if never_bankrupt:
        lev: F | None = F(1)
    elif eq <= 0:
        lev = None  # +inf
    else:
        lev = abs(q) * mark / eq
    if pl == 0:
        return F(0)
    if pl > 0:
        return F(10**30) if lev is None else pct * lev
    return F(0) if lev is None else pct / lev


def allocate(
    rule: str,
    amount: F,
    capacity: dict[int, F],
    scores: dict[int, F],
) -> dict[int, F]:
    """Take ``amount`` from counterparties, each at most ``capacity[i]`` (>= 0)."""
    taken = {i: F(0) for i in capacity}
    if amount <= 0 or rule == "none":
        return taken
    if rule == "queue":
        left = amount
        for i in sorted(capacity, key=lambda i: (-scores[i], i)):
            t = min(left, capacity[i])
            taken[i] = t
            left -= t
        return taken
    if rule == "pro_rata":
        total = sum(capacity.values(), F(0))
        if total <= 0:
            return taken
        frac = min(F(1), amount / total)
        return {i: c * frac for i, c in capacity.items()}
    raise AssertionError(rule)


# ---- results ---------------------------------------------------------------------------------


@dataclass
class RefResult:
    """Exact outcome of one batch. Per position (input order): liquidated, bankruptcy_price,
    book_closed / fallback (U, taken over by the fund at BP), vwap of the book fills, deficit,
    surplus, fee, inventory_loss (net of the fallback's sale and valuation; negative = a gain to
    the fund), draw (fund's payment for its deficit and inventory loss), shortfall (unpaid),
    adl (charged to it as a counterparty). Totals as in the spec."""

    n: int
    order: list[int] = field(default_factory=list)
    liquidated: list[bool] = field(default_factory=list)
    bankruptcy_price: list[F] = field(default_factory=list)
    book_closed: list[F] = field(default_factory=list)
    fallback: list[F] = field(default_factory=list)
    book_notional: list[F] = field(default_factory=list)
    deficit: list[F] = field(default_factory=list)
    surplus: list[F] = field(default_factory=list)
    fee: list[F] = field(default_factory=list)
    inventory_loss: list[F] = field(default_factory=list)
    inventory_sold: list[F] = field(default_factory=list)
    draw: list[F] = field(default_factory=list)
    shortfall: list[F] = field(default_factory=list)
    adl: list[F] = field(default_factory=list)
    bad_debt: F = F(0)
    insurance_draw: F = F(0)
    adl_transfers: F = F(0)
    residual: F = F(0)
    uncovered: F = F(0)
    total_fees: F = F(0)
    inventory_gains: F = F(0)
    fund_before: F = F(0)
    fund_after: F = F(0)
    unabsorbed: F = F(0)
    equity_after_adl: list[F] = field(default_factory=list)
    bids_after: list[tuple[F, F]] = field(default_factory=list)
    asks_after: list[tuple[F, F]] = field(default_factory=list)
    fragile: F = F(10**9)
    rank_ties: bool = False

    def __post_init__(self) -> None:
        z = [F(0)] * self.n
        for name in (
            "book_closed",
            "fallback",
            "book_notional",
            "deficit",
            "surplus",
            "fee",
            "inventory_loss",
            "inventory_sold",
            "draw",
            "shortfall",
            "adl",
            "bankruptcy_price",
            "equity_after_adl",
        ):
            setattr(self, name, list(z))
        self.liquidated = [False] * self.n

    @property
    def vwap(self) -> list[F | None]:
        return [
            (self.book_notional[i] / self.book_closed[i]) if self.book_closed[i] > 0 else None
            for i in range(self.n)
        ]


# ---- the pieces of one batch (shared by the batch and the cascade) -----------------------------


class Fund:
    def __init__(self, balance: F, reserve: F) -> None:
        self.balance = balance
        self.reserve = reserve

    def available(self) -> F:
        return max(F(0), self.balance - self.reserve)

    def pay(self, loss: F) -> tuple[F, F]:
        """Pay what it can of ``loss`` (>= 0): (draw, unpaid)."""
        d = min(loss, self.available())
        self.balance -= d
        return d, loss - d


@dataclass
class Inventory:
    """A fallback the fund took over: ``left`` of position ``i`` (side s) at price ``bp``."""

    i: int
    s: int
    bp: F
    left: F


def _detect(
    q: list[F], ep: list[F], mg: list[F], P: F, mmr: F, alive: list[bool], m: Margins
) -> list[int]:
    out = []
    for i in range(len(q)):
        if not alive[i] or q[i] == 0:
            continue
        e = mg[i] + pnl(q[i], ep[i], P)
        mm = abs(q[i]) * P * mmr
        m.gap(e, mm, abs(q[i]) * P)
        if e < mm:
            out.append(i)
    return out


def _order(
    idx: list[int], q: list[F], ep: list[F], mg: list[F], P: F, pol: dict[str, Any], m: Margins
) -> list[int]:
    if pol["order"] == "given":
        return sorted(idx)
    notional = {i: abs(q[i]) * P for i in idx}
    if pol["order"] == "largest":
        key = {i: notional[i] for i in idx}
    else:
        key = {
            i: (abs(q[i]) * P * pol["mmr"] - mg[i] - pnl(q[i], ep[i], P)) / notional[i] for i in idx
        }
    out = sorted(idx, key=lambda i: (-key[i], -notional[i], i))
    for a, b in zip(out, out[1:]):
        same = (q[a], ep[a], mg[a]) == (q[b], ep[b], mg[b])
        if not same:
            if key[a] == key[b]:
                m.gap(F(0), F(0), F(1))  # float keys may differ by an ulp: fragile
            else:
                m.gap(key[a], key[b], abs(key[a]))
    return out


def _close(
    i: int,
    q: F,
    ep: F,
    mg: F,
    P: F,
    pol: dict[str, Any],
    book: dict[int, Side],
    fund: Fund,
    res: RefResult,
    m: Margins,
    fills_log: list[tuple[int, F, F]],
) -> Inventory | None:
    """Steps 3: close position i in full through the book (limit, band, refusal), settle the
    trader (deficit / surplus / fee), the fund pays the deficit. Returns its fallback."""
    s, Q = sign(q), abs(q)
    bp = ep - mg / q
    res.bankruptcy_price[i] = bp
    avail0 = fund.available()
    spent = [F(0)]

    def accept(p: F, x: F) -> bool:
        if not band_ok(s, p, P, pol["price_band"], m):
            return False
        if pol["limit"] == "bankruptcy":
            m.gap(p, bp, P)
            if (p < bp) if s > 0 else (p > bp):
                return False
        if pol["refuse_uncovered"]:
            cost = s * x * (bp - p)
            if cost > 0:
                m.gap(cost, avail0 - spent[0], P * Q)
                if cost > avail0 - spent[0]:
                    return False
                spent[0] += cost
        return True

    fills = book[s].take(Q, accept)
    filled = sum((x for _, x in fills), F(0))
    notional = sum((p * x for p, x in fills), F(0))
    for p, x in fills:
        fills_log.append((s, p, x))
    U = Q - filled
    e = mg + pnl(q, ep, P)
    gain = sum((pnl(s * x, P, p) for p, x in fills), F(0)) + pnl(s * U, P, bp)
    after = e + gain
    deficit, surplus = max(F(0), -after), max(F(0), after)
    if pol["fee"] == "capped":
        fee = min(surplus, pol["fee_cap"] * notional)
    elif pol["fee"] == "rate":
        fee = min(surplus, pol["fee_rate"] * notional)
    elif pol["fee"] == "drift":  # Drift's IF fee: 95% of the surplus, at most fee_rate·N
        fee = min(F(19, 20) * surplus, pol["fee_rate"] * notional)
    else:
        fee = surplus
    fund.balance += fee
    draw, short = fund.pay(deficit)
    res.liquidated[i] = True
    res.book_closed[i] += filled
    res.book_notional[i] += notional
    res.fallback[i] += U
    res.deficit[i] += deficit
    res.surplus[i] += surplus
    res.fee[i] += fee
    res.draw[i] += draw
    res.shortfall[i] += short
    res.total_fees += fee
    res.bad_debt += deficit
    res.insurance_draw += draw
    return Inventory(i, s, bp, U) if U > 0 else None


def _sell(
    inv: list[Inventory], book: dict[int, Side], P: F, band: F, m: Margins, fills_log: list
) -> dict[int, F]:
    """The fund sells its inventory (FIFO) into the book within the band at P, consuming it.
    Returns the net realized loss per inventory item (by position; negative = gain); sold
    quantities are removed from the items."""
    loss: dict[int, F] = {}
    for it in inv:
        if it.left <= 0:
            continue
        fills = book[it.s].take(it.left, lambda p, x, s=it.s: band_ok(s, p, P, band, m))
        for p, x in fills:
            loss[it.i] = loss.get(it.i, F(0)) - pnl(it.s * x, it.bp, p)
            it.left -= x
            fills_log.append((it.s, p, x))
    return loss


def _settle_inventory(losses: list[tuple[int, F]], fund: Fund, res: RefResult) -> dict[int, F]:
    """Credit the gains first, then pay the losses in the given order. Returns the unpaid part
    per position."""
    unpaid: dict[int, F] = {}
    for i, lk in losses:
        res.inventory_loss[i] += lk
        if lk < 0:
            fund.balance -= lk
            res.inventory_gains -= lk
    for i, lk in losses:
        if lk > 0:
            d, u = fund.pay(lk)
            res.draw[i] += d
            res.shortfall[i] += u
            res.insurance_draw += d
            res.bad_debt += lk
            if u > 0:
                unpaid[i] = unpaid.get(i, F(0)) + u
    return unpaid


def _residual(
    shortfalls: dict[int, F],
    q: list[F],
    ep: list[F],
    mg: list[F],
    P: F,
    counterparty: list[bool],
    rule: str,
    res: RefResult,
) -> list[F]:
    """Step 5: allocate the shortfalls (by liquidated position) to counterparties; returns the
    charge per position. Capacity: min(positive PnL, equity) at P, never below 0."""
    n = len(q)
    charge = [F(0)] * n
    total = sum(shortfalls.values(), F(0))
    res.residual += total
    if total <= 0 or rule == "none":
        res.uncovered += total
        return charge
    eq = [mg[j] + pnl(q[j], ep[j], P) for j in range(n)]
    if rule == "socialize":
        open_ = [j for j in range(n) if counterparty[j] and q[j] != 0]
        oi = sum((abs(q[j]) for j in open_), F(0))
        if oi > 0:
            delta = total / oi
            for j in open_:
                charge[j] = min(delta * abs(q[j]), max(F(0), eq[j]))
    else:
        for side in (1, -1):
            amount = sum((v for i, v in shortfalls.items() if sign(q[i]) == side), F(0))
            opp = [j for j in range(n) if counterparty[j] and sign(q[j]) == -side]
            cap = {j: max(F(0), min(pnl(q[j], ep[j], P), eq[j])) for j in opp}
            scores = {j: rank_score(q[j], ep[j], mg[j], P) for j in opp}
            if rule == "queue":
                winners = sorted((j for j in opp if cap[j] > 0), key=lambda j: (-scores[j], j))
                for a, b in zip(winners, winners[1:]):
                    same = (q[a], ep[a], mg[a]) == (q[b], ep[b], mg[b])
                    sa, sb = scores[a], scores[b]
                    if not same and abs(sa - sb) <= abs(sa) * F(1, 10**9):
                        res.rank_ties = True
            taken = allocate(rule, amount, cap, scores)
            for j, t in taken.items():
                charge[j] += t
    got = sum(charge, F(0))
    res.adl_transfers += got
    res.uncovered += total - got
    for j in range(n):
        res.adl[j] += charge[j]
    return charge


def _book(bids: Sequence[tuple[Any, Any]], asks: Sequence[tuple[Any, Any]]) -> dict[int, Side]:
    # key: the side of the position that trades into it (longs sell into bids).
    return {1: Side(bids), -1: Side(asks)}


def _columns(sizes: Sequence[Any], entries: Sequence[Any], margins: Sequence[Any]) -> tuple:
    q, ep, mg = [fr(x) for x in sizes], [fr(x) for x in entries], [fr(x) for x in margins]
    if not len(q) == len(ep) == len(mg):
        raise ValueError("sizes, entries, margins must have one length")
    return q, ep, mg


# ---- one batch --------------------------------------------------------------------------------


def reference_liquidate(
    sizes: Sequence[Any],
    entries: Sequence[Any],
    margins: Sequence[Any],
    bids: Sequence[tuple[Any, Any]],
    asks: Sequence[tuple[Any, Any]],
    mark: Any,
    fund: Any,
    policy_dict: dict[str, Any] | None = None,
) -> RefResult:
    """One batch of the loss rules. ``bids``/``asks``: (price, quantity) levels, best first."""
    pol = _policy(policy_dict)
    q, ep, mg = _columns(sizes, entries, margins)
    P, n = fr(mark), len(q)
    m = Margins()
    res = RefResult(n)
    fnd = Fund(fr(fund), pol["reserve"])
    res.fund_before = fnd.balance
    book = _book(bids, asks)
    log: list[tuple[int, F, F]] = []

    # 1-3: detection, order, closes
    liq = _order(_detect(q, ep, mg, P, pol["mmr"], [True] * n, m), q, ep, mg, P, pol, m)
    res.order = liq
    inv = [it for i in liq if (it := _close(i, q[i], ep[i], mg[i], P, pol, book, fnd, res, m, log))]

    # 4: the fund sells its inventory per side (liquidation order) within the band; the rest is
    # valued at the band edge.
    band = pol["price_band"]
    sold = {it.i: it.left for it in inv}
    realized = _sell(inv, book, P, band, m, log)
    losses: list[tuple[int, F]] = []
    for it in inv:
        res.inventory_sold[it.i] = sold[it.i] - it.left
        lk = realized.get(it.i, F(0))
        if it.left > 0:
            res.unabsorbed += it.left
            lk -= pnl(it.s * it.left, it.bp, band_edge(it.s, P, band))
        losses.append((it.i, lk))
    _settle_inventory(losses, fnd, res)

    # 5: residual to the non-liquidated positions
    shortfalls = {i: res.shortfall[i] for i in liq if res.shortfall[i] > 0}
    counter = [not res.liquidated[j] for j in range(n)]
    charge = _residual(shortfalls, q, ep, mg, P, counter, pol["residual"], res)
    res.equity_after_adl = [
        mg[j] + pnl(q[j], ep[j], P) - charge[j] if counter[j] else F(0) for j in range(n)
    ]

    res.fund_after = fnd.balance
    res.bids_after, res.asks_after = book[1].levels(), book[-1].levels()
    res.fragile = m.smallest
    return res


# ---- cascades ----------------------------------------------------------------------------------


@dataclass
class RefCascade(RefResult):
    """Exact outcome of a cascade: the per-position fields of :class:`RefResult` summed over
    rounds (``inventory_loss`` over realized pieces and the final valuation), plus the path."""

    round: list[int] = field(default_factory=list)
    marks: list[F] = field(default_factory=list)
    rounds: int = 0
    held_at_end: F = F(0)
    valued_loss: F = F(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.round = [-1] * self.n

    @property
    def final_mark(self) -> F:
        return self.marks[-1]


def reference_cascade(
    sizes: Sequence[Any],
    entries: Sequence[Any],
    margins: Sequence[Any],
    bids: Sequence[tuple[Any, Any]],
    asks: Sequence[tuple[Any, Any]],
    mark: Any,
    fund: Any,
    policy_dict: dict[str, Any] | None = None,
    *,
    shock: Any = 0,
    resilience: Any = 0,
    mark_rule: str = "last",
    max_rounds: int = 1000,
) -> RefCascade:
    """The multi-round rules: per round detection at P, closes, the fund sells all the
    inventory it holds within the band at P, the order-free mark update, the round's residual,
    recovery. ``bids``/``asks`` are the book at ``mark`` before the shock."""
    pol = _policy(policy_dict)
    if pol["residual"] == "socialize":
        raise NotImplementedError("model_reference: cascades cover residual none/pro_rata/queue")
    if mark_rule not in ("last", "mid"):
        raise ValueError(f"mark_rule must be 'last' or 'mid' (got {mark_rule!r})")
    q, ep, mg = _columns(sizes, entries, margins)
    mg = list(mg)  # ADL charges come out of counterparties' margins
    n = len(q)
    g = 1 + fr(shock)
    r = fr(resilience)
    P = fr(mark) * g
    band = pol["price_band"]
    m = Margins()
    res = RefCascade(n)
    res.marks = [P]
    fnd = Fund(fr(fund), pol["reserve"])
    res.fund_before = fnd.balance
    book = _book([(fr(p) * g, x) for p, x in bids], [(fr(p) * g, x) for p, x in asks])
    alive = [True] * n
    held: list[Inventory] = []  # FIFO

    while res.rounds < max_rounds:
        log: list[tuple[int, F, F]] = []
        liq = _order(_detect(q, ep, mg, P, pol["mmr"], alive, m), q, ep, mg, P, pol, m)
        new = []
        close_short: dict[int, F] = {}
        for i in liq:
            alive[i] = False
            it = _close(i, q[i], ep[i], mg[i], P, pol, book, fnd, res, m, log)
            if res.shortfall[i] > 0:
                close_short[i] = res.shortfall[i]
            if it:
                new.append(it)
        held.extend(new)
        before = {id(it): it.left for it in held}
        realized = _sell(held, book, P, band, m, log)
        sold_any = any(it.left != before[id(it)] for it in held)
        for it in held:
            res.inventory_sold[it.i] += before[id(it)] - it.left
        if not liq and not sold_any:
            break
        res.rounds += 1
        for i in liq:
            res.round[i] = res.rounds
            res.order.append(i)
        # per fallback, net of this round's pieces (Q4), gains first then losses FIFO
        seen: list[int] = []
        for it in held:
            if it.i in realized and it.i not in seen:
                seen.append(it.i)
        unpaid = _settle_inventory([(i, realized[i]) for i in seen], fnd, res)
        held = [it for it in held if it.left > 0]
        # the round's residual at the round's mark, before the mark moves (Q7)
        shortfalls = dict(close_short)
        for i, u in unpaid.items():
            shortfalls[i] = shortfalls.get(i, F(0)) + u
        charge = _residual(shortfalls, q, ep, mg, P, alive, pol["residual"], res)
        for j in range(n):
            mg[j] -= charge[j]
        # the order-free mark (Q5, Q6)
        if log:
            if mark_rule == "last":
                num, den = F(0), F(0)
                for side in (1, -1):
                    px = [p for s, p, _ in log if s == side]
                    if px:
                        deepest = min(px) if side > 0 else max(px)
                        qty = sum((x for s, _, x in log if s == side), F(0))
                        num += deepest * qty
                        den += qty
                P = num / den
            else:
                bb, ba = book[1].best(), book[-1].best()
                if bb is not None and ba is not None:
                    P = (bb + ba) / 2
                elif bb is not None or ba is not None:
                    P = bb if bb is not None else ba  # type: ignore[assignment]
        res.marks.append(P)
        if r > 0:
            book[1].recover(r)
            book[-1].recover(r)

    # Q8: what is still held is valued on the final book within the band at the final mark
    res.held_at_end = sum((it.left for it in held), F(0))
    whatif = {1: book[1].copy(), -1: book[-1].copy()}
    realized = _sell(held, whatif, P, band, m, [])
    order_i: list[int] = []
    for it in held:
        if it.i not in order_i:
            order_i.append(it.i)
    per: dict[int, F] = {i: realized.get(i, F(0)) for i in order_i}
    for it in held:
        if it.left > 0:
            res.unabsorbed += it.left
            per[it.i] -= pnl(it.s * it.left, it.bp, band_edge(it.s, P, band))
    losses = [(i, per[i]) for i in order_i]
    res.valued_loss = sum((max(F(0), v) for _, v in losses), F(0))
    unpaid = _settle_inventory(losses, fnd, res)
    if unpaid:
        charge = _residual(unpaid, q, ep, mg, P, alive, pol["residual"], res)
        for j in range(n):
            mg[j] -= charge[j]
    res.equity_after_adl = [mg[j] + pnl(q[j], ep[j], P) if alive[j] else F(0) for j in range(n)]
    res.fund_after = fnd.balance
    res.bids_after, res.asks_after = book[1].levels(), book[-1].levels()
    res.fragile = m.smallest
    return res
