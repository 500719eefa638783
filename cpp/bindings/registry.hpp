// The table of contents of liqcore._core: one registration function per concept.
#pragma once

#include <pybind11/pybind11.h>

namespace liqcore::bindings {

void register_margin(pybind11::module_& m);
void register_book(pybind11::module_& m);
void register_adl(pybind11::module_& m);
void register_liquidation(pybind11::module_& m);
void register_cascade(pybind11::module_& m);
void register_stress(pybind11::module_& m);
void register_cross_margin(pybind11::module_& m);
void register_contagion(pybind11::module_& m);
void register_memory(pybind11::module_& m);

}  // namespace liqcore::bindings
