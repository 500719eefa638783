"""The ``liqcore replay`` subcommand (registered by :mod:`liqcore.cli`).

``liqcore replay FEED --positions FILE [--policy P] [--fund X] [--every T] [--json] [--plot FILE]``
    Replays a recorded order-book feed (Binance USD-M depth, Hyperliquid l2Book, Tardis
    incremental_book_L2 CSV) against a positions file through :class:`liqcore.Engine`
    (:func:`liqcore.replay`): the book follows the feed, the mark is the book's mid, and the
    engine's liquidations consume the book until the feed overwrites the levels. Prints a
    summary and the rows with liquidations (or ``--json``); ``--plot`` saves mark and cumulative
    bad debt over time. A progress bar (tqdm, when installed) counts the events on stderr.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from typing import Any

from liqcore import plot
from liqcore.cli import (
    POSITIONS_HELP,
    _json_argument,
    _policy_fund_arguments,
    check_writable,
    draw,
    load_policy,
    load_positions,
    print_json,
    user_errors,
)
from liqcore.report import columns
from liqcore.report import money as _money

__all__ = ["add_replay_command"]


class _EventBar:
    """A tqdm bar of replayed events on stderr when tqdm is installed and enabled."""

    def __init__(self, enabled: bool) -> None:
        self.bar: Any = None
        if not enabled:
            return
        try:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            return
        self.bar = tqdm(unit="event", desc="replay", file=sys.stderr)

    def __call__(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _every(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--every must be a positive integer (got {text!r})") \
            from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"--every must be a positive integer (got {text!r})")
    return v


def cmd_replay(args: argparse.Namespace) -> int:
    from liqcore.replay import replay

    check_writable(args.plot, "--plot")
    pos = load_positions(args.positions)
    policy = load_policy(args.policy)
    bar = _EventBar(not args.no_progress)
    with user_errors(FileNotFoundError), closing(bar):
        r = replay(args.feed, pos, policy=policy, insurance_fund=args.fund, every=args.every,
                   strict=not args.lenient, progress=bar)
    if args.plot:
        draw(plot._result, r, args.plot)
    s = r.summary()
    if args.json:
        rows = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in zip(
                ("time", "mark", "n_liquidated", "liquidated_notional", "bad_debt",
                 "insurance_fund"),
                (r.time[i], r.mark[i], r.n_liquidated[i], r.liquidated_notional[i],
                 r.bad_debt[i], r.insurance_fund[i]))}
            for i in range(len(r)) if r.n_liquidated[i]
        ]
        print_json({"summary": s, "liquidation_rows": rows})
        return 0
    print(f"liqcore replay: {args.feed}: {s['events']:,} events, {len(pos):,} positions")
    for k in ("liquidated", "liquidated_notional", "bad_debt", "fees", "uncovered",
              "insurance_fund_before", "insurance_fund_after", "open_positions"):
        v = s[k]
        print(f"  {k:<24} {v:>20,}" if isinstance(v, int) else f"  {k:<24} {_money(v):>20}")
    liq = [i for i in range(len(r)) if r.n_liquidated[i]]
    if liq:
        cols = [("time", 20, ""), ("mark", 14, ",.2f"), ("liquidated", 10, ","),
                ("notional", 18, ",.2f"), ("bad debt", 16, ",.2f")]
        print(columns(cols, (
            (int(r.time[i]), r.mark[i], int(r.n_liquidated[i]), r.liquidated_notional[i],
             r.bad_debt[i])
            for i in liq
        )))
    return 0


def add_replay_command(sub: Any) -> None:
    rp = sub.add_parser(
        "replay",
        help="replay a recorded order-book feed against your positions",
        description="Replay a Binance depth, Hyperliquid l2Book or Tardis incremental_book_L2 "
        "feed through the live engine: the book follows the feed, the mark is its mid.",
    )
    rp.add_argument("feed", help="feed file (Binance/Hyperliquid .jsonl[.gz], Tardis CSV)")
    rp.add_argument("--positions", required=True, help=POSITIONS_HELP)
    _policy_fund_arguments(rp)
    rp.add_argument(
        "--every", type=_every, default=None,
        help="one row per interval of this many feed time units (ns; µs for Tardis)",
    )
    rp.add_argument("--lenient", action="store_true", help="replay across Binance sequence gaps")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    _json_argument(rp)
    rp.add_argument("--plot", default=None, help="save mark and cumulative bad debt (PNG)")
    rp.set_defaults(func=cmd_replay)
