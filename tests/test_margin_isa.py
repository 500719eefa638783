"""The margin kernels' AVX2 block loops give the same bits (and the same errors) as the baseline;
and the kernels' "undefined" flag (a NaN result at a nonzero size) that liqcore.margin relies on.

On x86-64 the block loops of every array kernel (liqcore/margin.hpp, "instruction-set dispatch")
are compiled for the baseline and for AVX2, chosen at run time; the private switch
``_core._kernel_isa(force_baseline=...)`` forces the baseline. Where the CPU has no AVX2 (or the
build has no dispatch) both runs take the baseline path and the comparisons hold trivially.
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from liqcore import _core
from liqcore import margin as lm
from strategies import NASTY_FLOATS, examples
from test_margin_threads import CASES, _positions


@pytest.fixture(autouse=True)
def _restore_isa() -> Iterator[None]:
    """Each test leaves the switch as it found it (e.g. forced by LIQCORE_FORCE_BASELINE)."""
    forced = _core._kernel_isa() == "baseline"
    yield
    _core._kernel_isa(force_baseline=forced)


def _bits(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def _outcome(f: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", _bits(f()).tolist()
    except (ValueError, ArithmeticError) as e:
        return type(e).__name__, str(e)


def _both(f: Callable[[], Any]) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """f() on the dispatched path, then on the forced baseline."""
    _core._kernel_isa(force_baseline=False)
    dispatched = _outcome(f)
    assert _core._kernel_isa(force_baseline=True) == "baseline"
    baseline = _outcome(f)
    return dispatched, baseline


def test_switch() -> None:
    assert _core._kernel_isa() in ("avx2", "baseline")
    assert _core._kernel_isa(force_baseline=True) == "baseline"
    assert _core._kernel_isa() == "baseline"
    assert _core._kernel_isa(force_baseline=False) in ("avx2", "baseline")


@pytest.mark.parametrize(("value", "forced"), [("1", True), ("0", False), ("", False)])
def test_environment_variable_read_at_import(value: str, forced: bool) -> None:
    env = dict(os.environ, LIQCORE_FORCE_BASELINE=value)
    code = "from liqcore import _core; print(_core._kernel_isa())"
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == ("baseline" if forced else _core._kernel_isa(force_baseline=False))


@pytest.mark.parametrize("contract", ["linear", "inverse"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_bits_on_ordinary_positions(case: str, contract: str) -> None:
    inverse = contract == "inverse"
    args = _positions(3000, inverse, seed=11)
    kw: dict[str, Any] = {"contract": contract, "contract_size": 100.0} if inverse else {}
    for threads in (1, 3):
        dispatched, baseline = _both(lambda: CASES[case](*args, threads=threads, **kw))
        assert dispatched[0] == "ok"
        assert dispatched == baseline


# Values near the screens' edges (2^±250), the double range's edges, denormals, 0 and, now and
# then, a NaN or an infinity (an error, which must name the same argument and index).
_EDGES = tuple(float.fromhex(h) for h in ("0x1p250", "0x1p-250", "0x1.fffffffffffffp249",
                                           "0x1.0000000000001p-250")) + (1e-200, 5e150)
_VALUE = st.one_of(
    st.floats(1e-3, 1e6),
    st.floats(-1e6, 1e6),
    st.sampled_from(NASTY_FLOATS + _EDGES + tuple(-x for x in _EDGES)),
    st.floats(allow_nan=False, allow_infinity=False),
)
_RATE = st.one_of(st.floats(0.0, 1.0), st.sampled_from((0.0, 1.0, 0.5, 1e-300, 5e-324)))


@st.composite
def _inputs(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """size, entry_price, margin, mark, mmr: n values each (or 1, broadcast), n around the
    256-element blocks and the vector remainders; ordinary values with a share drawn from a
    pool of extreme ones."""
    n = draw(st.sampled_from([1, 3, 7, 255, 256, 261, 530]))
    pool = np.array(draw(st.lists(_VALUE, min_size=1, max_size=12)))
    rates = np.array(draw(st.lists(_RATE, min_size=1, max_size=4)))
    share = draw(st.sampled_from([0.0, 0.02, 0.3, 1.0]))
    magnitudes = draw(st.booleans())  # prices and margins |x| (0 prices 1): mostly valid
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cols = []
    for k in range(5):
        if k < 4:
            col = (rng.choice([-1.0, 1.0], n) if k == 0 else 1.0) * 10 ** rng.uniform(-3, 5, n)
            mask = rng.random(n) < share
            col[mask] = rng.choice(pool, int(mask.sum()))
            if k > 0 and magnitudes:
                col = np.where((col == 0) & (k != 2), 1.0, np.abs(col))
        else:
            col = rng.choice(rates, n)
        cols.append(col[:1] if n > 1 and draw(st.integers(0, 5)) == 0 else col)
    return tuple(cols)


@settings(max_examples=examples(25), deadline=None)
@given(data=_inputs(), contract=st.sampled_from(["linear", "inverse"]),
       case=st.sampled_from(sorted(CASES)), cs=st.sampled_from([1.0, 100.0, 1e-200, 1e200]))
def test_same_bits_or_error_on_extreme_values(
    data: tuple[np.ndarray, ...], contract: str, case: str, cs: float
) -> None:
    kw: dict[str, Any] = {"contract": contract, "contract_size": cs}
    dispatched, baseline = _both(lambda: CASES[case](*data, threads=2, **kw))
    assert dispatched == baseline


def test_no_fused_multiply_add() -> None:
    """Linear equity m + q·(mark − EP) is two roundings (no FMA contraction) on both paths: the
    bits of NumPy's two-step result, not of the once-rounded fma, where those differ."""
    rng = np.random.default_rng(3)
    n = 4096
    q = rng.uniform(-1e3, 1e3, n)
    ep = rng.uniform(1.0, 2.0, n)
    p = rng.uniform(1.0, 2.0, n)
    d = p - ep
    m = np.abs(q * d) * rng.uniform(0.5, 2.0, n)
    two_step = m + q * d
    fused = np.array([float(Fraction(a) * Fraction(b) + Fraction(c)) for a, b, c in zip(q, d, m)])
    assert (fused != two_step).sum() > n // 10  # the test can tell them apart
    for force in (False, True):
        _core._kernel_isa(force_baseline=force)
        got = _core.equity(q, ep, m, p, False, 1.0, 1)
        np.testing.assert_array_equal(_bits(got), _bits(two_step))


# ---- the "undefined" flag (flags=) ------------------------------------------------------------

_CORE: dict[str, Callable[..., Any]] = {  # the _core kernels over arrays (flat rates), with flags=
    "equity": lambda q, ep, m, p, r, inv, cs, **kw: _core.equity(q, ep, m, p, inv, cs, 2, **kw),
    "mm": lambda q, ep, m, p, r, inv, cs, **kw: _core.maintenance_margin(
        q, p, r, None, inv, cs, 2, **kw),
    "bp": lambda q, ep, m, p, r, inv, cs, **kw: _core.bankruptcy_price(q, ep, m, inv, cs, 2, **kw),
    "lp": lambda q, ep, m, p, r, inv, cs, **kw: _core.liquidation_price(
        q, ep, m, r, None, False, inv, cs, 2, **kw),
    "lp_entry": lambda q, ep, m, p, r, inv, cs, **kw: _core.liquidation_price(
        q, ep, m, r, None, True, inv, cs, 2, **kw),
    "lp_tiers": lambda q, ep, m, p, r, inv, cs, **kw: _core.liquidation_price(
        q, ep, m, r, TIERS._t, False, inv, cs, 2, **kw),
    "ratio": lambda q, ep, m, p, r, inv, cs, **kw: _core.margin_ratio(
        q, ep, m, p, r, None, inv, cs, 2, **kw),
}
TIERS = lm.MarginTiers([0, 50_000, 250_000], [0.004, 0.005, 0.01])


@settings(max_examples=examples(50), deadline=None)
@given(data=_inputs(), inverse=st.booleans(), kernel=st.sampled_from(sorted(_CORE)),
       cs=st.sampled_from([1.0, 100.0, 1e-200, 1e200]))
def test_flag_covers_every_nan_at_a_nonzero_size(
    data: tuple[np.ndarray, ...], inverse: bool, kernel: str, cs: float
) -> None:
    """flags[0] is 1 whenever some result is NaN where the size is not 0 (it may be 1 without
    one: an element the long-double pass then fixed), and 0 for ordinary positions."""
    flags = np.full(1, 7, np.uint8)
    try:
        out = _CORE[kernel](*data, inverse, cs, flags=flags)
    except ValueError:
        return
    assert flags[0] in (0, 1)
    size = np.broadcast_to(data[0], out.shape)
    if np.any(np.isnan(out) & (size != 0.0)):
        assert flags[0] == 1


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("kernel", sorted(_CORE))
def test_flag_is_0_for_ordinary_positions(kernel: str, inverse: bool) -> None:
    q, ep, m, p, r = _positions(3000, inverse, seed=5)  # with sizes 0: NaN prices, not flagged
    flags = np.ones(1, np.uint8)
    out = _CORE[kernel](q, ep, m, p, r, inverse, 100.0 if inverse else 1.0, flags=flags)
    assert flags[0] == 0
    if kernel.startswith(("lp", "bp")):
        assert np.isnan(out[q == 0]).all()
    assert _CORE[kernel](q, ep, m, p, r, inverse, 1.0, flags=None).shape == q.shape  # optional


def test_flag_argument_checked() -> None:
    q = np.ones(3)
    with pytest.raises(TypeError, match="flags must be a uint8 ndarray"):
        _core.equity(q, q, q, q, False, 1.0, 1, flags=np.zeros(1))
    with pytest.raises(ValueError, match="flags must be a writeable array of 1 element"):
        _core.equity(q, q, q, q, False, 1.0, 1, flags=np.zeros(2, np.uint8))
    ro = np.zeros(1, np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="flags must be a writeable array of 1 element"):
        _core.equity(q, q, q, q, False, 1.0, 1, flags=ro)


def test_out_raises_at_the_first_nan_of_a_nonzero_size_when_flagged() -> None:
    """liqcore.margin's _out: the exact check runs when the kernel flagged a NaN; it names the
    first NaN at a nonzero size (a NaN at size 0 stays)."""
    size = np.array([0.0, 2.0, 3.0, 4.0])
    ep = np.array([1.0, 5.0, 6.0, 7.0])
    out = np.array([np.nan, 1.0, np.nan, np.nan])
    names = ("size", "entry_price")
    with pytest.raises(ValueError, match=r"equity is undefined at size\[2\]=3.0, entry_price\[2\]=6.0"):
        lm._out(out, False, "equity", names, (size, ep), True)
    assert lm._out(out[:2], False, "equity", names, (size[:2], ep[:2]), True) is not None
    assert lm._out(out, False, "equity", names, (size, ep), False) is out  # not flagged: as is
