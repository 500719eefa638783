"""Deterministic, realistic synthetic L2 books for demos, tests and benchmarks.

:func:`synthetic_book` draws a book whose shape follows the Binance USD-M BTCUSDT perpetual book
of 2024-08-08 (``binance_usdm_btcusdt_20240808.jsonl.gz``, hftbacktest example data), replayed to
the end of the file with :func:`liqcore.io.read_binance_depth` (mid 61,659.75; 5,018 bid and
4,578 ask levels). The bid side of that book was measured and both synthetic sides follow it:

* **Notional depth profile** (cumulative bid notional, sum of qty * px, by distance from mid):
  1 bps $0.64M, 5 bps $2.2M, 10 bps $6.5M (105 BTC), 20 bps $17.6M, 50 bps $45M (734 BTC),
  100 bps $83M (1,354 BTC), 150 bps $166M, 200 bps $203M (3,320 BTC), 500 bps $247M,
  1,000 bps $374M, 5,000 bps $493M (table ``_KNOTS_BPS`` / ``_NOTIONAL``). The top is thin
  (about $0.3M per bps within 5 bps against $1.1M per bps at 10-30 bps), the bulk sits within
  200 bps, and a sparse tail reaches 50% from mid. The profile is in notional terms: quantities
  scale as 1 / mid, so the depth in quote currency at a given distance in bps is the same at any
  ``mid``; ``depth_scale`` multiplies it.
* **Level placement**: distances from mid are i.i.d. draws from the measured level density
  (about 36 levels per bps within 30 bps, 15 per bps at 30-200 bps, 2 per bps at 300-500 bps,
  then fewer; 72% of the levels within 200 bps), sorted and snapped to the tick grid, which
  leaves random gaps between occupied ticks as in the real book. ``levels`` levels per side
  always span the whole profile: fewer levels give a coarser book with the same depth profile.
* **Quantity distribution** (real bid book within 200 bps: 35% of levels hold at most 0.01 BTC,
  the top 1% of levels hold 46% of the quantity and the top 10% hold 76%; the other levels are
  roughly log-normal with log-sd 1.8): each level is dust (2 to 10 lots, 35%), a log-normal body
  level (sigma 1.6), or a Pareto-tailed whale (1%, alpha 1.2); 15% of body levels snap to a round
  size (1, 2, 2.5 or 5 times a power of ten) and 8% repeat one of three market-maker ladder sizes.
  Over seeds 0-5 the top 1% of levels hold 33-54% of the quantity within 200 bps (mean 45%) and
  the top 10% hold 77-86%.
  Within each segment between the profile's knots the non-dust levels are scaled so that the
  segment holds the profile's notional, so the cumulative depth at every knot matches the profile
  up to lot rounding (a segment that receives no level carries its notional to the next one).

Grid: prices are integer multiples of ``tick``. Default tick: the power of ten at or below
``mid / 600,000`` (0.1 at mid 60,000 as on Binance BTCUSDT, 0.001 at 3,000, 1 at 1,000,000), so
there are 60 to 600 ticks per bps. Quantities are whole multiples of a lot, the power of ten at
or below ``100 / mid`` (0.001 BTC at 60,000, 0.01 at 3,000), each level at least one lot.
The spread is one tick by default (``spread_bps`` rounds to a whole number of ticks, at least
one); best bid < ``mid`` <= best ask and the book's mid is within half a tick of ``mid``
(59,999.9 / 60,000.0 at the defaults). ``depth_scale`` multiplies every quantity before the
rounding to lots, so round sizes stay round only at ``depth_scale=1``.

Determinism: everything is drawn from ``numpy.random.Generator(PCG64(seed))`` in a fixed order,
so a seed gives the same bits on every run.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from liqcore._arrays import F64
from liqcore.book import Book, BookArrays

__all__ = ["synthetic_book", "synthetic_book_arrays"]

# Measured on the replayed BTCUSDT bid side (mid 61,659.75), see the module docstring.
_KNOTS_BPS = np.array(
    [0, 1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000], dtype=np.float64
)
# Cumulative number of levels within each knot (5,008 of the 5,018 bid levels lie within 5,000 bps).
_LEVELS = np.array(
    [0, 15, 48, 174, 357, 727, 1053, 1492, 1844, 2232, 3029, 3637, 4083, 4487, 4801, 4942, 5008],
    dtype=np.float64,
)
# Cumulative notional (quote currency, sum of qty * px) within each knot.
_NOTIONAL = 1e3 * np.array(
    [
        0,
        635,
        967,
        2241,
        6485,
        17560,
        30390,
        45123,
        64400,
        83097,
        165863,
        202724,
        226347,
        246649,
        374139,
        416105,
        493251,
    ],
    dtype=np.float64,
)

_DUST_P = 0.35  # share of dust levels (2 to 10 lots)
_WHALE_P = 0.01  # share of Pareto-tailed whale levels
_BODY_SIGMA = 1.6  # log-sd of the log-normal body
_WHALE_SCALE = 40.0  # whale weight = _WHALE_SCALE * (1 + Pareto(_WHALE_ALPHA)), body median 1
_WHALE_ALPHA = 1.2
_ROUND_P = 0.15  # share of body levels snapped to a round size
_LADDER_P = 0.08  # share of body levels that repeat a ladder size
_LADDER_SIZES = 3


def _pow10_at_or_below(x: float) -> float:
    return float(10.0 ** math.floor(math.log10(x) + 1e-12))


def _scaled(units: npt.NDArray[np.int64], step: float) -> F64:
    """``units * step`` with decimal steps exact: 0.1 * 3 would be 0.30000000000000004."""
    inv = round(1.0 / step)
    if inv >= 1 and abs(inv * step - 1.0) < 1e-12:
        return units.astype(np.float64) / float(inv)
    return units.astype(np.float64) * step


def _positive(name: str, x: Any, lo: float = 0.0, hi: float = math.inf) -> float:
    """``x`` as a float, finite, > 0 and in [lo, hi] (ValueError naming ``name`` otherwise)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})")
    try:
        v = float(x)
    except OverflowError:  # an int beyond the float range
        v = math.inf
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be finite and > 0 (got {x!r})")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}] (got {x!r})")
    return v


# Argument ranges: prices, quantities and sums stay far from float overflow/underflow, grid
# units (mid / tick) stay exact integers in float64, lot counts fit in int64.
MID_RANGE = (1e-100, 1e100)
DEPTH_SCALE_MAX = 1e9
MAX_LEVELS = 10_000_000
MAX_TICKS_PER_MID = 1e15  # mid / tick
SPREAD_BPS_MAX = 1e4  # 100 % of mid


def _round_sizes(q: F64) -> F64:
    """Each size moved to the nearest of 1, 2, 2.5, 5 times a power of ten (on a log scale)."""
    e = np.floor(np.log10(q))
    mant = q / 10.0**e
    cands = np.array([1.0, 2.0, 2.5, 5.0, 10.0])
    idx = np.argmin(np.abs(np.log(mant[:, None] / cands[None, :])), axis=1)
    out: F64 = cands[idx] * 10.0**e
    return out


def _side(
    rng: np.random.Generator, n: int, mid: float, tick: float, lot: float
) -> tuple[npt.NDArray[np.int64], F64, npt.NDArray[np.bool_]]:
    """Tick offsets from the best price (0, strictly increasing), notionals, and which levels
    take a round size."""
    # Level distances: sorted i.i.d. draws from the measured level density.
    u = np.sort(rng.random(n))
    dist = np.interp(u * _LEVELS[-1], _LEVELS, _KNOTS_BPS)
    ticks_per_bps = mid / 1e4 / tick
    k = np.floor(dist * ticks_per_bps).astype(np.int64)
    k[0] = 0
    # strictly increasing: k_i >= k_{i-1} + 1 (pushes colliding levels outward)
    idx = np.arange(n, dtype=np.int64)
    k = idx + np.maximum.accumulate(k - idx)

    # Weights: dust, log-normal body, Pareto whales; some round sizes and ladder sizes.
    kind = rng.random(n)
    dust = kind < _DUST_P
    whale = kind >= 1.0 - _WHALE_P
    body = ~dust & ~whale
    w = rng.lognormal(0.0, _BODY_SIGMA, n)
    w[whale] = _WHALE_SCALE * (1.0 + rng.pareto(_WHALE_ALPHA, int(whale.sum())))
    ladder = rng.lognormal(0.0, 1.0, _LADDER_SIZES)
    pick = rng.random(n)
    which = rng.integers(0, _LADDER_SIZES, n)
    lad = body & (pick < _LADDER_P)
    w[lad] = ladder[which[lad]]
    rnd = body & (pick >= _LADDER_P) & (pick < _LADDER_P + _ROUND_P)
    dust_lots = 1 + rng.geometric(0.3, n)  # 2, 3, ... lots, mostly small
    np.minimum(dust_lots, 10, out=dust_lots)

    notional = np.zeros(n, dtype=np.float64)
    notional[dust] = dust_lots[dust] * lot * mid
    # Scale the non-dust levels of each knot segment to the profile's notional there.
    seg = np.clip(np.searchsorted(_KNOTS_BPS, dist, side="left") - 1, 0, _KNOTS_BPS.size - 2)
    target = np.diff(_NOTIONAL)
    carry = 0.0
    for j in range(target.size):
        inseg = seg == j
        big = inseg & ~dust
        want = target[j] + carry - notional[inseg & dust].sum()
        tot = w[big].sum()
        if tot > 0.0 and want > 0.0:
            notional[big] = w[big] * (want / tot)
            carry = 0.0
        else:
            carry = max(want, 0.0)
    if carry > 0.0:  # nothing beyond: the last non-dust level takes the rest
        last = np.flatnonzero(~dust)
        notional[last[-1] if last.size else n - 1] += carry
    return k, notional, rnd


def synthetic_book_arrays(
    mid: float = 60_000.0,
    *,
    levels: int = 5_000,
    tick: Optional[float] = None,
    spread_bps: Optional[float] = None,
    depth_scale: float = 1.0,
    seed: int = 0,
) -> BookArrays:
    """The arrays of :func:`synthetic_book` (bids descending, asks ascending, best first)."""
    mid = _positive("mid", mid, *MID_RANGE)
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        raise TypeError(f"levels must be an int (got {type(levels).__name__})")
    if levels < 1:
        raise ValueError(f"levels must be >= 1 (got {levels})")
    if levels > MAX_LEVELS:
        raise ValueError(f"levels must be <= {MAX_LEVELS} (got {levels})")
    n = int(levels)
    if tick is None:
        tick = _pow10_at_or_below(mid / 600_000.0)
    else:
        tick = _positive("tick", tick)
        if not mid / tick <= MAX_TICKS_PER_MID:
            raise ValueError(
                f"tick {tick!r} is too fine for mid {mid!r}: "
                f"mid / tick must be <= {MAX_TICKS_PER_MID:g}"
            )
    depth_scale = _positive("depth_scale", depth_scale, hi=DEPTH_SCALE_MAX)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int (got {seed!r})")
    spread_ticks = 1
    if spread_bps is not None:
        if isinstance(spread_bps, bool) or not isinstance(
            spread_bps, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"spread_bps must be a real number (got {type(spread_bps).__name__})")
        if not (math.isfinite(spread_bps) and spread_bps >= 0.0):
            raise ValueError(f"spread_bps must be finite and >= 0 (got {spread_bps!r})")
        if spread_bps > SPREAD_BPS_MAX:
            raise ValueError(f"spread_bps must be <= {SPREAD_BPS_MAX:g} (got {spread_bps!r})")
        spread_ticks = max(1, round(float(spread_bps) * mid / 1e4 / tick))
    lot = _pow10_at_or_below(100.0 / mid)

    best_bid = math.floor(round(mid / tick - spread_ticks / 2.0, 6))  # 60000 / 0.1 is inexact
    if best_bid < 1:
        spread = "" if spread_bps is None else f" at spread_bps {spread_bps!r}"
        raise ValueError(
            f"tick {tick!r} is too coarse for mid {mid!r}{spread}: no bid price below mid"
        )
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    out: list[F64] = []
    for side in ("bid", "ask"):
        k, notional, rnd = _side(rng, n, mid, tick, lot)
        if side == "bid":
            units = best_bid - k
            if units[-1] < 1:
                raise ValueError(
                    f"levels={n} bid levels do not fit above 0 at tick {tick!r} and mid {mid!r}"
                )
        else:
            units = best_bid + spread_ticks + k
        px = _scaled(units, tick)
        q = notional / px
        q[rnd] = _round_sizes(np.maximum(q[rnd], lot))  # after the segment scaling: stay round
        q *= depth_scale
        lots = np.maximum(np.rint(q / lot), 1.0).astype(np.int64)
        out += [px, _scaled(lots, lot)]
    return BookArrays(out[0], out[1], out[2], out[3])


def synthetic_book(
    mid: float = 60_000.0,
    *,
    levels: int = 5_000,
    tick: Optional[float] = None,
    spread_bps: Optional[float] = None,
    depth_scale: float = 1.0,
    seed: int = 0,
) -> Book:
    """A deterministic synthetic L2 book shaped like a large perpetual (BTCUSDT on Binance).

    ``mid``: price around which the book is centred (quote per base, > 0). ``levels``: levels per
    side. ``tick``: price grid (default from ``mid``: 0.1 at 60,000). ``spread_bps``: best ask -
    best bid in bps of ``mid``, rounded to whole ticks, at least one (default one tick).
    ``depth_scale``: multiplies every quantity (the notional depth profile). ``seed``: the
    ``PCG64`` seed; the same arguments give the same book bit for bit.

    Ranges (ValueError naming the argument outside them): ``mid`` in [1e-100, 1e100],
    ``levels`` in [1, 10,000,000], ``mid / tick`` <= 1e15, ``depth_scale`` <= 1e9,
    ``spread_bps`` in [0, 10,000].

    Depth at the default scale (cumulative notional per side, any ``mid``): 10 bps $6.5M,
    50 bps $45M, 100 bps $83M, 200 bps $203M. See the module docstring for the profile and the
    data it was fitted to.
    """
    return synthetic_book_arrays(
        mid, levels=levels, tick=tick, spread_bps=spread_bps, depth_scale=depth_scale, seed=seed
    ).to_book()
