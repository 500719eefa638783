// Bindings for margin math (liqcore/margin.hpp).
#include <pybind11/pybind11.h>

#include "arrays.hpp"
#include "liqcore/margin.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

void register_margin(py::module_& m) {
  (void)m;  // filled in by the margin work
}

}  // namespace liqcore::bindings
