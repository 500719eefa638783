// Liquidation of one market's isolated positions against its order book (docs/model.md §1–3):
// detection at the mark, ordering, sizing (full, partial, slices), execution (book walk with a
// limit price, or a liquidator takeover), the fallback takeover at the bankruptcy price, and the
// loss waterfall of waterfall.hpp.
//
// Units and signs (as margin.hpp): size q signed (+ long, − short) in base units (linear) or
// contracts (inverse); prices in quote per base; money in the margin currency. All money flows
// are valued at the mark price P.
//
// The batch is sequential and deterministic: positions are liquidated one after another in the
// policy's order; each close walks a private copy of the book from where the previous close of
// the same side stopped (a long sells into the bids, a short buys the asks), so earlier
// liquidations consume the liquidity of later ones. Only the liquidatable subset is sorted.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "liqcore/book.hpp"
#include "liqcore/error.hpp"
#include "liqcore/margin.hpp"
#include "liqcore/memory.hpp"
#include "liqcore/parallel.hpp"
#include "liqcore/waterfall.hpp"

namespace liqcore {

enum class LiquidationOrder : int {
  underwater = 0,  // most underwater first (dYdX); ties: larger notional, then input order
  largest = 1,     // larger notional first; ties: input order
  given = 2,       // input order
};
enum class Sizing : int {
  full = 0,     // close the whole position
  partial = 1,  // close the least that restores E >= MM·(1 + buffer) (Drift)
  slices = 2,   // close slice_fraction of positions above slice_threshold notional (Hyperliquid)
};
enum class Execution : int {
  book = 0,      // market order through the book
  takeover = 1,  // a liquidator takes the close at P·(1 − takeover_fee) (long), P·(1 + fee) (short)
};
enum class SizeRounding : int {
  down = 0,  // dYdX: a slice or partial size rounds down to the contract's size step
  up = 1,    // Drift: rounds up
};
enum class LimitRule : int {
  none = 0,        // walk until filled or the side is empty
  bankruptcy = 1,  // never fill worse than the bankruptcy price
  fillable = 2,    // dYdX's fillable price
};

struct LiquidationPolicy {
  ContractSpec contract{};
  Tiers tiers = Tiers::flat(0.005);
  LiquidationOrder order = LiquidationOrder::underwater;
  Sizing sizing = Sizing::full;
  double buffer = 0.0;  // partial: target E >= MM·(1 + buffer)
  double slice_threshold = 100'000.0;
  double slice_fraction = 0.2;
  Execution execution = Execution::book;
  double takeover_fee = 0.0;
  double backstop = std::numeric_limits<double>::quiet_NaN();  // NaN: no backstop
  LimitRule limit = LimitRule::none;
  double ba = 1.0;   // dYdX bankruptcy adjustment
  double smmr = 0.1;  // dYdX spread-to-maintenance-margin ratio (v4-chain default)
  FeeRule fee = FeeRule::capped;
  double fee_cap = 0.015;
  double fee_rate = 0.0;
  double reserve = 0.0;           // the fund never pays below this balance
  bool refuse_uncovered = false;  // dYdX: book fills the fund cannot cover are refused, whole
  double price_band = 0.9;        // no fill, and no inventory sale, beyond mark·(1 ∓ band)
  ResidualRule residual = ResidualRule::none;
  double adl_cap = 1.0;  // capped_pro_rata / risk_aware: largest fraction of a winner's PnL taken
  SizeRounding size_rounding = SizeRounding::down;  // to contract.size_step (0: no rounding)
  // Rate limits per round of a cascade (docs/model.md §4, "Rate limits"): the most notional (at
  // the round's mark) and the most liquidation orders a round takes; inf / 0: no cap.
  double max_notional = std::numeric_limits<double>::infinity();
  std::int64_t max_orders = 0;
};

struct PositionColumns {
  std::span<const double> size, entry_price, margin;
};

// Throws for the first bad value (size finite, entry price finite > 0, margin finite >= 0),
// first index, then size, entry_price, margin; called once a kernel's pass saw one.
inline void report_bad_position(const PositionColumns& pos) {
  for (std::size_t i = 0; i < pos.size.size(); ++i) {
    const auto ii = static_cast<std::int64_t>(i);
    if (!std::isfinite(pos.size[i])) throw InvalidArgument("size", ii, "must be finite " + describe(pos.size[i]));
    if (!(std::isfinite(pos.entry_price[i]) && pos.entry_price[i] > 0.0))
      throw InvalidArgument("entry_price", ii, "must be finite and > 0 " + describe(pos.entry_price[i]));
    if (!(std::isfinite(pos.margin[i]) && pos.margin[i] >= 0.0))
      throw InvalidArgument("margin", ii, "must be finite and >= 0 " + describe(pos.margin[i]));
  }
}

// Outputs of a batch, filled by liquidate(). A liquidation touches a small subset of the
// positions, so the per-liquidation results are compact: entry k describes the k-th
// liquidation, of position order[k]. Only `liquidated` has one entry per position, and `adl`
// too when the residual rule allocates to counterparties (empty otherwise).
// Large columns in huge pages (memory.hpp); liquidate() writes every element of each (adl
// explicitly zeroed), so resizing them does not zero them first (ScratchVector).
struct LiquidationOutputs {
  ScratchVector<std::uint8_t> liquidated;  // per position: 1 if liquidated
  ScratchVector<std::int64_t> order;       // positions in liquidation order
  ScratchVector<double> closed;            // quantity closed (>= 0)
  ScratchVector<double> book_closed;       // of which through the book / the takeover liquidator
  ScratchVector<double> fallback_closed;   // of which taken over at the bankruptcy price
  ScratchVector<double> vwap;              // blended close price (harmonic for inverse), NaN if none
  ScratchVector<double> deficit, surplus, fee;
  ScratchVector<double> insurance_draw;    // paid by the fund for this liquidation
  ScratchVector<double> shortfall;         // loss the fund could not pay (goes to the residual)
  ScratchVector<double> inventory_loss;    // the fund's loss on this liquidation's fallback (< 0: gain)
  HugeVector<double> adl;                  // per position: charge as an ADL/socialization counterparty
};

// The book fills of a batch (or a cascade round), per side: the quantity filled and the
// deepest price reached (the last fill of the side, since every close and sale on a side walks
// on from where the previous one stopped). Independent of how the closes of the two sides
// interleave (docs/model.md, "Cascades": the mark after a round).
struct BookFlow {
  double bid_qty = 0.0, ask_qty = 0.0;  // sold into the bids, bought from the asks
  double bid_px = std::numeric_limits<double>::quiet_NaN(), ask_px = std::numeric_limits<double>::quiet_NaN();
  void add(double s, double qty, double last) noexcept {
    if (!(qty > 0.0) || std::isnan(last)) return;
    (s > 0.0 ? bid_qty : ask_qty) += qty;
    (s > 0.0 ? bid_px : ask_px) = last;
  }
  bool any() const noexcept { return bid_qty > 0.0 || ask_qty > 0.0; }
  // The quantity-weighted mean of the two sides' deepest prices (NaN without fills).
  double last_price() const noexcept {
    if (!(bid_qty > 0.0)) return ask_qty > 0.0 ? ask_px : std::numeric_limits<double>::quiet_NaN();
    if (!(ask_qty > 0.0)) return bid_px;
    return (bid_qty * bid_px + ask_qty * ask_px) / (bid_qty + ask_qty);
  }
};

struct LiquidationTotals {
  std::int64_t liquidated = 0;
  double closed_notional = 0.0;  // notional at the mark of what was closed
  double fees = 0.0;
  double deficit = 0.0;
  double surplus = 0.0;
  double inventory_loss = 0.0;  // Σ losses of the fund's inventory (sold, or valued at the band edge)
  double inventory_gain = 0.0;  // Σ gains of the fund's inventory (credited to the fund)
  double unabsorbed = 0.0;      // inventory quantity the book could not absorb within the band
  double bad_debt = 0.0;        // deficit + inventory_loss = insurance_draw + adl_transfers + uncovered
  double insurance_draw = 0.0;
  double residual = 0.0;       // what the fund could not pay
  double adl_transfers = 0.0;  // of which covered by counterparties
  double uncovered = 0.0;      // of which left as bad debt
  double fund_after = 0.0;
  BookFlow flow;  // book fills of the batch (closes and the fund's sales), per side
  Ledger ledger;
};

namespace detail {

// One side of the private book copy, walked from where the last close stopped; or, for a
// takeover, one unlimited level at the takeover price.
struct Cursor {
  const BookSide* side = nullptr;
  double takeover_px = std::numeric_limits<double>::quiet_NaN();
  bool bid = true;  // the side is bids (a sell walks it)
  std::size_t level = 0;
  double used = 0.0;
  double scale = 1.0;  // level prices are scale·px (a cascade shifts the whole book with the mark)

  bool has(std::size_t lv) const noexcept { return side ? lv < side->size() : lv == 0; }
  double price(std::size_t lv) const noexcept { return side ? scale * side->px()[lv] : takeover_px; }
  double available(std::size_t lv, double u) const noexcept {
    return side ? side->qty()[lv] - u : std::numeric_limits<double>::infinity();
  }
  bool acceptable(double p, double limit) const noexcept {
    return std::isnan(limit) || (bid ? p >= limit : p <= limit);
  }
};

// Sums over the fills of one close, for a position of side s and mark P.
struct FillSums {
  double gain = 0.0;      // trader's equity change vs closing at the mark: Σ pnl(s·x, P → p)
  double fill_notional = 0.0;  // Σ notional(x, p): the fee base
  double vw_num = 0.0;    // linear Σ x·p / Σ x; inverse Σ x / Σ (x/p)
  double vw_den = 0.0;
  double last = std::numeric_limits<double>::quiet_NaN();  // price of the last fill

  void add(const ContractSpec& c, double s, double mark, double x, double p) noexcept {
    last = p;
    gain += pnl(c, s * x, mark, p);
    fill_notional += notional(c, x, p);
    add_vwap(c, x, p, vw_num, vw_den);
  }

  // Adds quantity x at price p to VWAP sums (num, den): linear Σ x·p / Σ x, inverse
  // Σ x / Σ (x/p). Also for a fallback taken over at a fixed price after the fills.
  static void add_vwap(const ContractSpec& c, double x, double p, double& num, double& den) noexcept {
    if (c.kind == Contract::linear) {
      num += x * p;
      den += x;
    } else {
      num += x;
      den += x / p;
    }
  }
};

// Walks `qty` from the cursor (advancing it) under `limit` and returns the quantity left
// unfilled (exactly 0 when the order filled). With `allowance` finite, the walk stops before
// the first level whose fill, worse than the bankruptcy price `bp`, would bring the close's net
// cost to the fund (Σ pnl(s·x, bp → p) below zero) above the allowance: dYdX's refusal of a
// fill the fund cannot cover, whole (docs/model.md, "refuse_uncovered").
inline double walk(Cursor& cur, const ContractSpec& c, double s, double mark, double qty, double limit, double bp,
                   double allowance, FillSums& acc) noexcept {
  double remaining = qty;
  double net = 0.0;  // Σ of the negative pnl(s·x, bp → p) of this close so far (gross cost to the fund)
  while (remaining > 0.0 && cur.has(cur.level)) {
    const double p = cur.price(cur.level);
    if (!cur.acceptable(p, limit)) break;
    const double avail = cur.available(cur.level, cur.used);
    const double take = std::min(remaining, avail);
    if (std::isfinite(allowance)) {
      const double unit = pnl(c, s, bp, p);  // < 0: the fund pays -unit per unit filled
      // A fill the fund cannot cover is refused whole, never split (dYdX rejects the match).
      if (unit < 0.0 && take * -unit > std::max(0.0, allowance + net)) break;
      net += std::min(0.0, pnl(c, s * take, bp, p));  // the fund is not credited better fills
    }
    if (take > 0.0) acc.add(c, s, mark, take, p);
    remaining -= take;
    if (take == avail) {
      ++cur.level;
      cur.used = 0.0;
    } else {
      cur.used += take;
    }
  }
  return std::max(remaining, 0.0);
}

// ---- ordering: a stable LSD radix sort -------------------------------------------------------

// An item to sort: its key (64 or 32 bits, sorted ascending) and its position k in the list
// being sorted.
struct SortItem {
  std::uint64_t key;
  std::size_t k;
};
using SortList = HugeVector<SortItem>;
struct SortItem32 {  // half the bytes to move per pass, and half the passes
  std::uint32_t key, k;
};
using SortList32 = ScratchVector<SortItem32>;

// Unsigned bits whose ascending order is the descending order of d (finite; −0 == +0).
inline std::uint64_t descending_bits(double d) noexcept {
  d += 0.0;  // −0.0 → +0.0, so that equal values get equal keys
  std::uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  b = (b >> 63) ? ~b : (b | (std::uint64_t{1} << 63));  // ascending in d
  return ~b;
}

// Stable sort by key, 8 bits per pass, skipping the passes where every item has the same digit
// (the exponent bytes of keys in a narrow range): a few linear passes instead of n log n
// mispredicted comparisons.
template <class List>
void radix_sort(List& a, List& tmp) {
  using Item = typename List::value_type;
  constexpr int kDigits = sizeof(Item::key);
  const std::size_t n = a.size();
  std::array<std::array<std::size_t, 256>, kDigits> hist{};
  for (const Item& x : a)
    for (int d = 0; d < kDigits; ++d) ++hist[static_cast<std::size_t>(d)][(x.key >> (8 * d)) & 255];
  tmp.resize(n);
  for (int d = 0; d < kDigits; ++d) {
    auto& h = hist[static_cast<std::size_t>(d)];
    if (std::any_of(h.begin(), h.end(), [&](std::size_t c) { return c == n; })) continue;
    std::size_t sum = 0;
    for (auto& c : h) {
      const std::size_t t = c;
      c = sum;
      sum += t;
    }
    for (const Item& x : a) tmp[h[(x.key >> (8 * d)) & 255]++] = x;
    a.swap(tmp);
  }
}

// Sorts items (in list order: items[k].k = k) stably by bits[k], merging the ascending runs of
// the bits pairwise, a pass per halving of their number: for a list nearly in order already, a
// pass or two where the radix sort makes four and a histogram. `starts`: the first index of
// each run (starts[0] = 0).
inline void merge_runs(SortList32& items, SortList32& tmp, const std::uint64_t* bits, std::size_t n,
                       std::vector<std::size_t> starts) {
  tmp.resize(n);
  const auto less = [bits](const SortItem32& x, const SortItem32& y) { return bits[x.k] < bits[y.k]; };
  std::vector<std::size_t> merged;
  while (starts.size() > 1) {
    merged.clear();
    for (std::size_t r = 0; r < starts.size(); r += 2) {  // runs r and r + 1 into one (std::merge is stable)
      const std::size_t a = starts[r];
      const std::size_t b = r + 1 < starts.size() ? starts[r + 1] : n;
      const std::size_t e = r + 2 < starts.size() ? starts[r + 2] : n;
      std::merge(items.begin() + a, items.begin() + b, items.begin() + b, items.begin() + e, tmp.begin() + a, less);
      merged.push_back(a);
    }
    items.swap(tmp);
    starts.swap(merged);
  }
}

// Order keys this close are a tie (docs/model.md §3, step 2): keys that are equal in exact
// arithmetic come out of float arithmetic a few ulps apart, on either side, and differently in
// each engine (two counterparties a socialization charge leaves at zero equity share a
// bankruptcy price, so they tie exactly in the next round): the tie-breakers decide them, not
// the rounding. Keys are ratios to a notional (or notionals, for "largest", where the first
// tie-breaker is the key itself).
inline constexpr double kOrderKeyTie = 1e-12;
inline bool order_keys_tie(double x, double y) noexcept {
  return x == y || std::abs(x - y) <= kOrderKeyTie * std::max({1.0, std::abs(x), std::abs(y)});
}

// [first, last) sorted by key descending (key_of(item)): sorts each run of neighbours whose
// keys tie (order_keys_tie, chained) by `after`, the tie-breakers (a strict total order).
template <class It, class KeyOf, class After>
void break_order_ties(It first, It last, KeyOf key_of, After after) {
  while (first != last) {
    It end = std::next(first);
    while (end != last && order_keys_tie(key_of(*std::prev(end)), key_of(*end))) ++end;
    if (std::distance(first, end) > 1) std::sort(first, end, after);
    first = end;
  }
}

// Smallest t in [0, len] with v + m·t >= 0, as an interval [lo, hi]; lo > hi when empty.
struct Interval {
  double lo, hi;
  bool empty() const noexcept { return !(lo <= hi); }
};
inline Interval nonnegative(double v, double m, double len) noexcept {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (m > 0.0) return {std::max(0.0, -v / m), len};
  if (m < 0.0) return v >= 0.0 ? Interval{0.0, std::min(len, -v / m)} : Interval{inf, -inf};
  return v >= 0.0 ? Interval{0.0, len} : Interval{inf, -inf};
}
inline Interval intersect(Interval a, Interval b) noexcept { return {std::max(a.lo, b.lo), std::min(a.hi, b.hi)}; }

// The tier in force just below remaining notional n (MM is continuous, so at a floor the lower
// tier is the one that holds as the position shrinks).
inline std::size_t tier_below(const Tiers& t, double n) noexcept {
  const auto it = std::lower_bound(t.floor.begin() + 1, t.floor.end(), n);
  return static_cast<std::size_t>(it - t.floor.begin()) - 1;
}

// Partial sizing: the smallest Δ in (0, Q) such that, closing Δ through the cursor's levels
// under `limit`, the position keeps
//     h(Δ) = E + G(Δ) − fee(Δ) − (1 + buffer)·MM(Q − Δ) >= 0,
// with G the fills' gain vs the mark and fee(Δ) = rule(max(0, S), N), S = (Δ/Q)·E + G the
// slice's own equity after the close and N the fill notional. Every term is linear in Δ within a
// book level and a maintenance tier, so each piece is solved exactly. Returns Q when no Δ < Q
// works (the book runs out within the limit first, or the slippage outruns the margin released):
// the position is then closed in full.
// Cross margin (share not NaN): the slice's own equity before its fills is (Δ/Q)·share, share
// the position's part of the account's equity (docs/model.md §6: account equity · MM/TMMR),
// instead of (Δ/Q)·E; the caller passes as E the account equity less (1 + buffer) times the
// requirement of its other positions, both in this position's margin currency.
inline double partial_size(Cursor cur, const LiquidationPolicy& pol, double s, double mark, double Q, double E,
                           double limit, double share = std::numeric_limits<double>::quiet_NaN()) noexcept {
  const ContractSpec& c = pol.contract;
  const Tiers& t = pol.tiers;
  const double u = notional(c, 1.0, mark);  // notional per unit at the mark
  const double k1 = 1.0 + pol.buffer;
  const bool capped_rule = pol.fee != FeeRule::surplus;
  const double rate = pol.fee == FeeRule::capped ? pol.fee_cap : pol.fee_rate;
  const double Es = std::isnan(share) ? E : share;  // the equity the position's slices share
  double delta = 0.0, G = 0.0, N = 0.0;
  std::size_t lv = cur.level;
  double used = cur.used;
  while (delta < Q && cur.has(lv)) {
    const double p = cur.price(lv);
    if (!cur.acceptable(p, limit)) break;
    const double avail = cur.available(lv, used);
    const bool whole_level = delta + avail <= Q;  // the level ends before the position does
    const double seg_end = whole_level ? delta + avail : Q;
    const double dg = pnl(c, s, mark, p);
    const double dn = notional(c, 1.0, p);
    double a = delta;
    while (a < seg_end) {
      const double r = Q - a;
      const std::size_t k = tier_below(t, r * u);
      double b = seg_end;
      if (k > 0) b = std::min(b, Q - t.floor[k] / u);
      if (!(b > a)) b = seg_end;  // rounding at a floor: finish the level in this tier
      const double len = b - a;
      const double Ga = G + dg * (a - delta);
      const double Na = N + dn * (a - delta);
      const double Ta = k1 * (r * u * t.mmr[k] - t.cum[k]);
      const double base_v = E + Ga - Ta, base_m = dg + k1 * u * t.mmr[k];
      const double Sa = (a / Q) * Es + Ga;
      const double share_m = Es / Q;
      // fee = whole surplus: need base >= 0 and base − S >= 0
      Interval ok = intersect(nonnegative(base_v, base_m, len),
                              nonnegative(base_v - Sa, k1 * u * t.mmr[k] - share_m, len));
      double best = ok.empty() ? std::numeric_limits<double>::infinity() : ok.lo;
      if (capped_rule) {  // or the capped fee: base − rate·N >= 0
        const Interval capped = nonnegative(base_v - rate * Na, base_m - rate * dn, len);
        if (!capped.empty()) best = std::min(best, capped.lo);
      }
      if (best <= len) {
        const double d = a + best;
        return d > 0.0 && d < Q ? d : Q;
      }
      a = b;
    }
    const double step = seg_end - delta;
    G += dg * step;
    N += dn * step;
    if (whole_level) {  // always progress: to the next level, or to Q
      ++lv;
      used = 0.0;
    } else {
      used += step;
    }
    delta = seg_end;
  }
  return Q;
}

// |fillable − P| / P = ABR·SMMR·MM / notional, ABR = clamp(BA·(1 − E/MM), 0, 1) (dYdX).
inline double fillable_spread(const LiquidationPolicy& pol, double e, double mm, double nt) noexcept {
  const double abr = mm > 0.0 ? std::clamp(pol.ba * (1.0 - e / mm), 0.0, 1.0) : 1.0;
  return nt > 0.0 ? abr * pol.smmr * mm / nt : 0.0;
}

}  // namespace detail

// A liquidatable position as the ordering and the liquidation loop read it: index i, signed
// size q, entry price ep, margin m, and `tie`, the rank that breaks ties (the input index).
struct LiquidationHit {
  double q, ep, m;
  std::uint32_t i;
  std::uint32_t tie;
};
using HitList = ScratchVector<LiquidationHit>;  // large lists in huge pages (memory.hpp), not zeroed on resize

// Sorts `hits` into the policy's liquidation order at `mark`: underwater, (MM − E)/notional
// descending (the fillable spread with LimitRule::fillable); largest, notional descending;
// ties (keys equal up to detail::order_keys_tie): larger notional first, then the lower `tie`.
// given: `tie` ascending. A sort on the key, then the (rare) runs of tied keys by notional and
// tie: a total order, so the result does not depend on the order of `hits` on entry.
// Buffers of order_liquidations, kept by a caller that orders many times.
struct OrderScratch {
  detail::SortList32 items, tmp;
  ScratchVector<double> keys;         // by position in the list being sorted
  ScratchVector<std::uint64_t> bits;  // descending_bits of the keys
  HitList hits;
  // Threads of the key pass: 0, every core for long lists (parallel.hpp); 1 for a caller that
  // runs in parallel itself (a stress test's scenarios).
  std::size_t threads = 0;
};

inline void order_liquidations(HitList& hits, double mark, const LiquidationPolicy& pol, OrderScratch& scratch) {
  const std::size_t n = hits.size();
  if (n < 2) return;
  const auto by_tie = [](const LiquidationHit& a, const LiquidationHit& b) { return a.tie < b.tie; };
  if (pol.order == LiquidationOrder::given) {
    if (!std::is_sorted(hits.begin(), hits.end(), by_tie)) std::sort(hits.begin(), hits.end(), by_tie);
    return;
  }
  const ContractSpec& c = pol.contract;
  ScratchVector<double>& keys = scratch.keys;
  ScratchVector<std::uint64_t>& bits = scratch.bits;
  detail::SortList32& items = scratch.items;
  keys.resize(n);
  bits.resize(n);
  items.resize(n);
  // The keys, on every core for long lists (each from its own hit: the same bits for any thread
  // count), and which of their bits differ anywhere (OR and AND are order-free).
  std::atomic<std::uint64_t> any_one{0}, all_one{~std::uint64_t{0}};
  parallel_for_chunks(n, scratch.threads, 16384, [&](std::size_t begin, std::size_t end) {
    std::uint64_t ones = 0, common = ~std::uint64_t{0};
    for (std::size_t k = begin; k < end; ++k) {
      const double q = hits[k].q;
      const double nt = notional(c, q, mark);
      double key = nt;
      if (pol.order == LiquidationOrder::underwater) {
        const double e = equity(c, q, hits[k].ep, hits[k].m, mark);
        const double mm = maintenance(c, pol.tiers, q, mark);
        key = pol.limit == LimitRule::fillable ? detail::fillable_spread(pol, e, mm, nt)
                                               : (nt > 0.0 ? (mm - e) / nt : 0.0);
      }
      keys[k] = key;
      bits[k] = detail::descending_bits(key);
      ones |= bits[k];
      common &= bits[k];
    }
    any_one.fetch_or(ones, std::memory_order_relaxed);
    all_one.fetch_and(common, std::memory_order_relaxed);
  });
  // Sorted by the bits (stably: equal keys in list order). The radix sort moves 32 of them: the
  // first 32 below the leading bits every key shares, which tell nearly all keys apart; the
  // runs it leaves equal (keys that agree on those 32 bits) are then sorted by all 64.
  const auto by_bits = [&](const detail::SortItem32& x, const detail::SortItem32& y) {
    return bits[x.k] != bits[y.k] ? bits[x.k] < bits[y.k] : x.k < y.k;
  };
  // A list that comes nearly in order is merged instead (detail::merge_runs: the same order).
  // It often does: a stress test's index is sorted, so each side's hits arrive in liquidation-
  // price order, which is the key's order under a flat rate (docs/model.md §3, step 2), and the
  // heap of moved positions pops in that order too.
  constexpr std::size_t kMergedRuns = 8;
  std::vector<std::size_t> starts{0};
  for (std::size_t k = 1; k < n && starts.size() <= kMergedRuns; ++k)
    if (bits[k] < bits[k - 1]) starts.push_back(k);
  const std::uint64_t differ = any_one.load() ^ all_one.load();
  const int lead = differ == 0 ? 0 : std::countl_zero(differ);
  for (std::size_t k = 0; k < n; ++k)
    items[k] = {static_cast<std::uint32_t>((bits[k] << lead) >> 32), static_cast<std::uint32_t>(k)};
  if (starts.size() <= kMergedRuns) {
    detail::merge_runs(items, scratch.tmp, bits.data(), n, std::move(starts));
  } else if (n < 4096) {  // comparisons beat the radix sort's passes on fewer items
    std::sort(items.begin(), items.end(), by_bits);
  } else {
    detail::radix_sort(items, scratch.tmp);
    for (auto first = items.begin(); first != items.end();) {
      auto last = std::next(first);
      while (last != items.end() && last->key == first->key) ++last;
      if (std::distance(first, last) > 1) std::sort(first, last, by_bits);
      first = last;
    }
  }
  // Tied keys (detail::order_keys_tie): larger notional first, then the lower tie.
  const auto after_key = [&](const detail::SortItem32& x, const detail::SortItem32& y) {
    const double nx = notional(c, hits[x.k].q, mark), ny = notional(c, hits[y.k].q, mark);
    if (nx != ny) return nx > ny;
    return hits[x.k].tie < hits[y.k].tie;
  };
  detail::break_order_ties(items.begin(), items.end(), [&](const detail::SortItem32& x) { return keys[x.k]; },
                           after_key);
  bool in_order = true;  // a list that came in order (the merge's common case) stays as it is
  for (std::size_t k = 0; k < n && in_order; ++k) in_order = items[k].k == k;
  if (in_order) return;
  // hits[k] = old hits[items[k].k]: a gather into a second buffer (independent reads, which
  // the CPU overlaps; following the permutation's cycles in place chains cache misses).
  HitList& sorted = scratch.hits;
  sorted.resize(n);
  for (std::size_t k = 0; k < n; ++k) sorted[k] = hits[items[k].k];
  hits.swap(sorted);
}
inline void order_liquidations(HitList& hits, double mark, const LiquidationPolicy& pol) {
  OrderScratch scratch;
  order_liquidations(hits, mark, pol, scratch);
}

// The outcome of liquidating one position (docs/model.md, "One batch", step 3), before the
// fund's inventory sale and the residual allocation of the batch.
struct LiquidationOutcome {
  double closed = 0.0, book_closed = 0.0, fallback_closed = 0.0;
  double bankruptcy_price = 0.0;
  double vwap = std::numeric_limits<double>::quiet_NaN();
  double deficit = 0.0, surplus = 0.0, fee = 0.0;
  double draw = 0.0;       // paid by the fund for the deficit
  double shortfall = 0.0;  // deficit the fund could not pay
  double closed_notional = 0.0;  // notional at the mark of what was closed
  double trader_change = 0.0;    // trader's equity change at the mark (ledger row "traders")
  double last_fill = std::numeric_limits<double>::quiet_NaN();  // last book (or takeover) fill price
  bool full = true;              // closed in full (else a partial close or a slice)
};

// Compensated sums over the outcomes of a batch (or of a cascade round).
struct OutcomeSums {
  CompensatedSum notional, fees, deficit, surplus, draw;
  CompensatedSum shortfall_long, shortfall_short;  // the residual, by side of the liquidated positions
  // the fund's inventory: its losses and gains, and the quantity no book absorbed
  CompensatedSum inventory_loss, inventory_gain, unabsorbed;

  void add(double q, const LiquidationOutcome& o) noexcept {
    notional.add(o.closed_notional);
    fees.add(o.fee);
    deficit.add(o.deficit);
    surplus.add(o.surplus);
    draw.add(o.draw);
    (q > 0.0 ? shortfall_long : shortfall_short).add(o.shortfall);
  }
  // The fund's rows of the ledger for the outcomes added: the fees it received and what it paid
  // for the deficits (liquidate_position leaves both to the batch: two sums fewer per position).
  void to_ledger(Ledger& led) const noexcept {
    led.add(LedgerRow::fund_fees, fees.value());
    led.add(LedgerRow::fund_deficit, -draw.value());
  }
  double residual() const noexcept { return shortfall_long.value() + shortfall_short.value(); }
  // A loss (> 0) or gain (< 0) of the fund's inventory.
  void add_inventory(double loss) noexcept { (loss > 0.0 ? inventory_loss : inventory_gain).add(std::abs(loss)); }

  // Sets a batch's totals (LiquidationTotals, AccountLiquidationTotals) from these sums, with the
  // fund's draw and the residual as the batch summed them; bad_debt = deficit + inventory_loss.
  template <class Totals>
  void fill(Totals& t, double insurance_draw, double residual) const {
    t.closed_notional = notional.value();
    t.fees = fees.value();
    t.deficit = deficit.value();
    t.surplus = surplus.value();
    t.inventory_loss = inventory_loss.value();
    t.inventory_gain = inventory_gain.value();
    t.unabsorbed = unabsorbed.value();
    t.bad_debt = t.deficit + t.inventory_loss;
    t.insurance_draw = insurance_draw;
    t.residual = residual;
  }
};

// ---- the fund's inventory ---------------------------------------------------------------------

// What the fund took over at a bankruptcy price and has not sold yet (docs/model.md,
// "Inventory"): per side of the positions it came from (s = +1: long inventory, sold into the
// bids), lots in the order they were taken over. `tag` identifies the liquidation a lot came
// from (its entry in the caller's outputs), so that its loss is attributed there.
struct InventoryLot {
  double qty, bp;
  std::size_t tag;
};
struct Inventory {
  std::vector<InventoryLot> lots;
  std::size_t head = 0;  // lots before head are sold
  bool empty() const noexcept { return head == lots.size(); }
  void clear() noexcept {
    lots.clear();
    head = 0;
  }
  double quantity() const noexcept {
    double q = 0.0;
    for (std::size_t k = head; k < lots.size(); ++k) q += lots[k].qty;
    return q;
  }
};

// One piece of inventory sold or valued: `loss` > 0 is a loss of the holder against the lot's
// bankruptcy price, < 0 a gain; `vs_mark` is the holder's gain against the mark, for the ledger.
struct InventoryPiece {
  std::size_t tag;
  double qty, loss, vs_mark;
};
using PieceList = HugeVector<InventoryPiece>;
using Flags = HugeVector<std::uint8_t>;  // one byte per element (sold pieces, liquidated positions)

// Sells the inventory of side s through `cur` (advancing it) at mark `mark` within the band
// limit `edge` (lots first in, first sold); on_piece(piece) for each lot (or part) sold. Returns
// the fills against the mark (for the round's mark and the makers' row).
template <class OnPiece>
inline detail::FillSums sell_inventory(Inventory& inv, detail::Cursor& cur, const ContractSpec& c, double s,
                                       double mark, double edge, OnPiece&& on_piece) {
  detail::FillSums all;
  const double inf = std::numeric_limits<double>::infinity();
  while (!inv.empty()) {
    InventoryLot& lot = inv.lots[inv.head];
    detail::FillSums f;  // against the lot's bankruptcy price
    const double left = detail::walk(cur, c, s, lot.bp, lot.qty, edge, lot.bp, inf, f);
    const double sold = lot.qty - left;
    if (sold > 0.0) {
      on_piece(InventoryPiece{lot.tag, sold, -f.gain, f.gain - pnl(c, s * sold, lot.bp, mark)});
      all.gain += f.gain - pnl(c, s * sold, lot.bp, mark);
      all.fill_notional += f.fill_notional;
      all.vw_num += f.vw_num;
      all.vw_den += f.vw_den;
      all.last = f.last;
    }
    if (left > 0.0) {
      lot.qty = left;
      break;
    }
    ++inv.head;
  }
  return all;
}

// sell_inventory for the engines that keep the pieces of a round in one list: appends each sold
// piece as keep(piece) to `pieces` (flag 1 in `sold`) and returns the fill sums and the quantity
// sold (those pieces' quantities, summed in order).
struct InventorySale {
  detail::FillSums fills;
  double qty = 0.0;
};
template <class Keep>
inline InventorySale sell_into(Inventory& inv, detail::Cursor& cur, const ContractSpec& c, double s, double mark,
                               double edge, PieceList& pieces, Flags& sold, Keep&& keep) {
  const std::size_t before = pieces.size();
  InventorySale r;
  r.fills = sell_inventory(inv, cur, c, s, mark, edge, [&](const InventoryPiece& p) {
    pieces.push_back(keep(p));
    sold.push_back(1);
  });
  for (std::size_t k = before; k < pieces.size(); ++k) r.qty += pieces[k].qty;
  return r;
}
inline InventorySale sell_into(Inventory& inv, detail::Cursor& cur, const ContractSpec& c, double s, double mark,
                               double edge, PieceList& pieces, Flags& sold) {
  return sell_into(inv, cur, c, s, mark, edge, pieces, sold, [](const InventoryPiece& p) { return p; });
}

// Values what is left of the inventory at `price` (the band edge), without selling it:
// on_piece(piece) per lot; the inventory is emptied.
template <class OnPiece>
inline void value_inventory(Inventory& inv, const ContractSpec& c, double s, double mark, double price,
                            OnPiece&& on_piece) {
  for (std::size_t k = inv.head; k < inv.lots.size(); ++k) {
    const InventoryLot& lot = inv.lots[k];
    on_piece(InventoryPiece{lot.tag, lot.qty, -pnl(c, s * lot.qty, lot.bp, price),
                            pnl(c, s * lot.qty, mark, price)});
  }
  inv.clear();
}

namespace detail {
// Orders inventory pieces (and their sold flags) by tag, stably: the fund pays losses in
// liquidation order, whichever side a piece is on.
inline void order_pieces(PieceList& pieces, Flags& sold, PieceList& tmp, Flags& sold_tmp) {
  const auto by_tag = [](const InventoryPiece& a, const InventoryPiece& b) { return a.tag < b.tag; };
  if (std::is_sorted(pieces.begin(), pieces.end(), by_tag)) return;
  std::vector<std::size_t> idx(pieces.size());
  for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return pieces[a].tag < pieces[b].tag; });
  tmp.resize(pieces.size());
  sold_tmp.resize(pieces.size());
  for (std::size_t k = 0; k < idx.size(); ++k) {
    tmp[k] = pieces[idx[k]];
    sold_tmp[k] = sold[idx[k]];
  }
  pieces.swap(tmp);
  sold.swap(sold_tmp);
}
}  // namespace detail

// Values inventory the holder keeps (the end of a cascade): at the exit price of the book the
// cursor `cur` looks at (a walk on this copy, the book is not consumed; cur.side null: no book),
// within the band edge, the rest at the edge. on_piece(piece) per lot or part, all valued (not
// sold); the inventory is emptied. Returns the quantity the book could not absorb.
template <class OnPiece>
inline double value_at_exit(Inventory& inv, detail::Cursor cur, const ContractSpec& c, double s, double mark,
                            double edge, OnPiece&& on_piece) {
  if (cur.side) sell_inventory(inv, cur, c, s, mark, edge, on_piece);
  const double unabsorbed = inv.quantity();
  value_inventory(inv, c, s, mark, edge, on_piece);
  return unabsorbed;
}

// ---- the close step ---------------------------------------------------------------------------

// What one close needs besides the policy (docs/model.md, "One batch", step 3): the side s
// (+1 long), the quantity Q, the mark, the price limit (NaN: none; already within the band), the
// takeover price of what the book does not take (the bankruptcy price, or the mark when none
// exists), the notional the slice threshold is compared with, the quote value of one unit of the
// margin currency (1 for isolated positions; the fund's and the ledger's currency), whether a
// backstop takes the position whole, and whether the close walks a book (or a takeover level).
struct CloseRequest {
  double s, Q, mark, limit, takeover_px, notional;
  double quote_factor = 1.0;
  bool backstopped = false;
  bool by_book = true;
};

// What one close did: the quantity closed (delta), of which taken over by the fund (fallback),
// the book fills, and the close's gain against the mark including the takeover at takeover_px.
struct CloseFills {
  double delta = 0.0, fallback = 0.0;
  detail::FillSums fills;
  double gain = 0.0, vw_num = 0.0, vw_den = 0.0;
  double book_filled() const noexcept { return delta - fallback; }
  double vwap() const noexcept { return vw_den > 0.0 ? vw_num / vw_den : std::numeric_limits<double>::quiet_NaN(); }
};

// A slice or partial size d of a position of size Q on the contract's size step (docs/model.md,
// "Order sizes"): rounded down (dYdX) or up (Drift) to a multiple of the step, then clamped to
// [step, Q] as dYdX clamps its liquidation order. No step (0): d unchanged.
inline double round_size(double d, double Q, double step, SizeRounding rule) noexcept {
  if (!(step > 0.0) || !(d < Q)) return d;
  const double k = d / step;
  const double r = step * (rule == SizeRounding::down ? std::floor(k) : std::ceil(k));
  return std::clamp(r, std::min(step, Q), Q);
}

// The close step shared by every engine (isolated batches, cascades, accounts): sizing (full,
// partial via partial_size(limit), slices accepted by slice_ok(d, fills)), execution from the
// cursor (advancing it) within the limit, refusal of fills the fund cannot cover, and the
// fallback taken over by the fund at takeover_px as inventory lot `tag`. Ledger rows (in quote
// via quote_factor): the makers' or liquidators' side of the fills, the fund's inventory against
// the mark. The trader's outcome and the fund's payment are the caller's (they differ between an
// isolated position and a slice of an account).
template <class PartialSize, class SliceOk>
inline CloseFills close_position(const LiquidationPolicy& pol, const CloseRequest& rq, detail::Cursor& cur,
                                 const InsuranceFund& fund, Inventory& inventory, std::size_t tag, Ledger& led,
                                 PartialSize&& partial_size, SliceOk&& slice_ok) {
  const ContractSpec& c = pol.contract;
  const double inf = std::numeric_limits<double>::infinity();
  const double s = rq.s, Q = rq.Q, f = rq.quote_factor;
  CloseFills r;
  r.delta = Q;
  r.fallback = Q;
  if (!rq.backstopped) {
    bool done = false;
    if (pol.sizing == Sizing::partial) {
      r.delta = round_size(partial_size(rq.limit), Q, c.size_step, pol.size_rounding);
    } else if (pol.sizing == Sizing::slices && rq.notional > pol.slice_threshold) {
      const double d = round_size(pol.slice_fraction * Q, Q, c.size_step, pol.size_rounding);
      detail::Cursor trial = cur;
      detail::FillSums fs;
      if (d < Q && detail::walk(trial, c, s, rq.mark, d, rq.limit, rq.takeover_px, inf, fs) == 0.0 &&
          slice_ok(d, fs)) {
        cur = trial;
        r.fills = fs;
        r.delta = d;
        r.fallback = 0.0;
        done = true;
      }
    }
    if (!done) {
      const double allowance = pol.refuse_uncovered && r.delta == Q && rq.by_book ? fund.available() / f : inf;
      r.fallback = detail::walk(cur, c, s, rq.mark, r.delta, rq.limit, rq.takeover_px, allowance, r.fills);
    }
  }
  led.add(rq.by_book ? LedgerRow::makers : LedgerRow::liquidators, -r.fills.gain * f);
  r.gain = r.fills.gain;
  r.vw_num = r.fills.vw_num;
  r.vw_den = r.fills.vw_den;
  if (r.fallback > 0.0) {
    // The fund takes the rest over as inventory; its loss is known when it is sold or valued.
    r.gain += pnl(c, s * r.fallback, rq.mark, rq.takeover_px);
    detail::FillSums::add_vwap(c, r.fallback, rq.takeover_px, r.vw_num, r.vw_den);
    inventory.lots.push_back({r.fallback, rq.takeover_px, tag});
    led.add(LedgerRow::fund_inventory, pnl(c, s * r.fallback, rq.takeover_px, rq.mark) * f);
  }
  return r;
}

// Liquidates position (q, ep, m) at `mark`: the close step above (the fallback added to
// `inventory` with `tag`), then the trader's outcome, the fee and the fund's payment of the
// deficit. Ledger rows: the close's and the trader's; the fund's fee and draw rows are added by
// the caller from the sums of its outcomes (OutcomeSums::to_ledger). Shared by the batch below
// and the cascade engine.
inline LiquidationOutcome liquidate_position(const LiquidationPolicy& pol, double q, double ep, double m,
                                             double mark, detail::Cursor& cur, InsuranceFund& fund,
                                             Inventory& inventory, std::size_t tag, Ledger& led) {
  const ContractSpec& c = pol.contract;
  const double s = q > 0.0 ? 1.0 : -1.0;
  const double Q = std::abs(q);
  const double E = equity(c, q, ep, m, mark);
  const double MM = maintenance(c, pol.tiers, q, mark);
  const double BP = bankruptcy_price(c, q, ep, m);
  const double N0 = notional(c, q, mark);
  const bool by_book = pol.execution == Execution::book;
  double limit = kNoLimit;
  if (by_book) {
    if (pol.limit == LimitRule::bankruptcy) {
      limit = BP;
    } else if (pol.limit == LimitRule::fillable) {
      limit = mark * (1.0 - s * detail::fillable_spread(pol, E, MM, N0));
    }
    limit = within_band(s, limit, band_edge(s, mark, pol.price_band));
  }
  const CloseRequest rq{s, Q, mark, limit, BP, N0, 1.0, !std::isnan(pol.backstop) && E < pol.backstop * MM, by_book};
  const CloseFills cf = close_position(
      pol, rq, cur, fund, inventory, tag, led,
      [&](double lim) { return detail::partial_size(cur, pol, s, mark, Q, E, lim); },
      // a slice that would leave the rest of the position with negative equity is a full close
      [&](double d, const detail::FillSums& fs) {
        const double S = (d / Q) * E + fs.gain;
        return E + fs.gain - liquidation_fee(pol.fee, pol.fee_cap, pol.fee_rate, S, fs.fill_notional) >= 0.0;
      });
  const double delta = cf.delta, gain = cf.gain;
  const detail::FillSums& fills = cf.fills;

  // Trader outcome. A full close leaves E + gain; a partial close keeps the position open and
  // never draws on the fund (its size was chosen so the rest stays solvent): its surplus is
  // the slice's own equity (Δ/Q)·E + gain, and a negative slice equity is borne by the rest.
  const bool full = delta == Q;
  double deficit = 0.0, surplus = 0.0;
  if (full) {
    const double after = E + gain;
    deficit = std::max(0.0, -after);
    surplus = std::max(0.0, after);
  } else {
    surplus = std::max(0.0, (delta / Q) * E + gain);
  }
  const double fee = liquidation_fee(pol.fee, pol.fee_cap, pol.fee_rate, surplus, fills.fill_notional);
  const double trader_change = full ? (deficit > 0.0 ? -E : surplus - fee - E) : gain - fee;
  led.add(LedgerRow::traders, trader_change);

  // Fund: the fee first, then the deficit down to the reserve; the rest is the shortfall.
  // (Its ledger rows, the fee and the draw, are the caller's: OutcomeSums::to_ledger.)
  fund.credit(fee);
  const double draw = fund.pay(deficit);

  LiquidationOutcome o;
  o.closed = delta;
  o.book_closed = cf.book_filled();
  o.fallback_closed = cf.fallback;
  o.bankruptcy_price = BP;
  o.vwap = cf.vwap();
  o.deficit = deficit;
  o.surplus = surplus;
  o.fee = fee;
  o.draw = draw;
  o.shortfall = deficit - draw;
  o.closed_notional = notional(c, delta, mark);
  o.trader_change = trader_change;
  o.last_fill = fills.last;
  o.full = full;
  return o;
}

// The fund settles inventory pieces (docs/model.md, "One batch", step 4): every gain is
// credited first, then the losses are paid in the order given, down to the reserve. For each
// piece, on_paid(piece, draw, shortfall). Ledger: the pieces against the mark (fund_inventory,
// and makers for sold pieces, or valuation for valued ones) and the residual the fund receives.
// Pieces of one lot (consecutive, same tag: part sold, part valued) are netted first: a lot's
// loss is the net of its pieces.
template <class OnPaid>
inline void settle_inventory(std::span<const InventoryPiece> pieces, std::span<const std::uint8_t> sold,
                             InsuranceFund& fund, Ledger& led, OnPaid&& on_paid) {
  PieceList lots;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    const InventoryPiece& p = pieces[k];
    led.add(LedgerRow::fund_inventory, p.vs_mark);
    led.add(sold[k] ? LedgerRow::makers : LedgerRow::valuation, -p.vs_mark);
    if (!lots.empty() && lots.back().tag == p.tag) {
      lots.back().qty += p.qty;
      lots.back().loss += p.loss;
      lots.back().vs_mark += p.vs_mark;
    } else {
      lots.push_back(p);
    }
  }
  for (const InventoryPiece& p : lots)
    if (p.loss < 0.0) fund.credit(-p.loss);
  for (const InventoryPiece& p : lots) {
    const double draw = p.loss > 0.0 ? fund.pay(p.loss) : 0.0;
    const double shortfall = std::max(p.loss, 0.0) - draw;
    led.add(LedgerRow::fund_residual, shortfall);
    on_paid(p, draw, shortfall);
  }
}

// Liquidates the positions that are liquidatable at `mark` and runs the whole waterfall:
// fees, the fund (starting at `fund_balance`), the fund's inventory sale and the residual
// allocation (docs/model.md §3).
// `book_after` receives the book after the closes; `book` is not changed.
inline LiquidationTotals liquidate(const PositionColumns& pos, const Book& book, double mark,
                                   const LiquidationPolicy& pol, double fund_balance, LiquidationOutputs& out,
                                   Book& book_after) {
  const std::size_t n = pos.size.size();
  const ContractSpec& c = pol.contract;

  if (n >= std::numeric_limits<std::uint32_t>::max())
    throw InvalidArgument("positions", -1, "must hold fewer than 2^32 - 1 positions");

  // ---- detection: one pass, value checks folded in ------------------------------------------
  // On every core (fixed chunks, parallel.hpp): each chunk gathers its liquidatable subset in
  // index order; the chunks' lists are joined in chunk order, so the result does not depend on
  // the thread count. The liquidation loop then reads this compact copy instead of jumping
  // around the full columns. Within a chunk detection runs by blocks: a branch-free loop the
  // compiler vectorizes (the columns through restrict pointers, the value checks folded into
  // one flag) sets each position's byte, then the block's hits are gathered eight bytes at a
  // time (a word of zero bytes skipped at once) while its columns are still in cache.
  out.liquidated.resize(n);
  std::uint8_t* flag = out.liquidated.data();
  constexpr std::size_t kBlock = 512;
  const std::size_t step = chunk_step(n, resolve_threads(n, 0), 64 * kBlock);
  const std::size_t chunks = n == 0 ? 0 : (n + step - 1) / step;
  std::vector<HitList> part(std::max<std::size_t>(chunks, 1));
  auto detect = [&](auto eq_minus_mm) {
    return parallel_any(n, 0, 64 * kBlock, [&](std::size_t begin, std::size_t end) {
      HitList& hits = part[begin / step];
      hits.reserve(std::min(end - begin, (end - begin) / 8 + kBlock));  // no regrowth up to 1/8
      const auto liquidatable = eq_minus_mm;  // a local copy: its captures stay in registers
      const double* __restrict qs = pos.size.data();
      const double* __restrict eps = pos.entry_price.data();
      const double* __restrict ms = pos.margin.data();
      double bad = 0.0;
      // 1.0: liquidatable. Doubles, as the columns: a select between doubles vectorizes on the
      // baseline x86-64 (SSE2), a comparison stored as an integer does not (GCC 12).
      double hit[kBlock];
      for (std::size_t lo = begin; lo < end; lo += kBlock) {
        const std::size_t hi = std::min(end, lo + kBlock), len = hi - lo;
        const double* __restrict q = qs + lo;
        const double* __restrict ep = eps + lo;
        const double* __restrict m = ms + lo;
        double any = 0.0;
        for (std::size_t j = 0; j < len; ++j) {
          bad = detail::flag(bad, detail::ok(detail::Rule::finite, q[j]) & detail::ok(detail::Rule::positive, ep[j]) &
                                      detail::ok(detail::Rule::nonnegative, m[j]));
          const bool h = (q[j] != 0.0) & liquidatable(q[j], ep[j], m[j]);
          hit[j] = h ? 1.0 : 0.0;
          any = h ? 1.0 : any;
        }
        std::uint8_t* __restrict fl = flag + lo;
        for (std::size_t j = 0; j < len; ++j) fl[j] = static_cast<std::uint8_t>(hit[j]);
        if (any == 0.0) continue;
        std::size_t j0 = 0;
        for (; j0 + 8 <= len; j0 += 8) {
          std::uint64_t word;
          std::memcpy(&word, fl + j0, sizeof word);
          while (word != 0) {  // flag bytes are 0 or 1: the lowest set bit's byte is a hit
            const std::size_t i = lo + j0 + static_cast<std::size_t>(std::countr_zero(word)) / 8;
            hits.push_back({qs[i], eps[i], ms[i], static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i)});
            word &= word - 1;
          }
        }
        for (; j0 < len; ++j0) {
          const std::size_t i = lo + j0;
          if (fl[j0]) hits.push_back({qs[i], eps[i], ms[i], static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i)});
        }
      }
      return bad != 0.0;
    });
  };
  bool bad;
  if (c.kind == Contract::linear && pol.tiers.size() == 1) {  // the common case, vectorizable
    const double rate = pol.tiers.mmr[0];  // same bits as maintenance(): rate·max(n − 0, 0)
    bad = detect([rate, mark](double q, double ep, double m) { return m + q * (mark - ep) < rate * (std::abs(q) * mark); });
  } else {
    bad = detect([&](double q, double ep, double m) {
      return equity(c, q, ep, m, mark) < maintenance(c, pol.tiers, q, mark);
    });
  }
  HitList hits = std::move(part[0]);
  for (std::size_t k = 1; k < part.size(); ++k) hits.insert(hits.end(), part[k].begin(), part[k].end());
  if (bad) report_bad_position(pos);

  // ---- ordering of the liquidatable subset --------------------------------------------------
  order_liquidations(hits, mark, pol);

  // ---- sequential liquidation ---------------------------------------------------------------
  if (pol.residual != ResidualRule::none) out.adl.assign(n, 0.0);
  Counterparties counterparties(c, pos.size, pos.entry_price, pos.margin, out.liquidated, mark, out.adl);
  const std::size_t nliq = hits.size();
  for (auto* v : {&out.closed, &out.book_closed, &out.fallback_closed, &out.vwap, &out.deficit, &out.surplus,
                  &out.fee, &out.insurance_draw, &out.shortfall, &out.inventory_loss})
    v->resize(nliq);
  out.order.resize(nliq);
  for (std::size_t k = 0; k < nliq; ++k) out.order[k] = static_cast<std::int64_t>(hits[k].i);
  book_after = book;
  // Book cursors (the fund sells its inventory through them), and the cursors the closes use.
  detail::Cursor bids, asks;
  bids.side = &book_after.bids();
  asks.side = &book_after.asks();
  bids.bid = true;
  asks.bid = false;
  detail::Cursor take_bids = bids, take_asks = asks;
  if (pol.execution == Execution::takeover) {
    take_bids.side = take_asks.side = nullptr;
    take_bids.takeover_px = mark * (1.0 - pol.takeover_fee);
    take_asks.takeover_px = mark * (1.0 + pol.takeover_fee);
  }
  detail::Cursor& close_bids = pol.execution == Execution::book ? bids : take_bids;
  detail::Cursor& close_asks = pol.execution == Execution::book ? asks : take_asks;

  LiquidationTotals tot;
  Ledger& led = tot.ledger;
  InsuranceFund fund(fund_balance, pol.reserve);
  OutcomeSums sums;
  Inventory long_inv, short_inv;

  for (std::size_t k = 0; k < hits.size(); ++k) {
    const double q = hits[k].q;
    const LiquidationOutcome o = liquidate_position(pol, q, hits[k].ep, hits[k].m, mark, q > 0.0 ? close_bids : close_asks,
                                                    fund, q > 0.0 ? long_inv : short_inv, k, led);
    out.closed[k] = o.closed;
    out.book_closed[k] = o.book_closed;
    out.fallback_closed[k] = o.fallback_closed;
    out.vwap[k] = o.vwap;
    out.deficit[k] = o.deficit;
    out.surplus[k] = o.surplus;
    out.fee[k] = o.fee;
    out.insurance_draw[k] = o.draw;
    out.shortfall[k] = o.shortfall;
    out.inventory_loss[k] = 0.0;
    sums.add(q, o);
    if (pol.execution == Execution::book) tot.flow.add(q > 0.0 ? 1.0 : -1.0, o.book_closed, o.last_fill);
  }

  // ---- the fund sells its inventory into the book left by the closes, within the band --------
  PieceList pieces;
  Flags sold;
  for (const double s : {1.0, -1.0}) {
    Inventory& inv = s > 0.0 ? long_inv : short_inv;
    if (inv.empty()) continue;
    const double edge = band_edge(s, mark, pol.price_band);
    const InventorySale sale = sell_into(inv, s > 0.0 ? bids : asks, c, s, mark, edge, pieces, sold);
    tot.flow.add(s, sale.qty, sale.fills.last);
    sums.unabsorbed.add(inv.quantity());
    value_inventory(inv, c, s, mark, edge, [&](const InventoryPiece& p) {
      pieces.push_back(p);
      sold.push_back(0);
    });
  }
  // Losses are paid in liquidation order.
  {
    PieceList tmp;
    Flags sold_tmp;
    detail::order_pieces(pieces, sold, tmp, sold_tmp);
  }
  CompensatedSum inv_draw;
  settle_inventory(pieces, sold, fund, led, [&](const InventoryPiece& p, double draw, double shortfall) {
    out.inventory_loss[p.tag] += p.loss;
    out.insurance_draw[p.tag] += draw;
    out.shortfall[p.tag] += shortfall;
    sums.add_inventory(p.loss);
    inv_draw.add(draw);
    (hits[p.tag].q > 0.0 ? sums.shortfall_long : sums.shortfall_short).add(shortfall);
  });
  book_after.bids_mut().consume(bids.level, bids.used);
  book_after.asks_mut().consume(asks.level, asks.used);

  tot.liquidated = static_cast<std::int64_t>(hits.size());
  sums.to_ledger(led);
  sums.fill(tot, sums.draw.value() + inv_draw.value(), sums.residual());
  tot.fund_after = fund.balance();

  // ---- residual allocation --------------------------------------------------------------------
  tot.adl_transfers =
      counterparties.settle(pol.residual, pol.adl_cap, sums.shortfall_long.value(), sums.shortfall_short.value());
  tot.uncovered = std::max(0.0, tot.residual - tot.adl_transfers);
  led.add(LedgerRow::residual_transfers, -tot.adl_transfers);
  led.add(LedgerRow::uncovered, -(tot.residual - tot.adl_transfers));
  return tot;
}

}  // namespace liqcore
