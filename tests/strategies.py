"""Hostile Hypothesis strategies shared by the hardening tests (fuzz, threads, leaks).

The fuzz tests start from a *valid* call and corrupt one argument at a time with a
:class:`Mutation`: special values injected at known indices (NaN, +-inf, denormals, 0, -0.0,
negatives, 1e308), a wrong length, a wrong dtype (object, str, complex, bool, int, float32,
big-endian), a non-contiguous or read-only view, a 2-D shape, a scalar, or an object that is not an
array at all. Each mutation says what the API may do with it:

* ``"same"``: the values are unchanged (list, tuple, strided view, read-only view, big-endian,
  Fortran-ordered copy): the result must be bit-identical to the valid call;
* ``"values"``: some values changed at ``indices``: either a correct result, or ValueError naming
  ``name[i]`` with ``i`` one of ``indices``;
* ``"shape"``: wrong length or dimensions: ValueError/TypeError naming the argument (or the
  argument it is checked against);
* ``"type"``: not numbers at all: TypeError/ValueError naming the argument;
* ``"cast"``: a lossy but legal dtype (float32, int, bool): any outcome allowed by ``"values"``
  for every index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

# Values that break naive numeric code. 5e-324 is the smallest denormal, 2.2e-308 / 2 a denormal
# too; 1e308 overflows as soon as it is multiplied or summed.
NASTY_FLOATS: tuple[float, ...] = (
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,
    1.1125369292536007e-308,
    -5e-324,
    -1.0,
    -1e308,
    1e308,
    1.7976931348623157e308,
    1e-300,
    1e300,
)

BAD_FLOATS: tuple[float, ...] = (math.nan, math.inf, -math.inf)


def nasty_floats() -> st.SearchStrategy[float]:
    """Mostly the special values above, sometimes any float at all."""
    return st.one_of(st.sampled_from(NASTY_FLOATS), st.floats(allow_nan=True, allow_infinity=True))


def sane_floats(lo: float = 1e-6, hi: float = 1e9) -> st.SearchStrategy[float]:
    """Positive, finite, far from overflow: valid inputs whose results must be finite."""
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


def examples(n: int) -> int:
    """``n`` examples at the default profile's 100, scaled with the loaded Hypothesis profile
    (tests/conftest.py: the ``sanitize`` profile runs a quarter)."""
    return max(10, n * settings.default.max_examples // 100)


@dataclass(frozen=True)
class Mutation:
    """One corruption of one argument (see the module docstring for ``kind``)."""

    label: str
    kind: str  # "same" | "values" | "shape" | "type" | "cast"
    value: Any
    indices: tuple[int, ...] = field(default=())


def _strided(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    big = np.empty(2 * a.size + 1, dtype=a.dtype)
    big[1::2] = a
    view = big[1::2]
    assert not view.flags.c_contiguous or a.size <= 1
    return view


def _readonly(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    v = a.copy()
    v.flags.writeable = False
    return v


def _object_array(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = np.empty(a.size, dtype=object)
    out[:] = list(a)
    return out


# Transformations that keep every value: results must not change by a single bit.
SAME: dict[str, Callable[[np.ndarray[Any, Any]], Any]] = {
    "list": lambda a: a.tolist(),
    "tuple": lambda a: tuple(a.tolist()),
    "strided view": _strided,
    "read-only view": _readonly,
    "big-endian": lambda a: a.astype(">f8"),
    "reversed-reversed view": lambda a: a[::-1][::-1],
}

# Transformations into things that are not real numbers at all.
NOT_NUMBERS: dict[str, Callable[[np.ndarray[Any, Any]], Any]] = {
    "object array": _object_array,
    "str array": lambda a: a.astype(str),
    "complex array": lambda a: a.astype(complex),
    "str": lambda a: "1.0",
    "bytes": lambda a: b"1.0",
    "dict": lambda a: {"x": 1.0},
    "None": lambda a: None,
    "set": lambda a: {1.0},
    "object()": lambda a: object(),
    "nested ragged list": lambda a: [[1.0], [1.0, 2.0]],
}

# Legal but lossy dtypes: values may change (float32 rounding, truncation, 0/1).
CASTS: dict[str, Callable[[np.ndarray[Any, Any]], Any]] = {
    "float32": lambda a: a.astype(np.float32),
    "int64": lambda a: np.trunc(np.clip(a, -1e18, 1e18)).astype(np.int64),
    "int8": lambda a: np.clip(np.trunc(a), -128, 127).astype(np.int8),
    "uint64": lambda a: np.clip(np.trunc(a), 0, 1e18).astype(np.uint64),
    "bool": lambda a: a != 0,
    "float16": lambda a: a.astype(np.float16),
}


@st.composite
def mutations(
    draw: st.DrawFn,
    base: np.ndarray[Any, Any],
    *,
    allow: tuple[str, ...] = ("same", "values", "shape", "type", "cast"),
    nasty: st.SearchStrategy[float] | None = None,
) -> Mutation:
    """A corruption of the valid 1-D float64 array ``base``."""
    a = np.ascontiguousarray(base, dtype=np.float64)
    n = a.size
    kinds = [k for k in allow if not (k == "values" and n == 0)]
    kind = draw(st.sampled_from(kinds))
    if kind == "same":
        label = draw(st.sampled_from(sorted(SAME)))
        return Mutation(label, "same", SAME[label](a))
    if kind == "type":
        label = draw(st.sampled_from(sorted(NOT_NUMBERS)))
        return Mutation(label, "type", NOT_NUMBERS[label](a))
    if kind == "cast":
        label = draw(st.sampled_from(sorted(CASTS)))
        with np.errstate(all="ignore"):
            return Mutation(label, "cast", CASTS[label](a), tuple(range(n)))
    if kind == "shape":
        choices = ["longer", "2-D row", "2-D column", "3-D"]
        if n > 0:
            choices += ["empty", "shorter"]
        label = draw(st.sampled_from(choices))
        if label == "empty":
            v: Any = np.empty(0)
        elif label == "longer":
            v = np.concatenate([a, a[-1:] if n else [1.0], [1.0]])
        elif label == "shorter":
            v = a[:-1].copy()
        elif label == "2-D row":
            v = a.reshape(1, -1)
        elif label == "2-D column":
            v = a.reshape(-1, 1)
        else:
            v = a.reshape(1, 1, -1)
        return Mutation(label, "shape", v)
    # "values": inject nasty values at a few indices
    k = draw(st.integers(1, min(n, 3)))
    idx = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=k)))
    v = a.copy()
    for i in idx:
        v[i] = draw(nasty if nasty is not None else nasty_floats())
    return Mutation("values " + ",".join(map(str, idx)), "values", v, tuple(idx))


# --------------------------------------------------------------------------------------------
# Books
# --------------------------------------------------------------------------------------------


@st.composite
def book_sides(
    draw: st.DrawFn, *, max_levels: int = 30, mid: float | None = None
) -> tuple[np.ndarray[Any, Any], ...]:
    """(bid_px, bid_qty, ask_px, ask_qty) of a valid book with sane magnitudes (either side may be
    empty): prices on an integer tick grid so that they are exactly representable."""
    m = draw(st.sampled_from([1.0, 100.0, 60_000.0, 1e6])) if mid is None else mid
    tick = m * 1e-4
    nb = draw(st.integers(0, max_levels))
    na = draw(st.integers(0, max_levels))
    gaps_b = draw(st.lists(st.integers(1, 5), min_size=nb, max_size=nb))
    gaps_a = draw(st.lists(st.integers(1, 5), min_size=na, max_size=na))
    qty = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
    bid_px = m - tick * np.cumsum(gaps_b, dtype=np.float64)
    ask_px = m + tick * np.cumsum(gaps_a, dtype=np.float64)
    bid_qty = np.array(draw(st.lists(qty, min_size=nb, max_size=nb)), dtype=np.float64)
    ask_qty = np.array(draw(st.lists(qty, min_size=na, max_size=na)), dtype=np.float64)
    return (
        np.asarray(bid_px, dtype=np.float64),
        bid_qty,
        np.asarray(ask_px, dtype=np.float64),
        ask_qty,
    )


def huge_book(levels: int = 200_000, mid: float = 60_000.0) -> tuple[np.ndarray[Any, Any], ...]:
    """A valid book with ``levels`` levels per side (deterministic)."""
    i = np.arange(1, levels + 1, dtype=np.float64)
    tick = mid / (4.0 * levels)
    qty = 1.0 + (np.arange(levels) % 7).astype(np.float64)
    return (mid - tick * i, qty.copy(), mid + tick * i, qty[::-1].copy())


# --------------------------------------------------------------------------------------------
# Feed files: bytes-level mutations
# --------------------------------------------------------------------------------------------


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to three byte-level corruptions: truncation, flipped or replaced byte,
    inserted junk, deleted range, duplicated or swapped lines, stripped newline."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        n = len(out)
        op = draw(
            st.sampled_from(
                ["truncate", "flip", "replace", "insert", "delete", "dup line", "swap lines",
                 "strip newline"]
            )
        )
        if n == 0:
            op = "insert"
        if op == "truncate":
            del out[draw(st.integers(0, n - 1)):]
        elif op == "flip":
            i = draw(st.integers(0, n - 1))
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "replace":
            i = draw(st.integers(0, n - 1))
            out[i] = draw(st.sampled_from(b'0123456789-.eE,:[]{}" \n\x00\xff'))
        elif op == "insert":
            i = draw(st.integers(0, n))
            junk = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=8),
                    st.sampled_from([b"NaN", b"-1", b"1e999", b"0", b'"x"', b"null", b"[]", b"{}",
                                     b"\n", b"\r\n", b"\xef\xbb\xbf", b'"',
                                     b"99999999999999999999"]),
                )
            )
            out[i:i] = junk
        elif op == "delete":
            i = draw(st.integers(0, n - 1))
            j = draw(st.integers(i + 1, min(n, i + 16)))
            del out[i:j]
        else:
            lines = bytes(out).split(b"\n")
            if len(lines) < 2:
                continue
            k = draw(st.integers(0, len(lines) - 2))
            if op == "dup line":
                lines.insert(k, lines[k])
            elif op == "swap lines":
                lines[k], lines[k + 1] = lines[k + 1], lines[k]
            else:
                lines[k : k + 2] = [lines[k] + lines[k + 1]]
            out = bytearray(b"\n".join(lines))
    return bytes(out)
