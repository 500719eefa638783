// Bindings for margin math (liqcore/margin.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "liqcore/margin.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

// The inputs of a kernel call; a null entry is an input the call does not read (the rates
// with tiers, see rates()).
using Inputs = std::initializer_list<const F64Array*>;

// The rates a kernel reads: none with tiers.
const F64Array* rates(const F64Array& mmr, const Tiers* tiers) { return tiers ? nullptr : &mmr; }

// Output length: the length of the array inputs (the kernel checks they agree); 1 if all
// inputs are scalars.
std::size_t out_len(Inputs xs) {
  std::size_t n = 1;
  for (const F64Array* x : xs)
    if (x && x->ndim() != 0 && x->size() != 1) return static_cast<std::size_t>(x->size());
  for (const F64Array* x : xs)
    if (x && x->ndim() != 0) n = static_cast<std::size_t>(x->size());
  return n;
}

// `out` as the kernels' output span: a guard, so that direct _core calls cannot break the
// kernels' __restrict contract (liqcore.margin checks the same rules first, with the messages
// users see). Raises unless out is a writeable, aligned, C-contiguous float64 array of n
// elements whose bytes overlap no input.
std::span<double> out_span(const py::object& out, std::size_t n, Inputs xs) {
  if (!py::isinstance<py::array_t<double>>(out)) throw py::type_error("out must be a float64 ndarray or None");
  auto a = py::reinterpret_borrow<py::array>(out);
  constexpr int need = static_cast<int>(py::array::c_style) | static_cast<int>(py::detail::npy_api::NPY_ARRAY_ALIGNED_);
  if (a.ndim() != 1 || size_of(a) != n || (a.flags() & need) != need || !a.writeable())
    throw InvalidArgument("out", -1,
                          "must be a writeable, aligned, C-contiguous array of " + std::to_string(n) + " elements");
  auto* lo = static_cast<const char*>(a.data());
  const char* hi = lo + n * sizeof(double);
  for (const F64Array* x : xs) {
    if (!x) continue;
    auto* xlo = reinterpret_cast<const char*>(x->data());
    if (xlo < hi && lo < xlo + size_of(*x) * sizeof(double))
      throw InvalidArgument("out", -1, "must not overlap an input");
  }
  return {static_cast<double*>(a.mutable_data()), n};
}

// `flags` as the byte the kernel's "undefined" report goes to: None (not reported), or a
// writeable uint8 array of one element (raises otherwise).
std::uint8_t* flag_byte(const py::object& flags) {
  if (flags.is_none()) return nullptr;
  if (!py::isinstance<py::array_t<std::uint8_t>>(flags)) throw py::type_error("flags must be a uint8 ndarray or None");
  auto a = py::reinterpret_borrow<py::array>(flags);
  if (a.size() != 1 || !a.writeable()) throw InvalidArgument("flags", -1, "must be a writeable array of 1 element");
  return static_cast<std::uint8_t*>(a.mutable_data());
}

// The result of a kernel over the inputs xs: a fresh array (out None) or out itself, which
// kernel(span) fills with the GIL released. flags[0] (unless flags is None) is then set to 1
// when the kernel reports that some result may be NaN at a nonzero size, else 0
// (liqcore.margin's _out looks for that NaN only then).
template <class Kernel>
py::object result(const py::object& out, const py::object& flags, Inputs xs, const Kernel& kernel) {
  const std::size_t n = out_len(xs);
  std::uint8_t* flag = flag_byte(flags);
  bool undefined = false;
  py::object r = out;
  if (out.is_none()) {
    r = filled(n, [&](std::span<double> o) { undefined = kernel(o); });
  } else {
    const std::span<double> o = out_span(out, n, xs);
    py::gil_scoped_release release;
    undefined = kernel(o);
  }
  if (flag) *flag = undefined ? 1 : 0;
  return r;
}

ContractSpec spec(bool inverse, double contract_size) {
  return ContractSpec{inverse ? Contract::inverse : Contract::linear, contract_size};
}

}  // namespace

void register_margin(py::module_& m) {
  // The block loops of the margin kernels (liqcore/margin.hpp, "instruction-set dispatch"):
  // LIQCORE_FORCE_BASELINE=1 in the environment at import, or this private switch (tests,
  // benchmarks), forces the baseline ones; the results are the same bits either way.
  if (const char* e = std::getenv("LIQCORE_FORCE_BASELINE"); e && *e && std::string(e) != "0")
    force_baseline_isa(true);
  m.def(
      "_kernel_isa",
      [](const py::object& force_baseline) {
        if (!force_baseline.is_none()) force_baseline_isa(force_baseline.cast<bool>());
        return std::string(kernel_isa());
      },
      py::arg("force_baseline") = py::none());

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
         double cs, std::size_t threads, const py::object& out, const py::object& flags) {
        return result(out, flags, {&size, &ep, &margin, &mark}, [&](std::span<double> o) {
          return equity(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"), py::arg("inverse"),
      py::arg("contract_size"), py::arg("threads") = 0, py::arg("out") = py::none(), py::arg("flags") = py::none());

  m.def(
      "maintenance_margin",
      [](const F64Array& size, const F64Array& mark, const F64Array& mmr, const Tiers* tiers, bool inverse,
         double cs, std::size_t threads, const py::object& out, const py::object& flags) {
        return result(out, flags, {&size, &mark, rates(mmr, tiers)}, [&](std::span<double> o) {
          if (tiers)
            return maintenance_margin(spec(inverse, cs), column(size), column(mark), *tiers, o, threads);
          else
            return maintenance_margin(spec(inverse, cs), column(size), column(mark), column(mmr), o, threads);
        });
      },
      py::arg("size"), py::arg("mark"), py::arg("mmr"), py::arg("tiers").none(true), py::arg("inverse"),
      py::arg("contract_size"), py::arg("threads") = 0, py::arg("out") = py::none(), py::arg("flags") = py::none());

  m.def(
      "bankruptcy_price",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, bool inverse, double cs, std::size_t threads,
         const py::object& out, const py::object& flags) {
        return result(out, flags, {&size, &ep, &margin}, [&](std::span<double> o) {
          return bankruptcy_price(spec(inverse, cs), column(size), column(ep), column(margin), o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0,
      py::arg("out") = py::none(), py::arg("flags") = py::none());

  m.def(
      "liquidation_price",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mmr, const Tiers* tiers,
         bool mm_at_entry, bool inverse, double cs, std::size_t threads, const py::object& out,
         const py::object& flags) {
        return result(out, flags, {&size, &ep, &margin, rates(mmr, tiers)}, [&](std::span<double> o) {
          if (tiers)
            return liquidation_price(spec(inverse, cs), column(size), column(ep), column(margin), *tiers,
                                     mm_at_entry, o, threads);
          else
            return liquidation_price(spec(inverse, cs), column(size), column(ep), column(margin), column(mmr),
                                     mm_at_entry, o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mmr"), py::arg("tiers").none(true),
      py::arg("mm_at_entry"), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0,
      py::arg("out") = py::none(), py::arg("flags") = py::none());

  m.def(
      "margin_ratio",
      [](const F64Array& size, const F64Array& ep, const F64Array& margin, const F64Array& mark,
         const F64Array& mmr, const Tiers* tiers, bool inverse, double cs, std::size_t threads,
         const py::object& out, const py::object& flags) {
        return result(out, flags, {&size, &ep, &margin, &mark, rates(mmr, tiers)}, [&](std::span<double> o) {
          if (tiers)
            return margin_ratio(spec(inverse, cs), column(size), column(ep), column(margin), column(mark), *tiers,
                                o, threads);
          else
            return margin_ratio(spec(inverse, cs), column(size), column(ep), column(margin), column(mark),
                                column(mmr), o, threads);
        });
      },
      py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("mark"), py::arg("mmr"),
      py::arg("tiers").none(true), py::arg("inverse"), py::arg("contract_size"), py::arg("threads") = 0,
      py::arg("out") = py::none(), py::arg("flags") = py::none());
}

}  // namespace liqcore::bindings
