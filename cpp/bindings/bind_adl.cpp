// Bindings for the ADL / socialized-loss allocators (liqcore/adl.hpp).
#include <pybind11/pybind11.h>

#include <span>
#include <string>

#include "arrays.hpp"
#include "liqcore/adl.hpp"
#include "liqcore/margin.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

Contract contract_of(const std::string& name) {
  return choice<Contract>("contract", name, {{"linear", Contract::linear}, {"inverse", Contract::inverse}});
}

// An allocator of `amount` over `capacity` that reads one more column per entry (the queue's
// scores, the capped rule's caps): bound as f(capacity, <column>, amount) -> transfers.
using ColumnRule = void (*)(std::span<const double>, std::span<const double>, double, std::span<double>);

void def_column_rule(py::module_& m, const char* name, ColumnRule rule, const char* column) {
  m.def(
      name,
      [rule](const F64Array& capacity, const F64Array& x, double amount) {
        return filled(size_of(capacity), [&](std::span<double> t) { rule(view(capacity), view(x), amount, t); });
      },
      py::arg("capacity"), py::arg(column), py::arg("amount"));
}

}  // namespace

void register_adl(py::module_& m) {
  def_column_rule(m, "adl_queue", adl::queue, "scores");
  m.def(
      "adl_pro_rata",
      [](const F64Array& capacity, double amount) {
        return filled(size_of(capacity), [&](std::span<double> t) { adl::pro_rata(view(capacity), amount, t); });
      },
      py::arg("capacity"), py::arg("amount"));
  def_column_rule(m, "adl_capped_pro_rata", adl::capped_pro_rata, "caps");
  m.def(
      "adl_risk_aware",
      [](const F64Array& capacity, const F64Array& weights, const F64Array& caps, double amount) {
        return filled(size_of(capacity), [&](std::span<double> t) {
          adl::risk_aware(view(capacity), view(weights), view(caps), amount, t);
        });
      },
      py::arg("capacity"), py::arg("weights"), py::arg("caps"), py::arg("amount"));
  m.def(
      "adl_rank",
      [](const F64Array& size, const F64Array& entry_price, const F64Array& margin, double mark,
         const std::string& contract, double contract_size) {
        const ContractSpec c{contract_of(contract), contract_size};
        return filled(size_of(size), [&](std::span<double> s) {
          adl::rank(c, view(size), view(entry_price), view(margin), mark, s);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"),
      py::arg("contract") = "linear", py::arg("contract_size") = 1.0);
  m.def(
      "adl_socialize",
      [](const F64Array& size, double amount) {
        return filled(size_of(size), [&](std::span<double> c) { adl::socialize(view(size), amount, c); });
      },
      py::arg("size"), py::arg("amount"));
}

}  // namespace liqcore::bindings
