"""Coverage-guided fuzzing of liqcore's entry points with atheris (libFuzzer), outside CI.

Usage (see docs/HARDENING.md for the full commands, with the ASan build)::

    python fuzz/fuzz_api.py TARGET [libFuzzer options...]
    # TARGET: book, adl, io, margin, liquidate, all

Each input is decoded into one call of a public entry point (arrays of arbitrary doubles,
NaN/inf/denormals included, arbitrary lengths, options and flags). The only accepted outcomes
are a result that passes the invariant checks below, or ValueError/TypeError; anything else
(another exception, a failed invariant, a crash or a sanitizer report) stops the run and
libFuzzer writes the input to ``crash-<sha1>``. Defects already known and pinned by strict
xfail tests (tests/test_fuzz.py, tests/test_garbage.py) are counted, not reported, so that the
run keeps looking for new ones; the counts print every 2^k inputs and at exit.
"""

from __future__ import annotations

import atexit
import collections
import math
import os
import sys
import tempfile
import warnings
from typing import Any, Callable

import atheris

with atheris.instrument_imports():
    import liqcore
    import liqcore.adl as adl
    import liqcore.io as lio
    import numpy as np

warnings.simplefilter("error")
np.seterr(all="ignore")  # numpy inside the harness checks; library warnings still raise

STATS: collections.Counter[str] = collections.Counter()
CLEAN = (ValueError, TypeError)


class Known(Exception):
    """A defect already pinned by a strict xfail test."""


def _report() -> None:
    total = sum(STATS.values())
    print(f"[fuzz_api] {total} inputs: " + ", ".join(f"{k}={v}" for k, v in sorted(STATS.items())),
          file=sys.stderr, flush=True)


atexit.register(_report)


def floats(fdp: atheris.FuzzedDataProvider, n: int) -> np.ndarray:
    """n arbitrary doubles, biased towards specials and book-like magnitudes."""
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        return np.array(fdp.ConsumeFloatList(n), dtype=np.float64)
    if mode == 1:
        return np.array(fdp.ConsumeRegularFloatList(n), dtype=np.float64)
    return np.array(fdp.ConsumeFloatListInRange(n, 0.0, 1e5), dtype=np.float64)


def sorted_side(
    fdp: atheris.FuzzedDataProvider, n: int, bid: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A side that is mostly valid: positive prices sorted best first, positive quantities."""
    px = np.abs(floats(fdp, n))
    px = np.unique(px[np.isfinite(px) & (px > 0)])
    px = px[::-1] if bid else px
    qty = np.abs(floats(fdp, px.size))
    return np.ascontiguousarray(px), qty


# ---- book ----------------------------------------------------------------------------------


def book_input(fdp: atheris.FuzzedDataProvider) -> None:
    n = fdp.ConsumeIntInRange(0, 64)
    if fdp.ConsumeBool():
        bp, bq = sorted_side(fdp, n, True)
        ap, aq = sorted_side(fdp, n, False)
        ap = ap + (bp[0] if bp.size else 0.0)  # usually not crossed
    else:
        bp, bq, ap, aq = (floats(fdp, fdp.ConsumeIntInRange(0, n)) for _ in range(4))
    try:
        book = liqcore.Book(bp, bq, ap, aq)
    except CLEAN:
        STATS["book: rejected"] += 1
        return
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        op = fdp.ConsumeIntInRange(0, 4)
        side = fdp.PickValueInList(["sell", "buy", "bid", "ask", "x"])
        m = fdp.ConsumeIntInRange(0, 16)
        qtys = floats(fdp, m)
        limits = None if fdp.ConsumeBool() else floats(fdp, m if fdp.ConsumeBool() else 1)
        try:
            if op == 0:
                check_fills(book.sweep_many(side, qtys, limits), qtys)
            elif op == 1:
                before = book.copy()
                try:
                    check_fills(book.execute(side, qtys, limits), qtys)
                except CLEAN:
                    assert book == before, "a failed execute changed the book"
                    raise
            elif op == 2:
                before = book.copy()
                try:
                    book.apply(side, np.abs(qtys), floats(fdp, m))
                except CLEAN:
                    assert book == before, "a failed apply changed the book"
                    raise
            elif op == 3:
                out = np.asarray(book.depth_notional(side, qtys))
                assert not np.isnan(out).any(), out
            else:
                q = qtys[0] if m else 1.0
                lim = None if limits is None or limits.size == 0 else limits[0]
                f = book.sweep(side, q, lim)
                check_fills(None, np.array([q]), f)
            STATS["book: ok"] += 1
        except CLEAN:
            STATS["book: clean error"] += 1
        check_book(book)


def check_fills(fills: Any, qtys: np.ndarray, one: Any = None) -> None:
    rows = [one] if one is not None else [fills[i] for i in range(len(fills))]
    for f, q in zip(rows, np.broadcast_to(qtys, (len(rows),))):
        assert f.filled >= 0 and f.unfilled >= 0 and f.notional >= 0, f
        assert not math.isnan(f.filled + f.unfilled + f.notional), f
        if math.isfinite(f.notional) and math.isfinite(q):
            assert math.isclose(f.filled + f.unfilled, q, rel_tol=1e-9, abs_tol=1e-300), (f, q)


def check_book(book: Any) -> None:
    (bp, bq), (ap, aq) = book.bids, book.asks
    for a in (bp, bq, ap, aq):
        assert np.isfinite(a).all() and (a > 0).all(), "invalid level in a live book"
    assert (np.diff(bp) < 0).all() and (np.diff(ap) > 0).all(), "unsorted live book"
    assert not (bp.size and ap.size) or bp[0] < ap[0], "crossed live book"


# ---- adl -----------------------------------------------------------------------------------


def adl_input(fdp: atheris.FuzzedDataProvider) -> None:
    n = fdp.ConsumeIntInRange(0, 48)
    which = fdp.ConsumeIntInRange(0, 5)
    a = [floats(fdp, n if fdp.ConsumeProbability() < 0.95 else n + 1) for _ in range(3)]
    amount = fdp.ConsumeFloat()
    try:
        if which == 0:
            out = adl.queue(a[0], a[1], amount)
        elif which == 1:
            out = adl.pro_rata(a[0], amount)
        elif which == 2:
            out = adl.capped_pro_rata(a[0], a[1], amount)
        elif which == 3:
            w = a[1]
            pos = w[np.isfinite(w) & (w > 0)]
            if pos.size and pos.max() > 1e300 * pos.min():
                raise Known("adl.risk_aware extreme weight ratio")
            out = adl.risk_aware(a[0], w, a[2], amount)
        elif which == 4:
            out = adl.socialize(a[0], amount)
        else:
            mark = fdp.ConsumeFloat()
            out = adl.rank(a[0], a[1], a[2], mark)
            if np.isnan(out).any():
                q, ep = np.broadcast_arrays(a[0], a[1])
                over = ~np.isfinite(q * mark) | ~np.isfinite(q * ep) | ~np.isfinite(q / ep)
                if over[np.isnan(out)].all():
                    raise Known("adl.rank overflow")
            assert not np.isnan(out).any(), f"NaN rank: rank({a[0]!r}, {a[1]!r}, {a[2]!r}, {mark!r})"
            STATS["adl: ok"] += 1
            return
    except CLEAN:
        STATS["adl: clean error"] += 1
        return
    assert np.isfinite(out).all() and (out >= 0).all(), out
    if which != 4:
        cap = a[0]
        assert (out <= cap + 1e-12 * cap).all(), "took more than the capacity"
        total = np.sum(out, dtype=np.longdouble)
        assert total <= np.longdouble(amount) * (1 + 1e-9) + 1e-300, "took more than the amount"
    STATS["adl: ok"] += 1


# ---- margin and liquidation -----------------------------------------------------------------


def _extreme(*arrays: np.ndarray) -> bool:
    """Any nonzero finite magnitude outside [1e-150, 1e150]: products may overflow (known)."""
    for a in arrays:
        a = np.abs(np.asarray(a, dtype=np.float64))
        a = a[np.isfinite(a) & (a > 0)]
        if ((a < 1e-150) | (a > 1e150)).any():
            return True
    return False


MARGIN = ["equity", "maintenance_margin", "bankruptcy_price", "liquidation_price", "margin_ratio"]


def margin_input(fdp: atheris.FuzzedDataProvider) -> None:
    n = fdp.ConsumeIntInRange(0, 32)
    fn = fdp.PickValueInList(MARGIN)
    q, ep, m, p, r = (floats(fdp, n if fdp.ConsumeProbability() < 0.9 else 1) for _ in range(5))
    r = np.abs(r) % 1.0
    kw: dict[str, Any] = {"contract": fdp.PickValueInList(["linear", "inverse"])}
    if fdp.ConsumeBool():
        kw["threads"] = fdp.ConsumeIntInRange(1, 4)
    args = {"equity": (q, ep, m, p), "maintenance_margin": (q, p, r),
            "bankruptcy_price": (q, ep, m), "liquidation_price": (q, ep, m, r),
            "margin_ratio": (q, ep, m, p, r)}[fn]
    try:
        out = np.asarray(getattr(liqcore, fn)(*args, **kw))
    except CLEAN:
        STATS["margin: clean error"] += 1
        return
    nan = np.isnan(out)
    if fn in ("bankruptcy_price", "liquidation_price"):
        nan &= np.broadcast_to(q, out.shape) != 0
    if nan.any():
        if _extreme(*args):
            raise Known("margin NaN on overflow")
        raise AssertionError(f"{fn}{tuple(args)} {kw}: NaN {out}")
    STATS["margin: ok"] += 1


POLICIES = [
    liqcore.Policy(), liqcore.Policy(order="largest", residual="socialize"),
    liqcore.Policy(execution="takeover"), liqcore.Policy(limit="bankruptcy", residual="queue"),
    liqcore.Policy(sizing="partial", residual="pro_rata"), liqcore.Policy(limit="fillable"),
]


def liquidate_input(fdp: atheris.FuzzedDataProvider) -> None:
    n = fdp.ConsumeIntInRange(0, 16)
    q, ep, m = (floats(fdp, n) for _ in range(3))
    bp, bq = sorted_side(fdp, fdp.ConsumeIntInRange(0, 12), True)
    ap, aq = sorted_side(fdp, fdp.ConsumeIntInRange(0, 12), False)
    ap = ap + (bp[0] if bp.size else 0.0)
    mark, fund = fdp.ConsumeFloat(), fdp.ConsumeFloat()
    policy = fdp.PickValueInList(POLICIES)
    try:
        book = liqcore.Book(bp, bq, ap, aq)
        res = liqcore.liquidate(liqcore.Positions(q, ep, m), book, mark, policy=policy,
                                insurance_fund=fund)
    except CLEAN:
        STATS["liquidate: clean error"] += 1
        return
    vals = [np.asarray(getattr(res, f)) for f in ("closed", "deficit", "surplus", "fee")]
    scale = max([1.0, abs(fund), *np.abs(res.ledger.amount)])
    ok = all(np.isfinite(v).all() and (v >= 0).all() for v in vals)
    ok = ok and abs(res.ledger.balance) <= 1e-9 * scale
    if not ok:
        if _extreme(q, ep, m, bp, bq, ap, aq, [mark, fund]):
            raise Known("liquidate overflow")
        raise AssertionError(f"liquidate: {res!r} {res.ledger!r} for {q!r} {ep!r} {m!r} "
                             f"book {bp!r} {bq!r} {ap!r} {aq!r} mark {mark!r} fund {fund!r}")
    STATS["liquidate: ok"] += 1


# ---- io ------------------------------------------------------------------------------------

_TMP = tempfile.mkdtemp(prefix="liqcore-atheris-")
_PATH = os.path.join(_TMP, "input")
SEEDS = [
    b'1 {"lastUpdateId": 5, "bids": [["100", "1"], ["99", "2"]], "asks": [["101", "2"]]}\n'
    b'2 {"e": "depthUpdate", "U": 5, "u": 6, "pu": 4, "b": [["99", "0"]], "a": [["102", "1"]]}\n',
    b'1 {"channel": "l2Book", "data": {"levels": [[{"px": "100", "sz": "1"}], '
    b'[{"px": "101", "sz": "2"}]]}}\n',
    b'{"bids": [["100", "1"], [99.5, 2]], "asks": [["101", "0.5"]]}\n',
    b"side,price,qty\nbid,100,1\nask,101,0.5\n",
]
LOADERS: list[Callable[[str], Any]] = [
    lio.read_book_arrays,
    lio.read_binance_depth_arrays,
    lambda p: lio.read_binance_depth_arrays(p, strict=False, until=3),
    lambda p: list(lio.iter_binance_depth_arrays(p, every=1)),
    lio.read_hyperliquid_l2_arrays,
    lambda p: list(lio.iter_hyperliquid_l2_arrays(p)),
]


def io_input(fdp: atheris.FuzzedDataProvider) -> None:
    seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
    loader = LOADERS[fdp.ConsumeIntInRange(0, len(LOADERS) - 1)]
    data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    if fdp.ConsumeBool():  # splice the fuzz bytes into a valid file
        at = fdp.ConsumeIntInRange(0, len(seed))
        data = seed[:at] + data + seed[at + fdp.ConsumeIntInRange(0, 8):]
    with open(_PATH, "wb") as f:
        f.write(data)
    try:
        res = loader(_PATH)
    except RecursionError as e:
        raise Known("io deeply nested JSON") from e
    except ValueError as e:
        assert str(e).startswith(_PATH), f"io error without the file name: {e}"
        STATS["io: clean error"] += 1
        return
    except Exception as e:
        if type(e).__name__ == "Error" and type(e).__module__ == "_csv":
            raise Known("io csv.Error") from e
        raise
    for arrays in res if isinstance(res, list) else [res]:
        if isinstance(arrays, tuple) and len(arrays) == 2:
            arrays = arrays[1]
        liqcore.Book(*arrays)  # a loaded book is always a valid Book
    STATS["io: ok"] += 1


# ---- driver --------------------------------------------------------------------------------

TARGETS: dict[str, Callable[[atheris.FuzzedDataProvider], None]] = {
    "book": book_input, "adl": adl_input, "io": io_input, "margin": margin_input,
    "liquidate": liquidate_input,
}


def make_test_one(target: str) -> Callable[[bytes], None]:
    names = sorted(TARGETS) if target == "all" else [target]

    def test_one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        try:
            TARGETS[name](fdp)
        except Known as k:
            STATS[f"known: {k}"] += 1
        n = sum(STATS.values())
        if n & (n - 1) == 0 and n >= 1024:
            _report()

    return test_one


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "all"
    argv = [a for a in sys.argv if a != target]
    if target not in TARGETS and target != "all":
        sys.exit(f"unknown target {target!r}: one of {', '.join([*TARGETS, 'all'])}")
    atheris.Setup(argv, make_test_one(target))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
