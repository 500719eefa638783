"""Input coercion and validation shared by the public API.

Every public function converts its array arguments once, here, to C-contiguous float64 (or
int64) without copying when they already are, and checks shapes and option names. Value checks
(finite, positive) run inside the kernel in the same pass as the computation where that is
cheaper; the helpers below serve the Python-side checks. Error messages name the argument and,
for arrays, the first offending index: ``"entry_price[3] must be finite and > 0 (got nan)"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional, TypeVar

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
T = TypeVar("T")

__all__ = [
    "F64",
    "I64",
    "as_f64",
    "as_i64",
    "broadcast",
    "check_finite",
    "check_option",
    "common_length",
    "first_bad",
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
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as an array: {e}") from None
    _numeric_or_raise(name, a)
    if a.ndim > ndim:
        raise ValueError(f"{name} must have at most {ndim} dimension(s) (got shape {a.shape})")
    # np.asarray keeps 0-d scalars 0-d (np.ascontiguousarray would make them 1-D).
    return np.asarray(a, dtype=np.float64, order="C")


def as_i64(name: str, x: Any, *, ndim: int = 1) -> I64:
    """``x`` as a C-contiguous int64 array; floats must hold whole numbers."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an integer or an array of integers (got {type(x).__name__})")
    a = np.asarray(x)
    if a.dtype.kind == "f":
        bad = first_bad(np.isfinite(a) & (a == np.round(a)))
        if bad is not None:
            raise ValueError(f"{name}{_at(bad, a)} must be a whole number (got {float(a.flat[bad])!r})")
    elif a.dtype.kind not in "biu":
        raise TypeError(f"{name} must be an integer or an array of integers (got dtype {a.dtype})")
    if a.ndim > ndim:
        raise ValueError(f"{name} must have at most {ndim} dimension(s) (got shape {a.shape})")
    return np.asarray(a, dtype=np.int64, order="C")


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
) -> None:
    """Raise ValueError at the first element that is not finite (and > 0 / >= 0 / < below)."""
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


def check_option(name: str, value: T, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed``, else ValueError listing the choices."""
    choices = list(allowed)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed} (got {value!r})")
    return value
