// liqcore._core: one register_* call per concept; each lives in bind_<concept>.cpp.
#include <pybind11/pybind11.h>

#include "liqcore/error.hpp"
#include "registry.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "liqcore compiled kernel (use the liqcore package, not this module)";
  m.attr("__version__") = LIQCORE_VERSION;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const liqcore::InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  liqcore::bindings::register_margin(m);
  liqcore::bindings::register_book(m);
  liqcore::bindings::register_adl(m);
  liqcore::bindings::register_liquidation(m);
  liqcore::bindings::register_cascade(m);
  liqcore::bindings::register_stress(m);
  liqcore::bindings::register_cross_margin(m);
  liqcore::bindings::register_contagion(m);
  liqcore::bindings::register_memory(m);
}
