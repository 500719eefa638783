"""``liqcore report``: one self-contained HTML page on a stress test or a cascade.

The page holds the headline figures, the bad-debt distribution of a stress test with its VaR,
expected shortfall and the insurance fund, the cascade path (the mark after each round), the
liquidation map of the positions (:func:`liqcore.liquidation_map`), the book's cumulative depth
per side and the policy used (:meth:`liqcore.Policy.to_dict`). Figures are PNG images drawn
with matplotlib and embedded as ``data:`` URIs: the file needs nothing else to be read, offline.

From Python::

    from liqcore.report_html import build_report
    page = build_report(positions, book, mark, kind="cascade", insurance_fund=1e6)

From the command line (the embedded demo market, or your files as ``liqcore cascade`` reads
them)::

    liqcore report [stress|cascade] [--positions FILE --book FILE --mark PRICE] [-o report.html]

Needs matplotlib (``pip install "liqcore[plot]"``).
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liqcore._repr_html import fmt, html_table
from liqcore.book import Book
from liqcore.cascade import CascadeResult, simulate_cascade
from liqcore.liquidation import _policy
from liqcore.liquidation_map import LiquidationMap, liquidation_map
from liqcore.margin import MarginTiers
from liqcore.mark_rule import MarkRule
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.stress import StressResult, stress_test

__all__ = ["KINDS", "add_report_command", "build_report", "write_report"]

KINDS = ("stress", "cascade")

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 980px; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 3px; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { padding: 2px 10px; border-bottom: 1px solid #eee; }
th { text-align: left; font-weight: 600; }
td.num { text-align: right; font-family: ui-monospace, Menlo, Consolas, monospace; }
img { max-width: 100%; height: auto; }
.meta { color: #666; font-size: 0.9em; }
"""


# ---- pieces ------------------------------------------------------------------------------------

from liqcore.plot import _draw_cascade, _pyplot  # noqa: E402  (matplotlib imported when called)


def _png(fig: Any) -> str:
    """The figure as an ``<img>`` with a base64 PNG data URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    _pyplot().close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='figure' src='data:image/png;base64,{data}'/>"


def _rows(rows: Sequence[tuple[str, Any]]) -> str:
    return html_table(rows, named=True, td=" class='num'")


def _grid(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return html_table(rows, header=header, td=" class='num'")


def _section(sid: str, title: str, *parts: str) -> str:
    return f"<section id='{sid}'><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _deficit_figure(st: StressResult, q: float) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.2))
    d = np.asarray(st.bad_debt)
    positive = d[d > 0]
    if positive.size:
        lo, hi = float(positive.min()), float(positive.max())
        bins = np.logspace(np.log10(lo), np.log10(hi * (1 + 1e-9) + 1e-300), 40) if hi > lo else 10
        ax.hist(positive, bins=bins, color="tab:red", alpha=0.7, label="scenarios with bad debt")
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no scenario has bad debt", transform=ax.transAxes, ha="center")
    var, es = st.var(q), st.expected_shortfall(q)
    for x, style, label in ((var, "--", f"VaR {q:g}"), (es, ":", f"ES {q:g}")):
        if x > 0:
            ax.axvline(x, color="k", ls=style, label=f"{label} = {fmt(x)}")
    if st.insurance_fund_before > 0:
        ax.axvline(st.insurance_fund_before, color="tab:green", lw=2,
                   label=f"insurance fund = {fmt(st.insurance_fund_before)}")
    ax.set_xlabel("bad debt per scenario")
    ax.set_ylabel("scenarios")
    ax.set_title(
        f"{d.size:,} scenarios, {positive.size / max(1, d.size):.1%} with bad debt, "
        f"P(bad debt > fund) = {st.depletion_probability:.2%}"
    )
    ax.legend(loc="best")
    return _png(fig)


def _cascade_figure(res: CascadeResult) -> str:
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    _draw_cascade(
        ax1, ax2, res, shock_label="shock", mark_label="mark",
        title=f"shock {res.shock:+.1%}, move {res.move:+.2%} in {res.rounds} rounds",
        money_label=None,
    )
    return _png(fig)


def _map_figure(lmap: LiquidationMap) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.2))
    lmap.plot(ax=ax)
    return _png(fig)


def _depth_figure(book: Book, mark: float, span: float) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    (bp, bq), (ap, aq) = book.bids, book.asks
    keep_b = bp >= mark * (1 - span)
    keep_a = ap <= mark * (1 + span)
    ax.step(bp[keep_b], np.cumsum(bq)[keep_b], where="post", color="tab:green", label="bids")
    ax.step(ap[keep_a], np.cumsum(aq)[keep_a], where="post", color="tab:red", label="asks")
    ax.axvline(mark, color="k", ls="--", lw=1, label="mark")
    ax.set_xlabel("price")
    ax.set_ylabel("cumulative quantity from the touch")
    ax.set_title(f"book depth within {span:.0%} of the mark")
    ax.legend(loc="best")
    return _png(fig)


def _policy_rows(policy: Policy) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in policy.to_dict().items():
        out.append((k, v if isinstance(v, (int, float, str, bool)) else json.dumps(v)))
    return out


# ---- the page ----------------------------------------------------------------------------------


def build_report(
    positions: Positions,
    book: Book,
    mark: float,
    *,
    kind: str = "stress",
    policy: Policy | None = None,
    insurance_fund: float = 0.0,
    shock: float = -0.05,
    resilience: float = 0.0,
    mark_rule: str | MarkRule = "last",
    max_rounds: int = 1000,
    scenarios: int = 500,
    steps: int = 100,
    horizon: float = 1.0,
    seed: int = 0,
    q: float = 0.99,
    bins: int = 60,
    threads: int | None = None,
    title: str | None = None,
) -> str:
    """The HTML page (a str) of a stress test (``kind="stress"``) or a cascade
    (``kind="cascade"``) of ``positions`` on ``book`` at ``mark``.

    Both kinds show the headline figures, the cascade after ``shock``, the liquidation map
    (``bins`` bins over ±20% of the mark), the book's depth and the policy; ``"stress"`` adds
    the bad-debt distribution of :func:`liqcore.stress_test` (``scenarios`` jump-diffusion
    paths of ``steps`` steps over ``horizon`` days, ``seed``) with VaR and ES at ``q`` and the
    fund. Money is in the margin currency.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))} (got {kind!r})")
    policy = _policy(policy)
    t0 = time.perf_counter()
    cas = simulate_cascade(positions, book, mark, shock, policy, insurance_fund, resilience,
                           mark_rule=mark_rule, max_rounds=max_rounds)
    st: StressResult | None = None
    if kind == "stress":
        st = stress_test(positions, book, mark, policy, insurance_fund, scenarios, horizon,
                         steps=steps, resilience=resilience, mark_rule=mark_rule,
                         max_rounds=max_rounds, seed=seed, threads=threads)
    tiers = None
    if policy.tiers is not None:
        tiers = MarginTiers(floors=[f for f, _ in policy.tiers], mmr=[r for _, r in policy.tiers])
    lmap = liquidation_map(positions, mark=mark, bins=bins, mmr=policy.mmr, tiers=tiers,
                           contract=policy.contract, contract_size=policy.contract_size)
    seconds = time.perf_counter() - t0

    cs = cas.summary()
    head: list[tuple[str, Any]] = [
        ("positions", len(positions)),
        ("mark", float(mark)),
        ("insurance fund", float(insurance_fund)),
    ]
    if st is not None:
        s = st.summary(q)
        head += [
            ("scenarios x steps", f"{len(st):,} x {st.steps}"),
            ("expected bad debt", s["expected_deficit"]),
            (f"VaR {q:g} of bad debt", s[f"var_{q:g}"]),
            (f"ES {q:g} of bad debt", s[f"es_{q:g}"]),
            ("P(bad debt > fund)", s["depletion_probability"]),
            ("P(fund exhausted)", s["exhaustion_probability"]),
            ("LaR 0.95 (liquidated notional)", s["lar_0.95"]),
            ("Cover-1", s["cover1"]),
            ("Cover-2", s["cover2"]),
        ]
    head += [
        (f"cascade {cas.shock:+.1%}: final mark", cas.final_mark),
        (f"cascade {cas.shock:+.1%}: rounds", cas.rounds),
        (f"cascade {cas.shock:+.1%}: bad debt", cs["bad_debt"]),
        (f"cascade {cas.shock:+.1%}: liquidated notional", cs["liquidated_notional"]),
        (f"cascade {cas.shock:+.1%}: insurance fund after", cs["insurance_fund_after"]),
        (f"cascade {cas.shock:+.1%}: uncovered", cs["uncovered"]),
    ]

    what = "stress test" if st is not None else "cascade"
    title = title or f"liqcore report: {what} of {len(positions):,} positions"
    sections = [_section("headline", "Headline figures", _rows(head))]
    if st is not None:
        sections.append(
            _section(
                "deficits",
                "Bad-debt distribution",
                _deficit_figure(st, q),
                _rows([(k, v) for k, v in st.summary(q).items()]),
            )
        )
    tr = cas.trace
    trace_rows = [
        [int(tr.round[k]), float(tr.mark[k]), int(tr.liquidated[k]), float(tr.notional[k]),
         float(tr.bad_debt[k]), float(tr.insurance_fund[k])]
        for k in range(min(len(tr), 30))
    ]
    sections += [
        _section(
            "cascade",
            f"Cascade path after a {cas.shock:+.1%} shock",
            _cascade_figure(cas),
            _grid(["round", "mark", "liquidated", "notional", "bad debt", "fund after"],
                  trace_rows),
            _rows(list(cs.items())),
        ),
        _section(
            "map",
            "Liquidation map",
            _map_figure(lmap),
            _rows([("long notional (below the mark)", float(np.sum(lmap.long))),
                   ("short notional (above the mark)", float(np.sum(lmap.short))),
                   ("liquidatable now (long, short)", f"{fmt(lmap.long_now)}, "
                    f"{fmt(lmap.short_now)}")]),
        ),
        _section(
            "depth",
            "Book depth",
            _depth_figure(book, float(mark), 0.2),
            _rows([("bid levels", len(book.bids[0])), ("ask levels", len(book.asks[0])),
                   ("best bid", float(book.bids[0][0]) if len(book.bids[0]) else math.nan),
                   ("best ask", float(book.asks[0][0]) if len(book.asks[0]) else math.nan),
                   ("bid quantity", float(np.sum(book.bids[1]))),
                   ("ask quantity", float(np.sum(book.asks[1])))]),
        ),
        _section("policy", "Policy", _rows(_policy_rows(policy))),
    ]
    from liqcore import __version__

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='meta'>liqcore {html.escape(__version__)}, {stamp}, computed in "
        f"{seconds:.2f} s. Money in the margin currency.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )


def write_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """:func:`build_report` written to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.write_text(build_report(*args, **kwargs), encoding="utf-8")
    return out


# ---- the command line --------------------------------------------------------------------------


def add_report_command(sub: Any) -> None:
    """Register ``liqcore report`` on the subparsers of :mod:`liqcore.cli`."""
    from liqcore.cli import (
        EMBEDDED_FUND_HELP,
        _market_file_arguments,
        _nonnegative,
        _policy_fund_arguments,
        _positive,
    )

    rep = sub.add_parser(
        "report",
        help="write one self-contained HTML report of a stress test or a cascade",
        description="A stress test (default) or a cascade on the embedded demo market or your "
        "files, written as one HTML page with embedded figures.",
    )
    rep.add_argument("kind", nargs="?", choices=KINDS, default="stress",
                     help="stress (default) or cascade")
    rep.add_argument("-o", "--output", default="liqcore-report.html",
                     help="HTML file to write (default liqcore-report.html)")
    _market_file_arguments(rep, required=False)
    _policy_fund_arguments(rep, None, EMBEDDED_FUND_HELP)
    rep.add_argument("--resilience", type=_nonnegative("--resilience"), default=None,
                     help="depth returning after each round (default: 0.5 on the embedded "
                     "market, else 0)")
    rep.add_argument("--mark-rule", choices=("last", "mid"), default="last",
                     help="the mark after a round (default last)")
    rep.add_argument("--max-rounds", type=int, default=1000, help="round limit (default 1000)")
    rep.add_argument("--shock", type=float, default=-0.05,
                     help="shock of the cascade section (default -0.05)")
    rep.add_argument("--scenarios", type=int, default=500, help="stress paths (default 500)")
    rep.add_argument("--steps", type=int, default=100, help="steps per path (default 100)")
    rep.add_argument("--horizon", type=_positive("--horizon"), default=1.0,
                     help="path length, days (default 1)")
    rep.add_argument("--seed", type=int, default=0, help="seed of the price paths (default 0)")
    rep.add_argument("--market-seed", type=int, default=0,
                     help="seed of the embedded market (default 0)")
    rep.add_argument("--q", type=float, default=0.99, help="VaR / ES level (default 0.99)")
    rep.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    rep.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from liqcore.cli import _market, _resilience, check_writable, user_errors, write_output

    check_writable(args.output, "--output")
    pos, book, mark, policy, fund = _market(args, args.market_seed)
    with user_errors(ImportError):
        page = build_report(
            pos, book, mark, kind=args.kind, policy=policy, insurance_fund=fund,
            shock=args.shock, resilience=_resilience(args), mark_rule=args.mark_rule,
            max_rounds=args.max_rounds, scenarios=args.scenarios, steps=args.steps,
            horizon=args.horizon, seed=args.seed, q=args.q, threads=args.threads,
        )
    out = Path(args.output)
    write_output("--output", args.output, lambda: out.write_text(page, encoding="utf-8"))
    print(f"wrote {args.output} ({len(page.encode('utf-8')):,} bytes)")
    return 0
