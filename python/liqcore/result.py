"""The protocol every result object follows.

Every result class (:class:`liqcore.LiquidationResult`, :class:`liqcore.CascadeResult`,
:class:`liqcore.StressResult`, :class:`liqcore.AccountLiquidationResult`,
:class:`liqcore.ContagionResult`, :class:`liqcore.AccountStressResult`,
:class:`liqcore.DeficitCurve`, :class:`liqcore.ReplayResult`) derives from :class:`Result`:

- ``summary()``: the headline figures as a flat dict; it always has a ``"bad_debt"`` entry
  (on the stress results, whose ``bad_debt`` is the per-scenario array, it is the mean over the
  scenarios, ``expected_deficit``; on a deficit curve, the largest over the shocks).
- ``to_frame()``: a pandas DataFrame, one row per position (per scenario, per shock, per row of a
  replay); some results take a ``level`` to choose another table.
- ``bad_debt``: every result has it, the loss the liquidations leave behind. Where the result
  says who bears it, ``bad_debt == insurance_draw + adl_transfers + uncovered`` (the terms that
  exist: a contagion result has no ADL, so ``insurance_draw + uncovered``).
- ``str(result)`` is the plain-text report of :mod:`liqcore.report`; in Jupyter,
  ``_repr_html_`` shows the summary beside a small figure.
- Arrays on a result are read-only (results are values).

The same thing has the same name on every result:

- ``n_liquidated``: the number of liquidations (positions closed; on a cascade, liquidation
  events over all rounds);
- ``liquidated_notional``: the notional at the mark of what was closed;
- ``final_mark`` and ``book`` on single-market results, ``final_marks`` and ``books`` (one per
  market) on multi-market ones;
- ``insurance_fund_before`` and ``insurance_fund`` (after), ``insurance_draw``, ``residual``,
  ``uncovered``, ``ledger``, ``policy``;
- ``n_waited`` and ``waited_notional`` on cascades (``waited``, ``waited_notional`` per round
  and per scenario): what the policy's rate limits left for a later round.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

import numpy as np

from liqcore._arrays import F64, I64, check_option, pandas

__all__ = ["InventoryTotals", "LossTotals", "Result", "Rows", "RoundTotals"]

_A = TypeVar("_A", bound="np.ndarray[Any, Any]")
_T = TypeVar("_T")


def _frozen(a: _A) -> _A:
    """``a``, made read-only (results are values)."""
    a.flags.writeable = False
    return a


def _pandas() -> Any:
    return pandas("to_frame()")


def _per_position(name: str, fill: float = 0.0) -> functools.cached_property[F64]:
    """A per-position array built on first access by the result's ``_spread(name, fill)`` (its
    compact per-liquidation ``name`` spread over every position, ``fill`` elsewhere; see
    :class:`_SpreadOutcomes`)."""

    def get(self: Any) -> F64:
        out: F64 = self._spread(name, fill)
        return out

    return functools.cached_property(get)


class _SpreadOutcomes:
    """The per-position outcome arrays of a result kept per liquidation (:class:`liqcore.
    LiquidationResult`, :class:`liqcore.CascadeResult`): each built on first access from the
    compact column of the same name (``insurance_draw``, ``inventory_loss`` for the
    ``*_by_position`` ones) by :meth:`_spread`. A subclass says where the compact columns are:
    :meth:`_liquidated_positions` and :meth:`_compact_column`."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __len__(self) -> int: ...

    def _liquidated_positions(self) -> Any:
        """The position of each entry of the compact columns (int64)."""
        raise NotImplementedError

    def _compact_column(self, name: str) -> Any:
        """The compact column ``name``, one entry per liquidation."""
        raise NotImplementedError

    def _at_liquidated(self, values: Any, fill: Any, dtype: Any = np.float64) -> Any:
        """A read-only array over every position: ``values`` (one per entry of the compact
        columns, or a scalar) at the liquidated positions, ``fill`` elsewhere."""
        out = np.full(len(self), fill, dtype=dtype)
        out[self._liquidated_positions()] = values
        return _frozen(out)

    def _spread(self, name: str, fill: float = 0.0) -> F64:
        """The compact column ``name`` spread over every position, ``fill`` elsewhere."""
        out: F64 = self._at_liquidated(self._compact_column(name), fill)
        return out

    closed = _per_position("closed")
    vwap = _per_position("vwap", math.nan)
    deficit = _per_position("deficit")
    surplus = _per_position("surplus")
    fee = _per_position("fee")
    insurance_draw_by_position = _per_position("insurance_draw")
    shortfall = _per_position("shortfall")
    inventory_loss_by_position = _per_position("inventory_loss")


def _columns(obj: Any, names: Any) -> Any:
    """A DataFrame with one column per name, ``getattr(obj, name)``."""
    return _pandas().DataFrame({k: getattr(obj, k) for k in names})


def _from_columns(cls: Callable[..., _T], src: Any, **override: Any) -> _T:
    """The dataclass ``cls`` built from the same-named attributes of ``src`` (a kernel's table
    of columns), ``override`` in place of some."""
    return cls(**_pick(src, getattr(cls, "__dataclass_fields__"), **override))


def _pick(src: Any, names: Iterable[str], **override: Any) -> dict[str, Any]:
    """``{name: src.name}`` for each of ``names``, ``override`` in place of some; a
    ``*_by_position`` name reads the kernel's column without the suffix (on a result, the plain
    name is the total's)."""
    return {
        k: override[k] if k in override else getattr(src, k.removesuffix("_by_position"))
        for k in names
    }


#: Per-position columns every liquidation result has, in its column order: the fee to the fund,
#: what the fund paid for the close's loss, what it could not pay, its loss on the inventory.
_FUND_COLUMNS = ("fee", "insurance_draw_by_position", "shortfall", "inventory_loss_by_position")
#: Per-position columns of the batch results and the account cascade: the quantity closed, of
#: which through the book (or takeover) and at the bankruptcy price, and its blended price.
_CLOSE_COLUMNS = ("closed", "book_closed", "fallback_closed", "vwap")

#: Result field, the kernel's totals attribute it is read from and its type, for the totals the batch
#: and cascade results share (each result takes those it has a field for; docs/model.md §3).
_KERNEL_TOTALS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("total_deficit", "deficit", float),
    ("total_surplus", "surplus", float),
    ("total_fees", "fees", float),
    ("inventory_loss", "inventory_loss", float),
    ("inventory_gain", "inventory_gain", float),
    ("unabsorbed", "unabsorbed", float),
    ("bad_debt", "bad_debt", float),
    ("insurance_fund", "insurance_fund", float),
    ("insurance_draw", "insurance_draw", float),
    ("residual", "residual", float),
    ("adl_transfers", "adl_transfers", float),
    ("uncovered", "uncovered", float),
    ("n_waited", "waited", int),
    ("waited_notional", "waited_notional", float),
)


def _totals_of(
    cls: Any, t: Any, *, fund: float, notional: str, **override: Any
) -> dict[str, Any]:
    """The totals fields of the result class ``cls`` read from the kernel's ``totals`` ``t``
    (those of :data:`_KERNEL_TOTALS` it has, ``liquidated_notional`` from ``t.<notional>``),
    ``insurance_fund_before=fund``, ``override`` in place of some."""
    names = cls.__dataclass_fields__
    out = {
        f: conv(getattr(t, k))
        for f, k, conv in _KERNEL_TOTALS
        if f in names and f not in override
    }
    out.update(
        override, liquidated_notional=float(getattr(t, notional)), insurance_fund_before=fund
    )
    return out


def _repr_of(name: str, *items: tuple[str, Any, str]) -> str:
    """``name(label=value, ...)`` from ``(label, value, format spec)`` items (spec ``""``: as
    ``str``): the repr of a result."""
    body = ", ".join(f"{label}={format(value, spec)}" for label, value, spec in items)
    return f"{name}({body})"


#: The short labels of the totals in reprs and summaries (``deficit`` is ``total_deficit``).
_TOTAL_LABELS = {"deficit": "total_deficit", "fees": "total_fees", "surplus": "total_surplus"}
#: The totals the repr of a batch (positions or accounts) shows, and that of a cascade.
_BATCH_REPR = ("bad_debt", "deficit", "fees", "insurance_fund", "residual", "uncovered")
_CASCADE_REPR = ("bad_debt", "insurance_fund", "uncovered")


@dataclass(frozen=True, eq=False)
class LossTotals:
    """The money totals every liquidation result declares (:class:`liqcore.LiquidationResult`,
    :class:`liqcore.AccountLiquidationResult`, :class:`liqcore.CascadeResult`,
    :class:`liqcore.ContagionResult`), in the margin (quote) currency, over the whole call
    (docs/model.md §3 and §3b, "Where every unit of loss goes"):

    - ``liquidated_notional``: the notional at the mark of what was closed;
    - ``total_deficit``: the traders' deficits, the loss beyond their margin (collateral) when
      their closes are worse than the bankruptcy price; ``total_surplus``: the closed traders'
      equity after their closes, ``max(0, E_after)``, before the fee; ``total_fees``:
      liquidation fees, to the fund;
    - ``inventory_loss``: the fund's losses on what it took over at bankruptcy prices, sold into
      the book or valued at the band edge (§3, step 4);
    - ``bad_debt = total_deficit + inventory_loss = insurance_draw + adl_transfers +
      uncovered``: the loss the liquidations leave behind, and who bears it;
    - ``insurance_fund_before`` and ``insurance_fund`` (after); ``insurance_draw``: what the
      fund paid (first, down to its reserve); ``residual``: what it could not pay;
      ``adl_transfers``: of which the counterparties paid under the residual rule (ADL or
      socialization, never principal); ``uncovered``: the rest, ``residual − adl_transfers``.

    A base of those results' dataclasses: its fields come first in their constructors (every
    result is built with keywords).
    """

    liquidated_notional: float
    total_deficit: float
    total_surplus: float
    total_fees: float
    inventory_loss: float
    bad_debt: float
    insurance_fund_before: float
    insurance_fund: float
    insurance_draw: float
    residual: float
    adl_transfers: float
    uncovered: float

    def _repr_totals(self, *labels: str) -> list[tuple[str, float, str]]:
        """``(label, total, ".6g")`` items of :func:`_repr_of` for the named totals."""
        return [(k, getattr(self, _TOTAL_LABELS.get(k, k)), ".6g") for k in labels]


@dataclass(frozen=True, eq=False)
class InventoryTotals(LossTotals):
    """:class:`LossTotals` and the fund's inventory figures of the single-market results and the
    account batch: ``inventory_gain`` (its gains on inventory, credited to it) and
    ``unabsorbed`` (inventory quantity the book could not absorb within the price band, valued
    at the band edge; docs/model.md §3, step 4)."""

    inventory_gain: float
    unabsorbed: float


class Rows:
    """A table of equal-length columns (a frozen dataclass of arrays): ``len()`` is its number
    of rows, the length of the field named by ``_ROWS``; ``to_frame()`` has one column per field
    (a subclass that is also a :class:`Result` keeps :meth:`Result.to_frame`)."""

    __slots__ = ()

    _ROWS: ClassVar[str]
    #: The columns of :meth:`to_frame` in their order, where it is not the fields' order (a
    #: table whose base declares some of its columns); None: every field, in order.
    _COLUMNS: ClassVar[tuple[str, ...] | None] = None

    def __len__(self) -> int:
        return int(np.shape(getattr(self, self._ROWS))[0])

    def to_frame(self) -> Any:
        """A pandas DataFrame, one column per field."""
        return _columns(self, self._COLUMNS or getattr(self, "__dataclass_fields__"))


class Result:
    """Base of the result classes (see the module docstring for the protocol).

    A subclass names its per-row fields in ``_ROW_FIELDS`` (the columns of the default
    :meth:`to_frame`) and its plain-text renderer in ``_REPORT`` (a function of
    :mod:`liqcore.report` taking the result).
    """

    __slots__ = ()

    _ROW_FIELDS: ClassVar[tuple[str, ...]] = ()
    _REPORT: ClassVar[str | None] = None

    if TYPE_CHECKING:

        @property
        def bad_debt(self) -> Any:
            """The loss the liquidations leave behind (a number, or one per scenario/row)."""

    def __post_init__(self) -> None:
        # results are values: every array field is seen through a read-only view (the arrays
        # themselves, which may be shared with the inputs, are not changed)
        for k, v in vars(self).items():
            if isinstance(v, np.ndarray) and v.flags.writeable:
                ro = v.view()
                ro.flags.writeable = False
                object.__setattr__(self, k, ro)

    def summary(self) -> dict[str, Any]:
        """Headline figures as a flat dict (with a ``"bad_debt"`` entry)."""
        raise NotImplementedError

    def _totals(self) -> dict[str, Any]:
        """The totals of a liquidation batch or cascade, in the order of their summaries: what
        was closed, the bad debt and who bore it, the fund before and after, the ledger."""
        r: Any = self
        return {
            "liquidated_notional": r.liquidated_notional,
            "bad_debt": r.bad_debt,
            "deficit": r.total_deficit,
            "inventory_loss": r.inventory_loss,
            "unabsorbed": r.unabsorbed,
            "fees": r.total_fees,
            "insurance_fund_before": r.insurance_fund_before,
            "insurance_fund_after": r.insurance_fund,
            "insurance_draw": r.insurance_draw,
            "residual": r.residual,
            "adl_transfers": r.adl_transfers,
            "uncovered": r.uncovered,
            "ledger_balance": r.ledger.balance,
        }

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per position (scenario, shock, event), one column per
        per-row field."""
        return _columns(self, self._ROW_FIELDS)

    def _frame_at(self, level: str, **tables: Callable[[], Any]) -> Any:
        """``to_frame(level)`` of a result with several tables: one row per position for
        ``"positions"``, else the frame ``tables[level]()``; ValueError naming the levels."""
        check_option("level", level, ("positions", *tables))
        return Result.to_frame(self) if level == "positions" else tables[level]()

    def _repr_html_(self) -> str:
        from liqcore import _repr_html

        return _repr_html.render(self)

    def __str__(self) -> str:
        if self._REPORT is None:
            return repr(self)
        from liqcore import report

        return str(getattr(report, self._REPORT)(self))


#: The money and rate-limit columns of both cascade traces, in the order their tables show them
#: (last; :class:`RoundTotals`).
_ROUND_MONEY = (
    "fees",
    "insurance_draw",
    "residual",
    "adl_transfers",
    "insurance_fund",
    "waited",
    "waited_notional",
)


@dataclass(frozen=True, eq=False)
class RoundTotals(Rows):
    """The per-round columns of both cascade traces (:class:`liqcore.CascadeTrace`,
    :class:`liqcore.ContagionTrace`), one entry per round (docs/model.md §4): ``round`` (int64,
    from 1); ``notional``: closed in the round, at the marks it detected at; ``deficit``: the
    traders' deficits; ``fees``: to the fund; ``insurance_draw``: what the fund paid;
    ``residual``: what it could not pay; ``adl_transfers``: of which the counterparties paid
    (the rest is uncovered); ``insurance_fund``: the fund after the round; ``waited`` (int64):
    liquidatable positions the policy's rate limits (``max_notional``, ``max_orders``) left for
    the next round, ``waited_notional`` their notional (§4, "Rate limits"). A base of the
    traces' dataclasses: its fields come first in their constructors (built with keywords); a
    trace's tables keep their own column order.
    """

    _ROWS = "round"

    round: I64
    notional: F64
    deficit: F64
    fees: F64
    insurance_draw: F64
    residual: F64
    adl_transfers: F64
    insurance_fund: F64
    waited: I64
    waited_notional: F64
