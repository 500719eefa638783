// Stress tests (docs/model.md §5): many price paths × the positions × the policy.
//
// Scenario s starts from the inputs (positions, book, mark, fund) and walks `steps` steps. At
// step t the market moves by a factor f (exogenous: the index and every book price are multiplied
// by f, the mark follows its rule, mark_rule.hpp; "last" and "mid": multiplied by f), then the cascade engine of cascade.hpp runs at the new mark until nothing new triggers
// (or max_rounds). The book (its consumed depth, its recovery), the positions and the fund carry
// over from step to step; the mark after a step's cascade is where the next step's move starts.
//
// Funding (docs/model.md §5): when a funding path is given, the step's rate is settled at the
// step's mark right after the move and before the cascade (CascadeEngine::settle_funding).
//
// Factors come either from a user array (scenarios × steps, row-major) or from the Merton
// jump-diffusion of rng.hpp: f = exp(log return of step t of stream (seed, scenario)). The stream
// is keyed by the scenario's global id (first_scenario + s), so a scenario gives the same bits
// in any thread, any chunk and any process; scenarios run through run_scenarios
// (scenarios.hpp: fixed chunks, one output slot per scenario), so the results do not depend on
// the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "liqcore/cascade.hpp"
#include "liqcore/rng.hpp"
#include "liqcore/scenarios.hpp"

namespace liqcore {

struct StressOutputs {  // one entry per scenario of the call
  std::span<double> deficit;    // bad debt: traders' deficits + the fund's inventory losses
  std::span<double> draw;       // paid by the fund
  std::span<double> residual;   // what the fund could not pay (deficit − draw)
  std::span<double> notional;   // liquidated notional at the marks of the liquidations
  std::span<double> fees;       // fees to the fund
  std::span<double> fund_after;
  std::span<double> final_mark, min_mark, max_mark;
  std::span<double> largest_loss, second_loss;  // the two largest per-position losses
  std::span<std::int64_t> liquidations, rounds;
  std::span<std::uint8_t> converged;  // every step's cascade stopped before max_rounds
  std::span<double> funding;          // funding paid by the paying side over the path (empty: not kept)
  // Rate limits (docs/model.md §4): Σ over rounds of the positions left waiting, and of their
  // notional (CascadeTotals::waited, waited_notional); empty spans: not reported.
  std::span<std::int64_t> waited = {};
  std::span<double> waited_notional = {};
};

// Positions (stored in liquidation-price order, see SortedPositions), book and policy copied
// once, sorted once; scenarios run against it in any order, from any number of threads.
class StressPlan {
 public:
  StressPlan(const PositionColumns& pos, Book book, LiquidationPolicy pol, double mark, double fund,
             CascadeParams prm)
      : pol_(std::move(pol)), sorted_(pos, pol_), book_(std::move(book)), mark_(mark), fund_(fund), prm_(prm) {
    if (!(std::isfinite(mark) && mark > 0.0)) throw InvalidArgument("mark", -1, "must be finite and > 0 " + describe(mark));
    check_cascade_params(prm, fund);
  }
  StressPlan(const StressPlan&) = delete;
  StressPlan& operator=(const StressPlan&) = delete;

  std::size_t positions() const noexcept { return sorted_.size.size(); }

  // Runs scenarios [first, first + count). `factors` is empty (use `model` with `seed`) or holds
  // count × steps move factors (finite, > 0), row-major. `funding`: empty (none), steps rates
  // (every scenario) or count × steps (row-major), finite, per step. threads = 0: every
  // available core.
  void run(std::uint64_t first, std::size_t count, std::size_t steps, const rng::JumpDiffusion& model,
           std::uint64_t seed, std::span<const double> factors, unsigned threads, const StressOutputs& out,
           std::span<const double> funding = {}) const {
    if (!factors.empty() && factors.size() != count * steps)
      throw InvalidArgument("paths", -1, "must hold scenarios x steps values");
    if (!funding.empty() && funding.size() != steps && funding.size() != count * steps)
      throw InvalidArgument("funding", -1, "must hold steps or scenarios x steps values");
    for (std::size_t j = 0; j < funding.size(); ++j)
      if (!std::isfinite(funding[j]))
        throw InvalidArgument("funding", static_cast<std::int64_t>(j), "must be finite " + describe(funding[j]));
    run_scenarios(
        first, count, seed, threads,
        [&] {
          auto eng = std::make_unique<CascadeEngine>(sorted_.cols, sorted_.index, book_, pol_, prm_, sorted_.rank);
          eng->track_losses();
          eng->on_one_thread();  // the scenarios are the parallel unit
          eng->without_ledger();  // a scenario reports no ledger
          return eng;
        },
        [&](std::unique_ptr<CascadeEngine>& eng, std::size_t s, const rng::Stream& stream) {
          scenario(*eng, stream, s, steps, model, factors, funding, out);
        });
  }

 private:
  void scenario(CascadeEngine& eng, const rng::Stream& stream, std::size_t s, std::size_t steps,
                const rng::JumpDiffusion& model, std::span<const double> factors, std::span<const double> funding,
                const StressOutputs& out) const {
    const std::span<const double> rates =
        funding.size() == steps ? funding : (funding.empty() ? funding : funding.subspan(s * steps, steps));
    eng.reset(mark_, fund_);
    double lo = mark_, hi = mark_;
    bool converged = true;
    for (std::size_t t = 0; t < steps; ++t) {
      const double f = factors.empty() ? std::exp(model.log_return(stream, static_cast<std::uint32_t>(t)))
                                       : factors[s * steps + t];
      eng.shift(f);
      if (!rates.empty()) eng.settle_funding(rates[t]);
      lo = std::min(lo, eng.mark());
      hi = std::max(hi, eng.mark());
      converged &= eng.run();
      lo = std::min(lo, eng.mark());
      hi = std::max(hi, eng.mark());
    }
    eng.finish();
    const CascadeTotals& tot = eng.totals();
    const auto [l1, l2] = eng.largest_losses();
    out.deficit[s] = tot.bad_debt();
    out.draw[s] = tot.draw.value();
    out.residual[s] = tot.residual.value();
    out.notional[s] = tot.notional.value();
    out.fees[s] = tot.fees.value();
    out.fund_after[s] = eng.fund();
    out.final_mark[s] = eng.mark();
    out.min_mark[s] = lo;
    out.max_mark[s] = hi;
    out.largest_loss[s] = l1;
    out.second_loss[s] = l2;
    out.liquidations[s] = tot.liquidations;
    out.rounds[s] = tot.rounds;
    out.converged[s] = converged ? 1 : 0;
    if (!out.waited.empty()) out.waited[s] = tot.waited;
    if (!out.waited_notional.empty()) out.waited_notional[s] = tot.waited_notional;
    if (!out.funding.empty()) out.funding[s] = tot.funding_paid.value();
  }

  LiquidationPolicy pol_;
  SortedPositions sorted_;
  Book book_;
  double mark_, fund_;
  CascadeParams prm_;
};

}  // namespace liqcore
