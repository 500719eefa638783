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
    def sweep_many(self, side: str, qtys: _F64, limits: _F64 | None = None) -> _FillsTuple: ...
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

# Returns "liquidated" (uint8, per position), "order" (int64, positions in liquidation order),
# per-liquidation float64 arrays in that order ("closed", "book_closed", "fallback_closed",
# "vwap", "deficit", "surplus", "fee", "insurance_draw", "shortfall", "inventory_loss"),
# per-position "adl" (empty when the residual rule is "none"), "totals" (dict, with "bad_debt",
# "inventory_loss", "inventory_gain", "unabsorbed"), "ledger" (float64 amounts),
# "ledger_balance" and "book" (the book after the closes and the fund's inventory sales).
def liquidate(
    size: _npt.NDArray[_np.float64],
    entry_price: _npt.NDArray[_np.float64],
    margin: _npt.NDArray[_np.float64],
    book: Book,
    mark: float,
    policy: LiquidationPolicy,
    fund: float,
) -> dict[str, _Any]: ...

# ---- cascades (bind_cascade.cpp) ----
# Returns "trace" (dict of per-round arrays), per-position arrays ("round" int64, the rest
# float64), "totals" (dict), "ledger" (float64 amounts), "ledger_balance", "book" (a Book).
# The trace's "waited" (int64) and "waited_notional" per round, and the totals' sums of them:
# what the policy's rate limits (max_notional, max_orders) left for the next round.
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
) -> dict[str, _Any]: ...

# ---- stress tests (bind_stress.cpp) ----
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
    # Per-scenario arrays of scenarios [first, first + count) (funding_paid, and "waited",
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
    ) -> dict[str, _Any]: ...

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

# Returns per-account arrays: collateral, equity, maintenance, notional, margin_ratio, distance
# (float64) and liquidatable (uint8).
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
) -> dict[str, _Any]: ...
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

# Returns per-position arrays, "accounts" and "markets" (dicts of arrays), "totals", "ledger",
# "ledger_balance" and "books" (list of Book, one per market; empty when no books are given).
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
) -> dict[str, _Any]: ...

# --- multi-market cascades (contagion.hpp) ---
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
) -> dict[str, _Any]: ...
# The multi-market stress test's plan (contagion.hpp AccountStressPlan): inputs copied and
# checked once; correlation: markets x markets (row-major) or None (independent markets),
# positive semi-definite (its Cholesky factor is computed once).
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
    # Per-scenario arrays of scenarios [first, first + count) (final_marks, deficit_by_market:
    # count x markets flat; contagion: count x markets x markets flat); sigma: one per market;
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
    ) -> dict[str, _Any]: ...
