// Liquidation cascades (docs/model.md §4): liquidations move the price, the new price liquidates more.
//
// One cascade, at a mark P and a book, after an exogenous relative move `shock`:
//   round 0  the market moves: P ← P·(1 + shock) and every book price is multiplied by the same
//            factor (the book keeps its shape relative to the mark; multiplicative shift);
//   round k  the positions not yet liquidated that are liquidatable at P (long: P < LP, short:
//            P > LP, LP the liquidation price of margin.hpp, exact per tier) are liquidated, in the
//            policy's order, by liquidate_position (liquidation.hpp): book walk or takeover,
//            fallback, fee, insurance fund, ledger; then the residual allocation of the round
//            (waterfall.hpp). The fund and the book carry over from round to round.
//            The fund sells the round's inventory into the book left by the closes, within the
//            price band; the rest is valued at the band edge (docs/model.md §3).
//            Then the mark follows the trades, whatever their order: MarkRule::last sets P to the
//            quantity-weighted mean of each side's deepest fill (BookFlow), MarkRule::mid to the mid of the book left after
//            the round, the index-anchored rules (mark_rule.hpp) to their formula of the index
//            (the exogenous path: the shocked mark) and that price; a round without book fills
//            (takeovers, fallbacks) leaves P unchanged.
//            Then the book recovers: every level's quantity q becomes q + r·(q0 − q), with q0
//            its quantity before any liquidation and r = resilience in [0, 1] (a fraction r of
//            the depth still missing returns; r = 0: none, r = 1: the whole book).
// until a round finds nothing to liquidate, or max_rounds rounds have run.
// Rate limits (docs/model.md §4, "Rate limits"): a round takes the ordered liquidatable
// positions while it holds at most pol.max_orders of them and pol.max_notional notional at its
// mark (the first always goes); the rest wait: they stay open, watched by the heap below, and
// the next round detects them again if they are still liquidatable at its mark, so a round
// that leaves positions waiting is followed by another even if the mark did not move.
//
// Cost: positions are indexed by liquidation price (CascadeIndex: longs descending, shorts
// ascending, in buckets of nearby prices), so detection is a cursor moving through each side's
// buckets: a round costs what it liquidates, the one bucket the mark stops in, and the levels it
// walks (plus the levels to restore when resilience > 0), not the whole population. A stress
// test sorts every position once for all its scenarios; a single cascade indexes only the
// positions whose LP lies within 1/64 of the shocked mark (one vectorized pass over the
// positions) and makes another pass with a wider window whenever the mark runs past them (at
// least 4-fold, and 4 times the mark's run past the old one: extend_index).
// Positions that change without closing (a partial close or a slice, ADL on a counterparty) get
// a new liquidation price and move to a heap that detection also watches; so do the positions
// a rate limit leaves waiting, re-detected (and re-ordered) every round they wait. The engine's
// per-position state is allocated zeroed by the OS (pages mapped as touched) and records
// results per liquidated position, so memory touched also follows what the cascade does.
//
// Counterparties hit by the residual allocation (ADL, socialization): money taken from a
// position (its charge) lowers its equity at the mark. Its margin becomes the equity left minus the PnL of the rest at the mark,
// so it may be liquidated in a later round. This costs a pass over all positions in a round that
// allocates a residual (residual rule other than "none").
//
// The engine's state is private to one thread; `reset` returns it to the inputs in time
// proportional to what the last run touched, so a stress test reuses one engine per thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "liqcore/book.hpp"
#include "liqcore/error.hpp"
#include "liqcore/liquidation.hpp"
#include "liqcore/margin.hpp"
#include "liqcore/mark_rule.hpp"
#include "liqcore/memory.hpp"
#include "liqcore/parallel.hpp"
#include "liqcore/waterfall.hpp"

namespace liqcore {

struct CascadeParams {
  double resilience = 0.0;  // in [0, 1]
  MarkRule mark_rule = MarkRule::last;
  MarkParams mark;  // the rule's parameters (mark_rule.hpp)
  std::int64_t max_rounds = 1000;
};

// Checks a cascade's parameters and the fund it starts with: the checks simulate_cascade,
// StressPlan and the multi-market cascade (contagion.hpp) share, in this order.
inline void check_cascade_params(const CascadeParams& prm, double fund) {
  if (!(std::isfinite(fund) && fund >= 0.0))
    throw InvalidArgument("insurance_fund", -1, "must be finite and >= 0 " + describe(fund));
  if (!(prm.resilience >= 0.0 && prm.resilience <= 1.0))
    throw InvalidArgument("resilience", -1, "must be in [0, 1] " + describe(prm.resilience));
  if (prm.max_rounds < 0) throw InvalidArgument("max_rounds", -1, "must be >= 0");
  check_mark_rule(prm.mark_rule, prm.mark);
}

namespace detail {

// A zero-filled array whose pages the OS maps on first touch (a large block is fresh zero
// pages, in huge pages: memory.hpp): per-position state of n entries costs only the pages a run
// touches. T: a type whose all-zero bits are its zero value (integers, double).
template <class T>
class ZeroedArray {
 public:
  ZeroedArray() = default;
  explicit ZeroedArray(std::size_t n) : p_(static_cast<T*>(zeroed_alloc(n * sizeof(T)))), n_(n) {}
  ZeroedArray(ZeroedArray&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  ZeroedArray& operator=(ZeroedArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;
  ~ZeroedArray() {
    if (p_) zeroed_free(p_, n_ * sizeof(T));
  }

  T& operator[](std::size_t i) noexcept { return p_[i]; }
  const T& operator[](std::size_t i) const noexcept { return p_[i]; }
  bool empty() const noexcept { return n_ == 0; }
  std::span<T> span() noexcept { return {p_, n_}; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// One block of CascadeIndex::collect's pass: checks every position's values and sets
// side[j] = pre(q[j], ep[j], m[j]) (1 long kept, -1 short kept, 0 neither); returns 1.0 when a
// value is bad. A loop the compiler vectorizes; compiled for the baseline and for AVX2 (the same
// IEEE operations: bit-identical, margin.hpp "instruction-set dispatch"), chosen per call.
template <class Pre>
inline double screen_block(const double* __restrict q, const double* __restrict ep, const double* __restrict m,
                           std::size_t len, const Pre& pre, double* __restrict side) {
  double bad = 0.0;
  for (std::size_t j = 0; j < len; ++j) {
    bad = flag(bad, ok(Rule::finite, q[j]) & ok(Rule::positive, ep[j]) & ok(Rule::nonnegative, m[j]));
    side[j] = pre(q[j], ep[j], m[j]);
  }
  return bad;
}
template <class Pre>
LIQCORE_FLATTEN double screen_block_baseline(const double* q, const double* ep, const double* m, std::size_t len,
                                             const Pre& pre, double* side) {
  return screen_block(q, ep, m, len, pre, side);
}
#if LIQCORE_ISA_DISPATCH
template <class Pre>
__attribute__((flatten, target("avx2"))) double screen_block_avx2(const double* q, const double* ep, const double* m,
                                                                  std::size_t len, const Pre& pre, double* side) {
  return screen_block(q, ep, m, len, pre, side);
}
#endif

}  // namespace detail

// Positions by liquidation price, per side, in buckets of nearby LPs: longs by LP descending,
// shorts by LP ascending, from bucket to bucket (within a bucket in any order); longs never
// liquidated at a positive price (LP 0) and shorts never liquidated (LP inf) left out. It holds
// every long with LP > long_floor and every short with LP < short_ceiling. A complete index (the
// constructor) has long_floor 0, short_ceiling inf, and is sorted (ties: index; each entry its
// own bucket); a
// partial one (partial()) holds a window around a mark and grows (extend()) when the mark leaves
// it, so a single cascade looks only at the positions its marks come near.
struct CascadeIndex {
  struct Entry {
    double lp;        // liquidation price
    double q, ep, m;  // the position's size, entry price and margin (read in sequence by detection)
    std::uint32_t i;  // its index
  };
  struct Side {
    ScratchVector<Entry> at;
    std::vector<std::size_t> bucket_end;  // ends of the (non-empty) buckets in `at`, ascending
    bool descending = false;              // longs
    bool sorted = false;                  // `at` in order: every entry is a bucket (bucket_end unused)

    std::size_t buckets() const noexcept { return sorted ? at.size() : bucket_end.size(); }
    std::size_t bucket_begin(std::size_t b) const noexcept { return sorted ? b : (b == 0 ? 0 : bucket_end[b - 1]); }
    std::size_t bucket_stop(std::size_t b) const noexcept { return sorted ? b + 1 : bucket_end[b]; }
  };
  Side longs, shorts;
  double long_floor = std::numeric_limits<double>::infinity();
  double short_ceiling = 0.0;

  CascadeIndex() { longs.descending = true; }

  // Validates the positions (size finite, entry price finite > 0, margin finite >= 0) and
  // sorts all of them (longs by LP descending, shorts ascending, ties by index).
  CascadeIndex(const PositionColumns& pos, const LiquidationPolicy& pol) : CascadeIndex() {
    collect(pos, pol, 0.0, std::numeric_limits<double>::infinity(), true, false);
    for (Side* side : {&longs, &shorts}) {
      // A stable radix sort of the LP bits (complemented for longs) keeps ties in index order.
      detail::SortList items(side->at.size()), tmp;
      for (std::size_t k = 0; k < items.size(); ++k)
        items[k] = {side->descending ? ~bits(side->at[k].lp) : bits(side->at[k].lp), k};
      detail::radix_sort(items, tmp);
      ScratchVector<Entry> sorted(items.size());
      for (std::size_t k = 0; k < items.size(); ++k) sorted[k] = side->at[items[k].k];
      side->at.swap(sorted);
      side->sorted = true;
    }
  }

  // Validates the positions and holds those whose LP lies within a relative distance
  // `window` of `mark`.
  static CascadeIndex partial(const PositionColumns& pos, const LiquidationPolicy& pol, double mark, double window) {
    CascadeIndex idx;
    idx.collect(pos, pol, mark * (1.0 - window), mark * (1.0 + window), true);
    return idx;
  }

  // Lowers long_floor to `floor` and raises short_ceiling to `ceiling`: one pass over the
  // positions; the new entries (all beyond the old ones) are appended in new buckets.
  void extend(const PositionColumns& pos, const LiquidationPolicy& pol, double floor, double ceiling) {
    collect(pos, pol, std::min(floor, long_floor), std::max(ceiling, short_ceiling), false);
  }

 private:
  static std::uint64_t bits(double x) noexcept {
    std::uint64_t b;
    std::memcpy(&b, &x, sizeof b);
    return b;
  }

  // Entries a pass keeps for one side, with the least and greatest bits of their LPs.
  struct Kept {
    ScratchVector<Entry> at;
    std::uint64_t lo = std::numeric_limits<std::uint64_t>::max(), hi = 0;
    void add(const Entry& e) {
      at.push_back(e);
      lo = std::min(lo, bits(e.lp));
      hi = std::max(hi, bits(e.lp));
    }
  };

  // Appends the entries (part.*kept).at of every part of `parts` (in part order: the new entries
  // in index order) to `side` in new buckets: a stable counting sort on the high bits of the LP
  // (the bits of a positive double order like the double), about 32 entries per bucket. Each
  // part is counted and scattered on a core of its own (parallel.hpp) into the places
  // the counts give it: part p's entries of a bucket after those of parts < p, so the index is
  // the same, entry for entry, whatever the thread count.
  template <class Parts, class Member>
  static void bucket(Side& side, const Parts& parts, Member kept) {
    std::size_t n = 0;
    std::uint64_t lo = std::numeric_limits<std::uint64_t>::max(), hi = 0;
    for (const auto& part : parts) {
      n += (part.*kept).at.size();
      lo = std::min(lo, (part.*kept).lo);
      hi = std::max(hi, (part.*kept).hi);
    }
    if (n == 0) return;
    std::size_t buckets = 1;
    while (buckets < (std::size_t{1} << 12) && buckets * 32 < n) buckets *= 2;
    int shift = 0;
    while (((hi - lo) >> shift) >= buckets) ++shift;
    const bool desc = side.descending;
    auto key = [&](const Entry& e) {
      return static_cast<std::size_t>((desc ? hi - bits(e.lp) : bits(e.lp) - lo) >> shift);
    };
    const std::size_t np = parts.size();
    // next[p·buckets + b]: the count of part p's entries in bucket b, then where the next goes
    std::vector<std::size_t> next(np * buckets, 0);
    const std::size_t cores = resolve_threads(n, 0);  // by the entries to move, not the parts
    const auto each_part = [&](auto&& f) {
      parallel_for_chunks(np, cores, 1, [&](std::size_t b, std::size_t e) {
        for (std::size_t p = b; p < e; ++p) f((parts[p].*kept).at, next.data() + p * buckets);
      });
    };
    each_part([&](const ScratchVector<Entry>& list, std::size_t* count) {
      for (const Entry& e : list) ++count[key(e)];
    });
    std::size_t at = side.at.size();
    for (std::size_t b = 0; b < buckets; ++b) {
      const std::size_t first = at;
      for (std::size_t p = 0; p < np; ++p) at += std::exchange(next[p * buckets + b], at);
      if (at > first) side.bucket_end.push_back(at);
    }
    side.at.resize(at);
    Entry* a = side.at.data();
    each_part([&](const ScratchVector<Entry>& list, std::size_t* place) {
      for (const Entry& e : list) a[place[key(e)]++] = e;
    });
  }

  void collect(const PositionColumns& pos, const LiquidationPolicy& pol, double floor, double ceiling, bool validate,
               bool buckets = true) {
    const std::size_t n = pos.size.size();
    if (validate) {
      if (pos.entry_price.size() != n || pos.margin.size() != n)
        throw InvalidArgument("positions", -1, "columns must have the same length");
      if (n >= std::numeric_limits<std::uint32_t>::max())
        throw InvalidArgument("positions", -1, "must hold fewer than 2^32 - 1 positions");
    }
    // New longs: floor < LP <= long_floor; new shorts: short_ceiling <= LP < ceiling. A long's
    // LP of +inf and a short's of 0 are "liquidatable at every price" (mmr = 1, docs/model.md
    // §1): the first collect keeps them (long_floor starts at +inf, short_ceiling at 0), and
    // the mark is always below +inf and above 0. A block at a time: the LPs and the value
    // checks in a loop the compiler vectorizes, then the (few) positions kept. On every core
    // (fixed chunks, parallel.hpp): each chunk appends to lists of its own, joined (bucket())
    // in chunk order after it, so the index is the same, entry for entry, whatever the thread
    // count.
    constexpr std::size_t kBlock = 256;
    constexpr std::size_t kMinChunk = kParallelMinAuto;
    const double long_lo = std::max(floor, 0.0), long_hi = long_floor;
    const double short_lo = short_ceiling;
    const double short_hi = ceiling;
    struct Part {
      Kept longs, shorts;
    };
    const std::size_t step = chunk_step(n, resolve_threads(n, 0), kMinChunk);
    std::vector<Part> parts(n == 0 ? 1 : (n + step - 1) / step);
    // pre(q, ep, m): 1 for a long that may be kept, -1 a short, 0 neither (a superset of what
    // is kept, without a division where it can); then lp_of(q, ep, m) and the exact test.
    [[maybe_unused]] const bool avx2 = detail::use_avx2();  // once per pass
    auto scan = [&](auto pre, auto lp_of) {
      return parallel_any(n, 0, kMinChunk, [&](std::size_t begin, std::size_t end) {
        Part& part = parts[begin / step];
        double side[kBlock];
        alignas(8) std::uint8_t keep[kBlock];  // 1: side[j] != 0
        double bad = 0.0;
        for (std::size_t i0 = begin; i0 < end; i0 += kBlock) {
          const std::size_t len = std::min(kBlock, end - i0);
          const double* q = pos.size.data() + i0;
          const double* ep = pos.entry_price.data() + i0;
          const double* m = pos.margin.data() + i0;
#if LIQCORE_ISA_DISPATCH
          const double blk_bad = avx2 ? detail::screen_block_avx2(q, ep, m, len, pre, side)
                                      : detail::screen_block_baseline(q, ep, m, len, pre, side);
#else
          const double blk_bad = detail::screen_block_baseline(q, ep, m, len, pre, side);
#endif
          bad = std::max(bad, blk_bad);
          for (std::size_t j = 0; j < len; ++j) keep[j] = static_cast<std::uint8_t>(side[j] * side[j]);
          const auto take = [&](std::size_t j) {
            const double p = lp_of(q[j], ep[j], m[j]);
            if (!(side[j] > 0.0 ? (p > long_lo) & (p <= long_hi) : (p >= short_lo) & (p < short_hi))) return;
            (side[j] > 0.0 ? part.longs : part.shorts).add({p, q[j], ep[j], m[j], static_cast<std::uint32_t>(i0 + j)});
          };
          // The kept positions (a few per block), eight flags at a time: a word of zeros skipped
          // at once, the lowest set byte of the others taken in index order.
          std::size_t j0 = 0;
          for (; j0 + 8 <= len; j0 += 8) {
            std::uint64_t word;
            std::memcpy(&word, keep + j0, sizeof word);
            for (; word != 0; word &= word - 1) take(j0 + static_cast<std::size_t>(std::countr_zero(word)) / 8);
          }
          for (; j0 < len; ++j0)
            if (keep[j0]) take(j0);
        }
        return bad != 0.0;
      });
    };
    bool bad;
    if (pol.tiers.size() == 1 && pol.tiers.cum[0] == 0.0 && pol.contract.kind == Contract::linear) {
      // The common case: LP = max(num, 0) / den, num = |q|·EP − s·M, den = |q|(1 − s·mmr), which
      // detail::lp_linear computes as max(EP − s·M/|q|, 0)/(1 − s·mmr) (the same value up to a
      // few ulps; the kept positions get lp_linear's bits, as liquidation_price; q = 0 gives
      // NaN, never kept). LP > lo implies max(num, 0) > lo·den·(1 − 1e-12), LP <= hi implies
      // max(num, 0) <= hi·den·(1 + 1e-12) (and likewise for >= and <) whatever the rounding, so
      // most positions are passed over without a division: those outside the pass's range, and
      // (an extension) those already held, within the old one. A long's upper bound is +inf in
      // the first pass (hi·den may be NaN there, at den = 0: no bound then).
      const double rate = pol.tiers.mmr[0];
      const double lo_l = long_lo * (1.0 - 1e-12), hi_s = short_hi * (1.0 + 1e-12);
      const double hi_l = long_hi * (1.0 + 1e-12), lo_s = short_lo * (1.0 - 1e-12);
      const bool long_capped = std::isfinite(long_hi);
      bad = scan(
          [&](double q, double ep, double m) {
            const double sg = std::copysign(1.0, q);
            const double aq = std::abs(q);
            const double num = aq * ep - sg * m;
            const double den = aq * (1.0 - sg * rate);
            const double pos_num = num > 0.0 ? num : 0.0;
            const bool below_hi = (pos_num <= hi_l * den) | !long_capped;
            const double l = (q > 0.0) & (pos_num > lo_l * den) & below_hi ? 1.0 : 0.0;
            const double s = (q < 0.0) & (pos_num < hi_s * den) & (pos_num >= lo_s * den) ? 1.0 : 0.0;
            return l - s;
          },
          [&](double q, double ep, double m) { return detail::lp_linear(q, ep, m, rate, 0.0); });
    } else {
      const auto lp_of = [&](double q, double ep, double m) {
        return liquidation_price(pol.contract, pol.tiers, q, ep, m, false);
      };
      bad = scan(
          [&](double q, double ep, double m) {
            const double p = lp_of(q, ep, m);
            const double l = (q > 0.0) & (p > long_lo) & (p <= long_hi) ? 1.0 : 0.0;
            const double s = (q < 0.0) & (p >= short_lo) & (p < short_hi) ? 1.0 : 0.0;
            return l - s;
          },
          lp_of);
    }
    if (validate && bad) report_bad_position(pos);
    if (buckets) {
      bucket(longs, parts, &Part::longs);
      bucket(shorts, parts, &Part::shorts);
    } else {  // the complete index, sorted after: the parts in chunk order
      for (const Part& part : parts) {
        longs.at.insert(longs.at.end(), part.longs.at.begin(), part.longs.at.end());
        shorts.at.insert(shorts.at.end(), part.shorts.at.begin(), part.shorts.at.end());
      }
    }
    long_floor = floor;
    short_ceiling = ceiling;
  }
};

// The positions stored in liquidation-price order (longs by LP descending, then shorts by LP
// ascending, then the rest), so that the liquidations of a round touch neighbouring memory.
// rank[k] is the input index of stored position k; the engine breaks ties by it, so results
// are those of the input order (up to the summation order of residual allocations).
struct SortedPositions {
  std::vector<double> size, entry_price, margin;
  std::vector<std::uint32_t> rank;
  PositionColumns cols;
  CascadeIndex index;  // over cols: longs are 0, 1, ..., shorts follow

  SortedPositions(const PositionColumns& pos, const LiquidationPolicy& pol) : index(pos, pol) {
    const std::size_t n = pos.size.size();
    rank.reserve(n);
    std::uint32_t k = 0;
    for (CascadeIndex::Side* side : {&index.longs, &index.shorts})
      for (CascadeIndex::Entry& e : side->at) {
        rank.push_back(e.i);
        e.i = k++;
      }
    std::vector<std::uint8_t> placed(n, 0);
    for (const std::uint32_t i : rank) placed[i] = 1;
    for (std::size_t i = 0; i < n; ++i)
      if (!placed[i]) rank.push_back(static_cast<std::uint32_t>(i));
    size.resize(n);
    entry_price.resize(n);
    margin.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      size[j] = pos.size[rank[j]];
      entry_price[j] = pos.entry_price[rank[j]];
      margin[j] = pos.margin[rank[j]];
    }
    cols = PositionColumns{size, entry_price, margin};
  }
  SortedPositions(const SortedPositions&) = delete;
  SortedPositions& operator=(const SortedPositions&) = delete;
};

// What one round did.
struct RoundTrace {
  double mark_before = 0.0, mark_after = 0.0;
  std::int64_t liquidated = 0;
  double notional = 0.0;  // closed notional at the round's mark
  double deficit = 0.0;   // traders' deficits
  double inventory_loss = 0.0;  // losses of the fund's inventory (sold, or valued at the band edge)
  double unabsorbed = 0.0;      // inventory quantity the fund still holds after the round (carried, not valued)
  double bad_debt = 0.0;        // deficit + inventory_loss
  double fees = 0.0;
  double draw = 0.0;      // paid by the fund
  double residual = 0.0;  // what the fund could not pay
  double adl_transfers = 0.0;
  double fund_after = 0.0;
  std::int64_t waited = 0;      // liquidatable positions the rate limits left for the next round
  double waited_notional = 0.0;  // their notional at the round's mark
};

// What a round's rate limits (docs/model.md §4, "Rate limits") left for the next round: open
// positions (of the single-market cascade's positions, or of the accounts cascade's accounts)
// and their notional at the round's marks.
struct RoundWaiting {
  std::int64_t count = 0;
  double notional = 0.0;
};

// Totals over every round since the last reset.
struct CascadeTotals {
  std::int64_t liquidations = 0;  // liquidation events (a position closed in slices counts each)
  std::int64_t rounds = 0;        // rounds that liquidated something or sold inventory
  std::int64_t waited = 0;        // Σ over rounds of RoundTrace::waited (a position per round it waits)
  double waited_notional = 0.0;   // Σ over rounds of RoundTrace::waited_notional
  CompensatedSum notional, deficit, surplus, fees, inventory_loss, inventory_gain, unabsorbed, draw, residual,
      adl_transfers;
  // Funding (settle_funding): paid by the paying side; paid with no open receiver (left the
  // population).
  CompensatedSum funding_paid, funding_unmatched;
  // Σ deficits + Σ inventory losses = draw + adl_transfers + uncovered (docs/model.md).
  double bad_debt() const noexcept { return deficit.value() + inventory_loss.value(); }

  // A round's wait: into its trace (RoundTrace, ContagionRound) and these totals.
  template <class Round>
  void add_waited(Round& tr, const RoundWaiting& w) noexcept {
    tr.waited = w.count;
    tr.waited_notional = w.notional;
    waited += w.count;
    waited_notional += w.notional;
  }
};

// Results of a single cascade per liquidated position (not kept by stress tests): entry k
// describes position[k] (input index), over all its liquidations; positions in the order of
// their first liquidation. adl, adl_closed: per position (length n) when the residual rule
// allocates to counterparties, else empty.
struct CascadeLiquidations {
  ScratchVector<std::int64_t> position;
  ScratchVector<std::int64_t> round;  // first round the position was liquidated in
  ScratchVector<double> closed, vwap, deficit, surplus, fee, draw, shortfall, inventory_loss;
  std::span<double> adl;

  // Every column resized to `rows` (rows beyond the old size not initialized: a round sizes
  // them for its liquidations, writes the new ones, and cuts them back to those).
  void resize(std::size_t rows) {
    each_column([rows](auto& v) { v.resize(rows); });
  }
  // resize() for a round's new rows. Columns that must grow get room for twice the rows asked
  // (std::vector's growth doubles the rows held before, not the rows asked): a cascade whose
  // rounds grow (a −5% crash over 9e5 positions: 40k, 218k, then 153k rows) otherwise moves
  // every row written so far once more, in the round after the big one (258k rows of 10 columns
  // there). At most half the room is unused, as with the doubling.
  void grow(std::size_t rows) {
    if (rows > position.capacity()) each_column([rows](auto& v) { v.reserve(2 * rows); });
    resize(rows);
  }

 private:
  template <class F>
  void each_column(F&& f) {
    f(position);
    f(round);
    for (auto* v : {&closed, &vwap, &deficit, &surplus, &fee, &draw, &shortfall, &inventory_loss}) f(*v);
  }
};

class CascadeEngine {
 public:
  // `book` is the book at the initial mark; prices shift with the mark (scale), quantities are
  // this engine's copy. Keeps references to pos, index, book and pol: they must outlive it.
  // `rank`: empty, or the input index of each position when the columns hold them permuted
  // (ties in the liquidation order go to the lower input index).
  // `grow`: null, or `index` itself when it is partial (CascadeIndex::partial): detection then
  // extends it when the mark leaves it.
  CascadeEngine(const PositionColumns& pos, const CascadeIndex& index, const Book& book, const LiquidationPolicy& pol,
                const CascadeParams& prm, std::span<const std::uint32_t> rank = {}, CascadeIndex* grow = nullptr)
      : pos_(pos), idx_(index), grow_(grow), base_(book), pol_(pol), prm_(prm), rank_(rank), book_(book),
        mark_tr_(prm.mark_rule, prm.mark), fund_(0.0, pol.reserve), dense_(pol.residual != ResidualRule::none),
        status_(pos.size.size()) {
    if (dense_) {  // the counterparties read every position's size and margin
      allocate_moved();
      std::copy(pos.size.begin(), pos.size.end(), size_.span().begin());
      std::copy(pos.margin.begin(), pos.margin.end(), margin_.span().begin());
      adl_charge_.assign(pos.size.size(), 0.0);
    }
  }

  // Starts a new run at `mark` with the fund at `fund`: positions, book and totals as given.
  void reset(double mark, double fund) {
    for (const std::uint32_t i : touched_) {
      if (dense_) {
        size_[i] = pos_.size[i];
        margin_[i] = pos_.margin[i];
      }
      status_[i] = kOpen;
      if (!version_.empty()) version_[i] = 0;
      if (!loss_.empty()) loss_[i] = 0.0;
      if (!slot_.empty()) slot_[i] = 0;
    }
    touched_.clear();
    long_heap_.clear();
    short_heap_.clear();
    next_long_ = next_short_ = 0;
    restore_side(book_.bids_mut(), base_.bids(), bid_);
    restore_side(book_.asks_mut(), base_.asks(), ask_);
    scale_ = 1.0;
    mark_ = mark;
    mark_tr_.reset(mark);
    fund_ = InsuranceFund(fund, pol_.reserve);
    held_long_.clear();
    held_short_.clear();
    lots_.clear();
    end_ = EndValuation{};
    ledger_.clear();
    tot_ = CascadeTotals{};
    out_ = nullptr;
  }

  // Records the per-position results of the next run into `out` (empty; adl, adl_closed zero).
  void record(CascadeLiquidations* out) {
    out_ = out;
    out_rows_ = out ? out->position.size() : 0;
    const bool again = pol_.sizing != Sizing::full || pol_.residual != ResidualRule::none;
    if (out && again && slot_.empty()) slot_ = detail::ZeroedArray<std::uint32_t>(pos_.size.size());
  }

  // An exogenous move: every book price and the index are multiplied by `factor` (> 0), and the
  // mark follows its rule (mark_rule.hpp; "last", "mid": multiplied by `factor` too).
  void shift(double factor) noexcept {
    scale_ *= factor;
    const bool quotes = mark_tr_.anchored();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    mark_tr_.shift(factor, quotes ? best(book_.bids(), bid_) : nan, quotes ? best(book_.asks(), ask_) : nan);
    mark_ = mark_tr_.mark();
  }

  // Runs rounds until nothing new is liquidatable or max_rounds; calls on_round(trace) after
  // each round that liquidated. Returns true when it stopped because nothing triggered.
  template <class OnRound>
  bool run(OnRound&& on_round) {
    for (std::int64_t k = 0; k < prm_.max_rounds; ++k) {
      RoundTrace tr;
      if (!round(tr)) return true;
      on_round(tr);
    }
    return !any_liquidatable();
  }
  bool run() {
    return run([](const RoundTrace&) {});
  }

  // Funding of one step (docs/model.md §5, "Funding"), settled at the current mark before the
  // step's cascade: at rate r (per step; > 0: longs pay shorts) every open position of the paying
  // side (longs when r > 0) pays |r|·notional (notional at the mark, margin currency) out of its
  // margin; the total paid is credited to the open positions of the other side pro rata to their
  // notional. Closed positions and the fund's inventory neither pay nor receive. Without an open
  // position on the receiving side the payment leaves the population (`unmatched`). Costs a pass
  // over all positions (every open position gets a new liquidation price); r = 0 does nothing.
  struct FundingFlow {
    double paid = 0.0, received = 0.0, unmatched = 0.0;
  };
  FundingFlow settle_funding(double rate) {
    FundingFlow flow;
    if (rate == 0.0) return flow;
    const ContractSpec& c = pol_.contract;
    const std::size_t n = pos_.size.size();
    const auto size_of = [&](std::size_t i) { return status_[i] == kOpen ? pos_.size[i] : size_[i]; };
    const auto margin_of = [&](std::size_t i) { return status_[i] == kOpen ? pos_.margin[i] : margin_[i]; };
    CompensatedSum n_long, n_short;  // open notional per side
    for (std::size_t i = 0; i < n; ++i) {
      if (status_[i] == kClosed) continue;
      const double q = size_of(i);
      (q > 0.0 ? n_long : n_short).add(notional(c, q, mark_));
    }
    const double payers = rate > 0.0 ? n_long.value() : n_short.value();
    const double receivers = rate > 0.0 ? n_short.value() : n_long.value();
    const double paid = std::abs(rate) * payers;
    const double credit = receivers > 0.0 ? paid / receivers : 0.0;  // per unit of notional
    long_heap_.clear();
    short_heap_.clear();
    CompensatedSum got;
    for (std::size_t i = 0; i < n; ++i) {
      if (status_[i] == kClosed) continue;
      const double q = size_of(i);
      if (q == 0.0) continue;
      const double ntl = notional(c, q, mark_);
      const bool pays = (q > 0.0) == (rate > 0.0);
      const double change = pays ? -std::abs(rate) * ntl : credit * ntl;
      if (!pays) got.add(change);
      const double m = margin_of(i) + change;
      if (!std::isfinite(m))
        throw InvalidArgument("funding", -1, "moves a margin outside the finite range " + describe(m));
      move(static_cast<std::uint32_t>(i), q, m, false);
    }
    std::make_heap(long_heap_.begin(), long_heap_.end(), long_heap_less);
    std::make_heap(short_heap_.begin(), short_heap_.end(), short_heap_less);
    flow.paid = paid;
    flow.received = got.value();
    flow.unmatched = receivers > 0.0 ? 0.0 : paid;
    tot_.funding_paid.add(flow.paid);
    tot_.funding_unmatched.add(flow.unmatched);
    return flow;
  }

  double mark() const noexcept { return mark_; }
  double fund() const noexcept { return fund_.balance(); }
  // The relative width of a partial index's first window (see extend_index).
  static constexpr double first_window() noexcept { return 1.0 / 64.0; }
  const CascadeTotals& totals() const noexcept { return tot_; }
  const Ledger& ledger() const noexcept { return ledger_; }

  // Keeps each position's loss to the fund (deficit + takeover loss) for largest_losses().
  void track_losses() { loss_.assign(pos_.size.size(), 0.0); }

  // Orders each round's liquidations on the calling thread alone: for callers that run engines
  // in parallel themselves (a stress test's scenarios).
  void on_one_thread() noexcept { order_scratch_.threads = 1; }

  // Keeps no ledger from now on (ledger() stays zero): for callers that report none (a stress
  // test's scenarios), which saves its compensated sums, several per liquidation.
  void without_ledger() noexcept { ledger_.discard(); }

  // The two largest per-position losses since the reset (0 unless track_losses()).
  std::pair<double, double> largest_losses() const noexcept {
    double a = 0.0, b = 0.0;
    if (loss_.empty()) return {a, b};
    for (const std::uint32_t i : touched_) {
      const double x = loss_[i];
      if (x > a) {
        b = a;
        a = x;
      } else if (x > b) {
        b = x;
      }
    }
    return {a, b};
  }

  // The book now: prices at the current scale, the quantities left (empty levels dropped).
  Book current_book() const {
    std::vector<double> bp, bq, ap, aq;
    collect(book_.bids(), bp, bq);
    collect(book_.asks(), ap, aq);
    return Book(bp, bq, ap, aq);
  }

 private:
  static constexpr std::uint8_t kOpen = 0, kMoved = 1, kClosed = 2;

  struct SideState {
    std::size_t start = 0;     // first level that may hold quantity
    std::size_t frontier = 0;  // levels [0, frontier) may differ from the base book
  };
  struct HeapEntry {
    double lp;
    std::uint32_t i, version;
  };

  void restore_side(BookSide& side, const BookSide& base, SideState& st) {
    auto& q = side.qty_mut();
    const auto b = base.qty();
    for (std::size_t lv = 0; lv < st.frontier; ++lv) q[lv] = b[lv];
    st = SideState{};
  }

  void collect(const BookSide& side, std::vector<double>& px, std::vector<double>& qty) const {
    const auto p = side.px(), q = side.qty();
    for (std::size_t lv = 0; lv < p.size(); ++lv) {
      if (!(q[lv] > 0.0)) continue;
      const double x = scale_ * p[lv];
      if (!px.empty() && px.back() == x) {  // two levels rounded onto one price: merge
        qty.back() += q[lv];
      } else {
        px.push_back(x);
        qty.push_back(q[lv]);
      }
    }
  }


  bool is_long_lp_hit(double lp) const noexcept { return mark_ < lp; }
  bool is_short_lp_hit(double lp) const noexcept { return mark_ > lp; }

  // Calls f(entry) for the entries of `side` from bucket `next` on that the mark has crossed
  // and that are still open, and moves `next` past the buckets the mark has crossed entirely
  // (the first bucket it has not is scanned again next round: entries liquidated since are not
  // open any more). Stops when f returns true; returns whether it did.
  template <class F>
  bool scan(const CascadeIndex::Side& side, std::size_t& next, F&& f) const {
    for (; next < side.buckets(); ++next) {
      bool all = true;
      for (std::size_t k = side.bucket_begin(next); k < side.bucket_stop(next); ++k) {
        const CascadeIndex::Entry& e = side.at[k];
        if (side.descending ? is_long_lp_hit(e.lp) : is_short_lp_hit(e.lp)) {
          if (status_[e.i] == kOpen && f(e)) return true;
        } else {
          all = false;
        }
      }
      if (!all) break;
    }
    return false;
  }

  bool any_liquidatable() {
    extend_index();
    const auto open = [](const CascadeIndex::Entry&) { return true; };
    std::size_t nl = next_long_, ns = next_short_;
    if (scan(idx_.longs, nl, open) || scan(idx_.shorts, ns, open)) return true;
    for (const auto& e : long_heap_)
      if (is_long_lp_hit(e.lp) && status_[e.i] == kMoved && version_[e.i] == e.version) return true;
    for (const auto& e : short_heap_)
      if (is_short_lp_hit(e.lp) && status_[e.i] == kMoved && version_[e.i] == e.version) return true;
    return false;
  }

  // A partial index grows while the mark is beyond it and the positions it holds are all
  // passed: the window's relative width grows 4-fold per step, and to at least 4 times the
  // relative distance the mark has run past the index (a mark that falls fast will likely fall
  // further: one pass instead of several); complete once it reaches 1.
  void extend_index() {
    if (!grow_) return;
    constexpr double inf = std::numeric_limits<double>::infinity();
    while (next_long_ == idx_.longs.buckets() && mark_ < grow_->long_floor) {
      long_window_ = std::max(4.0 * long_window_, 4.0 * (1.0 - mark_ / grow_->long_floor));
      grow_->extend(pos_, pol_, long_window_ >= 1.0 ? 0.0 : mark_ * (1.0 - long_window_), grow_->short_ceiling);
    }
    while (next_short_ == idx_.shorts.buckets() && mark_ > grow_->short_ceiling) {
      short_window_ = std::max(4.0 * short_window_, 4.0 * (mark_ / grow_->short_ceiling - 1.0));
      grow_->extend(pos_, pol_, grow_->long_floor, short_window_ >= 1.0 ? inf : mark_ * (1.0 + short_window_));
    }
  }

  static bool long_heap_less(const HeapEntry& a, const HeapEntry& b) noexcept {  // max-heap by lp
    return a.lp < b.lp || (a.lp == b.lp && a.i > b.i);
  }
  static bool short_heap_less(const HeapEntry& a, const HeapEntry& b) noexcept {  // min-heap by lp
    return a.lp > b.lp || (a.lp == b.lp && a.i > b.i);
  }

  // Positions that became liquidatable at the current mark. Each is in touched_ once this
  // returns (an open one is listed here, where its status has just been read; a moved one was
  // listed when it first moved), so that the round moves it with move_hit().
  void detect() {
    hits_.clear();
    const auto add = [&](const CascadeIndex::Entry& e) {
      touched_.push_back(e.i);
      hit(e.i, e.q, e.ep, e.m);
      return false;
    };
    // After an extension only the side extended is scanned again: the other side's scan
    // stopped in a bucket the mark has not crossed entirely, whose hits are already taken.
    for (bool longs = true, shorts = true; longs || shorts;) {
      if (longs) scan(idx_.longs, next_long_, add);
      if (shorts) scan(idx_.shorts, next_short_, add);
      const std::size_t nl = idx_.longs.buckets(), ns = idx_.shorts.buckets();
      extend_index();
      longs = idx_.longs.buckets() != nl;
      shorts = idx_.shorts.buckets() != ns;
    }
    pop_hits(long_heap_, long_heap_less, true);
    pop_hits(short_heap_, short_heap_less, false);
  }

  // Moved positions whose new LP the mark has crossed (entries of older versions are dropped).
  template <class Less>
  void pop_hits(HugeVector<HeapEntry>& heap, Less less, bool longs) {
    while (!heap.empty() && (longs ? is_long_lp_hit(heap.front().lp) : is_short_lp_hit(heap.front().lp))) {
      const HeapEntry e = heap.front();
      std::pop_heap(heap.begin(), heap.end(), less);
      heap.pop_back();
      if (status_[e.i] == kMoved && version_[e.i] == e.version)
        hit(e.i, size_[e.i], pos_.entry_price[e.i], margin_[e.i]);
    }
  }

  void hit(std::uint32_t i, double q, double ep, double m) {
    hits_.push_back({q, ep, m, i, rank_.empty() ? i : rank_[i]});
  }

  // Position i keeps size q and margin m (changed): a new liquidation price, watched by the heap.
  // heapify = false: the entry is appended to its heap's vector, which the caller makes a heap.
  void move(std::uint32_t i, double q, double m, bool heapify = true) {
    if (status_[i] == kOpen) touched_.push_back(i);
    move_hit(i, q, m, heapify);
  }

  // move() for a position of this round's hits_, already in touched_ (detect()): no read of its
  // status, which by now is rarely in cache (a miss per liquidation on a large population).
  void move_hit(std::uint32_t i, double q, double m, bool heapify = true) {
    if (q == 0.0) {
      if (dense_) size_[i] = margin_[i] = 0.0;
      status_[i] = kClosed;
      return;
    }
    if (version_.empty()) allocate_moved();  // the first move
    size_[i] = q;
    margin_[i] = m;
    status_[i] = kMoved;
    ++version_[i];
    const double lp = liquidation_price(pol_.contract, pol_.tiers, q, pos_.entry_price[i], m, false);
    // Never liquidatable again: a long's LP <= 0, a short's LP = +inf. A long's LP of +inf and a
    // short's of 0 (mmr = 1, docs/model.md §1) are liquidatable at every mark: kept.
    if (q > 0.0 ? !(lp > 0.0) : !(lp >= 0.0 && std::isfinite(lp))) return;
    if (q > 0.0) {
      long_heap_.push_back({lp, i, version_[i]});
      if (heapify) std::push_heap(long_heap_.begin(), long_heap_.end(), long_heap_less);
    } else {
      short_heap_.push_back({lp, i, version_[i]});
      if (heapify) std::push_heap(short_heap_.begin(), short_heap_.end(), short_heap_less);
    }
  }

  // The per-position arrays of moved positions (size_, margin_, version_), allocated when first
  // needed: a cascade under full sizing without a residual rule never moves a position, and
  // zeroing three n-length arrays per call was a large part of a short cascade's time.
  void allocate_moved() {
    const std::size_t n = pos_.size.size();
    if (size_.empty()) size_ = detail::ZeroedArray<double>(n);
    if (margin_.empty()) margin_ = detail::ZeroedArray<double>(n);
    if (version_.empty()) version_ = detail::ZeroedArray<std::uint32_t>(n);
  }

  // The side after a round: levels the cursor passed are empty, the one it stopped in lost `used`.
  static void consume(BookSide& side, SideState& st, const detail::Cursor& cur) {
    auto& q = side.qty_mut();
    const std::size_t n = q.size();
    for (std::size_t lv = st.start; lv < std::min(cur.level, n); ++lv) q[lv] = 0.0;
    std::size_t end = std::min(cur.level, n);
    if (cur.level < n && cur.used > 0.0) {
      q[cur.level] = std::max(0.0, q[cur.level] - cur.used);
      end = cur.level + 1;
    }
    st.frontier = std::max(st.frontier, end);
    st.start = std::min(cur.level, n);
  }

  void recover(BookSide& side, const BookSide& base, SideState& st) const {
    if (st.frontier == 0) return;
    auto& q = side.qty_mut();
    const auto b = base.qty();
    const double r = prm_.resilience;
    for (std::size_t lv = 0; lv < st.frontier; ++lv) q[lv] += r * (b[lv] - q[lv]);
    st.start = 0;
  }

  double best(const BookSide& side, const SideState& st) const noexcept {
    const auto q = side.qty();
    for (std::size_t lv = st.start; lv < q.size(); ++lv)
      if (q[lv] > 0.0) return scale_ * side.px()[lv];
    return std::numeric_limits<double>::quiet_NaN();
  }

  // Rate limits (docs/model.md §4, "Rate limits"): keeps the longest prefix of the ordered hits_
  // within pol_.max_orders and pol_.max_notional (notional at `mark`; the first hit always goes,
  // so a position above the notional cap goes alone); the rest wait: each is moved with its size
  // and margin unchanged, so the heap watches it and the next round's detection takes it again
  // if it is still liquidatable then.
  RoundWaiting rate_limit(double mark) {
    RoundWaiting w;
    const bool by_orders = pol_.max_orders > 0, by_notional = pol_.max_notional < std::numeric_limits<double>::infinity();
    if (!(by_orders || by_notional) || hits_.empty()) return w;
    const ContractSpec& c = pol_.contract;
    std::size_t k = 1;
    double used = notional(c, hits_[0].q, mark);
    for (; k < hits_.size(); ++k) {
      if (by_orders && static_cast<std::int64_t>(k) >= pol_.max_orders) break;
      const double nt = notional(c, hits_[k].q, mark);
      if (by_notional && used + nt > pol_.max_notional) break;
      used += nt;
    }
    CompensatedSum waiting;
    for (std::size_t j = k; j < hits_.size(); ++j) {
      const LiquidationHit& h = hits_[j];
      waiting.add(notional(c, h.q, mark));
      move_hit(h.i, h.q, h.m);
    }
    w.count = static_cast<std::int64_t>(hits_.size() - k);
    w.notional = waiting.value();
    hits_.resize(k);
    return w;
  }

  // One round at the current mark; false when nothing is liquidatable.
  bool round(RoundTrace& tr) {
    detect();
    const bool holding = !held_long_.empty() || !held_short_.empty();
    if (hits_.empty() && !holding) return false;
    const double mark = mark_;
    const ContractSpec& c = pol_.contract;
    order_liquidations(hits_, mark, pol_, order_scratch_);
    const RoundWaiting waited = rate_limit(mark);

    // Book cursors (closes through the book and the fund's inventory sales walk them) and the
    // cursors the closes use (a takeover liquidator's instead, for execution "takeover").
    detail::Cursor bids, asks;
    bids.bid = true;
    asks.bid = false;
    bids.side = &book_.bids();
    asks.side = &book_.asks();
    bids.scale = asks.scale = scale_;
    bids.level = bid_.start;
    asks.level = ask_.start;
    const bool by_book = pol_.execution == Execution::book;
    detail::Cursor take_bids = bids, take_asks = asks;
    if (!by_book) {
      take_bids.side = take_asks.side = nullptr;
      take_bids.takeover_px = mark * (1.0 - pol_.takeover_fee);
      take_asks.takeover_px = mark * (1.0 + pol_.takeover_fee);
    }
    detail::Cursor& close_bids = by_book ? bids : take_bids;
    detail::Cursor& close_asks = by_book ? asks : take_asks;

    const bool allocate = pol_.residual != ResidualRule::none;
    Flags& liq = round_flag_;
    if (allocate) {
      liq.resize(pos_.size.size(), 0);
      for (const LiquidationHit& h : hits_) liq[h.i] = 1;
    }
    using Doubles = std::span<const double>;
    const Doubles sizes = allocate ? Doubles(size_.span()) : Doubles{};
    const Doubles margins = allocate ? Doubles(margin_.span()) : Doubles{};
    Counterparties cps(c, sizes, pos_.entry_price, margins,
                       allocate ? std::span<const std::uint8_t>(liq) : std::span<const std::uint8_t>{}, mark,
                       std::span<double>(adl_charge_));

    OutcomeSums sums;
    BookFlow flow;
    Inventory& long_inv = held_long_;
    Inventory& short_inv = held_short_;
    if (out_) out_->grow(out_rows_ + hits_.size());  // room for a new row per liquidation
    for (std::size_t k = 0; k < hits_.size(); ++k) {
      const LiquidationHit& h = hits_[k];
      const auto i = static_cast<std::uint32_t>(h.i);
      const double q = h.q, ep = h.ep, m = h.m;
      const double E = equity(c, q, ep, m, mark);
      const std::size_t lot = lots_.size();  // the tag of this liquidation's inventory, if any
      const LiquidationOutcome o = liquidate_position(pol_, q, ep, m, mark, q > 0.0 ? close_bids : close_asks, fund_,
                                                      q > 0.0 ? long_inv : short_inv, lot, ledger_);
      if (by_book) flow.add(q > 0.0 ? 1.0 : -1.0, o.book_closed, o.last_fill);
      sums.add(q, o);
      if (!loss_.empty()) loss_[i] += o.deficit;
      const std::size_t entry = out_ ? record_position(i, o, tot_.rounds + 1) : 0;
      if (o.fallback_closed > 0.0) lots_.push_back({i, entry, q > 0.0});
      if (o.full) {
        move_hit(i, 0.0, 0.0);
      } else {  // the rest stays open with the equity left: margin = E + change − PnL(rest)
        const double rest = q > 0.0 ? q - o.closed : q + o.closed;
        move_hit(i, rest, E + o.trader_change - pnl(c, rest, ep, mark));
      }
    }
    if (out_) out_->resize(out_rows_);  // the rows written
    sums.to_ledger(ledger_);
    tot_.surplus.add(sums.surplus.value());

    // The fund sells all the inventory it holds (earlier rounds' first) into the book left by
    // the closes, within the band; what the book cannot absorb now is carried to the next round
    // (docs/model.md §4), and valued at the end of the cascade (finish()).
    pieces_.clear();
    sold_.clear();
    double sold_qty = 0.0;
    for (const double s : {1.0, -1.0}) {
      Inventory& inv = s > 0.0 ? long_inv : short_inv;
      if (inv.empty()) continue;
      const double edge = band_edge(s, mark, pol_.price_band);
      const InventorySale sale = sell_into(inv, s > 0.0 ? bids : asks, c, s, mark, edge, pieces_, sold_);
      flow.add(s, sale.qty, sale.fills.last);
      sold_qty += sale.qty;
    }
    if (hits_.empty() && !(sold_qty > 0.0)) return false;  // nothing liquidated, nothing sold
    const double unabsorbed = long_inv.quantity() + short_inv.quantity();
    InventorySums inv = settle_pieces(sums);
    consume(book_.bids_mut(), bid_, bids);
    consume(book_.asks_mut(), ask_, asks);

    // Residual of the round: allocated to the counterparties, or left uncovered.
    const double res = sums.residual();
    const double covered =
        cps.settle(pol_.residual, pol_.adl_cap, sums.shortfall_long.value(), sums.shortfall_short.value());
    ledger_.add(LedgerRow::residual_transfers, -covered);
    ledger_.add(LedgerRow::uncovered, -(res - covered));
    if (allocate) {
      for (const LiquidationHit& h : hits_) liq[h.i] = 0;
      if (covered > 0.0) apply_adl(mark);
    }

    // The mark follows the round's book fills (if any), whatever their order, by its rule
    // (mark_rule.hpp); then the book recovers.
    if (flow.any()) {
      const bool quotes = prm_.mark_rule != MarkRule::last;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      mark_tr_.trade(flow.last_price(), quotes ? best(book_.bids(), bid_) : nan,
                     quotes ? best(book_.asks(), ask_) : nan);
      mark_ = mark_tr_.mark();
    }
    if (prm_.resilience > 0.0) {
      recover(book_.bids_mut(), base_.bids(), bid_);
      recover(book_.asks_mut(), base_.asks(), ask_);
    }

    tr.mark_before = mark;
    tr.mark_after = mark_;
    tr.liquidated = static_cast<std::int64_t>(hits_.size());
    tr.notional = sums.notional.value();
    tr.deficit = sums.deficit.value();
    tr.inventory_loss = inv.loss.value();
    tr.unabsorbed = unabsorbed;
    tr.bad_debt = tr.deficit + tr.inventory_loss;
    tr.fees = sums.fees.value();
    tr.draw = sums.draw.value() + inv.draw.value();
    tr.residual = res;
    tr.adl_transfers = covered;
    tr.fund_after = fund_.balance();
    tot_.add_waited(tr, waited);

    tot_.liquidations += tr.liquidated;
    tot_.rounds += 1;
    tot_.notional.add(tr.notional);
    tot_.deficit.add(tr.deficit);
    tot_.inventory_loss.add(tr.inventory_loss);
    tot_.inventory_gain.add(inv.gain.value());
    // (tot_.unabsorbed is the end-of-run quantity valued at the edge, finish(): what a round
    // carries is not valued, docs/model.md §4)
    tot_.fees.add(tr.fees);
    tot_.draw.add(tr.draw);
    tot_.residual.add(res);
    tot_.adl_transfers.add(covered);
    return true;
  }

  struct InventorySums {
    CompensatedSum loss, gain, draw;
  };
  // The fund settles pieces_ (sold or valued inventory, tags into lots_): gains first, then the
  // losses in the order the lots were taken over; shortfalls go to `sums`' residual by side.
  InventorySums settle_pieces(OutcomeSums& sums) {
    InventorySums inv;
    if (pieces_.empty()) return inv;
    detail::order_pieces(pieces_, sold_, piece_tmp_, sold_tmp_);
    settle_inventory(pieces_, sold_, fund_, ledger_, [&](const InventoryPiece& p, double draw, double shortfall) {
      (p.loss > 0.0 ? inv.loss : inv.gain).add(std::abs(p.loss));
      inv.draw.add(draw);
      const Lot& lot = lots_[p.tag];
      (lot.long_side ? sums.shortfall_long : sums.shortfall_short).add(shortfall);
      if (!loss_.empty()) loss_[lot.stored] += std::max(p.loss, 0.0);
      if (out_) record_inventory(lot.entry, p.loss, draw, shortfall);
    });
    return inv;
  }

 public:
  // Ends a run: the inventory the fund still holds is valued at the exit price of the book now
  // (a walk that does not consume it, within the band at the mark), the rest at the band edge;
  // losses the fund cannot pay go to a last residual allocation (docs/model.md §4).
  void finish() {
    if (held_long_.empty() && held_short_.empty()) return;
    const ContractSpec& c = pol_.contract;
    const double mark = mark_;
    pieces_.clear();
    sold_.clear();
    double held = 0.0, unabsorbed = 0.0;
    for (const double s : {1.0, -1.0}) {
      Inventory& inv = s > 0.0 ? held_long_ : held_short_;
      if (inv.empty()) continue;
      held += inv.quantity();
      const double edge = band_edge(s, mark, pol_.price_band);
      detail::Cursor cur;  // over the book as it is, at its current scale
      cur.side = s > 0.0 ? &book_.bids() : &book_.asks();
      cur.bid = s > 0.0;
      cur.scale = scale_;
      cur.level = s > 0.0 ? bid_.start : ask_.start;
      unabsorbed += value_at_exit(inv, cur, c, s, mark, edge, [&](const InventoryPiece& p) {
        pieces_.push_back(p);
        sold_.push_back(0);  // valued, not sold: the ledger's valuation row
      });
    }
    OutcomeSums sums;
    const InventorySums inv = settle_pieces(sums);
    const bool allocate = pol_.residual != ResidualRule::none;
    using Doubles = std::span<const double>;
    Flags& liq = round_flag_;
    if (allocate) liq.assign(pos_.size.size(), 0);
    Counterparties cps(c, allocate ? Doubles(size_.span()) : Doubles{}, pos_.entry_price,
                       allocate ? Doubles(margin_.span()) : Doubles{},
                       allocate ? std::span<const std::uint8_t>(liq) : std::span<const std::uint8_t>{}, mark,
                       std::span<double>(adl_charge_));
    const double res = sums.residual();
    const double covered =
        cps.settle(pol_.residual, pol_.adl_cap, sums.shortfall_long.value(), sums.shortfall_short.value());
    ledger_.add(LedgerRow::residual_transfers, -covered);
    ledger_.add(LedgerRow::uncovered, -(res - covered));
    if (allocate && covered > 0.0) apply_adl(mark);
    end_.held = held;
    end_.unabsorbed = unabsorbed;
    end_.inventory_loss = inv.loss.value();
    end_.draw = inv.draw.value();
    end_.residual = res;
    end_.adl_transfers = covered;
    tot_.inventory_loss.add(inv.loss.value());
    tot_.inventory_gain.add(inv.gain.value());
    tot_.unabsorbed.add(unabsorbed);  // the quantity valued at the edge (docs/model.md §4)
    tot_.draw.add(inv.draw.value());
    tot_.residual.add(res);
    tot_.adl_transfers.add(covered);
  }
  // What finish() valued (zeros when the fund held nothing at the end).
  struct EndValuation {
    double held = 0.0, unabsorbed = 0.0, inventory_loss = 0.0, draw = 0.0, residual = 0.0, adl_transfers = 0.0;
  };
  const EndValuation& end_valuation() const noexcept { return end_; }

 private:
  // Counterparties charged by the residual allocation this round: poorer positions (see the
  // header comment).
  void apply_adl(double mark) {
    const ContractSpec& c = pol_.contract;
    for (std::size_t j = 0; j < adl_charge_.size(); ++j) {
      const double charge = adl_charge_[j];
      if (charge == 0.0) continue;
      const auto jj = static_cast<std::uint32_t>(j);
      const double q = size_[j], ep = pos_.entry_price[j];
      const double E = equity(c, q, ep, margin_[j], mark) - charge;
      if (out_ && !out_->adl.empty()) out_->adl[input(j)] += charge;
      adl_charge_[j] = 0.0;
      move(jj, q, E - pnl(c, q, ep, mark));
    }
  }

  std::size_t input(std::size_t i) const noexcept { return rank_.empty() ? i : rank_[i]; }

  // Adds an inventory piece's loss, draw and shortfall to output entry k.
  void record_inventory(std::size_t k, double loss, double draw, double shortfall) {
    CascadeLiquidations& out = *out_;
    out.inventory_loss[k] += loss;
    out.draw[k] += draw;
    out.shortfall[k] += shortfall;
  }

  // Records liquidation o of position `stored`; returns its entry in *out_.
  std::size_t record_position(std::uint32_t stored, const LiquidationOutcome& o, std::int64_t round) {
    CascadeLiquidations& out = *out_;
    const std::size_t k = slot_.empty() ? 0 : slot_[stored];  // slot + 1 of a position liquidated before
    if (k == 0) {  // its first liquidation: a new row (round() made room), this one's values
      const std::size_t i = out_rows_++;  // (0.0 + x: the bits of a sum from 0, as the rows after)
      out.position[i] = static_cast<std::int64_t>(input(stored));
      out.round[i] = round;
      out.closed[i] = 0.0 + o.closed;
      out.vwap[i] = o.closed > 0.0 && !std::isnan(o.vwap) ? o.vwap : std::numeric_limits<double>::quiet_NaN();
      out.deficit[i] = 0.0 + o.deficit;
      out.surplus[i] = 0.0 + o.surplus;
      out.fee[i] = 0.0 + o.fee;
      out.draw[i] = 0.0 + o.draw;
      out.shortfall[i] = 0.0 + o.shortfall;
      out.inventory_loss[i] = 0.0;
      if (!slot_.empty()) slot_[stored] = static_cast<std::uint32_t>(i + 1);
      return i;
    }
    const std::size_t i = k - 1;
    // Blended close price over the position's closes (VWAP; harmonic for inverse contracts).
    const double before = out.closed[i];
    if (o.closed > 0.0 && !std::isnan(o.vwap)) {
      if (before > 0.0 && !std::isnan(out.vwap[i])) {
        out.vwap[i] = pol_.contract.kind == Contract::linear
                          ? (before * out.vwap[i] + o.closed * o.vwap) / (before + o.closed)
                          : (before + o.closed) / (before / out.vwap[i] + o.closed / o.vwap);
      } else {
        out.vwap[i] = o.vwap;
      }
    }
    out.closed[i] = before + o.closed;
    out.deficit[i] += o.deficit;
    out.surplus[i] += o.surplus;
    out.fee[i] += o.fee;
    out.draw[i] += o.draw;
    out.shortfall[i] += o.shortfall;
    return i;
  }

  const PositionColumns& pos_;
  const CascadeIndex& idx_;
  CascadeIndex* grow_;
  double long_window_ = first_window(), short_window_ = first_window();
  const Book& base_;
  const LiquidationPolicy& pol_;
  CascadeParams prm_;
  std::span<const std::uint32_t> rank_;

  Book book_;
  SideState bid_, ask_;
  double scale_ = 1.0;
  double mark_ = 0.0;
  MarkTracker mark_tr_;  // the mark's rule and state; mark_ is its mark()
  InsuranceFund fund_;
  Ledger ledger_;
  CascadeTotals tot_;
  CascadeLiquidations* out_ = nullptr;
  std::size_t out_rows_ = 0;  // rows of *out_ written (round() sizes it beyond, then back)

  // Per position. size_, margin_: the current values of moved positions (of every position when
  // dense_: the residual rule allocates, the counterparties read them all); allocated with
  // version_ at the first move (allocate_moved), or at construction when dense_.
  bool dense_;
  detail::ZeroedArray<double> size_, margin_;
  detail::ZeroedArray<std::uint8_t> status_;
  detail::ZeroedArray<std::uint32_t> version_;  // allocated at the first move
  detail::ZeroedArray<std::uint32_t> slot_;     // record(): 1 + entry of the position in *out_
  HugeVector<double> loss_;                    // allocated by track_losses()
  HugeVector<std::uint32_t> touched_;  // the positions not kOpen, and this round's hits (detect())
  Flags round_flag_;
  HugeVector<double> adl_charge_;
  // The fund's inventory carried from round to round, and what each lot came from.
  struct Lot {
    std::uint32_t stored;  // the position (engine index)
    std::size_t entry;     // its entry in *out_
    bool long_side;
  };
  Inventory held_long_, held_short_;
  HugeVector<Lot> lots_;
  EndValuation end_;
  PieceList pieces_, piece_tmp_;
  Flags sold_, sold_tmp_;
  std::size_t next_long_ = 0, next_short_ = 0;  // the first bucket of each side not passed
  HugeVector<HeapEntry> long_heap_, short_heap_;
  HitList hits_;
  OrderScratch order_scratch_;
};

// A single cascade (see the header comment). `out`: per-position results, or null (its adl,
// adl_closed: zeros of length n when the residual rule allocates, else empty).
struct CascadeRun {
  std::vector<RoundTrace> rounds;
  bool converged = true;
  double initial_mark = 0.0, shocked_mark = 0.0, final_mark = 0.0;
  double fund_after = 0.0;
  CascadeTotals totals;
  CascadeEngine::EndValuation end;  // the inventory the fund still held at the end, valued
  Ledger ledger;
  Book book;
};

inline CascadeRun simulate_cascade(const PositionColumns& pos, const Book& book, double mark, double shock,
                                   const LiquidationPolicy& pol, double fund, const CascadeParams& prm,
                                   CascadeLiquidations* out) {
  if (!(std::isfinite(mark) && mark > 0.0)) throw InvalidArgument("mark", -1, "must be finite and > 0 " + describe(mark));
  if (!(std::isfinite(shock) && shock > -1.0))
    throw InvalidArgument("shock", -1, "must be finite and > -1 " + describe(shock));
  check_cascade_params(prm, fund);
  // Positions in input order; only those whose LP is near the marks of the cascade get sorted.
  CascadeIndex index = CascadeIndex::partial(pos, pol, mark * (1.0 + shock), CascadeEngine::first_window());
  CascadeEngine eng(pos, index, book, pol, prm, {}, &index);
  eng.reset(mark, fund);
  eng.record(out);
  CascadeRun run;
  run.initial_mark = mark;
  eng.shift(1.0 + shock);
  run.shocked_mark = eng.mark();
  run.converged = eng.run([&](const RoundTrace& tr) { run.rounds.push_back(tr); });
  eng.finish();
  run.end = eng.end_valuation();
  run.final_mark = eng.mark();
  run.fund_after = eng.fund();
  run.totals = eng.totals();
  run.ledger = eng.ledger();
  run.book = eng.current_book();
  return run;
}

}  // namespace liqcore
