// The loss waterfall of a liquidation batch (docs/model.md §3): the liquidation fee, the insurance
// fund, the residual and the ledger that shows where every unit of money went.
//
// Sign conventions: amounts are in the margin currency (quote for linear, coin for inverse);
// a positive ledger amount is a gain of that entity valued at the mark price, and the rows of a
// ledger sum to zero (money is conserved).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "liqcore/adl.hpp"
#include "liqcore/margin.hpp"

namespace liqcore {

// A compensated sum (Knuth's branch-free TwoSum per term): totals over millions of terms stay
// exact to a few ulps whatever the magnitudes and signs of the terms.
class CompensatedSum {
 public:
  void add(double x) noexcept {
    const double t = sum_ + x;
    const double bp = t - sum_;
    comp_ += (sum_ - (t - bp)) + (x - bp);
    sum_ = t;
  }
  double value() const noexcept { return sum_ + comp_; }

 private:
  double sum_ = 0.0;
  double comp_ = 0.0;
};

// ---- fees ----------------------------------------------------------------------------------

enum class FeeRule : int {
  capped = 0,   // dYdX: min(surplus, fee_cap · fill notional)
  surplus = 1,  // Bybit / BitMEX: the whole surplus
  rate = 2,     // min(surplus, fee_rate · fill notional)
  drift = 3,    // Drift: min(0.95 · surplus, fee_rate · fill notional)
};

// Drift's insurance-fund fee takes at most this share of what the liquidator's fee leaves
// (calculate_perp_if_fee scales its implied rate by 19/20; docs/model.md §3, "Fees").
inline constexpr double kDriftIfShare = 0.95;

// The liquidation fee charged to the trader's surplus; never more than the surplus.
//
// Drift's rule: its IF fee rate is min(max_if, 0.95·(mmr − liquidator_fee − shortage/N)) on the
// notional N taken over, with shortage = MM − E; since mmr·N − shortage = E, that is
// min(max_if·N, 0.95·(E − liquidator_fee·N)), and E − liquidator_fee·N is the surplus a takeover
// at the liquidator's discount leaves (the slice's own equity for a partial close). fee_rate is
// Drift's max_if (if_liquidation_fee); the cap applies to the fill notional (at the takeover
// price) where Drift takes the oracle notional.
inline double liquidation_fee(FeeRule rule, double fee_cap, double fee_rate, double surplus,
                              double fill_notional) noexcept {
  if (!(surplus > 0.0)) return 0.0;
  switch (rule) {
    case FeeRule::surplus:
      return surplus;
    case FeeRule::rate:
      return std::min(surplus, fee_rate * fill_notional);
    case FeeRule::drift:
      return std::min(kDriftIfShare * surplus, fee_rate * fill_notional);
    case FeeRule::capped:
    default:
      return std::min(surplus, fee_cap * fill_notional);
  }
}

// ---- the insurance fund --------------------------------------------------------------------

// The fund of one batch. Each liquidation first credits its fee, then the fund pays the
// trader's deficit down to the reserve; after the closes, the losses of its inventory (gains
// credited first). Fees of earlier liquidations therefore pay for later ones in the same batch.
class InsuranceFund {
 public:
  InsuranceFund(double balance, double reserve) noexcept : balance_(balance), reserve_(reserve) {}

  double balance() const noexcept { return balance_; }
  // What the fund can still pay.
  double available() const noexcept { return std::max(0.0, balance_ - reserve_); }
  void credit(double income) noexcept { balance_ += income; }
  // Pays what it can of `loss`; returns the amount paid.
  double pay(double loss) noexcept {
    const double paid = std::min(loss, available());
    balance_ -= paid;
    return paid;
  }

 private:
  double balance_;
  double reserve_;
};

// ---- the ledger ----------------------------------------------------------------------------

// One row per (entity, kind); amounts are gains at the mark price and sum to zero
// (docs/model.md, "Where every unit of loss goes").
enum class LedgerRow : int {
  traders = 0,          // liquidated traders: equity after (returned) − equity before, at the mark
  makers = 1,           // book makers: what they bought/sold (closes and the fund's sales) vs the mark
  liquidators = 2,      // takeover liquidators: the takeover discount vs the mark
  fund_fees = 3,        // insurance fund: liquidation fees
  fund_inventory = 4,   // insurance fund: inventory taken over at the bankruptcy price, then sold
                        // (or valued at the band edge), vs the mark
  fund_deficit = 5,     // insurance fund: payments to cover traders' deficits (negative)
  fund_residual = 6,    // insurance fund: its inventory losses beyond what it could pay, covered
                        // by the residual (positive)
  valuation = 7,        // the haircut of unabsorbed inventory valued at the band edge vs the mark
  residual_transfers = 8,  // ADL / socialized counterparties: money taken (negative)
  uncovered = 9,        // bad debt nobody covered (negative)
};
inline constexpr std::size_t kLedgerRows = 10;

class Ledger {
 public:
  void add(LedgerRow row, double amount) noexcept {
    if (kept_) rows_[static_cast<std::size_t>(row)].add(amount);
  }
  // From now on, keeps nothing (every row stays as it is): for a caller that reports no ledger,
  // such as a stress test's scenarios, to save the compensated sums.
  void discard() noexcept { kept_ = false; }
  // Every row back to zero (a discarded ledger stays discarded).
  void clear() noexcept { rows_ = {}; }
  double amount(LedgerRow row) const noexcept { return rows_[static_cast<std::size_t>(row)].value(); }
  std::array<double, kLedgerRows> amounts() const noexcept {
    std::array<double, kLedgerRows> a{};
    for (std::size_t k = 0; k < kLedgerRows; ++k) a[k] = rows_[k].value();
    return a;
  }
  // The compensated sum of the rows: zero up to rounding.
  double balance() const noexcept {
    CompensatedSum s;
    for (const auto& r : rows_) s.add(r.value());
    return s.value();
  }

 private:
  std::array<CompensatedSum, kLedgerRows> rows_{};
  bool kept_ = true;
};

// ---- the price band ---------------------------------------------------------------------------

// No liquidation fill, and no sale of the fund's inventory, happens beyond the band
// P·(1 ∓ band) around the mark P: a sell (side s = +1, into the bids) never below P·(1 − band),
// a buy never above P·(1 + band). Quantity the book cannot absorb inside the band is valued at
// the band's edge, a price worse than any fill the band admits, so that a thinner book never
// looks cheaper (docs/model.md, "Inventory").
inline double band_edge(double s, double mark, double band) noexcept {
  return s > 0.0 ? std::max(0.0, mark * (1.0 - band)) : mark * (1.0 + band);
}
// The tighter of a limit price (NaN: none) and the band edge, for a close of side s.
inline double within_band(double s, double limit, double edge) noexcept {
  if (std::isnan(limit)) return edge;
  return s > 0.0 ? std::max(limit, edge) : std::min(limit, edge);
}

// ---- the residual ---------------------------------------------------------------------------

enum class ResidualRule : int {
  none = 0,             // reported as uncovered bad debt
  queue = 1,            // ADL queue by adl::rank, each counterparty at most its positive PnL
  pro_rata = 2,         // the same fraction of every opposite winner's positive PnL
  capped_pro_rata = 3,  // water-filling up to adl_cap of each winner's positive PnL
  risk_aware = 4,       // water-filling weighted by effective leverage, capped at adl_cap
  socialize = 5,        // Drift: per unit of open interest, both sides
};

// The counterparties of a batch: the positions passed in that are not liquidated. They cover
// what the fund could not pay, after the batch (docs/model.md, "The residual"): each gives at
// most its positive PnL at the mark (ADL rules; losing positions give nothing), or at most its
// equity at the mark (socialization): nobody's equity goes below zero. Per position they record
// `adl`, the money charged (> 0 = paid). Closing a counterparty at a bankrupt position's price
// (quantity ADL) is represented by its money effect: its loss against the mark.
class Counterparties {
 public:
  Counterparties(const ContractSpec& c, std::span<const double> size, std::span<const double> entry_price,
                 std::span<const double> margin, std::span<const std::uint8_t> liquidated, double mark,
                 std::span<double> adl_charge)
      : c_(c), q_(size), ep_(entry_price), m_(margin), liq_(liquidated), mark_(mark), charge_(adl_charge) {}

  // Allocates the residuals (per side of the liquidated positions for the ADL rules, in total
  // for socialization) and returns what the counterparties covered.
  // shortfall_long: the residual of liquidated longs, covered by shorts; and vice versa.
  double settle(ResidualRule rule, double adl_cap, double shortfall_long, double shortfall_short) {
    if (rule == ResidualRule::none) return 0.0;
    const std::size_t n = q_.size();
    if (rule == ResidualRule::socialize) {
      const double amount = shortfall_long + shortfall_short;
      if (!(amount > 0.0)) return 0.0;
      std::vector<double> size(n), charge(n);
      for (std::size_t j = 0; j < n; ++j) size[j] = liq_[j] ? 0.0 : q_[j];
      adl::socialize(size, amount, charge);
      CompensatedSum total;
      for (std::size_t j = 0; j < n; ++j) {
        if (charge[j] > 0.0) charge[j] = std::min(charge[j], std::max(0.0, equity_at_mark(j)));
        charge_[j] += charge[j];
        total.add(charge[j]);
      }
      return total.value();
    }
    CompensatedSum total;
    for (const double s : {1.0, -1.0}) {  // s: side of the liquidated positions
      const double amount = s > 0.0 ? shortfall_long : shortfall_short;
      if (!(amount > 0.0)) continue;
      std::vector<std::size_t> idx;
      for (std::size_t j = 0; j < n; ++j)
        if (!liq_[j] && q_[j] * s < 0.0) idx.push_back(j);
      const std::size_t k = idx.size();
      std::vector<double> capacity(k), taken(k);
      for (std::size_t a = 0; a < k; ++a) capacity[a] = capacity_of(idx[a]);  // never principal
      if (rule == ResidualRule::queue) {
        if (scores_.empty()) {
          // A counterparty charged in an earlier cascade round keeps its equity >= 0 but may
          // carry a negative margin against a large PnL: ranked with margin 0.
          std::vector<double> m(m_.begin(), m_.end());
          for (double& x : m) x = std::max(0.0, x);
          scores_.assign(n, 0.0);
          adl::rank(c_, q_, ep_, m, mark_, scores_);
        }
        std::vector<double> sc(k);
        for (std::size_t a = 0; a < k; ++a) sc[a] = scores_[idx[a]];
        adl::queue(capacity, sc, amount, taken);
      } else if (rule == ResidualRule::pro_rata) {
        adl::pro_rata(capacity, amount, taken);
      } else {
        const std::vector<double> caps(k, adl_cap);
        if (rule == ResidualRule::capped_pro_rata) {
          adl::capped_pro_rata(capacity, caps, amount, taken);
        } else {  // risk_aware: weights = effective leverage, notional / equity at the mark
          std::vector<double> w(k);
          for (std::size_t a = 0; a < k; ++a) {
            const std::size_t j = idx[a];
            const double e = equity_at_mark(j);
            w[a] = e > 0.0 ? notional(c_, q_[j], mark_) / e : 0.0;
          }
          adl::risk_aware(capacity, w, caps, amount, taken);
        }
      }
      for (std::size_t a = 0; a < k; ++a) {
        charge_[idx[a]] += taken[a];
        total.add(taken[a]);
      }
    }
    return total.value();
  }

 private:
  double equity_at_mark(std::size_t j) const noexcept { return m_[j] + pnl(c_, q_[j], ep_[j], mark_); }
  // What an ADL rule may take from counterparty j: its positive PnL at the mark, and never more
  // than its equity (a position whose margin was already charged down cannot go below zero).
  double capacity_of(std::size_t j) const noexcept {
    return std::max(0.0, std::min(pnl(c_, q_[j], ep_[j], mark_), equity_at_mark(j)));
  }

  ContractSpec c_;
  std::span<const double> q_, ep_, m_;
  std::span<const std::uint8_t> liq_;
  double mark_;
  std::span<double> charge_;
  std::vector<double> scores_;
};

}  // namespace liqcore
