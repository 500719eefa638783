"""No leaks (issue 6): loop the main entry points, error paths included, and check that resident
memory stays flat after a warm-up.

Inputs are large (100k elements) and every error path fails *after* the bindings allocated their
outputs (the bad value is the last element, found inside the kernel, which throws a C++
exception), so that leaking one output array or one input copy per call would grow resident
memory by about ``iterations * 0.8 MB`` = 48 MB, four times the tolerance (a simulated leak of
one such array per call measured 74 MB over 100 calls; the real entry points stay within
+-1.5 MB). The LeakSanitizer run (docs/HARDENING.md) complements this with exact,
per-allocation reports.

Skipped under AddressSanitizer: its quarantine keeps freed memory resident on purpose.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any, Callable

import liqcore
import liqcore.adl as adl
import liqcore.io as lio
import numpy as np
import pytest
from liqcore.synthetic import synthetic_book

pytestmark = pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ,
    reason="ASan's quarantine keeps freed memory resident; leaks are checked by LSan there",
)

N = 100_000
ITERATIONS = 60
WARMUP = 10
TOLERANCE = 12 * 2**20  # bytes; one leaked 800 kB array per call adds 48 MB
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _expect_error(
    fn: Callable[[], Any], exc: type[BaseException] = ValueError
) -> Callable[[], Any]:
    def run() -> None:
        try:
            fn()
        except exc:
            return
        raise AssertionError("expected an error")

    return run


def _workloads(tmp: Path) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(1)
    cap = rng.exponential(1.0, N)
    scores = rng.normal(size=N)
    bad = cap.copy()
    bad[-1] = np.nan
    qtys = rng.exponential(3.0, N)
    bad_qtys = qtys.copy()
    bad_qtys[-1] = -1.0
    book = synthetic_book(60_000.0, levels=5_000, seed=2)
    (bp, bq), (ap, aq) = book.bids, book.asks
    bad_bq = bq.copy()
    bad_bq[-1] = np.inf
    tiers = liqcore.MarginTiers([0.0, 50.0, 250.0], [0.004, 0.005, 0.01])
    positions = liqcore.Positions(scores[:5_000], 60_000.0 + 1_000.0 * scores[:5_000],
                                  300.0 * cap[:5_000])
    policy = liqcore.Policy(residual="socialize")
    path = tmp / "book.json"
    lio.write_book(lio.BookArrays(bp[:200], bq[:200], ap[:200], aq[:200]), path)
    corrupt = tmp / "corrupt.json"
    corrupt.write_text(path.read_text()[:-40])
    return {
        "Book()": lambda: liqcore.Book(bp, bq, ap, aq),
        "Book() error": _expect_error(lambda: liqcore.Book(bp, bad_bq, ap, aq)),
        "sweep_many": lambda: book.sweep_many("sell", qtys),
        "sweep_many error": _expect_error(lambda: book.sweep_many("sell", bad_qtys)),
        "sweep": lambda: book.sweep("buy", 10.0, 60_100.0),
        "sweep error": _expect_error(lambda: book.sweep("buy", float("nan"))),
        "execute": lambda: book.copy().execute("buy", qtys[:1000]),
        "execute error": _expect_error(lambda: book.copy().execute("buy", bad_qtys)),
        "apply": lambda: book.copy().apply("bid", bp[:100], bq[:100] * 2),
        "apply error (crossed)": _expect_error(
            lambda: book.copy().apply("bid", [ap[0] + 1], [1.0])),
        "depth": lambda: book.depth("bid", np.linspace(0, 100, N)),
        "adl.queue": lambda: adl.queue(cap, scores, 1000.0),
        "adl.queue error": _expect_error(lambda: adl.queue(bad, scores, 1000.0)),
        "adl.risk_aware": lambda: adl.risk_aware(cap, np.abs(scores), 0.5, 1000.0),
        "adl.risk_aware error": _expect_error(lambda: adl.risk_aware(cap, scores, 0.5, 1000.0)),
        "adl.rank": lambda: adl.rank(scores, 100.0, cap, 101.0),
        "adl.socialize error": _expect_error(lambda: adl.socialize(bad, 10.0)),
        "synthetic_book": lambda: synthetic_book(60_000.0, levels=2_000, seed=4),
        "io.read_book": lambda: lio.read_book(path),
        "io.read_book error": _expect_error(lambda: lio.read_book(corrupt)),
        "type error": _expect_error(lambda: book.sweep_many("sell", ["x"] * 10), TypeError),
        "liquidation_price": lambda: liqcore.liquidation_price(scores, 100.0, cap, 0.01),
        "liquidation_price error": _expect_error(
            lambda: liqcore.liquidation_price(scores, 100.0, bad, 0.01)),
        "margin_ratio (threads=2)": lambda: liqcore.margin_ratio(scores, 100.0, cap, 101.0,
                                                                  threads=2),
        "equity error": _expect_error(lambda: liqcore.equity(scores, 100.0, bad, 101.0)),
        "maintenance_margin tiers": lambda: liqcore.maintenance_margin(scores, 100.0, tiers=tiers),
        "liquidate": lambda: liqcore.liquidate(positions, book, 58_000.0, policy=policy,
                                               insurance_fund=1e5),
        "liquidate error": _expect_error(lambda: liqcore.liquidate(positions, book, -1.0)),
        "Positions error": _expect_error(lambda: liqcore.Positions(scores, 100.0, bad)),
    }


def test_resident_memory_stays_flat(tmp_path: Path) -> None:
    work = _workloads(tmp_path)
    for _ in range(WARMUP):
        for fn in work.values():
            fn()
    gc.collect()
    start = rss()
    growth: dict[str, int] = {}
    for name, fn in work.items():  # one entry point at a time: a leak is attributed
        before = rss()
        for _ in range(ITERATIONS):
            fn()
        gc.collect()
        growth[name] = rss() - before
    total = rss() - start
    leaky = {k: v for k, v in growth.items() if v > TOLERANCE}
    assert not leaky, f"resident memory grew (bytes): {leaky}"
    assert total < 2 * TOLERANCE, f"resident memory grew by {total} bytes over all entry points"
