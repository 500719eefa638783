"""Markets for the cascade and stress benchmarks: the real BTCUSDT book when ../shared/data is
there (Binance USD-M, 2024-08-08, every depth diff replayed: ~5,000 levels a side), else the
synthetic BTC-like book; and a position population scaled to the book."""

from __future__ import annotations

from pathlib import Path

import liqcore as lq
import numpy as np

DATA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "binance_usdm_btcusdt_20240808.jsonl.gz"
)
if not DATA.exists():
    DATA = Path("/work/shared/data/binance_usdm_btcusdt_20240808.jsonl.gz")


def btc_book() -> lq.Book:
    if DATA.exists():
        from liqcore.io import read_binance_depth

        return read_binance_depth(DATA)
    return lq.Book.synthetic(60_000.0, levels=5_000, seed=0)


def population(n: int, mark: float, *, open_interest: float = 2e9, seed: int = 0) -> lq.Positions:
    """n isolated positions, 55% long, total notional about `open_interest` (quote): notional
    log-normal (sigma 1.5), leverage log-normal around 10x (2x..100x), entries log-normal around
    the mark (2%); positions already liquidatable at the mark under 0.5% mmr are dropped."""
    rng = np.random.default_rng(seed)
    side = np.where(rng.random(n) < 0.55, 1.0, -1.0)
    notional = rng.lognormal(0.0, 1.5, n)
    notional *= open_interest / notional.sum()
    leverage = np.clip(rng.lognormal(np.log(10.0), 0.55, n), 2.0, 100.0)
    entry = mark * rng.lognormal(0.0, 0.02, n)
    size = side * notional / entry
    margin = notional / leverage
    healthy = margin + size * (mark - entry) >= 0.005 * np.abs(size) * mark
    return lq.Positions(size[healthy], entry[healthy], margin[healthy])
