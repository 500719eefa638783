"""Mark-price rules (docs/model.md §4, "The mark"): how the mark follows an exogenous index and
the trades of a cascade.

Every cascade and stress test (:func:`liqcore.simulate_cascade`, :func:`liqcore.stress_test`,
:func:`liqcore.simulate_cascade_accounts`, :func:`liqcore.stress_test_accounts`) takes
``mark_rule``: one of the strings ``"last"``, ``"mid"``, ``"index"``, ``"binance"``,
``"hyperliquid"`` (each with its defaults) or a :class:`MarkRule` built by its constructors::

    lq.MarkRule.index(w=0.3)
    lq.MarkRule.binance(funding_basis=0.0001, ma_basis=-2.0)
    lq.MarkRule.hyperliquid(basis_half_life=35.0, cap=10.0, cap_half_life=6654.0)

Each market keeps an *index* ``I`` (the exogenous path: the mark before the shock, multiplied by
the shock and by every step of a stress path; the liquidations never move it) and a *book price*
``B`` (what ``"last"`` gives: the quantity-weighted mean of each book side's deepest fill of the
latest round with book fills; it starts at the input mark and moves with the exogenous moves).

- ``last``: ``mark = B``; ``mid``: the mid of the book left after the round (today's rules; an
  exogenous move multiplies the mark by its factor).
- ``index(w)``: ``mark = (1 − w)·I + w·B``. ``w = 1`` is ``"last"`` bit for bit; ``w = 0`` pins
  the mark to the index (no feedback: one round of liquidations at the shocked index).
- ``binance(funding_basis, ma_basis)``: ``mark = median(I·(1 + funding_basis), I + ma_basis, B)``,
  i.e. ``B`` clipped to the interval between the two index prices. The bases are constants of
  the rule (Binance's funding term and moving-average basis, frozen over the cascade); with both
  zero the mark is the index whatever trades.
- ``hyperliquid(basis_half_life, cap, cap_half_life)``: ``mark = median(I + EMA(mid − I),
  median(best bid, best ask, B), I)``, then at most ``cap`` times an EMA of the mark. External
  venues' mid is the index. The EMAs advance one sample at each mark update (every exogenous
  move and every round with book fills); half-lives are in samples; the basis EMA starts at 0,
  the mark's EMA at the input mark. A missing book side counts as ``B``.

The index-anchored rules evaluate their formula at every exogenous move and after every round
with book fills; a round without book fills leaves the mark unchanged, as under ``"last"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from liqcore import _core
from liqcore._arrays import check_option
from liqcore._arrays import real as _real

__all__ = ["MARK_RULES", "MarkRule"]

MARK_RULES: tuple[str, ...] = tuple(_core.MarkRule.__members__)  # the kernel's enum, in order

_BASIS_HALF_LIFE = 35.0  # samples: a 150-second EMA at ~3-second mark updates (150·ln 2 / 3)
_CAP_HALF_LIFE = 6654.0  # samples: an 8-hour EMA at ~3-second mark updates (8·3600·ln 2 / 3)


@dataclass(frozen=True)
class MarkRule:
    """A mark-price rule and its parameters (see the module docstring); build one with
    :meth:`last`, :meth:`mid`, :meth:`index`, :meth:`binance` or :meth:`hyperliquid`, or
    :meth:`of` from a string. Immutable, hashable, picklable. ``str(rule)`` is the name for
    the defaults-only rules "last" and "mid", else the constructor call, e.g.
    ``index(w=0.3)``."""

    name: str = "last"
    w: float = 0.0
    funding_basis: float = 0.0
    ma_basis: float = 0.0
    basis_half_life: float = _BASIS_HALF_LIFE
    cap: float = 10.0
    cap_half_life: float = _CAP_HALF_LIFE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"mark_rule.name must be a str (got {type(self.name).__name__})")
        check_option("mark_rule.name", self.name, MARK_RULES)
        for f in ("w", "funding_basis", "ma_basis", "basis_half_life", "cap", "cap_half_life"):
            object.__setattr__(self, f, _real(f"mark_rule.{f}", getattr(self, f)))
        if not 0.0 <= self.w <= 1.0:
            raise ValueError(f"mark_rule.w must be in [0, 1] (got {self.w!r})")
        if not (math.isfinite(self.funding_basis) and self.funding_basis > -1.0):
            raise ValueError(
                f"mark_rule.funding_basis must be finite and > -1 (got {self.funding_basis!r})"
            )
        if not math.isfinite(self.ma_basis):
            raise ValueError(f"mark_rule.ma_basis must be finite (got {self.ma_basis!r})")
        for f in ("basis_half_life", "cap_half_life"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"mark_rule.{f} must be finite and >= 0 (got {v!r})")
        if not self.cap > 0.0:
            raise ValueError(f"mark_rule.cap must be > 0 (got {self.cap!r})")

    # ---- constructors ----------------------------------------------------------------------

    @classmethod
    def last(cls) -> MarkRule:
        """The round's book price (each side's deepest fill, quantity-weighted)."""
        return cls("last")

    @classmethod
    def mid(cls) -> MarkRule:
        """The mid of the book left after the round."""
        return cls("mid")

    @classmethod
    def index(cls, w: float = 0.0) -> MarkRule:
        """``(1 − w)·index + w·book price``, ``w`` in [0, 1] (0: the index, 1: ``"last"``)."""
        return cls("index", w=w)

    @classmethod
    def binance(cls, funding_basis: float = 0.0, ma_basis: float = 0.0) -> MarkRule:
        """``median(index·(1 + funding_basis), index + ma_basis, book price)``; ``funding_basis``
        relative (Binance: last funding rate × time to funding / 8 h), ``ma_basis`` in price
        units (Binance: the moving average of mid − index; the same for every market of a
        multi-market cascade)."""
        return cls("binance", funding_basis=funding_basis, ma_basis=ma_basis)

    @classmethod
    def hyperliquid(
        cls,
        basis_half_life: float = _BASIS_HALF_LIFE,
        cap: float = 10.0,
        cap_half_life: float = _CAP_HALF_LIFE,
    ) -> MarkRule:
        """``median(index + EMA(mid − index), median(bid, ask, book price), index)``, at most
        ``cap`` × the mark's EMA; half-lives in samples (mark updates; ``math.inf`` cap: none)."""
        return cls(
            "hyperliquid", basis_half_life=basis_half_life, cap=cap, cap_half_life=cap_half_life
        )

    @classmethod
    def of(cls, mark_rule: Any) -> MarkRule:
        """``mark_rule`` itself if a MarkRule, the rule of that name with its defaults if a str
        (what the ``mark_rule`` arguments accept)."""
        if isinstance(mark_rule, MarkRule):
            return mark_rule
        if not isinstance(mark_rule, str):
            choices = ", ".join(repr(c) for c in MARK_RULES)
            raise TypeError(
                f"mark_rule must be a str, one of {choices}, or a liqcore.MarkRule "
                f"(got {type(mark_rule).__name__})"
            )
        check_option("mark_rule", mark_rule, MARK_RULES)
        return getattr(cls, mark_rule)()  # type: ignore[no-any-return]

    # ---- the kernel's view -----------------------------------------------------------------

    @property
    def code(self) -> int:
        """The kernel's ``MarkRule`` value."""
        return MARK_RULES.index(self.name)

    @property
    def params(self) -> list[float]:
        """The kernel's ``mark_params``: w, funding_basis, ma_basis, basis_half_life, cap,
        cap_half_life."""
        return [
            self.w,
            self.funding_basis,
            self.ma_basis,
            self.basis_half_life,
            self.cap,
            self.cap_half_life,
        ]

    def __str__(self) -> str:
        if self.name in ("last", "mid"):
            return self.name
        if self.name == "index":
            return f"index(w={self.w:g})"
        if self.name == "binance":
            return f"binance(funding_basis={self.funding_basis:g}, ma_basis={self.ma_basis:g})"
        return (
            f"hyperliquid(basis_half_life={self.basis_half_life:g}, cap={self.cap:g}, "
            f"cap_half_life={self.cap_half_life:g})"
        )
