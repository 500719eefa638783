"""Liquidation maps: lq.liquidation_map against hand-checked cases and a direct NumPy reference."""

from __future__ import annotations

import sys

import liqcore as lq
import numpy as np
import pytest

MARK = 60_000.0


def _tiny() -> lq.Positions:
    # mmr 0: linear LP = EP - M / size (the bankruptcy price)
    return lq.Positions(
        size=[1.0, -2.0, 1.0, 1.0, 0.0, -1.0],
        entry_price=[100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
        margin=[10.0, 20.0, 0.5, 100.0, 5.0, 4.0],
    )


def test_hand_checked() -> None:
    # long LP 90 (notional at LP 90), short LP 110 (2 * 110 = 220), long LP 99.5 (at mark 99.7:
    # not yet; 99.5), long 1x (LP 0: never), flat (NaN: out), short LP 104 (104)
    m = lq.liquidation_map(_tiny(), [80.0, 85.0, 95.0, 105.0, 115.0, 120.0], mark=99.7, mmr=0.0)
    np.testing.assert_allclose(m.liquidation_prices[[0, 1, 2, 5]], [90.0, 110.0, 99.5, 104.0])
    assert m.liquidation_prices[3] == 0.0
    assert np.isnan(m.liquidation_prices[4])
    np.testing.assert_allclose(m.long, [0.0, 90.0, 99.5, 0.0, 0.0])
    np.testing.assert_allclose(m.short, [0.0, 0.0, 104.0, 220.0, 0.0])
    # longs between each lower edge and the mark; shorts between the mark and each upper edge
    np.testing.assert_allclose(m.long_cumulative, [189.5, 189.5, 99.5, 0.0, 0.0])
    np.testing.assert_allclose(m.short_cumulative, [0.0, 0.0, 104.0, 324.0, 324.0])
    assert m.long_now == 0.0
    assert m.short_now == 0.0
    assert len(m) == 5
    assert m.mark == 99.7
    assert m.contract == "linear"
    np.testing.assert_allclose(m.centers, [82.5, 90.0, 100.0, 110.0, 117.5])


def test_already_liquidatable_and_outside_the_edges() -> None:
    # mark 99.0: the long with LP 99.5 is liquidatable now; edges entirely below the mark
    m = lq.liquidation_map(_tiny(), [80.0, 85.0, 95.0], mark=99.0, mmr=0.0)
    assert m.long_now == pytest.approx(99.5)
    np.testing.assert_allclose(m.long, [0.0, 90.0])
    np.testing.assert_allclose(m.long_cumulative, [90.0, 90.0])
    # the shorts (LP 104, 110) lie above the mark, but every upper edge (85, 95) is below it
    np.testing.assert_allclose(m.short, [0.0, 0.0])
    np.testing.assert_allclose(m.short_cumulative, [0.0, 0.0])
    # mark 60 below every edge: the shorts between 60 and the first edge count cumulatively
    pos = lq.Positions(size=[-1.0, -1.0], entry_price=[70.0, 70.0], margin=[5.0, 20.0])
    m2 = lq.liquidation_map(pos, [80.0, 90.0, 100.0], mark=60.0, mmr=0.0)  # LPs 75 and 90
    np.testing.assert_allclose(m2.short, [0.0, 90.0])
    np.testing.assert_allclose(m2.short_cumulative, [75.0, 165.0])
    np.testing.assert_allclose(m2.long_cumulative, [0.0, 0.0])
    # a short already past its LP at the mark
    m3 = lq.liquidation_map(pos, [80.0, 90.0], mark=80.0, mmr=0.0)
    assert m3.short_now == pytest.approx(75.0)


def _reference(
    pos: lq.Positions, edges: np.ndarray, mark: float, **kw: object
) -> dict[str, object]:
    """The definition, written with np.histogram and boolean masks."""
    lp = np.asarray(lq.liquidation_price(pos.size, pos.entry_price, pos.margin, **kw))
    q = pos.size
    inverse = kw.get("contract") == "inverse"
    w = np.abs(q) * (float(kw.get("contract_size", 1.0)) / lp if inverse else lp)
    ok = np.isfinite(lp) & (lp > 0)
    longs = ok & (q > 0) & (lp < mark)
    shorts = ok & (q < 0) & (lp > mark)
    long_hist, _ = np.histogram(lp[longs], edges, weights=w[longs])
    short_hist, _ = np.histogram(lp[shorts], edges, weights=w[shorts])
    long_cum = np.array([w[longs & (lp >= e)].sum() for e in edges[:-1]])
    hi = [lp < e for e in edges[1:-1]] + [lp <= edges[-1]]
    short_cum = np.array([w[shorts & h].sum() for h in hi])
    return {
        "long": long_hist,
        "short": short_hist,
        "long_cumulative": long_cum,
        "short_cumulative": short_cum,
        "long_now": w[ok & (q > 0) & ~longs].sum(),
        "short_now": w[ok & (q < 0) & ~shorts].sum(),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "case",
    [
        {"bins": 50},
        {"bins": 7, "span": 0.5},
        {"prices": np.r_[30_000.0, np.linspace(50_000, 70_000, 41), 90_000]},
        {"prices": np.linspace(40_000, 55_000, 16)},  # all below the mark
        {"bins": 30, "tiers": "tiers"},
        {"bins": 30, "contract": "inverse"},
    ],
)
def test_matches_numpy_reference(seed: int, case: dict[str, object]) -> None:
    pos = lq.synthetic_positions(4_000, mark=MARK, seed=seed, entry_dispersion=0.05)
    # add some positions liquidatable at the mark (the health filter dropped them)
    extra = lq.synthetic_positions(
        300, mark=MARK, seed=seed + 100, entry_dispersion=0.05, only_healthy=False
    )
    pos = lq.Positions(
        np.r_[pos.size, extra.size], np.r_[pos.entry_price, extra.entry_price],
        np.r_[pos.margin, extra.margin],
    )
    kw: dict[str, object] = {}
    case = dict(case)
    if case.pop("tiers", None):
        kw["tiers"] = lq.MarginTiers(floors=[0, 50_000, 250_000], mmr=[0.004, 0.005, 0.01])
    else:
        kw["mmr"] = 0.006
    if "contract" in case:
        kw["contract"] = case.pop("contract")
        kw["contract_size"] = 100.0
        # inverse sizes are contracts of 100 quote each: make them whole numbers of contracts
        pos = lq.Positions(np.round(pos.size * MARK / 100.0), pos.entry_price, pos.margin / MARK)
    m = lq.liquidation_map(
        pos, case.get("prices"), mark=MARK, bins=case.get("bins"),  # type: ignore[arg-type]
        span=case.get("span", 0.2), **kw,  # type: ignore[arg-type]
    )
    edges = m.edges
    if "prices" not in case:
        span = m_span(case)
        np.testing.assert_allclose(edges[[0, -1]], [MARK * (1 - span), MARK * (1 + span)])
    ref = _reference(pos, edges, MARK, **kw)
    for k in ("long", "short", "long_cumulative", "short_cumulative"):
        np.testing.assert_allclose(getattr(m, k), ref[k], rtol=1e-12, atol=1e-6, err_msg=k)
    assert m.long_now == pytest.approx(ref["long_now"], rel=1e-12, abs=1e-9)
    assert m.short_now == pytest.approx(ref["short_now"], rel=1e-12, abs=1e-9)
    assert m.long.sum() > 0 or "prices" in case


def m_span(case: dict[str, object]) -> float:
    return float(case.get("span", 0.2))  # type: ignore[arg-type]


def test_arrays_are_read_only_and_frame() -> None:
    m = lq.liquidation_map(lq.synthetic_positions(500, mark=MARK), mark=MARK, bins=10)
    for k in ("edges", "long", "short", "long_cumulative", "short_cumulative",
              "liquidation_prices", "centers"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(m, k)[0] = 1.0
    pytest.importorskip("pandas")
    f = m.to_frame()
    assert list(f.columns) == ["price_low", "price_high", "long", "short", "long_cumulative",
                               "short_cumulative"]
    assert len(f) == 10
    np.testing.assert_array_equal(f["long"].to_numpy(), m.long)
    d = m.to_dict()
    assert d["edges"] == m.edges.tolist()
    assert d["mark"] == MARK
    assert "LiquidationMap(bins=10" in repr(m)


def test_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = lq.liquidation_map(lq.synthetic_positions(500, mark=MARK), mark=MARK, bins=10)
    ax = m.plot()
    assert ax.get_title() == "Liquidation map"
    _fig, ax2 = plt.subplots()
    assert m.plot(ax=ax2) is ax2
    plt.close("all")
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"liqcore\[plot\]"):
        m.plot()


def test_default_bins_and_empty() -> None:
    m = lq.liquidation_map(lq.Positions([], [], []), mark=MARK)
    assert len(m) == 100
    assert m.long.sum() == 0
    assert m.long_now == 0.0


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "message"),
    [
        ((), {"mark": float("nan")}, ValueError, "mark must be finite and > 0"),
        (([1.0, 2.0, 2.0],), {"mark": 1.0}, ValueError, r"prices\[2\] must be > prices\[1\]"),
        (([1.0, -2.0],), {"mark": 1.0}, ValueError, r"prices\[1\] must be finite and > 0"),
        (([1.0],), {"mark": 1.0}, ValueError, "at least 2 bin edges"),
        (([1.0, 2.0],), {"mark": 1.0, "bins": 3}, ValueError, "either prices"),
        ((), {"mark": 1.0, "bins": 0}, ValueError, "bins must be in"),
        ((), {"mark": 1.0, "bins": 2.0}, TypeError, "bins must be an int"),
        ((), {"mark": 1.0, "span": 1.0}, ValueError, r"span must be in \(0, 1\)"),
        ((), {"mark": 1.0, "contract": "swap"}, ValueError, "contract must be one of"),
        ((), {"mark": 1.0, "mmr": 1.5}, ValueError, "mmr"),
    ],
)
def test_validation(args: tuple[object, ...], kwargs: dict[str, object], exc: type,
                    message: str) -> None:
    with pytest.raises(exc, match=message):
        lq.liquidation_map(_tiny(), *args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"positions must be a liqcore\.Positions"):
        lq.liquidation_map("x", mark=1.0)  # type: ignore[arg-type]
