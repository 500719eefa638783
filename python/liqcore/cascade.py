"""Liquidation cascades (docs/model.md §4): liquidations move the price, the new price liquidates more.

:func:`simulate_cascade` plays one cascade in one call into the C++ kernel (GIL released).

Semantics
---------
Round 0, the exogenous shock: the mark moves from ``P`` to ``P·(1 + shock)`` and the whole book
moves with it: every bid and ask price is multiplied by ``1 + shock`` (a multiplicative shift;
quantities unchanged), so the book keeps its shape relative to the mark.

Round ``k = 1, 2, …`` at the current mark ``P_k``:

1. *Detection*: the positions not yet liquidated whose liquidation price the mark has crossed
   (long: ``P_k < LP``, short: ``P_k > LP``; ``LP`` as :func:`liqcore.liquidation_price`, exact
   per maintenance tier; the same as ``E(P) < MM(P)`` up to rounding at ``P = LP``).
2. *Liquidation* of those positions, in the policy's order, exactly as :func:`liqcore.liquidate`
   does it at mark ``P_k`` (sizing, book walk or takeover, limit price, fallback at the
   bankruptcy price, fee, insurance fund, ledger), each close consuming the book for the next;
   then the fund sells its inventory (fallbacks taken over at bankruptcy prices, earlier lots
   first) into the book left by the round's closes, within ``policy.price_band``; what the book
   cannot absorb is carried to the next round (docs/model.md §3, §4), and the round's residual
   is allocated per ``policy.residual``. The fund, its inventory, the book and the ledger carry
   over from round to round; what the fund still holds when the cascade stops is valued at the
   final book's exit price, and the part no level within the band takes at the band edge.
3. *The mark follows the trades* (``mark_rule``), whatever their order: ``"last"`` sets it to
   the quantity-weighted mean of each book side's deepest fill of the round (closes and the
   fund's sales; with one side only, that side's last fill); ``"mid"`` to the mid of the book
   left after the round (best remaining bid and ask; one side's best price if the other is
   empty); an index-anchored :class:`liqcore.MarkRule` (``"index"``, ``"binance"``,
   ``"hyperliquid"``) to its formula of the index ``P·(1 + shock)`` (constant during the
   cascade) and the ``"last"`` price (it also gives the mark of round 0). A round without book
   fills leaves the mark unchanged, so a takeover policy with no inventory to sell never
   cascades.
4. *Resilience*: every level's quantity ``q`` becomes ``q + resilience·(q0 − q)``, ``q0`` its
   quantity before the cascade: a fraction ``resilience`` of the depth still missing returns at
   its old price (0: none, 1: the whole book). Restored depth sits at the shifted prices of
   round 0.

The cascade stops after the first round that finds nothing to liquidate (``converged``) or
after ``max_rounds`` rounds. A position closed in part (partial sizing, slices) keeps its
remaining size with the equity it has left and a new liquidation price, and can be liquidated
again in a later round; counterparties charged by ADL or socialization keep their size with
the equity left after the charge, in the same way.

Closed form (docs/model.md §4): with liquidation quantity spread evenly over liquidation prices with
density ``ρ`` (base units per unit of price) and a bid side of constant density ``L`` (``λ = 1/L``
price per base unit), ``mark_rule="last"`` moves the price by ``shock·P / (1 − λρ)`` in total; the
cascade runs away (to the end of the book or of the positions) once ``λρ >= 1``. With
``mark_rule="mid"`` the mark moves by half the impact (the ask side does not move), so the
multiplier is ``1 / (1 − λρ/2)``. With ``MarkRule.index(w)`` only the fraction ``w`` of the
impact moves the mark: ``shock·P / (1 − w·λρ)``, a runaway only when ``w·λρ >= 1``.

Cost: one pass over the positions computes their liquidation prices and keeps those near the
shocked mark, in buckets of nearby prices; a round costs what it liquidates and the book levels
it walks (plus, with resilience, the levels consumed so far), not the whole population. When
the mark runs past the positions kept, another pass keeps a 4-fold wider window. The kernel
returns its results per liquidated position; the per-position arrays are built on first access.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Optional, overload

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import F64, I64
from liqcore._arrays import count as _count
from liqcore._arrays import real as _real
from liqcore._arrays import scalar as _scalar
from liqcore.book import Book
from liqcore.contagion import ContagionResult, simulate_cascade_accounts
from liqcore.cross_margin import Accounts, Markets, Portfolio, _accounts_form
from liqcore.liquidation import (
    Ledger,
    _check_bankruptcy_prices,
    _check_types,
    _kernel_positions,
)
from liqcore.mark_rule import MarkRule
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.result import (
    _CASCADE_REPR,
    _FUND_COLUMNS,
    _ROUND_MONEY,
    InventoryTotals,
    Result,
    RoundTotals,
    _columns,
    _frozen,
    _repr_of,
    _SpreadOutcomes,
    _totals_of,
)

__all__ = ["CascadeResult", "CascadeTrace", "simulate_cascade"]


_TRACE_FIELDS = (
    "round",
    "mark_before",
    "mark",
    "liquidated",
    "notional",
    "deficit",
    "inventory_loss",
    "unabsorbed",
    "bad_debt",
    *_ROUND_MONEY,
)
_PER_POSITION = (
    "liquidated",
    "round",
    "closed",
    "vwap",
    "deficit",
    "surplus",
    *_FUND_COLUMNS,
    "adl",
)


@dataclass(frozen=True, eq=False)
class CascadeTrace(RoundTotals):
    """One entry per round that liquidated something or in which the fund sold inventory (round
    1 first).

    The columns of :class:`liqcore.result.RoundTotals`: round (int64, 1-based), notional
    (closed, at ``mark_before``), deficit (traders' deficits), fees, insurance_draw, residual,
    adl_transfers, insurance_fund (after the round), waited and waited_notional (at
    ``mark_before``); and mark_before: the mark the round detected at; mark: the mark after it;
    liquidated (int64): liquidations in the round (a position closed in slices counts once per
    slice); inventory_loss: the fund's losses on the inventory it sold in the round (into the
    book after the round's closes); unabsorbed: inventory quantity the fund still holds after
    the round (carried to the next round, not valued; what is left at the end is valued then,
    see ``held_at_end``); bad_debt: deficit + inventory_loss. Money in the margin currency; the
    tables (:meth:`to_frame`, :meth:`to_dict`) keep the column order ``round, mark_before,
    mark, liquidated, notional, deficit, inventory_loss, unabsorbed, bad_debt, fees, ...``.
    """

    mark_before: F64
    mark: F64
    liquidated: I64
    inventory_loss: F64
    unabsorbed: F64
    bad_debt: F64

    def to_dict(self) -> dict[str, list[float]]:
        """Columns as lists (JSON-compatible)."""
        return {f: getattr(self, f).tolist() for f in _TRACE_FIELDS}

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per round."""
        return _columns(self, _TRACE_FIELDS)


@dataclass(frozen=True, eq=False)
class CascadeResult(_SpreadOutcomes, InventoryTotals, Result):
    """What :func:`simulate_cascade` did (see the module docstring for the semantics).

    Path
        initial_mark (the input mark), shocked_mark (``mark·(1 + shock)``; under an
        index-anchored mark rule the rule's value at that index), marks (float64 of
        length ``rounds + 1``: ``marks[0]`` the shocked mark, ``marks[k]`` the mark after round
        ``k``), final_mark (``marks[-1]``), rounds (rounds that liquidated something or in
        which the fund sold inventory), converged (False when ``max_rounds`` stopped a cascade that had more to liquidate),
        trace (:class:`CascadeTrace`, per round).
    Per position (one entry per input position, read-only; built on first access from the
    compact per-liquidated-position results of the kernel)
        liquidated (bool): liquidated at least once; round (int64): first round it was
        liquidated in, -1 if never; closed (>= 0): quantity closed over all rounds; vwap:
        blended close price (NaN when nothing closed); deficit, surplus, fee,
        insurance_draw_by_position, shortfall, inventory_loss_by_position: summed over its
        liquidations; adl: money charged to it as an ADL / socialization counterparty.
    Totals
        bad_debt = total_deficit + inventory_loss = insurance_draw + adl_transfers + uncovered;
        n_liquidated (liquidation events), liquidated_notional, total_deficit, total_surplus,
        total_fees, inventory_loss, inventory_gain, unabsorbed, insurance_draw, residual,
        adl_transfers, uncovered, insurance_fund (after), insurance_fund_before.
        n_waited, waited_notional: sums over the rounds of the trace's ``waited`` and
        ``waited_notional`` (a position waiting two rounds counts twice; 0 without rate limits).
    End of the cascade
        held_at_end: inventory quantity the fund still held when the cascade stopped, valued at
        the final book's exit price (band edge beyond it); ``unabsorbed`` is the part of it valued
        at the band edge (no bid or ask left within the band); end_inventory_loss: that valuation's
        loss (included in inventory_loss and bad_debt; not in the per-round trace).
    Also the book after the cascade (shifted, consumed, recovered), the ``ledger`` over all
    rounds (sums to zero), ``shock`` and the ``policy`` used.
    """

    initial_mark: float
    shocked_mark: float
    marks: F64
    final_mark: float
    rounds: int
    converged: bool
    trace: CascadeTrace
    n_liquidated: int
    held_at_end: float
    end_inventory_loss: float
    n_waited: int
    waited_notional: float
    book: Book
    ledger: Ledger
    shock: float
    policy: Policy
    _n: int = field(repr=False)
    # the kernel's results per liquidated position (see _core.simulate_cascade)
    _compact: _core.CascadeOutput = field(repr=False)

    _ROW_FIELDS = _PER_POSITION
    _REPORT = "cascade"

    def __len__(self) -> int:
        return self._n

    def _liquidated_positions(self) -> I64:
        out: I64 = self._compact.position
        return out

    def _compact_column(self, name: str) -> F64:
        out: F64 = getattr(self._compact, name)
        return out

    @functools.cached_property
    def liquidated(self) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = self._at_liquidated(True, False, np.bool_)
        return out

    @functools.cached_property
    def round(self) -> I64:
        out: I64 = self._at_liquidated(self._compact.round, -1, np.int64)
        return out

    # the other per-position outcomes: _SpreadOutcomes

    @functools.cached_property
    def adl(self) -> F64:
        a: F64 = self._compact.adl
        return _frozen(a) if a.shape[0] else _frozen(np.zeros(self._n))

    @property
    def move(self) -> float:
        """Total relative move of the mark, ``final_mark / initial_mark − 1`` (shock included)."""
        return self.final_mark / self.initial_mark - 1.0

    @property
    def amplification(self) -> float:
        """``move / shock``: 1 when nothing was liquidated (NaN for a zero shock)."""
        return self.move / self.shock if self.shock != 0.0 else math.nan

    def summary(self) -> dict[str, Any]:
        """Headline figures as a flat dict."""
        return {
            "positions": len(self),
            "initial_mark": self.initial_mark,
            "shocked_mark": self.shocked_mark,
            "final_mark": self.final_mark,
            "move": self.move,
            "amplification": self.amplification,
            "rounds": self.rounds,
            "converged": self.converged,
            "liquidations": self.n_liquidated,
            "positions_liquidated": int(self._compact.position.shape[0]),
            **self._totals(),
            "n_waited": self.n_waited,
            "waited_notional": self.waited_notional,
        }

    def __repr__(self) -> str:
        return _repr_of(
            "CascadeResult",
            ("positions", len(self), ""),
            ("shock", self.shock, "g"),
            ("rounds", self.rounds, ""),
            ("final_mark", self.final_mark, ".8g"),
            ("move", self.move, ".4g"),
            ("liquidations", self.n_liquidated, ""),
            *self._repr_totals(*_CASCADE_REPR),
        )


def _check_inputs(positions: Any, book: Any, policy: Any) -> Policy:
    checked = _check_types(positions, book, policy)
    _check_bankruptcy_prices(positions, checked)
    return checked


def _fraction(name: str, x: Any) -> float:
    v = _real(name, x)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] (got {v!r})")
    return v


def _check_shock(book: Book, mark: float, shock: float) -> None:
    """The shocked mark and book prices (x (1 + shock)) must stay finite and > 0."""
    f = 1.0 + shock
    prices = [mark]
    for px, _ in (book.bids, book.asks):
        if px.size:
            prices += [float(px.min()), float(px.max())]
    for x in prices:
        y = x * f
        if not (math.isfinite(y) and y > 0.0):
            what = "the mark" if x == mark else "a book price"
            raise ValueError(
                f"shock={shock!r} moves {what} {x!r} to {y!r}: shocked prices must be finite "
                "and > 0"
            )


def _mark_rule(x: Any) -> MarkRule:
    return MarkRule.of(x)


@overload
def simulate_cascade(
    positions: Positions,
    book: Book,
    mark: float,
    /,
    shock: float,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    resilience: float = 0.0,
    *,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
) -> CascadeResult: ...


@overload
def simulate_cascade(
    portfolio: Portfolio,
    accounts: Accounts,
    markets: Markets,
    /,
    shock: Any,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    resilience: float = 0.0,
    *,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
) -> ContagionResult: ...


def simulate_cascade(
    positions: Positions | Portfolio,
    book: Book | Accounts,
    mark: float | Markets,
    /,
    shock: Any,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    resilience: float = 0.0,
    *,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
) -> CascadeResult | ContagionResult:
    """Play a liquidation cascade after an exogenous relative price move.

    One form per engine; the first three arguments are positional-only:

    - ``simulate_cascade(positions, book, mark, shock, ...)``: isolated positions of one market,
      returning a :class:`CascadeResult` (the parameters below);
    - ``simulate_cascade(portfolio, accounts, markets, shock, ...)``: cross-margin accounts over
      several markets (``shock`` a scalar or one per market), which is
      :func:`liqcore.simulate_cascade_accounts`, the multi-market cascade with contagion
      attribution, returning a :class:`liqcore.ContagionResult`.

    Parameters
    ----------
    positions : Positions
        Isolated positions of one market.
    book : Book
        The market's order book at ``mark``; not changed (the result has the book after).
    mark : float
        Mark price before the shock (finite, > 0).
    portfolio, accounts, markets : Portfolio, Accounts, Markets
        The accounts form instead of ``positions``, ``book`` and ``mark``: as
        :func:`liqcore.simulate_cascade_accounts`.
    shock : float
        Exogenous relative move (finite, > -1): -0.05 moves the mark and every book price by
        -5% (in the accounts form, a scalar or one per market).
    policy : Policy, optional
        The liquidation rules; ``Policy()`` by default.
    insurance_fund : float
        The fund's balance before (finite, >= 0), margin currency; carried across rounds.
    resilience : float
        Fraction in [0, 1] of the depth still missing that returns after each round.
    mark_rule : {"last", "mid", "index", "binance", "hyperliquid"} or MarkRule
        How the mark follows the index and the round's trades (:class:`liqcore.MarkRule`):
        the round's book price, the mid of the book left, or an index-anchored rule (the index
        is the shocked mark ``mark·(1 + shock)``, constant during the cascade).
    max_rounds : int
        Upper bound on the number of rounds (>= 0).

    Returns
    -------
    CascadeResult
        Round trace, marks, per-position outcomes, totals, the book after and the ledger (in
        the accounts form, a :class:`liqcore.ContagionResult`).
    """
    accounts_form = _accounts_form("simulate_cascade", positions, book, mark)
    if accounts_form is not None:
        return simulate_cascade_accounts(
            *accounts_form,
            shock,
            policy,
            insurance_fund,
            resilience,
            mark_rule=mark_rule,
            max_rounds=max_rounds,
        )
    policy = _check_inputs(positions, book, policy)
    assert isinstance(positions, Positions) and isinstance(book, Book)  # _check_inputs did
    p = _scalar("mark", mark)
    s = _real("shock", shock)
    if not (math.isfinite(s) and s > -1.0):
        raise ValueError(f"shock must be finite and > -1 (got {s!r})")
    _check_shock(book, p, s)
    fund = _scalar("insurance_fund", insurance_fund, nonnegative=True)
    res = _fraction("resilience", resilience)
    rule = _mark_rule(mark_rule)
    rounds_cap = _count("max_rounds", max_rounds)

    r = _core.simulate_cascade(
        *_kernel_positions(positions),
        book._b,
        p,
        s,
        policy._to_core(),
        fund,
        res,
        rule.code,
        rounds_cap,
        mark_params=rule.params,
    )
    t, tr = r.totals, r.trace
    n_rounds = int(t.rounds)
    trace = CascadeTrace(
        round=np.arange(1, n_rounds + 1, dtype=np.int64),
        **{f: getattr(tr, f) for f in _TRACE_FIELDS if f != "round"},
    )
    shocked = float(t.shocked_mark)
    return CascadeResult(
        initial_mark=p,
        shocked_mark=shocked,
        marks=np.concatenate(([shocked], tr.mark)),
        final_mark=float(t.final_mark),
        rounds=n_rounds,
        converged=bool(t.converged),
        trace=trace,
        n_liquidated=int(t.liquidations),
        held_at_end=float(t.end_held),
        end_inventory_loss=float(t.end_inventory_loss),
        **_totals_of(
            CascadeResult, t, fund=fund, notional="notional",
            uncovered=max(0.0, float(t.residual) - float(t.adl_transfers)),
        ),
        book=Book._wrap(r.book),
        ledger=Ledger._from_kernel(r),
        shock=s,
        policy=policy,
        _n=len(positions),
        _compact=r,
    )
