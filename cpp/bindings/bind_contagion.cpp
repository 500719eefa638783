// Bindings for multi-market liquidation cascades (liqcore/contagion.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "arrays.hpp"
#include "liqcore/contagion.hpp"
#include "liqcore/rng.hpp"
#include "locked_book.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

template <class T>
py::array_t<T> to_array(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

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
                 double resilience, int mark_rule, std::int64_t max_rounds) {
  const std::size_t M = static_cast<std::size_t>(marks.size());
  if (static_cast<std::size_t>(contract.size()) != M || static_cast<std::size_t>(contract_size.size()) != M ||
      py::len(floors) != M || py::len(rates) != M)
    throw InvalidArgument("markets", -1, "columns must have the same length");
  Prepared in;
  std::vector<Market>& mk = in.markets;
  mk.resize(M);
  for (std::size_t j = 0; j < M; ++j) {
    const auto jj = static_cast<py::ssize_t>(j);
    mk[j].mark = marks.at(jj);
    mk[j].contract.kind = contract.at(jj) == 1 ? Contract::inverse : Contract::linear;
    mk[j].contract.contract_size = contract_size.at(jj);
    const auto fl = floors[j].cast<F64Array>();
    const auto rt = rates[j].cast<F64Array>();
    mk[j].tiers = Tiers::from_floors(view(fl), view(rt));
  }
  const std::size_t k = static_cast<std::size_t>(asset_prices.size());
  if (k == 0 || static_cast<std::size_t>(collateral.size()) % k != 0)
    throw InvalidArgument("collateral", -1, "must have one column per asset");
  if (static_cast<std::size_t>(haircuts.size()) != k)
    throw InvalidArgument("haircuts", -1, "must have one value per asset");
  if (size_discount.size() != 0 && static_cast<std::size_t>(size_discount.size()) != k)
    throw InvalidArgument("size_discount", -1, "must have one value per asset");
  const std::size_t n = static_cast<std::size_t>(size.size());
  if (static_cast<std::size_t>(account.size()) != n || static_cast<std::size_t>(market.size()) != n ||
      static_cast<std::size_t>(entry_price.size()) != n)
    throw InvalidArgument("positions", -1, "columns must have the same length");
  if (mark_rule != 0 && mark_rule != 1) throw InvalidArgument("mark_rule", -1, "must be 0 (last) or 1 (mid)");
  in.col = CollateralColumns{view(collateral), view(asset_prices), view(haircuts), view(size_discount)};
  in.pf = PortfolioColumns{view(account), view(market), view(size), view(entry_price)};
  for (const py::handle b : books) in.locked.push_back(&b.cast<const LockedBook&>());
  in.prm.resilience = resilience;
  in.prm.mark_rule = static_cast<MarkRule>(mark_rule);
  in.prm.max_rounds = max_rounds;
  return in;
}

// One consistent copy of every book, each lock held alone (call with the GIL released).
struct Snapshots {
  std::vector<Book> books;
  std::vector<const Book*> ptrs;
  explicit Snapshots(const std::vector<const LockedBook*>& locked) {
    books.reserve(locked.size());
    for (const LockedBook* b : locked) {
      auto lock = b->lock_shared();
      books.emplace_back(static_cast<const Book&>(*b));
    }
    for (const Book& b : books) ptrs.push_back(&b);
  }
};

py::dict simulate_contagion_batch(const F64Array& marks, const I64Array& contract, const F64Array& contract_size,
                                  const py::list& floors, const py::list& rates, const py::list& books,
                                  const F64Array& collateral, const F64Array& asset_prices, const F64Array& haircuts,
                                  const F64Array& size_discount, const I64Array& account, const I64Array& market,
                                  const F64Array& size, const F64Array& entry_price, const F64Array& shocks,
                                  const LiquidationPolicy& policy, double fund, double resilience, int mark_rule,
                                  std::int64_t max_rounds) {
  const Prepared in = prepare(marks, contract, contract_size, floors, rates, books, collateral, asset_prices, haircuts,
                              size_discount, account, market, size, entry_price, resilience, mark_rule, max_rounds);
  const std::size_t M = in.markets.size();
  ContagionRun run;
  {
    py::gil_scoped_release release;
    const Snapshots snap(in.locked);
    run = simulate_contagion(in.markets, snap.ptrs, in.col, in.pf, view(shocks), policy, fund, in.prm);
  }
  const std::size_t R = run.rounds.size();
  py::array_t<double> mb({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(M)}),
      ma({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(M)}),
      md({static_cast<py::ssize_t>(R), static_cast<py::ssize_t>(M)});
  std::vector<std::int64_t> r_acc(R), r_pos(R);
  std::vector<double> r_ntl(R), r_def(R), r_fees(R), r_draw(R), r_res(R), r_fund(R);
  for (std::size_t r = 0; r < R; ++r) {
    const ContagionRound& t = run.rounds[r];
    std::copy(t.marks_before.begin(), t.marks_before.end(), mb.mutable_data() + r * M);
    std::copy(t.marks_after.begin(), t.marks_after.end(), ma.mutable_data() + r * M);
    std::copy(t.deficit_by_market.begin(), t.deficit_by_market.end(), md.mutable_data() + r * M);
    r_acc[r] = t.accounts;
    r_pos[r] = t.positions;
    r_ntl[r] = t.notional;
    r_def[r] = t.deficit;
    r_fees[r] = t.fees;
    r_draw[r] = t.draw;
    r_res[r] = t.residual;
    r_fund[r] = t.fund_after;
  }
  py::dict tr;
  tr["marks_before"] = mb;
  tr["marks_after"] = ma;
  tr["deficit_by_market"] = md;
  tr["accounts"] = to_array(r_acc);
  tr["positions"] = to_array(r_pos);
  tr["notional"] = to_array(r_ntl);
  tr["deficit"] = to_array(r_def);
  tr["fees"] = to_array(r_fees);
  tr["insurance_draw"] = to_array(r_draw);
  tr["residual"] = to_array(r_res);
  tr["insurance_fund"] = to_array(r_fund);

  py::dict d;
  d["trace"] = tr;
  d["initial_marks"] = to_array(run.initial_marks);
  d["shocked_marks"] = to_array(run.shocked_marks);
  d["final_marks"] = to_array(run.final_marks);
  d["converged"] = run.converged;
  d["round"] = to_array(run.pos_round);
  d["closed"] = to_array(run.closed);
  d["book_closed"] = to_array(run.book_closed);
  d["fallback_closed"] = to_array(run.fallback_closed);
  d["vwap"] = to_array(run.vwap);
  d["deficit"] = to_array(run.deficit);
  d["inventory_loss"] = to_array(run.inventory_loss);
  d["fee"] = to_array(run.fee);
  d["insurance_draw"] = to_array(run.draw);
  d["shortfall"] = to_array(run.shortfall);
  py::dict acc;
  acc["round"] = to_array(run.acc_round);
  acc["trigger"] = to_array(run.acc_trigger);
  acc["origin"] = to_array(run.acc_origin);
  acc["equity"] = to_array(run.acc_equity);
  acc["maintenance"] = to_array(run.acc_maintenance);
  acc["equity_after"] = to_array(run.acc_equity_after);
  acc["deficit"] = to_array(run.acc_deficit);
  acc["fee"] = to_array(run.acc_fee);
  acc["insurance_draw"] = to_array(run.acc_draw);
  acc["shortfall"] = to_array(run.acc_shortfall);
  d["accounts"] = acc;
  py::dict mkt;
  mkt["deficit"] = to_array(run.mk_deficit);
  mkt["closed_notional"] = to_array(run.mk_closed_notional);
  mkt["residual"] = to_array(run.mk_residual);
  mkt["unattributed"] = to_array(run.unattributed);
  d["markets"] = mkt;
  py::array_t<double> cm({static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(M)});
  std::copy(run.contagion.begin(), run.contagion.end(), cm.mutable_data());
  d["contagion"] = cm;
  py::dict t;
  t["notional"] = run.total_notional;
  t["deficit"] = run.total_deficit;
  t["surplus"] = run.total_surplus;
  t["fees"] = run.total_fees;
  t["inventory_loss"] = run.total_inventory_loss;
  t["bad_debt"] = run.bad_debt;
  t["insurance_draw"] = run.total_draw;
  t["residual"] = run.total_residual;
  t["insurance_fund"] = run.fund_after;
  d["totals"] = t;
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
    double resilience, int mark_rule, std::int64_t max_rounds, const std::optional<F64Array>& correlation) {
  Prepared in = prepare(marks, contract, contract_size, floors, rates, books, collateral, asset_prices, haircuts,
                        size_discount, account, market, size, entry_price, resilience, mark_rule, max_rounds);
  const std::span<const double> corr = correlation ? view(*correlation) : std::span<const double>{};
  py::gil_scoped_release release;
  Snapshots snap(in.locked);
  return std::make_unique<AccountStressPlan>(std::move(in.markets), std::move(snap.books), in.col, in.pf, policy,
                                             fund, in.prm, corr);
}

py::dict run_account_plan(const AccountStressPlan& plan, std::uint64_t first, std::size_t count, std::size_t steps,
                          double mu, const F64Array& sigma, double intensity, double jump_mean, double jump_std,
                          double dt, std::uint64_t seed, const std::optional<F64Array>& factors, unsigned threads) {
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
           largest = f(S), second = f(S);
  I64Array accounts = empty_i64(S), rounds = empty_i64(S);
  py::array_t<std::uint8_t> converged(static_cast<py::ssize_t>(S));
  F64Array final_marks = f(S * M), by_market = f(S * M), contagion = f(S * M * M);
  const AccountStressOutputs out{mutable_view(deficit),     mutable_view(draw),      mutable_view(residual),
                                 mutable_view(fund_after),  mutable_view(notional),  mutable_view(fees),
                                 mutable_view(largest),     mutable_view(second),    mutable_view(accounts),
                                 mutable_view(rounds),      {converged.mutable_data(), S},
                                 mutable_view(final_marks), mutable_view(by_market), mutable_view(contagion)};
  const std::span<const double> fs = factors ? view(*factors) : std::span<const double>{};
  {
    py::gil_scoped_release release;
    plan.run(first, count, steps, model, seed, fs, threads, out);
  }
  py::dict d;
  d["deficit"] = deficit;
  d["insurance_draw"] = draw;
  d["residual"] = residual;
  d["insurance_fund"] = fund_after;
  d["liquidated_notional"] = notional;
  d["fees"] = fees;
  d["largest_loss"] = largest;
  d["second_largest_loss"] = second;
  d["liquidated_accounts"] = accounts;
  d["rounds"] = rounds;
  d["converged"] = converged;
  d["final_marks"] = final_marks;
  d["deficit_by_market"] = by_market;
  d["contagion"] = contagion;
  return d;
}

}  // namespace

void register_contagion(py::module_& m) {
  m.def("simulate_contagion", &simulate_contagion_batch, py::arg("marks"), py::arg("contract"),
        py::arg("contract_size"), py::arg("floors"), py::arg("rates"), py::arg("books"), py::arg("collateral"),
        py::arg("asset_prices"), py::arg("haircuts"), py::arg("size_discount"), py::arg("account"),
        py::arg("market"), py::arg("size"), py::arg("entry_price"), py::arg("shocks"), py::arg("policy"),
        py::arg("fund"), py::arg("resilience"), py::arg("mark_rule"), py::arg("max_rounds"));
  py::class_<AccountStressPlan>(m, "AccountStressPlan")
      .def(py::init(&make_account_plan), py::arg("marks"), py::arg("contract"), py::arg("contract_size"),
           py::arg("floors"), py::arg("rates"), py::arg("books"), py::arg("collateral"), py::arg("asset_prices"),
           py::arg("haircuts"), py::arg("size_discount"), py::arg("account"), py::arg("market"), py::arg("size"),
           py::arg("entry_price"), py::arg("policy"), py::arg("fund"), py::arg("resilience"), py::arg("mark_rule"),
           py::arg("max_rounds"), py::arg("correlation"))
      .def_property_readonly("markets", &AccountStressPlan::markets)
      .def_property_readonly("cholesky",
                             [](const AccountStressPlan& p) {
                               const std::size_t M = p.markets();
                               py::array_t<double> a({static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(M)});
                               std::copy(p.cholesky().begin(), p.cholesky().end(), a.mutable_data());
                               return a;
                             })
      .def("run", &run_account_plan, py::arg("first"), py::arg("count"), py::arg("steps"), py::arg("mu"),
           py::arg("sigma"), py::arg("intensity"), py::arg("jump_mean"), py::arg("jump_std"), py::arg("dt"),
           py::arg("seed"), py::arg("factors"), py::arg("threads"));
}

}  // namespace liqcore::bindings
