"""Liquidation of one market's isolated positions against its order book (docs/model.md §1-3).

:func:`liquidate` answers, for positions, a book and a mark price: who is liquidated, at what
prices, and who pays the loss. Everything runs in one call into the C++ kernel, GIL released.

Conventions (see :class:`liqcore.Policy` for the rules and their defaults)
--------------------------------------------------------------------------
Per position ``i``: signed size ``q`` (side ``s = sign(q)``, ``Q = |q|``), entry price ``EP``,
margin ``M``; mark ``P``. All money is in the margin currency (quote for linear contracts, coin
for inverse ones) and valued at the mark price.

1. **Detection** at the mark: liquidatable iff ``E(P) < MM(P)``.
2. **Order** of the liquidatable positions per ``policy.order``; they are liquidated one after
   another, each close consuming the book for the next (longs sell into the bids, shorts buy
   the asks, on a private copy: the input book is not changed; the result has the new book).
3. **Size** per ``policy.sizing``. Partial sizing solves exactly, level by level of the book
   and tier by tier, for the smallest ``Δ`` with
   ``h(Δ) = E + G(Δ) - fee(Δ) - (1 + buffer)·MM(Q - Δ) >= 0``, where ``G`` is the fills'
   gain against closing at the mark and ``fee(Δ)`` is the policy's fee of the slice. A close
   of Δ releases ``(1 + buffer)·mmr·P`` of requirement per unit (flat rate) and costs the
   slippage and the fee per unit; with a takeover at ``P·(1 - f)`` and ``fee="rate"`` (``r``,
   when the fee is below the slice's surplus) every term is linear and this is Drift's
   ``base = shortage / (P·(mr_buffered - liq_fee) - P·if_fee)`` with the fee on the fill price:
   ``Δ = shortage / (P·((1 + buffer)·mmr - f - r·(1 - f)))``, ``shortage = (1 + buffer)·MM - E``
   (asserted in the tests). Through a book the per-unit cost changes from level to level, so the
   same equation is solved piece by piece. When no ``Δ < Q`` works within the book (and limit),
   the position is closed in full.
4. **Execution**: through the book under the limit price, or a takeover. Whatever the book does
   not take (limit or price band reached, side empty, a refused fill, or a backstop) is the
   *fallback*: it closes at the bankruptcy price ``BP`` and the insurance fund takes it over as
   inventory (docs/model.md §3).
5. **Trader outcome**: ``V`` is the blended close price over book and fallback fills (a VWAP;
   for inverse contracts the contract-weighted harmonic mean). A full close leaves
   ``E_after = M + q·(V - EP)`` (linear; ``M + PnL(V)`` in general): ``deficit = max(0,
   -E_after)``, ``surplus = max(0, E_after)``. A partial close carries its proportional share of
   margin: its surplus is ``max(0, (Δ/Q)·E + G)``; it never draws on the fund (its size keeps the
   rest solvent), and a negative slice equity is borne by the rest of the position. A slice
   (``sizing="slices"``) that the book cannot fill within the limit, or that would leave the
   position with negative equity, becomes a full close.
6. **Fee** per ``policy.fee`` on the surplus, with ``fill notional`` the notional of the book
   (or takeover) fills; fallback fills at ``BP`` carry no fee. The rest returns to the trader.
7. **Fund**: per liquidation, in order, the fund is first credited the fee, then pays the
   deficit down to ``policy.reserve``. Fees of earlier liquidations therefore pay for later
   ones in the same call.
8. **Inventory**: after all closes, the fund sells its inventory (each side's fallbacks, in
   liquidation order) into the book that is left, within ``policy.price_band``; what the book
   cannot absorb there is valued at the band edge ``P·(1 ∓ band)``. Each fallback's
   ``inventory_loss`` (against its bankruptcy price) is paid by the fund after its gains are
   credited, in liquidation order. What the fund cannot pay is the position's ``shortfall``.
9. **Residual** = the sum of shortfalls, allocated once after all liquidations per
   ``policy.residual``: ADL rules per side (losses of liquidated longs are taken from
   non-liquidated shorts and vice versa), from each counterparty at most its positive
   unrealized PnL at the mark (never principal; losers are never charged); socialization in
   total over all open non-liquidated positions of both sides, each at most its equity. What
   stays is ``uncovered``. ``bad_debt = total_deficit + inventory_loss = insurance_draw +
   adl_transfers + uncovered``.
10. **Ledger**: rows per entity and kind whose amounts (gains at the mark) sum to zero: traders'
   equity change, makers' fills vs the mark, the fund's fees, inventory, deficit payments and
   residual received, the valuation haircut of unabsorbed inventory, ADL counterparties, and
   the uncovered bad debt.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import F64, I64, scalar
from liqcore.book import Book
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.result import (
    _BATCH_REPR,
    _CLOSE_COLUMNS,
    _FUND_COLUMNS,
    InventoryTotals,
    Result,
    Rows,
    _frozen,
    _pandas,
    _per_position,
    _repr_of,
    _SpreadOutcomes,
    _totals_of,
)

__all__ = ["Ledger", "LiquidationResult", "Liquidations", "liquidate"]

_LEDGER_ROWS: tuple[tuple[str, str], ...] = (
    ("traders", "equity change"),
    ("makers", "book fills vs mark"),
    ("liquidators", "takeover fills vs mark"),
    ("insurance_fund", "fees"),
    ("insurance_fund", "inventory: taken over at bankruptcy price, sold or valued, vs mark"),
    ("insurance_fund", "deficit payments"),
    ("insurance_fund", "residual received for inventory losses"),
    ("valuation", "unabsorbed inventory at the band edge vs mark"),
    ("counterparties", "residual transfers"),
    ("bad_debt", "uncovered"),
)

_PER_POSITION = (
    "liquidated",
    "sequence",
    *_CLOSE_COLUMNS,
    "deficit",
    "surplus",
    *_FUND_COLUMNS,
    "adl",
)


@dataclass(frozen=True, eq=False)
class Ledger:
    """Every money flow of a liquidation call, valued at the mark price, in the margin currency.

    One row per (entity, kind); ``amount`` is that entity's gain (negative: it paid). The rows
    sum to zero: ``balance`` is their compensated sum, zero up to rounding.

    Rows: traders (equity after the close, returned to them, minus equity before, at the mark);
    makers (what book makers gained buying/selling vs the mark, from the closes and from the
    fund's inventory sales); liquidators (the takeover discount); the insurance fund's fees,
    its inventory (taken over at the bankruptcy price, then sold or valued at the band edge,
    vs the mark), its deficit payments, and the residual it received for inventory losses it
    could not pay; the valuation haircut of unabsorbed inventory (docs/model.md); the
    counterparties' residual transfers (ADL, socialization); and the bad debt left uncovered.
    """

    entity: tuple[str, ...]
    kind: tuple[str, ...]
    amount: F64
    balance: float

    def __len__(self) -> int:
        return len(self.entity)

    def to_dict(self) -> dict[str, float]:
        """``{"entity/kind": amount}``."""
        return {f"{e}/{k}": float(a) for e, k, a in zip(self.entity, self.kind, self.amount)}

    def to_frame(self) -> Any:
        """A pandas DataFrame with columns entity, kind, amount."""
        pd = _pandas()
        return pd.DataFrame(
            {"entity": list(self.entity), "kind": list(self.kind), "amount": self.amount}
        )

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{e}/{k}={a:.6g}" for e, k, a in zip(self.entity, self.kind, self.amount) if a != 0.0
        )
        return f"Ledger({rows}; balance={self.balance:.3g})"

    @classmethod
    def _from_kernel(cls, r: _core.CloseOutput) -> Ledger:
        """The ledger of a kernel's result (:class:`liqcore._core.CloseOutput`: its ``ledger``
        amounts, in the order of :data:`_LEDGER_ROWS`, and its ``ledger_balance``)."""
        return cls(
            entity=tuple(e for e, _ in _LEDGER_ROWS),
            kind=tuple(k for _, k in _LEDGER_ROWS),
            amount=r.ledger,
            balance=float(r.ledger_balance),
        )


@dataclass(frozen=True, eq=False)
class Liquidations(Rows):
    """The liquidations of one call in the order they happened (entry ``k`` is the ``k``-th
    liquidation, of position ``position[k]``): compact arrays of length ``n_liquidated``.
    Fields as the per-position arrays of :class:`LiquidationResult`."""

    _ROWS = "position"

    position: I64
    closed: F64
    book_closed: F64
    fallback_closed: F64
    vwap: F64
    deficit: F64
    surplus: F64
    fee: F64
    insurance_draw: F64
    shortfall: F64
    inventory_loss: F64

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per liquidation, in liquidation order."""
        pd = _pandas()
        return pd.DataFrame({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


# the kernel's compact per-liquidation columns (besides "order", the position)
_COMPACT = tuple(f.name for f in dataclasses.fields(Liquidations))[1:]


@dataclass(frozen=True, eq=False)
class LiquidationResult(_SpreadOutcomes, InventoryTotals, Result, Rows):
    """What :func:`liquidate` did.

    Per position (arrays with one entry per input position, built on first access from the
    compact :attr:`liquidations`)
        liquidated (bool): liquidatable at the mark and processed. sequence (int64): rank in the
        liquidation order, -1 if not liquidated. closed (>= 0): quantity closed; of which
        book_closed (through the book or the takeover liquidator) and fallback_closed (at the
        bankruptcy price). vwap: blended close price (NaN when nothing closed). deficit,
        surplus, fee: the trader outcome (see the module docstring). inventory_loss: the fund's
        loss on what it took over from this position at the bankruptcy price (its fallback),
        sold into the book after the closes or valued at the band edge (negative: a gain).
        insurance_draw_by_position: what the fund paid for this liquidation (deficit and
        inventory loss). shortfall: the loss the fund could not pay. adl: money charged to this
        position as a counterparty (ADL from its positive PnL, or its socialized charge).
    Totals
        bad_debt = total_deficit + inventory_loss = insurance_draw + adl_transfers + uncovered:
        the loss the liquidations leave behind, and who bears it. insurance_fund (after),
        insurance_fund_before, insurance_draw (paid by the fund), residual (what the fund could
        not pay), adl_transfers (of which covered by counterparties), uncovered (left as bad
        debt), total_deficit, total_surplus, total_fees, inventory_loss (the fund's losses on
        its inventory), inventory_gain (its gains, credited to it), unabsorbed (inventory
        quantity the book could not absorb within the price band, valued at the band edge),
        liquidated_notional (notional at the mark of what was closed), n_liquidated.
    Also: :attr:`liquidations` (compact, in liquidation order), the updated ``book``, the
    ``ledger``, the ``mark`` and ``policy`` used, and the positions' ``account`` ids.
    """

    _ROWS = "liquidated"

    liquidated: npt.NDArray[np.bool_]
    liquidations: Liquidations
    n_liquidated: int
    book: Book
    ledger: Ledger
    mark: float
    policy: Policy
    account: I64 | None = None
    _adl: F64 | None = None

    _REPORT = "liquidation"

    def _liquidated_positions(self) -> I64:
        return self.liquidations.position

    def _compact_column(self, name: str) -> F64:
        out: F64 = getattr(self.liquidations, name)
        return out

    @functools.cached_property
    def sequence(self) -> I64:
        out: I64 = self._at_liquidated(np.arange(self.n_liquidated), -1, np.int64)
        return out

    # the other per-position outcomes: _SpreadOutcomes
    book_closed = _per_position("book_closed")
    fallback_closed = _per_position("fallback_closed")

    @functools.cached_property
    def adl(self) -> F64:
        if self._adl is not None and self._adl.shape[0]:
            return self._adl
        return _frozen(np.zeros(len(self)))

    def summary(self) -> dict[str, float]:
        """Headline figures as a flat dict (counts as ints)."""
        return {
            "positions": len(self),
            "liquidated": self.n_liquidated,
            **self._totals(),
        }

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per position, one column per per-position field
        (plus ``account`` when the positions carry account ids)."""
        data: dict[str, Any] = {}
        if self.account is not None:
            data["account"] = self.account
        for name in _PER_POSITION:
            data[name] = getattr(self, name)
        return _pandas().DataFrame(data)

    def to_arrow(self) -> Any:
        """The per-position fields as a ``pyarrow.Table`` (the columns of :meth:`to_frame`),
        with :meth:`summary` as JSON in the schema metadata (key ``b"liqcore.summary"``).
        Needs pyarrow (``liqcore[parquet]``)."""
        from liqcore.arrow import liquidation_result_to_arrow

        return liquidation_result_to_arrow(self)

    def __repr__(self) -> str:
        return _repr_of(
            "LiquidationResult",
            ("positions", len(self), ""),
            ("liquidated", self.n_liquidated, ""),
            *self._repr_totals(*_BATCH_REPR),
        )


@functools.lru_cache(maxsize=1)
def _default_policy() -> Policy:
    return Policy()


def _check_types(positions: Any, book: Any, policy: Any) -> Policy:
    """TypeError unless ``positions`` is a Positions, ``book`` a Book and ``policy`` a Policy or
    None (the default Policy, returned)."""
    _check_market(positions, book)
    return _policy(policy)


def _check_market(positions: Any, book: Any) -> None:
    """TypeError unless ``positions`` is a Positions and ``book`` a Book."""
    if not isinstance(positions, Positions):
        raise TypeError(f"positions must be a liqcore.Positions (got {type(positions).__name__})")
    if not isinstance(book, Book):
        raise TypeError(f"book must be a liqcore.Book (got {type(book).__name__})")


def _policy(policy: Any) -> Policy:
    """``policy`` checked (None: ``Policy()``, one shared instance: a Policy is frozen, and its
    kernel form is built once)."""
    if policy is None:
        return _default_policy()
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a liqcore.Policy (got {type(policy).__name__})")
    return policy


def _kernel_positions(positions: Positions) -> tuple[F64, F64, F64]:
    """The positions' columns in the order the kernels take them: size, entry price, margin."""
    return positions._size, positions._entry_price, positions._margin


def _check_bankruptcy_prices(positions: Positions, policy: Policy) -> None:
    """Reject inverse positions whose bankruptcy price underflows to 0.

    Inverse ``BP = |N|·C·EP / (s·M·EP + |N|·C)``: when ``|N|·C·EP`` or the quotient is below
    the float range (a denormal size) it rounds to 0 (0/0 = NaN for a 1x short), where the PnL
    of a takeover at BP, ``C·N·(1/EP − 1/BP)``, is infinite. Such a position cannot be valued:
    ValueError naming ``size[i]`` (the pure-Python reference applies the same rule).
    """
    if policy.contract != "inverse" or len(positions) == 0:
        return
    # BP in double precision exactly as the liquidation kernel computes it (detail::lp_inverse;
    # the public margin functions recompute such elements in extended precision)
    q, ep, m = _kernel_positions(positions)
    with np.errstate(all="ignore"):
        ac = np.abs(q) * float(policy.contract_size)
        num = np.copysign(1.0, q) * m * ep + ac
        bp = ac * 1.0 * ep / np.where(num > 0.0, num, 0.0)
        bad = (q != 0.0) & ~(bp > 0.0)  # 0, or 0/0 = NaN at 1x short
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"size[{i}]: the inverse position's bankruptcy price underflows to 0 "
            f"(size={float(positions._size[i])!r}, "
            f"entry_price={float(positions._entry_price[i])!r}, "
            f"margin={float(positions._margin[i])!r}): |size|·contract_size·entry_price is "
            "below the float range"
        )


_scalar = scalar  # the scalar check under the name liqcore.stress imports


_MONEY_TOTALS = ("insurance_fund", "insurance_draw", "residual", "adl_transfers", "uncovered",
                 "deficit", "surplus", "fees", "inventory_loss", "bad_debt", "closed_notional")


def _check_money_finite(r: _core.LiquidateOutput, positions: Positions, mark: float) -> None:
    """Rule (finding #16): every money amount of a run must be finite. Finite inputs whose
    products overflow (sizes times prices near 1.8e308) make inf - inf = NaN in the ledger; that
    is a ValueError naming the position with the largest notional, never a silent NaN."""
    t = r.totals
    amounts = [float(r.ledger_balance)] + [float(getattr(t, k)) for k in _MONEY_TOTALS]
    if all(math.isfinite(v) for v in amounts) and np.isfinite(r.ledger).all() \
            and np.isfinite(r.deficit).all():
        return
    with np.errstate(over="ignore"):
        notional = np.abs(positions._size) * np.maximum(positions._entry_price, mark)
    i = int(np.argmax(notional))
    raise ValueError(
        f"liquidate: money amounts overflow the float range (size[{i}]="
        f"{float(positions._size[i])!r} at entry_price {float(positions._entry_price[i])!r}, "
        f"mark {mark!r}): sizes times prices must stay well below 1.8e308"
    )


def liquidate(
    positions: Positions,
    book: Book,
    mark: float,
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
) -> LiquidationResult:
    """Liquidate the positions that are liquidatable at ``mark`` and settle the losses.

    Parameters
    ----------
    positions : Positions
        Isolated positions of one market.
    book : Book
        The market's order book; not changed (the result carries the book after the closes).
    mark : float
        Mark price (finite, > 0) that decides liquidation and values every money flow.
    policy : Policy, optional
        The liquidation rules; ``Policy()`` by default.
    insurance_fund : float
        The fund's balance before (finite, >= 0), in the margin currency.

    Returns
    -------
    LiquidationResult
        Per-position outcomes, totals, the updated book and a balancing ledger; see the module
        docstring for the semantics.
    """
    policy = _check_types(positions, book, policy)
    p = scalar("mark", mark)
    fund = scalar("insurance_fund", insurance_fund, nonnegative=True)
    _check_bankruptcy_prices(positions, policy)

    r = _core.liquidate(*_kernel_positions(positions), book._b, p, policy._to_core(), fund)
    for k in ("liquidated", "order", "adl", "ledger", *_COMPACT):
        _frozen(getattr(r, k))
    t = r.totals
    _check_money_finite(r, positions, p)
    return LiquidationResult(
        liquidated=r.liquidated.view(np.bool_),
        liquidations=Liquidations(position=r.order, **{k: getattr(r, k) for k in _COMPACT}),
        **_totals_of(LiquidationResult, t, fund=fund, notional="closed_notional"),
        n_liquidated=int(t.liquidated),
        book=Book._wrap(r.book),
        ledger=Ledger._from_kernel(r),
        mark=p,
        policy=policy,
        account=positions._account,
        _adl=r.adl,
    )
