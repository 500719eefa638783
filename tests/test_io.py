"""Feed loaders and book files (liqcore.io): fixtures written here, real data when present."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import liqcore
import liqcore.io as lio
import numpy as np
import pytest
from liqcore.book import Book
from liqcore.synthetic import synthetic_book_arrays

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
BTC = DATA / "binance_usdm_btcusdt_20240808.jsonl.gz"
HL = DATA / "hyperliquid_btcusd_20250126.jsonl.gz"
needs_data = pytest.mark.skipif(not BTC.is_file(), reason="real data folder ../shared/data absent")


# --------------------------------------------------------------------------------------------
# fixture helpers
# --------------------------------------------------------------------------------------------


def write_feed(path: Path, msgs: list[tuple[int, Any]], *, gz: bool = False) -> Path:
    """``<ts> <json>`` lines; a str message is written verbatim (for corrupt lines)."""
    text = "".join(f"{ts} {m if isinstance(m, str) else json.dumps(m)}\n" for ts, m in msgs)
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def diff(big_u: int, u: int, pu: int, b: list[list[str]], a: list[list[str]]) -> dict[str, Any]:
    return {
        "stream": "btcusdt@depth@0ms",
        "data": {
            "e": "depthUpdate",
            "E": 1,
            "T": 1,
            "s": "BTCUSDT",
            "U": big_u,
            "u": u,
            "pu": pu,
            "b": b,
            "a": a,
        },
    }


SNAP = {
    "lastUpdateId": 100,
    "E": 1,
    "T": 1,
    "bids": [["100.0", "1.000"], ["99.5", "2.000"], ["99.0", "3.000"]],
    "asks": [["100.5", "1.500"], ["101.0", "2.500"]],
}
TRADE = {"stream": "btcusdt@trade", "data": {"e": "trade", "p": "100.5", "q": "0.1"}}
TICKER = {"stream": "btcusdt@bookTicker", "data": {"e": "bookTicker", "b": "100.0", "a": "100.5"}}


def binance_msgs() -> list[tuple[int, Any]]:
    """Lines 1-8. Stale diff before the snapshot, a buffered diff straddling lastUpdateId,
    the snapshot, then chained diffs: update, delete, insert, delete of an absent level."""
    return [
        (10, diff(90, 95, 89, [["100.0", "9.000"]], [])),  # 1: u < 100: stale, dropped
        (20, diff(96, 102, 95, [["99.5", "2.500"]], [])),  # 2: buffered, U <= 100 <= u: applied
        (30, SNAP),  # 3
        (40, TRADE),  # 4
        (50, diff(103, 105, 102, [["99.0", "0"]], [["100.5", "0.700"]])),  # 5: delete + update
        (60, TICKER),  # 6
        (
            70,
            diff(106, 110, 105, [["100.2", "0.300"]], [["102.0", "4.0"], ["103.0", "0.000"]]),
        ),  # 7
        (80, diff(111, 112, 110, [], [["101.0", "0"]])),  # 8: delete
    ]


def arrays_list(a: lio.BookArrays) -> list[list[float]]:
    return [x.tolist() for x in a]


@pytest.fixture
def bfile(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "depth.jsonl", binance_msgs())


# --------------------------------------------------------------------------------------------
# Binance depth replay
# --------------------------------------------------------------------------------------------


def test_binance_replay_full(bfile: Path) -> None:
    a = lio.read_binance_depth_arrays(bfile)
    assert arrays_list(a) == [[100.2, 100.0, 99.5], [0.3, 1.0, 2.5], [100.5, 102.0], [0.7, 4.0]]
    for x in a:
        assert x.dtype == np.float64
        assert x.flags.c_contiguous
    assert isinstance(lio.read_binance_depth(bfile), Book)


def test_binance_gzip_same_as_plain(tmp_path: Path, bfile: Path) -> None:
    gz = write_feed(tmp_path / "depth.jsonl.gz", binance_msgs(), gz=True)
    assert arrays_list(lio.read_binance_depth_arrays(gz)) == arrays_list(
        lio.read_binance_depth_arrays(bfile)
    )


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        (
            30,
            [[100.0, 99.5, 99.0], [1.0, 2.5, 3.0], [100.5, 101.0], [1.5, 2.5]],
        ),  # snapshot + buffer
        (55, [[100.0, 99.5], [1.0, 2.5], [100.5, 101.0], [0.7, 2.5]]),
        (70, [[100.2, 100.0, 99.5], [0.3, 1.0, 2.5], [100.5, 101.0, 102.0], [0.7, 2.5, 4.0]]),
        (10**20, [[100.2, 100.0, 99.5], [0.3, 1.0, 2.5], [100.5, 102.0], [0.7, 4.0]]),
    ],
)
def test_binance_until(bfile: Path, until: int, expected: list[list[float]]) -> None:
    assert arrays_list(lio.read_binance_depth_arrays(bfile, until=until)) == expected


def test_binance_until_before_snapshot(bfile: Path) -> None:
    with pytest.raises(ValueError, match=r"depth\.jsonl:2: no Binance depth snapshot"):
        lio.read_binance_depth_arrays(bfile, until=25)


def test_binance_no_snapshot(tmp_path: Path) -> None:
    f = write_feed(tmp_path / "d.jsonl", [(1, diff(1, 2, 0, [], [])), (2, TRADE)])
    with pytest.raises(ValueError, match="no Binance depth snapshot"):
        lio.read_binance_depth(f)


def test_binance_sequence_gap(tmp_path: Path) -> None:
    msgs = binance_msgs()
    msgs[6] = (70, diff(107, 110, 106, [["100.2", "0.300"]], []))  # pu 106 != previous u 105
    f = write_feed(tmp_path / "gap.jsonl", msgs)
    with pytest.raises(
        ValueError, match=r"gap\.jsonl:7: sequence gap: pu=106 but the previous diff ended at u=105"
    ):
        lio.read_binance_depth_arrays(f)
    a = lio.read_binance_depth_arrays(f, strict=False)  # keeps going across the gap
    assert a.bid_px.tolist() == [100.2, 100.0, 99.5]
    assert a.ask_px.tolist() == [100.5]


def test_binance_first_diff_after_snapshot_must_cover_it(tmp_path: Path) -> None:
    msgs = [(1, SNAP), (2, diff(101, 103, 100, [["99.5", "1"]], []))]  # U=101 > lastUpdateId=100
    f = write_feed(tmp_path / "late.jsonl", msgs)
    with pytest.raises(ValueError, match=r"late\.jsonl:2: first diff after the snapshot \(line 1"):
        lio.read_binance_depth_arrays(f)
    assert lio.read_binance_depth_arrays(f, strict=False).bid_qty.tolist() == [1.0, 1.0, 3.0]


def test_binance_second_snapshot_restarts(tmp_path: Path) -> None:
    snap2 = {"lastUpdateId": 500, "bids": [["90", "1"]], "asks": [["91", "1"]]}
    msgs = [*binance_msgs(), (90, snap2), (95, diff(499, 501, 498, [["89", "2"]], []))]
    a = lio.read_binance_depth_arrays(write_feed(tmp_path / "two.jsonl", msgs))
    assert arrays_list(a) == [[90.0, 89.0], [1.0, 2.0], [91.0], [1.0]]


def test_binance_crossed_book_names_lines(tmp_path: Path) -> None:
    msgs = [*binance_msgs(), (90, diff(113, 114, 112, [["100.6", "1"]], []))]
    f = write_feed(tmp_path / "x.jsonl", msgs)
    with pytest.raises(
        ValueError,
        match=r"x\.jsonl:9: book is crossed: best bid 100\.6 >= best ask 100\.5 after replay "
        r"\(bid 100\.6 set at line 9, ask 100\.5 set at line 5\)",
    ):
        lio.read_binance_depth_arrays(f)


def test_iter_binance_depth_matches_until(bfile: Path) -> None:
    got = list(lio.iter_binance_depth_arrays(bfile, every=15))
    assert [t for t, _ in got] == [45, 60, 75, 80]
    for t, a in got:
        assert arrays_list(a) == arrays_list(lio.read_binance_depth_arrays(bfile, until=t))
    books = list(lio.iter_binance_depth(bfile, every=1000))
    assert len(books) == 1
    assert isinstance(books[0][1], Book)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        list(lio.iter_binance_depth_arrays(bfile, every=0))


# --------------------------------------------------------------------------------------------
# corrupt and truncated input
# --------------------------------------------------------------------------------------------


def corrupt(msgs: list[tuple[int, Any]], line: int, new: Any) -> list[tuple[int, Any]]:
    out = list(msgs)
    out[line - 1] = (out[line - 1][0], new)
    return out


@pytest.mark.parametrize(
    ("line", "new", "message"),
    [
        (5, '{"stream": "x", "data": {"e": "depthUpdate", "U": 103', r":5: invalid JSON"),
        (
            5,
            diff(103, 105, 102, [["abc", "1"]], []),
            r":5: b\[0\] price is not a number \(got 'abc'\)",
        ),
        (5, diff(103, 105, 102, [["99", "-1"]], []), r":5: b\[0\] qty must be >= 0 \(got '-1'\)"),
        (5, diff(103, 105, 102, [["nan", "1"]], []), r":5: b\[0\] price must be finite"),
        (5, diff(103, 105, 102, [["0", "1"]], []), r":5: b\[0\] price must be > 0"),
        (5, diff(103, 105, 102, [["99"]], []), r":5: b\[0\] must be a \[price, qty\] pair"),
        (
            5,
            diff(103, 105, 102, [[None, "1"]], []),
            r":5: b\[0\] price must be a number or a decimal string",
        ),
        (
            5,
            {"data": {"e": "depthUpdate", "U": 103, "pu": 102, "b": [], "a": []}},
            r":5: depthUpdate has no field 'u'",
        ),
        (5, diff(103, 105, 102, [], "oops"), r":5: a must be a list of \[price, qty\] pairs"),
        (3, {"lastUpdateId": 100, "bids": []}, r":3: depth snapshot has no field 'asks'"),
        (3, {"lastUpdateId": "100", "bids": [], "asks": []}, r":3: update id must be an integer"),
        (1, "[1, 2", r":1: invalid JSON"),
    ],
)
def test_binance_corrupt_lines(tmp_path: Path, line: int, new: Any, message: str) -> None:
    f = write_feed(tmp_path / "bad.jsonl", corrupt(binance_msgs(), line, new))
    with pytest.raises(ValueError, match=r"bad\.jsonl" + message):
        lio.read_binance_depth_arrays(f)


def test_line_without_timestamp(tmp_path: Path) -> None:
    f = tmp_path / "nots.jsonl"
    f.write_text(f"1 {json.dumps(SNAP)}\n" + json.dumps(TRADE) + "\n")
    with pytest.raises(ValueError, match=r"nots\.jsonl:2: expected '<local timestamp ns> <JSON>'"):
        lio.read_binance_depth_arrays(f)


def test_truncated_gzip(tmp_path: Path) -> None:
    msgs = binance_msgs() + [(100 + i, TRADE) for i in range(300)]
    good = write_feed(tmp_path / "ok.jsonl.gz", msgs, gz=True)
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.jsonl\.gz:\d+: file is truncated or corrupt"):
        lio.read_binance_depth_arrays(f)
    with pytest.raises(ValueError, match=r"cut\.jsonl\.gz:\d+: file is truncated or corrupt"):
        lio.read_book(f)


def test_corrupt_gzip_body(tmp_path: Path) -> None:
    data = bytearray(write_feed(tmp_path / "ok.jsonl.gz", binance_msgs(), gz=True).read_bytes())
    data[20:40] = b"\xff" * 20
    f = tmp_path / "junk.jsonl.gz"
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"junk\.jsonl\.gz:\d+: "):
        lio.read_binance_depth_arrays(f)


def test_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "bin.jsonl"
    f.write_bytes(b"1 " + json.dumps(SNAP).encode() + b'\n2 {"a": "\xff\xfe"}\n')
    with pytest.raises(ValueError, match=r"bin\.jsonl:2: invalid JSON"):
        lio.read_binance_depth_arrays(f)


@pytest.mark.parametrize(
    "reader",
    [lio.read_binance_depth, lio.read_hyperliquid_l2, lio.read_book, lio.read_book_arrays],
)
def test_missing_file(tmp_path: Path, reader: Any) -> None:
    with pytest.raises(FileNotFoundError):
        reader(tmp_path / "nope.jsonl.gz")


# --------------------------------------------------------------------------------------------
# Hyperliquid l2Book
# --------------------------------------------------------------------------------------------


def l2(k: int) -> dict[str, Any]:
    bids = [{"px": f"{100 - i - k}.0", "sz": f"{1 + i}.5", "n": 1} for i in range(3)]
    asks = [{"px": f"{101 + i - k}.0", "sz": f"{2 + i}.25", "n": 2} for i in range(2)]
    return {"channel": "l2Book", "data": {"coin": "BTC", "time": k, "levels": [bids, asks]}}


HL_TRADES = {"channel": "trades", "data": [{"coin": "BTC", "px": "100.5", "sz": "0.1"}]}


@pytest.fixture
def hfile(tmp_path: Path) -> Path:
    msgs = [
        (5, {"channel": "subscriptionResponse", "data": {}}),
        (10, l2(0)),
        (15, HL_TRADES),
        (20, l2(1)),
        (30, l2(2)),
    ]
    return write_feed(tmp_path / "hl.jsonl.gz", msgs, gz=True)


@pytest.mark.parametrize(("index", "k"), [(0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0)])
def test_hyperliquid_index(hfile: Path, index: int, k: int) -> None:
    a = lio.read_hyperliquid_l2_arrays(hfile, index=index)
    assert arrays_list(a) == [
        [100.0 - k, 99.0 - k, 98.0 - k],
        [1.5, 2.5, 3.5],
        [101.0 - k, 102.0 - k],
        [2.25, 3.25],
    ]
    assert isinstance(lio.read_hyperliquid_l2(hfile, index=index), Book)


@pytest.mark.parametrize("index", [3, -4])
def test_hyperliquid_index_out_of_range(hfile: Path, index: int) -> None:
    with pytest.raises(
        ValueError, match=rf"hl\.jsonl\.gz: index {index} out of range: the file has 3 l2Book"
    ):
        lio.read_hyperliquid_l2(hfile, index=index)


def test_hyperliquid_iter(hfile: Path) -> None:
    got = list(lio.iter_hyperliquid_l2(hfile))
    assert [t for t, _ in got] == [10, 20, 30]
    assert all(isinstance(b, Book) for _, b in got)
    arrays = list(lio.iter_hyperliquid_l2_arrays(hfile))
    assert arrays_list(arrays[1][1]) == arrays_list(lio.read_hyperliquid_l2_arrays(hfile, index=1))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m["data"]["levels"][0][1].pop("sz"), r":2: bids\[1\] has no field 'sz'"),
        (lambda m: m["data"]["levels"][1][0].update(px="x"), r":2: asks\[0\] px is not a number"),
        (
            lambda m: m["data"]["levels"][0][2].update(px="99.0"),
            r":2: bids\[2\] px must be strictly descending",
        ),
        (lambda m: m["data"]["levels"][0][0].update(sz="0"), r":2: bids\[0\] sz must be > 0"),
        (lambda m: m["data"]["levels"].pop(), r":2: l2Book levels must be a list \[bids, asks\]"),
        (
            lambda m: m["data"]["levels"][0][0].update(px="101.0"),
            r":2: book is crossed: best bid 101\.0",
        ),
        (lambda m: m.pop("data"), r":2: l2Book message has no field 'data'"),
    ],
)
def test_hyperliquid_corrupt(tmp_path: Path, mutate: Any, message: str) -> None:
    bad = l2(0)
    mutate(bad)
    f = write_feed(tmp_path / "hl.jsonl", [(1, l2(0)), (2, bad), (3, l2(1))])
    with pytest.raises(ValueError, match=r"hl\.jsonl" + message):
        lio.read_hyperliquid_l2(f, index=1)
    with pytest.raises(ValueError, match=r"hl\.jsonl" + message):
        list(lio.iter_hyperliquid_l2(f))


# --------------------------------------------------------------------------------------------
# user book files: JSON / CSV / detection / write
# --------------------------------------------------------------------------------------------

EXPECTED = [[100.0, 99.5], [1.0, 2.0], [100.5, 101.0], [0.5, 3.0]]


def test_read_json_book_strings_numbers_any_order(tmp_path: Path) -> None:
    f = tmp_path / "b.json"
    f.write_text(
        json.dumps({"bids": [[99.5, "2"], ["100.0", 1]], "asks": [["101", 3.0], [100.5, 0.5]]})
    )
    assert arrays_list(lio.read_book_arrays(f)) == EXPECTED
    assert isinstance(lio.read_book(f), Book)
    assert isinstance(liqcore.io.read_book(f), Book)


def test_read_json_book_gzipped_without_extension(tmp_path: Path) -> None:
    f = tmp_path / "book"
    f.write_bytes(
        gzip.compress(
            json.dumps(
                {"bids": [["100", "1"], ["99.5", "2"]], "asks": [["100.5", ".5"], ["101", "3"]]}
            ).encode()
        )
    )
    assert arrays_list(lio.read_book_arrays(f)) == EXPECTED


def test_read_csv_book(tmp_path: Path) -> None:
    f = tmp_path / "b.csv"
    f.write_text("Price, QTY ,side\n100.5,0.5,ask\n99.5,2,bid\n\n100,1,BID\n101,3, ask\n")
    assert arrays_list(lio.read_book_arrays(f)) == EXPECTED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "side,price\nbid,1\n",
            r"b\.csv:1: CSV header must name the columns side,price,qty \(missing qty",
        ),
        ("side,price,qty\nbuy,1,1\n", r"b\.csv:2: side must be 'bid' or 'ask' \(got 'buy'\)"),
        ("side,price,qty\nbid,1,1\nbid,x,1\n", r"b\.csv:3: price is not a number \(got 'x'\)"),
        ("side,price,qty\nbid,1,-2\n", r"b\.csv:2: qty must be > 0 \(got '-2'\)"),
        ("side,price,qty\nbid,1,0\n", r"b\.csv:2: qty must be > 0 \(got '0'\)"),
        ("side,price,qty\nbid,1\n", r"b\.csv:2: expected 3 columns \(got 2\)"),
        ("side,price,qty\nbid,1,1\nbid,1.0,2\n", r"b\.csv:3: bid price 1\.0 listed twice"),
        (
            "side,price,qty\nbid,2,1\nask,1.5,2\n",
            r"b\.csv:3: book is crossed: best bid 2\.0 >= best ask 1\.5",
        ),
        ("\n\n", r"b\.csv: empty file"),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "b.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=message):
        lio.read_book(f)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"bids": [[1, 1]], "asks": [[2, 1]]', r"b\.json:1: invalid JSON"),
        ('{"bids": [[1, 1]],\n "asks": [[2, 1]],}', r"b\.json:2: invalid JSON"),
        ('{"bids": [[1, 1]]}', r"b\.json:1: book has no field 'asks'"),
        ("[1, 2]", r"b\.json:1: book must be a JSON object"),
        ('{"bids": [[1, 1], [1, 2]], "asks": []}', r"b\.json:1: bids lists price 1\.0 twice"),
        ('{"bids": [[1, "a"]], "asks": []}', r"b\.json:1: bids\[0\] qty is not a number"),
        ('{"bids": [[1, 0]], "asks": []}', r"b\.json:1: bids\[0\] qty must be > 0"),
        (
            '{"bids": [[1, true]], "asks": []}',
            r"b\.json:1: bids\[0\] qty must be a number or a decimal string",
        ),
        ('{"bids": [[2, 1]], "asks": [[2, 1]]}', r"b\.json:1: book is crossed"),
    ],
)
def test_json_errors(tmp_path: Path, doc: str, message: str) -> None:
    f = tmp_path / "b.json"
    f.write_text(doc)
    with pytest.raises(ValueError, match=message):
        lio.read_book(f)


def test_read_book_detects_feeds(bfile: Path, hfile: Path) -> None:
    assert arrays_list(lio.read_book_arrays(bfile)) == arrays_list(
        lio.read_binance_depth_arrays(bfile)
    )
    assert arrays_list(lio.read_book_arrays(hfile)) == arrays_list(
        lio.read_hyperliquid_l2_arrays(hfile)
    )


def test_read_book_unknown_feed(tmp_path: Path) -> None:
    f = write_feed(tmp_path / "t.jsonl", [(1, TRADE), (2, HL_TRADES)])
    with pytest.raises(ValueError, match="neither Binance depth nor Hyperliquid l2Book"):
        lio.read_book(f)


@pytest.mark.parametrize("name", ["b.json", "b.csv", "b.json.gz", "b.CSV.gz"])
def test_write_read_roundtrip_bits(tmp_path: Path, name: str) -> None:
    a = synthetic_book_arrays(levels=300, seed=3)
    lio.write_book(a, tmp_path / name)
    b = lio.read_book_arrays(tmp_path / name)
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
    lio.write_book(tuple(a), tmp_path / "t.dat", format="json")
    assert lio.read_book_arrays(tmp_path / "t.dat").bid_px.tobytes() == a.bid_px.tobytes()


def test_write_book_errors(tmp_path: Path) -> None:
    a = ([2.0], [1.0], [3.0], [1.0])
    with pytest.raises(ValueError, match="format must be 'json' or 'csv' when the file name"):
        lio.write_book(a, tmp_path / "b.txt")
    with pytest.raises(ValueError, match=r"format must be one of 'json', 'csv' \(got 'xml'\)"):
        lio.write_book(a, tmp_path / "b.json", format="xml")
    with pytest.raises(TypeError, match="book must be a BookArrays"):
        lio.write_book({"bids": []}, tmp_path / "b.json")
    with pytest.raises(TypeError, match="bid_px must be a real number"):
        lio.write_book((["a"], [1.0], [3.0], [1.0]), tmp_path / "b.json")


# --------------------------------------------------------------------------------------------
# real data (skipped without ../shared/data)
# --------------------------------------------------------------------------------------------


def depth(px: np.ndarray[Any, Any], qty: np.ndarray[Any, Any], mid: float, bps: float) -> float:
    return float(qty[np.abs(px - mid) <= mid * bps / 1e4].sum())


@needs_data
def test_real_binance_btcusdt() -> None:
    a = lio.read_binance_depth_arrays(BTC)
    assert 4_500 <= a.bid_px.size <= 5_500
    assert 4_000 <= a.ask_px.size <= 5_500
    mid = (a.bid_px[0] + a.ask_px[0]) / 2
    assert a.ask_px[0] - a.bid_px[0] == pytest.approx(0.1)
    for bps, btc in [(10, 105), (50, 734), (100, 1354), (200, 3320)]:
        assert depth(a.bid_px, a.bid_qty, mid, bps) == pytest.approx(btc, rel=0.01)
    Book(*a)


@needs_data
def test_real_binance_until_and_detection() -> None:
    snapshot_ts = 1723161255319702566  # line 55: the REST snapshot (limit=1000)
    with pytest.raises(ValueError, match=r":54: no Binance depth snapshot"):
        lio.read_binance_depth_arrays(BTC, until=snapshot_ts - 1)
    early = lio.read_binance_depth_arrays(BTC, until=snapshot_ts)  # + buffered diffs
    assert 1000 <= early.bid_px.size <= 1050
    assert 1000 <= early.ask_px.size <= 1050
    assert lio.read_book_arrays(HL).bid_px.size == 20


@needs_data
def test_real_hyperliquid() -> None:
    books = list(lio.iter_hyperliquid_l2_arrays(HL))
    assert len(books) >= 40
    for _, a in books:
        assert a.bid_px.size == 20
        assert a.ask_px.size == 20
        Book(*a)
    ts = [t for t, _ in books]
    assert ts == sorted(ts)
