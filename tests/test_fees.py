"""Drift v2's liquidation fees (docs/model.md §3, "Fees"): the published unit-test vectors of
drift-labs/protocol-v2 (``math/liquidation/tests.rs``: ``calculate_perp_if_fee``,
``get_liquidation_fee``), the same numbers through the batch kernel (``Policy(fee="drift")``,
the ramp of ``Policy.takeover_fee_max``), and bad inputs."""

from __future__ import annotations

import math

import liqcore as lq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from liqcore.fees import (
    DRIFT_FEE_GRACE_SLOTS,
    DRIFT_FEE_INCREASE_PER_SLOT,
    drift_if_fee,
    drift_liquidator_fee,
)

# Drift's vector: oracle $100, 10 base (notional $1,000), maintenance margin ratio 5%,
# liquidator fee 1%, max IF fee 5%; the expected rates in millionths.
N, MR, LF, MAX_IF = 1_000.0, 0.05, 0.01, 0.05
DRIFT_IF_VECTORS = [
    # (margin shortage, liquidator fee, expected rate): tests.rs `calculate_perp_if_fee::test`
    (20.0, LF, 19_000e-6),  # (5% - 1% - 2%) x 0.95
    (1.0, LF, 37_050e-6),  # (5% - 1% - 0.1%) x 0.95
    (1_000.0, LF, 0.0),  # the shortage exceeds what is left
    (20.0, 0.10, 0.0),  # liquidator fee above the margin ratio
]


@pytest.mark.parametrize(("shortage", "lf", "expected"), DRIFT_IF_VECTORS)
def test_drift_if_fee_published_vectors(shortage: float, lf: float, expected: float) -> None:
    assert drift_if_fee(shortage, N, MR, lf, MAX_IF) == pytest.approx(expected, abs=1e-15)
    # in Drift's integer units, truncated as Drift does
    assert math.floor(drift_if_fee(shortage, N, MR, lf, MAX_IF) * 1e6 + 1e-6) == round(
        expected * 1e6
    )


def test_drift_if_fee_edges() -> None:
    assert drift_if_fee(20.0, 0.0, MR, LF, MAX_IF) == 0.0  # zero base amount
    assert drift_if_fee(0.0, N, MR, LF, 0.02) == 0.02  # capped at max_if_fee
    assert drift_if_fee(0.0, N, MR, MR, MAX_IF) == 0.0  # margin ratio == liquidator fee


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        (100_000, 0.05),  # tests.rs `get_liquidation_fee::test`: huge slot difference -> max
        (10, 0.02),  # within the grace period -> base
        (10_000, 0.03),  # 2% + 10,000 slots x 0.01 bps
        (DRIFT_FEE_GRACE_SLOTS - 1, 0.02),
        (DRIFT_FEE_GRACE_SLOTS, 0.02 + DRIFT_FEE_GRACE_SLOTS * 1e-6),  # the ramp counts all slots
    ],
)
def test_drift_liquidator_fee_published_vectors(slots: int, expected: float) -> None:
    assert drift_liquidator_fee(0.02, 0.05, slots) == pytest.approx(expected, abs=1e-15)


@given(st.floats(0, 0.2), st.floats(0, 0.2), st.floats(0, 1e6), st.floats(0, 1e6))
def test_drift_liquidator_fee_is_monotone_and_bounded(
    b: float, m: float, s1: float, s2: float
) -> None:
    lo, hi = sorted((s1, s2))
    f_lo, f_hi = drift_liquidator_fee(b, m, lo), drift_liquidator_fee(b, m, hi)
    if lo >= DRIFT_FEE_GRACE_SLOTS or hi < DRIFT_FEE_GRACE_SLOTS:
        assert f_lo <= f_hi
    assert f_hi <= max(b, m) + 1e-15
    ref = b if hi < DRIFT_FEE_GRACE_SLOTS else min(b + hi * DRIFT_FEE_INCREASE_PER_SLOT, m)
    assert f_hi == ref


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: drift_liquidator_fee(-0.01, 0.05, 0), ValueError, r"base_fee must be finite"),
        (lambda: drift_liquidator_fee(0.01, 1.5, 0), ValueError, r"max_fee must be finite and in"),
        (lambda: drift_liquidator_fee(0.01, 0.05, -1), ValueError, r"slots must be finite and"),
        (lambda: drift_liquidator_fee(0.01, 0.05, math.inf), ValueError, r"slots must be finite"),
        (lambda: drift_liquidator_fee(0.01, 0.05, "1"), TypeError, r"slots must be a real number"),
        (lambda: drift_liquidator_fee(0.01, 0.05, 0, grace_slots=-1), ValueError, r"grace_slots"),
        (lambda: drift_if_fee(-1.0, N, MR, LF, MAX_IF), ValueError, r"margin_shortage must be"),
        (lambda: drift_if_fee(1.0, math.nan, MR, LF, MAX_IF), ValueError, r"notional must be"),
        (lambda: drift_if_fee(1.0, N, 2.0, LF, MAX_IF), ValueError, r"margin_ratio must be"),
        (lambda: drift_if_fee(1.0, N, MR, True, MAX_IF), TypeError, r"liquidator_fee must be a"),
        (lambda: drift_if_fee(1.0, N, MR, LF, -0.1), ValueError, r"max_if_fee must be"),
    ],
)
def test_bad_inputs(call, err, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(err, match=match):
        call()


# ---- the same numbers through the kernel ---------------------------------------------------------


def _takeover(
    shortage: float, lf: float, max_if: float = MAX_IF, **kw: object
) -> lq.LiquidationResult:
    """A 10-unit long at $100 with equity MM − shortage (MM = 5% of $1,000), taken over whole
    at the liquidator's discount; Drift's IF fee on the surplus that leaves."""
    e = MR * N - shortage
    ep, m = (100.0, e) if e >= 0 else (100.0 - e / 10.0, 0.0)
    policy = lq.Policy(
        mmr=MR, execution="takeover", takeover_fee=lf, fee="drift", fee_rate=max_if, **kw
    )
    book = lq.Book([99.0], [1.0], [101.0], [1.0])
    return lq.liquidate(lq.Positions([10.0], [ep], [m]), book, 100.0, policy)


@pytest.mark.parametrize(("shortage", "lf", "expected"), DRIFT_IF_VECTORS)
def test_kernel_drift_fee_reproduces_drift_vectors(
    shortage: float, lf: float, expected: float
) -> None:
    res = _takeover(shortage, lf)
    assert res.liquidated[0]
    assert res.fee[0] == pytest.approx(expected * N, abs=1e-9)  # the rate on the oracle notional
    assert res.fee[0] == pytest.approx(drift_if_fee(shortage, N, MR, lf, MAX_IF) * N, abs=1e-9)


def test_kernel_drift_fee_cap_is_on_the_fill_notional() -> None:
    # uncapped 3.705% > 2%: the cap is 2% of the fill notional 10 x 99 (Drift: of the oracle's)
    res = _takeover(1.0, LF, max_if=0.02)
    assert res.fee[0] == pytest.approx(0.02 * 990.0, rel=1e-15)
    assert res.surplus[0] - res.fee[0] == pytest.approx(39.0 - 19.8)  # the rest to the trader


def test_policy_ramps_the_takeover_fee() -> None:
    # Policy.drift(): 1% base, ramp to min(3 x 1%, mmr 3%); after 10,000 slots 1% + 1% = 2%
    p = lq.Policy.drift(liquidation_slots=10_000)
    assert p.takeover_fee_max == 0.03
    assert p.fee == "drift"
    assert p.effective_takeover_fee == pytest.approx(0.02)
    assert lq.Policy.drift().effective_takeover_fee == 0.01  # not yet in liquidation
    assert lq.Policy.drift(liquidation_slots=1e9).effective_takeover_fee == 0.03
    assert lq.Policy(takeover_fee=0.01, liquidation_slots=1e9).effective_takeover_fee == 0.01
    # the kernel takes over at the ramped discount
    res = _takeover(20.0, 0.01, takeover_fee_max=0.03, liquidation_slots=10_000)
    assert res.vwap[0] == pytest.approx(100.0 * (1 - 0.02), rel=1e-12)
    # surplus 30 - 20 = 10, Drift's fee 0.95 x 10
    assert res.fee[0] == pytest.approx(drift_if_fee(20.0, N, MR, 0.02, MAX_IF) * N, abs=1e-9)
    assert res.fee[0] == pytest.approx(9.5, abs=1e-9)


def test_policy_fee_fields_round_trip() -> None:
    p = lq.Policy.drift(liquidation_slots=2_000)
    assert lq.Policy.from_json(p.to_json()) == p
    assert lq.Policy.from_json(p.to_json()).effective_takeover_fee == p.effective_takeover_fee
