// Bindings for the ADL / socialized-loss allocators (liqcore/adl.hpp).
#include <pybind11/pybind11.h>

#include <string>

#include "arrays.hpp"
#include "liqcore/adl.hpp"
#include "liqcore/margin.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

Contract contract_of(const std::string& name) {
  if (name == "linear") return Contract::linear;
  if (name == "inverse") return Contract::inverse;
  throw InvalidArgument("contract", -1, "must be one of 'linear', 'inverse' (got '" + name + "')");
}

}  // namespace

void register_adl(py::module_& m) {
  m.def(
      "adl_queue",
      [](const F64Array& capacity, const F64Array& scores, double amount) {
        F64Array out = empty_f64(static_cast<std::size_t>(capacity.size()));
        auto t = mutable_view(out);
        py::gil_scoped_release release;
        adl::queue(view(capacity), view(scores), amount, t);
        return out;
      },
      py::arg("capacity"), py::arg("scores"), py::arg("amount"));
  m.def(
      "adl_pro_rata",
      [](const F64Array& capacity, double amount) {
        F64Array out = empty_f64(static_cast<std::size_t>(capacity.size()));
        auto t = mutable_view(out);
        py::gil_scoped_release release;
        adl::pro_rata(view(capacity), amount, t);
        return out;
      },
      py::arg("capacity"), py::arg("amount"));
  m.def(
      "adl_capped_pro_rata",
      [](const F64Array& capacity, const F64Array& caps, double amount) {
        F64Array out = empty_f64(static_cast<std::size_t>(capacity.size()));
        auto t = mutable_view(out);
        py::gil_scoped_release release;
        adl::capped_pro_rata(view(capacity), view(caps), amount, t);
        return out;
      },
      py::arg("capacity"), py::arg("caps"), py::arg("amount"));
  m.def(
      "adl_risk_aware",
      [](const F64Array& capacity, const F64Array& weights, const F64Array& caps, double amount) {
        F64Array out = empty_f64(static_cast<std::size_t>(capacity.size()));
        auto t = mutable_view(out);
        py::gil_scoped_release release;
        adl::risk_aware(view(capacity), view(weights), view(caps), amount, t);
        return out;
      },
      py::arg("capacity"), py::arg("weights"), py::arg("caps"), py::arg("amount"));
  m.def(
      "adl_rank",
      [](const F64Array& size, const F64Array& entry_price, const F64Array& margin, double mark,
         const std::string& contract, double contract_size) {
        const ContractSpec c{contract_of(contract), contract_size};
        F64Array out = empty_f64(static_cast<std::size_t>(size.size()));
        auto s = mutable_view(out);
        py::gil_scoped_release release;
        adl::rank(c, view(size), view(entry_price), view(margin), mark, s);
        return out;
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"),
      py::arg("contract") = "linear", py::arg("contract_size") = 1.0);
  m.def(
      "adl_socialize",
      [](const F64Array& size, double amount) {
        F64Array out = empty_f64(static_cast<std::size_t>(size.size()));
        auto c = mutable_view(out);
        py::gil_scoped_release release;
        adl::socialize(view(size), amount, c);
        return out;
      },
      py::arg("size"), py::arg("amount"));
}

}  // namespace liqcore::bindings
