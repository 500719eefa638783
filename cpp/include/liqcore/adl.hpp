// ADL and socialized-loss allocators (docs/model.md §3, step 5).
//
// A residual that the insurance fund could not cover is taken from counterparties.
// capacity[i] is what counterparty i can give (contracts to close, or positive PnL in money);
// `amount` is what must be covered, in the same unit; each allocator writes taken[i] in that
// unit, with 0 <= taken[i] <= capacity[i]:
//
//   queue            highest score first, each up to its capacity (BitMEX/Bybit/OKX/Binance).
//                    sum(taken) = min(amount, sum(capacity)).
//   pro_rata         the same fraction f = min(1, amount / sum(capacity)) of every capacity.
//                    sum(taken) = min(amount, sum(capacity)).
//   capped_pro_rata  water-filling: taken[i] = min(eta, caps[i])·capacity[i], caps[i] in [0, 1]
//                    a fraction of capacity[i]; eta is the level at which the sum equals the
//                    amount. sum(taken) = min(amount, sum(caps[i]·capacity[i])): when even
//                    everyone at their cap is short, the rest stays uncovered.
//   risk_aware       weighted water-filling: taken[i] = min(eta·weights[i], caps[i])·capacity[i]
//                    (weights are relative, e.g. leverage: only their ratios matter; a zero
//                    weight gives nothing). sum(taken) = min(amount, sum over weights[i] > 0 of
//                    caps[i]·capacity[i]).
//   socialize        charge[i] = amount·|size[i]| / sum(|size|): Drift's δ = residual /
//                    (OI_long + OI_short) per unit of size, paid by every open position.
//   rank             BitMEX-style ADL scores (PnL% × effective leverage), for `queue`.
//
// Inputs are validated in the same pass as the totals; a bad value throws
// InvalidArgument(arg, first bad index, what). Totals use Neumaier-compensated summation in
// index order; orderings are total (ties broken by index), so results are bit-deterministic.
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
#include "liqcore/margin.hpp"

namespace liqcore::adl {

namespace detail {

// Neumaier's compensated sum: exact to ~1 ulp of the total whatever the summation length.
struct Sum {
  double s = 0.0;
  double c = 0.0;
  void add(double x) noexcept {
    const double t = s + x;
    c += std::abs(s) >= std::abs(x) ? (s - t) + x : (x - t) + s;
    s = t;
  }
  double value() const noexcept { return s + c; }
};

inline void check_length(const char* name, std::size_t got, std::size_t n, const char* of) {
  if (got != n)
    throw InvalidArgument(name, -1,
                          "has length " + std::to_string(got) + ", expected " + std::to_string(n) +
                              " (the length of " + of + ")");
}

inline void check_amount(double amount) {
  if (!(std::isfinite(amount) && amount >= 0.0))
    throw InvalidArgument("amount", -1, "must be finite and >= 0 " + describe(amount));
}

// Throws at the first element of `a` that fails `ok`; call only once a bad flag was raised.
template <class Ok>
[[noreturn]] void throw_first_bad(const char* name, std::span<const double> a, Ok ok, const char* what) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!ok(a[i])) throw InvalidArgument(name, static_cast<std::int64_t>(i), std::string("must be ") + what + " " + describe(a[i]));
  throw InvalidArgument(name, -1, std::string("must be ") + what);  // unreachable
}

inline bool nonneg_finite(double x) noexcept { return x >= 0.0 && x <= std::numeric_limits<double>::max(); }
inline bool unit_fraction(double x) noexcept { return x >= 0.0 && x <= 1.0; }

// Validates capacity (finite >= 0) and returns its compensated total (throws if it overflows).
inline double checked_total(std::span<const double> capacity) {
  Sum total;
  bool ok = true;
  for (double x : capacity) {
    ok &= nonneg_finite(x);
    total.add(x);
  }
  if (!ok) throw_first_bad("capacity", capacity, nonneg_finite, "finite and >= 0");
  const double t = total.value();
  if (!std::isfinite(t)) throw InvalidArgument("capacity", -1, "sum overflows a double");
  return t;
}

// Weighted water-filling shared by capped_pro_rata (weights empty: all 1) and risk_aware.
// With s_i = caps_i·capacity_i (the most i can give) and slope_i = w_i·capacity_i,
// g(eta) = Σ min(eta·w_i, caps_i)·capacity_i is piecewise linear and nondecreasing, with a
// breakpoint at t_i = caps_i / w_i where i saturates. Sorting by t_i and walking the segments
// finds the eta with g(eta) = amount exactly (up to rounding): O(n log n), or O(n) when
// nobody saturates or everybody does.
inline void water_fill(std::span<const double> capacity, std::span<const double> weights,
                       std::span<const double> caps, double amount, std::span<double> taken) {
  const std::size_t n = capacity.size();
  const bool weighted = !weights.empty();
  check_length("caps", caps.size(), n, "capacity");
  if (weighted) check_length("weights", weights.size(), n, "capacity");
  check_length("taken", taken.size(), n, "capacity");
  check_amount(amount);

  // Weights are relative: divide by the largest so that only ratios matter and products
  // with capacity neither overflow nor underflow for weights of any scale.
  double w_max = 0.0;
  if (weighted) {
    bool ok_w = true;
    for (double w : weights) {
      ok_w &= nonneg_finite(w);
      w_max = std::max(w_max, w);
    }
    if (!ok_w) throw_first_bad("weights", weights, nonneg_finite, "finite and >= 0");
  }
  auto weight = [&](std::size_t i) { return !weighted ? 1.0 : (w_max > 0.0 ? weights[i] / w_max : 0.0); };

  // One validating pass: totals of what can be given and of the slope, smallest breakpoint.
  Sum max_total, slope_total;
  bool ok_cap = true, ok_caps = true;
  double t_min = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < n; ++i) {
    const double q = capacity[i], f = caps[i];
    ok_cap &= nonneg_finite(q);
    ok_caps &= unit_fraction(f);
    const double w = weight(i);
    if (w > 0.0) {
      max_total.add(f * q);
      slope_total.add(w * q);
      if (q > 0.0) t_min = std::min(t_min, f / w);
    }
  }
  if (!ok_cap) throw_first_bad("capacity", capacity, nonneg_finite, "finite and >= 0");
  if (!ok_caps) throw_first_bad("caps", caps, unit_fraction, "in [0, 1]");
  const double max_give = max_total.value(), slope = slope_total.value();
  if (!std::isfinite(slope)) throw InvalidArgument("capacity", -1, "sum overflows a double");

  // The level eta = num/den, kept as a ratio: eta itself underflows for a tiny amount against a
  // huge capacity (1e-286 / 1e308), while num·(w·capacity/den) does not. min(eta·w, caps)·q is
  // taken as min(eta·w·q, caps·q), with no comparison of eta·w against caps: num·w and caps·den
  // both underflow to 0 for tiny amounts against tiny weights (2e-230 · 1e-191), and a test
  // between them would saturate everyone, charging more than the amount.
  auto fill = [&](double num, double den) {
    for (std::size_t i = 0; i < n; ++i) {
      const double w = weight(i);
      if (!(w > 0.0) || !(num > 0.0)) {
        taken[i] = 0.0;
      } else {
        taken[i] = std::min(num * ((w * capacity[i]) / den), caps[i] * capacity[i]);
      }
    }
  };
  if (amount <= 0.0 || max_give <= 0.0) return fill(0.0, 1.0);
  if (amount >= max_give) {  // everyone at their cap; the rest is uncovered
    for (std::size_t i = 0; i < n; ++i) {
      const double w = weight(i);
      taken[i] = w > 0.0 ? caps[i] * capacity[i] : 0.0;
    }
    return;
  }
  if (amount <= t_min * slope) return fill(amount, slope);  // nobody saturates

  // Breakpoints of the contributing entries, ascending (ties by index: a total order).
  std::vector<std::size_t> order;
  order.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (weight(i) > 0.0 && capacity[i] > 0.0) order.push_back(i);
  std::vector<double> t(n);
  for (std::size_t i : order) t[i] = caps[i] / weight(i);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t[a] < t[b] || (t[a] == t[b] && a < b); });

  // slope_after[k] = Σ_{j >= k} w_j·capacity_j in sorted order (suffix sums, compensated).
  const std::size_t m = order.size();
  std::vector<double> slope_after(m + 1, 0.0);
  {
    Sum s;
    for (std::size_t k = m; k-- > 0;) {
      const std::size_t i = order[k];
      s.add(weight(i) * capacity[i]);
      slope_after[k] = s.value();
    }
  }
  // Walk the segments: before breakpoint k, entries 0..k-1 are saturated (given A) and the
  // rest give eta·slope_after[k]; g(t_k) = A + t_k·slope_after[k].
  Sum given;
  double num = 0.0, den = 1.0;
  for (std::size_t k = 0; k < m; ++k) {
    const std::size_t i = order[k];
    const double a = given.value();
    if (a + t[i] * slope_after[k] >= amount) {
      num = amount - a;
      den = slope_after[k];
      break;
    }
    given.add(caps[i] * capacity[i]);
    num = t[i];  // reached only by rounding past the last breakpoint
    den = 1.0;
  }
  fill(num, den);
}

}  // namespace detail

// ---- allocators ----------------------------------------------------------------------------

// Highest score first (ties: lower index first), each up to its capacity, until `amount` is
// covered. Scores may be any non-NaN value; -inf sorts last (rank() gives -inf to flat
// positions, whose capacity is 0 anyway).
inline void queue(std::span<const double> capacity, std::span<const double> scores, double amount,
                  std::span<double> taken) {
  const std::size_t n = capacity.size();
  detail::check_length("scores", scores.size(), n, "capacity");
  detail::check_length("taken", taken.size(), n, "capacity");
  detail::check_amount(amount);
  const double total = detail::checked_total(capacity);
  bool ok = true;
  for (double s : scores) ok &= !std::isnan(s);
  if (!ok) detail::throw_first_bad("scores", scores, [](double s) { return !std::isnan(s); }, "a number");

  if (amount >= total) {  // everybody gives everything: no ordering needed
    std::copy(capacity.begin(), capacity.end(), taken.begin());
    return;
  }
  std::fill(taken.begin(), taken.end(), 0.0);
  if (amount <= 0.0) return;

  // (score, index) pairs sorted descending by score then ascending by index: contiguous keys
  // sort much faster than an index sort that chases scores[] through memory.
  struct Key {
    double score;
    std::size_t index;
  };
  std::vector<Key> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (capacity[i] > 0.0) keys.push_back({scores[i], i});
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
  });
  double remaining = amount;
  for (const Key& k : keys) {
    const double t = std::min(capacity[k.index], remaining);
    taken[k.index] = t;
    remaining -= t;
    if (remaining <= 0.0) break;
  }
}

// The same fraction f = min(1, amount / sum(capacity)) of every capacity; all zeros when
// sum(capacity) = 0.
inline void pro_rata(std::span<const double> capacity, double amount, std::span<double> taken) {
  detail::check_length("taken", taken.size(), capacity.size(), "capacity");
  detail::check_amount(amount);
  const double total = detail::checked_total(capacity);
  const double f = total > 0.0 ? std::min(1.0, amount / total) : 0.0;
  if (amount > 0.0 && total > 0.0 && f < std::numeric_limits<double>::min()) {
    // amount / total underflows (a tiny amount over a huge total): amount · (capacity / total)
    // keeps the shares' sum equal to the amount instead of rounding every share to 0.
    for (std::size_t i = 0; i < capacity.size(); ++i) taken[i] = amount * (capacity[i] / total);
    return;
  }
  for (std::size_t i = 0; i < capacity.size(); ++i) taken[i] = f * capacity[i];
}

// Water-filling: taken[i] = min(eta, caps[i])·capacity[i], caps[i] in [0, 1] a fraction of
// capacity[i]. If amount >= sum(caps·capacity), everyone is at their cap and the difference
// stays uncovered (the sum rule then reads min(amount, sum(caps·capacity))).
inline void capped_pro_rata(std::span<const double> capacity, std::span<const double> caps, double amount,
                            std::span<double> taken) {
  detail::water_fill(capacity, {}, caps, amount, taken);
}

// Risk-aware pro-rata (docs/model.md §3, after Chitra 2025): weighted water-filling
// taken[i] = min(eta·weights[i], caps[i])·capacity[i], weights finite >= 0 (e.g. leverage) and
// relative (only ratios matter); a zero weight is never charged. Covers
// min(amount, sum over weights > 0 of caps·capacity).
inline void risk_aware(std::span<const double> capacity, std::span<const double> weights,
                       std::span<const double> caps, double amount, std::span<double> taken) {
  detail::check_length("weights", weights.size(), capacity.size(), "capacity");
  detail::water_fill(capacity, weights, caps, amount, taken);
}

// Socialized loss: charge[i] = amount·|size[i]| / sum(|size|). With no open interest and
// amount > 0 every charge is 0 and the residual stays uncovered.
inline void socialize(std::span<const double> size, double amount, std::span<double> charge) {
  const std::size_t n = size.size();
  detail::check_length("charge", charge.size(), n, "size");
  detail::check_amount(amount);
  detail::Sum oi;
  bool ok = true;
  for (double q : size) {
    ok &= std::isfinite(q);
    oi.add(std::abs(q));
  }
  if (!ok) detail::throw_first_bad("size", size, [](double q) { return std::isfinite(q); }, "finite");
  const double total = oi.value();
  if (!std::isfinite(total)) throw InvalidArgument("size", -1, "sum of |size| overflows a double");
  if (!(total > 0.0)) {
    std::fill(charge.begin(), charge.end(), 0.0);
    return;
  }
  // amount·(|q|/OI): each ratio is <= 1, so nothing overflows for any finite amount.
  for (std::size_t i = 0; i < n; ++i) charge[i] = amount * (std::abs(size[i]) / total);
}

// BitMEX/Bybit ADL ranking at mark price `mark`:
//   PnL%   = PnL / |entry value|            (linear q(P − EP)/(|q|·EP); inverse in coin)
//   EffLev = |mark value| / (MV − BV)       (linear |q·P| / (q(P − BP)); inverse
//                                            (|q|C/P) / (qC(1/BP − 1/P))), BP = bankruptcy_price
//   score  = PnL% × EffLev if PnL% > 0, PnL% / EffLev if PnL% < 0, 0 if PnL = 0.
// MV − BV equals the equity m + PnL unless the position can never go bankrupt (BP clamped to 0
// or +inf by bankruptcy_price), where EffLev is 1. A position at or past its bankruptcy price
// (MV − BV <= 0) has EffLev = +inf. Flat positions (size 0) get -inf: never chosen first.
// Validates size finite, entry_price finite > 0, margin finite >= 0, mark finite > 0,
// contract_size finite > 0.
inline void rank(const ContractSpec& c, std::span<const double> size, std::span<const double> entry_price,
                 std::span<const double> margin, double mark, std::span<double> scores) {
  const std::size_t n = size.size();
  detail::check_length("entry_price", entry_price.size(), n, "size");
  detail::check_length("margin", margin.size(), n, "size");
  detail::check_length("scores", scores.size(), n, "size");
  if (!(std::isfinite(mark) && mark > 0.0))
    throw InvalidArgument("mark", -1, "must be finite and > 0 " + describe(mark));
  if (!(std::isfinite(c.contract_size) && c.contract_size > 0.0))
    throw InvalidArgument("contract_size", -1, "must be finite and > 0 " + describe(c.contract_size));
  constexpr double inf = std::numeric_limits<double>::infinity();
  auto finite = [](double x) { return std::isfinite(x); };
  auto positive = [](double x) { return std::isfinite(x) && x > 0.0; };
  bool ok_q = true, ok_ep = true, ok_m = true;
  for (std::size_t i = 0; i < n; ++i) {
    const double q = size[i], ep = entry_price[i], m = margin[i];
    ok_q &= finite(q);
    ok_ep &= positive(ep);
    ok_m &= detail::nonneg_finite(m);
    if (q == 0.0 || !(ok_q && ok_ep && ok_m)) {
      scores[i] = -inf;
      continue;
    }
    const double pct = pnl(c, q, ep, mark) / notional(c, q, ep);
    const double bp = bankruptcy_price(c, q, ep, m);
    const double cushion = c.kind == Contract::linear ? q * (mark - bp)
                                                      : q * c.contract_size * (1.0 / bp - 1.0 / mark);
    const double lev = cushion > 0.0 ? notional(c, q, mark) / cushion : inf;
    scores[i] = pct > 0.0 ? pct * lev : (pct < 0.0 ? pct / lev : 0.0);
  }
  if (!ok_q) detail::throw_first_bad("size", size, finite, "finite");
  if (!ok_ep) detail::throw_first_bad("entry_price", entry_price, positive, "finite and > 0");
  if (!ok_m) detail::throw_first_bad("margin", margin, detail::nonneg_finite, "finite and >= 0");
}

}  // namespace liqcore::adl
