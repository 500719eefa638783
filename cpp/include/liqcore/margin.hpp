// Isolated-margin math for linear and inverse perpetuals (MODEL.md §1).
//
// Units: size q signed (+ long, - short), in base units (linear) or contracts (inverse);
// prices in quote per base; margin, equity and maintenance in quote (linear) or coin (inverse).
// The scalar formulas here are the single definition used by every kernel (margin arrays,
// liquidation, cascades, stress tests).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include "liqcore/error.hpp"

namespace liqcore {

enum class Contract : int { linear = 0, inverse = 1 };

struct ContractSpec {
  Contract kind = Contract::linear;
  double contract_size = 1.0;  // inverse: face value C in quote per contract
};

// Maintenance-margin tiers by position notional (quote for linear, coin for inverse).
// cum_k = cum_{k-1} + floor_k (mmr_k - mmr_{k-1}) keeps MM continuous across tiers
// (Binance's "maintenance amount"); a flat rate is one tier with floor 0.
struct Tiers {
  std::vector<double> floor{0.0};
  std::vector<double> mmr{0.0};
  std::vector<double> cum{0.0};

  static Tiers flat(double rate) { return Tiers{{0.0}, {rate}, {0.0}}; }

  // Validates (floors finite, first 0, strictly increasing; rates finite in [0, 1)) and
  // derives cum. Throws InvalidArgument naming "tiers.floors" / "tiers.mmr".
  static Tiers from_floors(std::span<const double> floors, std::span<const double> rates) {
    if (floors.empty()) throw InvalidArgument("tiers.floors", -1, "must have at least one tier");
    if (floors.size() != rates.size())
      throw InvalidArgument("tiers.mmr", -1, "must have one rate per floor");
    Tiers t;
    t.floor.assign(floors.begin(), floors.end());
    t.mmr.assign(rates.begin(), rates.end());
    t.cum.assign(floors.size(), 0.0);
    for (std::size_t k = 0; k < floors.size(); ++k) {
      const auto i = static_cast<std::int64_t>(k);
      if (!std::isfinite(floors[k])) throw InvalidArgument("tiers.floors", i, "must be finite " + describe(floors[k]));
      if (k == 0 && floors[0] != 0.0) throw InvalidArgument("tiers.floors", 0, "must be 0 " + describe(floors[0]));
      if (k > 0 && !(floors[k] > floors[k - 1]))
        throw InvalidArgument("tiers.floors", i, "must be strictly increasing " + describe(floors[k]));
      if (!(rates[k] >= 0.0 && rates[k] < 1.0))
        throw InvalidArgument("tiers.mmr", i, "must be in [0, 1) " + describe(rates[k]));
      if (k > 0) t.cum[k] = t.cum[k - 1] + floors[k] * (rates[k] - rates[k - 1]);
    }
    return t;
  }

  std::size_t size() const noexcept { return floor.size(); }

  // The tier whose [floor_k, floor_{k+1}) holds `notional`.
  std::size_t tier_of(double notional) const noexcept {
    const auto it = std::upper_bound(floor.begin() + 1, floor.end(), notional);
    return static_cast<std::size_t>(it - floor.begin()) - 1;
  }
};

// ---- scalar formulas ------------------------------------------------------------------

// Position notional at price p: |q|·p (quote) or |q|·C/p (coin).
inline double notional(const ContractSpec& c, double q, double p) noexcept {
  return c.kind == Contract::linear ? std::abs(q) * p : std::abs(q) * c.contract_size / p;
}

inline double pnl(const ContractSpec& c, double q, double ep, double p) noexcept {
  return c.kind == Contract::linear ? q * (p - ep) : q * c.contract_size * (1.0 / ep - 1.0 / p);
}

inline double equity(const ContractSpec& c, double q, double ep, double m, double p) noexcept {
  return m + pnl(c, q, ep, p);
}

// MM = notional·mmr − cum, with (mmr, cum) of the tier the notional falls in.
inline double maintenance(const ContractSpec& c, const Tiers& t, double q, double p) noexcept {
  const double n = notional(c, q, p);
  const std::size_t k = t.tier_of(n);
  return n * t.mmr[k] - t.cum[k];
}

inline double maintenance_flat(const ContractSpec& c, double rate, double q, double p) noexcept {
  return notional(c, q, p) * rate;
}

namespace detail {
// Solve m + PnL(P) = 0 for P (a "zero-equity price" with margin m).
inline double zero_equity_price(const ContractSpec& c, double q, double ep, double m) noexcept {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (c.kind == Contract::linear) return std::max(ep - m / q, 0.0);
  const double nc = q * c.contract_size;
  const double den = m + nc / ep;  // P = N·C / (M + N·C/EP)
  if (q > 0.0) return den > 0.0 ? nc / den : inf;  // den <= 0 only if m < −N·C/EP
  return den < 0.0 ? nc / den : inf;               // a 1x inverse short never goes bankrupt
}
}  // namespace detail

// Bankruptcy price: closing the whole position there leaves zero equity.
// Linear EP − M/q; inverse N·C / (M + N·C/EP). A long solvent at every positive price gets 0,
// an inverse short solvent at every price gets +inf; q = 0 gets NaN.
inline double bankruptcy_price(const ContractSpec& c, double q, double ep, double m) noexcept {
  if (q == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return detail::zero_equity_price(c, q, ep, m);
}

// Liquidation price: the mark at which E(P) = MM(P) (MODEL.md §1), solved exactly per tier and
// kept in the tier whose notional range holds the solution. With mm_at_entry (Bybit's
// convention) MM is fixed at its value at the entry price, so LP is the zero-equity price of
// margin M − MM(EP). Same conventions as bankruptcy_price for "never" (0 or +inf) and q = 0.
inline double liquidation_price(const ContractSpec& c, const Tiers& t, double q, double ep, double m,
                                bool mm_at_entry) noexcept {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (q == 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (mm_at_entry) return detail::zero_equity_price(c, q, ep, m - maintenance(c, t, q, ep));
  const double aq = std::abs(q);
  double best = std::numeric_limits<double>::quiet_NaN();
  double best_violation = inf;
  for (std::size_t k = 0; k < t.size(); ++k) {
    double p;
    if (c.kind == Contract::linear) {
      // m + q(P − EP) = |q|·P·mmr − cum  =>  P = (m + cum − q·EP) / (|q|·mmr − q)
      p = (m + t.cum[k] - q * ep) / (aq * t.mmr[k] - q);
    } else {
      // m + N·C/EP − N·C/P = mmr·|N|·C/P − cum  =>  P = C(N + mmr|N|) / (m + N·C/EP + cum)
      const double num = c.contract_size * (q + t.mmr[k] * aq);
      const double den = m + q * c.contract_size / ep + t.cum[k];
      if (q > 0.0 && den <= 0.0) return inf;   // unreachable for m >= 0; kept for safety
      if (q < 0.0 && den >= 0.0) {              // never liquidated in this tier
        p = inf;
      } else {
        p = num / den;
      }
    }
    if (!(p > 0.0)) p = 0.0;  // a long that no positive price liquidates
    const double n = notional(c, q, p);
    const double lo = t.floor[k];
    const double hi = k + 1 < t.size() ? t.floor[k + 1] : inf;
    const double violation = n < lo ? lo - n : (n >= hi ? n - hi : 0.0);
    if (violation == 0.0) return p;
    if (violation < best_violation) {  // rounding at a tier edge: keep the nearest tier
      best_violation = violation;
      best = p;
    }
  }
  return best;
}

}  // namespace liqcore
