"""Tardis.dev CSV datasets (liqcore.io.read_tardis_*): samples in Tardis's documented formats."""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import liqcore.io as lio
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from liqcore.book import Book

L2_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"

# (exchange timestamp, local timestamp, is_snapshot, side, price, amount); lines 2..11
L2_ROWS = [
    (1000, 1100, "true", "bid", "100.0", "1.0"),  # 2: snapshot at local 1100
    (1000, 1100, "true", "bid", "99.5", "2.0"),  # 3
    (1000, 1100, "true", "ask", "100.5", "3.0"),  # 4
    (1000, 1100, "true", "ask", "101.0", "4.0"),  # 5
    (2000, 2100, "false", "bid", "100.0", "0"),  # 6: delete the best bid
    (2000, 2100, "false", "bid", "99.8", "5.0"),  # 7: insert
    (2000, 2100, "false", "ask", "102.0", "0"),  # 8: delete of an absent level: no-op
    (3000, 3100, "false", "ask", "100.5", "1.5"),  # 9: update
    (4000, 4100, "true", "bid", "90.0", "1.0"),  # 10: a new snapshot discards the book
    (4000, 4100, "true", "ask", "91.0", "1.0"),  # 11
]


def l2_text(rows: list[tuple[object, ...]], symbol: str = "BTCUSDT") -> str:
    lines = [L2_HEADER]
    lines += [",".join(["binance-futures", symbol, *map(str, r)]) for r in rows]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str, *, gz: bool = False) -> Path:
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def levels(book: Book) -> list[list[float]]:
    (bp, bq), (ap, aq) = book.bids, book.asks
    return [bp.tolist(), bq.tolist(), ap.tolist(), aq.tolist()]


@pytest.fixture
def l2(tmp_path: Path) -> Path:
    return write(tmp_path / "l2.csv", l2_text(L2_ROWS))


# --------------------------------------------------------------------------------------------
# incremental_book_L2
# --------------------------------------------------------------------------------------------

AFTER_SNAPSHOT = [[100.0, 99.5], [1.0, 2.0], [100.5, 101.0], [3.0, 4.0]]
AFTER_DIFF = [[99.8, 99.5], [5.0, 2.0], [100.5, 101.0], [3.0, 4.0]]
AFTER_UPDATE = [[99.8, 99.5], [5.0, 2.0], [100.5, 101.0], [1.5, 4.0]]
FINAL = [[90.0], [1.0], [91.0], [1.0]]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (1100, AFTER_SNAPSHOT),
        (2099, AFTER_SNAPSHOT),
        (2100, AFTER_DIFF),
        (3100, AFTER_UPDATE),
        (4099, AFTER_UPDATE),
        (4100, FINAL),
        (None, FINAL),
    ],
)
def test_l2_replay_at_local_time(l2: Path, at: int | None, expected: list[list[float]]) -> None:
    assert levels(lio.read_tardis_book(l2, at)) == expected


def test_l2_exchange_clock(l2: Path) -> None:
    assert levels(lio.read_tardis_book(l2, 2000, clock="timestamp")) == AFTER_DIFF
    assert levels(lio.read_tardis_book(l2, 2099, clock="timestamp")) == AFTER_DIFF
    assert levels(lio.read_tardis_book(l2, 1999, clock="timestamp")) == AFTER_SNAPSHOT


def test_l2_gzip_same_as_plain(tmp_path: Path, l2: Path) -> None:
    gz = write(tmp_path / "l2.csv.gz", l2_text(L2_ROWS), gz=True)
    for at in (1100, 3100, None):
        assert levels(lio.read_tardis_book(gz, at)) == levels(lio.read_tardis_book(l2, at))
    arrays = lio.read_tardis_book_arrays(gz, 2100)
    assert [x.tolist() for x in arrays] == AFTER_DIFF


def test_l2_columns_by_name(tmp_path: Path) -> None:
    """Column order does not matter; extra columns are ignored; CRLF line ends are fine."""
    header = "side,price,amount,is_snapshot,local_timestamp,timestamp,symbol,exchange,extra"
    rows = [f"{s},{p},{a},{snap},{lt},{t},BTCUSDT,x,?" for t, lt, snap, s, p, a in L2_ROWS]
    f = tmp_path / "shuffled.csv"
    f.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode())
    assert levels(lio.read_tardis_book(f, 3100)) == AFTER_UPDATE


def test_l2_rows_before_first_snapshot_apply_to_an_empty_book(tmp_path: Path) -> None:
    f = write(tmp_path / "l2.csv", l2_text([
        (1, 1, "false", "bid", "10", "1"),
        (2, 2, "false", "ask", "11", "2"),
        (3, 3, "false", "bid", "10", "3"),
    ]))
    assert levels(lio.read_tardis_book(f)) == [[10.0], [3.0], [11.0], [2.0]]


def test_l2_consecutive_snapshot_rows_build_one_book(tmp_path: Path) -> None:
    """A snapshot split over two local times is one snapshot: the second part does not reset."""
    f = write(tmp_path / "l2.csv", l2_text([
        (1, 1, "true", "bid", "10", "1"),
        (1, 2, "true", "ask", "11", "2"),
    ]))
    assert levels(lio.read_tardis_book(f)) == [[10.0], [1.0], [11.0], [2.0]]


def test_l2_symbols(tmp_path: Path) -> None:
    text = l2_text(L2_ROWS[:4]) + l2_text(
        [(1000, 1200, "true", "bid", "10.0", "7"), (1000, 1200, "true", "ask", "11.0", "8")],
        symbol="ETHUSDT",
    ).split("\n", 1)[1]
    f = write(tmp_path / "multi.csv", text)
    with pytest.raises(
        ValueError, match=r"multi\.csv:6: the file holds several symbols \('BTCUSDT', 'ETHUSDT'"
    ):
        lio.read_tardis_book(f)
    assert levels(lio.read_tardis_book(f, symbol="ETHUSDT")) == [[10.0], [7.0], [11.0], [8.0]]
    assert levels(lio.read_tardis_book(f, symbol="BTCUSDT")) == AFTER_SNAPSHOT


def test_l2_at_before_any_row(l2: Path) -> None:
    with pytest.raises(ValueError, match=r"l2\.csv: no incremental_book_L2 rows at or before "
                       r"at=1099 \(local_timestamp\)"):
        lio.read_tardis_book(l2, 1099)
    with pytest.raises(ValueError, match=r"l2\.csv: no incremental_book_L2 rows for "
                       r"symbol='ETHUSDT'$"):
        lio.read_tardis_book(l2, symbol="ETHUSDT")


def test_l2_updates_replay(l2: Path) -> None:
    updates = list(lio.iter_tardis_updates(l2))
    assert [t for t, _ in updates] == [1100, 2100, 3100, 4100]
    assert [u.reset for _, u in updates] == [True, False, False, True]
    assert [u.line for _, u in updates] == [2, 6, 9, 10]
    t, u = updates[1]
    assert u.side.tolist() == ["bid", "bid", "ask"]
    assert u.price.tolist() == [100.0, 99.8, 102.0]
    assert u.amount.tolist() == [0.0, 5.0, 0.0]
    # the documented replay loop gives read_tardis_book's book after every message
    book = Book([], [], [], [])
    for t, u in updates:
        if u.reset:
            book = Book([], [], [], [])
        book.apply(u.side, u.price, u.amount)
        assert book == lio.read_tardis_book(l2, t)


def test_l2_iter_books_every(l2: Path) -> None:
    got = [(t, levels(b)) for t, b in lio.iter_tardis_book(l2, every=1000)]
    # t0 = 1100: books at 2100, 3100, then the final state at the last row's time 4100
    assert got == [(2100, AFTER_DIFF), (3100, AFTER_UPDATE), (4100, FINAL)]
    for t, b in lio.iter_tardis_book(l2, every=700):
        assert b == lio.read_tardis_book(l2, t)
    assert [t for t, _ in lio.iter_tardis_book(l2, every=700)] == [1800, 2500, 3200, 3900, 4100]


@pytest.mark.parametrize("every", [0, -5, 1.5, True, None])
def test_l2_iter_bad_every(l2: Path, every: object) -> None:
    with pytest.raises(ValueError, match="every must be a positive integer"):
        next(lio.iter_tardis_book(l2, every=every))  # type: ignore[arg-type]


def test_l2_bad_arguments(l2: Path) -> None:
    with pytest.raises(TypeError, match="at must be an int"):
        lio.read_tardis_book(l2, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clock must be one of 'local_timestamp', 'timestamp'"):
        lio.read_tardis_book(l2, clock="exchange")
    with pytest.raises(TypeError, match="symbol must be a str or None"):
        lio.read_tardis_book(l2, symbol=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike"):
        lio.read_tardis_book(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        lio.read_tardis_book(l2.with_name("missing.csv"))


@pytest.mark.parametrize(
    ("line", "row", "message"),
    [
        (3, ("1", "1", "true", "bid", "abc", "1"), "price must be finite and > 0 (got 'abc')"),
        (3, ("1", "1", "true", "bid", "-3", "1"), "price must be finite and > 0 (got '-3')"),
        (3, ("1", "1", "true", "bid", "nan", "1"), "price must be finite and > 0 (got 'nan')"),
        (3, ("1", "1", "true", "bid", "10", "-1"), "amount must be finite and >= 0 (got '-1')"),
        (3, ("1", "1", "true", "bid", "10", "inf"), "amount must be finite and >= 0 (got 'inf')"),
        (3, ("1", "1", "true", "buy", "10", "1"), "side must be 'bid' or 'ask' (got 'buy')"),
        (3, ("1", "1", "yes", "bid", "10", "1"),
         "is_snapshot must be 'true' or 'false' (got 'yes')"),
        (3, ("1", "x", "true", "bid", "10", "1"),
         "local_timestamp must be an integer number of microseconds >= 0 (got 'x')"),
        (3, ("1", "1.5", "true", "bid", "10", "1"),
         "local_timestamp must be an integer number of microseconds >= 0 (got '1.5')"),
    ],
)
def test_l2_malformed_rows(tmp_path: Path, line: int, row: tuple[str, ...], message: str) -> None:
    f = write(tmp_path / "l2.csv.gz", l2_text([L2_ROWS[0], row]), gz=True)
    with pytest.raises(ValueError, match=re.escape(f"l2.csv.gz:{line}: {message}")):
        lio.read_tardis_book(f)
    with pytest.raises(ValueError, match=re.escape(f"l2.csv.gz:{line}: {message}")):
        list(lio.iter_tardis_updates(f))


def test_l2_malformed_structure(tmp_path: Path) -> None:
    f = write(tmp_path / "short.csv", l2_text(L2_ROWS[:2]) + "binance,BTCUSDT,1,1,true,bid\n")
    with pytest.raises(ValueError, match=r"short\.csv:4: expected 8 fields as in the header "
                       r"\(got 6\)"):
        lio.read_tardis_book(f)
    f = write(tmp_path / "trades.csv", "exchange,symbol,timestamp,local_timestamp,id,side,price,"
              "amount\nx,S,1,1,7,buy,10,1\n")
    with pytest.raises(ValueError, match=r"trades\.csv:1: not a Tardis incremental_book_L2 CSV: "
                       r"missing column\(s\) is_snapshot"):
        lio.read_tardis_book(f)
    f = write(tmp_path / "empty.csv", "\n\n")
    with pytest.raises(ValueError, match=r"empty\.csv:1: empty incremental_book_L2 file"):
        lio.read_tardis_book(f)
    f = write(tmp_path / "header_only.csv", L2_HEADER + "\n")
    with pytest.raises(ValueError, match=r"header_only\.csv: no incremental_book_L2 rows"):
        lio.read_tardis_book(f)
    f = tmp_path / "bytes.csv"
    f.write_bytes((L2_HEADER + "\nx,S,1,1,true,bid,1\xff0,1\n").encode("latin-1"))
    with pytest.raises(ValueError, match=r"bytes\.csv:2: not UTF-8 text"):
        lio.read_tardis_book(f)


def test_l2_crossed_final_book_names_the_rows(tmp_path: Path) -> None:
    f = write(tmp_path / "l2.csv", l2_text([*L2_ROWS[:4], (5, 5000, "false", "bid", "100.5", "1")]))
    with pytest.raises(
        ValueError,
        match=r"l2\.csv:6: book is crossed: best bid 100\.5 >= best ask 100\.5 after replay "
        r"\(bid 100\.5 set at line 6, ask 100\.5 set at line 4\)",
    ):
        lio.read_tardis_book(f)
    assert levels(lio.read_tardis_book(f, 1100)) == AFTER_SNAPSHOT  # earlier: not crossed


def test_l2_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(l2_text(L2_ROWS * 50).encode(), mtime=0)
    f = tmp_path / "cut.csv.gz"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.csv\.gz:\d+: file is truncated or corrupt"):
        lio.read_tardis_book(f)


# a reference replay written from Tardis's documentation, on random streams
ROW = st.tuples(
    st.integers(0, 3),  # time step
    st.booleans(),  # is_snapshot
    st.booleans(),  # bid?
    st.integers(0, 5),  # price index on the side's grid
    st.sampled_from([0.0, 0.5, 1.0, 2.25]),  # amount (0 deletes)
)


def reference_book(
    rows: list[tuple[int, bool, bool, float, float]], at: int | None
) -> list[list[float]]:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    previous_was_snapshot = False
    for t, snap, bid, px, amt in rows:
        if at is not None and t > at:
            break
        if snap and not previous_was_snapshot:  # "existing order book state must be discarded"
            bids, asks = {}, {}
        previous_was_snapshot = snap
        side = bids if bid else asks
        if amt == 0.0:
            side.pop(px, None)
        else:
            side[px] = amt
    b, a = sorted(bids.items(), reverse=True), sorted(asks.items())
    return [[p for p, _ in b], [q for _, q in b], [p for p, _ in a], [q for _, q in a]]


@given(st.lists(ROW, min_size=1, max_size=40), st.integers(0, 60))
def test_l2_matches_reference(
    tmp_path_factory: pytest.TempPathFactory,
    raw: list[tuple[int, bool, bool, int, float]],
    at: int,
) -> None:
    rows, t = [], 0
    for step, snap, bid, k, amt in raw:
        t += step
        px = 100.0 - 0.5 * k if bid else 100.5 + 0.5 * k  # never crossed
        rows.append((t, snap, bid, px, amt))
    f = tmp_path_factory.mktemp("l2") / "l2.csv.gz"
    write(f, l2_text([(t, t, str(s).lower(), "bid" if b else "ask", repr(p), repr(a))
                      for t, s, b, p, a in rows]), gz=True)
    assert levels(lio.read_tardis_book(f)) == reference_book(rows, None)
    if at >= rows[0][0]:
        assert levels(lio.read_tardis_book(f, at)) == reference_book(rows, at)


# --------------------------------------------------------------------------------------------
# book_snapshot_25 / book_snapshot_5
# --------------------------------------------------------------------------------------------


def snapshot_header(depth: int) -> str:
    cols = ["exchange", "symbol", "timestamp", "local_timestamp"]
    for k in range(depth):
        cols += [f"asks[{k}].price", f"asks[{k}].amount", f"bids[{k}].price", f"bids[{k}].amount"]
    return ",".join(cols)


def snapshot_row(t: int, levels_: list[tuple[str, str, str, str]], depth: int) -> str:
    cells = ["deribit", "BTC-PERPETUAL", str(t - 50), str(t)]
    for k in range(depth):
        cells += list(levels_[k]) if k < len(levels_) else ["", "", "", ""]
    return ",".join(cells)


@pytest.fixture
def snap5(tmp_path: Path) -> Path:
    rows = [
        snapshot_row(100, [("101", "1", "100", "2"), ("102", "3", "99", "4")], 5),  # line 2
        snapshot_row(200, [("101.5", "5", "100.5", "6")], 5),  # line 3: one level each
        snapshot_row(300, [(f"{110 + k}", "1", f"{100 - k}", "2") for k in range(5)], 5),
    ]
    return write(tmp_path / "book_snapshot_5.csv.gz", "\n".join([snapshot_header(5), *rows]) + "\n",
                 gz=True)


def test_snapshot_at(snap5: Path) -> None:
    assert levels(lio.read_tardis_snapshot(snap5, 100)) == [[100.0, 99.0], [2.0, 4.0],
                                                            [101.0, 102.0], [1.0, 3.0]]
    assert levels(lio.read_tardis_snapshot(snap5, 299)) == [[100.5], [6.0], [101.5], [5.0]]
    last = [[100.0, 99.0, 98.0, 97.0, 96.0], [2.0] * 5, [110.0, 111.0, 112.0, 113.0, 114.0],
            [1.0] * 5]
    assert levels(lio.read_tardis_snapshot(snap5)) == last
    assert levels(lio.read_tardis_snapshot(snap5, 10**18)) == last
    assert levels(lio.read_tardis_snapshot(snap5, 150, clock="timestamp")) == [
        [100.5], [6.0], [101.5], [5.0]
    ]
    a = lio.read_tardis_snapshot_arrays(snap5, 200)
    assert a.bid_px.tolist() == [100.5]
    assert [t for t, _ in lio.iter_tardis_snapshots(snap5)] == [100, 200, 300]
    assert [b.n_bids for _, b in lio.iter_tardis_snapshots(snap5)] == [2, 1, 5]
    with pytest.raises(ValueError, match=r"no book_snapshot rows at or before at=99 "):
        lio.read_tardis_snapshot(snap5, 99)


def test_snapshot_25_levels(tmp_path: Path) -> None:
    lv = [(f"{1000 + k}.5", "0.1", f"{1000 - k}", "0.2") for k in range(25)]
    f = write(tmp_path / "s25.csv", snapshot_header(25) + "\n" + snapshot_row(7, lv, 25) + "\n")
    b = lio.read_tardis_snapshot(f)
    assert (b.n_bids, b.n_asks) == (25, 25)
    assert (b.best_bid, b.best_ask) == (1000.0, 1000.5)
    assert b.asks[0][-1] == 1024.5
    assert b.bids[0][-1] == 976.0


@pytest.mark.parametrize(
    ("lv", "message"),
    [
        ([("101", "1", "100", "0")], "bids[0].amount must be finite and > 0 (got '0')"),
        ([("101", "x", "100", "1")], "asks[0].amount must be finite and > 0 (got 'x')"),
        ([("101", "1", "100", "1"), ("100.5", "1", "99", "1")],
         "asks[1].price must be strictly above the previous level's 101.0 (got '100.5')"),
        ([("101", "1", "100", "1"), ("102", "1", "100", "1")],
         "bids[1].price must be strictly below the previous level's 100.0 (got '100')"),
        ([("100", "1", "100", "1")], "book is crossed: best bid 100.0 >= best ask 100.0"),
    ],
)
def test_snapshot_malformed(tmp_path: Path, lv: list[tuple[str, ...]], message: str) -> None:
    f = write(tmp_path / "s.csv", "\n".join([snapshot_header(2), snapshot_row(1, [], 2),
                                              snapshot_row(2, lv, 2)]) + "\n")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(f"s.csv:3: {message}")):
        lio.read_tardis_snapshot(f)
    assert lio.read_tardis_snapshot(f, 1).n_bids == 0  # only the chosen row is checked


# --------------------------------------------------------------------------------------------
# derivative_ticker
# --------------------------------------------------------------------------------------------

TICKER_HEADER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,"
                 "predicted_funding_rate,open_interest,last_price,index_price,mark_price")


def test_ticker(tmp_path: Path) -> None:
    text = TICKER_HEADER + "\n" + "\n".join([
        "bitmex,XBTUSD,1583020803145000,1583020803307160,1583020800000000,0.0001,0.00012,"
        "1000000,9500.5,9500.0,9500.25",
        "bitmex,XBTUSD,1583020863145000,1583020863307160,,-0.00015,,1000500,9501.0,,9500.75",
    ]) + "\n"
    f = write(tmp_path / "derivative_ticker.csv.gz", text, gz=True)
    tk = lio.read_tardis_ticker(f)
    assert len(tk) == 2
    assert tk.symbol == "XBTUSD"
    assert tk.timestamp.dtype == np.int64
    assert tk.timestamp.tolist() == [1583020803145000, 1583020863145000]
    assert tk.local_timestamp.tolist() == [1583020803307160, 1583020863307160]
    assert tk.mark_price.tolist() == [9500.25, 9500.75]
    assert tk.last_price.tolist() == [9500.5, 9501.0]
    assert tk.funding_rate.tolist() == [0.0001, -0.00015]
    assert tk.open_interest.tolist() == [1000000.0, 1000500.0]
    assert tk.index_price[0] == 9500.0
    assert math.isnan(tk.index_price[1])
    assert tk.predicted_funding_rate[0] == 0.00012
    assert math.isnan(tk.predicted_funding_rate[1])
    pd = pytest.importorskip("pandas")
    frame = tk.to_frame()
    assert list(frame.columns) == ["timestamp", "local_timestamp", "mark_price", "index_price",
                                   "last_price", "funding_rate", "predicted_funding_rate",
                                   "open_interest"]
    pd.testing.assert_series_equal(frame["mark_price"], pd.Series([9500.25, 9500.75],
                                                                  name="mark_price"))


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("0.0001,0.0001,10,100,100,abc", "mark_price must be finite and > 0 (got 'abc')"),
        ("0.0001,0.0001,10,100,-1,100", "index_price must be finite and > 0 (got '-1')"),
        ("inf,0.0001,10,100,100,100", "funding_rate must be finite (got 'inf')"),
        ("0.0001,0.0001,-10,100,100,100", "open_interest must be finite and >= 0 (got '-10')"),
    ],
)
def test_ticker_malformed(tmp_path: Path, cells: str, message: str) -> None:
    f = write(tmp_path / "t.csv", f"{TICKER_HEADER}\nx,S,1,1,,{cells}\n")
    with pytest.raises(ValueError, match=re.escape(f"t.csv:2: {message}")):
        lio.read_tardis_ticker(f)


def test_ticker_symbols(tmp_path: Path) -> None:
    f = write(tmp_path / "t.csv", f"{TICKER_HEADER}\nx,A,1,1,,0,0,1,2,2,2\nx,B,2,2,,0,0,1,3,3,3\n")
    with pytest.raises(ValueError, match=r"t\.csv:3: the file holds several symbols"):
        lio.read_tardis_ticker(f)
    assert lio.read_tardis_ticker(f, symbol="B").mark_price.tolist() == [3.0]
    assert len(lio.read_tardis_ticker(f, symbol="C")) == 0


# --------------------------------------------------------------------------------------------
# liquidations
# --------------------------------------------------------------------------------------------

LIQ_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"


def test_liquidations(tmp_path: Path) -> None:
    text = LIQ_HEADER + "\n" + "\n".join([
        "binance-futures,BTCUSDT,1599609600115000,1599609600123456,,sell,10208.87,0.038",
        "binance-futures,BTCUSDT,1599609601200000,1599609601211000,,buy,10215.1,1.5",
    ]) + "\n"
    f = write(tmp_path / "liquidations.csv.gz", text, gz=True)
    lq = lio.read_tardis_liquidations(f)
    assert len(lq) == 2
    assert lq.symbol == "BTCUSDT"
    assert lq.timestamp.tolist() == [1599609600115000, 1599609601200000]
    assert lq.local_timestamp.tolist() == [1599609600123456, 1599609601211000]
    assert lq.side.tolist() == ["sell", "buy"]
    assert lq.price.tolist() == [10208.87, 10215.1]
    assert lq.amount.tolist() == [0.038, 1.5]
    assert lq.id.tolist() == ["", ""]
    pytest.importorskip("pandas")
    frame = lq.to_frame()
    assert list(frame.columns) == ["timestamp", "local_timestamp", "id", "side", "price", "amount"]
    assert frame["price"].tolist() == [10208.87, 10215.1]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("7,long,100,1", "side must be 'buy' or 'sell' (got 'long')"),
        ("7,buy,abc,1", "price must be finite and > 0 (got 'abc')"),
        ("7,buy,100,0", "amount must be finite and > 0 (got '0')"),
    ],
)
def test_liquidations_malformed(tmp_path: Path, cells: str, message: str) -> None:
    f = write(tmp_path / "trades.csv.gz", f"{LIQ_HEADER}\nx,S,1,1,6,sell,100,1\nx,S,2,2,{cells}\n",
              gz=True)
    with pytest.raises(ValueError, match=re.escape(f"trades.csv.gz:3: {message}")):
        lio.read_tardis_liquidations(f)


def test_liquidations_wrong_file(tmp_path: Path, l2: Path) -> None:
    with pytest.raises(ValueError, match=r"l2\.csv:1: not a Tardis liquidations CSV: missing "
                       r"column\(s\) id"):
        lio.read_tardis_liquidations(l2)
