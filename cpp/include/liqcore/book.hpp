// The L2 order book of one market (docs/model.md §2).
//
// Each side keeps its levels best first (bids descending, asks ascending) with prefix sums of
// quantity and notional, so that independent what-if orders are answered from the prefix sums
// and sequential orders walk the levels from where the previous one stopped.
//
// Two definitions of a market order live here and agree up to rounding:
// - BookSide::walk, level by level (sequential orders: SideWalker, Book::execute);
// - BookSide::quote, from the prefix sums (independent what-if orders: Book::sweep_many).
//   For 0 < q < cum_qty[n] (n = levels allowed by the limit), with j the number of prefix sums
//   strictly below q: levels = j, worst = px[j-1], notional = cum_notional[j] when q hits
//   cum_qty[j] exactly, else cum_notional[j-1] + (q - cum_qty[j-1]) px[j-1]. For q >= cum_qty[n]
//   the n levels fill entirely and q - cum_qty[n] is unfilled.
//
// The kernel classes are not synchronized; the Python binding guards each Book with a
// shared mutex (readers shared, mutators exclusive).
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "liqcore/error.hpp"
#include "liqcore/parallel.hpp"

namespace liqcore {

// The taker's side: a sell walks the bids, a buy walks the asks.
enum class Side : int { buy = 0, sell = 1 };

// Outcome of one market order. vwap and worst are NaN when nothing filled.
struct Fill {
  double filled = 0.0;    // base quantity filled
  double notional = 0.0;  // quote paid or received
  double vwap = std::numeric_limits<double>::quiet_NaN();
  double worst = std::numeric_limits<double>::quiet_NaN();  // last price touched
  std::int64_t levels = 0;                                   // levels touched (partial included)
  double unfilled = 0.0;
};

inline constexpr double kNoLimit = std::numeric_limits<double>::quiet_NaN();

// Output columns of a batch of orders (one entry per order), owned by the caller.
struct FillColumns {
  double* filled;
  double* notional;
  double* vwap;
  double* worst;
  std::int64_t* levels;
  double* unfilled;

  void set(std::size_t i, const Fill& f) const noexcept {
    filled[i] = f.filled;
    notional[i] = f.notional;
    vwap[i] = f.vwap;
    worst[i] = f.worst;
    levels[i] = f.levels;
    unfilled[i] = f.unfilled;
  }
};

namespace detail {
inline bool valid_qty(double q) noexcept { return q >= 0.0 && q <= DBL_MAX; }
inline bool valid_limit(double l) noexcept { return std::isnan(l) || (l > 0.0 && l <= DBL_MAX); }

// Names and index convention of the order arguments in error messages.
struct OrderArgs {
  const char* qty = "qtys";
  const char* limit = "limits";
  bool scalar = false;  // report index -1 (the arguments were scalars)
};

// Throws for the first invalid order (called only once a pass has seen one).
inline void throw_first_bad_order(std::span<const double> qtys, std::span<const double> limits,
                                  const OrderArgs& args) {
  for (std::size_t i = 0; i < qtys.size(); ++i) {
    const std::int64_t at = args.scalar ? -1 : static_cast<std::int64_t>(i);
    if (!valid_qty(qtys[i])) throw InvalidArgument(args.qty, at, "must be finite and >= 0 " + describe(qtys[i]));
    const double l = limits.empty() ? kNoLimit : limits[limits.size() == 1 ? 0 : i];
    if (!valid_limit(l))
      throw InvalidArgument(args.limit, limits.size() == 1 ? -1 : at,
                            "must be finite and > 0, or NaN for no limit " + describe(l));
  }
}

inline void check_limits_length(std::span<const double> qtys, std::span<const double> limits, const OrderArgs& args) {
  if (limits.size() > 1 && limits.size() != qtys.size())
    throw InvalidArgument(args.limit, -1,
                          "has length " + std::to_string(limits.size()) + ", expected " +
                              std::to_string(qtys.size()) + " (the length of " + args.qty + ")");
}

// A side's levels have as many quantities as prices; `name` prefixes the error ("bid" ->
// "bid_qty ... bid_px").
inline void check_side_lengths(std::span<const double> px, std::span<const double> qty, const std::string& name) {
  if (px.size() != qty.size())
    throw InvalidArgument(name + "_qty", -1,
                          "must have the same length as " + name + "_px (" + std::to_string(qty.size()) +
                              " != " + std::to_string(px.size()) + ")");
}
}  // namespace detail

class BookSide {
 public:
  BookSide() = default;
  // Levels best first. `bid` selects the ordering: bids strictly descending, asks strictly
  // ascending. Validates finite positive prices and quantities; `name` prefixes errors
  // ("bid" -> "bid_px[3] ...").
  BookSide(bool bid, std::span<const double> px, std::span<const double> qty, const std::string& name)
      : bid_(bid), px_(px.begin(), px.end()), qty_(qty.begin(), qty.end()) {
    detail::check_side_lengths(px, qty, name);
    for (std::size_t i = 0; i < px_.size(); ++i) {
      const auto ii = static_cast<std::int64_t>(i);
      if (!(std::isfinite(px_[i]) && px_[i] > 0.0))
        throw InvalidArgument(name + "_px", ii, "must be finite and > 0 " + describe(px_[i]));
      if (!(std::isfinite(qty_[i]) && qty_[i] > 0.0))
        throw InvalidArgument(name + "_qty", ii, "must be finite and > 0 " + describe(qty_[i]));
      if (i > 0 && !better(px_[i - 1], px_[i]))
        throw InvalidArgument(name + "_px", ii,
                              std::string("must be strictly ") + (bid ? "descending" : "ascending") + " " +
                                  describe(px_[i]));
    }
    rebuild();
    check_total(name);
  }

  bool is_bid() const noexcept { return bid_; }
  std::size_t size() const noexcept { return px_.size(); }
  bool empty() const noexcept { return px_.empty(); }
  std::span<const double> px() const noexcept { return px_; }
  std::span<const double> qty() const noexcept { return qty_; }
  // cum_qty()[k] = quantity of the best k levels; size() + 1 entries.
  std::span<const double> cum_qty() const noexcept { return cum_qty_; }
  std::span<const double> cum_notional() const noexcept { return cum_notional_; }
  double total_qty() const noexcept { return cum_qty_.back(); }
  double best() const noexcept { return empty() ? std::numeric_limits<double>::quiet_NaN() : px_[0]; }

  // a is strictly better than b for a taker on this side.
  bool better(double a, double b) const noexcept { return bid_ ? a > b : a < b; }
  // Price p is acceptable under limit (NaN: no limit).
  bool acceptable(double p, double limit) const noexcept {
    return std::isnan(limit) || (bid_ ? p >= limit : p <= limit);
  }
  // Number of best levels whose price is acceptable under `limit` (branch-free binary search).
  std::size_t eligible(double limit) const noexcept {
    if (std::isnan(limit) || px_.empty()) return px_.size();
    const double* base = px_.data();
    std::size_t len = px_.size();
    while (len > 1) {
      const std::size_t half = len / 2;
      base = acceptable(base[half], limit) ? base + half : base;
      len -= half;
    }
    return static_cast<std::size_t>(base - px_.data()) + (acceptable(*base, limit) ? 1 : 0);
  }

  // One what-if market order of qty q >= 0 over the best n levels, from the prefix sums
  // (see the header comment). O(1) expected via the bucket index, O(log L) worst case.
  Fill quote(double q, std::size_t n) const noexcept {
    Fill f;
    if (q >= cum_qty_[n]) {
      f.filled = cum_qty_[n];
      f.notional = cum_notional_[n];
      f.levels = static_cast<std::int64_t>(n);
      if (n > 0) f.worst = px_[n - 1];
      f.unfilled = q - cum_qty_[n];
    } else if (q > 0.0) {
      const std::size_t j = count_below(q);  // 1 <= j <= n
      f.filled = q;
      f.notional = cum_qty_[j] == q ? cum_notional_[j] : cum_notional_[j - 1] + (q - cum_qty_[j - 1]) * px_[j - 1];
      f.levels = static_cast<std::int64_t>(j);
      f.worst = px_[j - 1];
    }
    if (f.filled > 0.0) f.vwap = f.notional / f.filled;
    return f;
  }
  Fill quote(double q, double limit = kNoLimit) const noexcept { return quote(q, eligible(limit)); }

  // Number of prefix sums cum_qty()[k] strictly below q, for 0 < q < total_qty().
  std::size_t count_below(double q) const noexcept {
    const std::uint32_t b = bucket(q);
    std::size_t j = start_[b];
    const std::size_t end = start_[b + 1];
    // Branch-free over the first kWindow entries of the bucket (almost every bucket holds fewer).
    std::size_t c = 0;
    for (std::size_t t = 0; t < kWindow; ++t) {
      const std::size_t k = j + t;
      c += static_cast<std::size_t>((k < end) & (cum_qty_[std::min(k, px_.size())] < q));
    }
    j += c;
    if (c == kWindow && j < end) [[unlikely]]  // a crowded bucket: binary search the rest
      j = static_cast<std::size_t>(std::partition_point(cum_qty_.begin() + static_cast<std::ptrdiff_t>(j),
                                                        cum_qty_.begin() + static_cast<std::ptrdiff_t>(end),
                                                        [q](double c2) { return c2 < q; }) -
                                   cum_qty_.begin());
    return j;
  }

  // Walks the side level by level from (level, used) without changing it: the reference
  // definition of a market order. Returns the fill and the position where it stopped.
  Fill walk(double qty, double limit, std::size_t& level, double& used) const noexcept {
    Fill f;
    double remaining = qty;
    while (remaining > 0.0 && level < px_.size() && acceptable(px_[level], limit)) {
      const double avail = qty_[level] - used;
      const double take = std::min(remaining, avail);
      f.filled += take;
      f.notional += take * px_[level];
      f.worst = px_[level];
      f.levels += 1;
      remaining -= take;
      if (take == avail) {
        ++level;
        used = 0.0;
      } else {
        used += take;
      }
    }
    f.unfilled = std::max(qty - f.filled, 0.0);
    if (f.filled > 0.0) f.vwap = f.notional / f.filled;
    return f;
  }

  Fill walk(double qty, double limit) const noexcept {
    std::size_t level = 0;
    double used = 0.0;
    return walk(qty, limit, level, used);
  }

  // The side after the first `level` levels are gone and `used` is taken from the next one.
  void consume(std::size_t level, double used) {
    level = std::min(level, px_.size());
    px_.erase(px_.begin(), px_.begin() + static_cast<std::ptrdiff_t>(level));
    qty_.erase(qty_.begin(), qty_.begin() + static_cast<std::ptrdiff_t>(level));
    if (!px_.empty() && used > 0.0) {
      qty_[0] -= used;
      if (!(qty_[0] > 0.0)) {
        px_.erase(px_.begin());
        qty_.erase(qty_.begin());
      }
    }
    rebuild();
  }

  // Recomputes the prefix sums and the bucket index after any change of levels.
  void rebuild() {
    cum_qty_.assign(px_.size() + 1, 0.0);
    cum_notional_.assign(px_.size() + 1, 0.0);
    for (std::size_t i = 0; i < px_.size(); ++i) {
      cum_qty_[i + 1] = cum_qty_[i] + qty_[i];
      cum_notional_[i + 1] = cum_notional_[i] + qty_[i] * px_[i];
    }
    build_index();
  }

  // Rejects a side whose total quantity or notional overflows to infinity.
  void check_total(const std::string& name) const {
    if (!(std::isfinite(cum_qty_.back()) && std::isfinite(cum_notional_.back())))
      throw InvalidArgument(name + "_qty", -1, "total quantity or notional (sum of px * qty) overflows");
  }

  // Mutable access for in-place level updates (call rebuild() afterwards).
  std::vector<double>& px_mut() noexcept { return px_; }
  std::vector<double>& qty_mut() noexcept { return qty_; }

 private:
  // Bucket index over cum_qty_: f(q) = linear bucket + logarithmic bucket, both non-decreasing
  // in q >= 0, so f is too. start_[b] counts the prefix sums with f < b; for a query q in bucket
  // b every prefix sum before start_[b] is < q and every one from start_[b + 1] on is > q, so
  // only bucket b's entries are compared. The linear part resolves the deep book, the
  // logarithmic part (kLogBits mantissa bits per octave) the thin levels near the touch.
  static constexpr int kLogBits = 5;
  static constexpr std::size_t kWindow = 2;
  static constexpr std::size_t kLinPerEntry = 4;  // linear buckets per prefix sum
  static constexpr std::uint64_t kMaxLogBuckets = std::uint64_t{48} << kLogBits;  // 48 octaves

  static std::uint64_t log_code(double x) noexcept {  // x >= +0: monotone in x
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return bits >> (52 - kLogBits);
  }

  std::uint32_t bucket(double q) const noexcept {
    const double t = q * inv_width_;
    const std::uint32_t lin = t < static_cast<double>(n_lin_) ? static_cast<std::uint32_t>(t) : n_lin_;
    const std::uint64_t c = log_code(q);
    const std::uint64_t d = c > log_base_ ? c - log_base_ : 0;
    return lin + (d < n_log_ ? static_cast<std::uint32_t>(d) : n_log_);
  }

  void build_index() {
    const std::size_t entries = cum_qty_.size();  // size() + 1
    const double total = cum_qty_.back();
    if (!(total > 0.0 && std::isfinite(total))) {
      n_lin_ = n_log_ = 0;
      inv_width_ = 0.0;
      log_base_ = 0;
      start_.assign({0, static_cast<std::uint32_t>(entries)});
      return;
    }
    n_lin_ = static_cast<std::uint32_t>(kLinPerEntry * entries);
    inv_width_ = static_cast<double>(n_lin_) / total;
    if (!std::isfinite(inv_width_)) inv_width_ = 0.0;  // subnormal totals: logarithmic part only
    const std::uint64_t top = log_code(total);
    log_base_ = std::max(log_code(cum_qty_[1]), top > kMaxLogBuckets ? top - kMaxLogBuckets : std::uint64_t{0});
    n_log_ = static_cast<std::uint32_t>(top - std::min(top, log_base_));
    start_.assign(std::size_t{n_lin_} + n_log_ + 2, 0);
    for (const double c : cum_qty_) ++start_[bucket(c) + 1];
    std::partial_sum(start_.begin(), start_.end(), start_.begin());
  }

  bool bid_ = true;
  std::vector<double> px_, qty_;
  std::vector<double> cum_qty_{0.0}, cum_notional_{0.0};
  std::vector<std::uint32_t> start_{0, 1};
  double inv_width_ = 0.0;
  std::uint32_t n_lin_ = 0, n_log_ = 0;
  std::uint64_t log_base_ = 0;
};

// Sequential consumption of one side: each take() starts where the previous one stopped.
// Liquidation and cascade engines use it on a private copy of the book, then commit().
class SideWalker {
 public:
  explicit SideWalker(const BookSide& side) : side_(&side) {}
  Fill take(double qty, double limit = kNoLimit) noexcept { return side_->walk(qty, limit, level_, used_); }
  Fill peek(double qty, double limit = kNoLimit) const noexcept {
    std::size_t level = level_;
    double used = used_;
    return side_->walk(qty, limit, level, used);
  }
  std::size_t level() const noexcept { return level_; }
  double used() const noexcept { return used_; }
  // Quantity still on the side.
  double remaining() const noexcept {
    return side_->total_qty() - side_->cum_qty()[std::min(level_, side_->size())] - used_;
  }

 private:
  const BookSide* side_;
  std::size_t level_ = 0;
  double used_ = 0.0;
};

class Book {
 public:
  Book() : bids_(true, {}, {}, "bid"), asks_(false, {}, {}, "ask") {}
  // Validates both sides and that the book is not crossed (best bid < best ask).
  Book(std::span<const double> bid_px, std::span<const double> bid_qty, std::span<const double> ask_px,
       std::span<const double> ask_qty)
      : bids_(true, bid_px, bid_qty, "bid"), asks_(false, ask_px, ask_qty, "ask") {
    check_not_crossed();
  }

  const BookSide& bids() const noexcept { return bids_; }
  const BookSide& asks() const noexcept { return asks_; }
  BookSide& bids_mut() noexcept { return bids_; }
  BookSide& asks_mut() noexcept { return asks_; }
  // The side a taker on `s` walks: a sell hits the bids, a buy lifts the asks.
  const BookSide& walked_by(Side s) const noexcept { return s == Side::sell ? bids_ : asks_; }
  BookSide& walked_by_mut(Side s) noexcept { return s == Side::sell ? bids_ : asks_; }

  double best_bid() const noexcept { return bids_.best(); }
  double best_ask() const noexcept { return asks_.best(); }
  // Mid of best bid and ask; the one best price when a side is empty; NaN when both are.
  double mid() const noexcept {
    if (bids_.empty()) return asks_.best();
    if (asks_.empty()) return bids_.best();
    return 0.5 * (bids_.best() + asks_.best());
  }

  // One market order against the current book (unchanged).
  Fill sweep(Side s, double qty, double limit = kNoLimit) const noexcept {
    return walked_by(s).walk(qty, limit);
  }

  // One what-if order from the prefix sums (BookSide::quote); equals sweep() up to rounding.
  Fill quote(Side s, double qty, double limit = kNoLimit) const noexcept { return walked_by(s).quote(qty, limit); }

  // Independent what-if orders (book unchanged). `limits` is empty (none), one value for all
  // orders, or one per order (NaN: none). Validates qtys (finite, >= 0) and limits (finite > 0
  // or NaN) in the same pass and throws for the first bad order; `out` is then unspecified.
  void sweep_many(Side s, std::span<const double> qtys, std::span<const double> limits, const FillColumns& out,
                  const detail::OrderArgs& args = {}, std::size_t threads = 0) const {
    detail::check_limits_length(qtys, limits, args);
    const BookSide& side = walked_by(s);
    const std::size_t n = qtys.size();
    // Orders are independent: fixed chunks on `threads` cores (0: every core from
    // kParallelMinAuto orders on, parallel.hpp), each order's fill the same bits on any.
    constexpr std::size_t kMinChunk = std::size_t{1} << 14;
    const bool one_limit = limits.size() <= 1;
    const double l0 = limits.empty() ? kNoLimit : limits[0];
    const bool bad0 = one_limit && !detail::valid_limit(l0);
    const std::size_t e0 = one_limit ? side.eligible(bad0 ? kNoLimit : l0) : 0;
    const bool bad = parallel_any(n, threads, kMinChunk, [&](std::size_t begin, std::size_t end) {
      bool chunk_bad = false;
      if (one_limit) {
        for (std::size_t i = begin; i < end; ++i) {
          const double q = qtys[i];
          const bool ok = detail::valid_qty(q);
          chunk_bad |= !ok;
          out.set(i, side.quote(ok ? q : 0.0, e0));
        }
      } else {
        for (std::size_t i = begin; i < end; ++i) {
          const double q = qtys[i], l = limits[i];
          const bool okq = detail::valid_qty(q), okl = detail::valid_limit(l);
          chunk_bad |= !(okq && okl);
          out.set(i, side.quote(okq ? q : 0.0, side.eligible(okl ? l : kNoLimit)));
        }
      }
      return chunk_bad;
    });
    if (bad0 || bad) detail::throw_first_bad_order(qtys, limits, args);
  }

  // Sequential orders that consume the book: order i starts where order i - 1 stopped (an
  // order stopped by its limit leaves the rest for the next one). The book changes once, after
  // every order is validated; on a bad order it is left unchanged.
  void execute(Side s, std::span<const double> qtys, std::span<const double> limits, const FillColumns& out,
               const detail::OrderArgs& args = {}) {
    detail::check_limits_length(qtys, limits, args);
    BookSide& side = walked_by_mut(s);
    SideWalker walker(side);
    bool bad = false;
    for (std::size_t i = 0; i < qtys.size(); ++i) {
      const double q = qtys[i];
      const double l = limits.empty() ? kNoLimit : limits[limits.size() == 1 ? 0 : i];
      const bool okq = detail::valid_qty(q), okl = detail::valid_limit(l);
      bad |= !(okq && okl);
      out.set(i, walker.take(okq ? q : 0.0, okl ? l : kNoLimit));
    }
    if (bad) detail::throw_first_bad_order(qtys, limits, args);
    side.consume(walker.level(), walker.used());
  }

  // L2 incremental updates with absolute quantities, applied in order per side (a later update
  // of the same price wins): qty 0 deletes the level (a no-op when it is absent), qty > 0 sets
  // or inserts it. Atomic: on a bad value or a resulting crossed book it throws and the book is
  // unchanged.
  void apply(std::span<const double> bid_px, std::span<const double> bid_qty, std::span<const double> ask_px,
             std::span<const double> ask_qty) {
    BookSide nb = updated(bids_, bid_px, bid_qty, "bid");
    BookSide na = updated(asks_, ask_px, ask_qty, "ask");
    if (!nb.empty() && !na.empty() && !(nb.best() < na.best()))
      throw InvalidArgument("book", -1,
                            "would be crossed by the update: best bid " + std::to_string(nb.best()) +
                                " >= best ask " + std::to_string(na.best()));
    bids_ = std::move(nb);
    asks_ = std::move(na);
  }

  // Base quantity and notional resting within `bps` basis points of mid on one side (prices
  // at or inside mid (1 -/+ bps / 1e4), inclusive). bps must be finite and >= 0.
  void depth(bool bid, std::span<const double> bps, double* qty_out, double* notional_out) const {
    const BookSide& side = bid ? bids_ : asks_;
    const double m = mid();
    bool bad = false;
    for (std::size_t i = 0; i < bps.size(); ++i) {
      const double b = bps[i];
      bad |= !(b >= 0.0 && b <= DBL_MAX);
      const double edge = bid ? m * (1.0 - b / 1e4) : m * (1.0 + b / 1e4);
      const std::size_t k = side.empty() ? 0 : side.eligible(edge);
      qty_out[i] = side.cum_qty()[k];
      notional_out[i] = side.cum_notional()[k];
    }
    if (bad)
      for (std::size_t i = 0; i < bps.size(); ++i)
        if (!(bps[i] >= 0.0 && bps[i] <= DBL_MAX))
          throw InvalidArgument("bps", bps.size() == 1 ? -1 : static_cast<std::int64_t>(i),
                                "must be finite and >= 0 " + describe(bps[i]));
  }

  friend bool operator==(const Book& a, const Book& b) noexcept {
    return std::ranges::equal(a.bids_.px(), b.bids_.px()) && std::ranges::equal(a.bids_.qty(), b.bids_.qty()) &&
           std::ranges::equal(a.asks_.px(), b.asks_.px()) && std::ranges::equal(a.asks_.qty(), b.asks_.qty());
  }

  void check_not_crossed() const {
    if (!bids_.empty() && !asks_.empty() && !(bids_.best() < asks_.best()))
      throw InvalidArgument("book", -1,
                            "is crossed: best bid " + std::to_string(bids_.best()) + " >= best ask " +
                                std::to_string(asks_.best()));
  }

 private:
  // `side` with the updates (px[i], qty[i]) merged in: O(L + u log u).
  static BookSide updated(const BookSide& side, std::span<const double> px, std::span<const double> qty,
                          const std::string& name) {
    detail::check_side_lengths(px, qty, name);
    for (std::size_t i = 0; i < px.size(); ++i) {
      const auto ii = static_cast<std::int64_t>(i);
      if (!(px[i] > 0.0 && px[i] <= DBL_MAX))
        throw InvalidArgument(name + "_px", ii, "must be finite and > 0 " + describe(px[i]));
      if (!detail::valid_qty(qty[i]))
        throw InvalidArgument(name + "_qty", ii, "must be finite and >= 0 " + describe(qty[i]));
    }
    BookSide out = side;
    if (px.empty()) return out;
    std::vector<std::size_t> order(px.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return side.better(px[a], px[b]); });
    const auto opx = side.px(), oqty = side.qty();
    std::vector<double>& npx = out.px_mut();
    std::vector<double>& nqty = out.qty_mut();
    npx.clear();
    nqty.clear();
    npx.reserve(opx.size() + px.size());
    nqty.reserve(opx.size() + px.size());
    std::size_t i = 0, u = 0;
    while (i < opx.size() || u < order.size()) {
      if (u == order.size() || (i < opx.size() && side.better(opx[i], px[order[u]]))) {
        npx.push_back(opx[i]);
        nqty.push_back(oqty[i]);
        ++i;
        continue;
      }
      const double p = px[order[u]];
      while (u + 1 < order.size() && px[order[u + 1]] == p) ++u;  // the last update of p wins
      const double q = qty[order[u]];
      ++u;
      if (i < opx.size() && opx[i] == p) ++i;  // replaced or deleted
      if (q > 0.0) {
        npx.push_back(p);
        nqty.push_back(q);
      }
    }
    out.rebuild();
    out.check_total(name);
    return out;
  }

  BookSide bids_, asks_;
};

}  // namespace liqcore
