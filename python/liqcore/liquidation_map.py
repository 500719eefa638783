"""Liquidation maps: how much notional becomes liquidatable at each price level.

:func:`liquidation_map` computes every position's liquidation price ``LP`` with
:func:`liqcore.liquidation_price` and sorts the positions into price bins:

- a **long** is liquidatable once the mark falls below its ``LP``; it is counted in the bin
  holding ``LP`` when ``LP < mark`` (as the price falls from the mark it is reached);
- a **short** is liquidatable once the mark rises above its ``LP``; it is counted when
  ``LP > mark``.

Positions already liquidatable at the mark (longs with ``LP >= mark``, shorts with
``LP <= mark``) are not binned: their notional is ``long_now`` / ``short_now``. Positions that
no positive price liquidates (a linear long with ``LP = 0``, an inverse short with
``LP = inf``) and flat ones (``size == 0``) are left out.

**Notional at the liquidation price**: each position counts ``|size| · LP`` (linear, quote) or
``|size| · C / LP`` (inverse, coin), the value the liquidation engine has to sell (longs) or buy
(shorts) when the price gets there. This is the money that hits the book at that level; valuing
at the current mark instead would scale each position by ``mark / LP``.

Bins follow ``np.histogram``: ``[edges[j], edges[j+1])``, the last one closed. The cumulative
arrays run from the mark outward: ``long_cumulative[j]`` is the notional of the longs with
``edges[j] <= LP < mark`` (liquidated once the price has fallen to the bin's lower edge),
``short_cumulative[j]`` that of the shorts with ``mark < LP < edges[j+1]`` (``<=`` for the last
bin), liquidated once the price has risen to its upper edge. Positions outside the edges count
in the cumulative arrays when they lie between the mark and a bin (the mark may be outside the
edges), never in the per-bin ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from liqcore import _repr_html
from liqcore._arrays import F64, as_f64, check_option, real, scalar
from liqcore.margin import MarginTiers, liquidation_price
from liqcore.positions import Positions
from liqcore.result import Rows, _frozen, _pandas, _repr_of

__all__ = ["LiquidationMap", "liquidation_map"]

_FIELDS = ("price_low", "price_high", "long", "short", "long_cumulative", "short_cumulative")


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use (ImportError naming ``liqcore[plot]``)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot() needs matplotlib: pip install liqcore[plot]") from None
    return plt


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax``, or the axes of a new figure of ``figsize`` when it is None (needs matplotlib)."""
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _legend(ax: Any, ax2: Any, title: str) -> Any:
    """One legend for ``ax`` and its twin ``ax2``, and the title; returns ``ax``."""
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="best")
    ax.set_title(title)
    return ax


@dataclass(frozen=True, eq=False)
class LiquidationMap(Rows):
    """Liquidatable notional per price bin (see the module docstring for the definitions).

    ``edges`` (length ``bins + 1``, ascending), ``long``, ``short``, ``long_cumulative``,
    ``short_cumulative`` (length ``bins``), ``liquidation_prices`` (one per position, as
    :func:`liqcore.liquidation_price`): read-only float64 arrays. ``mark``; ``long_now`` and
    ``short_now``: notional already liquidatable at the mark; ``contract``. Money in the margin
    currency (quote for linear contracts, coin for inverse ones).
    """

    _ROWS = "long"

    mark: float
    edges: F64
    long: F64
    short: F64
    long_cumulative: F64
    short_cumulative: F64
    long_now: float
    short_now: float
    liquidation_prices: F64
    contract: str

    @property
    def centers(self) -> F64:
        """Bin midpoints."""
        return _frozen(0.5 * (self.edges[:-1] + self.edges[1:]))

    def to_dict(self) -> dict[str, Any]:
        """Columns as lists plus the scalars (JSON-compatible)."""
        cols = {f: getattr(self, f).tolist() for f in ("edges", *_FIELDS[2:])}
        return {
            "mark": self.mark,
            "contract": self.contract,
            "long_now": self.long_now,
            "short_now": self.short_now,
            **cols,
        }

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per bin: price_low, price_high, long, short,
        long_cumulative, short_cumulative."""
        return _pandas().DataFrame(
            {
                "price_low": self.edges[:-1],
                "price_high": self.edges[1:],
                "long": self.long,
                "short": self.short,
                "long_cumulative": self.long_cumulative,
                "short_cumulative": self.short_cumulative,
            }
        )

    def plot(self, ax: Any = None) -> Any:
        """Bars of long (below the mark) and short (above) notional per bin, the cumulative
        curves on a second axis and the mark; returns the axes. Needs matplotlib."""
        ax = _axes(ax, (9, 5))
        width = np.diff(self.edges)
        ax.bar(self.edges[:-1], self.long, width=width, align="edge", color="tab:red",
               alpha=0.7, label="longs liquidated")
        ax.bar(self.edges[:-1], self.short, width=width, align="edge", color="tab:green",
               alpha=0.7, label="shorts liquidated")
        ax.axvline(self.mark, color="k", lw=1, ls="--", label="mark")
        ax.set_xlabel("price")
        ax.set_ylabel("notional per bin")
        ax2 = ax.twinx()
        # cumulative notional once the price has moved from the mark to each far edge
        low = self.edges[:-1] < self.mark
        high = self.edges[1:] > self.mark
        ax2.plot(np.r_[self.mark, self.edges[:-1][low][::-1]],
                 np.r_[0.0, self.long_cumulative[low][::-1]], color="darkred", marker=".",
                 label="cumulative longs")
        ax2.plot(np.r_[self.mark, self.edges[1:][high]], np.r_[0.0, self.short_cumulative[high]],
                 color="darkgreen", marker=".", label="cumulative shorts")
        ax2.set_ylabel("cumulative notional from the mark")
        return _legend(ax, ax2, "Liquidation map")

    def _repr_html_(self) -> str:
        return _repr_html.render(self)

    def __repr__(self) -> str:
        return _repr_of(
            "LiquidationMap",
            ("bins", len(self), ""),
            ("mark", self.mark, ".8g"),
            ("range", f"[{self.edges[0]:.8g}, {self.edges[-1]:.8g}]", ""),
            ("long", float(self.long.sum()), ".6g"),
            ("short", float(self.short.sum()), ".6g"),
            ("long_now", self.long_now, ".6g"),
            ("short_now", self.short_now, ".6g"),
        )


def _edges(prices: Any, bins: Any, span: Any, mark: float) -> F64:
    if prices is not None:
        if bins is not None:
            raise ValueError("pass either prices (bin edges) or bins, not both")
        e = np.array(as_f64("prices", prices), dtype=np.float64, ndmin=1)
        if e.shape[0] < 2:
            raise ValueError(f"prices must hold at least 2 bin edges (got {e.shape[0]})")
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(e) & (e > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"prices[{i}] must be finite and > 0 (got {float(e[i])!r})")
        dec = np.diff(e) <= 0
        if dec.any():
            i = int(np.argmax(dec)) + 1
            raise ValueError(
                f"prices[{i}] must be > prices[{i - 1}]: bin edges strictly increase "
                f"(got {float(e[i])!r} after {float(e[i - 1])!r})"
            )
        return e
    if bins is None:
        bins = 100
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins must be an int (got {type(bins).__name__})")
    if not 1 <= int(bins) <= 10_000_000:
        raise ValueError(f"bins must be in [1, 10000000] (got {int(bins)})")
    s = real("span", span)
    if not (math.isfinite(s) and 0.0 < s < 1.0):
        raise ValueError(f"span must be in (0, 1) (got {s!r})")
    e = mark * (1.0 + s * np.linspace(-1.0, 1.0, int(bins) + 1))
    return e


def _side_sums(lp: F64, w: F64, edges: F64) -> F64:
    """Per-bin sums of ``w`` over ``lp`` (np.histogram's bins), by searchsorted + bincount."""
    nb = edges.shape[0] - 1
    idx = np.searchsorted(edges, lp, side="right") - 1
    idx[lp == edges[-1]] = nb - 1  # the last bin is closed
    inside = (idx >= 0) & (idx < nb)
    return np.bincount(idx[inside], weights=w[inside], minlength=nb).astype(np.float64)


def liquidation_map(
    positions: Positions,
    prices: Any = None,
    *,
    mark: float,
    bins: int | None = None,
    span: float = 0.2,
    mmr: Any = None,
    tiers: MarginTiers | None = None,
    contract: str = "linear",
    contract_size: float = 1.0,
) -> LiquidationMap:
    """The notional that becomes liquidatable at each price level, longs below the mark and
    shorts above it (see the module docstring).

    Parameters
    ----------
    positions : Positions
        Isolated positions of one market.
    prices : array-like, optional
        Bin edges (at least 2, finite, > 0, strictly increasing). Default: ``bins`` equal bins
        over ``mark · [1 - span, 1 + span]``.
    mark : float
        Current mark price (finite, > 0).
    bins : int, optional
        Number of equal bins when ``prices`` is None (default 100).
    span : float
        Half-width of the default range, relative to the mark, in (0, 1) (default 0.2).
    mmr, tiers, contract, contract_size
        As :func:`liqcore.liquidation_price` (``mmr`` defaults to 0.005; not with ``tiers``).
    """
    if not isinstance(positions, Positions):
        raise TypeError(f"positions must be a liqcore.Positions (got {type(positions).__name__})")
    p = scalar("mark", mark)
    check_option("contract", contract, ("linear", "inverse"))
    edges = _frozen(_edges(prices, bins, span, p))
    q = positions._size
    lp = np.asarray(
        liquidation_price(
            q, positions._entry_price, positions._margin, mmr,
            tiers=tiers, contract=contract, contract_size=contract_size,
        ),
        dtype=np.float64,
    ).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = np.abs(q) * lp if contract == "linear" else np.abs(q) * float(contract_size) / lp
    # drops size 0 (NaN), "never" (0 or inf) and, at mmr = 1, "always" (inf or 0: already
    # liquidatable at the mark, so at no price of the map)
    alive = np.isfinite(lp) & (lp > 0.0)
    is_long = alive & (q > 0)
    is_short = alive & (q < 0)
    long_bin = is_long & (lp < p)
    short_bin = is_short & (lp > p)
    long_now = float(w[is_long & ~long_bin].sum())
    short_now = float(w[is_short & ~short_bin].sum())

    lpl, wl = lp[long_bin], w[long_bin]
    lps, ws = lp[short_bin], w[short_bin]
    long_per = _side_sums(lpl, wl, edges)
    short_per = _side_sums(lps, ws, edges)
    # between the mark and the edges: count in the cumulative sums, not per bin
    long_beyond = float(wl[lpl > edges[-1]].sum())
    short_beyond = float(ws[lps < edges[0]].sum())
    long_cum = np.cumsum(long_per[::-1])[::-1] + long_beyond
    short_cum = np.cumsum(short_per) + short_beyond
    # bins wholly on the other side of the mark hold nothing cumulative
    long_cum[edges[:-1] >= p] = 0.0
    short_cum[edges[1:] <= p] = 0.0
    return LiquidationMap(
        mark=p,
        edges=edges,
        long=_frozen(long_per),
        short=_frozen(short_per),
        long_cumulative=_frozen(np.ascontiguousarray(long_cum)),
        short_cumulative=_frozen(np.ascontiguousarray(short_cum)),
        long_now=long_now,
        short_now=short_now,
        liquidation_prices=_frozen(lp),
        contract=contract,
    )
