// NumPy <-> std::span plumbing shared by the bind_*.cpp files.
// The Python layer has already coerced inputs to C-contiguous float64 / int64, so these
// conversions never copy on the normal path (forcecast is a safety net for direct _core use).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "liqcore/column.hpp"
#include "liqcore/error.hpp"
#include "liqcore/liquidation.hpp"

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
inline std::size_t size_of(const py::array& a) { return static_cast<std::size_t>(a.size()); }

// The columns of a single-market population (InvalidArgument "positions" if their lengths differ).
inline PositionColumns position_columns(const F64Array& size, const F64Array& entry_price, const F64Array& margin) {
  if (size_of(entry_price) != size_of(size) || size_of(margin) != size_of(size))
    throw InvalidArgument("positions", -1, "columns must have the same length");
  return PositionColumns{view(size), view(entry_price), view(margin)};
}

// A fresh 1-D output array (allocated while holding the GIL).
inline F64Array empty_f64(std::size_t n) { return F64Array(static_cast<py::ssize_t>(n)); }
inline I64Array empty_i64(std::size_t n) { return I64Array(static_cast<py::ssize_t>(n)); }

// A NumPy array that takes over the vector's buffer (no copy): the one array-owning helper.
// 1-D, or of the C-order `shape` (whose product is the vector's size).
template <class T, class A>
py::array_t<T> adopt(std::vector<T, A>&& v, std::vector<py::ssize_t> shape = {}) {
  using Owned = std::vector<T, A>;
  auto* owned = new Owned(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<Owned*>(p); });
  if (shape.empty()) shape.push_back(static_cast<py::ssize_t>(owned->size()));
  return py::array_t<T>(std::move(shape), owned->data(), owner);
}

// A fresh 1-D NumPy array holding a copy of `v`.
template <class T>
py::array_t<T> copy_array(std::span<const T> v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}
template <class T>
py::array_t<T> copy_array(const std::vector<T>& v) {
  return copy_array(std::span<const T>(v));
}

// A fresh rows x cols float64 array holding a copy of `v` (row-major, rows·cols values).
inline py::array_t<double> copy_matrix(std::span<const double> v, std::size_t rows, std::size_t cols) {
  py::array_t<double> a({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

// Column `member` of a vector of records (a round trace, say) as a 1-D array of T.
template <class T, class Row, class M>
py::array_t<T> column_of(const std::vector<Row>& rows, M Row::*member) {
  py::array_t<T> a(static_cast<py::ssize_t>(rows.size()));
  T* p = a.mutable_data();
  for (std::size_t k = 0; k < rows.size(); ++k) p[k] = static_cast<T>(rows[k].*member);
  return a;
}

// Vector member `member` (cols values) of each record as the rows of a rows x cols array.
template <class Row>
py::array_t<double> rows_of(const std::vector<Row>& rows, std::vector<double> Row::*member, std::size_t cols) {
  py::array_t<double> a({static_cast<py::ssize_t>(rows.size()), static_cast<py::ssize_t>(cols)});
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::vector<double>& v = rows[k].*member;
    std::copy(v.begin(), v.end(), a.mutable_data() + k * cols);
  }
  return a;
}

// A fresh 1-D array of n values (A: F64Array or I64Array) that kernel(span) fills with the GIL
// released.
template <class A = F64Array, class Kernel>
A filled(std::size_t n, const Kernel& kernel) {
  A out(static_cast<py::ssize_t>(n));
  auto o = mutable_view(out);
  py::gil_scoped_release release;
  kernel(o);
  return out;
}

// The value named `s` among `options`, or InvalidArgument naming `arg`:
// "must be one of 'a', 'b' (got 'c')".
template <class E>
E choice(const char* arg, const std::string& s, std::initializer_list<std::pair<const char*, E>> options) {
  std::string names;
  for (const auto& [name, value] : options) {
    if (s == name) return value;
    names += std::string(names.empty() ? "'" : ", '") + name + "'";
  }
  throw InvalidArgument(arg, -1, "must be one of " + names + " (got '" + s + "')");
}

// A Python enum `name` in `m` with the (name, value) pairs of `values`, in their order.
template <class E>
void bind_enum(py::module_& m, const char* name, std::initializer_list<std::pair<const char*, E>> values) {
  py::enum_<E> e(m, name);
  for (const auto& [n, v] : values) e.value(n, v);
}

}  // namespace liqcore::bindings
