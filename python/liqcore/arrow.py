"""Positions and liquidation results as Apache Arrow tables, and positions as Parquet files.

pyarrow is an optional dependency (``pip install liqcore[parquet]``); every function here
raises ImportError naming that extra when it is missing.

Layout: one column per field, float64 for ``size``, ``entry_price``, ``margin`` and int64 for
``account`` (when present). Going to Arrow wraps the NumPy buffers without copying them (Arrow
shares them, so keep the table read-only). Coming back is zero-copy where the layout allows: a
float64 (int64 for ``account``) column in one chunk without nulls becomes a read-only NumPy view
of the Arrow buffer; other numeric types and chunked columns are converted (copied) once. A
null anywhere is a ValueError naming the column and the first null's index.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from liqcore.positions import Positions

if TYPE_CHECKING:
    from liqcore.liquidation import LiquidationResult

__all__ = [
    "liquidation_result_to_arrow",
    "positions_from_arrow",
    "positions_to_arrow",
    "read_positions_parquet",
    "write_positions_parquet",
]

PathLike = Union[str, "os.PathLike[str]"]

_COLUMNS = ("size", "entry_price", "margin")


def _pyarrow(what: str) -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ImportError(
            f"{what} needs pyarrow: pip install pyarrow (or liqcore[parquet])"
        ) from None
    return pa


def _parquet(what: str) -> Any:
    _pyarrow(what)
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    return pq


def _check_path(path: Any) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (got {type(path).__name__})")


def positions_to_arrow(positions: Positions) -> Any:
    """A ``pyarrow.Table`` with columns size, entry_price, margin (float64) and account (int64,
    when the positions carry account ids), sharing the positions' buffers."""
    pa = _pyarrow("Positions.to_arrow()")
    if not isinstance(positions, Positions):
        raise TypeError(f"positions must be a Positions (got {type(positions).__name__})")
    data = {
        "size": pa.array(positions.size),
        "entry_price": pa.array(positions.entry_price),
        "margin": pa.array(positions.margin),
    }
    if positions.account is not None:
        data["account"] = pa.array(positions.account)
    return pa.table(data)


def _column(pa: Any, table: Any, name: str, dtype: Any) -> Any:
    """The column ``name`` as a NumPy array: a zero-copy view when it is one chunk of ``dtype``
    without nulls, a converted copy otherwise."""
    col = table.column(name)
    if col.null_count:
        mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        raise ValueError(f"{name}[{int(np.argmax(mask))}] is null (got None)")
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    if len(chunks) == 1 and chunks[0].type == dtype:
        return chunks[0].to_numpy(zero_copy_only=True)
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
            or pa.types.is_boolean(col.type)):
        raise TypeError(f"{name} must be a numeric column (got Arrow type {col.type})")
    return col.to_numpy() if isinstance(col, pa.ChunkedArray) else col.to_numpy(
        zero_copy_only=False
    )


def positions_from_arrow(table: Any) -> Positions:
    """Positions from a ``pyarrow.Table`` or ``RecordBatch`` with columns size, entry_price,
    margin and optionally account (other columns are ignored); validated as by
    :class:`liqcore.Positions`."""
    pa = _pyarrow("Positions.from_arrow()")
    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        raise TypeError(
            f"table must be a pyarrow Table or RecordBatch (got {type(table).__name__})"
        )
    names = list(table.schema.names)
    missing = [c for c in _COLUMNS if c not in names]
    if missing:
        raise ValueError(
            f"table is missing column(s) {', '.join(map(repr, missing))} "
            f"(has {', '.join(map(repr, names))})"
        )
    f64, i64 = pa.float64(), pa.int64()
    size, entry_price, margin = (_column(pa, table, c, f64) for c in _COLUMNS)
    account = _column(pa, table, "account", i64) if "account" in names else None
    return Positions(size, entry_price, margin, account)


def write_positions_parquet(positions: Positions, path: PathLike) -> None:
    """Write ``positions`` to a Parquet file (the columns of :meth:`Positions.to_arrow`)."""
    pq = _parquet("write_positions_parquet()")
    _check_path(path)
    pq.write_table(positions_to_arrow(positions), os.fspath(path))


def read_positions_parquet(path: PathLike) -> Positions:
    """Positions from a Parquet file with columns size, entry_price, margin[, account] (other
    columns are not read)."""
    pq = _parquet("read_positions_parquet()")
    _check_path(path)
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"no such file: {p!r}")
    names = pq.read_schema(p).names
    wanted = [c for c in (*_COLUMNS, "account") if c in names]
    try:
        return positions_from_arrow(pq.read_table(p, columns=wanted))
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None


def liquidation_result_to_arrow(result: LiquidationResult) -> Any:
    """The per-position fields of ``result`` as a ``pyarrow.Table`` (the columns of
    :meth:`LiquidationResult.to_frame`), with :meth:`LiquidationResult.summary` as JSON in the
    schema metadata under ``b"liqcore.summary"``."""
    pa = _pyarrow("LiquidationResult.to_arrow()")
    from liqcore.liquidation import _PER_POSITION

    data: dict[str, Any] = {}
    if result.account is not None:
        data["account"] = pa.array(result.account)
    for name in _PER_POSITION:
        data[name] = pa.array(getattr(result, name))
    table = pa.table(data)
    return table.replace_schema_metadata({"liqcore.summary": json.dumps(result.summary())})
