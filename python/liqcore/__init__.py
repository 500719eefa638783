"""liqcore: a fast liquidation-risk engine.

Margin math, L2 order-book liquidation, deficits, the insurance-fund waterfall, ADL and
socialized loss, cascades and stress tests, over NumPy arrays, in a C++ kernel.
"""

from __future__ import annotations

from liqcore import _core

__version__: str = _core.__version__

__all__ = ["__version__"]

# --- io and synthetic books (feed loaders, synthetic_book) ---
from liqcore import io
from liqcore.synthetic import synthetic_book

__all__ += ["io", "synthetic_book"]

# --- order book (Book, Fill, Fills) ---
from liqcore.book import Book, Fill, Fills

__all__ += ["Book", "Fill", "Fills"]
