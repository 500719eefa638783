"""liqcore: a fast liquidation-risk engine.

Margin math, L2 order-book liquidation, deficits, the insurance-fund waterfall, ADL and
socialized loss, cascades and stress tests, over NumPy arrays, in a C++ kernel.
"""

from __future__ import annotations

from liqcore import _core
from liqcore.margin import (
    MarginTiers,
    bankruptcy_price,
    equity,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
)

__version__: str = _core.__version__

__all__ = ["__version__"]
__all__ += [
    "MarginTiers",
    "bankruptcy_price",
    "equity",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
]
