"""liqcore.AccountEngine against a carried-state reference loop over liqcore.liquidate_accounts
(the rules of the account_engine module docstring, written here one position at a time), a
worked example, quiet marks that skip the pass, resilience against one round of
simulate_cascade_accounts, pickling, determinism and input errors."""

from __future__ import annotations

import math
import pickle

import liqcore as lq
import liqcore.account_engine as account_engine
import numpy as np
import pytest
from book_recovery_reference import recover
from hypothesis import given, settings
from hypothesis import strategies as st

# ---- the reference: lq.liquidate_accounts called after every event on state carried by hand ----


class Reference:
    def __init__(self, spec, rows, coll, policy, fund, settle=0, resilience=0.0):
        self.res = resilience
        self.base = [b.copy() for b in spec["books"]]
        self.depleted = [False] * len(self.base)
        self.spec = spec  # Markets constructor arguments (without marks and books)
        self.marks = list(spec["marks"])
        self.books = [b.copy() for b in spec["books"]]
        self.rows = [list(r) for r in rows]  # [id, account, market, size, entry_price]
        self.coll = [list(map(float, c)) for c in coll]
        self.policy = policy
        self.fund = fund
        self.settle = settle
        self.next_id = len(self.rows)

    def markets(self):
        s = self.spec
        return lq.Markets(self.marks, tiers=s["tiers"], contract=s["contract"],
                          contract_size=s["contract_size"], books=self.books)

    def accounts(self):
        s = self.spec
        return lq.Accounts(np.array(self.coll), s["asset_prices"], s["haircuts"])

    def portfolio(self):
        r = self.rows
        return lq.Portfolio([x[1] for x in r], [x[2] for x in r], [x[3] for x in r],
                            [x[4] for x in r])

    def pnl(self, row):
        m, q, ep = row[2], row[3], row[4]
        p = self.marks[m]
        if self.spec["contract"][m] == "inverse":
            return q * self.spec["contract_size"][m] * (1.0 / ep - 1.0 / p) * p
        return q * (p - ep)

    def event(self):
        """The end of an event: the pass, then the books' recovery (resilience)."""
        r = self.step()
        if self.res > 0.0:
            for m, d in enumerate(self.depleted):
                if d:
                    self.books[m], self.depleted[m] = recover(self.books[m], self.base[m],
                                                              self.res)
        return r

    def step(self):
        if not self.rows:
            return None
        r = lq.liquidate_accounts(self.portfolio(), self.accounts(), self.markets(), self.policy,
                                  self.fund)
        if r.n_accounts == 0:
            return None
        keep = []
        for i, row in enumerate(self.rows):
            if r.liquidated[i]:
                closed = float(r.closed[i])
                if closed >= abs(row[3]):
                    continue
                if closed > 0.0:
                    row[3] = row[3] - (closed if row[3] > 0 else -closed)
            keep.append(row)
        self.rows = keep
        prices = self.spec["asset_prices"]
        px = prices[self.settle]
        for a in range(len(self.coll)):
            if r.accounts.liquidated[a]:
                e = self.coll[a][0] * prices[0]
                for k in range(1, len(prices)):
                    e = e + self.coll[a][k] * prices[k]
                for row in self.rows:
                    if row[1] == a:
                        e = e + self.pnl(row)
                self.coll[a][self.settle] += (float(r.accounts.equity_after[a]) - e) / px
        charge = {}
        for i, x in enumerate(r.adl):
            if x != 0.0:
                a = int(r.account[i])
                charge[a] = charge.get(a, 0.0) + float(x)
        for a, x in sorted(charge.items()):
            self.coll[a][self.settle] -= x / px
        self.books = r.books
        self.fund = r.insurance_fund
        self.depleted = [True] * len(self.books)
        return r


def assert_same(eng, ref):
    pf = eng.portfolio
    np.testing.assert_array_equal(eng.ids, [r[0] for r in ref.rows])
    np.testing.assert_array_equal(pf.account, [r[1] for r in ref.rows])
    np.testing.assert_array_equal(pf.market, [r[2] for r in ref.rows])
    np.testing.assert_array_equal(pf.size, np.array([r[3] for r in ref.rows], dtype=float))
    np.testing.assert_array_equal(pf.entry_price,
                                  np.array([r[4] for r in ref.rows], dtype=float))
    np.testing.assert_array_equal(eng.collateral, np.array(ref.coll))
    assert eng.books == ref.books
    assert eng.insurance_fund == ref.fund
    np.testing.assert_array_equal(eng.marks, ref.marks)


def _book(mid, levels, qty, tick):
    return lq.Book([mid - tick * (k + 1) for k in range(levels)], [qty] * levels,
                   [mid + tick * (k + 1) for k in range(levels)], [qty] * levels)


POLICIES = [
    lq.Policy(),
    lq.Policy(residual="queue", fee="surplus"),
    lq.Policy(sizing="partial", residual="socialize"),
    lq.Policy(sizing="partial", execution="takeover", fee="rate", residual="pro_rata"),
    lq.Policy(sizing="slices", slice_threshold=50.0, residual="queue"),
    lq.Policy(limit="bankruptcy", residual="socialize", backstop=0.5),
    lq.Policy(limit="fillable", residual="queue"),
]

CONTRACTS = [
    ("linear", 1.0, [(0.0, 0.05)]),
    ("linear", 1.0, [(0.0, 0.02), (150.0, 0.08)]),
    ("inverse", 10.0, [(0.0, 0.05)]),
]


def _setup(seed, n_markets, n_accounts, n_positions, kinds):
    rng = np.random.default_rng(seed)
    spec = {
        "marks": [100.0] * n_markets,
        "contract": [CONTRACTS[k][0] for k in kinds],
        "contract_size": [CONTRACTS[k][1] for k in kinds],
        "tiers": [CONTRACTS[k][2] for k in kinds],
        "books": [_book(100.0, int(rng.integers(1, 7)), float(rng.uniform(0.3, 3.0)),
                        float(rng.uniform(0.5, 2.0))) for _ in range(n_markets)],
        "asset_prices": [1.0, 2.0],
        "haircuts": [0.0, 0.2],
    }
    coll = np.column_stack([rng.uniform(0.0, 40.0, n_accounts),
                            rng.uniform(0.0, 5.0, n_accounts)])
    rows = [[i, int(rng.integers(0, n_accounts)), int(rng.integers(0, n_markets)),
             float(rng.uniform(-3.0, 3.0)), float(rng.uniform(90.0, 110.0))]
            for i in range(n_positions)]
    return spec, rows, coll


def _engine(spec, rows, coll, policy, fund, **kw):
    mk = lq.Markets(spec["marks"], tiers=spec["tiers"], contract=spec["contract"],
                    contract_size=spec["contract_size"], books=spec["books"])
    acc = lq.Accounts(coll, spec["asset_prices"], spec["haircuts"])
    pf = lq.Portfolio([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                      [r[4] for r in rows])
    return lq.AccountEngine(pf, acc, mk, policy=policy, insurance_fund=fund, **kw)


event = st.one_of(
    st.tuples(st.just("mark"), st.integers(0, 5), st.floats(80.0, 120.0)),
    st.tuples(st.just("marks"), st.dictionaries(st.integers(0, 5), st.floats(80.0, 120.0),
                                                 min_size=1, max_size=3)),
    st.tuples(st.just("book"), st.integers(0, 5), st.sampled_from(["bid", "ask"]),
              st.floats(60.0, 140.0), st.floats(0.0, 3.0)),
    st.tuples(st.just("open"), st.integers(0, 10), st.integers(0, 5), st.floats(-3.0, 3.0),
              st.floats(85.0, 115.0)),
    st.tuples(st.just("close"), st.integers(0, 50)),
    st.tuples(st.just("update"), st.integers(0, 50), st.floats(-3.0, 3.0)),
    st.tuples(st.just("deposit"), st.integers(0, 10), st.floats(0.5, 20.0)),
)


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    kinds=st.lists(st.integers(0, len(CONTRACTS) - 1), min_size=1, max_size=3),
    n_accounts=st.integers(1, 5),
    n_positions=st.integers(0, 10),
    seed=st.integers(0, 2**31),
    fund=st.floats(0.0, 30.0),
    events=st.lists(event, min_size=1, max_size=25),
    res=st.sampled_from([0.0, 0.0, 0.3, 1.0]),
)
def test_events_match_the_carried_reference(policy, kinds, n_accounts, n_positions, seed, fund,
                                            events, res):
    M = len(kinds)
    spec, rows, coll = _setup(seed, M, n_accounts, n_positions, kinds)
    eng = _engine(spec, rows, coll, policy, fund, resilience=res)
    ref = Reference(spec, rows, coll, policy, fund, resilience=res)
    assert_same(eng, ref)
    for ev in events:
        kind = ev[0]
        if kind == "mark":
            m = ev[1] % M
            ref.marks[m] = ev[2]
            want = ref.event()
            got = eng.on_mark(m, ev[2])
        elif kind == "marks":
            d = {k % M: v for k, v in ev[1].items()}
            for k, v in d.items():
                ref.marks[k] = v
            want = ref.event()
            got = eng.on_marks(d)
        elif kind == "book":
            m = ev[1] % M
            try:
                if res > 0.0:
                    ref.base[m].apply(ev[2], ev[3], ev[4])
                ref.books[m].apply(ev[2], ev[3], ev[4])
            except ValueError:
                with pytest.raises(ValueError, match="crossed"):
                    eng.apply(m, ev[2], ev[3], ev[4])
            else:
                eng.apply(m, ev[2], ev[3], ev[4])
            assert_same(eng, ref)
            continue
        elif kind == "open":
            a, m = ev[1] % n_accounts, ev[2] % M
            new_id = eng.open(a, m, ev[3], ev[4])
            assert new_id == ref.next_id
            ref.rows.append([ref.next_id, a, m, ev[3], ev[4]])
            ref.next_id += 1
            want = ref.event()
            got = eng.last_result
        elif kind == "deposit":
            a = ev[1] % n_accounts
            ref.coll[a][0] = ref.coll[a][0] + ev[2]
            got = eng.deposit(a, ev[2])
            want = ref.event()
        else:
            if not ref.rows:
                continue
            row = ref.rows[ev[1] % len(ref.rows)]
            if kind == "close":
                ref.rows.remove(row)
                got = eng.close(row[0])
            else:
                row[3] = ev[2]
                got = eng.update(row[0], ev[2])
            want = ref.event()
        if want is None:
            assert got.n_accounts == 0
            assert got.n_positions == 0
            assert len(got) == 0
            assert got.bad_debt == 0.0
        else:
            assert got.n_accounts == want.n_accounts
            assert got.n_positions == want.n_positions
            assert got.bad_debt == want.bad_debt
            np.testing.assert_array_equal(got.account, want.account)
            np.testing.assert_array_equal(got.closed, want.closed)
            np.testing.assert_array_equal(got.accounts.equity_after, want.accounts.equity_after)
        assert got.insurance_fund == ref.fund
        assert_same(eng, ref)


# ---- a worked example -------------------------------------------------------------------------


def _example(**kw):
    book = lq.Book([99.0, 98.0], [1.0, 1.0], [101.0, 102.0], [1.0, 1.0])
    mk = lq.Markets([100.0], mmr=0.05, books=[book])
    acc = lq.Accounts([[10.0, 5.0], [100.0, 0.0]], [1.0, 2.0], [0.0, 0.5])
    pf = lq.Portfolio([0, 1], [0, 0], [1.0, -0.5], [100.0, 100.0])
    return lq.AccountEngine(pf, acc, mk, insurance_fund=5.0, **kw)


def test_worked_example_settles_in_the_settlement_asset():
    # Account 0: TNC = 10 + 5·2·0.5 + (P - 100) = P - 85, TMMR = 0.05·P: liquidatable iff
    # P < 85/0.95 = 89.47...
    eng = _example()
    for p in (95.0, 90.0):
        r = eng.on_mark(0, p)
        assert r.n_accounts == 0
        assert len(r) == 0
        assert r.insurance_fund == 5.0
    r = eng.on_mark(0, 89.0)
    # the long sells 1 at the best bid 99; market equity before 10 + 10 - 11 = 9, gain vs the
    # mark 10: 19 after; fee min(19, 0.015·99) = 1.485; equity_after 17.515.
    assert r.n_accounts == 1
    assert r.n_positions == 1
    assert r.vwap[0] == 99.0
    assert math.isclose(r.accounts.equity_after[0], 17.515, rel_tol=1e-12)
    np.testing.assert_array_equal(eng.last_ids, [0, 1])
    # settled in asset 0: 10 + (17.515 - 20) / 1; asset 1 kept
    assert math.isclose(eng.collateral[0, 0], 7.515, rel_tol=1e-12)
    assert eng.collateral[0, 1] == 5.0
    assert math.isclose(eng.insurance_fund, 6.485, rel_tol=1e-12)
    assert len(eng) == 1
    np.testing.assert_array_equal(eng.ids, [1])
    bp, _ = eng.books[0].bids
    np.testing.assert_array_equal(bp, [98.0])
    # the short of account 1 is untouched; nothing more at the same mark
    assert eng.on_mark(0, 89.0).n_accounts == 0


def test_settlement_asset_one():
    eng = _example(settlement_asset=1)
    eng.on_mark(0, 89.0)
    assert eng.collateral[0, 0] == 10.0
    assert math.isclose(eng.collateral[0, 1], 5.0 + (17.515 - 20.0) / 2.0, rel_tol=1e-12)


def test_quiet_marks_skip_the_health_check(monkeypatch):
    eng = _example()
    calls = []
    real = account_engine.health
    monkeypatch.setattr(account_engine, "health", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(account_engine, "liquidate_accounts", None)  # would fail if called
    # account 0 window: budget ~ 100 - 85 - 5 = 10 over L = 1.05: 100 ± 9.52...
    for p in (99.0, 101.0, 95.0, 92.0, 100.0):
        assert eng.on_mark(0, p).n_accounts == 0
    assert calls == []
    assert eng.on_mark(0, 90.0).n_accounts == 0  # leaves the window: exact check, re-centred
    assert calls == [1]
    # re-centred at 90: TNC 5, TMMR 4.5, window 90 ± 0.5/1.05
    assert eng.on_mark(0, 90.3).n_accounts == 0
    assert eng.on_mark(0, 89.7).n_accounts == 0
    assert calls == [1]
    assert eng.on_mark(0, 90.6).n_accounts == 0
    assert calls == [1, 1]


def test_on_marks_is_atomic():
    # account 0 holds a long in market 0 and a short in market 1 of the same size: moving both
    # marks together does not change its equity, moving one does.
    books = [lq.Book([99.0], [5.0], [101.0], [5.0])] * 2
    mk = lq.Markets([100.0, 100.0], mmr=0.01, books=books)
    acc = lq.Accounts([10.0], [1.0])
    pf = lq.Portfolio([0, 0], [0, 1], [1.0, -1.0], [100.0, 100.0])
    a = lq.AccountEngine(pf, acc, mk)
    assert a.on_marks({0: 80.0, 1: 80.0}).n_accounts == 0
    assert a.on_marks([60.0, 60.0]).n_accounts == 0
    b = lq.AccountEngine(pf, acc, mk)
    assert b.on_mark(0, 80.0).n_accounts == 1


def test_adl_charge_is_paid_from_the_settlement_asset():
    book = lq.Book([99.0], [0.1], [101.0], [5.0])
    mk = lq.Markets([100.0], mmr=0.05, books=[book])
    acc = lq.Accounts([1.0, 100.0], [1.0])
    pf = lq.Portfolio([0, 1], [0, 0], [1.0, -1.0], [100.0, 100.0])
    eng = lq.AccountEngine(pf, acc, mk, policy=lq.Policy(residual="socialize"))
    r = eng.on_mark(0, 97.0)
    assert r.n_accounts == 1
    assert r.adl[1] > 0.0
    assert eng.collateral[1, 0] == 100.0 - float(r.adl[1])
    assert eng.collateral[0, 0] == 0.0  # bankrupt: equity_after 0, no positions left


# ---- resilience and the cascade -----------------------------------------------------------------


@pytest.mark.parametrize("res", [0.0, 0.5, 1.0])
def test_one_pass_is_one_round_of_the_account_cascade(res):
    # What is compared: simulate_cascade_accounts(pf, acc, mk, shock, max_rounds=1) against an
    # engine that starts from the shocked books (every price x (1 + shock)) and gets the
    # shocked marks in one on_marks: the accounts liquidated, the positions closed, the fund,
    # the deficit and the books after the round's recovery.
    rng = np.random.default_rng(3)
    books = [lq.Book(100.0 - np.arange(1, 9), rng.uniform(1.0, 3.0, 8),
                     100.0 + np.arange(1, 9), rng.uniform(1.0, 3.0, 8)) for _ in range(2)]
    mk = lq.Markets([100.0, 100.0], mmr=0.05, books=books)
    acc = lq.Accounts(rng.uniform(2.0, 20.0, 12), [1.0])
    pf = lq.Portfolio(np.arange(12) % 12, np.arange(12) % 2, rng.uniform(-2.0, 2.0, 12),
                      rng.uniform(95.0, 105.0, 12))
    shock = np.array([-0.06, 0.05])
    c = lq.simulate_cascade_accounts(pf, acc, mk, shock, insurance_fund=3.0, resilience=res,
                                     max_rounds=1)
    f = 1.0 + shock
    shifted = [lq.Book(b.bids[0] * f[m], b.bids[1], b.asks[0] * f[m], b.asks[1])
               for m, b in enumerate(books)]
    eng = lq.AccountEngine(pf, acc, lq.Markets([100.0, 100.0], mmr=0.05, books=shifted),
                           insurance_fund=3.0, resilience=res)
    r = eng.on_marks(100.0 * f)
    assert c.rounds == 1
    assert r.n_accounts > 0
    # books deep enough for every close: no fallback, so no inventory, which the cascade
    # carries to later rounds (and sells into the recovered book) while one pass values it
    assert r.fallback_closed.sum() == 0.0
    assert c.inventory_loss == 0.0
    np.testing.assert_array_equal(r.liquidated, c.liquidated)
    np.testing.assert_array_equal(r.closed, c.closed)
    assert r.insurance_fund == c.insurance_fund
    assert r.total_deficit == c.total_deficit
    assert eng.books == c.books


def test_recovery_continues_on_quiet_marks():
    book = lq.Book([99.0, 98.0, 97.0], [1.0, 1.0, 1.0], [101.0], [1.0])
    mk = lq.Markets([100.0], mmr=0.05, books=[book])
    acc = lq.Accounts([5.0], [1.0])
    pf = lq.Portfolio([0], [0], [2.0], [100.0])
    eng = lq.AccountEngine(pf, acc, mk, resilience=0.5)
    r = eng.on_mark(0, 96.0)
    assert r.n_accounts == 1
    np.testing.assert_array_equal(r.books[0].bids[1], [1.0])  # the pass's book: 99, 98 taken
    np.testing.assert_array_equal(eng.books[0].bids[1], [0.5, 0.5, 1.0])
    eng.on_mark(0, 96.0)
    np.testing.assert_array_equal(eng.books[0].bids[1], [0.75, 0.75, 1.0])
    eng.apply(0, "bid", 99.0, 2.0)  # a recorded update sets both books
    eng.on_mark(0, 96.0)
    np.testing.assert_array_equal(eng.books[0].bids[1], [2.0, 0.875, 1.0])
    assert eng.base_books[0].bids[1].tolist() == [2.0, 1.0, 1.0]


# ---- state ---------------------------------------------------------------------------------


def test_pickle_round_trip_and_determinism():
    spec, rows, coll = _setup(7, 2, 4, 10, [0, 2])
    evs = [(0, 95.0), (1, 104.0), (0, 90.0), (1, 112.0), (0, 84.0), (1, 118.0), (0, 81.0)]
    a = _engine(spec, rows, coll, lq.Policy(residual="queue"), 10.0, resilience=0.3)
    b = _engine(spec, rows, coll, lq.Policy(residual="queue"), 10.0, resilience=0.3)
    for m, p in evs[:3]:
        a.on_mark(m, p)
        b.on_mark(m, p)
    c = pickle.loads(pickle.dumps(a))
    for m, p in evs[3:]:
        ra, rb, rc = a.on_mark(m, p), b.on_mark(m, p), c.on_mark(m, p)
        assert ra.insurance_fund == rb.insurance_fund == rc.insurance_fund
        np.testing.assert_array_equal(ra.closed, rc.closed)
    for e in (b, c):
        np.testing.assert_array_equal(e.collateral, a.collateral)
        np.testing.assert_array_equal(e.ids, a.ids)
        np.testing.assert_array_equal(e.portfolio.size, a.portfolio.size)
        assert e.books == a.books
        assert e.base_books == a.base_books
        assert e.insurance_fund == a.insurance_fund
    assert a.open(0, 1, 1.0, 100.0) == c.open(0, 1, 1.0, 100.0)


def test_many_changes_keep_the_windows_exact():
    rng = np.random.default_rng(11)
    spec, rows, coll = _setup(11, 2, 30, 200, [0, 1])
    eng = _engine(spec, rows, coll, lq.Policy(), 50.0)
    ref = Reference(spec, rows, coll, lq.Policy(), 50.0)
    for k in range(150):
        m = int(rng.integers(0, 2))
        p = float(rng.uniform(88.0, 112.0))
        ref.marks[m] = p
        ref.step()
        eng.on_mark(m, p)
        if k % 10 == 0 and ref.rows:
            row = ref.rows[int(rng.integers(0, len(ref.rows)))]
            ref.rows.remove(row)
            eng.close(row[0])
            ref.step()
    assert_same(eng, ref)


def test_withdraw():
    eng = _example()
    eng.on_mark(0, 95.0)  # account 0: TNC 10, TMMR 4.75
    with pytest.raises(ValueError, match="would make account 0 liquidatable"):
        eng.withdraw(0, 6.0)
    assert eng.collateral[0, 0] == 10.0
    with pytest.raises(ValueError, match=r"amount must be <= the balance of account 1"):
        eng.withdraw(1, 100.5)
    assert eng.withdraw(0, 2.0).n_accounts == 0
    assert eng.collateral[0, 0] == 8.0
    assert eng.deposit(0, 1.0, asset=1).n_accounts == 0
    assert eng.collateral[0, 1] == 6.0


def test_bad_inputs():
    eng = _example()
    with pytest.raises(ValueError, match=r"market must be a market id in \[0, 1\) \(got 3\)"):
        eng.on_mark(3, 100.0)
    with pytest.raises(TypeError, match="market must be an int"):
        eng.on_mark("BTC", 100.0)
    with pytest.raises(ValueError, match=r"price must be finite and > 0 \(got nan\)"):
        eng.on_mark(0, math.nan)
    with pytest.raises(ValueError, match=r"price must be finite and > 0 \(got inf\)"):
        eng.on_mark(0, math.inf)
    with pytest.raises(ValueError, match=r"prices\[0\] must be finite and > 0 \(got nan\)"):
        eng.on_marks([math.nan])
    with pytest.raises(ValueError, match=r"prices\[0\] must be finite and > 0 \(got -1.0\)"):
        eng.on_marks({0: -1.0})
    with pytest.raises(ValueError, match=r"prices key 2 must be a market id in \[0, 1\)"):
        eng.on_marks({2: 100.0})
    with pytest.raises(ValueError, match=r"prices must have one price per market \(1\)"):
        eng.on_marks([100.0, 101.0])
    with pytest.raises(ValueError, match=r"account must be an account id in \[0, 2\) \(got 7\)"):
        eng.open(7, 0, 1.0, 100.0)
    with pytest.raises(ValueError, match=r"market must be a market id in \[0, 1\) \(got 1\)"):
        eng.open(0, 1, 1.0, 100.0)
    with pytest.raises(ValueError, match=r"account must be an account id in \[0, 2\) \(got -1\)"):
        eng.deposit(-1, 1.0)
    with pytest.raises(ValueError, match=r"id must be the id of an open position \(got 9\)"):
        eng.close(9)
    with pytest.raises(ValueError, match=r"size must be finite \(got nan\)"):
        eng.update(0, math.nan)
    with pytest.raises(ValueError, match=r"entry_price must be finite and > 0"):
        eng.open(0, 0, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"amount must be finite and > 0 \(got nan\)"):
        eng.deposit(0, math.nan)
    with pytest.raises(ValueError, match=r"asset must be an asset index in \[0, 2\)"):
        eng.deposit(0, 1.0, asset=2)
    with pytest.raises(ValueError, match=r"market must be a market id"):
        eng.apply(1, "bid", 99.0, 1.0)
    with pytest.raises(TypeError, match=r"book must be a liqcore\.Book"):
        eng.set_book(0, None)
    np.testing.assert_array_equal(eng.marks, [100.0])  # nothing changed
    book = lq.Book([99.0], [1.0], [101.0], [1.0])
    mk = lq.Markets([100.0], mmr=0.05, books=[book])
    acc = lq.Accounts([1.0], [1.0])
    with pytest.raises(ValueError, match=r"portfolio.account\[1\] must be an account id"):
        lq.AccountEngine(lq.Portfolio([0, 1], [0, 0], 1.0, 100.0), acc, mk)
    with pytest.raises(ValueError, match=r"portfolio.market\[0\] must be a market id"):
        lq.AccountEngine(lq.Portfolio([0], [1], 1.0, 100.0), acc, mk)
    with pytest.raises(ValueError, match="resilience must be in"):
        lq.AccountEngine(lq.Portfolio([0], [0], 1.0, 100.0), acc, mk, resilience=2.0)
    with pytest.raises(ValueError, match="markets has no books"):
        lq.AccountEngine(lq.Portfolio([0], [0], 1.0, 100.0), acc, lq.Markets([100.0], 0.05))
    with pytest.raises(TypeError, match=r"portfolio must be a liqcore\.Portfolio"):
        lq.AccountEngine(None, acc, mk)
    with pytest.raises(ValueError, match=r"ids\[1\] is a duplicate id"):
        lq.AccountEngine(lq.Portfolio([0, 0], [0, 0], 1.0, 100.0), acc, mk, ids=[4, 4])


def test_results_keep_their_books_and_pending_accounts_go_at_any_mark():
    books = [lq.Book([99.0], [1.0], [101.0], [1.0]), lq.Book([9.9], [1.0], [10.1], [1.0])]
    mk = lq.Markets([100.0, 10.0], mmr=0.05, books=books)
    acc = lq.Accounts([1.0, 50.0], [1.0])  # account 0 is liquidatable from the start
    pf = lq.Portfolio([0, 1], [0, 0], [1.0, 0.1], [100.0, 100.0])
    eng = lq.AccountEngine(pf, acc, mk)
    r = eng.on_mark(1, 10.0)  # a mark of a market account 0 does not trade
    assert r.n_accounts == 1
    np.testing.assert_array_equal(r.accounts.liquidated, [True, False])
    before = r.books[0].bids
    eng.apply(0, "bid", 99.0, 5.0)
    np.testing.assert_array_equal(r.books[0].bids[0], before[0])
    np.testing.assert_array_equal(r.books[0].bids[1], before[1])
    e = eng.on_mark(1, 10.0)
    assert len(e) == 0
    eng.set_book(0, lq.Book([98.0], [2.0], [101.0], [1.0]))
    eng.apply(0, "bid", 98.0, 3.0)
    np.testing.assert_array_equal(e.books[0].bids[1], [5.0])  # the empty result's book too
