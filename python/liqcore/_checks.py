"""Small argument checks shared by the policy, market and engine modules (docs/model.md §1)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


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
