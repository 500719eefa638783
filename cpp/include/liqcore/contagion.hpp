// Multi-market liquidation cascades with contagion attribution (docs/model.md §4, §6).
//
// The cross-margin counterpart of cascade.hpp, built on account_liquidation.hpp:
//   round 0  every market m moves by its own shock: P_m ← P_m·(1 + shock_m), and every price of
//            its book is multiplied by the same factor (multiplicative shift; an index-anchored
//            mark rule moves the index so and evaluates its formula);
//   round k  every account liquidatable at the current marks (TMMR > TNC, with an open position)
//            is liquidated account-wide by liquidate_accounts (policy order, each close walking
//            its market's book as left by the earlier rounds, fallback, fees, fund, ledger);
//            then each market's mark follows its own book fills of the round (MarkRule::last:
//            the quantity-weighted mean of each book side's deepest fill of the round, whatever
//            their order (BookFlow, liquidation.hpp); MarkRule::mid: the mid
//            of its book after the round; the index-anchored rules of mark_rule.hpp: their
//            formula of the market's index (its exogenous path) and that price; no book fill in a
//            market: its mark is unchanged); then
//            every book recovers: each level's quantity q becomes q + r·(q0 − q) (q0 before any
//            liquidation, r = resilience), as in cascade.hpp;
//            With rate limits (pol.max_notional, pol.max_orders), only the accounts within the
//            caps are liquidated (rate_limit_accounts); the rest wait for the next round;
// until a round liquidates nothing, or max_rounds rounds have run. One insurance fund, shared
// by all markets, carries over from round to round; so do the books and the ledger.
//
// Every sizing and residual rule of the policy (docs/model.md §4, §6): an account a partial
// close or a slice leaves open keeps its positions' rest, and the round's realised PnL and fee
// settle in its collateral as a quote balance (price 1, no haircut), so its equity after the
// round is the batch's acc_equity_after; it is liquidated again in a later round when it is
// again below maintenance. Money a residual allocation (ADL, socialization) charges to a
// counterparty leaves its account's collateral the same way. The fund's inventory still held at
// the end is valued at the books' exit prices, and what the fund cannot pay of it goes to a last
// residual allocation among the positions still open (as in cascade.hpp).
// Collateral prices move only when a path of them is given (contagion_run's `asset_prices`: the
// prices of step t replace the collateral prices at step t's exogenous move, and haircuts apply
// to them); a single cascade (simulate_contagion) takes a one-off relative move per asset with
// the shock. An account that only a collateral move made liquidatable is unattributed (no
// market move lowered its health the most).
//
// Funding (docs/model.md §5): with a funding path (steps × markets, per step), the rate of
// market m at step t is settled right after the step's move, before health is checked: the
// open positions of the paying side of market m (longs when the rate is > 0) pay |r|·notional
// (quote, at the mark), and the total is credited to the open positions of the other side of
// market m pro rata to their notional; the amounts go to the account's collateral as a quote
// balance (price 1, no haircut). Liquidated accounts have nothing open, so they stop paying.
//
// Cost: every round runs liquidate_accounts over the whole portfolio (the health of every
// account, a copy of every book), so a run costs O(rounds · (positions + accounts + levels)),
// unlike cascade.hpp whose rounds cost only what they liquidate. AccountStressPlan runs the
// scenarios of a stress test on threads (run_scenarios, scenarios.hpp).
//
// Contagion attribution. Each mark move has an origin market:
//   * the shock of market m (round 0) has origin m;
//   * the move of market j during round k (its trades) has the origin that closed the largest
//     notional in market j in round k, among the origins of the accounts liquidated in round k
//     (ties: the lower market id; "unattributed" loses ties).
// An account liquidated in round k has a trigger market: the market whose mark move from the
// start of round k − 1 to the start of round k (for k = 1: the shock) lowered the account's
// health TNC − TMMR the most (Σ over its positions in that market of Δ(PnL − MM), quote; ties:
// the lower id). Its origin is the origin of that move. An account no move made less healthy
// (liquidatable before the shock) is unattributed.
// contagion[i·M + j] is the deficit realised in market j (the deficit attributed to the
// account's positions in j by the slice rule) by accounts whose origin is i; unattributed[j]
// collects the rest, so Σ_i contagion[i, j] + unattributed[j] is market j's total deficit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "liqcore/account_liquidation.hpp"
#include "liqcore/book.hpp"
#include "liqcore/cascade.hpp"
#include "liqcore/cross_margin.hpp"
#include "liqcore/error.hpp"
#include "liqcore/mark_rule.hpp"
#include "liqcore/rng.hpp"
#include "liqcore/scenarios.hpp"
#include "liqcore/waterfall.hpp"

namespace liqcore {

// The single-market cascade's parameters (the mark rule's parameters the same for every market).
using ContagionParams = CascadeParams;

// What one round did (money in quote).
struct ContagionRound {
  std::vector<double> marks_before, marks_after;  // per market
  std::vector<double> deficit_by_market;          // per market
  std::int64_t step = 0;                          // of the path (0 for a single shock)
  std::int64_t accounts = 0, positions = 0;       // newly liquidated
  double notional = 0.0, deficit = 0.0, fees = 0.0, draw = 0.0, residual = 0.0, adl_transfers = 0.0,
         fund_after = 0.0;
  std::int64_t waited = 0;       // open positions of the accounts the rate limits left waiting
  double waited_notional = 0.0;  // their notional at the round's marks (quote)
};

struct ContagionRun {
  std::size_t markets = 0;
  std::vector<double> initial_marks, shocked_marks, final_marks;
  std::vector<ContagionRound> rounds;
  bool converged = true;
  // per position
  std::vector<std::int64_t> pos_round;  // round (1-based) its account was liquidated in, -1 if never
  std::vector<double> closed, book_closed, fallback_closed, vwap, deficit, fee, draw, shortfall, inventory_loss;
  std::vector<double> adl;  // charged to it as an ADL / socialization counterparty (quote)
  // per account
  std::vector<std::int64_t> acc_round, acc_trigger, acc_origin;  // -1: never / unattributed
  std::vector<double> acc_equity, acc_maintenance, acc_equity_after, acc_deficit, acc_fee, acc_draw, acc_shortfall;
  // per market and market × market (row: origin, column: where realised)
  std::vector<double> mk_deficit, mk_closed_notional, mk_residual, unattributed, contagion;
  // Totals as a single-market cascade keeps them: Σ over rounds (and the fund's inventory valued
  // at the end) of notional, deficit, surplus, fees, inventory_loss, draw, residual
  // and adl_transfers; bad_debt() = deficit + inventory_loss = draw + residual, of which
  // adl_transfers were paid by counterparties and the rest is uncovered; waited, waited_notional:
  // Σ over rounds of ContagionRound's; funding_paid, funding_unmatched: funding paid by the paying
  // sides over the path, and the part with no open receiver. Not kept: liquidations, rounds,
  // inventory_gain, unabsorbed.
  CascadeTotals totals;
  double fund_before = 0.0, fund_after = 0.0;
  Ledger ledger;
  std::vector<Book> books;  // after the cascade (execution "book"), at the current prices
};

namespace detail {

// One market's book during a contagion: base levels (unscaled), their current quantities.
struct ContagionSide {
  std::vector<double> px, q0, q;
  std::vector<std::size_t> live;  // base indices of the levels with quantity, best first
  void levels(double scale, std::vector<double>& p, std::vector<double>& qty) {
    live.clear();
    p.clear();
    qty.clear();
    for (std::size_t l = 0; l < px.size(); ++l) {
      if (!(q[l] > 0.0)) continue;
      live.push_back(l);
      p.push_back(px[l] * scale);
      qty.push_back(q[l]);
    }
  }
  // The side after the round (`after`: a suffix of the live levels, the first maybe reduced);
  // returns the base index of the deepest level that traded, or -1.
  std::int64_t update(const BookSide& after) {
    const std::size_t n0 = live.size(), n1 = after.size();
    const std::size_t removed = n0 - n1;
    std::int64_t deepest = -1;
    for (std::size_t k = 0; k < removed; ++k) {
      q[live[k]] = 0.0;
      deepest = static_cast<std::int64_t>(live[k]);
    }
    if (n1 > 0 && after.qty()[0] < q[live[removed]]) {
      q[live[removed]] = after.qty()[0];
      deepest = static_cast<std::int64_t>(live[removed]);
    }
    return deepest;
  }
  void recover(double r) {
    for (std::size_t l = 0; l < q.size(); ++l) q[l] += r * (q0[l] - q[l]);
  }
  // The best price with quantity at `scale` (NaN: none).
  double best(double scale) const noexcept {
    for (std::size_t l = 0; l < px.size(); ++l)
      if (q[l] > 0.0) return px[l] * scale;
    return std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace detail

namespace detail {

// Checks everything simulate_contagion depends on but the moves.
inline void check_contagion_inputs(std::span<const Market> markets, std::span<const Book* const> books,
                                   const CollateralColumns& col, const PortfolioColumns& pf,
                                   const LiquidationPolicy& pol, double fund, const ContagionParams& prm) {
  const std::size_t M = markets.size(), A = col.accounts();
  check_cascade_params(prm, fund);
  if (pol.execution == Execution::book && books.size() != M)
    throw InvalidArgument("books", -1, "must have one book per market for execution 'book'");
  check_markets(markets);
  {  // validates collateral and positions (ids, sizes, entry prices) before anything indexes by them
    std::vector<double> c(A), e(A), mm(A), nt(A), ra(A), di(A);
    std::vector<std::uint8_t> l(A);
    health(markets, col, pf, HealthOutputs{c, e, mm, nt, ra, di, l});
  }
}

// Rate limits of a round of the accounts cascade (docs/model.md §4, "Rate limits"): the accounts
// liquidatable at the marks (with an open position), in the order of liquidate_accounts, are
// taken while their open positions (orders) and their notional stay within pol.max_orders and
// pol.max_notional (the first always goes: an account alone above a cap is liquidated alone).
// An account's liquidation closes all its positions at once, so a whole account waits or goes.
// `limited` gets the sizes with the waiting accounts' positions at 0 (liquidate_accounts then
// leaves them alone); returns what waited.
inline RoundWaiting rate_limit_accounts(std::span<const Market> markets, const CollateralColumns& col,
                                           const PortfolioColumns& pf, const LiquidationPolicy& pol,
                                           const Groups& by_account, std::vector<double>& limited) {
  const std::size_t A = col.accounts();
  limited.assign(pf.size.begin(), pf.size.end());
  std::vector<double> coll(A), eq(A), mmr(A), ntl(A), ratio(A), dist(A);
  std::vector<std::uint8_t> liq(A);
  health(markets, col, pf, HealthOutputs{coll, eq, mmr, ntl, ratio, dist, liq});
  std::vector<std::size_t> hits;  // liquidatable accounts with open positions, in the batch's order
  std::vector<std::int64_t> orders_of(A, 0);
  for (std::size_t a = 0; a < A; ++a) {
    if (!liq[a]) continue;
    for (const std::size_t i : by_account.of(a)) orders_of[a] += pf.size[i] != 0.0;
    if (orders_of[a] > 0) hits.push_back(a);
  }
  order_accounts(hits, eq, mmr, ntl, pol);
  RoundWaiting w;
  std::int64_t orders = 0;
  double used = 0.0;
  bool full = false;
  CompensatedSum waiting;
  for (std::size_t k = 0; k < hits.size(); ++k) {
    const std::size_t a = hits[k];
    if (k > 0 && !full) {
      full = (pol.max_orders > 0 && orders + orders_of[a] > pol.max_orders) || used + ntl[a] > pol.max_notional;
    }
    if (!full) {
      orders += orders_of[a];
      used += ntl[a];
      continue;
    }
    w.count += orders_of[a];
    waiting.add(ntl[a]);
    for (const std::size_t i : by_account.of(a)) limited[i] = 0.0;
  }
  w.notional = waiting.value();
  return w;
}

// Funding of one step (see the header comment): rates[m] for market m; credits and debits go
// to amount[a·KW + KW − 1], account a's quote balance.
inline void settle_funding(std::span<const Market> mk, const PortfolioColumns& pf, std::span<const double> size,
                           std::span<const double> rates, std::vector<double>& amount, std::size_t KW,
                           CompensatedSum& paid_total, CompensatedSum& unmatched) {
  const std::size_t M = mk.size(), n = size.size();
  std::vector<CompensatedSum> n_long(M), n_short(M);
  for (std::size_t i = 0; i < n; ++i) {
    if (size[i] == 0.0) continue;
    const auto m = static_cast<std::size_t>(pf.market[i]);
    (size[i] > 0.0 ? n_long[m] : n_short[m]).add(mk[m].notional_quote(size[i]));
  }
  std::vector<double> pay(M), credit(M);
  for (std::size_t m = 0; m < M; ++m) {
    const double r = rates[m];
    const double payers = r > 0.0 ? n_long[m].value() : n_short[m].value();
    const double receivers = r > 0.0 ? n_short[m].value() : n_long[m].value();
    const double paid = std::abs(r) * payers;
    pay[m] = std::abs(r);
    credit[m] = receivers > 0.0 ? paid / receivers : 0.0;
    paid_total.add(paid);
    if (!(receivers > 0.0)) unmatched.add(paid);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (size[i] == 0.0) continue;
    const auto m = static_cast<std::size_t>(pf.market[i]);
    const double r = rates[m];
    if (r == 0.0) continue;
    const double ntl = mk[m].notional_quote(size[i]);
    const bool pays = (size[i] > 0.0) == (r > 0.0);
    double& bal = amount[static_cast<std::size_t>(pf.account[i]) * KW + KW - 1];
    bal += pays ? -pay[m] * ntl : credit[m] * ntl;
    if (!std::isfinite(bal))
      throw InvalidArgument("funding", -1,
                            "moves a collateral balance outside the finite range " + describe(bal) +
                                " (market " + std::to_string(m) + ")");
  }
}

// The cascade of simulate_contagion with the exogenous moves given as factors (steps × markets,
// finite, > 0: every price of market m is multiplied by factors[t·M + m] at step t), on inputs
// already checked by check_contagion_inputs.
// `funding`: empty or steps × markets rates (finite, per step); `asset_prices`: empty or
// steps × assets collateral prices (finite, > 0) in force from each step's move on.
inline ContagionRun contagion_run(std::span<const Market> markets, std::span<const Book* const> books,
                                  const CollateralColumns& col_in, const PortfolioColumns& pf,
                                  std::span<const double> factors, const LiquidationPolicy& pol, double fund,
                                  const ContagionParams& prm, std::span<const double> funding = {},
                                  std::span<const double> asset_prices = {}) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  const std::size_t M = markets.size(), n = pf.size.size(), A = col_in.accounts();
  // Working collateral: its prices follow asset_prices; funding, partial closes and residual
  // allocations settle in a quote balance (asset K).
  const std::size_t K = col_in.price.size();
  const bool has_funding = !funding.empty(), moves_assets = !asset_prices.empty();
  const bool allocates = pol.residual != ResidualRule::none, partial = pol.sizing != Sizing::full;
  const bool has_quote = has_funding || allocates || partial;
  const std::size_t KW = K + (has_quote ? 1 : 0);
  std::vector<double> w_amount, w_price, w_haircut, w_imf;
  CollateralColumns col = col_in;
  if (has_quote || moves_assets) {
    w_amount.assign(A * KW, 0.0);
    for (std::size_t a = 0; a < A; ++a)
      for (std::size_t k = 0; k < K; ++k) w_amount[a * KW + k] = col_in.amount[a * K + k];
    w_price.assign(col_in.price.begin(), col_in.price.end());
    w_haircut.assign(col_in.haircut.begin(), col_in.haircut.end());
    if (!col_in.imf.empty()) w_imf.assign(col_in.imf.begin(), col_in.imf.end());
    if (has_quote) {
      w_price.push_back(1.0);
      w_haircut.push_back(0.0);
      if (!col_in.imf.empty()) w_imf.push_back(0.0);
    }
    col = CollateralColumns{w_amount, w_price, w_haircut, w_imf};
  }
  // The books evolve whenever they are given: the fund sells its inventory into them even under
  // execution "takeover".
  const bool has_books = books.size() == M;
  const std::size_t T = factors.size() / M;

  ContagionRun run;
  run.markets = M;
  run.fund_before = fund;
  std::vector<Market> mk(markets.begin(), markets.end());
  std::vector<double> scale(M);
  std::vector<MarkTracker> marks(M, MarkTracker(prm.mark_rule, prm.mark));  // each market's mark rule
  for (std::size_t m = 0; m < M; ++m) {
    run.initial_marks.push_back(mk[m].mark);
    scale[m] = 1.0;
    marks[m].reset(mk[m].mark);
    if (T == 0) run.shocked_marks.push_back(mk[m].mark);
  }
  std::vector<detail::ContagionSide> bid(M), ask(M);
  if (has_books) {
    for (std::size_t m = 0; m < M; ++m) {
      for (auto [side, src] : {std::pair{&bid[m], &books[m]->bids()}, std::pair{&ask[m], &books[m]->asks()}}) {
        side->px.assign(src->px().begin(), src->px().end());
        side->q0.assign(src->qty().begin(), src->qty().end());
        side->q = side->q0;
      }
    }
  }

  run.pos_round.assign(n, -1);
  for (auto* v : {&run.closed, &run.book_closed, &run.fallback_closed, &run.deficit, &run.fee, &run.draw,
                  &run.shortfall, &run.inventory_loss, &run.adl})
    v->assign(n, 0.0);
  run.vwap.assign(n, nan);
  run.acc_round.assign(A, -1);
  run.acc_trigger.assign(A, -1);
  run.acc_origin.assign(A, -1);
  for (auto* v : {&run.acc_equity, &run.acc_maintenance, &run.acc_equity_after, &run.acc_deficit, &run.acc_fee,
                  &run.acc_draw, &run.acc_shortfall})
    v->assign(A, 0.0);
  for (auto* v : {&run.mk_deficit, &run.mk_closed_notional, &run.mk_residual, &run.unattributed}) v->assign(M, 0.0);
  run.contagion.assign(M * M, 0.0);

  // Working state: sizes (closed positions become 0), round outputs.
  std::vector<double> size(pf.size.begin(), pf.size.end());
  const PortfolioColumns cur_pf{pf.account, pf.market, size, pf.entry_price};
  auto f_n = [&] { return std::vector<double>(n); };
  auto f_a = [&] { return std::vector<double>(A); };
  auto f_m = [&] { return std::vector<double>(M); };
  std::vector<std::uint8_t> liq(n), acc_liq(A);
  std::vector<std::int64_t> seq(n), acc_seq(A);
  std::vector<double> o_closed = f_n(), o_book = f_n(), o_fb = f_n(), o_vwap = f_n(), o_bp = f_n(), o_res = f_n(),
                      o_def = f_n(), o_fee = f_n(), o_draw = f_n(), o_short = f_n(), o_inv = f_n(), o_adl = f_n();
  std::vector<double> a_eq = f_a(), a_mm = f_a(), a_em = f_a(), a_after = f_a(), a_def = f_a(), a_sur = f_a(),
                      a_fee = f_a(), a_draw = f_a(), a_short = f_a(), a_ntl = f_a();
  std::vector<double> m_ntl = f_m(), m_def = f_m(), m_res = f_m(), m_adl = f_m(), m_unc = f_m(), m_inv = f_m();
  const AccountLiquidationOutputs out{liq,   seq,   o_closed, o_book, o_fb,    o_vwap,  o_bp,   o_res,
                                      o_def, o_fee, o_draw,   o_short, o_inv,  o_adl,   acc_liq, acc_seq,
                                      a_eq,  a_mm,  a_em,     a_after, a_def,  a_sur,   a_fee,  a_draw,
                                      a_short, a_ntl, m_ntl,  m_def,   m_res,  m_adl,   m_unc,   m_inv};
  const detail::Groups by_account = detail::group_by(pf.account, A);

  std::vector<double> prev(M);               // marks before the last move (shift or round)
  std::vector<std::int64_t> move_origin(M);  // origin of the move prev → current marks
  std::vector<Book> cur_books(has_books ? M : 0), after;
  std::vector<const Book*> ptrs(has_books ? M : 0);
  AccountInventory held;  // the fund's inventory, carried from round to round
  held.reset(M);
  std::vector<double> bp, bq, ap, aq, dh(M), by_origin((M + 1) * M);
  std::vector<Market> prev_mk(mk);
  const bool rate_limited = pol.max_orders > 0 || pol.max_notional < std::numeric_limits<double>::infinity();
  std::vector<double> limited;  // sizes with the accounts waiting this round at 0
  double fund_now = fund;

  std::int64_t k = 0;  // rounds so far
  for (std::size_t step = 0; step < T; ++step) {
    for (std::size_t m = 0; m < M; ++m) {  // the exogenous move of the step
      const double f = factors[step * M + m];
      prev[m] = mk[m].mark;
      scale[m] *= f;
      const bool quotes = has_books && marks[m].anchored();
      marks[m].shift(f, quotes ? bid[m].best(scale[m]) : nan, quotes ? ask[m].best(scale[m]) : nan);
      mk[m].mark = marks[m].mark();
      if (step == 0) run.shocked_marks.push_back(mk[m].mark);
      move_origin[m] = static_cast<std::int64_t>(m);
    }
    if (moves_assets)
      for (std::size_t k = 0; k < K; ++k) w_price[k] = asset_prices[step * K + k];
    if (has_funding)
      settle_funding(mk, pf, size, funding.subspan(step * M, M), w_amount, KW, run.totals.funding_paid,
                     run.totals.funding_unmatched);
    for (std::int64_t k_step = 1;; ++k_step) {
      if (k_step > prm.max_rounds) {
        std::vector<double> c(A), e(A), mm(A), nt(A), ra(A), di(A);
        std::vector<std::uint8_t> l(A);
        health(mk, col, cur_pf, HealthOutputs{c, e, mm, nt, ra, di, l});
        for (std::size_t a = 0; a < A && run.converged; ++a)
          if (l[a])
            for (const std::size_t i : by_account.of(a)) run.converged &= size[i] == 0.0;
        break;
      }
      if (has_books) {
        for (std::size_t m = 0; m < M; ++m) {
          bid[m].levels(scale[m], bp, bq);
          ask[m].levels(scale[m], ap, aq);
          cur_books[m] = Book(bp, bq, ap, aq);
          ptrs[m] = &cur_books[m];
        }
      }
      const RoundWaiting waited =
          rate_limited ? detail::rate_limit_accounts(mk, col, cur_pf, pol, by_account, limited) : RoundWaiting{};
      const AccountLiquidationTotals tot =
          liquidate_accounts(mk, ptrs, col,
                             rate_limited ? PortfolioColumns{pf.account, pf.market, limited, pf.entry_price} : cur_pf,
                             pol, fund_now, out, after, &held);
      bool sold = false;
      for (const BookFlow& fl : tot.flow) sold |= fl.any();
      if (tot.accounts == 0 && !sold) break;  // nothing liquidated, no inventory sold
      ++k;

      ContagionRound tr;
      tr.step = static_cast<std::int64_t>(step);
      tr.marks_before.assign(mk.size(), 0.0);
      for (std::size_t m = 0; m < M; ++m) tr.marks_before[m] = mk[m].mark;
      std::fill(by_origin.begin(), by_origin.end(), 0.0);
      for (std::size_t m = 0; m < M; ++m) prev_mk[m].mark = prev[m];
      const std::vector<detail::MarketFast> f_now = detail::fast_markets(mk), f_prev = detail::fast_markets(prev_mk);

      // ---- per account: trigger, origin, outcomes ------------------------------------------------
      // Amounts add up over the rounds (an account a partial close leaves open may be liquidated
      // again; the fund sells an earlier round's inventory); round, trigger and origin are those
      // of the account's first liquidation, its equity and maintenance those before it.
      for (std::size_t a = 0; a < A; ++a) {
        if (!acc_liq[a]) {  // an account liquidated earlier: its inventory sold this round
          run.acc_draw[a] += a_draw[a];
          run.acc_shortfall[a] += a_short[a];
          const std::size_t row = run.acc_origin[a] < 0 ? M : static_cast<std::size_t>(run.acc_origin[a]);
          for (const std::size_t i : by_account.of(a)) {
            if (o_adl[i] != 0.0 && has_quote) {  // a residual allocation's charge: out of its collateral
              run.adl[i] += o_adl[i];
              w_amount[a * KW + K] -= o_adl[i];
            }
            if (o_inv[i] == 0.0 && o_draw[i] == 0.0) continue;
            const auto m = static_cast<std::size_t>(pf.market[i]);
            run.inventory_loss[i] += o_inv[i];
            run.draw[i] += o_draw[i];
            run.shortfall[i] += o_short[i];
            (row == M ? run.unattributed[m] : run.contagion[row * M + m]) += std::max(o_inv[i], 0.0);
          }
          continue;
        }
        std::fill(dh.begin(), dh.end(), 0.0);
        for (const std::size_t i : by_account.of(a)) {
          if (size[i] == 0.0) continue;
          const auto m = static_cast<std::size_t>(pf.market[i]);
          const detail::Valued now = detail::value(f_now[m], size[i], pf.entry_price[i]);
          const detail::Valued before = detail::value(f_prev[m], size[i], pf.entry_price[i]);
          dh[m] += (now.pnl - now.mm) - (before.pnl - before.mm);
        }
        std::int64_t trigger = -1;
        double worst = 0.0;
        for (std::size_t m = 0; m < M; ++m)
          if (dh[m] < worst) {
            worst = dh[m];
            trigger = static_cast<std::int64_t>(m);
          }
        const std::int64_t origin = trigger < 0 ? -1 : move_origin[static_cast<std::size_t>(trigger)];
        if (run.acc_round[a] < 0) {
          run.acc_round[a] = k;
          run.acc_trigger[a] = trigger;
          run.acc_origin[a] = origin;
          run.acc_equity[a] = a_eq[a];
          run.acc_maintenance[a] = a_mm[a];
        }
        run.acc_equity_after[a] = a_after[a];
        for (auto [to, from] : {std::pair{&run.acc_deficit, &a_def}, std::pair{&run.acc_fee, &a_fee},
                                std::pair{&run.acc_draw, &a_draw}, std::pair{&run.acc_shortfall, &a_short}})
          (*to)[a] += (*from)[a];
        const std::size_t row = origin < 0 ? M : static_cast<std::size_t>(origin);
        double realised = a_after[a] - a_em[a];  // ΣG − fee: the account's market equity change
        bool open = false;
        for (const std::size_t i : by_account.of(a)) {
          const auto m = static_cast<std::size_t>(pf.market[i]);
          run.inventory_loss[i] += o_inv[i];
          run.draw[i] += o_draw[i];
          run.shortfall[i] += o_short[i];
          if (seq[i] < 0) {  // not closed this round: an earlier round's inventory only
            (row == M ? run.unattributed[m] : run.contagion[row * M + m]) += std::max(o_inv[i], 0.0);
            open |= size[i] != 0.0;
            continue;
          }
          if (run.pos_round[i] < 0) run.pos_round[i] = k;
          const double before = run.closed[i];
          run.closed[i] += o_closed[i];
          run.vwap[i] = before > 0.0 ? (run.vwap[i] * before + o_vwap[i] * o_closed[i]) / run.closed[i] : o_vwap[i];
          for (auto [to, from] : {std::pair{&run.book_closed, &o_book}, std::pair{&run.fallback_closed, &o_fb},
                                  std::pair{&run.deficit, &o_def}, std::pair{&run.fee, &o_fee}})
            (*to)[i] += (*from)[i];
          (origin < 0 ? run.unattributed[m] : run.contagion[row * M + m]) += o_def[i] + std::max(o_inv[i], 0.0);
          const double inc = mk[m].inverse() ? mk[m].contract.contract_size : mk[m].mark;
          by_origin[row * M + m] += o_closed[i] * inc;
          // the closed part's PnL at the mark leaves the position for the collateral (only partial
          // sizing leaves an account open)
          if (partial)
            realised += detail::value(f_now[m], size[i] > 0.0 ? o_closed[i] : -o_closed[i], pf.entry_price[i]).pnl;
          const double rest = std::abs(size[i]) - o_closed[i];
          size[i] = rest > 0.0 ? (size[i] > 0.0 ? rest : -rest) : 0.0;
          open |= rest > 0.0;
        }
        if (open && has_quote) w_amount[a * KW + K] += realised;  // the rest of the account stays open
      }

      // ---- marks follow the round's book fills, whatever their order; books recover -------------
      std::vector<double> next(M);
      for (std::size_t m = 0; m < M; ++m) {
        next[m] = mk[m].mark;
        if (!has_books) continue;
        bid[m].update(after[m].bids());
        ask[m].update(after[m].asks());
        const BookFlow& flow = tot.flow[m];
        if (!flow.any()) continue;
        const bool quotes = prm.mark_rule != MarkRule::last;
        marks[m].trade(flow.last_price(), quotes ? after[m].bids().best() : nan, quotes ? after[m].asks().best() : nan);
        next[m] = marks[m].mark();
      }
      if (has_books && prm.resilience > 0.0)
        for (std::size_t m = 0; m < M; ++m) {
          bid[m].recover(prm.resilience);
          ask[m].recover(prm.resilience);
        }
      // origin of each market's move this round: the origin that closed the most notional in it
      for (std::size_t m = 0; m < M; ++m) {
        std::int64_t best = -1;
        double top = 0.0;
        for (std::size_t o = 0; o <= M; ++o)
          if (by_origin[o * M + m] > top) {
            top = by_origin[o * M + m];
            best = o == M ? -1 : static_cast<std::int64_t>(o);
          }
        move_origin[m] = best;
      }

      tr.marks_after = next;
      tr.deficit_by_market = m_def;
      tr.accounts = tot.accounts;
      tr.positions = tot.positions;
      tr.notional = tot.closed_notional;
      tr.deficit = tot.deficit;
      tr.fees = tot.fees;
      tr.draw = tot.insurance_draw;
      tr.residual = tot.residual;
      tr.adl_transfers = tot.adl_transfers;
      tr.fund_after = tot.fund_after;
      run.totals.add_waited(tr, waited);
      run.rounds.push_back(std::move(tr));
      for (std::size_t m = 0; m < M; ++m) {
        run.mk_deficit[m] += m_def[m];
        run.mk_closed_notional[m] += m_ntl[m];
        run.mk_residual[m] += m_res[m];
      }
      for (std::size_t r = 0; r < kLedgerRows; ++r)
        run.ledger.add(static_cast<LedgerRow>(r), tot.ledger.amounts()[r]);
      run.totals.notional.add(tot.closed_notional);
      run.totals.deficit.add(tot.deficit);
      run.totals.surplus.add(tot.surplus);
      run.totals.fees.add(tot.fees);
      run.totals.inventory_loss.add(tot.inventory_loss);
      run.totals.draw.add(tot.insurance_draw);
      run.totals.residual.add(tot.residual);
      run.totals.adl_transfers.add(tot.adl_transfers);
      fund_now = tot.fund_after;
      for (std::size_t m = 0; m < M; ++m) {
        prev[m] = mk[m].mark;
        mk[m].mark = next[m];
      }
    }
  }

  // ---- the inventory the fund still holds: valued at the books' exit prices now --------------
  if (!held.empty()) {
    std::vector<Book> now;
    if (has_books) {
      for (std::size_t m = 0; m < M; ++m) {
        bid[m].levels(scale[m], bp, bq);
        ask[m].levels(scale[m], ap, aq);
        now.emplace_back(bp, bq, ap, aq);
      }
    }
    InsuranceFund f(fund_now, pol.reserve);
    CompensatedSum uncovered;
    std::vector<CompensatedSum> short_long(M), short_short(M);  // per market, margin currency
    value_held_inventory(mk, now, held, pol.price_band, f, run.ledger,
                         [&](std::size_t i, std::int8_t side, double loss, double draw, double shortfall) {
                           const auto m = static_cast<std::size_t>(pf.market[i]);
                           (side > 0 ? short_long[m] : short_short[m]).add(shortfall / mk[m].quote_factor());
                           const auto a = static_cast<std::size_t>(pf.account[i]);
                           run.inventory_loss[i] += loss;
                           run.draw[i] += draw;
                           run.shortfall[i] += shortfall;
                           run.acc_draw[a] += draw;
                           run.acc_shortfall[a] += shortfall;
                           run.mk_residual[m] += shortfall;
                           const std::int64_t o = run.acc_origin[a];
                           (o < 0 ? run.unattributed[m] : run.contagion[static_cast<std::size_t>(o) * M + m]) +=
                               std::max(loss, 0.0);
                           run.totals.inventory_loss.add(std::max(loss, 0.0));
                           run.totals.draw.add(draw);
                           run.totals.residual.add(shortfall);
                           uncovered.add(shortfall);
                         });
    // what the fund cannot pay: a last residual allocation among the positions still open
    CompensatedSum covered;
    if (allocates && uncovered.value() > 0.0) {
      std::vector<double> c(A), e(A), mm(A), nt(A), ra(A), di(A);
      std::vector<std::uint8_t> l(A), none(A, 0);
      health(mk, col, cur_pf, HealthOutputs{c, e, mm, nt, ra, di, l});
      const std::vector<detail::MarketFast> fast = detail::fast_markets(mk);
      std::vector<detail::Valued> val(n);
      for (std::size_t i = 0; i < n; ++i)
        val[i] = detail::value(fast[static_cast<std::size_t>(pf.market[i])], size[i], pf.entry_price[i]);
      const detail::Groups by_market = detail::group_by(pf.market, M);
      for (std::size_t m = 0; m < M; ++m) {
        if (short_long[m].value() == 0.0 && short_short[m].value() == 0.0) continue;
        detail::MarketCounterparties cps;
        detail::market_counterparties(cps, mk[m], cur_pf, by_market.of(m), val, c, nt, none);
        const double fq = mk[m].quote_factor();
        covered.add(cps.cp->settle(pol.residual, pol.adl_cap, short_long[m].value(), short_short[m].value()) * fq);
        const auto idx = by_market.of(m);
        for (std::size_t j = 0; j < idx.size(); ++j) run.adl[idx[j]] += cps.charge[j] * fq;
      }
    }
    run.ledger.add(LedgerRow::residual_transfers, -covered.value());
    run.ledger.add(LedgerRow::uncovered, -(uncovered.value() - covered.value()));
    run.totals.adl_transfers.add(covered.value());
    fund_now = f.balance();
  }

  for (std::size_t m = 0; m < M; ++m) run.final_marks.push_back(mk[m].mark);
  run.fund_after = fund_now;
  if (has_books) {
    for (std::size_t m = 0; m < M; ++m) {
      bid[m].levels(scale[m], bp, bq);
      ask[m].levels(scale[m], ap, aq);
      run.books.emplace_back(bp, bq, ap, aq);
    }
  }
  return run;
}

}  // namespace detail

// Runs the cascade described in the header comment. `markets` carry the marks before the shock;
// `books`: one book per market at those marks (execution "book") or empty (execution
// "takeover"); `shocks`: one relative move per market (finite, > −1), or steps × markets
// (row-major) for a path: at every step each market (mark and book) moves by its shock of the
// step (an exogenous move, whose origin is that market), then rounds run as above (at most
// max_rounds per step); positions, books, fund and ledger carry over from step to step.
// `asset_shock`: empty, or one relative move per collateral asset (finite, > −1) applied with the
// first step's move (a one-off collateral shock: prices then stay there).
inline ContagionRun simulate_contagion(std::span<const Market> markets, std::span<const Book* const> books,
                                       const CollateralColumns& col, const PortfolioColumns& pf,
                                       std::span<const double> shocks, const LiquidationPolicy& pol, double fund,
                                       const ContagionParams& prm, std::span<const double> asset_shock = {}) {
  const std::size_t M = markets.size();
  if (M == 0 || shocks.size() % M != 0 || shocks.empty())
    throw InvalidArgument("shock", -1,
                          "must have one value per market (" + std::to_string(shocks.size()) + " values, " +
                              std::to_string(M) + " markets)");
  std::vector<double> factors(shocks.size());
  for (std::size_t j = 0; j < shocks.size(); ++j) {
    if (!(std::isfinite(shocks[j]) && shocks[j] > -1.0))
      throw InvalidArgument("shock", static_cast<std::int64_t>(j), "must be finite and > -1 " + describe(shocks[j]));
    factors[j] = 1.0 + shocks[j];
  }
  detail::check_contagion_inputs(markets, books, col, pf, pol, fund, prm);
  std::vector<double> prices;
  if (!asset_shock.empty()) {
    const std::size_t K = col.price.size(), T = shocks.size() / M;
    if (asset_shock.size() != K)
      throw InvalidArgument("collateral_shock", -1,
                            "must have one value per collateral asset (" + std::to_string(asset_shock.size()) +
                                " values, " + std::to_string(K) + " assets)");
    prices.resize(T * K);
    for (std::size_t k = 0; k < K; ++k) {
      const double x = asset_shock[k];
      if (!(std::isfinite(x) && x > -1.0))
        throw InvalidArgument("collateral_shock", static_cast<std::int64_t>(k), "must be finite and > -1 " + describe(x));
      for (std::size_t t = 0; t < T; ++t) prices[t * K + k] = col.price[k] * (1.0 + x);
    }
  }
  return detail::contagion_run(markets, books, col, pf, factors, pol, fund, prm, {}, prices);
}

// The lower-triangular L with L·Lᵀ = C of a symmetric positive semi-definite matrix C (M × M,
// row-major; a correlation matrix: unit diagonal). A pivot within 1e-12 of 0 makes its column
// of L zero (a market perfectly correlated with earlier ones), which requires the rest of that
// column of the Schur complement to be within 1e-6 of 0; otherwise C is not positive
// semi-definite.
inline std::vector<double> psd_cholesky(std::span<const double> c, std::size_t M) {
  constexpr double kPivotTol = 1e-12, kColumnTol = 1e-6;
  if (c.size() != M * M) throw InvalidArgument("correlation", -1, "must be markets x markets");
  std::vector<double> L(M * M, 0.0);
  auto not_psd = [](std::size_t j) {
    return InvalidArgument("correlation", -1,
                           "must be positive semi-definite (the Cholesky factorisation fails at market " +
                               std::to_string(j) + ")");
  };
  for (std::size_t j = 0; j < M; ++j) {
    double d = c[j * M + j];
    for (std::size_t k = 0; k < j; ++k) d -= L[j * M + k] * L[j * M + k];
    if (!(d >= -kPivotTol)) throw not_psd(j);
    const double ljj = d > kPivotTol ? std::sqrt(d) : 0.0;
    L[j * M + j] = ljj;
    for (std::size_t i = j + 1; i < M; ++i) {
      double v = c[i * M + j];
      for (std::size_t k = 0; k < j; ++k) v -= L[i * M + k] * L[j * M + k];
      if (ljj > 0.0)
        L[i * M + j] = v / ljj;
      else if (!(std::abs(v) <= kColumnTol))
        throw not_psd(j);
    }
  }
  return L;
}

// Per-scenario results of AccountStressPlan::run (spans of length S, S·M, S·M·M), allocated by
// the caller.
struct AccountStressOutputs {
  std::span<double> deficit;  // bad debt: deficits + the fund's inventory losses
  std::span<double> insurance_draw, residual, fund_after, notional, fees;
  std::span<double> largest_loss, second_loss;  // the two largest per-account losses
  std::span<std::int64_t> accounts, rounds;
  std::span<std::uint8_t> converged;
  std::span<double> final_marks, deficit_by_market, contagion;
  std::span<double> funding_paid;  // per scenario (empty: not kept)
  // Rate limits (docs/model.md §4): ContagionRun::waited, waited_notional; empty: not reported.
  std::span<std::int64_t> waited = {};
  std::span<double> waited_notional = {};
};

// Model paths of the collateral prices (AccountStressPlan): asset k's log move at step t is
//   beta_k · (log move of market market_k at step t) + sigma_k·sqrt(dt)·W − sigma_k²·dt/2,
// W the normal of block market_block(kMaxMarkets − 1 − k, 0) of step t of the scenario's stream
// (the assets' own blocks, apart from every market's); the price compounds from the input price.
// beta = sigma = 0 for every asset: prices do not move.
struct CollateralPathModel {
  std::vector<double> beta, sigma;   // one per asset (empty: no model)
  std::vector<std::int64_t> market;  // one per asset, in [0, markets)
  double dt = 1.0;
};

// The multi-market stress test: simulate_contagion along a path per scenario. Markets, books,
// collateral, positions and policy are copied and checked once; scenarios run through
// run_scenarios (scenarios.hpp: fixed chunks on threads, one output slot per scenario,
// bit-identical for any thread count).
//
// Model paths: the log return of market m at step t of scenario s is the jump-diffusion of
// rng.hpp with that market's parameters, its diffusion normal (L·Z)_m, L the Cholesky factor of
// the correlation (psd_cholesky; the identity when none is given), Z_k the normal of block
// market_block(k, 0) of step t of the stream (seed, s), and its jumps drawn from the blocks
// market_block(m, 1), market_block(m, 2 + j). Market 0 thus draws exactly what the isolated
// StressPlan draws: one market with no correlation has the isolated stress test's paths.
class AccountStressPlan {
 public:
  AccountStressPlan(std::vector<Market> markets, std::vector<Book> books, const CollateralColumns& col,
                    const PortfolioColumns& pf, LiquidationPolicy pol, double fund, ContagionParams prm,
                    std::span<const double> correlation)
      : markets_(std::move(markets)), books_(std::move(books)), pol_(std::move(pol)), fund_(fund), prm_(prm) {
    const std::size_t M = markets_.size();
    if (M == 0) throw InvalidArgument("markets", -1, "must not be empty");
    if (M > rng::kMaxMarkets)
      throw InvalidArgument("markets", -1, "must be at most " + std::to_string(rng::kMaxMarkets));
    collateral_.assign(col.amount.begin(), col.amount.end());
    asset_prices_.assign(col.price.begin(), col.price.end());
    haircuts_.assign(col.haircut.begin(), col.haircut.end());
    size_discount_.assign(col.imf.begin(), col.imf.end());
    account_.assign(pf.account.begin(), pf.account.end());
    market_.assign(pf.market.begin(), pf.market.end());
    size_.assign(pf.size.begin(), pf.size.end());
    entry_.assign(pf.entry_price.begin(), pf.entry_price.end());
    col_ = CollateralColumns{collateral_, asset_prices_, haircuts_, size_discount_};
    pf_ = PortfolioColumns{account_, market_, size_, entry_};
    for (const Book& b : books_) book_ptrs_.push_back(&b);
    detail::check_contagion_inputs(markets_, book_ptrs_, col_, pf_, pol_, fund_, prm_);
    if (correlation.empty()) {
      chol_.assign(M * M, 0.0);
      for (std::size_t m = 0; m < M; ++m) chol_[m * M + m] = 1.0;
    } else {
      chol_ = psd_cholesky(correlation, M);
    }
  }
  AccountStressPlan(const AccountStressPlan&) = delete;
  AccountStressPlan& operator=(const AccountStressPlan&) = delete;

  std::size_t markets() const noexcept { return markets_.size(); }
  std::span<const double> cholesky() const noexcept { return chol_; }

  // Runs scenarios [first, first + count). `factors` is empty (model paths: `model` holds one
  // jump-diffusion per market, keyed by `seed`) or holds count × steps × markets move factors
  // (finite, > 0), row-major. threads = 0: every available core.
  // `funding`: empty, steps × markets rates (every scenario) or count × steps × markets (finite,
  // per step). `asset_prices`: empty, steps × assets or count × steps × assets collateral
  // prices (finite, > 0); when empty and `cm` holds a model, the collateral prices follow it.
  void run(std::uint64_t first, std::size_t count, std::size_t steps, std::span<const rng::JumpDiffusion> model,
           std::uint64_t seed, std::span<const double> factors, unsigned threads, const AccountStressOutputs& out,
           std::span<const double> funding = {}, std::span<const double> asset_prices = {},
           const CollateralPathModel* cm = nullptr) const {
    const std::size_t M = markets_.size(), per = steps * M, K = asset_prices_.size(), per_k = steps * K;
    if (!funding.empty() && funding.size() != per && funding.size() != count * per)
      throw InvalidArgument("funding", -1, "must hold steps x markets or scenarios x steps x markets values");
    for (std::size_t j = 0; j < funding.size(); ++j)
      if (!std::isfinite(funding[j]))
        throw InvalidArgument("funding", static_cast<std::int64_t>(j), "must be finite " + describe(funding[j]));
    if (!asset_prices.empty() && asset_prices.size() != per_k && asset_prices.size() != count * per_k)
      throw InvalidArgument("collateral_paths", -1, "must hold steps x assets or scenarios x steps x assets values");
    for (std::size_t j = 0; j < asset_prices.size(); ++j)
      if (!(std::isfinite(asset_prices[j]) && asset_prices[j] > 0.0))
        throw InvalidArgument("collateral_paths", static_cast<std::int64_t>(j),
                              "must be finite and > 0 " + describe(asset_prices[j]));
    bool use_model = false;
    if (asset_prices.empty() && cm != nullptr && !cm->beta.empty()) {
      if (cm->beta.size() != K || cm->sigma.size() != K || cm->market.size() != K)
        throw InvalidArgument("collateral_beta", -1, "must have one value per collateral asset");
      if (M + K > rng::kMaxMarkets) throw InvalidArgument("markets", -1, "too many markets and assets");
      for (std::size_t k = 0; k < K; ++k) {
        const auto i = static_cast<std::int64_t>(k);
        if (!std::isfinite(cm->beta[k])) throw InvalidArgument("collateral_beta", i, "must be finite " + describe(cm->beta[k]));
        if (!(std::isfinite(cm->sigma[k]) && cm->sigma[k] >= 0.0))
          throw InvalidArgument("collateral_sigma", i, "must be finite and >= 0 " + describe(cm->sigma[k]));
        if (cm->market[k] < 0 || static_cast<std::size_t>(cm->market[k]) >= M)
          throw InvalidArgument("collateral_market", i, "must be a market id in [0, markets)");
        use_model |= cm->beta[k] != 0.0 || cm->sigma[k] != 0.0;
      }
      if (use_model && !(std::isfinite(cm->dt) && cm->dt > 0.0)) throw InvalidArgument("horizon", -1, "must be > 0");
    }
    if (!factors.empty() && factors.size() != count * per)
      throw InvalidArgument("paths", -1, "must hold scenarios x steps x markets values");
    if (factors.empty() && model.size() != M) throw InvalidArgument("sigma", -1, "must have one value per market");
    if (steps == 0) throw InvalidArgument("steps", -1, "must be >= 1");
    if (steps > std::uint64_t{1} << 32) throw InvalidArgument("steps", -1, "must be < 2**32");
    struct Scratch {
      std::vector<double> factors, z, prices;
    };
    run_scenarios(
        first, count, seed, threads,
        [&] { return Scratch{std::vector<double>(per), std::vector<double>(M), std::vector<double>(use_model ? per_k : 0)}; },
        [&](Scratch& w, std::size_t s, const rng::Stream& stream) {
          std::span<const double> f;
          if (factors.empty()) {
            draw(stream, steps, model, w.z, w.factors);
            f = w.factors;
          } else {
            f = factors.subspan(s * per, per);
          }
          std::span<const double> fr = funding.size() == count * per ? funding.subspan(s * per, per) : funding;
          std::span<const double> ap =
              asset_prices.size() == count * per_k ? asset_prices.subspan(s * per_k, per_k) : asset_prices;
          if (use_model) {
            draw_assets(stream, steps, f, *cm, w.prices);
            ap = w.prices;
          }
          scenario(f, fr, ap, s, out);
        });
  }

  // The collateral prices of one scenario's model path (steps × assets) into `p`, given the
  // scenario's market move factors f (steps × markets); see CollateralPathModel.
  void draw_assets(const rng::Stream& stream, std::size_t steps, std::span<const double> f,
                   const CollateralPathModel& cm, std::vector<double>& p) const {
    const std::size_t M = markets_.size(), K = asset_prices_.size();
    for (std::size_t k = 0; k < K; ++k) {
      double price = asset_prices_[k];
      const double sg = cm.sigma[k], b = cm.beta[k];
      const auto m = static_cast<std::size_t>(cm.market[k]);
      const std::uint32_t block = rng::market_block(rng::kMaxMarkets - 1 - k, 0);
      for (std::size_t t = 0; t < steps; ++t) {
        const auto step = static_cast<std::uint32_t>(t);
        double x = b * std::log(f[t * M + m]);
        if (sg != 0.0) x += sg * std::sqrt(cm.dt) * stream.normal(step, block) - 0.5 * sg * sg * cm.dt;
        price *= std::exp(x);
        if (!(std::isfinite(price) && price > 0.0))
          throw InvalidArgument("the collateral path model (collateral_beta, collateral_sigma)", -1,
                                "gives a collateral price outside (0, inf) " + describe(price));
        p[t * K + k] = price;
      }
    }
  }

  // The move factors of one scenario's model path (steps × markets) into `f`; z: scratch (M).
  void draw(const rng::Stream& stream, std::size_t steps, std::span<const rng::JumpDiffusion> model,
            std::vector<double>& z, std::vector<double>& f) const {
    const std::size_t M = markets_.size();
    for (std::size_t t = 0; t < steps; ++t) {
      const auto step = static_cast<std::uint32_t>(t);
      for (std::size_t k = 0; k < M; ++k) z[k] = stream.normal(step, rng::market_block(k, 0));
      for (std::size_t m = 0; m < M; ++m) {
        double zc = 0.0;
        for (std::size_t k = 0; k <= m; ++k) zc += chol_[m * M + k] * z[k];
        const double x = std::exp(model[m].log_return(stream, step, zc, rng::market_block(m, 0)));
        if (!(std::isfinite(x) && x > 0.0))
          throw InvalidArgument("the path model (mu, sigma, horizon, steps, jump_intensity, jump_mean, jump_std)", -1,
                                "gives a move factor outside (0, inf) " + describe(x) +
                                    ": a price would reach 0 or overflow");
        f[t * M + m] = x;
      }
    }
  }

 private:
  void scenario(std::span<const double> f, std::span<const double> funding, std::span<const double> asset_prices,
                std::size_t s, const AccountStressOutputs& out) const {
    const std::size_t M = markets_.size();
    const ContagionRun r =
        detail::contagion_run(markets_, book_ptrs_, col_, pf_, f, pol_, fund_, prm_, funding, asset_prices);
    if (!out.funding_paid.empty()) out.funding_paid[s] = r.totals.funding_paid.value();
    out.deficit[s] = r.totals.bad_debt();
    out.insurance_draw[s] = r.totals.draw.value();
    out.residual[s] = r.totals.residual.value();
    out.fund_after[s] = r.fund_after;
    out.notional[s] = r.totals.notional.value();
    out.fees[s] = r.totals.fees.value();
    std::int64_t acc = 0;
    for (const std::int64_t x : r.acc_round) acc += x >= 0;
    out.accounts[s] = acc;
    // per account: its deficit and the fund's inventory losses on its positions
    std::vector<double> loss(col_.accounts(), 0.0);
    for (std::size_t i = 0; i < r.pos_round.size(); ++i)
      if (r.pos_round[i] >= 0)
        loss[static_cast<std::size_t>(pf_.account[i])] += r.deficit[i] + std::max(r.inventory_loss[i], 0.0);
    double l1 = 0.0, l2 = 0.0;
    for (const double x : loss) {
      if (x > l1) {
        l2 = l1;
        l1 = x;
      } else if (x > l2) {
        l2 = x;
      }
    }
    out.largest_loss[s] = l1;
    out.second_loss[s] = l2;
    out.rounds[s] = static_cast<std::int64_t>(r.rounds.size());
    out.converged[s] = r.converged;
    std::copy(r.final_marks.begin(), r.final_marks.end(), out.final_marks.begin() + s * M);
    // per market: the bad debt realised there (deficits and inventory losses), i.e. the
    // contagion matrix's column plus what no origin explains
    for (std::size_t m = 0; m < M; ++m) {
      double d = r.unattributed[m];
      for (std::size_t o = 0; o < M; ++o) d += r.contagion[o * M + m];
      out.deficit_by_market[s * M + m] = d;
    }
    std::copy(r.contagion.begin(), r.contagion.end(), out.contagion.begin() + s * M * M);
    if (!out.waited.empty()) out.waited[s] = r.totals.waited;
    if (!out.waited_notional.empty()) out.waited_notional[s] = r.totals.waited_notional;
  }

  std::vector<Market> markets_;
  std::vector<Book> books_;
  std::vector<const Book*> book_ptrs_;
  std::vector<double> collateral_, asset_prices_, haircuts_, size_discount_;
  std::vector<std::int64_t> account_, market_;
  std::vector<double> size_, entry_;
  CollateralColumns col_;
  PortfolioColumns pf_;
  LiquidationPolicy pol_;
  double fund_;
  ContagionParams prm_;
  std::vector<double> chol_;
};

}  // namespace liqcore
