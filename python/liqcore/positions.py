"""Positions of one market (docs/model.md §1), the input of :func:`liqcore.liquidate`.

Units and signs: ``size`` is signed (``> 0`` long, ``< 0`` short) in base units for linear
contracts or in contracts for inverse ones; ``entry_price`` in quote per base; ``margin`` (the
isolated margin of the position, ``>= 0``) in the margin currency: quote for linear contracts,
coin for inverse ones. ``account`` is an optional int64 account id per position. Isolated
margin is the case of one position per account; cross-margin accounts (several markets and
collateral assets) group positions by this id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from liqcore._arrays import (
    F64,
    I64,
    Column,
    as_array,
    as_f64,
    as_i64,
    broadcast,
    common_length,
    first_bad,
    frame_columns,
    pandas,
)
from liqcore._arrays import readonly as _readonly

__all__ = ["Positions"]

_COLUMNS = ("size", "entry_price", "margin")


def _check(name: str, a: Any, ok: Any, what: str) -> None:
    """ValueError at the first element of ``a`` where ``ok`` is False."""
    bad = first_bad(ok)
    if bad is not None:  # float(): the message shows "nan", not "np.float64(nan)"
        raise ValueError(f"{name}[{bad}] must be {what} (got {float(a[bad])!r})")


def _account(x: Any) -> I64:
    return as_i64("account", x)


class Positions:
    """Isolated positions of one market: signed ``size``, ``entry_price``, ``margin`` and an
    optional ``account`` id, as 1-D arrays of one length.

    Any array-like is accepted; C-contiguous float64 (int64 for ``account``) arrays are used
    without a copy, and the properties return read-only views. A scalar stands for every
    position; arrays of different lengths are an error. Raises ValueError naming the column
    and the first bad index: ``size`` finite, ``entry_price`` finite and > 0, ``margin``
    finite and >= 0; TypeError for non-numeric input.
    """

    __slots__ = ("_account", "_entry_price", "_margin", "_size")

    def __init__(self, size: Any, entry_price: Any, margin: Any, account: Any = None) -> None:
        cols = {
            "size": as_f64("size", size),
            "entry_price": as_f64("entry_price", entry_price),
            "margin": as_f64("margin", margin),
        }
        shaped = {
            k: (v.reshape(()) if np.ndim(x) == 0 else v)
            for (k, v), x in zip(cols.items(), (size, entry_price, margin))
        }
        acc: I64 | None = None
        if account is not None:
            a = _account(account)
            shaped["account"] = a.reshape(()) if np.ndim(account) == 0 else a  # type: ignore[assignment]
        n = common_length(shaped)
        q = broadcast(n, shaped["size"])
        ep = broadcast(n, shaped["entry_price"])
        m = broadcast(n, shaped["margin"])
        with np.errstate(invalid="ignore"):
            _check("size", q, np.isfinite(q), "finite")
            _check("entry_price", ep, np.isfinite(ep) & (ep > 0), "finite and > 0")
            _check("margin", m, np.isfinite(m) & (m >= 0), "finite and >= 0")
        if account is not None:
            a = shaped["account"]  # type: ignore[assignment]
            acc = np.full(n, int(a), dtype=np.int64) if a.ndim == 0 else a
        self._size: F64 = q
        self._entry_price: F64 = ep
        self._margin: F64 = m
        self._account: I64 | None = acc

    # ---- columns -----------------------------------------------------------------------

    size = Column[F64](
        "_size", "Signed size (+ long, - short), base units or contracts; read-only view."
    )

    entry_price = Column[F64]("_entry_price", "Entry price, quote per base; read-only view.")

    margin = Column[F64](
        "_margin", "Isolated margin in the margin currency (>= 0); read-only view."
    )

    @property
    def account(self) -> I64 | None:
        """Account id per position (int64), or None; read-only view."""
        return None if self._account is None else _readonly(self._account)

    def __len__(self) -> int:
        return int(self._size.shape[0])

    # ---- selection -----------------------------------------------------------------------

    def take(self, indices: Any) -> Positions:
        """The positions at ``indices`` (integer array, negative counts from the end), copies."""
        idx = as_array("indices", indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers (got dtype {idx.dtype})")
        n = len(self)
        if idx.size and (idx.max() >= n or idx.min() < -n):
            bad = int(np.argmax((idx >= n) | (idx < -n)))
            raise IndexError(
                f"indices[{bad}] is out of range for {n} positions (got {int(idx.flat[bad])})"
            )
        return self._subset(idx)

    def _subset(self, key: Any) -> Positions:
        out = Positions.__new__(Positions)
        out._size = np.ascontiguousarray(self._size[key])
        out._entry_price = np.ascontiguousarray(self._entry_price[key])
        out._margin = np.ascontiguousarray(self._margin[key])
        out._account = None if self._account is None else np.ascontiguousarray(self._account[key])
        return out

    def __getitem__(self, key: int | slice | npt.ArrayLike) -> Positions:
        """``positions[i]`` (one position), ``positions[a:b]``, a boolean mask or an index array."""
        if isinstance(key, (int, np.integer)):
            n = len(self)
            if not -n <= int(key) < n:
                raise IndexError(f"position index {int(key)} is out of range for {n} positions")
            return self._subset(slice(int(key) % n, int(key) % n + 1))
        if isinstance(key, slice):
            return self._subset(key)
        k = np.asarray(key)
        if k.dtype == np.bool_:
            if k.shape != (len(self),):
                raise ValueError(f"boolean mask has shape {k.shape}, expected ({len(self)},)")
            return self._subset(k)
        return self.take(k)

    # ---- frames and pickling ---------------------------------------------------------------

    @classmethod
    def from_frame(cls, frame: Any) -> Positions:
        """Positions from a pandas DataFrame (or any mapping of columns) with columns
        ``size``, ``entry_price``, ``margin`` and optionally ``account``."""
        names, col = frame_columns(frame, _COLUMNS)
        account = col("account") if "account" in names else None
        return cls(col("size"), col("entry_price"), col("margin"), account)

    def to_frame(self) -> Any:
        """A pandas DataFrame with columns size, entry_price, margin (and account)."""
        pd = pandas("Positions.to_frame()")
        data: dict[str, Any] = {
            "size": self._size,
            "entry_price": self._entry_price,
            "margin": self._margin,
        }
        if self._account is not None:
            data["account"] = self._account
        return pd.DataFrame(data)

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` with columns size, entry_price, margin (and account), sharing
        these arrays' buffers (no copy). Needs pyarrow (``liqcore[parquet]``)."""
        from liqcore.arrow import positions_to_arrow

        return positions_to_arrow(self)

    @classmethod
    def from_arrow(cls, table: Any) -> Positions:
        """Positions from a ``pyarrow.Table`` or ``RecordBatch`` with columns size,
        entry_price, margin and optionally account. Float64 (int64) columns in one chunk
        without nulls are used without a copy; a null is a ValueError naming the column and
        index. Needs pyarrow (``liqcore[parquet]``)."""
        from liqcore.arrow import positions_from_arrow

        return positions_from_arrow(table)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "size": self._size,
            "entry_price": self._entry_price,
            "margin": self._margin,
            "account": self._account,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._size = state["size"]
        self._entry_price = state["entry_price"]
        self._margin = state["margin"]
        self._account = state["account"]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Positions):
            return NotImplemented
        same_acc = (self._account is None and other._account is None) or (
            self._account is not None
            and other._account is not None
            and np.array_equal(self._account, other._account)
        )
        return bool(
            same_acc
            and np.array_equal(self._size, other._size)
            and np.array_equal(self._entry_price, other._entry_price)
            and np.array_equal(self._margin, other._margin)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        n = len(self)
        longs = int(np.count_nonzero(self._size > 0))
        shorts = int(np.count_nonzero(self._size < 0))
        acc = "" if self._account is None else ", with accounts"
        return f"Positions(n={n}, longs={longs}, shorts={shorts}{acc})"
