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

py::dict simulate_contagion_batch(const F64Array& marks, const I64Array& contract, const F64Array& contract_size,
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
  const std::vector<ContagionRound>& rt = run.rounds;
  py::dict d = dict_of({
      {"trace", round_trace({{"marks_before", rows_of(rt, &ContagionRound::marks_before, M)},
                             {"marks_after", rows_of(rt, &ContagionRound::marks_after, M)},
                             {"deficit_by_market", rows_of(rt, &ContagionRound::deficit_by_market, M)},
                             {"accounts", column_of<std::int64_t>(rt, &ContagionRound::accounts)},
                             {"positions", column_of<std::int64_t>(rt, &ContagionRound::positions)},
                             {"adl_transfers", column_of<double>(rt, &ContagionRound::adl_transfers)}},
                            rt)},
      {"initial_marks", copy_array(run.initial_marks)},
      {"shocked_marks", copy_array(run.shocked_marks)},
      {"final_marks", copy_array(run.final_marks)},
      {"converged", run.converged},
      {"round", copy_array(run.pos_round)},
      {"closed", copy_array(run.closed)},
      {"book_closed", copy_array(run.book_closed)},
      {"fallback_closed", copy_array(run.fallback_closed)},
      {"vwap", copy_array(run.vwap)},
      {"deficit", copy_array(run.deficit)},
      {"inventory_loss", copy_array(run.inventory_loss)},
      {"fee", copy_array(run.fee)},
      {"insurance_draw", copy_array(run.draw)},
      {"shortfall", copy_array(run.shortfall)},
      {"adl", copy_array(run.adl)},
      {"accounts", dict_of({{"round", copy_array(run.acc_round)},
                            {"trigger", copy_array(run.acc_trigger)},
                            {"origin", copy_array(run.acc_origin)},
                            {"equity", copy_array(run.acc_equity)},
                            {"maintenance", copy_array(run.acc_maintenance)},
                            {"equity_after", copy_array(run.acc_equity_after)},
                            {"deficit", copy_array(run.acc_deficit)},
                            {"fee", copy_array(run.acc_fee)},
                            {"insurance_draw", copy_array(run.acc_draw)},
                            {"shortfall", copy_array(run.acc_shortfall)}})},
      {"markets", dict_of({{"deficit", copy_array(run.mk_deficit)},
                           {"closed_notional", copy_array(run.mk_closed_notional)},
                           {"residual", copy_array(run.mk_residual)},
                           {"unattributed", copy_array(run.unattributed)}})},
      {"contagion", copy_matrix(run.contagion, M, M)},
      {"totals", cascade_totals({{"insurance_fund", run.fund_after},
                                 {"adl_transfers", run.totals.adl_transfers.value()}},
                                run.totals)},
  });
  put_ledger(d, run.ledger);
  py::list out_books;
  for (Book& b : run.books) out_books.append(py::cast(std::make_unique<LockedBook>(std::move(b))));
  d["books"] = out_books;
  return d;
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

py::dict run_account_plan(const AccountStressPlan& plan, std::uint64_t first, std::size_t count, std::size_t steps,
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
  return dict_of({{"deficit", deficit},
                  {"insurance_draw", draw},
                  {"residual", residual},
                  {"insurance_fund", fund_after},
                  {"liquidated_notional", notional},
                  {"fees", fees},
                  {"largest_loss", largest},
                  {"second_largest_loss", second},
                  {"liquidated_accounts", accounts},
                  {"rounds", rounds},
                  {"converged", converged},
                  {"final_marks", final_marks},
                  {"deficit_by_market", by_market},
                  {"contagion", contagion},
                  {"waited", waited},
                  {"waited_notional", waited_notional},
                  {"funding_paid", paid}});
}

}  // namespace

void register_contagion(py::module_& m) {
  m.def("simulate_contagion", &simulate_contagion_batch, py::arg("marks"), py::arg("contract"),
        py::arg("contract_size"), py::arg("floors"), py::arg("rates"), py::arg("books"), py::arg("collateral"),
        py::arg("asset_prices"), py::arg("haircuts"), py::arg("size_discount"), py::arg("account"),
        py::arg("market"), py::arg("size"), py::arg("entry_price"), py::arg("shocks"), py::arg("policy"),
        py::arg("fund"), py::arg("resilience"), py::arg("mark_rule"), py::arg("max_rounds"),
        py::arg("collateral_shock") = py::none(), py::arg("mark_params") = std::vector<double>{});
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
