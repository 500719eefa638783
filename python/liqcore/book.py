"""The L2 order book of one market (docs/model.md §2).

Units: prices in quote per base, quantities in base units (always > 0 on the book), notional in
quote. Bids are kept strictly descending, asks strictly ascending, and the book is never crossed
(best bid < best ask).

A *taker* order has a side: ``"sell"`` walks the bids from the best (highest) price down,
``"buy"`` walks the asks from the best (lowest) price up. An optional limit price stops the
walk: a sell fills only at bid prices ``>= limit``, a buy only at ask prices ``<= limit``
(``None`` or NaN: no limit). What the side cannot take is reported as ``unfilled``.

Independent what-if orders (:meth:`Book.sweep`, :meth:`Book.sweep_many`) leave the book
unchanged and are answered from prefix sums of quantity and notional (O(1) expected per order);
sequential orders (:meth:`Book.execute`) consume it. The two agree up to floating-point
rounding. Book *sides* in :meth:`Book.apply`, :meth:`Book.depth` are named ``"bid"``/``"ask"``.

Thread safety: every call releases the GIL; a Book may be read (sweeps, depth, accessors) from
several threads while another thread mutates it (:meth:`Book.apply`, :meth:`Book.execute`).
Each call sees the book either entirely before or entirely after a concurrent mutation (a
reader-writer lock guards it in the compiled layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Union

import numpy as np

from liqcore import _core
from liqcore._arrays import (
    F64,
    I64,
    as_array,
    as_f64,
    broadcast,
    check_option,
    common_length,
    first_bad,
    pandas,
)
from liqcore._arrays import threads as _threads
from liqcore.result import Rows

__all__ = ["Book", "BookArrays", "Fill", "Fills"]

_TAKER_SIDES = ("buy", "sell")
_BOOK_SIDES = ("bid", "ask")


@dataclass(frozen=True)
class Fill:
    """Outcome of one market order.

    filled: base quantity filled (>= 0); notional: quote paid (buy) or received (sell);
    vwap: notional / filled, NaN when nothing filled; worst: last (worst) price touched, NaN when
    nothing filled; levels: number of levels touched, a partially taken level included;
    unfilled: quantity the side could not take (at an acceptable price), so
    ``filled + unfilled == qty``.
    """

    filled: float
    notional: float
    vwap: float
    worst: float
    levels: int
    unfilled: float


@dataclass(frozen=True, eq=False)
class Fills(Rows):
    """Outcomes of a batch of market orders: the fields of :class:`Fill` as arrays, one entry
    per order (``levels`` is int64, the rest float64)."""

    _ROWS = "filled"

    filled: F64
    notional: F64
    vwap: F64
    worst: F64
    levels: I64
    unfilled: F64

    def __getitem__(self, i: int) -> Fill:
        """Order ``i`` as a :class:`Fill`."""
        return Fill(
            float(self.filled[i]), float(self.notional[i]), float(self.vwap[i]),
            float(self.worst[i]), int(self.levels[i]), float(self.unfilled[i]),
        )

    def to_frame(self) -> Any:
        """A pandas DataFrame with one row per order and one column per field."""
        return pandas("Fills.to_frame()").DataFrame(
            {
                "filled": self.filled, "notional": self.notional, "vwap": self.vwap,
                "worst": self.worst, "levels": self.levels, "unfilled": self.unfilled,
            }
        )


def _side(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {', '.join(map(repr, allowed))} "
                        f"(got {type(value).__name__})")
    return check_option(name, value, allowed)


def _orders(qtys: Any, limits: Any, qty_name: str, limit_name: str) -> tuple[F64, Optional[F64]]:
    """Orders as 1-D float64 arrays; a scalar stands for the whole batch."""
    q = as_f64(qty_name, qtys)
    if limits is None:
        return (q.reshape(1) if q.ndim == 0 else q), None
    lim = as_f64(limit_name, limits)
    n = common_length({qty_name: q, limit_name: lim})
    q = broadcast(n, q) if q.ndim == 0 else q
    return q, (lim.reshape(1) if lim.ndim == 0 else lim)


def _check(name: str, a: F64, ok: Any, what: str) -> None:
    bad = first_bad(np.isfinite(a) & ok)
    if bad is not None:  # float(): the message shows "nan", not "np.float64(nan)"
        raise ValueError(f"{name}[{bad}] must be {what} (got {float(a[bad])!r})")


def _fills(t: tuple[F64, F64, F64, F64, I64, F64]) -> Fills:
    return Fills(*t)


class Book:
    """An L2 order book: bids strictly descending, asks strictly ascending, not crossed.

    ``Book(bid_px, bid_qty, ask_px, ask_qty)`` validates every level (finite prices and
    quantities > 0, sorted best first, best bid < best ask) and raises ValueError naming the
    argument and the first bad index. Either side may be empty.
    """

    __slots__ = ("_b",)
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, bid_px: Any, bid_qty: Any, ask_px: Any, ask_qty: Any) -> None:
        bp, bq = as_f64("bid_px", bid_px), as_f64("bid_qty", bid_qty)
        ap, aq = as_f64("ask_px", ask_px), as_f64("ask_qty", ask_qty)
        common_length({"bid_px": bp.reshape(-1), "bid_qty": bq.reshape(-1)})
        common_length({"ask_px": ap.reshape(-1), "ask_qty": aq.reshape(-1)})
        self._b = _core.Book(bp.reshape(-1), bq.reshape(-1), ap.reshape(-1), aq.reshape(-1))

    @classmethod
    def _wrap(cls, core: _core.Book) -> Book:
        book = cls.__new__(cls)
        book._b = core
        return book

    @classmethod
    def synthetic(cls, mid: float = 60_000.0, **kwargs: Any) -> Book:
        """A deterministic, realistic demo book around ``mid``; see
        :func:`liqcore.synthetic.synthetic_book` for the options."""
        from liqcore.synthetic import synthetic_book  # type: ignore[import-not-found,unused-ignore]

        book: Book = synthetic_book(mid, **kwargs)
        return book

    @classmethod
    def from_ccxt(cls, order_book: Any) -> Book:
        """A book from ccxt's ``fetch_order_book`` result (``{"bids": [[price, amount, ...],
        ...], "asks": ...}``); see :mod:`liqcore.ccxt` for the checks."""
        from liqcore.ccxt import book_from_ccxt

        return book_from_ccxt(order_book)

    # ---- state -----------------------------------------------------------------------

    @property
    def best_bid(self) -> float:
        """Highest bid price (NaN when there are no bids)."""
        return float(self._b.best_bid)

    @property
    def best_ask(self) -> float:
        """Lowest ask price (NaN when there are no asks)."""
        return float(self._b.best_ask)

    @property
    def mid(self) -> float:
        """(best bid + best ask) / 2; the one best price when a side is empty; NaN when both are."""
        return float(self._b.mid)

    @property
    def spread(self) -> float:
        """best ask - best bid (> 0; NaN when a side is empty)."""
        return self.best_ask - self.best_bid

    @property
    def n_bids(self) -> int:
        """Number of bid levels."""
        return int(self._b.n_bids)

    @property
    def n_asks(self) -> int:
        """Number of ask levels."""
        return int(self._b.n_asks)

    @property
    def bids(self) -> tuple[F64, F64]:
        """(px, qty) of the bids, best (highest) first; copies."""
        return self._b.levels("bid")

    @property
    def asks(self) -> tuple[F64, F64]:
        """(px, qty) of the asks, best (lowest) first; copies."""
        return self._b.levels("ask")

    # ---- orders ----------------------------------------------------------------------

    def sweep(self, side: str, qty: float, limit: Optional[float] = None) -> Fill:
        """One market order of ``qty`` (base units, finite, >= 0) against the current book,
        which is left unchanged. ``side``: "sell" walks the bids, "buy" the asks. ``limit``:
        worst acceptable price (None/NaN: none). Same result as ``sweep_many`` for one order."""
        s = _side("side", side, _TAKER_SIDES)
        q = float(as_f64("qty", qty, ndim=0))
        lim = np.nan if limit is None else float(as_f64("limit", limit, ndim=0))
        return Fill(*self._b.sweep(s, q, lim))

    def sweep_many(
        self, side: str, qtys: Any, limits: Any = None, *, threads: int | None = None
    ) -> Fills:
        """Independent what-if market orders, each against the current book (unchanged).

        ``qtys``: base quantities (finite, >= 0; 0 gives an empty fill); ``limits``: one worst
        acceptable price per order, or one for all, NaN for none (finite and > 0 otherwise).
        Orders larger than what the side holds at acceptable prices fill partially and report
        the rest as ``unfilled``. Answered from the prefix sums in O(1) expected per order.
        ``threads``: cores to use (None: every core from 65,536 orders on, one below); the
        fills are the same bits for any thread count.
        """
        s = _side("side", side, _TAKER_SIDES)
        q, lim = _orders(qtys, limits, "qtys", "limits")
        return _fills(self._b.sweep_many(s, q, lim, _threads(threads)))

    def execute(self, side: str, qtys: Any, limits: Any = None) -> Fills:
        """Sequential market orders that consume the book: each starts where the previous one
        stopped, and the taken liquidity is removed from the book once the batch is done.
        Arguments as in :meth:`sweep_many`. An order stopped by its limit leaves the rest of
        the side to the next order. On a bad input the book is left unchanged."""
        s = _side("side", side, _TAKER_SIDES)
        q, lim = _orders(qtys, limits, "qtys", "limits")
        return _fills(self._b.execute(s, q, lim))

    def apply(self, side: Any, px: Any, qty: Any) -> None:
        """L2 incremental updates with absolute quantities (as in exchange depth diffs).

        ``side``: "bid"/"ask", or one such name per update; ``px``: prices (finite, > 0);
        ``qty``: the level's new total quantity (finite, >= 0); 0 deletes the level, and
        deleting an absent level is a no-op. Updates apply in order (a later update of the same
        price wins). Atomic: if the result would be crossed, ValueError is raised and the book
        is unchanged, so the bid and ask parts of one diff should go in one call.
        """
        p, q = as_f64("px", px), as_f64("qty", qty)
        if isinstance(side, str):
            check_option("side", side, _BOOK_SIDES)
            n = common_length({"px": p, "qty": q})
            is_bid = np.full(n, side == "bid")
        else:
            s = None if isinstance(side, bytes) else as_array("side", side)
            if s is None or s.ndim == 0:
                raise TypeError(
                    f"side must be 'bid', 'ask' or a sequence of them (got {type(side).__name__})"
                )
            if s.dtype.kind not in "UO":
                raise TypeError(
                    f"side must be 'bid', 'ask' or a sequence of them (got dtype {s.dtype})"
                )
            if s.ndim != 1:
                raise ValueError(f"side must have at most 1 dimension(s) (got shape {s.shape})")
            n = common_length({"side": s, "px": p, "qty": q})
            is_bid = s == "bid"
            ok = is_bid | (s == "ask")
            if not ok.all():
                bad = int(np.argmin(ok))
                raise ValueError(f"side[{bad}] must be one of 'bid', 'ask' (got {str(s[bad])!r})")
        p, q = broadcast(n, p), broadcast(n, q)
        _check("px", p, p > 0, "finite and > 0")
        _check("qty", q, q >= 0, "finite and >= 0")
        is_ask = ~is_bid
        self._b.apply(
            np.ascontiguousarray(p[is_bid]), np.ascontiguousarray(q[is_bid]),
            np.ascontiguousarray(p[is_ask]), np.ascontiguousarray(q[is_ask]),
        )

    # ---- depth -----------------------------------------------------------------------

    def _depth(self, side: str, bps: Any, which: int) -> Union[float, F64]:
        s = _side("side", side, _BOOK_SIDES)
        b = as_f64("bps", bps)
        out = self._b.depth(s, b.reshape(-1))[which]
        return float(out[0]) if b.ndim == 0 else out

    def depth(self, side: str, bps: Any) -> Union[float, F64]:
        """Base quantity resting on ``side`` ("bid"/"ask") within ``bps`` basis points of mid:
        bids at prices >= mid * (1 - bps / 1e4), asks at <= mid * (1 + bps / 1e4). ``bps``
        finite and >= 0, a scalar (float out) or an array (array out)."""
        return self._depth(side, bps, 0)

    def depth_notional(self, side: str, bps: Any) -> Union[float, F64]:
        """Quote notional (sum of px * qty) of the levels counted by :meth:`depth`."""
        return self._depth(side, bps, 1)

    # ---- copies, equality, pickling ------------------------------------------------------

    def copy(self) -> Book:
        """An independent copy."""
        return Book._wrap(self._b.copy())

    def __copy__(self) -> Book:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Book:
        return self.copy()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Book):
            return NotImplemented
        return bool(self._b == other._b)

    def __repr__(self) -> str:
        return (f"Book(n_bids={self.n_bids}, n_asks={self.n_asks}, best_bid={self.best_bid!r}, "
                f"best_ask={self.best_ask!r})")

    def __getstate__(self) -> dict[str, F64]:
        snap = self._b.copy()  # one consistent state even under concurrent updates
        (bp, bq), (ap, aq) = snap.levels("bid"), snap.levels("ask")
        return {"bid_px": bp, "bid_qty": bq, "ask_px": ap, "ask_qty": aq}

    def __setstate__(self, state: dict[str, F64]) -> None:
        self._b = _core.Book(state["bid_px"], state["bid_qty"], state["ask_px"], state["ask_qty"])


class BookArrays(NamedTuple):
    """The four arrays of an L2 book, best level first (bids descending, asks ascending)."""

    bid_px: F64
    bid_qty: F64
    ask_px: F64
    ask_qty: F64

    def to_book(self) -> Book:
        """A validated :class:`liqcore.Book` over these arrays."""
        return Book(self.bid_px, self.bid_qty, self.ask_px, self.ask_qty)
