"""Positions and liquidation results to and from Arrow, positions as Parquet (liqcore.arrow)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import liqcore.io as lio
import numpy as np
import pytest
from liqcore import Book, Policy, Positions, liquidate

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def positions(account: bool = True) -> Positions:
    return Positions(
        size=[2.0, -1.5, 0.5, 1.0],
        entry_price=[61_000.0, 59_000.0, 60_500.0, 60_000.0],
        margin=[4_000.0, 9_000.0, 3_000.0, 100.0],
        account=[7, 8, 9, 10] if account else None,
    )


def address(a: np.ndarray) -> int:  # type: ignore[type-arg]
    return int(a.__array_interface__["data"][0])


def test_to_arrow_columns_and_no_copy() -> None:
    p = positions()
    t = p.to_arrow()
    assert t.schema.names == ["size", "entry_price", "margin", "account"]
    assert [str(x) for x in t.schema.types] == ["double", "double", "double", "int64"]
    assert t.column("size").to_pylist() == [2.0, -1.5, 0.5, 1.0]
    assert t.column("margin").to_pylist() == [4_000.0, 9_000.0, 3_000.0, 100.0]
    assert t.column("account").to_pylist() == [7, 8, 9, 10]
    # Arrow wraps the positions' buffers
    assert t.column("entry_price").chunk(0).buffers()[1].address == address(p.entry_price)
    assert positions(account=False).to_arrow().schema.names == ["size", "entry_price", "margin"]


def test_from_arrow_zero_copy_round_trip() -> None:
    p = positions()
    t = p.to_arrow()
    q = Positions.from_arrow(t)
    assert q == p
    for name in ("size", "entry_price", "margin", "account"):
        assert address(getattr(q, name)) == t.column(name).chunk(0).buffers()[1].address
    assert not q.size.flags.writeable
    assert Positions.from_arrow(t.to_batches()[0]) == p  # a RecordBatch


def test_from_arrow_converts_other_layouts() -> None:
    t = pa.table({
        "size": pa.array([1, -2], type=pa.int32()),
        "entry_price": pa.array([100.0, 200.0], type=pa.float32()),
        "margin": pa.chunked_array([[5.0], [6.0]]),  # two chunks: copied once
        "account": pa.array([1, 2], type=pa.int16()),
        "note": pa.array(["a", "b"]),  # ignored
    })
    q = Positions.from_arrow(t)
    assert q == Positions([1.0, -2.0], [100.0, 200.0], [5.0, 6.0], [1, 2])
    assert q.size.dtype == np.float64
    assert q.account is not None
    assert q.account.dtype == np.int64
    sliced = positions().to_arrow().slice(1, 2)  # an offset into the buffers
    assert Positions.from_arrow(sliced) == positions()[1:3]


def test_from_arrow_errors() -> None:
    t = pa.table({"size": [1.0, 2.0], "entry_price": [1.0, 1.0], "margin": [1.0, None]})
    with pytest.raises(ValueError, match=r"margin\[1\] is null \(got None\)"):
        Positions.from_arrow(t)
    t = pa.table({"size": [1.0], "margin": [1.0]})
    with pytest.raises(ValueError, match="table is missing column\\(s\\) 'entry_price'"):
        Positions.from_arrow(t)
    t = pa.table({"size": ["1"], "entry_price": [1.0], "margin": [1.0]})
    with pytest.raises(TypeError, match=r"size must be a numeric column \(got Arrow type string\)"):
        Positions.from_arrow(t)
    t = pa.table({"size": [1.0], "entry_price": [-1.0], "margin": [1.0]})
    with pytest.raises(ValueError, match=r"entry_price\[0\] must be finite and > 0 \(got -1.0\)"):
        Positions.from_arrow(t)
    with pytest.raises(TypeError, match="table must be a pyarrow Table or RecordBatch"):
        Positions.from_arrow({"size": [1.0]})


def test_liquidate_on_arrow_positions() -> None:
    """Read-only views of Arrow buffers go through the kernels unchanged."""
    book = Book.synthetic(mid=60_000.0, seed=0)
    p = positions()
    a = liquidate(Positions.from_arrow(p.to_arrow()), book, mark=58_500.0, policy=Policy(),
                  insurance_fund=1e6)
    b = liquidate(p, book, mark=58_500.0, policy=Policy(), insurance_fund=1e6)
    assert np.array_equal(a.closed, b.closed)
    assert np.array_equal(a.deficit, b.deficit)
    assert a.n_liquidated == b.n_liquidated >= 1


def test_liquidation_result_to_arrow() -> None:
    res = liquidate(positions(), Book.synthetic(mid=60_000.0, seed=0), mark=58_500.0,
                    policy=Policy(), insurance_fund=1e6)
    t = res.to_arrow()
    assert t.num_rows == 4
    assert t.schema.names[:3] == ["account", "liquidated", "sequence"]
    assert t.column("account").to_pylist() == [7, 8, 9, 10]
    assert t.column("liquidated").to_pylist() == res.liquidated.tolist()
    assert t.column("sequence").type == pa.int64()
    np.testing.assert_array_equal(t.column("vwap").to_numpy(), res.vwap)  # NaN where not closed
    assert t.column("deficit").to_pylist() == res.deficit.tolist()
    summary = json.loads(t.schema.metadata[b"liqcore.summary"])
    assert summary["liquidated"] == res.n_liquidated
    assert summary["insurance_fund_after"] == res.insurance_fund
    pytest.importorskip("pandas")
    frame = res.to_frame()
    assert list(frame.columns) == t.schema.names
    np.testing.assert_array_equal(frame["closed"].to_numpy(), t.column("closed").to_numpy())


def test_parquet_round_trip(tmp_path: Path) -> None:
    for acc in (True, False):
        f = tmp_path / f"pos{acc}.parquet"
        lio.write_positions_parquet(positions(acc), f)
        assert lio.read_positions_parquet(f) == positions(acc)
        assert lio.read_positions_parquet(str(f)) == positions(acc)
    extra = positions().to_arrow().append_column("note", pa.array(list("abcd")))
    pq.write_table(extra, tmp_path / "extra.parquet")
    assert lio.read_positions_parquet(tmp_path / "extra.parquet") == positions()


def test_parquet_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.parquet"):
        lio.read_positions_parquet(tmp_path / "missing.parquet")
    pq.write_table(pa.table({"size": [1.0], "entry_price": [1.0]}), tmp_path / "m.parquet")
    with pytest.raises(ValueError, match=r"m\.parquet: table is missing column\(s\) 'margin'"):
        lio.read_positions_parquet(tmp_path / "m.parquet")
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike"):
        lio.read_positions_parquet(3)  # type: ignore[arg-type]


def test_missing_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    for call in (
        lambda: positions().to_arrow(),
        lambda: Positions.from_arrow(None),
        lambda: lio.read_positions_parquet(tmp_path / "x.parquet"),
        lambda: lio.write_positions_parquet(positions(), tmp_path / "x.parquet"),
    ):
        with pytest.raises(ImportError, match=r"needs pyarrow: .*liqcore\[parquet\]"):
            call()
