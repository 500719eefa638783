"""Synthetic position populations: lq.synthetic_positions, lq.calibrate_positions."""

from __future__ import annotations

import liqcore as lq
import numpy as np
import pytest
from liqcore.population import DEFAULT_LEVERAGE, Discrete, LogNormal

MARK = 60_000.0


def _old_demo_positions(seed: int, n: int, mark: float) -> lq.Positions:
    """The demo's generator as it was before synthetic_positions (verbatim): the reference."""
    rng = np.random.default_rng([int(seed), 0x11C0])
    m = int(n * 1.3) + 16
    side = np.where(rng.random(m) < 0.55, 1.0, -1.0)
    notional = np.clip(rng.lognormal(np.log(5_000.0), 1.5, m), 50.0, 5e6)
    leverage = np.clip(rng.lognormal(np.log(10.0), 0.55, m), 2.0, 100.0)
    entry = mark * rng.lognormal(0.0, 0.02, m)
    size = side * notional / entry
    margin = notional / leverage
    healthy = margin + size * (mark - entry) >= 0.005 * np.abs(size) * mark
    keep = np.flatnonzero(healthy)[:n]
    return lq.Positions(
        np.ascontiguousarray(size[keep]),
        np.ascontiguousarray(entry[keep]),
        np.ascontiguousarray(margin[keep]),
        account=np.arange(keep.shape[0], dtype=np.int64),
    )


@pytest.mark.parametrize(("seed", "n"), [(0, 20_000), (3, 5_000), (11, 7)])
def test_demo_market_is_unchanged(seed: int, n: int) -> None:
    from liqcore.demo import default_market

    pos, _, mark, _ = default_market(seed=seed, n=n)
    assert pos == _old_demo_positions(seed, n, mark)


def _sides(pos: lq.Positions, mark: float) -> tuple[float, float]:
    q = pos.size
    return float(np.abs(q[q > 0]).sum() * mark), float(np.abs(q[q < 0]).sum() * mark)


@pytest.mark.parametrize(
    ("oi", "ratio", "seed"),
    [(1e9, 1.0, 0), (2.5e8, 1.7, 1), (3e6, 0.4, 2), (1e12, 1.0, 3), (123_456.789, 2.0, 4)],
)
def test_targets_are_hit(oi: float, ratio: float, seed: int) -> None:
    pos = lq.synthetic_positions(
        5_000, mark=MARK, open_interest=oi, long_short_ratio=ratio, seed=seed
    )
    longs, shorts = _sides(pos, MARK)
    assert len(pos) == 5_000
    assert abs((longs + shorts) / oi - 1.0) < 1e-9
    assert abs((longs / shorts) / ratio - 1.0) < 1e-9


def test_one_target_keeps_the_other() -> None:
    raw = lq.synthetic_positions(3_000, mark=MARK, long_fraction=0.6, seed=5)
    l0, s0 = _sides(raw, MARK)
    only_oi = lq.synthetic_positions(
        3_000, mark=MARK, long_fraction=0.6, seed=5, open_interest=1e8
    )
    l1, s1 = _sides(only_oi, MARK)
    assert abs((l1 + s1) / 1e8 - 1) < 1e-9
    assert abs((l1 / s1) / (l0 / s0) - 1) < 1e-9
    only_ratio = lq.synthetic_positions(
        3_000, mark=MARK, long_fraction=0.6, seed=5, long_short_ratio=0.5
    )
    l2, s2 = _sides(only_ratio, MARK)
    assert abs((l2 + s2) / (l0 + s0) - 1) < 1e-9
    assert abs(l2 / s2 / 0.5 - 1) < 1e-9


def test_calibration_keeps_entry_leverage_and_liquidation_prices() -> None:
    raw = lq.synthetic_positions(2_000, mark=MARK, seed=8)
    cal = lq.calibrate_positions(raw, mark=MARK, open_interest=5e7, long_short_ratio=3.0)
    np.testing.assert_array_equal(cal.entry_price, raw.entry_price)
    np.testing.assert_array_equal(cal.account, raw.account)
    lev_raw = np.abs(raw.size) * raw.entry_price / raw.margin
    lev_cal = np.abs(cal.size) * cal.entry_price / cal.margin
    np.testing.assert_allclose(lev_cal, lev_raw, rtol=1e-13)
    np.testing.assert_allclose(
        lq.liquidation_price(cal.size, cal.entry_price, cal.margin),
        lq.liquidation_price(raw.size, raw.entry_price, raw.margin),
        rtol=1e-12,
    )
    assert lq.calibrate_positions(raw, mark=MARK) is raw  # no target: unchanged


def test_deterministic_and_seeded() -> None:
    kw = {"mark": MARK, "open_interest": 1e9, "long_short_ratio": 1.2}
    a = lq.synthetic_positions(4_000, seed=9, **kw)  # type: ignore[arg-type]
    b = lq.synthetic_positions(4_000, seed=9, **kw)  # type: ignore[arg-type]
    for col in ("size", "entry_price", "margin", "account"):
        assert getattr(a, col).tobytes() == getattr(b, col).tobytes()
    c = lq.synthetic_positions(4_000, seed=10, **kw)  # type: ignore[arg-type]
    assert not np.array_equal(a.size, c.size)


def test_defaults_and_health() -> None:
    pos = lq.synthetic_positions(20_000, mark=MARK, seed=1)
    assert len(pos) == 20_000
    np.testing.assert_array_equal(pos.account, np.arange(20_000))
    lev = np.abs(pos.size) * pos.entry_price / pos.margin
    # every leverage is one of the default settings (up to the rounding of size * entry)
    nearest = DEFAULT_LEVERAGE.values[np.argmin(np.abs(lev[:, None] - DEFAULT_LEVERAGE.values), 1)]
    np.testing.assert_allclose(lev, nearest, rtol=1e-12)
    notional = np.abs(pos.size) * pos.entry_price
    assert notional.min() >= 50.0 * (1 - 1e-12)
    assert notional.max() <= 5e6 * (1 + 1e-12)
    eq = pos.margin + pos.size * (MARK - pos.entry_price)
    assert (eq >= 0.005 * np.abs(pos.size) * MARK).all()


def test_distributions_sample_as_documented() -> None:
    n = 200_000
    pos = lq.synthetic_positions(n, mark=MARK, only_healthy=False, entry_dispersion=0.0, seed=2)
    np.testing.assert_array_equal(pos.entry_price, np.full(n, MARK))
    lev = np.abs(pos.size) * MARK / pos.margin
    w = DEFAULT_LEVERAGE.weights / DEFAULT_LEVERAGE.weights.sum()
    for v, p in zip(DEFAULT_LEVERAGE.values, w):
        share = np.mean(np.isclose(lev, v, rtol=1e-9))
        assert abs(share - p) < 5 * np.sqrt(p * (1 - p) / n)
    notional = np.abs(pos.size) * MARK
    # median of the clipped log-normal is the median (the clipping is far in the tails)
    assert abs(np.median(notional) / 5_000.0 - 1) < 0.02
    assert abs(np.mean(pos.size > 0) - 0.5) < 0.01
    ln = LogNormal(100.0, 0.0, low=150.0)
    assert (ln._sample(np.random.default_rng(0), 5) == 150.0).all()


def test_tiers_filter_and_leverage_mix() -> None:
    tiers = lq.MarginTiers(floors=[0, 50_000, 250_000], mmr=[0.004, 0.005, 0.01])
    mix = Discrete([50.0, 100.0], [1.0, 1.0])
    pos = lq.synthetic_positions(3_000, mark=MARK, leverage=mix, tiers=tiers, seed=4)
    mm = lq.maintenance_margin(pos.size, MARK, tiers=tiers)
    eq = lq.equity(pos.size, pos.entry_price, pos.margin, MARK)
    assert len(pos) == 3_000
    assert (eq >= mm * (1 - 1e-12)).all()


def test_empty_population() -> None:
    assert len(lq.synthetic_positions(0, mark=MARK)) == 0
    with pytest.raises(ValueError, match="open_interest cannot be reached"):
        lq.synthetic_positions(0, mark=MARK, open_interest=1e6)


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"n": -1}, ValueError, "n must be an int >= 0"),
        ({"n": 2.5}, TypeError, "n must be an int"),
        ({"mark": 0.0}, ValueError, "mark must be finite and > 0"),
        ({"mark": "1"}, TypeError, "mark must be a real number"),
        ({"open_interest": -1.0}, ValueError, "open_interest must be finite and > 0"),
        ({"long_short_ratio": float("nan")}, ValueError, "long_short_ratio must be finite"),
        ({"long_fraction": 1.5}, ValueError, r"long_fraction must be in \[0, 1\]"),
        ({"notional": (5_000, 1.5)}, TypeError, "notional must be a liqcore.population"),
        ({"leverage": 10.0}, TypeError, "leverage must be a liqcore.population"),
        ({"entry_dispersion": -0.1}, ValueError, "entry_dispersion must be finite and >= 0"),
        ({"mmr": 1.5}, ValueError, "mmr must be finite and in"),
        ({"seed": -3}, ValueError, "seed must be an int >= 0"),
        ({"seed": 1.0}, TypeError, "seed must be an int"),
        ({"only_healthy": 1}, TypeError, "only_healthy must be a bool"),
        ({"tiers": "x"}, TypeError, "tiers must be a MarginTiers"),
        (
            {"tiers": lq.MarginTiers([0.0], [0.01]), "mmr": 0.01},
            ValueError,
            "pass either mmr or tiers",
        ),
        ({"long_fraction": 1.0, "long_short_ratio": 1.0}, ValueError, "no short positions"),
        ({"long_fraction": 0.0, "long_short_ratio": 1.0}, ValueError, "no long positions"),
    ],
)
def test_validation(kwargs: dict[str, object], exc: type, message: str) -> None:
    args: dict[str, object] = {"n": 100, "mark": MARK, **kwargs}
    with pytest.raises(exc, match=message):
        lq.synthetic_positions(**args)  # type: ignore[arg-type]


def test_distribution_validation() -> None:
    with pytest.raises(ValueError, match="median must be finite and > 0"):
        LogNormal(-1.0, 1.0)
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        LogNormal(1.0, float("inf"))
    with pytest.raises(ValueError, match="high must be >= low"):
        LogNormal(1.0, 1.0, low=5.0, high=2.0)
    with pytest.raises(TypeError, match="median must be a real number"):
        LogNormal("1", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"values\[1\] must be finite and > 0"):
        Discrete([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"weights\[2\] must be finite and >= 0"):
        Discrete([1.0, 2.0, 3.0], [1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="weights has length 1, expected 2"):
        Discrete([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="weights must not all be 0"):
        Discrete([1.0], [0.0])


def test_unreachable_health_is_an_error() -> None:
    # 100x with 30% entry dispersion: almost nothing is healthy under a 0.99 maintenance rate
    with pytest.raises(ValueError, match="healthy at mark"):
        lq.synthetic_positions(
            50, mark=MARK, leverage=Discrete([100.0], [1.0]), mmr=0.99, seed=0
        )


def test_calibrate_validation() -> None:
    pos = lq.synthetic_positions(10, mark=MARK)
    with pytest.raises(TypeError, match=r"positions must be a liqcore\.Positions"):
        lq.calibrate_positions("x", mark=MARK, open_interest=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="open_interest must be finite and > 0"):
        lq.calibrate_positions(pos, mark=MARK, open_interest=0.0)
    with pytest.raises(ValueError, match="mark must be finite and > 0"):
        lq.calibrate_positions(pos, mark=-1.0, open_interest=1.0)


def test_ranges() -> None:
    with pytest.raises(ValueError, match="n must be <= 1,000,000,000"):
        lq.synthetic_positions(2**70, mark=MARK)
    with pytest.raises(ValueError, match="mark must be in"):
        lq.synthetic_positions(5, mark=1e-300)
    with pytest.raises(ValueError, match="entry_dispersion must be <= 5"):
        lq.synthetic_positions(5, mark=MARK, entry_dispersion=1e308)
    assert len(lq.synthetic_positions(5, mark=MARK, entry_dispersion=-0.0)) == 5
    with pytest.raises(ValueError, match="beyond the float range"):
        lq.calibrate_positions(lq.synthetic_positions(5, mark=MARK), mark=MARK,
                               open_interest=1e308, long_short_ratio=1e308)
