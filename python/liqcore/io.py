"""Order books from files: recorded exchange feeds and plain JSON / CSV books.

Feed files hold one message per line, ``<local timestamp ns> <JSON>``, optionally gzipped (the
format of the hftbacktest example data; see ``../shared/data/README.md`` beside a clone):

* **Binance USD-M depth** (:func:`read_binance_depth`): a REST depth snapshot
  (``{"lastUpdateId": L, "bids": [[px, qty], ...], "asks": [...]}``) and ``depthUpdate`` diffs
  (``{"stream": ..., "data": {"e": "depthUpdate", "U": .., "u": .., "pu": .., "b": .., "a": ..}}``
  or the bare ``data`` object). Diffs carry absolute level quantities; ``0`` deletes a level.
  Replay follows Binance's rules for a local USD-M book: diffs with ``u < L`` are dropped (diffs
  recorded before the snapshot line are buffered, as a live client would), the first applied diff
  must have ``U <= L <= u``, and each later diff's ``pu`` must equal the previous diff's ``u``.
  A later snapshot line restarts the replay from it. Trade, bookTicker and other lines are ignored.
* **Hyperliquid l2Book** (:func:`read_hyperliquid_l2`, :func:`iter_hyperliquid_l2`): full
  snapshots ``{"channel": "l2Book", "data": {"levels": [[bids...], [asks...]]}}`` with levels
  ``{"px": ..., "sz": ..., "n": ...}``. Other channels are ignored.

User book files (:func:`read_book`, :func:`write_book`):

* **JSON**: ``{"bids": [[px, qty], ...], "asks": [[px, qty], ...]}``, numbers or decimal strings.
* **CSV**: a header naming the columns ``side,price,qty`` (any order, case-insensitive), then one
  level per row with side ``bid`` or ``ask``.

Levels of a JSON/CSV book may come in any order; they are sorted (bids descending, asks
ascending). A price listed twice on one side is an error. Every file may be gzipped (detected by
its magic bytes, whatever its name).

Units: prices in quote per base, quantities in base units, exactly as in the file. Prices and
quantities are parsed to float64 (``float("61800.20")``), so the same price written differently
(``"61800.2"``) is the same level.

Tables and settings (:func:`read_positions`, :func:`read_table`, :func:`read_policy`,
:func:`read_markets`, :func:`read_collateral`), the inputs of the ``liqcore`` command line:

* **positions**: CSV or Parquet (by the ``.parquet`` / ``.pq`` suffix) with columns ``size,
  entry_price, margin[, account]`` (isolated margin), or ``account, market, size, entry_price``
  (cross margin, :meth:`liqcore.Portfolio.from_frame` over :func:`read_table`).
* **policy**: a preset name (:data:`POLICY_PRESETS`) or a JSON object of :class:`liqcore.Policy`
  fields.
* **markets**: a JSON object of marks, margin, contracts, books and collateral assets
  (:func:`read_markets`); **collateral**: CSV or Parquet with one column per asset.

CSV tables are read with pandas when it is installed, else as numeric columns with NumPy;
Parquet needs pandas and pyarrow (``pip install liqcore[parquet]``).

Errors: a missing file raises FileNotFoundError. Anything malformed -- a line that is not
``<integer> <JSON>``, bad JSON, a missing field, a non-numeric, non-finite or non-positive price,
a negative quantity, a truncated gzip stream, a sequence gap in a Binance replay, a crossed
final book -- raises ValueError whose message starts with ``"<path>:<line>:"``.
"""

from __future__ import annotations

import csv
import gzip
import io as _stdio
import json
import math
import os
import warnings
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

import numpy as np

from liqcore._arrays import F64, as_f64
from liqcore.book import Book, BookArrays  # BookArrays: defined beside Book, re-exported
from liqcore.cross_margin import Accounts, Markets
from liqcore.policy import Policy
from liqcore.positions import Positions

__all__ = [
    "POLICY_PRESETS",
    "BookArrays",
    "iter_binance_depth",
    "iter_binance_depth_arrays",
    "iter_hyperliquid_l2",
    "iter_hyperliquid_l2_arrays",
    "read_binance_depth",
    "read_binance_depth_arrays",
    "read_book",
    "read_book_arrays",
    "read_collateral",
    "read_hyperliquid_l2",
    "read_hyperliquid_l2_arrays",
    "read_markets",
    "read_policy",
    "read_positions",
    "read_table",
    "write_book",
]

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------------
# Reading lines with file/line context
# --------------------------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"


def _where(path: PathLike, lineno: int) -> str:
    return f"{os.fspath(path)}:{lineno}"


def _check_path(path: Any) -> None:
    """TypeError unless ``path`` is a str or os.PathLike (an int would be taken as a file
    descriptor by ``open``, which would then read and close it)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (got {type(path).__name__})")


def _lines(path: PathLike) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without the newline) for every line of ``path``.

    A truncated or corrupt gzip stream raises ValueError naming the line where reading stopped.
    """
    _check_path(path)
    raw = open(path, "rb")  # noqa: SIM115 -- closed in the finally below
    try:
        magic = raw.read(2)
        raw.seek(0)
        stream: IO[bytes] = raw
        if magic == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        lineno = 0
        try:
            for line in stream:
                lineno += 1
                yield lineno, line.rstrip(b"\r\n")
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(
                f"{_where(path, lineno + 1)}: file is truncated or corrupt "
                f"({type(e).__name__}: {e})"
            ) from None
    finally:
        raw.close()


def _stamped(path: PathLike, lineno: int, line: bytes, *, strip: bool = False) -> tuple[int, bytes]:
    """A feed line ``<local timestamp ns> <JSON>`` (stripped first with ``strip``) split into the
    timestamp and the JSON text; ValueError naming the line otherwise."""
    ts_text, sep, payload = (line.strip() if strip else line).partition(b" ")
    try:
        ts = int(ts_text)
    except ValueError:
        ts = -1
    if not sep or ts < 0:
        raise ValueError(
            f"{_where(path, lineno)}: expected '<local timestamp ns> <JSON>' "
            f"(got {line[:60]!r})"
        )
    return ts, payload


def _feed_messages(path: PathLike) -> Iterator[tuple[int, int, Any]]:
    """(line number, local timestamp ns, decoded JSON) for every non-blank line of a feed file."""
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        ts, payload = _stamped(path, lineno, line)
        try:
            msg = json.loads(payload)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            raise ValueError(f"{_where(path, lineno)}: invalid JSON ({e})") from None
        except RecursionError:
            raise ValueError(f"{_where(path, lineno)}: invalid JSON (nested too deeply)") from None
        yield lineno, ts, msg


# --------------------------------------------------------------------------------------------
# Parsing numbers and levels
# --------------------------------------------------------------------------------------------


def _number(where: str, what: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (str, int, float)):
        raise ValueError(f"{where}: {what} must be a number or a decimal string (got {x!r})")
    try:
        v = float(x)
    except ValueError:
        raise ValueError(f"{where}: {what} is not a number (got {x!r})") from None
    if not math.isfinite(v):
        raise ValueError(f"{where}: {what} must be finite (got {x!r})")
    return v


def _price(where: str, what: str, x: Any) -> float:
    v = _number(where, what, x)
    if v <= 0.0:
        raise ValueError(f"{where}: {what} must be > 0 (got {x!r})")
    return v


def _qty(where: str, what: str, x: Any, *, zero_ok: bool) -> float:
    v = _number(where, what, x)
    if v < 0.0 or (v == 0.0 and not zero_ok):
        raise ValueError(f"{where}: {what} must be {'>= 0' if zero_ok else '> 0'} (got {x!r})")
    return v


def _field(where: str, obj: Any, key: str, context: str) -> Any:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: {context} must be a JSON object (got {type(obj).__name__})")
    try:
        return obj[key]
    except KeyError:
        raise ValueError(f"{where}: {context} has no field {key!r}") from None


_INF = math.inf


def _pairs(where: str, levels: Any, name: str, *, zero_ok: bool) -> list[tuple[float, float]]:
    """(price, qty) of a JSON list of ``[px, qty]`` pairs, validated.

    Fast path for the common case (decimal strings, all valid); anything else goes through the
    checking loop, which gives the same result or the error message.
    """
    qmin = 0.0 if zero_ok else math.nextafter(0.0, 1.0)
    try:
        out = [
            (float(lv[0]), float(lv[1]))
            for lv in levels
            if type(lv) is list and len(lv) == 2 and type(lv[0]) is str and type(lv[1]) is str
        ]
        if len(out) == len(levels) and all(0.0 < p < _INF and qmin <= q < _INF for p, q in out):
            return out
    except (TypeError, ValueError):
        pass
    return list(_checked_pairs(where, levels, name, zero_ok=zero_ok))


def _checked_pairs(
    where: str, levels: Any, name: str, *, zero_ok: bool
) -> Iterator[tuple[float, float]]:
    if not isinstance(levels, list):
        raise ValueError(f"{where}: {name} must be a list of [price, qty] pairs")
    for i, lv in enumerate(levels):
        if not isinstance(lv, (list, tuple)) or len(lv) < 2:
            raise ValueError(f"{where}: {name}[{i}] must be a [price, qty] pair (got {lv!r})")
        yield (
            _price(where, f"{name}[{i}] price", lv[0]),
            _qty(where, f"{name}[{i}] qty", lv[1], zero_ok=zero_ok),
        )


def _side_arrays(levels: dict[float, float], *, bid: bool) -> tuple[F64, F64]:
    px = np.fromiter(levels.keys(), dtype=np.float64, count=len(levels))
    qty = np.fromiter(levels.values(), dtype=np.float64, count=len(levels))
    order = np.argsort(-px if bid else px, kind="stable")
    return np.ascontiguousarray(px[order]), np.ascontiguousarray(qty[order])


def _arrays_from_dicts(bids: dict[float, float], asks: dict[float, float]) -> BookArrays:
    bp, bq = _side_arrays(bids, bid=True)
    ap, aq = _side_arrays(asks, bid=False)
    return BookArrays(bp, bq, ap, aq)


def _check_not_crossed(where: str, arrays: BookArrays, detail: str = "") -> None:
    if arrays.bid_px.size and arrays.ask_px.size and not arrays.bid_px[0] < arrays.ask_px[0]:
        raise ValueError(
            f"{where}: book is crossed: best bid {float(arrays.bid_px[0])!r} >= best ask "
            f"{float(arrays.ask_px[0])!r}{detail}"
        )


# --------------------------------------------------------------------------------------------
# Binance USD-M depth: snapshot + diffs
# --------------------------------------------------------------------------------------------


class _BinanceReplay:
    """State of a Binance USD-M local book replay (Binance's documented sync procedure).

    Levels are kept in dicts ``price -> (qty, line that set it)``; the line lets a crossed book
    name the stale levels.
    """

    def __init__(self, path: PathLike, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.bids: dict[float, tuple[float, int]] = {}
        self.asks: dict[float, tuple[float, int]] = {}
        self.last_update_id: Optional[int] = None  # of the snapshot in use
        self.prev_u: Optional[int] = None  # u of the last applied diff; None before the first
        self.snapshot_line = 0
        self.pending: list[tuple[int, dict[str, Any]]] = []  # diffs seen before any snapshot
        self.applied = 0

    def feed(self, lineno: int, msg: Any) -> bool:
        """Consume one decoded message; True when the book changed."""
        where = _where(self.path, lineno)
        if isinstance(msg, dict) and "lastUpdateId" in msg:
            self._snapshot(lineno, msg)
            for pl, pmsg in self.pending:
                self._diff(pl, pmsg)
            self.pending.clear()
            return True
        data = msg.get("data", msg) if isinstance(msg, dict) else None
        if not (isinstance(data, dict) and data.get("e") == "depthUpdate"):
            return False  # trades, bookTicker, subscription replies, ...
        if self.last_update_id is None:
            _ = _field(where, data, "u", "depthUpdate")  # validate eagerly, apply later
            self.pending.append((lineno, data))
            return False
        return self._diff(lineno, data)

    def _snapshot(self, lineno: int, msg: dict[str, Any]) -> None:
        where = _where(self.path, lineno)
        self.last_update_id = self._int(where, _field(where, msg, "lastUpdateId", "depth snapshot"))
        self.bids = {
            p: (q, lineno)
            for p, q in _pairs(
                where, _field(where, msg, "bids", "depth snapshot"), "bids", zero_ok=True
            )
            if q > 0.0
        }
        self.asks = {
            p: (q, lineno)
            for p, q in _pairs(
                where, _field(where, msg, "asks", "depth snapshot"), "asks", zero_ok=True
            )
            if q > 0.0
        }
        self.prev_u = None
        self.snapshot_line = lineno

    @staticmethod
    def _int(where: str, x: Any) -> int:
        if isinstance(x, bool) or not isinstance(x, int):
            raise ValueError(f"{where}: update id must be an integer (got {x!r})")
        return x

    def _diff(self, lineno: int, data: dict[str, Any]) -> bool:
        where = _where(self.path, lineno)
        big_u = self._int(where, _field(where, data, "U", "depthUpdate"))
        u = self._int(where, _field(where, data, "u", "depthUpdate"))
        pu = self._int(where, _field(where, data, "pu", "depthUpdate"))
        b = _field(where, data, "b", "depthUpdate")
        a = _field(where, data, "a", "depthUpdate")
        last = self.last_update_id
        if last is None:  # feed() buffers diffs until a snapshot arrives
            raise RuntimeError("diff applied before any snapshot")
        if u < last:
            return False  # older than the snapshot: already in it
        if self.prev_u is None:
            if big_u > last:
                self._gap(
                    where,
                    f"first diff after the snapshot (line {self.snapshot_line}, lastUpdateId "
                    f"{last}) starts at U={big_u} > lastUpdateId: updates are missing",
                )
        elif pu != self.prev_u:
            self._gap(
                where, f"sequence gap: pu={pu} but the previous diff ended at u={self.prev_u}"
            )
        self._apply(where, lineno, b, a)
        self.prev_u = u
        self.applied += 1
        return True

    def _apply(self, where: str, lineno: int, b: Any, a: Any) -> None:
        """Apply an in-sequence diff's bid and ask levels (quantity 0 deletes a level)."""
        for p, q in _pairs(where, b, "b", zero_ok=True):
            if q == 0.0:
                self.bids.pop(p, None)  # deleting an absent level is normal (Binance doc)
            else:
                self.bids[p] = (q, lineno)
        for p, q in _pairs(where, a, "a", zero_ok=True):
            if q == 0.0:
                self.asks.pop(p, None)
            else:
                self.asks[p] = (q, lineno)

    def _gap(self, where: str, what: str) -> None:
        if self.strict:
            raise ValueError(f"{where}: {what} (pass strict=False to replay across gaps)")

    def arrays(self, lineno: int) -> BookArrays:
        if self.last_update_id is None:
            raise ValueError(
                f"{_where(self.path, lineno)}: no Binance depth snapshot (a line with "
                "'lastUpdateId') at or before this point"
            )
        arrays = _arrays_from_dicts(
            {p: v[0] for p, v in self.bids.items()}, {p: v[0] for p, v in self.asks.items()}
        )
        if arrays.bid_px.size and arrays.ask_px.size and not arrays.bid_px[0] < arrays.ask_px[0]:
            bb, ba = float(arrays.bid_px[0]), float(arrays.ask_px[0])
            _check_not_crossed(
                _where(self.path, lineno),
                arrays,
                f" after replay (bid {bb!r} set at line {self.bids[bb][1]}, "
                f"ask {ba!r} set at line {self.asks[ba][1]})",
            )
        return arrays


def read_binance_depth_arrays(
    path: PathLike, *, until: Optional[int] = None, strict: bool = True
) -> BookArrays:
    """The Binance USD-M book of ``path`` replayed to local time ``until`` (ns, inclusive).

    ``until=None`` replays the whole file. Lines are taken in file order and replay stops at the
    first line whose local timestamp exceeds ``until``. ``strict=False`` keeps applying diffs
    across a sequence gap instead of raising (the book may then hold stale levels).
    See the module docstring for the sync rules and errors.
    """
    if until is not None and (
        isinstance(until, (bool, np.bool_)) or not isinstance(until, (int, np.integer))
    ):
        raise TypeError(f"until must be an int (ns) or None (got {type(until).__name__})")
    _check_path(path)
    replay = _BinanceReplay(path, strict)
    last = 0  # the last line replayed
    for lineno, ts, msg in _feed_messages(path):
        if until is not None and ts > until:
            break
        replay.feed(lineno, msg)
        last = lineno
    try:
        return replay.arrays(last)
    except ValueError as e:
        if until is None:
            raise
        raise ValueError(f"{e} (until={until})") from None


def read_binance_depth(path: PathLike, *, until: Optional[int] = None, strict: bool = True) -> Book:
    """:func:`read_binance_depth_arrays` as a :class:`liqcore.Book`."""
    return read_binance_depth_arrays(path, until=until, strict=strict).to_book()


def iter_binance_depth_arrays(
    path: PathLike, *, every: int, strict: bool = True
) -> Iterator[tuple[int, BookArrays]]:
    """Books of a Binance depth file every ``every`` ns of local time.

    Yields ``(t, arrays)`` for t = t0 + every, t0 + 2 * every, ... (t0 = the local timestamp of
    the snapshot line) while the file lasts, then once more for the final state at the last
    line's timestamp. Each book is the replay up to local time t inclusive, exactly as
    ``read_binance_depth_arrays(path, until=t)`` would give it.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
        raise ValueError(f"every must be a positive integer number of nanoseconds (got {every!r})")
    replay = _BinanceReplay(path, strict)
    next_t: Optional[int] = None
    lineno = last_ts = 0
    for lineno, ts, msg in _feed_messages(path):
        while next_t is not None and ts > next_t:
            yield next_t, replay.arrays(lineno - 1)
            next_t += every
        replay.feed(lineno, msg)
        last_ts = ts
        if next_t is None and replay.last_update_id is not None:
            next_t = ts + every
    yield last_ts, replay.arrays(lineno)


def iter_binance_depth(
    path: PathLike, *, every: int, strict: bool = True
) -> Iterator[tuple[int, Book]]:
    """:func:`iter_binance_depth_arrays` as ``(t, Book)`` pairs."""
    for t, arrays in iter_binance_depth_arrays(path, every=every, strict=strict):
        yield t, arrays.to_book()


# --------------------------------------------------------------------------------------------
# Hyperliquid l2Book snapshots
# --------------------------------------------------------------------------------------------


def _hl_side(where: str, levels: Any, name: str, *, bid: bool) -> tuple[F64, F64]:
    if not isinstance(levels, list):
        raise ValueError(f"{where}: {name} must be a list of levels")
    px = np.empty(len(levels), dtype=np.float64)
    qty = np.empty(len(levels), dtype=np.float64)
    for i, lv in enumerate(levels):
        px[i] = _price(where, f"{name}[{i}] px", _field(where, lv, "px", f"{name}[{i}]"))
        qty[i] = _qty(
            where, f"{name}[{i}] sz", _field(where, lv, "sz", f"{name}[{i}]"), zero_ok=False
        )
        if i and not (px[i] < px[i - 1] if bid else px[i] > px[i - 1]):
            order = "descending" if bid else "ascending"
            raise ValueError(f"{where}: {name}[{i}] px must be strictly {order} (got {px[i]!r})")
    return px, qty


def _hl_arrays(where: str, msg: dict[str, Any]) -> BookArrays:
    data = _field(where, msg, "data", "l2Book message")
    levels = _field(where, data, "levels", "l2Book data")
    if not isinstance(levels, list) or len(levels) != 2:
        raise ValueError(f"{where}: l2Book levels must be a list [bids, asks]")
    bp, bq = _hl_side(where, levels[0], "bids", bid=True)
    ap, aq = _hl_side(where, levels[1], "asks", bid=False)
    arrays = BookArrays(bp, bq, ap, aq)
    _check_not_crossed(where, arrays)
    return arrays


def _hl_messages(path: PathLike) -> Iterator[tuple[int, int, dict[str, Any]]]:
    for lineno, ts, msg in _feed_messages(path):
        if isinstance(msg, dict) and msg.get("channel") == "l2Book":
            yield lineno, ts, msg


def iter_hyperliquid_l2_arrays(path: PathLike) -> Iterator[tuple[int, BookArrays]]:
    """``(local timestamp ns, arrays)`` for every ``l2Book`` snapshot of ``path``, in file order."""
    for lineno, ts, msg in _hl_messages(path):
        yield ts, _hl_arrays(_where(path, lineno), msg)


def iter_hyperliquid_l2(path: PathLike) -> Iterator[tuple[int, Book]]:
    """``(local timestamp ns, Book)`` for every ``l2Book`` snapshot of ``path``, in file order."""
    for ts, arrays in iter_hyperliquid_l2_arrays(path):
        yield ts, arrays.to_book()


def read_hyperliquid_l2_arrays(path: PathLike, *, index: int = -1) -> BookArrays:
    """The ``index``-th ``l2Book`` snapshot of ``path`` (Python indexing: -1 is the last)."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"index must be an int (got {type(index).__name__})")
    count = 0
    if index >= 0:
        for lineno, _, msg in _hl_messages(path):
            if count == index:
                return _hl_arrays(_where(path, lineno), msg)
            count += 1
    else:
        tail: deque[tuple[int, int, dict[str, Any]]] = deque(maxlen=-index)
        for item in _hl_messages(path):
            tail.append(item)
            count += 1
        if count >= -index:
            lineno, _, msg = tail[0]
            return _hl_arrays(_where(path, lineno), msg)
    raise ValueError(
        f"{os.fspath(path)}: index {index} out of range: the file has {count} l2Book snapshot(s)"
    )


def read_hyperliquid_l2(path: PathLike, *, index: int = -1) -> Book:
    """:func:`read_hyperliquid_l2_arrays` as a :class:`liqcore.Book`."""
    return read_hyperliquid_l2_arrays(path, index=index).to_book()


# --------------------------------------------------------------------------------------------
# User book files: JSON / CSV / any feed file
# --------------------------------------------------------------------------------------------


def _levels_dict(where: str, pairs: Iterable[tuple[float, float]], name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for p, q in pairs:
        if p in out:
            raise ValueError(f"{where}: {name} lists price {p!r} twice")
        out[p] = q
    return out


def _json_book(path: PathLike, text: str) -> BookArrays:
    try:
        doc = json.loads(text)
    except ValueError as e:
        lineno = getattr(e, "lineno", 1)
        raise ValueError(f"{_where(path, lineno)}: invalid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{_where(path, 1)}: invalid JSON (nested too deeply)") from None
    where = _where(path, 1)
    bids = _levels_dict(
        where, _pairs(where, _field(where, doc, "bids", "book"), "bids", zero_ok=False), "bids"
    )
    asks = _levels_dict(
        where, _pairs(where, _field(where, doc, "asks", "book"), "asks", zero_ok=False), "asks"
    )
    arrays = _arrays_from_dicts(bids, asks)
    _check_not_crossed(where, arrays)
    return arrays


_CSV_COLUMNS = ("side", "price", "qty")


def _csv_rows(path: PathLike, rows: Iterator[list[str]]) -> Iterator[list[str]]:
    """The rows of a csv.reader; its csv.Error (a field over the size limit, a lone CR inside
    a field ...) becomes a ValueError naming the file and line."""
    lineno = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as e:
            raise ValueError(f"{_where(path, lineno + 1)}: invalid CSV ({e})") from None
        lineno += 1
        yield row


def _csv_book(path: PathLike, text: str) -> BookArrays:
    rows = csv.reader(_stdio.StringIO(text))
    sides: dict[str, dict[float, float]] = {"bid": {}, "ask": {}}
    cols: Optional[list[int]] = None
    lineno = 0
    for lineno, row in enumerate(_csv_rows(path, rows), start=1):
        where = _where(path, lineno)
        if not row or all(not c.strip() for c in row):
            continue
        if cols is None:
            header = [c.strip().lower() for c in row]
            missing = [c for c in _CSV_COLUMNS if c not in header]
            if missing:
                raise ValueError(
                    f"{where}: CSV header must name the columns side,price,qty (missing "
                    f"{','.join(missing)}; got {','.join(row)!r})"
                )
            cols = [header.index(c) for c in _CSV_COLUMNS]
            continue
        if len(row) <= max(cols):
            raise ValueError(f"{where}: expected {max(cols) + 1} columns (got {len(row)})")
        side = row[cols[0]].strip().lower()
        if side not in sides:
            raise ValueError(f"{where}: side must be 'bid' or 'ask' (got {row[cols[0]]!r})")
        p = _price(where, "price", row[cols[1]].strip())
        q = _qty(where, "qty", row[cols[2]].strip(), zero_ok=False)
        if p in sides[side]:
            raise ValueError(f"{where}: {side} price {p!r} listed twice")
        sides[side][p] = q
    if cols is None:
        raise ValueError(
            f"{_where(path, max(lineno, 1))}: empty CSV book (no side,price,qty header)"
        )
    arrays = _arrays_from_dicts(sides["bid"], sides["ask"])
    _check_not_crossed(_where(path, lineno), arrays)
    return arrays


def _read_text(path: PathLike) -> str:
    chunks = [line for _, line in _lines(path)]
    data = b"\n".join(chunks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{_where(path, lineno)}: not UTF-8 text ({e.reason})") from None


def _sniff(path: PathLike) -> str:
    """'binance', 'hyperliquid', 'json' or 'csv' from the content of ``path``."""
    for _, line in _lines(path):
        s = line.strip()
        if not s:
            continue
        head, sep, payload = s.partition(b" ")
        if sep and head.isdigit() and payload.lstrip().startswith(b"{"):
            # a feed file: find the first message that tells which venue
            for _, _, msg in _feed_messages(path):
                if not isinstance(msg, dict):
                    continue
                if msg.get("channel") == "l2Book":
                    return "hyperliquid"
                data = msg.get("data", msg)
                if "lastUpdateId" in msg or (
                    isinstance(data, dict) and data.get("e") == "depthUpdate"
                ):
                    return "binance"
            raise ValueError(
                f"{os.fspath(path)}: feed file holds neither Binance depth nor Hyperliquid "
                "l2Book messages"
            )
        if s.lstrip(b"\xef\xbb\xbf").startswith((b"{", b"[")):
            return "json"
        return "csv"
    raise ValueError(f"{os.fspath(path)}: empty file")


def read_book_arrays(path: PathLike) -> BookArrays:
    """The book in ``path``: JSON, CSV, a Binance depth feed (replayed to its end) or a
    Hyperliquid l2Book feed (its last snapshot), detected from the content; gzip is transparent.
    """
    kind = _sniff(path)
    if kind == "binance":
        return read_binance_depth_arrays(path)
    if kind == "hyperliquid":
        return read_hyperliquid_l2_arrays(path)
    text = _read_text(path)
    return _json_book(path, text) if kind == "json" else _csv_book(path, text)


def read_book(path: PathLike) -> Book:
    """:func:`read_book_arrays` as a :class:`liqcore.Book`."""
    return read_book_arrays(path).to_book()


def _as_arrays(book: Any) -> BookArrays:
    if isinstance(book, BookArrays):
        return book
    if isinstance(book, (tuple, list)) and len(book) == 4:
        parts = book
    elif all(hasattr(book, a) for a in BookArrays._fields):
        parts = [getattr(book, a) for a in BookArrays._fields]
    else:
        raise TypeError(
            "book must be a BookArrays, a (bid_px, bid_qty, ask_px, ask_qty) tuple or an object "
            f"with those four array attributes (got {type(book).__name__})"
        )
    return BookArrays(*(as_f64(n, x) for n, x in zip(BookArrays._fields, parts)))


def write_book(book: Any, path: PathLike, *, format: Optional[str] = None) -> None:
    """Write ``book`` to ``path`` as JSON or CSV, readable by :func:`read_book`.

    ``book``: a :class:`BookArrays`, a ``(bid_px, bid_qty, ask_px, ask_qty)`` tuple, or an object
    with those four attributes. ``format``: ``"json"`` or ``"csv"``; by default from the file
    name (``.json`` / ``.csv``, optionally followed by ``.gz``, which gzips the output). Numbers
    are written with Python's shortest round-trip repr, so reading back gives the same bits.
    """
    _check_path(path)
    if format is not None and not isinstance(format, str):
        raise TypeError(f"format must be 'json', 'csv' or None (got {type(format).__name__})")
    arrays = _as_arrays(book)
    for n, a in zip(BookArrays._fields, arrays):
        if a.ndim != 1:
            raise ValueError(f"{n} must be 1-D (got shape {a.shape})")
    name = os.fspath(path).lower()
    gz = name.endswith(".gz")
    stem = name[:-3] if gz else name
    if format is None:
        if stem.endswith(".json"):
            format = "json"
        elif stem.endswith(".csv"):
            format = "csv"
        else:
            raise ValueError(
                f"format must be 'json' or 'csv' when the file name of path {os.fspath(path)!r} "
                "does not tell (.json, .csv, optionally + .gz)"
            )
    if format not in ("json", "csv"):
        raise ValueError(f"format must be one of 'json', 'csv' (got {format!r})")
    bids = [[float(p), float(q)] for p, q in zip(arrays.bid_px, arrays.bid_qty)]
    asks = [[float(p), float(q)] for p, q in zip(arrays.ask_px, arrays.ask_qty)]
    if format == "json":
        text = json.dumps({"bids": bids, "asks": asks}, separators=(",", ":")) + "\n"
    else:
        lines = ["side,price,qty"]
        lines += [f"bid,{p!r},{q!r}" for p, q in bids]
        lines += [f"ask,{p!r},{q!r}" for p, q in asks]
        text = "\n".join(lines) + "\n"
    data = text.encode()
    if gz:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------------------------
# Positions, collateral, policies and markets (the command line's inputs)
# --------------------------------------------------------------------------------------------

#: Policy presets by name: ``read_policy("binance")`` is ``Policy.binance()``.
POLICY_PRESETS: dict[str, Callable[..., Policy]] = {
    "default": Policy,
    "binance": Policy.binance,
    "bybit": Policy.bybit,
    "dydx": Policy.dydx,
    "hyperliquid": Policy.hyperliquid,
    "drift": Policy.drift,
}

_PARQUET = (".parquet", ".pq")


class _TableError(ValueError):
    """An unreadable table; the message is complete (it names the file)."""


def _in_file(e: Exception, spec: str) -> Exception:
    """``e`` with ``"<spec>: "`` before its message (as a ValueError, TypeError or OSError)."""
    kind = TypeError if isinstance(e, TypeError) else OSError if isinstance(e, OSError) else (
        ValueError
    )
    return kind(f"{spec}: {e}")


def _csv_columns(path: Path) -> dict[str, Any]:
    """Numeric CSV columns by header name, without pandas."""
    try:
        with warnings.catch_warnings():  # an empty file: reported below, not warned about
            warnings.simplefilter("ignore", UserWarning)
            data = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    except (OSError, ValueError) as e:
        raise _TableError(f"cannot read {path}: {e}") from None
    except IndexError:  # NumPy's genfromtxt on an empty file with names=True
        raise _TableError(f"{path} has no header row") from None
    if data.dtype.names is None:
        raise _TableError(f"{path} has no header row")
    return {name: np.atleast_1d(data[name]) for name in data.dtype.names}


def read_table(path: PathLike) -> Any:
    """A CSV or Parquet file (by the ``.parquet`` / ``.pq`` suffix) as a pandas DataFrame, or,
    for a CSV without pandas installed, a dict of NumPy columns by header name.

    Raises FileNotFoundError ("no such file 'x.csv'") for a missing file, ImportError when
    Parquet is read without pandas and pyarrow, ValueError for an unreadable CSV.
    """
    _check_path(path)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file {os.fspath(path)!r}")
    if p.suffix.lower() in _PARQUET:
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]

            return pd.read_parquet(p)
        except ImportError as e:
            raise ImportError(f"reading Parquet needs pandas and pyarrow: {e}") from None
    try:
        import pandas as pd

        return pd.read_csv(p)
    except ImportError:
        return _csv_columns(p)


def read_positions(path: PathLike) -> Positions:
    """:class:`liqcore.Positions` from a CSV or Parquet file with columns ``size, entry_price,
    margin`` and optionally ``account``.

    Raises FileNotFoundError for a missing file, ImportError when Parquet is read without pandas
    and pyarrow (``pip install liqcore[parquet]``), ValueError / TypeError for unreadable or bad
    data (the message names the column and row: ``entry_price[1] must be finite and > 0``).
    """
    _check_path(path)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file {os.fspath(path)!r}")
    try:
        if p.suffix.lower() in _PARQUET:
            try:
                import pandas as pd
            except ImportError:
                raise ImportError(
                    "reading Parquet needs pandas and pyarrow (pip install liqcore[parquet])"
                ) from None
            try:
                frame: Any = pd.read_parquet(p)
            except ImportError as e:
                raise ImportError(f"reading Parquet needs pyarrow: {e}") from None
        else:
            try:
                import pandas as pd

                frame = pd.read_csv(p)
            except ImportError:
                frame = _csv_columns(p)
        return Positions.from_frame(frame)
    except _TableError:
        raise
    except (TypeError, ValueError, OSError) as e:
        raise _in_file(e, os.fspath(path)) from None


def read_policy(spec: str | None, **defaults: Any) -> Policy:
    """A :class:`liqcore.Policy` from a preset name (:data:`POLICY_PRESETS`), a JSON file holding
    an object of Policy fields, or None (``Policy(**defaults)``). ``defaults`` are fields that
    the file's (or the preset's overrides) win over.

    Raises FileNotFoundError when ``spec`` is neither a preset nor a file, ValueError /
    TypeError for unreadable JSON or bad fields.
    """
    if spec is None:
        return Policy(**defaults)
    if not isinstance(spec, str):
        raise TypeError(
            f"spec must be a preset name, a file name or None (got {type(spec).__name__})"
        )
    if spec in POLICY_PRESETS:
        return POLICY_PRESETS[spec](**defaults)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"{spec!r} is neither a preset ({', '.join(POLICY_PRESETS)}) nor a file"
        )
    try:
        fields = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {spec}: {e}") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{spec} must hold a JSON object of Policy fields")
    try:
        return Policy.from_dict({**defaults, **fields})
    except (TypeError, ValueError) as e:
        raise _in_file(e, spec) from None


_MARKET_FIELDS = ("marks", "mmr", "tiers", "contract", "contract_size", "books", "assets")


def read_markets(
    path: PathLike, *, book_reader: Callable[[str], Book] = read_book
) -> tuple[Markets, dict[str, dict[str, float]]]:
    """:class:`liqcore.Markets` and the collateral assets from a JSON file::

        {"marks": [60000, 3000], "mmr": [0.005, 0.01],   # or "tiers": [[[floor, mmr], ...], ...]
         "contract": "linear", "contract_size": 1.0,      # optional, one or per market
         "books": ["btc_book.json", "eth_book.json"],     # optional, relative to this file
         "assets": {"USDC": {"price": 1.0, "haircut": 0.0},
                    "ETH": {"price": 3000.0, "haircut": 0.1, "size_discount": 0.001}}}

    Returns ``(markets, assets)``; ``assets`` maps each asset name to its fields, in file order
    (:func:`read_collateral` takes it). ``book_reader`` reads each book file (default
    :func:`read_book`). Raises FileNotFoundError for a missing file, ValueError / TypeError for
    bad JSON or fields.
    """
    _check_path(path)
    if not callable(book_reader):
        raise TypeError(f"book_reader must be callable (got {type(book_reader).__name__})")
    p = Path(path)
    spec = os.fspath(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file {spec!r}")
    try:
        d = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {spec}: {e}") from None
    if not isinstance(d, dict) or "marks" not in d or "assets" not in d:
        raise ValueError(f"{spec} must hold a JSON object with 'marks' and 'assets'")
    unknown = set(d) - set(_MARKET_FIELDS)
    if unknown:
        names = ", ".join(sorted(map(repr, unknown)))
        raise ValueError(f"{spec}: unknown field(s) {names}")
    books = None
    if d.get("books") is not None:
        try:
            books = [book_reader(str(p.parent / b)) for b in d["books"]]
        except TypeError as e:
            raise TypeError(f"book_reader: {e}") from None
    try:
        mk = Markets(
            d["marks"],
            d.get("mmr"),
            tiers=d.get("tiers"),
            books=books,
            contract=d.get("contract", "linear"),
            contract_size=d.get("contract_size", 1.0),
        )
    except (TypeError, ValueError) as e:
        raise _in_file(e, spec) from None
    assets = d["assets"]
    if not isinstance(assets, dict) or not assets:
        raise ValueError(f"{spec}: 'assets' must map asset names to {{'price', 'haircut'}}")
    return mk, assets


def read_collateral(path: PathLike, assets: dict[str, dict[str, float]]) -> Accounts:
    """:class:`liqcore.Accounts` from CSV/Parquet collateral: one column per asset of ``assets``
    (as :func:`read_markets` returns them; balances in asset units), one row per account in id
    order, or an ``account`` column giving each row's id (accounts not listed hold nothing).

    Raises FileNotFoundError for a missing file, ValueError for a missing asset column or bad
    ids, and ValueError / TypeError naming ``asset_prices`` / ``haircuts`` / ``collateral`` for
    bad values.
    """
    _check_path(path)
    if not isinstance(assets, dict) or not all(isinstance(k, str) for k in assets):
        raise TypeError(
            "assets must be a dict of asset names to {'price', 'haircut'} fields, as "
            f"read_markets returns it (got {type(assets).__name__})"
        )
    if not assets:
        raise ValueError("assets must name at least one asset")
    spec = os.fspath(path)
    frame = read_table(path)
    names = list(frame.columns) if hasattr(frame, "columns") else list(frame.keys())
    missing = [a for a in assets if a not in names]
    if missing:
        raise ValueError(f"{spec} has no column(s) {', '.join(map(repr, missing))} "
                         f"(has {', '.join(map(repr, names))})")
    cols = [np.asarray(frame[a], dtype=np.float64) for a in assets]
    coll = np.column_stack(cols) if cols else np.zeros((0, 0))
    if "account" in names:
        ids = np.asarray(frame["account"])
        distinct = ids.size == 0 or (ids.min() >= 0 and np.unique(ids).size == ids.size)
        if ids.dtype.kind not in "iu" or not distinct:
            raise ValueError(f"{spec}: 'account' must hold distinct non-negative integer ids")
        full = np.zeros((int(ids.max()) + 1 if ids.size else 0, len(cols)))
        full[ids] = coll
        coll = full

    def field(k: str, default: float | None) -> list[Any]:
        return [a.get(k, default) if isinstance(a, dict) else None for a in assets.values()]

    imf = field("size_discount", 0.0)
    return Accounts(coll, field("price", None), field("haircut", 0.0),
                    size_discount=imf if any(v for v in imf) else None)


# --------------------------------------------------------------------------------------------
# Adapters defined in their own modules, re-exported here (imported last: they use the helpers
# above).
# --------------------------------------------------------------------------------------------

# Resolved on first access (PEP 562), not at import: those modules import this one's helpers,
# and a module-level import here would close an import cycle.
_ADAPTERS = {
    "read_positions_parquet": "liqcore.arrow",
    "write_positions_parquet": "liqcore.arrow",
    "TardisLiquidations": "liqcore.tardis",
    "TardisTicker": "liqcore.tardis",
    "TardisUpdate": "liqcore.tardis",
    "iter_tardis_book": "liqcore.tardis",
    "iter_tardis_snapshots": "liqcore.tardis",
    "iter_tardis_updates": "liqcore.tardis",
    "read_tardis_book": "liqcore.tardis",
    "read_tardis_book_arrays": "liqcore.tardis",
    "read_tardis_liquidations": "liqcore.tardis",
    "read_tardis_snapshot": "liqcore.tardis",
    "read_tardis_snapshot_arrays": "liqcore.tardis",
    "read_tardis_ticker": "liqcore.tardis",
    "book_from_ccxt": "liqcore.ccxt",
    "tiers_from_ccxt": "liqcore.ccxt",
    "tiers_from_binance_brackets": "liqcore.leverage_brackets",
}
__all__ += sorted(_ADAPTERS)


def __getattr__(name: str) -> Any:
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module 'liqcore.io' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ADAPTERS))
