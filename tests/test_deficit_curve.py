"""Deficit curves: lq.deficit_curve against single cascades run one by one."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import liqcore as lq
import numpy as np
import pytest
from liqcore.deficit_curve import _bad_debt

MID = 60_000.0


@pytest.fixture(scope="module")
def market() -> tuple[lq.Positions, lq.Book, float]:
    book = lq.synthetic_book(MID, levels=800, seed=1)
    pos = lq.synthetic_positions(6_000, mark=book.mid, open_interest=4e8, seed=1)
    return pos, book, book.mid


SHOCKS = [-0.005, -0.02, -0.01, -0.05, 0.03, -0.08]


@pytest.mark.parametrize("threads", [None, 1, 2, 3])
def test_equals_single_cascades(market: tuple[lq.Positions, lq.Book, float],
                                threads: int | None) -> None:
    pos, book, mark = market
    policy = lq.Policy(residual="socialize")
    c = lq.deficit_curve(pos, book, mark, SHOCKS, policy=policy, insurance_fund=3e5,
                         resilience=0.3, mark_rule="mid", threads=threads)
    assert len(c) == len(SHOCKS)
    np.testing.assert_array_equal(c.shocks, SHOCKS)
    for j, s in enumerate(SHOCKS):
        r = lq.simulate_cascade(pos, book, mark, s, policy, 3e5, 0.3, mark_rule="mid")
        bad_debt = r.total_deficit + r.inventory_loss  # the definition (docs/model.md §3b)
        assert c.bad_debt[j] == bad_debt  # bitwise
        assert c.liquidated_notional[j] == r.liquidated_notional
        assert c.n_liquidated[j] == r.n_liquidated
        assert c.positions_liquidated[j] == np.count_nonzero(r.liquidated)
        assert c.final_mark[j] == r.final_mark
        assert c.insurance_fund[j] == r.insurance_fund
        np.testing.assert_array_equal(c.results[j].marks, r.marks)
        np.testing.assert_array_equal(c.results[j].deficit, r.deficit)
    assert c.mark == mark
    assert c.insurance_fund_before == 3e5
    assert c.bad_debt.max() > 0
    assert c.n_liquidated.dtype == np.int64


def test_order_follows_the_shocks(market: tuple[lq.Positions, lq.Book, float]) -> None:
    pos, book, mark = market
    a = lq.deficit_curve(pos, book, mark, SHOCKS, insurance_fund=1e5)
    order = np.argsort(SHOCKS)
    b = lq.deficit_curve(pos, book, mark, np.asarray(SHOCKS)[order], insurance_fund=1e5,
                         threads=2)
    for f in ("bad_debt", "liquidated_notional", "n_liquidated", "final_mark", "insurance_fund"):
        np.testing.assert_array_equal(getattr(a, f)[order], getattr(b, f), err_msg=f)


def test_monotone_in_the_shock_without_cascades() -> None:
    # takeover execution never moves the mark: the liquidated set at mark * (1 + s) grows with
    # |s| and so does each liquidated long's loss at the takeover price
    pos = lq.synthetic_positions(3_000, mark=MID, long_fraction=1.0, seed=3)
    book = lq.synthetic_book(MID, levels=200, seed=3)
    shocks = -np.linspace(0.0, 0.3, 16)
    c = lq.deficit_curve(pos, book, MID, shocks, policy=lq.Policy(execution="takeover"))
    assert (np.diff(c.positions_liquidated) >= 0).all()
    assert (np.diff(c.bad_debt) >= 0).all()
    assert c.positions_liquidated[0] == 0
    assert c.bad_debt[0] == 0.0
    assert c.bad_debt[-1] > 0
    np.testing.assert_allclose(c.final_mark, MID * (1 + shocks), rtol=1e-15)


def test_bad_debt_helper() -> None:
    assert _bad_debt(SimpleNamespace(bad_debt=7.0, total_deficit=1.0)) == 7.0  # type: ignore[arg-type]


def test_empty_frame_and_plot(market: tuple[lq.Positions, lq.Book, float],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    pos, book, mark = market
    e = lq.deficit_curve(pos, book, mark, [])
    assert len(e) == 0
    assert e.results == ()
    assert e.bad_debt.shape == (0,)
    c = lq.deficit_curve(pos, book, mark, [-0.01, -0.03])
    with pytest.raises(ValueError, match="read-only"):
        c.bad_debt[0] = 1.0
    pytest.importorskip("pandas")
    f = c.to_frame()
    assert list(f.columns) == ["shock", "bad_debt", "liquidated_notional", "n_liquidated",
                               "positions_liquidated", "final_mark", "insurance_fund"]
    np.testing.assert_array_equal(f["bad_debt"].to_numpy(), c.bad_debt)
    assert c.to_dict()["shock"] == [-0.01, -0.03]
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert c.plot().get_title() == "Deficit curve"
    plt.close("all")
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"liqcore\[plot\]"):
        c.plot()


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"shocks": [-0.01, float("nan")]}, ValueError, r"shocks\[1\] must be finite and > -1"),
        ({"shocks": [-0.01, -0.02, -1.0]}, ValueError, r"shocks\[2\] must be finite and > -1"),
        ({"shocks": "abc"}, TypeError, "shocks must be a real number"),
        ({"shocks": [[-0.01]]}, ValueError, "shocks must have at most 1 dimension"),
        ({"threads": 0}, ValueError, "threads must be in"),
        ({"threads": "2"}, TypeError, "threads must be a positive int"),
        ({"mark": -1.0}, ValueError, "mark must be finite and > 0"),
        ({"policy": "binance"}, TypeError, "policy must be a liqcore.Policy"),
        ({"insurance_fund": -1.0}, ValueError, "insurance_fund"),
        ({"resilience": 2.0}, ValueError, "resilience must be in"),
        ({"mark_rule": "vwap"}, ValueError, "mark_rule must be one of"),
        ({"positions": "x"}, TypeError, "positions must be a liqcore.Positions"),
        ({"book": None}, TypeError, "book must be a liqcore.Book"),
    ],
)
def test_validation(market: tuple[lq.Positions, lq.Book, float], kwargs: dict[str, object],
                    exc: type, message: str) -> None:
    pos, book, mark = market
    args: dict[str, object] = {"positions": pos, "book": book, "mark": mark,
                               "shocks": [-0.01, -0.02], **kwargs}
    with pytest.raises(exc, match=message):
        lq.deficit_curve(**args)  # type: ignore[arg-type]
    if "shocks" not in kwargs:  # the same errors with no shock at all
        args["shocks"] = []
        with pytest.raises(exc, match=message):
            lq.deficit_curve(**args)  # type: ignore[arg-type]


def test_shock_leaving_the_float_range_names_its_index(
    market: tuple[lq.Positions, lq.Book, float],
) -> None:
    pos, book, mark = market
    with pytest.raises(ValueError, match=r"shocks\[2\]: shock=1e\+308 moves the mark"):
        lq.deficit_curve(pos, book, mark, [-0.01, -0.02, 1e308], threads=2)
