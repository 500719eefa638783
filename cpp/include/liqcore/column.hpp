// Inputs that are either one value per element or one value for all elements.
// Loops are written once against an accessor type and instantiated for both cases, so the
// compiler sees either a plain load or a loop-invariant scalar and can vectorize each.
#pragma once

#include <cstddef>
#include <span>

namespace liqcore {

// A read-only column: `values.size() == 1` broadcasts to every element.
struct Column {
  std::span<const double> values;
  bool scalar() const noexcept { return values.size() == 1; }
};

struct ScalarAccess {
  double v;
  double operator[](std::size_t) const noexcept { return v; }
};

struct ArrayAccess {
  const double* p;
  double operator[](std::size_t i) const noexcept { return p[i]; }
};

// Calls f(accessor) with the accessor type that fits `c`.
template <class F>
decltype(auto) with_access(const Column& c, F&& f) {
  if (c.scalar()) return f(ScalarAccess{c.values[0]});
  return f(ArrayAccess{c.values.data()});
}

}  // namespace liqcore
