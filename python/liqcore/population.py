"""Synthetic position populations: deterministic, with documented knobs, fitted to targets.

:func:`synthetic_positions` draws ``n`` isolated linear positions around a mark price:

1. **Side**: long with probability ``long_fraction`` (by count).
2. **Notional** at entry (quote) from ``notional``: default :data:`DEFAULT_NOTIONAL`, log-normal
   with median $5,000 and log-sd 1.5, clipped to [$50, $5M] (a heavy right tail: the mean is
   about three times the median).
3. **Leverage** from ``leverage``: default :data:`DEFAULT_LEVERAGE`, a discrete mix over the
   round settings traders pick on large venues, 2x..100x with weights
   2x 4%, 3x 6%, 5x 15%, 10x 30%, 20x 20%, 25x 10%, 50x 8%, 75x 4%, 100x 3% (illustrative, not
   measured on one venue: 10x and 20x are the common settings, high leverage is a thin tail).
4. **Entry price** ``mark · LogNormal(0, entry_dispersion)``: positions opened at earlier prices.
5. ``size = side · notional / entry``, ``margin = notional / leverage``.
6. With ``only_healthy=True`` (default) positions already liquidatable at ``mark`` (equity below
   maintenance under ``mmr`` or ``tiers``) are dropped, as a live venue would have closed them,
   and more are drawn until there are ``n``.
7. **Targets** (optional): ``open_interest`` (total notional at the mark, ``sum |size| · mark``,
   quote) and ``long_short_ratio`` (long notional over short notional, at the mark) are then hit
   exactly by :func:`calibrate_positions`, which scales the sizes and margins of each side by one
   factor (leverage, entry prices and, with a flat ``mmr``, liquidation prices are unchanged).

Determinism: every draw comes from ``numpy.random.default_rng([seed, 0x11C0])`` in a fixed
order, so the same arguments give the same bits on every run.

Distributions are :class:`LogNormal` (``median``, ``sigma``, clipped to ``[low, high]``) or
:class:`Discrete` (``values`` with ``weights``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from liqcore._arrays import F64, as_f64, real
from liqcore.margin import MarginTiers, maintenance_margin
from liqcore.positions import Positions

__all__ = [
    "DEFAULT_LEVERAGE",
    "DEFAULT_NOTIONAL",
    "Discrete",
    "LogNormal",
    "calibrate_positions",
    "synthetic_positions",
]

_SEED_TAG = 0x11C0  # the second word of the generator's seed
_MARK_RANGE = (1e-100, 1e100)  # prices, sizes and notionals stay far from the float limits
_MAX_DISPERSION = 5.0  # log-sd of entry / mark: e**(5 * 8) is still a finite price ratio
_MAX_N = 1_000_000_000
_MAX_DRAWS = 100  # a population needs at most this many times n draws (else: an error)


@dataclass(frozen=True)
class LogNormal:
    """``exp(N(log(median), sigma²))`` clipped to ``[low, high]``.

    ``median`` finite and > 0; ``sigma`` finite and >= 0; ``0 <= low <= high`` (``high`` may be
    ``inf``).
    """

    median: float
    sigma: float
    low: float = 0.0
    high: float = math.inf

    def __post_init__(self) -> None:
        med = real("median", self.median)
        sig = real("sigma", self.sigma)
        lo = real("low", self.low)
        hi = real("high", self.high)
        if not (math.isfinite(med) and med > 0.0):
            raise ValueError(f"median must be finite and > 0 (got {med!r})")
        if not (math.isfinite(sig) and sig >= 0.0):
            raise ValueError(f"sigma must be finite and >= 0 (got {sig!r})")
        if not (math.isfinite(lo) and lo >= 0.0):
            raise ValueError(f"low must be finite and >= 0 (got {lo!r})")
        if not (hi >= lo):  # NaN fails too
            raise ValueError(f"high must be >= low (got high={hi!r}, low={lo!r})")
        sig += 0.0  # -0.0 is 0
        for k, v in (("median", med), ("sigma", sig), ("low", lo), ("high", hi)):
            object.__setattr__(self, k, v)

    def _sample(self, rng: np.random.Generator, m: int) -> F64:
        """``m`` draws from ``rng``."""
        out: F64 = np.clip(rng.lognormal(np.log(self.median), self.sigma, m), self.low, self.high)
        return out


class Discrete:
    """``values[k]`` with probability ``weights[k] / sum(weights)``.

    ``values`` finite and > 0; ``weights`` finite, >= 0, not all 0, of the same length.
    """

    __slots__ = ("_cdf", "_values", "_weights")

    def __init__(self, values: Any, weights: Any) -> None:
        v = np.array(as_f64("values", values), dtype=np.float64, ndmin=1)
        w = np.array(as_f64("weights", weights), dtype=np.float64, ndmin=1)
        if v.shape[0] == 0:
            raise ValueError("values must not be empty")
        if w.shape != v.shape:
            raise ValueError(f"weights has length {w.shape[0]}, expected {v.shape[0]} "
                             "(the length of values)")
        with np.errstate(invalid="ignore"):
            bad_v = ~(np.isfinite(v) & (v > 0))
            bad_w = ~(np.isfinite(w) & (w >= 0))
        if bad_v.any():
            i = int(np.argmax(bad_v))
            raise ValueError(f"values[{i}] must be finite and > 0 (got {float(v[i])!r})")
        if bad_w.any():
            i = int(np.argmax(bad_w))
            raise ValueError(f"weights[{i}] must be finite and >= 0 (got {float(w[i])!r})")
        total = float(w.sum())
        if not total > 0.0:
            raise ValueError("weights must not all be 0")
        v.flags.writeable = False
        w.flags.writeable = False
        self._values = v
        self._weights = w
        self._cdf = np.cumsum(w) / total

    @property
    def values(self) -> F64:
        """The values (read-only)."""
        return self._values

    @property
    def weights(self) -> F64:
        """The weights as given (read-only)."""
        return self._weights

    def _sample(self, rng: np.random.Generator, m: int) -> F64:
        """``m`` draws from ``rng`` (one uniform each, inverted through the CDF)."""
        idx = np.searchsorted(self._cdf, rng.random(m), side="right")
        np.minimum(idx, self._values.shape[0] - 1, out=idx)  # the CDF may end at 1 - ulp
        out: F64 = self._values[idx]
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Discrete):
            return NotImplemented
        return bool(
            np.array_equal(self._values, other._values)
            and np.array_equal(self._weights, other._weights)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        pairs = ", ".join(f"{v:g}: {w:g}" for v, w in zip(self._values, self._weights))
        return f"Discrete({{{pairs}}})"


Distribution = Union[LogNormal, Discrete]

#: Default notional at entry, quote: median $5,000, log-sd 1.5, clipped to [$50, $5M].
DEFAULT_NOTIONAL = LogNormal(5_000.0, 1.5, low=50.0, high=5e6)
#: Default leverage: round settings 2x..100x, most at 10x-20x (see the module docstring).
DEFAULT_LEVERAGE = Discrete(
    [2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0],
    [0.04, 0.06, 0.15, 0.30, 0.20, 0.10, 0.08, 0.04, 0.03],
)


def _int(name: str, x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int (got {type(x).__name__})")
    v = int(x)
    if v < 0:
        raise ValueError(f"{name} must be an int >= 0 (got {v})")
    return v


def _positive(name: str, x: Any, *, zero: bool = False) -> float:
    v = real(name, x)
    ok = math.isfinite(v) and (v >= 0.0 if zero else v > 0.0)
    if not ok:
        raise ValueError(f"{name} must be finite and {'>=' if zero else '>'} 0 (got {v!r})")
    return v


def _distribution(name: str, d: Any) -> Distribution:
    if not isinstance(d, (LogNormal, Discrete)):
        raise TypeError(
            f"{name} must be a liqcore.population.LogNormal or Discrete (got {type(d).__name__})"
        )
    return d


def _side_notionals(positions: Positions, mark: float) -> tuple[float, float]:
    q = positions._size
    notional = np.abs(q) * mark
    return float(notional[q > 0].sum()), float(notional[q < 0].sum())


def calibrate_positions(
    positions: Positions,
    *,
    mark: float,
    open_interest: float | None = None,
    long_short_ratio: float | None = None,
) -> Positions:
    """``positions`` with each side's sizes and margins scaled to hit the targets exactly.

    ``open_interest``: total notional at ``mark``, ``sum |size| · mark`` (quote, > 0); None keeps
    the current one. ``long_short_ratio``: long notional over short notional at ``mark`` (> 0);
    None keeps the current one. Longs are scaled by one factor and shorts by another, so entry
    prices and leverage stay; with a flat maintenance rate the liquidation prices do too (with
    tiers a position's tier can change). The targets are met up to rounding (relative 1e-12).
    Linear contracts. Raises ValueError when a side that must hold notional is empty.
    """
    if not isinstance(positions, Positions):
        raise TypeError(f"positions must be a liqcore.Positions (got {type(positions).__name__})")
    p = _positive("mark", mark)
    oi = None if open_interest is None else _positive("open_interest", open_interest)
    ratio = None if long_short_ratio is None else _positive("long_short_ratio", long_short_ratio)
    if oi is None and ratio is None:
        return positions
    longs, shorts = _side_notionals(positions, p)
    total = longs + shorts
    if oi is None:
        oi = total
    if ratio is None:
        if total == 0.0:
            raise ValueError("open_interest cannot be reached: the positions hold no notional")
        k_long = k_short = oi / total
    else:
        if longs == 0.0:
            raise ValueError("long_short_ratio cannot be reached: there are no long positions")
        if shorts == 0.0:
            raise ValueError("long_short_ratio cannot be reached: there are no short positions")
        k_long = oi * ratio / (1.0 + ratio) / longs
        k_short = oi / (1.0 + ratio) / shorts
    q = positions._size
    k = np.where(q > 0, k_long, k_short)
    with np.errstate(over="ignore", invalid="ignore"):
        size, margin = q * k, positions._margin * k
        ok = bool(np.isfinite(size).all() and np.isfinite(margin).all() and np.isfinite(k).all())
    if not ok:
        raise ValueError(
            f"open_interest={oi!r} and long_short_ratio={ratio!r} scale the sizes or margins "
            "beyond the float range"
        )
    return Positions(size, positions._entry_price.copy(), margin, account=positions._account)


def synthetic_positions(
    n: int,
    *,
    mark: float,
    open_interest: float | None = None,
    long_short_ratio: float | None = None,
    long_fraction: float = 0.5,
    notional: Distribution = DEFAULT_NOTIONAL,
    leverage: Distribution = DEFAULT_LEVERAGE,
    entry_dispersion: float = 0.02,
    mmr: float = 0.005,
    tiers: MarginTiers | None = None,
    only_healthy: bool = True,
    seed: int = 0,
) -> Positions:
    """``n`` synthetic isolated linear positions around ``mark`` (see the module docstring).

    Parameters
    ----------
    n : int
        Number of positions (>= 0); account ids are ``0 .. n-1``.
    mark : float
        Current mark price (finite, > 0).
    open_interest, long_short_ratio : float, optional
        Targets hit exactly by rescaling each side (:func:`calibrate_positions`): total
        notional at the mark (quote) and long over short notional. None: as drawn.
    long_fraction : float
        Probability that a drawn position is long, in [0, 1] (default 0.5). With a
        ``long_short_ratio`` target it only sets how many positions each side has.
    notional, leverage : LogNormal or Discrete
        Notional at entry (quote) and leverage (notional / margin) distributions; defaults
        :data:`DEFAULT_NOTIONAL` and :data:`DEFAULT_LEVERAGE`.
    entry_dispersion : float
        Log-sd of ``entry_price / mark`` (>= 0; default 0.02).
    mmr, tiers
        Maintenance rule of the health filter (flat rate, or :class:`liqcore.MarginTiers`).
    only_healthy : bool
        Drop the positions liquidatable at ``mark`` and draw more (default True).
    seed : int
        Seed (>= 0); same arguments, same bits.
    """
    n = _int("n", n)
    if n > _MAX_N:
        raise ValueError(f"n must be <= {_MAX_N:,} (got {n})")
    p = _positive("mark", mark)
    if open_interest is not None:
        _positive("open_interest", open_interest)
    if long_short_ratio is not None:
        _positive("long_short_ratio", long_short_ratio)
    lf = real("long_fraction", long_fraction)
    if not 0.0 <= lf <= 1.0:
        raise ValueError(f"long_fraction must be in [0, 1] (got {lf!r})")
    notional = _distribution("notional", notional)
    leverage = _distribution("leverage", leverage)
    if not _MARK_RANGE[0] <= p <= _MARK_RANGE[1]:
        raise ValueError(f"mark must be in [{_MARK_RANGE[0]:g}, {_MARK_RANGE[1]:g}] (got {p!r})")
    disp = _positive("entry_dispersion", entry_dispersion, zero=True) + 0.0  # -0.0 is 0
    if disp > _MAX_DISPERSION:
        raise ValueError(f"entry_dispersion must be <= {_MAX_DISPERSION:g} (got {disp!r})")
    if tiers is None:
        rate = real("mmr", mmr)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"mmr must be finite and in [0, 1] (got {rate!r})")
    else:
        if not isinstance(tiers, MarginTiers):
            raise TypeError(f"tiers must be a MarginTiers or None (got {type(tiers).__name__})")
        if not (isinstance(mmr, (int, float)) and mmr == 0.005):
            raise ValueError("pass either mmr or tiers, not both (tiers carry their own rates)")
    if not isinstance(only_healthy, (bool, np.bool_)):
        raise TypeError(f"only_healthy must be a bool (got {type(only_healthy).__name__})")
    seed = _int("seed", seed)

    rng = np.random.default_rng([seed, _SEED_TAG])
    parts: list[tuple[F64, F64, F64]] = []
    have = drawn = 0
    m = int(n * 1.3) + 16  # oversample, then keep the first n healthy ones
    while True:
        side = np.where(rng.random(m) < lf, 1.0, -1.0)
        nl = notional._sample(rng, m)
        lev = leverage._sample(rng, m)
        entry = p * rng.lognormal(0.0, disp, m)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            size = side * nl / entry
            margin = nl / lev
            finite = np.isfinite(size).all() and np.isfinite(margin).all()
        if not (finite and np.isfinite(entry).all() and (entry > 0).all()):
            raise ValueError(
                "the drawn positions leave the float range: reduce notional, leverage, "
                f"entry_dispersion or mark (got mark={p!r}, entry_dispersion={disp!r})"
            )
        drawn += m
        if only_healthy:
            if tiers is None:
                healthy = margin + size * (p - entry) >= rate * np.abs(size) * p
            else:
                mm = maintenance_margin(size, p, tiers=tiers)
                healthy = margin + size * (p - entry) >= mm
            keep = np.flatnonzero(healthy)[: n - have]
        else:
            keep = np.arange(min(m, n - have))
        parts.append((size[keep], entry[keep], margin[keep]))
        have += keep.shape[0]
        if have >= n:
            break
        if drawn >= _MAX_DRAWS * max(n, 1):
            raise ValueError(
                f"only {have} of {drawn} drawn positions are healthy at mark {p!r}: lower the "
                "leverage or entry_dispersion, or pass only_healthy=False"
            )
        rate_ok = max(have, 1) / drawn
        m = min(int((n - have) / rate_ok * 1.3), 8 * n) + 16
    cols = [np.ascontiguousarray(np.concatenate([c[j] for c in parts])) for j in range(3)]
    pos = Positions(cols[0], cols[1], cols[2], account=np.arange(n, dtype=np.int64))
    return calibrate_positions(
        pos, mark=p, open_interest=open_interest, long_short_ratio=long_short_ratio
    )
