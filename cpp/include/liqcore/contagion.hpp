// Multi-market liquidation cascades with contagion attribution (MODEL.md §4, §6).
//
// The cross-margin counterpart of cascade.hpp, built on account_liquidation.hpp:
//   round 0  every market m moves by its own shock: P_m ← P_m·(1 + shock_m), and every price of
//            its book is multiplied by the same factor (multiplicative shift);
//   round k  every account liquidatable at the current marks (TMMR > TNC, with an open position)
//            is liquidated account-wide by liquidate_accounts (policy order, each close walking
//            its market's book as left by the earlier rounds, fallback, fees, fund, ledger);
//            then each market's mark follows its own book fills of the round (MarkRule::last:
//            the quantity-weighted mean of each book side's deepest fill of the round, whatever
//            their order (BookFlow, liquidation.hpp); MarkRule::mid: the mid
//            of its book after the round; no book fill in a market: its mark is unchanged); then
//            every book recovers: each level's quantity q becomes q + r·(q0 − q) (q0 before any
//            liquidation, r = resilience), as in cascade.hpp;
// until a round liquidates nothing, or max_rounds rounds have run. One insurance fund, shared
// by all markets, carries over from round to round; so do the books and the ledger.
//
// Supported policies: sizing "full" (an account once liquidated has nothing left open, so it is
// never revisited) and residual "none" (the residual of a market stays uncovered; ADL would
// change counterparties' positions between rounds, which this engine does not model).
// Collateral prices do not move during the cascade.
//
// Cost: every round runs liquidate_accounts over the whole portfolio (the health of every
// account, a copy of every book), so a run costs O(rounds · (positions + accounts + levels)),
// unlike cascade.hpp whose rounds cost only what they liquidate. stress_contagion runs its
// scenarios one after another on one thread.
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
#include <limits>
#include <span>
#include <vector>

#include "liqcore/account_liquidation.hpp"
#include "liqcore/book.hpp"
#include "liqcore/cascade.hpp"
#include "liqcore/cross_margin.hpp"
#include "liqcore/error.hpp"
#include "liqcore/waterfall.hpp"

namespace liqcore {

struct ContagionParams {
  double resilience = 0.0;  // in [0, 1]
  MarkRule mark_rule = MarkRule::last;
  std::int64_t max_rounds = 1000;
};

// What one round did (money in quote).
struct ContagionRound {
  std::vector<double> marks_before, marks_after;  // per market
  std::vector<double> deficit_by_market;          // per market
  std::int64_t step = 0;                          // of the path (0 for a single shock)
  std::int64_t accounts = 0, positions = 0;       // newly liquidated
  double notional = 0.0, deficit = 0.0, inventory_loss = 0.0, bad_debt = 0.0, fees = 0.0, draw = 0.0,
         residual = 0.0, fund_after = 0.0;
};

struct ContagionRun {
  std::size_t markets = 0;
  std::vector<double> initial_marks, shocked_marks, final_marks;
  std::vector<ContagionRound> rounds;
  bool converged = true;
  // per position
  std::vector<std::int64_t> pos_round;  // round (1-based) its account was liquidated in, -1 if never
  std::vector<double> closed, book_closed, fallback_closed, vwap, deficit, fee, draw, shortfall, inventory_loss;
  // per account
  std::vector<std::int64_t> acc_round, acc_trigger, acc_origin;  // -1: never / unattributed
  std::vector<double> acc_equity, acc_maintenance, acc_equity_after, acc_deficit, acc_fee, acc_draw, acc_shortfall;
  // per market and market × market (row: origin, column: where realised)
  std::vector<double> mk_deficit, mk_closed_notional, mk_residual, unattributed, contagion;
  double total_notional = 0.0, total_deficit = 0.0, total_surplus = 0.0, total_fees = 0.0, total_inventory_loss = 0.0;
  double bad_debt = 0.0;  // total_deficit + inventory_loss = total_draw + (residual: uncovered)
  double total_draw = 0.0, total_residual = 0.0;
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
};

}  // namespace detail

// Runs the cascade described in the header comment. `markets` carry the marks before the shock;
// `books`: one book per market at those marks (execution "book") or empty (execution
// "takeover"); `shocks`: one relative move per market (finite, > −1), or steps × markets
// (row-major) for a path: at every step each market (mark and book) moves by its shock of the
// step (an exogenous move, whose origin is that market), then rounds run as above (at most
// max_rounds per step); positions, books, fund and ledger carry over from step to step.
inline ContagionRun simulate_contagion(std::span<const Market> markets, std::span<const Book* const> books,
                                       const CollateralColumns& col, const PortfolioColumns& pf,
                                       std::span<const double> shocks, const LiquidationPolicy& pol, double fund,
                                       const ContagionParams& prm) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  const std::size_t M = markets.size(), n = pf.size.size(), A = col.accounts();
  const bool by_book = pol.execution == Execution::book;
  // The books evolve whenever they are given: the fund sells its inventory into them even under
  // execution "takeover".
  const bool has_books = books.size() == M;
  if (pol.sizing != Sizing::full)
    throw InvalidArgument("policy.sizing", -1, "must be 'full' for a multi-market cascade");
  if (pol.residual != ResidualRule::none)
    throw InvalidArgument("policy.residual", -1, "must be 'none' for a multi-market cascade");
  if (M == 0 || shocks.size() % M != 0 || shocks.empty())
    throw InvalidArgument("shock", -1,
                          "must have one value per market (" + std::to_string(shocks.size()) + " values, " +
                              std::to_string(M) + " markets)");
  const std::size_t T = shocks.size() / M;
  for (std::size_t j = 0; j < shocks.size(); ++j)
    if (!(std::isfinite(shocks[j]) && shocks[j] > -1.0))
      throw InvalidArgument("shock", static_cast<std::int64_t>(j), "must be finite and > -1 " + describe(shocks[j]));
  if (!(std::isfinite(fund) && fund >= 0.0))
    throw InvalidArgument("insurance_fund", -1, "must be finite and >= 0 " + describe(fund));
  if (!(prm.resilience >= 0.0 && prm.resilience <= 1.0))
    throw InvalidArgument("resilience", -1, "must be in [0, 1] " + describe(prm.resilience));
  if (prm.max_rounds < 0) throw InvalidArgument("max_rounds", -1, "must be >= 0");
  if (by_book && books.size() != M)
    throw InvalidArgument("books", -1, "must have one book per market for execution 'book'");
  check_markets(markets);
  {  // validates collateral and positions (ids, sizes, entry prices) before anything indexes by them
    std::vector<double> c(A), e(A), mm(A), nt(A), ra(A), di(A);
    std::vector<std::uint8_t> l(A);
    health(markets, col, pf, HealthOutputs{c, e, mm, nt, ra, di, l});
  }

  ContagionRun run;
  run.markets = M;
  run.fund_before = fund;
  std::vector<Market> mk(markets.begin(), markets.end());
  std::vector<double> scale(M);
  for (std::size_t m = 0; m < M; ++m) {
    run.initial_marks.push_back(mk[m].mark);
    run.shocked_marks.push_back(mk[m].mark * (1.0 + shocks[m]));
    scale[m] = 1.0;
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
                  &run.shortfall, &run.inventory_loss})
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
  CompensatedSum s_ntl, s_def, s_sur, s_fees, s_inv, s_draw, s_res;
  double fund_now = fund;

  std::int64_t k = 0;  // rounds so far
  for (std::size_t step = 0; step < T; ++step) {
    for (std::size_t m = 0; m < M; ++m) {  // the exogenous move of the step
      const double f = 1.0 + shocks[step * M + m];
      prev[m] = mk[m].mark;
      mk[m].mark *= f;
      scale[m] *= f;
      move_origin[m] = static_cast<std::int64_t>(m);
    }
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
      const AccountLiquidationTotals tot =
          liquidate_accounts(mk, ptrs, col, cur_pf, pol, fund_now, out, after, &held);
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
      for (std::size_t a = 0; a < A; ++a) {
        if (!acc_liq[a]) {  // an account liquidated earlier: its inventory sold this round
          run.acc_draw[a] += a_draw[a];
          run.acc_shortfall[a] += a_short[a];
          const std::size_t row = run.acc_origin[a] < 0 ? M : static_cast<std::size_t>(run.acc_origin[a]);
          for (const std::size_t i : by_account.of(a)) {
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
        run.acc_round[a] = k;
        run.acc_trigger[a] = trigger;
        run.acc_origin[a] = origin;
        run.acc_equity[a] = a_eq[a];
        run.acc_maintenance[a] = a_mm[a];
        run.acc_equity_after[a] = a_after[a];
        run.acc_deficit[a] = a_def[a];
        run.acc_fee[a] = a_fee[a];
        run.acc_draw[a] = a_draw[a];
        run.acc_shortfall[a] = a_short[a];
        const std::size_t row = origin < 0 ? M : static_cast<std::size_t>(origin);
        for (const std::size_t i : by_account.of(a)) {
          if (seq[i] < 0) continue;
          const auto m = static_cast<std::size_t>(pf.market[i]);
          run.pos_round[i] = k;
          run.closed[i] = o_closed[i];
          run.book_closed[i] = o_book[i];
          run.fallback_closed[i] = o_fb[i];
          run.vwap[i] = o_vwap[i];
          run.deficit[i] = o_def[i];
          run.inventory_loss[i] = o_inv[i];
          run.fee[i] = o_fee[i];
          run.draw[i] = o_draw[i];
          run.shortfall[i] = o_short[i];
          (origin < 0 ? run.unattributed[m] : run.contagion[row * M + m]) += o_def[i] + std::max(o_inv[i], 0.0);
          by_origin[row * M + m] += std::abs(size[i]) * (mk[m].inverse() ? mk[m].contract.contract_size : mk[m].mark);
          size[i] = 0.0;
        }
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
        if (prm.mark_rule == MarkRule::last) {
          next[m] = flow.last_price();
        } else {
          const double mid = after[m].mid();
          if (!std::isnan(mid)) next[m] = mid;
        }
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
      tr.inventory_loss = tot.inventory_loss;
      tr.bad_debt = tot.bad_debt;
      tr.fees = tot.fees;
      tr.draw = tot.insurance_draw;
      tr.residual = tot.residual;
      tr.fund_after = tot.fund_after;
      run.rounds.push_back(std::move(tr));
      for (std::size_t m = 0; m < M; ++m) {
        run.mk_deficit[m] += m_def[m];
        run.mk_closed_notional[m] += m_ntl[m];
        run.mk_residual[m] += m_res[m];
      }
      for (std::size_t r = 0; r < kLedgerRows; ++r)
        run.ledger.add(static_cast<LedgerRow>(r), tot.ledger.amounts()[r]);
      s_ntl.add(tot.closed_notional);
      s_def.add(tot.deficit);
      s_sur.add(tot.surplus);
      s_fees.add(tot.fees);
      s_inv.add(tot.inventory_loss);
      s_draw.add(tot.insurance_draw);
      s_res.add(tot.residual);
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
    value_held_inventory(mk, now, held, pol.price_band, f, run.ledger,
                         [&](std::size_t i, double loss, double draw, double shortfall) {
                           const auto m = static_cast<std::size_t>(pf.market[i]);
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
                           s_inv.add(std::max(loss, 0.0));
                           s_draw.add(draw);
                           s_res.add(shortfall);
                           uncovered.add(shortfall);
                         });
    run.ledger.add(LedgerRow::uncovered, -uncovered.value());
    fund_now = f.balance();
  }

  for (std::size_t m = 0; m < M; ++m) run.final_marks.push_back(mk[m].mark);
  run.total_notional = s_ntl.value();
  run.total_deficit = s_def.value();
  run.total_surplus = s_sur.value();
  run.total_fees = s_fees.value();
  run.total_inventory_loss = s_inv.value();
  run.bad_debt = run.total_deficit + run.total_inventory_loss;
  run.total_draw = s_draw.value();
  run.total_residual = s_res.value();
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

// Per-scenario results of stress_contagion (spans of length S, S·M, S·M·M), allocated by the caller.
struct ContagionStressOutputs {
  std::span<double> deficit, insurance_draw, residual, fund_after, notional, fees;
  std::span<std::int64_t> accounts, rounds;
  std::span<std::uint8_t> converged;
  std::span<double> final_marks, deficit_by_market, contagion;
};

// Runs simulate_contagion once per scenario: `paths` holds S scenarios × steps × markets relative
// moves (row-major); every scenario starts from the inputs. Sequential and deterministic.
inline void stress_contagion(std::span<const Market> markets, std::span<const Book* const> books,
                             const CollateralColumns& col, const PortfolioColumns& pf, std::span<const double> paths,
                             std::size_t scenarios, const LiquidationPolicy& pol, double fund,
                             const ContagionParams& prm, const ContagionStressOutputs& out) {
  const std::size_t M = markets.size();
  if (scenarios == 0 || paths.size() % scenarios != 0)
    throw InvalidArgument("paths", -1, "must have scenarios × steps × markets values");
  const std::size_t per = paths.size() / scenarios;
  for (std::size_t sc = 0; sc < scenarios; ++sc) {
    const ContagionRun r =
        simulate_contagion(markets, books, col, pf, paths.subspan(sc * per, per), pol, fund, prm);
    out.deficit[sc] = r.bad_debt;
    out.insurance_draw[sc] = r.total_draw;
    out.residual[sc] = r.total_residual;
    out.fund_after[sc] = r.fund_after;
    out.notional[sc] = r.total_notional;
    out.fees[sc] = r.total_fees;
    std::int64_t acc = 0;
    for (const std::int64_t x : r.acc_round) acc += x >= 0;
    out.accounts[sc] = acc;
    out.rounds[sc] = static_cast<std::int64_t>(r.rounds.size());
    out.converged[sc] = r.converged;
    std::copy(r.final_marks.begin(), r.final_marks.end(), out.final_marks.begin() + sc * M);
    std::copy(r.mk_deficit.begin(), r.mk_deficit.end(), out.deficit_by_market.begin() + sc * M);
    std::copy(r.contagion.begin(), r.contagion.end(), out.contagion.begin() + sc * M * M);
  }
}

}  // namespace liqcore
