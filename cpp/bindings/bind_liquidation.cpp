// Bindings for the liquidation engine (liqcore/liquidation.hpp, liqcore/waterfall.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "liqcore/liquidation.hpp"
#include "locked_book.hpp"
#include "registry.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

// What liquidate() returns: the CloseOutput columns (per liquidation, adl per position), the
// columns only a batch has, its totals and the book after the closes and the fund's sales.
#define LIQCORE_LIQUIDATE_OUTPUT_FIELDS(X) X(liquidated) X(order) X(book_closed) X(fallback_closed) X(surplus)
struct LiquidateOutput : CloseOutput {
  LIQCORE_LIQUIDATE_OUTPUT_FIELDS(LIQCORE_ARRAY_MEMBER)
  LiquidationTotals totals;
  py::object book;
};

LiquidateOutput liquidate_batch(const F64Array& size, const F64Array& entry_price, const F64Array& margin,
                                const LockedBook& book, double mark, const LiquidationPolicy& policy, double fund) {
  const PositionColumns pos = position_columns(size, entry_price, margin);
  LiquidationOutputs out;
  Book after;
  LiquidateOutput r;
  {
    py::gil_scoped_release release;
    auto lock = book.lock_shared();
    r.totals = liquidate(pos, book, mark, policy, fund, out, after);
  }
  r.liquidated = adopt(std::move(out.liquidated));
  r.order = adopt(std::move(out.order));
  r.closed = adopt(std::move(out.closed));
  r.book_closed = adopt(std::move(out.book_closed));
  r.fallback_closed = adopt(std::move(out.fallback_closed));
  r.vwap = adopt(std::move(out.vwap));
  r.deficit = adopt(std::move(out.deficit));
  r.surplus = adopt(std::move(out.surplus));
  r.fee = adopt(std::move(out.fee));
  r.insurance_draw = adopt(std::move(out.insurance_draw));
  r.shortfall = adopt(std::move(out.shortfall));
  r.inventory_loss = adopt(std::move(out.inventory_loss));
  r.adl = adopt(std::move(out.adl));
  r.settle(r.totals.ledger);
  r.book = py::cast(std::make_unique<LockedBook>(after));
  return r;
}

}  // namespace

void register_liquidation(py::module_& m) {
  // The policy's options, named as in Python (liqcore.policy reads its choices from these).
  bind_enum<Contract>(m, "Contract", {{"linear", Contract::linear}, {"inverse", Contract::inverse}});
  bind_enum<LiquidationOrder>(m, "LiquidationOrder",
                              {{"underwater", LiquidationOrder::underwater},
                               {"largest", LiquidationOrder::largest},
                               {"given", LiquidationOrder::given}});
  bind_enum<Sizing>(m, "Sizing", {{"full", Sizing::full}, {"partial", Sizing::partial}, {"slices", Sizing::slices}});
  bind_enum<Execution>(m, "Execution", {{"book", Execution::book}, {"takeover", Execution::takeover}});
  bind_enum<LimitRule>(m, "LimitRule",
                       {{"none", LimitRule::none}, {"bankruptcy", LimitRule::bankruptcy}, {"fillable", LimitRule::fillable}});
  bind_enum<SizeRounding>(m, "SizeRounding", {{"down", SizeRounding::down}, {"up", SizeRounding::up}});
  bind_enum<FeeRule>(m, "FeeRule", {{"capped", FeeRule::capped}, {"surplus", FeeRule::surplus}, {"rate", FeeRule::rate}, {"drift", FeeRule::drift}});
  bind_enum<ResidualRule>(m, "ResidualRule",
                          {{"none", ResidualRule::none},
                           {"queue", ResidualRule::queue},
                           {"pro_rata", ResidualRule::pro_rata},
                           {"capped_pro_rata", ResidualRule::capped_pro_rata},
                           {"risk_aware", ResidualRule::risk_aware},
                           {"socialize", ResidualRule::socialize}});

  py::class_<LiquidationPolicy>(m, "LiquidationPolicy")
      .def(py::init<>())
      .def_property(
          "contract", [](const LiquidationPolicy& p) { return p.contract.kind; },
          [](LiquidationPolicy& p, Contract v) { p.contract.kind = v; })
      .def_property(
          "contract_size", [](const LiquidationPolicy& p) { return p.contract.contract_size; },
          [](LiquidationPolicy& p, double v) { p.contract.contract_size = v; })
      .def_property(
          "size_step", [](const LiquidationPolicy& p) { return p.contract.size_step; },
          [](LiquidationPolicy& p, double v) { p.contract.size_step = v; })
      .def_readwrite("size_rounding", &LiquidationPolicy::size_rounding)
      .def("set_tiers",
           [](LiquidationPolicy& p, const F64Array& floors, const F64Array& rates) {
             p.tiers = Tiers::from_floors(view(floors), view(rates));
           })
      .def_readwrite("order", &LiquidationPolicy::order)
      .def_readwrite("sizing", &LiquidationPolicy::sizing)
      .def_readwrite("buffer", &LiquidationPolicy::buffer)
      .def_readwrite("slice_threshold", &LiquidationPolicy::slice_threshold)
      .def_readwrite("slice_fraction", &LiquidationPolicy::slice_fraction)
      .def_readwrite("execution", &LiquidationPolicy::execution)
      .def_readwrite("takeover_fee", &LiquidationPolicy::takeover_fee)
      .def_readwrite("backstop", &LiquidationPolicy::backstop)
      .def_readwrite("limit", &LiquidationPolicy::limit)
      .def_readwrite("ba", &LiquidationPolicy::ba)
      .def_readwrite("smmr", &LiquidationPolicy::smmr)
      .def_readwrite("fee", &LiquidationPolicy::fee)
      .def_readwrite("fee_cap", &LiquidationPolicy::fee_cap)
      .def_readwrite("fee_rate", &LiquidationPolicy::fee_rate)
      .def_readwrite("reserve", &LiquidationPolicy::reserve)
      .def_readwrite("refuse_uncovered", &LiquidationPolicy::refuse_uncovered)
      .def_readwrite("price_band", &LiquidationPolicy::price_band)
      .def_readwrite("residual", &LiquidationPolicy::residual)
      .def_readwrite("adl_cap", &LiquidationPolicy::adl_cap)
      .def_readwrite("max_notional", &LiquidationPolicy::max_notional)
      .def_readwrite("max_orders", &LiquidationPolicy::max_orders);

  bind_close_output(m);
  bind_liquidation_totals<LiquidationTotals>(m, "LiquidationTotals")
      .def_readonly("liquidated", &LiquidationTotals::liquidated);
  py::class_<LiquidateOutput, CloseOutput> out(m, "LiquidateOutput");
  LIQCORE_BIND_FIELDS(out, LiquidateOutput, LIQCORE_LIQUIDATE_OUTPUT_FIELDS);
  out.def_readonly("totals", &LiquidateOutput::totals)
      .def_readonly("book", &LiquidateOutput::book);
  m.def("liquidate", &liquidate_batch, py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("book"),
        py::arg("mark"), py::arg("policy"), py::arg("fund"));
}

}  // namespace liqcore::bindings

#undef LIQCORE_LIQUIDATE_OUTPUT_FIELDS
