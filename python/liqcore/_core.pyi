# Type stubs for the compiled kernel liqcore._core. Keep in step with cpp/bindings/.
from __future__ import annotations

__version__: str

# ---- ADL allocators (bind_adl.cpp) ----
import numpy as _np
import numpy.typing as _npt

def adl_queue(capacity: _npt.NDArray[_np.float64], scores: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
def adl_pro_rata(capacity: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
def adl_capped_pro_rata(capacity: _npt.NDArray[_np.float64], caps: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
def adl_risk_aware(
    capacity: _npt.NDArray[_np.float64], weights: _npt.NDArray[_np.float64], caps: _npt.NDArray[_np.float64], amount: float
) -> _npt.NDArray[_np.float64]: ...
def adl_rank(
    size: _npt.NDArray[_np.float64],
    entry_price: _npt.NDArray[_np.float64],
    margin: _npt.NDArray[_np.float64],
    mark: float,
    contract: str = "linear",
    contract_size: float = 1.0,
) -> _npt.NDArray[_np.float64]: ...
def adl_socialize(size: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...

# ---- order book (bind_book.cpp) ----
import numpy as np
import numpy.typing as npt

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_FillTuple = tuple[float, float, float, float, int, float]
_FillsTuple = tuple[_F64, _F64, _F64, _F64, _I64, _F64]

class _BookBase: ...

class Book(_BookBase):
    def __init__(self, bid_px: _F64, bid_qty: _F64, ask_px: _F64, ask_qty: _F64) -> None: ...
    @property
    def best_bid(self) -> float: ...
    @property
    def best_ask(self) -> float: ...
    @property
    def mid(self) -> float: ...
    @property
    def n_bids(self) -> int: ...
    @property
    def n_asks(self) -> int: ...
    def levels(self, side: str) -> tuple[_F64, _F64]: ...
    def sweep(self, side: str, qty: float, limit: float = ...) -> _FillTuple: ...
    def sweep_many(
        self, side: str, qtys: _F64, limits: _F64 | None = None, threads: int = ...
    ) -> _FillsTuple: ...
    def execute(self, side: str, qtys: _F64, limits: _F64 | None = None) -> _FillsTuple: ...
    def apply(self, bid_px: _F64, bid_qty: _F64, ask_px: _F64, ask_qty: _F64) -> None: ...
    def depth(self, side: str, bps: _F64) -> tuple[_F64, _F64]: ...
    def copy(self) -> Book: ...
    def __eq__(self, other: object) -> bool: ...

# ---- margin (bind_margin.cpp) ----
import numpy as np
import numpy.typing as npt

class Tiers:
    def __init__(self, floors: npt.NDArray[np.float64], mmr: npt.NDArray[np.float64]) -> None: ...
    @property
    def floors(self) -> npt.NDArray[np.float64]: ...
    @property
    def mmr(self) -> npt.NDArray[np.float64]: ...
    @property
    def cum(self) -> npt.NDArray[np.float64]: ...
    def __len__(self) -> int: ...
    def maintenance(self, notional: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def tier_of(self, notional: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]: ...

# The margin kernels' block loops: "avx2" or "baseline" (the same bits either way);
# force_baseline True forces the baseline ones for later calls, False lets the CPU choose
# (private: tests and benchmarks; LIQCORE_FORCE_BASELINE=1 at import does the same)
def _kernel_isa(force_baseline: bool | None = None) -> str: ...

# out=None: a new array; else out itself, filled (it must be a writeable, aligned, C-contiguous
# float64 array of the result's length overlapping no input: ValueError otherwise).
# flags: None, or a writeable uint8 array of 1 element: set to 1 when some result may be NaN at
# a nonzero size (an undefined result; liqcore.margin then looks for it), else 0.
def equity(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    mark: npt.NDArray[np.float64], inverse: bool, contract_size: float,
    threads: int = ..., out: npt.NDArray[np.float64] | None = None,
    flags: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.float64]: ...
def maintenance_margin(
    size: npt.NDArray[np.float64], mark: npt.NDArray[np.float64], mmr: npt.NDArray[np.float64],
    tiers: Tiers | None, inverse: bool, contract_size: float,
    threads: int = ..., out: npt.NDArray[np.float64] | None = None,
    flags: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.float64]: ...
def bankruptcy_price(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    inverse: bool, contract_size: float,
    threads: int = ..., out: npt.NDArray[np.float64] | None = None,
    flags: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.float64]: ...
def liquidation_price(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    mmr: npt.NDArray[np.float64], tiers: Tiers | None, mm_at_entry: bool, inverse: bool, contract_size: float,
    threads: int = ..., out: npt.NDArray[np.float64] | None = None,
    flags: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.float64]: ...
def margin_ratio(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    mark: npt.NDArray[np.float64], mmr: npt.NDArray[np.float64], tiers: Tiers | None, inverse: bool,
    contract_size: float,
    threads: int = ..., out: npt.NDArray[np.float64] | None = None,
    flags: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.float64]: ...

# ---- liquidation engine (bind_liquidation.cpp) ----
from collections.abc import Sequence as _Sequence
from typing import Any as _Any
from typing import Final

class _Enum:
    """A pybind11 enum: ``name``, ``value`` and the mapping ``__members__`` of name -> member."""
    __members__: dict[str, _Any]
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...

class Contract(_Enum):
    linear: Contract
    inverse: Contract

class LiquidationOrder(_Enum):
    underwater: LiquidationOrder
    largest: LiquidationOrder
    given: LiquidationOrder

class Sizing(_Enum):
    full: Sizing
    partial: Sizing
    slices: Sizing

class Execution(_Enum):
    book: Execution
    takeover: Execution

class LimitRule(_Enum):
    none: LimitRule
    bankruptcy: LimitRule
    fillable: LimitRule

class SizeRounding(_Enum):
    down: SizeRounding
    up: SizeRounding

class FeeRule(_Enum):
    capped: FeeRule
    surplus: FeeRule
    rate: FeeRule
    drift: FeeRule

class ResidualRule(_Enum):
    none: ResidualRule
    queue: ResidualRule
    pro_rata: ResidualRule
    capped_pro_rata: ResidualRule
    risk_aware: ResidualRule
    socialize: ResidualRule

class MarkRule(_Enum):
    last: MarkRule
    mid: MarkRule
    index: MarkRule
    binance: MarkRule
    hyperliquid: MarkRule

class LiquidationPolicy:
    contract: Contract
    contract_size: float
    size_step: float  # 0: no rounding
    size_rounding: SizeRounding
    order: LiquidationOrder
    sizing: Sizing
    buffer: float
    slice_threshold: float
    slice_fraction: float
    execution: Execution
    takeover_fee: float
    backstop: float  # NaN: none
    limit: LimitRule
    ba: float
    smmr: float
    fee: FeeRule
    fee_cap: float
    fee_rate: float
    reserve: float
    refuse_uncovered: bool
    price_band: float
    residual: ResidualRule
    adl_cap: float
    max_notional: float  # inf: no cap
    max_orders: int  # 0: no cap
    def __init__(self) -> None: ...
    def set_tiers(self, floors: _npt.NDArray[_np.float64], rates: _npt.NDArray[_np.float64]) -> None: ...

_U8 = _npt.NDArray[_np.uint8]

# The base of every entry point's result (results.hpp CloseOutput): arrays made once, the same
# object on each read. Per liquidation (or per position, as each result says): quantity closed,
# blended price (NaN: none), deficit, fee, the fund's draw, what it could not pay, its inventory
# loss; per position: adl (empty when the residual rule is "none" on liquidate and
# simulate_cascade); the ledger (float64 amounts, one per row) and their compensated sum.
class CloseOutput:
    closed: Final[_F64]
    vwap: Final[_F64]
    deficit: Final[_F64]
    fee: Final[_F64]
    insurance_draw: Final[_F64]
    shortfall: Final[_F64]
    inventory_loss: Final[_F64]
    adl: Final[_F64]
    ledger: Final[_F64]
    ledger_balance: Final[float]

# The totals both liquidation batches report (stub-only base: results.hpp
# bind_liquidation_totals binds them on LiquidationTotals and AccountLiquidationTotals;
# insurance_fund: the fund after).
class _BatchTotals:
    closed_notional: Final[float]
    fees: Final[float]
    deficit: Final[float]
    surplus: Final[float]
    inventory_loss: Final[float]
    inventory_gain: Final[float]
    unabsorbed: Final[float]
    bad_debt: Final[float]
    insurance_draw: Final[float]
    residual: Final[float]
    adl_transfers: Final[float]
    uncovered: Final[float]
    insurance_fund: Final[float]

# The totals of liquidate (liquidation.hpp LiquidationTotals).
class LiquidationTotals(_BatchTotals):
    liquidated: Final[int]

# What liquidate returns: "liquidated" (uint8, per position), "order" (int64, positions in
# liquidation order), the CloseOutput columns and "book_closed", "fallback_closed", "surplus"
# per liquidation in that order (adl per position), the totals and the book after the closes
# and the fund's inventory sales.
class LiquidateOutput(CloseOutput):
    liquidated: Final[_U8]
    order: Final[_I64]
    book_closed: Final[_F64]
    fallback_closed: Final[_F64]
    surplus: Final[_F64]
    totals: Final[LiquidationTotals]
    book: Final[Book]

def liquidate(
    size: _npt.NDArray[_np.float64],
    entry_price: _npt.NDArray[_np.float64],
    margin: _npt.NDArray[_np.float64],
    book: Book,
    mark: float,
    policy: LiquidationPolicy,
    fund: float,
) -> LiquidateOutput: ...

# ---- cascades (bind_cascade.cpp) ----
# The rounds of a cascade as columns (results.hpp Rounds): each read gathers a fresh array.
# (_Rounds, _CascadeTotals: stub-only bases naming what the two kinds of cascade share.)
# "waited" (int64) and "waited_notional" per round: what the policy's rate limits
# (max_notional, max_orders) left for the next round.
class _Rounds:
    notional: Final[_F64]
    deficit: Final[_F64]
    fees: Final[_F64]
    insurance_draw: Final[_F64]
    residual: Final[_F64]
    insurance_fund: Final[_F64]
    waited: Final[_I64]
    waited_notional: Final[_F64]
    adl_transfers: Final[_F64]

class CascadeRounds(_Rounds):
    mark_before: Final[_F64]
    mark: Final[_F64]  # after the round
    liquidated: Final[_I64]
    inventory_loss: Final[_F64]
    unabsorbed: Final[_F64]
    bad_debt: Final[_F64]

# The sums of a cascade, single- or multi-market (cascade.hpp CascadeTotals; waited,
# waited_notional: the sums of the rounds').
class _CascadeTotals:
    waited: Final[int]
    waited_notional: Final[float]
    notional: Final[float]
    deficit: Final[float]
    surplus: Final[float]
    fees: Final[float]
    inventory_loss: Final[float]
    bad_debt: Final[float]
    insurance_draw: Final[float]
    residual: Final[float]
    adl_transfers: Final[float]
    insurance_fund: Final[float]  # the fund after

# The totals of simulate_cascade: the sums, the inventory the fund still held at the end
# (end_*), the marks and whether it converged.
class CascadeRunTotals(_CascadeTotals):
    liquidations: Final[int]
    rounds: Final[int]
    inventory_gain: Final[float]
    unabsorbed: Final[float]
    end_held: Final[float]
    end_unabsorbed: Final[float]
    end_inventory_loss: Final[float]
    end_insurance_draw: Final[float]
    end_residual: Final[float]
    end_adl_transfers: Final[float]
    shocked_mark: Final[float]
    final_mark: Final[float]
    converged: Final[bool]

# What simulate_cascade returns: the rounds, the CloseOutput columns and "position" (int64),
# "round" (int64, the first round it was liquidated in), "surplus" per liquidated position in
# the order of their first liquidation (adl per position), the totals and the book after.
class CascadeOutput(CloseOutput):
    trace: Final[CascadeRounds]
    position: Final[_I64]
    round: Final[_I64]
    surplus: Final[_F64]
    totals: Final[CascadeRunTotals]
    book: Final[Book]

def simulate_cascade(
    size: _npt.NDArray[_np.float64],
    entry_price: _npt.NDArray[_np.float64],
    margin: _npt.NDArray[_np.float64],
    book: Book,
    mark: float,
    shock: float,
    policy: LiquidationPolicy,
    fund: float,
    resilience: float,
    mark_rule: int,  # MarkRule's value
    max_rounds: int,
    # w, funding_basis, ma_basis, basis_half_life, cap, cap_half_life; empty: the defaults
    mark_params: _Sequence[float] = ...,
) -> CascadeOutput: ...

# ---- stress tests (bind_stress.cpp) ----
# The per-scenario columns both stress runners' chunks have (stub-only base of StressPart and
# AccountStressPart).
class _ScenarioColumns:
    deficit: Final[_F64]
    insurance_draw: Final[_F64]
    residual: Final[_F64]
    insurance_fund: Final[_F64]
    liquidated_notional: Final[_F64]
    fees: Final[_F64]
    largest_loss: Final[_F64]
    second_largest_loss: Final[_F64]
    rounds: Final[_I64]
    converged: Final[_U8]
    waited: Final[_I64]
    waited_notional: Final[_F64]
    funding_paid: Final[_F64]

# A chunk of StressPlan.run's per-scenario columns (float64 but "liquidations", "rounds",
# "waited": int64, "converged": uint8); picklable (liqcore.distributed sends it back from workers).
class StressPart(_ScenarioColumns):
    final_mark: Final[_F64]
    min_mark: Final[_F64]
    max_mark: Final[_F64]
    liquidations: Final[_I64]

class StressPlan:
    def __init__(
        self,
        size: _npt.NDArray[_np.float64],
        entry_price: _npt.NDArray[_np.float64],
        margin: _npt.NDArray[_np.float64],
        book: Book,
        policy: LiquidationPolicy,
        mark: float,
        fund: float,
        resilience: float,
        mark_rule: int,
        max_rounds: int,
        mark_params: _Sequence[float] = ...,  # as simulate_cascade's
    ) -> None: ...
    @property
    def positions(self) -> int: ...
    # Per-scenario columns of scenarios [first, first + count) (funding_paid, and "waited",
    # "waited_notional": what the rate limits left for a later round, among them);
    # factors: count x steps or None; funding: rates per step, steps (every scenario) or
    # count x steps (flat), or None.
    def run(
        self,
        first: int,
        count: int,
        steps: int,
        mu: float,
        sigma: float,
        intensity: float,
        jump_mean: float,
        jump_std: float,
        dt: float,
        seed: int,
        factors: _npt.NDArray[_np.float64] | None,
        threads: int,
        funding: _npt.NDArray[_np.float64] | None = None,
    ) -> StressPart: ...

def stress_log_returns(
    seed: int, first: int, count: int, steps: int, mu: float, sigma: float, intensity: float,
    jump_mean: float, jump_std: float, dt: float,
) -> _npt.NDArray[_np.float64]: ...
def philox4x32(counter: list[int], key: list[int]) -> list[int]: ...

# ---- cross margin (bind_cross_margin.cpp) ----
class CrossMarkets:
    def __init__(
        self,
        marks: _F64,
        contract: _I64,
        contract_size: _F64,
        floors: list[_F64],
        rates: list[_F64],
    ) -> None: ...
    @property
    def n(self) -> int: ...

# What cross_health returns: per-account arrays.
class HealthOutput:
    collateral: Final[_F64]
    equity: Final[_F64]
    maintenance: Final[_F64]
    notional: Final[_F64]
    margin_ratio: Final[_F64]
    distance: Final[_F64]
    liquidatable: Final[_U8]

def cross_health(
    markets: CrossMarkets,
    collateral: _F64,
    asset_prices: _F64,
    haircuts: _F64,
    size_discount: _F64,
    account: _I64,
    market: _I64,
    size: _F64,
    entry_price: _F64,
) -> HealthOutput: ...
def slice_bankruptcy_prices(
    markets: CrossMarkets,
    collateral: _F64,
    asset_prices: _F64,
    haircuts: _F64,
    size_discount: _F64,
    account: _I64,
    market: _I64,
    size: _F64,
    entry_price: _F64,
    positions: _I64,
    deltas: _F64,
) -> _F64: ...
def fillable_prices(
    markets: CrossMarkets,
    collateral: _F64,
    asset_prices: _F64,
    haircuts: _F64,
    size_discount: _F64,
    account: _I64,
    market: _I64,
    size: _F64,
    entry_price: _F64,
    positions: _I64,
    ba: float,
    smmr: float,
) -> _F64: ...

# The per-account columns of liquidate_accounts ("liquidated" uint8, "sequence" int64: the
# order of the account's liquidation, -1 if none).
class AccountColumns:
    liquidated: Final[_U8]
    sequence: Final[_I64]
    equity: Final[_F64]
    maintenance: Final[_F64]
    equity_market: Final[_F64]
    equity_after: Final[_F64]
    deficit: Final[_F64]
    surplus: Final[_F64]
    fee: Final[_F64]
    insurance_draw: Final[_F64]
    shortfall: Final[_F64]
    closed_notional: Final[_F64]

# The per-market columns of liquidate_accounts.
class MarketColumns:
    closed_notional: Final[_F64]
    deficit: Final[_F64]
    residual: Final[_F64]
    adl_transfers: Final[_F64]
    uncovered: Final[_F64]
    inventory_loss: Final[_F64]

# The totals of liquidate_accounts (account_liquidation.hpp AccountLiquidationTotals).
class AccountLiquidationTotals(_BatchTotals):
    accounts: Final[int]
    positions: Final[int]

# What liquidate_accounts returns: per position the CloseOutput columns and "liquidated"
# (uint8), "sequence" (int64), "book_closed", "fallback_closed", "bankruptcy_price", "result";
# the per-account and per-market columns, the totals and "books" (list of Book, one per
# market; empty when no books are given).
class LiquidateAccountsOutput(CloseOutput):
    liquidated: Final[_U8]
    sequence: Final[_I64]
    book_closed: Final[_F64]
    fallback_closed: Final[_F64]
    bankruptcy_price: Final[_F64]
    result: Final[_F64]
    accounts: Final[AccountColumns]
    markets: Final[MarketColumns]
    totals: Final[AccountLiquidationTotals]
    books: Final[list[Book]]

def liquidate_accounts(
    markets: CrossMarkets,
    books: list[Book],
    collateral: _F64,
    asset_prices: _F64,
    haircuts: _F64,
    size_discount: _F64,
    account: _I64,
    market: _I64,
    size: _F64,
    entry_price: _F64,
    policy: LiquidationPolicy,
    fund: float,
) -> LiquidateAccountsOutput: ...

# --- multi-market cascades (contagion.hpp) ---
# The rounds of simulate_contagion (each read gathers a fresh array): marks_before,
# marks_after, deficit_by_market: rounds x markets; accounts, positions (int64): newly
# liquidated in the round.
class ContagionRounds(_Rounds):
    marks_before: Final[_F64]
    marks_after: Final[_F64]
    deficit_by_market: Final[_F64]
    accounts: Final[_I64]
    positions: Final[_I64]

# The per-account columns of simulate_contagion (round, trigger, origin: int64, -1: never /
# unattributed).
class ContagionAccountColumns:
    round: Final[_I64]
    trigger: Final[_I64]
    origin: Final[_I64]
    equity: Final[_F64]
    maintenance: Final[_F64]
    equity_after: Final[_F64]
    deficit: Final[_F64]
    fee: Final[_F64]
    insurance_draw: Final[_F64]
    shortfall: Final[_F64]

# The per-market columns of simulate_contagion.
class ContagionMarketColumns:
    deficit: Final[_F64]
    closed_notional: Final[_F64]
    residual: Final[_F64]
    unattributed: Final[_F64]

# The totals of simulate_contagion (the sums over the rounds; insurance_fund: the fund after).
class ContagionTotals(_CascadeTotals): ...

# What simulate_contagion returns: the rounds, the marks per market, whether it converged, per
# position the CloseOutput columns and "round" (int64, -1: never), "book_closed",
# "fallback_closed"; the per-account and per-market columns, "contagion" (markets x markets,
# row: origin, column: where realised), the totals and "books" (one per market after).
class ContagionOutput(CloseOutput):
    trace: Final[ContagionRounds]
    initial_marks: Final[_F64]
    shocked_marks: Final[_F64]
    final_marks: Final[_F64]
    converged: Final[bool]
    round: Final[_I64]
    book_closed: Final[_F64]
    fallback_closed: Final[_F64]
    accounts: Final[ContagionAccountColumns]
    markets: Final[ContagionMarketColumns]
    contagion: Final[_F64]
    totals: Final[ContagionTotals]
    books: Final[list[Book]]

def simulate_contagion(
    marks: _F64,
    contract: _I64,
    contract_size: _F64,
    floors: list[_F64],
    rates: list[_F64],
    books: list[Book],
    collateral: _F64,
    asset_prices: _F64,
    haircuts: _F64,
    size_discount: _F64,
    account: _I64,
    market: _I64,
    size: _F64,
    entry_price: _F64,
    shocks: _F64,
    policy: LiquidationPolicy,
    fund: float,
    resilience: float,
    mark_rule: int,
    max_rounds: int,
    collateral_shock: _F64 | None = None,  # one relative move per asset, with the first step
    mark_params: _Sequence[float] = ...,  # as simulate_cascade's
) -> ContagionOutput: ...
# The multi-market stress test's plan (contagion.hpp AccountStressPlan): inputs copied and
# checked once; correlation: markets x markets (row-major) or None (independent markets),
# positive semi-definite (its Cholesky factor is computed once).
# A chunk of AccountStressPlan.run's per-scenario columns (float64 but "liquidated_accounts",
# "rounds", "waited": int64, "converged": uint8; final_marks, deficit_by_market: count x
# markets flat; contagion: count x markets x markets flat); picklable (liqcore.distributed).
class AccountStressPart(_ScenarioColumns):
    liquidated_accounts: Final[_I64]
    final_marks: Final[_F64]
    deficit_by_market: Final[_F64]
    contagion: Final[_F64]

class AccountStressPlan:
    def __init__(
        self,
        marks: _F64,
        contract: _I64,
        contract_size: _F64,
        floors: list[_F64],
        rates: list[_F64],
        books: list[Book],
        collateral: _F64,
        asset_prices: _F64,
        haircuts: _F64,
        size_discount: _F64,
        account: _I64,
        market: _I64,
        size: _F64,
        entry_price: _F64,
        policy: LiquidationPolicy,
        fund: float,
        resilience: float,
        mark_rule: int,
        max_rounds: int,
        correlation: _F64 | None,
        mark_params: _Sequence[float] = ...,  # as simulate_cascade's
    ) -> None: ...
    @property
    def markets(self) -> int: ...
    @property
    def cholesky(self) -> _npt.NDArray[_np.float64]: ...
    # Per-scenario columns of scenarios [first, first + count) (AccountStressPart); sigma: one per market;
    # factors: count x steps x markets (flat) or None (model paths); threads 0: every core;
    # funding: steps x markets or count x steps x markets rates per step (flat), or None;
    # collateral_paths: steps x assets or count x steps x assets prices (flat), or None;
    # collateral_beta, collateral_sigma (one per asset), collateral_market (int64, one per
    # asset): the collateral model when no collateral_paths (None: prices fixed).
    def run(
        self,
        first: int,
        count: int,
        steps: int,
        mu: float,
        sigma: _F64,
        intensity: float,
        jump_mean: float,
        jump_std: float,
        dt: float,
        seed: int,
        factors: _F64 | None,
        threads: int,
        funding: _F64 | None = None,
        collateral_paths: _F64 | None = None,
        collateral_beta: _F64 | None = None,
        collateral_sigma: _F64 | None = None,
        collateral_market: _I64 | None = None,
    ) -> AccountStressPart: ...

# ---- memory: the cache of freed large blocks (bind_memory.cpp) ----
def release_memory() -> int: ...
def held_memory() -> int: ...

_caches_blocks: bool  # private (tests): False off Linux and in sanitizer builds
