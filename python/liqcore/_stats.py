"""The statistics of a stress test's per-scenario outcomes (docs/model.md §5), shared by
:class:`liqcore.StressResult` (isolated positions) and :class:`liqcore.AccountStressResult`
(cross-margin accounts over several markets).

Quantiles are empirical, ``inf{v : F(v) >= q}`` over the scenarios (NumPy's "inverted_cdf").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from liqcore._arrays import F64
from liqcore._arrays import real as _real
from liqcore._arrays import unit_level as _level
from liqcore.policy import Policy


def quantile(x: F64, q: float) -> float:
    """Empirical q-quantile, ``inf{v : F(v) >= q}`` (NumPy's "inverted_cdf"); NaN when empty."""
    if x.size == 0:
        return math.nan
    return float(np.quantile(x, q, method="inverted_cdf"))


class ScenarioStats:
    """Statistics over the scenarios of a stress result.

    The result provides, per scenario, ``deficit`` (the bad debt ``D``), ``residual``,
    ``liquidated_notional``, ``largest_loss`` and ``second_largest_loss`` (the two largest
    single-defaulter losses of the scenario), ``converged``, ``waited`` and
    ``waited_notional``, and ``insurance_fund_before``, ``policy`` and ``steps``.
    """

    deficit: F64
    residual: F64
    liquidated_notional: F64
    largest_loss: F64
    second_largest_loss: F64
    insurance_fund_before: float
    policy: Policy

    def __len__(self) -> int:
        return int(self.deficit.shape[0])

    @property
    def scenarios(self) -> int:
        return len(self)

    @property
    def bad_debt(self) -> F64:
        """Per scenario: the bad debt ``D`` (the same array as ``deficit``)."""
        return self.deficit

    @property
    def expected_deficit(self) -> float:
        """Mean of ``D`` over the scenarios."""
        return float(np.mean(self.deficit)) if len(self) else math.nan

    @property
    def depletion_probability(self) -> float:
        """P(D > insurance_fund − reserve): the fraction of scenarios whose loss exceeds the
        fund available at the start. Never rises when the fund grows."""
        available = max(0.0, self.insurance_fund_before - self.policy.reserve)
        return float(np.mean(self.deficit > available)) if len(self) else math.nan

    @property
    def exhaustion_probability(self) -> float:
        """P(residual > 0): the fraction of scenarios in which the fund could not pay a loss
        in full when it came (fees earned earlier in the path included)."""
        return float(np.mean(self.residual > 0.0)) if len(self) else math.nan

    def exceedance_probability(self, fund: float) -> float:
        """P(D > fund) for another fund size (same paths: D does not depend on the fund for
        policies whose execution does not look at it, i.e. not ``refuse_uncovered``; with a
        residual rule, ADL charges change later rounds too)."""
        f = _real("fund", fund)
        return float(np.mean(self.deficit > f)) if len(self) else math.nan

    def var(self, q: float = 0.99) -> float:
        """Value at risk of the deficit: the empirical q-quantile of ``D``, q in (0, 1]."""
        return quantile(self.deficit, _level("q", q))

    def expected_shortfall(self, q: float = 0.99) -> float:
        """Expected shortfall of the deficit at level q in (0, 1):
        ``ES_q = 1/(1 − q) ∫_q^1 VaR_u(D) du`` over the empirical distribution (Acerbi–Tasche:
        the mean of the worst ``(1 − q)`` share of scenarios, the boundary scenario weighted
        by its fraction). ``ES_q >= VaR_q``."""
        level = _level("q", q, upper_open=True)
        n = len(self)
        if n == 0:
            return math.nan
        x = np.sort(self.deficit)
        k = int(math.ceil(level * n - 1e-9 * n))  # 1-based index of VaR_q
        k = min(max(k, 1), n)
        tail = float(np.sum(x[k:])) + (k - level * n) * float(x[k - 1])
        return tail / (n * (1.0 - level))

    def lar(self, q: float = 0.95) -> float:
        """Liquidations at risk (Gauntlet): the empirical q-quantile of the liquidated notional."""
        return quantile(self.liquidated_notional, _level("q", q))

    def fund_size(self, r: float, kappa: float) -> float:
        """Newsvendor insurance-fund size ``IF* = VaR_{1 − r/κ}(D)`` (Chitra 2025).

        ``r``: cost of holding one unit of fund (cost of capital over the horizon); ``kappa``:
        cost of one unit of shortfall. Minimising ``r·IF + κ·E[(D − IF)+]`` gives
        ``P(D > IF*) = r/κ``. Requires ``0 < r < kappa``.
        """
        rr, kk = _real("r", r), _real("kappa", kappa)
        if not (math.isfinite(rr) and rr > 0.0):
            raise ValueError(f"r must be finite and > 0 (got {rr!r})")
        if not (math.isfinite(kk) and kk > rr):
            raise ValueError(f"kappa must be finite and > r (got {kk!r}, r = {rr!r})")
        return quantile(self.deficit, 1.0 - rr / kk)

    def cover1(self, q: float = 1.0) -> float:
        """Cover-1 requirement (CPMI-IOSCO): the loss of the largest single defaulter (deficit
        plus the fund's inventory loss on its positions) of a scenario, taken at the empirical
        q-quantile over scenarios (q = 1: the worst scenario). A defaulter is a position with
        isolated margin, an account with cross margin. The fund meets Cover-1 when it is at
        least this."""
        return quantile(self.largest_loss, _level("q", q))

    def cover2(self, q: float = 1.0) -> float:
        """Cover-2 requirement: as :meth:`cover1` for the two largest single-defaulter losses
        of a scenario together."""
        return quantile(self.largest_loss + self.second_largest_loss, _level("q", q))

    def _mean(self, x: Any) -> float:
        """Mean of a per-scenario array (NaN without scenarios)."""
        return float(np.mean(x)) if len(self) else math.nan

    def _summary(self, q: float, count: str, counts: Any, **shape: Any) -> dict[str, Any]:
        """The headline figures of a stress result as a flat dict (VaR and ES at ``q``): the
        run's size (scenarios, steps, then ``shape``), the fund and the loss statistics, the
        mean of ``counts`` per scenario as ``mean_<count>`` (liquidations, liquidated accounts),
        the covers, convergence and the rate limits' waits."""
        fund = self.insurance_fund_before
        r: Any = self  # steps, converged, waited, waited_notional: the result's
        return {
            "scenarios": len(self),
            "steps": r.steps,
            **shape,
            "insurance_fund": fund,
            "expected_deficit": self.expected_deficit,
            "bad_debt": self.expected_deficit,
            f"var_{q:g}": self.var(q),
            f"es_{q:g}": self.expected_shortfall(q) if q < 1.0 else math.nan,
            "depletion_probability": self.depletion_probability,
            "exhaustion_probability": self.exhaustion_probability,
            "lar_0.95": self.lar(0.95),
            f"mean_{count}": self._mean(counts),
            "mean_liquidated_notional": self._mean(self.liquidated_notional),
            "cover1": self.cover1(),
            "cover2": self.cover2(),
            "meets_cover1": bool(fund >= self.cover1()),
            "meets_cover2": bool(fund >= self.cover2()),
            "all_converged": bool(np.all(r.converged)),
            "mean_waited": self._mean(r.waited),
            "mean_waited_notional": self._mean(r.waited_notional),
        }
