"""A NumPy peer of the cascade engine, for the benchmarks: the same semantics for the default
policy (linear contracts, flat mmr, full closes through the book without a limit price, capped
fee, no residual allocation, most underwater first, price band 0.9, mark rule "last", no
resilience), written
the way one would in NumPy: every round scans the whole population for newly liquidatable
positions, and a round's fills come from cumulative sums of the book instead of a level walk.
What the band-limited book does not take is the fund's inventory at the bankruptcy price; with
no limit price a close stops only at the band edge or the end of the side, so the fund's sale
after the closes finds nothing within the band and the whole inventory is valued at the edge.
The mark after a round is the quantity-weighted mean of each side's deepest fill of the round.
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
        band=0.9,
    ):
        self.q, self.ep, self.m = size, entry, margin
        self.mmr, self.fee_cap, self.band = mmr, fee_cap, band
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
        self.loss = 0.0  # bad debt: deficits + inventory losses
        self.inventory_loss = 0.0
        self.unabsorbed = 0.0
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
            eq = self.m[idx] + q * (P - self.ep[idx])
            nt = np.abs(q) * P
            key = (nt * self.mmr - eq) / nt
            order = np.lexsort((idx, -nt, -key))
            idx, q, eq = idx[order], q[order], eq[order]
            flow_qty, flow_px = [], []  # per side: book quantity filled, deepest fill
            for s in (1.0, -1.0):
                sel = np.flatnonzero(np.sign(q) == s)
                if sel.size == 0:
                    continue
                Q = np.abs(q[sel])
                spx = self.scale * self.px[s]
                edge = max(0.0, P * (1.0 - self.band)) if s > 0 else P * (1.0 + self.band)
                # levels within the band: bids at or above the edge, asks at or below it
                n_in = (
                    np.searchsorted(-spx, -edge, side="right")
                    if s > 0
                    else np.searchsorted(spx, edge, side="right")
                )
                total = max(float(self.cum[s][n_in]), self.used[s])
                end = self.used[s] + np.cumsum(Q)
                start = end - Q
                fe, fs = np.minimum(end, total), np.minimum(start, total)
                notional = self._notional(s, fe) - self._notional(s, fs)
                filled = fe - fs
                fallback = (end - fe) - (start - fs)  # exactly 0 while inside the band
                i = idx[sel]
                gain = s * (notional - filled * P)
                bp = np.maximum(self.ep[i] - self.m[i] / q[sel], 0.0)
                takeover = s * fallback * (bp - P)  # the fund takes U at BP (vs the mark)
                after = eq[sel] + gain + takeover
                d = np.maximum(0.0, -after)
                sur = np.maximum(0.0, after)
                self.deficit[i] += d
                self.fee[i] += np.minimum(sur, self.fee_cap * notional)
                # inventory: nothing is left within the band, so it is valued at the edge
                inv = s * fallback * (bp - edge)
                self.inventory_loss += float(np.sum(np.maximum(inv, 0.0)))
                self.unabsorbed += float(np.sum(fallback))
                self.loss += float(np.sum(d) + np.sum(np.maximum(inv, 0.0)))
                self.used[s] = float(fe[-1])
                if fe[-1] > fs[0]:  # this side filled something through the book
                    lv = np.searchsorted(self.cum[s], fe[-1], side="left") - 1
                    flow_qty.append(float(fe[-1] - fs[0]))
                    flow_px.append(float(spx[lv]))
            self.done[idx] = True
            self.liquidations += idx.size
            if len(flow_qty) == 1:
                self.mark = flow_px[0]
            elif flow_qty:  # both sides: the quantity-weighted mean of their deepest fills
                (wb, wa), (pb, pa) = flow_qty, flow_px
                self.mark = (wb * pb + wa * pa) / (wb + wa)
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
