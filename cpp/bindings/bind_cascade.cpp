// Bindings for liquidation cascades (liqcore/cascade.hpp).
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "arrays.hpp"
#include "liqcore/cascade.hpp"
#include "locked_book.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

py::dict simulate_cascade_batch(const F64Array& size, const F64Array& entry_price, const F64Array& margin,
                                const LockedBook& book, double mark, double shock, const LiquidationPolicy& policy,
                                double fund, double resilience, int mark_rule, std::int64_t max_rounds) {
  const std::size_t n = static_cast<std::size_t>(size.size());
  if (static_cast<std::size_t>(entry_price.size()) != n || static_cast<std::size_t>(margin.size()) != n)
    throw InvalidArgument("positions", -1, "columns must have the same length");
  if (mark_rule != 0 && mark_rule != 1) throw InvalidArgument("mark_rule", -1, "must be 0 (last) or 1 (mid)");
  // adl: per position when the residual rule allocates (zeros first), else empty.
  const std::size_t n_adl = policy.residual != ResidualRule::none ? n : 0;
  F64Array adl = empty_f64(n_adl);
  std::fill_n(adl.mutable_data(), n_adl, 0.0);
  CascadeLiquidations out;
  out.adl = mutable_view(adl);
  const PositionColumns pos{view(size), view(entry_price), view(margin)};
  CascadeParams prm;
  prm.resilience = resilience;
  prm.mark_rule = static_cast<MarkRule>(mark_rule);
  prm.max_rounds = max_rounds;
  CascadeRun run;
  {
    py::gil_scoped_release release;
    auto lock = book.lock_shared();
    run = simulate_cascade(pos, book, mark, shock, policy, fund, prm, &out);
  }
  const std::size_t r = run.rounds.size();
  F64Array mark_before = empty_f64(r), mark_after = empty_f64(r), notional = empty_f64(r), r_deficit = empty_f64(r),
           inventory = empty_f64(r), unabsorbed = empty_f64(r), bad_debt = empty_f64(r), fees = empty_f64(r), r_draw = empty_f64(r), residual = empty_f64(r),
           transfers = empty_f64(r), fund_after = empty_f64(r);
  I64Array count = empty_i64(r);
  for (std::size_t k = 0; k < r; ++k) {
    const RoundTrace& t = run.rounds[k];
    mark_before.mutable_data()[k] = t.mark_before;
    mark_after.mutable_data()[k] = t.mark_after;
    count.mutable_data()[k] = t.liquidated;
    notional.mutable_data()[k] = t.notional;
    r_deficit.mutable_data()[k] = t.deficit;
    inventory.mutable_data()[k] = t.inventory_loss;
    unabsorbed.mutable_data()[k] = t.unabsorbed;
    bad_debt.mutable_data()[k] = t.bad_debt;
    fees.mutable_data()[k] = t.fees;
    r_draw.mutable_data()[k] = t.draw;
    residual.mutable_data()[k] = t.residual;
    transfers.mutable_data()[k] = t.adl_transfers;
    fund_after.mutable_data()[k] = t.fund_after;
  }
  py::dict trace;
  trace["mark_before"] = mark_before;
  trace["mark"] = mark_after;
  trace["liquidated"] = count;
  trace["notional"] = notional;
  trace["deficit"] = r_deficit;
  trace["inventory_loss"] = inventory;
  trace["unabsorbed"] = unabsorbed;
  trace["bad_debt"] = bad_debt;
  trace["fees"] = fees;
  trace["insurance_draw"] = r_draw;
  trace["residual"] = residual;
  trace["adl_transfers"] = transfers;
  trace["insurance_fund"] = fund_after;

  py::dict d;
  d["trace"] = trace;
  d["position"] = adopt(std::move(out.position));
  d["round"] = adopt(std::move(out.round));
  d["closed"] = adopt(std::move(out.closed));
  d["vwap"] = adopt(std::move(out.vwap));
  d["deficit"] = adopt(std::move(out.deficit));
  d["surplus"] = adopt(std::move(out.surplus));
  d["fee"] = adopt(std::move(out.fee));
  d["insurance_draw"] = adopt(std::move(out.draw));
  d["shortfall"] = adopt(std::move(out.shortfall));
  d["inventory_loss"] = adopt(std::move(out.inventory_loss));
  d["adl"] = adl;
  const CascadeTotals& t = run.totals;
  py::dict tot;
  tot["liquidations"] = t.liquidations;
  tot["rounds"] = t.rounds;
  tot["notional"] = t.notional.value();
  tot["deficit"] = t.deficit.value();
  tot["surplus"] = t.surplus.value();
  tot["fees"] = t.fees.value();
  tot["inventory_loss"] = t.inventory_loss.value();
  tot["inventory_gain"] = t.inventory_gain.value();
  tot["unabsorbed"] = t.unabsorbed.value();
  tot["bad_debt"] = t.bad_debt();
  tot["end_held"] = run.end.held;
  tot["end_unabsorbed"] = run.end.unabsorbed;
  tot["end_inventory_loss"] = run.end.inventory_loss;
  tot["end_insurance_draw"] = run.end.draw;
  tot["end_residual"] = run.end.residual;
  tot["end_adl_transfers"] = run.end.adl_transfers;
  tot["insurance_draw"] = t.draw.value();
  tot["residual"] = t.residual.value();
  tot["adl_transfers"] = t.adl_transfers.value();
  tot["insurance_fund"] = run.fund_after;
  tot["shocked_mark"] = run.shocked_mark;
  tot["final_mark"] = run.final_mark;
  tot["converged"] = run.converged;
  d["totals"] = tot;
  put_ledger(d, run.ledger);
  d["book"] = py::cast(std::make_unique<LockedBook>(std::move(run.book)));
  return d;
}

}  // namespace

void register_cascade(py::module_& m) {
  // The cascade's mark rules, named as in Python; functions take their integer values.
  py::enum_<MarkRule>(m, "MarkRule").value("last", MarkRule::last).value("mid", MarkRule::mid);
  m.def("simulate_cascade", &simulate_cascade_batch, py::arg("size"), py::arg("entry_price"), py::arg("margin"),
        py::arg("book"), py::arg("mark"), py::arg("shock"), py::arg("policy"), py::arg("fund"),
        py::arg("resilience"), py::arg("mark_rule"), py::arg("max_rounds"));
}

}  // namespace liqcore::bindings
