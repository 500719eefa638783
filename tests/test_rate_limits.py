"""Rate limits (docs/model.md §4, "Rate limits"): Policy.max_notional and Policy.max_orders cap
what a cascade round liquidates; the rest waits for the next round. Hand cases worked from the
model, invariants of capped cascades, stress tests, accounts cascades, the CLI and bad inputs.
The comparison with the pure-Python cascade reference is in test_cascade.py
(test_rate_limited_matches_reference); one-position accounts in test_contagion.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import liqcore as lq
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from liqcore.cli import main

# ---- a hand case: three longs, a takeover liquidator (the mark never moves) -------------------
#
# mark 100, shock -10% -> P = 90. Longs of size 1 at entry 100 with margins 5, 6, 7: LP =
# (100 - M)/0.995 = 95.48, 94.47, 93.47 > 90, all liquidatable. E = M - 10 = -5, -4, -3 and
# MM = 0.45, so most underwater first is 0, 1, 2. Each is taken over at 90·(1 - 0.01) = 89.1:
# E after = E - 0.9, deficits 5.9, 4.9, 3.9. Each position's notional at P is 90.


def three_longs():
    return lq.Positions([1.0, 1.0, 1.0], [100.0] * 3, [5.0, 6.0, 7.0]), lq.Book([], [], [], [])


def capped(**caps):
    pos, book = three_longs()
    return lq.simulate_cascade(pos, book, 100.0, -0.1, lq.Policy(execution="takeover", **caps))


def test_no_cap_liquidates_all_three_in_one_round():
    r = capped()
    assert r.rounds == 1
    assert r.n_waited == 0
    assert r.waited_notional == 0.0
    np.testing.assert_array_equal(r.trace.waited, [0])
    np.testing.assert_array_equal(r.trace.waited_notional, [0.0])


@pytest.mark.parametrize("caps", [{"max_orders": 2}, {"max_notional": 180.0}])
def test_two_per_round_gives_rounds_of_two_then_one(caps):
    r = capped(**caps)
    assert r.rounds == 2
    assert r.converged
    np.testing.assert_array_equal(r.round, [1, 1, 2])  # the least underwater waits
    np.testing.assert_array_equal(r.trace.liquidated, [2, 1])
    np.testing.assert_allclose(r.trace.notional, [180.0, 90.0], rtol=1e-15)
    np.testing.assert_array_equal(r.trace.waited, [1, 0])
    np.testing.assert_allclose(r.trace.waited_notional, [90.0, 0.0], rtol=1e-15)
    assert r.n_waited == 1
    assert r.waited_notional == pytest.approx(90.0, rel=1e-15)
    # a round whose mark did not move still follows one that left a position waiting
    np.testing.assert_array_equal(r.marks, [90.0, 90.0, 90.0])
    np.testing.assert_allclose(r.deficit, [5.9, 4.9, 3.9], rtol=1e-12)
    frame = r.trace.to_frame()
    assert list(frame["waited"]) == [1, 0]
    assert list(frame["waited_notional"]) == [90.0, 0.0]
    s = r.summary()
    assert s["n_waited"] == 1
    assert s["waited_notional"] == pytest.approx(90.0)


@pytest.mark.parametrize("caps", [{"max_orders": 1}, {"max_notional": 100.0}])
def test_one_per_round(caps):
    r = capped(**caps)
    np.testing.assert_array_equal(r.round, [1, 2, 3])
    np.testing.assert_array_equal(r.trace.liquidated, [1, 1, 1])
    np.testing.assert_array_equal(r.trace.waited, [2, 1, 0])
    np.testing.assert_allclose(r.trace.waited_notional, [180.0, 90.0, 0.0], rtol=1e-15)
    assert r.n_waited == 3
    assert r.waited_notional == pytest.approx(270.0, rel=1e-15)
    np.testing.assert_allclose(r.deficit, [5.9, 4.9, 3.9], rtol=1e-12)


def test_a_position_above_the_notional_cap_goes_alone():
    # 90 > 50: no round can stay within the cap; each round liquidates its first position alone
    r = capped(max_notional=50.0)
    np.testing.assert_array_equal(r.round, [1, 2, 3])
    np.testing.assert_allclose(r.trace.notional, [90.0, 90.0, 90.0], rtol=1e-15)
    assert r.converged
    assert r.liquidated.all()


def test_max_rounds_stops_a_cascade_with_positions_waiting():
    pos, book = three_longs()
    pol = lq.Policy(execution="takeover", max_orders=1)
    r = lq.simulate_cascade(pos, book, 100.0, -0.1, pol, max_rounds=2)
    assert r.rounds == 2
    assert not r.converged
    np.testing.assert_array_equal(r.round, [1, 2, -1])
    np.testing.assert_array_equal(r.trace.waited, [2, 1])


def test_a_waiting_position_is_liquidated_at_the_next_rounds_price():
    # longs with margins 3 and 4: LP 97.49 and 96.48, both liquidatable at P = 95 (E = -2, -1);
    # book bids 99, 98, 97 (one each) shift to 94.05, 93.1, 92.15 and fully recover after each
    # round (resilience 1). Round 1 closes position 0 at 94.05 (mark -> 94.05), position 1
    # waits; round 2, at 94.05, closes it at 94.05 on the recovered book (uncapped: 93.1).
    pos = lq.Positions([1.0, 1.0], [100.0, 100.0], [3.0, 4.0])
    book = lq.Book([99.0, 98.0, 97.0], [1.0, 1.0, 1.0], [101.0], [10.0])
    r = lq.simulate_cascade(pos, book, 100.0, -0.05, lq.Policy(max_orders=1), resilience=1.0)
    np.testing.assert_allclose(r.marks, [95.0, 94.05, 94.05], rtol=1e-12)
    np.testing.assert_array_equal(r.round, [1, 2])
    np.testing.assert_allclose(r.vwap, [94.05, 94.05], rtol=1e-12)
    np.testing.assert_allclose(r.trace.waited_notional, [95.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(r.deficit, [2.95, 1.95], rtol=1e-9)  # E after = M - 100 + fill
    free = lq.simulate_cascade(pos, book, 100.0, -0.05, lq.Policy(), resilience=1.0)
    np.testing.assert_allclose(free.vwap, [94.05, 93.1], rtol=1e-12)


# ---- invariants ---------------------------------------------------------------------------------


@st.composite
def long_book_cases(draw):
    """Longs only and one deep bid level below every shocked mark: every round fills at that
    level, so the mark goes there after the first round and stays; capped or not, the cascade
    ends with every long whose LP is above that level closed."""
    n = draw(st.integers(1, 40))
    size = [draw(st.floats(0.01, 10.0)) for _ in range(n)]
    entry = [100.0 * draw(st.floats(0.9, 1.1)) for _ in range(n)]
    margin = [q * e / draw(st.floats(2.0, 100.0)) for q, e in zip(size, entry)]
    level = draw(st.floats(85.0, 99.0))
    shock = draw(st.floats(-0.1, 0.0))
    orders = draw(st.sampled_from([None, 1, 2, 5]))
    share = draw(st.sampled_from([None, 0.01, 0.1, 0.5]))
    return size, entry, margin, level, shock, orders, share


@settings(max_examples=60, deadline=None)
@given(long_book_cases())
def test_capped_cascade_closes_the_same_positions_on_a_deep_flat_book(case):
    size, entry, margin, level, shock, orders, share = case
    pos = lq.Positions(size, entry, margin)
    book = lq.Book([level], [1e9], [101.0], [1e9])
    cap = None if share is None else share * float(np.sum(size)) * 100.0
    free = lq.simulate_cascade(pos, book, 100.0, shock, lq.Policy())
    pol = lq.Policy(max_orders=orders, max_notional=cap)
    lim = lq.simulate_cascade(pos, book, 100.0, shock, pol)
    np.testing.assert_array_equal(lim.liquidated, free.liquidated)
    assert lim.converged
    assert free.converged
    if orders is not None:
        assert np.all(lim.trace.liquidated <= orders)
    if cap is not None:
        over = lim.trace.notional > cap * (1.0 + 1e-12)
        assert np.all(lim.trace.liquidated[over] == 1)  # only a position alone above the cap
    if orders is None and cap is None:
        assert lim.n_waited == 0
    # what waited is what the later rounds liquidated, counted once per round it waited
    assert lim.n_waited >= int(np.sum(lim.trace.liquidated[1:])) - int(
        np.sum(free.trace.liquidated[1:])
    )
    assert lim.n_liquidated == free.n_liquidated


# ---- stress tests -------------------------------------------------------------------------------


def stress_market():
    rng = np.random.default_rng(5)
    n = 300
    size = rng.choice([-1.0, 1.0], n) * rng.lognormal(-1.0, 0.8, n)
    entry = 100.0 * np.exp(rng.normal(0.0, 0.02, n))
    margin = np.abs(size) * entry / rng.uniform(3.0, 40.0, n)
    book = lq.Book.synthetic(mid=100.0, levels=60, seed=3)
    return lq.Positions(size, entry, margin), book


def test_stress_reports_waiting_and_a_one_step_path_is_a_cascade():
    pos, book = stress_market()
    pol = lq.Policy(max_orders=3, max_notional=200.0)
    shocks = [-0.08, -0.05, 0.06]
    st_ = lq.stress_test(
        pos, book, 100.0, pol, 10.0, paths=np.array(shocks)[:, None], path_type="return"
    )
    for k, s in enumerate(shocks):
        c = lq.simulate_cascade(pos, book, 100.0, s, pol, 10.0)
        assert st_.waited[k] == c.n_waited
        assert st_.waited_notional[k] == pytest.approx(c.waited_notional, rel=1e-12)
        assert st_.liquidations[k] == c.n_liquidated
        assert st_.rounds[k] == c.rounds
    assert st_.waited[0] > 0
    s = st_.summary()
    assert s["mean_waited"] == pytest.approx(np.mean(st_.waited))
    assert "waited" in st_.to_frame().columns
    assert "rate limit per round" in str(st_)


def test_stress_without_caps_reports_no_waiting():
    pos, book = stress_market()
    r = lq.stress_test(pos, book, 100.0, insurance_fund=10.0, scenarios=8, steps=5, seed=1)
    assert not r.waited.any()
    assert not r.waited_notional.any()
    assert "rate limit" not in str(r)


def test_capped_stress_is_bit_identical_for_any_thread_count():
    pos, book = stress_market()
    pol = lq.Policy(max_orders=2, max_notional=150.0)
    kw = {"scenarios": 29, "steps": 8, "sigma": 0.05, "jump_intensity": 1.0, "jump_mean": -0.05}
    runs = [
        lq.stress_test(pos, book, 100.0, pol, 10.0, seed=4, threads=t, **kw)
        for t in (1, 2, 3, None)
    ]
    assert runs[0].waited.sum() > 0
    for r in runs[1:]:
        for f in ("waited", "waited_notional", "deficit", "liquidations", "final_mark"):
            np.testing.assert_array_equal(getattr(r, f), getattr(runs[0], f), err_msg=f)


# ---- accounts cascades: the account is the unit -------------------------------------------------
#
# Two accounts, each long 1 BTC at 50,000 and 10 ETH at 3,000, mmr 5%, collateral 5,000 (A) and
# 6,000 (B). After -10% on both: notional 45,000 + 27,000 = 72,000, MM 3,600, PnL -8,000, TNC
# -3,000 (A) and -2,000 (B): both liquidatable, A first ((MM - TNC)/notional larger). Each
# account liquidation is 2 orders and 72,000 notional.


def two_accounts():
    pf = lq.Portfolio([0, 0, 1, 1], [0, 1, 0, 1], [1.0, 10.0, 1.0, 10.0], [50_000.0, 3_000.0] * 2)
    acc = lq.Accounts([[5_000.0], [6_000.0]], [1.0])
    mk = lq.Markets([50_000.0, 3_000.0], [0.05, 0.05])
    return pf, acc, mk


@pytest.mark.parametrize(
    "caps", [{"max_orders": 3}, {"max_orders": 2}, {"max_notional": 100_000.0}]
)
def test_accounts_cascade_takes_whole_accounts_within_the_caps(caps):
    pf, acc, mk = two_accounts()
    pol = lq.Policy(execution="takeover", **caps)
    r = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, pol)
    np.testing.assert_array_equal(r.accounts.round, [1, 2])
    np.testing.assert_array_equal(r.trace.accounts, [1, 1])
    np.testing.assert_array_equal(r.trace.waited, [2, 0])
    np.testing.assert_allclose(r.trace.waited_notional, [72_000.0, 0.0], rtol=1e-12)
    assert r.n_waited == 2
    assert r.waited_notional == pytest.approx(72_000.0, rel=1e-12)
    np.testing.assert_allclose(r.trace.marks_after, [[45_000.0, 2_700.0]] * 2, rtol=1e-15)
    assert r.summary()["n_waited"] == 2
    assert list(r.to_frame("rounds")["waited"]) == [2, 0]
    free = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, lq.Policy(execution="takeover"))
    np.testing.assert_array_equal(free.accounts.round, [1, 1])
    assert free.n_waited == 0
    np.testing.assert_allclose(r.accounts.deficit, free.accounts.deficit, rtol=1e-12)


def test_accounts_cascade_an_account_above_the_cap_goes_alone():
    pf, acc, mk = two_accounts()
    pol = lq.Policy(execution="takeover", max_orders=1)
    r = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, pol)
    np.testing.assert_array_equal(r.accounts.round, [1, 2])
    np.testing.assert_array_equal(r.trace.positions, [2, 2])


def test_account_stress_reports_waiting_bit_identical_for_any_thread_count():
    pf, acc, mk = two_accounts()
    books = [
        lq.Book.synthetic(mid=50_000.0, levels=40, seed=1),
        lq.Book.synthetic(mid=3_000.0, levels=40, seed=2),
    ]
    mk = lq.Markets([50_000.0, 3_000.0], [0.05, 0.05], books=books)
    pol = lq.Policy(max_orders=2)
    kw = {"scenarios": 23, "steps": 4, "sigma": [0.05, 0.06], "jump_intensity": 1.0, "seed": 7}
    runs = [
        lq.stress_test_accounts(pf, acc, mk, pol, 0.0, jump_mean=-0.08, threads=t, **kw)
        for t in (1, 2, None)
    ]
    assert runs[0].waited.sum() > 0
    for r in runs[1:]:
        np.testing.assert_array_equal(r.waited, runs[0].waited)
        np.testing.assert_array_equal(r.waited_notional, runs[0].waited_notional)
        np.testing.assert_array_equal(r.deficit, runs[0].deficit)
    assert runs[0].summary()["mean_waited"] == pytest.approx(np.mean(runs[0].waited))
    assert "waited" in runs[0].to_frame().columns
    one = lq.stress_test_accounts(
        pf, acc, mk, pol, 0.0, paths=np.array([[[-0.1, -0.1]]]), path_type="return"
    )
    c = lq.simulate_cascade_accounts(pf, acc, mk, -0.1, pol)
    assert one.waited[0] == c.n_waited == 2
    assert one.waited_notional[0] == pytest.approx(c.waited_notional, rel=1e-12)


# ---- the policy's fields ------------------------------------------------------------------------


def test_policy_fields_round_trip():
    p = lq.Policy(max_notional=5e6, max_orders=10)
    assert p.max_notional == 5e6
    assert p.max_orders == 10
    assert lq.Policy.from_json(p.to_json()) == p
    core = p._to_core()
    assert core.max_notional == 5e6
    assert core.max_orders == 10
    d = lq.Policy()._to_core()
    assert d.max_notional == math.inf
    assert d.max_orders == 0  # the kernel's "no cap"
    assert lq.Policy(max_orders=np.int64(3)).max_orders == 3


@pytest.mark.parametrize(
    ("kw", "exc", "message"),
    [
        ({"max_notional": 0.0}, ValueError, "Policy.max_notional must be None or finite and > 0"),
        ({"max_notional": -1.0}, ValueError, "Policy.max_notional must be None or finite and > 0"),
        ({"max_notional": math.nan}, ValueError, "Policy.max_notional"),
        ({"max_notional": math.inf}, ValueError, "Policy.max_notional"),
        ({"max_notional": "1e6"}, TypeError, "Policy.max_notional must be a real number"),
        ({"max_orders": 0}, ValueError, "Policy.max_orders must be None or an int >= 1 (got 0)"),
        ({"max_orders": -2}, ValueError, "Policy.max_orders must be None or an int >= 1"),
        ({"max_orders": 1.5}, TypeError, "Policy.max_orders must be None or an int (got float)"),
        ({"max_orders": 2.0}, TypeError, "Policy.max_orders must be None or an int"),
        ({"max_orders": True}, TypeError, "Policy.max_orders must be None or an int (got bool)"),
        ({"max_orders": 2**63}, ValueError, "Policy.max_orders"),
    ],
)
def test_bad_caps(kw, exc, message):
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        lq.Policy(**kw)


# ---- the command line ---------------------------------------------------------------------------


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


@pytest.mark.parametrize("cap", [["--rate-limit", "100"], ["--rate-limit-orders", "1"]])
def test_cli_cascade_rate_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str], cap) -> None:
    # shock to 94: the three longs (LP 97.49, 96.48, 95.48) are liquidatable at once; at most one
    # per round (a notional of about 94 each, so two would exceed 100): rounds of 1, 1, 1 and
    # 2 + 1 waiting; the short (LP 119.4) never.
    positions, book = _files(tmp_path)
    base = ["cascade", "--positions", str(positions), "--book", str(book), "--mark", "100"]
    assert main([*base, "--shock", "-0.06", "--json", *cap]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trace"]["liquidated"] == [1, 1, 1]
    assert out["trace"]["waited"] == [2, 1, 0]
    assert out["summary"]["n_waited"] == 3
    assert out["summary"]["positions_liquidated"] == 3
    assert main([*base, "--shock", "-0.06", *cap]) == 0
    table = capsys.readouterr().out
    assert "rate limit per round" in table
    assert "waited" in table


def test_cli_stress_rate_limit(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["stress", "--scenarios", "6", "--steps", "4", "--no-progress", "--json"]
    assert main([*args, "--rate-limit", "1e5", "--rate-limit-orders", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["policy"]["max_notional"] == 1e5
    assert out["policy"]["max_orders"] == 5
    assert "mean_waited" in out["summary"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate-limit", "0"], "--rate-limit must be finite and > 0"),
        (["--rate-limit", "x"], "--rate-limit must be a number"),
        (["--rate-limit-orders", "0"], "--rate-limit-orders must be >= 1"),
        (["--rate-limit-orders", "1.5"], "--rate-limit-orders must be an integer"),
    ],
)
def test_cli_bad_rate_limits(capsys: pytest.CaptureFixture[str], argv, message) -> None:
    for cmd in ("cascade", "stress"):
        with pytest.raises(SystemExit) as e:
            main([cmd, *argv])
        assert e.value.code == 2
        assert message in capsys.readouterr().err
