// Bindings for the order book (liqcore/book.hpp). The Python class _core.Book is a LockedBook:
// see locked_book.hpp for the locking rules. Every kernel call runs without the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "arrays.hpp"
#include "liqcore/book.hpp"
#include "locked_book.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

Side taker_side(const std::string& s) { return choice<Side>("side", s, {{"buy", Side::buy}, {"sell", Side::sell}}); }

bool book_side(const std::string& s) { return choice<bool>("side", s, {{"bid", true}, {"ask", false}}); }

// Output arrays of a batch of n orders, allocated while holding the GIL.
struct FillArrays {
  F64Array filled, notional, vwap, worst;
  I64Array levels;
  F64Array unfilled;

  explicit FillArrays(std::size_t n)
      : filled(empty_f64(n)), notional(empty_f64(n)), vwap(empty_f64(n)), worst(empty_f64(n)),
        levels(empty_i64(n)), unfilled(empty_f64(n)) {}

  FillColumns columns() {
    return {filled.mutable_data(), notional.mutable_data(), vwap.mutable_data(), worst.mutable_data(),
            levels.mutable_data(), unfilled.mutable_data()};
  }
  py::tuple to_tuple() const { return py::make_tuple(filled, notional, vwap, worst, levels, unfilled); }
};

py::tuple fill_tuple(const Fill& f) {
  return py::make_tuple(f.filled, f.notional, f.vwap, f.worst, f.levels, f.unfilled);
}

std::span<const double> optional_view(const std::optional<F64Array>& a) {
  return a ? view(*a) : std::span<const double>{};
}

py::tuple side_arrays(const LockedBook& b, bool bid) {
  std::vector<double> px, qty;
  {
    py::gil_scoped_release release;
    auto lock = b.lock_shared();
    const BookSide& s = bid ? b.bids() : b.asks();
    px.assign(s.px().begin(), s.px().end());
    qty.assign(s.qty().begin(), s.qty().end());
  }
  F64Array opx = empty_f64(px.size()), oqty = empty_f64(qty.size());
  std::copy(px.begin(), px.end(), opx.mutable_data());
  std::copy(qty.begin(), qty.end(), oqty.mutable_data());
  return py::make_tuple(opx, oqty);
}

template <class F>
auto read(const LockedBook& b, F&& f) {
  py::gil_scoped_release release;
  auto lock = b.lock_shared();
  return f(static_cast<const Book&>(b));
}

// sweep_many (Consumes = false: reads the book under the shared lock, on `threads` cores, 0:
// auto) and execute (consumes its liquidity under the unique lock): a batch of orders with the
// GIL released, the fill columns as a tuple.
template <bool Consumes>
auto fill_batch() {
  using Target = std::conditional_t<Consumes, LockedBook&, const LockedBook&>;
  return [](Target b, const std::string& side, const F64Array& qtys, const std::optional<F64Array>& limits,
            std::size_t threads) {
    const Side s = taker_side(side);
    FillArrays out(static_cast<std::size_t>(qtys.size()));
    FillColumns cols = out.columns();
    {
      py::gil_scoped_release release;
      if constexpr (Consumes) {
        auto lock = b.lock_unique();
        b.execute(s, view(qtys), optional_view(limits), cols);
      } else {
        auto lock = b.lock_shared();
        b.sweep_many(s, view(qtys), optional_view(limits), cols, {}, threads);
      }
    }
    return out.to_tuple();
  };
}

}  // namespace

void register_book(py::module_& m) {
  // The kernel class, registered as the base so that bindings taking `const Book&` accept a
  // _core.Book; it is not constructed from Python.
  py::class_<Book>(m, "_BookBase");

  py::class_<LockedBook, Book>(m, "Book")
      .def(py::init([](const F64Array& bp, const F64Array& bq, const F64Array& ap, const F64Array& aq) {
             py::gil_scoped_release release;
             return std::make_unique<LockedBook>(view(bp), view(bq), view(ap), view(aq));
           }),
           py::arg("bid_px"), py::arg("bid_qty"), py::arg("ask_px"), py::arg("ask_qty"))
      .def_property_readonly("best_bid", [](const LockedBook& b) { return read(b, [](const Book& k) { return k.best_bid(); }); })
      .def_property_readonly("best_ask", [](const LockedBook& b) { return read(b, [](const Book& k) { return k.best_ask(); }); })
      .def_property_readonly("mid", [](const LockedBook& b) { return read(b, [](const Book& k) { return k.mid(); }); })
      .def_property_readonly("n_bids", [](const LockedBook& b) { return read(b, [](const Book& k) { return k.bids().size(); }); })
      .def_property_readonly("n_asks", [](const LockedBook& b) { return read(b, [](const Book& k) { return k.asks().size(); }); })
      .def("levels", [](const LockedBook& b, const std::string& side) { return side_arrays(b, book_side(side)); },
           py::arg("side"), "(px, qty) copies of one side, best first")
      .def(
          "sweep",
          [](const LockedBook& b, const std::string& side, double qty, double limit) {
            const Side s = taker_side(side);
            Fill f;
            {
              py::gil_scoped_release release;
              auto lock = b.lock_shared();
              FillColumns out{&f.filled, &f.notional, &f.vwap, &f.worst, &f.levels, &f.unfilled};
              b.sweep_many(s, {&qty, 1}, {&limit, 1}, out, {"qty", "limit", true});
            }
            return fill_tuple(f);
          },
          py::arg("side"), py::arg("qty"), py::arg("limit") = kNoLimit)
      .def("sweep_many", fill_batch<false>(), py::arg("side"), py::arg("qtys"), py::arg("limits") = py::none(),
           py::arg("threads") = 0)
      .def(
          "execute",
          [](LockedBook& b, const std::string& side, const F64Array& qtys, const std::optional<F64Array>& limits) {
            return fill_batch<true>()(b, side, qtys, limits, 1);  // sequential by definition
          },
          py::arg("side"), py::arg("qtys"), py::arg("limits") = py::none())
      .def(
          "apply",
          [](LockedBook& b, const F64Array& bp, const F64Array& bq, const F64Array& ap, const F64Array& aq) {
            py::gil_scoped_release release;
            auto lock = b.lock_unique();
            b.apply(view(bp), view(bq), view(ap), view(aq));
          },
          py::arg("bid_px"), py::arg("bid_qty"), py::arg("ask_px"), py::arg("ask_qty"))
      .def(
          "depth",
          [](const LockedBook& b, const std::string& side, const F64Array& bps) {
            const bool bid = book_side(side);
            const auto n = static_cast<std::size_t>(bps.size());
            F64Array qty = empty_f64(n), notional = empty_f64(n);
            double* q = qty.mutable_data();
            double* x = notional.mutable_data();
            read(b, [&](const Book& k) {
              k.depth(bid, view(bps), q, x);
              return 0;
            });
            return py::make_tuple(qty, notional);
          },
          py::arg("side"), py::arg("bps"))
      .def("copy",
           [](const LockedBook& b) {
             py::gil_scoped_release release;
             return std::make_unique<LockedBook>(b.snapshot());
           })
      .def("__eq__", [](const LockedBook& a, const LockedBook& b) {
        if (&a == &b) return true;
        py::gil_scoped_release release;
        const Book sa = a.snapshot(), sb = b.snapshot();  // never hold both locks at once
        return sa == sb;
      });
}

}  // namespace liqcore::bindings
