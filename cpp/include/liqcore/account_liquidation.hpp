// Account-wide liquidation across markets (docs/model.md §3, §6): the cross-margin counterpart of
// liquidation.hpp, with the same policy, book walk, fallback, fees, fund, residual rules and ledger.
//
// All money is in quote (see cross_margin.hpp for how inverse markets are valued at their mark).
// Two valuations of an account are used on purpose:
//   risk value   TNC = weighted collateral + Σ PnL (health.hpp's equity): decides who is
//                liquidatable, the order, the slice bankruptcy and fillable prices, and when a
//                partial liquidation has restored the account;
//   market value E = collateral at price (no haircut) + Σ PnL: what the account actually owns,
//                so what is settled (deficit, surplus, fee) and what the ledger shows.
//
// The batch is sequential and deterministic. Accounts are liquidated one after another in the
// policy's order; within an account, its positions one after another; each close walks a private
// copy of its market's book from where the previous close on that side stopped.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "liqcore/book.hpp"
#include "liqcore/cross_margin.hpp"
#include "liqcore/error.hpp"
#include "liqcore/liquidation.hpp"
#include "liqcore/waterfall.hpp"

namespace liqcore {

struct AccountLiquidationOutputs {
  // per position (length n)
  std::span<std::uint8_t> liquidated;  // its account was liquidated
  std::span<std::int64_t> sequence;    // rank in the close order, -1 if not closed
  std::span<double> closed, book_closed, fallback_closed, vwap;
  std::span<double> bankruptcy_price;  // slice bankruptcy price (per unit) when its close began, NaN if none
  std::span<double> result;            // the slice's equity after its fills (see liquidate_accounts)
  std::span<double> deficit, fee, insurance_draw, shortfall;
  std::span<double> inventory_loss;    // the fund's loss on the close's fallback (< 0: gain)
  std::span<double> adl;               // as an ADL / socialization counterparty
  // per account (length A)
  std::span<std::uint8_t> acc_liquidated;
  std::span<std::int64_t> acc_sequence;
  std::span<double> acc_equity, acc_maintenance, acc_equity_market, acc_equity_after;
  std::span<double> acc_deficit, acc_surplus, acc_fee, acc_insurance_draw, acc_shortfall, acc_closed_notional;
  // per market (length M)
  std::span<double> mk_closed_notional, mk_deficit, mk_residual, mk_adl_transfers, mk_uncovered;
  std::span<double> mk_inventory_loss;
};

struct AccountLiquidationTotals {
  std::int64_t accounts = 0, positions = 0;
  double closed_notional = 0.0, fees = 0.0, deficit = 0.0, surplus = 0.0;
  double inventory_loss = 0.0, inventory_gain = 0.0, unabsorbed = 0.0, bad_debt = 0.0;
  double insurance_draw = 0.0, residual = 0.0, adl_transfers = 0.0, uncovered = 0.0, fund_after = 0.0;
  std::vector<BookFlow> flow;  // per market: the batch's book fills
  Ledger ledger;
};

namespace detail {

// Positions grouped by a key in [0, k), each group in input order (a stable counting sort).
struct Groups {
  std::vector<std::size_t> offset, index;
  std::span<const std::size_t> of(std::size_t g) const noexcept {
    return {index.data() + offset[g], offset[g + 1] - offset[g]};
  }
};
inline Groups group_by(std::span<const std::int64_t> key, std::size_t k) {
  Groups g;
  g.offset.assign(k + 1, 0);
  for (const std::int64_t v : key) ++g.offset[static_cast<std::size_t>(v) + 1];
  for (std::size_t j = 0; j < k; ++j) g.offset[j + 1] += g.offset[j];
  g.index.resize(key.size());
  std::vector<std::size_t> fill(g.offset.begin(), g.offset.end() - 1);
  for (std::size_t i = 0; i < key.size(); ++i) g.index[fill[static_cast<std::size_t>(key[i])]++] = i;
  return g;
}

// The liquidatable accounts `hits` (in index order) into the policy's order (docs/model.md §6):
// "underwater" by (TMMR − TNC)/notional descending (or the fillable spread with
// limit="fillable"), "largest" by notional; ties (keys within detail::order_keys_tie) to the
// larger notional, then the lower index;
// "given" keeps index order. eq, mmr, ntl: every account's TNC, TMMR and notional.
inline void order_accounts(std::vector<std::size_t>& hits, std::span<const double> eq, std::span<const double> mmr,
                           std::span<const double> ntl, const LiquidationPolicy& pol) {
  if (pol.order == LiquidationOrder::given || hits.size() < 2) return;
  struct Key {
    double key, notional;
    std::size_t a;
  };
  std::vector<Key> keys(hits.size());
  for (std::size_t k = 0; k < hits.size(); ++k) {
    const std::size_t a = hits[k];
    double key = ntl[a];
    if (pol.order == LiquidationOrder::underwater) {
      const AccountState st{eq[a], mmr[a], ntl[a]};
      key = !(ntl[a] > 0.0) ? 0.0
            : pol.limit == LimitRule::fillable
                ? adjusted_bankruptcy_rating(st, pol.ba) * pol.smmr * mmr[a] / ntl[a]
                : (mmr[a] - eq[a]) / ntl[a];
    }
    keys[k] = {key, ntl[a], a};
  }
  const auto after_key = [](const Key& x, const Key& y) {
    if (x.notional != y.notional) return x.notional > y.notional;
    return x.a < y.a;
  };
  std::sort(keys.begin(), keys.end(), [&](const Key& x, const Key& y) {
    return x.key != y.key ? x.key > y.key : after_key(x, y);
  });
  // keys a few ulps apart are a tie (docs/model.md §3, step 2), as in order_liquidations
  break_order_ties(keys.begin(), keys.end(), [](const Key& x) { return x.key; }, after_key);
  for (std::size_t k = 0; k < hits.size(); ++k) hits[k] = keys[k].a;
}

// The non-liquidated positions of one market as ADL / socialization counterparties.
struct MarketCounterparties {
  std::vector<double> size, entry_price, margin, charge;
  std::vector<std::uint8_t> liquidated;
  std::unique_ptr<Counterparties> cp;
};

// Market m's positions (`idx`, from group_by(pf.market)) as the residual allocation's
// counterparties at its mark: the accounts flagged in `excluded` (liquidated ones) bear
// nothing; each position's margin is its account's collateral value `coll` split by notional
// (`ntl`: the account's, `val`: the position's), in the margin currency. It may be negative (a
// borrow, or earlier charges in a cascade): a position's charge is capped by its positive PnL
// and by that equity (its collateral share plus its PnL), never more.
inline void market_counterparties(MarketCounterparties& c, const Market& mk, const PortfolioColumns& pf,
                                  std::span<const std::size_t> idx, std::span<const Valued> val,
                                  std::span<const double> coll, std::span<const double> ntl,
                                  std::span<const std::uint8_t> excluded) {
  const std::size_t k = idx.size();
  c.size.resize(k), c.entry_price.resize(k), c.margin.resize(k), c.charge.assign(k, 0.0);
  c.liquidated.resize(k);
  const double f = mk.quote_factor();
  for (std::size_t j = 0; j < k; ++j) {
    const std::size_t i = idx[j];
    const auto a = static_cast<std::size_t>(pf.account[i]);
    c.size[j] = pf.size[i];
    c.entry_price[j] = pf.entry_price[i];
    c.margin[j] = ntl[a] > 0.0 ? coll[a] * val[i].notional / ntl[a] / f : 0.0;
    c.liquidated[j] = excluded[a];
  }
  c.cp = std::make_unique<Counterparties>(mk.contract, c.size, c.entry_price, c.margin, c.liquidated, mk.mark,
                                          c.charge);
}

}  // namespace detail

// The fund's inventory of an account batch, per market and side, with the position each lot came
// from (lot tag = index into `position`). A cascade keeps one across its rounds (the fund sells
// what it holds after each round's closes and carries the rest, docs/model.md §4).
struct AccountInventory {
  std::vector<Inventory> longs, shorts;  // per market
  std::vector<std::size_t> position;     // per lot tag
  std::vector<std::int8_t> side;         // per lot tag: +1 taken over from a long, -1 a short
  void reset(std::size_t markets) {
    longs.assign(markets, Inventory{});
    shorts.assign(markets, Inventory{});
    position.clear();
    side.clear();
  }
  bool empty() const noexcept {
    for (const Inventory& i : longs)
      if (!i.empty()) return false;
    for (const Inventory& i : shorts)
      if (!i.empty()) return false;
    return true;
  }
};

// Liquidates every liquidatable account (TMMR > TNC at the marks, with an open position) and
// runs the waterfall. `books` has one book per market (execution "book"), or is empty
// (execution "takeover"); `books_after` receives the books after the closes. The policy's
// margin fields (contract, tiers) are ignored: each market carries its own.
inline AccountLiquidationTotals liquidate_accounts(std::span<const Market> markets, std::span<const Book* const> books,
                                                   const CollateralColumns& col, const PortfolioColumns& pf,
                                                   const LiquidationPolicy& pol, double fund_balance,
                                                   const AccountLiquidationOutputs& out,
                                                   std::vector<Book>& books_after,
                                                   AccountInventory* carried = nullptr) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  const std::size_t n = pf.size.size(), A = col.accounts(), M = markets.size();
  const bool by_book = pol.execution == Execution::book;
  if (by_book && books.size() != M)
    throw InvalidArgument("books", -1, "must have one book per market for execution 'book'");

  // ---- health at the marks (validates everything) ------------------------------------------
  std::vector<double> coll(A), eq(A), mmr(A), ntl(A), ratio(A), dist(A);
  std::vector<std::uint8_t> liq_acc(A);
  health(markets, col, pf, HealthOutputs{coll, eq, mmr, ntl, ratio, dist, liq_acc});

  const std::vector<detail::MarketFast> fast = detail::fast_markets(markets);
  std::vector<detail::Valued> val(n);
  for (std::size_t i = 0; i < n; ++i)
    val[i] = detail::value(fast[static_cast<std::size_t>(pf.market[i])], pf.size[i], pf.entry_price[i]);

  const detail::Groups by_account = detail::group_by(pf.account, A);
  const detail::Groups by_market = detail::group_by(pf.market, M);
  std::vector<std::size_t> hits;
  for (std::size_t a = 0; a < A; ++a) {
    bool open = false;
    for (const std::size_t i : by_account.of(a)) open |= pf.size[i] != 0.0;
    if (!(liq_acc[a] && open)) liq_acc[a] = 0;
    if (liq_acc[a]) hits.push_back(a);
  }

  // ---- outputs before the batch --------------------------------------------------------------
  for (std::size_t i = 0; i < n; ++i) {
    out.liquidated[i] = liq_acc[static_cast<std::size_t>(pf.account[i])];
    out.sequence[i] = -1;
    out.closed[i] = out.book_closed[i] = out.fallback_closed[i] = 0.0;
    out.vwap[i] = out.bankruptcy_price[i] = out.result[i] = nan;
    out.deficit[i] = out.fee[i] = out.insurance_draw[i] = out.shortfall[i] = 0.0;
    out.adl[i] = out.inventory_loss[i] = 0.0;
  }
  for (std::size_t a = 0; a < A; ++a) {
    const CollateralValue cv = collateral_value(col, a);
    out.acc_liquidated[a] = liq_acc[a];
    out.acc_sequence[a] = -1;
    out.acc_equity[a] = eq[a];
    out.acc_maintenance[a] = mmr[a];
    out.acc_equity_market[a] = cv.market + (eq[a] - coll[a]);
    out.acc_equity_after[a] = out.acc_equity_market[a];
    out.acc_deficit[a] = out.acc_surplus[a] = out.acc_fee[a] = out.acc_insurance_draw[a] = 0.0;
    out.acc_shortfall[a] = out.acc_closed_notional[a] = 0.0;
  }
  for (std::size_t m = 0; m < M; ++m)
    out.mk_closed_notional[m] = out.mk_deficit[m] = out.mk_residual[m] = out.mk_adl_transfers[m] =
        out.mk_uncovered[m] = out.mk_inventory_loss[m] = 0.0;

  // ---- order of accounts ---------------------------------------------------------------------
  detail::order_accounts(hits, eq, mmr, ntl, pol);

  // ---- per market: policy, counterparties, cursors -------------------------------------------
  std::vector<LiquidationPolicy> mpol(M, pol);
  std::vector<detail::MarketCounterparties> cps(M);
  for (std::size_t m = 0; m < M; ++m) {
    mpol[m].contract = markets[m].contract;
    // the market's order step, or the policy's for every market (docs/model.md, "Order sizes")
    if (!(mpol[m].contract.size_step > 0.0)) mpol[m].contract.size_step = pol.contract.size_step;
    mpol[m].tiers = markets[m].tiers;
    detail::market_counterparties(cps[m], markets[m], pf, by_market.of(m), val, coll, ntl, liq_acc);
  }
  books_after.clear();
  if (books.size() == M) {  // the fund sells its inventory through them, whatever the execution
    books_after.reserve(M);
    for (std::size_t m = 0; m < M; ++m) books_after.push_back(*books[m]);
  }
  // Cursors the closes walk (a takeover liquidator's for execution "takeover"); the fund sells
  // its inventory through the books (book cursors, when there are books).
  std::vector<detail::Cursor> bids(M), asks(M), book_bids(M), book_asks(M);
  for (std::size_t m = 0; m < M; ++m) {
    if (by_book) {
      bids[m].side = &books_after[m].bids();
      asks[m].side = &books_after[m].asks();
    } else {
      bids[m].takeover_px = markets[m].mark * (1.0 - pol.takeover_fee);
      asks[m].takeover_px = markets[m].mark * (1.0 + pol.takeover_fee);
    }
    bids[m].bid = book_bids[m].bid = true;
    asks[m].bid = book_asks[m].bid = false;
  }
  // The fund's inventory: carried from earlier rounds (when the caller keeps one), or this
  // batch's alone, whose unsold rest is valued at the band edge.
  AccountInventory local;
  AccountInventory& held = carried ? *carried : local;
  if (held.longs.size() != M) held.reset(M);
  std::vector<Inventory>& long_inv = held.longs;
  std::vector<Inventory>& short_inv = held.shorts;

  // ---- sequential liquidation ----------------------------------------------------------------
  AccountLiquidationTotals tot;
  tot.flow.assign(M, BookFlow{});
  Ledger& led = tot.ledger;
  InsuranceFund fund(fund_balance, pol.reserve);
  std::vector<CompensatedSum> short_long(M), short_short(M), mk_notional(M), mk_deficit(M), mk_residual(M);
  OutcomeSums sums;  // its draw: the closes' and the inventory's; the residual is summed per market
  std::int64_t seq = 0;

  struct Close {
    std::size_t i;
    double gain, fill_notional, slice_equity, fee;
  };
  std::vector<Close> closes;
  std::vector<std::size_t> order;

  for (std::size_t k = 0; k < hits.size(); ++k) {
    const std::size_t a = hits[k];
    out.acc_sequence[a] = static_cast<std::int64_t>(k);
    // positions of the account in the policy's order
    order.clear();
    for (const std::size_t i : by_account.of(a))
      if (pf.size[i] != 0.0) order.push_back(i);
    if (pol.order != LiquidationOrder::given) {
      const bool by_mm = pol.order == LiquidationOrder::underwater;
      std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
        if (by_mm && val[x].mm != val[y].mm) return val[x].mm > val[y].mm;
        if (val[x].notional != val[y].notional) return val[x].notional > val[y].notional;
        return x < y;
      });
    }
    const double tnc0 = eq[a], tmmr0 = mmr[a], ntl0 = ntl[a], e_mkt0 = out.acc_equity_market[a];
    double tnc = tnc0, e_mkt = e_mkt0, tmmr = tmmr0, ntl_open = ntl0;
    const bool backstopped = !std::isnan(pol.backstop) && tnc0 < pol.backstop * tmmr0;
    const double k1 = 1.0 + pol.buffer;
    closes.clear();
    bool all_closed = true;

    for (std::size_t r = 0; r < order.size(); ++r) {
      const std::size_t i = order[r];
      const auto m = static_cast<std::size_t>(pf.market[i]);
      const Market& mk = markets[m];
      const ContractSpec& c = mk.contract;
      const double P = mk.mark, f = mk.quote_factor();
      const double q = pf.size[i], s = q > 0.0 ? 1.0 : -1.0, Q = std::abs(q);
      detail::Cursor& cur = s > 0.0 ? bids[m] : asks[m];
      const AccountState st{tnc, tmmr, ntl_open};

      // slice bankruptcy price of the whole position now: the limit and the fallback price
      const double share_all = slice_share(st, val[i].mm, val[i].notional, 1.0);
      const double bp = price_for_gain(mk, s, Q, -tnc * share_all);
      const bool bp_ok = std::isfinite(bp) && bp > 0.0;
      const double fallback_px = bp_ok ? bp : P;
      double limit = kNoLimit;
      if (by_book && pol.limit == LimitRule::bankruptcy && bp_ok) limit = bp;
      if (by_book && pol.limit == LimitRule::fillable) limit = fillable_price(mk, q, st, pol.ba, pol.smmr);
      if (by_book) limit = within_band(s, limit, band_edge(s, P, pol.price_band));

      const CloseRequest rq{s, Q, P, limit, fallback_px, val[i].notional, f, backstopped, by_book};
      Inventory& inv = (s > 0.0 ? long_inv : short_inv)[m];
      const CloseFills cf = close_position(
          mpol[m], rq, cur, fund, inv, held.position.size(), led,
          [&](double lim) {
            if (!(tmmr > 0.0)) return Q;
            const double e_other = (tnc - k1 * (tmmr - val[i].mm)) / f;
            // the position's share of the account's equity (all of it for a one-position account)
            const double share = e_mkt * (val[i].mm / tmmr);
            return detail::partial_size(cur, mpol[m], s, P, Q, e_other, lim, share / f);
          },
          // a slice that would leave the account with negative equity is a full close
          [&](double d, const detail::FillSums& fs) {
            const double S = e_mkt * slice_share(st, val[i].mm, val[i].notional, d / Q) + f * fs.gain;
            const double fee = liquidation_fee(pol.fee, pol.fee_cap, pol.fee_rate, S, f * fs.fill_notional);
            return tnc + f * fs.gain - fee >= 0.0;
          });
      if (cf.fallback > 0.0) {
        held.position.push_back(i);
        held.side.push_back(s > 0.0 ? 1 : -1);
      }
      const double delta = cf.delta, fallback = cf.fallback, book_filled = cf.book_filled();
      const detail::FillSums& fills = cf.fills;
      if (by_book) tot.flow[m].add(s, book_filled, fills.last);
      const double gain = cf.gain;

      const double G = gain * f, N = fills.fill_notional * f;
      const double d_mm = val[i].mm - (delta == Q ? 0.0 : mk.mm_quote(s * (Q - delta)));
      const double d_ntl = val[i].notional * (delta / Q);
      const double S = e_mkt * slice_share(st, val[i].mm, val[i].notional, delta / Q) + G;  // the slice's own equity after its fills
      const double fee = pol.sizing == Sizing::full ? 0.0
                                                    : liquidation_fee(pol.fee, pol.fee_cap, pol.fee_rate, S, N);
      closes.push_back({i, G, N, S, fee});

      out.sequence[i] = seq++;
      out.closed[i] = delta;
      out.book_closed[i] = book_filled;
      out.fallback_closed[i] = fallback;
      out.vwap[i] = cf.vwap();
      out.bankruptcy_price[i] = bp;
      mk_notional[m].add(d_ntl);
      sums.notional.add(d_ntl);
      out.acc_closed_notional[a] += d_ntl;

      tnc += G - fee;
      e_mkt += G - fee;
      tmmr -= d_mm;
      ntl_open -= d_ntl;
      if (delta < Q) all_closed = false;
      if (pol.sizing != Sizing::full && tnc >= k1 * tmmr && (delta < Q || r + 1 < order.size())) {
        all_closed = false;  // restored: the rest stays open
        break;
      }
    }

    // ---- settlement of the account -----------------------------------------------------------
    CompensatedSum g_sum, n_sum;
    for (const Close& cl : closes) {
      g_sum.add(cl.gain);
      n_sum.add(cl.fill_notional);
    }
    double deficit = 0.0, surplus = 0.0, fee = 0.0, trader_change = 0.0;
    if (all_closed) {
      // Every position closed: the account's market equity settles at once; the slice results
      // r_j = G_j + E·MM_j/TMMR (static shares, summing to E + ΣG) attribute its deficit.
      const double after = e_mkt0 + g_sum.value();
      deficit = std::max(0.0, -after);
      surplus = std::max(0.0, after);
      fee = liquidation_fee(pol.fee, pol.fee_cap, pol.fee_rate, surplus, n_sum.value());
      trader_change = deficit > 0.0 ? -e_mkt0 : surplus - fee - e_mkt0;
      const AccountState st0{tnc0, tmmr0, ntl0};
      double neg = 0.0;
      for (Close& cl : closes) {
        cl.slice_equity = cl.gain + e_mkt0 * slice_share(st0, val[cl.i].mm, val[cl.i].notional, 1.0);
        neg += std::max(0.0, -cl.slice_equity);
      }
      const double nsum = n_sum.value();
      for (Close& cl : closes) {
        out.deficit[cl.i] = deficit > 0.0 && neg > 0.0 ? deficit * std::max(0.0, -cl.slice_equity) / neg : 0.0;
        cl.fee = nsum > 0.0 ? fee * cl.fill_notional / nsum : 0.0;
      }
      out.acc_equity_after[a] = deficit > 0.0 ? 0.0 : surplus - fee;
    } else {
      // The account survives: each slice paid its own fee; a negative slice equity is borne by
      // the rest of the account, never by the fund.
      CompensatedSum fees, surpluses;
      for (const Close& cl : closes) {
        fees.add(cl.fee);
        surpluses.add(std::max(0.0, cl.slice_equity));
      }
      fee = fees.value();
      surplus = surpluses.value();
      trader_change = g_sum.value() - fee;
      out.acc_equity_after[a] = e_mkt0 + trader_change;
    }
    led.add(LedgerRow::traders, trader_change);
    led.add(LedgerRow::fund_fees, fee);

    // Fund: the account's fees first, then each close's deficit in close order.
    fund.credit(fee);
    double acc_draw = 0.0, acc_short = 0.0;
    for (const Close& cl : closes) {
      const std::size_t i = cl.i;
      const auto m = static_cast<std::size_t>(pf.market[i]);
      const double draw = fund.pay(out.deficit[i]);
      const double shortfall = out.deficit[i] - draw;
      led.add(LedgerRow::fund_deficit, -draw);
      out.result[i] = cl.slice_equity;
      out.fee[i] = cl.fee;
      out.insurance_draw[i] = draw;
      out.shortfall[i] = shortfall;
      mk_deficit[m].add(out.deficit[i]);
      mk_residual[m].add(shortfall);
      const double f = markets[m].quote_factor();
      (pf.size[i] > 0.0 ? short_long[m] : short_short[m]).add(shortfall / f);
      acc_draw += draw;
      acc_short += shortfall;
      sums.draw.add(draw);
    }
    out.acc_deficit[a] = deficit;
    out.acc_surplus[a] = surplus;
    out.acc_fee[a] = fee;
    out.acc_insurance_draw[a] = acc_draw;
    out.acc_shortfall[a] = acc_short;
    sums.fees.add(fee);
    sums.deficit.add(deficit);
    sums.surplus.add(surplus);
    tot.positions += static_cast<std::int64_t>(closes.size());
  }
  // ---- the fund sells its inventory into each book left by the closes, within the band -------
  // (docs/model.md, "One batch", step 4); pieces in quote, paid in close order.
  PieceList pieces;
  Flags sold;
  for (std::size_t m = 0; m < M; ++m) {
    const Market& mk = markets[m];
    const double f = mk.quote_factor();
    for (const double s : {1.0, -1.0}) {
      Inventory& inv = (s > 0.0 ? long_inv : short_inv)[m];
      if (inv.empty()) continue;
      const double edge = band_edge(s, mk.mark, pol.price_band);
      if (!books_after.empty()) {
        detail::Cursor& cur = by_book ? (s > 0.0 ? bids[m] : asks[m]) : (s > 0.0 ? book_bids[m] : book_asks[m]);
        if (!by_book) cur.side = s > 0.0 ? &books_after[m].bids() : &books_after[m].asks();
        const InventorySale sale =
            sell_into(inv, cur, mk.contract, s, mk.mark, edge, pieces, sold, [&](const InventoryPiece& p) {
              return InventoryPiece{p.tag, p.qty, p.loss * f, p.vs_mark * f};
            });
        tot.flow[m].add(s, sale.qty, sale.fills.last);
      }
      sums.unabsorbed.add(inv.quantity());
      if (carried) continue;  // the caller carries the rest to its next round
      value_inventory(inv, mk.contract, s, mk.mark, edge, [&](const InventoryPiece& p) {
        pieces.push_back({p.tag, p.qty, p.loss * f, p.vs_mark * f});
        sold.push_back(0);
      });
    }
  }
  if (!pieces.empty()) {
    PieceList tmp;
    Flags sold_tmp;
    detail::order_pieces(pieces, sold, tmp, sold_tmp);
    std::vector<CompensatedSum> mk_inv(M);
    settle_inventory(pieces, sold, fund, led, [&](const InventoryPiece& p, double draw, double shortfall) {
      const std::size_t i = held.position[p.tag];
      const auto m = static_cast<std::size_t>(pf.market[i]);
      const auto a = static_cast<std::size_t>(pf.account[i]);
      out.inventory_loss[i] += p.loss;
      out.insurance_draw[i] += draw;
      out.shortfall[i] += shortfall;
      out.acc_insurance_draw[a] += draw;
      out.acc_shortfall[a] += shortfall;
      mk_residual[m].add(shortfall);
      mk_inv[m].add(std::max(p.loss, 0.0));
      // by the side the lot was taken over from (a cascade has zeroed the position's size since)
      (held.side[p.tag] > 0 ? short_long[m] : short_short[m]).add(shortfall / markets[m].quote_factor());
      sums.add_inventory(p.loss);
      sums.draw.add(draw);
    });
    for (std::size_t m = 0; m < M; ++m) out.mk_inventory_loss[m] = mk_inv[m].value();
  }
  for (std::size_t m = 0; m < books_after.size(); ++m) {
    const detail::Cursor& b = by_book ? bids[m] : book_bids[m];
    const detail::Cursor& a = by_book ? asks[m] : book_asks[m];
    books_after[m].bids_mut().consume(b.level, b.used);
    books_after[m].asks_mut().consume(a.level, a.used);
  }

  // ---- residual allocation, per market -------------------------------------------------------
  CompensatedSum s_residual, s_transfers;
  for (std::size_t m = 0; m < M; ++m) {
    const double f = markets[m].quote_factor();
    const double transfers = cps[m].cp->settle(pol.residual, pol.adl_cap, short_long[m].value(),
                                                short_short[m].value()) * f;
    const double residual = mk_residual[m].value();
    out.mk_closed_notional[m] = mk_notional[m].value();
    out.mk_deficit[m] = mk_deficit[m].value();
    out.mk_residual[m] = residual;
    out.mk_adl_transfers[m] = transfers;
    out.mk_uncovered[m] = std::max(0.0, residual - transfers);
    s_residual.add(residual);
    s_transfers.add(transfers);
    led.add(LedgerRow::residual_transfers, -transfers);
    led.add(LedgerRow::uncovered, -(residual - transfers));
    const auto idx = by_market.of(m);
    for (std::size_t j = 0; j < idx.size(); ++j) {
      out.adl[idx[j]] = cps[m].charge[j] * f;
    }
  }

  tot.accounts = static_cast<std::int64_t>(hits.size());
  sums.fill(tot, sums.draw.value(), s_residual.value());
  tot.adl_transfers = s_transfers.value();
  tot.uncovered = std::max(0.0, tot.residual - tot.adl_transfers);
  tot.fund_after = fund.balance();
  return tot;
}

// Values the inventory the fund still holds at the end of a cascade (docs/model.md §4): per
// market and side, at the exit price of `books` (the books now, a walk that does not consume
// them, within the band at the market's mark; `books` empty: none), the rest at the band edge.
// The fund credits the gains, then pays the losses in lot order; on_lot(position, side, loss,
// draw, shortfall) per lot, in quote (side: that of the position the lot was taken over from). Returns the total (loss, gain) of the lots.
template <class OnLot>
inline std::pair<double, double> value_held_inventory(std::span<const Market> markets, std::span<const Book> books,
                                                      AccountInventory& held, double price_band,
                                                      InsuranceFund& fund, Ledger& led, OnLot&& on_lot) {
  PieceList pieces;
  Flags sold;
  for (std::size_t m = 0; m < held.longs.size(); ++m) {
    const Market& mk = markets[m];
    const double f = mk.quote_factor();
    for (const double s : {1.0, -1.0}) {
      Inventory& inv = (s > 0.0 ? held.longs : held.shorts)[m];
      if (inv.empty()) continue;
      const double edge = band_edge(s, mk.mark, price_band);
      auto keep = [&](const InventoryPiece& p) {
        pieces.push_back({p.tag, p.qty, p.loss * f, p.vs_mark * f});
        sold.push_back(0);  // valued, not sold
      };
      detail::Cursor cur;  // over the book as it is (none: everything at the edge)
      cur.bid = s > 0.0;
      if (!books.empty()) cur.side = s > 0.0 ? &books[m].bids() : &books[m].asks();
      value_at_exit(inv, cur, mk.contract, s, mk.mark, edge, keep);
    }
  }
  CompensatedSum loss, gain;
  if (pieces.empty()) return {0.0, 0.0};
  PieceList tmp;
  Flags sold_tmp;
  detail::order_pieces(pieces, sold, tmp, sold_tmp);
  settle_inventory(pieces, sold, fund, led, [&](const InventoryPiece& p, double draw, double shortfall) {
    (p.loss > 0.0 ? loss : gain).add(std::abs(p.loss));
    on_lot(held.position[p.tag], held.side[p.tag], p.loss, draw, shortfall);
  });
  return {loss.value(), gain.value()};
}

}  // namespace liqcore
