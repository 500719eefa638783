"""Plain-text reports of results: the tables that ``print(result)`` and the ``liqcore`` command
line show.

Each function takes a result object and returns a string (no trailing newline):

* :func:`liquidation` -- a :class:`liqcore.LiquidationResult` (``liqcore liquidate``, ``demo``)
* :func:`cascade` -- a :class:`liqcore.CascadeResult`, with its round-by-round trace
* :func:`stress` -- a :class:`liqcore.StressResult` (VaR, ES, P(depletion), LaR, fund sizes,
  Cover-1/2)
* :func:`health` -- a :class:`liqcore.Health`, with an optional account liquidation
  (``liqcore accounts``); :func:`account_liquidation` -- a
  :class:`liqcore.AccountLiquidationResult`
* :func:`contagion`, :func:`account_stress` -- :class:`liqcore.ContagionResult`,
  :class:`liqcore.AccountStressResult`

:func:`table` lays out ``(label, value)`` rows under a title, labels left and values right
aligned between two rules; :func:`columns` a row per item under named, fixed-width columns. Money
is shown with thousands separators and two decimals.

This module imports no other liqcore module at run time, so every result module can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from liqcore.account_liquidation import AccountLiquidationResult
    from liqcore.cascade import CascadeResult
    from liqcore.contagion import AccountStressResult, ContagionResult
    from liqcore.cross_margin import Health
    from liqcore.liquidation import LiquidationResult
    from liqcore.stress import StressResult

__all__ = [
    "account_liquidation",
    "account_stress",
    "cascade",
    "columns",
    "contagion",
    "health",
    "liquidation",
    "money",
    "stress",
    "table",
]

Rows = Sequence[tuple[str, str]]
Column = tuple[str, int, str]  # name, width, format spec of the values (e.g. ",.2f")


def money(x: float) -> str:
    """``1,234,567.89``."""
    return f"{x:,.2f}"


def table(rows: Rows, title: str) -> str:
    """``title``, a rule, one ``label   value`` line per row (labels left, values right
    aligned), a rule."""
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    rule = "-" * (w1 + w2 + 3)
    return "\n".join([title, rule, *(f"{k:<{w1}}   {v:>{w2}}" for k, v in rows), rule])


def columns(cols: Sequence[Column], rows: Iterable[Sequence[Any]], rule: bool = True) -> str:
    """A line of the column names, a rule (with ``rule``), then a line per row: each value
    formatted by its column's spec, names and values right aligned to the column's width and
    separated by a space."""
    head = " ".join(f"{name:>{width}}" for name, width, _ in cols)
    lines = [head, "-" * len(head)] if rule else [head]
    lines += [
        " ".join(format(v, spec).rjust(width) for (_, width, spec), v in zip(cols, row))
        for row in rows
    ]
    return "\n".join(lines)


# ---- isolated margin -------------------------------------------------------------------------


def _loss_rows(
    s: dict[str, Any],
    residual: str | None,
    *,
    draw: bool = False,
    cross_market: bool = False,
) -> list[tuple[str, str]]:
    """The loss and fund rows of a liquidation's summary ``s`` (shared by the tables below);
    ``residual``: the policy's residual rule (None: no counterparty rows)."""
    rows = [
        ("liquidated notional", money(s["liquidated_notional"])),
        ("bad debt", money(s["bad_debt"])),
        ("  traders' deficits", money(s["deficit"])),
        ("  fund inventory losses", money(s["inventory_loss"])),
    ]
    if cross_market:
        rows.append(("cross-market bad debt", money(s["cross_market_deficit"])))
    rows += [
        ("fee income", money(s["fees"])),
        ("insurance fund before", money(s["insurance_fund_before"])),
    ]
    if draw:
        rows.append(("insurance fund draw", money(s["insurance_draw"])))
    rows += [
        ("insurance fund after", money(s["insurance_fund_after"])),
        ("residual", money(s["residual"])),
    ]
    if residual is not None:
        rows += [
            (f"covered by counterparties ({residual})", money(s["adl_transfers"])),
            ("uncovered", money(s["uncovered"])),
        ]
    rows.append(("ledger balance", f"{s['ledger_balance']:.3g}"))
    return rows


def liquidation_rows(res: LiquidationResult, mark_before: float | None = None) -> list[
    tuple[str, str]
]:
    """The rows of :func:`liquidation`."""
    s = res.summary()
    rows: list[tuple[str, str]] = []
    if mark_before is not None:
        rows.append(
            ("mark", f"{mark_before:,.2f} -> {res.mark:,.2f} ({res.mark / mark_before - 1:+.2%})")
        )
    else:
        rows.append(("mark", f"{res.mark:,.2f}"))
    rows += [
        ("positions", f"{s['positions']:,}"),
        ("liquidated", f"{s['liquidated']:,} ({s['liquidated'] / max(1, s['positions']):.2%})"),
    ]
    rows += _loss_rows(s, res.policy.residual, draw=True)
    return rows


def liquidation(
    res: LiquidationResult, *, title: str = "liquidation", mark_before: float | None = None
) -> str:
    """The summary of one liquidation pass; with ``mark_before``, the mark row shows the move."""
    return table(liquidation_rows(res, mark_before), title)


def _rate_limit_rows(
    policy: Any, waited: float, notional: float, label: str = "waited (position-rounds)"
) -> list[tuple[str, str]]:
    """Rows of the policy's rate limits and what waited (none without rate limits);
    ``waited``, ``notional``: totals, or means over scenarios."""
    if policy.max_notional is None and policy.max_orders is None:
        return []
    caps = []
    if policy.max_notional is not None:
        caps.append(f"{money(policy.max_notional)} notional")
    if policy.max_orders is not None:
        caps.append(f"{policy.max_orders:,} orders")
    return [
        ("rate limit per round", ", ".join(caps)),
        (label, f"{waited:,.6g} ({money(notional)} notional)"),
    ]


def cascade(
    res: CascadeResult, *, title: str | None = None, limit_name: str = "max_rounds"
) -> str:
    """The summary of a cascade, then its trace (the first 12 rounds and the last)."""
    s = res.summary()
    n = len(res)
    rows = [
        (
            "mark",
            f"{res.initial_mark:,.2f} -> {res.shocked_mark:,.2f} (shock {res.shock:+.2%}) -> "
            f"{res.final_mark:,.2f}",
        ),
        ("total move", f"{res.move:+.3%} ({res.amplification:.2f}x the shock)"),
        ("rounds", f"{res.rounds}{'' if res.converged else f' (stopped by {limit_name})'}"),
        ("positions", f"{n:,}"),
        (
            "liquidated",
            f"{s['positions_liquidated']:,} ({s['positions_liquidated'] / max(1, n):.2%})",
        ),
    ]
    rows += _loss_rows(s, res.policy.residual)
    rows += _rate_limit_rows(res.policy, res.n_waited, res.waited_notional)
    if title is None:
        title = f"cascade: {n:,} positions, shock {res.shock:+.1%}"
    lines = [table(rows, title)]
    tr = res.trace
    if len(tr):
        shown = list(range(min(len(tr), 12))) + ([len(tr) - 1] if len(tr) > 12 else [])
        cols = [("round", 5, ""), ("mark", 14, ",.2f"), ("liquidated", 10, ","),
                ("notional", 18, ",.2f"), ("bad debt", 16, ",.2f"), ("fund after", 16, ",.2f")]
        lines.append(columns(cols, (
            (int(tr.round[k]), tr.mark[k], int(tr.liquidated[k]), tr.notional[k], tr.bad_debt[k],
             tr.insurance_fund[k])
            for k in shown
        ), rule=False))
    return "\n".join(lines)


def stress(
    st: StressResult,
    q: float = 0.99,
    *,
    title: str | None = None,
    positions: int | None = None,
    horizon: float | None = None,
    sigma: float | None = None,
    jump_intensity: float | None = None,
) -> str:
    """The deficit statistics of a stress test at level ``q``. ``positions`` adds a row;
    ``horizon``, ``sigma`` and ``jump_intensity`` default to ``st.params``."""
    p = st.params
    horizon = float(p.get("horizon", float("nan"))) if horizon is None else horizon
    sigma = float(p.get("sigma", float("nan"))) if sigma is None else sigma
    if jump_intensity is None:
        jump_intensity = float(p.get("jump_intensity", float("nan")))
    s = st.summary(q)
    sizes = {r: st.fund_size(r, 1.0) for r in (0.01, 0.05)}
    rows = [
        (
            "scenarios x steps",
            f"{len(st):,} x {st.steps} (horizon {horizon:g} d, sigma {sigma:g}/d, "
            f"jumps {jump_intensity:g}/d)",
        ),
        *([("positions", f"{positions:,}")] if positions is not None else []),
        ("insurance fund", money(st.insurance_fund_before)),
        ("expected deficit", money(s["expected_deficit"])),
        (f"VaR {q:g}", money(s[f"var_{q:g}"])),
        (f"ES {q:g}", money(s[f"es_{q:g}"])),
        ("P(D > fund)", f"{s['depletion_probability']:.3%}"),
        ("P(fund exhausted)", f"{s['exhaustion_probability']:.3%}"),
        ("LaR 0.95 (liquidated notional)", money(s["lar_0.95"])),
        ("mean liquidations", f"{s['mean_liquidations']:,.1f}"),
        ("fund size IF* (r/kappa = 1%)", money(sizes[0.01])),
        ("fund size IF* (r/kappa = 5%)", money(sizes[0.05])),
        (
            "Cover-1 (worst scenario)",
            f"{money(s['cover1'])} ({'met' if s['meets_cover1'] else 'NOT met'})",
        ),
        (
            "Cover-2 (worst scenario)",
            f"{money(s['cover2'])} ({'met' if s['meets_cover2'] else 'NOT met'})",
        ),
    ]
    rule = str(p.get("mark_rule", "last"))
    if rule != "last":
        rows.append(("mark rule", rule))
    paid = getattr(st, "funding_paid", None)
    if p.get("funding") and paid is not None and len(paid):
        rows.append(("funding paid (mean per scenario)", money(float(paid.mean()))))
    rows += _rate_limit_rows(
        st.policy, s["mean_waited"], s["mean_waited_notional"], "mean waited per scenario"
    )
    return table(rows, f"stress test: seed {st.seed}" if title is None else title)


# ---- cross margin ------------------------------------------------------------------------------


def _account_liquidation_rows(res: AccountLiquidationResult) -> list[tuple[str, str]]:
    s = res.summary()
    return [
        ("liquidated accounts", f"{s['liquidated_accounts']:,}"),
        ("positions closed", f"{s['liquidated_positions']:,}"),
    ] + _loss_rows(s, res.policy.residual)


def health_summary(h: Health, positions: int) -> dict[str, Any]:
    """Headline figures of a health check over ``positions`` positions (``--json``'s
    ``health``)."""
    return {
        "accounts": len(h),
        "positions": positions,
        "liquidatable": int(h.liquidatable.sum()),
        "equity": float(h.equity.sum()),
        "maintenance": float(h.maintenance.sum()),
        "equity_of_liquidatable": float(h.equity[h.liquidatable].sum()),
        "maintenance_of_liquidatable": float(h.maintenance[h.liquidatable].sum()),
    }


def health(
    h: Health,
    positions: int,
    res: AccountLiquidationResult | None = None,
    *,
    title: str = "accounts",
) -> str:
    """Cross-margin health of the accounts (equity, maintenance, liquidatable), then the
    account liquidation ``res`` when given."""
    head = health_summary(h, positions)
    rows = [
        ("accounts", f"{head['accounts']:,}"),
        ("positions", f"{head['positions']:,}"),
        ("liquidatable accounts", f"{head['liquidatable']:,}"),
        ("equity (TNC), all", money(head["equity"])),
        ("maintenance (TMMR), all", money(head["maintenance"])),
        ("equity of liquidatable", money(head["equity_of_liquidatable"])),
        ("maintenance of liquidatable", money(head["maintenance_of_liquidatable"])),
    ]
    if res is not None:
        rows += _account_liquidation_rows(res)
    return table(rows, title)


def account_liquidation(res: AccountLiquidationResult, *, title: str | None = None) -> str:
    """The summary of an account-wide liquidation."""
    s = res.summary()
    rows = [("accounts", f"{s['accounts']:,}"), ("positions", f"{s['positions']:,}")]
    rows += _account_liquidation_rows(res)
    return table(rows, "account liquidation" if title is None else title)


def contagion(res: ContagionResult, *, title: str | None = None) -> str:
    """The summary of a cross-margin cascade."""
    s = res.summary()
    rows = [
        ("positions", f"{s['positions']:,}"),
        ("rounds", f"{s['rounds']}{'' if s['converged'] else ' (stopped by max_rounds)'}"),
        ("liquidated accounts", f"{s['liquidated_accounts']:,}"),
        ("positions liquidated", f"{s['liquidated_positions']:,}"),
    ]
    rows += _loss_rows(s, None, cross_market=True)
    rows += _rate_limit_rows(res.policy, res.n_waited, res.waited_notional)
    return table(rows, "cross-margin cascade" if title is None else title)


def account_stress(res: AccountStressResult, q: float = 0.99, *, title: str | None = None) -> str:
    """The deficit statistics of a cross-margin stress test at level ``q``."""
    n = len(res)
    mean = float(res.deficit.mean()) if n else float("nan")
    rows = [
        ("scenarios", f"{n:,}"),
        ("markets", f"{res.final_marks.shape[1] if res.final_marks.ndim == 2 else 0:,}"),
        ("insurance fund", money(res.insurance_fund_before)),
        ("expected deficit", money(mean)),
        (f"VaR {q:g}", money(res.var(q)) if n else "nan"),
        (f"ES {q:g}", money(res.expected_shortfall(q)) if n else "nan"),
        ("P(D > fund)", f"{res.depletion_probability:.3%}"),
        ("P(fund exhausted)", f"{res.exhaustion_probability:.3%}"),
    ]
    return table(rows, "cross-margin stress test" if title is None else title)
