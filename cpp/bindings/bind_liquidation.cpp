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

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

// An option index from Python, checked against the number of choices.
template <class E>
E option(const char* name, int v, int count) {
  if (v < 0 || v >= count)
    throw InvalidArgument(name, -1, "must be an option index in [0, " + std::to_string(count) + ") (got " +
                                        std::to_string(v) + ")");
  return static_cast<E>(v);
}

// A NumPy array that takes over the vector's buffer (no copy).
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), owner);
}

py::dict liquidate_batch(const F64Array& size, const F64Array& entry_price, const F64Array& margin,
                         const LockedBook& book, double mark, const LiquidationPolicy& policy, double fund) {
  const std::size_t n = static_cast<std::size_t>(size.size());
  if (static_cast<std::size_t>(entry_price.size()) != n || static_cast<std::size_t>(margin.size()) != n)
    throw InvalidArgument("positions", -1, "columns must have the same length");
  const PositionColumns pos{view(size), view(entry_price), view(margin)};
  LiquidationOutputs out;
  Book after;
  LiquidationTotals tot;
  {
    py::gil_scoped_release release;
    auto lock = book.lock_shared();
    tot = liquidate(pos, book, mark, policy, fund, out, after);
  }
  py::dict d;
  d["liquidated"] = to_numpy(std::move(out.liquidated));
  d["order"] = to_numpy(std::move(out.order));
  d["closed"] = to_numpy(std::move(out.closed));
  d["book_closed"] = to_numpy(std::move(out.book_closed));
  d["fallback_closed"] = to_numpy(std::move(out.fallback_closed));
  d["vwap"] = to_numpy(std::move(out.vwap));
  d["deficit"] = to_numpy(std::move(out.deficit));
  d["surplus"] = to_numpy(std::move(out.surplus));
  d["fee"] = to_numpy(std::move(out.fee));
  d["insurance_draw"] = to_numpy(std::move(out.insurance_draw));
  d["shortfall"] = to_numpy(std::move(out.shortfall));
  d["inventory_loss"] = to_numpy(std::move(out.inventory_loss));
  d["adl"] = to_numpy(std::move(out.adl));
  py::dict t;
  t["liquidated"] = tot.liquidated;
  t["closed_notional"] = tot.closed_notional;
  t["fees"] = tot.fees;
  t["deficit"] = tot.deficit;
  t["surplus"] = tot.surplus;
  t["inventory_loss"] = tot.inventory_loss;
  t["inventory_gain"] = tot.inventory_gain;
  t["unabsorbed"] = tot.unabsorbed;
  t["bad_debt"] = tot.bad_debt;
  t["insurance_draw"] = tot.insurance_draw;
  t["residual"] = tot.residual;
  t["adl_transfers"] = tot.adl_transfers;
  t["uncovered"] = tot.uncovered;
  t["insurance_fund"] = tot.fund_after;
  d["totals"] = t;
  const auto amounts = tot.ledger.amounts();
  F64Array ledger = empty_f64(amounts.size());
  std::copy(amounts.begin(), amounts.end(), ledger.mutable_data());
  d["ledger"] = ledger;
  d["ledger_balance"] = tot.ledger.balance();
  d["book"] = py::cast(std::make_unique<LockedBook>(after));
  return d;
}

}  // namespace

void register_liquidation(py::module_& m) {
  py::class_<LiquidationPolicy>(m, "LiquidationPolicy")
      .def(py::init<>())
      .def_property(
          "contract", [](const LiquidationPolicy& p) { return static_cast<int>(p.contract.kind); },
          [](LiquidationPolicy& p, int v) { p.contract.kind = option<Contract>("contract", v, 2); })
      .def_property(
          "contract_size", [](const LiquidationPolicy& p) { return p.contract.contract_size; },
          [](LiquidationPolicy& p, double v) { p.contract.contract_size = v; })
      .def("set_tiers",
           [](LiquidationPolicy& p, const F64Array& floors, const F64Array& rates) {
             p.tiers = Tiers::from_floors(view(floors), view(rates));
           })
      .def_property(
          "order", [](const LiquidationPolicy& p) { return static_cast<int>(p.order); },
          [](LiquidationPolicy& p, int v) { p.order = option<LiquidationOrder>("order", v, 3); })
      .def_property(
          "sizing", [](const LiquidationPolicy& p) { return static_cast<int>(p.sizing); },
          [](LiquidationPolicy& p, int v) { p.sizing = option<Sizing>("sizing", v, 3); })
      .def_readwrite("buffer", &LiquidationPolicy::buffer)
      .def_readwrite("slice_threshold", &LiquidationPolicy::slice_threshold)
      .def_readwrite("slice_fraction", &LiquidationPolicy::slice_fraction)
      .def_property(
          "execution", [](const LiquidationPolicy& p) { return static_cast<int>(p.execution); },
          [](LiquidationPolicy& p, int v) { p.execution = option<Execution>("execution", v, 2); })
      .def_readwrite("takeover_fee", &LiquidationPolicy::takeover_fee)
      .def_readwrite("backstop", &LiquidationPolicy::backstop)
      .def_property(
          "limit", [](const LiquidationPolicy& p) { return static_cast<int>(p.limit); },
          [](LiquidationPolicy& p, int v) { p.limit = option<LimitRule>("limit", v, 3); })
      .def_readwrite("ba", &LiquidationPolicy::ba)
      .def_readwrite("smmr", &LiquidationPolicy::smmr)
      .def_property(
          "fee", [](const LiquidationPolicy& p) { return static_cast<int>(p.fee); },
          [](LiquidationPolicy& p, int v) { p.fee = option<FeeRule>("fee", v, 3); })
      .def_readwrite("fee_cap", &LiquidationPolicy::fee_cap)
      .def_readwrite("fee_rate", &LiquidationPolicy::fee_rate)
      .def_readwrite("reserve", &LiquidationPolicy::reserve)
      .def_readwrite("refuse_uncovered", &LiquidationPolicy::refuse_uncovered)
      .def_readwrite("price_band", &LiquidationPolicy::price_band)
      .def_property(
          "residual", [](const LiquidationPolicy& p) { return static_cast<int>(p.residual); },
          [](LiquidationPolicy& p, int v) { p.residual = option<ResidualRule>("residual", v, 6); })
      .def_readwrite("adl_cap", &LiquidationPolicy::adl_cap);

  m.def("liquidate", &liquidate_batch, py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("book"),
        py::arg("mark"), py::arg("policy"), py::arg("fund"));
}

}  // namespace liqcore::bindings
