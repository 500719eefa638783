"""Venue liquidation-fee rules as pure functions (docs/model.md §3, "Fees").

The batch kernels apply a fee rule per liquidation through :class:`liqcore.Policy` (``fee=``,
``takeover_fee``); the functions here state two of Drift v2's rules on their own, with Drift's
published unit-test vectors in ``tests/test_fees.py``, so that a policy can be checked against
them and a ramped fee computed for a given time in liquidation.

Rates are fractions (``0.01`` = 1%); Drift keeps them in millionths (``LIQUIDATION_FEE_PRECISION``
1e6) and margin ratios in ten-thousandths, and truncates each step to an integer: these
functions compute in floats, without that truncation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from liqcore._arrays import real

__all__ = [
    "DRIFT_FEE_GRACE_SLOTS",
    "DRIFT_FEE_INCREASE_PER_SLOT",
    "DRIFT_IF_SHARE",
    "DRIFT_MAX_LIQUIDATION_MULTIPLIER",
    "drift_if_fee",
    "drift_liquidator_fee",
]

#: Slots in liquidation before Drift's liquidator fee starts to rise
#: (``LIQUIDATION_FEE_ADJUST_GRACE_PERIOD_SLOTS``, about 10 minutes of 400 ms slots).
DRIFT_FEE_GRACE_SLOTS = 1_500
#: The rise per slot once past the grace period: 0.01 bps (``LIQUIDATION_FEE_INCREASE_PER_SLOT``
#: = 1 in millionths).
DRIFT_FEE_INCREASE_PER_SLOT = 1e-6
#: The ramp's ceiling is ``min(3·base fee, maintenance margin ratio)``
#: (``PerpMarket::get_max_liquidation_fee``, ``MAX_LIQUIDATION_MULTIPLIER = 3``).
DRIFT_MAX_LIQUIDATION_MULTIPLIER = 3
#: The insurance-fund fee takes at most 95% of the margin left after the liquidator's fee
#: (``calculate_perp_if_fee`` multiplies by 19/20 so that the fee alone never bankrupts).
DRIFT_IF_SHARE = 0.95


def _checked(what: str, ok: Callable[[float], bool], args: dict[str, Any]) -> list[float]:
    """The arguments (by name, in order) as floats; ValueError at the first that is not ``ok``."""
    out = []
    for name, x in args.items():
        v = real(name, x)
        if not (math.isfinite(v) and ok(v)):
            raise ValueError(f"{name} must be finite and {what} (got {v!r})")
        out.append(v)
    return out


def _rates(**args: Any) -> list[float]:
    return _checked("in [0, 1]", lambda v: 0.0 <= v <= 1.0, args)


def _nonnegatives(**args: Any) -> list[float]:
    return _checked(">= 0", lambda v: v >= 0.0, args)


def drift_liquidator_fee(
    base_fee: float,
    max_fee: float,
    slots: float,
    *,
    grace_slots: float = DRIFT_FEE_GRACE_SLOTS,
    per_slot: float = DRIFT_FEE_INCREASE_PER_SLOT,
) -> float:
    """Drift's time-ramped liquidator fee (``get_liquidation_fee``).

    ``slots``: slots since the user's last activity, i.e. since the liquidation started.
    Below ``grace_slots`` the fee is ``base_fee``; from there on it is
    ``min(base_fee + slots·per_slot, max_fee)``: the ramp counts every elapsed slot, the grace
    period only delays it. Drift's ``max_fee`` is ``min(3·base_fee, maintenance margin ratio)``
    (:data:`DRIFT_MAX_LIQUIDATION_MULTIPLIER`). ``max_fee`` below ``base_fee`` caps the base
    fee too, as Drift's ``min`` does.

    >>> drift_liquidator_fee(0.02, 0.05, 10_000)  # Drift's unit test: 2% + 10,000 x 0.01 bps
    0.03
    """
    b, m = _rates(base_fee=base_fee, max_fee=max_fee)
    s, g, r = _nonnegatives(slots=slots, grace_slots=grace_slots, per_slot=per_slot)
    if s < g:
        return b
    return min(b + s * r, m)


def drift_if_fee(
    margin_shortage: float,
    notional: float,
    margin_ratio: float,
    liquidator_fee: float,
    max_if_fee: float,
) -> float:
    """Drift's dynamic insurance-fund fee rate (``calculate_perp_if_fee``).

    ``margin_shortage``: maintenance requirement minus total collateral (quote, >= 0);
    ``notional``: the position's base amount times the oracle price (quote, > 0 for a fee);
    ``margin_ratio``: the market's maintenance margin ratio; ``liquidator_fee``: the
    liquidator's fee rate; ``max_if_fee``: the market's ``if_liquidation_fee``. The rate is

        min(max_if_fee, 0.95·max(0, margin_ratio − liquidator_fee − shortage/notional))

    and 0 when ``margin_ratio <= liquidator_fee`` or ``notional == 0``. It is charged on the
    notional of what the liquidator takes over. For a position alone in its account,
    ``margin_ratio − shortage/notional`` is ``E/notional``, so the rate is
    ``0.95·(E − liquidator_fee·notional)/notional``: 95% of the equity left after the
    liquidator's fee, at most ``max_if_fee`` of the notional; that is ``Policy(fee="drift")``.

    >>> round(drift_if_fee(20, 1_000, 0.05, 0.01, 0.05), 12)  # Drift's unit test: 2% x 0.95
    0.019
    """
    sh, n = _nonnegatives(margin_shortage=margin_shortage, notional=notional)
    mr, lf, cap = _rates(margin_ratio=margin_ratio, liquidator_fee=liquidator_fee,
                         max_if_fee=max_if_fee)
    if n == 0.0 or mr <= lf:
        return 0.0
    implied = max(0.0, mr - lf - sh / n) * DRIFT_IF_SHARE
    return min(cap, implied)
