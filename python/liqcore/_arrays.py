"""Input coercion and validation shared by the public API.

Every public function converts its array arguments once, here, to C-contiguous float64 (or
int64) without copying when they already are, and checks shapes and option names. Value checks
(finite, positive) run inside the kernel in the same pass as the computation where that is
cheaper; the helpers below serve the Python-side checks. Error messages name the argument and,
for arrays, the first offending index: ``"entry_price[3] must be finite and > 0 (got nan)"``.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, Optional, TypeVar, overload

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
T = TypeVar("T")
_AT = TypeVar("_AT", bound="np.ndarray[Any, Any]")
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

__all__ = [
    "F64",
    "I64",
    "as_f64",
    "as_i64",
    "as_array",
    "broadcast",
    "check_finite",
    "check_option",
    "common_length",
    "first_bad",
    "real",
    "scalar",
    "unit_level",
]


def _numeric_or_raise(name: str, a: np.ndarray[Any, Any]) -> None:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real number or an array of real numbers (got dtype {a.dtype})")


def as_f64(name: str, x: Any, *, ndim: int = 1) -> F64:
    """``x`` as a C-contiguous float64 array of at most ``ndim`` dimensions (0-d for a scalar).

    An array that is already C-contiguous float64 is returned as is (no copy).
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a real number or an array of real numbers (got {type(x).__name__})")
    a = as_array(name, x)
    _numeric_or_raise(name, a)
    if a.ndim > ndim:
        raise ValueError(f"{name} must have at most {ndim} dimension(s) (got shape {a.shape})")
    # np.asarray keeps 0-d scalars 0-d (np.ascontiguousarray would make them 1-D).
    out = np.asarray(a, dtype=np.float64, order="C")
    # A view at an odd byte offset (np.frombuffer, an Arrow slice) is copied: the kernel reads
    # aligned doubles.
    return out if out.flags.aligned else out.copy()


def as_i64(name: str, x: Any, *, ndim: int = 1) -> I64:
    """``x`` as a C-contiguous int64 array; floats must hold whole numbers in the int64 range.

    Rules: ragged nested sequences are a ValueError naming ``name``; a float that is not finite,
    not whole or outside [-2**63, 2**63) and an integer outside the int64 range (a Python int
    or a uint64) are a ValueError naming ``name`` and the first bad index.
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an integer or an array of integers (got {type(x).__name__})")
    a = as_array(name, x)
    if a.dtype == object:  # Python ints beyond int64 (numpy keeps them as objects)
        flat = a.ravel()
        for i, v in enumerate(flat):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{name}{_at(i, a)} must be an integer (got {type(v).__name__})")
            if not _I64_MIN <= int(v) <= _I64_MAX:
                raise ValueError(f"{name}{_at(i, a)} is outside the int64 range (got {int(v)})")
        a = np.asarray(flat.astype(np.int64), order="C").reshape(a.shape)
    elif a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(a) & (a == np.round(a)) & (a >= -(2.0**63)) & (a < 2.0**63)
        bad = first_bad(ok)
        if bad is not None:
            v = float(a.flat[bad])
            if math.isfinite(v) and v == math.floor(v):
                raise ValueError(f"{name}{_at(bad, a)} is outside the int64 range (got {v!r})")
            raise ValueError(f"{name}{_at(bad, a)} must be a whole number (got {v!r})")
    elif a.dtype.kind == "u" and a.dtype.itemsize >= 8:
        bad = first_bad(a <= np.uint64(_I64_MAX))
        if bad is not None:
            got = int(a.flat[bad])
            raise ValueError(f"{name}{_at(bad, a)} is outside the int64 range (got {got})")
    elif a.dtype.kind not in "biu":
        raise TypeError(f"{name} must be an integer or an array of integers (got dtype {a.dtype})")
    if a.ndim > ndim:
        raise ValueError(f"{name} must have at most {ndim} dimension(s) (got shape {a.shape})")
    return np.asarray(a, dtype=np.int64, order="C")


def as_array(name: str, x: Any) -> np.ndarray[Any, Any]:
    """``np.asarray(x)``; ragged nested sequences are a ValueError naming ``name``."""
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as an array: {e}") from None


def _at(index: int, a: np.ndarray[Any, Any]) -> str:
    return f"[{index}]" if a.ndim > 0 else ""


def first_bad(ok: npt.NDArray[np.bool_]) -> Optional[int]:
    """Flat index of the first False in ``ok``, or None when all are True."""
    if ok.all():
        return None
    return int(np.argmin(ok.ravel()))


def check_finite(
    name: str,
    a: F64,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    below: Optional[float] = None,
    at_most: float | None = None,
) -> None:
    """Raise ValueError at the first element that is not finite (and > 0 / >= 0 / < below /
    <= at_most)."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(a)
        what = "finite"
        if positive:
            ok &= a > 0
            what = "finite and > 0"
        elif nonnegative:
            ok &= a >= 0
            what = "finite and >= 0"
        if below is not None:
            ok &= a < below
            what += f" and < {below:g}"
        if at_most is not None:
            ok &= a <= at_most
            what += f" and <= {at_most:g}"
    bad = first_bad(ok)
    if bad is not None:
        raise ValueError(f"{name}{_at(bad, a)} must be {what} (got {float(a.flat[bad])!r})")


def common_length(arrays: Mapping[str, np.ndarray[Any, Any]]) -> int:
    """The length shared by the 1-D arrays in ``arrays`` (0-d scalars broadcast).

    Arrays of different lengths are an error, never broadcast. All scalars: length 1.
    """
    n: Optional[int] = None
    first = ""
    for name, a in arrays.items():
        if a.ndim == 0:
            continue
        if n is None:
            n, first = a.shape[0], name
        elif a.shape[0] != n:
            raise ValueError(f"{name} has length {a.shape[0]}, expected {n} (the length of {first})")
    return 1 if n is None else n


def broadcast(n: int, a: F64) -> F64:
    """A 0-d array repeated to length ``n``; a 1-D array unchanged."""
    if a.ndim == 0:
        return np.full(n, float(a), dtype=np.float64)
    return a


def real(name: str, x: Any) -> float:
    """A real number (not a bool) as a float; TypeError naming ``name`` otherwise."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})")
    return float(x)


def scalar(name: str, x: Any, *, nonnegative: bool = False) -> float:
    """A finite real number (a Python or NumPy scalar, or a 0-d array; not a bool or a string)
    that is > 0, or >= 0 with ``nonnegative``, as a float: a mark, a fund balance. TypeError or
    ValueError naming ``name`` otherwise."""
    try:
        ndim = 0 if np.isscalar(x) else np.ndim(x)
    except ValueError:  # ragged nested sequences
        ndim = -1
    if isinstance(x, (bool, str, bytes)) or ndim != 0:
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})") from None
    ok = math.isfinite(v) and (v >= 0.0 if nonnegative else v > 0.0)
    if not ok:
        raise ValueError(
            f"{name} must be finite and {'>= 0' if nonnegative else '> 0'} (got {v!r})"
        )
    return v


def unit_level(name: str, q: Any, *, upper_open: bool = False) -> float:
    """A probability level in (0, 1] (or (0, 1) with ``upper_open``), e.g. a VaR quantile."""
    v = real(name, q)
    ok = 0.0 < v < 1.0 if upper_open else 0.0 < v <= 1.0
    if not ok:
        raise ValueError(f"{name} must be in (0, 1{')' if upper_open else ']'} (got {v!r})")
    return v


def check_option(name: str, value: T, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed``, else ValueError listing the choices.

    Only a value of a choice's type can match (an array or other container is rejected
    without being compared, so NumPy's elementwise ``==`` never runs).
    """
    choices = list(allowed)
    listed = ", ".join(repr(c) for c in choices)
    if not any(isinstance(value, type(c)) and bool(value == c) for c in choices):
        shown = f"{type(value).__name__}" if isinstance(value, np.ndarray) else repr(value)
        raise ValueError(f"{name} must be one of {listed} (got {shown})")
    return value


def check_progress(progress: Any) -> None:
    """TypeError naming ``progress`` unless it is None or callable as ``progress(done, total)``."""
    if progress is None:
        return
    if not callable(progress):
        raise TypeError(
            f"progress must be a callable(done, total) or None (got {type(progress).__name__})"
        )
    try:
        sig = inspect.signature(progress)
    except (TypeError, ValueError):  # no signature to check (some builtins)
        return
    try:
        sig.bind(0, 0)
    except TypeError:
        raise TypeError(
            f"progress must accept two arguments (done, total) (got signature {sig})"
        ) from None


# ---- scalar arguments: counts, seeds, threads, fractions (one home for every module) -----------

MAX_COUNT = 2**31 - 1  # counts (rounds, scenarios, steps, threads ...) fit in an int32
MAX_THREADS = 1024  # more is a caller's mistake (and beyond pybind11's size_t on 2**64)


def count(name: str, x: Any, *, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """``x`` as an int in [minimum, maximum]: checked here, before pybind11's conversion."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int (got {type(x).__name__})")
    v = int(x)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {v})")
    if v > maximum:
        raise ValueError(f"{name} must be <= {maximum} (got {v})")
    return v


def seed(x: Any) -> int:
    """A random seed: an int in [0, 2**64)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"seed must be an int (got {type(x).__name__})")
    s = int(x)
    if not 0 <= s < 2**64:
        raise ValueError(f"seed must be in [0, 2**64) (got {s})")
    return s


def threads(x: Any) -> int:
    """0 (every core) for None, else an int in [1, MAX_THREADS]."""
    return 0 if x is None else count("threads", x, minimum=1, maximum=MAX_THREADS)


# ---- read-only columns of the input containers (Positions, Portfolio, Markets, Accounts) -------


def readonly(a: _AT) -> _AT:
    """A read-only view of ``a`` (``a`` itself is not changed)."""
    v = a.view()
    v.flags.writeable = False
    return v


class Column(Generic[_AT]):
    """A class attribute reading the array in the instance attribute ``attr`` as a read-only
    view (``size = Column[F64]("_size", "doc")``)."""

    def __init__(self, attr: str, doc: str | None = None) -> None:
        self._attr = attr
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Column[_AT]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _AT: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return readonly(getattr(obj, self._attr))


# ---- tables in: DataFrames or mappings of columns; tables out: pandas ---------------------------


def pandas(what: str) -> Any:
    """The pandas module; ImportError saying that ``what`` needs it when it is missing."""
    try:
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} needs pandas: pip install pandas (or liqcore[pandas])") from None
    return pd


def frame_columns(frame: Any, required: Iterable[str]) -> tuple[list[str], Any]:
    """The column names of ``frame`` (a DataFrame or a mapping of columns) and a function
    reading one column as an array; TypeError for anything else, ValueError naming the
    ``required`` columns it is missing."""
    if not (isinstance(frame, Mapping) or hasattr(frame, "columns")):
        raise TypeError(
            f"frame must be a DataFrame or a mapping of columns (got {type(frame).__name__})"
        )
    names = list(frame.columns) if hasattr(frame, "columns") else list(frame.keys())
    missing = [c for c in required if c not in names]
    if missing:
        raise ValueError(
            f"frame is missing column(s) {', '.join(map(repr, missing))} "
            f"(has {', '.join(map(repr, names))})"
        )

    def col(c: str) -> Any:
        v = frame[c]
        return v.to_numpy() if hasattr(v, "to_numpy") else v

    return names, col


def finite(name: str, v: float) -> float:
    """``v`` if it is finite; ValueError naming ``name`` otherwise."""
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite (got {v!r})")
    return v


def tier_columns(name: str, value: Any) -> tuple[Any, Any]:
    """(floors, rates) as given by one of the tier forms, not yet validated: an object with
    ``floors`` and ``mmr`` (liqcore.MarginTiers), a mapping ``{"floors": [...], "mmr": [...]}``
    or a sequence of (floor, mmr) pairs. ``name`` names the argument in the errors."""
    if hasattr(value, "floors") and hasattr(value, "mmr"):
        return value.floors, value.mmr
    if isinstance(value, Mapping):
        if "floors" not in value or "mmr" not in value:
            raise ValueError(
                f"{name} must have 'floors' and 'mmr' (got keys {', '.join(map(repr, value))})"
            )
        return value["floors"], value["mmr"]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        pairs = list(value)
        for k, p in enumerate(pairs):
            if not (isinstance(p, Sequence) and not isinstance(p, (str, bytes)) and len(p) == 2):
                raise ValueError(f"{name}[{k}] must be a (floor, mmr) pair (got {p!r})")
        return [p[0] for p in pairs], [p[1] for p in pairs]
    raise TypeError(
        f"{name} must be None, a MarginTiers, a mapping with 'floors' and 'mmr', or a "
        f"sequence of (floor, mmr) pairs (got {type(value).__name__})"
    )
