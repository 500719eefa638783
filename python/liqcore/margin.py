"""Isolated-margin math for linear and inverse perpetuals (docs/model.md §1), elementwise over arrays.

Units and signs
---------------
- ``size``: signed position size, ``> 0`` long, ``< 0`` short; base units (linear) or contracts
  (inverse). Any finite value, 0 allowed.
- ``entry_price``, ``mark``: quote per base, finite and ``> 0``.
- ``margin``: isolated margin, finite and ``>= 0``; quote (linear) or coin (inverse).
- ``mmr``: maintenance-margin rate, finite in ``[0, 1]``, one for all or one per position. A rate
  of 1 (dYdX allows maintenance margin up to 100% of notional) makes a position liquidatable as
  soon as its equity is below its notional.
- ``contract="inverse"``: each contract is worth ``contract_size`` (face value ``C``) quote; the
  notional ``|size|·C/P`` and every money amount are in coin.

Each argument is a scalar or a 1-D array; arrays must all have the same length (a scalar stands
for every position, arrays are never broadcast against each other). Scalars in give a Python
float out; any array in gives a float64 array out.

Conventions for prices that do not exist: ``size == 0`` gives NaN; when no positive price
makes the position's equity equal its maintenance (or zero, for the bankruptcy price), a linear
position gets ``0.0`` and an inverse one ``+inf``. A long is liquidatable below its
liquidation price and a short above it, so ``0`` means "never" for a linear long (e.g. 1x) and
``+inf`` means "never" for an inverse short (1x or less).

Output buffers
--------------
Every function takes ``out=None``; pass a preallocated array to have the result written into it
and returned (``result is out``), NumPy's convention, so a pipeline that recomputes prices each
tick reuses its buffers instead of paying for fresh memory every call. ``out`` must be a
writeable, aligned, C-contiguous float64 ndarray of exactly the result's shape (``(n,)`` for
inputs of length ``n``); with scalar inputs only (a Python float result) it is not allowed. It
must not share memory with any input (the kernels read their inputs while they write, and
the error checks reread them after). These rules are a TypeError (not a float64 ndarray) or a
ValueError naming ``out``, raised before anything is written, as are errors in the other
arguments' types, lengths and scalar values. Bad values inside input arrays are found while
the result is computed: ``out`` may then have been written in part or in whole, and its
contents are unspecified. The results are the same bits as with ``out=None``, for every thread
count.

Margin tiers
------------
``MarginTiers(floors, mmr)``: tier ``k`` applies to positions whose notional at the mark is in
``[floors[k], floors[k+1])``; its maintenance is ``notional·mmr[k] - cum[k]`` with
``cum[k] = cum[k-1] + floors[k]·(mmr[k] - mmr[k-1])`` (Binance's "maintenance amount"), which
keeps the maintenance margin continuous. The liquidation price is solved in the tier that holds
the solution, which may differ from the tier of the current notional.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import F64, MAX_THREADS, as_f64, check_finite, check_option, real

__all__ = [
    "MarginTiers",
    "bankruptcy_price",
    "equity",
    "initial_margin",
    "initial_margin_fraction",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
]

_CONTRACTS = ("linear", "inverse")
_DEFAULT_MMR = 0.005

Result = Union[float, F64]


class MarginTiers:
    """Maintenance-margin tiers by position notional (quote for linear, coin for inverse).

    ``floors``: the notional where each tier starts; the first must be 0, then strictly
    increasing, finite. ``mmr``: one rate per tier, finite in ``[0, 1]``. The maintenance amounts
    ``cum`` are derived (see the module docstring). Immutable, comparable, picklable.

    >>> t = MarginTiers(floors=[0, 50_000, 250_000], mmr=[0.004, 0.005, 0.01])
    >>> t.cum.tolist()
    [0.0, 50.0, 1300.0]
    """

    __slots__ = ("_t",)

    def __init__(self, floors: Any, mmr: Any) -> None:
        f = np.atleast_1d(as_f64("floors", floors))
        r = np.atleast_1d(as_f64("mmr", mmr))
        if f.shape[0] == 0:
            raise ValueError("floors must have at least one tier")
        if r.shape[0] != f.shape[0]:
            raise ValueError(
                f"mmr has length {r.shape[0]}, expected {f.shape[0]} (the length of floors)"
            )
        for k in range(f.shape[0]):
            v = float(f[k])
            if not math.isfinite(v):
                raise ValueError(f"floors[{k}] must be finite (got {v:.17g})")
            if k == 0 and v != 0.0:
                raise ValueError(f"floors[0] must be 0 (got {v:.17g})")
            if k > 0 and not v > float(f[k - 1]):
                raise ValueError(f"floors[{k}] must be strictly increasing (got {v:.17g})")
            w = float(r[k])
            if not (0.0 <= w <= 1.0):
                raise ValueError(f"mmr[{k}] must be finite and >= 0 and <= 1 (got {w:.17g})")
        self._t = _core.Tiers(f, r)

    @classmethod
    def from_ccxt(cls, leverage_tiers: Any, symbol: Optional[str] = None) -> MarginTiers:
        """Tiers from ccxt's ``fetch_market_leverage_tiers`` (a list of tier dicts) or
        ``fetch_leverage_tiers`` (a dict of them by ``symbol``); see :mod:`liqcore.ccxt`."""
        from liqcore.ccxt import tiers_from_ccxt

        return tiers_from_ccxt(leverage_tiers, symbol)

    @classmethod
    def from_binance_brackets(cls, brackets: Any, symbol: Optional[str] = None) -> MarginTiers:
        """Tiers from Binance's ``GET /fapi/v1/leverageBracket`` response (parsed JSON or its
        text; ``symbol`` picks one of several), its published ``cum`` checked against the
        derived one; see :mod:`liqcore.leverage_brackets`."""
        from liqcore.leverage_brackets import tiers_from_binance_brackets

        return tiers_from_binance_brackets(brackets, symbol)

    @property
    def floors(self) -> F64:
        """Notional where each tier starts (a copy)."""
        return self._t.floors

    @property
    def mmr(self) -> F64:
        """Maintenance-margin rate of each tier (a copy)."""
        return self._t.mmr

    @property
    def cum(self) -> F64:
        """Derived maintenance amount of each tier (a copy)."""
        return self._t.cum

    def __len__(self) -> int:
        return len(self._t)

    def tier_of(self, notional: Any) -> int | np.ndarray[Any, np.dtype[np.int64]]:
        """Index of the tier holding each notional (``floors[k] <= notional < floors[k+1]``)."""
        a = as_f64("notional", notional)
        _check_scalar_or_array("notional", a, "nonnegative")
        out = self._t.tier_of(a.reshape(-1))
        return int(out[0]) if a.ndim == 0 else out

    def maintenance(self, notional: Any) -> Result:
        """Maintenance margin ``notional·mmr[k] - cum[k]`` of positions of that notional."""
        a = as_f64("notional", notional)
        _check_scalar_or_array("notional", a, "nonnegative")
        out = self._t.maintenance(a.reshape(-1))
        return float(out[0]) if a.ndim == 0 else out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarginTiers):
            return NotImplemented
        return bool(
            np.array_equal(self.floors, other.floors) and np.array_equal(self.mmr, other.mmr)
        )

    def __hash__(self) -> int:
        return hash((self.floors.tobytes(), self.mmr.tobytes()))

    def __repr__(self) -> str:
        return f"MarginTiers(floors={self.floors.tolist()!r}, mmr={self.mmr.tolist()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (MarginTiers, (self.floors, self.mmr))


# ---- input handling ------------------------------------------------------------------------

_RULES: dict[str, tuple[str, Callable[[float], bool]]] = {
    "finite": ("must be finite", lambda v: math.isfinite(v)),
    "positive": ("must be finite and > 0", lambda v: math.isfinite(v) and v > 0.0),
    "nonnegative": ("must be finite and >= 0", lambda v: math.isfinite(v) and v >= 0.0),
    "rate": ("must be finite and >= 0 and <= 1", lambda v: 0.0 <= v <= 1.0),
}


def _check_scalar(name: str, v: float, rule: str) -> None:
    what, ok = _RULES[rule]
    if not ok(v):
        raise ValueError(f"{name} {what} (got {v:.17g})")


def _check_scalar_or_array(name: str, a: F64, rule: str) -> None:
    """Python-side check (for the small tier helpers; the kernels check in their own pass)."""
    if a.ndim == 0:
        _check_scalar(name, float(a), rule)
        return
    what, _ = _RULES[rule]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(a) & (a >= 0.0)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ValueError(f"{name}[{i}] {what} (got {float(a[i]):.17g})")


_F64 = np.dtype(np.float64)


_RULE_OF = {"size": "finite", "entry_price": "positive", "margin": "nonnegative",
            "mark": "positive", "mmr": "rate"}  # the check of each argument of the kernels


def _prepare(names: tuple[str, ...], values: tuple[Any, ...]) -> tuple[list[F64], bool]:
    """Converts each argument once, checks lengths and the scalar ones (the kernel checks the
    array ones in its own pass). Returns the arrays and whether every input was a scalar.

    Per-call overhead matters at small sizes: a 1-D C-contiguous float64 array and a Python
    float skip the general conversion (as_f64) but get the same checks and messages."""
    arrays: list[F64] = []
    n = -1
    first = ""
    for name, x in zip(names, values):
        rule = _RULE_OF[name]
        if type(x) is np.ndarray and x.dtype is _F64 and x.ndim == 1 and x.flags.c_contiguous:
            a: F64 = x
        elif type(x) is float:
            _check_scalar(name, x, rule)
            arrays.append(np.array(x))
            continue
        else:
            a = as_f64(name, x)
            if a.ndim == 0:
                _check_scalar(name, float(a), rule)
                arrays.append(a)
                continue
        if n < 0:
            n, first = a.shape[0], name
        elif a.shape[0] != n:
            raise ValueError(
                f"{name} has length {a.shape[0]}, expected {n} (the length of {first})"
            )
        arrays.append(a)
    return arrays, n < 0


def _contract(contract: str, contract_size: Any) -> tuple[bool, float]:
    if type(contract_size) is float and type(contract) is str and contract == "linear" \
            and contract_size == 1.0:
        return False, 1.0  # the common case, already valid
    check_option("contract", contract, _CONTRACTS)
    if isinstance(contract_size, (bool, np.bool_)) or not isinstance(
        contract_size, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"contract_size must be a real number (got {type(contract_size).__name__})")
    c = float(contract_size)
    _check_scalar("contract_size", c, "positive")
    return contract == "inverse", c




def _threads(threads: Optional[int]) -> int:
    """The kernels' thread count: 0 for None (auto), else a positive int."""
    if threads is None:
        return 0
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a positive int or None (got {type(threads).__name__})")
    if threads < 1:
        raise ValueError(f"threads must be a positive int or None (got {int(threads)})")
    if threads > MAX_THREADS:
        raise ValueError(f"threads must be <= {MAX_THREADS} or None (got {int(threads)})")
    return int(threads)


class _Call:
    """The checked arguments of one call of a kernel: the contract, thread count, output
    buffer and flag byte (``kernel``: ``inv, cs, nt, out, flags``, the kernels' last
    arguments; the kernel sets ``flags[0]`` when some result may be NaN at a nonzero size), the
    kernel's tiers ``t`` (None: flat rates) and rates ``r`` (``_NO_RATE`` with tiers), and what
    :func:`_out` needs."""

    __slots__ = ("arrays", "kernel", "names", "r", "scalar", "t")

    def __init__(self, names: tuple[str, ...], arrays: list[F64], scalar: bool,
                 kernel: tuple[bool, float, int, F64 | None, npt.NDArray[np.uint8]], t: Any | None,
                 r: Any) -> None:
        self.names, self.arrays, self.scalar = names, arrays, scalar
        self.kernel, self.t, self.r = kernel, t, r

    def out(self, out: F64, fn: str) -> Result:
        return _out(out, self.scalar, fn, self.names, tuple(self.arrays), bool(self.kernel[4][0]))


def _args(
    names: tuple[str, ...], values: tuple[Any, ...], contract: Any, contract_size: Any,
    threads: Optional[int], *, rated: bool = False, tiers: MarginTiers | None = None,
    mmr: Any = None, out: Any = None,
) -> tuple[list[F64], _Call]:
    """The checks of every public function below, in order: the contract, with ``rated`` (the
    maintenance-margin functions) the tiers against ``mmr`` (None: the default rate), the
    thread count, the arrays (``values`` and, with flat rates, ``mmr`` after them), then
    ``out`` (:func:`_out_buffer`)."""
    inv, cs = _contract(contract, contract_size)
    t = _tiers(tiers, mmr) if rated else None
    nt = _threads(threads)
    flat = rated and t is None
    r: Any = _NO_RATE
    names_r, values_r = (names + ("mmr",), values + (_DEFAULT_MMR if mmr is None else mmr,)) \
        if flat else (names, values)
    arrays, scalar = _prepare(names_r, values_r)
    if out is not None:
        given = [(k, x) for k, v, a in zip(names_r, values_r, arrays)
                 for x in ((a,) if a is v else (v, a))]  # as passed and as converted
        out = _out_buffer(out, next((a.shape for a in arrays if a.ndim), ()), given)
    if flat:
        r = arrays.pop()
    return arrays, _Call(names, arrays, scalar, (inv, cs, nt, out, np.zeros(1, np.uint8)), t, r)


def _out_buffer(out: Any, shape: tuple[int, ...], inputs: Iterable[tuple[str, Any]]) -> F64:
    """``out`` checked against the rules of the module docstring ("Output buffers") for a
    result of ``shape`` (``()``: a float, where ``out`` is not allowed); ``inputs``: (name,
    value) of every input, as passed and as converted (their ndarrays must not share memory
    with ``out``)."""
    if shape == ():
        raise ValueError(
            "out is not allowed when every input is a scalar (the result is a Python float): "
            "pass out=None"
        )
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a float64 ndarray or None (got {type(out).__name__})")
    if out.dtype != _F64:
        raise TypeError(f"out must have dtype float64 (got {out.dtype})")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape} (the shape of the result)")
    flags = out.flags
    for ok, what in ((flags.c_contiguous, "C-contiguous (got a strided view)"),
                     (flags.aligned, "aligned (got a misaligned view)"),
                     (flags.writeable, "writeable (got a read-only array)")):
        if not ok:
            raise ValueError(f"out must be {what}")
    for name, x in inputs:
        if isinstance(x, np.ndarray) and np.shares_memory(out, x):
            raise ValueError(f"out must not overlap an input ({name})")
    return out


def _tiers(tiers: MarginTiers | None, mmr: Any) -> Any | None:
    if tiers is None:
        return None
    if not isinstance(tiers, MarginTiers):
        raise TypeError(f"tiers must be a MarginTiers or None (got {type(tiers).__name__})")
    if mmr is not None:
        raise ValueError(
            "pass either mmr or tiers, not both: they are exclusive "
            "(tiers carry their own rates)"
        )
    return tiers._t


_NO_RATE: F64 = np.zeros(())  # the unused mmr argument of the tier kernels


_QEMP = ("size", "entry_price", "margin", "mark")
_QEM = _QEMP[:3]
_QP = ("size", "mark")


def _out(out: F64, scalar: bool, fn: str, names: tuple[str, ...], args: tuple[F64, ...],
         suspect: bool) -> Result:
    """The result; ValueError naming ``size[i]`` at the first NaN of a nonzero size.

    Rule (finding #13): finite valid inputs whose products overflow or underflow the float range
    (``inf - inf``, ``0 / 0``: e.g. ``margin_ratio(-1e308, 1, 0, 2, mmr=0)``) have no defined
    result; that is an error, never a silent NaN. Flat positions (size 0) keep their NaN.
    """
    if suspect:  # the kernel's flag (its block loops look for such a NaN); exact check only then
        bad = np.isnan(out) & (np.broadcast_to(args[0], out.shape) != 0.0)  # args[0]: size
        if bad.any():
            i = int(np.argmax(bad))
            at = ", ".join(f"{k}[{i}]={float(np.broadcast_to(a, out.shape)[i])!r}"
                           for k, a in zip(names, args))
            raise ValueError(
                f"{fn} is undefined at {at}: the products of these arguments overflow or "
                "underflow the float range"
            )
    return float(out[0]) if scalar else out


# ---- public functions ----------------------------------------------------------------------
#
# ``threads`` (every function): None (default) runs on every core from 65,536 positions on and
# on one thread below; ``k >= 1`` uses at most k threads over fixed contiguous chunks. The
# output is bit-identical for every thread count, and a bad value is reported at the same
# (first) argument and index.


def equity(
    size: Any,
    entry_price: Any,
    margin: Any,
    mark: Any,
    *,
    contract: str = "linear",
    contract_size: float = 1.0,
    threads: Optional[int] = None,
    out: Optional[F64] = None,
) -> Result:
    """Equity at the mark, ``E = margin + PnL(mark)``.

    Linear ``PnL = size·(mark - entry_price)`` (quote); inverse
    ``PnL = size·C·(1/entry_price - 1/mark)`` (coin).
    ``threads``: None (default) uses every core for 65,536 positions or more and one thread
    below; an int ``k >= 1`` uses at most ``k`` threads. The result is bit-identical for any
    thread count.

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input. On an error
        in an input array's values it may have been partly written (see the module docstring,
        "Output buffers").
    """
    (q, ep, m, p), c = _args(_QEMP, (size, entry_price, margin, mark), contract, contract_size,
                             threads, out=out)
    return c.out(_core.equity(q, ep, m, p, *c.kernel), "equity")


def maintenance_margin(
    size: Any,
    mark: Any,
    mmr: Any = None,
    *,
    tiers: MarginTiers | None = None,
    contract: str = "linear",
    contract_size: float = 1.0,
    threads: Optional[int] = None,
    out: Optional[F64] = None,
) -> Result:
    """Maintenance margin at the mark, ``notional·mmr - cum`` (0 for ``size == 0``).

    ``notional = |size|·mark`` (linear, quote) or ``|size|·C/mark`` (inverse, coin). With
    ``tiers`` the rate and maintenance amount are those of the tier holding the notional;
    ``mmr`` (None: 0.005) and ``tiers`` are exclusive: passing both is a ValueError.
    ``threads``: None (default) uses every core for 65,536 positions or more and one thread
    below; an int ``k >= 1`` uses at most ``k`` threads. The result is bit-identical for any
    thread count.

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input. On an error
        in an input array's values it may have been partly written (see the module docstring,
        "Output buffers").
    """
    (q, p), c = _args(_QP, (size, mark), contract, contract_size, threads, rated=True,
                      tiers=tiers, mmr=mmr, out=out)
    return c.out(_core.maintenance_margin(q, p, c.r, c.t, *c.kernel), "maintenance_margin")


def bankruptcy_price(
    size: Any,
    entry_price: Any,
    margin: Any,
    *,
    contract: str = "linear",
    contract_size: float = 1.0,
    threads: Optional[int] = None,
    out: Optional[F64] = None,
) -> Result:
    """The mark at which closing the whole position leaves zero equity.

    Linear ``entry_price - margin/size``; inverse ``N·C / (margin + N·C/entry_price)``, i.e.
    long ``EP·lev/(lev+1)`` and short ``EP·lev/(lev-1)`` with ``lev = |N|·C/EP / margin``.
    ``size == 0`` gives NaN; a linear long that no positive price bankrupts gives 0, an inverse
    short that never goes bankrupt (``lev <= 1``) gives ``+inf``.
    ``threads``: None (default) uses every core for 65,536 positions or more and one thread
    below; an int ``k >= 1`` uses at most ``k`` threads. The result is bit-identical for any
    thread count.

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input. On an error
        in an input array's values it may have been partly written (see the module docstring,
        "Output buffers").
    """
    (q, ep, m), c = _args(_QEM, (size, entry_price, margin), contract, contract_size, threads,
                          out=out)
    return c.out(_core.bankruptcy_price(q, ep, m, *c.kernel), "bankruptcy_price")


def liquidation_price(
    size: Any,
    entry_price: Any,
    margin: Any,
    mmr: Any = None,
    *,
    tiers: MarginTiers | None = None,
    contract: str = "linear",
    contract_size: float = 1.0,
    mm_at_entry: bool = False,
    threads: Optional[int] = None,
    out: Optional[F64] = None,
) -> Result:
    """The mark at which equity equals maintenance margin, ``E(P) = MM(P)``.

    Linear, one tier: ``(margin + cum - size·EP) / (|size|·mmr - size)`` (Binance). With
    ``tiers`` the solution is taken in the tier whose notional range holds it. Liquidatable
    means ``E < MM``: a long below this price, a short above it.

    ``mm_at_entry=True`` (Bybit's convention) fixes MM at its value at the entry price, so the
    result is the bankruptcy price of ``margin - MM(entry_price)``.

    ``size == 0`` gives NaN; when no positive price has ``E = MM`` a linear position gets 0 and
    an inverse one ``+inf`` (see the module docstring). ``mmr`` (None: 0.005) and ``tiers`` are
    exclusive: passing both is a ValueError.

    A rate of 1 (in the tier that holds the solution) has a limit, not a root: a linear long's
    (an inverse short's) ``E − MM`` no longer depends on the price, so it is liquidatable at
    every price (``+inf`` for a linear long, ``0`` for an inverse short) when its margin is
    below its notional at entry, and never otherwise (``0``, ``+inf``).
    ``threads``: None (default) uses every core for 65,536 positions or more and one thread
    below; an int ``k >= 1`` uses at most ``k`` threads. The result is bit-identical for any
    thread count.

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input. On an error
        in an input array's values it may have been partly written (see the module docstring,
        "Output buffers").
    """
    if not isinstance(mm_at_entry, (bool, np.bool_)):
        raise TypeError(f"mm_at_entry must be a bool (got {type(mm_at_entry).__name__})")
    (q, ep, m), c = _args(_QEM, (size, entry_price, margin), contract, contract_size, threads,
                          rated=True, tiers=tiers, mmr=mmr, out=out)
    out = _core.liquidation_price(q, ep, m, c.r, c.t, bool(mm_at_entry), *c.kernel)
    return c.out(out, "liquidation_price")


def margin_ratio(
    size: Any,
    entry_price: Any,
    margin: Any,
    mark: Any,
    mmr: Any = None,
    *,
    tiers: MarginTiers | None = None,
    contract: str = "linear",
    contract_size: float = 1.0,
    threads: Optional[int] = None,
    out: Optional[F64] = None,
) -> Result:
    """Maintenance margin over equity at the mark, ``MM/E``; liquidatable iff ``> 1``.

    ``+inf`` where ``E <= 0`` (no equity left: at or past bankruptcy), including a zero-size
    position with zero margin; 0 for a zero-size position with margin. ``mmr`` (None: 0.005) and
    ``tiers`` are exclusive: passing both is a ValueError.
    ``threads``: None (default) uses every core for 65,536 positions or more and one thread
    below; an int ``k >= 1`` uses at most ``k`` threads. The result is bit-identical for any
    thread count.

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input. On an error
        in an input array's values it may have been partly written (see the module docstring,
        "Output buffers").
    """
    (q, ep, m, p), c = _args(_QEMP, (size, entry_price, margin, mark), contract, contract_size,
                             threads, rated=True, tiers=tiers, mmr=mmr, out=out)
    return c.out(_core.margin_ratio(q, ep, m, p, c.r, c.t, *c.kernel), "margin_ratio")


# ---- initial margin ------------------------------------------------------------------------
#
# One product per position (notional times a fraction), in NumPy: no kernel of its own.


def _oi_caps(open_interest: Any, oi_caps: Any) -> tuple[float, float, float] | None:
    """(open interest, lower cap, upper cap), or None when the rates are not scaled."""
    if open_interest is None and oi_caps is None:
        return None
    if open_interest is None or oi_caps is None:
        raise ValueError(
            "open_interest and oi_caps go together: pass both (the market's open notional and "
            "its (lower, upper) caps) or neither"
        )
    oi = real("open_interest", open_interest)
    _check_scalar("open_interest", oi, "nonnegative")
    try:
        lo_x, hi_x = oi_caps
    except (TypeError, ValueError):
        raise TypeError(
            f"oi_caps must be a (lower, upper) pair of numbers (got {oi_caps!r})"
        ) from None
    lo, hi = real("oi_caps[0]", lo_x), real("oi_caps[1]", hi_x)
    _check_scalar("oi_caps[0]", lo, "nonnegative")
    _check_scalar("oi_caps[1]", hi, "nonnegative")
    if lo > hi:
        raise ValueError(f"oi_caps[0] must be <= oi_caps[1] (got {lo!r} > {hi!r})")
    return oi, lo, hi


def _scaled(base: F64, caps: tuple[float, float, float] | None, out: F64 | None) -> F64:
    """dYdX's open-interest scaling of the base fraction (see initial_margin_fraction), in
    ``out`` if given (else ``base`` itself or a new array)."""
    f: Any = base
    if caps is not None:
        oi, lo, hi = caps
        if hi != 0.0 and oi > lo:  # upper cap 0: scaling off (dYdX)
            if oi < hi:
                return np.minimum(base + (oi - lo) / (hi - lo) * (1.0 - base), 1.0, out=out)
            f = 1.0
    if out is None:
        return np.ones_like(base) if f is not base else base
    np.copyto(out, f)
    return out


def _base_fraction(notional: F64, imr: Any, tiers: MarginTiers | None) -> F64:
    if tiers is not None:
        if not isinstance(tiers, MarginTiers):
            raise TypeError(f"tiers must be a MarginTiers or None (got {type(tiers).__name__})")
        if imr is not None:
            raise ValueError(
                "pass either imr or tiers, not both: they are exclusive "
                "(tiers carry their own rates)"
            )
        k = np.searchsorted(tiers.floors, notional, side="right") - 1
        return np.asarray(tiers.mmr[np.maximum(k, 0)], dtype=np.float64)
    if imr is None:
        raise ValueError("initial margin needs a rate: pass imr (a rate) or tiers (a MarginTiers)")
    r = as_f64("imr", imr)
    _check_rates("imr", r)
    return r


def _check_rates(name: str, a: F64) -> None:
    if a.ndim == 0:
        _check_scalar(name, float(a), "rate")
        return
    with np.errstate(invalid="ignore"):
        ok = (a >= 0.0) & (a <= 1.0)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ValueError(f"{name}[{i}] must be finite and >= 0 and <= 1 (got {float(a[i]):.17g})")


def initial_margin_fraction(
    notional: Any,
    imr: Any = None,
    *,
    tiers: MarginTiers | None = None,
    open_interest: float | None = None,
    oi_caps: tuple[float, float] | None = None,
    out: Optional[F64] = None,
) -> Result:
    """The initial-margin fraction (IMF) of positions of this notional; max leverage is ``1/IMF``.

    The base fraction is ``imr`` (flat, one for all or one per position, finite in ``[0, 1]``) or,
    with ``tiers`` (a :class:`MarginTiers` whose rates are initial-margin rates, e.g. one over
    each leverage bracket's maximum leverage), the rate of the tier holding the notional, for
    the whole notional (no maintenance amount: leverage brackets cap the leverage of the whole
    position). ``imr`` and ``tiers`` are exclusive.

    ``open_interest`` with ``oi_caps=(lower, upper)`` applies dYdX v4's open-interest margin
    fraction (OIMF, ``LiquidityTier.GetInitialMarginQuoteQuantums``): with the market's open
    notional ``OI``, the fraction is the base while ``OI <= lower``, rises linearly to 1 at
    ``OI = upper`` and stays 1 above, ``min(base + max(0, (OI − lower)/(upper − lower))·(1 −
    base), 1)``; ``upper == 0`` turns the scaling off (dYdX's convention). The caps and the
    open interest are in the notional's currency (quote for linear contracts).

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input; an invalid
        ``out`` raises before anything is written (see the module docstring, "Output
        buffers").
    """
    n = as_f64("notional", notional)
    _check_scalar_or_array("notional", n, "nonnegative")
    caps = _oi_caps(open_interest, oi_caps)
    base = _base_fraction(n, imr, tiers)
    if base.ndim == 1 and n.ndim == 1 and base.shape[0] != n.shape[0]:
        raise ValueError(
            f"imr has length {base.shape[0]}, expected {n.shape[0]} (the length of notional)"
        )
    shape = np.broadcast_shapes(base.shape, n.shape)
    if out is None:
        f = _scaled(np.broadcast_to(base, shape).astype(np.float64), caps, None)
        return float(f) if f.ndim == 0 else f
    _out_buffer(out, shape, (("notional", notional), ("notional", n), ("imr", imr),
                             ("imr", base)))
    return _scaled(np.broadcast_to(base, shape), caps, out)


def initial_margin(
    size: Any,
    mark: Any,
    imr: Any = None,
    *,
    tiers: MarginTiers | None = None,
    open_interest: float | None = None,
    oi_caps: tuple[float, float] | None = None,
    contract: str = "linear",
    contract_size: float = 1.0,
    out: Optional[F64] = None,
) -> Result:
    """Initial margin at the mark: ``notional · IMF`` (see :func:`initial_margin_fraction`).

    ``notional = |size|·mark`` (linear, quote) or ``|size|·C/mark`` (inverse, coin). The
    fraction is ``imr`` (flat), the rate of the ``tiers`` tier holding the notional, and with
    ``open_interest`` and ``oi_caps`` dYdX's open-interest scaling towards 1, so the initial
    margin never exceeds the notional. dYdX rounds the result up to a whole quote quantum;
    liqcore does not round.

    >>> initial_margin(2.0, 50_000.0, 0.05)  # 5% of $100,000 (dYdX's "Large-Cap" tier)
    5000.0
    >>> ims = initial_margin(1.0, 500_000.0, 0.2, open_interest=1.5e12, oi_caps=(1e12, 2e12))
    >>> round(ims, 6)  # dYdX's vector: IMF 20% + 0.5 x 80% = 60%
    300000.0

    Parameters
    ----------
    out : ndarray, optional
        A float64 C-contiguous array of the result's shape to write the result into; it is
        returned. Not with scalar inputs only, nor sharing memory with an input; an invalid
        ``out`` raises before anything is written (see the module docstring, "Output
        buffers").
    """
    inv, cs = _contract(contract, contract_size)
    (q, p), scalar = _prepare(_QP, (size, mark))
    if q.ndim:  # _prepare checks scalars only (the kernels check arrays; this has none)
        check_finite("size", q)
    if p.ndim:
        check_finite("mark", p, positive=True)
    with np.errstate(over="ignore"):  # an infinite notional is reported below
        if scalar:
            n = np.asarray(np.abs(q) * (cs / p if inv else p), dtype=np.float64)
        else:
            qa = np.broadcast_to(q, np.broadcast_shapes(q.shape, p.shape))
            pa = np.broadcast_to(p, qa.shape)
            n = np.abs(qa) * (cs / pa if inv else pa)
    if not np.isfinite(n).all():
        i = int(np.argmin(np.isfinite(np.atleast_1d(n))))
        raise ValueError(
            f"initial_margin is undefined at size[{i}], mark[{i}]: the notional is beyond the "
            "float range"
        )
    f = initial_margin_fraction(n, imr, tiers=tiers, open_interest=open_interest, oi_caps=oi_caps)
    if out is None:
        im = n * f
        return float(im) if np.ndim(im) == 0 else np.asarray(im, dtype=np.float64)
    _out_buffer(out, np.broadcast_shapes(n.shape, np.shape(f)),
                (("size", size), ("size", q), ("mark", mark), ("mark", p), ("imr", imr)))
    return np.multiply(n, f, out=out)
