"""Multi-market liquidation cascades and contagion (docs/model.md §4, §6):
:func:`simulate_cascade_accounts`.

The cross-margin counterpart of :func:`liqcore.simulate_cascade`: a :class:`liqcore.Portfolio` of
accounts (:class:`liqcore.Accounts`) over several :class:`liqcore.Markets`, each market with its
own book and its own shock. One call into the C++ kernel (GIL released). Money is in quote.

Semantics
---------
Round 0, the shocks: every market ``m`` moves from ``P_m`` to ``P_m·(1 + shock_m)`` and its whole
book moves with it (every price multiplied by ``1 + shock_m``, quantities unchanged).

Round ``k = 1, 2, …`` at the current marks:

1. *Detection and liquidation*: every account liquidatable at the current marks (``TMMR > TNC``
   with an open position, :func:`liqcore.health`) is liquidated account-wide, exactly as
   :func:`liqcore.liquidate_accounts` does it at those marks (policy order, every position
   closed through its own market's book as left by the earlier rounds, limit, fallback, fee,
   fund, settlement, deficit attributed to positions by the slice rule, ledger).
2. *Each market's mark follows its own trades* (``mark_rule``): ``"last"``: the price of the
   quantity-weighted mean of each book side's deepest fill of the round in that market, whatever
   their order; ``"mid"``: the mid of its book left
   after the round; an index-anchored :class:`liqcore.MarkRule` (``"index"``, ``"binance"``,
   ``"hyperliquid"``): its formula of the market's index (the market's exogenous path: its mark
   before the shock times the shock, and every step of a stress path) and that book price. A
   market without book fills in the round keeps its mark.
3. *Resilience*: every level's quantity ``q`` of every book becomes ``q + resilience·(q0 − q)``
   (``q0`` before the cascade), as in the single-market cascade.

It stops after the first round that liquidates nothing (``converged``) or after ``max_rounds``
rounds. **One insurance fund**, shared by all markets, carries over from round to round, as do
the books and the ledger. Collateral prices move only when asked (``collateral_shock`` here,
collateral paths or a collateral model in :func:`stress_test_accounts`; docs/model.md §6,
"Collateral moves"); haircuts apply to the moved prices. Every policy is supported: with
``sizing="partial"`` or ``"slices"`` an account the round leaves open settles the round's
realised PnL and fee in its collateral (a quote balance) and is liquidated again in a later
round if it falls below maintenance again; with ``residual="queue"`` or ``"socialize"`` each
market's residual is charged to the counterparties of that market (never more than a
position's positive PnL; the charge leaves the account's collateral), what nobody can bear is
uncovered, and the inventory still held at the end goes to a last allocation.

Cost: every round re-runs account-wide liquidation over the whole portfolio, so a cascade costs
``O(rounds · (positions + accounts + book levels))``; :func:`stress_test_accounts` runs its
scenarios on threads (``threads``), bit-identical for any thread count.

Contagion attribution
---------------------
Every mark move has an *origin* market: the shock of market ``m`` has origin ``m``; the move of
market ``j`` during round ``k`` has the origin that closed the largest notional in ``j`` in
round ``k`` (among the origins of that round's liquidated accounts; ties: the lower id). An
account liquidated in round ``k`` has a *trigger* market: the market whose mark move from the
start of round ``k − 1`` to the start of round ``k`` (for ``k = 1``: the shock) lowered the
account's health ``TNC − TMMR`` the most (``Σ Δ(PnL − MM)`` over its positions in that market;
ties: the lower id). Its origin is the origin of that move; an account that no move made less
healthy (liquidatable before the shock) is unattributed (origin -1).

``contagion[i, j]`` is the bad debt realised in market ``j`` by accounts whose origin is market
``i``: the account deficit attributed to its positions in ``j``, plus the fund's losses on their
inventory in ``j`` (each lot's positive loss, per round where it is sold and at the final
valuation); ``markets.unattributed[j]`` holds the rest, so ``contagion.sum() +
markets.unattributed.sum() == bad_debt``. Example:
a BTC shock liquidates account A (BTC and ETH); selling A's ETH moves the ETH book, which
liquidates ETH-only account B in round 2: B's trigger is ETH, whose round-1 move has origin BTC,
so B's deficit lands in ``contagion[BTC, ETH]``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import F64, I64, MAX_COUNT, as_array, check_option, check_progress
from liqcore._arrays import count as _count
from liqcore._arrays import real as _real
from liqcore._arrays import seed as _seed
from liqcore._arrays import threads as _threads
from liqcore._stats import ScenarioStats
from liqcore.account_liquidation import AccountColumns, _kernel_books, _wrap_books
from liqcore.book import Book
from liqcore.cross_margin import CONTRACTS, Accounts, Markets, Portfolio, _check_kinds
from liqcore.liquidation import Ledger, _policy
from liqcore.mark_rule import MarkRule
from liqcore.policy import Policy
from liqcore.result import (
    _CASCADE_REPR,
    _CLOSE_COLUMNS,
    _FUND_COLUMNS,
    _ROUND_MONEY,
    LossTotals,
    Result,
    RoundTotals,
    Rows,
    _from_columns,
    _pandas,
    _pick,
    _repr_of,
    _totals_of,
)

__all__ = [
    "AccountStressResult",
    "ContagionAccounts",
    "ContagionMarkets",
    "ContagionResult",
    "ContagionTrace",
    "simulate_cascade_accounts",
    "stress_test_accounts",
]


_PER_POSITION = (
    "account",
    "market",
    "round",
    "liquidated",
    *_CLOSE_COLUMNS,
    "deficit",
    *_FUND_COLUMNS,
    "adl",
)


# The per-round columns of ContagionTrace.to_frame, after round and the per-market ones.
_ROUND_COLUMNS = (
    "accounts",
    "positions",
    "notional",
    "deficit",
    *_ROUND_MONEY,
)


@dataclass(frozen=True, eq=False)
class ContagionTrace(RoundTotals):
    """One entry per round that liquidated (round numbers from 1); quote currency.

    The columns of :class:`liqcore.result.RoundTotals` and: marks_before, marks_after: rounds ×
    markets marks at the start and the end of the round; deficit_by_market: rounds × markets
    deficits realised in the round; accounts, positions: newly liquidated; notional (closed,
    at the round's marks), deficit, fees, insurance_draw,
    residual (what the fund could not pay) of the round, adl_transfers (what counterparties
    paid of it; the rest is uncovered); insurance_fund after it; waited
    (int64): open positions of the liquidatable accounts the policy's rate limits left for the
    next round, waited_notional their notional at the round's marks (docs/model.md §4, "Rate
    limits").
    """

    marks_before: npt.NDArray[np.float64]
    marks_after: npt.NDArray[np.float64]
    deficit_by_market: npt.NDArray[np.float64]
    accounts: I64
    positions: I64

    def to_frame(self) -> Any:
        """One row per round; per-market columns ``mark_before_<m>``, ``mark_after_<m>``,
        ``deficit_<m>``."""
        pd = _pandas()
        cols: dict[str, Any] = {"round": self.round}
        for m in range(self.marks_before.shape[1]):
            cols[f"mark_before_{m}"] = self.marks_before[:, m]
            cols[f"mark_after_{m}"] = self.marks_after[:, m]
            cols[f"deficit_{m}"] = self.deficit_by_market[:, m]
        for k in _ROUND_COLUMNS:  # then the per-round columns
            cols[k] = getattr(self, k)
        return pd.DataFrame(cols)


@dataclass(frozen=True, eq=False)
class ContagionAccounts(AccountColumns):
    """Per account (length ``len(acc)``), quote currency.

    round (liquidated in, -1 if never); liquidated; trigger (market whose last move hurt its health
    most, -1 if none); origin (the market that move traces back to, -1 if unattributed); equity
    (``TNC``) and maintenance (``TMMR``) at detection; equity_after; deficit, fee, insurance_draw,
    shortfall (the columns of :class:`liqcore.account_liquidation.AccountColumns`).
    """

    round: I64
    trigger: I64
    origin: I64

    _ROWS = "round"
    _COLUMNS = (
        "round",
        "liquidated",
        "trigger",
        "origin",
        "equity",
        "maintenance",
        "equity_after",
        "deficit",
        "fee",
        "insurance_draw",
        "shortfall",
    )


@dataclass(frozen=True, eq=False)
class ContagionMarkets(Rows):
    """Per market: initial, shocked and final marks; closed_notional; deficit (realised in it);
    residual (what the fund could not pay for its positions, uncovered); unattributed (its deficit
    and inventory losses from accounts with no origin)."""

    _ROWS = "initial_mark"

    initial_mark: F64
    shocked_mark: F64
    final_mark: F64
    closed_notional: F64
    deficit: F64
    residual: F64
    unattributed: F64


@dataclass(frozen=True, eq=False)
class ContagionResult(LossTotals, Result, Rows):
    """What :func:`simulate_cascade_accounts` did.

    Per position (length ``len(pf)``): account, market, round (its account's, -1 if never),
    liquidated, closed, book_closed, fallback_closed, vwap, deficit, fee,
    insurance_draw_by_position, shortfall, inventory_loss_by_position, adl (money charged to it as
    an ADL / socialization counterparty). Amounts add up over the rounds: with partial or slice
    sizing an account may be liquidated in several rounds (``round`` is its first). ``accounts``: :class:`ContagionAccounts`;
    ``markets``: :class:`ContagionMarkets`; ``trace``: :class:`ContagionTrace`; ``contagion``:
    markets × markets matrix, ``contagion[i, j]`` the bad debt realised in market ``j`` that
    originates in market ``i`` (module docstring). Totals: rounds, converged,
    bad_debt (= total_deficit + inventory_loss = insurance_draw + adl_transfers + uncovered),
    liquidated_notional,
    total_deficit, total_surplus, total_fees, inventory_loss (the fund's losses on inventory taken
    over at bankruptcy prices, sold in the round's book or valued at the band edge),
    insurance_fund_before / insurance_fund (after), insurance_draw, residual (what the fund could
    not pay), adl_transfers (what counterparties paid of it), uncovered (the rest),
    n_waited and waited_notional (sums over the rounds of the trace's ``waited`` and
    ``waited_notional``: what the rate limits left for a later round; 0 without them). Also
    the ``books`` after (None for takeover execution), the ``ledger`` over all rounds, the
    ``shock`` per market and the ``policy``.
    """

    _ROWS = "closed"

    account: I64
    market: I64
    round: I64
    liquidated: npt.NDArray[np.bool_]
    closed: F64
    book_closed: F64
    fallback_closed: F64
    vwap: F64
    deficit: F64
    fee: F64
    insurance_draw_by_position: F64
    shortfall: F64
    inventory_loss_by_position: F64
    adl: F64
    accounts: ContagionAccounts
    markets: ContagionMarkets
    trace: ContagionTrace
    contagion: npt.NDArray[np.float64]
    rounds: int
    converged: bool
    n_waited: int
    waited_notional: float
    books: list[Book] | None
    ledger: Ledger
    shock: F64
    policy: Policy

    _ROW_FIELDS = _PER_POSITION
    _REPORT = "contagion"

    @property
    def final_marks(self) -> F64:
        return self.markets.final_mark

    @property
    def n_liquidated(self) -> int:
        """Positions closed (those of the liquidated accounts; the name every result uses)."""
        return int(self.liquidated.sum())

    def summary(self) -> dict[str, Any]:
        """Headline figures as a flat dict."""
        return {
            "positions": len(self),
            "rounds": self.rounds,
            "converged": self.converged,
            "liquidated_accounts": int(self.accounts.liquidated.sum()),
            "liquidated_positions": self.n_liquidated,
            "liquidated_notional": self.liquidated_notional,
            "bad_debt": self.bad_debt,
            "deficit": self.total_deficit,
            "inventory_loss": self.inventory_loss,
            "cross_market_deficit": float(self.contagion.sum() - np.trace(self.contagion)),
            "fees": self.total_fees,
            "insurance_fund_before": self.insurance_fund_before,
            "insurance_fund_after": self.insurance_fund,
            "insurance_draw": self.insurance_draw,
            "residual": self.residual,
            "adl_transfers": self.adl_transfers,
            "uncovered": self.uncovered,
            "n_waited": self.n_waited,
            "waited_notional": self.waited_notional,
            "ledger_balance": self.ledger.balance,
        }

    def to_frame(self, level: str = "positions") -> Any:
        """A pandas DataFrame: one row per position (default), per account (``"accounts"``), per
        market (``"markets"``), per round (``"rounds"``), or the contagion matrix
        (``"contagion"``: rows origin, columns where realised)."""

        def matrix() -> Any:
            return _pandas().DataFrame(self.contagion).rename_axis(index="origin", columns="market")

        return self._frame_at(
            level,
            accounts=self.accounts.to_frame,
            markets=self.markets.to_frame,
            rounds=self.trace.to_frame,
            contagion=matrix,
        )

    def __repr__(self) -> str:
        return _repr_of(
            "ContagionResult",
            ("positions", len(self), ""),
            ("markets", self.contagion.shape[0], ""),
            ("rounds", self.rounds, ""),
            ("accounts", int(self.accounts.liquidated.sum()), ""),
            *self._repr_totals(*_CASCADE_REPR),
        )


def _shocks(shock: Any, n: int) -> F64:
    if isinstance(shock, numbers.Real) and not isinstance(shock, bool):
        s = np.full(n, float(shock))
    else:
        if isinstance(shock, (str, bytes)) or not hasattr(shock, "__len__"):
            raise TypeError(
                f"shock must be a real number or one per market (got {type(shock).__name__})"
            )
        a = as_array("shock", shock)
        if a.dtype == np.bool_ or not (
            np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
        ):
            raise TypeError(f"shock must hold real numbers (got dtype {a.dtype})")
        if a.ndim != 1 or a.shape[0] != n:
            raise ValueError(
                f"shock must be a scalar or have one value per market ({n}) (got shape {a.shape})"
            )
        s = np.ascontiguousarray(a, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(s) & (s > -1.0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"shock[{i}] must be finite and > -1 (got {float(s[i])!r})")
    return s


def _collateral_shock(x: Any, assets: int) -> Optional[F64]:
    """One relative move per collateral asset (finite, > -1), or None (no move)."""
    if x is None:
        return None
    if isinstance(x, Mapping):
        s = np.zeros(assets)
        for k, v in x.items():
            if isinstance(k, bool) or not isinstance(k, numbers.Integral):
                raise TypeError(
                    f"collateral_shock keys must be asset indices (int) (got {type(k).__name__})"
                )
            if not 0 <= int(k) < assets:
                raise ValueError(
                    f"collateral_shock key {int(k)} is not an asset index in [0, {assets})"
                )
            s[int(k)] = _real(f"collateral_shock[{int(k)}]", v)
    elif isinstance(x, numbers.Real) and not isinstance(x, bool):
        s = np.full(assets, float(x))
    else:
        if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
            raise TypeError(
                "collateral_shock must be a real number, one per asset or a dict "
                f"(got {type(x).__name__})"
            )
        s = _real_array("collateral_shock", x)
        if s.shape != (assets,):
            raise ValueError(
                f"collateral_shock must be a scalar, a dict or have one value per asset "
                f"({assets}) (got shape {s.shape})"
            )
    _first_bad("collateral_shock", s, np.isfinite(s) & (s > -1.0), "finite and > -1")
    return np.ascontiguousarray(s, dtype=np.float64)


def _check_shocked_assets(acc: Accounts, shock: Optional[F64]) -> None:
    """Every moved collateral price must stay finite and > 0."""
    if shock is None:
        return
    with np.errstate(over="ignore"):
        moved = acc._prices * (1.0 + shock)
    bad = np.flatnonzero(~(np.isfinite(moved) & (moved > 0.0)))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"collateral_shock[{k}]={float(shock[k])!r} moves asset {k}'s price from "
            f"{float(acc._prices[k])!r} to {float(moved[k])!r}: prices must be finite and > 0"
        )


def _check_shocked_prices(mk: Markets, shocks: F64, by_book: bool) -> None:
    """Every shocked mark (and book price, when books are walked) must stay finite and > 0."""
    for m in range(len(mk)):
        f = 1.0 + float(shocks[m])
        prices = [float(mk._marks[m])]
        if by_book and mk._books is not None:
            for px, _ in (mk._books[m].bids, mk._books[m].asks):
                if px.size:
                    prices += [float(px.min()), float(px.max())]
        for x in prices:
            if not (math.isfinite(x * f) and x * f > 0.0):
                raise ValueError(
                    f"shock[{m}]={float(shocks[m])!r} moves a price of market {m} from {x!r} to "
                    f"{x * f!r}: shocked prices must be finite and > 0"
                )


def simulate_cascade_accounts(
    pf: Portfolio,
    acc: Accounts,
    mk: Markets,
    shock: Any,
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
    resilience: float = 0.0,
    *,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
    collateral_shock: Any = None,
) -> ContagionResult:
    """Play a liquidation cascade over several markets after exogenous moves, with contagion.

    Parameters
    ----------
    pf, acc, mk : Portfolio, Accounts, Markets
        Positions, collateral accounts and markets (marks before the shock, margin, and, for
        ``policy.execution == "book"``, one book per market at its mark). Not changed.
    shock : float or array-like
        Relative move of every market (a scalar) or one per market (finite, > -1): -0.1 moves
        that market's mark and every price of its book by -10%.
    policy : Policy, optional
        ``Policy()`` by default; every sizing and residual rule (an account a partial close
        leaves open settles the round's PnL and fee in its collateral and may be liquidated
        again; a counterparty's ADL or socialization charge leaves its collateral).
    insurance_fund : float
        Balance of the one fund shared by all markets, in quote (finite, >= 0).
    resilience : float
        Fraction in [0, 1] of each book's missing depth that returns after each round.
    mark_rule : {"last", "mid", "index", "binance", "hyperliquid"} or MarkRule
        How each market's mark follows its index and its own trades
        (:class:`liqcore.MarkRule`; each market's index is its own exogenous path).
    max_rounds : int
        Upper bound on the number of rounds (>= 0).
    collateral_shock : float, array-like or dict, optional
        A one-off relative move of the collateral prices with the shock (docs/model.md §6,
        "Collateral moves"): a scalar for every asset, one per asset, or ``{asset index: move}``
        (other assets unchanged); finite, > -1 (-0.4: a 40% depeg). Haircuts apply to the moved
        prices; prices then stay there. An account only the collateral move made liquidatable
        has no trigger market (origin -1).

    Notes
    -----
    See the module docstring for the semantics and the contagion attribution.
    """
    _check_kinds(pf, acc, mk)
    policy = _policy(policy)
    shocks = _shocks(shock, len(mk))
    fund, res, rule, max_rounds = _cascade_settings(
        insurance_fund, resilience, mark_rule, max_rounds
    )
    books = _kernel_books(mk, policy, "simulate_cascade_accounts")
    _check_shocked_prices(mk, shocks, bool(books))
    floors = [mk.tiers(m)[0] for m in range(len(mk))]
    rates = [mk.tiers(m)[1] for m in range(len(mk))]
    cshock = _collateral_shock(collateral_shock, int(acc._prices.shape[0]))
    _check_shocked_assets(acc, cshock)

    r = _core.simulate_contagion(
        mk._marks,
        np.array([CONTRACTS.index(k) for k in mk._contract], dtype=np.int64),
        mk._contract_size,
        floors,
        rates,
        books,
        *acc._args(),
        *pf._args(),
        shocks,
        policy._to_core(),
        fund,
        res,
        rule.code,
        int(max_rounds),
        cshock,
        mark_params=rule.params,
    )
    t, a, m, tr = r.totals, r.accounts, r.markets, r.trace
    n_rounds = int(tr.accounts.shape[0])
    a_round = a.round
    return ContagionResult(
        **_pick(
            r, _PER_POSITION, account=pf._account, market=pf._market,
            liquidated=r.round >= 0,
        ),
        accounts=_from_columns(ContagionAccounts, a, round=a_round, liquidated=a_round >= 0),
        markets=_from_columns(
            ContagionMarkets,
            m,
            initial_mark=r.initial_marks,
            shocked_mark=r.shocked_marks,
            final_mark=r.final_marks,
        ),
        trace=_from_columns(
            ContagionTrace, tr, round=np.arange(1, n_rounds + 1, dtype=np.int64)
        ),
        contagion=r.contagion,
        rounds=n_rounds,
        converged=bool(r.converged),
        # uncovered: what the fund could not pay less what counterparties paid of it
        **_totals_of(
            ContagionResult, t, fund=fund, notional="notional",
            uncovered=max(0.0, float(t.residual) - float(t.adl_transfers)),
        ),
        books=_wrap_books(r, books),
        ledger=Ledger._from_kernel(r),
        shock=shocks,
        policy=policy,
    )


# ---- stress tests over correlated paths ---------------------------------------------------------

PATH_TYPES = ("mark", "return", "log_return")


@dataclass(frozen=True, eq=False)
class AccountStressResult(ScenarioStats, Result):
    """Per-scenario outcomes of :func:`stress_test_accounts` (length ``scenarios``), quote, and
    the statistics of :class:`liqcore.StressResult`.

    Per scenario
        deficit (the scenario's bad debt: traders' deficits plus the fund's inventory losses
        over the path, docs/model.md; also ``bad_debt``, as for :class:`liqcore.StressResult`),
        insurance_draw, residual (what the fund could not pay), insurance_fund (after),
        liquidated_notional, fees, largest_loss and second_largest_loss (the two largest
        single-account losses: an account's deficit plus the fund's inventory losses on its
        positions), liquidated_accounts, rounds, converged; final_marks (scenarios × markets),
        deficit_by_market (scenarios × markets) and contagion (scenarios × markets × markets, as
        :attr:`ContagionResult.contagion`); waited (int64) and waited_notional, what the
        policy's rate limits left for a later round, summed over the scenario's rounds;
        funding_paid (the funding the paying sides paid over the path; zeros without
        ``funding``).
    Statistics (shared with :class:`liqcore.StressResult`)
        ``expected_deficit``, ``depletion_probability``, ``exhaustion_probability``,
        ``exceedance_probability(fund)``, ``var(q)``, ``expected_shortfall(q)``, ``lar(q)``,
        ``fund_size(r, kappa)``, ``cover1(q)`` and ``cover2(q)`` (a defaulter is an account);
        ``mean_contagion``. With one market and one-position accounts they equal those of the
        isolated stress test on the same positions.
    """

    deficit: F64
    insurance_draw: F64
    residual: F64
    insurance_fund: F64
    liquidated_notional: F64
    fees: F64
    largest_loss: F64
    second_largest_loss: F64
    liquidated_accounts: I64
    rounds: I64
    converged: npt.NDArray[np.bool_]
    final_marks: npt.NDArray[np.float64]
    deficit_by_market: npt.NDArray[np.float64]
    contagion: npt.NDArray[np.float64]
    waited: I64
    waited_notional: F64
    insurance_fund_before: float
    policy: Policy
    seed: int = 0
    steps: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    funding_paid: Optional[F64] = None

    _REPORT = "account_stress"

    @property
    def mean_contagion(self) -> npt.NDArray[np.float64]:
        """The contagion matrix averaged over the scenarios (markets × markets)."""
        return self.contagion.mean(axis=0)  # type: ignore[no-any-return]

    def summary(self, q: float = 0.99) -> dict[str, Any]:
        """Headline figures as a flat dict (VaR and ES at ``q``)."""
        markets = int(self.final_marks.shape[1])
        return self._summary(q, "liquidated_accounts", self.liquidated_accounts, markets=markets)

    def to_frame(self) -> Any:
        """One row per scenario (per-market columns ``final_mark_<m>``, ``deficit_<m>``)."""
        pd = _pandas()
        cols: dict[str, Any] = {}
        for k in (*_SCENARIO_FIELDS[:11], "waited", "waited_notional"):
            cols[k] = getattr(self, k)
        for m in range(self.final_marks.shape[1]):
            cols[f"final_mark_{m}"] = self.final_marks[:, m]
            cols[f"deficit_{m}"] = self.deficit_by_market[:, m]
        return pd.DataFrame(cols)

    def __repr__(self) -> str:
        return _repr_of(
            "AccountStressResult",
            ("scenarios", len(self), ""),
            ("markets", self.final_marks.shape[1], ""),
            ("mean_deficit", self.expected_deficit, ".6g"),
            ("exhaustion_probability", self.exhaustion_probability, ".4g"),
        )


# Per-scenario outputs of the kernel, in AccountStressResult field order (final_marks,
# deficit_by_market and contagion are per market: scenarios × markets, × markets).
_SCENARIO_FIELDS = (
    "deficit",
    "insurance_draw",
    "residual",
    "insurance_fund",
    "liquidated_notional",
    "fees",
    "largest_loss",
    "second_largest_loss",
    "liquidated_accounts",
    "rounds",
    "converged",
    "final_marks",
    "deficit_by_market",
    "contagion",
    "waited",
    "waited_notional",
)


def _real_array(name: str, x: Any) -> npt.NDArray[np.float64]:
    a = as_array(name, x)
    if a.dtype == np.bool_ or not (
        np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
    ):
        raise TypeError(f"{name} must hold real numbers (got dtype {a.dtype})")
    return np.asarray(a, dtype=np.float64)


def _first_bad(name: str, a: npt.NDArray[np.float64], ok: Any, what: str) -> None:
    bad = np.flatnonzero(~ok.reshape(-1))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), a.shape)
        where = ", ".join(str(int(i)) for i in idx)
        raise ValueError(f"{name}[{where}] must be {what} (got {float(a[idx])!r})")


def _rates(
    funding: Any, scenarios: int, steps: int, markets: Optional[int] = None
) -> Optional[npt.NDArray[np.float64]]:
    """Funding rates per step (docs/model.md §5, "Funding"), checked, in the kernel's layout:
    None (no funding: absent or all zero); for every scenario ``steps`` (isolated) or ``steps ×
    markets``; or one row per scenario (a leading ``scenarios`` axis). Isolated: a float, or
    ``steps``, or ``scenarios × steps``. Accounts (``markets`` given): a float, one per market,
    ``steps × markets`` or ``scenarios × steps × markets``."""
    if funding is None:
        return None
    if isinstance(funding, (str, bytes, dict)):
        raise TypeError(f"funding must be a real number or an array (got {type(funding).__name__})")
    a = _real_array("funding", funding)
    _first_bad("funding", a, np.isfinite(a), "finite")
    if markets is None:
        shapes = {0: (), 1: (steps,), 2: (scenarios, steps)}
        what = "a float, steps or scenarios × steps"
    else:
        shapes = {0: (), 1: (markets,), 2: (steps, markets), 3: (scenarios, steps, markets)}
        what = "a float, one per market, steps × markets or scenarios × steps × markets"
    if a.ndim not in shapes or a.shape != shapes[a.ndim]:
        raise ValueError(
            f"funding must be {what} (scenarios={scenarios}, steps={steps}"
            + ("" if markets is None else f", markets={markets}")
            + f") (got shape {a.shape})"
        )
    if not np.any(a != 0.0):
        return None
    if markets is None:
        if a.ndim == 0:
            a = np.full(steps, float(a))
    elif a.ndim <= 1:
        a = np.broadcast_to(a, (steps, markets))
    return np.ascontiguousarray(a, dtype=np.float64)


def _rows(a: Optional[npt.NDArray[np.float64]], ndim: int, first: int, count: int) -> Any:
    """The kernel's view of a per-step array for scenarios [first, first + count): the whole
    array when it is shared by every scenario (``ndim`` dimensions), else those rows."""
    if a is None:
        return None
    if a.ndim == ndim:
        return a.reshape(-1)
    return np.ascontiguousarray(a[first : first + count]).reshape(-1)


def _collateral_paths(
    paths: Any, scenarios: int, steps: int, assets: int
) -> Optional[npt.NDArray[np.float64]]:
    """The user's collateral prices (finite, > 0): ``steps × assets`` for every scenario or
    ``scenarios × steps × assets``; the price of step ``t`` is in force from step ``t``'s move."""
    if paths is None:
        return None
    if isinstance(paths, (str, bytes, dict)):
        raise TypeError(f"collateral_paths must be an array (got {type(paths).__name__})")
    a = _real_array("collateral_paths", paths)
    if a.shape not in ((steps, assets), (scenarios, steps, assets)):
        raise ValueError(
            "collateral_paths must be steps × assets or scenarios × steps × assets "
            f"(scenarios={scenarios}, steps={steps}, assets={assets}) (got shape {a.shape})"
        )
    _first_bad("collateral_paths", a, np.isfinite(a) & (a > 0.0), "finite and > 0")
    return np.ascontiguousarray(a, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class _CollateralModel:
    """Collateral prices moving with the markets (see stress_test_accounts), per asset."""

    beta: F64
    sigma: F64
    market: I64


def _collateral_model(
    beta: Any, sigma: Any, market: Any, assets: int, markets: int
) -> Optional[_CollateralModel]:
    if beta is None and sigma is None and market is None:
        return None

    def per_asset(name: str, x: Any, default: float) -> F64:
        a = _real_array(name, default if x is None else x)
        if a.ndim == 0:
            a = np.full(assets, float(a))
        if a.shape != (assets,):
            raise ValueError(
                f"{name} must be a scalar or have one value per collateral asset ({assets}) "
                f"(got shape {a.shape})"
            )
        return np.ascontiguousarray(a, dtype=np.float64)

    b = per_asset("collateral_beta", beta, 0.0)
    _first_bad("collateral_beta", b, np.isfinite(b), "finite")
    sg = per_asset("collateral_sigma", sigma, 0.0)
    _first_bad("collateral_sigma", sg, np.isfinite(sg) & (sg >= 0.0), "finite and >= 0")
    mk = per_asset("collateral_market", market, 0.0)
    _first_bad(
        "collateral_market",
        mk,
        (mk == np.round(mk)) & (mk >= 0) & (mk < markets),
        f"a market id in [0, {markets})",
    )
    if not (np.any(b != 0.0) or np.any(sg != 0.0)):
        return None
    return _CollateralModel(b, sg, np.ascontiguousarray(mk, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class _PathModel:
    """The correlated jump-diffusion per step, in the kernel's units (dt in days)."""

    mu: float
    sigma: F64  # per market
    jump_intensity: float
    jump_mean: float
    jump_std: float
    dt: float
    correlation: Optional[F64]  # markets × markets, or None: independent markets


def _path_model(
    M: int,
    steps: int,
    horizon: Any,
    mu: Any,
    sigma: Any,
    correlation: Any,
    jump_intensity: Any,
    jump_mean: Any,
    jump_std: Any,
) -> _PathModel:
    h = _real("horizon", horizon)
    if not (math.isfinite(h) and h > 0.0):
        raise ValueError(f"horizon must be finite and > 0 (got {h!r})")
    sig = _real_array("sigma", sigma)
    if sig.ndim == 0:
        sig = np.full(M, float(sig))
    if sig.shape != (M,):
        raise ValueError(
            f"sigma must be a scalar or have one value per market ({M}) (got shape {sig.shape})"
        )
    _first_bad("sigma", sig, np.isfinite(sig) & (sig >= 0.0), "finite and >= 0")
    corr: Optional[F64] = None
    if correlation is not None:
        c = _real_array("correlation", correlation)
        if c.shape != (M, M):
            raise ValueError(
                f"correlation must be markets × markets ({M} × {M}) (got shape {c.shape})"
            )
        _first_bad("correlation", c, np.isfinite(c) & (np.abs(c) <= 1.0), "finite and in [-1, 1]")
        if not np.array_equal(c, c.T) or not np.all(np.diag(c) == 1.0):
            raise ValueError("correlation must be symmetric with a unit diagonal")
        corr = np.ascontiguousarray(c).reshape(-1)  # positive semi-definite: checked by the plan
    return _PathModel(
        mu=_finite("mu", mu),
        sigma=np.ascontiguousarray(sig),
        jump_intensity=_nonnegative("jump_intensity", jump_intensity),
        jump_mean=_finite("jump_mean", jump_mean),
        jump_std=_nonnegative("jump_std", jump_std),
        dt=h / steps,
        correlation=corr,
    )


def _check_path_type(path_type: Any) -> None:
    if not isinstance(path_type, str):
        raise TypeError(
            "path_type must be a str, one of 'mark', 'return', 'log_return' "
            f"(got {type(path_type).__name__})"
        )
    check_option("path_type", path_type, PATH_TYPES)


def _move_factors(p: npt.NDArray[np.float64], path_type: str, marks: Any) -> F64:
    """Move factors (C-contiguous) from the user's paths ``p`` (scenarios × steps, or
    scenarios × steps × markets) per ``path_type``, checked; ``marks``: the prices before the
    first step (a scalar, or one per market), for "mark" paths."""
    if path_type == "mark":
        _first_bad("paths", p, np.isfinite(p) & (p > 0.0), "finite and > 0")
        first = np.broadcast_to(marks, (p.shape[0], 1, *p.shape[2:]))
        f = p / np.concatenate([first, p[:, :-1]], axis=1)
    elif path_type == "return":
        _first_bad("paths", p, np.isfinite(p) & (p > -1.0), "finite and > -1")
        f = 1.0 + p
    else:
        _first_bad("paths", p, np.isfinite(p), "finite")
        f = np.exp(p)
    bad = np.flatnonzero(~(np.isfinite(f) & (f > 0.0)).reshape(-1))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), f.shape)
        where = ", ".join(str(int(i)) for i in idx)
        raise ValueError(
            f"paths[{where}] gives a move factor that is not finite and > 0 "
            f"(got {float(f[idx])!r})"
        )
    return np.ascontiguousarray(f, dtype=np.float64)


def _factors(paths: Any, path_type: Any, marks: F64) -> npt.NDArray[np.float64]:
    """Move factors (scenarios × steps × markets, C-contiguous) from the user's paths, computed
    as :func:`liqcore.stress_test` computes them for one market."""
    _check_path_type(path_type)
    M = int(marks.shape[0])
    p = _real_array("paths", paths)
    if p.ndim != 3 or p.shape[2] != M or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(
            f"paths must be scenarios × steps × markets (markets = {M}) (got shape {p.shape})"
        )
    return _move_factors(p, path_type, marks)


@dataclass(frozen=True, eq=False)
class _ScenarioSpec:
    """What the stress specs (liqcore.stress's StressSpec and :class:`AccountStressSpec`) share:
    the cascade settings, the scenarios, the user's move factors and funding rates, and how the
    kernel's outputs of consecutive scenario chunks become the result's keywords."""

    policy: Policy
    insurance_fund: float
    resilience: float
    mark_rule: MarkRule
    max_rounds: int
    scenarios: int
    steps: int
    seed: int
    factors: Optional[npt.NDArray[np.float64]]  # per scenario, or None: the model's paths
    funding: Optional[npt.NDArray[np.float64]]  # per step [and market], or per scenario; or None

    def _factor_rows(self, first: int, count: int) -> Optional[npt.NDArray[np.float64]]:
        """The user's move factors of scenarios [first, first + count) (None: the model's)."""
        if self.factors is None:
            return None
        return np.ascontiguousarray(self.factors[first : first + count])

    def _cascade_params(self) -> dict[str, Any]:
        """The result's ``params`` that every stress test records."""
        return {
            "resilience": self.resilience,
            "mark_rule": str(self.mark_rule),
            "max_rounds": self.max_rounds,
            "user_paths": self.factors is not None,
            "funding": self.funding is not None,
        }

    def _result_args(
        self, parts: Sequence[Any], fields: Sequence[str], params: dict[str, Any]
    ) -> dict[str, Any]:
        """The result's keywords: the per-scenario outputs ``fields`` and ``funding_paid`` of
        the chunks ``parts`` joined in order (empty without chunks), the run's inputs and
        ``params``."""
        cols: dict[str, Any] = {
            k: np.concatenate([np.asarray(getattr(p, k)) for p in parts]) if parts else np.empty(0)
            for k in (*fields, "funding_paid")
        }
        return dict(
            cols,
            insurance_fund_before=self.insurance_fund,
            policy=self.policy,
            seed=self.seed,
            steps=self.steps,
            params=params,
        )


@dataclass(frozen=True, eq=False)
class AccountStressSpec(_ScenarioSpec):
    """Everything a scenario of :func:`stress_test_accounts` depends on, validated; picklable
    (for liqcore.distributed). ``plan_args``: the kernel plan's market, collateral and position
    columns (books as :class:`liqcore.Book`)."""

    plan_args: tuple[Any, ...]
    markets: int
    model: _PathModel
    # factors: scenarios × steps × markets; funding: [scenarios ×] steps × markets
    collateral_paths: Optional[npt.NDArray[np.float64]] = None  # [scenarios ×] steps × assets
    collateral_model: Optional[_CollateralModel] = None

    def plan(self) -> Any:
        """The kernel's plan (inputs copied and checked once; the correlation's Cholesky factor)."""
        a = self.plan_args
        make: Any = _core.AccountStressPlan  # plan_args: the columns in the stub's order
        return make(
            *a[:5],
            [b._b for b in a[5]],
            *a[6:],
            self.policy._to_core(),
            self.insurance_fund,
            self.resilience,
            self.mark_rule.code,
            self.max_rounds,
            self.model.correlation if self.factors is None else None,
            mark_params=self.mark_rule.params,
        )

    def run(
        self, plan: Any, first: int, count: int, threads: int
    ) -> _core.AccountStressPart:
        """Scenarios [first, first + count) with ``plan`` (from :meth:`plan`)."""
        f = self._factor_rows(first, count)
        m = self.model
        part: _core.AccountStressPart = plan.run(
            first,
            count,
            self.steps,
            m.mu,
            m.sigma,
            m.jump_intensity,
            m.jump_mean,
            m.jump_std,
            m.dt,
            self.seed,
            None if f is None else f.reshape(-1),
            threads,
            _rows(self.funding, 2, first, count),
            _rows(self.collateral_paths, 2, first, count),
            *(
                (None, None, None)
                if (cm := self.collateral_model) is None
                else (cm.beta, cm.sigma, cm.market)
            ),
        )
        return part

    def result(self, parts: Sequence[_core.AccountStressPart]) -> AccountStressResult:
        """The result from the kernel's outputs of consecutive scenario chunks, in order."""
        m = self.model
        M = self.markets
        params = self._cascade_params()
        params["collateral_paths"] = self.collateral_paths is not None
        cm = self.collateral_model
        if cm is not None:
            params.update(
                collateral_beta=cm.beta.copy(),
                collateral_sigma=cm.sigma.copy(),
                collateral_market=cm.market.copy(),
            )
        if self.factors is None:
            params.update(
                horizon=m.dt * self.steps,
                mu=m.mu,
                sigma=m.sigma.copy(),
                correlation=None if m.correlation is None else m.correlation.reshape(M, M),
                jump_intensity=m.jump_intensity,
                jump_mean=m.jump_mean,
                jump_std=m.jump_std,
            )
        args = self._result_args(parts, _SCENARIO_FIELDS, params)
        S = int(args["deficit"].shape[0])
        args["converged"] = args["converged"].view(np.bool_)
        args["final_marks"] = args["final_marks"].reshape(S, M)
        args["deficit_by_market"] = args["deficit_by_market"].reshape(S, M)
        args["contagion"] = args["contagion"].reshape(S, M, M)
        return AccountStressResult(**args)


def _account_spec(
    pf: Portfolio,
    acc: Accounts,
    mk: Markets,
    /,
    policy: Any,
    insurance_fund: Any,
    scenarios: Any,
    horizon: Any,
    *,
    steps: Any,
    mu: Any,
    sigma: Any,
    correlation: Any,
    jump_intensity: Any,
    jump_mean: Any,
    jump_std: Any,
    paths: Any,
    path_type: Any,
    resilience: Any,
    mark_rule: Any,
    max_rounds: Any,
    seed: Any,
    funding: Any = None,
    collateral_paths: Any = None,
    collateral_beta: Any = None,
    collateral_sigma: Any = None,
    collateral_market: Any = None,
) -> AccountStressSpec:
    _check_kinds(pf, acc, mk)
    policy = _policy(policy)
    fund, res, rule, rounds_cap = _cascade_settings(
        insurance_fund, resilience, mark_rule, max_rounds
    )
    M = len(mk)
    factors: Optional[npt.NDArray[np.float64]] = None
    if paths is None:
        n_sc = 1000 if scenarios is None else _int("scenarios", scenarios, 1)
        n_st = 10 if steps is None else _int("steps", steps, 1)
        _check_points(n_sc, n_st)
        model = _path_model(
            M, n_st, horizon, mu, sigma, correlation, jump_intensity, jump_mean, jump_std
        )
    else:
        factors = _factors(paths, path_type, mk._marks)
        n_sc, n_st = int(factors.shape[0]), int(factors.shape[1])
        if scenarios is not None and _int("scenarios", scenarios, 1) != n_sc:
            raise ValueError(f"scenarios ({scenarios}) does not match paths ({n_sc} rows)")
        if steps is not None and _int("steps", steps, 1) != n_st:
            raise ValueError(f"steps ({steps}) does not match paths ({n_st} columns)")
        model = _PathModel(0.0, np.zeros(M), 0.0, 0.0, 0.0, 1.0, None)
    by_book = policy.execution == "book"
    if by_book and mk._books is None:
        raise ValueError(
            "mk has no books: stress_test_accounts with execution='book' needs "
            "Markets(books=[...]) (or Policy(execution='takeover'))"
        )
    books = list(mk._books) if mk._books is not None else []  # the fund sells into them too
    K = int(acc._prices.shape[0])
    plan_args = (
        mk._marks,
        np.array([CONTRACTS.index(k) for k in mk._contract], dtype=np.int64),
        mk._contract_size,
        [mk.tiers(m)[0] for m in range(M)],
        [mk.tiers(m)[1] for m in range(M)],
        books,
        *acc._args(),
        *pf._args(),
    )
    return AccountStressSpec(
        plan_args=plan_args,
        markets=M,
        policy=policy,
        insurance_fund=fund,
        resilience=res,
        mark_rule=rule,
        max_rounds=rounds_cap,
        scenarios=n_sc,
        steps=n_st,
        model=model,
        seed=_seed(seed),
        factors=factors,
        funding=_rates(funding, n_sc, n_st, M),
        collateral_paths=_collateral_paths(collateral_paths, n_sc, n_st, K),
        collateral_model=None
        if collateral_paths is not None
        else _collateral_model(collateral_beta, collateral_sigma, collateral_market, K, M),
    )


def stress_test_accounts(
    pf: Portfolio,
    acc: Accounts,
    mk: Markets,
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
    scenarios: int | None = None,
    horizon: float = 1.0,
    *,
    steps: int | None = None,
    mu: float = 0.0,
    sigma: Any = 0.04,
    correlation: Any = None,
    jump_intensity: float = 0.1,
    jump_mean: float = -0.03,
    jump_std: float = 0.05,
    paths: Any = None,
    path_type: str = "mark",
    resilience: float = 0.0,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    funding: Any = None,
    collateral_paths: Any = None,
    collateral_beta: Any = None,
    collateral_sigma: Any = None,
    collateral_market: Any = None,
) -> AccountStressResult:
    """Run the multi-market cascade (:func:`simulate_cascade_accounts`) along correlated paths.

    Every scenario starts from the inputs and walks ``steps`` steps; at each step every market
    (mark and book) moves by its own factor, then the cascade runs until nothing new triggers
    (or ``max_rounds``); positions, books, the one shared fund and the ledger carry over from
    step to step. Scenarios run in the C++ kernel on ``threads`` threads (default None: every
    core; GIL released), in fixed chunks, each writing its own results: the results are
    bit-identical for any ``threads`` (and on a Dask cluster, :mod:`liqcore.distributed`).

    Paths: by default correlated geometric Brownian motions, time in days, with Merton jumps as
    :func:`liqcore.stress_test` (the same defaults: 0.1 jumps per day of mean log size -3% and
    standard deviation 5%; ``jump_intensity=0`` for none): the log return of market ``m`` over
    a step of ``dt = horizon/steps`` days is
    ``(mu − σ_m²/2 − λ·k)·dt + σ_m·sqrt(dt)·(L·Z)_m + Σ_{j<N} J_j``, ``Z ~ N(0, I)``, ``L``
    the Cholesky factor of ``correlation`` (markets × markets, symmetric,
    unit diagonal, positive semi-definite; default the identity), ``N ~ Poisson(λ·dt)`` and
    ``J_j ~ N(jump_mean, jump_std²)`` independent per market (``λ = jump_intensity``,
    ``k = exp(jump_mean + jump_std²/2) − 1``); ``sigma`` is the daily volatility, a scalar or one
    per market. The random numbers come from the counter-based Philox4x32-10 streams of
    :func:`liqcore.stress_test`, keyed by ``(seed, scenario, step, market)``, ``seed`` in
    ``[0, 2**64)``; market 0 draws exactly what :func:`liqcore.stress_test` draws, so one market
    with no correlation has the isolated stress test's paths (same parameters, same seed).

    Or the user's ``paths``, scenarios × steps × markets, per ``path_type``: "mark" (the
    default: the exogenous mark at the end of the step; the factor is the ratio to the previous
    one, the first to the market's mark), "return" (the factor is ``1 + r``), "log_return"
    (``exp(r)``), as :func:`liqcore.stress_test` reads them.

    Funding (docs/model.md §5, "Funding"): ``funding`` is a rate **per step**, a float for every
    market and step, one per market, ``steps × markets`` or ``scenarios × steps × markets``. At
    each step, after the move and before health is checked, the open positions of market ``m``'s
    paying side (longs when its rate is > 0) pay ``|rate| × notional`` (quote, at the step's
    mark) out of their account's collateral, and the total is credited to the accounts holding
    the other side of ``m`` pro rata to their notional (a quote balance, price 1, no haircut).
    ``AccountStressResult.funding_paid``: the total paid per scenario.

    Collateral prices (docs/model.md §6, "Collateral moves"): fixed by default. Either
    ``collateral_paths``, the prices themselves (``steps × assets`` for every scenario or
    ``scenarios × steps × assets``; step ``t``'s prices are in force from step ``t``'s move),
    or a model moving with the markets: the log move of asset ``k`` at step ``t`` is
    ``collateral_beta[k] × (log move of market collateral_market[k]) + collateral_sigma[k] ×
    sqrt(dt) × W − collateral_sigma[k]² × dt / 2`` with ``W`` a standard normal of the asset's
    own Philox block (keyed by ``(seed, scenario, step, asset)``, apart from every market's;
    bit-identical for any ``threads``); scalars apply to every asset; ``collateral_market``
    defaults to market 0. Haircuts apply to the moved prices.

    Defaults: 1,000 scenarios of 10 steps (or the shape of ``paths``). ``stress_test(pf, acc,
    mk, ...)`` is this function: the same call gives the same result. ``policy`` as
    :func:`simulate_cascade_accounts` (every sizing and residual rule). ``progress``:
    ``progress(done, total)`` after each batch of scenarios (about 50 batches; results are
    unchanged). Returns an :class:`AccountStressResult`.
    """
    spec = _account_spec(
        pf,
        acc,
        mk,
        policy,
        insurance_fund,
        scenarios,
        horizon,
        steps=steps,
        mu=mu,
        sigma=sigma,
        correlation=correlation,
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
    result: AccountStressResult = _run_spec(spec, threads, progress)
    return result


def _run_spec(spec: Any, threads: Any, progress: Any) -> Any:
    """Run a stress spec (:class:`AccountStressSpec` or liqcore.stress's) on this machine, in
    about 50 batches reporting ``progress(done, total)`` when ``progress`` is given."""
    th = _threads(threads)
    check_progress(progress)
    plan = spec.plan()
    if progress is None:
        return spec.result([spec.run(plan, 0, spec.scenarios, th)])
    batch = max(1, -(-spec.scenarios // 50))
    parts = []
    for first in range(0, spec.scenarios, batch):
        count = min(batch, spec.scenarios - first)
        parts.append(spec.run(plan, first, count, th))
        progress(first + count, spec.scenarios)
    return spec.result(parts)


MAX_PATH_POINTS = 2**30  # scenarios x steps: 8 GiB of float64 log returns, ~1e9 model steps


def _check_points(n_s: int, n_t: int) -> None:
    """Reject a run whose scenarios x steps exceeds MAX_PATH_POINTS (it would not finish or fit)."""
    if n_s * n_t > MAX_PATH_POINTS:
        raise ValueError(
            f"scenarios x steps must be <= {MAX_PATH_POINTS} (got scenarios={n_s}, steps={n_t})"
        )


def _cascade_settings(
    insurance_fund: Any, resilience: Any, mark_rule: Any, max_rounds: Any
) -> tuple[float, float, MarkRule, int]:
    """The checked fund, resilience, mark rule and round limit of a cascade."""
    fund = _real("insurance_fund", insurance_fund)
    if not (math.isfinite(fund) and fund >= 0.0):
        raise ValueError(f"insurance_fund must be finite and >= 0 (got {fund!r})")
    res = _real("resilience", resilience)
    if not 0.0 <= res <= 1.0:
        raise ValueError(f"resilience must be in [0, 1] (got {res!r})")
    rule = MarkRule.of(mark_rule)
    return fund, res, rule, _int("max_rounds", max_rounds, 0)


def _int(name: str, x: Any, minimum: int, maximum: int = MAX_COUNT) -> int:
    return _count(name, x, minimum=minimum, maximum=maximum)


def _finite(name: str, x: Any) -> float:
    v = _real(name, x)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite (got {v!r})")
    return v


def _nonnegative(name: str, x: Any) -> float:
    v = _finite(name, x)
    if v < 0.0:
        raise ValueError(f"{name} must be >= 0 (got {v!r})")
    return v
