// The loss waterfall of a liquidation batch (MODEL.md §3): the liquidation fee, the insurance
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
};

// The liquidation fee charged to the trader's surplus; never more than the surplus.
inline double liquidation_fee(FeeRule rule, double fee_cap, double fee_rate, double surplus,
                              double fill_notional) noexcept {
  if (!(surplus > 0.0)) return 0.0;
  switch (rule) {
    case FeeRule::surplus:
      return surplus;
    case FeeRule::rate:
      return std::min(surplus, fee_rate * fill_notional);
    case FeeRule::capped:
    default:
      return std::min(surplus, fee_cap * fill_notional);
  }
}

// ---- the insurance fund --------------------------------------------------------------------

// The fund of one batch. Each liquidation first credits its income (fee, and the gain of a
// takeover below the mark), then the fund pays its loss (the trader's deficit and the
// mark-to-market loss of a takeover at the bankruptcy price) down to the reserve. Fees of
// earlier liquidations therefore pay for later ones in the same batch.
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

// One row per (entity, kind); amounts are gains at the mark price and sum to zero.
enum class LedgerRow : int {
  traders = 0,          // liquidated traders: equity after (returned) − equity before, at the mark
  makers = 1,           // book makers: inventory bought/sold vs the mark
  liquidators = 2,      // takeover liquidators: the takeover discount vs the mark
  fund_fees = 3,        // insurance fund: liquidation fees
  fund_takeover = 4,    // insurance fund: positions taken over at the bankruptcy price, vs the mark
  fund_deficit = 5,     // insurance fund: payments to cover traders' deficits (negative)
  fund_residual = 6,    // insurance fund: takeover losses beyond the fund, covered by the residual
  adl_takeover = 7,     // ADL counterparties: contracts closed at the bankruptcy price, vs the mark
  residual_transfers = 8,  // ADL / socialized counterparties: money taken (negative)
  uncovered = 9,        // bad debt nobody covered (negative)
};
inline constexpr std::size_t kLedgerRows = 10;

class Ledger {
 public:
  void add(LedgerRow row, double amount) noexcept { rows_[static_cast<std::size_t>(row)].add(amount); }
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
};

// ---- the residual ---------------------------------------------------------------------------

enum class ResidualRule : int {
  none = 0,             // reported as uncovered bad debt
  queue = 1,            // ADL queue by adl::rank: positive PnL in money, and contracts at BP
  pro_rata = 2,         // the same fraction of every opposite winner's positive PnL
  capped_pro_rata = 3,  // water-filling up to adl_cap of each winner's positive PnL
  risk_aware = 4,       // water-filling weighted by effective leverage, capped at adl_cap
  socialize = 5,        // Drift: per unit of open interest, both sides
};

// The counterparties of a batch: the positions passed in that are not liquidated. They cover
// what the fund could not: by closing contracts at the bankruptcy price (quantity ADL, BitMEX)
// during the batch, and by giving money after it (residual allocation). Per position they
// record `adl` (money charged, > 0 = paid) and `adl_closed` (contracts closed).
class Counterparties {
 public:
  Counterparties(const ContractSpec& c, std::span<const double> size, std::span<const double> entry_price,
                 std::span<const double> margin, std::span<const std::uint8_t> liquidated, double mark,
                 std::span<double> adl_charge, std::span<double> adl_closed)
      : c_(c), q_(size), ep_(entry_price), m_(margin), liq_(liquidated), mark_(mark), charge_(adl_charge),
        closed_(adl_closed) {}

  // The remaining signed size of counterparty j (after quantity ADL).
  double remaining(std::size_t j) const noexcept {
    return q_[j] > 0.0 ? q_[j] - closed_[j] : q_[j] + closed_[j];
  }

  // Quantity ADL: a liquidated position of side s leaves `qty` contracts at bankruptcy price
  // `bp`; opposite-side counterparties close them at `bp` in queue order (adl::rank score
  // descending, index ascending: the order of adl::queue), each up to its remaining size.
  // Returns the quantity placed; each counterparty is charged its loss vs the mark.
  double place(double s, double qty, double bp) {
    std::vector<std::size_t>& order = s > 0.0 ? shorts_ : longs_;
    std::size_t& next = s > 0.0 ? next_short_ : next_long_;
    if (!built_) build_queues();
    double left = qty;
    while (left > 0.0 && next < order.size()) {
      const std::size_t j = order[next];
      const double cap = std::abs(remaining(j));
      const double x = std::min(cap, left);
      closed_[j] += x;
      charge_[j] += -pnl(c_, s * x, bp, mark_);
      left -= x;
      if (x == cap) ++next;
    }
    return qty - left;
  }

  // Allocates the money residuals (per side of the liquidated positions for the ADL rules,
  // in total for socialization) and returns what the counterparties covered.
  // shortfall_long: the residual of liquidated longs, covered by shorts; and vice versa.
  double settle(ResidualRule rule, double adl_cap, double shortfall_long, double shortfall_short) {
    if (rule == ResidualRule::none) return 0.0;
    const std::size_t n = q_.size();
    if (rule == ResidualRule::socialize) {
      const double amount = shortfall_long + shortfall_short;
      if (!(amount > 0.0)) return 0.0;
      std::vector<double> size(n), charge(n);
      for (std::size_t j = 0; j < n; ++j) size[j] = liq_[j] ? 0.0 : remaining(j);
      adl::socialize(size, amount, charge);
      CompensatedSum total;
      for (std::size_t j = 0; j < n; ++j) {
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
        if (!liq_[j] && remaining(j) * s < 0.0) idx.push_back(j);
      const std::size_t k = idx.size();
      std::vector<double> capacity(k), taken(k);
      for (std::size_t a = 0; a < k; ++a)
        capacity[a] = std::max(0.0, pnl(c_, remaining(idx[a]), ep_[idx[a]], mark_));  // never principal
      if (rule == ResidualRule::queue) {
        if (!built_) build_queues();
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
            const double r = remaining(j);
            const double e = (q_[j] != 0.0 ? m_[j] * (r / q_[j]) : 0.0) + pnl(c_, r, ep_[j], mark_);
            w[a] = e > 0.0 ? notional(c_, r, mark_) / e : 0.0;
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
  // ADL scores at the mark before the batch, and per side the queue of non-liquidated
  // positions in score order.
  void build_queues() {
    const std::size_t n = q_.size();
    scores_.assign(n, 0.0);
    adl::rank(c_, q_, ep_, m_, mark_, scores_);
    for (std::size_t j = 0; j < n; ++j) {
      if (liq_[j] || q_[j] == 0.0) continue;
      (q_[j] > 0.0 ? longs_ : shorts_).push_back(j);
    }
    auto by_score = [&](std::size_t a, std::size_t b) {
      return scores_[a] > scores_[b] || (scores_[a] == scores_[b] && a < b);
    };
    std::sort(longs_.begin(), longs_.end(), by_score);
    std::sort(shorts_.begin(), shorts_.end(), by_score);
    built_ = true;
  }

  ContractSpec c_;
  std::span<const double> q_, ep_, m_;
  std::span<const std::uint8_t> liq_;
  double mark_;
  std::span<double> charge_, closed_;
  bool built_ = false;
  std::vector<double> scores_;
  std::vector<std::size_t> longs_, shorts_;
  std::size_t next_long_ = 0, next_short_ = 0;
};

}  // namespace liqcore
