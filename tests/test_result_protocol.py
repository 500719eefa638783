"""Every result class follows one protocol (liqcore.result): it derives from Result, its
summary() has "bad_debt", its bad_debt is what the fund, the counterparties and the uncovered
remainder bear, it has to_frame(), str() and _repr_html_, and the same thing has the same name."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import liqcore as lq
from liqcore.result import Result

RESULT_CLASSES = [
    "LiquidationResult",
    "CascadeResult",
    "StressResult",
    "AccountLiquidationResult",
    "ContagionResult",
    "AccountStressResult",
    "DeficitCurve",
    "ReplayResult",
]


def _book(mark: float) -> lq.Book:
    bids = mark * (1.0 - 0.01 * np.arange(1, 6))
    asks = mark * (1.0 + 0.01 * np.arange(1, 6))
    return lq.Book(bids, np.full(5, 0.5), asks, np.full(5, 0.5))


def _isolated() -> tuple[lq.Positions, lq.Book]:
    # 20x and 50x longs and shorts around 100: a 10% drop liquidates the longs deep in loss
    size = np.array([1.0, 2.0, -1.0, 3.0, -2.0])
    ep = np.array([100.0, 101.0, 99.0, 102.0, 100.0])
    margin = np.abs(size) * ep / np.array([20.0, 50.0, 20.0, 50.0, 10.0])
    return lq.Positions(size, ep, margin), _book(90.0)


def _cross() -> tuple[lq.Portfolio, lq.Accounts, lq.Markets]:
    marks = np.array([100.0, 50.0])
    mk = lq.Markets(marks, [0.01, 0.02], books=[_book(100.0), _book(50.0)])
    acc = lq.Accounts(np.array([[5.0, 0.0], [2.0, 0.0], [50.0, 0.0]]), [1.0, 1.0])
    pf = lq.Portfolio([0, 0, 1, 2], [0, 1, 1, 0], [1.0, 2.0, 3.0, -1.0],
                      [110.0, 55.0, 60.0, 100.0])
    return pf, acc, mk


def _results() -> dict[str, Any]:
    p, b = _isolated()
    pf, acc, mk = _cross()
    return {
        "LiquidationResult": lq.liquidate(p, b, 90.0, insurance_fund=1.0),
        "CascadeResult": lq.simulate_cascade(p, _book(100.0), 100.0, -0.1, insurance_fund=1.0),
        "StressResult": lq.stress_test(p, _book(100.0), 100.0, insurance_fund=1.0,
                                       scenarios=16, steps=4, seed=1),
        "AccountLiquidationResult": lq.liquidate_accounts(pf, acc, mk, insurance_fund=1.0),
        "ContagionResult": lq.simulate_cascade_accounts(pf, acc, mk, -0.1, insurance_fund=1.0),
        "AccountStressResult": lq.stress_test_accounts(pf, acc, mk, insurance_fund=1.0,
                                                       scenarios=16, steps=4, seed=1),
        "DeficitCurve": lq.deficit_curve(p, _book(100.0), 100.0, [-0.2, -0.1, 0.0],
                                         insurance_fund=1.0),
    }


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return _results()


@pytest.mark.parametrize("name", RESULT_CLASSES)
def test_every_result_class_derives_from_result(name: str) -> None:
    cls = getattr(lq, name)
    assert issubclass(cls, Result)


@pytest.mark.parametrize("name", RESULT_CLASSES[:-1])
def test_summary_has_bad_debt_and_who_bears_it(name: str, results: dict[str, Any]) -> None:
    r = results[name]
    assert isinstance(r, Result)
    s = r.summary()
    assert "bad_debt" in s
    bd = np.asarray(r.bad_debt, dtype=float)
    if bd.ndim == 0:
        assert s["bad_debt"] == pytest.approx(float(bd))
    terms = [t for t in ("insurance_draw", "adl_transfers", "uncovered") if hasattr(r, t)]
    if "insurance_draw" in terms and "uncovered" in terms:
        total = sum(np.asarray(getattr(r, t), dtype=float) for t in terms)
        np.testing.assert_allclose(bd, total, rtol=1e-9, atol=1e-9)
    # the loss is real and the example produces some
    assert np.all(bd >= 0.0)


def test_examples_have_bad_debt(results: dict[str, Any]) -> None:
    for name in ("LiquidationResult", "CascadeResult", "ContagionResult"):
        assert results[name].bad_debt > 0.0, name


@pytest.mark.parametrize("name", RESULT_CLASSES[:-1])
def test_frame_str_and_html(name: str, results: dict[str, Any]) -> None:
    pytest.importorskip("pandas")
    r = results[name]
    df = r.to_frame()
    assert len(df) == len(r)
    assert str(r)
    assert type(r).__name__ in r._repr_html_()


@pytest.mark.parametrize("name", ["LiquidationResult", "CascadeResult", "AccountLiquidationResult",
                                  "ContagionResult"])
def test_arrays_are_read_only(name: str, results: dict[str, Any]) -> None:
    r = results[name]
    for f in ("liquidated", "closed", "deficit"):
        a = getattr(r, f)
        with pytest.raises(ValueError):
            a[0] = a[0]


def test_same_names(results: dict[str, Any]) -> None:
    acc = results["AccountLiquidationResult"]
    assert acc.n_liquidated == acc.n_positions == int(np.count_nonzero(acc.sequence >= 0))
    con = results["ContagionResult"]
    assert con.n_liquidated == int(con.liquidated.sum()) == con.summary()["liquidated_positions"]
    casc = results["CascadeResult"]
    assert math.isfinite(casc.final_mark) and isinstance(casc.book, lq.Book)
    assert con.final_marks.shape == (2,) and con.books is not None and len(con.books) == 2
    assert isinstance(results["LiquidationResult"].book, lq.Book)
    assert results["AccountStressResult"].final_marks.shape == (16, 2)
    assert results["StressResult"].final_mark.shape == (16,)
    dc = results["DeficitCurve"]
    assert dc.summary()["bad_debt"] == pytest.approx(float(dc.bad_debt.max()))
