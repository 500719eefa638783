"""liqcore: a fast liquidation-risk engine.

Margin math, L2 order-book liquidation, deficits, the insurance-fund waterfall, ADL and
socialized loss, cascades and stress tests, cross-margin accounts, over NumPy arrays, in a C++
kernel. See the README for a tour and ``liqcore --help`` for the command line.
"""

from __future__ import annotations

from liqcore import _core
from liqcore import adl as adl
from liqcore import fees as fees
from liqcore import io as io
from liqcore import population as population
from liqcore.account_engine import AccountEngine
from liqcore.account_liquidation import AccountLiquidationResult, liquidate_accounts
from liqcore.book import Book, Fill, Fills
from liqcore.cascade import CascadeResult, CascadeTrace, simulate_cascade
from liqcore.contagion import (
    AccountStressResult,
    ContagionResult,
    simulate_cascade_accounts,
    stress_test_accounts,
)
from liqcore.cross_margin import (
    Accounts,
    Health,
    Markets,
    Portfolio,
    fillable_price,
    health,
    slice_bankruptcy_price,
)
from liqcore.deficit_curve import DeficitCurve, deficit_curve
from liqcore.engine import Engine, MarkRun
from liqcore.fees import drift_if_fee, drift_liquidator_fee
from liqcore.liquidation import Ledger, LiquidationResult, Liquidations, liquidate
from liqcore.liquidation_map import LiquidationMap, liquidation_map
from liqcore.margin import (
    MarginTiers,
    bankruptcy_price,
    equity,
    initial_margin,
    initial_margin_fraction,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
)
from liqcore.mark_rule import MarkRule
from liqcore.memory import held_memory, release_memory
from liqcore.policy import Policy
from liqcore.population import calibrate_positions, synthetic_positions
from liqcore.positions import Positions
from liqcore.replay import ReplayResult, replay
from liqcore.stress import StressResult, buffer_sweep, stress_log_returns, stress_test
from liqcore.synthetic import synthetic_book

__version__: str = _core.__version__

__all__ = [
    "AccountEngine",
    "AccountLiquidationResult",
    "AccountStressResult",
    "Accounts",
    "Book",
    "CascadeResult",
    "CascadeTrace",
    "ContagionResult",
    "DeficitCurve",
    "Engine",
    "Fill",
    "Fills",
    "Health",
    "Ledger",
    "LiquidationMap",
    "LiquidationResult",
    "Liquidations",
    "MarginTiers",
    "MarkRule",
    "MarkRun",
    "Markets",
    "Policy",
    "Portfolio",
    "Positions",
    "ReplayResult",
    "StressResult",
    "__version__",
    "adl",
    "bankruptcy_price",
    "buffer_sweep",
    "calibrate_positions",
    "deficit_curve",
    "drift_if_fee",
    "drift_liquidator_fee",
    "equity",
    "fillable_price",
    "health",
    "held_memory",
    "initial_margin",
    "initial_margin_fraction",
    "io",
    "liquidate",
    "liquidate_accounts",
    "liquidation_map",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
    "population",
    "release_memory",
    "replay",
    "simulate_cascade",
    "simulate_cascade_accounts",
    "slice_bankruptcy_price",
    "stress_log_returns",
    "stress_test",
    "stress_test_accounts",
    "synthetic_book",
    "synthetic_positions",
]
