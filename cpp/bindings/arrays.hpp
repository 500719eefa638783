// NumPy <-> std::span plumbing shared by the bind_*.cpp files.
// The Python layer has already coerced inputs to C-contiguous float64 / int64, so these
// conversions never copy on the normal path (forcecast is a safety net for direct _core use).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "liqcore/column.hpp"
#include "liqcore/waterfall.hpp"

namespace liqcore::bindings {

namespace py = pybind11;

using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

inline std::span<const double> view(const F64Array& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}
inline std::span<const std::int64_t> view(const I64Array& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}
inline std::span<double> mutable_view(F64Array& a) {
  return {a.mutable_data(), static_cast<std::size_t>(a.size())};
}
inline std::span<std::int64_t> mutable_view(I64Array& a) {
  return {a.mutable_data(), static_cast<std::size_t>(a.size())};
}
inline Column column(const F64Array& a) { return Column{view(a)}; }

// A fresh 1-D output array (allocated while holding the GIL).
inline F64Array empty_f64(std::size_t n) { return F64Array(static_cast<py::ssize_t>(n)); }
inline I64Array empty_i64(std::size_t n) { return I64Array(static_cast<py::ssize_t>(n)); }

// A NumPy array that takes over the vector's buffer (no copy): the one array-owning helper.
template <class T>
py::array_t<T> adopt(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(owned->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                        owned->data(), owner);
}

// A ledger as the results carry it: "ledger" (float64 amounts, one per LedgerRow) and
// "ledger_balance" (their compensated sum).
inline void put_ledger(py::dict& d, const Ledger& ledger) {
  const auto amounts = ledger.amounts();
  F64Array a = empty_f64(amounts.size());
  std::copy(amounts.begin(), amounts.end(), a.mutable_data());
  d["ledger"] = a;
  d["ledger_balance"] = ledger.balance();
}

}  // namespace liqcore::bindings
