"""A NumPy peer of the cascade engine, for the benchmarks: the same semantics for the default
policy (linear contracts, flat mmr, full closes through the book without a limit price, capped
fee, no residual allocation, most underwater first, price band 0.9, mark rule "last", no
resilience), written
the way one would in NumPy: every round scans the whole population for newly liquidatable
positions, and a round's fills come from cumulative sums of the book instead of a level walk.
What the band-limited book does not take is the fund's inventory at the bankruptcy price
(docs/model.md §4): each round the fund sells all it holds (earlier lots first) into the book
the closes left, within the band around the round's mark, and carries the rest; a round happens
when it liquidates something or sells some inventory. The mark after a round is the
quantity-weighted mean of each side's deepest fill of the round, the fund's sales included; the
band moves with it, so inventory the book could not take may sell in a later round. At the end
(`finish`) what the fund still holds is valued at the final book's exit price within the band
around the final mark, the rest at the band edge.
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
        self.unabsorbed = 0.0  # inventory valued at the band edge at the end (finish)
        # the fund's inventory per side, first in first out: (bankruptcy prices, quantities)
        self.held = {s: (np.empty(0), np.empty(0)) for s in (1.0, -1.0)}
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

    def _within(self, s, P):
        """The band edge of side s at P and the cumulative quantity the band admits (never
        below what earlier fills used)."""
        spx = self.scale * self.px[s]
        edge = max(0.0, P * (1.0 - self.band)) if s > 0 else P * (1.0 + self.band)
        # levels within the band: bids at or above the edge, asks at or below it
        n_in = (
            np.searchsorted(-spx, -edge, side="right")
            if s > 0
            else np.searchsorted(spx, edge, side="right")
        )
        return edge, max(float(self.cum[s][n_in]), self.used[s])

    def _take(self, s, Q, total):
        """Orders of sizes Q one after another from where side s is used, filled up to the
        cumulative `total`: (start, end, filled start, filled end) of each, notional filled."""
        end = self.used[s] + np.cumsum(Q)
        start = end - Q
        fe, fs = np.minimum(end, total), np.minimum(start, total)
        return start, end, fs, fe, self._notional(s, fe) - self._notional(s, fs)

    def _sell(self, s, P, consume=True):
        """The fund's lots of side s (first in, first out) sold within the band at P, consuming
        the book or not (the end-of-run valuation); the rest is kept. Returns each lot's loss
        against its bankruptcy price (0 if it sold nothing), the quantity left per lot, the
        edge."""
        bp, lots = self.held[s]
        edge, total = self._within(s, P)
        start, end, fs, fe, notional = self._take(s, lots, total)
        filled = fe - fs
        left = np.where(start >= total, lots, end - fe)  # 0 where a lot sold whole
        loss = s * (filled * bp - notional)
        if consume:
            self.used[s] = float(fe[-1])
            keep = left > 0
            self.held[s] = (bp[keep], left[keep])
        return loss, left, edge

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
            if idx.size == 0 and not any(self.held[s][0].size for s in (1.0, -1.0)):
                return
            q = self.q[idx]
            eq = self.m[idx] + q * (P - self.ep[idx])
            nt = np.abs(q) * P
            key = (nt * self.mmr - eq) / nt
            order = np.lexsort((idx, -nt, -key))
            idx, q, eq = idx[order], q[order], eq[order]
            flow_qty, flow_px = [], []  # per side: book quantity filled, deepest fill
            for s in (1.0, -1.0):
                used_before = self.used[s]
                sel = np.flatnonzero(np.sign(q) == s)
                if sel.size:
                    Q = np.abs(q[sel])
                    _, total = self._within(s, P)
                    start, end, fs, fe, notional = self._take(s, Q, total)
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
                    self.loss += float(np.sum(d))
                    self.used[s] = float(fe[-1])
                    lots = fallback > 0  # the fund's inventory, after the lots it holds
                    self.held[s] = (
                        np.concatenate((self.held[s][0], bp[lots])),
                        np.concatenate((self.held[s][1], fallback[lots])),
                    )
                if self.held[s][0].size:
                    # the fund sells what it holds into what the closes left, within the band
                    # at P; the rest is carried to the next round
                    loss, _, _ = self._sell(s, P)  # 0 for the lots that sold nothing
                    realized = float(np.sum(np.maximum(loss, 0.0)))
                    self.inventory_loss += realized
                    self.loss += realized
                if self.used[s] > used_before:  # this side filled something through the book
                    lv = np.searchsorted(self.cum[s], self.used[s], side="left") - 1
                    flow_qty.append(self.used[s] - used_before)
                    flow_px.append(float(self.scale * self.px[s][lv]))
            if idx.size == 0 and not flow_qty:
                return  # inventory held, but the book within the band takes none of it
            self.done[idx] = True
            self.liquidations += idx.size
            if len(flow_qty) == 1:
                self.mark = flow_px[0]
            elif flow_qty:  # both sides: the quantity-weighted mean of their deepest fills
                (wb, wa), (pb, pa) = flow_qty, flow_px
                self.mark = (wb * pb + wa * pa) / (wb + wa)
            self.marks.append(self.mark)

    def finish(self):
        """The end of a run: what the fund still holds is valued at the exit price of the book
        as it is (a what-if sale that does not consume it) within the band at the final mark,
        the rest at the band edge; each lot's loss is the net of the two."""
        for s in (1.0, -1.0):
            if self.held[s][0].size:
                bp = self.held[s][0]
                loss, left, edge = self._sell(s, self.mark, consume=False)
                loss = loss + s * left * (bp - edge)
                self.unabsorbed += float(np.sum(left))
                valued = float(np.sum(np.maximum(loss, 0.0)))
                self.inventory_loss += valued
                self.loss += valued
                self.held[s] = (np.empty(0), np.empty(0))


def numpy_cascade(pos, book, mark, shock):
    (bp, bq), (ap, aq) = book.bids, book.asks
    mk = NumpyMarket(pos.size, pos.entry_price, pos.margin, bp, bq, ap, aq, mark)
    mk.step(1.0 + shock)
    mk.finish()
    return mk


def numpy_stress(pos, book, mark, factors):
    """Per scenario (rows of `factors`): (deficit D, liquidations, final mark)."""
    (bp, bq), (ap, aq) = book.bids, book.asks
    out = []
    for row in factors:
        mk = NumpyMarket(pos.size, pos.entry_price, pos.margin, bp, bq, ap, aq, mark)
        for f in row:
            mk.step(float(f))
        mk.finish()
        out.append((mk.loss, mk.liquidations, mk.mark))
    return out
