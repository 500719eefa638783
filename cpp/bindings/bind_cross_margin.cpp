// Bindings for cross margin (liqcore/cross_margin.hpp) and account-wide liquidation
// (liqcore/account_liquidation.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "accounts.hpp"
#include "arrays.hpp"
#include "liqcore/account_liquidation.hpp"
#include "liqcore/cross_margin.hpp"
#include "locked_book.hpp"
#include "registry.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

using U8Array = py::array_t<std::uint8_t, py::array::c_style>;

struct CrossMarkets {
  std::vector<Market> markets;
};

std::span<std::uint8_t> u8(U8Array& a) { return {a.mutable_data(), static_cast<std::size_t>(a.size())}; }

// What cross_health() returns: per-account columns.
#define LIQCORE_HEALTH_OUTPUT_FIELDS(X) \
  X(collateral) X(equity) X(maintenance) X(notional) X(margin_ratio) X(distance) X(liquidatable)
struct HealthOutput {
  LIQCORE_HEALTH_OUTPUT_FIELDS(LIQCORE_ARRAY_MEMBER)
};

HealthOutput cross_health(const CrossMarkets& mk, const F64Array& collateral, const F64Array& asset_prices,
                          const F64Array& haircuts, const F64Array& size_discount, const I64Array& account,
                          const I64Array& market, const F64Array& size, const F64Array& entry_price) {
  const AccountInputs in =
      account_inputs(collateral, asset_prices, haircuts, size_discount, account, market, size, entry_price);
  const std::size_t A = in.col.accounts();
  F64Array coll = empty_f64(A), eq = empty_f64(A), mm = empty_f64(A), nt = empty_f64(A), ratio = empty_f64(A),
           dist = empty_f64(A);
  U8Array liq(static_cast<py::ssize_t>(A));
  const HealthOutputs out{mutable_view(coll), mutable_view(eq),    mutable_view(mm), mutable_view(nt),
                          mutable_view(ratio), mutable_view(dist), u8(liq)};
  {
    py::gil_scoped_release release;
    health(mk.markets, in.col, in.pf, out);
  }
  return HealthOutput{coll, eq, mm, nt, ratio, dist, liq};
}

// Slice rules for a batch of positions (indices into the portfolio); `what` 0: bankruptcy price
// of closing deltas[j]; 1: fillable price with (ba, smmr).
F64Array slice_prices(int what, const CrossMarkets& mk, const F64Array& collateral, const F64Array& asset_prices,
                      const F64Array& haircuts, const F64Array& size_discount, const I64Array& account,
                      const I64Array& market, const F64Array& size, const F64Array& entry_price,
                      const I64Array& positions, const F64Array& deltas, double ba, double smmr) {
  const AccountInputs in =
      account_inputs(collateral, asset_prices, haircuts, size_discount, account, market, size, entry_price);
  const std::size_t A = in.col.accounts(), n = static_cast<std::size_t>(size.size());
  const std::size_t k = static_cast<std::size_t>(positions.size());
  F64Array out = empty_f64(k);
  const auto pos = view(positions);
  const auto dl = view(deltas);
  auto res = mutable_view(out);
  {
    py::gil_scoped_release release;
    std::vector<double> coll(A), eq(A), mm(A), nt(A), ratio(A), dist(A);
    std::vector<std::uint8_t> liq(A);
    health(mk.markets, in.col, in.pf, HealthOutputs{coll, eq, mm, nt, ratio, dist, liq});
    for (std::size_t j = 0; j < k; ++j) {
      if (static_cast<std::uint64_t>(pos[j]) >= n)
        throw InvalidArgument("position", static_cast<std::int64_t>(j),
                              "is not a position index: 0.." + std::to_string(n) + " (exclusive) (got " +
                                  std::to_string(pos[j]) + ")");
      const auto i = static_cast<std::size_t>(pos[j]);
      const auto a = static_cast<std::size_t>(in.pf.account[i]);
      const Market& m = mk.markets[static_cast<std::size_t>(in.pf.market[i])];
      const AccountState st{eq[a], mm[a], nt[a]};
      const double q = in.pf.size[i];
      if (what == 0) {
        const double d = dl[dl.size() == 1 ? 0 : j];
        if (!(std::isfinite(d) && ((q > 0.0 && d < 0.0) || (q < 0.0 && d > 0.0)) && std::abs(d) <= std::abs(q)))
          throw InvalidArgument("delta", dl.size() == 1 ? -1 : static_cast<std::int64_t>(j),
                                "must reduce the position: nonzero, of the opposite sign to its size, and |delta| "
                                "<= |size| " + describe(d));
        res[j] = slice_bankruptcy_price(m, q, d, st);
      } else {
        res[j] = fillable_price(m, q, st, ba, smmr);
      }
    }
  }
  return out;
}

// The per-account columns of liquidate_accounts().
#define LIQCORE_ACCOUNT_COLUMNS(X)                                                                    \
  X(liquidated) X(sequence) X(equity) X(maintenance) X(equity_market) X(equity_after) X(deficit) X(surplus) \
  X(fee) X(insurance_draw) X(shortfall) X(closed_notional)
struct AccountColumns {
  LIQCORE_ACCOUNT_COLUMNS(LIQCORE_ARRAY_MEMBER)
};

// The per-market columns of liquidate_accounts().
#define LIQCORE_MARKET_COLUMNS(X) \
  X(closed_notional) X(deficit) X(residual) X(adl_transfers) X(uncovered) X(inventory_loss)
struct MarketColumns {
  LIQCORE_MARKET_COLUMNS(LIQCORE_ARRAY_MEMBER)
};

// What liquidate_accounts() returns: the CloseOutput columns and the other per-position ones,
// the per-account and per-market columns, the totals and the books after (one per market;
// none when none were given).
#define LIQCORE_LIQUIDATE_ACCOUNTS_FIELDS(X) \
  X(liquidated) X(sequence) X(book_closed) X(fallback_closed) X(bankruptcy_price) X(result)
struct LiquidateAccountsOutput : CloseOutput {
  LIQCORE_LIQUIDATE_ACCOUNTS_FIELDS(LIQCORE_ARRAY_MEMBER)
  AccountColumns accounts;
  MarketColumns markets;
  AccountLiquidationTotals totals;
  py::list books;
};

LiquidateAccountsOutput liquidate_accounts_batch(const CrossMarkets& mk, const py::list& books, const F64Array& collateral,
                                  const F64Array& asset_prices, const F64Array& haircuts,
                                  const F64Array& size_discount, const I64Array& account, const I64Array& market,
                                  const F64Array& size, const F64Array& entry_price, const LiquidationPolicy& policy,
                                  double fund) {
  const AccountInputs in =
      account_inputs(collateral, asset_prices, haircuts, size_discount, account, market, size, entry_price);
  const std::size_t A = in.col.accounts(), n = static_cast<std::size_t>(size.size()), M = mk.markets.size();
  const std::vector<const LockedBook*> locked = locked_books(books);

  U8Array liquidated(static_cast<py::ssize_t>(n)), acc_liq(static_cast<py::ssize_t>(A));
  I64Array sequence = empty_i64(n), acc_seq = empty_i64(A);
  auto f_n = [&] { return empty_f64(n); };
  auto f_a = [&] { return empty_f64(A); };
  auto f_m = [&] { return empty_f64(M); };
  F64Array closed = f_n(), book_closed = f_n(), fallback_closed = f_n(), vwap = f_n(), bp = f_n(), result = f_n(),
           deficit = f_n(), fee = f_n(), draw = f_n(), shortfall = f_n(), inventory = f_n(), adl = f_n();
  F64Array a_eq = f_a(), a_mm = f_a(), a_em = f_a(), a_after = f_a(), a_def = f_a(), a_sur = f_a(), a_fee = f_a(),
           a_draw = f_a(), a_short = f_a(), a_ntl = f_a();
  F64Array m_ntl = f_m(), m_def = f_m(), m_res = f_m(), m_adl = f_m(), m_unc = f_m(), m_inv = f_m();
  const AccountLiquidationOutputs out{
      u8(liquidated),       mutable_view(sequence),   mutable_view(closed),   mutable_view(book_closed),
      mutable_view(fallback_closed), mutable_view(vwap), mutable_view(bp),   mutable_view(result),
      mutable_view(deficit), mutable_view(fee),       mutable_view(draw),     mutable_view(shortfall),
      mutable_view(inventory), mutable_view(adl),     u8(acc_liq),            mutable_view(acc_seq),
      mutable_view(a_eq),   mutable_view(a_mm),       mutable_view(a_em),     mutable_view(a_after),
      mutable_view(a_def),  mutable_view(a_sur),      mutable_view(a_fee),    mutable_view(a_draw),
      mutable_view(a_short), mutable_view(a_ntl),     mutable_view(m_ntl),    mutable_view(m_def),
      mutable_view(m_res),  mutable_view(m_adl),      mutable_view(m_unc),    mutable_view(m_inv)};
  std::vector<Book> after;
  AccountLiquidationTotals tot;
  {
    py::gil_scoped_release release;
    const Snapshots snap(locked);
    tot = liquidate_accounts(mk.markets, snap.ptrs, in.col, in.pf, policy, fund, out, after);
  }
  LiquidateAccountsOutput r;
  r.liquidated = liquidated;
  r.sequence = sequence;
  r.closed = closed;
  r.book_closed = book_closed;
  r.fallback_closed = fallback_closed;
  r.vwap = vwap;
  r.bankruptcy_price = bp;
  r.result = result;
  r.deficit = deficit;
  r.fee = fee;
  r.insurance_draw = draw;
  r.shortfall = shortfall;
  r.inventory_loss = inventory;
  r.adl = adl;
  r.accounts = {acc_liq, acc_seq, a_eq, a_mm, a_em, a_after, a_def, a_sur, a_fee, a_draw, a_short, a_ntl};
  r.markets = {m_ntl, m_def, m_res, m_adl, m_unc, m_inv};
  r.settle(tot.ledger);
  r.totals = std::move(tot);
  for (Book& b : after) r.books.append(py::cast(std::make_unique<LockedBook>(std::move(b))));
  return r;
}

}  // namespace

void register_cross_margin(py::module_& m) {
  py::class_<CrossMarkets>(m, "CrossMarkets")
      .def(py::init([](const F64Array& marks, const I64Array& contract, const F64Array& contract_size,
                       const py::list& floors, const py::list& rates) {
             CrossMarkets mk{markets_of(marks, contract, contract_size, floors, rates)};
             check_markets(mk.markets);
             return mk;
           }),
           py::arg("marks"), py::arg("contract"), py::arg("contract_size"), py::arg("floors"), py::arg("rates"))
      .def_property_readonly("n", [](const CrossMarkets& mk) { return mk.markets.size(); });

  py::class_<HealthOutput> health(m, "HealthOutput");
  LIQCORE_BIND_FIELDS(health, HealthOutput, LIQCORE_HEALTH_OUTPUT_FIELDS);
  m.def("cross_health", &cross_health, py::arg("markets"), py::arg("collateral"), py::arg("asset_prices"),
        py::arg("haircuts"), py::arg("size_discount"), py::arg("account"), py::arg("market"), py::arg("size"),
        py::arg("entry_price"));
  m.def(
      "slice_bankruptcy_prices",
      [](const CrossMarkets& mk, const F64Array& c, const F64Array& p, const F64Array& h, const F64Array& sd,
         const I64Array& a, const I64Array& mkt, const F64Array& q, const F64Array& ep, const I64Array& pos,
         const F64Array& deltas) { return slice_prices(0, mk, c, p, h, sd, a, mkt, q, ep, pos, deltas, 0.0, 0.0); },
      py::arg("markets"), py::arg("collateral"), py::arg("asset_prices"), py::arg("haircuts"), py::arg("size_discount"),
      py::arg("account"), py::arg("market"), py::arg("size"), py::arg("entry_price"), py::arg("positions"),
      py::arg("deltas"));
  m.def(
      "fillable_prices",
      [](const CrossMarkets& mk, const F64Array& c, const F64Array& p, const F64Array& h, const F64Array& sd,
         const I64Array& a, const I64Array& mkt, const F64Array& q, const F64Array& ep, const I64Array& pos, double ba,
         double smmr) {
        return slice_prices(1, mk, c, p, h, sd, a, mkt, q, ep, pos, empty_f64(0), ba, smmr);
      },
      py::arg("markets"), py::arg("collateral"), py::arg("asset_prices"), py::arg("haircuts"), py::arg("size_discount"),
      py::arg("account"), py::arg("market"), py::arg("size"), py::arg("entry_price"), py::arg("positions"),
      py::arg("ba"), py::arg("smmr"));
  py::class_<AccountColumns> accounts(m, "AccountColumns");
  LIQCORE_BIND_FIELDS(accounts, AccountColumns, LIQCORE_ACCOUNT_COLUMNS);
  py::class_<MarketColumns> markets(m, "MarketColumns");
  LIQCORE_BIND_FIELDS(markets, MarketColumns, LIQCORE_MARKET_COLUMNS);
  bind_liquidation_totals<AccountLiquidationTotals>(m, "AccountLiquidationTotals")
      .def_readonly("accounts", &AccountLiquidationTotals::accounts)
      .def_readonly("positions", &AccountLiquidationTotals::positions);
  using R = LiquidateAccountsOutput;
  py::class_<R, CloseOutput> out(m, "LiquidateAccountsOutput");
  LIQCORE_BIND_FIELDS(out, R, LIQCORE_LIQUIDATE_ACCOUNTS_FIELDS);
  def_account_members(out);
  m.def("liquidate_accounts", &liquidate_accounts_batch, py::arg("markets"), py::arg("books"), py::arg("collateral"),
        py::arg("asset_prices"), py::arg("haircuts"), py::arg("size_discount"), py::arg("account"), py::arg("market"),
        py::arg("size"), py::arg("entry_price"), py::arg("policy"), py::arg("fund"));
}

}  // namespace liqcore::bindings

#undef LIQCORE_HEALTH_OUTPUT_FIELDS
#undef LIQCORE_ACCOUNT_COLUMNS
#undef LIQCORE_MARKET_COLUMNS
#undef LIQCORE_LIQUIDATE_ACCOUNTS_FIELDS
