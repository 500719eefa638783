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
        ("deficit (bad debt)", _money(s["deficit"])),
        ("fee income", _money(s["fees"])),
        ("fund takeover loss", _money(s["takeover_loss"])),
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liqcore", description="Liquidation-risk engine.")
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
    return parser


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
