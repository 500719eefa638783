"""liqcore.Engine against a carried-state reference loop over liqcore.liquidate (docs/model.md
§4b), the strict detection rule through the liquidation-price index, run_marks, pickling,
determinism and input errors."""

from __future__ import annotations

import math
import pickle

import liqcore as lq
import numpy as np
import pytest
from book_recovery_reference import recover
from hypothesis import given, settings
from hypothesis import strategies as st

# ---- the reference: lq.liquidate called repeatedly on state carried by hand ---------------------


class Reference:
    """The engine's state rules written from docs/model.md §4b, one position at a time."""

    def __init__(self, positions, book, mark, policy, fund, resilience=0.0):
        self.res = resilience
        self.base = book.copy()
        self.depleted = False
        self.rows = [
            [i, float(q), float(ep), float(m)]
            for i, (q, ep, m) in enumerate(
                zip(positions.size, positions.entry_price, positions.margin)
            )
        ]
        self.book = book.copy()
        self.mark = mark
        self.policy = policy
        self.fund = fund
        self.next_id = len(self.rows)
        self.inverse = policy.contract == "inverse"
        self.c = policy.contract_size

    def positions(self):
        r = self.rows
        return lq.Positions(
            [x[1] for x in r], [x[2] for x in r], [x[3] for x in r],
            np.array([x[0] for x in r], dtype=np.int64),
        )

    def pnl(self, q, a, b):
        return q * self.c * (1.0 / a - 1.0 / b) if self.inverse else q * (b - a)

    def fold(self, row, m):
        """Margin m; a negative one moves the entry price so that equity is unchanged."""
        if m < 0.0:
            q, ep = row[1], row[2]
            ep2 = 1.0 / (1.0 / ep + m / (q * self.c)) if self.inverse else ep - m / q
            if math.isfinite(ep2) and ep2 > 0.0:
                row[2] = ep2
            m = 0.0
        row[3] = m

    def event(self):
        """The end of an event: the batch, then the book's recovery (resilience)."""
        r = self.step()
        if self.res > 0.0 and self.depleted:
            self.book, self.depleted = recover(self.book, self.base, self.res)
        return r

    def step(self):
        """One batch at the current mark; None when nothing was liquidatable."""
        if not self.rows:
            return None
        r = lq.liquidate(self.positions(), self.book, self.mark, self.policy, self.fund)
        if r.n_liquidated == 0:
            return None
        keep = []
        for i, row in enumerate(self.rows):
            if r.liquidated[i]:
                q, ep, m = row[1], row[2], row[3]
                closed = float(r.closed[i])
                if closed >= abs(q):
                    continue
                dq = closed if q > 0 else -closed
                gain = self.pnl(dq, ep, float(r.vwap[i])) if closed > 0.0 else 0.0
                row[1] = q - dq
                self.fold(row, (m + gain) - float(r.fee[i]))
            elif r.adl[i] != 0.0:
                self.fold(row, row[3] - float(r.adl[i]))
            keep.append(row)
        self.rows = keep
        self.book = r.book
        self.fund = r.insurance_fund
        self.depleted = True
        return r


def assert_same(engine, ref):
    assert engine.positions == ref.positions()
    assert engine.book == ref.book
    assert engine.insurance_fund == ref.fund
    assert engine.mark == ref.mark


def _book(mid=100.0, levels=6, qty=1.0, tick=1.0):
    bp = [mid - tick * (k + 1) for k in range(levels)]
    ap = [mid + tick * (k + 1) for k in range(levels)]
    return lq.Book(bp, [qty] * levels, ap, [qty] * levels)


POLICIES = [
    lq.Policy(),
    lq.Policy(residual="queue", fee="surplus"),
    lq.Policy(mmr=0.1, sizing="partial", residual="socialize"),
    lq.Policy(mmr=0.1, sizing="partial", execution="takeover", fee="rate", residual="pro_rata"),
    lq.Policy(sizing="slices", slice_threshold=50.0, residual="queue"),
    lq.Policy(sizing="slices", slice_threshold=50.0, limit="bankruptcy", residual="socialize"),
    lq.Policy(tiers=[(0.0, 0.01), (150.0, 0.05)], backstop=0.5, residual="queue"),
    lq.Policy(contract="inverse", contract_size=10.0, price_band=0.5, residual="queue"),
]

event = st.one_of(
    st.tuples(st.just("mark"), st.floats(80.0, 120.0)),
    st.tuples(st.just("book"), st.sampled_from(["bid", "ask"]), st.floats(60.0, 140.0),
              st.floats(0.0, 3.0)),
    st.tuples(st.just("open"), st.floats(-3.0, 3.0), st.floats(85.0, 115.0),
              st.floats(0.0, 40.0)),
    st.tuples(st.just("close"), st.integers(0, 50)),
    st.tuples(st.just("deposit"), st.integers(0, 50), st.floats(0.5, 20.0)),
)


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    n=st.integers(0, 8),
    seed=st.integers(0, 2**31),
    events=st.lists(event, min_size=1, max_size=25),
    res=st.sampled_from([0.0, 0.0, 0.3, 1.0]),
)
def test_events_match_the_carried_reference(policy, n, seed, events, res):
    rng = np.random.default_rng(seed)
    q = rng.uniform(-3.0, 3.0, n)
    ep = rng.uniform(90.0, 110.0, n)
    m = rng.uniform(0.0, 30.0, n)
    pos = lq.Positions(q, ep, m)
    book = _book(levels=int(rng.integers(1, 8)), qty=float(rng.uniform(0.2, 3.0)))
    fund = float(rng.uniform(0.0, 50.0))
    eng = lq.Engine(pos, book, 100.0, policy=policy, insurance_fund=fund, resilience=res)
    ref = Reference(pos, book, 100.0, policy, fund, res)
    assert_same(eng, ref)
    for ev in events:
        kind = ev[0]
        if kind == "mark":
            ref.mark = ev[1]
            want = ref.event()
            got = eng.on_mark(ev[1])
        elif kind == "book":
            try:
                if res > 0.0:
                    ref.base.apply(ev[1], ev[2], ev[3])
                ref.book.apply(ev[1], ev[2], ev[3])
            except ValueError:
                with pytest.raises(ValueError, match="crossed"):
                    eng.apply(ev[1], ev[2], ev[3])
            else:
                eng.apply(ev[1], ev[2], ev[3])
            assert_same(eng, ref)
            continue
        elif kind == "open":
            try:
                new_id = eng.open(ev[1], ev[2], ev[3])
            except ValueError as e:
                # an inverse position too small for its bankruptcy price to be a float (e.g.
                # size 5e-324) is refused with a clear error, and nothing changes
                assert "underflows" in str(e) and "size[0]" in str(e), e
                assert_same(eng, ref)
                continue
            assert new_id == ref.next_id
            ref.rows.append([ref.next_id, ev[1], ev[2], ev[3]])
            ref.next_id += 1
            want = ref.event()
            got = eng.last_result
        else:
            if not ref.rows:
                continue
            row = ref.rows[ev[1] % len(ref.rows)]
            if kind == "close":
                ref.rows.remove(row)
                got = eng.close(row[0])
            else:
                row[3] = row[3] + ev[2]
                got = eng.deposit(row[0], ev[2])
            want = ref.event()
        if want is None:
            assert got.n_liquidated == 0
            assert len(got) == 0
            assert got.bad_debt == 0.0
        else:
            assert got.n_liquidated == want.n_liquidated
            assert got.bad_debt == want.bad_debt
            np.testing.assert_array_equal(got.account, want.account)
            np.testing.assert_array_equal(got.closed, want.closed)
        assert got.insurance_fund == ref.fund
        assert_same(eng, ref)


@settings(max_examples=30, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    seed=st.integers(0, 2**31),
    marks=st.lists(st.floats(80.0, 120.0), min_size=1, max_size=40),
    res=st.sampled_from([0.0, 0.4, 1.0]),
)
def test_run_marks_is_on_mark_one_by_one(policy, seed, marks, res):
    rng = np.random.default_rng(seed)
    n = 30
    pos = lq.Positions(rng.uniform(-3, 3, n), rng.uniform(90, 110, n), rng.uniform(0, 30, n))
    book = _book(levels=5, qty=2.0)
    a = lq.Engine(pos, book, 100.0, policy=policy, insurance_fund=20.0, resilience=res)
    b = lq.Engine(pos, book, 100.0, policy=policy, insurance_fund=20.0, resilience=res)
    run = a.run_marks(marks)
    want = []
    for i, p in enumerate(marks):
        r = b.on_mark(p)
        if r.n_liquidated:
            want.append((i, r))
    assert [i for i, _ in run] == [i for i, _ in want]
    for (_, x), (_, y) in zip(run, want):
        assert x.bad_debt == y.bad_debt
        np.testing.assert_array_equal(x.closed, y.closed)
    assert a.positions == b.positions
    assert a.book == b.book
    assert a.insurance_fund == b.insurance_fund
    assert a.mark == b.mark == marks[-1]
    assert run.n_marks == len(marks)
    assert run.n_liquidated == sum(r.n_liquidated for _, r in want)


# ---- the cascade engine ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES[:4])
@pytest.mark.parametrize("res", [0.0, 0.5, 1.0])
def test_one_mark_is_one_round_of_the_cascade(policy, res):
    """What is compared: simulate_cascade(positions, book, P, shock, resilience=r,
    max_rounds=1) against an engine that starts from the shocked book (every price x (1 +
    shock)) with the same resilience and gets the shocked mark P·(1 + shock) in one on_mark:
    the positions liquidated and closed, the deficit, the fees, the fund, and the book after
    the round's recovery. The book is deep enough for every close (no fallback): the cascade
    carries fallback inventory to later rounds and sells it into the recovered book, while a
    batch of liquidate values it within the round."""
    rng = np.random.default_rng(5)
    n = 40
    pos = lq.Positions(rng.uniform(-2, 2, n), rng.uniform(95, 105, n), rng.uniform(2, 20, n))
    book = lq.Book(100.0 - 0.5 * np.arange(1, 41), rng.uniform(2.0, 4.0, 40),
                   100.0 + 0.5 * np.arange(1, 41), rng.uniform(2.0, 4.0, 40))
    for shock in (-0.06, 0.07):
        c = lq.simulate_cascade(pos, book, 100.0, shock, policy, 10.0, res, max_rounds=1)
        f = 1.0 + shock
        shifted = lq.Book(book.bids[0] * f, book.bids[1], book.asks[0] * f, book.asks[1])
        eng = lq.Engine(pos, shifted, 100.0, policy=policy, insurance_fund=10.0,
                        resilience=res)
        r = eng.on_mark(100.0 * f)
        assert c.rounds == 1
        assert r.n_liquidated == c.n_liquidated > 0
        assert r.liquidations.fallback_closed.sum() == 0.0
        np.testing.assert_array_equal(r.closed, c.closed)
        assert r.total_deficit == c.total_deficit
        assert r.total_fees == c.total_fees
        assert r.insurance_fund == c.insurance_fund
        assert eng.book == c.book


# ---- the model's numbers ---------------------------------------------------------------------


def test_thin_book_example_of_the_model():
    """docs/model.md §8 "A thin book": long 1 @ 10,000, margin 1,000, mark 8,800, bids
    8,500 x 1: deficit 500, paid by the fund; the position is gone, the bid consumed."""
    pos = lq.Positions([1.0, -0.1], [10_000.0, 10_000.0], [1_000.0, 5_000.0])
    book = lq.Book([8_500.0, 8_000.0], [1.0, 5.0], [12_000.0], [5.0])
    eng = lq.Engine(pos, book, 10_000.0, insurance_fund=2_000.0, ids=[7, 9])
    assert eng.on_mark(9_500.0).n_liquidated == 0
    r = eng.on_mark(8_800.0)
    assert r.n_liquidated == 1
    assert r.bad_debt == pytest.approx(500.0)
    assert r.account.tolist() == [7, 9]
    assert r.liquidated.tolist() == [True, False]
    assert eng.insurance_fund == pytest.approx(1_500.0)
    assert eng.ids.tolist() == [9]
    assert eng.book.bids[0].tolist() == [8_000.0]
    assert eng.open(1.0, 8_800.0, 100.0) == 10


def test_detection_is_strict_at_the_liquidation_price():
    """Long 1 @ 100, margin 50, mmr 0.5: E = MM exactly at 100 (not liquidatable), E < MM just
    below; the index only filters, the exact rule decides."""
    pol = lq.Policy(mmr=0.5)
    pos = lq.Positions([1.0], [100.0], [50.0])
    eng = lq.Engine(pos, _book(mid=150.0, tick=10.0), 120.0, policy=pol)
    assert lq.liquidation_price(1.0, 100.0, 50.0, 0.5) == pytest.approx(100.0)
    assert eng.on_mark(100.0).n_liquidated == 0
    assert len(eng) == 1
    assert eng.on_mark(math.nextafter(100.0, 0.0)).n_liquidated == 1
    assert len(eng) == 0


def test_adl_charge_beyond_margin_moves_entry_price():
    """A winner charged more than its margin: margin 0, entry moved, equity = E - charge."""
    pol = lq.Policy(residual="queue")
    # the long goes bankrupt into an empty bid side; the short (margin 1, PnL +20) pays.
    pos = lq.Positions([1.0, -1.0], [100.0, 100.0], [5.0, 1.0])
    book = lq.Book([], [], [200.0], [1.0])
    eng = lq.Engine(pos, book, 100.0, policy=pol)
    r = eng.on_mark(80.0)
    assert r.n_liquidated == 1
    charge = float(r.adl[1])
    assert charge > 1.0
    p = eng.positions
    assert p.margin.tolist() == [0.0]
    e_after = float(lq.equity(p.size, p.entry_price, p.margin, 80.0)[0])
    assert e_after == pytest.approx(1.0 + 20.0 - charge)


def test_partial_close_keeps_the_rest():
    pol = lq.Policy(mmr=0.1, sizing="partial", execution="takeover", fee="rate")
    pos = lq.Positions([10.0], [100.0], [60.0])
    eng = lq.Engine(pos, _book(), 110.0, policy=pol)
    r = eng.on_mark(104.0)
    assert r.n_liquidated == 1
    d = float(r.closed[0])
    assert 0.0 < d < 10.0
    p = eng.positions
    assert p.size.tolist() == [10.0 - d]
    v, fee = float(r.vwap[0]), float(r.fee[0])
    assert p.margin[0] == pytest.approx(60.0 + d * (v - 100.0) - fee)
    # Drift's closed form (docs/model.md §3): shortage / (P·((1 + buffer)·mmr - f - r·(1 - f)))
    assert d == pytest.approx((1.02 * 104.0 - 100.0) / (104.0 * (0.102 - 0.01 - 0.005 * 0.99)))
    # the rest is healthy at the mark: nothing more at the same price
    assert eng.on_mark(104.0).n_liquidated == 0


# ---- events, state, pickling ----------------------------------------------------------------


def _engine(n=200, seed=3, **kw):
    rng = np.random.default_rng(seed)
    pos = lq.Positions(rng.uniform(-3, 3, n), rng.uniform(90, 110, n), rng.uniform(1, 30, n))
    return lq.Engine(pos, _book(levels=20, qty=1.0), 100.0, insurance_fund=50.0, **kw)


def test_pickle_round_trip_and_determinism():
    a = _engine(policy=lq.Policy(residual="queue"))
    a.on_mark(97.0)
    b = pickle.loads(pickle.dumps(a))
    assert a.positions == b.positions
    assert a.book == b.book
    assert a.insurance_fund == b.insurance_fund
    assert a.mark == b.mark
    for e in (a, b):
        e.open(2.0, 100.0, 3.0)
        e.apply("bid", 98.5, 4.0)
        e.run_marks(np.linspace(97.0, 92.0, 50))
        e.on_mark(104.0)
    assert a.positions == b.positions
    assert a.book == b.book
    assert a.insurance_fund == b.insurance_fund
    assert a.positions.margin.tobytes() == b.positions.margin.tobytes()


def test_empty_result_and_copy_on_write_book():
    eng = _engine()
    assert eng.on_mark(100.0).n_liquidated > 0  # the population's weakest at the start
    r = eng.on_mark(100.0)
    assert r.n_liquidated == 0
    assert len(r) == 0
    assert r.bad_debt == 0.0
    assert r.insurance_fund == r.insurance_fund_before == eng.insurance_fund
    assert r.mark == 100.0
    before = r.book.bids
    eng.apply("bid", 99.0, 7.0)  # the engine copies before changing: the result keeps its book
    np.testing.assert_array_equal(r.book.bids[1], before[1])
    assert eng.book.bids[1][0] == 7.0
    assert r.to_frame().shape[0] == 0


def test_withdraw_refuses_to_make_a_position_liquidatable():
    pos = lq.Positions([1.0], [100.0], [10.0])
    eng = lq.Engine(pos, _book(), 100.0)
    with pytest.raises(ValueError, match="liquidatable"):
        eng.withdraw(0, 9.9)
    with pytest.raises(ValueError, match="amount must be <="):
        eng.withdraw(0, 11.0)
    assert eng.positions.margin.tolist() == [10.0]
    eng.withdraw(0, 9.0)
    assert eng.positions.margin.tolist() == [1.0]
    eng.deposit(0, 4.0)
    assert eng.positions.margin.tolist() == [5.0]


def test_update_and_close_and_ids():
    pos = lq.Positions([1.0, -2.0, 3.0], [100.0] * 3, [50.0] * 3)
    eng = lq.Engine(pos, _book(), 100.0, ids=[30, 10, 20])
    eng.update(10, size=-1.0)
    eng.update(20, margin=5.0, entry_price=101.0)
    eng.close(30)
    p = eng.positions
    assert p.account.tolist() == [10, 20]
    assert p.size.tolist() == [-1.0, 3.0]
    assert p.margin.tolist() == [50.0, 5.0]
    assert p.entry_price.tolist() == [100.0, 101.0]
    assert eng.open(1.0, 100.0, 10.0) == 31
    # an update that makes the position liquidatable liquidates it at once
    r = eng.update(31, margin=0.0)
    assert r.n_liquidated == 1
    assert 31 not in eng.ids.tolist()
    with pytest.raises(ValueError, match=r"id must be the id of an open position \(got 31\)"):
        eng.close(31)


def test_many_changes_keep_the_index_exact():
    """Enough opens and closes to merge the pending buffer and rebuild: detection stays exact."""
    rng = np.random.default_rng(5)
    eng = lq.Engine(lq.Positions([], [], []), _book(levels=50, qty=100.0), 100.0,
                    insurance_fund=1e6)
    for _ in range(5000):
        eng.open(float(rng.uniform(-1, 1)), float(rng.uniform(95, 105)),
                 float(rng.uniform(1, 10)))
    for i in range(0, 5000, 3):
        if i in set(eng.ids.tolist()):
            eng.close(i)
    for p in (99.0, 97.0, 103.0, 90.0, 110.0):
        pos = eng.positions
        want = lq.liquidate(pos, eng.book, p, eng.policy, eng.insurance_fund)
        got = eng.on_mark(p)
        assert got.n_liquidated == want.n_liquidated
        assert got.bad_debt == want.bad_debt


def test_bad_inputs():
    pos = lq.Positions([1.0], [100.0], [10.0])
    with pytest.raises(TypeError, match="positions must be"):
        lq.Engine([1.0], _book(), 100.0)
    with pytest.raises(ValueError, match="mark must be finite and > 0"):
        lq.Engine(pos, _book(), -1.0)
    with pytest.raises(ValueError, match=r"ids\[1\] is a duplicate"):
        lq.Engine(lq.Positions([1.0, 2.0], 100.0, 10.0), _book(), 100.0, ids=[4, 4])
    eng = lq.Engine(pos, _book(), 100.0)
    with pytest.raises(ValueError, match="price must be finite and > 0"):
        eng.on_mark(float("nan"))
    with pytest.raises(ValueError, match=r"marks\[2\] must be finite and > 0"):
        eng.run_marks([100.0, 99.0, 0.0])
    with pytest.raises(ValueError, match="entry_price must be finite and > 0"):
        eng.open(1.0, 0.0, 1.0)
    with pytest.raises(TypeError, match="id must be an int"):
        eng.close("0")


def test_a_closed_position_no_longer_holds_the_threshold():
    """The index forgets a removed position: the next quiet mark takes the O(1) path."""
    eng = _engine(policy=lq.Policy())
    eng.on_mark(100.0)
    tl, ts = eng._thresholds()
    i = eng.open(1.0, 100.0, 0.0)  # liquidatable at once: opened, liquidated, gone
    assert i not in eng.ids.tolist()
    assert eng._thresholds() == (tl, ts)


def test_resilience_survives_pickling_and_book_updates_set_both_books():
    book = lq.Book([99.0, 98.0, 97.0], [1.0, 1.0, 1.0], [101.0], [1.0])
    eng = lq.Engine(lq.Positions([2.0], [100.0], [5.0]), book, 100.0, resilience=0.5)
    r = eng.on_mark(96.0)
    assert r.n_liquidated == 1
    np.testing.assert_array_equal(r.book.bids[1], [1.0])  # the batch's book: 99, 98 taken
    np.testing.assert_array_equal(eng.book.bids[1], [0.5, 0.5, 1.0])  # then half comes back
    copy = pickle.loads(pickle.dumps(eng))
    for e in (eng, copy):
        e.on_mark(96.0)
        np.testing.assert_array_equal(e.book.bids[1], [0.75, 0.75, 1.0])
        e.apply("bid", 98.0, 4.0)
        assert e.base_book.bids[1].tolist() == [1.0, 4.0, 1.0]
        e.on_mark(96.0)
        np.testing.assert_array_equal(e.book.bids[1], [0.875, 4.0, 1.0])
        assert e.resilience == 0.5
    with pytest.raises(ValueError, match=r"resilience must be in \[0, 1\] \(got 1.5\)"):
        lq.Engine(lq.Positions([2.0], [100.0], [5.0]), book, 100.0, resilience=1.5)
    with pytest.raises(TypeError, match="resilience must be a real number"):
        lq.Engine(lq.Positions([2.0], [100.0], [5.0]), book, 100.0, resilience="x")
