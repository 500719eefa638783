// Cross margin (docs/model.md §6): markets, collateral accounts, account health, and dYdX's slice rules.
//
// An account holds collateral in several assets and positions in several perpetual markets.
// Everything is valued in the quote currency of the venue (the currency of the collateral
// prices). Per position (signed size q, entry price EP, market mark P):
//   linear   PnL = q·(P − EP),         notional = |q|·P,  MM = notional·mmr_k − cum_k;
//   inverse  PnL = q·C·(1/EP − 1/P) coin, valued at the mark: q·C·(P/EP − 1) quote;
//            notional |q|·C/P coin (|q|·C quote); MM in coin by the tiers (coin notional),
//            valued at the mark: (|q|·C/P·mmr_k − cum_k)·P quote.
// Account: collateral value Σ_k c_k·price_k·w_k, with asset weight w_k = 1 − haircut_k for a
// positive balance, optionally discounted with size (Drift's IMF size discount,
// w = min(1 − haircut, 1.1 / (1 + imf·sqrt(c)))), and w = 1 for a negative balance (a borrow is a
// liability at face value). TNC = collateral value + Σ PnL, TMMR = Σ MM; liquidatable iff
// TMMR > 0 and TMMR > TNC (dYdX's rule, docs/model.md §6): an account without maintenance
// requirement is never liquidated, whatever its equity.
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

namespace liqcore {

// ---- markets --------------------------------------------------------------------------------

struct Market {
  ContractSpec contract{};
  Tiers tiers = Tiers::flat(0.0);
  double mark = 1.0;

  bool inverse() const noexcept { return contract.kind == Contract::inverse; }
  // Quote value of one unit of the margin currency (coin for inverse markets, valued at the mark).
  double quote_factor() const noexcept { return inverse() ? mark : 1.0; }
  // Position values in quote, computed exactly as health computes them (detail::value).
  double notional_quote(double q) const noexcept {
    return std::abs(q) * (inverse() ? contract.contract_size : mark);
  }
  double mm_quote(double q) const noexcept {
    const double nq = notional_quote(q);
    if (tiers.size() == 1) return nq * tiers.mmr[0];
    const double nm = inverse() ? nq * (1.0 / mark) : nq;  // tiers are by margin-currency notional
    const std::size_t k = tiers.tier_of(nm);
    return (nm * tiers.mmr[k] - tiers.cum[k]) * quote_factor();
  }
};

// Validates marks (finite > 0) and contract sizes (finite > 0); names "marks[i]" and
// "contract_size[i]".
inline void check_markets(std::span<const Market> markets) {
  for (std::size_t m = 0; m < markets.size(); ++m) {
    const auto i = static_cast<std::int64_t>(m);
    if (!(std::isfinite(markets[m].mark) && markets[m].mark > 0.0))
      throw InvalidArgument("marks", i, "must be finite and > 0 " + describe(markets[m].mark));
    const double cs = markets[m].contract.contract_size;
    if (!(std::isfinite(cs) && cs > 0.0))
      throw InvalidArgument("contract_size", i, "must be finite and > 0 " + describe(cs));
  }
}

// ---- collateral -----------------------------------------------------------------------------

// Collateral of A accounts in K assets, row-major (account a, asset k at a·K + k).
struct CollateralColumns {
  std::span<const double> amount;     // A·K balances, any sign (negative: borrowed)
  std::span<const double> price;      // K asset prices in quote, finite > 0
  std::span<const double> haircut;    // K haircuts in [0, 1)
  std::span<const double> imf;        // K Drift IMF factors (>= 0), or empty: no size discount
  std::size_t accounts() const noexcept { return price.empty() ? 0 : amount.size() / price.size(); }
};

// Weight of a balance of `amount` units: 1 − haircut, reduced with size by Drift's IMF size
// discount 1.1 / (1 + imf·sqrt(amount)); a negative balance (a liability) has weight 1.
inline double asset_weight(double amount, double haircut, double imf) noexcept {
  if (!(amount > 0.0)) return 1.0;
  const double w = 1.0 - haircut;
  return imf > 0.0 ? std::min(w, 1.1 / (1.0 + imf * std::sqrt(amount))) : w;
}

namespace detail {
inline void check_assets(const CollateralColumns& col) {
  const std::size_t k = col.price.size();
  for (std::size_t j = 0; j < k; ++j) {
    const auto i = static_cast<std::int64_t>(j);
    if (!(std::isfinite(col.price[j]) && col.price[j] > 0.0))
      throw InvalidArgument("asset_prices", i, "must be finite and > 0 " + describe(col.price[j]));
    if (!(col.haircut[j] >= 0.0 && col.haircut[j] < 1.0))
      throw InvalidArgument("haircuts", i, "must be in [0, 1) " + describe(col.haircut[j]));
    if (!col.imf.empty() && !(std::isfinite(col.imf[j]) && col.imf[j] >= 0.0))
      throw InvalidArgument("size_discount", i, "must be finite and >= 0 " + describe(col.imf[j]));
  }
}

[[noreturn]] inline void throw_bad_collateral(const CollateralColumns& col) {
  for (std::size_t i = 0; i < col.amount.size(); ++i)
    if (!std::isfinite(col.amount[i]))
      throw InvalidArgument("collateral", static_cast<std::int64_t>(i), "must be finite " + describe(col.amount[i]));
  throw InvalidArgument("collateral", -1, "must be finite");  // unreachable
}
}  // namespace detail

// Risk value (weighted) and market value (at price) of account a's collateral.
struct CollateralValue {
  double risk = 0.0, market = 0.0;
};
inline CollateralValue collateral_value(const CollateralColumns& col, std::size_t a) noexcept {
  const std::size_t k = col.price.size();
  const double* row = col.amount.data() + a * k;
  CollateralValue v;
  for (std::size_t j = 0; j < k; ++j) {
    const double x = row[j] * col.price[j];
    v.market += x;
    v.risk += x * asset_weight(row[j], col.haircut[j], col.imf.empty() ? 0.0 : col.imf[j]);
  }
  return v;
}

// ---- portfolio ------------------------------------------------------------------------------

struct PortfolioColumns {
  std::span<const std::int64_t> account, market;
  std::span<const double> size, entry_price;
};

namespace detail {
// Throws for the first invalid position (called once a pass has seen one).
[[noreturn]] inline void throw_bad_position(const PortfolioColumns& pf, std::size_t n_accounts,
                                            std::size_t n_markets) {
  for (std::size_t i = 0; i < pf.size.size(); ++i) {
    const auto ii = static_cast<std::int64_t>(i);
    if (static_cast<std::uint64_t>(pf.account[i]) >= n_accounts)
      throw InvalidArgument("account", ii,
                            "is not a known account: ids are 0.." + std::to_string(n_accounts) + " (exclusive) (got " +
                                std::to_string(pf.account[i]) + ")");
    if (static_cast<std::uint64_t>(pf.market[i]) >= n_markets)
      throw InvalidArgument("market", ii,
                            "is not a known market: ids are 0.." + std::to_string(n_markets) + " (exclusive) (got " +
                                std::to_string(pf.market[i]) + ")");
    if (!std::isfinite(pf.size[i])) throw InvalidArgument("size", ii, "must be finite " + describe(pf.size[i]));
    if (!(std::isfinite(pf.entry_price[i]) && pf.entry_price[i] > 0.0))
      throw InvalidArgument("entry_price", ii, "must be finite and > 0 " + describe(pf.entry_price[i]));
  }
  throw InvalidArgument("positions", -1, "are invalid");  // unreachable
}

// What the streaming loop needs of a market, flattened (one cache line).
struct MarketFast {
  double mark, nq, to_margin, f, rate, cs;  // nq: quote notional per unit; f: quote per margin unit
  bool inverse, flat;
  const Tiers* tiers;
};
inline std::vector<MarketFast> fast_markets(std::span<const Market> markets) {
  std::vector<MarketFast> v(markets.size());
  for (std::size_t m = 0; m < markets.size(); ++m) {
    const Market& mk = markets[m];
    const bool inv = mk.inverse();
    v[m] = MarketFast{mk.mark,
                      inv ? mk.contract.contract_size : mk.mark,
                      inv ? 1.0 / mk.mark : 1.0,
                      mk.quote_factor(),
                      mk.tiers.mmr[0],
                      mk.contract.contract_size,
                      inv,
                      mk.tiers.size() == 1,
                      &mk.tiers};
  }
  return v;
}

// PnL, maintenance and notional of one position, in quote.
struct Valued {
  double pnl, mm, notional;
};
inline Valued value(const MarketFast& k, double q, double ep) noexcept {
  Valued v;
  v.pnl = k.inverse ? q * k.cs * (k.mark / ep - 1.0) : q * (k.mark - ep);
  v.notional = std::abs(q) * k.nq;
  if (k.flat) {
    v.mm = v.notional * k.rate;
  } else {
    const double nm = v.notional * k.to_margin;
    const std::size_t t = k.tiers->tier_of(nm);
    v.mm = (nm * k.tiers->mmr[t] - k.tiers->cum[t]) * k.f;
  }
  return v;
}
}  // namespace detail

// ---- health ---------------------------------------------------------------------------------

// Per-account outputs (length A), allocated by the caller.
struct HealthOutputs {
  std::span<double> collateral;    // risk (weighted) value of the collateral
  std::span<double> equity;        // TNC = collateral + Σ PnL
  std::span<double> maintenance;   // TMMR = Σ MM
  std::span<double> notional;      // Σ |notional|
  std::span<double> margin_ratio;  // TMMR / TNC (+inf when TNC <= 0 < TMMR or TNC < 0; 0 when both are 0)
  std::span<double> distance;      // (TNC − TMMR) / Σ notional (±inf without positions)
  std::span<std::uint8_t> liquidatable;  // TMMR > 0 and TMMR > TNC (dYdX)
};

namespace detail {
inline void finish_account(const HealthOutputs& out, std::size_t a) noexcept {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double e = out.equity[a], mm = out.maintenance[a], n = out.notional[a];
  out.margin_ratio[a] = e > 0.0 ? mm / e : (e == 0.0 && mm == 0.0 ? 0.0 : inf);
  out.distance[a] = n > 0.0 ? (e - mm) / n : (e >= mm ? inf : -inf);
  out.liquidatable[a] = mm > 0.0 && mm > e ? 1 : 0;
}
inline bool start_account(const CollateralColumns& col, const HealthOutputs& out, std::size_t a) noexcept {
  const CollateralValue v = collateral_value(col, a);
  out.collateral[a] = v.risk;
  out.equity[a] = v.risk;
  out.maintenance[a] = 0.0;
  out.notional[a] = 0.0;
  return std::isfinite(v.market);  // a NaN or inf balance shows here (prices are checked apart)
}
}  // namespace detail

// Health of every account in one pass over the positions.
//
// Positions sorted by account (the common layout of an exchange dump) are streamed: each
// account's sums stay in registers and its outputs are written once, when its run ends; the
// collateral row is read at that moment. The first position out of order switches the rest of
// the pass to scatter mode (a run of one account is still summed in registers, starting from and
// stored back to a temporary array that keeps an account's three sums in one cache line),
// followed by one finishing pass over the accounts. Either way
// each account's sums are formed by the same additions in position order (collateral first), so
// the results are the same bits for any layout that keeps each account's positions in the same
// relative order.
inline void health(std::span<const Market> markets, const CollateralColumns& col, const PortfolioColumns& pf,
                   const HealthOutputs& out) {
  check_markets(markets);
  detail::check_assets(col);
  const std::size_t n = pf.size.size(), A = col.accounts(), M = markets.size();
  const std::vector<detail::MarketFast> fast = detail::fast_markets(markets);
  bool bad_pos = false, bad_col = false;
  std::size_t next = 0;  // accounts [0, next) are started
  std::int64_t cur = -1;
  double sp = 0.0, sm = 0.0, sn = 0.0;
  // Values position i into v; false (and bad_pos) for an id out of range.
  auto valued = [&](std::size_t i, detail::Valued& v) {
    const std::int64_t a = pf.account[i], m = pf.market[i];
    if (static_cast<std::uint64_t>(a) >= A || static_cast<std::uint64_t>(m) >= M) {
      bad_pos = true;
      return false;
    }
    const double q = pf.size[i], ep = pf.entry_price[i];
    bad_pos |= !(std::isfinite(q) && std::isfinite(ep) && ep > 0.0);
    v = detail::value(fast[static_cast<std::size_t>(m)], q, ep);
    return true;
  };

  // Streaming while the accounts come in order. The running sums continue from the account's
  // value (collateral first), so the additions are the same whatever the layout.
  std::size_t i = 0;
  for (; i < n; ++i) {
    detail::Valued v;
    if (!valued(i, v)) continue;
    const std::int64_t a = pf.account[i];
    if (a != cur) {
      if (a < cur) break;  // out of order: the rest is scattered
      if (cur >= 0) {
        const auto c = static_cast<std::size_t>(cur);
        out.equity[c] = sp, out.maintenance[c] = sm, out.notional[c] = sn;
        detail::finish_account(out, c);
      }
      for (; next <= static_cast<std::size_t>(a); ++next) {
        bad_col |= !detail::start_account(col, out, next);
        if (next < static_cast<std::size_t>(a)) detail::finish_account(out, next);
      }
      cur = a;
      sp = out.equity[next - 1], sm = 0.0, sn = 0.0;
    }
    sp += v.pnl;
    sm += v.mm;
    sn += v.notional;
  }
  if (cur >= 0) {
    const auto c = static_cast<std::size_t>(cur);
    out.equity[c] = sp, out.maintenance[c] = sm, out.notional[c] = sn;
    detail::finish_account(out, c);
  }
  if (i == n) {
    for (; next < A; ++next) {
      bad_col |= !detail::start_account(col, out, next);
      detail::finish_account(out, next);
    }
  } else {
    // Scatter: the three sums of an account share one cache line, so a position out of order
    // costs one random access instead of three.
    struct alignas(32) Sums {
      double eq, mm, nt;
    };
    std::vector<Sums> acc(A);
    for (std::size_t a = 0; a < next; ++a) acc[a] = {out.equity[a], out.maintenance[a], out.notional[a]};
    for (std::size_t a = next; a < A; ++a) {
      bad_col |= !detail::start_account(col, out, a);
      acc[a] = {out.equity[a], 0.0, 0.0};
    }
    cur = -1;
    constexpr std::size_t ahead = 32;  // prefetch distance: random accesses overlap instead of queueing
    for (; i < n; ++i) {
#if defined(__GNUC__)
      if (i + ahead < n) {
        const auto b = static_cast<std::uint64_t>(pf.account[i + ahead]);
        if (b < A) __builtin_prefetch(&acc[b], 1);
      }
#endif
      detail::Valued v;
      if (!valued(i, v)) continue;
      const std::int64_t a = pf.account[i];
      if (a != cur) {
        if (cur >= 0) acc[static_cast<std::size_t>(cur)] = {sp, sm, sn};
        cur = a;
        const Sums& x = acc[static_cast<std::size_t>(a)];
        sp = x.eq, sm = x.mm, sn = x.nt;
      }
      sp += v.pnl;
      sm += v.mm;
      sn += v.notional;
    }
    if (cur >= 0) acc[static_cast<std::size_t>(cur)] = {sp, sm, sn};
    for (std::size_t a = 0; a < A; ++a) {
      out.equity[a] = acc[a].eq, out.maintenance[a] = acc[a].mm, out.notional[a] = acc[a].nt;
      detail::finish_account(out, a);
    }
  }
  if (bad_col) detail::throw_bad_collateral(col);
  if (bad_pos) detail::throw_bad_position(pf, A, M);
}

// ---- dYdX slice rules -------------------------------------------------------------------------

// The close price V of x > 0 units of a position of side s at which the trader's quote gain vs
// closing at the mark is g: quote_factor·PnL(s·x, P → V) = g. Linear V = P + g/(s·x), 0 when
// that is not positive (a long solvent at every positive price); inverse
// V = P / (1 − g/(s·x·C)), +inf when the denominator is not positive (never reached).
inline double price_for_gain(const Market& mk, double s, double x, double g) noexcept {
  const double P = mk.mark;
  if (!mk.inverse()) return std::max(P + g / (s * x), 0.0);
  const double den = 1.0 - g / (s * x * mk.contract.contract_size);
  return den > 0.0 ? P / den : std::numeric_limits<double>::infinity();
}

// The account-level figures the slice rules need (quote).
struct AccountState {
  double equity;       // TNC
  double maintenance;  // TMMR
  double notional;     // Σ |notional| (splits equity when TMMR = 0)
};

// The share of account equity a slice closing the fraction `part` (0..1) of one position
// carries (docs/model.md §6): part·MM/TMMR, the position's requirement share split pro rata to
// the size closed; by notional (part·notional/Σ notional) when TMMR is 0. Where MM is
// proportional to size (flat or OI-scaled margin fractions, as on dYdX) this is dYdX's
// |ΔMMR|/TMMR exactly; with size tiers it keeps a one-position account's slice at the isolated
// position's share Δ/Q (§3).
inline double slice_share(const AccountState& st, double position_mm, double position_notional,
                          double part) noexcept {
  // (the ratio first: exactly `part` for a one-position account)
  if (st.maintenance > 0.0) return part * (std::abs(position_mm) / st.maintenance);
  return st.notional > 0.0 ? part * (std::abs(position_notional) / st.notional) : 0.0;
}

// dYdX's bankruptcy price per unit of closing `delta` (opposite sign to q, |delta| <= |q|):
// the bankruptcy quote BP(Δ) = −ΔNNV − TNC·|ΔMMR|/TMMR, received for the slice (paid when
// negative), per unit closed: −BP(Δ)/Δ for linear markets. In general the price at which the
// slice's quote gain vs the mark is −TNC·share (price_for_gain).
inline double slice_bankruptcy_price(const Market& mk, double q, double delta, const AccountState& st) noexcept {
  const double s = q > 0.0 ? 1.0 : -1.0;
  const double x = std::abs(delta);
  const double part = std::min(1.0, x / std::abs(q));
  return price_for_gain(mk, s, x, -st.equity * slice_share(st, mk.mm_quote(q), mk.notional_quote(q), part));
}

// The adjusted bankruptcy rating ABR = clamp(BA·(1 − TNC/TMMR), 0, 1) (1 when TMMR is 0).
inline double adjusted_bankruptcy_rating(const AccountState& st, double ba) noexcept {
  return st.maintenance > 0.0 ? std::clamp(ba * (1.0 - st.equity / st.maintenance), 0.0, 1.0) : 1.0;
}

// dYdX's fillable price of position q: (PNNV − ABR·SMMR·PMMR)/PS for linear markets, in general
// P·(1 − s·ABR·SMMR·MM/notional) (the same relative spread). The mark for a flat position.
inline double fillable_price(const Market& mk, double q, const AccountState& st, double ba, double smmr) noexcept {
  const double nt = mk.notional_quote(q);
  if (!(nt > 0.0)) return mk.mark;
  const double s = q > 0.0 ? 1.0 : -1.0;
  return mk.mark * (1.0 - s * adjusted_bankruptcy_rating(st, ba) * smmr * mk.mm_quote(q) / nt);
}

}  // namespace liqcore
