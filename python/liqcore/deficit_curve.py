"""Deficit curves: bad debt as a function of the size of a price shock.

:func:`deficit_curve` plays one :func:`liqcore.simulate_cascade` per shock, all from the same
positions, book, mark and insurance fund, on a thread pool (the cascade kernel releases the
GIL, so the cascades run in parallel). Each cascade is independent of the others, so the curve
is the same, bit for bit, whatever the number of threads, and equals the cascades run one by
one; the results come in the order of ``shocks``.

Per shock: ``bad_debt`` (the losses the traders' margin could not cover: the cascade's
deficits plus the insurance fund's loss on takeovers, before the fund and ADL pay them),
``liquidated_notional``, ``n_liquidated`` (liquidation events; a position closed in slices
counts once per slice), ``positions_liquidated``, ``final_mark`` and ``insurance_fund`` (the
fund after the cascade).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from liqcore._arrays import F64, I64, as_f64
from liqcore.book import Book
from liqcore.cascade import CascadeResult, simulate_cascade
from liqcore.liquidation import _check_market
from liqcore.mark_rule import MarkRule
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.result import Result, Rows, _frozen, _pandas

__all__ = ["DeficitCurve", "deficit_curve"]

_COLUMNS = (
    "shock",
    "bad_debt",
    "liquidated_notional",
    "n_liquidated",
    "positions_liquidated",
    "final_mark",
    "insurance_fund",
)


def _bad_debt(result: CascadeResult) -> float:
    """The cascade's bad debt (docs/model.md §3b)."""
    return result.bad_debt


@dataclass(frozen=True, eq=False)
class DeficitCurve(Result, Rows):
    """One entry per shock, in the order given (read-only arrays); money in the margin currency.

    ``shocks``; ``bad_debt``; ``liquidated_notional``; ``n_liquidated`` and
    ``positions_liquidated`` (int64); ``final_mark``; ``insurance_fund`` (after each cascade);
    ``mark`` and ``insurance_fund_before`` (the common start); ``results``: the
    :class:`liqcore.CascadeResult` of each shock.
    """

    _ROWS = "shocks"

    mark: float
    insurance_fund_before: float
    shocks: F64
    bad_debt: F64
    liquidated_notional: F64
    n_liquidated: I64
    positions_liquidated: I64
    final_mark: F64
    insurance_fund: F64
    results: tuple[CascadeResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """Columns as lists (JSON-compatible), plus ``mark`` and ``insurance_fund_before``."""
        cols = {c: getattr(self, "shocks" if c == "shock" else c).tolist() for c in _COLUMNS}
        return {"mark": self.mark, "insurance_fund_before": self.insurance_fund_before, **cols}

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per shock, columns as :data:`_COLUMNS`."""
        return _pandas().DataFrame(
            {c: getattr(self, "shocks" if c == "shock" else c) for c in _COLUMNS}
        )

    def plot(self, ax: Any = None) -> Any:
        """Bad debt and the fund after against the shock, liquidated notional on a second
        axis; returns the axes. Needs matplotlib."""
        from liqcore.liquidation_map import _axes, _legend

        ax = _axes(ax, (8, 5))
        x = 100.0 * self.shocks
        ax.plot(x, self.bad_debt, marker="o", color="tab:red", label="bad debt")
        ax.plot(x, self.insurance_fund, marker=".", color="tab:green", label="insurance fund after")
        ax.set_xlabel("shock (%)")
        ax.set_ylabel("money")
        ax2 = ax.twinx()
        ax2.plot(x, self.liquidated_notional, ls="--", color="tab:blue",
                 label="liquidated notional")
        ax2.set_ylabel("liquidated notional")
        return _legend(ax, ax2, "Deficit curve")

    def summary(self) -> dict[str, Any]:
        """Headline figures: shocks, the mark and fund at the start, the largest bad debt and
        liquidated notional over the shocks, and the shock with the largest bad debt."""
        n = len(self)
        worst = int(np.argmax(self.bad_debt)) if n else -1
        return {
            "shocks": n,
            "mark": self.mark,
            "insurance_fund_before": self.insurance_fund_before,
            "bad_debt": float(self.bad_debt[worst]) if n else 0.0,
            "worst_shock": float(self.shocks[worst]) if n else math.nan,
            "liquidated_notional": float(self.liquidated_notional.max()) if n else 0.0,
            "n_liquidated": int(self.n_liquidated.max()) if n else 0,
        }

    def __repr__(self) -> str:
        worst = float(self.bad_debt.max()) if len(self) else 0.0
        return f"DeficitCurve(shocks={len(self)}, mark={self.mark:.8g}, max_bad_debt={worst:.6g})"


def _threads(threads: Any, n: int) -> int:
    if threads is None:
        return max(1, min(n, os.cpu_count() or 1))
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a positive int or None (got {type(threads).__name__})")
    if not 1 <= int(threads) <= 1024:
        raise ValueError(f"threads must be in [1, 1024] or None (got {int(threads)})")
    return int(threads)


def deficit_curve(
    positions: Positions,
    book: Book,
    mark: float,
    shocks: Any,
    *,
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
    resilience: float = 0.0,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
    threads: int | None = None,
) -> DeficitCurve:
    """One cascade per shock (see the module docstring), in parallel, results in shock order.

    ``shocks``: a 1-D array-like of relative moves, each finite and > -1 (e.g.
    ``[-0.01, -0.02, -0.05]``). ``threads``: None uses ``min(len(shocks), cores)``. The other
    arguments are those of :func:`liqcore.simulate_cascade`, the same for every shock.
    """
    _check_market(positions, book)
    s = np.array(as_f64("shocks", shocks), dtype=np.float64, ndmin=1)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(s) & (s > -1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"shocks[{i}] must be finite and > -1 (got {float(s[i])!r})")
    nt = _threads(threads, s.shape[0])

    def one(i: int) -> CascadeResult:
        try:
            return simulate_cascade(
                positions, book, mark, float(s[i]), policy, insurance_fund, resilience,
                mark_rule=mark_rule, max_rounds=max_rounds,
            )
        except ValueError as e:
            if str(e).startswith("shock="):  # the shocked prices leave the float range
                raise ValueError(f"shocks[{i}]: {e}") from None
            raise

    if s.shape[0]:  # checks every other argument once, with simulate_cascade's messages
        first = one(0)
        rest = list(range(1, s.shape[0]))
    else:
        simulate_cascade(positions, book, mark, 0.0, policy, insurance_fund, resilience,
                         mark_rule=mark_rule, max_rounds=0)
        first, rest = None, []
    if nt == 1 or len(rest) <= 1:
        others = [one(x) for x in rest]
    else:
        with ThreadPoolExecutor(max_workers=nt) as pool:
            others = list(pool.map(one, rest))
    results = tuple(([first] if first is not None else []) + others)

    def col(f: Any, dtype: Any = np.float64) -> Any:
        return _frozen(np.array([f(r) for r in results], dtype=dtype).reshape(-1))

    fund0 = results[0].insurance_fund_before if results else float(insurance_fund)
    return DeficitCurve(
        mark=float(mark) if not results else results[0].initial_mark,
        insurance_fund_before=float(fund0),
        shocks=_frozen(s),
        bad_debt=col(_bad_debt),
        liquidated_notional=col(lambda r: r.liquidated_notional),
        n_liquidated=col(lambda r: r.n_liquidated, np.int64),
        positions_liquidated=col(lambda r: np.count_nonzero(r.liquidated), np.int64),
        final_mark=col(lambda r: r.final_mark),
        insurance_fund=col(lambda r: r.insurance_fund),
        results=results,
    )

