// The result types of the entry points (liquidate, simulate_cascade, liquidate_accounts,
// simulate_contagion, cross_health, the stress runners), bound as read-only C++ structs.
// Their array attributes are the NumPy arrays made once when the struct is built (kernel
// vectors taken over by adopt, or the arrays the kernel wrote into), so reading an attribute
// neither copies nor re-wraps: the same array each time (a cascade's rounds excepted: see
// Rounds). The batches' totals structs are bound directly (def_readonly); a cascade's
// CascadeTotals is held beside the run's other figures (def_cascade_totals).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "liqcore/cascade.hpp"
#include "liqcore/liquidation.hpp"
#include "liqcore/waterfall.hpp"

// Each bound struct writes its field list once, as an X-macro LIST(X) = X(a) X(b) ...: expanded
// with LIQCORE_ARRAY_MEMBER it declares the py::array members (in that order: some structs are
// built by aggregate initialisation), with LIQCORE_BIND_FIELDS it binds a read-only attribute of
// the same name for each (of any type: the kernel's totals are bound from such a list too), and
// with LIQCORE_COLUMNS it gives bind_part the (name, member) pairs it binds and pickles. Members
// of other types, or bound under another name, are written out by hand.
#define LIQCORE_ARRAY_MEMBER(name) py::array name;
#define LIQCORE_READONLY(name) .def_readonly(#name, &Self::name)
#define LIQCORE_BIND_FIELDS(cls, R, LIST) \
  do {                                    \
    using Self = R;                       \
    (cls) LIST(LIQCORE_READONLY);         \
  } while (false)
#define LIQCORE_COLUMN(name) {#name, &Self::name},
#define LIQCORE_COLUMNS(R, LIST)               \
  [] {                                         \
    using Self = R;                            \
    return Columns<R>{LIST(LIQCORE_COLUMN)};   \
  }()

namespace liqcore::bindings {

namespace py = pybind11;

// The (attribute name, member) pairs of R's py::array columns (made by LIQCORE_COLUMNS).
template <class R>
using Columns = std::vector<std::pair<const char*, py::array R::*>>;

// What every liquidation entry point reports per liquidation (or per position): the quantity
// closed, its blended price, the trader's deficit, the fee, the fund's draw, what the fund
// could not pay, the fund's inventory loss, the ADL charge per position; and the ledger
// (float64 amounts, one per LedgerRow, and their compensated sum).
#define LIQCORE_CLOSE_OUTPUT_FIELDS(X) \
  X(closed) X(vwap) X(deficit) X(fee) X(insurance_draw) X(shortfall) X(inventory_loss) X(adl) X(ledger)
struct CloseOutput {
  LIQCORE_CLOSE_OUTPUT_FIELDS(LIQCORE_ARRAY_MEMBER)
  double ledger_balance = 0.0;

  void settle(const Ledger& l) {
    const auto amounts = l.amounts();
    ledger = copy_array(std::span<const double>(amounts));
    ledger_balance = l.balance();
  }
};

// The Python base class of every entry point's result (registered once, by
// register_liquidation).
inline void bind_close_output(py::module_& m) {
  py::class_<CloseOutput> c(m, "CloseOutput");
  LIQCORE_BIND_FIELDS(c, CloseOutput, LIQCORE_CLOSE_OUTPUT_FIELDS);
  c.def_readonly("ledger_balance", &CloseOutput::ledger_balance);
}

// The totals of a liquidation batch (LiquidationTotals, AccountLiquidationTotals) bound as the
// class `name`, with the fields both kinds have (fund_after as "insurance_fund").
// (The kernel declares the fields: this list only binds them.)
#define LIQCORE_LIQUIDATION_TOTALS_FIELDS(X)                                                          \
  X(closed_notional) X(fees) X(deficit) X(surplus) X(inventory_loss) X(inventory_gain) X(unabsorbed) \
  X(bad_debt) X(insurance_draw) X(residual) X(adl_transfers) X(uncovered)
template <class Totals>
py::class_<Totals> bind_liquidation_totals(py::module_& m, const char* name) {
  py::class_<Totals> c(m, name);
  LIQCORE_BIND_FIELDS(c, Totals, LIQCORE_LIQUIDATION_TOTALS_FIELDS);
  c.def_readonly("insurance_fund", &Totals::fund_after);
  return c;
}
#undef LIQCORE_LIQUIDATION_TOTALS_FIELDS

// A getter of the sum `s` of the CascadeTotals an R holds as `sums`.
template <class R>
auto cascade_sum(CompensatedSum CascadeTotals::*s) {
  return [s](const R& r) { return (r.sums.*s).value(); };
}

// The totals of a cascade, single- or multi-market (R holds them as `sums`): the sums both
// cascades report, added to the class `c`.
template <class R>
void def_cascade_totals(py::class_<R>& c) {
  const auto sum = cascade_sum<R>;
  c.def_property_readonly("waited", [](const R& r) { return r.sums.waited; })
      .def_property_readonly("waited_notional", [](const R& r) { return r.sums.waited_notional; })
      .def_property_readonly("notional", sum(&CascadeTotals::notional))
      .def_property_readonly("deficit", sum(&CascadeTotals::deficit))
      .def_property_readonly("surplus", sum(&CascadeTotals::surplus))
      .def_property_readonly("fees", sum(&CascadeTotals::fees))
      .def_property_readonly("inventory_loss", sum(&CascadeTotals::inventory_loss))
      .def_property_readonly("bad_debt", [](const R& r) { return r.sums.bad_debt(); })
      .def_property_readonly("insurance_draw", sum(&CascadeTotals::draw))
      .def_property_readonly("residual", sum(&CascadeTotals::residual))
      .def_property_readonly("adl_transfers", sum(&CascadeTotals::adl_transfers));
}

// The rounds of a cascade (RoundTrace, ContagionRound; markets: the length of a round's
// per-market vectors). Bound as a table of columns, each a fresh array on every read (the rounds
// are records: a column is gathered from them).
template <class Round>
struct Rounds {
  std::vector<Round> rounds;
  std::size_t markets = 0;
};

// Column `member` of the rounds, as T.
template <class T, class Round, class M>
auto round_column(M Round::*member) {
  return [member](const Rounds<Round>& r) { return column_of<T>(r.rounds, member); };
}

// Rounds<Round> bound as the class `name`, with the columns both kinds of round have.
template <class Round>
py::class_<Rounds<Round>> bind_rounds(py::module_& m, const char* name) {
  py::class_<Rounds<Round>> c(m, name);
  c.def_property_readonly("notional", round_column<double>(&Round::notional))
      .def_property_readonly("deficit", round_column<double>(&Round::deficit))
      .def_property_readonly("fees", round_column<double>(&Round::fees))
      .def_property_readonly("insurance_draw", round_column<double>(&Round::draw))
      .def_property_readonly("residual", round_column<double>(&Round::residual))
      .def_property_readonly("insurance_fund", round_column<double>(&Round::fund_after))
      .def_property_readonly("waited", round_column<std::int64_t>(&Round::waited))
      .def_property_readonly("waited_notional", round_column<double>(&Round::waited_notional))
      .def_property_readonly("adl_transfers", round_column<double>(&Round::adl_transfers));
  return c;
}

// The members both multi-market results (LiquidateAccountsOutput, ContagionOutput) have besides
// their arrays: the per-account and per-market column structs, the totals and the books after.
template <class R>
py::class_<R, CloseOutput>& def_account_members(py::class_<R, CloseOutput>& c) {
  return c.def_readonly("accounts", &R::accounts)
      .def_readonly("markets", &R::markets)
      .def_readonly("totals", &R::totals)
      .def_readonly("books", &R::books);
}

// A chunk of a stress run's per-scenario columns (P: py::array members), bound as the class
// `name` with one attribute per column; picklable (liqcore.distributed sends the chunks between
// processes): its state is the tuple of the columns, in the order of `cols`.
template <class P>
void bind_part(py::module_& m, const char* name, Columns<P> cols) {
  py::class_<P> c(m, name);
  for (const auto& [n, member] : cols) c.def_readonly(n, member);
  c.def(py::pickle(
      [cols](const P& p) {
        py::tuple t(cols.size());
        for (std::size_t k = 0; k < cols.size(); ++k) t[k] = p.*(cols[k].second);
        return t;
      },
      [cols](const py::tuple& t) {
        if (t.size() != cols.size()) throw std::runtime_error("a stress part's state has the wrong length");
        P p;
        for (std::size_t k = 0; k < cols.size(); ++k) p.*(cols[k].second) = t[k].cast<py::array>();
        return p;
      }));
}

}  // namespace liqcore::bindings
