"""The embedded default market of ``liqcore demo``: a BTC-like book and a position population.

Everything is deterministic in ``seed``. The numbers are illustrative, chosen to look like a
large perpetual venue, not calibrated to one:

- the book: :func:`liqcore.synthetic.synthetic_book` around 60,000 (5,000 levels a side,
  shaped like Binance BTCUSDT's depth);
- 100,000 isolated positions, 55% long: notional log-normal (median $5,000, heavy right tail,
  $50 to $5M), leverage log-normal (median 10x, most between 5x and 25x, clipped to 2x-100x),
  entry prices log-normal around the mid (2% dispersion); positions already liquidatable at the
  current mark are left out (a live venue would have closed them). Drawn by
  :func:`liqcore.synthetic_positions` with these parameters;
- a shock of -5% to the mark, the whole book moving with it.
"""

from __future__ import annotations

import numpy as np

from liqcore.book import Book
from liqcore.population import LogNormal, synthetic_positions
from liqcore.positions import Positions
from liqcore.synthetic import synthetic_book

__all__ = ["DEFAULT_FUND", "DEFAULT_RESILIENCE", "default_market", "shifted_book"]

MID = 60_000.0
SHOCK = -0.05
N_POSITIONS = 100_000
DEFAULT_FUND = 2_000_000.0  # the demo's insurance fund, quote
# Between cascade rounds half of the consumed depth returns on the embedded market: a liquid
# perpetual's makers refill the book. With 0 the whole 5,000-level side can be eaten and a -5%
# shock ends near -50%, which no large venue shows.
DEFAULT_RESILIENCE = 0.5


def default_market(seed: int = 0, n: int = N_POSITIONS) -> tuple[Positions, Book, float, float]:
    """``(positions, book, mark, shock)``: the demo market before the shock.

    ``mark`` is the book's mid (60,000); ``shock`` the relative move to apply (-0.05). Every
    position is healthy at ``mark`` under a 0.5% maintenance rate (``Policy()``'s default).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int (got {type(seed).__name__})")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0 (got {n!r})")
    book = synthetic_book(MID, levels=5_000, seed=int(seed))
    mark = book.mid
    pos = synthetic_positions(
        int(n),
        mark=mark,
        long_fraction=0.55,
        notional=LogNormal(5_000.0, 1.5, low=50.0, high=5e6),
        leverage=LogNormal(10.0, 0.55, low=2.0, high=100.0),
        entry_dispersion=0.02,
        mmr=0.005,
        seed=int(seed),
    )
    return pos, book, mark, SHOCK


def shifted_book(book: Book, factor: float) -> Book:
    """The book with every price multiplied by ``factor`` (> 0) and the same quantities: the
    whole book moving with a shock of ``factor - 1``."""
    if not (isinstance(factor, (int, float)) and factor > 0 and np.isfinite(factor)):
        raise ValueError(f"factor must be finite and > 0 (got {factor!r})")
    (bp, bq), (ap, aq) = book.bids, book.asks
    return Book(bp * factor, bq, ap * factor, aq)
