"""Rich display of result objects in Jupyter: ``_repr_html_`` of every result class calls
:func:`render`, which returns a compact HTML table of the headline figures (``summary()``)
beside a small inline SVG figure. No dependency beyond NumPy; nothing here is public API.

The figures are drawn by hand as SVG (a few hundred bytes each): a line of the marks per round
for cascades, a histogram of the bad debt with VaR, ES and the fund for stress tests, the split
of the bad debt between fund, counterparties and uncovered for one liquidation batch, the bad
debt per shock for a deficit curve and the liquidatable notional per bin for a liquidation map.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

__all__ = ["fmt", "html_table", "render", "table"]

_W, _H = 320.0, 170.0  # figure size, px
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 48.0, 10.0, 22.0, 26.0
_RED, _GREEN, _BLUE, _GREY, _ORANGE = "#d62728", "#2ca02c", "#1f77b4", "#7f7f7f", "#ff7f0e"


# ---- numbers and tables ------------------------------------------------------------------------


def fmt(v: Any) -> str:
    """A number for people: thousands separators, 2 decimals for money-sized floats."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if not math.isfinite(x):
            return str(x)
        if x == 0.0:
            return "0"
        if abs(x) >= 1_000:
            return f"{x:,.2f}"
        return f"{x:.6g}"
    return str(v)


def html_table(
    rows: Sequence[Sequence[Any]],
    *,
    header: Sequence[str] | None = None,
    named: bool = False,
    caption: str = "",
    attrs: str = "",
    th: str = "",
    td: str = "",
) -> str:
    """An HTML table of formatted values (:func:`fmt`): a ``header`` row when given; with
    ``named`` the first cell of each row is its name (a ``<th>``). ``attrs``, ``th`` and ``td``
    are the attributes of the ``<table>``, ``<th>`` and ``<td>`` tags (with a leading space);
    also the tables of the HTML report (:mod:`liqcore.report_html`)."""
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = (
        "" if header is None
        else "<tr>" + "".join(f"<th{th}>{html.escape(h)}</th>" for h in header) + "</tr>"
    )
    body = "".join(
        "<tr>"
        + (f"<th{th}>{html.escape(str(row[0]))}</th>" if named else "")
        + "".join(f"<td{td}>{html.escape(fmt(v))}</td>" for v in row[1 if named else 0 :])
        + "</tr>"
        for row in rows
    )
    return f"<table{attrs}>{cap}{head}{body}</table>"


def table(rows: Sequence[tuple[str, Any]], caption: str = "") -> str:
    """A two-column HTML table (name, formatted value)."""
    return html_table(
        rows, named=True, caption=caption, attrs=" class='liqcore-summary'",
        th=" style='text-align:left;padding:1px 8px'",
        td=" style='text-align:right;padding:1px 8px;font-family:monospace'",
    )


def _grid(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return html_table(
        rows, header=header, attrs=" class='liqcore-grid'", th=" style='padding:1px 6px'",
        td=" style='text-align:right;padding:1px 6px;font-family:monospace'",
    )


# ---- SVG ----------------------------------------------------------------------------------------


def _finite(a: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    x = np.asarray(a, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi <= lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    return lo, hi


class _Axes:
    """Maps data to pixels inside the padded plot area."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        self.x0, self.x1 = x
        self.y0, self.y1 = y

    def px(self, x: float) -> float:
        return _PAD_L + (x - self.x0) / (self.x1 - self.x0) * (_W - _PAD_L - _PAD_R)

    def py(self, y: float) -> float:
        return _H - _PAD_B - (y - self.y0) / (self.y1 - self.y0) * (_H - _PAD_T - _PAD_B)


def _svg(ax: _Axes, body: list[str], title: str, xlabel: str, legend: Sequence[tuple[str, str]]
         ) -> str:
    t = html.escape
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W:.0f}' height='{_H:.0f}' "
        f"viewBox='0 0 {_W:.0f} {_H:.0f}' style='font:10px sans-serif'>",
        f"<rect x='0' y='0' width='{_W:.0f}' height='{_H:.0f}' fill='white'/>",
        f"<text x='{_W / 2:.0f}' y='13' text-anchor='middle' font-weight='bold'>{t(title)}</text>",
        f"<line x1='{_PAD_L}' y1='{_H - _PAD_B}' x2='{_W - _PAD_R}' y2='{_H - _PAD_B}' "
        "stroke='black' stroke-width='0.6'/>",
        f"<line x1='{_PAD_L}' y1='{_PAD_T}' x2='{_PAD_L}' y2='{_H - _PAD_B}' "
        "stroke='black' stroke-width='0.6'/>",
        # axis extremes as text: enough to read the scale
        f"<text x='{_PAD_L - 3}' y='{_PAD_T + 4}' text-anchor='end'>{t(_short(ax.y1))}</text>",
        f"<text x='{_PAD_L - 3}' y='{_H - _PAD_B}' text-anchor='end'>{t(_short(ax.y0))}</text>",
        f"<text x='{_PAD_L}' y='{_H - _PAD_B + 11}' text-anchor='start'>{t(_short(ax.x0))}</text>",
        f"<text x='{_W - _PAD_R}' y='{_H - _PAD_B + 11}' text-anchor='end'>"
        f"{t(_short(ax.x1))}</text>",
        f"<text x='{(_PAD_L + _W - _PAD_R) / 2:.0f}' y='{_H - 4}' text-anchor='middle' "
        f"fill='{_GREY}'>{t(xlabel)}</text>",
        *body,
    ]
    for k, (label, color) in enumerate(legend):
        y = _PAD_T + 10 + 11 * k
        parts.append(
            f"<rect x='{_W - _PAD_R - 100}' y='{y - 7}' width='8' height='8' fill='{color}'/>"
            f"<text x='{_W - _PAD_R - 89}' y='{y}'>{t(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(v: float) -> str:
    a = abs(v)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _polyline(ax: _Axes, x: Any, y: Any, color: str, *, dots: bool = False) -> str:
    pts = " ".join(f"{ax.px(float(a)):.1f},{ax.py(float(b)):.1f}" for a, b in zip(x, y))
    out = f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='1.5'/>"
    if dots:
        out += "".join(
            f"<circle cx='{ax.px(float(a)):.1f}' cy='{ax.py(float(b)):.1f}' r='2' fill='{color}'/>"
            for a, b in zip(x, y)
        )
    return out


def _vline(ax: _Axes, x: float, color: str, dash: bool = True) -> str:
    if not (math.isfinite(x) and ax.x0 <= x <= ax.x1):
        return ""
    d = " stroke-dasharray='4 2'" if dash else ""
    return (
        f"<line x1='{ax.px(x):.1f}' y1='{_PAD_T}' x2='{ax.px(x):.1f}' y2='{_H - _PAD_B}' "
        f"stroke='{color}' stroke-width='1.2'{d}/>"
    )


def _bars(ax: _Axes, left: Any, right: Any, height: Any, color: str) -> str:
    base = ax.py(max(ax.y0, 0.0))
    out = []
    for a, b, h in zip(left, right, height):
        if not h > 0:
            continue
        top = ax.py(float(h))
        out.append(
            f"<rect x='{ax.px(float(a)):.1f}' y='{top:.1f}' "
            f"width='{max(ax.px(float(b)) - ax.px(float(a)), 0.6):.1f}' "
            f"height='{max(base - top, 0.0):.1f}' fill='{color}' fill-opacity='0.75'/>"
        )
    return "".join(out)


def line_svg(x: Any, series: Sequence[tuple[str, Any, str]], title: str, xlabel: str) -> str:
    """Lines ``(label, y, color)`` over a common x."""
    xs = np.asarray(x, dtype=np.float64)
    ys = [v for _, y, _ in series for v in _finite(y).tolist()]
    ax = _Axes(_range(_finite(xs).tolist()), _range(ys))
    body = [_polyline(ax, xs, y, c, dots=len(xs) <= 40) for _, y, c in series]
    return _svg(ax, body, title, xlabel, [(lab, c) for lab, _, c in series if lab])


def hist_svg(values: Any, lines: Sequence[tuple[str, float, str]], title: str, xlabel: str,
             bins: int = 30) -> str:
    """A histogram of ``values`` with labelled vertical lines ``(label, x, color)``."""
    v = _finite(values)
    xs = v.tolist() + [x for _, x, _ in lines if math.isfinite(x)]
    lo, hi = _range(xs)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi)) if v.size else (
        np.zeros(bins), np.linspace(lo, hi, bins + 1))
    ax = _Axes((lo, hi), (0.0, float(max(counts.max(), 1))))
    body = [_bars(ax, edges[:-1], edges[1:], counts, _BLUE)]
    body += [_vline(ax, x, c) for _, x, c in lines]
    return _svg(ax, body, title, xlabel, [("bad debt", _BLUE)] + [(lab, c) for lab, _, c in lines])


def _split_svg(parts: Sequence[tuple[str, float, str]], title: str) -> str:
    """One horizontal bar split into shares (who bears the bad debt)."""
    total = sum(max(v, 0.0) for _, v, _ in parts)
    w, h = _W, 70.0
    t = html.escape
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w:.0f}' height='{h:.0f}' "
        f"viewBox='0 0 {w:.0f} {h:.0f}' style='font:10px sans-serif'>",
        f"<rect x='0' y='0' width='{w:.0f}' height='{h:.0f}' fill='white'/>",
        f"<text x='{w / 2:.0f}' y='13' text-anchor='middle' font-weight='bold'>{t(title)}</text>",
    ]
    x = 10.0
    span = w - 20.0
    if total > 0:
        for _, v, c in parts:
            dx = span * max(v, 0.0) / total
            out.append(f"<rect x='{x:.1f}' y='20' width='{dx:.1f}' height='16' fill='{c}'/>")
            x += dx
    else:
        out.append(f"<rect x='10' y='20' width='{span:.0f}' height='16' fill='#eeeeee'/>"
                   "<text x='15' y='32'>no bad debt</text>")
    for k, (label, v, c) in enumerate(parts):
        lx = 10 + k * (span / max(len(parts), 1))
        out.append(f"<rect x='{lx:.0f}' y='46' width='8' height='8' fill='{c}'/>"
                   f"<text x='{lx + 11:.0f}' y='54'>{t(label)} {t(_short(v))}</text>")
    out.append("</svg>")
    return "".join(out)


def _layout(title: str, tables: str, figure: str) -> str:
    return (
        "<div class='liqcore-result' style='display:flex;flex-wrap:wrap;gap:12px;"
        "align-items:flex-start'>"
        f"<div><div style='font-weight:bold;margin-bottom:2px'>{html.escape(title)}</div>"
        f"{tables}</div><div>{figure}</div></div>"
    )


# ---- one renderer per result class --------------------------------------------------------------


def _who_pays(r: Any) -> str:
    return _split_svg(
        [
            ("fund", float(r.insurance_draw), _BLUE),
            ("counterparties", float(getattr(r, "adl_transfers", 0.0)), _ORANGE),
            ("uncovered", float(r.uncovered), _RED),
        ],
        f"bad debt {_short(float(r.bad_debt))}: who bears it",
    )


def _liquidation(r: Any) -> str:
    return _layout("LiquidationResult", table(list(r.summary().items())), _who_pays(r))


def _account_liquidation(r: Any) -> str:
    return _layout("AccountLiquidationResult", table(list(r.summary().items())), _who_pays(r))


def _cascade(r: Any) -> str:
    marks = np.asarray(r.marks, dtype=np.float64)
    fig = line_svg(
        np.arange(marks.shape[0]), [("mark", marks, _BLUE)], "mark after each round", "round"
    )
    return _layout("CascadeResult", table(list(r.summary().items())), fig)


def _stress(r: Any, q: float = 0.99) -> str:
    """StressResult and AccountStressResult: one summary protocol, one view."""
    s = r.summary(q)
    fig = hist_svg(
        r.deficit,
        [
            (f"VaR {q:g}", float(s[f"var_{q:g}"]), _ORANGE),
            (f"ES {q:g}", float(s[f"es_{q:g}"]), _RED),
            ("fund", float(r.insurance_fund_before), _GREEN),
        ],
        "bad debt per scenario",
        "bad debt",
    )
    return _layout(type(r).__name__, table(list(s.items())), fig)


def _contagion(r: Any) -> str:
    m = r.markets
    first = np.asarray(m.initial_mark, dtype=np.float64)
    path = [np.asarray(m.shocked_mark, dtype=np.float64)]
    path += [np.asarray(row, dtype=np.float64) for row in r.trace.marks_after]
    rel = 100.0 * (np.vstack(path) / first - 1.0)  # (rounds + 1) x markets, % from the start
    colors = [_BLUE, _RED, _GREEN, _ORANGE, _GREY]
    fig = line_svg(
        np.arange(rel.shape[0]),
        [(f"market {j}", rel[:, j], colors[j % len(colors)]) for j in range(rel.shape[1])],
        "mark move from the start (%)",
        "round",
    )
    k = r.contagion.shape[0]
    grid = _grid(
        ["origin \\ market", *[str(j) for j in range(k)]],
        [[str(i), *r.contagion[i].tolist()] for i in range(k)],
    )
    tables = table(list(r.summary().items())) + "<div>contagion (deficit)</div>" + grid
    return _layout("ContagionResult", tables, fig)


def _deficit_curve(r: Any) -> str:
    rows = [
        [f"{100 * s:+.2f}%", b, n, f, fund]
        for s, b, n, f, fund in zip(
            r.shocks.tolist(),
            r.bad_debt.tolist(),
            r.liquidated_notional.tolist(),
            r.final_mark.tolist(),
            r.insurance_fund.tolist(),
        )
    ]
    tables = table(list(r.summary().items())) + _grid(
        ["shock", "bad_debt", "liquidated_notional", "final_mark", "insurance_fund"], rows
    )
    order = np.argsort(r.shocks)
    fig = line_svg(
        100.0 * r.shocks[order],
        [("bad debt", r.bad_debt[order], _RED), ("fund after", r.insurance_fund[order], _GREEN)],
        "bad debt per shock",
        "shock (%)",
    )
    return _layout("DeficitCurve", tables, fig)


def _liquidation_map(r: Any) -> str:
    rows: list[tuple[str, Any]] = [
        ("mark", r.mark),
        ("bins", len(r)),
        ("price_low", float(r.edges[0])),
        ("price_high", float(r.edges[-1])),
        ("long_notional", float(np.sum(r.long))),
        ("short_notional", float(np.sum(r.short))),
        ("long_now", r.long_now),
        ("short_now", r.short_now),
        ("contract", r.contract),
    ]
    edges = np.asarray(r.edges, dtype=np.float64)
    top = float(max(np.max(r.long, initial=0.0), np.max(r.short, initial=0.0), 1e-300))
    ax = _Axes((float(edges[0]), float(edges[-1])), (0.0, top))
    body = [
        _bars(ax, edges[:-1], edges[1:], r.long, _RED),
        _bars(ax, edges[:-1], edges[1:], r.short, _GREEN),
        _vline(ax, float(r.mark), "black"),
    ]
    fig = _svg(
        ax, body, "notional liquidated per bin", "price", [("longs", _RED), ("shorts", _GREEN)]
    )
    return _layout("LiquidationMap", table(rows), fig)


_RENDERERS: dict[str, Callable[[Any], str]] = {
    "LiquidationResult": _liquidation,
    "AccountLiquidationResult": _account_liquidation,
    "CascadeResult": _cascade,
    "StressResult": _stress,
    "AccountStressResult": _stress,
    "ContagionResult": _contagion,
    "DeficitCurve": _deficit_curve,
    "LiquidationMap": _liquidation_map,
}


def render(obj: Any) -> str:
    """The HTML of one result object (its class picks the renderer)."""
    fn = _RENDERERS.get(type(obj).__name__)
    if fn is None and callable(getattr(obj, "summary", None)):
        return _layout(type(obj).__name__, table(list(obj.summary().items())), "")
    if fn is None:
        raise TypeError(f"no HTML view for {type(obj).__name__}")
    return fn(obj)
