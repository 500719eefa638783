"""Maintenance-margin tiers from Binance's leverage brackets (``GET /fapi/v1/leverageBracket``).

USD-M response: ``[{"symbol": "BTCUSDT", "notionalCoef": 1.0, "brackets": [{"bracket": 1,
"initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0, "maintMarginRatio": 0.004,
"cum": 0.0}, ...]}, ...]`` (one object instead of a list when the request names a symbol).
COIN-M (``/dapi/v1/leverageBracket``) has ``"pair"`` instead of ``"symbol"`` and ``qtyFloor`` /
``qtyCap`` (coin) instead of the notional bounds; both are read.

Each bracket becomes one tier: its floor and ``maintMarginRatio``. liqcore derives the
maintenance amounts itself (``cum[k] = cum[k-1] + floor[k]·(mmr[k] - mmr[k-1])``, see
:class:`liqcore.MarginTiers`) and checks them against Binance's published ``cum``: a
disagreement beyond rounding (relative 1e-6 of the larger of 1 and the amount) is a ValueError,
as is a bracket whose floor is not the previous bracket's cap. ``initialLeverage`` is not used
(liqcore's tiers hold maintenance rates only).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liqcore._arrays import F64
from liqcore.margin import MarginTiers

__all__ = ["check_cum", "tiers_from_binance_brackets"]

CUM_RTOL = 1e-6


def number(where: str, x: Any, *, positive: bool = False) -> float:
    """A finite number (> 0 with ``positive``, >= 0 otherwise) from a JSON number or a decimal
    string; ValueError naming ``where`` otherwise."""
    what = "finite and > 0" if positive else "finite and >= 0"
    if isinstance(x, bool) or not isinstance(x, (int, float, str, np.integer, np.floating)):
        raise ValueError(f"{where} must be a number {what} (got {x!r})")
    try:
        v = float(x)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and (v > 0.0 if positive else v >= 0.0)):
        raise ValueError(f"{where} must be {what} (got {x!r})")
    return v


def field(where: str, obj: Any, *keys: str) -> Any:
    """``obj[key]`` for the first of ``keys`` present; ValueError naming ``where`` otherwise."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where} must be a JSON object (got {type(obj).__name__})")
    for k in keys:
        if k in obj and obj[k] is not None:
            return obj[k]
    raise ValueError(f"{where} has no {' or '.join(map(repr, keys))}")


def check_contiguous(names: Sequence[str], floors: F64, caps: F64, cap_name: str) -> None:
    """Each tier must start where the previous one ends (relative tolerance 1e-9)."""
    for k in range(1, len(floors)):
        prev, got = float(caps[k - 1]), float(floors[k])
        if abs(got - prev) > 1e-9 * max(1.0, abs(prev)):
            raise ValueError(
                f"{names[k]} starts at {got!r} but the previous tier's {cap_name} is {prev!r}: "
                "tiers must be contiguous"
            )


def check_cum(names: Sequence[str], tiers: MarginTiers, published: Sequence[float]) -> None:
    """ValueError at the first tier whose published maintenance amount disagrees with the one
    liqcore derives beyond rounding."""
    derived = tiers.cum
    for k, (d, p) in enumerate(zip(derived.tolist(), published)):
        if abs(d - p) > CUM_RTOL * max(1.0, abs(d), abs(p)):
            raise ValueError(
                f"{names[k]} cum is {p!r} but the brackets give {round(d, 8)!r} "
                "(cum[k] = cum[k-1] + floor[k]·(maintMarginRatio[k] - maintMarginRatio[k-1])): "
                "the published "
                "maintenance amounts disagree with the floors and rates"
            )


def _pick(data: Any, symbol: str | None) -> tuple[str, Any]:
    """(symbol, its bracket list) from a leverageBracket response."""
    if isinstance(data, (str, bytes, bytearray)):
        try:
            data = json.loads(data)
        except ValueError as e:
            raise ValueError(f"brackets is not valid JSON ({e})") from None
    if symbol is not None and not isinstance(symbol, str):
        raise TypeError(f"symbol must be a str or None (got {type(symbol).__name__})")
    if isinstance(data, Mapping):
        entries: list[Any] = [data]
    elif isinstance(data, Sequence):
        entries = list(data)
    else:
        raise TypeError(
            "brackets must be Binance's leverageBracket response: a list of objects with "
            "'symbol' and 'brackets', one such object, or its JSON text "
            f"(got {type(data).__name__})"
        )
    if not entries:
        raise ValueError("brackets is empty")
    names = [
        str(field(f"brackets[{i}]", e, "symbol", "pair")) for i, e in enumerate(entries)
    ]
    if symbol is None:
        if len(entries) > 1:
            shown = ", ".join(map(repr, names[:5])) + (", ..." if len(names) > 5 else "")
            raise ValueError(
                f"brackets holds {len(entries)} symbols ({shown}): pass symbol= to choose one"
            )
        i = 0
    else:
        if symbol not in names:
            raise ValueError(f"symbol {symbol!r} is not in brackets ({len(names)} symbols)")
        i = names.index(symbol)
    return names[i], field(names[i], entries[i], "brackets")


def tiers_from_binance_brackets(brackets: Any, symbol: str | None = None) -> MarginTiers:
    """:class:`liqcore.MarginTiers` from a Binance leverageBracket response (parsed JSON or its
    text) for ``symbol`` (needed when the response holds several). See the module docstring."""
    sym, chosen = _pick(brackets, symbol)
    if not isinstance(chosen, Sequence) or isinstance(chosen, (str, bytes)) or not chosen:
        raise ValueError(f"{sym} brackets must be a non-empty list of bracket objects")
    names = [f"{sym} brackets[{k}]" for k in range(len(chosen))]
    floors = np.array([
        number(f"{n} notionalFloor", field(n, b, "notionalFloor", "qtyFloor"))
        for n, b in zip(names, chosen)
    ])
    caps = np.array([
        number(f"{n} notionalCap", field(n, b, "notionalCap", "qtyCap"), positive=True)
        for n, b in zip(names, chosen)
    ])
    mmr = np.array([
        number(f"{n} maintMarginRatio", field(n, b, "maintMarginRatio"))
        for n, b in zip(names, chosen)
    ])
    cum = [number(f"{n} cum", field(n, b, "cum")) for n, b in zip(names, chosen)]
    if floors[0] != 0.0:
        raise ValueError(f"{names[0]} notionalFloor must be 0 (got {float(floors[0])!r})")
    check_contiguous(names, floors, caps, "notionalCap")
    try:
        tiers = MarginTiers(floors, mmr)
    except ValueError as e:
        raise ValueError(f"{sym} brackets: {e}") from None
    check_cum(names, tiers, cum)
    return tiers
