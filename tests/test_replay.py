"""liqcore.replay: feeds replayed through the Engine (docs/model.md §4b): the book the feed
builds, liquidations of a small synthetic feed computed by hand, and the recorded feeds of
../shared/data when present (skipped otherwise)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import liqcore as lq
import numpy as np
import pytest

BTC = Path(os.environ.get("LIQCORE_DATA", "/work/shared/data")) / \
    "binance_usdm_btcusdt_20240808.jsonl.gz"
HL = BTC.parent / "hyperliquid_btcusd_20250126.jsonl.gz"


def _diff(U, u, pu, b=(), a=()):
    return {"stream": "x@depth", "data": {"e": "depthUpdate", "U": U, "u": u, "pu": pu,
                                          "b": [list(x) for x in b], "a": [list(x) for x in a]}}


def _write_feed(path, msgs, t0=1_000):
    lines = [f"{t0 + 10 * k} {json.dumps(m)}" for k, m in enumerate(msgs)]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def synthetic_feed(path):
    """Long 1 @ 100, margin 10: LP = 90/0.995 = 90.45. The mid falls to 90 at the 3rd message;
    the long sells 0.5 at 89 and 0.5 at 88 (VWAP 88.5): deficit 1.5, paid by the fund. Level 89
    stays consumed until the 5th message sets it again."""
    _write_feed(path, [
        {"e": "trade", "p": "100"},  # ignored
        {"lastUpdateId": 100, "bids": [["99", "5"], ["98", "5"]], "asks": [["101", "5"]]},
        _diff(99, 101, 98, b=[("99", "0"), ("98", "0"), ("89", "0.5"), ("88", "2")],
              a=[("101", "0"), ("91", "3")]),
        _diff(102, 102, 101, a=[("92", "1")]),
        _diff(103, 103, 102, b=[("89", "3")]),
    ])


def test_synthetic_feed_liquidates_as_computed_by_hand(tmp_path):
    feed = tmp_path / "feed.jsonl.gz"
    synthetic_feed(feed)
    pos = lq.Positions([1.0, -0.5], [100.0, 100.0], [10.0, 60.0])
    r = lq.replay(feed, pos, insurance_fund=10.0)
    assert r.events == 4  # the snapshot and three diffs
    assert r.time.tolist() == [1010, 1020, 1030, 1040]
    # the mark is the engine's book mid: after the liquidation consumed bid 89, (88 + 91) / 2
    assert r.mark.tolist() == [100.0, 90.0, 89.5, 90.0]
    assert r.n_liquidated.tolist() == [0, 1, 0, 0]
    assert r.bad_debt[1] == pytest.approx(1.5)
    assert r.insurance_fund[-1] == pytest.approx(8.5)
    # the liquidation consumed bid 89 (0.5) and 0.5 of 88; the next diffs leave them so until
    # the level is overwritten
    assert r.best_bid.tolist() == [99.0, 88.0, 88.0, 89.0]
    assert r.open_positions.tolist() == [2, 1, 1, 1]
    assert r.book.bids[0].tolist() == [89.0, 88.0]
    assert r.book.bids[1].tolist() == [3.0, 1.5]
    t, res = r.batches[0]
    assert t == 1020
    assert res.account.tolist() == [0, 1]
    assert res.vwap[0] == pytest.approx(88.5)
    assert r.positions.account.tolist() == [1]
    frame = r.liquidations_frame()
    assert frame["id"].tolist() == [0]
    assert frame["time"].tolist() == [1020]
    assert r.to_frame().shape == (4, 11)
    s = r.summary()
    assert s["liquidated"] == 1
    assert s["bad_debt"] == pytest.approx(1.5)
    # the depth column: base quantity within 10 bps of the mid
    assert r.bid_depth[0] == 0.0
    assert r.ask_depth[0] == 0.0

    # every=20 (time units of the feed): rows at the last event of each interval
    r2 = lq.replay(feed, pos, insurance_fund=10.0, every=20)
    assert r2.time.tolist() == [1020, 1040]
    assert r2.n_liquidated.tolist() == [1, 0]
    assert r2.bad_debt.sum() == pytest.approx(1.5)


def test_mark_from_recorded_series_and_callable(tmp_path):
    feed = tmp_path / "feed.jsonl.gz"
    synthetic_feed(feed)
    pos = lq.Positions([1.0], [100.0], [10.0])
    # a recorded mark that never falls below the LP: nothing liquidates
    r = lq.replay(feed, pos, mark=(np.array([0, 1025]), np.array([100.0, 95.0])))
    assert r.mark.tolist() == [100.0, 100.0, 95.0, 95.0]
    assert r.n_liquidated.sum() == 0
    assert len(r.positions) == 1
    r = lq.replay(feed, pos, mark=lambda t, book: 80.0 if t >= 1040 else 100.0)
    assert r.n_liquidated.tolist() == [0, 0, 0, 1]


def test_tardis_incremental_feed(tmp_path):
    csv = tmp_path / "l2.csv"
    rows = [
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount",
        "x,BTC,1,1,true,bid,99,5", "x,BTC,1,1,true,ask,101,5",
        "x,BTC,2,2,false,bid,99,0", "x,BTC,2,2,false,bid,89,2", "x,BTC,2,2,false,ask,101,0",
        "x,BTC,2,2,false,ask,91,1",
        "x,BTC,3,3,false,ask,92,4",
    ]
    csv.write_text("\n".join(rows) + "\n")
    pos = lq.Positions([1.0], [100.0], [10.0])
    r = lq.replay(csv, pos, insurance_fund=5.0)
    assert r.time.tolist() == [1, 2, 3]
    assert r.n_liquidated.tolist() == [0, 1, 0]
    # sold 1 at 89: E_after = 10 - 11 = -1
    assert r.bad_debt[1] == pytest.approx(1.0)
    assert r.book.bids[1].tolist() == [1.0]
    never = lq.Positions([1.0], [100.0], [1e6])
    assert lq.replay(csv, never).book == lq.io.read_tardis_book(csv)


def test_bad_arguments(tmp_path):
    feed = tmp_path / "feed.jsonl.gz"
    synthetic_feed(feed)
    pos = lq.Positions([1.0], [100.0], [10.0])
    with pytest.raises(TypeError, match="positions must be"):
        lq.replay(feed, [1.0])
    with pytest.raises(ValueError, match="every must be a positive integer"):
        lq.replay(feed, pos, every=0)
    with pytest.raises(ValueError, match="mark must be 'mid'"):
        lq.replay(feed, pos, mark="last")
    with pytest.raises(ValueError, match="format must be one of"):
        lq.replay(feed, pos, format="okx")
    with pytest.raises(FileNotFoundError):
        lq.replay(tmp_path / "missing.gz", pos)


@pytest.mark.skipif(not BTC.exists(), reason="recorded BTCUSDT feed not present")
def test_btcusdt_recording_rebuilds_the_book_of_read_binance_depth():
    rng = np.random.default_rng(0)
    n = 2_000
    never = lq.Positions(rng.uniform(-1, 1, n), rng.uniform(55_000, 65_000, n), 1e7)
    r = lq.replay(BTC, never, every=10**9)
    want = lq.io.read_binance_depth_arrays(BTC)
    (bp, bq), (ap, aq) = r.book.bids, r.book.asks
    np.testing.assert_array_equal(bp, want.bid_px)
    np.testing.assert_array_equal(bq, want.bid_qty)
    np.testing.assert_array_equal(ap, want.ask_px)
    np.testing.assert_array_equal(aq, want.ask_qty)
    assert r.n_liquidated.sum() == 0
    assert len(r.positions) == n
    assert np.all(np.diff(r.time) > 0)


@pytest.mark.skipif(not HL.exists(), reason="recorded Hyperliquid feed not present")
def test_hyperliquid_snapshots():
    never = lq.Positions([0.1, -0.1], [100_000.0, 100_000.0], 1e7)
    r = lq.replay(HL, never)
    assert r.book == lq.io.read_hyperliquid_l2(HL)
    assert len(r) == sum(1 for _ in lq.io.iter_hyperliquid_l2(HL))


# ---- the command line -------------------------------------------------------------------------


def test_cli_replay(tmp_path, capsys):
    from liqcore.cli import main

    feed = tmp_path / "feed.jsonl.gz"
    synthetic_feed(feed)
    positions = tmp_path / "pos.csv"
    positions.write_text("size,entry_price,margin\n1,100,10\n-0.5,100,60\n")
    assert main(["replay", str(feed), "--positions", str(positions), "--fund", "10",
                 "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["liquidated"] == 1
    assert out["summary"]["bad_debt"] == pytest.approx(1.5)
    assert out["summary"]["insurance_fund_after"] == pytest.approx(8.5)
    assert [r["time"] for r in out["liquidation_rows"]] == [1020]
    plot = tmp_path / "replay.png"
    assert main(["replay", str(feed), "--positions", str(positions), "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "liquidated" in text
    assert "1020" in text  # the row of the liquidation
    assert plot.stat().st_size > 0
    with pytest.raises(SystemExit) as e:
        main(["replay", str(tmp_path / "nope.gz"), "--positions", str(positions)])
    assert e.value.code == 2
    assert "nope.gz" in capsys.readouterr().err
