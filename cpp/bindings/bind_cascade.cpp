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

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

py::dict simulate_cascade_batch(const F64Array& size, const F64Array& entry_price, const F64Array& margin,
                                const LockedBook& book, double mark, double shock, const LiquidationPolicy& policy,
                                double fund, double resilience, int mark_rule, std::int64_t max_rounds,
                                const std::vector<double>& mark_params) {
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
  const std::vector<RoundTrace>& rt = run.rounds;
  const CascadeTotals& t = run.totals;
  py::dict trace = round_trace({{"mark_before", column_of<double>(rt, &RoundTrace::mark_before)},
                                {"mark", column_of<double>(rt, &RoundTrace::mark_after)},
                                {"liquidated", column_of<std::int64_t>(rt, &RoundTrace::liquidated)}},
                               rt);
  // the money only a single-market round traces: its fund's inventory and the residual's transfers
  put(trace, {{"inventory_loss", column_of<double>(rt, &RoundTrace::inventory_loss)},
              {"unabsorbed", column_of<double>(rt, &RoundTrace::unabsorbed)},
              {"bad_debt", column_of<double>(rt, &RoundTrace::bad_debt)},
              {"adl_transfers", column_of<double>(rt, &RoundTrace::adl_transfers)}});
  py::dict totals = cascade_totals({{"liquidations", t.liquidations}, {"rounds", t.rounds}}, t);
  put(totals, {{"inventory_gain", t.inventory_gain.value()},
               {"unabsorbed", t.unabsorbed.value()},
               {"end_held", run.end.held},
               {"end_unabsorbed", run.end.unabsorbed},
               {"end_inventory_loss", run.end.inventory_loss},
               {"end_insurance_draw", run.end.draw},
               {"end_residual", run.end.residual},
               {"end_adl_transfers", run.end.adl_transfers},
               {"adl_transfers", t.adl_transfers.value()},
               {"insurance_fund", run.fund_after},
               {"shocked_mark", run.shocked_mark},
               {"final_mark", run.final_mark},
               {"converged", run.converged}});
  py::dict d = dict_of({
      {"trace", trace},
      {"position", adopt(std::move(out.position))},
      {"round", adopt(std::move(out.round))},
      {"closed", adopt(std::move(out.closed))},
      {"vwap", adopt(std::move(out.vwap))},
      {"deficit", adopt(std::move(out.deficit))},
      {"surplus", adopt(std::move(out.surplus))},
      {"fee", adopt(std::move(out.fee))},
      {"insurance_draw", adopt(std::move(out.draw))},
      {"shortfall", adopt(std::move(out.shortfall))},
      {"inventory_loss", adopt(std::move(out.inventory_loss))},
      {"adl", adl},
      {"totals", totals},
  });
  put_ledger(d, run.ledger);
  d["book"] = py::cast(std::make_unique<LockedBook>(std::move(run.book)));
  return d;
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
  m.def("simulate_cascade", &simulate_cascade_batch, py::arg("size"), py::arg("entry_price"), py::arg("margin"),
        py::arg("book"), py::arg("mark"), py::arg("shock"), py::arg("policy"), py::arg("fund"),
        py::arg("resilience"), py::arg("mark_rule"), py::arg("max_rounds"),
        py::arg("mark_params") = std::vector<double>{});
}

}  // namespace liqcore::bindings
