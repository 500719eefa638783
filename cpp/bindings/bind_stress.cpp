// Bindings for stress tests (liqcore/stress.hpp) and their random streams (liqcore/rng.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "arrays.hpp"
#include "liqcore/rng.hpp"
#include "liqcore/stress.hpp"
#include "locked_book.hpp"
#include "mark.hpp"
#include "registry.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

namespace {

using U8Array = py::array_t<std::uint8_t, py::array::c_style>;

rng::JumpDiffusion model(double mu, double sigma, double intensity, double jump_mean, double jump_std, double dt) {
  rng::JumpDiffusion m;
  m.mu = mu;
  m.sigma = sigma;
  m.intensity = intensity;
  m.jump_mean = jump_mean;
  m.jump_std = jump_std;
  m.dt = dt;
  return m;
}

std::unique_ptr<StressPlan> make_plan(const F64Array& size, const F64Array& entry_price, const F64Array& margin,
                                      const LockedBook& book, const LiquidationPolicy& policy, double mark,
                                      double fund, double resilience, int mark_rule, std::int64_t max_rounds,
                                      const std::vector<double>& mark_params) {
  const PositionColumns pos = position_columns(size, entry_price, margin);
  const CascadeParams prm = cascade_params(resilience, mark_rule, max_rounds, mark_params);
  Book b = book.snapshot();
  py::gil_scoped_release release;
  return std::make_unique<StressPlan>(pos, std::move(b), policy, mark, fund, prm);
}

// The per-scenario columns of a chunk of StressPlan.run (picklable: see bind_part).
#define LIQCORE_STRESS_PART_COLUMNS(X)                                                                      \
  X(deficit) X(insurance_draw) X(residual) X(liquidated_notional) X(fees) X(insurance_fund) X(final_mark)       \
  X(min_mark) X(max_mark) X(largest_loss) X(second_largest_loss) X(liquidations) X(rounds) X(converged)         \
  X(waited) X(waited_notional) X(funding_paid)
struct StressPart {
  LIQCORE_STRESS_PART_COLUMNS(LIQCORE_ARRAY_MEMBER)
};

StressPart run_plan(const StressPlan& plan, std::uint64_t first, std::size_t count, std::size_t steps, double mu,
                  double sigma, double intensity, double jump_mean, double jump_std, double dt, std::uint64_t seed,
                  const std::optional<F64Array>& factors, unsigned threads,
                  const std::optional<F64Array>& funding) {
  F64Array deficit = empty_f64(count), draw = empty_f64(count), residual = empty_f64(count),
           notional = empty_f64(count), fees = empty_f64(count), fund_after = empty_f64(count),
           final_mark = empty_f64(count), min_mark = empty_f64(count), max_mark = empty_f64(count),
           largest = empty_f64(count), second = empty_f64(count), paid = empty_f64(count);
  I64Array liquidations = empty_i64(count), rounds = empty_i64(count);
  I64Array waited = empty_i64(count);
  F64Array waited_notional = empty_f64(count);
  U8Array converged(static_cast<py::ssize_t>(count));
  StressOutputs out{mutable_view(deficit),    mutable_view(draw),       mutable_view(residual),
                          mutable_view(notional),   mutable_view(fees),       mutable_view(fund_after),
                          mutable_view(final_mark), mutable_view(min_mark),   mutable_view(max_mark),
                          mutable_view(largest),    mutable_view(second),     mutable_view(liquidations),
                          mutable_view(rounds),     {converged.mutable_data(), count},
                          mutable_view(paid)};
  out.waited = mutable_view(waited);
  out.waited_notional = mutable_view(waited_notional);
  const std::span<const double> fr = funding ? view(*funding) : std::span<const double>{};
  const rng::JumpDiffusion jd = model(mu, sigma, intensity, jump_mean, jump_std, dt);
  const std::span<const double> f = factors ? view(*factors) : std::span<const double>{};
  {
    py::gil_scoped_release release;
    plan.run(first, count, steps, jd, seed, f, threads, out, fr);
  }
  return StressPart{deficit,  draw,     residual, notional, fees,         fund_after, final_mark, min_mark, max_mark,
                    largest,  second,   liquidations, rounds, converged, waited,    waited_notional, paid};
}

// count x steps log returns of the jump-diffusion, scenario ids first..first+count-1.
F64Array log_returns(std::uint64_t seed, std::uint64_t first, std::size_t count, std::size_t steps, double mu,
                     double sigma, double intensity, double jump_mean, double jump_std, double dt) {
  F64Array out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(count), static_cast<py::ssize_t>(steps)});
  double* p = out.mutable_data();
  const rng::JumpDiffusion jd = model(mu, sigma, intensity, jump_mean, jump_std, dt);
  py::gil_scoped_release release;
  for (std::size_t s = 0; s < count; ++s) {
    const rng::Stream st(seed, first + s);
    for (std::size_t t = 0; t < steps; ++t) p[s * steps + t] = jd.log_return(st, static_cast<std::uint32_t>(t));
  }
  return out;
}

}  // namespace

void register_stress(py::module_& m) {
  bind_part<StressPart>(m, "StressPart", LIQCORE_COLUMNS(StressPart, LIQCORE_STRESS_PART_COLUMNS));
  py::class_<StressPlan>(m, "StressPlan")
      .def(py::init(&make_plan), py::arg("size"), py::arg("entry_price"), py::arg("margin"), py::arg("book"),
           py::arg("policy"), py::arg("mark"), py::arg("fund"), py::arg("resilience"), py::arg("mark_rule"),
           py::arg("max_rounds"), py::arg("mark_params") = std::vector<double>{})
      .def_property_readonly("positions", &StressPlan::positions)
      .def("run", &run_plan, py::arg("first"), py::arg("count"), py::arg("steps"), py::arg("mu"), py::arg("sigma"),
           py::arg("intensity"), py::arg("jump_mean"), py::arg("jump_std"), py::arg("dt"), py::arg("seed"),
           py::arg("factors"), py::arg("threads"), py::arg("funding") = py::none());
  m.def("stress_log_returns", &log_returns, py::arg("seed"), py::arg("first"), py::arg("count"), py::arg("steps"),
        py::arg("mu"), py::arg("sigma"), py::arg("intensity"), py::arg("jump_mean"), py::arg("jump_std"),
        py::arg("dt"));
  m.def(
      "philox4x32",
      [](std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key) {
        return rng::philox4x32_10(counter, key);
      },
      py::arg("counter"), py::arg("key"));
}

}  // namespace liqcore::bindings

#undef LIQCORE_STRESS_PART_COLUMNS
