"""Order books and margin tiers from ccxt's unified structures (no dependency on ccxt itself).

* **Order book** (``exchange.fetch_order_book(symbol)``): ``{"bids": [[price, amount], ...],
  "asks": [[price, amount], ...], "timestamp": ..., "datetime": ..., "nonce": ..., "symbol":
  ...}``, bids best (highest) first, asks best (lowest) first. Entries may carry more than two
  elements (e.g. an order count); only the first two are read. Prices and amounts must be
  finite and > 0, each side strictly ordered, and the book not crossed.
* **Leverage tiers** (``exchange.fetch_market_leverage_tiers(symbol)``, or the dict of lists by
  symbol that ``fetch_leverage_tiers()`` returns): ``[{"tier": 1, "currency": "USDT",
  "minNotional": 0, "maxNotional": 50000, "maintenanceMarginRate": 0.004, "maxLeverage": 125,
  "info": {...}}, ...]``. Each tier's ``minNotional`` and ``maintenanceMarginRate`` become a
  :class:`liqcore.MarginTiers` tier; tiers must be contiguous (each ``minNotional`` equal to the
  previous ``maxNotional``) and start at 0. When every tier's raw ``info`` carries Binance's
  ``cum``, the derived maintenance amounts are checked against it as in
  :func:`liqcore.io.tiers_from_binance_brackets`.

Units: as ccxt reports them (prices in quote per base, amounts in base units or contracts,
notional in the settlement currency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liqcore.book import Book
from liqcore.leverage_brackets import check_contiguous, check_cum, field, number
from liqcore.margin import MarginTiers

__all__ = ["book_from_ccxt", "tiers_from_ccxt"]


def _side(levels: Any, name: str, *, bid: bool) -> tuple[Any, Any]:
    where = f"order_book[{name!r}]"
    if not isinstance(levels, Sequence) or isinstance(levels, (str, bytes)):
        raise TypeError(f"{where} must be a list of [price, amount] entries "
                        f"(got {type(levels).__name__})")
    px = np.empty(len(levels), dtype=np.float64)
    qty = np.empty(len(levels), dtype=np.float64)
    for i, lv in enumerate(levels):
        if not isinstance(lv, Sequence) or isinstance(lv, (str, bytes)) or len(lv) < 2:
            raise ValueError(f"{where}[{i}] must be a [price, amount] entry (got {lv!r})")
        px[i] = number(f"{where}[{i}] price", lv[0], positive=True)
        qty[i] = number(f"{where}[{i}] amount", lv[1], positive=True)
        if i and not (px[i] < px[i - 1] if bid else px[i] > px[i - 1]):
            order = "below" if bid else "above"
            raise ValueError(
                f"{where}[{i}] price must be strictly {order} the previous level's "
                f"{float(px[i - 1])!r} (got {lv[0]!r})"
            )
    return px, qty


def book_from_ccxt(order_book: Any) -> Book:
    """A :class:`liqcore.Book` from a ccxt order book (see the module docstring)."""
    if not isinstance(order_book, Mapping):
        raise TypeError(
            f"order_book must be a ccxt order book dict (got {type(order_book).__name__})"
        )
    for key in ("bids", "asks"):
        if key not in order_book:
            raise ValueError(f"order_book has no {key!r} (a ccxt order book has 'bids' and 'asks')")
    bp, bq = _side(order_book["bids"], "bids", bid=True)
    ap, aq = _side(order_book["asks"], "asks", bid=False)
    if bp.size and ap.size and not bp[0] < ap[0]:
        raise ValueError(
            f"order_book is crossed: best bid {float(bp[0])!r} >= best ask {float(ap[0])!r}"
        )
    return Book(bp, bq, ap, aq)


def tiers_from_ccxt(leverage_tiers: Any, symbol: str | None = None) -> MarginTiers:
    """A :class:`liqcore.MarginTiers` from ccxt leverage tiers (a list of tier dicts, or the
    dict of such lists by symbol, where ``symbol`` picks one when there are several)."""
    tiers = leverage_tiers
    if symbol is not None and not isinstance(symbol, str):
        raise TypeError(f"symbol must be a str or None (got {type(symbol).__name__})")
    if isinstance(tiers, Mapping):
        if symbol is None:
            if len(tiers) != 1:
                shown = ", ".join(map(repr, list(tiers)[:5]))
                raise ValueError(
                    f"leverage_tiers holds {len(tiers)} symbols ({shown}): pass symbol= to "
                    "choose one"
                )
            symbol = next(iter(tiers))
        if symbol not in tiers:
            raise ValueError(f"symbol {symbol!r} is not in leverage_tiers")
        tiers = tiers[symbol]
    if not isinstance(tiers, Sequence) or isinstance(tiers, (str, bytes)):
        raise TypeError(
            "leverage_tiers must be a list of ccxt tier dicts or a dict of such lists by symbol "
            f"(got {type(tiers).__name__})"
        )
    if not tiers:
        raise ValueError("leverage_tiers is empty")
    names = [f"leverage_tiers[{k}]" for k in range(len(tiers))]
    floors = np.array([
        number(f"{n}['minNotional']", field(n, t, "minNotional")) for n, t in zip(names, tiers)
    ])
    caps = np.array([
        number(f"{n}['maxNotional']", field(n, t, "maxNotional"), positive=True)
        for n, t in zip(names, tiers)
    ])
    mmr = np.array([
        number(f"{n}['maintenanceMarginRate']", field(n, t, "maintenanceMarginRate"))
        for n, t in zip(names, tiers)
    ])
    if floors[0] != 0.0:
        raise ValueError(f"{names[0]}['minNotional'] must be 0 (got {float(floors[0])!r})")
    check_contiguous([f"{n}['minNotional']" for n in names], floors, caps, "maxNotional")
    try:
        out = MarginTiers(floors, mmr)
    except ValueError as e:
        raise ValueError(f"leverage_tiers: {e}") from None
    infos = [t.get("info") for t in tiers]
    if all(isinstance(i, Mapping) and i.get("cum") is not None for i in infos):
        cum = [number(f"{n}['info']['cum']", i["cum"]) for n, i in zip(names, infos)]
        check_cum([f"{n}['info']" for n in names], out, cum)
    return out
