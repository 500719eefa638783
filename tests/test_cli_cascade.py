"""The liqcore command line: cascade and stress subcommands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from liqcore.cli import _Progress, main


def _files(tmp_path: Path) -> tuple[Path, Path]:
    positions = tmp_path / "positions.csv"
    positions.write_text("size,entry_price,margin\n1.0,100,5\n1.0,100,4\n1.0,100,3\n-1.0,100,20\n")
    book = tmp_path / "book.json"
    book.write_text(
        json.dumps(
            {
                "bids": [[99.0 - 0.5 * k, 1.0] for k in range(20)],
                "asks": [[101.0 + 0.5 * k, 1.0] for k in range(20)],
            }
        )
    )
    return positions, book


def test_cascade_json_on_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, book = _files(tmp_path)
    args = [
        "cascade",
        "--positions",
        str(positions),
        "--book",
        str(book),
        "--mark",
        "100",
        "--shock",
        "-0.03",
        "--fund",
        "1",
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    s = out["summary"]
    # longs' LP = (100 - M) / 0.995: 97.49, 96.48, 95.48. The shock to 97 liquidates the first;
    # its sale fills at 99 * 0.97 = 96.03, which liquidates the second (fill 98.5 * 0.97 = 95.545)
    assert s["shocked_mark"] == 97.0 and s["positions"] == 4
    assert s["positions_liquidated"] == 2 and s["rounds"] == 2
    assert out["marks"] == pytest.approx([97.0, 99 * 0.97, 98.5 * 0.97], rel=1e-12)
    assert abs(s["ledger_balance"]) < 1e-9
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == s


def test_cascade_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "cascade.png"
    assert main(["cascade", "--shock", "-0.03", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    for label in (
        "total move",
        "rounds",
        "liquidated notional",
        "insurance fund after",
        "round",
        "fund after",
    ):
        assert label in out, label
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_stress_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "stress.png"
    args = [
        "stress",
        "--scenarios",
        "12",
        "--steps",
        "8",
        "--seed",
        "4",
        "--json",
        "--plot",
        str(png),
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["scenarios"] == 12 and out["seed"] == 4
    assert 0.0 <= out["summary"]["depletion_probability"] <= 1.0
    assert set(out["fund_size"]) == {"r/kappa=0.01", "r/kappa=0.05"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(args[:-2]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["summary"] == out["summary"]


def test_stress_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["stress", "--scenarios", "6", "--steps", "5", "--policy", "binance", "--threads", "2"]
        )
        == 0
    )
    out = capsys.readouterr().out
    for label in (
        "expected deficit",
        "VaR 0.99",
        "ES 0.99",
        "P(D > fund)",
        "LaR 0.95",
        "Cover-1",
        "Cover-2",
        "position-scenarios per second",
    ):
        assert label in out, label


def test_progress_fallback_without_tqdm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name: str, *a: object, **k: object) -> object:
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real_import(name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    p = _Progress(100, enabled=True)
    for done in range(10, 101, 10):
        p(done, 100)
    p.close()
    err = capsys.readouterr().err
    assert "stress: 100/100 scenarios (100%)" in err and err.count("\n") == 10


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, _ = _files(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["cascade", "--positions", str(positions)])
    assert e.value.code == 2
    assert "--positions, --book and --mark go together" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["cascade", "--shock", "-1.5"])
    assert e.value.code == 2 and "shock must be finite and > -1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["stress", "--scenarios", "-3"])
    assert e.value.code == 2 and "scenarios must be >= 0" in capsys.readouterr().err


def test_cascade_resilience_default_depends_on_the_market(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def marks(*extra: str) -> list[float]:
        assert main(["cascade", "--json", *extra]) == 0
        return list(json.loads(capsys.readouterr().out)["marks"])

    # the embedded market refills half the consumed depth unless told otherwise
    embedded = marks()
    assert embedded == marks("--resilience", "0.5")
    assert embedded != marks("--resilience", "0")
    # the user's files keep the API default of 0
    positions, book = _files(tmp_path)
    files = ["--positions", str(positions), "--book", str(book), "--mark", "100", "--shock", "-0.03"]
    assert marks(*files) == marks(*files, "--resilience", "0")
    assert marks(*files) != marks(*files, "--resilience", "1")


def test_mark_rule_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions, book = _files(tmp_path)
    files = ["--positions", str(positions), "--book", str(book), "--mark", "100"]

    def cascade(*extra: str) -> dict[str, object]:
        assert main(["cascade", *files, "--shock", "-0.03", "--json", *extra]) == 0
        return dict(json.loads(capsys.readouterr().out))

    # the index is the shocked mark, 97; round 1 sells the first long at 99 * 0.97 = 96.03:
    # w = 0.5 puts the mark at (97 + 96.03) / 2 = 96.515, above the second long's LP (96.48)
    half = cascade("--mark-rule", "index", "--mark-weight", "0.5")
    assert half["marks"] == pytest.approx([97.0, 0.5 * 97.0 + 0.5 * 99 * 0.97], rel=1e-12)
    assert half["summary"]["positions_liquidated"] == 1  # type: ignore[index]
    assert cascade("--mark-rule", "index")["marks"] == [97.0, 97.0]  # w = 0: the index
    assert cascade("--mark-rule", "binance")["marks"] == [97.0, 97.0]  # zero bases: the index
    last = cascade()
    assert cascade("--mark-rule", "index", "--mark-weight", "1")["marks"] == last["marks"]
    assert len(cascade("--mark-rule", "hyperliquid")["marks"]) >= 2  # type: ignore[arg-type]

    stress = ["stress", "--scenarios", "8", "--steps", "4", "--json"]
    assert main([*stress, "--mark-rule", "index", "--mark-weight", "0.25"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["mark_rule"] == "index(w=0.25)"
    assert main([*stress, "--mark-rule", "index", "--mark-weight", "1"]) == 0
    one = json.loads(capsys.readouterr().out)["summary"]
    assert main(stress) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == one

    for bad, message in (
        (["--mark-weight", "0.3"], "--mark-weight applies to --mark-rule index only"),
        (["--mark-rule", "index", "--mark-weight", "1.5"], "--mark-weight must be in [0, 1]"),
        (["--mark-rule", "vwap"], "invalid choice: 'vwap'"),
    ):
        for cmd in (["cascade", *files], ["stress", "--scenarios", "2", "--steps", "2"]):
            with pytest.raises(SystemExit) as e:
                main([*cmd, *bad])
            assert e.value.code == 2 and message in capsys.readouterr().err
