// Bindings for liquidation cascades (liqcore/cascade.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "arrays.hpp"
#include "liqcore/cascade.hpp"
#include "locked_book.hpp"
#include "mark.hpp"
#include "registry.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

// The totals of a single-market cascade: the kernel's sums over the rounds, the inventory the
// fund still held at the end (valued), the fund after and the marks.
struct CascadeRunTotals {
  CascadeTotals sums;
  CascadeEngine::EndValuation end;
  double insurance_fund = 0.0, shocked_mark = 0.0, final_mark = 0.0;
  bool converged = true;
};

// What simulate_cascade() returns: the rounds, the CloseOutput columns and "position", "round",
// "surplus" per liquidated position (in the order of their first liquidation; adl per position),
// the totals and the book after.
#define LIQCORE_CASCADE_OUTPUT_FIELDS(X) X(position) X(round) X(surplus)
struct CascadeOutput : CloseOutput {
  Rounds<RoundTrace> trace;
  LIQCORE_CASCADE_OUTPUT_FIELDS(LIQCORE_ARRAY_MEMBER)
  CascadeRunTotals totals;
  py::object book;
};

CascadeOutput simulate_cascade_batch(const F64Array& size, const F64Array& entry_price, const F64Array& margin,
                                     const LockedBook& book, double mark, double shock,
                                     const LiquidationPolicy& policy, double fund, double resilience, int mark_rule,
                                     std::int64_t max_rounds, const std::vector<double>& mark_params) {
  const PositionColumns pos = position_columns(size, entry_price, margin);
  const CascadeParams prm = cascade_params(resilience, mark_rule, max_rounds, mark_params);
  // adl: per position when the residual rule allocates (zeros first), else empty.
  const std::size_t n_adl = policy.residual != ResidualRule::none ? pos.size.size() : 0;
  F64Array adl = empty_f64(n_adl);
  std::fill_n(adl.mutable_data(), n_adl, 0.0);
  CascadeLiquidations out;
  out.adl = mutable_view(adl);
  CascadeRun run;
  {
    py::gil_scoped_release release;
    auto lock = book.lock_shared();
    run = simulate_cascade(pos, book, mark, shock, policy, fund, prm, &out);
  }
  CascadeOutput r;
  r.trace.rounds = std::move(run.rounds);
  r.totals = {run.totals, run.end, run.fund_after, run.shocked_mark, run.final_mark, run.converged};
  r.position = adopt(std::move(out.position));
  r.round = adopt(std::move(out.round));
  r.closed = adopt(std::move(out.closed));
  r.vwap = adopt(std::move(out.vwap));
  r.deficit = adopt(std::move(out.deficit));
  r.surplus = adopt(std::move(out.surplus));
  r.fee = adopt(std::move(out.fee));
  r.insurance_draw = adopt(std::move(out.draw));
  r.shortfall = adopt(std::move(out.shortfall));
  r.inventory_loss = adopt(std::move(out.inventory_loss));
  r.adl = adl;
  r.settle(run.ledger);
  r.book = py::cast(std::make_unique<LockedBook>(std::move(run.book)));
  return r;
}

}  // namespace

void register_cascade(py::module_& m) {
  // The cascade's mark rules, named as in Python; functions take their integer values.
  bind_enum<MarkRule>(m, "MarkRule",
                     {{"last", MarkRule::last},
                      {"mid", MarkRule::mid},
                      {"index", MarkRule::index},
                      {"binance", MarkRule::binance},
                      {"hyperliquid", MarkRule::hyperliquid}});
  // the columns only a single-market round traces: its marks, and its fund's inventory
  bind_rounds<RoundTrace>(m, "CascadeRounds")
      .def_property_readonly("mark_before", round_column<double>(&RoundTrace::mark_before))
      .def_property_readonly("mark", round_column<double>(&RoundTrace::mark_after))
      .def_property_readonly("liquidated", round_column<std::int64_t>(&RoundTrace::liquidated))
      .def_property_readonly("inventory_loss", round_column<double>(&RoundTrace::inventory_loss))
      .def_property_readonly("unabsorbed", round_column<double>(&RoundTrace::unabsorbed))
      .def_property_readonly("bad_debt", round_column<double>(&RoundTrace::bad_debt));
  using T = CascadeRunTotals;
  py::class_<T> totals(m, "CascadeRunTotals");
  def_cascade_totals(totals);
  const auto sum = cascade_sum<T>;
  auto end = [](double CascadeEngine::EndValuation::*v) { return [v](const T& t) { return t.end.*v; }; };
  totals.def_property_readonly("liquidations", [](const T& t) { return t.sums.liquidations; })
      .def_property_readonly("rounds", [](const T& t) { return t.sums.rounds; })
      .def_property_readonly("inventory_gain", sum(&CascadeTotals::inventory_gain))
      .def_property_readonly("unabsorbed", sum(&CascadeTotals::unabsorbed))
      .def_property_readonly("end_held", end(&CascadeEngine::EndValuation::held))
      .def_property_readonly("end_unabsorbed", end(&CascadeEngine::EndValuation::unabsorbed))
      .def_property_readonly("end_inventory_loss", end(&CascadeEngine::EndValuation::inventory_loss))
      .def_property_readonly("end_insurance_draw", end(&CascadeEngine::EndValuation::draw))
      .def_property_readonly("end_residual", end(&CascadeEngine::EndValuation::residual))
      .def_property_readonly("end_adl_transfers", end(&CascadeEngine::EndValuation::adl_transfers))
      .def_readonly("insurance_fund", &T::insurance_fund)
      .def_readonly("shocked_mark", &T::shocked_mark)
      .def_readonly("final_mark", &T::final_mark)
      .def_readonly("converged", &T::converged);
  py::class_<CascadeOutput, CloseOutput> out(m, "CascadeOutput");
  LIQCORE_BIND_FIELDS(out, CascadeOutput, LIQCORE_CASCADE_OUTPUT_FIELDS);
  out.def_readonly("trace", &CascadeOutput::trace)
      .def_readonly("totals", &CascadeOutput::totals)
      .def_readonly("book", &CascadeOutput::book);
  m.def("simulate_cascade", &simulate_cascade_batch, py::arg("size"), py::arg("entry_price"), py::arg("margin"),
        py::arg("book"), py::arg("mark"), py::arg("shock"), py::arg("policy"), py::arg("fund"),
        py::arg("resilience"), py::arg("mark_rule"), py::arg("max_rounds"),
        py::arg("mark_params") = std::vector<double>{});
}

}  // namespace liqcore::bindings

#undef LIQCORE_CASCADE_OUTPUT_FIELDS
