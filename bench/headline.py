"""The headline table of bench/BENCHMARKS.md: liqcore beside its NumPy and Numba peers, one run.

Usage (from the repo root, with liqcore and the ``bench`` extra installed)::

    python bench/headline.py                 # runs the suites, prints the Markdown table
    python bench/headline.py --save run.json # the same, keeping the pytest-benchmark JSON
    python bench/headline.py --json run.json # the table of a saved run

One pytest-benchmark run of the peer groups of every suite (margin math, ``sweep_many``,
``liquidate``, the cascade, the stress test); every peer's results are checked equal to
liqcore's by the suites before timing. Each benchmark makes three warm-up calls before its
rounds. Ratios are ratios of medians from that one run (> 1: liqcore is faster). The
memory-bandwidth floor of margin math is the time its bytes take at the rates measured in the
same run: inputs (and reused outputs) at ``np.copyto``'s bandwidth, fresh outputs at the
first-touch rate of ``np.ones`` (a new array written once); see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: (file, -k expression) of the groups the table reads.
SUITES = (
    ("test_bench_margin.py", "numba or bandwidth"),
    ("test_bench_book.py", "numba"),
    ("test_bench_liquidation.py", "numba"),
    ("test_bench_cascade.py", "numba"),
    ("test_bench_stress.py", "stress_liqcore"),
)

COPY_BYTES = 2 * 8 * 10_000_000  # np.copyto of 1e7 doubles: read + write
TOUCH_BYTES = 8 * 10_000_000  # np.ones of 1e7 doubles: a fresh array written once


def run_suites(out: Path) -> None:
    """One pytest-benchmark run of :data:`SUITES`, its JSON written to ``out``."""
    files = [str(HERE / f) for f, _ in SUITES]
    expr = " or ".join(f"({k})" for _, k in SUITES)
    # Three warm-up calls per benchmark before its rounds, for every implementation alike: the
    # first calls of a kernel map and fault its working memory (liqcore keeps large blocks for
    # the next call, memory.hpp), a Numba peer's first call compiles; the table is the steady
    # state of a loop of calls.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, "-k", expr,
           "--benchmark-only", "--benchmark-warmup=on", "--benchmark-warmup-iterations=3",
           f"--benchmark-json={out}"]
    print("$", " ".join(cmd[2:]), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=HERE.parent)


def load(path: Path) -> list[dict[str, Any]]:
    benchmarks: list[dict[str, Any]] = json.loads(path.read_text())["benchmarks"]
    return benchmarks


def _pick(rows: Iterable[dict[str, Any]], group: str, **params: Any) -> dict[str, Any] | None:
    for r in rows:
        if r.get("group") == group and all(r["params"].get(k) == v for k, v in params.items()):
            return r
    return None


def _ms(r: dict[str, Any] | None) -> str:
    return "—" if r is None else f"{1e3 * r['stats']['median']:,.2f} ms"


def _ratio(num: dict[str, Any] | None, den: dict[str, Any] | None) -> str:
    """den's median / num's median: how many times faster ``num`` (liqcore) is."""
    if num is None or den is None:
        return "—"
    return f"{den['stats']['median'] / num['stats']['median']:.2f}x"


def _floor_share(r: dict[str, Any] | None, read: int, write: int, n: int, bandwidth: float,
                 touch: float) -> str:
    """The floor's time over r's median: `read` bytes per item at `bandwidth`, `write` bytes at
    `touch` (the first-touch rate: fresh outputs) or at `bandwidth` (touch 0: reused outputs)."""
    if r is None or not bandwidth:
        return "—"
    floor = read * n / bandwidth + write * n / (touch or bandwidth)
    return f"{floor / r['stats']['median']:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown headline table of one run's benchmarks ``rows``."""
    copy = next((r for r in rows if r.get("group") == "copy bandwidth"), None)
    ones = next((r for r in rows if r.get("group") == "first-touch bandwidth"), None)
    bandwidth = COPY_BYTES / copy["stats"]["median"] if copy else 0.0
    touch = TOUCH_BYTES / ones["stats"]["median"] if ones else 0.0
    n = 10_000_000
    out = [
        "| workload | liqcore | NumPy | Numba | vs NumPy | vs Numba | share of bandwidth floor "
        "(liqcore / Numba) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def line(name: str, lq: Any, np_: Any, nb: Any, floor: str = "—") -> None:
        out.append(f"| {name} | {_ms(lq)} | {_ms(np_)} | {_ms(nb)} | {_ratio(lq, np_)} | "
                   f"{_ratio(lq, nb)} | {floor} |")

    g = f"numba: liquidation_price + bankruptcy_price flat n={n:.0e}"
    go = f"numba out=: liquidation_price + bankruptcy_price flat n={n:.0e}"
    numpy_m = _pick(rows, g, impl="numpy")
    for label, group, lq_impl, nb_impl, fresh in (
        ("LP + BP, flat mmr, 1e7, 1 thread, fresh outputs", g, "liqcore-1thread", "numba-1thread",
         True),
        ("same, default threads vs `prange`", g, "liqcore", "numba-prange", True),
        ("LP + BP, 1e7, 1 thread, reused outputs (`out=`)", go, "liqcore-1thread",
         "numba-1thread", False),
        ("same, default threads vs `prange`", go, "liqcore", "numba-prange", False),
    ):
        lq_r, nb_r = _pick(rows, group, impl=lq_impl), _pick(rows, group, impl=nb_impl)
        # liqcore: two calls, each reading 3 columns and writing 1; Numba: one fused loop
        t = touch if fresh else 0.0
        share = (f"{_floor_share(lq_r, 48, 16, n, bandwidth, t)} / "
                 f"{_floor_share(nb_r, 24, 16, n, bandwidth, t)}")
        line(label, lq_r, numpy_m if fresh else None, nb_r, share)
    gs = "numba: sweep_many 1e6 orders"
    numpy_s = _pick(rows, gs, impl="numpy")
    for label, lq_impl, nb_impl in (
        ("`Book.sweep_many`, 1e6 orders, real book, default threads", "liqcore", "numba"),
        ("same, 1 thread (`threads=1`)", "liqcore-1thread", "numba"),
        ("same, default threads vs `prange`", "liqcore", "numba-prange"),
    ):
        line(label, _pick(rows, gs, impl=lq_impl), numpy_s, _pick(rows, gs, impl=nb_impl))
    group = "numba: liquidate 1e6 positions"
    line("`liquidate`, 1e6 positions, real book",
         *(_pick(rows, group, impl=i) for i in ("liqcore", "numpy", "numba")))
    for shock in (-0.01, -0.02, -0.05):
        group = f"numba: cascade {shock:+.0%}"
        line(f"`simulate_cascade` {shock:+.0%}, 9e5 positions",
             *(_pick(rows, group, impl=i) for i in ("liqcore", "numpy", "numba")))
    out.append("")
    out.append("| stress test, 1,000 scenarios × 1e5 positions × 100 steps | threads | median | "
               "position-scenarios / s | liquidations per scenario | ns per liquidation-thread |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r in sorted((r for r in rows if r["name"].startswith("test_stress_liqcore")),
                    key=lambda r: (r["params"]["workload"], r["params"]["threads"])):
        e = r["extra_info"]
        out.append(f"| {r['params']['workload']} | {r['params']['threads']} | "
                   f"{r['stats']['median']:.3f} s | {e['position_scenarios_per_s']:.3g} | "
                   f"{e['mean_liquidations']:,.0f} | {e['ns_per_liquidation_per_thread']:.0f} |")
    if copy:
        out.append("")
        out.append(f"`np.copyto` of 1e7 doubles (pre-faulted): {_ms(copy)}, "
                   f"{bandwidth / 1e9:.1f} GB/s read + write.")
    if ones:
        out.append(f"`np.ones` of 1e7 doubles (a fresh array, first touch): {_ms(ones)}, "
                   f"{touch / 1e9:.1f} GB/s.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--json", type=Path, help="a saved pytest-benchmark JSON instead of a run")
    src.add_argument("--save", type=Path, help="run, and keep the pytest-benchmark JSON here")
    args = ap.parse_args(argv)
    if args.json is not None:
        rows = load(args.json)
    elif args.save is not None:
        run_suites(args.save.resolve())
        rows = load(args.save)
    else:
        fd, name = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        try:
            run_suites(Path(name))
            rows = load(Path(name))
        finally:
            os.unlink(name)
    print(f"load average before the table: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
