"""``liqcore stress --funding`` and the cross-margin stress test with the ``--depeg`` preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from liqcore.cli import depeg_paths, main


def _files(tmp_path: Path) -> dict[str, str]:
    # isolated: one long of notional 100 with margin 5 (mmr 0.5% by default: MM 0.5)
    (tmp_path / "positions.csv").write_text("size,entry_price,margin\n1.0,100,5\n")
    (tmp_path / "book.json").write_text(
        json.dumps(
            {
                "bids": [[99.0 - 0.5 * k, 10.0] for k in range(20)],
                "asks": [[101.0 + 0.5 * k, 10.0] for k in range(20)],
            }
        )
    )
    # accounts: 20 USDC (haircut 10%) and a long of 1 at 100, mmr 5% (MM 5): TNC 18
    (tmp_path / "markets.json").write_text(
        json.dumps(
            {
                "marks": [100.0],
                "mmr": 0.05,
                "books": ["book.json"],
                "assets": {"BTC": {"price": 50_000.0}, "USDE": {"price": 1.0, "haircut": 0.1}},
            }
        )
    )
    (tmp_path / "pf.csv").write_text("account,market,size,entry_price\n0,0,1,100\n")
    (tmp_path / "coll.csv").write_text("BTC,USDE\n0,20\n")
    return {k: str(tmp_path / v) for k, v in [
        ("positions", "positions.csv"), ("book", "book.json"), ("markets", "markets.json"),
        ("pf", "pf.csv"), ("coll", "coll.csv")]}


FLAT = ["--sigma", "0", "--jump-intensity", "0", "--json"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_stress_funding_liquidates_at_the_model_step(tmp_path, capsys):
    # flat path, rate 0.01 per step: the long pays 1 per step and is liquidated at the first
    # step after (5 − 0.5)/1 = 4.5 steps: step 5
    f = _files(tmp_path)
    market = ["stress", "--positions", f["positions"], "--book", f["book"], "--mark", "100"]
    common = [*market, "--scenarios", "3", "--policy", "binance", *FLAT]
    four = _run([*common, "--steps", "4", "--funding", "0.01"], capsys)
    five = _run([*common, "--steps", "5", "--funding", "0.01"], capsys)
    none = _run([*common, "--steps", "5"], capsys)
    assert four["summary"]["mean_liquidations"] == 0.0
    assert five["summary"]["mean_liquidations"] == 1.0
    assert none["summary"]["mean_liquidations"] == 0.0
    assert five["params"]["funding"] is True and none["params"]["funding"] is False
    assert five["mean_funding_paid"] == pytest.approx(5 * 1.0, rel=1e-9)


def _accounts(f: dict[str, str]) -> list[str]:
    return ["stress", "--positions", f["pf"], "--collateral", f["coll"], "--markets", f["markets"],
            "--scenarios", "3", "--steps", "4", *FLAT]


def test_depeg_preset_liquidates_an_account_a_fixed_price_would_not(tmp_path, capsys):
    f = _files(tmp_path)
    fixed = _run(_accounts(f), capsys)
    assert fixed["summary"]["mean_liquidated_accounts"] == 0.0
    # USDE 90% below its peg from step 1 to 3: TNC = 20·0.1·0.9 = 1.8 < MM 5
    for asset in ("USDE", "1"):
        depeg = _run([*_accounts(f), "--depeg", f"{asset}:0.9:1:3"], capsys)
        assert depeg["summary"]["mean_liquidated_accounts"] == 1.0
        assert depeg["params"]["collateral_paths"] is True
        assert depeg["depeg"] == [[asset, 0.9, 1, 3]]
    # a 50% depeg leaves TNC = 9 > 5: alive
    mild = _run([*_accounts(f), "--depeg", "USDE:0.5:1:3"], capsys)
    assert mild["summary"]["mean_liquidated_accounts"] == 0.0


def test_accounts_stress_funding(tmp_path, capsys):
    # flat path, rate 0.05 per step: the long pays 5 per step; TNC 18 − 5k < 5 at k = 3
    f = _files(tmp_path)
    base = _accounts(f)[:7]
    r2 = _run([*base, "--scenarios", "2", "--steps", "2", *FLAT, "--funding", "0.05"], capsys)
    r3 = _run([*base, "--scenarios", "2", "--steps", "3", *FLAT, "--funding", "0.05"], capsys)
    assert r2["summary"]["mean_liquidated_accounts"] == 0.0
    assert r3["summary"]["mean_liquidated_accounts"] == 1.0
    assert r3["mean_funding_paid"] == pytest.approx(15.0, rel=1e-9)


def test_depeg_paths():
    p = depeg_paths([("B", 0.4, 1, 3)], ["A", "B"], [2.0, 1.0], 5)
    assert p.tolist() == [[2.0, 1.0], [2.0, 0.6], [2.0, 0.6], [2.0, 1.0], [2.0, 1.0]]


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--depeg", "USDE:0.4"], "ASSET:DROP:START:END"),
        (["--depeg", "USDE:1.5:1:2"], r"DROP must be in \(0, 1\)"),
        (["--depeg", "USDE:0.4:3:1"], "START < END"),
        (["--depeg", "DAI:0.4:1:2"], "not an asset of --markets"),
        (["--depeg", "USDE:0.4:9:10"], "START 9 is not a step"),
        (["--plot", "x.png"], "--plot applies to isolated positions"),
    ],
)
def test_accounts_stress_errors(tmp_path, capsys, extra, match):
    f = _files(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([*_accounts(f), *extra])
    assert e.value.code == 2
    assert __import__("re").search(match, capsys.readouterr().err)


def test_depeg_needs_accounts(tmp_path, capsys):
    f = _files(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["stress", "--positions", f["positions"], "--book", f["book"], "--mark", "100",
              "--depeg", "USDE:0.4:1:2", *FLAT])
    assert e.value.code == 2
    assert "--depeg needs the cross-margin stress test" in capsys.readouterr().err
