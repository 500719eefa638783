// NumPy <-> std::span plumbing shared by the bind_*.cpp files.
// The Python layer has already coerced inputs to C-contiguous float64 / int64, so these
// conversions never copy on the normal path (forcecast is a safety net for direct _core use).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>

#include "liqcore/column.hpp"

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

}  // namespace liqcore::bindings
