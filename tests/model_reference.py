"""An independent, exact reference of the loss rules (docs/model.md §1-3, §3b, §6, §7).

Written from docs/model.md, not from the kernel: exact rational arithmetic
(``fractions.Fraction``) on small cases, its own order-book walk, its own sizing search, its own
ADL allocation (queue by rank, pro-rata, water-filling, socialization), one obvious loop per rule.
Slow on purpose; use it on a handful of positions and levels.

* :func:`reference_liquidate`: one batch (``liqcore.liquidate``, one-position accounts of
  ``liqcore.liquidate_accounts``).
* :func:`allocate_residual`: step 5 alone (the residual rules), for other references.
* :func:`reference_cascade`: the multi-round rules (``liqcore.simulate_cascade``).

Covered in one batch: linear and inverse contracts (``contract``, ``contract_size``); flat
``mmr`` and maintenance ``tiers``; ``order`` underwater / largest / given; ``sizing`` full /
partial / slices with ``size_step`` and ``size_rounding`` ("Order sizes"); ``execution`` book /
takeover; ``backstop``; ``limit`` none / bankruptcy / fillable; ``fee`` capped / surplus / rate / drift;
``reserve``; ``residual`` none / queue / pro_rata / capped_pro_rata / risk_aware / socialize;
``price_band``; ``refuse_uncovered``; the ledger of §3b. Cascades cover what they covered before:
linear, flat ``mmr``, full sizing, book execution, limit none / bankruptcy, residual none /
pro_rata / queue / socialize.

Money is in quote (linear) or coin (inverse). Prices and quantities may be given as ints, floats
(taken exactly, as the binary value the kernel sees), strings or Fractions.

How partial sizing is solved (docs/model.md §3 "Sizing"): ``f(Δ) = E + G(Δ) - fee(Δ) -
(1 + buffer)·MM(Q - Δ)`` is continuous and piecewise linear in ``Δ``: its kinks are the
cumulative level quantities of the walk, the tier floors of the rest, and the zeros of the surplus
``S(Δ)`` and of ``S(Δ) - rate·N(Δ)`` (where the fee rule switches branch). The reference lists
all those points on ``[0, fillable]``, evaluates ``f`` from scratch at each (a what-if walk of the
book), and returns the first point where ``f ≥ 0``, interpolated exactly inside the first segment
that crosses zero. No interval algebra; a different structure from the kernel's solver.

Readings of the spec (questions for the spec's author; each choice is the one implemented)
------------------------------------------------------------------------------------------
Q1 refuse_uncovered (§3 step 3): a level worse than BP is refused whole when the fund's GROSS
   cost of the close so far (fills better than BP are not credited), plus the cost of the part of
   the level the order would take, exceeds ``max(0, fund - reserve)`` at the start of the close. Only for a full
   close through the book.
Q2 Price band bounds are inclusive: a bid exactly at P·(1 - band) and an ask exactly at
   P·(1 + band) fill ("no fill at a bid BELOW ..."). Same for the bankruptcy and fillable limits.
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
   mark moves with the round's fills (docs/model.md §4); counterparties are the positions not
   liquidated in this or an earlier round. ADL charges are taken from the counterparty's margin,
   and its capacity in a later round is min(positive PnL, equity) at that round's mark.
Q8 Cascade end: inventory still held after the last round is valued by a what-if walk, FIFO per
   side, on the final book (after the last round's recovery) within the band at the final mark;
   the rest at the band edge. Its losses are paid by the fund; their shortfalls form one last
   residual, allocated like a round's at the final mark.
Q9 Cascade stop: a round that liquidates nothing and sells nothing is not counted and changes
   nothing (no recovery). ``max_rounds`` bounds the counted rounds.
Q10 Cascade shock: round 0 multiplies the mark and every book price by (1 + shock); recovery
   restores levels at those shifted prices.
Q11 ADL queue: money up to each counterparty's capacity min(positive PnL, equity) in rank order.
   Rank (§3 step 5): PnL% x EffLev for a winner, PnL% / EffLev for a loser, 0 at zero PnL;
   EffLev = notional / (mark value - bankruptcy value), the bankruptcy value taken at BP clamped
   to [0, +inf] (so a position that can never go bankrupt has EffLev 1), +inf at or past
   bankruptcy. Ties: lower index first.
Q12 A partial or slice size after rounding to ``size_step`` that equals Q is a full close (with
   everything a full close implies: deficit, refuse_uncovered). A rounded partial size the book
   cannot fill within the limit leaves its rest as fallback at BP (the partial surplus rule
   ``max(0, (Δ/Q)·E + G)`` then includes the fallback's gain against the mark).
Q13 Slices: the slice is kept when the book fills all of it within the limit and the rest's
   equity ``E + G - fee`` is >= 0; otherwise a full close. The size is ``slice_fraction·Q``,
   rounded to the step, for a position whose notional at the mark is strictly above
   ``slice_threshold``.
Q14 Takeover execution has no limit and no band: the liquidator takes any quantity at
   ``P·(1 - s·takeover_fee)``; refuse_uncovered does not apply. A backstop (``E < backstop·MM``,
   strict) sends the whole position to the fallback, whatever the execution.
Q15 capped_pro_rata: ``taken_j = min(η, adl_cap)·cap_j`` and risk_aware ``taken_j = min(η·w_j,
   adl_cap)·cap_j`` (w_j = notional/equity at the mark, 0 when equity <= 0), with η the least
   level covering the amount, each side separately, ``cap_j = min(positive PnL, equity)``.
Q16 Order "underwater" with limit "fillable" sorts by ABR·smmr·MM/notional; ABR is 1 when
   MM = 0 (the fillable limit is then P whatever ABR).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction as F
from typing import Any, Callable

DEFAULTS: dict[str, Any] = {
    "mmr": 0.005,
    "tiers": None,
    "contract": "linear",
    "contract_size": 1.0,
    "order": "underwater",
    "sizing": "full",
    "buffer": 0.02,
    "slice_threshold": 100_000.0,
    "slice_fraction": 0.2,
    "size_step": 0.0,
    "size_rounding": "down",
    "execution": "book",
    "takeover_fee": 0.01,
    "backstop": None,
    "limit": "none",
    "ba": 1.0,
    "smmr": 0.1,
    "fee": "capped",
    "fee_cap": 0.015,
    "fee_rate": 0.005,
    "reserve": 0.0,
    "refuse_uncovered": False,
    "price_band": 1.0,
    "residual": "none",
    "adl_cap": 1.0,
}
SUPPORTED = {
    "order": ("underwater", "largest", "given"),
    "sizing": ("full", "partial", "slices"),
    "limit": ("none", "bankruptcy", "fillable"),
    "fee": ("capped", "surplus", "rate", "drift"),
    "residual": ("none", "queue", "pro_rata", "capped_pro_rata", "risk_aware", "socialize"),
    "contract": ("linear", "inverse"),
    "execution": ("book", "takeover"),
    "size_rounding": ("down", "up"),
}
NUMBERS = (
    "mmr", "contract_size", "buffer", "slice_threshold", "slice_fraction", "size_step",
    "takeover_fee", "ba", "smmr", "fee_cap", "fee_rate", "reserve", "price_band", "adl_cap",
)
LEDGER_ROWS = (
    "traders",
    "makers",
    "liquidators",
    "fund_fees",
    "fund_inventory",
    "fund_deficit",
    "fund_residual",
    "valuation",
    "counterparties",
    "uncovered",
)


def fr(x: Any) -> F:
    """Exact value of a number (a float is taken as its binary value)."""
    if isinstance(x, F):
        return x
    if isinstance(x, bool):
        raise TypeError("bool is not a number here")
    if isinstance(x, (int, str)):
        return F(x)
    return F(float(x))


def _policy(policy: Any) -> dict[str, Any]:
    """A dict of policy fields (``liqcore.Policy.to_dict()`` works), defaults filled in."""
    if policy is not None and not isinstance(policy, dict):
        policy = policy.to_dict()
    p = dict(DEFAULTS)
    p.update({k: v for k, v in (policy or {}).items() if k in DEFAULTS})
    for k, allowed in SUPPORTED.items():
        if p[k] not in allowed:
            raise NotImplementedError(f"model_reference: {k}={p[k]!r} is not covered")
    if p["mmr"] is None:  # tiers instead
        p["mmr"] = 0
    for k in NUMBERS:
        p[k] = fr(p[k])
    if p["backstop"] is not None:
        p["backstop"] = fr(p["backstop"])
    p["_c"] = Contract(p)
    return p


# ---- the contract: PnL, notional, maintenance, bankruptcy (docs/model.md §1) --------------------


class Contract:
    """Linear (money in quote) or inverse (contracts of ``C`` quote, money in coin). A price of
    ``None`` stands for +inf (an inverse short that can never go bankrupt)."""

    def __init__(self, p: dict[str, Any]) -> None:
        self.linear = p["contract"] == "linear"
        self.C = p["contract_size"]
        tiers = p["tiers"] if p["tiers"] is not None else [(0, p["mmr"])]
        self.floors = [fr(a) for a, _ in tiers]
        self.rates = [fr(b) for _, b in tiers]
        self.cum = [F(0)]
        for k in range(1, len(tiers)):
            self.cum.append(self.cum[-1] + self.floors[k] * (self.rates[k] - self.rates[k - 1]))

    @staticmethod
    def recip(b: F | None) -> F:
        return F(0) if b is None else 1 / b

    def pnl(self, q: F, a: F | None, b: F | None) -> F:
        """PnL of signed size q moved from price a to price b."""
        if self.linear:
            assert a is not None
            assert b is not None
            return q * (b - a)
        return q * self.C * (self.recip(a) - self.recip(b))

    def unit(self, p: F) -> F:
        """Notional of one unit (contract) at price p."""
        return p if self.linear else self.C / p

    def notional(self, size: F, p: F) -> F:
        return abs(size) * self.unit(p)

    def tier(self, n: F) -> int:
        """Tier k covers notionals in [floor_k, floor_(k+1))."""
        k = 0
        for j, fl in enumerate(self.floors):
            if n >= fl:
                k = j
        return k

    def mm(self, size: F, p: F) -> F:
        n = self.notional(size, p)
        k = self.tier(n)
        return n * self.rates[k] - self.cum[k]

    def bp(self, q: F, ep: F, m: F) -> F | None:
        """The price at which closing all of q leaves equity 0: M + PnL(q, EP→BP) = 0."""
        if self.linear:
            return ep - m / q
        r = 1 / ep + m / (q * self.C)  # 1/BP
        return None if r <= 0 else 1 / r


# ---- decisions whose outcome jumps: how close did each come to flipping ----------------------


class Margins:
    """The smallest relative gap seen in a discrete decision (a comparison whose two outcomes
    give different numbers). A float kernel may decide the other way when the gap is ~1e-15:
    tests skip examples whose ``fragile`` is below a threshold."""

    def __init__(self) -> None:
        self.smallest = F(10**9)

    def gap(self, a: F, b: F, scale: F) -> None:
        """Record |a - b| relative to the largest of |a|, |b|, |scale| (a tie at 0 is fragile)."""
        s = max(abs(a), abs(b), abs(scale))
        self.smallest = min(self.smallest, abs(a - b) / s if s > 0 else F(0))


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


class Takeover:
    """A liquidator taking any quantity at one price (execution "takeover")."""

    def __init__(self, price: F) -> None:
        self.price = price

    def take(self, qty: F, accept: Callable[[F, F], bool]) -> list[tuple[F, F]]:
        return [(self.price, qty)] if qty > 0 else []

    def copy(self) -> Takeover:
        return self


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


def fee_of(pol: dict[str, Any], surplus: F, notional: F) -> F:
    """§3 "Fee": from the surplus only, on the fill notional of the book/takeover fills."""
    if surplus <= 0:
        return F(0)
    if pol["fee"] == "surplus":
        return surplus
    if pol["fee"] == "drift":  # Drift's insurance-fund fee: 95% of the surplus, at most fee_rate·N
        return min(F(19, 20) * surplus, pol["fee_rate"] * notional)
    rate = pol["fee_cap"] if pol["fee"] == "capped" else pol["fee_rate"]
    return min(surplus, rate * notional)


def rank_score(c: Contract, q: F, ep: F, margin: F, mark: F) -> F | None:
    """ADL score (Q11); None stands for +inf (a winner at or past bankruptcy)."""
    if q == 0:
        return F(-(10**60))
    pl = c.pnl(q, ep, mark)
    if pl == 0:
        return F(0)
    pct = pl / c.notional(q, ep)
    bp = c.bp(q, ep, margin)
    if c.linear:
        denom = q * (mark - max(F(0), bp))  # type: ignore[type-var]
    else:
        denom = q * c.C * (c.recip(bp) - 1 / mark)
    lev = None if denom <= 0 else c.notional(q, mark) / denom
    if pl > 0:
        return None if lev is None else pct * lev
    return F(0) if lev is None else pct / lev


def water_fill(amount: F, cap: dict[int, F], weight: dict[int, F], frac_cap: F) -> dict[int, F]:
    """``taken_j = min(η·w_j, frac_cap)·cap_j`` with the least η >= 0 whose total reaches
    ``amount`` (everyone at the cap if even that is short). Exact: the total is piecewise
    linear in η with kinks at frac_cap/w_j."""
    live = [j for j in cap if cap[j] > 0 and weight[j] > 0]
    taken = {j: F(0) for j in cap}
    full = sum((frac_cap * cap[j] for j in live), F(0))
    if amount <= 0 or not live:
        return taken
    if amount >= full:
        for j in live:
            taken[j] = frac_cap * cap[j]
        return taken

    def total(eta: F) -> F:
        return sum((min(eta * weight[j], frac_cap) * cap[j] for j in live), F(0))

    kinks = sorted({frac_cap / weight[j] for j in live})
    lo = F(0)
    for k in kinks:
        if total(k) >= amount:
            # linear on [lo, k]: total(lo) + slope·(η - lo) = amount
            slope = sum((weight[j] * cap[j] for j in live if frac_cap / weight[j] >= k), F(0))
            eta = lo + (amount - total(lo)) / slope
            break
        lo = k
    for j in live:
        taken[j] = min(eta * weight[j], frac_cap) * cap[j]
    return taken


def allocate(rule: str, amount: F, capacity: dict[int, F], scores: dict[int, Any],
             weights: dict[int, F], adl_cap: F) -> dict[int, F]:
    """Take ``amount`` from counterparties, each at most ``capacity[i]`` (>= 0)."""
    taken = {i: F(0) for i in capacity}
    if amount <= 0 or rule == "none":
        return taken
    if rule == "queue":
        left = amount

        def key(i: int) -> tuple[int, F, int]:
            sc = scores[i]
            return (0, F(0), i) if sc is None else (1, -sc, i)

        for i in sorted(capacity, key=key):
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
    if rule == "capped_pro_rata":
        return water_fill(amount, capacity, {i: F(1) for i in capacity}, adl_cap)
    if rule == "risk_aware":
        return water_fill(amount, capacity, weights, adl_cap)
    raise AssertionError(rule)


def allocate_residual(
    rule: str,
    shortfall_long: Any,
    shortfall_short: Any,
    sizes: Sequence[Any],
    entries: Sequence[Any],
    margins: Sequence[Any],
    mark: Any,
    counterparty: Sequence[bool],
    policy: Any = None,
) -> list[F]:
    """Step 5 alone: the residual of the liquidated longs (``shortfall_long``) and shorts
    allocated to the counterparties (``counterparty[j]``: not liquidated) under ``rule``; the
    other policy fields (contract, adl_cap) from ``policy``. Returns the charge per position."""
    base = policy if isinstance(policy, dict) or policy is None else policy.to_dict()
    pol = _policy({**(base or {}), "residual": rule})
    q, ep, mg = _columns(sizes, entries, margins)
    res = RefResult(len(q) + 2)
    sl, ss = fr(shortfall_long), fr(shortfall_short)
    # the side of a shortfall is the side of the position it belongs to: use two pseudo-ids
    q2, ep2, mg2 = [*q, F(1), F(-1)], [*ep, F(1), F(1)], [*mg, F(0), F(0)]
    short = {len(q): sl, len(q) + 1: ss}
    short = {i: v for i, v in short.items() if v > 0}
    charge = _residual(short, q2, ep2, mg2, fr(mark), [*list(counterparty), False, False],
                       pol, res)
    return charge[: len(q)]


# ---- results ---------------------------------------------------------------------------------


@dataclass
class RefResult:
    """Exact outcome of one batch. Per position (input order): liquidated, bankruptcy_price
    (None: +inf), closed (Δ), book_closed / fallback (U, taken over by the fund at BP),
    book_notional (Σ x·p of the book or takeover fills), vwap_all (blended price of every fill,
    fallback included), deficit, surplus, fee, inventory_loss (net of the fallback's sale and
    valuation; negative = a gain to the fund), draw (fund's payment for its deficit and inventory
    loss), shortfall (unpaid), adl (charged to it as a counterparty). Totals as in the spec."""

    n: int
    order: list[int] = field(default_factory=list)
    liquidated: list[bool] = field(default_factory=list)
    bankruptcy_price: list[Any] = field(default_factory=list)
    closed: list[F] = field(default_factory=list)
    book_closed: list[F] = field(default_factory=list)
    fallback: list[F] = field(default_factory=list)
    book_notional: list[F] = field(default_factory=list)
    vwap_all: list[F | None] = field(default_factory=list)
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
    total_deficit: F = F(0)
    total_surplus: F = F(0)
    inventory_loss_total: F = F(0)
    inventory_gains: F = F(0)
    liquidated_notional: F = F(0)
    fund_before: F = F(0)
    fund_after: F = F(0)
    unabsorbed: F = F(0)
    equity_after_adl: list[F] = field(default_factory=list)
    bids_after: list[tuple[F, F]] = field(default_factory=list)
    asks_after: list[tuple[F, F]] = field(default_factory=list)
    ledger: dict[str, F] = field(default_factory=dict)
    fragile: F = F(10**9)
    rank_ties: bool = False

    def __post_init__(self) -> None:
        z = [F(0)] * self.n
        for name in (
            "closed",
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
        self.vwap_all = [None] * self.n
        self.liquidated = [False] * self.n
        self.ledger = {k: F(0) for k in LEDGER_ROWS}

    @property
    def vwap(self) -> list[F | None]:
        """Linear VWAP of the book fills alone."""
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
    bp: F | None
    left: F


def _state(i: int, q: list[F], ep: list[F], mg: list[F], P: F, c: Contract) -> tuple[F, F, F]:
    """(E, MM, notional) of position i at the mark."""
    return mg[i] + c.pnl(q[i], ep[i], P), c.mm(q[i], P), c.notional(q[i], P)


def _abr(pol: dict[str, Any], E: F, MM: F) -> F:
    """dYdX's adjusted bankruptcy rating clamp(ba·(1 - E/MM), 0, 1) (Q16: 1 when MM = 0)."""
    if MM <= 0:
        return F(1)
    return min(max(pol["ba"] * (1 - E / MM), F(0)), F(1))


def _detect(
    q: list[F], ep: list[F], mg: list[F], P: F, pol: dict[str, Any], alive: list[bool],
    m: Margins
) -> list[int]:
    c = pol["_c"]
    out = []
    for i in range(len(q)):
        if not alive[i] or q[i] == 0:
            continue
        e, mm, nt = _state(i, q, ep, mg, P, c)
        m.gap(e, mm, nt + abs(mg[i]) + c.notional(q[i], ep[i]))
        if e < mm:
            out.append(i)
    return out


def _order(
    idx: list[int], q: list[F], ep: list[F], mg: list[F], P: F, pol: dict[str, Any], m: Margins
) -> list[int]:
    if pol["order"] == "given":
        return sorted(idx)
    c = pol["_c"]
    notional = {i: c.notional(q[i], P) for i in idx}
    key: dict[int, F] = {}
    for i in idx:
        e, mm, nt = _state(i, q, ep, mg, P, c)
        if pol["order"] == "largest":
            key[i] = nt
        elif pol["limit"] == "fillable":
            key[i] = _abr(pol, e, mm) * pol["smmr"] * mm / nt
        else:
            key[i] = (mm - e) / nt
    out = sorted(idx, key=lambda i: (-key[i], -notional[i], i))
    for a, b in zip(out, out[1:]):
        same = (q[a], ep[a], mg[a]) == (q[b], ep[b], mg[b])
        if not same and key[a] != key[b]:
            # an exact tie goes to the tie-breakers in the kernel too (its keys tie within
            # 1e-12, docs/model.md §3 step 2); distinct keys that close are fragile
            m.gap(key[a], key[b], max(F(1), abs(key[a]), abs(key[b])))
    return out


def _round_size(d: F, Q: F, pol: dict[str, Any], m: Margins) -> F:
    """"Order sizes": a partial or slice size on the step, down or up, clamped to [step, Q]."""
    step = pol["size_step"]
    if step <= 0:
        return d
    k = d / step
    lo = F(math.floor(k))
    m.gap(k - lo, F(0), F(1))
    m.gap(k - lo, F(1), F(1))
    n = lo if pol["size_rounding"] == "down" or k == lo else lo + 1
    return min(max(step * n, step), Q)


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
    """Step 3: size the close of position i, execute it (book under the limit, the band and the
    refusal, or a takeover), settle the trader (deficit / surplus / fee), the fund pays the
    deficit. Returns its fallback."""
    c: Contract = pol["_c"]
    s, Q = sign(q), abs(q)
    E = mg + c.pnl(q, ep, P)
    MM = c.mm(q, P)
    nt = c.notional(q, P)
    bp = c.bp(q, ep, mg)
    res.bankruptcy_price[i] = bp
    avail0 = fund.available()
    on_book = pol["execution"] == "book"
    venue: Any = book[s] if on_book else Takeover(P * (1 - s * pol["takeover_fee"]))

    # the limit (book only): the tighter of the rule's and the band (Q2, Q14)
    if pol["limit"] == "bankruptcy":
        limit: F | None = bp
    elif pol["limit"] == "fillable":
        limit = P * (1 - s * _abr(pol, E, MM) * pol["smmr"] * MM / nt)
    else:
        limit = None

    def within(p: F) -> bool:
        if not on_book:
            return True
        if not band_ok(s, p, P, pol["price_band"], m):
            return False
        if limit is not None:
            m.gap(p, limit, P)
            if (p < limit) if s > 0 else (p > limit):
                return False
        return True

    def whatif(d: F) -> list[tuple[F, F]]:
        return venue.copy().take(d, lambda p, x: within(p))

    def gain_of(fills: list[tuple[F, F]]) -> tuple[F, F]:
        """(G, N): gain against the mark and fill notional."""
        return (sum((c.pnl(s * x, P, p) for p, x in fills), F(0)),
                sum((c.notional(x, p) for p, x in fills), F(0)))

    delta = Q
    backstop = pol["backstop"]
    if backstop is not None:
        m.gap(E, backstop * MM, nt)
    if backstop is not None and backstop * MM > E:
        fills: list[tuple[F, F]] = []
    else:
        if pol["sizing"] == "partial":
            d = _partial_size(Q, E, s, P, c, pol, whatif, venue, within, m)
            if d is not None:
                delta = _round_size(d, Q, pol, m)
        elif pol["sizing"] == "slices":
            m.gap(nt, pol["slice_threshold"], nt)
            if nt > pol["slice_threshold"]:
                d = _round_size(pol["slice_fraction"] * Q, Q, pol, m)
                if d < Q:
                    f = whatif(d)
                    filled = sum((x for _, x in f), F(0))
                    G, N = gain_of(f)
                    rest = E + G - fee_of(pol, d / Q * E + G, N)
                    if on_book:
                        m.gap(_fillable(venue, within), d, d)
                    m.gap(rest, F(0), nt)
                    if filled == d and rest >= 0:
                        delta = d
        if delta == Q and pol["refuse_uncovered"] and on_book:
            cost_so_far = [F(0)]  # the fund's gross cost of the close so far (Q1)

            def accept(p: F, x: F) -> bool:
                if not within(p):
                    return False
                cost = -c.pnl(s * x, bp, p)  # the fund's cost of this fill against BP
                if cost > 0:  # fills better than BP are not credited (Q1)
                    m.gap(cost_so_far[0] + cost, avail0, nt)
                    if cost_so_far[0] + cost > avail0:
                        return False
                    cost_so_far[0] += cost
                return True

            fills = venue.take(delta, accept)
        else:
            fills = venue.take(delta, lambda p, x: within(p))
    filled = sum((x for _, x in fills), F(0))
    G, N = gain_of(fills)
    G_book = G
    U = delta - filled
    if on_book:
        for p, x in fills:
            fills_log.append((s, p, x))
    if U > 0:
        G += c.pnl(s * U, P, bp)
    if delta == Q:
        after = E + G
        deficit, surplus = max(F(0), -after), max(F(0), after)
    else:
        deficit, surplus = F(0), max(F(0), delta / Q * E + G)
    fee = fee_of(pol, surplus, N)
    fund.balance += fee
    draw, short = fund.pay(deficit)

    res.liquidated[i] = True
    res.closed[i] += delta
    res.book_closed[i] += filled
    res.book_notional[i] += sum((p * x for p, x in fills), F(0))
    res.fallback[i] += U
    if c.linear:
        num = sum((p * x for p, x in fills), F(0)) + (U * bp if U > 0 else F(0))  # type: ignore
        res.vwap_all[i] = num / delta
    else:
        den = sum((x / p for p, x in fills), F(0)) + (U * c.recip(bp) if U > 0 else F(0))
        res.vwap_all[i] = delta / den if den > 0 else None
    res.deficit[i] += deficit
    res.surplus[i] += surplus
    res.fee[i] += fee
    res.draw[i] += draw
    res.shortfall[i] += short
    res.total_fees += fee
    res.total_deficit += deficit
    res.total_surplus += surplus
    res.liquidated_notional += c.notional(delta, P)
    res.bad_debt += deficit
    res.insurance_draw += draw
    # the ledger (§3b): each amount a gain at the mark
    led = res.ledger
    led["makers" if on_book else "liquidators"] -= G_book
    if U > 0:
        led["fund_inventory"] += c.pnl(s * U, bp, P)
    if delta == Q:
        led["traders"] += -E if deficit > 0 else surplus - fee - E
    else:
        led["traders"] += G - fee
    led["fund_fees"] += fee
    led["fund_deficit"] -= draw
    return Inventory(i, s, bp, U) if U > 0 else None


def _fillable(side: Side, within: Callable[[F], bool]) -> F:
    """What the side can fill within the limit and the band (the walk stops at the first level
    beyond them)."""
    got = F(0)
    for p, x in side.levels():
        if not within(p):
            break
        got += x
    return got


def _partial_size(
    Q: F, E: F, s: int, P: F, c: Contract, pol: dict[str, Any],
    whatif: Callable[[F], list[tuple[F, F]]], venue: Any, within: Callable[[F], bool],
    m: Margins,
) -> F | None:
    """Drift's partial size (docs/model.md §3 "Sizing"): the least Δ in (0, Q) with
    f(Δ) = E + G(Δ) - fee(Δ) - (1 + buffer)·MM(Q - Δ) >= 0, among the sizes the book (or the
    takeover) fills within the limit; None when there is none (a full close)."""
    k1 = 1 + pol["buffer"]
    rate = None if pol["fee"] == "surplus" else (
        pol["fee_cap"] if pol["fee"] == "capped" else pol["fee_rate"])
    # what can be filled, and the cumulative level quantities (kinks of G and N)
    cum: list[F] = []
    if isinstance(venue, Takeover):
        hi = Q
    else:
        got = F(0)
        for p, x in venue.levels():
            if not within(p):
                break
            got += x
            cum.append(got)
        hi = min(Q, got)
    if hi <= 0:
        return None

    def parts(d: F) -> tuple[F, F, F]:
        fills = whatif(d)
        G = sum((c.pnl(s * x, P, p) for p, x in fills), F(0))
        N = sum((c.notional(x, p) for p, x in fills), F(0))
        return G, N, d / Q * E + G

    def f(d: F) -> F:
        G, N, S = parts(d)
        fee = F(0) if S <= 0 else (S if rate is None else min(S, rate * N))
        return E + G - fee - k1 * c.mm(Q - d, P)

    u = c.unit(P)
    pts = {F(0), hi}
    pts |= {x for x in cum if 0 < x < hi}
    pts |= {Q - fl / u for fl in c.floors[1:] if 0 < Q - fl / u < hi}
    base = sorted(pts)
    # the fee rule switches where S = 0 and S = rate·N: add those zeros (linear in between)
    extra = set()
    for a, b in zip(base, base[1:]):
        ga, gb = parts(a), parts(b)
        for g0, g1 in ((ga[2], gb[2]), (ga[2] - (rate or 0) * ga[1], gb[2] - (rate or 0) * gb[1])):
            if (g0 < 0 < g1) or (g1 < 0 < g0):
                extra.add(a + (b - a) * g0 / (g0 - g1))
    grid = sorted(pts | extra)
    scale = abs(E) + c.notional(Q, P)
    fa = f(grid[0])
    for a, b in zip(grid, grid[1:]):
        fb = f(b)
        if fb >= 0:
            d = a + (b - a) * (-fa) / (fb - fa) if fa < 0 else a
            m.gap(d, Q, Q)
            return d if 0 < d < Q else None
        m.gap(fb, F(0), scale)  # a kink that nearly reached the target
        fa = fb
    return None


def _sell(
    inv: list[Inventory], book: dict[int, Side], P: F, band: F, m: Margins, fills_log: list,
    c: Contract, led: dict[str, F] | None = None,
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
            loss[it.i] = loss.get(it.i, F(0)) - c.pnl(it.s * x, it.bp, p)
            it.left -= x
            fills_log.append((it.s, p, x))
            if led is not None:
                led["fund_inventory"] += c.pnl(it.s * x, P, p)
                led["makers"] -= c.pnl(it.s * x, P, p)
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
            res.inventory_loss_total += lk
            res.ledger["fund_residual"] += u
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
    pol: dict[str, Any],
    res: RefResult,
) -> list[F]:
    """Step 5: allocate the shortfalls (by liquidated position) to counterparties; returns the
    charge per position. Capacity: min(positive PnL, equity) at P, never below 0."""
    rule = pol["residual"]
    c: Contract = pol["_c"]
    n = len(q)
    charge = [F(0)] * n
    total = sum(shortfalls.values(), F(0))
    res.residual += total
    if total <= 0 or rule == "none":
        res.uncovered += total
        res.ledger["uncovered"] -= total
        return charge
    eq = [mg[j] + c.pnl(q[j], ep[j], P) for j in range(n)]
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
            cap = {j: max(F(0), min(c.pnl(q[j], ep[j], P), eq[j])) for j in opp}
            scores = {j: rank_score(c, q[j], ep[j], mg[j], P) for j in opp}
            weights = {j: c.notional(q[j], P) / eq[j] if eq[j] > 0 else F(0) for j in opp}
            if rule == "queue":
                winners = [j for j in opp if cap[j] > 0]
                for a in winners:
                    for b in winners:
                        sa, sb = scores[a], scores[b]
                        if a < b and (q[a], ep[a], mg[a]) != (q[b], ep[b], mg[b]):
                            if sa is None or sb is None:
                                res.rank_ties |= sa is None and sb is None
                            elif abs(sa - sb) <= abs(sa) * F(1, 10**9):
                                res.rank_ties = True
            taken = allocate(rule, amount, cap, scores, weights, pol["adl_cap"])
            for j, t in taken.items():
                charge[j] += t
    got = sum(charge, F(0))
    res.adl_transfers += got
    res.uncovered += total - got
    res.ledger["counterparties"] -= got
    res.ledger["uncovered"] -= total - got
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
    policy_dict: Any = None,
) -> RefResult:
    """One batch of the loss rules. ``bids``/``asks``: (price, quantity) levels, best first.
    ``policy_dict``: a dict of ``liqcore.Policy`` fields (missing ones take DEFAULTS, whose
    ``price_band`` is 1.0) or a ``liqcore.Policy``."""
    pol = _policy(policy_dict)
    c: Contract = pol["_c"]
    q, ep, mg = _columns(sizes, entries, margins)
    P, n = fr(mark), len(q)
    m = Margins()
    res = RefResult(n)
    fnd = Fund(fr(fund), pol["reserve"])
    res.fund_before = fnd.balance
    book = _book(bids, asks)
    log: list[tuple[int, F, F]] = []

    # 1-3: detection, order, closes
    liq = _order(_detect(q, ep, mg, P, pol, [True] * n, m), q, ep, mg, P, pol, m)
    res.order = liq
    inv = [it for i in liq if (it := _close(i, q[i], ep[i], mg[i], P, pol, book, fnd, res, m, log))]

    # 4: the fund sells its inventory per side (liquidation order) within the band; the rest is
    # valued at the band edge.
    band = pol["price_band"]
    sold = {it.i: it.left for it in inv}
    inv_sorted = [it for s in (1, -1) for it in inv if it.s == s]
    realized = _sell(inv_sorted, book, P, band, m, log, c, res.ledger)
    losses: list[tuple[int, F]] = []
    for it in inv:
        res.inventory_sold[it.i] = sold[it.i] - it.left
        lk = realized.get(it.i, F(0))
        if it.left > 0:
            edge = band_edge(it.s, P, band)
            res.unabsorbed += it.left
            lk -= c.pnl(it.s * it.left, it.bp, edge)
            res.ledger["fund_inventory"] += c.pnl(it.s * it.left, P, edge)
            res.ledger["valuation"] -= c.pnl(it.s * it.left, P, edge)
        losses.append((it.i, lk))
    _settle_inventory(losses, fnd, res)

    # 5: residual to the non-liquidated positions
    shortfalls = {i: res.shortfall[i] for i in liq if res.shortfall[i] > 0}
    counter = [not res.liquidated[j] for j in range(n)]
    charge = _residual(shortfalls, q, ep, mg, P, counter, pol, res)
    res.equity_after_adl = [
        mg[j] + c.pnl(q[j], ep[j], P) - charge[j] if counter[j] else F(0) for j in range(n)
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
    if pol["residual"] not in ("none", "pro_rata", "queue", "socialize"):
        raise NotImplementedError("model_reference: cascades cover residual none/pro_rata/queue/socialize")
    for k, v in (("contract", "linear"), ("tiers", None), ("sizing", "full"),
                 ("execution", "book"), ("backstop", None)):
        if pol[k] != v:
            raise NotImplementedError(f"model_reference: cascades cover {k}={v!r} only")
    if pol["limit"] == "fillable":
        raise NotImplementedError("model_reference: cascades cover limit none/bankruptcy")
    c: Contract = pol["_c"]
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
        liq = _order(_detect(q, ep, mg, P, pol, alive, m), q, ep, mg, P, pol, m)
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
        realized = _sell(held, book, P, band, m, log, c)
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
        charge = _residual(shortfalls, q, ep, mg, P, alive, pol, res)
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
    realized = _sell(held, whatif, P, band, m, [], c)
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
        charge = _residual(unpaid, q, ep, mg, P, alive, pol, res)
        for j in range(n):
            mg[j] -= charge[j]
    res.equity_after_adl = [mg[j] + pnl(q[j], ep[j], P) if alive[j] else F(0) for j in range(n)]
    res.fund_after = fnd.balance
    res.bids_after, res.asks_after = book[1].levels(), book[-1].levels()
    res.fragile = m.smallest
    return res
