"""The book's resilience in the live engines, written from the model one level at a time: after
the engine's own liquidations, at the end of every event, each level of the base book recovers
``q <- q + r·(q0 - q)`` (``q = 0`` for a level the liquidations removed), as after a round of
simulate_cascade; a level within ``1e-12·q0`` of ``q0`` counts as recovered, and the book stops
recovering once every level has."""

from __future__ import annotations

import liqcore as lq


def recover(book: lq.Book, base: lq.Book, r: float) -> tuple[lq.Book, bool]:
    """One recovery step: (the new book, whether some level is still depleted)."""
    sides = []
    left = False
    for side in ("bids", "asks"):
        px0, q0 = getattr(base, side)
        px, q = getattr(book, side)
        cur = dict(zip(px.tolist(), q.tolist()))
        for p, b in zip(px0.tolist(), q0.tolist()):
            x = cur.get(p, 0.0)
            if x != b:
                x = x + r * (b - x)
                left = left or abs(b - x) > 1e-12 * b
            cur[p] = x
        levels = sorted(cur.items(), reverse=side == "bids")
        sides.append(([p for p, _ in levels], [x for _, x in levels]))
    (bp, bq), (ap, aq) = sides
    return lq.Book(bp, bq, ap, aq), left
