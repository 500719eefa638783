// The L2 order book of one market (MODEL.md §2).
//
// Each side keeps its levels best first (bids descending, asks ascending) with prefix sums of
// quantity and notional, so that independent what-if orders are answered from the prefix sums
// and sequential orders walk the levels from where the previous one stopped.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "liqcore/error.hpp"

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

class BookSide {
 public:
  BookSide() = default;
  // Levels best first. `bid` selects the ordering: bids strictly descending, asks strictly
  // ascending. Validates finite positive prices and quantities; `name` prefixes errors
  // ("bid" -> "bid_px[3] ...").
  BookSide(bool bid, std::span<const double> px, std::span<const double> qty, const std::string& name)
      : bid_(bid), px_(px.begin(), px.end()), qty_(qty.begin(), qty.end()) {
    if (px.size() != qty.size())
      throw InvalidArgument(name + "_qty", -1,
                            "must have the same length as " + name + "_px (" + std::to_string(qty.size()) +
                                " != " + std::to_string(px.size()) + ")");
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
  // Number of best levels whose price is acceptable under `limit`.
  std::size_t eligible(double limit) const noexcept {
    if (std::isnan(limit)) return px_.size();
    const auto it = std::partition_point(px_.begin(), px_.end(), [&](double p) { return acceptable(p, limit); });
    return static_cast<std::size_t>(it - px_.begin());
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

  // Recomputes the prefix sums after any change of levels.
  void rebuild() {
    cum_qty_.assign(px_.size() + 1, 0.0);
    cum_notional_.assign(px_.size() + 1, 0.0);
    for (std::size_t i = 0; i < px_.size(); ++i) {
      cum_qty_[i + 1] = cum_qty_[i] + qty_[i];
      cum_notional_[i + 1] = cum_notional_[i] + qty_[i] * px_[i];
    }
  }

  // Mutable access for in-place level updates (call rebuild() afterwards).
  std::vector<double>& px_mut() noexcept { return px_; }
  std::vector<double>& qty_mut() noexcept { return qty_; }

 private:
  bool bid_ = true;
  std::vector<double> px_, qty_;
  std::vector<double> cum_qty_{0.0}, cum_notional_{0.0};
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

  void check_not_crossed() const {
    if (!bids_.empty() && !asks_.empty() && !(bids_.best() < asks_.best()))
      throw InvalidArgument("book", -1,
                            "is crossed: best bid " + std::to_string(bids_.best()) + " >= best ask " +
                                std::to_string(asks_.best()));
  }

 private:
  BookSide bids_, asks_;
};

}  // namespace liqcore
