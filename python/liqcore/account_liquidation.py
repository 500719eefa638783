"""Account-wide liquidation across markets (docs/model.md §3, §6): :func:`liquidate_accounts`.

The same :class:`liqcore.Policy` that drives :func:`liqcore.liquidate` drives it (order, sizing,
execution, limit rule, backstop, fees, fund, residual rule); the policy's margin fields
(``mmr``, ``tiers``, ``contract``, ``contract_size``) are ignored: each market of
:class:`liqcore.Markets` carries its own. All money is in quote (inverse markets' coin amounts
valued at their mark).

Semantics
---------
1. **Detection** at the marks: an account is liquidated iff ``TMMR > TNC`` (:func:`liqcore.health`,
   collateral after haircuts) and it has an open position.
2. **Order of accounts** (``policy.order``): "underwater" (default): most underwater first,
   ``(TMMR − TNC)/notional`` descending, or with ``limit="fillable"`` dYdX's
   ``ABR·SMMR·TMMR/notional``; "largest": gross notional descending; "given": account id order.
   Ties: larger notional, then lower id. **Within an account**: "underwater": largest
   maintenance requirement first (then notional, then input order); "largest": notional
   descending; "given": input order.
3. **Closes.** Each position closes through its own market's book (a private copy per market;
   each close consumes the liquidity of the next; longs sell the bids, shorts buy the asks), or
   by a takeover at ``P·(1 ∓ takeover_fee)``. The limit price (``policy.limit``) and the fallback
   price use the account's state when the position's close begins (``TNC``, ``TMMR`` of what is
   still open, after the gains and fees of its earlier closes): "bankruptcy" is the slice
   bankruptcy price of the whole position (:func:`liqcore.slice_bankruptcy_price`), "fillable"
   dYdX's fillable price with the policy's ``ba``/``smmr``. What the book does not take is the
   fallback, closed at that bankruptcy price (at the mark if it does not exist, i.e. is 0 or
   +inf), taken over by the fund as inventory and sold after the batch's closes into that
   market's book within the price band, as for isolated positions (docs/model.md §3). A
   ``backstop`` account (``TNC < backstop·TMMR``) goes to the
   fallback whole.
4. **Sizing.** "full" (default) closes every position of the account. "partial" closes, in
   order, the least that restores ``TNC ≥ (1 + buffer)·TMMR`` after fees (solved exactly, level
   by level and tier by tier, as for isolated positions, with the slice's fee on its own equity);
   positions that cannot restore it alone are closed in full and the next is tried. "slices":
   positions above ``slice_threshold`` quote notional close ``slice_fraction`` of their size,
   smaller ones in full, in order, until the account is restored.
5. **Settlement** at market value (collateral at price, no haircut). An account whose positions
   are all closed settles at once: ``E_after = E + ΣG`` (``E`` market equity before, ``G_j`` the
   gain of close ``j`` vs the mark); deficit ``max(0, −E_after)``, surplus ``max(0, E_after)``, fee
   per ``policy.fee`` on the surplus and the fills' notional. The deficit is attributed to positions
   by dYdX's slice rule: ``result_j = G_j + E·MM_j/TMMR`` (each position carries its share of
   account equity; the results sum to ``E_after``), and the deficit is split over the negative
   results in proportion. An account restored by a partial liquidation keeps its collateral and
   open positions: each slice pays its fee on its own equity ``result_j = E·ΔMM_j/TMMR + G_j``
   (a negative one is borne by the account, not the fund).
6. **Fund and residual**: per account, the fund is credited its fees (and takeover gains), then
   pays each close's loss (its deficit share and takeover loss) in close order, down to
   ``policy.reserve``. What it cannot pay is the position's shortfall, which goes to the residual
   **of that position's market**: allocated per market by ``policy.residual`` among that market's
   positions of non-liquidated accounts (ADL ranks use each account's collateral split by
   notional as the position's margin).
7. **Ledger** (quote, valued at the marks) across accounts, makers, the fund and counterparties,
   with the rows of :class:`liqcore.Ledger`; they sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import F64, I64, scalar
from liqcore.book import Book
from liqcore.cross_margin import Accounts, Markets, Portfolio, _check_kinds
from liqcore.liquidation import Ledger, _policy
from liqcore.policy import Policy
from liqcore.result import (
    _BATCH_REPR,
    _CLOSE_COLUMNS,
    _FUND_COLUMNS,
    InventoryTotals,
    Result,
    Rows,
    _from_columns,
    _pick,
    _repr_of,
    _totals_of,
)

__all__ = ["AccountLiquidationResult", "AccountOutcomes", "MarketOutcomes", "liquidate_accounts"]

_PER_POSITION = (
    "account",
    "market",
    "liquidated",
    "sequence",
    *_CLOSE_COLUMNS,
    "bankruptcy_price",
    "result",
    "deficit",
    *_FUND_COLUMNS,
    "adl",
)


@dataclass(frozen=True, eq=False)
class AccountColumns(Rows):
    """The per-account columns both account engines report (:class:`AccountOutcomes` of
    :func:`liquidate_accounts`, :class:`liqcore.ContagionAccounts` of the account cascade),
    quote currency: liquidated; equity (``TNC``, risk value) and maintenance (``TMMR``) when
    the account was found liquidatable; equity_after (market equity left to the trader after
    closes, fees and the fund: 0 for a bankrupt account); deficit (the account's loss beyond its
    collateral, docs/model.md §6), fee, insurance_draw (what the fund paid for it), shortfall
    (what the fund could not pay). A base of both tables: its fields come first in their
    constructors (built with keywords); each table keeps its column order (``_COLUMNS``).
    """

    liquidated: npt.NDArray[np.bool_]
    equity: F64
    maintenance: F64
    equity_after: F64
    deficit: F64
    fee: F64
    insurance_draw: F64
    shortfall: F64


@dataclass(frozen=True, eq=False)
class AccountOutcomes(AccountColumns):
    """Per account (length ``len(accounts)``), quote currency.

    liquidated, sequence (rank in the liquidation order, -1 if not liquidated); equity (``TNC``,
    risk value) and maintenance (``TMMR``) before; equity_market (collateral at price + Σ PnL)
    before; equity_after (market equity left to the trader after closes, fees and the fund: 0 for
    a bankrupt account); deficit, surplus, fee, insurance_draw, shortfall; closed_notional (at
    the marks). The columns of :class:`AccountColumns` and sequence, equity_market, surplus,
    closed_notional.
    """

    sequence: I64
    equity_market: F64
    surplus: F64
    closed_notional: F64

    _ROWS = "liquidated"
    _COLUMNS = (
        "liquidated",
        "sequence",
        "equity",
        "maintenance",
        "equity_market",
        "equity_after",
        "deficit",
        "surplus",
        "fee",
        "insurance_draw",
        "shortfall",
        "closed_notional",
    )


@dataclass(frozen=True, eq=False)
class MarketOutcomes(Rows):
    """Per market: closed_notional, deficit (attributed to its positions), inventory_loss (the
    fund's losses on inventory taken over in it), residual (what the fund could not pay for its
    positions), adl_transfers (covered by its counterparties), uncovered (bad debt left in it)."""

    closed_notional: F64
    deficit: F64
    inventory_loss: F64
    residual: F64
    adl_transfers: F64
    uncovered: F64

    _ROWS = "closed_notional"


@dataclass(frozen=True, eq=False)
class AccountLiquidationResult(InventoryTotals, Result, Rows):
    """What :func:`liquidate_accounts` did.

    Per position (length ``len(pf)``): account and market ids; liquidated (its account was);
    sequence (rank in the close order, -1 if not closed); closed (quantity, >= 0), of which
    book_closed and fallback_closed; vwap (blended close price, NaN if none); bankruptcy_price
    (the slice bankruptcy price per unit when its close began); result (its slice's equity after
    its fills, see the module docstring); deficit (its share of its account's deficit), fee,
    insurance_draw_by_position, shortfall; inventory_loss_by_position (the fund's loss on its
    fallback, in quote); adl (money charged as an ADL/socialization counterparty).
    ``accounts``: :class:`AccountOutcomes`; ``markets``: :class:`MarketOutcomes`.
    Totals: bad_debt = total_deficit + inventory_loss = insurance_draw + adl_transfers +
    uncovered; n_accounts and n_positions liquidated, liquidated_notional, total_deficit,
    total_surplus, total_fees, inventory_loss, inventory_gain, unabsorbed,
    insurance_fund_before / insurance_fund (after), insurance_draw, residual, adl_transfers,
    uncovered. Also the updated ``books`` (one per market, after the closes and the fund's
    inventory sales; also under takeover execution when ``mk`` has books, None when it has
    none), the ``ledger`` and the ``policy``.
    """

    _ROWS = "closed"

    account: I64
    market: I64
    liquidated: npt.NDArray[np.bool_]
    sequence: I64
    closed: F64
    book_closed: F64
    fallback_closed: F64
    vwap: F64
    bankruptcy_price: F64
    result: F64
    deficit: F64
    fee: F64
    insurance_draw_by_position: F64
    shortfall: F64
    inventory_loss_by_position: F64
    adl: F64
    accounts: AccountOutcomes
    markets: MarketOutcomes
    n_accounts: int
    n_positions: int
    books: list[Book] | None
    ledger: Ledger
    policy: Policy

    _ROW_FIELDS = _PER_POSITION
    _REPORT = "account_liquidation"

    @property
    def n_liquidated(self) -> int:
        """Positions closed (the same as ``n_positions``; the name every result uses)."""
        return self.n_positions

    def summary(self) -> dict[str, float]:
        """Headline figures as a flat dict (counts as ints)."""
        return {
            "positions": len(self),
            "accounts": int(self.accounts.liquidated.shape[0]),
            "liquidated_accounts": self.n_accounts,
            "liquidated_positions": self.n_positions,
            **self._totals(),
        }

    def to_frame(self, level: str = "positions") -> Any:
        """A pandas DataFrame: one row per position (default), per account (``"accounts"``) or per
        market (``"markets"``)."""
        return self._frame_at(level, accounts=self.accounts.to_frame, markets=self.markets.to_frame)

    def __repr__(self) -> str:
        return _repr_of(
            "AccountLiquidationResult",
            ("accounts", self.n_accounts, ""),
            ("positions", self.n_positions, ""),
            *self._repr_totals(*_BATCH_REPR),
        )


def liquidate_accounts(
    pf: Portfolio,
    acc: Accounts,
    mk: Markets,
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
) -> AccountLiquidationResult:
    """Liquidate every liquidatable account across its markets and settle the losses.

    Parameters
    ----------
    pf, acc, mk : Portfolio, Accounts, Markets
        The positions, the collateral accounts and the markets (marks, margin, books). With
        ``policy.execution == "book"`` every market needs a book (``Markets(books=...)``); the
        books are not changed, the result carries the books after the closes.
    policy : Policy, optional
        ``Policy()`` by default (full liquidation through the book, no limit, capped fee, no ADL).
    insurance_fund : float
        The fund's balance before, in quote (finite, >= 0).

    Notes
    -----
    See the module docstring for the semantics.
    """
    _check_kinds(pf, acc, mk)
    policy = _policy(policy)
    fund = scalar("insurance_fund", insurance_fund, nonnegative=True)
    books = _kernel_books(mk, policy, "liquidate_accounts")

    r = _core.liquidate_accounts(
        mk._core, books, *acc._args(), *pf._args(), policy._to_core(), fund
    )
    t, a = r.totals, r.accounts
    return AccountLiquidationResult(
        **_pick(
            r, _PER_POSITION, account=pf._account, market=pf._market,
            liquidated=r.liquidated.view(np.bool_),
        ),
        accounts=_from_columns(
            AccountOutcomes, a, liquidated=a.liquidated.view(np.bool_)
        ),
        markets=_from_columns(MarketOutcomes, r.markets),
        n_accounts=int(t.accounts),
        n_positions=int(t.positions),
        **_totals_of(AccountLiquidationResult, t, fund=fund, notional="closed_notional"),
        books=_wrap_books(r, books),
        ledger=Ledger._from_kernel(r),
        policy=policy,
    )


def _kernel_books(mk: Markets, policy: Policy, caller: str) -> list[Any]:
    """The markets' books as the kernel takes them (none when ``mk`` has none): ValueError when
    ``policy`` closes through the book and ``mk`` has none. Under takeover execution the books,
    when given, still take the fund's inventory sales."""
    if policy.execution == "book" and mk._books is None:
        raise ValueError(
            f"mk has no books: {caller} with execution='book' needs Markets(books=[...]) "
            "(or Policy(execution='takeover'))"
        )
    return [b._b for b in mk._books] if mk._books is not None else []


def _wrap_books(
    r: _core.LiquidateAccountsOutput | _core.ContagionOutput, books: list[Any]
) -> list[Book] | None:
    """The books after a kernel run (``r.books``), None when it was given none."""
    return [Book._wrap(b) for b in r.books] if books else None
