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
      .def_property_readonly("floors", [](const Tiers& t) { return copy_array(t.floor); })
      .def_property_readonly("mmr", [](const Tiers& t) { return copy_array(t.mmr); })
      .def_property_readonly("cum", [](const Tiers& t) { return copy_array(t.cum); })
      .def("__len__", &Tiers::size)
      .def(
          "maintenance",
          [](const Tiers& t, const F64Array& notional) {
            return filled(size_of(notional), [&](std::span<double> o) {
              for (std::size_t i = 0; i < o.size(); ++i) o[i] = t.maintenance(notional.data()[i]);
            });
          },
          py::arg("notional"))
      .def(
          "tier_of",
          [](const Tiers& t, const F64Array& notional) {
            return filled<I64Array>(size_of(notional), [&](std::span<std::int64_t> o) {
              for (std::size_t i = 0; i < o.size(); ++i)
                o[i] = static_cast<std::int64_t>(t.tier_of(notional.data()[i]));
            });
          },
          py::arg("notional"));

  m.def(
      "equity",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mark, bool inverse,
         double cs, std::size_t threads) {
        return filled(out_len({&size, &ep, &margin, &mark}), [&](std::span<double> o) {
          equity(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"), py::arg("inverse"),
      py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "maintenance_margin",
      [](const F64Array& size, const F64Array& mark, const F64Array& mmr, const Tiers* tiers, bool inverse,
         double cs, std::size_t threads) {
        return filled(tiers ? out_len({&size, &mark}) : out_len({&size, &mark, &mmr}), [&](std::span<double> o) {
          if (tiers)
            maintenance_margin(spec(inverse, cs), column(size), column(mark), *tiers, o, threads);
          else
            maintenance_margin(spec(inverse, cs), column(size), column(mark), column(mmr), o, threads);
        });
      },
      py::arg("size"), py::arg("mark"), py::arg("mmr"), py::arg("tiers").none(true), py::arg("inverse"),
      py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "bankruptcy_price",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, bool inverse, double cs, std::size_t threads) {
        return filled(out_len({&size, &ep, &margin}), [&](std::span<double> o) {
          bankruptcy_price(spec(inverse, cs), column(size), column(ep), column(margin), o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "liquidation_price",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mmr, const Tiers* tiers,
         bool mm_at_entry, bool inverse, double cs, std::size_t threads) {
        const std::size_t n = tiers ? out_len({&size, &ep, &margin}) : out_len({&size, &ep, &margin, &mmr});
        return filled(n, [&](std::span<double> o) {
          if (tiers)
            liquidation_price(spec(inverse, cs), column(size), column(ep), column(margin), *tiers, mm_at_entry, o,
                              threads);
          else
            liquidation_price(spec(inverse, cs), column(size), column(ep), column(margin), column(mmr), mm_at_entry,
                              o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mmr"), py::arg("tiers").none(true),
      py::arg("mm_at_entry"), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0);

  m.def(
      "margin_ratio",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mark,
         const F64Array& mmr, const Tiers* tiers, bool inverse, double cs, std::size_t threads) {
        const std::size_t n =
            tiers ? out_len({&size, &ep, &margin, &mark}) : out_len({&size, &ep, &margin, &mark, &mmr});
        return filled(n, [&](std::span<double> o) {
          if (tiers)
            margin_ratio(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), *tiers, o,
                         threads);
          else
            margin_ratio(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), column(mmr),
                         o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"), py::arg("mmr"),
      py::arg("tiers").none(true), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0);
}

}  // namespace liqcore::bindings
