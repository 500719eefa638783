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
    your files: the round-by-round trace and a summary table, or ``--json``. ``--rate-limit
    NOTIONAL`` and ``--rate-limit-orders N`` (also on ``stress``) cap what a round liquidates
    (:class:`liqcore.Policy` ``max_notional``, ``max_orders``); the rest waits a round.
``liqcore stress [--positions FILE --book FILE --mark PRICE] [--scenarios N] [--plot FILE.png] ...``
    Runs a stress test (:func:`liqcore.stress_test`) with a progress bar (tqdm when installed)
    and prints the deficit statistics (VaR, ES, P(depletion), LaR, fund sizes, Cover-1/2).
    ``--funding RATE``: a funding rate per step (longs pay shorts when > 0). With
    ``--collateral FILE --markets FILE`` (and ``--positions`` a portfolio, as ``liqcore
    accounts`` reads them) it is the cross-margin stress test
    (:func:`liqcore.stress_test_accounts`), where ``--depeg ASSET:DROP:START:END`` makes a
    collateral asset (a name of the markets file's assets, or its index) trade at ``1 − DROP``
    times its price (DROP 0.4: 40% lower) from step ``START`` to step ``END`` (excluded), then
    return (docs/model.md §6, "Collateral moves"); combine it with a negative ``--mu`` (or
    jumps) for a market falling meanwhile.

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
    books and the assets' prices and haircuts, see :func:`liqcore.io.read_markets`), and with
    ``--liquidate``
    :func:`liqcore.liquidate_accounts`; a summary table, ``--json``, or per-account CSV ``--output``.

The files are read by :mod:`liqcore.io`, the tables are :mod:`liqcore.report`'s and the figures
:mod:`liqcore.plot`'s; this module only parses arguments and prints.

Exit status: 0 on success, 2 on bad arguments or input, including an output file (``--output``,
``--plot``) that cannot be written, e.g. in a folder that does not exist (a one-line message on
stderr names what is wrong).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable

from liqcore import io, report
from liqcore.liquidation import LiquidationResult, liquidate
from liqcore.mark_rule import MARK_RULES, MarkRule
from liqcore.policy import Policy
from liqcore.positions import Positions

__all__ = ["main"]

PRESETS = io.POLICY_PRESETS


class CliError(Exception):
    """A user error: printed as ``liqcore: error: ...`` with exit status 2."""


# ---- inputs: liqcore.io, with the option's name before its errors ----------------------------


def load_policy(spec: str | None, **defaults: Any) -> Policy:
    """A preset name, a JSON file of Policy fields, or None (``Policy(**defaults)``)."""
    try:
        return io.read_policy(spec, **defaults)
    except (OSError, TypeError, ValueError) as e:
        raise CliError(f"--policy: {e}") from None


def load_positions(spec: str) -> Positions:
    """Positions from a CSV or Parquet file with columns size, entry_price, margin[, account]."""
    try:
        return io.read_positions(spec)
    except (ImportError, OSError, TypeError, ValueError) as e:
        raise CliError(f"--positions: {e}") from None


def load_book(spec: str) -> Any:
    if not Path(spec).is_file():
        raise CliError(f"--book: no such file {spec!r}")
    try:
        return io.read_book(spec)
    except (TypeError, ValueError, OSError) as e:
        raise CliError(f"--book: {spec}: {e}") from None


def load_table(spec: str, arg: str) -> Any:
    """A CSV or Parquet file as a DataFrame (or a mapping of columns without pandas)."""
    try:
        return io.read_table(spec)
    except (ImportError, OSError, ValueError) as e:
        raise CliError(f"{arg}: {e}") from None


def load_markets(spec: str) -> tuple[Any, dict[str, dict[str, float]]]:
    """Markets and collateral assets from a JSON file (:func:`liqcore.io.read_markets`)."""
    try:
        return io.read_markets(spec, book_reader=load_book)
    except (OSError, TypeError, ValueError) as e:
        raise CliError(f"--markets: {e}") from None


def load_accounts(spec: str, assets: dict[str, dict[str, float]]) -> Any:
    """Collateral from CSV/Parquet (:func:`liqcore.io.read_collateral`)."""
    try:
        return io.read_collateral(spec, assets)
    except (ImportError, OSError) as e:
        raise CliError(f"--collateral: {e}") from None
    except (TypeError, ValueError) as e:
        # the file's own problems name the file; bad values are the markets' assets' or the
        # collateral's
        where = "--collateral" if str(e).startswith((spec, "cannot read")) else (
            "--collateral/--markets"
        )
        raise CliError(f"{where}: {e}") from None


def load_cross_margin(
    args: argparse.Namespace,
) -> tuple[Any, Any, Any, dict[str, dict[str, float]]]:
    """(portfolio, accounts, markets, assets) of --positions, --collateral and --markets."""
    from liqcore.cross_margin import Portfolio

    mk, assets = load_markets(args.markets)
    acc = load_accounts(args.collateral, assets)
    try:
        pf = Portfolio.from_frame(load_table(args.positions, "--positions"))
    except (TypeError, ValueError) as e:
        raise CliError(f"--positions: {args.positions}: {e}") from None
    return pf, acc, mk, assets


def check_writable(path: str | None, arg: str) -> None:
    """A CliError unless ``path``'s folder exists (checked before any work is done)."""
    if path is None:
        return
    folder = Path(path).parent
    if not folder.is_dir():
        raise CliError(f"{arg}: cannot write {path}: no such folder {str(folder)!r}")
    if Path(path).is_dir():
        raise CliError(f"{arg}: cannot write {path}: it is a folder")


def write_output(arg: str, path: str, write: Callable[[], Any], needs: str = "") -> None:
    """``write()``, which writes ``path``, the file of option ``arg`` (its folder checked first
    by :func:`check_writable`), with the errors of the command line: a missing optional
    dependency (``needs``, else its own message) and a file that cannot be written."""
    try:
        write()
    except ImportError as e:
        raise CliError(needs or f"{arg}: {e}") from None
    except OSError as e:
        raise CliError(f"{arg}: cannot write {path}: {e.strerror or e}") from None


def write_csv(frame: Callable[[], Any], path: str, **kwargs: Any) -> None:
    """The DataFrame ``frame()`` (ImportError without pandas) written to the --output ``path``."""
    write_output("--output", path, lambda: frame().to_csv(path, **kwargs))


def draw(plot: Callable[..., None], result: Any, path: str, *args: Any) -> None:
    """``plot(result, path, *args)`` (liqcore.plot), with the --plot errors of the command
    line."""
    write_output(
        "--plot",
        path,
        lambda: plot(result, path, *args),
        needs="--plot needs matplotlib: pip install liqcore[plot]",
    )


@contextmanager
def user_errors(*more: type[Exception]) -> Iterator[None]:
    """A TypeError or ValueError (or one of ``more``) raised in the block, from the library
    checking the user's inputs: a CliError of its message."""
    caught: tuple[type[Exception], ...] = (TypeError, ValueError, *more)
    try:
        yield
    except caught as e:
        raise CliError(str(e)) from None


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout."""
    json.dump(obj, sys.stdout, indent=2)
    print()


def _checked(
    name: str, convert: Callable[[str], Any], kind: str, ok: Callable[[Any], bool], rule: str
) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert(text)`` (else "NAME must be KIND") that is ``ok`` (else
    "NAME must be RULE")."""

    def parse(text: str) -> Any:
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {kind} (got {text!r})") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{name} must be {rule} (got {text})")
        return v

    return parse


def _positive(name: str) -> Callable[[str], float]:
    return _checked(name, float, "a number", lambda v: math.isfinite(v) and v > 0, "finite and > 0")


def _nonnegative(name: str) -> Callable[[str], float]:
    return _checked(
        name, float, "a number", lambda v: math.isfinite(v) and v >= 0, "finite and >= 0"
    )


def _count_arg(name: str) -> Callable[[str], int]:
    return _checked(name, int, "an integer", lambda v: v >= 1, ">= 1")


POSITIONS_HELP = "CSV or Parquet: size, entry_price, margin[, account]"
EMBEDDED_FUND_HELP = "insurance fund before (default: 2,000,000 on the embedded market, else 0)"


def _market_file_arguments(p: argparse.ArgumentParser, required: bool) -> None:
    """--positions, --book and --mark: the user's market (all three; when not ``required``,
    none of them is the embedded market, see :func:`_market`)."""
    p.add_argument("--positions", required=required, default=None, help=POSITIONS_HELP)
    p.add_argument(
        "--book",
        required=required,
        default=None,
        help="book file (JSON, CSV, Binance or Hyperliquid feed)",
    )
    p.add_argument(
        "--mark", required=required, type=_positive("--mark"), default=None, help="mark price"
    )


def _policy_fund_arguments(
    p: argparse.ArgumentParser,
    fund: float | None = 0.0,
    fund_help: str = "insurance fund before (default 0)",
) -> None:
    """--policy (a preset or a JSON file, :func:`load_policy`) and --fund (default ``fund``)."""
    p.add_argument("--policy", default=None, help="preset name or JSON file of Policy fields")
    p.add_argument("--fund", type=_nonnegative("--fund"), default=fund, help=fund_help)


def _json_argument(p: argparse.ArgumentParser, instead_of: str = "a table") -> None:
    p.add_argument("--json", action="store_true", help=f"print JSON instead of {instead_of}")


def _rate_limit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rate-limit",
        type=_positive("--rate-limit"),
        default=None,
        metavar="NOTIONAL",
        help="most notional liquidated per round; the rest waits for the next round "
        "(Policy.max_notional; default: the policy's, no cap)",
    )
    p.add_argument(
        "--rate-limit-orders",
        type=_count_arg("--rate-limit-orders"),
        default=None,
        metavar="N",
        help="most liquidation orders per round (Policy.max_orders; default: the policy's)",
    )


def _with_rate_limits(policy: Policy, args: argparse.Namespace) -> Policy:
    """``policy`` with --rate-limit / --rate-limit-orders when given."""
    changes: dict[str, Any] = {}
    if args.rate_limit is not None:
        changes["max_notional"] = args.rate_limit
    if args.rate_limit_orders is not None:
        changes["max_orders"] = args.rate_limit_orders
    return dataclasses.replace(policy, **changes) if changes else policy


# ---- output ------------------------------------------------------------------------------------


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
        print_json(_json_ready(res, mark_before=mark, shock=shock, seconds=t2 - t1))
        return 0
    title = (
        f"liqcore demo: {len(pos):,} positions, BTC-like book "
        f"({book.n_bids:,} + {book.n_asks:,} levels), "
        f"shock {shock:+.1%}"
    )
    print(report.liquidation(res, title=title, mark_before=mark))
    print(
        f"market built in {t1 - t0:.2f} s, liquidated in {(t2 - t1) * 1e3:.1f} ms", file=sys.stdout
    )
    return 0


def cmd_liquidate(args: argparse.Namespace) -> int:
    check_writable(args.output, "--output")
    pos = load_positions(args.positions)
    book = load_book(args.book)
    policy = load_policy(args.policy)
    with user_errors():
        res = liquidate(pos, book, args.mark, policy, args.fund)
    if args.json:
        print_json(_json_ready(res))
    else:
        title = f"liqcore liquidate: {args.positions} against {args.book}"
        print(report.liquidation(res, title=title))
    if args.output:
        write_csv(res.to_frame, args.output, index=False)
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
    _json_argument(demo)
    demo.set_defaults(func=cmd_demo)

    liq = sub.add_parser(
        "liquidate",
        help="liquidate your positions against your book",
        description="Liquidate positions (CSV/Parquet) against a book file at a mark price.",
    )
    _market_file_arguments(liq, required=True)
    _policy_fund_arguments(liq)
    _json_argument(liq)
    liq.add_argument(
        "--output", default=None, help="write the per-position results as CSV (needs pandas)"
    )
    liq.set_defaults(func=cmd_liquidate)
    _add_cascade_commands(sub)
    _add_accounts_command(sub)
    from liqcore.cli_map import add_map_commands  # here: cli_map imports this module

    add_map_commands(sub)
    from liqcore.report_html import add_report_command  # liqcore report (report_html.py)

    add_report_command(sub)

    from liqcore.cli_replay import add_replay_command  # here: cli_replay imports this module

    add_replay_command(sub)
    return parser


# ---- cascades and stress tests -------------------------------------------------------------------


def _market(args: argparse.Namespace, seed: int) -> tuple[Any, Any, float, Policy, float]:
    """(positions, book, mark, policy, fund): the user's files, or the embedded default market
    (of ``seed``; its fund when --fund is not given), with --policy and --fund."""
    given = [args.positions is not None, args.book is not None, args.mark is not None]
    if any(given) and not all(given):
        raise CliError(
            "--positions, --book and --mark go together (or none of them: the embedded market)"
        )
    if all(given):
        pos, book, mark, default_fund = (
            load_positions(args.positions), load_book(args.book), args.mark, 0.0
        )
    else:
        from liqcore.demo import DEFAULT_FUND, default_market

        pos, book, mark, _ = default_market(seed=seed)
        default_fund = DEFAULT_FUND
    policy = load_policy(args.policy)
    return pos, book, mark, policy, default_fund if args.fund is None else args.fund


def _resilience(args: argparse.Namespace) -> float:
    """--resilience, or the default of the market in use."""
    if args.resilience is not None:
        return float(args.resilience)
    if args.positions is None and args.book is None:
        from liqcore.demo import DEFAULT_RESILIENCE

        return DEFAULT_RESILIENCE
    return 0.0


def _stress_options(args: argparse.Namespace) -> dict[str, Any]:
    """The path, cascade and funding options `liqcore stress` passes to either stress test."""
    return {
        "steps": args.steps,
        "mu": args.mu,
        "sigma": args.sigma,
        "jump_intensity": args.jump_intensity,
        "jump_mean": args.jump_mean,
        "jump_std": args.jump_std,
        "resilience": _resilience(args),
        "mark_rule": _mark_rule(args),
        "max_rounds": args.max_rounds,
        "seed": args.seed,
        "threads": args.threads,
        "funding": args.funding,
    }


def _mark_rule(args: argparse.Namespace) -> MarkRule:
    """--mark-rule with --mark-weight (the index blend's weight)."""
    if args.mark_weight is None:
        return MarkRule.of(args.mark_rule)
    if args.mark_rule != "index":
        raise CliError(
            f"--mark-weight applies to --mark-rule index only (got --mark-rule {args.mark_rule})"
        )
    try:
        return MarkRule.index(w=args.mark_weight)
    except ValueError as e:
        raise CliError(str(e).replace("mark_rule.w", "--mark-weight")) from None


def _market_arguments(p: argparse.ArgumentParser) -> None:
    _market_file_arguments(p, required=False)
    _policy_fund_arguments(p, None, EMBEDDED_FUND_HELP)
    p.add_argument(
        "--resilience",
        type=_nonnegative("--resilience"),
        default=None,
        help="fraction of the missing depth that returns after each round (default: 0.5 on "
        "the embedded market, where market makers refill a liquid book; else 0)",
    )
    p.add_argument(
        "--mark-rule",
        choices=MARK_RULES,
        default="last",
        help="how the mark follows the index and the trades: last fill, mid of the book left, "
        "index blend (see --mark-weight), Binance's or Hyperliquid's median (default last)",
    )
    p.add_argument(
        "--mark-weight",
        type=float,
        default=None,
        metavar="W",
        help="with --mark-rule index: mark = (1 - W)*index + W*last, W in [0, 1] (default 0)",
    )
    p.add_argument(
        "--max-rounds", type=int, default=1000, help="round limit per cascade (default 1000)"
    )
    _json_argument(p, "tables")
    p.add_argument(
        "--plot", default=None, metavar="FILE.png", help="draw the results (needs matplotlib)"
    )


def cmd_cascade(args: argparse.Namespace) -> int:
    from liqcore import plot
    from liqcore.cascade import simulate_cascade

    check_writable(args.plot, "--plot")
    pos, book, mark, policy, fund = _market(args, args.seed)
    t0 = time.perf_counter()
    with user_errors():
        res = simulate_cascade(
            pos,
            book,
            mark,
            args.shock,
            _with_rate_limits(policy, args),
            fund,
            _resilience(args),
            mark_rule=_mark_rule(args),
            max_rounds=args.max_rounds,
        )
    seconds = time.perf_counter() - t0
    if args.plot:
        draw(plot.cascade, res, args.plot)
    if args.json:
        out = {
            "summary": res.summary(),
            "marks": res.marks.tolist(),
            "trace": res.trace.to_dict(),
            "ledger": res.ledger.to_dict(),
            "policy": res.policy.to_dict(),
            "seconds": seconds,
        }
        print_json(out)
        return 0
    title = f"liqcore cascade: {len(pos):,} positions, shock {res.shock:+.1%}"
    print(report.cascade(res, title=title, limit_name="--max-rounds"))
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


def _parse_depeg(text: str) -> tuple[str, float, int, int]:
    """``ASSET:DROP:START:END`` of ``--depeg`` (DROP in (0, 1), 0 <= START < END)."""
    parts = text.split(":")
    if len(parts) != 4 or not parts[0]:
        raise argparse.ArgumentTypeError(f"must be ASSET:DROP:START:END (got {text!r})")
    try:
        drop, start, end = float(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be ASSET:DROP:START:END with DROP a number, START and END integers "
            f"(got {text!r})"
        ) from None
    if not 0.0 < drop < 1.0:
        raise argparse.ArgumentTypeError(f"DROP must be in (0, 1) (got {parts[1]!r})")
    if not 0 <= start < end:
        raise argparse.ArgumentTypeError(f"must have 0 <= START < END (got {start}, {end})")
    return parts[0], drop, start, end


def depeg_paths(
    depegs: Sequence[tuple[str, float, int, int]],
    names: Sequence[str],
    prices: Any,
    steps: int,
) -> Any:
    """Collateral prices (steps × assets) of the ``--depeg`` preset: each named asset at
    ``price·(1 − DROP)`` for the steps ``START <= t < END`` (cut at ``steps``), else its
    price."""
    import numpy as np

    p = np.tile(np.asarray(prices, dtype=np.float64), (steps, 1))
    for asset, drop, start, end in depegs:
        if asset in names:
            k = list(names).index(asset)
        elif asset.isdigit() and int(asset) < len(names):
            k = int(asset)
        else:
            raise CliError(
                f"--depeg: {asset!r} is not an asset of --markets (assets: {', '.join(names)})"
            )
        if start >= steps:
            raise CliError(f"--depeg: START {start} is not a step (steps: {steps})")
        p[start : min(end, steps), k] *= 1.0 - drop
    return p


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    return x.tolist() if hasattr(x, "tolist") else x


def cmd_stress_accounts(args: argparse.Namespace) -> int:
    """``liqcore stress --collateral ... --markets ...``: stress_test_accounts."""
    from liqcore.contagion import stress_test_accounts

    if args.collateral is None or args.markets is None or args.positions is None:
        raise CliError(
            "--positions, --collateral and --markets go together (the cross-margin stress test)"
        )
    if args.book is not None or args.mark is not None:
        raise CliError("--book and --mark do not apply with --collateral/--markets")
    if args.plot is not None:
        raise CliError("--plot applies to isolated positions (not with --collateral/--markets)")
    pf, acc, mk, assets = load_cross_margin(args)
    names = list(assets)
    paths = (
        depeg_paths(args.depeg, names, [assets[a]["price"] for a in names], args.steps)
        if args.depeg
        else None
    )
    t0 = time.perf_counter()
    with user_errors():
        res = stress_test_accounts(
            pf,
            acc,
            mk,
            _with_rate_limits(load_policy(args.policy), args),
            0.0 if args.fund is None else args.fund,
            args.scenarios,
            args.horizon,
            collateral_paths=paths,
            **_stress_options(args),
        )
    seconds = time.perf_counter() - t0
    q = args.q
    if args.json:
        out = {
            "summary": res.summary(q),
            "params": _json_safe(res.params),
            "policy": res.policy.to_dict(),
            "seed": res.seed,
            "mean_funding_paid": float(res.funding_paid.mean())
            if res.funding_paid is not None and len(res)
            else None,
            "depeg": [list(d) for d in args.depeg or []],
            "seconds": seconds,
        }
        print_json(out)
        return 0
    print(report.account_stress(res, q, title=f"liqcore stress (accounts): seed {res.seed}"))
    print(f"stress test in {seconds:.2f} s")
    return 0


def cmd_stress(args: argparse.Namespace) -> int:
    from liqcore import plot
    from liqcore.stress import stress_test

    if args.collateral is not None or args.markets is not None:
        return cmd_stress_accounts(args)
    if args.depeg:
        raise CliError("--depeg needs the cross-margin stress test (--collateral and --markets)")
    check_writable(args.plot, "--plot")
    pos, book, mark, policy, fund = _market(args, args.market_seed)
    policy = _with_rate_limits(policy, args)
    long_run = len(pos) * args.scenarios * args.steps >= 2e8
    progress = _Progress(
        args.scenarios, enabled=long_run and not args.json and not args.no_progress
    )
    t0 = time.perf_counter()
    with user_errors(), closing(progress):
        st = stress_test(
            pos,
            book,
            mark,
            policy,
            fund,
            args.scenarios,
            args.horizon,
            progress=progress if progress.enabled else None,
            **_stress_options(args),
        )
    seconds = time.perf_counter() - t0
    q = args.q
    if args.plot:
        draw(plot.stress, st, args.plot, q)
    if args.json:
        s = st.summary(q)
        sizes = {f"r/kappa={r:g}": st.fund_size(r, 1.0) for r in (0.01, 0.05)}
        out = {
            "summary": s,
            "fund_size": sizes,
            "params": st.params,
            "policy": policy.to_dict(),
            "seed": st.seed,
            "mean_funding_paid": float(st.funding_paid.mean())
            if st.funding_paid is not None and len(st)
            else None,
            "seconds": seconds,
            "position_scenarios_per_second": len(pos) * len(st) / seconds if seconds > 0 else None,
        }
        print_json(out)
        return 0
    title = f"liqcore stress: seed {st.seed}, policy {args.policy or 'default'}"
    print(
        report.stress(
            st,
            q,
            title=title,
            positions=len(pos),
            horizon=args.horizon,
            sigma=args.sigma,
            jump_intensity=args.jump_intensity,
        )
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
    _rate_limit_arguments(cas)
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
    _rate_limit_arguments(st)
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
    st.add_argument(
        "--funding",
        type=float,
        default=None,
        metavar="RATE",
        help="funding rate per step, settled before each step's cascade; longs pay shorts "
        "when > 0 (a daily rate r is r*horizon/steps per step)",
    )
    st.add_argument(
        "--collateral",
        default=None,
        help="cross-margin stress test: CSV or Parquet, one column per asset (with --markets, "
        "and --positions holding account, market, size, entry_price)",
    )
    st.add_argument(
        "--markets",
        default=None,
        help="cross-margin stress test: JSON of marks, mmr or tiers, books, assets",
    )
    st.add_argument(
        "--depeg",
        type=_parse_depeg,
        action="append",
        default=None,
        metavar="ASSET:DROP:START:END",
        help="cross-margin only: collateral ASSET trades DROP (e.g. 0.4) below its price from "
        "step START to END (excluded); repeatable",
    )
    st.set_defaults(func=cmd_stress)


# ---- cross-margin accounts ---------------------------------------------------------------------


def cmd_accounts(args: argparse.Namespace) -> int:
    from liqcore.account_liquidation import liquidate_accounts
    from liqcore.cross_margin import health

    check_writable(args.output, "--output")
    pf, acc, mk, assets = load_cross_margin(args)
    with user_errors():
        h = health(pf, acc, mk)
        res = None
        if args.liquidate:
            res = liquidate_accounts(pf, acc, mk, load_policy(args.policy), args.fund)
    if args.json:
        out: dict[str, Any] = {"health": report.health_summary(h, len(pf))}
        if res is not None:
            fields = res.markets.__dataclass_fields__
            per_market = {k: getattr(res.markets, k).tolist() for k in fields}
            out.update(
                summary=res.summary(),
                ledger=res.ledger.to_dict(),
                policy=res.policy.to_dict(),
                markets=per_market,
            )
        print_json(out)
    else:
        print(report.health(h, len(pf), res, title=f"liqcore accounts: {args.positions}"))
    if args.output:
        frame = partial(res.to_frame, "accounts") if res is not None else h.to_frame
        write_csv(frame, args.output, index_label="account")
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
    _policy_fund_arguments(acc)
    _json_argument(acc)
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
