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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

import numpy as np

from liqcore._arrays import F64, pandas

__all__ = ["Result", "Rows"]

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
    compact per-liquidation ``name`` spread over every position, ``fill`` elsewhere)."""

    def get(self: Any) -> F64:
        out: F64 = self._spread(name, fill)
        return out

    return functools.cached_property(get)


def _columns(obj: Any, names: Any) -> Any:
    """A DataFrame with one column per name, ``getattr(obj, name)``."""
    return _pandas().DataFrame({k: getattr(obj, k) for k in names})


def _from_columns(cls: Callable[..., _T], src: Mapping[str, Any], **override: Any) -> _T:
    """The dataclass ``cls`` built from the same-named entries of ``src`` (a kernel's dict of
    columns), ``override`` in place of some."""
    names = getattr(cls, "__dataclass_fields__")
    return cls(**{k: override[k] if k in override else src[k] for k in names})


class Rows:
    """A table of equal-length columns (a frozen dataclass of arrays): ``len()`` is its number
    of rows, the length of the field named by ``_ROWS``; ``to_frame()`` has one column per field
    (a subclass that is also a :class:`Result` keeps :meth:`Result.to_frame`)."""

    __slots__ = ()

    _ROWS: ClassVar[str]

    def __len__(self) -> int:
        return int(np.shape(getattr(self, self._ROWS))[0])

    def to_frame(self) -> Any:
        """A pandas DataFrame, one column per field."""
        return _columns(self, getattr(self, "__dataclass_fields__"))


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

    def _repr_html_(self) -> str:
        from liqcore import _repr_html

        return _repr_html.render(self)

    def __str__(self) -> str:
        if self._REPORT is None:
            return repr(self)
        from liqcore import report

        return str(getattr(report, self._REPORT)(self))
