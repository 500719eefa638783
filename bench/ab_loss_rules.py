"""A/B timing of liquidate, simulate_cascade and stress_test with whatever liqcore is importable.

Usage: ``python bench/ab_loss_rules.py LABEL`` prints one JSON line of medians (ms). Run it
alternately in two environments (two builds of liqcore) for an A/B of the same workloads on the
same data; see bench/BENCHMARKS.md ("Loss rules ... before and after"). Needs ../shared/data.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import liqcore as lq
import numpy as np
from liqcore.io import read_binance_depth

DATA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "binance_usdm_btcusdt_20240808.jsonl.gz"
)


def positions(mid: float, n: int, seed: int = 7) -> lq.Positions:
    """The population of bench/test_bench_liquidation.py (about 10% liquidatable at the mid)."""
    rng = np.random.default_rng(seed)
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    notional = np.clip(rng.lognormal(np.log(500.0), 1.2, n), 10.0, 5e6)
    lev = np.clip(rng.lognormal(np.log(15.0), 0.6, n), 2.0, 100.0)
    entry = mid * rng.lognormal(0.0, 0.04, n)
    return lq.Positions(size=side * notional / entry, entry_price=entry, margin=notional / lev)


def median_ms(f: Callable[[], Any], k: int) -> float:
    ts = []
    for _ in range(k):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def main(label: str) -> dict[str, Any]:
    book = read_binance_depth(DATA)
    mid = book.mid
    pos = positions(mid, 1_000_000)
    small = positions(mid, 100_000, seed=3)
    pol = lq.Policy()
    return {
        "label": label,
        "liquidate_1e6": median_ms(lambda: lq.liquidate(pos, book, mid, pol, 1e6), 9),
        "cascade_-2%": median_ms(lambda: lq.simulate_cascade(pos, book, mid, -0.02, pol, 1e6), 7),
        "cascade_-5%": median_ms(lambda: lq.simulate_cascade(pos, book, mid, -0.05, pol, 1e6), 5),
        "stress_200x1e5x50": median_ms(
            lambda: lq.stress_test(small, book, mid, pol, insurance_fund=1e6, scenarios=200,
                                   steps=50, seed=0, threads=1),
            3,
        ),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "run")))
