"""The liqcore command line: demo and liquidate, via main(argv) and python -m liqcore."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from liqcore.cli import main


def test_demo_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for label in (
        "positions",
        "liquidated",
        "liquidated notional",
        "bad debt",
        "traders' deficits",
        "fund inventory losses",
        "fee income",
        "insurance fund before",
        "insurance fund after",
        "residual",
        "covered by counterparties (queue)",
        "uncovered",
    ):
        assert label in out, label
    assert "100,000" in out
    assert "-5.00%" in out


def test_demo_json_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "demo",
            "--json",
            "--seed",
            "1",
            "--shock",
            "-0.07",
            "--fund",
            "1e6",
            "--policy",
            "binance",
        ]
    )
    a = json.loads(capsys.readouterr().out)
    main(
        [
            "demo",
            "--json",
            "--seed",
            "1",
            "--shock",
            "-0.07",
            "--fund",
            "1e6",
            "--policy",
            "binance",
        ]
    )
    b = json.loads(capsys.readouterr().out)
    assert a["summary"] == b["summary"]
    assert a["ledger"] == b["ledger"]
    assert a["summary"]["insurance_fund_before"] == 1e6
    assert a["policy"]["fee"] == "surplus"
    assert a["summary"]["liquidated"] > 0
    assert abs(a["summary"]["ledger_balance"]) < 1e-6


def test_python_dash_m() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "liqcore", "demo"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "insurance fund after" in r.stdout


def _files(tmp_path: Path) -> tuple[Path, Path]:
    positions = tmp_path / "positions.csv"
    positions.write_text(
        "size,entry_price,margin,account\n0.1,60000,900,1\n-0.2,60000,2000,2\n1.0,50000,50000,3\n"
    )
    book = tmp_path / "book.json"
    book.write_text(
        json.dumps({"bids": [[56_100.0, 1.0], [56_000.0, 2.0]], "asks": [[56_200.0, 1.0]]})
    )
    return positions, book


def test_liquidate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, book = _files(tmp_path)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"mmr": 0.1, "fee_cap": 0.005}))
    assert (
        main(
            [
                "liquidate",
                "--positions",
                str(positions),
                "--book",
                str(book),
                "--mark",
                "56100",
                "--policy",
                str(policy),
                "--fund",
                "10",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    # the dYdX example of docs/model.md §8: 0.1 BTC sold at 56,100 against a bankruptcy quote of 5,100
    assert out["summary"]["liquidated"] == 1
    assert out["summary"]["fees"] == pytest.approx(28.05)
    assert out["summary"]["insurance_fund_after"] == pytest.approx(38.05)


def test_liquidate_table_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    positions, book = _files(tmp_path)
    out_csv = tmp_path / "out.csv"
    assert (
        main(
            [
                "liquidate",
                "--positions",
                str(positions),
                "--book",
                str(book),
                "--mark",
                "56100",
                "--policy",
                "dydx",
                "--output",
                str(out_csv),
            ]
        )
        == 0
    )
    assert "liquidated" in capsys.readouterr().out
    lines = out_csv.read_text().splitlines()
    assert lines[0].startswith("account,liquidated,")
    assert len(lines) == 4


def test_liquidate_without_pandas_reads_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    positions, book = _files(tmp_path)
    assert (
        main(
            [
                "liquidate",
                "--positions",
                str(positions),
                "--book",
                str(book),
                "--mark",
                "56100",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["summary"]["positions"] == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["liquidate", "--positions", "nope.csv", "--book", "{book}", "--mark", "1"],
            "--positions: no such file",
        ),
        (
            ["liquidate", "--positions", "{positions}", "--book", "nope.json", "--mark", "1"],
            "--book: no such file",
        ),
        (
            ["liquidate", "--positions", "{positions}", "--book", "{book}", "--mark", "nan"],
            "--mark must be finite and > 0",
        ),
        (
            [
                "liquidate",
                "--positions",
                "{positions}",
                "--book",
                "{book}",
                "--mark",
                "1",
                "--fund",
                "-1",
            ],
            "--fund must be finite and >= 0",
        ),
        (
            [
                "liquidate",
                "--positions",
                "{positions}",
                "--book",
                "{book}",
                "--mark",
                "1",
                "--policy",
                "nope",
            ],
            "is neither a preset",
        ),
        (
            ["liquidate", "--positions", "{bad_positions}", "--book", "{book}", "--mark", "1"],
            r"entry_price\[1\] must be finite and > 0",
        ),
        (
            [
                "liquidate",
                "--positions",
                "{positions}",
                "--book",
                "{book}",
                "--mark",
                "1",
                "--policy",
                "{bad_policy}",
            ],
            r"Policy\.order must be one of",
        ),
        (["bogus"], "invalid choice"),
    ],
)
def test_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    positions, book = _files(tmp_path)
    bad_positions = tmp_path / "bad.csv"
    bad_positions.write_text("size,entry_price,margin\n1,100,1\n1,-5,1\n")
    bad_policy = tmp_path / "bad_policy.json"
    bad_policy.write_text(json.dumps({"order": "random"}))
    args = [
        a.format(positions=positions, book=book, bad_positions=bad_positions, bad_policy=bad_policy)
        for a in argv
    ]
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    import re

    assert re.search(message, capsys.readouterr().err)


def test_default_market() -> None:
    import numpy as np
    from liqcore.demo import default_market, shifted_book

    pos, book, mark, shock = default_market(seed=3, n=5_000)
    again = default_market(seed=3, n=5_000)
    assert pos == again[0]
    assert book == again[1]
    assert len(pos) == 5_000
    assert shock == -0.05
    assert mark == book.mid
    lev = np.abs(pos.size) * pos.entry_price / pos.margin
    assert lev.min() >= 2.0 * (1 - 1e-12)
    assert lev.max() <= 100.0 * (1 + 1e-12)
    assert 5.0 < float(np.median(lev)) < 15.0
    equity = pos.margin + pos.size * (mark - pos.entry_price)
    assert (equity >= 0.005 * np.abs(pos.size) * mark).all()  # healthy before the shock
    moved = shifted_book(book, 0.9)
    assert moved.best_bid == book.best_bid * 0.9
    np.testing.assert_array_equal(moved.bids[1], book.bids[1])
    with pytest.raises(ValueError, match="factor must be finite and > 0"):
        shifted_book(book, -1.0)
    with pytest.raises(TypeError, match="seed must be an int"):
        default_market(seed=1.5)  # type: ignore[arg-type]
