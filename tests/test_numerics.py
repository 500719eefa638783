"""Totals do not depend on the order of the positions (issue 6, "Numerics").

The liquidation engine accumulates its totals (fees, deficits, surpluses, fund draws, ledger
rows) with compensated summation (waterfall.hpp ``CompensatedSum``), and the ADL allocators with
Neumaier sums. With an order-independent policy (``order="underwater"`` or ``"largest"``: a
total order on the positions, ties aside) permuting the input positions must permute the
per-position results and leave every total equal up to the stated tolerance:

    |total(permuted) - total| <= TOL * sum(|terms|),   TOL = 4 * 2**-52  (4 ulp of the scale)

(``order="given"`` legitimately changes results: the book is consumed in another order.)
"""

from __future__ import annotations

from typing import Any

import liqcore
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

TOL = 4 * 2.0**-52
TOTALS = ("insurance_fund", "insurance_draw", "residual", "adl_transfers", "uncovered",
          "total_deficit", "total_surplus", "total_fees", "inventory_loss", "inventory_gain",
          "unabsorbed", "bad_debt", "liquidated_notional")
PER_POSITION = ("closed", "deficit", "surplus", "fee", "vwap", "adl", "inventory_loss_by_position")


def _scenario(seed: int, n: int) -> tuple[dict[str, Any], liqcore.Book, float]:
    rng = np.random.default_rng(seed)
    size = rng.normal(0.0, 3.0, n) * rng.choice([1e-3, 1.0, 1e3], n)  # magnitudes 1e-3 .. 1e4
    ep = rng.uniform(90.0, 110.0, n)
    margin = np.abs(size) * ep * rng.uniform(0.0, 0.2, n)
    book = liqcore.synthetic_book(100.0, levels=200, seed=seed, depth_scale=0.01)
    mark = float(rng.uniform(92.0, 108.0))
    return {"size": size, "entry_price": ep, "margin": margin}, book, mark


@settings(max_examples=examples(25))
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 300),
    order=st.sampled_from(["underwater", "largest"]),
    residual=st.sampled_from(["none", "socialize", "pro_rata", "capped_pro_rata"]),
    execution=st.sampled_from(["book", "takeover"]),
    fund=st.sampled_from([0.0, 1e3, 1e9]),
)
def test_permuting_positions_keeps_totals(seed: int, n: int, order: str, residual: str,
                                          execution: str, fund: float) -> None:
    pos, book, mark = _scenario(seed, n)
    policy = liqcore.Policy(order=order, residual=residual, execution=execution)
    perm = np.random.default_rng(seed + 1).permutation(n)
    a = liqcore.liquidate(liqcore.Positions(**pos), book, mark, policy=policy, insurance_fund=fund)
    b = liqcore.liquidate(liqcore.Positions(**{k: v[perm] for k, v in pos.items()}), book, mark,
                          policy=policy, insurance_fund=fund)
    scale = max(1.0, fund, a.liquidated_notional, float(np.abs(a.ledger.amount).sum()),
                float(np.abs(pos["margin"]).sum()))
    for t in TOTALS:
        x, y = getattr(a, t), getattr(b, t)
        assert abs(x - y) <= TOL * scale, (t, x, y, (x - y) / scale)
    for f in PER_POSITION:
        x, y = np.asarray(getattr(a, f))[perm], np.asarray(getattr(b, f))
        both_nan = np.isnan(x) & np.isnan(y)
        assert (both_nan | (np.abs(x - y) <= TOL * scale)).all(), (f, x, y)
    assert abs(a.ledger.balance) <= TOL * scale
    assert abs(b.ledger.balance) <= TOL * scale


def test_given_order_is_order_dependent() -> None:
    """The check above can fail: with order="given" the book is consumed in input order, so a
    permutation changes the totals."""
    pos, book, mark = _scenario(3, 200)
    policy = liqcore.Policy(order="given")
    perm = np.random.default_rng(4).permutation(200)
    a = liqcore.liquidate(liqcore.Positions(**pos), book, mark, policy=policy)
    b = liqcore.liquidate(liqcore.Positions(**{k: v[perm] for k, v in pos.items()}), book, mark,
                          policy=policy)
    assert a.n_liquidated == b.n_liquidated > 10
    assert any(getattr(a, t) != getattr(b, t) for t in TOTALS)
