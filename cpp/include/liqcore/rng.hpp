// Counter-based random numbers for stress tests (docs/model.md §5).
//
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the Random123 reference): a keyed bijection of a 128-bit counter. Every number is a pure
// function of (key, counter), so scenario s draws the same numbers whatever thread, process or
// machine runs it, and in any order: the key is the user's 64-bit seed, the counter names
// (step, block, scenario). Nothing is carried from one draw to the next.
//
// Transformations (all deterministic given the same libm):
// - uniform: the top 53 bits of a 64-bit word, mapped to (0, 1) by (k + 0.5)·2^-53;
// - normal: Box–Muller, sqrt(−2 ln u1)·cos(2π u2) (one normal per block of two uniforms);
// - Poisson: inversion of the CDF by sequential search (for the small means of jump counts).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace liqcore::rng {

using Counter = std::array<std::uint32_t, 4>;
using Key = std::array<std::uint32_t, 2>;

inline Counter philox4x32_10(Counter ctr, Key key) noexcept {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kW0;
      key[1] += kW1;
    }
    const std::uint64_t p0 = std::uint64_t{kM0} * ctr[0];
    const std::uint64_t p1 = std::uint64_t{kM1} * ctr[2];
    ctr = {static_cast<std::uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<std::uint32_t>(p1),
           static_cast<std::uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<std::uint32_t>(p0)};
  }
  return ctr;
}

// A uniform in (0, 1) from two 32-bit words (53 bits), never 0 or 1.
inline double uniform(std::uint32_t hi, std::uint32_t lo) noexcept {
  const std::uint64_t k = ((std::uint64_t{hi} << 32) | lo) >> 11;
  return (static_cast<double>(k) + 0.5) * 0x1.0p-53;
}

// The random streams of one seed: block b of step t of scenario s is
// philox(counter = {t, b, s_lo, s_hi}, key = {seed_lo, seed_hi}), two uniforms per block.
class Stream {
 public:
  Stream(std::uint64_t seed, std::uint64_t scenario) noexcept
      : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)},
        s_lo_(static_cast<std::uint32_t>(scenario)), s_hi_(static_cast<std::uint32_t>(scenario >> 32)) {}

  std::array<double, 2> uniforms(std::uint32_t step, std::uint32_t block) const noexcept {
    const Counter r = philox4x32_10({step, block, s_lo_, s_hi_}, key_);
    return {uniform(r[0], r[1]), uniform(r[2], r[3])};
  }

  double normal(std::uint32_t step, std::uint32_t block) const noexcept {
    const auto u = uniforms(step, block);
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    return std::sqrt(-2.0 * std::log(u[0])) * std::cos(kTwoPi * u[1]);
  }

 private:
  Key key_;
  std::uint32_t s_lo_, s_hi_;
};

// The smallest n with P(N <= n) >= u for N ~ Poisson(mean), capped at `cap`.
inline std::uint32_t poisson(double mean, double u, std::uint32_t cap = 64) noexcept {
  if (!(mean > 0.0)) return 0;
  double p = std::exp(-mean);
  double cdf = p;
  std::uint32_t n = 0;
  while (u > cdf && n < cap) {
    ++n;
    p *= mean / n;
    cdf += p;
  }
  return n;
}

// Merton jump-diffusion (GBM with log-normal jumps), one step of length dt:
//   log return = (mu − sigma²/2 − intensity·k)·dt + sigma·sqrt(dt)·Z + Σ_{j < N} J_j,
//   Z ~ N(0, 1), N ~ Poisson(intensity·dt), J_j ~ N(jump_mean, jump_std²),
//   k = E[e^J − 1] = exp(jump_mean + jump_std²/2) − 1 (compensator: E[S_t] = S_0·e^{mu·t}).
// Blocks of step t: 0 → Z, 1 → the Poisson uniform, 2 + j → J_j (j < kMaxJumps).
inline constexpr std::uint32_t kMaxJumps = 64;  // poisson's cap

// Several markets share a scenario's stream (multi-market stress tests): market m uses the
// blocks m·kMarketBlocks + b, so market 0 draws exactly what a single market draws.
inline constexpr std::uint32_t kMarketBlocks = 256;  // > 2 + kMaxJumps
inline constexpr std::uint64_t kMaxMarkets = (std::uint64_t{1} << 32) / kMarketBlocks;
inline std::uint32_t market_block(std::uint64_t market, std::uint32_t block) noexcept {
  return static_cast<std::uint32_t>(market) * kMarketBlocks + block;
}

struct JumpDiffusion {
  double mu = 0.0, sigma = 0.0, intensity = 0.0, jump_mean = 0.0, jump_std = 0.0, dt = 1.0;

  double log_return(const Stream& st, std::uint32_t step) const noexcept {
    return log_return(st, step, sigma != 0.0 ? st.normal(step, 0) : 0.0, 0);
  }

  // The same with the step's standard normal z given (drawn by the caller, e.g. correlated
  // across markets) and the jumps drawn from blocks base + 1 and base + 2 + j.
  double log_return(const Stream& st, std::uint32_t step, double z, std::uint32_t base) const noexcept {
    const double k = std::exp(jump_mean + 0.5 * jump_std * jump_std) - 1.0;
    double r = (mu - 0.5 * sigma * sigma - intensity * k) * dt;
    if (sigma != 0.0) r += sigma * std::sqrt(dt) * z;
    if (intensity > 0.0) {
      const std::uint32_t jumps = poisson(intensity * dt, st.uniforms(step, base + 1)[0], kMaxJumps);
      for (std::uint32_t j = 0; j < jumps; ++j) r += jump_mean + jump_std * st.normal(step, base + 2 + j);
    }
    return r;
  }
};

}  // namespace liqcore::rng
