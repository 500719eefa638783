"""The liqcore command line: the map and curve subcommands."""

from __future__ import annotations

import json
from pathlib import Path

import liqcore as lq
import pytest
from liqcore.cli import main
from test_cli_cascade import _files  # the same small positions and book files


def test_map_json_on_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, _ = _files(tmp_path)
    args = ["map", "--positions", str(positions), "--mark", "100", "--bins", "4", "--span",
            "0.2", "--mmr", "0", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    # mmr 0: LP = 100 - margin for the longs (95, 96, 97), 120 for the short
    assert out["edges"] == pytest.approx([80.0, 90.0, 100.0, 110.0, 120.0])
    assert out["long"] == pytest.approx([0.0, 95.0 + 96.0 + 97.0, 0.0, 0.0])
    assert out["long_cumulative"] == pytest.approx([288.0, 288.0, 0.0, 0.0])
    assert out["short"] == pytest.approx([0.0, 0.0, 0.0, 120.0])  # the last bin is closed
    assert out["short_cumulative"] == pytest.approx([0.0, 0.0, 0.0, 120.0])
    assert out["mark"] == 100.0
    assert out["long_now"] == 0.0


def test_map_table_and_plot_on_the_embedded_market(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from liqcore.demo import default_market

    args = ["map", "--bins", "10", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    pos, _, mark, _ = default_market()
    ref = lq.liquidation_map(pos, mark=mark, bins=10)
    assert out["long"] == ref.long.tolist()
    assert out["short_cumulative"] == ref.short_cumulative.tolist()
    pytest.importorskip("matplotlib")
    png = tmp_path / "map.png"
    assert main(["map", "--bins", "10", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "liqcore map: 100,000 positions of the embedded market" in text
    assert "long cum." in text
    assert len(text.splitlines()) == 4 + 10
    assert png.stat().st_size > 1000


def test_map_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, _ = _files(tmp_path)
    for args, message in [
        (["map", "--positions", str(positions)], "--positions needs --mark"),
        (["map", "--positions", str(tmp_path / "nope.csv"), "--mark", "1"], "no such file"),
        (["map", "--bins", "0"], "bins must be in"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        assert message in capsys.readouterr().err


def test_curve_json_matches_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, book = _files(tmp_path)
    base = ["curve", "--positions", str(positions), "--book", str(book), "--mark", "100",
            "--fund", "1", "--json"]
    assert main([*base, "--shocks", "-0.01,-0.03,-5e-2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shock"] == [-0.01, -0.03, -0.05]
    pos = lq.Positions(size=[1.0, 1.0, 1.0, -1.0], entry_price=100.0, margin=[5.0, 4.0, 3.0, 20.0])
    bk = lq.io.read_book(str(book))
    c = lq.deficit_curve(pos, bk, 100.0, [-0.01, -0.03, -0.05], insurance_fund=1.0)
    assert out["bad_debt"] == c.bad_debt.tolist()
    assert out["n_liquidated"] == c.n_liquidated.tolist()
    assert out["final_mark"] == c.final_mark.tolist()
    # as in test_cli_cascade: -3% liquidates two longs in two rounds
    assert out["positions_liquidated"][1] == 2
    assert out["final_mark"][1] == pytest.approx(98.5 * 0.97, rel=1e-12)
    assert main([*base, "--shocks=-0.01,-0.03,-5e-2"]) == 0  # the "=" form too
    assert json.loads(capsys.readouterr().out) == out


def test_curve_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    assert main(["curve", "--shocks", "-0.01,-0.02", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "liqcore curve: 100,000 positions" in text
    assert "bad debt" in text
    assert "-1.00%" in text
    assert "-2.00%" in text
    assert png.stat().st_size > 1000


def test_curve_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in [
        (["curve", "--shocks", "0.01,x"], "--shocks[1] must be a number"),
        (["curve", "--shocks", "-0.01,-1.5"], "shocks[1] must be finite and > -1"),
        (["curve", "--threads", "0"], "threads must be in"),
        (["curve", "--mark", "100"], "--positions, --book and --mark go together"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        assert message in capsys.readouterr().err
