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
  price the mark has crossed, ordered and walked like `liquidate`; what the book does
  not take is the fund's inventory, sold first in first out into the book the closes left within
  the band at the round's mark and carried to later rounds, the rest valued at the end at the
  final book's exit price (band edge beyond it); the mark moved to the quantity-weighted mean of
  each side's deepest fill of the round (closes and sales).

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


@nb.njit(cache=True, inline="always")
def _sweep_one(px, cum, cumn, qi, i, filled, notional, vwap, worst, levels, unfilled):
    n = px.shape[0]
    total = cum[n]
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


@nb.njit(cache=True)
def sweep_many(px, cum, cumn, q):
    """What-if market orders of sizes q against one side (prefix sums cum, cumn), each alone:
    filled, notional, vwap, worst price, levels touched, unfilled."""
    m = q.shape[0]
    filled, notional, vwap, worst = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    levels, unfilled = np.empty(m, np.int64), np.empty(m)
    for i in range(m):
        _sweep_one(px, cum, cumn, q[i], i, filled, notional, vwap, worst, levels, unfilled)
    return filled, notional, vwap, worst, levels, unfilled


@nb.njit(cache=True, parallel=True)
def sweep_many_parallel(px, cum, cumn, q):
    """sweep_many with the orders spread over Numba's threads (`prange`)."""
    m = q.shape[0]
    filled, notional, vwap, worst = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    levels, unfilled = np.empty(m, np.int64), np.empty(m)
    for i in nb.prange(m):
        _sweep_one(px, cum, cumn, q[i], i, filled, notional, vwap, worst, levels, unfilled)
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
def _sell_lots(px, qty, scale, level, used, edge, bid, lot_q, lot_bp, lot_tag, head, n_lots,
               piece_tag, piece_loss, n_pieces):  # fmt: skip
    """The fund sells one side's inventory, first in first out, into the book from (level,
    used) within the band edge: one piece (tag, loss against the lot's bankruptcy price) per lot
    it sells from; it stops at the first lot the book cannot take whole, which keeps its rest.
    Returns quantity sold, deepest fill, new level, new used, new head, new piece count."""
    s = 1.0 if bid else -1.0
    sold = 0.0
    last = np.nan
    while head < n_lots:
        want = lot_q[head]
        f, fn, deepest, level, used = _walk(px, qty, scale, level, used, want, edge, bid)
        if f > 0.0:
            piece_tag[n_pieces] = lot_tag[head]
            piece_loss[n_pieces] = s * (f * lot_bp[head] - fn)  # bought at BP, sold for fn
            n_pieces += 1
            sold += f
            last = deepest
        if f < want:
            lot_q[head] = want - f
            break
        head += 1
    return sold, last, level, used, head, n_pieces


@nb.njit(cache=True)
def _value_rest(edge, bid, lot_q, lot_bp, lot_tag, head, n_lots, piece_tag, piece_loss, n_pieces):
    """Values the lots still held at the band edge; a lot partly sold just before (the last
    piece, same tag) nets into that piece. Returns the quantity valued, new piece count."""
    s = 1.0 if bid else -1.0
    rest = 0.0
    for j in range(head, n_lots):
        x = lot_q[j]
        loss = s * x * (lot_bp[j] - edge)
        rest += x
        if n_pieces > 0 and piece_tag[n_pieces - 1] == lot_tag[j]:
            piece_loss[n_pieces - 1] += loss
        else:
            piece_tag[n_pieces] = lot_tag[j]
            piece_loss[n_pieces] = loss
            n_pieces += 1
    return rest, n_pieces


@nb.njit(cache=True)
def _settle(piece_tag, piece_loss, n_long, n_pieces, fund):
    """The fund settles the pieces (longs' in [0, n_long), shorts' after, each in tag order):
    every gain credited first, then the losses paid in liquidation order (tag order across both
    sides). Returns the fund and the sum of the losses."""
    for j in range(n_pieces):
        if piece_loss[j] < 0.0:
            fund -= piece_loss[j]
    total = 0.0
    a, b = 0, n_long
    while a < n_long or b < n_pieces:
        if b >= n_pieces or (a < n_long and piece_tag[a] < piece_tag[b]):
            x = piece_loss[a]
            a += 1
        else:
            x = piece_loss[b]
            b += 1
        if x > 0.0:
            total += x
            fund -= min(x, fund) if fund > 0.0 else 0.0
    return fund, total


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
    inventory loss, unabsorbed quantity (valued at the band edge at the end), fees, fund after.

    docs/model.md §4: each round liquidates the positions whose liquidation price the mark has
    crossed, then the fund sells all the inventory it holds (earlier rounds' lots first) into the
    book the closes left, within the band around the round's mark; what the book cannot take is
    carried to the next round (the band moves with the mark). A round happens when it liquidates
    something or sells some inventory. At the end, what the fund still holds is valued at the
    exit price of the final book (a walk that does not consume it) within the band around the
    final mark, the rest at the band edge."""
    n = q.shape[0]
    factor = 1.0 + shock
    mark = mark * factor
    # liquidation prices, once (NaN where no positive price liquidates: never crossed)
    lp = np.empty(n)
    n_long = 0
    for i in range(n):
        qi = q[i]
        aq = abs(qi)
        s = 1.0 if qi > 0.0 else -1.0
        num = aq * ep[i] - s * m[i]
        x = (num if num > 0.0 else 0.0) / (aq * (1.0 - s * mmr))
        lp[i] = x if (qi != 0.0 and x > 0.0 and np.isfinite(x)) else np.nan
        if qi > 0.0:
            n_long += 1
    n_short = n - n_long  # lot capacity per side
    done = np.zeros(n, np.bool_)

    # the fund's inventory per side, first in first out: quantity left, bankruptcy price, tag
    # (the liquidation's number: losses are paid in liquidation order)
    lq_q = np.empty(n_long)
    lq_bp = np.empty(n_long)
    lq_tag = np.empty(n_long, np.int64)
    sq_q = np.empty(n_short)
    sq_bp = np.empty(n_short)
    sq_tag = np.empty(n_short, np.int64)
    l_head, l_n, s_head, s_n = 0, 0, 0, 0
    piece_tag = np.empty(n_long + n_short + 1, np.int64)
    piece_loss = np.empty(n_long + n_short + 1)

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
        if k == 0 and l_head == l_n and s_head == s_n:
            break  # nothing to liquidate, no inventory to sell
        hit = idx[:k]
        key = np.empty(k)
        nt = np.empty(k)
        for j in range(k):
            i = hit[j]
            nt[j] = abs(q[i]) * P
            e = m[i] + q[i] * (P - ep[i])
            key[j] = (nt[j] * mmr - e) / nt[j]
        order = _order(hit, key, nt)
        bid_edge = max(0.0, P * (1.0 - band))
        ask_edge = P * (1.0 + band)
        bid_q = 0.0
        ask_q = 0.0
        bid_last = np.nan
        ask_last = np.nan
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
            if u > 0.0:  # the fund takes the rest over at the bankruptcy price
                if qi > 0.0:
                    lq_q[l_n], lq_bp[l_n], lq_tag[l_n] = u, bpx, liquidations + j
                    l_n += 1
                else:
                    sq_q[s_n], sq_bp[s_n], sq_tag[s_n] = u, bpx, liquidations + j
                    s_n += 1
        # the fund sells all it holds into the book the closes left, within the band at P
        n_pieces = 0
        sold = 0.0
        if l_head < l_n:
            x, last, b_level, b_used, l_head, n_pieces = _sell_lots(
                bid_px, bid_qty, factor, b_level, b_used, bid_edge, True,
                lq_q, lq_bp, lq_tag, l_head, l_n, piece_tag, piece_loss, n_pieces,
            )  # fmt: skip
            if x > 0.0:
                bid_q += x
                bid_last = last
                sold += x
        n_long_pieces = n_pieces
        if s_head < s_n:
            x, last, a_level, a_used, s_head, n_pieces = _sell_lots(
                ask_px, ask_qty, factor, a_level, a_used, ask_edge, False,
                sq_q, sq_bp, sq_tag, s_head, s_n, piece_tag, piece_loss, n_pieces,
            )  # fmt: skip
            if x > 0.0:
                ask_q += x
                ask_last = last
                sold += x
        if k == 0 and sold == 0.0:
            break  # inventory held, but the book takes none of it: converged
        fund, loss = _settle(piece_tag, piece_loss, n_long_pieces, n_pieces, fund)
        inv_loss += loss
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

    # the end: what the fund still holds is valued at the final book's exit price (a walk on
    # copies of the cursors), within the band around the final mark, the rest at the band edge
    if l_head < l_n or s_head < s_n:
        P = mark
        bid_edge = max(0.0, P * (1.0 - band))
        ask_edge = P * (1.0 + band)
        n_pieces = 0
        if l_head < l_n:
            _, _, _, _, l_head, n_pieces = _sell_lots(
                bid_px, bid_qty, factor, b_level, b_used, bid_edge, True,
                lq_q, lq_bp, lq_tag, l_head, l_n, piece_tag, piece_loss, n_pieces,
            )  # fmt: skip
            rest, n_pieces = _value_rest(
                bid_edge, True, lq_q, lq_bp, lq_tag, l_head, l_n, piece_tag, piece_loss, n_pieces
            )
            unabsorbed += rest
        n_long_pieces = n_pieces
        if s_head < s_n:
            _, _, _, _, s_head, n_pieces = _sell_lots(
                ask_px, ask_qty, factor, a_level, a_used, ask_edge, False,
                sq_q, sq_bp, sq_tag, s_head, s_n, piece_tag, piece_loss, n_pieces,
            )  # fmt: skip
            rest, n_pieces = _value_rest(
                ask_edge, False, sq_q, sq_bp, sq_tag, s_head, s_n, piece_tag, piece_loss, n_pieces
            )
            unabsorbed += rest
        fund, loss = _settle(piece_tag, piece_loss, n_long_pieces, n_pieces, fund)
        inv_loss += loss
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
    sweep_many_parallel(px, cum, cumn, q)
    liquidate(q, ep, m, px, qty, ax, qty, 100.0, MMR, FEE_CAP, BAND, 1e6)
    cascade(q, ep, m, px, qty, ax, qty, 100.0, -0.01, MMR, FEE_CAP, BAND, 0.0)
