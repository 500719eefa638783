"""Margin math (docs/model.md §1): NumPy references, published numbers, properties, bad inputs."""

from __future__ import annotations

import math
import pickle
from typing import Any

import liqcore as lq
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# ---- NumPy reference (defines the semantics; written from docs/model.md, not from the kernel) ----


def ref_tiers(floors: list[float], mmr: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cum = [0.0]
    for k in range(1, len(floors)):
        cum.append(cum[-1] + floors[k] * (mmr[k] - mmr[k - 1]))
    return np.array(floors, float), np.array(mmr, float), np.array(cum)


def ref_notional(q: Any, p: Any, inverse: bool, c: float) -> np.ndarray:
    q, p = np.asarray(q, float), np.asarray(p, float)
    return np.abs(q) * c / p if inverse else np.abs(q) * p


def ref_equity(
    q: Any, ep: Any, m: Any, p: Any, inverse: bool = False, c: float = 1.0
) -> np.ndarray:
    q, ep, m, p = (np.asarray(x, float) for x in (q, ep, m, p))
    pnl = q * c * (1.0 / ep - 1.0 / p) if inverse else q * (p - ep)
    return m + pnl


def ref_mm(
    q: Any,
    p: Any,
    rate: Any = None,
    tiers: tuple[Any, ...] | None = None,
    inverse: bool = False,
    c: float = 1.0,
) -> np.ndarray:
    n = ref_notional(q, p, inverse, c)
    if tiers is None:
        return n * np.asarray(rate, float)
    floors, mmr, cum = tiers
    k = np.searchsorted(floors, n, side="right") - 1
    return n * mmr[k] - cum[k]


def ref_lp(
    q: Any,
    ep: Any,
    m: Any,
    rate: Any = None,
    tiers: tuple[Any, ...] | None = None,
    inverse: bool = False,
    c: float = 1.0,
) -> np.ndarray:
    """E(P) = MM(P) by bisection on log(P/EP); 0 / +inf when no positive price solves it."""
    q, ep, m = np.broadcast_arrays(*(np.asarray(x, float) for x in (q, ep, m)))
    rate_b = None if rate is None else np.broadcast_to(np.asarray(rate, float), q.shape)

    def f(
        p: np.ndarray,
    ) -> np.ndarray:  # E - MM, increasing in P for a long, decreasing for a short
        return ref_equity(q, ep, m, p, inverse, c) - ref_mm(q, p, rate_b, tiers, inverse, c)

    s = np.sign(q)
    lo, hi = np.full(q.shape, -120.0), np.full(q.shape, 120.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(120):
            mid = 0.5 * (lo + hi)
            g = f(ep * np.exp(mid)) * s  # increasing in mid
            below = g < 0  # root is above mid
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        p = ep * np.exp(0.5 * (lo + hi))
    if inverse:  # short: E - MM -> m - |q|C/EP as P -> inf
        never = (q < 0) & (m - np.abs(q) * c / ep >= 0)
        p = np.where(never, np.inf, p)
    else:  # long: E - MM -> m - q*EP at P = 0
        never = (q > 0) & (m - q * ep >= 0)
        p = np.where(never, 0.0, p)
    return np.where(q == 0, np.nan, p)


def ref_bp(q: Any, ep: Any, m: Any, inverse: bool = False, c: float = 1.0) -> np.ndarray:
    return ref_lp(q, ep, m, rate=0.0, inverse=inverse, c=c)


def close_prices(
    a: np.ndarray, b: np.ndarray, ep: np.ndarray, inverse: bool, rtol: float = 1e-9
) -> None:
    """Prices agree relative to the entry price (linear) or in 1/P (inverse: +inf is 'never')."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    ep = np.broadcast_to(ep, a.shape)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    a, b, ep = a[ok], b[ok], ep[ok]
    if inverse:
        with np.errstate(divide="ignore"):
            a, b, ep = 1.0 / a, 1.0 / b, 1.0 / ep
    bad = ~(np.abs(a - b) <= rtol * (np.abs(b) + ep))
    assert not bad.any(), (a[bad], b[bad], ep[bad])


# ---- docs/model.md §8 published numbers ------------------------------------------------------------

BINANCE_FLOORS = [0, 50_000, 250_000, 1_000_000, 10_000_000]
BINANCE_MMR = [0.004, 0.005, 0.01, 0.025, 0.05]


def test_binance_isolated_long_and_short() -> None:
    assert round(lq.liquidation_price(1.0, 10_000.0, 1_000.0, 0.004), 4) == 9036.1446
    assert round(lq.liquidation_price(-1.0, 10_000.0, 1_000.0, 0.004), 4) == 10956.1753
    # the closed form of docs/model.md §1, to the last bit that matters
    assert lq.liquidation_price(1.0, 10_000.0, 1_000.0, 0.004) == pytest.approx(
        9000 / 0.996, rel=1e-15
    )
    assert lq.liquidation_price(-1.0, 10_000.0, 1_000.0, 0.004) == pytest.approx(
        11000 / 1.004, rel=1e-15
    )


def test_binance_tier_table_cum() -> None:
    t = lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)
    np.testing.assert_allclose(t.cum, [0, 50, 1_300, 16_300, 266_300], rtol=1e-12, atol=0)
    assert t.floors.tolist() == BINANCE_FLOORS
    assert t.mmr.tolist() == BINANCE_MMR
    assert len(t) == 5


def test_binance_tiers_first_tier_matches_flat() -> None:
    t = lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)
    assert lq.liquidation_price(1.0, 10_000.0, 1_000.0, tiers=t) == lq.liquidation_price(
        1.0, 10_000.0, 1_000.0, 0.004
    )


def test_bybit_mm_at_entry_and_bankruptcy() -> None:
    # 1 BTC long at 20,000, 50x (margin 400), mmr 0.5%, MM fixed at entry -> 19,700
    assert lq.liquidation_price(1.0, 20_000.0, 400.0, 0.005, mm_at_entry=True) == pytest.approx(
        19_700, rel=1e-12
    )
    # long at 10,000, 50x -> BP 9,800
    assert lq.bankruptcy_price(1.0, 10_000.0, 200.0) == pytest.approx(9_800, rel=1e-12)
    assert lq.bankruptcy_price(-1.0, 10_000.0, 200.0) == pytest.approx(10_200, rel=1e-12)


@pytest.mark.parametrize("lev", [2.0, 10.0, 50.0, 125.0])
@pytest.mark.parametrize("c", [1.0, 100.0])
def test_inverse_bankruptcy_leverage_form(lev: float, c: float) -> None:
    ep, n = 40_000.0, 1_000.0
    margin = n * c / ep / lev  # coin
    assert lq.bankruptcy_price(n, ep, margin, contract="inverse", contract_size=c) == pytest.approx(
        ep * lev / (lev + 1), rel=1e-12
    )
    assert lq.bankruptcy_price(
        -n, ep, margin, contract="inverse", contract_size=c
    ) == pytest.approx(ep * lev / (lev - 1), rel=1e-12)


# ---- conventions --------------------------------------------------------------------------------


def test_never_liquidated_conventions() -> None:
    # a 1x (or less) linear long: no positive price liquidates it -> 0
    assert lq.liquidation_price(1.0, 100.0, 100.0, 0.01) == 0.0
    assert lq.bankruptcy_price(1.0, 100.0, 150.0) == 0.0
    # a 1x inverse short never goes bankrupt -> +inf
    assert lq.bankruptcy_price(-100.0, 50.0, 2.0, contract="inverse") == np.inf
    assert lq.liquidation_price(-100.0, 50.0, 2.0, 0.01, contract="inverse") == np.inf
    # size 0 -> NaN, for every contract and path
    for kw in (
        {},
        {"contract": "inverse"},
        {"mm_at_entry": True},
        {"tiers": lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)},
    ):
        assert np.isnan(lq.liquidation_price(0.0, 100.0, 10.0, **kw))
        assert np.isnan(lq.liquidation_price(np.array([0.0, -0.0]), 100.0, 10.0, **kw)).all()
    assert np.isnan(lq.bankruptcy_price(-0.0, 100.0, 10.0, contract="inverse"))


def test_lp_lands_in_another_tier_than_entry() -> None:
    # 30 BTC long at 10,000: notional 300k at entry (tier 2), 260k-ish at LP? Choose margin so the
    # LP notional is below 250k: the LP must use tier 1 (0.5%, cum 50), not tier 2.
    t = lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)
    q, ep, m = 30.0, 10_000.0, 60_000.0
    lp = lq.liquidation_price(q, ep, m, tiers=t)
    assert q * lp < 250_000  # another tier than the entry notional's
    assert lp == pytest.approx((m + 50 - q * ep) / (q * 0.005 - q), rel=1e-14)
    assert lq.equity(q, ep, m, lp) == pytest.approx(lq.maintenance_margin(q, lp, tiers=t), rel=1e-9)


def test_mm_at_entry_with_tiers() -> None:
    t = lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)
    q, ep, m = -30.0, 10_000.0, 20_000.0
    mm_entry = 300_000 * 0.01 - 1_300
    assert lq.maintenance_margin(q, ep, tiers=t) == pytest.approx(mm_entry, rel=1e-14)
    lp = lq.liquidation_price(q, ep, m, tiers=t, mm_at_entry=True)
    assert lp == pytest.approx(ep - (m - mm_entry) / q, rel=1e-14)


def test_margin_ratio_values_and_infinity() -> None:
    assert lq.margin_ratio(1.0, 100.0, 10.0, 100.0, 0.01) == pytest.approx(0.1)
    assert lq.margin_ratio(1.0, 100.0, 10.0, 90.0, 0.01) == np.inf  # E = 0
    assert lq.margin_ratio(1.0, 100.0, 10.0, 80.0, 0.01) == np.inf  # E < 0
    assert lq.margin_ratio(0.0, 100.0, 10.0, 80.0, 0.01) == 0.0
    assert lq.margin_ratio(0.0, 100.0, 0.0, 80.0, 0.01) == np.inf
    t = lq.MarginTiers([0, 100], [0.01, 0.02])
    r = lq.margin_ratio([1.0, 2.0], 100.0, 50.0, 100.0, tiers=t)
    np.testing.assert_allclose(r, [1.0 / 50.0, (200 * 0.02 - 1.0) / 50.0])


def test_scalar_and_array_types() -> None:
    assert type(lq.equity(1, 2, 3, 4)) is float
    assert type(lq.liquidation_price(1.0, 2.0, 0.1)) is float
    out = lq.equity([1.0], 2.0, 3.0, 4.0)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape == (1,)
    out = lq.maintenance_margin(np.arange(1, 4), 10.0, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(out, [1.0, 4.0, 9.0])
    assert lq.bankruptcy_price(np.zeros(0), 1.0, 1.0).shape == (0,)


def test_same_bits_scalar_and_array_across_blocks() -> None:
    rng = np.random.default_rng(7)
    n = 1_000  # several kernel blocks and a ragged tail
    q = rng.choice([-1, 1], n) * 10 ** rng.uniform(-3, 3, n)
    ep = 10 ** rng.uniform(0, 5, n)
    m = np.abs(q) * ep / rng.uniform(1, 100, n)
    t = lq.MarginTiers([0, 1_000, 50_000], [0.01, 0.02, 0.05])
    for inverse in (False, True):
        kw: dict[str, Any] = {"contract": "inverse" if inverse else "linear", "contract_size": 3.0}
        for lp_kw in ({"mmr": 0.01}, {"tiers": t}, {"tiers": t, "mm_at_entry": True}):
            arr = lq.liquidation_price(q, ep, m, **lp_kw, **kw)
            one = [lq.liquidation_price(q[i], ep[i], m[i], **lp_kw, **kw) for i in range(0, n, 37)]
            assert np.array_equal(arr[::37], np.array(one))
            assert np.array_equal(
                arr[300:700],
                lq.liquidation_price(q[300:700], ep[300:700], m[300:700], **lp_kw, **kw),
            )


# ---- Hypothesis: kernel == reference on random positions ----------------------------------------

mags = st.floats(-6, 6)


@st.composite
def positions(draw: Any, n_max: int = 12) -> dict[str, Any]:
    n = draw(st.integers(1, n_max))
    sign = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
    q = sign * 10 ** np.array(draw(st.lists(mags, min_size=n, max_size=n)))
    ep = 10 ** np.array(draw(st.lists(st.floats(-4, 6), min_size=n, max_size=n)))
    mark = ep * np.exp(np.array(draw(st.lists(st.floats(-0.7, 0.7), min_size=n, max_size=n))))
    lev = 10 ** np.array(draw(st.lists(st.floats(-0.5, 2.5), min_size=n, max_size=n)))
    inverse = draw(st.booleans())
    c = draw(st.sampled_from([1.0, 10.0, 100.0]))
    notional = np.abs(q) * c / ep if inverse else np.abs(q) * ep
    m = notional / lev
    return {
        "q": q,
        "ep": ep,
        "m": m,
        "mark": mark,
        "inverse": inverse,
        "c": c,
        "notional": notional,
    }


@st.composite
def tier_tables(draw: Any, scale: float) -> tuple[list[float], list[float]]:
    k = draw(st.integers(1, 6))
    gaps = 10 ** np.array(draw(st.lists(st.floats(-2, 1), min_size=k - 1, max_size=k - 1)))
    floors = [0.0, *np.cumsum(gaps * scale).tolist()]
    rates = draw(st.lists(st.floats(0.0, 0.2), min_size=k, max_size=k))
    if draw(st.booleans()):
        rates = sorted(rates)  # real tables increase; unsorted ones still give a continuous MM
    return floors, rates


def _kw(p: dict[str, Any]) -> dict[str, Any]:
    return {"contract": "inverse" if p["inverse"] else "linear", "contract_size": p["c"]}


@settings(max_examples=60, deadline=None)
@given(positions(), st.floats(0.0, 0.2))
def test_flat_agrees_with_reference(p: dict[str, Any], rate: float) -> None:
    q, ep, m, mark, inv, c = p["q"], p["ep"], p["m"], p["mark"], p["inverse"], p["c"]
    kw = _kw(p)
    e = lq.equity(q, ep, m, mark, **kw)
    np.testing.assert_allclose(
        e, ref_equity(q, ep, m, mark, inv, c), rtol=1e-12, atol=1e-12 * float(p["notional"].max())
    )
    mm = lq.maintenance_margin(q, mark, rate, **kw)
    np.testing.assert_allclose(mm, ref_mm(q, mark, rate, None, inv, c), rtol=1e-13)
    close_prices(lq.bankruptcy_price(q, ep, m, **kw), ref_bp(q, ep, m, inv, c), ep, inv)
    close_prices(
        lq.liquidation_price(q, ep, m, rate, **kw), ref_lp(q, ep, m, rate, None, inv, c), ep, inv
    )
    mr = lq.margin_ratio(q, ep, m, mark, rate, **kw)
    e_ref = ref_equity(q, ep, m, mark, inv, c)
    pos = e_ref > 1e-9 * p["notional"]
    np.testing.assert_allclose(
        mr[pos], (ref_mm(q, mark, rate, None, inv, c) / e_ref)[pos], rtol=1e-6
    )
    assert (mr[e_ref < -1e-9 * p["notional"]] == np.inf).all()


@settings(max_examples=60, deadline=None)
@given(positions(), st.data())
def test_tiers_agree_with_reference(p: dict[str, Any], data: Any) -> None:
    q, ep, m, mark, inv, c = p["q"], p["ep"], p["m"], p["mark"], p["inverse"], p["c"]
    floors, rates = data.draw(tier_tables(float(np.median(p["notional"]))))
    t = lq.MarginTiers(floors, rates)
    rt = ref_tiers(floors, rates)
    np.testing.assert_allclose(t.cum, rt[2], rtol=1e-12, atol=1e-12 * floors[-1])
    kw = _kw(p)
    mm = lq.maintenance_margin(q, mark, tiers=t, **kw)
    n = ref_notional(q, mark, inv, c)
    np.testing.assert_allclose(
        mm, ref_mm(q, mark, None, rt, inv, c), rtol=1e-9, atol=1e-12 * float(n.max())
    )
    lp = lq.liquidation_price(q, ep, m, tiers=t, **kw)
    close_prices(lp, ref_lp(q, ep, m, None, rt, inv, c), ep, inv, rtol=1e-8)
    lpe = lq.liquidation_price(q, ep, m, tiers=t, mm_at_entry=True, **kw)
    close_prices(
        lpe, ref_bp(q, ep, m - ref_mm(q, ep, None, rt, inv, c), inv, c), ep, inv, rtol=1e-8
    )


# ---- properties ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(positions(), st.data())
def test_equity_equals_maintenance_at_lp(p: dict[str, Any], data: Any) -> None:
    q, ep, m = p["q"], p["ep"], p["m"]
    kw = _kw(p)
    floors, rates = data.draw(tier_tables(float(np.median(p["notional"]))))
    t = lq.MarginTiers(floors, rates)
    for rate in ({"mmr": 0.01}, {"tiers": t}):
        lp = lq.liquidation_price(q, ep, m, **rate, **kw)
        ok = np.isfinite(lp) & (lp > 0)
        qq, e0, m0, p0 = q[ok], ep[ok], m[ok], lp[ok]
        gap = lq.equity(qq, e0, m0, p0, **kw) - lq.maintenance_margin(qq, p0, **rate, **kw)
        scale = (
            m0
            + ref_notional(qq, e0, p["inverse"], p["c"])
            + ref_notional(qq, p0, p["inverse"], p["c"])
        )
        assert (np.abs(gap) <= 1e-9 * scale).all()


@settings(max_examples=60, deadline=None)
@given(positions(), st.floats(0.0, 0.05))
def test_lp_between_bankruptcy_and_entry(p: dict[str, Any], rate: float) -> None:
    q, ep, m = p["q"], p["ep"], p["m"]
    kw = _kw(p)
    mm_entry = lq.maintenance_margin(q, ep, rate, **kw)
    normal = m >= mm_entry  # not liquidatable at entry
    lp = lq.liquidation_price(q, ep, m, rate, **kw)[normal]
    bp = lq.bankruptcy_price(q, ep, m, **kw)[normal]
    e0, long = ep[normal], q[normal] > 0
    tol = 1e-12 * e0
    assert (lp[long] <= e0[long] + tol[long]).all()
    assert (lp[long] >= bp[long] - tol[long]).all()
    assert (lp[~long] >= e0[~long] - tol[~long]).all()
    assert (lp[~long] <= bp[~long] * (1 + 1e-12)).all()
    # MM fixed at entry is the bankruptcy price of the margin above it
    lpe = lq.liquidation_price(q, ep, m, rate, mm_at_entry=True, **kw)[normal]
    bpe = lq.bankruptcy_price(q[normal], e0, (m - mm_entry)[normal], **kw)
    close_prices(lpe, bpe, e0, p["inverse"], rtol=1e-12)


def test_lp_monotone_in_margin() -> None:
    m = np.linspace(10.0, 900.0, 50)
    lp_long = lq.liquidation_price(1.0, 1_000.0, m, 0.01)
    lp_short = lq.liquidation_price(-1.0, 1_000.0, m, 0.01)
    assert (np.diff(lp_long) < 0).all()
    assert (np.diff(lp_short) > 0).all()


# ---- MarginTiers ---------------------------------------------------------------------------------


def test_margin_tiers_api() -> None:
    t = lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)
    assert t == lq.MarginTiers(np.array(BINANCE_FLOORS, float), tuple(BINANCE_MMR))
    assert t != lq.MarginTiers([0, 50_000], [0.004, 0.005])
    assert (t == "x") is False
    assert hash(t) == hash(lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR))
    assert pickle.loads(pickle.dumps(t)) == t
    assert repr(t).startswith("MarginTiers(floors=[0.0, 50000.0")
    assert eval(repr(t), {"MarginTiers": lq.MarginTiers}) == t
    assert t.tier_of(0.0) == 0
    assert t.tier_of(50_000.0) == 1
    assert t.tier_of(49_999.99) == 0
    np.testing.assert_array_equal(t.tier_of([0.0, 1e6, 2e7]), [0, 3, 4])
    assert t.maintenance(100_000.0) == pytest.approx(100_000 * 0.005 - 50)
    # continuity at every floor
    for f, k in zip(BINANCE_FLOORS[1:], range(1, 5)):
        below = f * BINANCE_MMR[k - 1] - t.cum[k - 1]
        assert t.maintenance(f) == pytest.approx(below, rel=1e-12)
    t.floors[0] = 5.0  # properties are copies
    assert t.floors[0] == 0.0


def test_tiers_maintenance_matches_maintenance_margin() -> None:
    t = lq.MarginTiers(BINANCE_FLOORS, BINANCE_MMR)
    n = np.array([1.0, 49_999.0, 50_000.0, 3e5, 2e7])
    np.testing.assert_array_equal(t.maintenance(n), lq.maintenance_margin(1.0, n, tiers=t))


# ---- bad inputs ----------------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "size": 1.0,
    "entry_price": 100.0,
    "margin": 10.0,
    "mark": 100.0,
    "mmr": 0.01,
}
FUNCS = {
    "equity": (lq.equity, ["size", "entry_price", "margin", "mark"]),
    "maintenance_margin": (lq.maintenance_margin, ["size", "mark", "mmr"]),
    "bankruptcy_price": (lq.bankruptcy_price, ["size", "entry_price", "margin"]),
    "liquidation_price": (lq.liquidation_price, ["size", "entry_price", "margin", "mmr"]),
    "margin_ratio": (lq.margin_ratio, ["size", "entry_price", "margin", "mark", "mmr"]),
}
BAD = {
    "size": [(np.nan, "must be finite"), (np.inf, "must be finite"), (-np.inf, "must be finite")],
    "entry_price": [
        (0.0, r"must be finite and > 0"),
        (-1.0, r"must be finite and > 0"),
        (np.nan, r"must be finite and > 0"),
        (np.inf, r"must be finite and > 0"),
    ],
    "mark": [
        (0.0, r"must be finite and > 0"),
        (-5.0, r"must be finite and > 0"),
        (np.nan, r"must be finite and > 0"),
    ],
    "margin": [
        (-1.0, r"must be finite and >= 0"),
        (np.nan, r"must be finite and >= 0"),
        (np.inf, r"must be finite and >= 0"),
    ],
    "mmr": [
        (1.5, r"must be finite and >= 0 and <= 1"),
        (np.nextafter(1.0, 2.0), r"must be finite and >= 0 and <= 1"),
        (-0.01, r"must be finite and >= 0 and <= 1"),
        (np.nan, r"must be finite and >= 0 and <= 1"),
    ],
}


def _call(name: str, **over: Any) -> Any:
    f, args = FUNCS[name]
    vals = [over.get(a, GOOD[a]) for a in args]
    extra = {k: v for k, v in over.items() if k not in args}
    return f(*vals, **extra)


@pytest.mark.parametrize("func", list(FUNCS))
@pytest.mark.parametrize("inverse", [False, True])
def test_bad_values_name_argument_and_index(func: str, inverse: bool) -> None:
    kw = {"contract": "inverse"} if inverse else {}
    for arg in FUNCS[func][1]:
        for bad, msg in BAD[arg]:
            got = repr(float(bad)) if not np.isnan(bad) else "nan"
            got = {"inf": "inf", "-inf": "-inf"}.get(got, format(float(bad), ".17g"))
            # a scalar: no index
            with pytest.raises(ValueError, match=rf"^{arg} {msg} \(got {got}\)$"):
                _call(func, **{arg: bad}, **kw)
            # arrays: the first bad index (kernel path), with the other arguments scalar or arrays
            a = np.full(6, GOOD[arg])
            a[[3, 5]] = bad
            with pytest.raises(ValueError, match=rf"^{arg}\[3\] {msg} \(got {got}\)$"):
                _call(func, **{arg: a}, **kw)
            others = {o: np.full(6, GOOD[o]) for o in FUNCS[func][1] if o != arg}
            with pytest.raises(ValueError, match=rf"^{arg}\[3\] {msg}"):
                _call(func, **{arg: a}, **others, **kw)
            one = np.array([bad])
            with pytest.raises(ValueError, match=rf"^{arg}\[0\] {msg}"):
                _call(func, **{arg: one}, **kw)


def test_bad_values_with_tiers_and_first_argument_first() -> None:
    t = lq.MarginTiers([0, 10], [0.01, 0.02])
    with pytest.raises(ValueError, match=r"^entry_price\[2\] must be finite and > 0 \(got -1\)$"):
        lq.liquidation_price([1, 1, 1], [1, 1, -1], 1, tiers=t)
    with pytest.raises(ValueError, match=r"^size\[1\] must be finite"):
        lq.liquidation_price([1, np.nan, 1], [1, 1, -1], 1, tiers=t, mm_at_entry=True)
    with pytest.raises(ValueError, match=r"^mark\[0\] must be finite and > 0"):
        lq.maintenance_margin([1, 2], [0, 1], tiers=t)
    with pytest.raises(ValueError, match=r"^margin\[1\] must be finite and >= 0"):
        lq.margin_ratio([1, 2], 1, [0, -1], 1, tiers=t)


@pytest.mark.parametrize("func", list(FUNCS))
def test_length_mismatch_names_argument(func: str) -> None:
    args = FUNCS[func][1]
    over = {args[0]: np.full(3, GOOD[args[0]]), args[-1]: np.full(4, GOOD[args[-1]])}
    with pytest.raises(
        ValueError, match=rf"^{args[-1]} has length 4, expected 3 \(the length of {args[0]}\)"
    ):
        _call(func, **over)


@pytest.mark.parametrize("func", list(FUNCS))
def test_wrong_kinds_and_options(func: str) -> None:
    with pytest.raises(TypeError, match=r"^size must be a real number"):
        _call(func, size="1")
    with pytest.raises(TypeError, match=r"^size must be a real number"):
        _call(func, size=np.array(["a"]))
    with pytest.raises(ValueError, match=r"^size must have at most 1 dimension"):
        _call(func, size=np.ones((2, 2)))
    with pytest.raises(
        ValueError, match=r"^contract must be one of 'linear', 'inverse' \(got 'inv'\)"
    ):
        _call(func, contract="inv")
    for cs, msg in ((0.0, "0"), (-1.0, "-1"), (np.nan, "nan"), (np.inf, "inf")):
        with pytest.raises(
            ValueError, match=rf"^contract_size must be finite and > 0 \(got {msg}\)$"
        ):
            _call(func, contract_size=cs)
    for cs in ("1", [1.0], None):
        with pytest.raises(TypeError, match=r"^contract_size must be a real number"):
            _call(func, contract_size=cs)


@pytest.mark.parametrize("func", ["maintenance_margin", "liquidation_price", "margin_ratio"])
def test_tiers_argument(func: str) -> None:
    t = lq.MarginTiers([0, 10], [0.01, 0.02])
    with pytest.raises(TypeError, match=r"^tiers must be a MarginTiers or None"):
        _call(func, tiers=[[0, 10], [0.01, 0.02]])
    for mmr in (0.02, 0.005, 0.0):  # any explicit mmr, the default's value included
        with pytest.raises(ValueError, match=r"^pass either mmr or tiers, not both: they are ex"):
            _call(func, tiers=t, mmr=mmr)
    _call(func, tiers=t, mmr=None)  # None is "not given" (the default)


def test_mm_at_entry_must_be_bool() -> None:
    with pytest.raises(TypeError, match=r"^mm_at_entry must be a bool"):
        lq.liquidation_price(1.0, 1.0, 0.1, mm_at_entry="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("floors", "mmr", "exc", "msg"),
    [
        ([], [], ValueError, r"^floors must have at least one tier$"),
        ([0, 10], [0.01], ValueError, r"^mmr has length 1, expected 2 \(the length of floors\)$"),
        ([1, 10], [0.01, 0.02], ValueError, r"^floors\[0\] must be 0 \(got 1\)$"),
        (
            [0, 10, 10],
            [0.01, 0.02, 0.03],
            ValueError,
            r"^floors\[2\] must be strictly increasing \(got 10\)$",
        ),
        (
            [0, 10, 5],
            [0.01, 0.02, 0.03],
            ValueError,
            r"^floors\[2\] must be strictly increasing \(got 5\)$",
        ),
        ([0, np.nan], [0.01, 0.02], ValueError, r"^floors\[1\] must be finite \(got nan\)$"),
        ([0, np.inf], [0.01, 0.02], ValueError, r"^floors\[1\] must be finite \(got inf\)$"),
        (
            [0, 10],
            [0.01, 1.5],
            ValueError,
            r"^mmr\[1\] must be finite and >= 0 and <= 1 \(got 1.5\)$",
        ),
        (
            [0, 10],
            [-0.01, 0.1],
            ValueError,
            r"^mmr\[0\] must be finite and >= 0 and <= 1 \(got -0.01\)$",
        ),
        (
            [0, 10],
            [0.01, np.nan],
            ValueError,
            r"^mmr\[1\] must be finite and >= 0 and <= 1 \(got nan\)$",
        ),
        (["a"], [0.01], TypeError, r"^floors must be a real number"),
        ([0], {"a": 1}, TypeError, r"^mmr must be a real number"),
        ([[0, 1]], [0.01], ValueError, r"^floors must have at most 1 dimension"),
    ],
)
def test_margin_tiers_bad(floors: Any, mmr: Any, exc: type, msg: str) -> None:
    with pytest.raises(exc, match=msg):
        lq.MarginTiers(floors, mmr)


def test_tier_helpers_bad_notional() -> None:
    t = lq.MarginTiers([0, 10], [0.01, 0.02])
    with pytest.raises(ValueError, match=r"^notional\[1\] must be finite and >= 0 \(got -1\)$"):
        t.maintenance([1.0, -1.0])
    with pytest.raises(ValueError, match=r"^notional must be finite and >= 0 \(got nan\)$"):
        t.tier_of(np.nan)


def test_core_checks_lengths_itself() -> None:
    from liqcore import _core

    with pytest.raises(ValueError, match=r"^entry_price has length 2, expected 3 or 1$"):
        _core.bankruptcy_price(np.ones(3), np.ones(2), np.ones(3), False, 1.0)
    with pytest.raises(ValueError, match=r"^tiers.floors\[1\] must be strictly increasing"):
        _core.Tiers(np.array([0.0, 0.0]), np.array([0.1, 0.2]))


# ---- initial margin (docs/model.md §1): dYdX v4's published vectors ---------------------------
#
# protocol/x/perpetuals/types/liquidity_tier_test.go, TestGetInitialMarginQuoteQuantums: quote
# quantums as the notional (size 1 at mark = quantums), the expected IMR rounded up by dYdX.

DYDX_IMR_VECTORS = [
    # (base IMF, quote quantums, open interest, lower cap, upper cap, expected IMR)
    (0.2, 500_000, None, 0, 0, 100_000),
    (0.5, 1_000_000, None, 0, 0, 500_000),
    (0.1, 1, None, 0, 0, 1),  # 0.1 rounds up to 1
    (0.567243, 123_456, None, 0, 0, 70_030),  # 70,029.55 rounds up
    (0.2, 500_000, 1_500_000_000_000, 0, 0, 100_000),  # upper cap 0: no OIMF
    (0.2, 500_000, 1_500_000_000_000, 1_000_000_000_000, 2_000_000_000_000, 300_000),  # 60%
    (0.2, 500_000, 80_000_000_000_000, 25_000_000_000_000, 50_000_000_000_000, 500_000),
    (0.2, 500_000, 25_000_000_000_000, 25_000_000_000_000, 50_000_000_000_000, 100_000),
    (0.2, 500_000, 28_123_456_789_123, 25_000_000_000_000, 60_000_000_000_000, 135_697),
]


@pytest.mark.parametrize(("imf", "quantums", "oi", "lo", "hi", "expected"), DYDX_IMR_VECTORS)
def test_initial_margin_dydx_vectors(
    imf: float, quantums: float, oi: float | None, lo: float, hi: float, expected: int
) -> None:
    caps = None if oi is None else (lo, hi)
    im = lq.initial_margin(1.0, float(quantums), imf, open_interest=oi, oi_caps=caps)
    assert isinstance(im, float)
    assert im <= quantums
    assert math.ceil(im - 1e-9 * quantums) == expected  # dYdX rounds the IMR up to a quantum


@pytest.mark.parametrize(
    ("oi", "expected_ppm"),
    [
        # TestGetAdjustedInitialMarginPpm: base 20%, caps 1,000,000 / 2,000,000
        (0, 200_000),
        (1_500_000, 600_000),
        (1_234_567, 387_653),  # 0.3876536, truncated to ppm by dYdX
        (1_000_000, 200_000),
        (2_000_000, 1_000_000),
        (2_500_000, 1_000_000),
    ],
)
def test_initial_margin_fraction_dydx_vectors(oi: float, expected_ppm: int) -> None:
    f = lq.initial_margin_fraction(1.0, 0.2, open_interest=oi, oi_caps=(1_000_000, 2_000_000))
    assert math.floor(f * 1e6 + 1e-7) == expected_ppm
    assert lq.initial_margin_fraction(1.0, 0.2, open_interest=oi, oi_caps=(0, 0)) == 0.2


def ref_imf(n: np.ndarray, base: np.ndarray, oi: float | None, lo: float, hi: float) -> np.ndarray:
    """docs/model.md §1: base below the lower cap, 1 from the upper cap, linear between."""
    if oi is None or hi == 0 or oi <= lo:
        return base + 0 * n
    if oi >= hi:
        return np.ones_like(base + 0 * n)
    return np.minimum(base + (oi - lo) / (hi - lo) * (1 - base), 1.0) + 0 * n


@given(
    st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20),
    st.floats(1.0, 1e5),
    st.floats(0.0, 1.0),
    st.floats(0.0, 3e6),
    st.booleans(),
)
def test_initial_margin_matches_reference(
    q: list[float], p: float, imf: float, oi: float, inverse: bool
) -> None:
    qa = np.array(q)
    contract = "inverse" if inverse else "linear"
    n = ref_notional(qa, p, inverse, 100.0)
    expected = n * ref_imf(n, np.full(len(q), imf), oi, 1e6, 2e6)
    got = lq.initial_margin(qa, p, imf, open_interest=oi, oi_caps=(1e6, 2e6), contract=contract,
                            contract_size=100.0)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert np.all(got <= n * (1 + 1e-15))


def test_initial_margin_tiers_and_per_position_rates() -> None:
    # leverage brackets: 125x to 50k, 100x to 250k, 50x above; the whole notional at its rate
    t = lq.MarginTiers([0, 50_000, 250_000], [0.008, 0.01, 0.02])
    got = lq.initial_margin([1.0, -2.0, 10.0], 30_000.0, tiers=t)
    np.testing.assert_allclose(got, [30_000 * 0.008, 60_000 * 0.01, 300_000 * 0.02], rtol=1e-15)
    assert lq.initial_margin_fraction(50_000.0, tiers=t) == 0.01  # a floor opens its tier
    assert 1 / lq.initial_margin_fraction(10_000.0, tiers=t) == 125.0  # max leverage
    got = lq.initial_margin([1.0, 2.0], [100.0, 100.0], [0.1, 1.0])
    np.testing.assert_array_equal(got, [10.0, 200.0])
    assert lq.initial_margin(0.0, 100.0, 0.1) == 0.0
    # dYdX's BTC-USD "Large-Cap" tier through the policy: 5% initial, 3% maintenance
    d = lq.Policy.dydx()
    assert (d.imr, d.mmr) == (0.05, 0.03)
    assert lq.initial_margin(2.0, 50_000.0, d.imr) == pytest.approx(5_000.0)
    p = lq.Policy(imr=0.2, oi_caps=(1e6, 2e6))
    im = lq.initial_margin(1.0, 500_000.0, p.imr, open_interest=1.5e6, oi_caps=p.oi_caps)
    assert im == pytest.approx(300_000.0)
    assert lq.Policy.from_json(p.to_json()) == p


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({}, ValueError, r"initial margin needs a rate: pass imr"),
        ({"imr": 1.5}, ValueError, r"^imr must be finite and >= 0 and <= 1 \(got 1.5\)$"),
        ({"imr": [0.1, -0.1]}, ValueError, r"^imr\[1\] must be finite and >= 0 and <= 1"),
        ({"imr": [0.1, 0.1, 0.1]}, ValueError, r"imr has length 3, expected 2"),
        ({"imr": 0.1, "tiers": lq.MarginTiers([0], [0.1])}, ValueError, r"pass either imr or"),
        ({"tiers": [0.1]}, TypeError, r"tiers must be a MarginTiers"),
        ({"imr": 0.1, "open_interest": 5.0}, ValueError, r"open_interest and oi_caps go together"),
        ({"imr": 0.1, "oi_caps": (1, 2)}, ValueError, r"open_interest and oi_caps go together"),
        ({"imr": 0.1, "open_interest": -1.0, "oi_caps": (1, 2)}, ValueError, r"open_interest must"),
        ({"imr": 0.1, "open_interest": 1.0, "oi_caps": (3, 2)}, ValueError, r"oi_caps\[0\] must"),
        ({"imr": 0.1, "open_interest": 1.0, "oi_caps": 3}, TypeError, r"oi_caps must be a \(lower"),
        ({"imr": 0.1, "open_interest": 1.0, "oi_caps": (0, math.nan)}, ValueError, r"oi_caps\[1\]"),
        ({"imr": 0.1, "open_interest": "1", "oi_caps": (0, 1)}, TypeError, r"open_interest must"),
    ],
)
def test_initial_margin_bad_inputs(kwargs: dict[str, Any], err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        lq.initial_margin([1.0, 2.0], [100.0, 100.0], **kwargs)


def test_initial_margin_bad_positions() -> None:
    with pytest.raises(ValueError, match=r"^mark\[1\] must be finite and > 0"):
        lq.initial_margin([1.0, 1.0], [100.0, 0.0], 0.1)
    with pytest.raises(ValueError, match=r"^size\[0\] must be finite"):
        lq.initial_margin([np.nan, 1.0], [100.0, 1.0], 0.1)
    with pytest.raises(ValueError, match=r"notional is beyond the float range"):
        lq.initial_margin([1e300], [1e300], 0.1)
    with pytest.raises(ValueError, match=r"Policy.oi_caps scales the initial margin"):
        lq.Policy(oi_caps=(1, 2))
    with pytest.raises(ValueError, match=r"Policy.oi_caps must have lower <= upper"):
        lq.Policy(imr=0.1, oi_caps=(3, 2))
    with pytest.raises(ValueError, match=r"Policy.oi_caps\[1\] must be finite and >= 0"):
        lq.Policy(imr=0.1, oi_caps=(0, math.inf))
    with pytest.raises(TypeError, match=r"Policy.oi_caps must be None or a \(lower, upper\)"):
        lq.Policy(imr=0.1, oi_caps=3)


# ---- mmr = 1 (dYdX's largest maintenance fraction): the limit of the liquidation price ----------


def test_mmr_one_linear() -> None:
    # long 1 @ 100: E − MM = M − 100 at every price (liquidatable at every price iff M < 100)
    assert lq.liquidation_price(1.0, 100.0, 50.0, 1.0) == math.inf  # always
    assert lq.liquidation_price(1.0, 100.0, 150.0, 1.0) == 0.0  # never
    assert lq.liquidation_price(1.0, 100.0, 100.0, 1.0) == 0.0  # E = MM: never (strict)
    # short 1 @ 100: E − MM = M + 100 − 2P, root (M + 100)/2
    assert lq.liquidation_price(-1.0, 100.0, 50.0, 1.0) == 75.0
    # the array kernel agrees, threads and all
    q = np.array([1.0, 1.0, -1.0, 0.0] * 300)
    m = np.array([50.0, 150.0, 50.0, 10.0] * 300)
    lp = lq.liquidation_price(q, 100.0, m, 1.0, threads=3)
    np.testing.assert_array_equal(lp[:4], [math.inf, 0.0, 75.0, math.nan])
    np.testing.assert_array_equal(lp, np.tile(lp[:4], 300))
    # detection agrees: margin ratio MM/E > 1 iff liquidatable
    for mark in (1.0, 100.0, 1e6):
        assert lq.margin_ratio(1.0, 100.0, 50.0, mark, 1.0) > 1.0
        assert lq.margin_ratio(1.0, 100.0, 150.0, mark, 1.0) < 1.0
        assert lq.maintenance_margin(1.0, mark, 1.0) == mark  # MM = notional


def test_mmr_one_inverse() -> None:
    # inverse short of 100 contracts of $1 at 100 (1 coin of notional): E − MM = M − 1 coin
    kw: dict[str, Any] = {"contract": "inverse", "contract_size": 1.0}
    assert lq.liquidation_price(-100.0, 100.0, 0.5, 1.0, **kw) == 0.0  # always
    assert lq.liquidation_price(-100.0, 100.0, 2.0, 1.0, **kw) == math.inf  # never
    # inverse long: the root of M − 100/100 + 100/P·... = 100/P: P = 2·100·100/(100 + 100·M)
    lp = lq.liquidation_price(100.0, 100.0, 0.5, 1.0, **kw)
    assert lp == pytest.approx(2 * 100 * 100 / (100 + 0.5 * 100), rel=1e-15)
    e = ref_equity(100.0, 100.0, 0.5, lp, True, 1.0)
    assert float(e) == pytest.approx(float(ref_mm(100.0, lp, 1.0, inverse=True)), rel=1e-12)


def test_mmr_one_tiers_and_large_values() -> None:
    # a top tier of 100% from notional 1,000 (cum 900): a long 10 @ 100 with margin 200 has
    # E − MM = 100 in that tier (P >= 100) and 9P − 800 below it: the root is in the 10% tier
    t = lq.MarginTiers([0, 1_000], [0.1, 1.0])
    lp = lq.liquidation_price(10.0, 100.0, 200.0, tiers=t)
    assert lp == pytest.approx((10 * 100 - 200) / (10 * (1 - 0.1)), rel=1e-15)
    # a short whose root lies in the 100% tier: E − MM = 300 + 10·(100 − P) − (10P − 900)
    lp = lq.liquidation_price(-10.0, 100.0, 300.0, tiers=t)
    assert lp == pytest.approx((300 + 1000 + 900) / 20, rel=1e-15)
    # a long above the top floor at entry whose E − MM is constant there: liquidatable (+inf)
    assert lq.liquidation_price(20.0, 100.0, 100.0, tiers=t) == math.inf
    # huge positions take the long-double path and still give the limit
    assert lq.liquidation_price(1e200, 1e200, 1.0, 1.0) == math.inf
    assert lq.liquidation_price([1e200, 1.0], [1e200, 100.0], [1.0, 150.0], [1.0, 1.0]).tolist() \
        == [math.inf, 0.0]
    assert lq.liquidation_price(-1e200, 1e200, 0.0, 1.0, contract="inverse") == 0.0


def test_mmr_one_through_liquidation_and_cascade() -> None:
    # liquidatable iff E < MM = notional: the 50-margin long and short and the 2x long
    pos = lq.Positions([1.0, 1.0, -1.0, 2.0], [100.0] * 4, [50.0, 150.0, 50.0, 30.0])
    book = lq.synthetic_book(100.0, levels=50)
    res = lq.liquidate(pos, book, 100.0, lq.Policy(mmr=1.0))
    assert res.liquidated.tolist() == [True, False, True, True]
    casc = lq.simulate_cascade(pos, book, 100.0, -0.05, lq.Policy(mmr=1.0))
    assert math.isfinite(casc.bad_debt)
    assert int(casc.liquidated.sum()) == 3
    # the cascade's index keeps "always" positions: a linear long at LP = +inf (found by
    # Hypothesis against tests/model_reference.py) and an inverse short at LP = 0
    pos = lq.Positions([-4.0, 0.5], [50.0, 50.0], [0.0, 0.0])
    casc = lq.simulate_cascade(pos, lq.Book([], [], [], []), 80.0, -0.05, lq.Policy(mmr=1.0))
    assert casc.liquidated.tolist() == [True, True]
    inv = lq.Policy(mmr=1.0, contract="inverse", price_band=0.5)
    pos = lq.Positions([-100.0], [100.0], [0.5])
    assert lq.liquidation_price(-100.0, 100.0, 0.5, 1.0, contract="inverse") == 0.0
    casc = lq.simulate_cascade(pos, lq.synthetic_book(100.0, levels=50), 100.0, 0.01, inv)
    assert casc.liquidated.tolist() == [True]
