"""Replay of a recorded order-book feed against a position population (docs/model.md §4b).

:func:`replay` plays a feed file event by event through a :class:`liqcore.Engine`: the book
evolves from the recorded snapshots and diffs, the mark follows a rule, and whatever becomes
liquidatable is liquidated against the book as it is at that moment. The engine's own
liquidation orders consume the book; a consumed level stays consumed until the feed's next
update of that level overwrites it (recorded diffs carry absolute quantities, which is what
:meth:`liqcore.Book.apply` of the next diff does), and a snapshot replaces the whole book.

Feeds (detected from the content, or ``format=``):

* ``"binance"``: Binance USD-M depth, a REST snapshot then ``depthUpdate`` diffs, replayed with
  the sync rules of :func:`liqcore.io.read_binance_depth` (same parsing, same gap checks;
  ``strict=False`` replays across gaps). Only lines holding a depth message are decoded:
  trades, bookTicker and other lines are skipped unread. Times: local ns.
* ``"hyperliquid"``: Hyperliquid ``l2Book`` snapshots (each replaces the book). Times: local ns.
* ``"tardis"``: a Tardis.dev ``incremental_book_L2`` CSV (:func:`liqcore.io.iter_tardis_updates`;
  a snapshot run empties the book first). Times: microseconds (``local_timestamp``).

The mark (``mark=``): ``"mid"`` (the book's mid after each event; events with an empty book are
skipped), a callable ``f(t, book) -> float`` (the book is the engine's own: read it, do not
change it), or a pair ``(times, marks)`` of arrays in the feed's time unit (a recorded mark
price, e.g. ``(ticker.local_timestamp, ticker.mark_price)`` of
:func:`liqcore.io.read_tardis_ticker`): the last mark at or before each event (NaN: skipped).
Events before the first mark only build the book. The engine starts at the first mark.

Output: a :class:`ReplayResult` time series, one row per event (``every=None``) or per interval
of ``every`` time units (the state at the interval's last event; counts and money summed over
the interval): time, mark, liquidations, liquidated notional, bad debt, fund, best bid and
ask, and the depth (base quantity) within ``depth_bps`` of the mid on each side.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from liqcore._arrays import F64, I64, as_f64, as_i64
from liqcore.book import Book
from liqcore.engine import Engine, _liquidations_frame, _nonnegative
from liqcore.io import (
    PathLike,
    _arrays_from_dicts,
    _BinanceReplay,
    _check_path,
    _lines,
    _pairs,
    _sniff,
    _stamped,
    _where,
)
from liqcore.liquidation import LiquidationResult
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.result import Result, Rows

__all__ = ["ReplayResult", "replay"]

_FORMATS = ("binance", "hyperliquid", "tardis")
_SERIES = ("time", "mark", "n_liquidated", "liquidated_notional", "bad_debt", "insurance_fund",
           "best_bid", "best_ask", "bid_depth", "ask_depth", "open_positions")

# An event: (time, snapshot or None, updates or None); updates = (bid_px, bid_qty, ask_px,
# ask_qty) as validated float64 arrays, or (side, px, qty) for Book.apply.
_Event = tuple[int, Union[Book, None], Union[tuple[Any, ...], None]]


@dataclass(frozen=True, eq=False)
class ReplayResult(Result, Rows):
    """A feed replayed through an :class:`liqcore.Engine`: one row per event or interval.

    Series (arrays of one length): ``time`` (int64, the feed's clock), ``mark``,
    ``n_liquidated`` (int64), ``liquidated_notional``, ``bad_debt`` (summed over the row's
    events), ``insurance_fund`` (after), ``best_bid``, ``best_ask``, ``bid_depth``,
    ``ask_depth`` (base quantity within ``depth_bps`` of the mid), ``open_positions`` (int64).
    ``batches``: every liquidation batch as ``(time, LiquidationResult)``, in order. ``book``,
    ``positions``, ``insurance_fund_before``: the final book and open positions, and the fund
    at the start. ``events``: feed events replayed.
    """

    _ROWS = "time"

    time: I64
    mark: F64
    n_liquidated: I64
    liquidated_notional: F64
    bad_debt: F64
    insurance_fund: F64
    best_bid: F64
    best_ask: F64
    bid_depth: F64
    ask_depth: F64
    open_positions: I64
    batches: tuple[tuple[int, LiquidationResult], ...]
    book: Book
    positions: Positions
    insurance_fund_before: float
    events: int
    depth_bps: float

    _ROW_FIELDS = _SERIES

    def summary(self) -> dict[str, float]:
        """Headline figures: events, rows, batches, liquidations, notional, bad debt, the fund
        before and after, the time span, and the final best bid and ask."""
        rs = [r for _, r in self.batches]
        n = len(self)
        return {
            "events": self.events,
            "rows": n,
            "batches": len(rs),
            "liquidated": sum(r.n_liquidated for r in rs),
            "liquidated_notional": math.fsum(r.liquidated_notional for r in rs),
            "bad_debt": math.fsum(r.bad_debt for r in rs),
            "fees": math.fsum(r.total_fees for r in rs),
            "uncovered": math.fsum(r.uncovered for r in rs),
            "insurance_fund_before": self.insurance_fund_before,
            "insurance_fund_after": float(self.insurance_fund[-1]) if n else
            self.insurance_fund_before,
            "open_positions": len(self.positions),
            "time_start": int(self.time[0]) if n else 0,
            "time_end": int(self.time[-1]) if n else 0,
            "best_bid": self.book.best_bid,
            "best_ask": self.book.best_ask,
        }

    def liquidations_frame(self) -> Any:
        """Every liquidation as a DataFrame row: ``time``, ``mark``, ``id`` and the fields of
        :class:`liqcore.Liquidations`."""
        return _liquidations_frame([t for t, _ in self.batches], [r for _, r in self.batches],
                                   "time")

    def plot(self, ax: Any = None) -> Any:
        """Mark and cumulative bad debt over time (matplotlib)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ax.plot(self.time, self.mark, label="mark", color="tab:blue")
        ax.set_xlabel("time")
        ax.set_ylabel("mark")
        ax2 = ax.twinx()
        ax2.plot(self.time, np.cumsum(self.bad_debt), label="cumulative bad debt",
                 color="tab:red")
        ax2.set_ylabel("cumulative bad debt")
        ax.set_title(f"replay: {sum(r.n_liquidated for _, r in self.batches):,} liquidations")
        return ax


# ---- feeds -----------------------------------------------------------------------------------


class _BinanceEvents(_BinanceReplay):
    """The sync rules of io's replay, recording each applied snapshot and diff as an event."""

    def __init__(self, path: PathLike, strict: bool) -> None:
        super().__init__(path, strict)
        self.out: list[tuple[Book | None, tuple[Any, ...] | None]] = []

    def _snapshot(self, lineno: int, msg: dict[str, Any]) -> None:
        super()._snapshot(lineno, msg)
        a = _arrays_from_dicts({p: v[0] for p, v in self.bids.items()},
                               {p: v[0] for p, v in self.asks.items()})
        self.out.append((Book(a.bid_px, a.bid_qty, a.ask_px, a.ask_qty), None))

    def _apply(self, where: str, lineno: int, b: Any, a: Any) -> None:
        """Record an in-sequence diff's levels as arrays instead of updating dicts (the
        engine's book is the state here); io's ``_BinanceReplay._diff`` checks the sequence."""
        bl = _pairs(where, b, "b", zero_ok=True)
        al = _pairs(where, a, "a", zero_ok=True)
        self.out.append((None, (
            np.array([p for p, _ in bl]), np.array([q for _, q in bl]),
            np.array([p for p, _ in al]), np.array([q for _, q in al]),
        )))


def _binance(path: PathLike, strict: bool) -> Iterator[_Event]:
    rep = _BinanceEvents(path, strict)
    for lineno, line in _lines(path):
        if b"depthUpdate" not in line and b"lastUpdateId" not in line:
            continue
        ts, payload = _stamped(path, lineno, line, strip=True)
        try:
            msg = json.loads(payload)
        except (ValueError, RecursionError) as e:
            raise ValueError(f"{_where(path, lineno)}: invalid JSON ({e})") from None
        rep.feed(lineno, msg)
        for snap, upd in rep.out:
            yield ts, snap, upd
        rep.out.clear()


def _hyperliquid(path: PathLike) -> Iterator[_Event]:
    from liqcore.io import iter_hyperliquid_l2

    for ts, book in iter_hyperliquid_l2(path):
        yield ts, book, None


def _tardis(path: PathLike) -> Iterator[_Event]:
    from liqcore.tardis import iter_tardis_updates

    for t, u in iter_tardis_updates(path):
        snap = Book([], [], [], []) if u.reset else None
        yield t, snap, (u.side, u.price, u.amount)


def _events(feed: PathLike, fmt: str | None, strict: bool) -> Iterator[_Event]:
    """The feed's events; a malformed file raises ValueError("feed: <path>:<line>: ...")."""
    if isinstance(feed, bytes) or not isinstance(feed, (str, os.PathLike)):
        raise TypeError(f"feed must be a str or os.PathLike (got {type(feed).__name__})")
    try:
        _check_path(feed)
        it = _feed_events(feed, fmt, strict)
    except ValueError as e:
        raise ValueError(f"feed: {e}") from None
    return _named(it)


def _named(it: Iterator[_Event]) -> Iterator[_Event]:
    try:
        yield from it
    except ValueError as e:
        raise ValueError(f"feed: {e}") from None


def _feed_events(feed: PathLike, fmt: str | None, strict: bool) -> Iterator[_Event]:
    if fmt is None:
        kind = _sniff(feed)
        fmt = "tardis" if kind == "csv" else kind
        if fmt not in _FORMATS:
            raise ValueError(
                f"{os.fspath(feed)}: not a feed replay() reads (a Binance depth or Hyperliquid "
                "l2Book feed, or a Tardis incremental_book_L2 CSV)"
            )
    if fmt == "binance":
        return _binance(feed, strict)
    if fmt == "hyperliquid":
        return _hyperliquid(feed)
    return _tardis(feed)


# ---- marks -----------------------------------------------------------------------------------


def _check_arity(name: str, fn: Callable[..., Any], n: int, args: str) -> None:
    """TypeError naming ``name`` unless ``fn`` accepts ``n`` positional arguments."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to check (some builtins)
        return
    try:
        sig.bind(*range(n))
    except TypeError:
        raise TypeError(f"{name} must accept {n} argument(s) {args} (got signature {sig})") \
            from None


def _mark_rule(mark: Any) -> Callable[[int, Book], float]:
    if isinstance(mark, str):
        if mark != "mid":
            raise ValueError(f"mark must be 'mid', a callable or (times, marks) (got {mark!r})")
        return lambda t, book: book.mid
    if callable(mark):
        _check_arity("mark", mark, 2, "(t, book)")

        def call(t: int, book: Book) -> float:
            try:
                return float(mark(t, book))
            except (TypeError, ValueError) as e:
                raise type(e)(f"mark: the callable failed at time {t}: {e}") from e

        return call
    if isinstance(mark, tuple) and len(mark) == 2:
        times = as_i64("mark times", mark[0])
        values = as_f64("mark values", mark[1])
        if times.ndim != 1 or values.shape != times.shape:
            raise ValueError("mark (times, marks) must be two 1-D arrays of one length")
        if times.shape[0] > 1 and not (times[1:] >= times[:-1]).all():
            raise ValueError("mark times must be non-decreasing")

        def asof(t: int, book: Book) -> float:
            k = int(np.searchsorted(times, t, side="right")) - 1
            return float(values[k]) if k >= 0 else math.nan

        return asof
    raise TypeError(f"mark must be 'mid', a callable or (times, marks) (got {type(mark).__name__})")


# ---- the replay ------------------------------------------------------------------------------


def replay(
    feed: PathLike,
    positions: Positions,
    *,
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
    mark: Any = "mid",
    every: int | None = None,
    format: str | None = None,
    depth_bps: float = 10.0,
    strict: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replays the order-book feed ``feed`` against ``positions`` (see the module docstring).

    Parameters
    ----------
    feed : path
        A Binance USD-M depth feed, a Hyperliquid l2Book feed or a Tardis incremental_book_L2
        CSV (gzip or not); ``format`` ("binance", "hyperliquid", "tardis") skips detection.
    positions : Positions
        The population (ids 0..n-1 in the results' ``account`` column).
    policy, insurance_fund
        As for :class:`liqcore.Engine`.
    mark : "mid", callable or (times, marks)
        The mark rule.
    every : int, optional
        Row interval in the feed's time unit (ns for Binance and Hyperliquid, µs for Tardis);
        None: one row per event.
    depth_bps : float
        Half-width around the mid of the depth columns (default 10 bps).
    strict : bool
        Binance: raise on a sequence gap (default) or replay across it.
    progress : callable, optional
        Called with the number of events replayed so far, every 1,024 events and at the end.
    """
    if not isinstance(positions, Positions):
        raise TypeError(f"positions must be a liqcore.Positions (got {type(positions).__name__})")
    if policy is None:
        policy = Policy()
    fund0 = _nonnegative("insurance_fund", insurance_fund)
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every <= 0):
        raise ValueError(f"every must be a positive integer (got {every!r})")
    bps = _nonnegative("depth_bps", depth_bps)
    rule = _mark_rule(mark)
    if progress is not None:
        if not callable(progress):
            raise TypeError(
                f"progress must be a callable(done) or None (got {type(progress).__name__})"
            )
        _check_arity("progress", progress, 1, "(done)")
    if format is not None and (not isinstance(format, str) or format not in _FORMATS):
        if not isinstance(format, str):
            raise TypeError(f"format must be a str or None (got {type(format).__name__})")
        raise ValueError(
            f"format must be one of {', '.join(map(repr, _FORMATS))} or None (got {format!r})"
        )
    if not isinstance(strict, (bool, np.bool_)):
        raise TypeError(f"strict must be a bool (got {type(strict).__name__})")
    events = _events(feed, format, bool(strict))
    bps_arr = np.array([bps])

    book = Book([], [], [], [])
    eng: Engine | None = None
    cols: dict[str, list[Any]] = {k: [] for k in _SERIES}
    batches: list[tuple[int, LiquidationResult]] = []
    acc = [0, 0.0, 0.0]  # liquidations, notional, bad debt since the last row
    next_row: int | None = None
    last: tuple[int, float] | None = None  # time and mark of the last replayed event
    n_events = 0

    def row(t: int, p: float) -> None:
        b = eng._book._b if eng is not None else book._b
        cols["time"].append(t)
        cols["mark"].append(p)
        cols["n_liquidated"].append(acc[0])
        cols["liquidated_notional"].append(acc[1])
        cols["bad_debt"].append(acc[2])
        cols["insurance_fund"].append(eng._fund if eng is not None else fund0)
        cols["best_bid"].append(b.best_bid)
        cols["best_ask"].append(b.best_ask)
        cols["bid_depth"].append(float(b.depth("bid", bps_arr)[0][0]))
        cols["ask_depth"].append(float(b.depth("ask", bps_arr)[0][0]))
        cols["open_positions"].append(len(eng) if eng is not None else len(positions))
        acc[0], acc[1], acc[2] = 0, 0.0, 0.0

    for t, snap, upd in events:
        n_events += 1
        if progress is not None and n_events % 1024 == 0:
            progress(n_events)
        if every is not None and last is not None and next_row is not None and t >= next_row:
            row(*last)
            while next_row <= t:
                next_row += every
        if eng is None:
            if snap is not None:
                book = snap
            if upd is not None:
                if len(upd) == 4:
                    book._b.apply(*upd)
                else:
                    book.apply(*upd)
            cur = book
        else:
            if snap is not None:
                eng._book, eng._book_shared = snap, False
            if upd is not None:
                if len(upd) == 4:
                    eng._apply_levels(*upd)
                else:
                    eng.apply(*upd)
            cur = eng._book
        p = rule(t, cur)
        if not (p > 0.0 and p < math.inf):
            continue
        if eng is None:
            eng = Engine(positions, book, p, policy=policy, insurance_fund=fund0)
        r = eng._step(p)
        if r is not None:
            batches.append((t, r))
            acc[0] += r.n_liquidated
            acc[1] += r.liquidated_notional
            acc[2] += r.bad_debt
        last = (t, p)
        if every is None:
            row(t, p)
        elif next_row is None:
            next_row = t + every
    if every is not None and last is not None:
        row(*last)
    if progress is not None:
        progress(n_events)

    i64 = ("time", "n_liquidated", "open_positions")
    arrays: dict[str, Any] = {
        k: np.array(v, dtype=np.int64 if k in i64 else np.float64) for k, v in cols.items()
    }
    final_book = eng.book if eng is not None else book.copy()
    final_pos = eng.positions if eng is not None else positions
    return ReplayResult(
        **arrays, batches=tuple(batches), book=final_book, positions=final_pos,
        insurance_fund_before=fund0, events=n_events, depth_bps=bps,
    )
