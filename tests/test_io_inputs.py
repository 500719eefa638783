"""liqcore.io's readers of the command line's inputs: positions, tables, policies, markets and
collateral; and liqcore.plot."""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path
from typing import Any

import liqcore as lq
import numpy as np
import pytest
from liqcore import io


def _no_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize("pandas", [True, False])
def test_read_positions_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pandas: bool) -> None:
    if not pandas:
        _no_pandas(monkeypatch)
    p = tmp_path / "p.csv"
    p.write_text("size,entry_price,margin,account\n1.5,100,5,7\n-2,101.25,4,3\n")
    pos = io.read_positions(p)
    assert isinstance(pos, lq.Positions)
    np.testing.assert_array_equal(pos.size, [1.5, -2.0])
    np.testing.assert_array_equal(pos.entry_price, [100.0, 101.25])
    np.testing.assert_array_equal(pos.margin, [5.0, 4.0])
    np.testing.assert_array_equal(pos.account, [7, 3])
    assert len(io.read_positions(str(p))) == 2


def test_read_positions_parquet(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    p = tmp_path / "p.parquet"
    pd.DataFrame({"size": [1.0], "entry_price": [10.0], "margin": [1.0]}).to_parquet(p)
    assert io.read_positions(p).entry_price.tolist() == [10.0]


def test_read_positions_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match=r"^no such file 'nope\.csv'$"):
        io.read_positions("nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("size,entry_price,margin\n1,100,1\n1,-5,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv: entry_price\[1\] must be finite and > 0"):
        io.read_positions(bad)
    cols = tmp_path / "cols.csv"
    cols.write_text("size,price\n1,2\n")
    with pytest.raises(ValueError, match=r"cols\.csv: frame is missing column\(s\) 'entry_price'"):
        io.read_positions(cols)
    with pytest.raises(TypeError, match=r"^path must be"):
        io.read_positions(3)  # type: ignore[arg-type]
    _no_pandas(monkeypatch)
    with pytest.raises(ImportError, match=r"liqcore\[parquet\]"):
        io.read_positions(_touch(tmp_path / "p.parquet"))
    empty = _touch(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match=r"empty\.csv has no header row$"):
        io.read_positions(empty)


def _touch(p: Path) -> Path:
    p.write_text("")
    return p


def test_read_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2.5\n3,4\n")
    t = io.read_table(p)
    assert list(t["b"]) == [2.5, 4.0]
    with pytest.raises(FileNotFoundError, match=r"^no such file"):
        io.read_table(tmp_path / "nope.csv")
    _no_pandas(monkeypatch)
    t = io.read_table(p)
    assert isinstance(t, dict)
    assert t["a"].tolist() == [1, 3]


def test_read_policy(tmp_path: Path) -> None:
    assert io.read_policy(None) == lq.Policy()
    assert io.read_policy(None, residual="queue") == lq.Policy(residual="queue")
    assert io.read_policy("binance") == lq.Policy.binance()
    assert io.read_policy("dydx", fee_cap=0.01) == lq.Policy.dydx(fee_cap=0.01)
    assert set(io.POLICY_PRESETS) == {"default", "binance", "bybit", "dydx", "hyperliquid", "drift"}
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"order": "largest", "mmr": 0.02}))
    assert io.read_policy(str(f)) == lq.Policy(order="largest", mmr=0.02)
    assert io.read_policy(str(f), fee_cap=0.5).fee_cap == 0.5  # a default under the file's fields
    with pytest.raises(FileNotFoundError, match=r"^'nope' is neither a preset \(default, binance"):
        io.read_policy("nope")
    f.write_text("[1]")
    with pytest.raises(ValueError, match=r"p\.json must hold a JSON object of Policy fields$"):
        io.read_policy(str(f))
    f.write_text("{")
    with pytest.raises(ValueError, match=r"^cannot read .*p\.json: "):
        io.read_policy(str(f))
    f.write_text(json.dumps({"order": "random"}))
    with pytest.raises(ValueError, match=r"p\.json: Policy\.order must be one of"):
        io.read_policy(str(f))


def _markets(tmp_path: Path, **fields: Any) -> Path:
    io.write_book(((99.0, 98.0), (1.0, 2.0), (101.0,), (3.0,)), tmp_path / "b.json")
    d = {"marks": [100.0], "mmr": 0.05, "books": ["b.json"],
         "assets": {"USDC": {"price": 1.0}, "ETH": {"price": 3000.0, "haircut": 0.1}}, **fields}
    p = tmp_path / "m.json"
    p.write_text(json.dumps(d))
    return p


def test_read_markets_and_collateral(tmp_path: Path) -> None:
    mk, assets = io.read_markets(_markets(tmp_path))
    assert isinstance(mk, lq.Markets)
    assert list(assets) == ["USDC", "ETH"]
    c = tmp_path / "c.csv"
    c.write_text("account,ETH,USDC\n2,1.0,10\n0,0,5\n")
    acc = io.read_collateral(c, assets)
    # three accounts (ids 0..2; account 1 holds nothing); columns in the markets' asset order
    pf = lq.Portfolio([0, 1, 2], [0, 0, 0], [0.0, 0.0, 0.0], [100.0, 100.0, 100.0])
    h = lq.health(pf, acc, mk)
    np.testing.assert_allclose(h.equity, [5.0, 0.0, 10.0 + 3000.0 * 0.9])
    seen: list[str] = []

    def reader(path: str) -> lq.Book:
        seen.append(Path(path).name)
        return io.read_book(path)

    io.read_markets(_markets(tmp_path), book_reader=reader)
    assert seen == ["b.json"]


def test_read_markets_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^no such file"):
        io.read_markets(tmp_path / "nope.json")
    with pytest.raises(ValueError, match=r"unknown field\(s\) 'bogus'"):
        io.read_markets(_markets(tmp_path, bogus=1))
    with pytest.raises(ValueError, match="mmr and tiers are exclusive"):
        io.read_markets(_markets(tmp_path, tiers=[[[0, 0.01]]]))
    with pytest.raises(ValueError, match="'assets' must map asset names"):
        io.read_markets(_markets(tmp_path, assets={}))
    (tmp_path / "m2.json").write_text("[]")
    with pytest.raises(ValueError, match="must hold a JSON object with 'marks' and 'assets'"):
        io.read_markets(tmp_path / "m2.json")
    _, assets = io.read_markets(_markets(tmp_path))
    c = tmp_path / "c.csv"
    c.write_text("USDC\n1\n")
    with pytest.raises(ValueError, match=r"c\.csv has no column\(s\) 'ETH' \(has 'USDC'\)"):
        io.read_collateral(c, assets)
    c.write_text("account,USDC,ETH\n1,1,1\n1,2,2\n")
    with pytest.raises(ValueError, match="'account' must hold distinct non-negative integer ids"):
        io.read_collateral(c, assets)


# ---- liqcore.plot --------------------------------------------------------------------------


def _cascade() -> Any:
    pos = lq.Positions([1.0, 1.0, -1.0], 100.0, [5.0, 3.0, 20.0])
    book = lq.Book([99.0 - k for k in range(10)], np.ones(10), [101.0 + k for k in range(10)],
                   np.ones(10))
    return pos, book, lq.simulate_cascade(pos, book, 100.0, -0.03, lq.Policy(), 1.0)


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from liqcore import plot

    pos, book, res = _cascade()
    plot.cascade(res, tmp_path / "c.png")
    st = lq.stress_test(pos, book, 100.0, lq.Policy(), 1.0, 10, 1.0, steps=3, seed=0)
    plot.stress(st, str(tmp_path / "s.png"), 0.9)
    for name in ("c.png", "s.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_plot_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from liqcore import plot

    _, _, res = _cascade()
    with pytest.raises(FileNotFoundError, match=r"^no such folder .*nope"):
        plot.cascade(res, tmp_path / "nope" / "c.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"^plotting needs matplotlib: pip install liqcore\[plot"):
        plot.cascade(res, tmp_path / "c.png")
