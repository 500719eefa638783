"""liqcore.stress_test: random streams, determinism across threads and chunks, consistency with
simulate_cascade, the statistics against NumPy definitions, the buffer sweep and input errors."""

from __future__ import annotations

import math
import pickle

import liqcore as lq
import numpy as np
import pytest
from liqcore import _core
from liqcore.stress import SCENARIO_FIELDS, StressResult

MARK = 60_000.0


def population(n, seed=1, mark=MARK):
    rng = np.random.default_rng(seed)
    size = rng.choice([-1.0, 1.0], n) * rng.lognormal(-2.0, 1.0, n)
    entry = mark * np.exp(rng.normal(0.0, 0.02, n))
    margin = np.abs(size) * entry / rng.uniform(2.0, 40.0, n)
    return lq.Positions(size, entry, margin)


@pytest.fixture(scope="module")
def market():
    return population(5_000), lq.Book.synthetic(MARK, levels=600)


def assert_same(a: StressResult, b: StressResult) -> None:
    for f in SCENARIO_FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


# ---- random streams -------------------------------------------------------------------------------


def test_philox_known_answers():
    # Random123 known-answer vectors for philox4x32_10
    assert _core.philox4x32([0, 0, 0, 0], [0, 0]) == [
        0x6627E8D5,
        0xE169C58D,
        0xBC57AC4C,
        0x9B00DBD8,
    ]
    assert _core.philox4x32([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2) == [
        0x408F276D,
        0x41C83B0E,
        0xA20BC7C6,
        0x6D5451FD,
    ]
    assert _core.philox4x32(
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]
    ) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_streams_are_keyed_by_seed_and_scenario():
    a = lq.stress_log_returns(20, 10, seed=7)
    np.testing.assert_array_equal(a[5:15], lq.stress_log_returns(10, 10, seed=7, first=5))
    assert not np.array_equal(a, lq.stress_log_returns(20, 10, seed=8))
    assert len({row.tobytes() for row in a}) == 20


def test_log_returns_follow_the_model():
    n, steps, horizon = 4_000, 50, 2.0
    dt = horizon / steps
    sigma = 0.05
    r = lq.stress_log_returns(n, steps, horizon, sigma=sigma, jump_intensity=0.0, seed=3).ravel()
    assert r.mean() == pytest.approx(-0.5 * sigma**2 * dt, abs=4 * sigma * math.sqrt(dt / r.size))
    assert r.std() == pytest.approx(sigma * math.sqrt(dt), rel=0.02)
    # jumps: compensated so that E[exp(sum of log returns)] = exp(mu·t)
    lam, jm, js = 3.0, -0.05, 0.04
    r = lq.stress_log_returns(
        n, steps, horizon, sigma=0.0, jump_intensity=lam, jump_mean=jm, jump_std=js, seed=4
    )
    k = math.exp(jm + 0.5 * js**2) - 1.0
    mean = (-lam * k) * dt + lam * dt * jm
    var = lam * dt * (jm**2 + js**2)
    assert r.mean() == pytest.approx(mean, abs=5 * math.sqrt(var / r.size))
    assert r.var() == pytest.approx(var, rel=0.1)
    growth = np.exp(r.sum(axis=1))
    assert growth.mean() == pytest.approx(1.0, abs=0.01)


# ---- determinism --------------------------------------------------------------------------------


def test_bit_identical_for_any_thread_count(market):
    pos, book = market
    runs = [
        lq.stress_test(
            pos, book, MARK, insurance_fund=2e5, scenarios=37, steps=20, seed=11, threads=t
        )
        for t in (1, 2, 3)
    ]
    assert np.any(runs[0].deficit > 0) and np.any(runs[0].liquidations > 0)
    assert_same(runs[0], runs[1])
    assert_same(runs[0], runs[2])
    assert_same(
        runs[0],
        lq.stress_test(pos, book, MARK, insurance_fund=2e5, scenarios=37, steps=20, seed=11),
    )


def test_bit_identical_for_any_chunking(market):
    pos, book = market
    whole = lq.stress_test(
        pos,
        book,
        MARK,
        lq.Policy.binance(),
        1e5,
        scenarios=60,
        steps=10,
        seed=2,
        resilience=0.3,
        threads=2,
    )
    seen = []
    chunked = lq.stress_test(
        pos,
        book,
        MARK,
        lq.Policy.binance(),
        1e5,
        scenarios=60,
        steps=10,
        seed=2,
        resilience=0.3,
        threads=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert_same(whole, chunked)
    assert seen[-1] == (60, 60) and len(seen) > 1


def test_depletion_never_rises_with_the_fund(market):
    pos, book = market
    funds = [0.0, 1e3, 1e4, 1e5, 1e6, 1e7]
    runs = [
        lq.stress_test(
            pos, book, MARK, insurance_fund=f, scenarios=40, steps=10, seed=5, sigma=0.08
        )
        for f in funds
    ]
    dep = [r.depletion_probability for r in runs]
    exh = [r.exhaustion_probability for r in runs]
    assert all(a >= b for a, b in zip(dep, dep[1:])) and dep[0] > dep[-1]
    assert all(a >= b for a, b in zip(exh, exh[1:]))
    assert all(d >= e for d, e in zip(dep, exh))
    for r in runs[1:]:  # the default policy's execution does not look at the fund
        np.testing.assert_array_equal(r.deficit, runs[0].deficit)
        assert np.all(r.residual <= runs[0].residual)


# ---- consistency with simulate_cascade and user paths -----------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [lq.Policy(), lq.Policy.binance(), lq.Policy.hyperliquid()],
    ids=["default", "binance", "hyperliquid"],
)
def test_one_step_path_is_a_cascade(market, policy):
    pos, book = market
    shocks = np.array([[-0.08], [-0.03], [0.0], [0.05]])
    st = lq.stress_test(
        pos, book, MARK, policy, 1e5, paths=shocks, path_type="return", resilience=0.2
    )
    for s, shock in enumerate(shocks[:, 0]):
        cas = lq.simulate_cascade(pos, book, MARK, float(shock), policy, 1e5, resilience=0.2)
        assert st.final_mark[s] == cas.final_mark
        assert st.liquidations[s] == cas.n_liquidated
        assert st.insurance_fund[s] == cas.insurance_fund
        assert st.insurance_draw[s] == cas.insurance_draw
        assert st.residual[s] == cas.residual
        # a position's loss to the fund (deficit + takeover loss) = what the fund paid + shortfall
        loss = cas.insurance_draw_by_position + cas.shortfall
        assert st.deficit[s] == pytest.approx(float(loss.sum()), rel=1e-12, abs=1e-9)
        top = np.sort(loss)[::-1]
        assert st.largest_loss[s] == top[0] and st.second_largest_loss[s] == top[1]
        assert st.rounds[s] == cas.rounds


def test_path_types_agree(market):
    pos, book = market
    marks = MARK * np.array([[0.99, 0.97, 0.95, 0.96], [1.01, 1.03, 1.0, 0.94]])
    a = lq.stress_test(pos, book, MARK, paths=marks)
    prev = np.concatenate((np.full((2, 1), MARK), marks[:, :-1]), axis=1)
    b = lq.stress_test(pos, book, MARK, paths=marks / prev - 1.0, path_type="return")
    np.testing.assert_array_equal(a.liquidations, b.liquidations)
    np.testing.assert_allclose(a.deficit, b.deficit, rtol=1e-9)
    assert a.steps == 4 and len(a) == 2


def test_model_paths_replayed_as_user_paths(market):
    pos, book = market
    r = lq.stress_log_returns(12, 15, seed=9)
    a = lq.stress_test(pos, book, MARK, scenarios=12, steps=15, seed=9)
    b = lq.stress_test(pos, book, MARK, paths=r, path_type="log_return")
    np.testing.assert_allclose(a.final_mark, b.final_mark, rtol=1e-9)
    np.testing.assert_array_equal(a.liquidations, b.liquidations)


# ---- statistics --------------------------------------------------------------------------------


def result_with(deficit, largest=None, second=None, notional=None, fund=0.0, residual=None):
    d = np.asarray(deficit, dtype=np.float64)
    n = d.size
    z = np.zeros(n)
    cols = dict.fromkeys(SCENARIO_FIELDS, z)
    cols.update(
        deficit=d,
        liquidations=np.zeros(n, np.int64),
        rounds=np.zeros(n, np.int64),
        converged=np.ones(n, np.bool_),
    )
    if largest is not None:
        cols["largest_loss"] = np.asarray(largest, np.float64)
    if second is not None:
        cols["second_largest_loss"] = np.asarray(second, np.float64)
    if notional is not None:
        cols["liquidated_notional"] = np.asarray(notional, np.float64)
    if residual is not None:
        cols["residual"] = np.asarray(residual, np.float64)
    return StressResult(
        **cols, insurance_fund_before=fund, mark=1.0, policy=lq.Policy(), seed=0, steps=1
    )


def test_statistics_definitions():
    d = np.arange(1.0, 101.0)  # 1..100
    r = result_with(
        np.random.default_rng(0).permutation(d),
        notional=d * 10,
        fund=60.0,
        largest=d / 2,
        second=d / 4,
        residual=np.maximum(d - 95.0, 0.0),
    )
    assert r.var(0.95) == 95.0 and r.var(0.99) == 99.0 and r.var(1.0) == 100.0
    assert r.var(0.955) == 96.0
    assert r.expected_shortfall(0.95) == pytest.approx(98.0)  # mean of 96..100
    assert r.expected_shortfall(0.955) == pytest.approx((97 + 98 + 99 + 100 + 0.5 * 96) / 4.5)
    assert r.depletion_probability == 0.40  # D > 60
    assert r.exhaustion_probability == 0.05
    assert r.exceedance_probability(50.0) == 0.5
    assert r.lar(0.95) == 950.0
    assert r.fund_size(r=0.01, kappa=1.0) == r.var(0.99)
    assert r.fund_size(r=0.1, kappa=2.0) == 95.0
    assert r.cover1() == 50.0 and r.cover2() == 75.0 and r.cover1(0.5) == 25.0
    assert r.expected_deficit == 50.5
    s = r.summary()
    assert s["meets_cover1"] and not s["meets_cover2"] and s["var_0.99"] == 99.0
    for q in (0.5, 0.9, 0.99):
        assert r.expected_shortfall(q) >= r.var(q)
        x = np.sort(d)  # ES = 1/(1-q) ∫_q^1 VaR_u du, by a fine Riemann sum
        u = np.linspace(q, 1.0, 200_001)[1:]
        assert r.expected_shortfall(q) == pytest.approx(
            np.mean(x[np.ceil(u * 100).astype(int) - 1]), rel=1e-4
        )


def test_depletion_counts_the_reserve():
    r = result_with([0.0, 5.0, 10.0, 20.0], fund=15.0)
    assert r.depletion_probability == 0.25
    r2 = StressResult(
        **{f: getattr(r, f) for f in SCENARIO_FIELDS},
        insurance_fund_before=15.0,
        mark=1.0,
        policy=lq.Policy(reserve=10.0),
        seed=0,
        steps=1,
    )
    assert r2.depletion_probability == 0.5  # D > 15 − 10


def test_result_views(market):
    pos, book = market
    st = lq.stress_test(pos, book, MARK, insurance_fund=1e5, scenarios=10, steps=5)
    assert len(st) == 10 == st.scenarios and "StressResult(" in repr(st)
    assert st.params["horizon"] == 1.0 and st.params["sigma"] == 0.04
    assert np.all(st.deficit == st.insurance_draw + st.residual) or np.allclose(
        st.deficit, st.insurance_draw + st.residual, rtol=1e-12
    )
    assert np.all(st.min_mark <= st.final_mark) and np.all(st.final_mark <= st.max_mark)
    pd = pytest.importorskip("pandas")
    assert isinstance(st.to_frame(), pd.DataFrame)


def test_empty_population_and_zero_scenarios():
    book = lq.Book.synthetic(MARK, levels=100)
    none = lq.Positions(np.zeros(0), np.zeros(0) + 1.0, np.zeros(0))
    st = lq.stress_test(none, book, MARK, scenarios=5, steps=3)
    assert np.all(st.deficit == 0.0) and np.all(st.liquidations == 0)
    assert len(lq.stress_test(none, book, MARK, scenarios=0)) == 0


# ---- buffer sweep -------------------------------------------------------------------------------


def test_buffer_sweep(market):
    pos, book = market
    grid = {"mmr": [0.005, 0.02], "buffer": [0.0, 0.05]}
    table = lq.buffer_sweep(pos, book, MARK, grid, insurance_fund=1e5, scenarios=8, steps=5, seed=1)
    cols = table if isinstance(table, dict) else {c: table[c].to_numpy() for c in table.columns}
    assert len(cols["mmr"]) == 4
    np.testing.assert_array_equal(cols["mmr"], [0.005, 0.005, 0.02, 0.02])
    np.testing.assert_array_equal(cols["buffer"], [0.0, 0.05, 0.0, 0.05])
    for k in (
        "expected_deficit",
        "depletion_probability",
        "mean_liquidations",
        "var",
        "expected_shortfall",
    ):
        assert np.all(np.isfinite(cols[k]))
    # each point is the stress test of its policy, on the same paths
    one = lq.stress_test(
        pos,
        book,
        MARK,
        lq.Policy(sizing="partial", mmr=0.02, buffer=0.05),
        1e5,
        scenarios=8,
        steps=5,
        seed=1,
    )
    assert cols["expected_deficit"][3] == one.expected_deficit
    assert cols["mean_liquidations"][3] == float(np.mean(one.liquidations))
    with pytest.raises(ValueError, match="grid has unknown setting"):
        lq.buffer_sweep(pos, book, MARK, {"leverage": [1.0]})
    with pytest.raises(ValueError, match=r"grid\['mmr'\] must not be empty"):
        lq.buffer_sweep(pos, book, MARK, {"mmr": []})
    with pytest.raises(ValueError, match=r"grid point \{'mmr': 2.0\}: Policy.mmr must be"):
        lq.buffer_sweep(pos, book, MARK, {"mmr": [2.0]}, scenarios=1)
    with pytest.raises(TypeError, match="grid must be a mapping"):
        lq.buffer_sweep(pos, book, MARK, [0.01])


# ---- pickling and errors --------------------------------------------------------------------------


def test_inputs_pickle(market):
    pos, book = market
    pol = lq.Policy.binance()
    a = lq.stress_test(pos, book, MARK, pol, scenarios=6, steps=4)
    b = lq.stress_test(
        *(pickle.loads(pickle.dumps(x)) for x in (pos, book)),
        MARK,
        pickle.loads(pickle.dumps(pol)),
        scenarios=6,
        steps=4,
    )
    assert_same(a, b)


def test_errors(market):
    pos, book = market
    with pytest.raises(ValueError, match=r"scenarios must be >= 0 \(got -1\)"):
        lq.stress_test(pos, book, MARK, scenarios=-1)
    with pytest.raises(ValueError, match=r"steps must be >= 1 \(got 0\)"):
        lq.stress_test(pos, book, MARK, scenarios=1, steps=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        lq.stress_test(pos, book, MARK, scenarios=1, seed=1.5)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
        lq.stress_test(pos, book, MARK, scenarios=1, seed=-1)
    with pytest.raises(ValueError, match=r"threads must be >= 1 \(got 0\)"):
        lq.stress_test(pos, book, MARK, scenarios=1, threads=0)
    with pytest.raises(ValueError, match=r"horizon must be finite and > 0 \(got 0.0\)"):
        lq.stress_test(pos, book, MARK, scenarios=1, horizon=0.0)
    with pytest.raises(ValueError, match=r"sigma must be finite and >= 0 \(got -0.1\)"):
        lq.stress_test(pos, book, MARK, scenarios=1, sigma=-0.1)
    with pytest.raises(ValueError, match=r"jump_intensity must be finite and >= 0 \(got nan\)"):
        lq.stress_test(pos, book, MARK, scenarios=1, jump_intensity=math.nan)
    with pytest.raises(ValueError, match=r"paths\[1, 2\] must be finite and > 0 \(got nan\)"):
        lq.stress_test(pos, book, MARK, paths=[[1.0, 1.0, 1.0], [1.0, 1.0, math.nan]])
    with pytest.raises(ValueError, match=r"paths\[0, 0\] must be finite and > -1 \(got -1.0\)"):
        lq.stress_test(pos, book, MARK, paths=[[-1.0]], path_type="return")
    with pytest.raises(ValueError, match="paths must be a 2-D array"):
        lq.stress_test(pos, book, MARK, paths=[1.0, 2.0])
    with pytest.raises(ValueError, match="path_type must be one of 'mark', 'return', 'log_return'"):
        lq.stress_test(pos, book, MARK, paths=[[1.0]], path_type="price")
    with pytest.raises(ValueError, match="scenarios is 3 but paths has 1 rows"):
        lq.stress_test(pos, book, MARK, paths=[[1.0]], scenarios=3)
    with pytest.raises(ValueError, match=r"resilience must be in \[0, 1\]"):
        lq.stress_test(pos, book, MARK, scenarios=1, resilience=-0.5)
    with pytest.raises(TypeError, match="positions must be a liqcore.Positions"):
        lq.stress_test(None, book, MARK, scenarios=1)
    r = result_with([1.0, 2.0])
    with pytest.raises(ValueError, match=r"q must be in \(0, 1\] \(got 0.0\)"):
        r.var(0.0)
    with pytest.raises(ValueError, match=r"q must be in \(0, 1\) \(got 1.0\)"):
        r.expected_shortfall(1.0)
    with pytest.raises(ValueError, match=r"kappa must be finite and > r"):
        r.fund_size(r=0.5, kappa=0.5)
    with pytest.raises(ValueError, match=r"r must be finite and > 0"):
        r.fund_size(r=0.0, kappa=1.0)
