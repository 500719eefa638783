"""A live liquidation engine for one market: events in, liquidations out (docs/model.md §4b).

:class:`Engine` holds the state of one market -- isolated positions with stable int64 ids, the
order book, the mark price and the insurance fund -- and is fed events: marks
(:meth:`Engine.on_mark`, or a whole stream with :meth:`Engine.run_marks`), book updates
(:meth:`Engine.apply`, :meth:`Engine.set_book`) and position changes (:meth:`Engine.open`,
:meth:`Engine.update`, :meth:`Engine.close`, :meth:`Engine.deposit`, :meth:`Engine.withdraw`).

**What an event does.** After a mark or a position change, if any position is liquidatable at
the current mark (``E < MM``, docs/model.md §1), the engine runs exactly
``liqcore.liquidate(engine.positions, engine.book, mark, policy, engine.insurance_fund)`` and
carries its outcome forward (docs/model.md §4b):

* a position closed in full (``closed == |size|``) is removed; a partial close or a slice keeps
  the rest, ``size - s·closed``, whose margin is ``margin + PnL(s·closed, entry→vwap) - fee``
  (the slice's PnL realized at its blended price, the fee paid; the equity the rest keeps, as in
  cascades);
* a counterparty charged by the residual rule (``result.adl``) loses that much equity: its
  margin goes down by the charge. A charge larger than the margin (ADL takes positive PnL, which
  the margin need not cover) takes the margin to 0 and realizes the rest from the unrealized
  PnL: the entry price moves toward the mark so that the equity is exactly ``E - charge``
  (``entry' = entry - m'/q`` linear, ``1/entry' = 1/entry + m'/(q·C)`` inverse, ``m'`` the
  negative margin);
* the book becomes ``result.book`` and the fund ``result.insurance_fund``.

Each event runs at most one batch. A counterparty that the batch's charges leave liquidatable is
liquidated at the next event (a mark at the same price will do).

**Results.** Every event returns a :class:`liqcore.LiquidationResult` (``open`` returns the new
id and keeps its result in :attr:`Engine.last_result`). Its rows are the engine's open
positions in the engine's order when the batch ran, and its ``account`` column holds their ids.
When nothing triggers, the result is *empty*: zero rows, ``n_liquidated == 0``, the current
fund, book and mark, built in O(1) from a shared template. Results share the engine's book
object; the engine copies it before its next change (copy on write), so a result's book stays
as it was.

**Cost.** A mark that liquidates nothing costs O(1): the engine keeps, per side, the positions'
liquidation prices (``liqcore.liquidation_price`` for the policy's mmr or tiers and contract)
sorted, and compares the mark with the extreme one. The sorted index is only a filter: each key
is the liquidation price widened by ``1e-9·(LP + entry_price)``, so that rounding can never hide
a position, and the candidates past the mark are confirmed with the exact ``E < MM`` rule of the
kernel before anything runs. A changed or opened position goes to a small unsorted buffer (its
old entry is invalidated by a stamp); the buffer is merged into the sorted arrays by
``np.searchsorted``/``np.insert`` when it holds more than 4,096 entries (O(n) memory moves, so
O(n/4096) amortized per change), and the whole index is rebuilt (O(n log n)) when a batch
changes more than 1/16 of the positions or invalidated entries exceed 1/4 of them. A triggered
batch costs what ``liquidate`` costs on all open positions, O(n), plus gathering them.

**Resilience** (``resilience=r > 0``): the engine keeps a base book (the book given, then every
:meth:`Engine.apply` and :meth:`Engine.set_book`); after a batch, at the end of every event,
each level recovers ``q <- q + r·(q0 - q)`` toward it, as after a round of
:func:`liqcore.simulate_cascade` (a level within ``1e-12·q0`` counts as recovered). While the
book is recovering, events cost O(levels) and ``run_marks`` goes one mark at a time.

For cross-margin accounts in several markets, see :class:`liqcore.AccountEngine`.

``run_marks`` tests a whole stream of marks against the two extreme keys with NumPy in chunks,
jumps to the first mark that may trigger, processes it as ``on_mark`` would, and continues from
there: the same results as feeding the marks one by one, in O(1) Python work per trigger.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from liqcore import _core
from liqcore._arrays import F64, I64, as_f64, as_i64, finite, first_bad
from liqcore.book import Book
from liqcore.liquidation import (
    _LEDGER_ROWS,
    Ledger,
    LiquidationResult,
    Liquidations,
    _check_types,
    liquidate,
)
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.result import _frozen, _pandas

__all__ = ["Engine", "MarkRun"]

_SLACK = 1e-9  # relative widening of the liquidation-price keys (a filter, never a decision)
_MERGE = 4096  # pending entries merged into the sorted arrays beyond this many
_CHUNK = 1 << 16  # marks tested per NumPy pass in run_marks
_NO_RATE: F64 = np.zeros(())
_DTYPES: dict[type, Any] = {float: np.float64, int: np.int64, bool: np.bool_}  # slot columns


def _real(name: str, x: Any) -> float:
    if isinstance(x, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})") from None


def _positive(name: str, x: Any) -> float:
    v = x if type(x) is float else _real(name, x)
    if not (v > 0.0 and v < math.inf):
        raise ValueError(f"{name} must be finite and > 0 (got {v!r})")
    return v


def _nonnegative(name: str, x: Any) -> float:
    v = _real(name, x)
    if not (v >= 0.0 and v < math.inf):
        raise ValueError(f"{name} must be finite and >= 0 (got {v!r})")
    return v


def _resilience(x: Any) -> float:
    v = _real("resilience", x)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"resilience must be in [0, 1] (got {v!r})")
    return v


_RECOVERED = 1e-12  # a level within this relative distance of its base quantity is recovered


class _Recovery:
    """The base book of one market and the recovery of the live book toward it
    (``q <- q + r·(q0 - q)`` on every level the engine's liquidations depleted)."""

    __slots__ = ("base", "depleted", "rate")

    def __init__(self, rate: float, base: Book) -> None:
        self.rate = rate
        self.base = base  # owned
        self.depleted = False

    def recover(self, book: Book) -> None:
        """One recovery step of ``book`` (owned by the caller), in place."""
        r = self.rate
        upd: list[tuple[F64, F64]] = []
        left = False
        for side in ("bid", "ask"):
            px0, q0 = self.base._b.levels(side)
            px, q = book._b.levels(side)
            qc = np.zeros(q0.shape[0])
            if px.shape[0]:
                key0, key = (-px0, -px) if side == "bid" else (px0, px)
                at = np.minimum(np.searchsorted(key0, key), max(px0.shape[0] - 1, 0))
                found = px0[at] == px if px0.shape[0] else np.zeros(px.shape[0], np.bool_)
                qc[at[found]] = q[found]
            d = qc != q0
            new = qc[d] + r * (q0[d] - qc[d])
            left = left or bool((np.abs(q0[d] - new) > _RECOVERED * q0[d]).any())
            upd.append((np.ascontiguousarray(px0[d]), np.ascontiguousarray(new)))
        (bp, bq), (ap, aq) = upd
        if bp.shape[0] or ap.shape[0]:
            book._b.apply(bp, bq, ap, aq)
        self.depleted = left

    def reset(self, book: Book) -> None:
        """A new base book (a copy of ``book``), nothing left to recover."""
        self.base = book.copy()
        self.depleted = False

    def __getstate__(self) -> dict[str, Any]:
        return {"rate": self.rate, "base": self.base, "depleted": self.depleted}

    def __setstate__(self, st: dict[str, Any]) -> None:
        self.rate, self.base, self.depleted = st["rate"], st["base"], st["depleted"]


class _SideIndex:
    """Keys of one side, sorted ascending: a position is a candidate at ``x`` iff ``x < key``
    (longs: ``x = mark``, ``key = LP + slack``; shorts: ``x = -mark``, ``key = -(LP - slack)``).
    Entries carry the slot's stamp at insertion; an entry whose stamp is stale is ignored."""

    __slots__ = ("keys", "n", "pkeys", "pmax", "pslots", "pstamps", "slots", "stamps")

    def __init__(self) -> None:
        self.keys: F64 = np.empty(0)
        self.slots: I64 = np.empty(0, np.int64)
        self.stamps: I64 = np.empty(0, np.int64)
        self.n = 0
        self.pkeys: list[float] = []
        self.pslots: list[int] = []
        self.pstamps: list[int] = []
        self.pmax = -math.inf

    def build(self, keys: F64, slots: I64, stamps: I64) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = np.ascontiguousarray(keys[order])
        self.slots = np.ascontiguousarray(slots[order])
        self.stamps = np.ascontiguousarray(stamps[order])
        self.n = int(order.shape[0])
        self.pkeys, self.pslots, self.pstamps = [], [], []
        self.pmax = -math.inf

    def add(self, keys: F64, slots: I64, stamps: I64) -> None:
        self.pkeys.extend(keys.tolist())
        self.pslots.extend(slots.tolist())
        self.pstamps.extend(stamps.tolist())
        if keys.shape[0]:
            self.pmax = max(self.pmax, float(keys.max()))

    def top(self, stamp: I64) -> float:
        """The largest valid key (pending entries counted as valid): drops stale tops."""
        n, slots, stamps = self.n, self.slots, self.stamps
        while n and stamps[n - 1] != stamp[slots[n - 1]]:
            n -= 1
        self.n = n
        top = float(self.keys[n - 1]) if n else -math.inf
        if self.pmax > top:  # the pending buffer decides: drop its stale entries first
            pk = np.array(self.pkeys)
            ps = np.array(self.pslots, dtype=np.int64)
            pst = np.array(self.pstamps, dtype=np.int64)
            ok = pst == stamp[ps]
            self.pkeys, self.pslots = pk[ok].tolist(), ps[ok].tolist()
            self.pstamps = pst[ok].tolist()
            self.pmax = float(pk[ok].max()) if ok.any() else -math.inf
        return max(top, self.pmax)

    def candidates(self, x: float, stamp: I64) -> I64:
        """Slots of the valid entries with ``x < key``."""
        i0 = int(np.searchsorted(self.keys[: self.n], x, side="right"))
        s = self.slots[i0 : self.n]
        ok = self.stamps[i0 : self.n] == stamp[s]
        out: I64 = s[ok]
        if self.pkeys:
            pk = np.array(self.pkeys)
            ps = np.array(self.pslots, dtype=np.int64)
            pst = np.array(self.pstamps, dtype=np.int64)
            sel = (x < pk) & (pst == stamp[ps])
            if sel.any():
                out = np.concatenate([out, ps[sel]])
        return out

    def put(self, keys: F64, slots: I64, stamp: I64, build: bool) -> None:
        """Entries for ``slots`` at their current ``stamp``: the whole index anew (``build``),
        else added to the pending buffer (merged when it is full)."""
        st = stamp[slots]
        if build:
            self.build(keys, slots, st)
        else:
            self.add(keys, slots, st)
            self.merge(stamp)

    def merge(self, stamp: I64) -> None:
        if len(self.pkeys) <= _MERGE:
            return
        pk = np.array(self.pkeys)
        ps = np.array(self.pslots, dtype=np.int64)
        pst = np.array(self.pstamps, dtype=np.int64)
        ok = pst == stamp[ps]
        pk, ps, pst = pk[ok], ps[ok], pst[ok]
        o = np.argsort(pk, kind="stable")
        pk, ps, pst = pk[o], ps[o], pst[o]
        n = self.n
        at = np.searchsorted(self.keys[:n], pk, side="right")
        self.keys = np.insert(self.keys[:n], at, pk)
        self.slots = np.insert(self.slots[:n], at, ps)
        self.stamps = np.insert(self.stamps[:n], at, pst)
        self.n = int(self.keys.shape[0])
        self.pkeys, self.pslots, self.pstamps = [], [], []
        self.pmax = -math.inf


@dataclass(frozen=True, eq=False)
class MarkRun:
    """What :meth:`Engine.run_marks` triggered: ``results[k]`` is the liquidation batch run at
    ``marks[mark_index[k]]``. Iterating gives ``(mark_index, result)`` pairs."""

    mark_index: I64
    results: tuple[LiquidationResult, ...]
    n_marks: int

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[tuple[int, LiquidationResult]]:
        return iter(zip(self.mark_index.tolist(), self.results))

    def __getitem__(self, k: int) -> tuple[int, LiquidationResult]:
        return int(self.mark_index[k]), self.results[k]

    @property
    def n_liquidated(self) -> int:
        """Liquidations over all batches."""
        return sum(r.n_liquidated for r in self.results)

    @property
    def bad_debt(self) -> float:
        """Bad debt over all batches."""
        return math.fsum(r.bad_debt for r in self.results)

    def summary(self) -> dict[str, float]:
        """Marks, batches, liquidations and the money totals summed over the batches."""
        rs = self.results
        return {
            "marks": self.n_marks,
            "batches": len(rs),
            "liquidated": self.n_liquidated,
            "liquidated_notional": math.fsum(r.liquidated_notional for r in rs),
            "bad_debt": self.bad_debt,
            "fees": math.fsum(r.total_fees for r in rs),
            "insurance_draw": math.fsum(r.insurance_draw for r in rs),
            "adl_transfers": math.fsum(r.adl_transfers for r in rs),
            "uncovered": math.fsum(r.uncovered for r in rs),
        }

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per liquidation, in order: ``mark_index``, ``mark``,
        ``id`` (the engine's position id) and the fields of :class:`liqcore.Liquidations`."""
        return _liquidations_frame(self.mark_index.tolist(), list(self.results), "mark_index")


def _empty_ledger() -> Ledger:
    """The ledger of a batch that liquidated nothing (every row 0)."""
    return Ledger(
        entity=tuple(e for e, _ in _LEDGER_ROWS), kind=tuple(k for _, k in _LEDGER_ROWS),
        amount=_frozen(np.zeros(len(_LEDGER_ROWS))), balance=0.0,
    )


def _check_book(book: Any) -> Book:
    if not isinstance(book, Book):
        raise TypeError(f"book must be a liqcore.Book (got {type(book).__name__})")
    return book


def _liquidations_frame(keys: list[Any], results: list[LiquidationResult], key: str) -> Any:
    pd = _pandas()
    names = ("closed", "book_closed", "fallback_closed", "vwap", "deficit", "surplus", "fee",
             "insurance_draw", "shortfall", "inventory_loss")
    cols: dict[str, list[Any]] = {key: [], "mark": [], "id": []}
    cols.update({n: [] for n in names})
    for k, r in zip(keys, results):
        lq = r.liquidations
        m = len(lq)
        cols[key].append(np.full(m, k, dtype=np.int64))
        cols["mark"].append(np.full(m, r.mark))
        ids = lq.position if r.account is None else r.account[lq.position]
        cols["id"].append(np.asarray(ids, dtype=np.int64))
        for n in names:
            cols[n].append(np.asarray(getattr(lq, n)))
    data = {
        c: (np.concatenate(v) if v else np.empty(0, np.int64 if c in (key, "id") else np.float64))
        for c, v in cols.items()
    }
    return pd.DataFrame(data)


class _PositionSlots:
    """Open positions in slots with stable ids, shared by :class:`Engine` and
    ``AccountEngine``: slot columns (``_COLUMNS``: name and fill value, grown together), the ids,
    the alive flags, the id -> slot map (``_slot_of``; None until first needed), the fund and
    the policy."""

    _COLUMNS: ClassVar[tuple[tuple[str, Any], ...]]
    _q: F64
    _ep: F64
    _ids: I64
    _alive: np.ndarray[Any, np.dtype[np.bool_]]
    _n: int
    _open: int
    _next_id: int
    _slot_of: dict[int, int] | None
    _fund: float
    _policy: Policy

    @staticmethod
    def _checked_ids(ids: Any, n: int) -> I64:
        """The ids of n positions: 0..n-1 by default, else int64, one per position, unique."""
        if ids is None:
            return np.arange(n, dtype=np.int64)
        idv: I64 = np.ascontiguousarray(as_i64("ids", ids)).reshape(-1).copy()
        if idv.shape[0] != n:
            raise ValueError(f"ids has length {idv.shape[0]}, expected {n} (the positions)")
        if n:
            srt = np.sort(idv)
            dup = np.flatnonzero(srt[1:] == srt[:-1])
            if dup.size:
                i = int(np.flatnonzero(idv == srt[dup[0]])[1])
                raise ValueError(f"ids[{i}] is a duplicate id (got {int(idv[i])})")
        return idv

    def _alloc(self, n: int, **values: Any) -> None:
        """Slots for ``n`` open positions (room for a quarter more): every column of
        ``_COLUMNS`` at its fill value, its first ``n`` entries from ``values`` (by name
        without the underscore), ``_alive`` set."""
        cap = max(16, n + n // 4)
        for name, fill in self._COLUMNS:
            a = np.full(cap, fill, dtype=_DTYPES[type(fill)])
            if name[1:] in values:
                a[:n] = values[name[1:]]
            setattr(self, name, a)
        self._alive[:n] = True
        self._n = n  # slots used
        self._open = n  # alive slots

    def _compact(self) -> bool:
        """Drops closed slots (keeps the order) when they are more than half; True if it did
        (the subclass then renumbers what refers to slots)."""
        n = self._n
        if n - self._open <= n // 2 or n < 64:
            return False
        keep = np.flatnonzero(self._alive[:n])
        k = keep.shape[0]
        for name, _ in self._COLUMNS:
            a = getattr(self, name)
            a[:k] = a[keep]
        self._alive[k:n] = False
        self._n = k
        return True

    @staticmethod
    def _id_key(id: Any) -> int:
        """The int of a position id argument (TypeError if it is not an int)."""
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, (int, np.integer)):
            raise TypeError(f"id must be an int (got {type(id).__name__})")
        return int(id)

    @staticmethod
    def _no_position(key: int) -> ValueError:
        return ValueError(f"id must be the id of an open position (got {key})")

    def _grow(self) -> None:
        cap = max(16, 2 * self._q.shape[0])
        for name, fill in self._COLUMNS:
            old = getattr(self, name)
            new = np.full(cap, fill, dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _new_slot(self) -> tuple[int, int]:
        """A fresh slot for a new open position, and its new id."""
        if self._n == self._q.shape[0]:
            self._grow()
        s, new_id = self._n, self._next_id
        self._ids[s] = new_id
        self._alive[s] = True
        self._n += 1
        self._open += 1
        self._next_id += 1
        if self._slot_of is not None:
            self._slot_of[new_id] = s
        return s, new_id

    def _open_slots(self) -> I64:
        return np.flatnonzero(self._alive[: self._n])

    @property
    def ids(self) -> I64:
        """The open positions' ids, in the engine's order (a copy)."""
        return self._ids[self._open_slots()]

    @property
    def insurance_fund(self) -> float:
        """The fund's balance."""
        return self._fund

    @property
    def policy(self) -> Policy:
        return self._policy

    def __len__(self) -> int:
        return self._open


class Engine(_PositionSlots):
    """The live state of one market's liquidation engine; see the module docstring.

    Parameters
    ----------
    positions : Positions
        The open positions at the start (isolated, one market). Their ``account`` column is not
        used: the engine names positions by its own ids.
    book : Book
        The order book (copied).
    mark : float
        The mark price at the start (finite, > 0). The constructor does not liquidate: the first
        event does, if anything is liquidatable.
    policy : Policy, optional
        The liquidation rules (``Policy()`` by default).
    insurance_fund : float
        The fund's balance (finite, >= 0).
    ids : array-like of int64, optional
        One distinct id per position; by default ``0 .. n-1``. :meth:`open` gives new positions
        ``max(id) + 1`` onwards.
    resilience : float
        In [0, 1] (default 0: liquidated depth never returns by itself). With ``r > 0`` the
        engine keeps a *base* book -- the book given, then every :meth:`apply` and
        :meth:`set_book` -- and at the end of every event after its liquidations depleted the
        book, each level's quantity ``q`` becomes ``q + r·(q0 - q)`` (``q0`` the base
        quantity; a level the liquidations removed comes back), as after each round of
        :func:`liqcore.simulate_cascade`. A level within ``1e-12·q0`` of ``q0`` counts as
        recovered; once all have, events cost O(1) again. Book updates (``apply``) set a level
        in both books.
    """

    _COLUMNS = (("_q", 0.0), ("_ep", 1.0), ("_m", 0.0), ("_ids", 0), ("_alive", False),
                ("_stamp", 0))
    _m: F64
    _stamp: I64

    def __init__(
        self,
        positions: Positions,
        book: Book,
        mark: float,
        *,
        policy: Policy | None = None,
        insurance_fund: float = 0.0,
        ids: Any = None,
        resilience: float = 0.0,
    ) -> None:
        policy = _check_types(positions, book, policy)
        res = _resilience(resilience)
        n = len(positions)
        idv = self._checked_ids(ids, n)
        self._setup(
            np.array(positions._size), np.array(positions._entry_price),
            np.array(positions._margin), idv, book.copy(),
            _positive("mark", mark), _nonnegative("insurance_fund", insurance_fund), policy,
            _Recovery(res, book.copy()) if res > 0.0 else None,
        )
        if policy.contract == "inverse" and n:
            from liqcore.liquidation import _check_bankruptcy_prices

            _check_bankruptcy_prices(positions, policy)

    def _setup(self, q: F64, ep: F64, m: F64, ids: I64, book: Book, mark: float, fund: float,
               policy: Policy, rec: _Recovery | None = None) -> None:
        self._rec = rec
        n = int(q.shape[0])
        self._alloc(n, q=q, ep=ep, m=m, ids=ids)
        self._dead = 0  # invalidated index entries
        self._next_id = int(ids.max()) + 1 if n else 0
        self._sorted_ids = bool(n < 2 or (ids[1:] > ids[:-1]).all())
        self._slot_of: dict[int, int] | None = None
        self._book = book
        self._book_shared = False
        self._mark = mark
        self._fund = fund
        self._policy = policy
        self._inv = policy.contract == "inverse"
        self._cs = float(policy.contract_size)
        tiers = policy.tiers if policy.tiers is not None else ((0.0, policy.mmr),)
        self._tiers = _core.Tiers(
            np.array([t[0] for t in tiers], dtype=np.float64),
            np.array([t[1] for t in tiers], dtype=np.float64),
        )
        self._long = _SideIndex()
        self._short = _SideIndex()
        self._thr: tuple[float, float] | None = None
        self._rebuild()
        ledger = _empty_ledger()
        e_f, e_i = _frozen(np.empty(0)), _frozen(np.empty(0, np.int64))
        self._template: dict[str, Any] = {
            "liquidated": _frozen(np.empty(0, np.bool_)),
            "liquidations": Liquidations(e_i, e_f, e_f, e_f, e_f, e_f, e_f, e_f, e_f, e_f, e_f),
            "insurance_draw": 0.0, "residual": 0.0, "adl_transfers": 0.0, "uncovered": 0.0,
            "total_deficit": 0.0, "total_surplus": 0.0, "total_fees": 0.0,
            "inventory_loss": 0.0, "inventory_gain": 0.0, "unabsorbed": 0.0, "bad_debt": 0.0,
            "liquidated_notional": 0.0, "n_liquidated": 0, "ledger": ledger,
            "policy": policy, "account": e_i, "_adl": None,
        }
        self.last_result: LiquidationResult | None = None

    # ---- the liquidation-price index -------------------------------------------------------

    def _keys(self, slots: I64) -> tuple[F64, F64]:
        """(LP, slack) of the given slots (sizes != 0)."""
        q, ep, m = self._q[slots], self._ep[slots], self._m[slots]
        try:
            lp = _core.liquidation_price(q, ep, m, _NO_RATE, self._tiers, False, self._inv,
                                         self._cs, 1)
        except ValueError:  # a price beyond the float range: such positions are always checked
            lp = np.empty(q.shape[0])
            for k in range(q.shape[0]):
                try:
                    lp[k] = _core.liquidation_price(q[k : k + 1], ep[k : k + 1], m[k : k + 1],
                                                    _NO_RATE, self._tiers, False, self._inv,
                                                    self._cs, 1)[0]
                except ValueError:
                    lp[k] = np.inf if q[k] > 0.0 else -np.inf
        with np.errstate(invalid="ignore", over="ignore"):
            slack = _SLACK * (np.abs(lp) + ep)
        return lp, slack

    def _index(self, slots: I64, build: bool) -> None:
        slots = slots[self._q[slots] != 0.0]
        lp, slack = self._keys(slots)
        long = self._q[slots] > 0.0
        with np.errstate(invalid="ignore", over="ignore"):
            kl = lp[long] + slack[long]
            ks = -lp[~long] + slack[~long]
        kl[np.isnan(kl)] = math.inf  # undefined: always a candidate (the exact rule decides)
        ks[np.isnan(ks)] = math.inf
        self._long.put(kl, slots[long], self._stamp, build)
        self._short.put(ks, slots[~long], self._stamp, build)

    def _rebuild(self) -> None:
        self._thr = None
        self._compact()
        self._index(np.flatnonzero(self._alive[: self._n]), True)
        self._dead = 0

    def _compact(self) -> bool:
        if not super()._compact():
            return False
        self._stamp[: self._n] += 1  # old index entries refer to old slots
        self._slot_of = None
        return True

    def _changed(self, slots: I64) -> None:
        """Slots whose position changed (or closed): new stamps, new keys."""
        if slots.shape[0] == 0:
            return
        self._stamp[slots] += 1
        self._thr = None
        self._dead += int(slots.shape[0])
        if slots.shape[0] * 16 > self._open or self._dead * 4 > max(self._open, 4096):
            self._rebuild()
            return
        live = slots[self._alive[slots]]
        if live.shape[0]:
            self._index(live, False)

    def _thresholds(self) -> tuple[float, float]:
        """(tl, ts): a mark ``p`` may trigger iff ``p < tl`` or ``p > ts`` (cached until the
        next change)."""
        t = self._thr
        if t is None:
            t = self._thr = (self._long.top(self._stamp), -self._short.top(self._stamp))
        return t

    # ---- detection and the batch -----------------------------------------------------------

    def _liquidatable(self, p: float) -> bool:
        """Exact ``E < MM`` on the index's candidates at ``p``."""
        c = np.concatenate([
            self._long.candidates(p, self._stamp), self._short.candidates(-p, self._stamp)
        ])
        if c.shape[0] == 0:
            return False
        q = self._q[c]
        e, mm = self._equity_mm(q, self._ep[c], self._m[c], p)
        return bool(((q != 0.0) & (e < mm)).any())

    def _equity_mm(self, q: F64, ep: F64, m: F64, p: float) -> tuple[F64, F64]:
        """The kernel's equity and maintenance margin of these positions at the mark ``p``."""
        mk = np.array(p)
        e = _core.equity(q, ep, m, mk, self._inv, self._cs, 1)
        mm = _core.maintenance_margin(q, mk, _NO_RATE, self._tiers, self._inv, self._cs, 1)
        return e, mm

    def _step(self, p: float, name: str = "mark") -> LiquidationResult | None:
        """The mark is ``p``: the batch if anything is liquidatable, else None. A batch that
        cannot run (ValueError of liquidate) is reported naming ``name``; the state is then
        unchanged."""
        prev, self._mark = self._mark, p
        t = self._thr
        if t is None:
            t = self._thresholds()
        if not (p < t[0] or p > t[1]):
            return None
        try:
            if not self._liquidatable(p):
                return None
            return self._batch(p)
        except ValueError as e:
            self._mark = prev
            raise ValueError(f"{name} {p!r}: {e}") from None

    def _positions_of(self, slots: I64) -> Positions:
        out = Positions.__new__(Positions)
        out._size = self._q[slots]
        out._entry_price = self._ep[slots]
        out._margin = self._m[slots]
        out._account = self._ids[slots]
        return out

    def _batch(self, p: float) -> LiquidationResult:
        slots = self._open_slots()
        r = liquidate(self._positions_of(slots), self._book, p, self._policy, self._fund)
        lq = r.liquidations
        changed = [np.empty(0, np.int64)]
        if lq.position.shape[0]:
            s_l = slots[lq.position]
            q = self._q[s_l]
            closed = lq.closed
            full = closed >= np.abs(q)
            gone = s_l[full]
            self._alive[gone] = False
            self._open -= int(gone.shape[0])
            part = ~full
            if part.any():
                sp = s_l[part]
                qp, ep, mp = q[part], self._ep[sp], self._m[sp]
                dq = np.where(qp > 0.0, closed[part], -closed[part])  # s·closed
                v = lq.vwap[part]
                with np.errstate(invalid="ignore", divide="ignore"):
                    gain = dq * self._cs * (1.0 / ep - 1.0 / v) if self._inv else dq * (v - ep)
                gain = np.where(closed[part] > 0.0, gain, 0.0)
                self._q[sp] = qp - dq
                self._set_margin(sp, (mp + gain) - lq.fee[part])
                changed.append(sp)
            changed.append(gone)
        adl = r._adl
        if adl is not None and adl.shape[0]:
            hit = np.flatnonzero(adl)
            if hit.shape[0]:
                sa = slots[hit]
                self._set_margin(sa, self._m[sa] - adl[hit])
                changed.append(sa)
        self._book = r.book
        self._book_shared = True
        self._fund = float(r.insurance_fund)
        if self._rec is not None:
            self._rec.depleted = True
        self._changed(np.concatenate(changed))
        return r

    def _recover(self) -> None:
        """The end of an event: the book recovers toward the base book (resilience)."""
        rec = self._rec
        if rec is not None and rec.depleted:
            rec.recover(self._own_book())

    def _set_margin(self, slots: I64, m: F64) -> None:
        """Margin ``m``; a negative one is realized from the PnL: entry price moved, margin 0."""
        neg = m < 0.0
        if neg.any():
            s, mn = slots[neg], m[neg]
            q, ep = self._q[s], self._ep[s]
            ep2 = 1.0 / (1.0 / ep + mn / (q * self._cs)) if self._inv else ep - mn / q
            ok = np.isfinite(ep2) & (ep2 > 0.0)
            self._ep[s] = np.where(ok, ep2, ep)
            m = np.where(neg, 0.0, m)
        self._m[slots] = m

    def _empty(self, p: float) -> LiquidationResult:
        r = object.__new__(LiquidationResult)
        d = r.__dict__
        d.update(self._template)
        d["mark"] = p
        d["insurance_fund"] = d["insurance_fund_before"] = self._fund
        d["book"] = self._book
        self._book_shared = True
        return r

    def _after(self) -> LiquidationResult:
        r = self._step(self._mark)
        out = self._empty(self._mark) if r is None else r
        self._recover()
        self.last_result = out
        return out

    def _own_book(self) -> Book:
        if self._book_shared:
            self._book = self._book.copy()
            self._book_shared = False
        return self._book

    # ---- events ----------------------------------------------------------------------------

    def on_mark(self, price: float) -> LiquidationResult:
        """The mark moves to ``price``: liquidates what is liquidatable there (see the module
        docstring). O(1) when nothing triggers."""
        p = price if type(price) is float and 0.0 < price < math.inf else _positive("price", price)
        r = self._step(p, "price")
        out = self._empty(p) if r is None else r
        if self._rec is not None:
            self._recover()
        self.last_result = out
        return out

    def run_marks(self, marks: Any) -> MarkRun:
        """Feeds a stream of marks (1-D, finite, > 0), the same as ``on_mark`` for each in
        turn, vectorized: NumPy finds the next mark that may trigger. Returns the batches that
        ran with the index of the mark that triggered each; the engine's mark is the last one."""
        a = as_f64("marks", marks)
        if a.ndim != 1:
            a = a.reshape(1)
        bad = first_bad(np.isfinite(a) & (a > 0.0))
        if bad is not None:
            raise ValueError(f"marks[{bad}] must be finite and > 0 (got {float(a[bad])!r})")
        n = int(a.shape[0])
        idx: list[int] = []
        res: list[LiquidationResult] = []
        i = 0
        while i < n:
            if self._rec is not None and self._rec.depleted:  # recovering: one mark at a time
                r = self._step(float(a[i]), f"marks[{i}]")
                self._recover()
                if r is not None:
                    idx.append(i)
                    res.append(r)
                i += 1
                continue
            tl, ts = self._thresholds()
            j = -1
            while i < n:
                c = a[i : i + _CHUNK]
                hit = (c < tl) | (c > ts)
                k = int(np.argmax(hit))
                if hit[k]:
                    j = i + k
                    break
                i += int(c.shape[0])
            if j < 0:
                break
            r = self._step(float(a[j]), f"marks[{j}]")
            self._recover()
            if r is not None:
                idx.append(j)
                res.append(r)
            i = j + 1
        if n:
            self._mark = float(a[-1])
        if res:
            self.last_result = res[-1]
        return MarkRun(np.array(idx, dtype=np.int64), tuple(res), n)

    def apply(self, side: Any, px: Any, qty: Any) -> None:
        """Book L2 updates, as :meth:`liqcore.Book.apply` (absolute level quantities; 0 deletes
        the level). Book updates do not move the mark and trigger nothing. With resilience the
        update sets the level in the base book too."""
        if self._rec is not None:
            self._rec.base.apply(side, px, qty)
        self._own_book().apply(side, px, qty)

    def _apply_levels(self, bp: F64, bq: F64, ap: F64, aq: F64) -> None:
        """Validated updates straight to the compiled book (the replay's path)."""
        if self._rec is not None:
            self._rec.base._b.apply(bp, bq, ap, aq)
        self._own_book()._b.apply(bp, bq, ap, aq)

    def set_book(self, book: Book) -> None:
        """Replaces the book by a copy of ``book`` (a snapshot). Triggers nothing."""
        self._book = _check_book(book).copy()
        self._book_shared = False
        if self._rec is not None:
            self._rec.reset(book)

    def open(self, size: float, entry_price: float, margin: float) -> int:
        """Opens a position and returns its new id. It may be liquidatable at the current mark
        at once: the batch's result (or an empty one) is :attr:`last_result`."""
        q = finite("size", _real("size", size))
        ep = _positive("entry_price", entry_price)
        m = _nonnegative("margin", margin)
        self._check_inverse(q, ep, m)
        s, new_id = self._new_slot()
        self._q[s], self._ep[s], self._m[s] = q, ep, m
        self._changed(np.array([s], dtype=np.int64))
        self._after()
        return new_id

    def update(self, id: int, size: float | None = None, margin: float | None = None, *,
               entry_price: float | None = None) -> LiquidationResult:
        """Sets a position's size, margin and/or entry price (None keeps it); returns the batch
        this triggers at the current mark (or an empty result)."""
        q0 = None if size is None else finite("size", _real("size", size))
        ep0 = None if entry_price is None else _positive("entry_price", entry_price)
        m0 = None if margin is None else _nonnegative("margin", margin)
        s = self._slot(id)
        q = self._q[s] if q0 is None else q0
        ep = self._ep[s] if ep0 is None else ep0
        m = self._m[s] if m0 is None else m0
        self._check_inverse(float(q), float(ep), float(m))
        self._q[s], self._ep[s], self._m[s] = q, ep, m
        self._changed(np.array([s], dtype=np.int64))
        return self._after()

    def close(self, id: int) -> LiquidationResult:
        """Removes a position (closed by its owner); returns what triggers at the current mark
        (usually an empty result)."""
        s = self._slot(id)
        self._alive[s] = False
        self._open -= 1
        self._changed(np.array([s], dtype=np.int64))
        return self._after()

    def deposit(self, id: int, amount: float) -> LiquidationResult:
        """Adds ``amount`` (finite, > 0) to a position's margin."""
        a = _positive("amount", amount)
        s = self._slot(id)
        self._m[s] = self._m[s] + a
        self._changed(np.array([s], dtype=np.int64))
        return self._after()

    def withdraw(self, id: int, amount: float) -> LiquidationResult:
        """Takes ``amount`` (finite, > 0, at most the margin) from a position's margin.
        ValueError if that would make it liquidatable at the current mark (E < MM); the state
        is then unchanged."""
        a = _positive("amount", amount)
        s = self._slot(id)
        m = float(self._m[s])
        if a > m:
            raise ValueError(f"amount must be <= the margin of position {id} ({m!r}) (got {a!r})")
        q, ep = self._q[s : s + 1], self._ep[s : s + 1]
        e, mm = self._equity_mm(q, ep, np.array([m - a]), self._mark)
        if q[0] != 0.0 and e[0] < mm[0]:
            raise ValueError(
                f"withdraw: amount {a!r} would make position {id} liquidatable at mark "
                f"{self._mark!r} (equity {float(e[0])!r} < maintenance {float(mm[0])!r})"
            )
        self._m[s] = m - a
        self._changed(np.array([s], dtype=np.int64))
        return self._after()

    # ---- helpers ---------------------------------------------------------------------------

    def _check_inverse(self, q: float, ep: float, m: float) -> None:
        if self._inv and q != 0.0:
            from liqcore.liquidation import _check_bankruptcy_prices

            _check_bankruptcy_prices(Positions([q], [ep], [m]), self._policy)

    def _slot(self, id: Any) -> int:
        key = self._id_key(id)
        n = self._n
        if self._sorted_ids:
            s = int(np.searchsorted(self._ids[:n], key))
            found = s < n and int(self._ids[s]) == key and bool(self._alive[s])
        else:
            if self._slot_of is None:
                live = self._open_slots()
                self._slot_of = dict(zip(self._ids[live].tolist(), live.tolist()))
            got = self._slot_of.get(key)
            found = got is not None and bool(self._alive[got])
            s = -1 if got is None else got
        if not found:
            raise self._no_position(key)
        return s

    # ---- state out -------------------------------------------------------------------------

    @property
    def positions(self) -> Positions:
        """The open positions (copies) in the engine's order, with their ids as ``account``."""
        return self._positions_of(self._open_slots())

    @property
    def book(self) -> Book:
        """A copy of the current book."""
        return self._book.copy()

    @property
    def mark(self) -> float:
        """The current mark."""
        return self._mark

    @property
    def resilience(self) -> float:
        """The book's recovery rate per event (0: none)."""
        return 0.0 if self._rec is None else self._rec.rate

    @property
    def base_book(self) -> Book:
        """A copy of the base book the live book recovers toward (the live book without
        resilience)."""
        return (self._book if self._rec is None else self._rec.base).copy()

    def __repr__(self) -> str:
        return (f"Engine(positions={self._open}, mark={self._mark!r}, "
                f"insurance_fund={self._fund!r}, book={self._book!r})")

    def __getstate__(self) -> dict[str, Any]:
        s = self._open_slots()
        return {
            "size": self._q[s], "entry_price": self._ep[s], "margin": self._m[s],
            "ids": self._ids[s], "book": self._book.copy(), "mark": self._mark,
            "insurance_fund": self._fund, "policy": self._policy, "next_id": self._next_id,
            "recovery": self._rec,
        }

    def __setstate__(self, st: dict[str, Any]) -> None:
        self._setup(st["size"], st["entry_price"], st["margin"], st["ids"], st["book"],
                    st["mark"], st["insurance_fund"], st["policy"], st.get("recovery"))
        self._next_id = int(st["next_id"])
