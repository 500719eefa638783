"""The ``liqcore map`` and ``liqcore curve`` subcommands (registered by :mod:`liqcore.cli`).

``liqcore map [--positions FILE --mark PRICE] [--bins N] [--span S] [--mmr R] [--json] ...``
    (and ``--plot FILE.png``)
    The liquidation map (:func:`liqcore.liquidation_map`) of a positions file (CSV or Parquet,
    as ``liqcore liquidate`` reads it) at ``--mark``, or of the embedded demo market: a table of
    the long and short notional liquidated per price bin and cumulated from the mark outward.
``liqcore curve [--positions FILE --book FILE --mark PRICE] [--shocks -0.01,-0.02,...] ...``
    The deficit curve (:func:`liqcore.deficit_curve`): one cascade per shock, in parallel, with
    the bad debt, liquidated notional, liquidations, final mark and fund after of each.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from liqcore import plot
from liqcore.cli import (
    POSITIONS_HELP,
    CliError,
    _json_argument,
    _mark_rule,
    _market,
    _market_arguments,
    _nonnegative,
    _positive,
    _resilience,
    check_writable,
    draw,
    load_positions,
    print_json,
    user_errors,
)
from liqcore.report import columns
from liqcore.report import money as _money

__all__ = ["add_map_commands"]

DEFAULT_SHOCKS = "-0.01,-0.02,-0.03,-0.05,-0.1"
_NUMBER = r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
_NEGATIVE_LIST = rf"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(,{_NUMBER})*$"


def _shocks(text: str) -> list[float]:
    out = []
    for i, part in enumerate(text.split(",")):
        try:
            out.append(float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--shocks[{i}] must be a number (got {part.strip()!r})"
            ) from None
    return out


def cmd_map(args: argparse.Namespace) -> int:
    from liqcore.liquidation_map import liquidation_map

    check_writable(args.plot, "--plot")
    if args.positions is not None:
        if args.mark is None:
            raise CliError("--positions needs --mark (the current mark price)")
        pos, mark = load_positions(args.positions), args.mark
        source = args.positions
    else:
        from liqcore.demo import default_market

        pos, _, mark, _ = default_market(seed=args.seed)
        if args.mark is not None:
            mark = args.mark
        source = "the embedded market"
    with user_errors():
        m = liquidation_map(pos, mark=mark, bins=args.bins, span=args.span, mmr=args.mmr)
    if args.plot:
        draw(plot._result, m, args.plot)
    if args.json:
        print_json(m.to_dict())
        return 0
    print(f"liqcore map: {len(pos):,} positions of {source} at mark {mark:,.2f}")
    print(f"already liquidatable at the mark: longs {_money(m.long_now)}, "
          f"shorts {_money(m.short_now)}")
    cols = [("price from", 14, ",.2f"), ("price to", 14, ",.2f"), ("long", 18, ",.2f"),
            ("long cum.", 18, ",.2f"), ("short", 18, ",.2f"), ("short cum.", 18, ",.2f")]
    print(columns(cols, zip(m.edges[:-1], m.edges[1:], m.long, m.long_cumulative, m.short,
                            m.short_cumulative)))
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    from liqcore.deficit_curve import deficit_curve

    check_writable(args.plot, "--plot")
    pos, book, mark, policy, fund = _market(args, args.seed)
    with user_errors():
        c = deficit_curve(
            pos, book, mark, args.shocks, policy=policy, insurance_fund=fund,
            resilience=_resilience(args), mark_rule=_mark_rule(args),
            max_rounds=args.max_rounds, threads=args.threads,
        )
    if args.plot:
        draw(plot._result, c, args.plot)
    if args.json:
        print_json(c.to_dict())
        return 0
    print(f"liqcore curve: {len(pos):,} positions, mark {mark:,.2f}, "
          f"insurance fund {_money(fund)}")
    cols = [("shock", 8, "+.2%"), ("bad debt", 18, ",.2f"), ("liq. notional", 18, ",.2f"),
            ("liquidations", 12, ","), ("final mark", 14, ",.2f"), ("fund after", 18, ",.2f")]
    print(columns(cols, zip(c.shocks, c.bad_debt, c.liquidated_notional,
                            [int(n) for n in c.n_liquidated], c.final_mark, c.insurance_fund)))
    return 0


def add_map_commands(sub: Any) -> None:
    """Adds ``map`` and ``curve`` to the ``liqcore`` subparsers ``sub``."""
    mp = sub.add_parser(
        "map",
        help="liquidation map: notional liquidated per price level",
        description="Notional of the longs liquidated as the price falls to each level and of "
        "the shorts as it rises, per bin and cumulated from the mark.",
    )
    mp.add_argument("--positions", default=None, help=POSITIONS_HELP)
    mp.add_argument("--mark", type=_positive("--mark"), default=None,
                    help="mark price (needed with --positions; default: the embedded market's)")
    mp.add_argument("--seed", type=int, default=0, help="seed of the embedded market (default 0)")
    mp.add_argument("--bins", type=int, default=20, help="number of price bins (default 20)")
    mp.add_argument("--span", type=_positive("--span"), default=0.2,
                    help="half-width of the price range relative to the mark (default 0.2)")
    mp.add_argument("--mmr", type=_nonnegative("--mmr"), default=0.005,
                    help="maintenance-margin rate (default 0.005)")
    _json_argument(mp)
    mp.add_argument("--plot", default=None, metavar="FILE.png",
                    help="draw the map (needs matplotlib)")
    mp.set_defaults(func=cmd_map)

    cv = sub.add_parser(
        "curve",
        help="deficit curve: bad debt against the size of the shock",
        description="One liquidation cascade per shock (in parallel): bad debt, liquidated "
        "notional, liquidations, final mark and insurance fund after.",
    )
    _market_arguments(cv)
    cv.add_argument("--seed", type=int, default=0, help="seed of the embedded market (default 0)")
    cv.add_argument("--shocks", type=_shocks, default=_shocks(DEFAULT_SHOCKS),
                    help=f"comma-separated relative moves (default {DEFAULT_SHOCKS})")
    cv.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    # let "--shocks -0.01,-0.02" through: argparse takes only a single negative number for a
    # value, and would read a list that starts with "-" as an unknown option
    cv._negative_number_matcher = re.compile(_NEGATIVE_LIST)
    cv.set_defaults(func=cmd_curve)
