"""Margin math with huge (and tiny) finite inputs: the value of the exact rational computation,
or a ValueError naming the arguments when that value is beyond the float range; never a silent
infinity (nor a NaN, nor a 0 from an intermediate that overflowed)."""

from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction as Fr
from functools import partial
from typing import Any, Callable

import liqcore as lq
import numpy as np
import pytest

MAX = Fr(sys.float_info.max)
INF = math.inf

SIZES = [1e300, -1e300, 1e-300, -1e-300, 5e-324, -3.0, 1e10]
PRICES = [1e300, 1e-300, 1.0, 1.7e308, 7e-310]
MARGINS = [0.0, 1e10, 1e300, 1.7e308, 1e-300]
RATES = [0.0, 0.01, 0.5, 0.999]


def _clamp0(x: Fr) -> Fr:
    return x if x > 0 else Fr(0)


# ---- exact references (docs/model.md §1), in rationals --------------------------------------------


def eq_exact(q: Fr, ep: Fr, m: Fr, p: Fr, inverse: bool, c: Fr) -> Fr:
    return m + q * (p - ep) if not inverse else m + q * c * (1 / ep - 1 / p)


def mm_exact(q: Fr, p: Fr, r: Fr, inverse: bool, c: Fr) -> Fr:
    return (abs(q) * p if not inverse else abs(q) * c / p) * r


def lp_spread(q: Fr, ep: Fr, m: Fr, mm: Fr, r: Fr, cum: Fr, inverse: bool, c: Fr) -> Fr:
    """The magnitude of the price that the terms of lp_exact's numerator would give without
    cancelling (``mm``: a margin already reduced by MM(EP), mm_at_entry)."""
    s = 1 if q > 0 else -1
    if not inverse:
        return (abs(q) * ep + abs(m) + mm + abs(cum)) / (abs(q) * (1 - s * r))
    ac = abs(q) * c
    num = s * (m - mm + cum) * ep + ac
    if num <= 0:
        return Fr(0)
    p = ac * (1 + s * r) * ep / num
    return p * ((abs(m) + mm + abs(cum)) * ep + ac) / num


def lp_exact(q: Fr, ep: Fr, m: Fr, r: Fr, cum: Fr, inverse: bool, c: Fr) -> Fr | None:
    """The root of E(P) = |q|P*r - cum (linear) / |q|C/P*r - cum (inverse); None for +inf."""
    s = 1 if q > 0 else -1
    if not inverse:  # m + q(P - EP) = |q|P r - cum  ->  P = (|q|EP - s(m + cum)) / (|q|(1 - s r))
        return _clamp0(abs(q) * ep - s * (m + cum)) / (abs(q) * (1 - s * r))
    ac = abs(q) * c  # m + qC/EP - qC/P = ac r/P - cum  ->  P = ac(1 + s r)EP / (s(m+cum)EP + ac)
    num = s * (m + cum) * ep + ac
    return None if num <= 0 else ac * (1 + s * r) * ep / num


def _check(got: Callable[[], Any], exact: Fr | None, what: str, spread: Fr = Fr(0)) -> None:
    """``exact`` None means +inf (a documented infinity). ``spread``: the size of the terms that
    cancel in the formula (the result may be off by a few ulps of it: cancellation, which no
    evaluation in floating point avoids, unlike overflow)."""
    if exact is not None and abs(exact) > MAX:
        with pytest.raises(ValueError, match=r"^size.*beyond the float range"):
            got()
        return
    v = got()
    if exact is None:
        assert v == INF, what
        return
    want = float(exact)
    assert math.isfinite(v), (what, v, want)
    # a few ulps (one long double rounding, then one to double); absolute in the denormal range
    tol = 4e-16 * abs(want) + 2e-323 + 1e-15 * float(min(spread, MAX))
    assert abs(v - want) <= tol, (what, v, want)


@pytest.mark.parametrize("inverse", [False, True])
def test_bankruptcy_price_exact(inverse: bool) -> None:
    c = 1.0 if not inverse else 1e-10
    for q, ep, m in itertools.product(SIZES, PRICES, MARGINS):
        kw = {"contract": "inverse", "contract_size": c} if inverse else {}
        exact = lp_exact(Fr(q), Fr(ep), Fr(m), Fr(0), Fr(0), inverse, Fr(c))
        spread = lp_spread(Fr(q), Fr(ep), Fr(m), Fr(0), Fr(0), Fr(0), inverse, Fr(c))
        _check(partial(lq.bankruptcy_price, q, ep, m, **kw), exact, f"BP({q}, {ep}, {m})", spread)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("mm_at_entry", [False, True])
def test_liquidation_price_exact(inverse: bool, mm_at_entry: bool) -> None:
    c = 1.0 if not inverse else 1e-10
    kw: dict[str, Any] = {"contract": "inverse", "contract_size": c} if inverse else {}
    for q, ep, m, r in itertools.product(SIZES, PRICES, MARGINS, RATES):
        Q, EP, M, R, C = Fr(q), Fr(ep), Fr(m), Fr(r), Fr(c)
        if mm_at_entry:
            mm = mm_exact(Q, EP, R, inverse, C)
            exact = lp_exact(Q, EP, M - mm, Fr(0), Fr(0), inverse, C)
            spread = lp_spread(Q, EP, M, mm, Fr(0), Fr(0), inverse, C)
        else:
            exact = lp_exact(Q, EP, M, R, Fr(0), inverse, C)
            spread = lp_spread(Q, EP, M, Fr(0), R, Fr(0), inverse, C)
        _check(partial(lq.liquidation_price, q, ep, m, r, mm_at_entry=mm_at_entry, **kw), exact,
               f"LP({q}, {ep}, {m}, {r}, mm_at_entry={mm_at_entry}, inverse={inverse})", spread)


def _tier_lp_exact(q: Fr, ep: Fr, m: Fr, floors: list[float], rates: list[float], inverse: bool,
                   c: Fr) -> tuple[Fr | None, Fr]:
    """The tier whose notional range holds its own root (E - MM is monotone in the notional,
    so exactly one tier's root lies in its range)."""
    cum = [Fr(0)]
    for k in range(1, len(floors)):
        cum.append(cum[-1] + Fr(floors[k]) * (Fr(rates[k]) - Fr(rates[k - 1])))
    for k in range(len(floors)):
        p = lp_exact(q, ep, m, Fr(rates[k]), cum[k], inverse, c)
        n = None if p is None else (abs(q) * p if not inverse else (abs(q) * c / p if p else None))
        lo = Fr(floors[k])
        hi = Fr(floors[k + 1]) if k + 1 < len(floors) else None
        if n is None:  # price 0 (linear: notional 0) or +inf (inverse: notional 0)
            n = Fr(0)
        if n >= lo and (hi is None or n < hi):
            return p, lp_spread(q, ep, m, Fr(0), Fr(rates[k]), cum[k], inverse, c)
    raise AssertionError("no tier holds its root")


@pytest.mark.parametrize("inverse", [False, True])
def test_liquidation_price_tiers_exact(inverse: bool) -> None:
    floors, rates = [0.0, 1e10, 1e200], [0.01, 0.02, 0.05]
    tiers = lq.MarginTiers(floors, rates)
    c = 1.0 if not inverse else 1e-10
    kw: dict[str, Any] = {"contract": "inverse", "contract_size": c} if inverse else {}
    for q, ep, m in itertools.product(SIZES, PRICES, MARGINS):
        exact, spread = _tier_lp_exact(Fr(q), Fr(ep), Fr(m), floors, rates, inverse, Fr(c))
        _check(partial(lq.liquidation_price, q, ep, m, tiers=tiers, **kw), exact,
               f"LP tiers({q}, {ep}, {m}, inverse={inverse})", spread)


@pytest.mark.parametrize("inverse", [False, True])
def test_equity_maintenance_ratio_exact(inverse: bool) -> None:
    c = 1.0 if not inverse else 1e-10
    kw: dict[str, Any] = {"contract": "inverse", "contract_size": c} if inverse else {}
    C = Fr(c)
    for q, ep, m, p in itertools.product(SIZES, PRICES, MARGINS, PRICES):
        Q, EP, M, P = Fr(q), Fr(ep), Fr(m), Fr(p)
        e = eq_exact(Q, EP, M, P, inverse, C)
        e_spread = M + abs(Q) * (P + EP) if not inverse else M + abs(Q) * C * (1 / EP + 1 / P)
        _check(partial(lq.equity, q, ep, m, p, **kw), e, f"E({q}, {ep}, {m}, {p})", e_spread)
        for r in (0.01, 0.5):
            mm = mm_exact(Q, P, Fr(r), inverse, C)
            _check(partial(lq.maintenance_margin, q, p, r, **kw), mm, f"MM({q}, {p}, {r})")
            # E or MM beyond the float range does not matter: only the ratio must be in it
            ratio = None if e <= 0 else mm / e
            if e_spread > 10**12 * abs(e):
                continue  # E is all cancellation: no double evaluation has a digit of it
            r_spread = Fr(0) if ratio is None else ratio * e_spread / e
            _check(partial(lq.margin_ratio, q, ep, m, p, r, **kw), ratio,
                   f"ratio({q}, {ep}, {m}, {p}, {r})", r_spread)


def test_the_issue_example() -> None:
    assert lq.bankruptcy_price(1e300, 1e300, 1e10) == 1e300
    assert lq.liquidation_price(1e300, 1e300, 1e10, 0.0) == 1e300
    assert lq.bankruptcy_price(5e-324, 1.5, 0.0) == 1.5  # no product |q|*EP in the denormals


def test_error_names_arguments_and_index() -> None:
    with pytest.raises(ValueError, match="beyond the float range") as e:
        lq.bankruptcy_price(
            np.array([1.0, -1e-300]), np.array([1.0, 1e300]), np.array([0.0, 1e300])
        )
    assert str(e.value) == (
        "size[1] = -1e-300, entry_price[1] = 1.0000000000000001e+300, "
        "margin[1] = 1.0000000000000001e+300: the bankruptcy price is beyond the float range "
        "(magnitude > 1.8e308)"
    )
    big = "1.0000000000000001e\\+300"  # %.17g of 1e300
    with pytest.raises(ValueError, match=rf"^size\[2\] = {big}, mark = {big}: the maintenance"):
        lq.maintenance_margin(np.array([1.0, 1.0, 1e300]), 1e300, 0.5)


def test_arrays_match_scalars_and_threads() -> None:
    """The recomputed elements are the same whether alone, in an array, or on any thread count."""
    rng = np.random.default_rng(0)
    n = 70_000
    q = rng.choice([1e300, -1e300, 1.0, -2.0, 1e-300], n)
    ep = rng.choice([1e300, 1.0, 100.0, 1e-300], n)
    m = rng.choice([0.0, 1e10, 1.0], n)
    out1 = lq.bankruptcy_price(q, ep, m, threads=1)
    out4 = lq.bankruptcy_price(q, ep, m, threads=4)
    assert out1.tobytes() == out4.tobytes()
    for i in range(0, n, 997):
        assert out1[i] == lq.bankruptcy_price(float(q[i]), float(ep[i]), float(m[i]))
    assert np.isfinite(out1).all()
