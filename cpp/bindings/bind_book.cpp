// Bindings for the order book (liqcore/book.hpp).
#include <pybind11/pybind11.h>

#include "arrays.hpp"
#include "liqcore/book.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

void register_book(py::module_& m) {
  py::class_<Book>(m, "Book")
      .def(py::init([](const F64Array& bp, const F64Array& bq, const F64Array& ap, const F64Array& aq) {
             return Book(view(bp), view(bq), view(ap), view(aq));
           }),
           py::arg("bid_px"), py::arg("bid_qty"), py::arg("ask_px"), py::arg("ask_qty"))
      .def_property_readonly("best_bid", &Book::best_bid)
      .def_property_readonly("best_ask", &Book::best_ask)
      .def_property_readonly("mid", &Book::mid);
}

}  // namespace liqcore::bindings
