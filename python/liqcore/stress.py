"""Stress tests (docs/model.md §5): many price paths × the positions × the policy.

:func:`stress_test` runs every scenario in the C++ kernel, on all cores (``std::thread``), GIL
released; :func:`buffer_sweep` repeats it over a grid of policy settings.

One scenario
------------
The scenario starts from the inputs (positions, book, mark, insurance fund) and walks ``steps``
steps. At each step the market moves by a factor ``f``: the mark and every book price are
multiplied by ``f`` (as the shock of :func:`liqcore.simulate_cascade`), then the cascade engine
runs at the new mark until nothing new triggers (or ``max_rounds``). The book (consumed depth,
its recovery by ``resilience`` after each round), the positions and the fund carry over from
step to step, and the next move starts from the mark the cascade left. Under an
index-anchored ``mark_rule`` (:class:`liqcore.MarkRule`) the index is multiplied by ``f``
instead (it follows the path, not the liquidations) and the mark is the rule's value.

Price paths
-----------
By default, geometric Brownian motion with Merton jumps. Time is in **days**: the path covers
``horizon`` days in ``steps`` steps of ``dt = horizon / steps`` days, and the log return of a
step is ``(mu − sigma²/2 − jump_intensity·k)·dt + sigma·sqrt(dt)·Z + Σ_{j<N} J_j`` with
``Z ~ N(0, 1)``, ``N ~ Poisson(jump_intensity·dt)``, ``J_j ~ N(jump_mean, jump_std²)`` and
``k = exp(jump_mean + jump_std²/2) − 1`` (so that ``E[price] = mark·exp(mu·t)``): ``mu`` is the
drift per day, ``sigma`` the daily volatility, ``jump_intensity`` the expected number of jumps
per day and ``jump_mean``/``jump_std`` the mean and standard deviation of a jump's log size.

Random numbers come from Philox4x32-10, a counter-based generator: the numbers of scenario
``s`` are a pure function of ``(seed, s, step)``. Results are therefore bit-identical for any
``threads``, any chunking of the scenarios (``liqcore.distributed`` runs chunks on a Dask
cluster) and any run order.

Or the user's ``paths``: a ``scenarios × steps`` array of exogenous marks (``path_type="mark"``:
``paths[s, t]`` is the exogenous price at the end of step ``t``; the move of step ``t`` is
``paths[s, t] / paths[s, t−1]``, with ``paths[s, −1] = mark``), of simple returns
(``"return"``: ``f = 1 + r``) or of log returns (``"log_return"``: ``f = exp(r)``).

Per-scenario results
--------------------
``deficit`` ``D`` (also ``bad_debt``): the bad debt of the scenario, the traders' deficits plus
the fund's inventory losses (docs/model.md §3b; gross of the fees it earns); ``insurance_draw``: what the fund paid; ``residual``: what it could not pay
(``D = insurance_draw + residual``); ``liquidated_notional``; ``fees``; the fund after; the
final, lowest and highest marks; the number of liquidations and rounds; and the two largest
single-position losses (for Cover-1/Cover-2). See :class:`StressResult` for the statistics.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, TypedDict, overload

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import F64, I64, as_f64, check_progress
from liqcore._arrays import count as _count
from liqcore._arrays import real as _real
from liqcore._arrays import seed as _seed
from liqcore._arrays import unit_level as _level
from liqcore._stats import ScenarioStats
from liqcore.book import Book
from liqcore.cascade import _check_inputs, _fraction, _mark_rule
from liqcore.contagion import (
    AccountStressResult,
    AccountStressSpec,
    _account_spec,
    _check_path_type,
    _check_points,
    _move_factors,
    _rates,
    _rows,
    _run_spec,
    _ScenarioSpec,
)
from liqcore.cross_margin import Accounts, Markets, Portfolio, _accounts_form
from liqcore.liquidation import _scalar
from liqcore.mark_rule import MarkRule
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.result import Result, _repr_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["StressResult", "buffer_sweep", "stress_log_returns", "stress_test"]

# Per-scenario arrays returned by the kernel, in StressResult field order.
SCENARIO_FIELDS = (
    "deficit",
    "insurance_draw",
    "residual",
    "liquidated_notional",
    "fees",
    "insurance_fund",
    "final_mark",
    "min_mark",
    "max_mark",
    "largest_loss",
    "second_largest_loss",
    "liquidations",
    "rounds",
    "converged",
    "waited",
    "waited_notional",
)


@dataclass(frozen=True, eq=False)
class StressResult(ScenarioStats, Result):
    """Per-scenario outcomes of :func:`stress_test` and the statistics of docs/model.md §5.

    Per scenario (arrays of length ``scenarios``; money in the margin currency)
        deficit (``D``, the scenario's bad debt: traders' deficits plus the fund's inventory
        losses, docs/model.md; also available as ``bad_debt``, the name every result uses),
        insurance_draw, residual, liquidated_notional,
        fees, insurance_fund (after), final_mark, min_mark, max_mark, largest_loss and
        second_largest_loss (the two largest single-position losses ``deficit + inventory
        loss``), liquidations (int64, events), rounds (int64, rounds that liquidated or sold inventory),
        converged (bool: no step's cascade was cut by ``max_rounds``), waited (int64) and
        waited_notional: what the policy's rate limits left for a later round, summed over
        the scenario's rounds (a position waiting two rounds counts twice; docs/model.md §4,
        "Rate limits"; 0 without rate limits).
    Statistics
        ``depletion_probability`` = P(D > insurance_fund − policy.reserve), the probability
        that the scenario's loss exceeds what the fund could pay at the start (docs/model.md's
        ``P(D > IF)``; it ignores the fees earned along the path, so it never falls below
        ``exhaustion_probability``); ``exhaustion_probability`` = P(residual > 0), the fund
        actually ran dry along the path, fees included. ``var(q)``, ``expected_shortfall(q)``,
        ``lar(q)``, ``fund_size(r, kappa)``, ``cover1(q)``, ``cover2(q)``: see each method
        (shared with :class:`liqcore.AccountStressResult`, liqcore._stats).
    Quantiles are empirical, ``inf{v : F(v) >= q}`` over the scenarios.
    """

    deficit: F64
    insurance_draw: F64
    residual: F64
    liquidated_notional: F64
    fees: F64
    insurance_fund: F64
    final_mark: F64
    min_mark: F64
    max_mark: F64
    largest_loss: F64
    second_largest_loss: F64
    liquidations: I64
    rounds: I64
    converged: npt.NDArray[np.bool_]
    waited: I64
    waited_notional: F64
    insurance_fund_before: float
    mark: float
    policy: Policy
    seed: int
    steps: int
    params: dict[str, Any] = field(default_factory=dict)
    funding_paid: Optional[F64] = None

    _ROW_FIELDS = SCENARIO_FIELDS
    _REPORT = "stress"

    def summary(self, q: float = 0.99) -> dict[str, Any]:
        """Headline figures as a flat dict (VaR and ES at ``q``)."""
        return self._summary(q, "liquidations", self.liquidations)

    def __repr__(self) -> str:
        return _repr_of(
            "StressResult",
            ("scenarios", len(self), ""),
            ("steps", self.steps, ""),
            ("expected_deficit", self.expected_deficit, ".6g"),
            ("depletion_probability", self.depletion_probability, ".4g"),
            ("var99", self.var(0.99), ".6g"),
        )


# ---- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Model:
    """The jump-diffusion per step, in the kernel's units (dt in days)."""

    mu: float
    sigma: float
    jump_intensity: float
    jump_mean: float
    jump_std: float
    dt: float

    def args(self) -> tuple[float, float, float, float, float, float]:
        return (self.mu, self.sigma, self.jump_intensity, self.jump_mean, self.jump_std, self.dt)


def _finite(name: str, x: Any, *, nonnegative: bool = False, positive: bool = False) -> float:
    v = _real(name, x)
    ok = math.isfinite(v) and (v > 0.0 if positive else (v >= 0.0 if nonnegative else True))
    if not ok:
        what = "finite and > 0" if positive else ("finite and >= 0" if nonnegative else "finite")
        raise ValueError(f"{name} must be {what} (got {v!r})")
    return v


def _model(
    horizon: Any,
    steps: int,
    mu: Any,
    sigma: Any,
    jump_intensity: Any,
    jump_mean: Any,
    jump_std: Any,
) -> _Model:
    h = _finite("horizon", horizon, positive=True)
    return _Model(
        mu=_finite("mu", mu),
        sigma=_finite("sigma", sigma, nonnegative=True),
        jump_intensity=_finite("jump_intensity", jump_intensity, nonnegative=True),
        jump_mean=_finite("jump_mean", jump_mean),
        jump_std=_finite("jump_std", jump_std, nonnegative=True),
        dt=h / steps if steps else h,
    )


def _factors(paths: Any, path_type: str, mark: float) -> F64:
    """Move factors (scenarios × steps, C-contiguous) from the user's paths."""
    _check_path_type(path_type)
    a = as_f64("paths", paths, ndim=2)
    if a.ndim != 2:
        raise ValueError(f"paths must be a 2-D array (scenarios x steps) (got shape {a.shape})")
    return _move_factors(a, path_type, mark)


@dataclass(frozen=True)
class StressSpec(_ScenarioSpec):
    """Everything one scenario depends on, validated; picklable (for liqcore.distributed)."""

    positions: Positions
    book: Book
    mark: float
    model: _Model
    # factors: scenarios × steps; funding: steps, or scenarios × steps

    def plan(self) -> Any:
        p = self.positions
        return _core.StressPlan(
            p._size,
            p._entry_price,
            p._margin,
            self.book._b,
            self.policy._to_core(),
            self.mark,
            self.insurance_fund,
            self.resilience,
            self.mark_rule.code,
            self.max_rounds,
            mark_params=self.mark_rule.params,
        )

    def run(self, plan: Any, first: int, count: int, threads: int) -> _core.StressPart:
        """Scenarios [first, first + count) with ``plan`` (from :meth:`plan`)."""
        f = self._factor_rows(first, count)
        fr = _rows(self.funding, 1, first, count)
        part: _core.StressPart = plan.run(
            first, count, self.steps, *self.model.args(), self.seed, f, threads, fr
        )
        return part

    def result(self, parts: Sequence[_core.StressPart]) -> StressResult:
        """The result from the kernel's outputs of consecutive scenario chunks, in order."""
        m = self.model
        params = {
            "horizon": m.dt * self.steps,
            "mu": m.mu,
            "sigma": m.sigma,
            "jump_intensity": m.jump_intensity,
            "jump_mean": m.jump_mean,
            "jump_std": m.jump_std,
            **self._cascade_params(),
        }
        args = self._result_args(parts, SCENARIO_FIELDS, params)
        args["converged"] = args["converged"].astype(np.bool_)
        return StressResult(**args, mark=self.mark)


def _spec(
    positions: Any,
    book: Any,
    mark: Any,
    policy: Any,
    insurance_fund: Any,
    scenarios: Any,
    horizon: Any,
    *,
    steps: Any,
    mu: Any,
    sigma: Any,
    jump_intensity: Any,
    jump_mean: Any,
    jump_std: Any,
    paths: Any,
    path_type: str,
    resilience: Any,
    mark_rule: Any,
    max_rounds: Any,
    seed: Any,
    funding: Any = None,
) -> StressSpec:
    pol = _check_inputs(positions, book, policy)
    p = _scalar("mark", mark)
    fund = _scalar("insurance_fund", insurance_fund, nonnegative=True)
    factors: Optional[F64] = None
    if paths is not None:
        factors = _factors(paths, path_type, p)
        n_s, n_t = factors.shape
        if scenarios is not None and _count("scenarios", scenarios) != n_s:
            raise ValueError(f"scenarios is {scenarios} but paths has {n_s} rows")
        if steps is not None and _count("steps", steps) != n_t:
            raise ValueError(f"steps is {steps} but paths has {n_t} columns")
    else:
        n_s = _count("scenarios", 10_000 if scenarios is None else scenarios)
        n_t = _count("steps", 100 if steps is None else steps, minimum=1)
        _check_points(n_s, n_t)
    return StressSpec(
        positions=positions,
        book=book,
        mark=p,
        policy=pol,
        insurance_fund=fund,
        resilience=_fraction("resilience", resilience),
        mark_rule=_mark_rule(mark_rule),
        max_rounds=_count("max_rounds", max_rounds),
        scenarios=n_s,
        steps=n_t,
        model=_model(horizon, n_t, mu, sigma, jump_intensity, jump_mean, jump_std),
        seed=_seed(seed),
        factors=factors,
        funding=_rates(funding, n_s, n_t),
    )


class StressOptions(TypedDict, total=False):
    """The path-model and cascade keywords of :func:`stress_test` (shared by its overloads and
    liqcore.distributed's); ``sigma`` may be one per market and ``correlation`` applies only
    with a Portfolio."""

    steps: Optional[int]
    mu: float
    sigma: Any
    jump_intensity: float
    jump_mean: float
    jump_std: float
    paths: Any
    path_type: str
    resilience: float
    mark_rule: str | MarkRule
    max_rounds: int
    seed: int
    correlation: Any
    funding: Any
    collateral_paths: Any
    collateral_beta: Any
    collateral_sigma: Any
    collateral_market: Any


class _LocalOptions(StressOptions, total=False):
    threads: Optional[int]
    progress: Optional[Callable[[int, int], None]]


@overload
def stress_test(
    positions: Positions,
    book: Book,
    mark: float,
    /,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: Optional[int] = None,
    horizon: float = 1.0,
    **options: Unpack[_LocalOptions],
) -> StressResult: ...


@overload
def stress_test(
    portfolio: Portfolio,
    accounts: Accounts,
    markets: Markets,
    /,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: Optional[int] = None,
    horizon: float = 1.0,
    **options: Unpack[_LocalOptions],
) -> AccountStressResult: ...


def stress_test(
    positions: Positions | Portfolio,
    book: Book | Accounts,
    mark: float | Markets,
    /,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: Optional[int] = None,
    horizon: float = 1.0,
    *,
    steps: Optional[int] = None,
    mu: float = 0.0,
    sigma: Any = 0.04,
    jump_intensity: float = 0.1,
    jump_mean: float = -0.03,
    jump_std: float = 0.05,
    paths: Any = None,
    path_type: str = "mark",
    resilience: float = 0.0,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    correlation: Any = None,
    funding: Any = None,
    collateral_paths: Any = None,
    collateral_beta: Any = None,
    collateral_sigma: Any = None,
    collateral_market: Any = None,
) -> StressResult | AccountStressResult:
    """Run the cascade engine along many price paths (see the module docstring).

    One form per engine; the first three arguments are positional-only:

    - ``stress_test(positions, book, mark, ...)``: isolated positions of one market, returning a
      :class:`StressResult`;
    - ``stress_test(portfolio, accounts, markets, ...)``: cross-margin accounts over several
      markets, which is :func:`liqcore.stress_test_accounts` (the same call gives the same
      result), returning an :class:`liqcore.AccountStressResult` (see Notes).

    Parameters
    ----------
    positions, book, mark, policy, insurance_fund
        As :func:`liqcore.simulate_cascade`: the state at the start of every scenario.
    portfolio, accounts, markets : Portfolio, Accounts, Markets
        The accounts form instead of ``positions``, ``book`` and ``mark``.
    scenarios : int, optional
        Number of scenarios (default 10,000 positions, 1,000 accounts; the number of rows of
        ``paths`` when given).
    horizon : float
        Length of a model path in days (default 1).
    steps : int, optional
        Steps per path (default 100 positions, 10 accounts; the number of columns of ``paths``
        when given).
    mu, sigma, jump_intensity, jump_mean, jump_std : float
        The jump-diffusion, per day, the same defaults for both forms: drift, volatility
        (default 4%; per market in the accounts form), expected jumps per day (0.1), mean (-3%)
        and standard deviation (5%) of a jump's log size.
    paths : array (scenarios × steps), optional
        User paths instead of the model, read per ``path_type`` ("mark", "return",
        "log_return").
    resilience, mark_rule, max_rounds
        The cascade engine's, per step (``mark_rule``: a name or a :class:`liqcore.MarkRule`).
    seed : int
        Key of the random streams, in [0, 2**64).
    threads : int, optional
        Threads to use (default: all cores). Results do not depend on it.
    progress : callable, optional
        ``progress(done, total)`` after each batch of scenarios (the run is then split in
        about 50 batches; results are unchanged).

    correlation : array (markets × markets), optional
        Only with a Portfolio: the correlation of the markets' Brownian moves.
    funding : float or array, optional
        Funding rate **per step** (docs/model.md §5, "Funding"): a float for every step, an
        array of ``steps`` for every scenario, or ``scenarios × steps``. At each step, after the
        move and before the cascade, every open position of the paying side (longs when the
        rate is > 0) pays ``|rate| × notional`` at the step's mark out of its margin; the total
        is credited to the open positions of the other side pro rata to their notional
        (conserved; with no open receiver it leaves, see the model). A daily rate ``r_d`` is
        ``r_d × horizon / steps`` per step. ``StressResult.funding_paid`` holds the total paid
        per scenario. Costs a pass over all positions per step.
    collateral_paths, collateral_beta, collateral_sigma, collateral_market
        Only with a Portfolio: collateral price paths, see :func:`liqcore.stress_test_accounts`.

    Returns
    -------
    StressResult
        (in the accounts form, an :class:`liqcore.AccountStressResult`)

    Notes
    -----
    The accounts form ``(portfolio, accounts, markets, ...)`` is
    :func:`liqcore.stress_test_accounts` (the multi-market cascade along correlated paths;
    ``paths`` scenarios × steps × markets; ``sigma`` a scalar or one per market; defaults 1,000
    scenarios of 10 steps; the same Philox streams, market 0 drawing what a single market draws
    here).
    """
    spec = _any_spec(
        positions,
        book,
        mark,
        policy,
        insurance_fund,
        scenarios,
        horizon,
        correlation=correlation,
        steps=steps,
        mu=mu,
        sigma=sigma,
        jump_intensity=jump_intensity,
        jump_mean=jump_mean,
        jump_std=jump_std,
        paths=paths,
        path_type=path_type,
        resilience=resilience,
        mark_rule=mark_rule,
        max_rounds=max_rounds,
        seed=seed,
        funding=funding,
        collateral_paths=collateral_paths,
        collateral_beta=collateral_beta,
        collateral_sigma=collateral_sigma,
        collateral_market=collateral_market,
    )
    result: StressResult | AccountStressResult = _run_spec(spec, threads, progress)
    return result


def _collateral_options(
    positions: Any, paths: Any, beta: Any, sigma: Any, market: Any
) -> dict[str, Any]:
    """The collateral keywords stress_test passes on (only given ones; accounts only)."""
    given = {
        k: v
        for k, v in (
            ("collateral_paths", paths),
            ("collateral_beta", beta),
            ("collateral_sigma", sigma),
            ("collateral_market", market),
        )
        if v is not None
    }
    if given and not isinstance(positions, Portfolio):
        raise ValueError(
            f"{next(iter(given))} applies to a Portfolio with collateral accounts (must be None)"
        )
    return given


def _any_spec(
    positions: Any,
    book: Any,
    mark: Any,
    policy: Any,
    insurance_fund: Any,
    scenarios: Any,
    horizon: Any,
    *,
    correlation: Any,
    collateral_paths: Any = None,
    collateral_beta: Any = None,
    collateral_sigma: Any = None,
    collateral_market: Any = None,
    **model: Any,
) -> StressSpec | AccountStressSpec:
    """The validated spec of :func:`stress_test`: for isolated positions ``(positions, book,
    mark)`` or accounts ``(portfolio, accounts, markets)``; ``model``: the path model and
    cascade keywords of :func:`_spec`."""
    collateral = _collateral_options(
        positions, collateral_paths, collateral_beta, collateral_sigma, collateral_market
    )
    accounts_form = _accounts_form("stress_test", positions, book, mark)
    if accounts_form is not None:
        return _account_spec(
            *accounts_form, policy, insurance_fund, scenarios, horizon,
            correlation=correlation, **collateral, **model,
        )
    if correlation is not None:
        raise ValueError("correlation applies to a Portfolio over several markets (must be None)")
    return _spec(positions, book, mark, policy, insurance_fund, scenarios, horizon, **model)


def _options_spec(
    positions: Any,
    book: Any,
    mark: Any,
    policy: Any,
    insurance_fund: Any,
    scenarios: Any,
    horizon: Any,
    options: Mapping[str, Any],
) -> StressSpec | AccountStressSpec:
    """The spec :func:`stress_test` runs for these arguments and its path-model and cascade
    keywords ``options`` (those of :class:`StressOptions`; the others get stress_test's
    defaults): liqcore.distributed's, which takes them as ``**options``."""
    for k in options:
        if k not in StressOptions.__optional_keys__:
            raise TypeError(f"stress_test() got an unexpected keyword argument {k!r}")
    defaults = inspect.signature(stress_test).parameters
    keywords = {k: options.get(k, defaults[k].default) for k in StressOptions.__optional_keys__}
    return _any_spec(positions, book, mark, policy, insurance_fund, scenarios, horizon, **keywords)


def stress_log_returns(
    scenarios: int,
    steps: int = 100,
    horizon: float = 1.0,
    *,
    mu: float = 0.0,
    sigma: float = 0.04,
    jump_intensity: float = 0.1,
    jump_mean: float = -0.03,
    jump_std: float = 0.05,
    seed: int = 0,
    first: int = 0,
) -> F64:
    """The log returns the model draws for scenarios ``first … first + scenarios − 1``
    (a ``scenarios × steps`` array): exactly the moves :func:`stress_test` applies, so
    ``stress_test(..., paths=stress_log_returns(...), path_type="log_return")`` repeats a
    model run up to the rounding of ``exp``."""
    n_s = _count("scenarios", scenarios)
    n_t = _count("steps", steps, minimum=1)
    _check_points(n_s, n_t)
    m = _model(horizon, n_t, mu, sigma, jump_intensity, jump_mean, jump_std)
    out: F64 = _core.stress_log_returns(_seed(seed), _count("first", first), n_s, n_t, *m.args())
    return out


# ---- buffer sweep --------------------------------------------------------------------------------

SWEEP_KEYS = ("mmr", "buffer", "fee_cap")


def buffer_sweep(
    positions: Positions,
    book: Book,
    mark: float,
    grid: Mapping[str, Iterable[float]],
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: int = 1_000,
    horizon: float = 1.0,
    *,
    q: float = 0.99,
    **stress_kwargs: Any,
) -> Any:
    """Stress-test every combination of liquidation settings in ``grid``, on the same paths.

    ``grid`` maps ``"mmr"``, ``"buffer"`` and/or ``"fee_cap"`` to lists of values; the
    Cartesian product is run, each point with ``policy`` (default ``Policy(sizing="partial")``:
    the buffer is the partial-liquidation target ``E >= MM·(1 + buffer)``, which only matters
    with partial sizing) with those fields replaced (``mmr`` replaces flat tiers: the policy
    must not have ``tiers``). Every point uses the same seed, hence the same price paths
    (common random numbers), so differences between points come from the settings.
    ``stress_kwargs`` go to :func:`stress_test` (steps, sigma, resilience, seed, threads, ...).

    Returns one row per grid point with the swept values and ``expected_deficit``,
    ``depletion_probability``, ``exhaustion_probability``, ``var`` and ``expected_shortfall``
    at ``q``, ``mean_liquidations``, ``mean_liquidated_notional`` and ``mean_fees``: a pandas
    DataFrame when pandas is installed, else a dict of NumPy arrays.
    """
    if not isinstance(grid, Mapping):
        raise TypeError(
            f"grid must be a mapping of setting names to lists of values (got {type(grid).__name__})"
        )
    unknown = [k for k in grid if k not in SWEEP_KEYS]
    if unknown:
        raise ValueError(
            f"grid has unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"settings are {', '.join(map(repr, SWEEP_KEYS))}"
        )
    if not grid:
        raise ValueError("grid must name at least one setting")
    base = Policy(sizing="partial") if policy is None else _check_inputs(positions, book, policy)
    if "mmr" in grid and base.tiers is not None:
        raise ValueError("grid sweeps 'mmr' but policy has tiers; pass a policy without tiers")
    keys = list(grid)
    values: list[list[float]] = []
    for k in keys:
        v = grid[k]
        if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
            raise TypeError(f"grid[{k!r}] must be a list of numbers (got {type(v).__name__})")
        vals = [_real(f"grid[{k!r}]", x) for x in v]
        if not vals:
            raise ValueError(f"grid[{k!r}] must not be empty")
        values.append(vals)
    level = _level("q", q, upper_open=True)
    # zero scenarios would give NaN statistics (the mean of nothing) for every point
    _count("scenarios", scenarios, minimum=1)
    if "progress" in stress_kwargs:
        check_progress(stress_kwargs["progress"])
    rows: dict[str, list[float]] = {k: [] for k in keys}
    stats: dict[str, list[float]] = {
        s: []
        for s in (
            "expected_deficit",
            "depletion_probability",
            "exhaustion_probability",
            "var",
            "expected_shortfall",
            "mean_liquidations",
            "mean_liquidated_notional",
            "mean_fees",
        )
    }
    for point in itertools.product(*values):
        overrides = dict(zip(keys, point))
        try:
            pol = Policy.from_dict({**base.to_dict(), **overrides})
        except ValueError as e:
            raise ValueError(f"grid point {overrides}: {e}") from None
        st = stress_test(
            positions, book, mark, pol, insurance_fund, scenarios, horizon, **stress_kwargs
        )
        for k in keys:
            rows[k].append(overrides[k])
        stats["expected_deficit"].append(st.expected_deficit)
        stats["depletion_probability"].append(st.depletion_probability)
        stats["exhaustion_probability"].append(st.exhaustion_probability)
        stats["var"].append(st.var(level))
        stats["expected_shortfall"].append(st.expected_shortfall(level))
        stats["mean_liquidations"].append(float(np.mean(st.liquidations)))
        stats["mean_liquidated_notional"].append(float(np.mean(st.liquidated_notional)))
        stats["mean_fees"].append(float(np.mean(st.fees)))
    table = {k: np.asarray(v, dtype=np.float64) for k, v in {**rows, **stats}.items()}
    try:
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return table
    return pd.DataFrame(table)
