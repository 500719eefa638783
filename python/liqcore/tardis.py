"""Tardis.dev CSV datasets: L2 order books, book snapshots, derivative tickers, liquidations.

Reads the CSV files of Tardis.dev's downloadable datasets (one file per exchange, data type,
day and symbol; gzipped or not, detected from the content). Columns are those of Tardis's
documentation, found by name in the header line (their order does not matter, extra columns
are ignored):

* ``incremental_book_L2``: ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,
  amount``. ``side`` is ``bid`` or ``ask``; ``amount`` is the level's new total quantity (not a
  delta), ``0`` removes the level. Rows with ``is_snapshot=true`` belong to an order-book
  snapshot: when a snapshot row follows a non-snapshot row (or starts the file) the book is
  discarded and rebuilt from the snapshot rows. Rows before the first snapshot are applied to
  an empty book (some exchanges publish no snapshot).
* ``book_snapshot_25`` / ``book_snapshot_5`` (and any depth): ``exchange,symbol,timestamp,
  local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,...``;
  level 0 is the best. Empty cells mean the side has fewer levels.
* ``derivative_ticker``: ``exchange,symbol,timestamp,local_timestamp,funding_timestamp,
  funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price``; an
  empty cell (not provided by the exchange at that time) reads as NaN.
* ``liquidations``: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``; ``side``
  is the side of the liquidation order: ``sell`` liquidates a long, ``buy`` a short.

Times are integers, microseconds since the Unix epoch: ``timestamp`` is the exchange's,
``local_timestamp`` the time of arrival at Tardis's recorder. Files are sorted by
``local_timestamp``, so replays use it by default (``clock="local_timestamp"``);
``clock="timestamp"`` compares ``at``/``every`` with the exchange time instead. A replay "up to
``at``" applies the rows in file order and stops at the first row whose clock is later than
``at``. Units: prices and amounts exactly as in the file (quote per base, base units or
contracts, as the exchange quotes them).

A file may hold several symbols (Tardis's grouped exports): pass ``symbol=`` to pick one; with
``symbol=None`` a second symbol is an error.

Errors: a missing file raises FileNotFoundError; anything malformed -- a missing column, a row
with the wrong number of fields, a non-integer time, a non-numeric, non-finite or non-positive
price, a negative amount, an unknown side, a truncated gzip stream, a crossed final book --
raises ValueError whose message starts with ``"<path>:<line>:"`` and names the field:
``"trades.csv.gz:7: price must be finite and > 0 (got 'abc')"``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from liqcore._arrays import F64, I64, check_option
from liqcore._arrays import pandas as _pandas
from liqcore.book import Book

# liqcore.io imports this module at its end, after defining these helpers.
from liqcore.io import (
    BookArrays,
    PathLike,
    _arrays_from_dicts,
    _check_not_crossed,
    _check_path,
    _lines,
    _where,
)

__all__ = [
    "TardisLiquidations",
    "TardisTicker",
    "TardisUpdate",
    "iter_tardis_book",
    "iter_tardis_snapshots",
    "iter_tardis_updates",
    "read_tardis_book",
    "read_tardis_book_arrays",
    "read_tardis_liquidations",
    "read_tardis_snapshot",
    "read_tardis_snapshot_arrays",
    "read_tardis_ticker",
]

_CLOCKS = ("local_timestamp", "timestamp")
_L2_COLUMNS = ("symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
_TICKER_COLUMNS = (
    "symbol", "timestamp", "local_timestamp", "funding_rate", "predicted_funding_rate",
    "open_interest", "last_price", "index_price", "mark_price",
)
_LIQ_COLUMNS = ("symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")


# --------------------------------------------------------------------------------------------
# Rows and fields
# --------------------------------------------------------------------------------------------


class _Csv:
    """The header and rows of a Tardis CSV file, with the line numbers for messages."""

    def __init__(self, path: PathLike, required: Sequence[str], *, kind: str) -> None:
        _check_path(path)
        self.path = path
        self.kind = kind
        self._lines = _lines(path)
        self.header_line = 0
        self.columns: dict[str, int] = {}
        for lineno, raw in self._lines:
            text = self._decode(lineno, raw)
            if text.strip():
                self.header_line = lineno
                names = [c.strip() for c in text.split(",")]
                self.columns = {name: i for i, name in enumerate(names)}
                self.width = len(names)
                break
        else:
            raise ValueError(f"{_where(path, max(self.header_line, 1))}: empty {kind} file")
        missing = [c for c in required if c not in self.columns]
        if missing:
            raise ValueError(
                f"{_where(path, self.header_line)}: not a Tardis {kind} CSV: missing column(s) "
                f"{', '.join(missing)} (header: {text.strip()[:200]!r})"
            )

    def _decode(self, lineno: int, raw: bytes) -> str:
        try:
            return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{_where(self.path, lineno)}: not UTF-8 text ({e.reason})") from None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, fields) of every non-blank data row."""
        width = self.width
        for lineno, raw in self._lines:
            if not raw.strip():
                continue
            fields = self._decode(lineno, raw).split(",")
            if len(fields) != width:
                raise ValueError(
                    f"{_where(self.path, lineno)}: expected {width} fields as in the header "
                    f"(got {len(fields)})"
                )
            yield lineno, fields


def _time(where: str, name: str, text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise ValueError(
            f"{where}: {name} must be an integer number of microseconds >= 0 (got {text!r})"
        )
    return v


_RULES: dict[str, tuple[str, Callable[[float], bool]]] = {
    "positive": ("finite and > 0", lambda v: 0.0 < v < math.inf),
    "nonnegative": ("finite and >= 0", lambda v: 0.0 <= v < math.inf),
    "finite": ("finite", math.isfinite),
}


def _real(where: str, name: str, text: str, rule: str, *, empty_ok: bool = False) -> float:
    """The number in ``text`` (NaN for an empty cell when ``empty_ok``), checked by ``rule``."""
    if empty_ok and not text.strip():
        return math.nan
    what, ok = _RULES[rule]
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not ok(v):
        raise ValueError(f"{where}: {name} must be {what} (got {text!r})")
    return v


class _Symbol:
    """Keeps the rows of one symbol: the one asked for, or the only one in the file."""

    def __init__(self, path: PathLike, symbol: str | None) -> None:
        if symbol is not None and not isinstance(symbol, str):
            raise TypeError(f"symbol must be a str or None (got {type(symbol).__name__})")
        self.path = path
        self.wanted = symbol
        self.seen: str | None = symbol

    def keep(self, lineno: int, value: str) -> bool:
        if self.seen is None:
            self.seen = value
            return True
        if value == self.seen:
            return True
        if self.wanted is None:
            raise ValueError(
                f"{_where(self.path, lineno)}: the file holds several symbols ({self.seen!r}, "
                f"{value!r}, ...): pass symbol= to choose one"
            )
        return False


def _stamped_rows(
    csv: _Csv, sym: _Symbol, ts: list[int], lts: list[int]
) -> Iterator[tuple[str, list[str]]]:
    """(where, fields) of the rows of the symbol, each row's ``timestamp`` and
    ``local_timestamp`` checked and appended to ``ts`` and ``lts`` first."""
    c = csv.columns
    for lineno, f in csv.rows():
        if not sym.keep(lineno, f[c["symbol"]]):
            continue
        where = _where(csv.path, lineno)
        ts.append(_time(where, "timestamp", f[c["timestamp"]]))
        lts.append(_time(where, "local_timestamp", f[c["local_timestamp"]]))
        yield where, f


def _which(symbol: str | None, clock: str, at: int | None) -> str:
    """The selection that found no rows, for the message."""
    out = "" if symbol is None else f" for symbol={symbol!r}"
    return out if at is None else f"{out} at or before at={at} ({clock})"


def _check_at(at: Any) -> int | None:
    if at is None:
        return None
    if isinstance(at, (bool, np.bool_)) or not isinstance(at, (int, np.integer)):
        raise TypeError(f"at must be an int (microseconds) or None (got {type(at).__name__})")
    return int(at)


def _check_every(every: Any) -> int:
    if isinstance(every, (bool, np.bool_)) or not isinstance(every, (int, np.integer)) \
            or every <= 0:
        raise ValueError(f"every must be a positive integer number of microseconds (got {every!r})")
    return int(every)


def _check_clock(clock: Any) -> str:
    if not isinstance(clock, str):
        raise TypeError(
            f"clock must be 'local_timestamp' or 'timestamp' (got {type(clock).__name__})"
        )
    return check_option("clock", clock, _CLOCKS)


# --------------------------------------------------------------------------------------------
# incremental_book_L2
# --------------------------------------------------------------------------------------------


class TardisUpdate(NamedTuple):
    """One message of an ``incremental_book_L2`` file: the consecutive rows that share a clock
    time. ``reset``: the rows start a snapshot, so the book must be emptied before applying
    them. ``side`` ("bid"/"ask"), ``price``, ``amount`` (the level's new total; 0 removes it):
    one entry per row, in file order, ready for :meth:`liqcore.Book.apply`. ``line``: the file
    line of the first row."""

    reset: bool
    side: npt.NDArray[np.str_]
    price: F64
    amount: F64
    line: int


class _L2Replay:
    """Book state of an incremental_book_L2 replay: ``price -> (amount, line that set it)``."""

    def __init__(self, path: PathLike) -> None:
        self.path = path
        self.bids: dict[float, tuple[float, int]] = {}
        self.asks: dict[float, tuple[float, int]] = {}
        self.rows = 0

    def arrays(self, lineno: int) -> BookArrays:
        arrays = _arrays_from_dicts(
            {p: v[0] for p, v in self.bids.items()}, {p: v[0] for p, v in self.asks.items()}
        )
        if arrays.bid_px.size and arrays.ask_px.size and not arrays.bid_px[0] < arrays.ask_px[0]:
            bb, ba = float(arrays.bid_px[0]), float(arrays.ask_px[0])
            _check_not_crossed(
                _where(self.path, lineno), arrays,
                f" after replay (bid {bb!r} set at line {self.bids[bb][1]}, "
                f"ask {ba!r} set at line {self.asks[ba][1]})",
            )
        return arrays


def _l2_rows(
    path: PathLike, symbol: str | None, clock: str
) -> Iterator[tuple[int, int, bool, bool, float, float]]:
    """(line, clock time, is_snapshot, is_bid, price, amount) of the rows of one symbol."""
    csv = _Csv(path, _L2_COLUMNS, kind="incremental_book_L2")
    c = csv.columns
    i_sym, i_t, i_snap = c["symbol"], c[clock], c["is_snapshot"]
    i_side, i_px, i_amt = c["side"], c["price"], c["amount"]
    sym = _Symbol(path, symbol)
    for lineno, f in csv.rows():
        if not sym.keep(lineno, f[i_sym]):
            continue
        where = _where(path, lineno)
        t = _time(where, clock, f[i_t])
        snap = f[i_snap].strip().lower()
        if snap not in ("true", "false"):
            raise ValueError(f"{where}: is_snapshot must be 'true' or 'false' (got {f[i_snap]!r})")
        side = f[i_side].strip().lower()
        if side not in ("bid", "ask"):
            raise ValueError(f"{where}: side must be 'bid' or 'ask' (got {f[i_side]!r})")
        px = _real(where, "price", f[i_px], "positive")
        amt = _real(where, "amount", f[i_amt], "nonnegative")
        yield lineno, t, snap == "true", side == "bid", px, amt


class _Pending:
    """A row checked but not yet applied, so that a book can be taken before it."""

    __slots__ = ("amt", "bid", "lineno", "px", "reset", "state")

    def __init__(self, state: _L2Replay) -> None:
        self.state = state
        self.reset = self.bid = False
        self.px = self.amt = 0.0
        self.lineno = 0

    def apply(self) -> None:
        s = self.state
        if self.reset:
            s.bids.clear()
            s.asks.clear()
        levels = s.bids if self.bid else s.asks
        if self.amt == 0.0:
            levels.pop(self.px, None)
        else:
            levels[self.px] = (self.amt, self.lineno)
        s.rows += 1


def _replay_pending(
    path: PathLike, symbol: str | None, clock: str
) -> Iterator[tuple[int, int, _Pending]]:
    pending = _Pending(_L2Replay(path))
    in_snapshot = False
    for lineno, t, snap, bid, px, amt in _l2_rows(path, symbol, clock):
        pending.reset = snap and not in_snapshot
        in_snapshot = snap
        pending.bid, pending.px, pending.amt, pending.lineno = bid, px, amt, lineno
        yield lineno, t, pending


def read_tardis_book_arrays(
    path: PathLike, at: int | None = None, *, symbol: str | None = None,
    clock: str = "local_timestamp",
) -> BookArrays:
    """The book of an ``incremental_book_L2`` file replayed up to ``at`` (microseconds, by
    ``clock``, inclusive; None: the whole file). See the module docstring for the rules."""
    t_at = _check_at(at)
    clk = _check_clock(clock)
    _check_path(path)
    state: _L2Replay | None = None
    last = 0
    for lineno, t, row in _replay_pending(path, symbol, clk):
        if t_at is not None and t > t_at:
            break
        row.apply()
        state, last = row.state, lineno
    if state is None:
        raise ValueError(
            f"{os.fspath(path)}: no incremental_book_L2 rows{_which(symbol, clk, t_at)}"
        )
    return state.arrays(last)


def read_tardis_book(
    path: PathLike, at: int | None = None, *, symbol: str | None = None,
    clock: str = "local_timestamp",
) -> Book:
    """:func:`read_tardis_book_arrays` as a :class:`liqcore.Book`.

    ``at``: microseconds since the epoch, compared with ``clock`` ("local_timestamp", the
    default and the files' order, or "timestamp", the exchange's); rows are applied in file
    order up to the first row later than ``at``. ``symbol``: the symbol to keep when the file
    holds several. The final book must not be crossed (ValueError naming the rows that set
    the best bid and ask).
    """
    return read_tardis_book_arrays(path, at, symbol=symbol, clock=clock).to_book()


def iter_tardis_updates(
    path: PathLike, *, symbol: str | None = None, clock: str = "local_timestamp"
) -> Iterator[tuple[int, TardisUpdate]]:
    """``(t, update)`` for every message of an ``incremental_book_L2`` file, in file order.

    A message is a run of consecutive rows with the same ``clock`` time and snapshot flag; ``t``
    is that time (microseconds). The rows are validated but no book is kept, so a replay of
    your own (e.g. interleaved with trades or liquidations by time) is::

        book = liqcore.Book([], [], [], [])
        for t, u in liqcore.io.iter_tardis_updates(path):
            if u.reset:
                book = liqcore.Book([], [], [], [])
            book.apply(u.side, u.price, u.amount)

    which ends in the book of :func:`read_tardis_book` (``Book.apply`` checks the book after
    every message, ``read_tardis_book`` only the final one).
    """
    clk = _check_clock(clock)
    _check_path(path)
    run: list[tuple[bool, float, float]] = []
    run_t = run_line = 0
    run_snap = in_snapshot = reset = False

    def emit() -> TardisUpdate:
        side = np.array(["bid" if b else "ask" for b, _, _ in run], dtype="<U3")
        px = np.fromiter((p for _, p, _ in run), dtype=np.float64, count=len(run))
        amt = np.fromiter((a for _, _, a in run), dtype=np.float64, count=len(run))
        return TardisUpdate(reset, side, px, amt, run_line)

    for lineno, t, snap, bid, px, amt in _l2_rows(path, symbol, clk):
        if run and (t != run_t or snap != run_snap):
            yield run_t, emit()
            run = []
        if not run:
            run_t, run_snap, run_line = t, snap, lineno
            reset = snap and not in_snapshot
        in_snapshot = snap
        run.append((bid, px, amt))
    if run:
        yield run_t, emit()


def iter_tardis_book(
    path: PathLike, *, every: int, symbol: str | None = None,
    clock: str = "local_timestamp",
) -> Iterator[tuple[int, Book]]:
    """Books of an ``incremental_book_L2`` file every ``every`` microseconds.

    Yields ``(t, book)`` for t = t0 + every, t0 + 2·every, ... (t0: the clock time of the first
    row) while the file lasts, then once more for the final state at the last row's time. Each
    book is the replay up to ``t`` inclusive, exactly as ``read_tardis_book(path, at=t)`` gives
    it. For the raw messages instead of books, see :func:`iter_tardis_updates`.
    """
    step = _check_every(every)
    clk = _check_clock(clock)
    _check_path(path)
    state: _L2Replay | None = None
    next_t: int | None = None
    prev_line = last_t = 0
    for lineno, t, row in _replay_pending(path, symbol, clk):
        while next_t is not None and t > next_t and state is not None:
            yield next_t, state.arrays(prev_line).to_book()
            next_t += step
        row.apply()
        state, prev_line, last_t = row.state, lineno, t
        if next_t is None:
            next_t = t + step
    if state is None:
        raise ValueError(
            f"{os.fspath(path)}: no incremental_book_L2 rows{_which(symbol, clk, None)}"
        )
    yield last_t, state.arrays(prev_line).to_book()


# --------------------------------------------------------------------------------------------
# book_snapshot_25 / book_snapshot_5
# --------------------------------------------------------------------------------------------


def _snapshot_depth(csv: _Csv) -> int:
    depth = 0
    while all(
        f"{s}[{depth}].{k}" in csv.columns for s in ("asks", "bids") for k in ("price", "amount")
    ):
        depth += 1
    return depth


def _snapshot_side(
    where: str, f: list[str], csv: _Csv, depth: int, side: str
) -> tuple[F64, F64]:
    px: list[float] = []
    qty: list[float] = []
    bid = side == "bids"
    for k in range(depth):
        p_text = f[csv.columns[f"{side}[{k}].price"]]
        a_text = f[csv.columns[f"{side}[{k}].amount"]]
        if not p_text.strip() and not a_text.strip():
            continue  # fewer levels than the file's depth
        p = _real(where, f"{side}[{k}].price", p_text, "positive")
        a = _real(where, f"{side}[{k}].amount", a_text, "positive")
        if px and not (p < px[-1] if bid else p > px[-1]):
            order = "below" if bid else "above"
            raise ValueError(
                f"{where}: {side}[{k}].price must be strictly {order} the previous level's "
                f"{px[-1]!r} (got {p_text!r})"
            )
        px.append(p)
        qty.append(a)
    return np.array(px, dtype=np.float64), np.array(qty, dtype=np.float64)


def _snapshot_arrays(path: PathLike, lineno: int, f: list[str], csv: _Csv) -> BookArrays:
    where = _where(path, lineno)
    depth = _snapshot_depth(csv)
    bp, bq = _snapshot_side(where, f, csv, depth, "bids")
    ap, aq = _snapshot_side(where, f, csv, depth, "asks")
    arrays = BookArrays(bp, bq, ap, aq)
    _check_not_crossed(where, arrays)
    return arrays


def _snapshot_rows(
    path: PathLike, symbol: str | None, clock: str
) -> tuple[_Csv, Iterator[tuple[int, int, list[str]]]]:
    csv = _Csv(path, ("symbol", "timestamp", "local_timestamp", "asks[0].price",
                      "asks[0].amount", "bids[0].price", "bids[0].amount"),
               kind="book_snapshot")
    i_sym, i_t = csv.columns["symbol"], csv.columns[clock]
    sym = _Symbol(path, symbol)

    def rows() -> Iterator[tuple[int, int, list[str]]]:
        for lineno, f in csv.rows():
            if sym.keep(lineno, f[i_sym]):
                yield lineno, _time(_where(path, lineno), clock, f[i_t]), f

    return csv, rows()


def read_tardis_snapshot_arrays(
    path: PathLike, at: int | None = None, *, symbol: str | None = None,
    clock: str = "local_timestamp",
) -> BookArrays:
    """The last snapshot of a ``book_snapshot_*`` file at or before ``at`` (microseconds, by
    ``clock``; None: the last row). Only that row's levels are parsed and checked."""
    t_at = _check_at(at)
    clk = _check_clock(clock)
    _check_path(path)
    csv, rows = _snapshot_rows(path, symbol, clk)
    found: tuple[int, list[str]] | None = None
    for lineno, t, f in rows:
        if t_at is not None and t > t_at:
            break
        found = (lineno, f)
    if found is None:
        raise ValueError(f"{os.fspath(path)}: no book_snapshot rows{_which(symbol, clk, t_at)}")
    return _snapshot_arrays(path, found[0], found[1], csv)


def read_tardis_snapshot(
    path: PathLike, at: int | None = None, *, symbol: str | None = None,
    clock: str = "local_timestamp",
) -> Book:
    """:func:`read_tardis_snapshot_arrays` as a :class:`liqcore.Book`."""
    return read_tardis_snapshot_arrays(path, at, symbol=symbol, clock=clock).to_book()


def iter_tardis_snapshots(
    path: PathLike, *, symbol: str | None = None, clock: str = "local_timestamp"
) -> Iterator[tuple[int, Book]]:
    """``(t, book)`` for every row of a ``book_snapshot_*`` file, in file order."""
    clk = _check_clock(clock)
    _check_path(path)
    csv, rows = _snapshot_rows(path, symbol, clk)
    for lineno, t, f in rows:
        yield t, _snapshot_arrays(path, lineno, f, csv).to_book()


# --------------------------------------------------------------------------------------------
# derivative_ticker and liquidations
# --------------------------------------------------------------------------------------------


class _Rows:
    """``len()`` (rows of ``timestamp``) and the DataFrame of the Tardis tables."""

    timestamp: I64

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def _frame(self, fields: tuple[str, ...]) -> Any:
        pd = _pandas(f"{type(self).__name__}.to_frame()")
        return pd.DataFrame({k: getattr(self, k) for k in fields})


@dataclass(frozen=True, eq=False)
class TardisTicker(_Rows):
    """The rows of a ``derivative_ticker`` file for one symbol, as arrays in file order.

    ``timestamp``, ``local_timestamp``: int64 microseconds. ``mark_price``, ``index_price``,
    ``last_price``: quote per base; ``funding_rate``, ``predicted_funding_rate``: per funding
    interval (0.0001 = 0.01%); ``open_interest``: as the exchange reports it (contracts or base
    units). NaN where the file's cell is empty.
    """

    symbol: str
    timestamp: I64
    local_timestamp: I64
    mark_price: F64
    index_price: F64
    last_price: F64
    funding_rate: F64
    predicted_funding_rate: F64
    open_interest: F64

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per ticker row, one column per array field."""
        return self._frame(_TICKER_FIELDS)


_TICKER_FIELDS = (
    "timestamp", "local_timestamp", "mark_price", "index_price", "last_price", "funding_rate",
    "predicted_funding_rate", "open_interest",
)


def read_tardis_ticker(path: PathLike, *, symbol: str | None = None) -> TardisTicker:
    """A ``derivative_ticker`` file as a :class:`TardisTicker` (see the module docstring)."""
    csv = _Csv(path, _TICKER_COLUMNS, kind="derivative_ticker")
    c = csv.columns
    sym = _Symbol(path, symbol)
    checks = (
        ("mark_price", "positive"), ("index_price", "positive"), ("last_price", "positive"),
        ("funding_rate", "finite"), ("predicted_funding_rate", "finite"),
        ("open_interest", "nonnegative"),
    )
    ts: list[int] = []
    lts: list[int] = []
    cols: dict[str, list[float]] = {name: [] for name, _ in checks}
    for where, f in _stamped_rows(csv, sym, ts, lts):
        for name, rule in checks:
            cols[name].append(_real(where, name, f[c[name]], rule, empty_ok=True))
    arr = {k: np.array(v, dtype=np.float64) for k, v in cols.items()}
    return TardisTicker(
        symbol=sym.seen or "", timestamp=np.array(ts, dtype=np.int64),
        local_timestamp=np.array(lts, dtype=np.int64), **arr,
    )


@dataclass(frozen=True, eq=False)
class TardisLiquidations(_Rows):
    """The rows of a ``liquidations`` file for one symbol, as arrays in file order.

    ``timestamp``, ``local_timestamp``: int64 microseconds; ``id``: the exchange's id (may be
    empty); ``side``: "sell" (a long was liquidated) or "buy" (a short); ``price``: quote per
    base; ``amount``: as the exchange reports it (base units or contracts).
    """

    symbol: str
    timestamp: I64
    local_timestamp: I64
    id: npt.NDArray[np.str_]
    side: npt.NDArray[np.str_]
    price: F64
    amount: F64

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per liquidation, one column per array field."""
        return self._frame(_LIQ_FIELDS)


_LIQ_FIELDS = ("timestamp", "local_timestamp", "id", "side", "price", "amount")


def read_tardis_liquidations(
    path: PathLike, *, symbol: str | None = None
) -> TardisLiquidations:
    """A ``liquidations`` file as :class:`TardisLiquidations` (see the module docstring)."""
    csv = _Csv(path, _LIQ_COLUMNS, kind="liquidations")
    c = csv.columns
    sym = _Symbol(path, symbol)
    ts: list[int] = []
    lts: list[int] = []
    ids: list[str] = []
    sides: list[str] = []
    px: list[float] = []
    amt: list[float] = []
    for where, f in _stamped_rows(csv, sym, ts, lts):
        ids.append(f[c["id"]])
        side = f[c["side"]].strip().lower()
        if side not in ("buy", "sell"):
            raise ValueError(f"{where}: side must be 'buy' or 'sell' (got {f[c['side']]!r})")
        sides.append(side)
        px.append(_real(where, "price", f[c["price"]], "positive"))
        amt.append(_real(where, "amount", f[c["amount"]], "positive"))
    return TardisLiquidations(
        symbol=sym.seen or "",
        timestamp=np.array(ts, dtype=np.int64),
        local_timestamp=np.array(lts, dtype=np.int64),
        id=np.array(ids, dtype=np.str_),
        side=np.array(sides, dtype="<U4"),
        price=np.array(px, dtype=np.float64),
        amount=np.array(amt, dtype=np.float64),
    )
