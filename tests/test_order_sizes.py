"""Order sizes on the market's step (docs/model.md, "Order sizes"): a partial or slice size is
rounded down (dYdX) or up (Drift) to a multiple of ``Policy.size_step`` and clamped to
``[step, |size|]``. The rounding vectors are dYdX's own (``lib.BigIntRoundToMultiple`` and the
clamp of ``GetPerpetualPositionToLiquidate`` in dydxprotocol/v4-chain): 7 on a step of 3 rounds
down to 6 and up to 9, 5 on a step of 5 stays 5; below one step is clamped to the step, above
the position to the position."""

from __future__ import annotations

import math

import liqcore as lq
import numpy as np
import pytest

# Long 10 @ 104, margin 80, mark 100: E = 40 < MM = 0.05·1,000 = 50, liquidatable; a slice
# filled at 99.99 leaves the rest solvent, so the slice is kept (not turned into a full close).
_BOOK = lq.Book([99.99], [1_000.0], [100.01], [1_000.0])
_POS = lq.Positions(size=[10.0], entry_price=[104.0], margin=[80.0])


def _slice(fraction: float, step: float, rounding: str) -> float:
    pol = lq.Policy(mmr=0.05, sizing="slices", slice_threshold=0.0, slice_fraction=fraction,
                    size_step=step, size_rounding=rounding)
    return float(lq.liquidate(_POS, _BOOK, 100.0, pol, 0.0).closed[0])


@pytest.mark.parametrize(
    ("fraction", "step", "rounding", "expected"),
    [
        (0.7, 3.0, "down", 6.0),   # 7 -> 6 (dYdX's vector)
        (0.7, 3.0, "up", 9.0),     # 7 -> 9
        (0.5, 5.0, "down", 5.0),   # 5 on a step of 5 is unchanged
        (0.5, 5.0, "up", 5.0),
        (0.2, 3.0, "down", 3.0),   # 2 -> 0, clamped to one step
        (0.95, 3.0, "up", 10.0),   # 9.5 -> 12, clamped to the position: a full close
        (0.7, 0.0, "down", 7.0),   # no step: no rounding
    ],
)
def test_slice_sizes_follow_dydx_rounding_vectors(fraction, step, rounding, expected) -> None:  # type: ignore[no-untyped-def]
    assert _slice(fraction, step, rounding) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("step", [0.25, 0.5, 1.0, 3.0])
def test_partial_size_is_the_exact_size_rounded(step: float) -> None:
    # The exact partial size (no step) rounded by the rule, clamped to [step, Q].
    pos = lq.Positions(size=[10.0], entry_price=[104.0], margin=[85.0])
    book = lq.Book([99.0, 98.0], [100.0, 100.0], [101.0], [100.0])
    base = dict(mmr=0.05, sizing="partial", buffer=0.02)
    exact = float(lq.liquidate(pos, book, 100.0, lq.Policy(**base), 0.0).closed[0])
    assert 0.0 < exact < 10.0
    for rounding, fn in (("down", math.floor), ("up", math.ceil)):
        pol = lq.Policy(**base, size_step=step, size_rounding=rounding)
        got = float(lq.liquidate(pos, book, 100.0, pol, 0.0).closed[0])
        expected = min(max(step * fn(exact / step), step), 10.0)
        assert got == pytest.approx(expected, rel=1e-12)


def test_rounding_down_closes_less_than_the_exact_size() -> None:
    # Rounded down, the close is below the size that restores health (docs/model.md: the rest is
    # liquidated again at the next batch or round).
    pos = lq.Positions(size=[10.0], entry_price=[104.0], margin=[85.0])
    book = lq.Book([99.0, 98.0], [100.0, 100.0], [101.0], [100.0])
    pol = lq.Policy(mmr=0.05, sizing="partial", buffer=0.02)
    exact = float(lq.liquidate(pos, book, 100.0, pol, 0.0).closed[0])
    step = 1.0
    rounded = lq.liquidate(pos, book, 100.0, lq.Policy(mmr=0.05, sizing="partial", buffer=0.02,
                                                      size_step=step), 0.0)
    assert float(rounded.closed[0]) == math.floor(exact)
    # the position left is still liquidatable at the same mark
    left = 10.0 - float(rounded.closed[0])
    assert left > 10.0 - exact


def test_one_position_accounts_round_like_isolated_positions() -> None:
    for rounding in ("down", "up"):
        pol = lq.Policy(mmr=0.05, sizing="slices", slice_threshold=0.0, slice_fraction=0.7,
                        size_step=3.0, size_rounding=rounding)
        iso = lq.liquidate(_POS, _BOOK, 100.0, pol, 0.0)
        mk = lq.Markets(marks=[100.0], mmr=[0.05], books=[_BOOK])
        acc = lq.Accounts(collateral=[[80.0]], asset_prices=[1.0], haircuts=[0.0])
        pf = lq.Portfolio(account=[0], market=[0], size=[10.0], entry_price=[104.0])
        res = lq.liquidate_accounts(pf, acc, mk, policy=pol, insurance_fund=0.0)
        np.testing.assert_allclose(np.asarray(res.closed)[:1], np.asarray(iso.closed), rtol=1e-12)


def test_presets_round_as_their_venue() -> None:
    assert lq.Policy.dydx().size_rounding == "down"
    assert lq.Policy.drift().size_rounding == "up"
    assert lq.Policy().size_step == 0.0


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"size_step": -1.0}, ValueError, "size_step"),
        ({"size_step": math.nan}, ValueError, "size_step"),
        ({"size_step": math.inf}, ValueError, "size_step"),
        ({"size_rounding": "nearest"}, ValueError, "size_rounding must be one of 'down', 'up'"),
        ({"size_step": "1"}, TypeError, "size_step"),
    ],
)
def test_bad_size_options(kw, exc, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=match):
        lq.Policy(**kw)
