"""The L2 order book of one market (placeholder: extended by the order-book work)."""

from __future__ import annotations

from typing import Any

from liqcore import _core
from liqcore._arrays import as_f64


class Book:
    """An L2 order book: bids strictly descending, asks strictly ascending, not crossed."""

    __slots__ = ("_b",)

    def __init__(self, bid_px: Any, bid_qty: Any, ask_px: Any, ask_qty: Any) -> None:
        self._b = _core.Book(
            as_f64("bid_px", bid_px), as_f64("bid_qty", bid_qty),
            as_f64("ask_px", ask_px), as_f64("ask_qty", ask_qty),
        )
