"""liqcore: a fast liquidation-risk engine.

Margin math, L2 order-book liquidation, deficits, the insurance-fund waterfall, ADL and
socialized loss, cascades and stress tests, over NumPy arrays, in a C++ kernel.
"""

from __future__ import annotations

from liqcore import _core
from liqcore import adl as adl
from liqcore import io as io
from liqcore.book import Book, Fill, Fills
from liqcore.margin import (
    MarginTiers,
    bankruptcy_price,
    equity,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
)
from liqcore.synthetic import synthetic_book

__version__: str = _core.__version__

__all__ = ["__version__", "adl", "io", "synthetic_book"]
__all__ += ["Book", "Fill", "Fills"]
__all__ += [
    "MarginTiers",
    "bankruptcy_price",
    "equity",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
]

# --- liquidation engine (positions, policy, liquidate) ---
from liqcore.liquidation import Ledger, LiquidationResult, Liquidations, liquidate
from liqcore.policy import Policy
from liqcore.positions import Positions

__all__ += ["Ledger", "LiquidationResult", "Liquidations", "Policy", "Positions", "liquidate"]

# --- cascades and stress tests (simulate_cascade, stress_test, buffer_sweep) ---
from liqcore.cascade import CascadeResult, CascadeTrace, simulate_cascade

__all__ += ["CascadeResult", "CascadeTrace", "simulate_cascade"]
from liqcore.stress import StressResult, buffer_sweep, stress_log_returns, stress_test

__all__ += ["StressResult", "buffer_sweep", "stress_log_returns", "stress_test"]

# --- cross margin (markets, accounts, health, slice rules, account-wide liquidation) ---
from liqcore.account_liquidation import AccountLiquidationResult, liquidate_accounts
from liqcore.cross_margin import (
    Accounts,
    Health,
    Markets,
    Portfolio,
    fillable_price,
    health,
    slice_bankruptcy_price,
)

__all__ += ["AccountLiquidationResult", "Accounts", "Health", "Markets", "Portfolio", "fillable_price", "health",
            "liquidate_accounts", "slice_bankruptcy_price"]

# --- multi-market cascades and contagion (simulate_cascade_accounts) ---
from liqcore.contagion import (
    AccountStressResult,
    ContagionResult,
    simulate_cascade_accounts,
    stress_test_accounts,
)

__all__ += [
    "AccountStressResult",
    "ContagionResult",
    "simulate_cascade_accounts",
    "stress_test_accounts",
]
