"""Numba peers of liqcore's kernels, for the benchmarks: the compiled loops a performance-minded
user would write in an afternoon instead of calling liqcore. Same algorithms, same data, same
default policy (linear contracts, flat 0.5% mmr, full closes through the book, no limit price,
price band 0.9, fee capped at 1.5% of fill notional, no residual allocation, most underwater
first); the benchmark files check their results against liqcore's before timing.

- margin: one fused loop for liquidation and bankruptcy prices (`margin_flat`), and the same
  loop with `prange` (`margin_flat_parallel`, Numba's default thread count); the `*_into`
  variants write into preallocated arrays (the peers of liqcore's `out=`);
- `sweep_many`: a binary search per order on the bid side's prefix sums;
- `liquidate`: detection loop, one argsort of the ordering key, a sequential level-by-level walk
  of the book with the fee and the fund inline;
- `cascade`: liquidation prices computed once, each round one scan for the positions whose
  price the mark has crossed, ordered and walked like `liquidate`, the fund's unfilled inventory
  valued at the band edge, the mark moved to the quantity-weighted mean of each side's deepest
  fill of the round.

Nothing here is imported by liqcore; numba is a bench-only dependency (`pip install .[bench]`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

MMR = 0.005
FEE_CAP = 0.015
BAND = 0.9

# ---- margin math ------------------------------------------------------------------------------


@nb.njit(cache=True, inline="always")
def _lp_bp(qi, epi, mi, mmr):
    """Liquidation price (flat mmr) and bankruptcy price of one linear position."""
    if qi == 0.0:
        return np.nan, np.nan
    return max((mi - qi * epi) / (abs(qi) * mmr - qi), 0.0), max(epi - mi / qi, 0.0)


@nb.njit(cache=True)
def margin_flat_into(q, ep, m, mmr, lp, bp):
    """Both prices of linear positions into preallocated ``lp`` and ``bp``, one pass."""
    for i in range(q.shape[0]):
        lp[i], bp[i] = _lp_bp(q[i], ep[i], m[i], mmr)


@nb.njit(cache=True, parallel=True)
def margin_flat_parallel_into(q, ep, m, mmr, lp, bp):
    for i in nb.prange(q.shape[0]):
        lp[i], bp[i] = _lp_bp(q[i], ep[i], m[i], mmr)


@nb.njit(cache=True)
def margin_flat(q, ep, m, mmr):
    """Liquidation price (flat mmr) and bankruptcy price of linear positions, one pass, into
    fresh arrays."""
    lp = np.empty(q.shape[0])
    bp = np.empty(q.shape[0])
    margin_flat_into(q, ep, m, mmr, lp, bp)
    return lp, bp


@nb.njit(cache=True, parallel=True)
def margin_flat_parallel(q, ep, m, mmr):
    lp = np.empty(q.shape[0])
    bp = np.empty(q.shape[0])
    for i in nb.prange(q.shape[0]):  # here, not through margin_flat_parallel_into: a parallel
        lp[i], bp[i] = _lp_bp(q[i], ep[i], m[i], mmr)  # function needs its own prange
    return lp, bp


# ---- order book -------------------------------------------------------------------------------


@nb.njit(cache=True)
def prefix(px, qty):
    n = px.shape[0]
    cum = np.zeros(n + 1)
    cumn = np.zeros(n + 1)
    for k in range(n):
        cum[k + 1] = cum[k] + qty[k]
        cumn[k + 1] = cumn[k] + qty[k] * px[k]
    return cum, cumn


@nb.njit(cache=True)
def sweep_many(px, cum, cumn, q):
    """What-if market orders of sizes q against one side (prefix sums cum, cumn), each alone:
    filled, notional, vwap, worst price, levels touched, unfilled."""
    n = px.shape[0]
    total = cum[n]
    m = q.shape[0]
    filled = np.empty(m)
    notional = np.empty(m)
    vwap = np.empty(m)
    worst = np.empty(m)
    levels = np.empty(m, np.int64)
    unfilled = np.empty(m)
    for i in range(m):
        qi = q[i]
        if qi >= total:
            f, nt, lv, u = total, cumn[n], n, qi - total
        elif qi > 0.0:
            # first j with cum[j] >= qi (1 <= j <= n)
            lo, hi = 1, n
            while lo < hi:
                mid = (lo + hi) >> 1
                if cum[mid] < qi:
                    lo = mid + 1
                else:
                    hi = mid
            j = lo
            nt = cumn[j] if cum[j] == qi else cumn[j - 1] + (qi - cum[j - 1]) * px[j - 1]
            f, lv, u = qi, j, 0.0
        else:
            f, nt, lv, u = qi, 0.0, 0, 0.0
        filled[i] = f
        notional[i] = nt
        levels[i] = lv
        unfilled[i] = u
        worst[i] = px[lv - 1] if lv > 0 else np.nan
        vwap[i] = nt / f if f > 0.0 else np.nan
    return filled, notional, vwap, worst, levels, unfilled


# ---- liquidation ------------------------------------------------------------------------------


@nb.njit(cache=True)
def _order(idx, key, notional):
    """idx sorted by key descending, ties by larger notional, then lower index."""
    o = np.argsort(-key, kind="mergesort")  # stable: equal keys keep index order
    out = idx[o]
    k = key[o]
    nt = notional[o]
    # fix the (rare) runs of equal keys: larger notional first (insertion sort, stable)
    a = 0
    n = out.shape[0]
    while a < n:
        b = a + 1
        while b < n and k[b] == k[a]:
            b += 1
        for i in range(a + 1, b):
            vi, ni = out[i], nt[i]
            j = i - 1
            while j >= a and nt[j] < ni:
                out[j + 1] = out[j]
                nt[j + 1] = nt[j]
                j -= 1
            out[j + 1] = vi
            nt[j + 1] = ni
        a = b
    return out


@nb.njit(cache=True)
def _walk(px, qty, scale, level, used, want, edge, bid):
    """Walk one side from (level, quantity already used at that level) for `want`, no fill
    beyond the band edge. Returns filled, notional, deepest price, new level, new used."""
    n = px.shape[0]
    notional = 0.0
    last = np.nan
    rem = want
    while rem > 0.0 and level < n:
        p = px[level] * scale
        if (bid and p < edge) or ((not bid) and p > edge):
            break
        avail = qty[level] - used
        take = rem if rem < avail else avail
        notional += take * p
        last = p
        rem -= take
        if take >= avail:
            level += 1
            used = 0.0
        else:
            used += take
    return want - rem, notional, last, level, used


@nb.njit(cache=True)
def liquidate(q, ep, m, bid_px, bid_qty, ask_px, ask_qty, mark, mmr, fee_cap, band, fund):
    """One batch at `mark`: detection, ordering, full closes through the book (longs sell the
    bids, shorts buy the asks) under the price band, capped fee, fund (fee credited, then the
    deficit paid). Returns the per-liquidation results in liquidation order."""
    n = q.shape[0]
    idx = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        qi = q[i]
        if qi != 0.0:
            e = m[i] + qi * (mark - ep[i])
            if e < abs(qi) * mark * mmr:
                idx[k] = i
                k += 1
    idx = idx[:k]
    key = np.empty(k)
    nt = np.empty(k)
    for j in range(k):
        i = idx[j]
        nt[j] = abs(q[i]) * mark
        e = m[i] + q[i] * (mark - ep[i])
        key[j] = (nt[j] * mmr - e) / nt[j]
    order = _order(idx, key, nt)

    closed = np.empty(k)
    vwap = np.empty(k)
    deficit = np.empty(k)
    surplus = np.empty(k)
    fee = np.empty(k)
    draw = np.empty(k)
    shortfall = np.empty(k)
    fallback = 0.0
    b_level, b_used, a_level, a_used = 0, 0.0, 0, 0.0
    bid_edge = max(0.0, mark * (1.0 - band))
    ask_edge = mark * (1.0 + band)
    for j in range(k):
        i = order[j]
        qi = q[i]
        aq = abs(qi)
        s = 1.0 if qi > 0.0 else -1.0
        if qi > 0.0:
            f, fn, _, b_level, b_used = _walk(
                bid_px, bid_qty, 1.0, b_level, b_used, aq, bid_edge, True
            )
        else:
            f, fn, _, a_level, a_used = _walk(
                ask_px, ask_qty, 1.0, a_level, a_used, aq, ask_edge, False
            )
        u = aq - f
        bpx = max(ep[i] - m[i] / qi, 0.0)
        fallback += u
        e = m[i] + qi * (mark - ep[i])
        after = e + s * (fn - mark * f) + s * u * (bpx - mark)
        d = max(-after, 0.0)
        sp = max(after, 0.0)
        fe = min(sp, fee_cap * fn)
        fund += fe
        dr = min(d, fund) if fund > 0.0 else 0.0
        fund -= dr
        closed[j] = aq
        vwap[j] = (fn + u * bpx) / aq
        deficit[j] = d
        surplus[j] = sp
        fee[j] = fe
        draw[j] = dr
        shortfall[j] = d - dr
    return order, closed, vwap, deficit, surplus, fee, draw, shortfall, fund, fallback


# ---- cascade ----------------------------------------------------------------------------------


@nb.njit(cache=True)
def cascade(
    q,
    ep,
    m,
    bid_px,
    bid_qty,
    ask_px,
    ask_qty,
    mark,
    shock,
    mmr,
    fee_cap,
    band,
    fund,
    max_rounds=1000,
):
    """simulate_cascade with the default policy, mark rule "last", no resilience.
    Returns marks (shocked mark, then after each round), rounds, liquidations, total deficit,
    inventory loss (unfilled quantity taken at the bankruptcy price, valued at the band edge),
    unabsorbed quantity, fees, fund after."""
    n = q.shape[0]
    factor = 1.0 + shock
    mark = mark * factor
    # liquidation prices, once (NaN where no positive price liquidates: never crossed)
    lp = np.empty(n)
    for i in range(n):
        qi = q[i]
        aq = abs(qi)
        s = 1.0 if qi > 0.0 else -1.0
        num = aq * ep[i] - s * m[i]
        x = (num if num > 0.0 else 0.0) / (aq * (1.0 - s * mmr))
        lp[i] = x if (qi != 0.0 and x > 0.0 and np.isfinite(x)) else np.nan
    done = np.zeros(n, np.bool_)
    idx = np.empty(n, np.int64)

    marks = [mark]
    b_level, b_used, a_level, a_used = 0, 0.0, 0, 0.0
    rounds = 0
    liquidations = 0
    total_deficit = 0.0
    inv_loss = 0.0
    unabsorbed = 0.0
    fees = 0.0
    for _ in range(max_rounds):
        P = mark
        # detection: one scan for positions not yet liquidated whose LP the mark has crossed
        k = 0
        for i in range(n):
            # non-short-circuit tests: the side of a position is a coin flip for the predictor
            crossed = ((q[i] > 0.0) & (lp[i] > P)) | ((q[i] < 0.0) & (lp[i] < P))
            if crossed and not done[i]:
                done[i] = True
                idx[k] = i
                k += 1
        if k == 0:
            break
        key = np.empty(k)
        nt = np.empty(k)
        for j in range(k):
            i = idx[j]
            nt[j] = abs(q[i]) * P
            e = m[i] + q[i] * (P - ep[i])
            key[j] = (nt[j] * mmr - e) / nt[j]
        order = _order(idx[:k], key, nt)
        bid_edge = max(0.0, P * (1.0 - band))
        ask_edge = P * (1.0 + band)
        bid_q = 0.0
        ask_q = 0.0
        bid_last = np.nan
        ask_last = np.nan
        inv_i = np.empty(k, np.int64)  # inventory lots in liquidation order
        inv_u = np.empty(k)
        n_inv = 0
        for j in range(k):
            i = order[j]
            qi = q[i]
            aq = abs(qi)
            s = 1.0 if qi > 0.0 else -1.0
            if qi > 0.0:
                f, fn, last, b_level, b_used = _walk(
                    bid_px, bid_qty, factor, b_level, b_used, aq, bid_edge, True
                )
                if f > 0.0:
                    bid_q += f
                    bid_last = last
            else:
                f, fn, last, a_level, a_used = _walk(
                    ask_px, ask_qty, factor, a_level, a_used, aq, ask_edge, False
                )
                if f > 0.0:
                    ask_q += f
                    ask_last = last
            u = aq - f
            bpx = max(ep[i] - m[i] / qi, 0.0)
            e = m[i] + qi * (P - ep[i])
            after = e + s * (fn - P * f) + s * u * (bpx - P)
            d = max(-after, 0.0)
            fe = min(max(after, 0.0), fee_cap * fn)
            fund += fe
            fund -= min(d, fund) if fund > 0.0 else 0.0
            fees += fe
            total_deficit += d
            if u > 0.0:
                inv_i[n_inv] = i
                inv_u[n_inv] = u
                n_inv += 1
        # the fund sells its inventory, lot by lot in liquidation order, into what the closes
        # left within the band; the rest is valued at the band edge. Gains first, then losses.
        loss = np.empty(n_inv)
        for j in range(n_inv):
            i = inv_i[j]
            qi = q[i]
            s = 1.0 if qi > 0.0 else -1.0
            bpx = max(ep[i] - m[i] / qi, 0.0)
            if qi > 0.0:
                f, fn, last, b_level, b_used = _walk(
                    bid_px, bid_qty, factor, b_level, b_used, inv_u[j], bid_edge, True
                )
                edge = bid_edge
                if f > 0.0:
                    bid_q += f
                    bid_last = last
            else:
                f, fn, last, a_level, a_used = _walk(
                    ask_px, ask_qty, factor, a_level, a_used, inv_u[j], ask_edge, False
                )
                edge = ask_edge
                if f > 0.0:
                    ask_q += f
                    ask_last = last
            rest = inv_u[j] - f
            unabsorbed += rest
            # bought at bpx, sold for fn (+ rest at the edge): loss = s*(cost - proceeds)
            loss[j] = s * (inv_u[j] * bpx - fn - rest * edge)
        for j in range(n_inv):
            if loss[j] < 0.0:
                fund -= loss[j]
        for j in range(n_inv):
            if loss[j] > 0.0:
                inv_loss += loss[j]
                fund -= min(loss[j], fund) if fund > 0.0 else 0.0
        rounds += 1
        liquidations += k
        if bid_q > 0.0 or ask_q > 0.0:
            if not bid_q > 0.0:
                mark = ask_last
            elif not ask_q > 0.0:
                mark = bid_last
            else:
                mark = (bid_q * bid_last + ask_q * ask_last) / (bid_q + ask_q)
        marks.append(mark)
    return (np.array(marks), rounds, liquidations, total_deficit, inv_loss, unabsorbed, fees, fund)


def warm_up() -> None:
    """Compile every peer once (cache=True keeps them on disk), outside any timing."""
    q = np.array([1.0, -1.0, 0.5])
    ep = np.array([100.0, 100.0, 100.0])
    m = np.array([1.0, 1.0, 50.0])
    px = np.array([99.0, 98.0])
    ax = np.array([101.0, 102.0])
    qty = np.array([1.0, 1.0])
    margin_flat(q, ep, m, MMR)
    margin_flat_parallel(q, ep, m, MMR)
    lp, bp = np.empty(3), np.empty(3)
    margin_flat_into(q, ep, m, MMR, lp, bp)
    margin_flat_parallel_into(q, ep, m, MMR, lp, bp)
    cum, cumn = prefix(px, qty)
    sweep_many(px, cum, cumn, q)
    liquidate(q, ep, m, px, qty, ax, qty, 100.0, MMR, FEE_CAP, BAND, 1e6)
    cascade(q, ep, m, px, qty, ax, qty, 100.0, -0.01, MMR, FEE_CAP, BAND, 0.0)
