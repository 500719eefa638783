"""A NumPy peer of the cascade engine, for the benchmarks: the same semantics for the default
policy (linear contracts, flat mmr, full closes through the book without a limit price, capped
fee, no residual allocation, most underwater first, mark rule "last", no resilience), written
the way one would in NumPy: every round scans the whole population for newly liquidatable
positions, and a round's fills come from cumulative sums of the book instead of a level walk.
"""

from __future__ import annotations

import numpy as np


class NumpyMarket:
    def __init__(
        self,
        size,
        entry,
        margin,
        bid_px,
        bid_qty,
        ask_px,
        ask_qty,
        mark,
        *,
        mmr=0.005,
        fee_cap=0.015,
    ):
        self.q, self.ep, self.m = size, entry, margin
        self.mmr, self.fee_cap = mmr, fee_cap
        self.lp = (margin + 0.0 - size * entry) / (np.abs(size) * mmr - size)
        self.valid = (size != 0) & (self.lp > 0) & np.isfinite(self.lp)
        self.done = np.zeros(size.shape[0], dtype=bool)
        self.px = {1.0: bid_px, -1.0: ask_px}  # walked by longs (sell into bids) / shorts
        self.cum = {
            1.0: np.concatenate(([0.0], np.cumsum(bid_qty))),
            -1.0: np.concatenate(([0.0], np.cumsum(ask_qty))),
        }
        self.cumn = {
            1.0: np.concatenate(([0.0], np.cumsum(bid_qty * bid_px))),
            -1.0: np.concatenate(([0.0], np.cumsum(ask_qty * ask_px))),
        }
        self.used = {1.0: 0.0, -1.0: 0.0}
        self.scale = 1.0
        self.mark = mark
        self.marks = [mark]
        self.deficit = np.zeros(size.shape[0])
        self.fee = np.zeros(size.shape[0])
        self.loss = 0.0  # deficits + takeover losses
        self.liquidations = 0

    def _notional(self, s, x):
        cum, cumn, px = self.cum[s], self.cumn[s], self.px[s]
        k = (
            np.clip(np.searchsorted(cum, x, side="right") - 1, 0, px.size - 1)
            if px.size
            else np.zeros_like(x, int)
        )
        if px.size == 0:
            return np.zeros_like(x)
        return self.scale * (cumn[k] + (x - cum[k]) * px[k])

    def step(self, factor, max_rounds=1000):
        self.mark *= factor
        self.scale *= factor
        self.marks.append(self.mark)
        for _ in range(max_rounds):
            P = self.mark
            hit = (
                ~self.done
                & self.valid
                & (((self.q > 0) & (self.lp > P)) | ((self.q < 0) & (self.lp < P)))
            )
            idx = np.flatnonzero(hit)
            if idx.size == 0:
                return
            q = self.q[idx]
            e = self.m[idx] + q * (P - self.ep[idx])
            nt = np.abs(q) * P
            key = (nt * self.mmr - e) / nt
            order = np.lexsort((idx, -nt, -key))
            idx, q, e = idx[order], q[order], e[order]
            last_rank, last_px = -1, np.nan
            for s in (1.0, -1.0):
                sel = np.flatnonzero(np.sign(q) == s)
                if sel.size == 0:
                    continue
                Q = np.abs(q[sel])
                total = self.cum[s][-1]
                end = self.used[s] + np.cumsum(Q)
                start = end - Q
                fe, fs = np.minimum(end, total), np.minimum(start, total)
                notional = self._notional(s, fe) - self._notional(s, fs)
                filled = fe - fs
                fallback = Q - filled
                i = idx[sel]
                gain = s * (notional - filled * P)
                bp = np.maximum(self.ep[i] - self.m[i] / q[sel], 0.0)
                takeover = s * fallback * (bp - P)
                after = e[sel] + gain + takeover
                d = np.maximum(0.0, -after)
                sur = np.maximum(0.0, after)
                self.deficit[i] += d
                self.fee[i] += np.minimum(sur, self.fee_cap * notional)
                self.loss += float(np.sum(d) + np.sum(np.maximum(takeover, 0.0)))
                self.used[s] = float(fe[-1])
                got = np.flatnonzero(filled > 0)
                if got.size and sel[got[-1]] > last_rank:
                    j = got[-1]
                    last_rank = sel[j]
                    lv = np.searchsorted(self.cum[s], fe[j], side="left") - 1
                    last_px = self.scale * self.px[s][lv]
            self.done[idx] = True
            self.liquidations += idx.size
            if not np.isnan(last_px):
                self.mark = last_px
            self.marks.append(self.mark)


def numpy_cascade(pos, book, mark, shock):
    (bp, bq), (ap, aq) = book.bids, book.asks
    mk = NumpyMarket(pos.size, pos.entry_price, pos.margin, bp, bq, ap, aq, mark)
    mk.step(1.0 + shock)
    return mk


def numpy_stress(pos, book, mark, factors):
    """Per scenario (rows of `factors`): (deficit D, liquidations, final mark)."""
    (bp, bq), (ap, aq) = book.bids, book.asks
    out = []
    for row in factors:
        mk = NumpyMarket(pos.size, pos.entry_price, pos.margin, bp, bq, ap, aq, mark)
        for f in row:
            mk.step(float(f))
        out.append((mk.loss, mk.liquidations, mk.mark))
    return out
