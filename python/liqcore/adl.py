"""ADL and socialized-loss allocators (docs/model.md §3, step 5), usable alone.

When the insurance fund cannot cover a deficit, the residual is taken from counterparties.
``capacity[i]`` is what counterparty ``i`` can give, either contracts to close (ADL queue) or
positive PnL in money (haircuts); ``amount`` is what must be covered, in the same unit. Each
allocator returns ``taken[i]`` in that unit, ``0 <= taken[i] <= capacity[i]``:

- :func:`queue`: highest score first (ties: lower index first), each up to its capacity.
  ``taken.sum() == min(amount, capacity.sum())``.
- :func:`pro_rata`: the same fraction ``min(1, amount / capacity.sum())`` of every capacity.
  ``taken.sum() == min(amount, capacity.sum())``.
- :func:`capped_pro_rata`: water-filling, ``taken[i] = min(eta, caps[i]) * capacity[i]`` with
  ``caps[i]`` in [0, 1] a *fraction of* ``capacity[i]``. The sum rule reads
  ``min(amount, (caps * capacity).sum())``: when everyone at their cap is still short, the
  difference stays uncovered.
- :func:`risk_aware`: weighted water-filling, ``taken[i] = min(eta * weights[i], caps[i]) *
  capacity[i]``; covers ``min(amount, (caps * capacity)[weights > 0].sum())``.
- :func:`socialize`: ``charge[i] = amount * |size[i]| / sum(|size|)`` (Drift's socialized loss).
- :func:`rank`: BitMEX-style ADL scores to feed :func:`queue`.

What is left uncovered is ``amount - taken.sum()`` (:func:`uncovered`). Sums hold to rounding
(about 1e-15 relative); results are bit-deterministic. Bad values raise ``ValueError`` naming the
argument and the first bad index, e.g. ``"capacity[3] must be finite and >= 0 (got nan)"``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from liqcore import _core
from liqcore._arrays import F64, as_f64, broadcast, check_finite, check_option, common_length

__all__ = [
    "capped_pro_rata",
    "pro_rata",
    "queue",
    "rank",
    "risk_aware",
    "socialize",
    "uncovered",
]


def _f64(name: str, x: Any, ndim: int = 1) -> F64:
    """``as_f64``, keeping a scalar 0-d (np.ascontiguousarray turns it into shape (1,))."""
    a = as_f64(name, x, ndim=ndim)
    return a.reshape(()) if np.ndim(x) == 0 else a


def _scalar(name: str, x: Any) -> float:
    return float(_f64(name, x, ndim=0))


def _amount(x: Any) -> float:
    return _scalar("amount", x)


def _columns(**arrays: Any) -> list[F64]:
    """Coerce named array-likes, check their common length, broadcast scalars to it."""
    coerced = {name: _f64(name, x) for name, x in arrays.items()}
    n = common_length(coerced)
    return [broadcast(n, a) for a in coerced.values()]


def queue(capacity: Any, scores: Any, amount: Any) -> F64:
    """Take ``amount`` from counterparties in descending ``scores`` order (the ADL queue).

    Parameters
    ----------
    capacity : array-like, finite >= 0
        What each counterparty can give (contracts, or positive PnL in money).
    scores : array-like, not NaN
        Priority; the highest is taken first, ties go to the lower index. ``-inf`` is allowed
        and sorts last (:func:`rank` gives it to flat positions).
    amount : float, finite >= 0
        What must be covered, in the unit of ``capacity``.

    Returns
    -------
    taken : float64 array
        Each counterparty's share, ``0 <= taken <= capacity``; ``taken.sum() ==
        min(amount, capacity.sum())``. Everyone ahead of the last one touched gives everything.
    """
    cap, sc = _columns(capacity=capacity, scores=scores)
    return _core.adl_queue(cap, sc, _amount(amount))


def pro_rata(capacity: Any, amount: Any) -> F64:
    """The same fraction ``f = min(1, amount / sum(capacity))`` of every capacity.

    The OKEx-style clawback: every winner gives the same share of its positive PnL. With
    ``sum(capacity) == 0`` every share is 0. Units as in :func:`queue`.
    """
    (cap,) = _columns(capacity=capacity)
    return _core.adl_pro_rata(cap, _amount(amount))


def capped_pro_rata(capacity: Any, caps: Any, amount: Any) -> F64:
    """Water-filling pro-rata: ``taken[i] = min(eta, caps[i]) * capacity[i]``.

    ``caps[i]`` in [0, 1] is the largest *fraction* of ``capacity[i]`` that may be taken.
    ``eta`` is the common level at which ``taken.sum() == amount``: everyone gives the same
    fraction except those already at their cap. If ``amount >= sum(caps * capacity)`` everyone
    gives ``caps * capacity`` and ``amount - taken.sum()`` stays uncovered (ARCHITECTURE's sum
    rule then reads ``min(amount, sum(caps * capacity))``). Exact (no iteration), O(n log n)
    at worst, O(n) when nobody or everybody reaches its cap.
    """
    cap, cp = _columns(capacity=capacity, caps=caps)
    return _core.adl_capped_pro_rata(cap, cp, _amount(amount))


def risk_aware(capacity: Any, weights: Any, caps: Any, amount: Any) -> F64:
    """Risk-aware pro-rata: ``taken[i] = min(eta * weights[i], caps[i]) * capacity[i]``.

    Counterparties with larger ``weights`` (finite >= 0, e.g. effective leverage; only ratios
    matter) give a larger fraction of their capacity, up to ``caps[i]`` in [0, 1]; a weight of 0
    is never charged. ``eta`` is found by exact weighted water-filling so that ``taken.sum() ==
    min(amount, sum(caps * capacity over weights > 0))``.

    This follows docs/model.md's "risk-aware pro-rata weighted by leverage" (Chitra 2025,
    arXiv:2512.01112). The paper's own formula was not available to us; this is the natural
    weighted generalization of :func:`capped_pro_rata` (equal weights reproduce it exactly).

    Positive weights must lie within a factor ``1e300`` of the largest (ValueError naming
    ``weights[i]`` otherwise): the water level times a weight must stay in the float range.
    The weights are scaled by a power of two (exact, the result is unchanged) so that the
    largest is in [0.5, 1).
    """
    cap, w, cp = _columns(capacity=capacity, weights=weights, caps=caps)
    return _core.adl_risk_aware(cap, _normalized_weights(w), cp, _amount(amount))


MAX_WEIGHT_RATIO = 1e300


def _normalized_weights(w: F64) -> F64:
    """``w`` times a power of two making its largest finite value lie in [0.5, 1) (exact)."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(w) & (w >= 0.0)
    if w.size == 0 or not valid.all():
        return w  # the kernel reports the bad value
    top = float(np.max(w))
    if not top > 0.0:
        return w
    with np.errstate(invalid="ignore"):
        tiny = (w > 0.0) & (w < top / MAX_WEIGHT_RATIO)
    if tiny.any():
        i = int(np.argmax(tiny))
        raise ValueError(
            f"weights[{i}] must be 0 or within a factor {MAX_WEIGHT_RATIO:g} of the largest "
            f"weight {top!r} (got {float(w[i])!r})"
        )
    return np.ldexp(w, -math.frexp(top)[1])


def rank(
    size: Any,
    entry_price: Any,
    margin: Any,
    mark: Any,
    *,
    contract: str = "linear",
    contract_size: float = 1.0,
) -> F64:
    """BitMEX/Bybit ADL ranking scores at the mark price (higher = deleveraged first).

    ``PnL% = PnL / |entry value|`` (linear ``q(P - EP) / (|q| EP)``; inverse, in coin,
    ``sign(q)(1 - EP/P)``), ``EffLev = |mark value| / (mark value - bankrupt value)`` (linear
    ``|q P| / (q (P - BP))``; inverse ``(|q| C / P) / (q C (1/BP - 1/P))``) with ``BP`` the
    bankruptcy price. The score is ``PnL% * EffLev`` for winners, ``PnL% / EffLev`` for losers,
    0 at zero PnL (a score whose products overflow or underflow, inf/inf, is a ValueError
    naming ``size[i]``, never NaN). ``mark value - bankrupt value`` is the equity
    ``margin + PnL`` except for a
    position that can never go bankrupt (e.g. a long with margin >= entry notional), whose
    EffLev is 1; at or past bankruptcy EffLev is +inf. Flat positions (size 0) score ``-inf``.

    Parameters
    ----------
    size : signed size (+ long, - short), base units (linear) or contracts (inverse); finite.
    entry_price : quote per base, finite > 0.
    margin : isolated margin, quote (linear) or coin (inverse), finite >= 0.
    mark : float, the mark price, finite > 0.
    contract : ``"linear"`` or ``"inverse"``.
    contract_size : inverse face value ``C`` in quote per contract, finite > 0.
    """
    check_option("contract", contract, ("linear", "inverse"))
    q, ep, m = _columns(size=size, entry_price=entry_price, margin=margin)
    mk = _scalar("mark", mark)
    cs = _scalar("contract_size", contract_size)
    out: F64 = _core.adl_rank(q, ep, m, mk, contract, cs)
    with np.errstate(invalid="ignore", over="ignore"):
        suspect = bool(np.isnan(np.sum(out)))  # -inf + inf (flat and bankrupt) also checked
    if suspect:
        bad = np.isnan(out)
        if bad.any():
            i = int(np.argmax(bad))
            at = ", ".join(f"{k}[{i}]={float(np.broadcast_to(a, out.shape)[i])!r}"
                           for k, a in (("size", q), ("entry_price", ep), ("margin", m)))
            raise ValueError(
                f"rank is undefined at {at}, mark={mk!r}: the products of these arguments "
                "overflow or underflow the float range"
            )
    return out


def socialize(size: Any, amount: Any) -> F64:
    """Socialized loss: ``charge[i] = amount * |size[i]| / sum(|size|)``.

    Drift v2's ``delta = residual / (OI_long + OI_short)`` per unit of size, paid by every open
    position on both sides (``size`` signed, finite; ``amount`` finite >= 0, money). With no
    open interest every charge is 0 and the whole amount stays uncovered.
    """
    (q,) = _columns(size=size)
    return _core.adl_socialize(q, _amount(amount))


def uncovered(amount: Any, taken: Any) -> float:
    """What an allocation left uncovered: ``max(0, amount - sum(taken))`` (exact sum).

    ``taken`` must be finite and >= 0 (ValueError naming ``taken`` and the first bad index).
    A sum beyond the float range exceeds any finite amount: the result is then 0.0.
    """
    t = _f64("taken", taken)
    check_finite("taken", t, nonnegative=True)
    a = _amount(amount)
    try:
        total = math.fsum(np.ravel(t).tolist())
    except OverflowError:  # the exact sum exceeds the float range, hence the amount
        return 0.0
    return max(0.0, a - total)
