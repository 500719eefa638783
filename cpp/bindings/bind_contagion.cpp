// Bindings for multi-market liquidation cascades (liqcore/contagion.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "accounts.hpp"
#include "arrays.hpp"
#include "liqcore/contagion.hpp"
#include "liqcore/rng.hpp"
#include "locked_book.hpp"
#include "mark.hpp"
#include "registry.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

// Markets, collateral, portfolio and parameters as the kernel sees them (values are checked by
// the kernel; shapes here).
struct Prepared {
  std::vector<Market> markets;
  CollateralColumns col;
  PortfolioColumns pf;
  std::vector<const LockedBook*> locked;
  ContagionParams prm;
};
Prepared prepare(const F64Array& marks, const I64Array& contract, const F64Array& contract_size,
                 const py::list& floors, const py::list& rates, const py::list& books, const F64Array& collateral,
                 const F64Array& asset_prices, const F64Array& haircuts, const F64Array& size_discount,
                 const I64Array& account, const I64Array& market, const F64Array& size, const F64Array& entry_price,
                 double resilience, int mark_rule, std::int64_t max_rounds, const std::vector<double>& mark_params) {
  Prepared in;
  in.markets = markets_of(marks, contract, contract_size, floors, rates);
  const AccountInputs ai =
      account_inputs(collateral, asset_prices, haircuts, size_discount, account, market, size, entry_price);
  in.prm = cascade_params(resilience, mark_rule, max_rounds, mark_params);
  in.col = ai.col;
  in.pf = ai.pf;
  in.locked = locked_books(books);
  return in;
}

// The per-account columns of simulate_contagion() (round, trigger, origin: int64, -1 never /
// unattributed).
#define LIQCORE_CONTAGION_ACCOUNT_COLUMNS(X)                                                         \
  X(round) X(trigger) X(origin) X(equity) X(maintenance) X(equity_after) X(deficit) X(fee) X(insurance_draw) \
  X(shortfall)
struct ContagionAccountColumns {
  LIQCORE_CONTAGION_ACCOUNT_COLUMNS(LIQCORE_ARRAY_MEMBER)
};

// The per-market columns of simulate_contagion().
#define LIQCORE_CONTAGION_MARKET_COLUMNS(X) X(deficit) X(closed_notional) X(residual) X(unattributed)
struct ContagionMarketColumns {
  LIQCORE_CONTAGION_MARKET_COLUMNS(LIQCORE_ARRAY_MEMBER)
};

// The totals of simulate_contagion(): the kernel's sums over the rounds and the fund after.
struct ContagionTotals {
  CascadeTotals sums;
  double insurance_fund = 0.0;
};

// What simulate_contagion() returns: the rounds, the marks, the CloseOutput columns and "round",
// "book_closed", "fallback_closed" per position, the per-account and per-market columns, the
// markets x markets contagion matrix, the totals and the books after.
#define LIQCORE_CONTAGION_OUTPUT_FIELDS(X) \
  X(initial_marks) X(shocked_marks) X(final_marks) X(round) X(book_closed) X(fallback_closed) X(contagion)
struct ContagionOutput : CloseOutput {
  Rounds<ContagionRound> trace;
  LIQCORE_CONTAGION_OUTPUT_FIELDS(LIQCORE_ARRAY_MEMBER)
  bool converged = true;
  ContagionAccountColumns accounts;
  ContagionMarketColumns markets;
  ContagionTotals totals;
  py::list books;
};

ContagionOutput simulate_contagion_batch(const F64Array& marks, const I64Array& contract, const F64Array& contract_size,
                                  const py::list& floors, const py::list& rates, const py::list& books,
                                  const F64Array& collateral, const F64Array& asset_prices, const F64Array& haircuts,
                                  const F64Array& size_discount, const I64Array& account, const I64Array& market,
                                  const F64Array& size, const F64Array& entry_price, const F64Array& shocks,
                                  const LiquidationPolicy& policy, double fund, double resilience, int mark_rule,
                                  std::int64_t max_rounds, const std::optional<F64Array>& collateral_shock,
                                  const std::vector<double>& mark_params) {
  const Prepared in = prepare(marks, contract, contract_size, floors, rates, books, collateral, asset_prices, haircuts,
                              size_discount, account, market, size, entry_price, resilience, mark_rule, max_rounds,
                              mark_params);
  const std::size_t M = in.markets.size();
  ContagionRun run;
  {
    py::gil_scoped_release release;
    const Snapshots snap(in.locked);
    run = simulate_contagion(in.markets, snap.ptrs, in.col, in.pf, view(shocks), policy, fund, in.prm,
                             collateral_shock ? view(*collateral_shock) : std::span<const double>{});
  }
  ContagionOutput r;
  r.trace = {std::move(run.rounds), M};
  r.initial_marks = adopt(std::move(run.initial_marks));
  r.shocked_marks = adopt(std::move(run.shocked_marks));
  r.final_marks = adopt(std::move(run.final_marks));
  r.converged = run.converged;
  r.round = adopt(std::move(run.pos_round));
  r.closed = adopt(std::move(run.closed));
  r.book_closed = adopt(std::move(run.book_closed));
  r.fallback_closed = adopt(std::move(run.fallback_closed));
  r.vwap = adopt(std::move(run.vwap));
  r.deficit = adopt(std::move(run.deficit));
  r.inventory_loss = adopt(std::move(run.inventory_loss));
  r.fee = adopt(std::move(run.fee));
  r.insurance_draw = adopt(std::move(run.draw));
  r.shortfall = adopt(std::move(run.shortfall));
  r.adl = adopt(std::move(run.adl));
  r.accounts = {adopt(std::move(run.acc_round)),       adopt(std::move(run.acc_trigger)),
                adopt(std::move(run.acc_origin)),      adopt(std::move(run.acc_equity)),
                adopt(std::move(run.acc_maintenance)), adopt(std::move(run.acc_equity_after)),
                adopt(std::move(run.acc_deficit)),     adopt(std::move(run.acc_fee)),
                adopt(std::move(run.acc_draw)),        adopt(std::move(run.acc_shortfall))};
  r.markets = {adopt(std::move(run.mk_deficit)), adopt(std::move(run.mk_closed_notional)),
               adopt(std::move(run.mk_residual)), adopt(std::move(run.unattributed))};
  const auto m = static_cast<py::ssize_t>(M);
  r.contagion = adopt(std::move(run.contagion), {m, m});
  r.totals = {run.totals, run.fund_after};
  r.settle(run.ledger);
  for (Book& b : run.books) r.books.append(py::cast(std::make_unique<LockedBook>(std::move(b))));
  return r;
}

std::unique_ptr<AccountStressPlan> make_account_plan(
    const F64Array& marks, const I64Array& contract, const F64Array& contract_size, const py::list& floors,
    const py::list& rates, const py::list& books, const F64Array& collateral, const F64Array& asset_prices,
    const F64Array& haircuts, const F64Array& size_discount, const I64Array& account, const I64Array& market,
    const F64Array& size, const F64Array& entry_price, const LiquidationPolicy& policy, double fund,
    double resilience, int mark_rule, std::int64_t max_rounds, const std::optional<F64Array>& correlation,
    const std::vector<double>& mark_params) {
  Prepared in = prepare(marks, contract, contract_size, floors, rates, books, collateral, asset_prices, haircuts,
                        size_discount, account, market, size, entry_price, resilience, mark_rule, max_rounds,
                        mark_params);
  const std::span<const double> corr = correlation ? view(*correlation) : std::span<const double>{};
  py::gil_scoped_release release;
  Snapshots snap(in.locked);
  return std::make_unique<AccountStressPlan>(std::move(in.markets), std::move(snap.books), in.col, in.pf, policy,
                                             fund, in.prm, corr);
}

// The per-scenario columns of a chunk of AccountStressPlan.run (final_marks, deficit_by_market:
// count x markets flat; contagion: count x markets x markets flat; picklable: see bind_part).
#define LIQCORE_ACCOUNT_STRESS_PART_COLUMNS(X)                                                              \
  X(deficit) X(insurance_draw) X(residual) X(insurance_fund) X(liquidated_notional) X(fees) X(largest_loss)     \
  X(second_largest_loss) X(liquidated_accounts) X(rounds) X(converged) X(final_marks) X(deficit_by_market)      \
  X(contagion) X(waited) X(waited_notional) X(funding_paid)
struct AccountStressPart {
  LIQCORE_ACCOUNT_STRESS_PART_COLUMNS(LIQCORE_ARRAY_MEMBER)
};

AccountStressPart run_account_plan(const AccountStressPlan& plan, std::uint64_t first, std::size_t count, std::size_t steps,
                          double mu, const F64Array& sigma, double intensity, double jump_mean, double jump_std,
                          double dt, std::uint64_t seed, const std::optional<F64Array>& factors, unsigned threads,
                          const std::optional<F64Array>& funding, const std::optional<F64Array>& collateral_paths,
                          const std::optional<F64Array>& collateral_beta,
                          const std::optional<F64Array>& collateral_sigma,
                          const std::optional<I64Array>& collateral_market) {
  const std::size_t S = count, M = plan.markets();
  std::vector<rng::JumpDiffusion> model(static_cast<std::size_t>(sigma.size()));
  for (std::size_t m = 0; m < model.size(); ++m) {
    model[m].mu = mu;
    model[m].sigma = sigma.at(static_cast<py::ssize_t>(m));
    model[m].intensity = intensity;
    model[m].jump_mean = jump_mean;
    model[m].jump_std = jump_std;
    model[m].dt = dt;
  }
  auto f = [](std::size_t n) { return empty_f64(n); };
  F64Array deficit = f(S), draw = f(S), residual = f(S), fund_after = f(S), notional = f(S), fees = f(S),
           largest = f(S), second = f(S), paid = f(S);
  I64Array accounts = empty_i64(S), rounds = empty_i64(S), waited = empty_i64(S);
  F64Array waited_notional = f(S);
  py::array_t<std::uint8_t> converged(static_cast<py::ssize_t>(S));
  F64Array final_marks = f(S * M), by_market = f(S * M), contagion = f(S * M * M);
  AccountStressOutputs out{mutable_view(deficit),     mutable_view(draw),      mutable_view(residual),
                                 mutable_view(fund_after),  mutable_view(notional),  mutable_view(fees),
                                 mutable_view(largest),     mutable_view(second),    mutable_view(accounts),
                                 mutable_view(rounds),      {converged.mutable_data(), S},
                                 mutable_view(final_marks), mutable_view(by_market), mutable_view(contagion),
                                 mutable_view(paid)};
  out.waited = mutable_view(waited);
  out.waited_notional = mutable_view(waited_notional);
  const std::span<const double> fs = factors ? view(*factors) : std::span<const double>{};
  const std::span<const double> fr = funding ? view(*funding) : std::span<const double>{};
  const std::span<const double> cp = collateral_paths ? view(*collateral_paths) : std::span<const double>{};
  CollateralPathModel cm;
  if (collateral_beta) {
    const auto b = view(*collateral_beta);
    cm.beta.assign(b.begin(), b.end());
    if (collateral_sigma) {
      const auto sg = view(*collateral_sigma);
      cm.sigma.assign(sg.begin(), sg.end());
    }
    if (collateral_market) {
      const auto mm = view(*collateral_market);
      cm.market.assign(mm.begin(), mm.end());
    }
    cm.dt = dt;
  }
  {
    py::gil_scoped_release release;
    plan.run(first, count, steps, model, seed, fs, threads, out, fr, cp, collateral_beta ? &cm : nullptr);
  }
  return AccountStressPart{deficit,  draw,   residual,  fund_after,  notional,  fees,      largest,
                           second,   accounts, rounds,  converged,   final_marks, by_market, contagion,
                           waited,   waited_notional, paid};
}

}  // namespace

void register_contagion(py::module_& m) {
  bind_rounds<ContagionRound>(m, "ContagionRounds")
      .def_property_readonly("marks_before",
                             [](const Rounds<ContagionRound>& r) {
                               return rows_of(r.rounds, &ContagionRound::marks_before, r.markets);
                             })
      .def_property_readonly("marks_after",
                             [](const Rounds<ContagionRound>& r) {
                               return rows_of(r.rounds, &ContagionRound::marks_after, r.markets);
                             })
      .def_property_readonly("deficit_by_market",
                             [](const Rounds<ContagionRound>& r) {
                               return rows_of(r.rounds, &ContagionRound::deficit_by_market, r.markets);
                             })
      .def_property_readonly("accounts", round_column<std::int64_t>(&ContagionRound::accounts))
      .def_property_readonly("positions", round_column<std::int64_t>(&ContagionRound::positions));
  py::class_<ContagionAccountColumns> accounts(m, "ContagionAccountColumns");
  LIQCORE_BIND_FIELDS(accounts, ContagionAccountColumns, LIQCORE_CONTAGION_ACCOUNT_COLUMNS);
  py::class_<ContagionMarketColumns> markets(m, "ContagionMarketColumns");
  LIQCORE_BIND_FIELDS(markets, ContagionMarketColumns, LIQCORE_CONTAGION_MARKET_COLUMNS);
  py::class_<ContagionTotals> totals(m, "ContagionTotals");
  def_cascade_totals(totals);
  totals.def_readonly("insurance_fund", &ContagionTotals::insurance_fund);
  using R = ContagionOutput;
  py::class_<R, CloseOutput> out(m, "ContagionOutput");
  LIQCORE_BIND_FIELDS(out, R, LIQCORE_CONTAGION_OUTPUT_FIELDS);
  def_account_members(out).def_readonly("trace", &R::trace).def_readonly("converged", &R::converged);
  m.def("simulate_contagion", &simulate_contagion_batch, py::arg("marks"), py::arg("contract"),
        py::arg("contract_size"), py::arg("floors"), py::arg("rates"), py::arg("books"), py::arg("collateral"),
        py::arg("asset_prices"), py::arg("haircuts"), py::arg("size_discount"), py::arg("account"),
        py::arg("market"), py::arg("size"), py::arg("entry_price"), py::arg("shocks"), py::arg("policy"),
        py::arg("fund"), py::arg("resilience"), py::arg("mark_rule"), py::arg("max_rounds"),
        py::arg("collateral_shock") = py::none(), py::arg("mark_params") = std::vector<double>{});
  bind_part<AccountStressPart>(m, "AccountStressPart",
                               LIQCORE_COLUMNS(AccountStressPart, LIQCORE_ACCOUNT_STRESS_PART_COLUMNS));
  py::class_<AccountStressPlan>(m, "AccountStressPlan")
      .def(py::init(&make_account_plan), py::arg("marks"), py::arg("contract"), py::arg("contract_size"),
           py::arg("floors"), py::arg("rates"), py::arg("books"), py::arg("collateral"), py::arg("asset_prices"),
           py::arg("haircuts"), py::arg("size_discount"), py::arg("account"), py::arg("market"), py::arg("size"),
           py::arg("entry_price"), py::arg("policy"), py::arg("fund"), py::arg("resilience"), py::arg("mark_rule"),
           py::arg("max_rounds"), py::arg("correlation"), py::arg("mark_params") = std::vector<double>{})
      .def_property_readonly("markets", &AccountStressPlan::markets)
      .def_property_readonly("cholesky",
                             [](const AccountStressPlan& p) {
                               return copy_matrix(p.cholesky(), p.markets(), p.markets());
                             })
      .def("run", &run_account_plan, py::arg("first"), py::arg("count"), py::arg("steps"), py::arg("mu"),
           py::arg("sigma"), py::arg("intensity"), py::arg("jump_mean"), py::arg("jump_std"), py::arg("dt"),
           py::arg("seed"), py::arg("factors"), py::arg("threads"), py::arg("funding") = py::none(),
           py::arg("collateral_paths") = py::none(), py::arg("collateral_beta") = py::none(),
           py::arg("collateral_sigma") = py::none(), py::arg("collateral_market") = py::none());
}

}  // namespace liqcore::bindings

#undef LIQCORE_CONTAGION_ACCOUNT_COLUMNS
#undef LIQCORE_CONTAGION_MARKET_COLUMNS
#undef LIQCORE_CONTAGION_OUTPUT_FIELDS
#undef LIQCORE_ACCOUNT_STRESS_PART_COLUMNS
