"""``out=`` on the margin functions (liqcore.margin, "Output buffers"): the result lands in the
caller's array, which is returned; the same bits as ``out=None`` for every thread count; every
bad ``out`` is refused, naming ``out``, before anything is written."""

from __future__ import annotations

from typing import Any, Callable

import liqcore as lq
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from liqcore import _core

TIERS = lq.MarginTiers([0, 50_000, 250_000, 1_000_000], [0.004, 0.005, 0.01, 0.025])


def _positions(n: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.choice([-1.0, 1.0], n) * 10 ** rng.uniform(-3, 2, n)
    q[::11] = 0.0  # NaN prices
    ep = 60_000.0 * np.exp(rng.normal(0, 0.1, n))
    m = np.abs(q) * ep / rng.uniform(0.5, 100, n)
    mark = ep * np.exp(rng.normal(0, 0.05, n))
    mmr = rng.uniform(0, 0.1, n)
    return {"q": q, "ep": ep, "m": m, "mark": mark, "mmr": mmr}


# Every array-returning function of liqcore.margin, called on the positions ``d`` with the
# keywords ``kw`` (out, threads, contract...). The names are the inputs each one reads, in order.
CASES: dict[str, Callable[..., Any]] = {
    "equity": lambda d, **kw: lq.equity(d["q"], d["ep"], d["m"], d["mark"], **kw),
    "maintenance_margin": lambda d, **kw: lq.maintenance_margin(d["q"], d["mark"], d["mmr"], **kw),
    "maintenance_margin_tiers": lambda d, **kw: lq.maintenance_margin(d["q"], d["mark"], tiers=TIERS,
                                                                      **kw),
    "bankruptcy_price": lambda d, **kw: lq.bankruptcy_price(d["q"], d["ep"], d["m"], **kw),
    "liquidation_price": lambda d, **kw: lq.liquidation_price(d["q"], d["ep"], d["m"], d["mmr"], **kw),
    "liquidation_price_tiers": lambda d, **kw: lq.liquidation_price(d["q"], d["ep"], d["m"],
                                                                    tiers=TIERS, **kw),
    "liquidation_price_at_entry": lambda d, **kw: lq.liquidation_price(
        d["q"], d["ep"], d["m"], d["mmr"], mm_at_entry=True, **kw),
    "margin_ratio": lambda d, **kw: lq.margin_ratio(d["q"], d["ep"], d["m"], d["mark"], d["mmr"],
                                                    **kw),
    "margin_ratio_tiers": lambda d, **kw: lq.margin_ratio(d["q"], d["ep"], d["m"], d["mark"],
                                                          tiers=TIERS, **kw),
}
# the NumPy-only ones: no contract-size or threads keywords there
NP_CASES: dict[str, Callable[..., Any]] = {
    "initial_margin_fraction": lambda d, **kw: lq.initial_margin_fraction(
        np.abs(d["q"]) * d["ep"], d["mmr"], **kw),
    "initial_margin_fraction_oi": lambda d, **kw: lq.initial_margin_fraction(
        np.abs(d["q"]) * d["ep"], 0.05, open_interest=1.5e9, oi_caps=(1e9, 2e9), **kw),
    "initial_margin_fraction_oi_full": lambda d, **kw: lq.initial_margin_fraction(
        np.abs(d["q"]) * d["ep"], 0.05, open_interest=3e9, oi_caps=(1e9, 2e9), **kw),
    "initial_margin_fraction_tiers": lambda d, **kw: lq.initial_margin_fraction(
        np.abs(d["q"]) * d["ep"], tiers=TIERS, **kw),
    "initial_margin": lambda d, **kw: lq.initial_margin(d["q"], d["mark"], d["mmr"], **kw),
    "initial_margin_inverse_oi": lambda d, **kw: lq.initial_margin(
        d["q"], d["mark"], 0.02, contract="inverse", contract_size=100.0, open_interest=1.2e9,
        oi_caps=(1e9, 2e9), **kw),
}
ALL = {**CASES, **NP_CASES}


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("case", list(ALL))
def test_out_is_filled_and_returned(case: str) -> None:
    d = _positions(1000)
    want = ALL[case](d)
    out = np.full(1000, -7.0)
    got = ALL[case](d, out=out)
    assert got is out
    _same_bits(out, want)
    again = ALL[case](d, out=out)  # a reused buffer: overwritten, same bits
    assert again is out
    _same_bits(out, want)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("threads", [1, 2, 3, None])
def test_same_bits_for_every_thread_count(case: str, threads: int | None) -> None:
    # 70,000 positions: threads=None runs on every core (from 65,536 on), chunks of whole
    # 256-position blocks and a partial last block
    d = _positions(70_001, seed=5)
    want = CASES[case](d, threads=1)
    out = np.empty(70_001)
    assert CASES[case](d, threads=threads, out=out) is out
    _same_bits(out, want)


@st.composite
def populations(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 600))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inverse = draw(st.booleans())
    q = rng.choice([-1.0, 0.0, 1.0], n, p=[0.45, 0.1, 0.45]) * 10 ** rng.uniform(-4, 4, n)
    if inverse:
        q = np.round(q)
    ep = 10 ** rng.uniform(-3, 6, n)
    c = 100.0 if inverse else 1.0
    m = np.abs(q) * (c / ep if inverse else ep) / 10 ** rng.uniform(-0.5, 2.5, n)
    mark = ep * np.exp(rng.normal(0, 0.3, n))
    mmr = rng.uniform(0, 1, n) if draw(st.booleans()) else float(rng.uniform(0, 0.1))
    kw = {"contract": "inverse", "contract_size": c} if inverse else {}
    return {"q": q, "ep": ep, "m": m, "mark": mark, "mmr": mmr, "kw": kw}


@settings(max_examples=60, deadline=None)
@given(populations(), st.sampled_from(list(CASES)), st.sampled_from([1, 2, None]))
def test_out_equals_out_none_on_random_inputs(d: dict[str, Any], case: str,
                                              threads: int | None) -> None:
    want = CASES[case](d, threads=1, **d["kw"])
    out = np.full(want.shape, np.nan)
    got = CASES[case](d, threads=threads, out=out, **d["kw"])
    assert got is out
    _same_bits(out, want)


@pytest.mark.parametrize("case", list(ALL))
def test_a_scalar_mmr_broadcasts(case: str) -> None:
    d = {**_positions(300), "mmr": 0.007}
    want = ALL[case](d)
    assert want.shape == (300,)
    out = np.empty(300)
    assert ALL[case](d, out=out) is out
    _same_bits(out, want)


def test_only_one_array_input_gives_its_shape() -> None:
    size = np.array([1.0, -2.0, 0.5])
    out = np.empty(3)
    want = lq.liquidation_price(size, 100.0, 10.0, 0.01)
    assert lq.liquidation_price(size, 100.0, 10.0, 0.01, out=out) is out
    _same_bits(out, want)
    # the rates are the only array: the result has their length
    rates = np.array([0.0, 0.01, 0.02, 0.05])
    out4 = np.empty(4)
    _same_bits(lq.liquidation_price(1.0, 100.0, 10.0, rates, out=out4),
               lq.liquidation_price(1.0, 100.0, 10.0, rates))
    _same_bits(lq.initial_margin(1.0, 100.0, rates, out=np.empty(4)),
               lq.initial_margin(1.0, 100.0, rates))
    # length 1 is an array, not a scalar
    one = np.empty(1)
    assert lq.equity(np.array([1.0]), 100.0, 10.0, 110.0, out=one) is one
    assert one[0] == lq.equity(1.0, 100.0, 10.0, 110.0)
    # length 0
    empty = np.empty(0)
    assert lq.bankruptcy_price(np.empty(0), 1.0, 1.0, out=empty) is empty


@pytest.mark.parametrize("case", list(ALL))
def test_scalar_inputs_refuse_out(case: str) -> None:
    d = {k: float(v[1]) for k, v in _positions(3).items()}
    assert isinstance(ALL[case](d), float)
    out = np.full(1, 5.0)
    with pytest.raises(ValueError, match=r"^out is not allowed when every input is a scalar"):
        ALL[case](d, out=out)
    assert out[0] == 5.0


def _bad_outs(n: int) -> list[tuple[str, Any, type[Exception], str]]:
    ro = np.zeros(n)
    ro.flags.writeable = False
    misaligned = np.frombuffer(bytearray(8 * n + 1), dtype=np.float64, offset=1)
    misaligned.flags.writeable = True
    return [
        ("list", [0.0] * n, TypeError, r"^out must be a float64 ndarray or None \(got list\)"),
        ("float32", np.zeros(n, np.float32), TypeError, r"^out must have dtype float64 \(got float32\)"),
        ("int64", np.zeros(n, np.int64), TypeError, r"^out must have dtype float64 \(got int64\)"),
        ("big-endian", np.zeros(n, ">f8"), TypeError, r"^out must have dtype float64 \(got >f8\)"),
        ("short", np.zeros(n - 1), ValueError, rf"^out has shape \({n - 1},\), expected \({n},\)"),
        ("2-D", np.zeros((n, 1)), ValueError, rf"^out has shape \({n}, 1\), expected \({n},\)"),
        ("0-d", np.zeros(()), ValueError, rf"^out has shape \(\), expected \({n},\)"),
        ("strided", np.zeros(2 * n)[::2], ValueError, r"^out must be C-contiguous"),
        ("misaligned", misaligned, ValueError, r"^out must be aligned"),
        ("read-only", ro, ValueError, r"^out must be writeable \(got a read-only array\)"),
    ]


@pytest.mark.parametrize("case", list(ALL))
@pytest.mark.parametrize("bad", [b[0] for b in _bad_outs(50)])
def test_bad_out(case: str, bad: str) -> None:
    d = _positions(50)
    _, out, exc, msg = next(b for b in _bad_outs(50) if b[0] == bad)
    before = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
    with pytest.raises(exc, match=msg):
        ALL[case](d, out=out)
    if before is not None:
        assert np.array_equal(np.asarray(out), before)  # nothing written


# each function and the position inputs it reads (by the keys of _positions)
READS = {
    "equity": ("size", "entry_price", "margin", "mark"),
    "maintenance_margin": ("size", "mark", "mmr"),
    "bankruptcy_price": ("size", "entry_price", "margin"),
    "liquidation_price": ("size", "entry_price", "margin", "mmr"),
    "margin_ratio": ("size", "entry_price", "margin", "mark", "mmr"),
    "initial_margin": ("size", "mark", "imr"),
}
KEY = {"size": "q", "entry_price": "ep", "margin": "m", "mark": "mark", "mmr": "mmr", "imr": "mmr"}


@pytest.mark.parametrize("case", [(f, a) for f, args in READS.items() for a in args])
@pytest.mark.parametrize("how", ["same", "view", "partial", "converted"])
def test_out_overlapping_an_input(case: tuple[str, str], how: str) -> None:
    fn, arg = case
    d = _positions(40)
    buf = np.concatenate([d[KEY[arg]], np.zeros(20)])
    if how == "same":
        d[KEY[arg]] = out = buf[:40]
    elif how == "view":  # the input is a view of the buffer out is
        out = buf[:40]
        d[KEY[arg]] = buf[:40].view()
    elif how == "partial":  # out starts inside the input
        d[KEY[arg]] = buf[:40]
        out = buf[20:60]
    else:  # an input converted (a copy) from a strided view of out's memory: still refused
        wide = np.zeros(80)
        wide[::2] = d[KEY[arg]]
        d[KEY[arg]] = wide[::2]
        out = wide[:40]
    before = out.copy()
    f = ALL[fn]
    with pytest.raises(ValueError, match=rf"^out must not overlap an input \({arg}\)$"):
        f(d, out=out)
    assert np.array_equal(out, before, equal_nan=True)


def test_out_next_to_an_input_is_fine() -> None:
    d = _positions(40)
    buf = np.concatenate([d["q"], np.zeros(40)])
    d["q"] = buf[:40]
    out = buf[40:]
    want = lq.liquidation_price(d["q"], d["ep"], d["m"], d["mmr"])
    _same_bits(lq.liquidation_price(d["q"], d["ep"], d["m"], d["mmr"], out=out), want)


def test_the_core_guard_refuses_what_would_break_restrict() -> None:
    """Direct _core calls (private, but reachable) cannot alias or mis-size the kernel's output."""
    q, ep, m = (np.linspace(1.0, 2.0, 8) for _ in range(3))
    with pytest.raises(ValueError, match="^out must not overlap an input$"):
        _core.bankruptcy_price(q, ep, m, False, 1.0, out=m)
    with pytest.raises(ValueError, match="^out must be a writeable, aligned, C-contiguous array of 8"):
        _core.bankruptcy_price(q, ep, m, False, 1.0, out=np.empty(7))
    with pytest.raises(TypeError, match="^out must be a float64 ndarray"):
        _core.bankruptcy_price(q, ep, m, False, 1.0, out=np.empty(8, np.float32))
    out = np.empty(8)
    assert _core.bankruptcy_price(q, ep, m, False, 1.0, out=out) is out


def test_a_bad_value_in_an_array_reports_as_without_out() -> None:
    d = _positions(1000)
    d["ep"][700] = -1.0
    for threads in (1, 2, None):
        out = np.zeros(1000)
        with pytest.raises(ValueError, match=r"^entry_price\[700\] must be finite and > 0"):
            lq.liquidation_price(d["q"], d["ep"], d["m"], d["mmr"], threads=threads, out=out)
        # out may have been written (documented): no claim about its contents


def test_a_bad_scalar_raises_before_out_is_written() -> None:
    d = _positions(100)
    out = np.full(100, 3.0)
    with pytest.raises(ValueError, match="^mmr must be finite"):
        lq.liquidation_price(d["q"], d["ep"], d["m"], 1.5, out=out)
    with pytest.raises(ValueError, match="^margin has length 99"):
        lq.bankruptcy_price(d["q"], d["ep"], d["m"][:99], out=out)
    assert (out == 3.0).all()


def test_a_result_beyond_the_float_range_raises_with_out_too() -> None:
    out = np.empty(2)
    with pytest.raises(ValueError, match=r"^size\[1\] = -1e-300, .*beyond the float range"):
        lq.bankruptcy_price(np.array([1.0, -1e-300]), np.array([1.0, 1e300]),
                            np.array([0.0, 1e300]), out=out)
    # and a result the long-double pass brings back into range lands in out
    q = np.array([1e300, 1.0])
    assert lq.bankruptcy_price(q, np.array([1e300, 2.0]), 1e10, out=out) is out
    _same_bits(out, lq.bankruptcy_price(q, np.array([1e300, 2.0]), 1e10))
