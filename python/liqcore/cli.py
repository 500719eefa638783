"""The ``liqcore`` command line.

``liqcore demo``
    Runs the whole engine on the embedded default market (:mod:`liqcore.demo`): a BTC-like book
    and 100,000 positions, a -5% shock of the mark (the book moves with it), one liquidation
    pass with ADL, and a summary table.
``liqcore liquidate --positions FILE --book FILE --mark PRICE [--policy P] [--fund X] [--json]``
    Runs :func:`liqcore.liquidate` on your data: positions as CSV or Parquet with columns
    ``size, entry_price, margin[, account]``; the book as any file :func:`liqcore.io.read_book`
    reads (JSON, CSV, or a Binance / Hyperliquid feed file); the policy as a JSON object of
    :class:`liqcore.Policy` fields or a preset name (binance, bybit, dydx, hyperliquid, drift).
``liqcore cascade [--positions FILE --book FILE --mark PRICE] [--shock X] [--plot FILE.png] ...``
    Plays a liquidation cascade (:func:`liqcore.simulate_cascade`) on the embedded market or
    your files: the round-by-round trace and a summary table, or ``--json``.
``liqcore stress [--positions FILE --book FILE --mark PRICE] [--scenarios N] [--plot FILE.png] ...``
    Runs a stress test (:func:`liqcore.stress_test`) with a progress bar (tqdm when installed)
    and prints the deficit statistics (VaR, ES, P(depletion), LaR, fund sizes, Cover-1/2).

``liqcore map [--positions FILE --mark PRICE] [--bins N] [--json] [--plot FILE.png]``
    The liquidation map (:func:`liqcore.liquidation_map`): notional liquidated per price level.
``liqcore curve [--positions FILE --book FILE --mark PRICE] [--shocks -0.01,-0.02,...] ...``
    The deficit curve (:func:`liqcore.deficit_curve`): bad debt per shock, cascades in parallel.
    Both in :mod:`liqcore.cli_map`.
``liqcore replay FEED --positions FILE [--policy P] [--fund X] [--every T] [--json] [--plot FILE]``
    Replays a recorded feed through the live engine (:func:`liqcore.replay`), in
    :mod:`liqcore.cli_replay`.

``liqcore accounts --positions FILE --collateral FILE --markets FILE [--liquidate] [--policy P] ...``
    Cross margin: :func:`liqcore.health` of every account (positions with ``account, market,
    size, entry_price``; collateral with one column per asset; a markets JSON with marks, margin,
    books and the assets' prices and haircuts, see :func:`load_markets`), and with ``--liquidate``
    :func:`liqcore.liquidate_accounts`; a summary table, ``--json``, or per-account CSV ``--output``.

Exit status: 0 on success, 2 on bad arguments or input (the message names what is wrong).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from liqcore.liquidation import LiquidationResult, liquidate
from liqcore.policy import Policy
from liqcore.positions import Positions

__all__ = ["main"]

PRESETS: dict[str, Callable[..., Policy]] = {
    "default": Policy,
    "binance": Policy.binance,
    "bybit": Policy.bybit,
    "dydx": Policy.dydx,
    "hyperliquid": Policy.hyperliquid,
    "drift": Policy.drift,
}


class CliError(Exception):
    """A user error: printed as ``liqcore: error: ...`` with exit status 2."""


# ---- inputs ------------------------------------------------------------------------------------


def load_policy(spec: str | None, **defaults: Any) -> Policy:
    """A preset name, a JSON file of Policy fields, or None (``Policy(**defaults)``)."""
    if spec is None:
        return Policy(**defaults)
    if spec in PRESETS:
        return PRESETS[spec](**defaults)
    path = Path(spec)
    if not path.exists():
        raise CliError(f"--policy: {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    try:
        fields = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CliError(f"--policy: cannot read {spec}: {e}") from None
    if not isinstance(fields, dict):
        raise CliError(f"--policy: {spec} must hold a JSON object of Policy fields")
    try:
        return Policy.from_dict({**defaults, **fields})
    except (TypeError, ValueError) as e:
        raise CliError(f"--policy: {spec}: {e}") from None


def _csv_columns(path: Path) -> dict[str, Any]:
    """Numeric CSV columns by header name, without pandas."""
    try:
        data = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    except (OSError, ValueError) as e:
        raise CliError(f"--positions: cannot read {path}: {e}") from None
    if data.dtype.names is None:
        raise CliError(f"--positions: {path} has no header row")
    return {name: np.atleast_1d(data[name]) for name in data.dtype.names}


def load_positions(spec: str) -> Positions:
    """Positions from a CSV or Parquet file with columns size, entry_price, margin[, account]."""
    path = Path(spec)
    if not path.is_file():
        raise CliError(f"--positions: no such file {spec!r}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            try:
                import pandas as pd
            except ImportError:
                raise CliError(
                    "--positions: reading Parquet needs pandas and pyarrow "
                    "(pip install liqcore[parquet])"
                ) from None
            try:
                frame: Any = pd.read_parquet(path)
            except ImportError as e:
                raise CliError(f"--positions: reading Parquet needs pyarrow: {e}") from None
        else:
            try:
                import pandas as pd

                frame = pd.read_csv(path)
            except ImportError:
                frame = _csv_columns(path)
        return Positions.from_frame(frame)
    except CliError:
        raise
    except (TypeError, ValueError, OSError) as e:
        raise CliError(f"--positions: {spec}: {e}") from None


def load_book(spec: str) -> Any:
    from liqcore import io

    if not Path(spec).is_file():
        raise CliError(f"--book: no such file {spec!r}")
    try:
        return io.read_book(spec)
    except (TypeError, ValueError, OSError) as e:
        raise CliError(f"--book: {spec}: {e}") from None


def _positive(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number (got {text!r})") from None
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{name} must be finite and > 0 (got {text})")
        return v

    return parse


def _nonnegative(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number (got {text!r})") from None
        if not (math.isfinite(v) and v >= 0):
            raise argparse.ArgumentTypeError(f"{name} must be finite and >= 0 (got {text})")
        return v

    return parse


# ---- output ------------------------------------------------------------------------------------


def _money(x: float) -> str:
    return f"{x:,.2f}"


def summary_rows(res: LiquidationResult, mark_before: float | None = None) -> list[tuple[str, str]]:
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
        ("liquidated notional", _money(s["liquidated_notional"])),
        ("bad debt", _money(s["bad_debt"])),
        ("  traders' deficits", _money(s["deficit"])),
        ("  fund inventory losses", _money(s["inventory_loss"])),
        ("fee income", _money(s["fees"])),
        ("insurance fund before", _money(s["insurance_fund_before"])),
        ("insurance fund draw", _money(s["insurance_draw"])),
        ("insurance fund after", _money(s["insurance_fund_after"])),
        ("residual", _money(s["residual"])),
        (f"covered by counterparties ({res.policy.residual})", _money(s["adl_transfers"])),
        ("uncovered", _money(s["uncovered"])),
        ("ledger balance", f"{s['ledger_balance']:.3g}"),
    ]
    return rows


def print_table(rows: list[tuple[str, str]], title: str, out: Any) -> None:
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    rule = "-" * (w1 + w2 + 3)
    print(title, file=out)
    print(rule, file=out)
    for k, v in rows:
        print(f"{k:<{w1}}   {v:>{w2}}", file=out)
    print(rule, file=out)


def _json_ready(res: LiquidationResult, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "summary": res.summary(),
        "ledger": res.ledger.to_dict(),
        "policy": res.policy.to_dict(),
    }


# ---- commands ----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from liqcore.demo import DEFAULT_FUND, default_market, shifted_book

    t0 = time.perf_counter()
    pos, book, mark, shock = default_market(seed=args.seed)
    if args.shock is not None:
        shock = args.shock
    new_mark = mark * (1.0 + shock)
    shocked = shifted_book(book, 1.0 + shock)
    policy = Policy(residual="queue") if args.policy is None else load_policy(args.policy)
    fund = DEFAULT_FUND if args.fund is None else args.fund
    t1 = time.perf_counter()
    res = liquidate(pos, shocked, new_mark, policy, fund)
    t2 = time.perf_counter()
    if args.json:
        json.dump(
            _json_ready(res, mark_before=mark, shock=shock, seconds=t2 - t1), sys.stdout, indent=2
        )
        print()
        return 0
    title = (
        f"liqcore demo: {len(pos):,} positions, BTC-like book "
        f"({book.n_bids:,} + {book.n_asks:,} levels), "
        f"shock {shock:+.1%}"
    )
    print_table(summary_rows(res, mark_before=mark), title, sys.stdout)
    print(
        f"market built in {t1 - t0:.2f} s, liquidated in {(t2 - t1) * 1e3:.1f} ms", file=sys.stdout
    )
    return 0


def cmd_liquidate(args: argparse.Namespace) -> int:
    pos = load_positions(args.positions)
    book = load_book(args.book)
    policy = load_policy(args.policy)
    try:
        res = liquidate(pos, book, args.mark, policy, args.fund)
    except (TypeError, ValueError) as e:
        raise CliError(str(e)) from None
    if args.json:
        json.dump(_json_ready(res), sys.stdout, indent=2)
        print()
    else:
        print_table(
            summary_rows(res),
            f"liqcore liquidate: {args.positions} against {args.book}",
            sys.stdout,
        )
    if args.output:
        try:
            frame = res.to_frame()
        except ImportError as e:
            raise CliError(f"--output: {e}") from None
        frame.to_csv(args.output, index=False)
    return 0


def _version() -> str:
    """The installed distribution's version, or the package's when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("liqcore")
    except PackageNotFoundError:
        import liqcore

        return liqcore.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liqcore", description="Liquidation-risk engine.")
    parser.add_argument("--version", action="version", version=f"liqcore {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="run the engine on the embedded default market",
        description="Shock the embedded default market and liquidate it.",
    )
    demo.add_argument("--seed", type=int, default=0, help="market seed (default 0)")
    demo.add_argument(
        "--shock", type=float, default=None, help="relative mark move (default -0.05)"
    )
    demo.add_argument(
        "--fund",
        type=_nonnegative("--fund"),
        default=None,
        help="insurance fund before, quote (default 2,000,000)",
    )
    demo.add_argument(
        "--policy",
        default=None,
        help="preset name or JSON file of Policy fields (default: Policy(residual='queue'))",
    )
    demo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    demo.set_defaults(func=cmd_demo)

    liq = sub.add_parser(
        "liquidate",
        help="liquidate your positions against your book",
        description="Liquidate positions (CSV/Parquet) against a book file at a mark price.",
    )
    liq.add_argument(
        "--positions", required=True, help="CSV or Parquet: size, entry_price, margin[, account]"
    )
    liq.add_argument(
        "--book", required=True, help="book file (JSON, CSV, Binance or Hyperliquid feed)"
    )
    liq.add_argument("--mark", required=True, type=_positive("--mark"), help="mark price")
    liq.add_argument("--policy", default=None, help="preset name or JSON file of Policy fields")
    liq.add_argument(
        "--fund", type=_nonnegative("--fund"), default=0.0, help="insurance fund before (default 0)"
    )
    liq.add_argument("--json", action="store_true", help="print JSON instead of a table")
    liq.add_argument(
        "--output", default=None, help="write the per-position results as CSV (needs pandas)"
    )
    liq.set_defaults(func=cmd_liquidate)
    _add_cascade_commands(sub)
    _add_accounts_command(sub)
    from liqcore.cli_map import add_map_commands  # here: cli_map imports this module

    add_map_commands(sub)
    from liqcore.cli_replay import add_replay_command  # here: cli_replay imports this module

    add_replay_command(sub)
    return parser


# ---- cascades and stress tests -------------------------------------------------------------------


def _market(args: argparse.Namespace, seed: int) -> tuple[Any, Any, float, float]:
    """(positions, book, mark, default fund): the user's files, or the embedded default market."""
    given = [args.positions is not None, args.book is not None, args.mark is not None]
    if any(given) and not all(given):
        raise CliError(
            "--positions, --book and --mark go together (or none of them: the embedded market)"
        )
    if all(given):
        return load_positions(args.positions), load_book(args.book), args.mark, 0.0
    from liqcore.demo import DEFAULT_FUND, default_market

    pos, book, mark, _ = default_market(seed=seed)
    return pos, book, mark, DEFAULT_FUND


def _resilience(args: argparse.Namespace) -> float:
    """--resilience, or the default of the market in use."""
    if args.resilience is not None:
        return float(args.resilience)
    if args.positions is None and args.book is None:
        from liqcore.demo import DEFAULT_RESILIENCE

        return DEFAULT_RESILIENCE
    return 0.0


def _market_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--positions", default=None, help="CSV or Parquet: size, entry_price, margin[, account]"
    )
    p.add_argument(
        "--book", default=None, help="book file (JSON, CSV, Binance or Hyperliquid feed)"
    )
    p.add_argument("--mark", type=_positive("--mark"), default=None, help="mark price")
    p.add_argument("--policy", default=None, help="preset name or JSON file of Policy fields")
    p.add_argument(
        "--fund",
        type=_nonnegative("--fund"),
        default=None,
        help="insurance fund before (default: 2,000,000 on the embedded market, else 0)",
    )
    p.add_argument(
        "--resilience",
        type=_nonnegative("--resilience"),
        default=None,
        help="fraction of the missing depth that returns after each round (default: 0.5 on "
        "the embedded market, where market makers refill a liquid book; else 0)",
    )
    p.add_argument(
        "--mark-rule",
        choices=("last", "mid"),
        default="last",
        help="the mark after a round: last fill or mid of the book left (default last)",
    )
    p.add_argument(
        "--max-rounds", type=int, default=1000, help="round limit per cascade (default 1000)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--plot", default=None, metavar="FILE.png", help="draw the results (needs matplotlib)"
    )


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install liqcore[plot]") from None
    return plt


def _plot_cascade(res: Any, path: str) -> None:
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    rounds = np.arange(len(res.marks))
    ax1.plot([-0.6, 0], [res.initial_mark, res.shocked_mark], "k--", lw=1, label="exogenous shock")
    ax1.step(rounds, res.marks, where="post", marker="o", ms=3, label="mark after round")
    ax1.axhline(res.initial_mark, color="grey", lw=0.6)
    ax1.set_ylabel("mark price")
    ax1.set_title(
        f"Liquidation cascade: shock {res.shock:+.1%} -> move {res.move:+.2%} in {res.rounds} rounds"
    )
    ax1.legend(loc="best")
    tr = res.trace
    ax2.bar(tr.round, tr.notional, color="tab:red", alpha=0.7, label="liquidated notional")
    ax2.set_ylabel("liquidated notional")
    ax2.set_xlabel("round")
    ax3 = ax2.twinx()
    ax3.plot(
        tr.round, np.cumsum(tr.bad_debt), color="tab:blue", marker=".", label="cumulative bad debt"
    )
    ax3.plot(tr.round, tr.insurance_fund, color="tab:green", marker=".", label="insurance fund")
    ax3.set_ylabel("money")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_stress(st: Any, q: float, path: str) -> None:
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6.5))
    d = st.deficit
    positive = d[d > 0]
    share = positive.size / max(1, d.size)
    if positive.size:
        bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()) + 1e-9, 40)
        ax1.hist(positive, bins=bins, color="tab:red", alpha=0.7)
        ax1.set_xscale("log")
    ax1.axvline(max(st.var(q), 1e-12), color="k", ls="--", label=f"VaR {q:g}")
    es = st.expected_shortfall(q)
    ax1.axvline(max(es, 1e-12), color="k", ls=":", label=f"ES {q:g}")
    if st.insurance_fund_before > 0:
        ax1.axvline(st.insurance_fund_before, color="tab:green", lw=2, label="insurance fund")
    ax1.set_xlabel("deficit per scenario (scenarios with D > 0)")
    ax1.set_ylabel("scenarios")
    ax1.set_title(
        f"Deficit distribution: {d.size:,} scenarios, {share:.1%} with a deficit, "
        f"P(D > IF) = {st.depletion_probability:.2%}"
    )
    ax1.legend(loc="best")
    ax2.hist(st.min_mark / st.mark - 1.0, bins=50, color="tab:blue", alpha=0.7, label="lowest mark")
    ax2.hist(
        st.max_mark / st.mark - 1.0, bins=50, color="tab:orange", alpha=0.5, label="highest mark"
    )
    ax2.set_xlabel("move from the initial mark (cascades included)")
    ax2.set_ylabel("scenarios")
    ax2.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_cascade(args: argparse.Namespace) -> int:
    from liqcore.cascade import simulate_cascade

    pos, book, mark, default_fund = _market(args, args.seed)
    policy = load_policy(args.policy)
    fund = default_fund if args.fund is None else args.fund
    t0 = time.perf_counter()
    try:
        res = simulate_cascade(
            pos,
            book,
            mark,
            args.shock,
            policy,
            fund,
            _resilience(args),
            mark_rule=args.mark_rule,
            max_rounds=args.max_rounds,
        )
    except (TypeError, ValueError) as e:
        raise CliError(str(e)) from None
    seconds = time.perf_counter() - t0
    if args.plot:
        _plot_cascade(res, args.plot)
    if args.json:
        out = {
            "summary": res.summary(),
            "marks": res.marks.tolist(),
            "trace": res.trace.to_dict(),
            "ledger": res.ledger.to_dict(),
            "policy": res.policy.to_dict(),
            "seconds": seconds,
        }
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    s = res.summary()
    rows = [
        (
            "mark",
            f"{mark:,.2f} -> {res.shocked_mark:,.2f} (shock {res.shock:+.2%}) -> {res.final_mark:,.2f}",
        ),
        ("total move", f"{res.move:+.3%} ({res.amplification:.2f}x the shock)"),
        ("rounds", f"{res.rounds}{'' if res.converged else ' (stopped by --max-rounds)'}"),
        ("positions", f"{len(res):,}"),
        (
            "liquidated",
            f"{s['positions_liquidated']:,} ({s['positions_liquidated'] / max(1, len(res)):.2%})",
        ),
        ("liquidated notional", _money(s["liquidated_notional"])),
        ("bad debt", _money(s["bad_debt"])),
        ("  traders' deficits", _money(s["deficit"])),
        ("fee income", _money(s["fees"])),
        ("insurance fund before", _money(s["insurance_fund_before"])),
        ("insurance fund after", _money(s["insurance_fund_after"])),
        ("residual", _money(s["residual"])),
        (f"covered by counterparties ({policy.residual})", _money(s["adl_transfers"])),
        ("uncovered", _money(s["uncovered"])),
        ("ledger balance", f"{s['ledger_balance']:.3g}"),
    ]
    print_table(
        rows, f"liqcore cascade: {len(pos):,} positions, shock {res.shock:+.1%}", sys.stdout
    )
    tr = res.trace
    if len(tr):
        print(
            f"{'round':>5} {'mark':>14} {'liquidated':>10} {'notional':>18} {'deficit':>16} {'fund after':>16}"
        )
        shown = list(range(min(len(tr), 12))) + ([len(tr) - 1] if len(tr) > 12 else [])
        for k in shown:
            print(
                f"{int(tr.round[k]):>5} {tr.mark[k]:>14,.2f} {int(tr.liquidated[k]):>10,} {tr.notional[k]:>18,.2f} "
                f"{tr.deficit[k]:>16,.2f} {tr.insurance_fund[k]:>16,.2f}"
            )
    print(f"cascade in {seconds * 1e3:.1f} ms")
    return 0


class _Progress:
    """A tqdm bar on stderr when tqdm is installed, else a line per 10%."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.shown = 0
        if not enabled:
            return
        try:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            return
        self.bar = tqdm(total=total, unit="scenario", desc="stress", file=sys.stderr)

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        elif done * 10 // total > self.shown or done == total:
            self.shown = done * 10 // total
            print(f"stress: {done:,}/{total:,} scenarios ({done / total:.0%})", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_stress(args: argparse.Namespace) -> int:
    from liqcore.stress import stress_test

    pos, book, mark, default_fund = _market(args, args.market_seed)
    policy = load_policy(args.policy)
    fund = default_fund if args.fund is None else args.fund
    long_run = len(pos) * args.scenarios * args.steps >= 2e8
    progress = _Progress(
        args.scenarios, enabled=long_run and not args.json and not args.no_progress
    )
    t0 = time.perf_counter()
    try:
        st = stress_test(
            pos,
            book,
            mark,
            policy,
            fund,
            args.scenarios,
            args.horizon,
            steps=args.steps,
            mu=args.mu,
            sigma=args.sigma,
            jump_intensity=args.jump_intensity,
            jump_mean=args.jump_mean,
            jump_std=args.jump_std,
            resilience=_resilience(args),
            mark_rule=args.mark_rule,
            max_rounds=args.max_rounds,
            seed=args.seed,
            threads=args.threads,
            progress=progress if progress.enabled else None,
        )
    except (TypeError, ValueError) as e:
        raise CliError(str(e)) from None
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    q = args.q
    if args.plot:
        _plot_stress(st, q, args.plot)
    s = st.summary(q)
    sizes = {f"r/kappa={r:g}": st.fund_size(r, 1.0) for r in (0.01, 0.05)}
    if args.json:
        out = {
            "summary": s,
            "fund_size": sizes,
            "params": st.params,
            "policy": policy.to_dict(),
            "seed": st.seed,
            "seconds": seconds,
            "position_scenarios_per_second": len(pos) * len(st) / seconds if seconds > 0 else None,
        }
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    rows = [
        (
            "scenarios x steps",
            f"{len(st):,} x {st.steps} (horizon {args.horizon:g} d, sigma {args.sigma:g}/d, "
            f"jumps {args.jump_intensity:g}/d)",
        ),
        ("positions", f"{len(pos):,}"),
        ("insurance fund", _money(fund)),
        ("expected deficit", _money(s["expected_deficit"])),
        (f"VaR {q:g}", _money(s[f"var_{q:g}"])),
        (f"ES {q:g}", _money(s[f"es_{q:g}"])),
        ("P(D > fund)", f"{s['depletion_probability']:.3%}"),
        ("P(fund exhausted)", f"{s['exhaustion_probability']:.3%}"),
        ("LaR 0.95 (liquidated notional)", _money(s["lar_0.95"])),
        ("mean liquidations", f"{s['mean_liquidations']:,.1f}"),
        ("fund size IF* (r/kappa = 1%)", _money(sizes["r/kappa=0.01"])),
        ("fund size IF* (r/kappa = 5%)", _money(sizes["r/kappa=0.05"])),
        (
            "Cover-1 (worst scenario)",
            f"{_money(s['cover1'])} ({'met' if s['meets_cover1'] else 'NOT met'})",
        ),
        (
            "Cover-2 (worst scenario)",
            f"{_money(s['cover2'])} ({'met' if s['meets_cover2'] else 'NOT met'})",
        ),
    ]
    print_table(
        rows, f"liqcore stress: seed {st.seed}, policy {args.policy or 'default'}", sys.stdout
    )
    print(
        f"stress test in {seconds:.2f} s "
        f"({len(pos) * len(st) / max(seconds, 1e-9):,.0f} position-scenarios per second)"
    )
    return 0


def _add_cascade_commands(sub: Any) -> None:
    cas = sub.add_parser(
        "cascade",
        help="play a liquidation cascade after a price shock",
        description="Shock the market (the book moves with the mark) and play the cascade.",
    )
    _market_arguments(cas)
    cas.add_argument("--seed", type=int, default=0, help="seed of the embedded market (default 0)")
    cas.add_argument(
        "--shock", type=float, default=-0.05, help="relative mark move (default -0.05)"
    )
    cas.set_defaults(func=cmd_cascade)

    st = sub.add_parser(
        "stress",
        help="stress-test the insurance fund over many price paths",
        description="Cascades along jump-diffusion price paths; deficit statistics.",
    )
    _market_arguments(st)
    st.add_argument(
        "--market-seed", type=int, default=0, help="seed of the embedded market (default 0)"
    )
    st.add_argument("--seed", type=int, default=0, help="seed of the price paths (default 0)")
    st.add_argument("--scenarios", type=int, default=1_000, help="number of paths (default 1,000)")
    st.add_argument("--steps", type=int, default=100, help="steps per path (default 100)")
    st.add_argument(
        "--horizon", type=_positive("--horizon"), default=1.0, help="path length, days (default 1)"
    )
    st.add_argument("--mu", type=float, default=0.0, help="drift per day (default 0)")
    st.add_argument(
        "--sigma",
        type=_nonnegative("--sigma"),
        default=0.04,
        help="volatility per day (default 0.04)",
    )
    st.add_argument(
        "--jump-intensity",
        type=_nonnegative("--jump-intensity"),
        default=0.1,
        help="expected jumps per day (default 0.1)",
    )
    st.add_argument("--jump-mean", type=float, default=-0.03, help="mean log jump (default -0.03)")
    st.add_argument(
        "--jump-std",
        type=_nonnegative("--jump-std"),
        default=0.05,
        help="std of log jumps (default 0.05)",
    )
    st.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    st.add_argument("--q", type=float, default=0.99, help="VaR / ES level (default 0.99)")
    st.add_argument("--no-progress", action="store_true", help="no progress bar")
    st.set_defaults(func=cmd_stress)


# ---- cross-margin accounts ---------------------------------------------------------------------


def _table(spec: str, arg: str) -> Any:
    """A CSV or Parquet file as a DataFrame (or a mapping of columns without pandas)."""
    path = Path(spec)
    if not path.is_file():
        raise CliError(f"{arg}: no such file {spec!r}")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pandas as pd

            return pd.read_parquet(path)
        except ImportError as e:
            raise CliError(f"{arg}: reading Parquet needs pandas and pyarrow: {e}") from None
    try:
        import pandas as pd

        return pd.read_csv(path)
    except ImportError:
        try:
            return _csv_columns(path)
        except CliError as e:
            raise CliError(str(e).replace("--positions", arg)) from None


def load_markets(spec: str) -> tuple[Any, dict[str, dict[str, float]]]:
    """Markets and collateral assets from a JSON file::

        {"marks": [60000, 3000], "mmr": [0.005, 0.01],   # or "tiers": [[[floor, mmr], ...], ...]
         "contract": "linear", "contract_size": 1.0,      # optional, one or per market
         "books": ["btc_book.json", "eth_book.json"],     # optional, relative to this file
         "assets": {"USDC": {"price": 1.0, "haircut": 0.0},
                    "ETH": {"price": 3000.0, "haircut": 0.1, "size_discount": 0.001}}}
    """
    from liqcore.cross_margin import Markets

    path = Path(spec)
    if not path.is_file():
        raise CliError(f"--markets: no such file {spec!r}")
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CliError(f"--markets: cannot read {spec}: {e}") from None
    if not isinstance(d, dict) or "marks" not in d or "assets" not in d:
        raise CliError(f"--markets: {spec} must hold a JSON object with 'marks' and 'assets'")
    unknown = set(d) - {"marks", "mmr", "tiers", "contract", "contract_size", "books", "assets"}
    if unknown:
        names = ", ".join(sorted(map(repr, unknown)))
        raise CliError(f"--markets: {spec}: unknown field(s) {names}")
    books = None
    if d.get("books") is not None:
        books = [load_book(str(path.parent / b)) for b in d["books"]]
    try:
        mk = Markets(
            d["marks"],
            d.get("mmr"),
            tiers=d.get("tiers"),
            books=books,
            contract=d.get("contract", "linear"),
            contract_size=d.get("contract_size", 1.0),
        )
    except (TypeError, ValueError) as e:
        raise CliError(f"--markets: {spec}: {e}") from None
    assets = d["assets"]
    if not isinstance(assets, dict) or not assets:
        raise CliError(
            f"--markets: {spec}: 'assets' must map asset names to {{'price', 'haircut'}}"
        )
    return mk, assets


def load_accounts(spec: str, assets: dict[str, dict[str, float]]) -> Any:
    """Collateral from CSV/Parquet: one column per asset of the markets file (balances in asset
    units), one row per account in id order, or an ``account`` column giving each row's id."""
    from liqcore.cross_margin import Accounts

    frame = _table(spec, "--collateral")
    names = list(frame.columns) if hasattr(frame, "columns") else list(frame.keys())
    missing = [a for a in assets if a not in names]
    if missing:
        raise CliError(f"--collateral: {spec} has no column(s) {', '.join(map(repr, missing))} "
                       f"(has {', '.join(map(repr, names))})")
    cols = [np.asarray(frame[a], dtype=np.float64) for a in assets]
    coll = np.column_stack(cols) if cols else np.zeros((0, 0))
    if "account" in names:
        ids = np.asarray(frame["account"])
        distinct = ids.size == 0 or (ids.min() >= 0 and np.unique(ids).size == ids.size)
        if ids.dtype.kind not in "iu" or not distinct:
            raise CliError(
                f"--collateral: {spec}: 'account' must hold distinct non-negative integer ids"
            )
        full = np.zeros((int(ids.max()) + 1 if ids.size else 0, len(cols)))
        full[ids] = coll
        coll = full
    try:
        def field(k: str, default: float | None) -> list[Any]:
            return [a.get(k, default) if isinstance(a, dict) else None for a in assets.values()]

        imf = field("size_discount", 0.0)
        return Accounts(coll, field("price", None), field("haircut", 0.0),
                        size_discount=imf if any(v for v in imf) else None)
    except (TypeError, ValueError) as e:
        raise CliError(f"--collateral/--markets: {e}") from None


def cmd_accounts(args: argparse.Namespace) -> int:
    from liqcore.account_liquidation import liquidate_accounts
    from liqcore.cross_margin import Portfolio, health

    mk, assets = load_markets(args.markets)
    acc = load_accounts(args.collateral, assets)
    try:
        pf = Portfolio.from_frame(_table(args.positions, "--positions"))
    except (TypeError, ValueError) as e:
        raise CliError(f"--positions: {args.positions}: {e}") from None
    try:
        h = health(pf, acc, mk)
        res = None
        if args.liquidate:
            res = liquidate_accounts(pf, acc, mk, load_policy(args.policy), args.fund)
    except (TypeError, ValueError) as e:
        raise CliError(str(e)) from None
    head = {
        "accounts": len(h),
        "positions": len(pf),
        "liquidatable": int(h.liquidatable.sum()),
        "equity": float(h.equity.sum()),
        "maintenance": float(h.maintenance.sum()),
        "equity_of_liquidatable": float(h.equity[h.liquidatable].sum()),
        "maintenance_of_liquidatable": float(h.maintenance[h.liquidatable].sum()),
    }
    if args.json:
        out: dict[str, Any] = {"health": head}
        if res is not None:
            fields = res.markets.__dataclass_fields__
            per_market = {k: getattr(res.markets, k).tolist() for k in fields}
            out.update(
                summary=res.summary(),
                ledger=res.ledger.to_dict(),
                policy=res.policy.to_dict(),
                markets=per_market,
            )
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        rows = [
            ("accounts", f"{head['accounts']:,}"),
            ("positions", f"{head['positions']:,}"),
            ("liquidatable accounts", f"{head['liquidatable']:,}"),
            ("equity (TNC), all", _money(head["equity"])),
            ("maintenance (TMMR), all", _money(head["maintenance"])),
            ("equity of liquidatable", _money(head["equity_of_liquidatable"])),
            ("maintenance of liquidatable", _money(head["maintenance_of_liquidatable"])),
        ]
        if res is not None:
            s = res.summary()
            rows += [
                ("liquidated accounts", f"{s['liquidated_accounts']:,}"),
                ("positions closed", f"{s['liquidated_positions']:,}"),
                ("liquidated notional", _money(s["liquidated_notional"])),
                ("deficit", _money(s["deficit"])),
                ("fee income", _money(s["fees"])),
                ("insurance fund before", _money(s["insurance_fund_before"])),
                ("insurance fund after", _money(s["insurance_fund_after"])),
                ("residual", _money(s["residual"])),
                (f"covered by counterparties ({res.policy.residual})", _money(s["adl_transfers"])),
                ("uncovered", _money(s["uncovered"])),
                ("ledger balance", f"{s['ledger_balance']:.3g}"),
            ]
        print_table(rows, f"liqcore accounts: {args.positions}", sys.stdout)
    if args.output:
        try:
            frame = res.to_frame("accounts") if res is not None else h.to_frame()
        except ImportError as e:
            raise CliError(f"--output: {e}") from None
        frame.to_csv(args.output, index_label="account")
    return 0


def _add_accounts_command(sub: Any) -> None:
    acc = sub.add_parser(
        "accounts",
        help="cross-margin health (and liquidation) of your accounts",
        description="Health of cross-margin accounts over several markets and collateral assets; "
        "with --liquidate, account-wide liquidation against the markets' books.",
    )
    acc.add_argument(
        "--positions", required=True, help="CSV or Parquet: account, market, size, entry_price"
    )
    acc.add_argument(
        "--collateral",
        required=True,
        help="CSV or Parquet: one column per asset (balances), a row per account [, account]",
    )
    acc.add_argument(
        "--markets",
        required=True,
        help="JSON: marks, mmr or tiers, contract, contract_size, books (files), assets",
    )
    acc.add_argument(
        "--liquidate", action="store_true", help="run liquidate_accounts after the health check"
    )
    acc.add_argument("--policy", default=None, help="preset name or JSON file of Policy fields")
    acc.add_argument(
        "--fund", type=_nonnegative("--fund"), default=0.0, help="insurance fund before (default 0)"
    )
    acc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    acc.add_argument(
        "--output", default=None, help="write the per-account results as CSV (needs pandas)"
    )
    acc.set_defaults(func=cmd_accounts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except CliError as e:
        parser.exit(2, f"liqcore: error: {e}\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
