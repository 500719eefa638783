// Bindings for margin math (liqcore/margin.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "arrays.hpp"
#include "liqcore/margin.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

// Output length: the length of the array inputs (the kernel checks they agree); 1 if all
// inputs are scalars.
std::size_t out_len(std::initializer_list<const F64Array*> xs) {
  std::size_t n = 1;
  for (const F64Array* x : xs)
    if (x->ndim() != 0 && x->size() != 1) return static_cast<std::size_t>(x->size());
  for (const F64Array* x : xs)
    if (x->ndim() != 0) n = static_cast<std::size_t>(x->size());
  return n;
}

F64Array copy_out(const std::vector<double>& v) {
  return F64Array(static_cast<py::ssize_t>(v.size()), v.data());
}

ContractSpec spec(bool inverse, double contract_size) {
  return ContractSpec{inverse ? Contract::inverse : Contract::linear, contract_size};
}

}  // namespace

void register_margin(py::module_& m) {
  py::class_<Tiers>(m, "Tiers")
      .def(py::init([](const F64Array& floors, const F64Array& mmr) {
             return Tiers::from_floors(view(floors), view(mmr));
           }),
           py::arg("floors"), py::arg("mmr"))
      .def_property_readonly("floors", [](const Tiers& t) { return copy_out(t.floor); })
      .def_property_readonly("mmr", [](const Tiers& t) { return copy_out(t.mmr); })
      .def_property_readonly("cum", [](const Tiers& t) { return copy_out(t.cum); })
      .def("__len__", &Tiers::size)
      .def(
          "maintenance",
          [](const Tiers& t, const F64Array& notional) {
            auto out = empty_f64(static_cast<std::size_t>(notional.size()));
            auto o = mutable_view(out);
            const auto x = view(notional);
            py::gil_scoped_release release;
            for (std::size_t i = 0; i < x.size(); ++i) o[i] = t.maintenance(x[i]);
            return out;
          },
          py::arg("notional"))
      .def(
          "tier_of",
          [](const Tiers& t, const F64Array& notional) {
            auto out = empty_i64(static_cast<std::size_t>(notional.size()));
            auto o = mutable_view(out);
            const auto x = view(notional);
            py::gil_scoped_release release;
            for (std::size_t i = 0; i < x.size(); ++i) o[i] = static_cast<std::int64_t>(t.tier_of(x[i]));
            return out;
          },
          py::arg("notional"));

  m.def(
      "equity",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mark, bool inverse,
         double cs, std::size_t threads) {
        auto out = empty_f64(out_len({&size, &ep, &margin, &mark}));
        py::gil_scoped_release release;
        equity(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), mutable_view(out), threads);
        return out;
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"), py::arg("inverse"),
      py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "maintenance_margin",
      [](const F64Array& size, const F64Array& mark, const F64Array& mmr, const Tiers* tiers, bool inverse,
         double cs, std::size_t threads) {
        auto out = empty_f64(tiers ? out_len({&size, &mark}) : out_len({&size, &mark, &mmr}));
        py::gil_scoped_release release;
        if (tiers)
          maintenance_margin(spec(inverse, cs), column(size), column(mark), *tiers, mutable_view(out), threads);
        else
          maintenance_margin(spec(inverse, cs), column(size), column(mark), column(mmr), mutable_view(out), threads);
        return out;
      },
      py::arg("size"), py::arg("mark"), py::arg("mmr"), py::arg("tiers").none(true), py::arg("inverse"),
      py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "bankruptcy_price",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, bool inverse, double cs, std::size_t threads) {
        auto out = empty_f64(out_len({&size, &ep, &margin}));
        py::gil_scoped_release release;
        bankruptcy_price(spec(inverse, cs), column(size), column(ep), column(margin), mutable_view(out), threads);
        return out;
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "liquidation_price",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mmr, const Tiers* tiers,
         bool mm_at_entry, bool inverse, double cs, std::size_t threads) {
        auto out = empty_f64(tiers ? out_len({&size, &ep, &margin}) : out_len({&size, &ep, &margin, &mmr}));
        py::gil_scoped_release release;
        if (tiers)
          liquidation_price(spec(inverse, cs), column(size), column(ep), column(margin), *tiers, mm_at_entry,
                            mutable_view(out), threads);
        else
          liquidation_price(spec(inverse, cs), column(size), column(ep), column(margin), column(mmr), mm_at_entry,
                            mutable_view(out), threads);
        return out;
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mmr"), py::arg("tiers").none(true),
      py::arg("mm_at_entry"), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "margin_ratio",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mark,
         const F64Array& mmr, const Tiers* tiers, bool inverse, double cs, std::size_t threads) {
        auto out = empty_f64(tiers ? out_len({&size, &ep, &margin, &mark})
                                   : out_len({&size, &ep, &margin, &mark, &mmr}));
        py::gil_scoped_release release;
        if (tiers)
          margin_ratio(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), *tiers,
                       mutable_view(out), threads);
        else
          margin_ratio(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), column(mmr),
                       mutable_view(out), threads);
        return out;
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"), py::arg("mmr"),
      py::arg("tiers").none(true), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0);
}

}  // namespace liqcore::bindings
