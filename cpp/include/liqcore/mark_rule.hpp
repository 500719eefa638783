// Mark-price rules (docs/model.md §4, "The mark"): how a market's mark follows an exogenous
// index and the trades of a cascade's rounds. Shared by cascades (cascade.hpp), stress tests
// (stress.hpp) and multi-market cascades (contagion.hpp): one MarkTracker per market.
//
// State: the index I (the exogenous path: it starts at the input mark and is multiplied by
// every exogenous move factor; the liquidations never move it), the book price B (what the
// "last" rule gives: the quantity-weighted mean of each side's deepest fill of the latest round
// with book fills, BookFlow in liquidation.hpp; it starts at the input mark and moves with the
// exogenous factors), and the mark. The rules:
//   last         mark = B after a round with book fills;
//   mid          mark = mid of the book left after a round with book fills;
//   index (w)    mark = (1 − w)·I + w·B;
//   binance      mark = median(I·(1 + funding_basis), I + ma_basis, B);
//   hyperliquid  mark = median(I + EMA(mid − I), median(best bid, best ask, B), I), then at most
//                cap × an EMA of the mark (the EMAs advance one sample per mark update).
// "last" and "mid" are today's rules: an exogenous move multiplies the mark by its factor, and a
// round without book fills leaves it unchanged. The index-anchored rules evaluate the formula
// at every exogenous move (after the book moved) and after every round with book fills; a round
// without book fills leaves the mark unchanged, as for "last".
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "liqcore/error.hpp"

namespace liqcore {

enum class MarkRule : int {
  last = 0,         // the quantity-weighted mean of each side's deepest fill of the round
  mid = 1,          // the mid of the book after the round
  index = 2,        // (1 − w)·index + w·book price
  binance = 3,      // median(index·(1 + funding basis), index + MA basis, book price)
  hyperliquid = 4,  // median(index + EMA basis, median(bid, ask, book price), index), capped
};

// The parameters of the rules (each rule reads its own).
struct MarkParams {
  double weight = 1.0;             // index: w in [0, 1]
  double funding_basis = 0.0;      // binance: relative, finite, > −1
  double ma_basis = 0.0;           // binance: price units, finite
  // hyperliquid: half-lives in samples (>= 0; 0: the latest sample). The defaults read a sample
  // as Hyperliquid's ~3-second mark update: a 150-second EMA (time constant) has a half-life of
  // 150·ln 2 / 3 ≈ 35 samples, an 8-hour one 8·3600·ln 2 / 3 ≈ 6654.
  double basis_half_life = 35.0;  // the EMA of mid − index
  double cap = 10.0;              // the mark is at most cap × its EMA (> 0, may be inf: no cap)
  double cap_half_life = 6654.0;  // the mark's EMA
};

// Throws InvalidArgument naming the bad parameter.
inline void check_mark_rule(MarkRule rule, const MarkParams& p) {
  const int r = static_cast<int>(rule);
  if (r < 0 || r > 4) throw InvalidArgument("mark_rule", -1, "must be 0..4 (last, mid, index, binance, hyperliquid)");
  if (!(p.weight >= 0.0 && p.weight <= 1.0))
    throw InvalidArgument("mark_rule.w", -1, "must be in [0, 1] " + describe(p.weight));
  if (!(std::isfinite(p.funding_basis) && p.funding_basis > -1.0))
    throw InvalidArgument("mark_rule.funding_basis", -1, "must be finite and > -1 " + describe(p.funding_basis));
  if (!std::isfinite(p.ma_basis)) throw InvalidArgument("mark_rule.ma_basis", -1, "must be finite " + describe(p.ma_basis));
  if (!(std::isfinite(p.basis_half_life) && p.basis_half_life >= 0.0))
    throw InvalidArgument("mark_rule.basis_half_life", -1, "must be finite and >= 0 " + describe(p.basis_half_life));
  if (!(p.cap > 0.0)) throw InvalidArgument("mark_rule.cap", -1, "must be > 0 " + describe(p.cap));
  if (!(std::isfinite(p.cap_half_life) && p.cap_half_life >= 0.0))
    throw InvalidArgument("mark_rule.cap_half_life", -1, "must be finite and >= 0 " + describe(p.cap_half_life));
}

namespace detail {

inline double median3(double a, double b, double c) noexcept {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

// The weight of a new sample in an EMA of half-life h samples: 1 − 2^(−1/h) (h = 0: 1).
inline double ema_alpha(double h) noexcept { return h > 0.0 ? -std::expm1(-std::log(2.0) / h) : 1.0; }

}  // namespace detail

// One market's mark under a rule (see the header comment).
class MarkTracker {
 public:
  MarkTracker() = default;
  MarkTracker(MarkRule rule, const MarkParams& p)
      : rule_(rule), p_(p), a_basis_(detail::ema_alpha(p.basis_half_life)), a_cap_(detail::ema_alpha(p.cap_half_life)) {}

  // Starts at `mark`: the index, the book price and the mark's EMA equal it, the basis EMA is 0.
  void reset(double mark) noexcept {
    mark_ = index_ = book_ = ema_mark_ = mark;
    ema_basis_ = 0.0;
  }

  // An exogenous move by `factor`; bid, ask: the best prices of the moved book (NaN: none).
  void shift(double factor, double bid, double ask) noexcept {
    index_ *= factor;
    book_ *= factor;
    if (rule_ == MarkRule::last || rule_ == MarkRule::mid) {
      mark_ *= factor;
    } else {
      update(bid, ask);
    }
  }

  // After a round with book fills: `last` the round's BookFlow price, bid and ask the best prices
  // of the book left (NaN: none).
  void trade(double last, double bid, double ask) noexcept {
    book_ = last;
    if (rule_ == MarkRule::last) {
      mark_ = last;
    } else if (rule_ == MarkRule::mid) {
      const double mid = std::isnan(bid) ? ask : (std::isnan(ask) ? bid : 0.5 * (bid + ask));
      if (!std::isnan(mid)) mark_ = mid;
    } else {
      update(bid, ask);
    }
  }

  double mark() const noexcept { return mark_; }
  double index() const noexcept { return index_; }
  double book_price() const noexcept { return book_; }
  bool anchored() const noexcept { return rule_ != MarkRule::last && rule_ != MarkRule::mid; }

 private:
  void update(double bid, double ask) noexcept {
    const double I = index_, B = book_;
    switch (rule_) {
      case MarkRule::index:
        mark_ = B == I ? I : (1.0 - p_.weight) * I + p_.weight * B;
        break;
      case MarkRule::binance:
        mark_ = detail::median3(I * (1.0 + p_.funding_basis), I + p_.ma_basis, B);
        break;
      case MarkRule::hyperliquid: {
        // A missing side counts as the book price.
        const double b = std::isnan(bid) ? B : bid, a = std::isnan(ask) ? B : ask;
        const double mid = 0.5 * (b + a);
        ema_basis_ += a_basis_ * ((mid - I) - ema_basis_);
        const double m = detail::median3(I + ema_basis_, detail::median3(b, a, B), I);
        mark_ = std::min(m, p_.cap * ema_mark_);
        ema_mark_ += a_cap_ * (mark_ - ema_mark_);
        break;
      }
      default:
        break;
    }
  }

  MarkRule rule_ = MarkRule::last;
  MarkParams p_;
  double a_basis_ = 1.0, a_cap_ = 1.0;
  double mark_ = 0.0, index_ = 0.0, book_ = 0.0, ema_basis_ = 0.0, ema_mark_ = 0.0;
};

}  // namespace liqcore
