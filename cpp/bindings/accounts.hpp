// Markets and account inputs as the cross-margin and contagion bindings receive them.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <vector>

#include "arrays.hpp"
#include "liqcore/cross_margin.hpp"
#include "locked_book.hpp"

namespace liqcore::bindings {

// The market columns as Markets: one mark, contract kind (1 inverse), contract size and tier
// table (floors[j], rates[j], checked by Tiers::from_floors) per market; the other values are
// checked by the kernels.
inline std::vector<Market> markets_of(const F64Array& marks, const I64Array& contract, const F64Array& contract_size,
                                      const py::list& floors, const py::list& rates) {
  const std::size_t M = size_of(marks);
  if (size_of(contract) != M || size_of(contract_size) != M || py::len(floors) != M || py::len(rates) != M)
    throw InvalidArgument("markets", -1, "columns must have the same length");
  std::vector<Market> mk(M);
  for (std::size_t j = 0; j < M; ++j) {
    const auto jj = static_cast<py::ssize_t>(j);
    mk[j].mark = marks.at(jj);
    mk[j].contract.kind = contract.at(jj) == 1 ? Contract::inverse : Contract::linear;
    mk[j].contract.contract_size = contract_size.at(jj);
    const auto fl = floors[j].cast<F64Array>();
    const auto rt = rates[j].cast<F64Array>();
    mk[j].tiers = Tiers::from_floors(view(fl), view(rt));
  }
  return mk;
}

// The arrays of Accounts and Portfolio, as the kernels see them (shapes checked here; values
// by the kernels).
struct AccountInputs {
  CollateralColumns col;
  PortfolioColumns pf;
};
inline AccountInputs account_inputs(const F64Array& collateral, const F64Array& asset_prices,
                                    const F64Array& haircuts, const F64Array& size_discount, const I64Array& account,
                                    const I64Array& market, const F64Array& size, const F64Array& entry_price) {
  const std::size_t k = size_of(asset_prices);
  if (k == 0 || size_of(collateral) % k != 0) throw InvalidArgument("collateral", -1, "must have one column per asset");
  if (size_of(haircuts) != k) throw InvalidArgument("haircuts", -1, "must have one value per asset");
  if (size_discount.size() != 0 && size_of(size_discount) != k)
    throw InvalidArgument("size_discount", -1, "must have one value per asset");
  const std::size_t n = size_of(size);
  if (size_of(account) != n || size_of(market) != n || size_of(entry_price) != n)
    throw InvalidArgument("positions", -1, "columns must have the same length");
  return AccountInputs{CollateralColumns{view(collateral), view(asset_prices), view(haircuts), view(size_discount)},
                       PortfolioColumns{view(account), view(market), view(size), view(entry_price)}};
}

// The Books of a Python list (each guarded by its own lock: see Snapshots).
inline std::vector<const LockedBook*> locked_books(const py::list& books) {
  std::vector<const LockedBook*> locked;
  for (const py::handle b : books) locked.push_back(&b.cast<const LockedBook&>());
  return locked;
}

}  // namespace liqcore::bindings
