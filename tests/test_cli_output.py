"""Output files of the command line (--output, --plot) that cannot be written: a one-line error
and exit status 2, before any work is done; never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from liqcore.cli import main
from test_replay import synthetic_feed


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "positions.csv").write_text(
        "size,entry_price,margin\n1.0,100,5\n1.0,100,4\n1.0,100,3\n-1.0,100,20\n"
    )
    (tmp_path / "book.json").write_text(
        json.dumps(
            {
                "bids": [[99.0 - 0.5 * k, 1.0] for k in range(20)],
                "asks": [[101.0 + 0.5 * k, 1.0] for k in range(20)],
            }
        )
    )
    (tmp_path / "markets.json").write_text(
        json.dumps({"marks": [100.0], "mmr": 0.05, "assets": {"USDC": {"price": 1.0}}})
    )
    (tmp_path / "pos.csv").write_text("account,market,size,entry_price\n0,0,1,100\n")
    (tmp_path / "coll.csv").write_text("USDC\n10\n")
    (tmp_path / "afile").write_text("")
    synthetic_feed(tmp_path / "feed.jsonl.gz")
    return {k: str(tmp_path / v) for k, v in [
        ("positions", "positions.csv"), ("book", "book.json"), ("markets", "markets.json"),
        ("pos", "pos.csv"), ("coll", "coll.csv"), ("feed", "feed.jsonl.gz")]}


def _commands(f: dict[str, str], target: str) -> dict[str, list[str]]:
    market = ["--positions", f["positions"], "--book", f["book"], "--mark", "100"]
    return {
        "liquidate --output": ["liquidate", *market, "--output", target],
        "cascade --plot": ["cascade", *market, "--shock", "-0.03", "--plot", target],
        "stress --plot": ["stress", *market, "--scenarios", "4", "--steps", "2", "--plot", target],
        "accounts --output": ["accounts", "--positions", f["pos"], "--collateral", f["coll"],
                              "--markets", f["markets"], "--output", target],
        "map --plot": ["map", "--positions", f["positions"], "--mark", "100", "--plot", target],
        "curve --plot": ["curve", *market, "--shocks", "-0.01,-0.03", "--plot", target],
        "replay --plot": ["replay", f["feed"], "--positions", f["positions"], "--no-progress",
                          "--plot", target],
        "report --output": ["report", "cascade", *market, "--output", target],
    }


COMMANDS = ["liquidate --output", "cascade --plot", "stress --plot", "accounts --output",
            "map --plot", "curve --plot", "replay --plot", "report --output"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["missing folder", "folder is a file", "path is a folder"])
def test_unwritable_output_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, where: str
) -> None:
    f = _files(tmp_path)
    target = {
        "missing folder": tmp_path / "nope" / "out.png",
        "folder is a file": tmp_path / "afile" / "out.png",
        "path is a folder": tmp_path,
    }[where]
    argv = _commands(f, str(target))[command]
    option = command.split()[1]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1, err  # one line
    assert err.startswith(f"liqcore: error: {option}: cannot write {target}: "), err
    if where != "path is a folder":
        assert f"no such folder {str(target.parent)!r}" in err
    else:
        assert err.endswith("it is a folder\n")
    assert captured.out == ""  # nothing was run
    assert not target.exists() or target.is_dir()


def test_unwritable_output_via_python_m(tmp_path: Path) -> None:
    f = _files(tmp_path)
    target = tmp_path / "nope" / "cascade.png"
    r = subprocess.run(
        [sys.executable, "-m", "liqcore", *_commands(f, str(target))["cascade --plot"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr == (
        f"liqcore: error: --plot: cannot write {target}: no such folder "
        f"{str(target.parent)!r}\n"
    )


def test_writable_outputs_still_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    f = _files(tmp_path)
    for command, name in [("liquidate --output", "liq.csv"), ("cascade --plot", "c.png"),
                          ("stress --plot", "s.png"), ("accounts --output", "acc.csv"),
                          ("map --plot", "m.png"), ("curve --plot", "cv.png"),
                          ("replay --plot", "r.png"), ("report --output", "r.html")]:
        target = tmp_path / name
        assert main(_commands(f, str(target))[command]) == 0
        assert target.stat().st_size > 0, command
    capsys.readouterr()
    assert len((tmp_path / "liq.csv").read_text().splitlines()) == 1 + 4  # header, positions
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
