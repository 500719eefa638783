"""liqcore.report: the text tables of results, shared by print(result) and the command line."""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest
from liqcore import report


def _market() -> tuple[lq.Positions, lq.Book]:
    pos = lq.Positions([1.0, 1.0, 1.0, -1.0], 100.0, [5.0, 4.0, 3.0, 20.0])
    bids = [99.0 - 0.5 * k for k in range(20)]
    asks = [101.0 + 0.5 * k for k in range(20)]
    return pos, lq.Book(bids, np.ones(20), asks, np.ones(20))


def _rows(text: str) -> dict[str, str]:
    """label -> value of a table (the lines between the two rules)."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    assert len(rules) == 2, text
    assert rules[0] == 1, text
    out = {}
    for line in lines[rules[0] + 1 : rules[1]]:
        label, value = line.split("   ", 1)
        out[label.strip()] = value.strip()
    return out


def test_table_layout() -> None:
    text = report.table([("a", "1"), ("longer label", "1,234.50")], "title")
    assert text.splitlines() == [
        "title",
        "-" * 23,  # 12 + 3 + 8
        "a" + " " * 11 + "   " + " " * 7 + "1",
        "longer label   1,234.50",
        "-" * 23,
    ]
    assert report.money(1234567.891) == "1,234,567.89"


def test_liquidation_report_values() -> None:
    pos, book = _market()
    # mark 97: longs with margin 3 (LP (100 - 3)/0.995 = 97.49) is liquidatable; margin 4 and 5
    # are not (LP 96.48, 95.48); the short is not
    res = lq.liquidate(pos, book, 97.0, lq.Policy(), 1.0)
    text = str(res)
    assert text == report.liquidation(res)
    rows = _rows(text)
    assert rows["mark"] == "97.00"
    assert rows["positions"] == "4"
    assert rows["liquidated"] == "1 (25.00%)"
    s = res.summary()
    assert rows["liquidated notional"] == f"{s['liquidated_notional']:,.2f}"
    assert rows["insurance fund before"] == "1.00"
    assert rows["covered by counterparties (none)"] == f"{s['adl_transfers']:,.2f}"
    assert rows["ledger balance"] == f"{s['ledger_balance']:.3g}"
    moved = _rows(report.liquidation(res, title="t", mark_before=100.0))
    assert moved["mark"] == "100.00 -> 97.00 (-3.00%)"


def test_cascade_report() -> None:
    pos, book = _market()
    res = lq.simulate_cascade(pos, book, 100.0, -0.03, lq.Policy(), 1.0)
    text = str(res)
    assert text == report.cascade(res)
    table, trace = text.split("\n-", 1)[0], text.splitlines()
    rows = _rows(text.split("\n round")[0] if "\n round" in text else text)
    assert rows["mark"] == "100.00 -> 97.00 (shock -3.00%) -> 95.55"
    assert rows["rounds"] == "2"
    assert rows["liquidated"] == "2 (50.00%)"
    assert table.startswith("cascade: 4 positions, shock -3.0%")
    header = next(i for i, line in enumerate(trace) if line.split()[:2] == ["round", "mark"])
    assert len(trace) == header + 1 + 2  # two rounds
    assert trace[header + 1].split()[:3] == ["1", "96.03", "1"]
    stopped = lq.simulate_cascade(pos, book, 100.0, -0.03, lq.Policy(), 1.0, max_rounds=1)
    assert _rows(report.cascade(stopped, limit_name="--max-rounds").split("\n round")[0])[
        "rounds"
    ] == "1 (stopped by --max-rounds)"


def test_stress_report() -> None:
    pos, book = _market()
    st = lq.stress_test(pos, book, 100.0, lq.Policy(), 1.0, 20, 1.0, steps=5, seed=3)
    text = str(st)
    assert text == report.stress(st)
    rows = _rows(text)
    assert rows["scenarios x steps"] == "20 x 5 (horizon 1 d, sigma 0.04/d, jumps 0.1/d)"
    assert rows["insurance fund"] == "1.00"
    assert rows["VaR 0.99"] == f"{st.var(0.99):,.2f}"
    assert rows["P(D > fund)"] == f"{st.depletion_probability:.3%}"
    assert "positions" not in rows
    assert _rows(report.stress(st, 0.9, positions=4))["positions"] == "4"
    assert "VaR 0.9" in _rows(report.stress(st, 0.9))


def test_account_reports() -> None:
    mk = lq.Markets([100.0], 0.05, books=[_market()[1]])
    acc = lq.Accounts([[1.0], [1_000.0]], [1.0])
    pf = lq.Portfolio([0, 1], [0, 0], [1.0, -1.0], [110.0, 100.0])
    h = lq.health(pf, acc, mk)
    head = report.health_summary(h, len(pf))
    # account 0: equity 1 + (100 - 110) = -9 < MM 5: liquidatable; account 1: 1000 > 5
    assert head["liquidatable"] == 1
    assert head["equity"] == pytest.approx(-9.0 + 1_000.0)
    assert head["maintenance"] == pytest.approx(10.0)
    rows = _rows(report.health(h, len(pf)))
    assert rows["liquidatable accounts"] == "1"
    assert rows["equity of liquidatable"] == "-9.00"
    res = lq.liquidate_accounts(pf, acc, mk, lq.Policy(), 100.0)
    assert str(res) == report.account_liquidation(res)
    rows = _rows(str(res))
    assert rows["liquidated accounts"] == "1"
    assert rows["accounts"] == "2"
    both = _rows(report.health(h, len(pf), res))
    assert both["liquidated accounts"] == "1"
    assert both["accounts"] == "2"


def test_contagion_reports() -> None:
    mk = lq.Markets([100.0], 0.05, books=[_market()[1]])
    acc = lq.Accounts([[1.0], [1_000.0]], [1.0])
    pf = lq.Portfolio([0, 1], [0, 0], [1.0, -1.0], [100.0, 100.0])
    res = lq.simulate_cascade_accounts(pf, acc, mk, -0.2, lq.Policy(), 10.0)
    rows = _rows(str(res))
    s = res.summary()
    assert rows["liquidated accounts"] == f"{s['liquidated_accounts']:,}"
    assert rows["bad debt"] == f"{s['bad_debt']:,.2f}"
    assert rows["traders' deficits"] == f"{s['deficit']:,.2f}"
    st = lq.stress_test_accounts(pf, acc, mk, lq.Policy(), 10.0, 8, 1.0, steps=3, seed=1)
    rows = _rows(str(st))
    assert rows["scenarios"] == "8"
    assert rows["insurance fund"] == "10.00"
    assert rows["VaR 0.99"] == f"{st.var(0.99):,.2f}"


def test_stress_report_shows_the_mark_rule_and_funding() -> None:
    book = lq.Book.synthetic(mid=60_000.0, seed=0)
    pos = lq.Positions(size=[2.0, -1.5], entry_price=[61_000.0, 59_000.0],
                       margin=[4_000.0, 9_000.0])
    st = lq.stress_test(pos, book, 60_000.0, insurance_fund=1e6, scenarios=20, seed=0,
                        mark_rule=lq.MarkRule.index(w=0.3), funding=0.0003)
    text = str(st)
    assert "mark rule" in text and "index(w=0.3)" in text
    assert "funding paid (mean per scenario)" in text
    mean_paid = float(np.mean(st.funding_paid))
    assert mean_paid > 0.0
    plain = str(lq.stress_test(pos, book, 60_000.0, insurance_fund=1e6, scenarios=20, seed=0))
    assert "mark rule" not in plain and "funding paid" not in plain
