"""Thread safety (issue 6): every kernel call releases the GIL, so Python threads really run the
kernels at once.

* Pure kernels (margin math with any ``threads``, ADL allocators, sweeps, liquidate) called
  from several threads on shared inputs give bit-identical results to the
  same calls made one by one.
* A Book mutated by one thread (apply, execute) while others read it (sweep, sweep_many, depth,
  levels, copy, liquidate) never crashes, and every read equals the read of one of the states
  the writer passed through, in order: each reader sees the states advance, never go back
  (the bindings guard Book with a reader-writer lock; a call sees the book entirely before or
  after a mutation).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import liqcore
import liqcore.adl as adl
import numpy as np
import pytest
from liqcore.synthetic import synthetic_book

THREADS = 4
N = 100_000


def fingerprint(x: Any) -> Any:
    """Bytes of every array in a result (Fill/Fills/tuples/arrays/floats), for bitwise equality."""
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, (tuple, list)):
        return tuple(fingerprint(v) for v in x)
    if hasattr(x, "__dataclass_fields__"):
        return tuple(fingerprint(getattr(x, f)) for f in x.__dataclass_fields__)
    if isinstance(x, float):
        return np.float64(x).tobytes()
    return x


def _inputs() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    return {
        "capacity": rng.exponential(10.0, N),
        "scores": rng.normal(size=N),
        "caps": rng.uniform(0.0, 1.0, N),
        "weights": rng.uniform(0.0, 5.0, N),
        "size": rng.normal(0.0, 2.0, N),
        "entry_price": rng.uniform(50.0, 150.0, N),
        "margin": rng.uniform(1.0, 50.0, N),
        "qtys": rng.exponential(5.0, N),
        "limits": np.where(rng.random(N) < 0.5, np.nan, rng.uniform(59_000.0, 61_000.0, N)),
        "mark": rng.uniform(50.0, 150.0, N),
    }


def _kernel_calls(x: dict[str, Any], book: liqcore.Book) -> dict[str, Callable[[], Any]]:
    amount = float(x["capacity"].sum() * 0.4)
    calls: dict[str, Callable[[], Any]] = {
        "adl.queue": lambda: adl.queue(x["capacity"], x["scores"], amount),
        "adl.pro_rata": lambda: adl.pro_rata(x["capacity"], amount),
        "adl.capped_pro_rata": lambda: adl.capped_pro_rata(x["capacity"], x["caps"], amount),
        "adl.risk_aware": lambda: adl.risk_aware(x["capacity"], x["weights"], x["caps"], amount),
        "adl.rank": lambda: adl.rank(x["size"], x["entry_price"], x["margin"], 100.0),
        "adl.socialize": lambda: adl.socialize(x["size"], amount),
        "Book.sweep_many": lambda: book.sweep_many("sell", x["qtys"], x["limits"]),
        "Book.sweep_many(buy)": lambda: book.sweep_many("buy", x["qtys"]),
        "Book.depth": lambda: book.depth("bid", np.linspace(0.0, 500.0, 1000)),
        "Book.copy().execute": lambda: book.copy().execute("buy", x["qtys"][:5000]),
        "Book()": lambda: liqcore.Book(*(np.asarray(s) for s in (*book.bids, *book.asks))).bids,
        "liquidate": lambda: _liq(book, x),
    }
    for fn in ("equity", "margin_ratio", "liquidation_price", "bankruptcy_price"):
        for threads in (1, None):
            calls[f"{fn}(threads={threads})"] = _margin_call(fn, x, threads)
    calls["maintenance_margin(tiers)"] = lambda: liqcore.maintenance_margin(
        x["size"], 100.0, tiers=liqcore.MarginTiers([0.0, 50.0, 250.0], [0.004, 0.005, 0.01]))
    return calls


def _margin_call(fn: str, x: dict[str, Any], threads: int | None) -> Callable[[], Any]:
    f = getattr(liqcore, fn)
    args = [x["size"], x["entry_price"], x["margin"]]
    if fn in ("equity", "margin_ratio"):
        args.append(x["mark"])
    return lambda: f(*args, threads=threads)


POSITIONS = liqcore.Positions(
    np.random.default_rng(3).normal(0.0, 2.0, 2_000),
    np.random.default_rng(4).uniform(55_000.0, 65_000.0, 2_000),
    np.random.default_rng(5).uniform(100.0, 3_000.0, 2_000),
)


def _liq(book: liqcore.Book, x: dict[str, Any] | None = None) -> Any:
    r = liqcore.liquidate(POSITIONS, book, 58_000.0, policy=liqcore.Policy(residual="socialize"),
                          insurance_fund=1e5)
    return (r.closed, r.deficit, r.vwap, r.adl, r.total_deficit, r.insurance_fund, r.uncovered)


def test_kernels_concurrent_equal_sequential() -> None:
    x = _inputs()
    book = synthetic_book(60_000.0, levels=5_000, seed=3)
    calls = _kernel_calls(x, book)
    expected = {name: fingerprint(fn()) for name, fn in calls.items()}
    jobs = [name for name in calls for _ in range(THREADS)]
    rng = np.random.default_rng(0)
    rng.shuffle(jobs)  # every kernel concurrently with itself and with the others
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda name: (name, fingerprint(calls[name]())), jobs))
    for name, got in results:
        assert got == expected[name], f"{name}: a concurrent call differs from the sequential one"
    for name, fn in calls.items():  # the shared inputs were not written to
        assert fingerprint(fn()) == expected[name], name


def _writer_ops(book: liqcore.Book, n_ops: int) -> list[Callable[[liqcore.Book], Any]]:
    """A deterministic sequence of mutations: updates near the top of both sides, deletions,
    inserts and small executions."""
    rng = np.random.default_rng(11)
    (bp, _), (ap, _) = book.bids, book.asks
    ops: list[Callable[[liqcore.Book], Any]] = []
    for k in range(n_ops):
        kind = k % 4
        if kind == 0:
            i = int(rng.integers(0, 50))
            q = float(rng.uniform(0.1, 3.0))
            ops.append(lambda b, i=i, q=q: b.apply(["bid", "ask"], [bp[i], ap[i]], [q, q]))
        elif kind == 1:
            i = int(rng.integers(1, 50))
            ops.append(lambda b, i=i: b.apply("ask", [ap[i]], [0.0]))
        elif kind == 2:
            q = float(rng.uniform(0.01, 2.0))
            ops.append(lambda b, q=q: b.execute("sell", [q, q / 2]))
        else:
            q = float(rng.uniform(0.01, 2.0))
            ops.append(lambda b, q=q: b.execute("buy", [q]))
    return ops


READS: dict[str, Callable[[liqcore.Book], Any]] = {
    "sweep_many": lambda b: b.sweep_many("sell", np.linspace(0.0, 30.0, 200)),
    "sweep": lambda b: b.sweep("buy", 7.5),
    "depth": lambda b: b.depth_notional("ask", np.array([1.0, 5.0, 20.0])),
    "levels": lambda b: b.asks,
    "liquidate": _liq,
    # Each call is atomic, a sequence of calls is not: copy() first for a consistent view.
    "copy": lambda b: _snapshot(b.copy()),
}


def _snapshot(c: liqcore.Book) -> Any:
    return (c.bids, c.asks, c.best_bid, c.best_ask, c.sweep_many("buy", np.array([0.5, 50.0])))


@pytest.mark.parametrize("read", sorted(READS))
def test_book_readers_see_consistent_states(read: str) -> None:
    base = synthetic_book(60_000.0, levels=2_000, seed=5)
    ops = _writer_ops(base, 300)
    reader = READS[read]
    # The states the writer passes through, and what a reader must see in each.
    sim = base.copy()
    expected = [fingerprint(reader(sim))]
    for op in ops:
        op(sim)
        expected.append(fingerprint(reader(sim)))
    index: dict[Any, list[int]] = {}
    for k, fp in enumerate(expected):
        index.setdefault(fp, []).append(k)
    assert len(index) > len(expected) // 3, "the writer's states must be distinguishable"

    book = base.copy()
    done = threading.Event()

    def write() -> None:
        try:
            for op in ops:
                op(book)
        finally:
            done.set()

    def read_until_done() -> list[Any]:
        seen = []
        while not done.is_set():
            seen.append(fingerprint(reader(book)))
        seen.append(fingerprint(reader(book)))
        return seen

    with ThreadPoolExecutor(THREADS) as pool:
        readers = [pool.submit(read_until_done) for _ in range(THREADS - 1)]
        pool.submit(write).result()
        observed = [r.result() for r in readers]

    assert fingerprint(reader(book)) == expected[-1]
    assert book == sim
    distinct = {fp for seen in observed for fp in seen}
    assert len(distinct) >= 2, "the readers never overlapped the writer"
    for seen in observed:
        last = 0
        for fp in seen:
            assert fp in index, f"{read}: a read matches none of the writer's states"
            ks = [k for k in index[fp] if k >= last]
            assert ks, f"{read}: a reader saw the book go back to an earlier state"
            last = ks[0]
