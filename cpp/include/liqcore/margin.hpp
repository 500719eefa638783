// Isolated-margin math for linear and inverse perpetuals (docs/model.md §1).
//
// Units: size q signed (+ long, - short), in base units (linear) or contracts (inverse);
// prices in quote per base; margin, equity and maintenance in quote (linear) or coin (inverse).
// The scalar formulas here are the single definition used by every kernel (margin arrays,
// liquidation, cascades, stress tests).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "liqcore/column.hpp"
#include "liqcore/error.hpp"
#include "liqcore/parallel.hpp"

namespace liqcore {

enum class Contract : int { linear = 0, inverse = 1 };

struct ContractSpec {
  Contract kind = Contract::linear;
  double contract_size = 1.0;  // inverse: face value C in quote per contract
  double size_step = 0.0;      // liquidation order sizes are multiples of it (0: any size)
};

// Maintenance-margin tiers by position notional (quote for linear, coin for inverse).
// cum_k = cum_{k-1} + floor_k (mmr_k - mmr_{k-1}) keeps MM continuous across tiers
// (Binance's "maintenance amount"); a flat rate is one tier with floor 0.
struct Tiers {
  std::vector<double> floor{0.0};
  std::vector<double> mmr{0.0};
  std::vector<double> cum{0.0};

  static Tiers flat(double rate) { return Tiers{{0.0}, {rate}, {0.0}}; }

  // Validates (floors finite, first 0, strictly increasing; rates finite in [0, 1]) and
  // derives cum. Throws InvalidArgument naming "tiers.floors" / "tiers.mmr".
  static Tiers from_floors(std::span<const double> floors, std::span<const double> rates) {
    if (floors.empty()) throw InvalidArgument("tiers.floors", -1, "must have at least one tier");
    if (floors.size() != rates.size())
      throw InvalidArgument("tiers.mmr", -1, "must have one rate per floor");
    Tiers t;
    t.floor.assign(floors.begin(), floors.end());
    t.mmr.assign(rates.begin(), rates.end());
    t.cum.assign(floors.size(), 0.0);
    for (std::size_t k = 0; k < floors.size(); ++k) {
      const auto i = static_cast<std::int64_t>(k);
      if (!std::isfinite(floors[k])) throw InvalidArgument("tiers.floors", i, "must be finite " + describe(floors[k]));
      if (k == 0 && floors[0] != 0.0) throw InvalidArgument("tiers.floors", 0, "must be 0 " + describe(floors[0]));
      if (k > 0 && !(floors[k] > floors[k - 1]))
        throw InvalidArgument("tiers.floors", i, "must be strictly increasing " + describe(floors[k]));
      if (!(rates[k] >= 0.0 && rates[k] <= 1.0))
        throw InvalidArgument("tiers.mmr", i, "must be in [0, 1] " + describe(rates[k]));
      if (k > 0) t.cum[k] = t.cum[k - 1] + floors[k] * (rates[k] - rates[k - 1]);
    }
    return t;
  }

  std::size_t size() const noexcept { return floor.size(); }

  // The tier whose [floor_k, floor_{k+1}) holds `notional`.
  std::size_t tier_of(double notional) const noexcept {
    const auto it = std::upper_bound(floor.begin() + 1, floor.end(), notional);
    return static_cast<std::size_t>(it - floor.begin()) - 1;
  }

  // MM of a position of this notional: notional·mmr_k − cum_k in the tier holding it, computed
  // as the equal sum of hinges Σ_j (mmr_j − mmr_{j−1})·max(notional − floor_j, 0) (same order
  // and bits as the array kernels, which vectorize this form without a per-element tier lookup).
  double maintenance(double notional) const noexcept {
    double mm = 0.0;
    for (std::size_t j = 0; j < floor.size(); ++j) {
      const double d = mmr[j] - (j > 0 ? mmr[j - 1] : 0.0);
      const double x = notional - floor[j];
      mm += d * (x > 0.0 ? x : 0.0);
    }
    return mm;
  }
};


// ---- scalar formulas ------------------------------------------------------------------
//
// Every formula below is written once, as an inline function that the array kernels further
// down call in their loops, so a scalar call and an array call give the same bits.

// Position notional at price p: |q|·p (quote) or |q|·C/p (coin).
inline double notional(const ContractSpec& c, double q, double p) noexcept {
  return c.kind == Contract::linear ? std::abs(q) * p : std::abs(q) * c.contract_size / p;
}

// Linear q·(P − EP) in quote; inverse N·C·(1/EP − 1/P) in coin.
inline double pnl(const ContractSpec& c, double q, double ep, double p) noexcept {
  return c.kind == Contract::linear ? q * (p - ep) : q * c.contract_size * (1.0 / ep - 1.0 / p);
}

inline double equity(const ContractSpec& c, double q, double ep, double m, double p) noexcept {
  return m + pnl(c, q, ep, p);
}

// MM = notional·mmr − cum, with (mmr, cum) of the tier the notional falls in.
inline double maintenance(const ContractSpec& c, const Tiers& t, double q, double p) noexcept {
  return t.maintenance(notional(c, q, p));
}

inline double maintenance_flat(const ContractSpec& c, double rate, double q, double p) noexcept {
  return notional(c, q, p) * rate;
}

namespace detail {

// The liquidation price of one tier line. In terms of the notional n, equity minus maintenance
// is g(n) = A − σ·n − (n·mmr − cum) with
//   linear  A = m − q·EP,    σ = −sign(q)   (n = |q|·P)
//   inverse A = m + q·C/EP,  σ = +sign(q)   (n = |q|·C/P)
// so g is monotone (slope −σ − mmr, 0 <= mmr <= 1) and, when 1 + σ·mmr > 0, its root is
// n* = σ(A + cum) / (1 + σ·mmr). n* <= 0 means no positive price makes E = MM: a linear
// position then gets 0 and an inverse one +inf (a long is liquidatable below LP, a short above,
// so "0" is "never" for a linear long and "always" for a linear short, and +inf the reverse
// for inverse). Rate 0 and cum 0 give the bankruptcy price.
//
// mmr = 1 with σ = −1 (a linear long, an inverse short) is the limit 1 + σ·mmr = 0: g is the
// constant A + cum, so the position is liquidatable at every price when σ(A + cum) > 0 (a
// linear long gets +inf, an inverse short 0: "always") and never otherwise (0, +inf), which
// is what the division by 0 gives once a zero numerator is divided by 1 instead (0/0 would
// be NaN).
//
// Linear is written as (EP − s·(m + cum)/|q|) / (1 + σ·mmr), s = sign(q): no product |q|·EP,
// which overflows for huge positions (1e300 · 1e300) and loses every digit in the denormal
// range (|q| = 5e-324) although the price itself is ordinary. The array kernels recompute in
// long double the rare elements whose double arithmetic may still have overflowed (see
// lp_suspect below).
inline double lp_linear(double q, double ep, double m, double rate, double cum) noexcept {
  const double s = std::copysign(1.0, q);  // bit ops: GCC would branch on a select
  const double aq = std::abs(q);
  const double x = ep - s * ((m + cum) / aq);  // σ(A + cum)/|q|
  const double den = 1.0 - s * rate;           // 1 + σ·mmr >= 0
  // Selects only between a value and the operand of its own test, and divides afterwards: GCC
  // keeps that branch-free (and vectorizes it) while it would sink a division into a branch.
  // The added 1 (a select between constants) turns 0/0 at mmr = 1 into 0 ("never") and
  // leaves every other quotient's bits alone (0/(den + 1) = 0/den = 0 for den > 0).
  const double pos = x > 0.0 ? x : 0.0;
  return pos / (den + (x > 0.0 ? 0.0 : 1.0));
}

// lp_linear(q, ep, m, 0, 0), the bankruptcy price, without the second division: its divisor is
// 1 (x > 0: x/1 = x) or 2 with a numerator of 0, so the bits are the same and one division less
// lies on the path of every liquidation.
inline double bp_linear(double q, double ep, double m) noexcept {
  const double x = ep - std::copysign(1.0, q) * ((m + 0.0) / std::abs(q));
  return x > 0.0 ? x : 0.0;
}

inline double lp_inverse(double q, double ep, double m, double rate, double cum, double csize) noexcept {
  const double s = std::copysign(1.0, q);  // bit ops: GCC would branch on a select
  const double ac = std::abs(q) * csize;
  const double num = s * (m + cum) * ep + ac;  // σ(A + cum)·EP
  const double den = 1.0 + s * rate;           // 1 + σ·mmr >= 0
  const double pos = num > 0.0 ? num : 0.0;
  // x/0 = +inf: "never" (see above); the added 1 keeps it +inf, not 0/0, at mmr = 1 (and
  // changes no other result: a positive numerator over 0 is +inf either way).
  return ac * (den + (num > 0.0 ? 0.0 : 1.0)) * ep / pos;
}

// The root lies at or above tier j's floor iff floor_j + σ·MM(floor_j) <= σ·A (g is monotone,
// MM continuous), so the tier of the root is the last j for which that holds; no need to guess
// a tier and retry. `key` is σ·A (linear) or σ·A·EP (inverse, to avoid a division), and
// `scale` is 1 (linear) or EP.
inline double tier_edge(const Tiers& t, std::size_t j, double s_sigma) noexcept {
  const double mm = t.floor[j] * t.mmr[j] - t.cum[j];
  return t.floor[j] + s_sigma * mm;
}

inline double sigma(const ContractSpec& c, double q) noexcept {
  const double s = std::copysign(1.0, q);  // bit ops: GCC would branch on a select
  return c.kind == Contract::linear ? -s : s;
}

inline double sigma_a(const ContractSpec& c, double q, double ep, double m) noexcept {
  const double s = std::copysign(1.0, q);  // bit ops: GCC would branch on a select
  if (c.kind == Contract::linear) return std::abs(q) * ep - s * m;
  return s * m * ep + std::abs(q) * c.contract_size;
}

inline double lp_rate(const ContractSpec& c, double q, double ep, double m, double rate, double cum) noexcept {
  return c.kind == Contract::linear ? lp_linear(q, ep, m, rate, cum) : lp_inverse(q, ep, m, rate, cum, c.contract_size);
}

// (mmr, cum) of the tier holding the root, accumulated as sums of the tier-to-tier increments
// times 1 or 0 (whether the tier's edge test passes; they pass for a prefix), so that the
// array kernels can do the same operations branch-free, in registers, in the same order
// (same bits as this scalar version).
struct RateCum {
  double rate, cum;
};

inline RateCum lp_tier(const ContractSpec& c, const Tiers& t, double q, double ep, double m) noexcept {
  const double sg = sigma(c, q);
  const double key = sigma_a(c, q, ep, m);
  const double scale = c.kind == Contract::linear ? 1.0 : ep;
  RateCum rc{t.mmr[0], t.cum[0]};
  for (std::size_t j = 1; j < t.size(); ++j) {
    const double in = tier_edge(t, j, sg) * scale <= key ? 1.0 : 0.0;
    rc.rate += (t.mmr[j] - t.mmr[j - 1]) * in;
    rc.cum += (t.cum[j] - t.cum[j - 1]) * in;
  }
  return rc;
}

}  // namespace detail

// Bankruptcy price: closing the whole position there leaves zero equity.
// Linear EP − M/q; inverse N·C / (M + N·C/EP). A linear long solvent at every positive price
// gets 0, an inverse short solvent at every price gets +inf; q = 0 gets NaN.
inline double bankruptcy_price(const ContractSpec& c, double q, double ep, double m) noexcept {
  if (q == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return c.kind == Contract::linear ? detail::bp_linear(q, ep, m) : detail::lp_rate(c, q, ep, m, 0.0, 0.0);
}

// Liquidation price: the mark at which E(P) = MM(P) (docs/model.md §1), solved exactly in the tier
// that holds the solution (which may differ from the tier of the current or entry notional).
// With mm_at_entry (Bybit's convention) MM is fixed at its value at the entry price, so LP is
// the zero-equity price of margin M − MM(EP). q = 0 gets NaN; when no positive price has
// E = MM, a linear position gets 0 and an inverse one +inf (see detail::lp_linear).
inline double liquidation_price(const ContractSpec& c, const Tiers& t, double q, double ep, double m,
                                bool mm_at_entry) noexcept {
  if (q == 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (mm_at_entry) return detail::lp_rate(c, q, ep, m - maintenance(c, t, q, ep), 0.0, 0.0);
  const detail::RateCum rc = detail::lp_tier(c, t, q, ep, m);
  return detail::lp_rate(c, q, ep, m, rc.rate, rc.cum);
}

// Flat-rate liquidation price (one tier, cum 0): the same bits as Tiers::flat(rate).
inline double liquidation_price_flat(const ContractSpec& c, double rate, double q, double ep, double m,
                                     bool mm_at_entry) noexcept {
  if (q == 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (mm_at_entry) return detail::lp_rate(c, q, ep, m - maintenance_flat(c, rate, q, ep), 0.0, 0.0);
  return detail::lp_rate(c, q, ep, m, rate, 0.0);
}

// Margin ratio MM/E; +inf when E <= 0 (no equity left: at or past liquidation).
inline double margin_ratio(double mm, double e) noexcept {
  // Branch-free: E <= 0 divides MM + 1 (> 0 since MM >= 0) by 0.
  const double pos = e > 0.0 ? e : 0.0;
  return (mm + (e > 0.0 ? 0.0 : 1.0)) / pos;
}

// ---- instruction-set dispatch ------------------------------------------------------------
//
// The wheel targets the x86-64 baseline (SSE2; never -march=native). On x86-64 with GCC or
// Clang the array kernels' block loops (run_kernel) are compiled twice, as function templates
// with the same body: once for the baseline and once with __attribute__((target("avx2"))),
// chosen at run time (once per kernel call) by whether the CPU has AVX2. No other function is
// compiled with other flags (no -m option per file, so no inline function differs between
// translation units), and no ifunc resolver runs at load time (it would run before the
// sanitizers' runtime is initialized). The AVX2 target does not enable FMA, and the build passes
// -ffp-contract=off besides, so both paths perform the same IEEE operations in the same order:
// their results are bit-identical (tests/test_margin_isa.py compares them). Other compilers and
// architectures (MSVC, aarch64) build the baseline only; so does -DLIQCORE_NO_ISA_DISPATCH.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LIQCORE_NO_ISA_DISPATCH)
#define LIQCORE_ISA_DISPATCH 1
#else
#define LIQCORE_ISA_DISPATCH 0
#endif
#if defined(__GNUC__) || defined(__clang__)
#define LIQCORE_FLATTEN __attribute__((flatten))
#else
#define LIQCORE_FLATTEN
#endif

namespace detail {

inline std::atomic<bool>& baseline_forced() noexcept {
  static std::atomic<bool> forced{false};
  return forced;
}

// Whether this CPU runs AVX2 code (asked once).
inline bool cpu_has_avx2() noexcept {
#if LIQCORE_ISA_DISPATCH
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

// Whether the kernel calls that start now run the AVX2 block loops.
inline bool use_avx2() noexcept { return cpu_has_avx2() && !baseline_forced().load(std::memory_order_relaxed); }

}  // namespace detail

// The block loops the array kernels run: "avx2" or "baseline".
inline const char* kernel_isa() noexcept { return detail::use_avx2() ? "avx2" : "baseline"; }

// Forces the baseline block loops (true) or lets the CPU choose (false), for the calls that
// start afterwards: a test and benchmark switch (the results are the same bits either way).
inline void force_baseline_isa(bool force) noexcept {
  detail::baseline_forced().store(force, std::memory_order_relaxed);
}

// ---- array kernels --------------------------------------------------------------------
//
// Elementwise over n positions. Each input is a Column (length n, or length 1 broadcast);
// `out` has length n. Values are checked block by block (kBlock elements, L1-resident) just
// before the block is computed: a branch-free "bad" flag per block (check_block), and only when
// one is set is the input rescanned (after every worker is done) to report the first bad value
// in argument order, then index order, so checking costs no extra pass over memory and the
// report does not depend on the thread count. A broadcast column reports index -1. Every
// kernel runs in the one frame run_kernel, with the contract kind as a template parameter.
//
// `threads`: 0 = auto (every core from kParallelMinAuto elements on, else 1), k >= 1 = at most
// k threads over fixed contiguous chunks (parallel.hpp). Each element is computed the same way
// whichever chunk holds it, so the output bits do not depend on the thread count.
//
// Each kernel returns whether some result may be NaN where the size is not 0 (an undefined
// result: inf − inf or 0/0 from finite inputs); the flag is gathered block by block, so the
// caller needs no pass of its own over the output to rule that out (see run_kernel).
//
// Checks: size finite (any sign, 0 allowed), entry_price and mark finite > 0, margin finite >= 0,
// mmr finite in [0, 1], contract_size finite > 0.

namespace detail {

inline constexpr std::size_t kBlock = 256;
inline constexpr double kMax = std::numeric_limits<double>::max();

enum class Rule { finite, positive, nonnegative, rate };

inline bool ok(Rule r, double x) noexcept {
  switch (r) {
    case Rule::finite: return std::abs(x) <= kMax;
    case Rule::positive: return (x > 0.0) & (x <= kMax);
    case Rule::nonnegative: return (x >= 0.0) & (x <= kMax);
    case Rule::rate: return (x >= 0.0) & (x <= 1.0);
  }
  return false;
}

inline const char* rule_text(Rule r) noexcept {
  switch (r) {
    case Rule::finite: return "must be finite ";
    case Rule::positive: return "must be finite and > 0 ";
    case Rule::nonnegative: return "must be finite and >= 0 ";
    case Rule::rate: return "must be finite and >= 0 and <= 1 ";
  }
  return "";
}

// The running "bad" flag of a block loop: `bad = good ? bad : 1.0`, a sticky select that GCC
// vectorizes as a reduction on SSE2 (a bool |= or an integer count does not vectorize there).
inline double flag(double bad, bool good) noexcept { return good ? bad : 1.0; }

struct Checked {
  const char* name;
  Column col;
  Rule rule;
};

// Throws at the first bad value (first argument, then first index); called only after a
// kernel saw one. Each argument is scanned in parallel chunks that throw at their own first
// bad value; parallel_for_chunks rethrows the lowest chunk's, i.e. the argument's first.
inline void report_first_bad(std::span<const Checked> args, std::size_t n, std::size_t threads) {
  for (const Checked& a : args) {
    const std::size_t len = a.col.values.size();
    parallel_for_chunks(len, threads, kBlock, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        const double x = a.col.values[i];
        if (!ok(a.rule, x)) {
          const std::int64_t at = (len == 1 && n != 1) ? -1 : static_cast<std::int64_t>(i);
          throw InvalidArgument(a.name, at, rule_text(a.rule) + describe(x));
        }
      }
    });
  }
  throw InvalidArgument("input", -1, "has a bad value that could not be located");  // unreachable
}

inline void check_lengths(std::span<const Checked> args, std::size_t n) {
  for (const Checked& a : args) {
    const std::size_t len = a.col.values.size();
    if (len != n && len != 1)
      throw InvalidArgument(a.name, -1,
                            "has length " + std::to_string(len) + ", expected " + std::to_string(n) + " or 1");
  }
}

inline void check_spec(const ContractSpec& c) {
  if (!ok(Rule::positive, c.contract_size))
    throw InvalidArgument("contract_size", -1, rule_text(Rule::positive) + describe(c.contract_size));
}

// Runs body(begin, end) over the chunks of [0, n) (parallel_for_chunks; the chunks are whole
// numbers of kBlock-long blocks, so the blocks are the same for every thread count). body
// returns its chunk's bad flag (0 when every value was valid); returns whether all were 0.
template <class Body>
bool for_blocks(std::size_t n, std::size_t threads, const Body& body) {
  return !parallel_any(n, threads, kBlock, [&](std::size_t begin, std::size_t end) { return body(begin, end) != 0.0; });
}

// A column seen block by block: an array yields a pointer into itself, a broadcast scalar a
// pointer to kBlock copies of its value, so the block loops see plain arrays and vectorize.
// Read-only once built, so the threads of one kernel share it.
class Feed {
 public:
  Feed() = default;
  void reset(Column c) noexcept {
    c_ = c;
    if (c.scalar()) std::fill(buf_, buf_ + kBlock, c.values[0]);
  }
  const double* at(std::size_t i0) const noexcept { return c_.scalar() ? buf_ : c_.values.data() + i0; }

 private:
  Column c_;
  double buf_[kBlock];
};

// Per-tier constants for the blended tier search (tiers 1..K-1; tier 0 is the default).
struct TierTable {
  std::vector<double> floor, rate, cum, mm;  // mm: MM at the floor (see tier_edge)
  double one = 1.0;  // 1.0 the compiler cannot see (see lp_tiers_block)
  explicit TierTable(const Tiers& t) : floor(t.floor), rate(t.mmr), cum(t.cum) {
    for (std::size_t j = 0; j < t.size(); ++j) mm.push_back(t.floor[j] * t.mmr[j] - t.cum[j]);
  }
  std::size_t size() const noexcept { return floor.size(); }
};

// Calls f(integral_constant<size_t, NT>) for tables of 1..8 tiers (loops over the tiers then
// unroll at compile time and keep their sums in registers), f(0) for larger tables.
template <class F>
void with_tier_count(std::size_t size, F&& f) {
  switch (size) {
    case 1: return f(std::integral_constant<std::size_t, 1>{});
    case 2: return f(std::integral_constant<std::size_t, 2>{});
    case 3: return f(std::integral_constant<std::size_t, 3>{});
    case 4: return f(std::integral_constant<std::size_t, 4>{});
    case 5: return f(std::integral_constant<std::size_t, 5>{});
    case 6: return f(std::integral_constant<std::size_t, 6>{});
    case 7: return f(std::integral_constant<std::size_t, 7>{});
    case 8: return f(std::integral_constant<std::size_t, 8>{});
    default: return f(std::integral_constant<std::size_t, 0>{});
  }
}

// mm[i] := Tiers::maintenance(notional[i]). With NT tiers (1..8) the tier loop is unrolled so
// the sum stays in registers; NT = 0 (any count) makes one pass over the (L1-resident) block
// per tier. Both add the same terms in the same order.
template <std::size_t NT>
inline void maintenance_block(const TierTable& t, std::size_t len, const double* __restrict notional,
                              double* __restrict mm) noexcept {
  if constexpr (NT > 0) {
    double f[NT], d[NT];
    for (std::size_t j = 0; j < NT; ++j) {
      f[j] = t.floor[j];
      d[j] = t.rate[j] - (j > 0 ? t.rate[j - 1] : 0.0);
    }
    for (std::size_t i = 0; i < len; ++i) {
      double acc = 0.0;
      for (std::size_t j = 0; j < NT; ++j) {
        const double x = notional[i] - f[j];
        acc += d[j] * (x > 0.0 ? x : 0.0);
      }
      mm[i] = acc;
    }
  } else {
    for (std::size_t i = 0; i < len; ++i) mm[i] = 0.0;
    for (std::size_t j = 0; j < t.size(); ++j) {
      const double f = t.floor[j], d = t.rate[j] - (j > 0 ? t.rate[j - 1] : 0.0);
      for (std::size_t i = 0; i < len; ++i) {
        const double x = notional[i] - f;
        mm[i] += d * (x > 0.0 ? x : 0.0);
      }
    }
  }
}

template <Contract K>
inline double notional_k(double q, double p, double csize) noexcept {
  return K == Contract::linear ? std::abs(q) * p : std::abs(q) * csize / p;
}

template <Contract K>
inline double equity_k(double q, double ep, double m, double p, double csize) noexcept {
  return K == Contract::linear ? m + q * (p - ep) : m + q * csize * (1.0 / ep - 1.0 / p);
}

template <Contract K>
inline double lp_k(double q, double ep, double m, double rate, double cum, double csize) noexcept {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double p = K == Contract::linear ? lp_linear(q, ep, m, rate, cum) : lp_inverse(q, ep, m, rate, cum, csize);
  // Not a select of p or NaN (GCC sinks the division into a branch) nor p * {1, NaN} (same).
  // For q = 0, p is itself 0/0 (x86's default NaN has the sign bit set) and which of two NaNs
  // an addition returns depends on operand order, which differs between the vector loop and
  // its scalar remainder; abs() makes it the one positive quiet NaN (p >= +0 otherwise).
  return std::abs(p + (q != 0.0 ? 0.0 : nan));
}

// ---- overflow guard ---------------------------------------------------------------------
//
// The double formulas above are right up to rounding whenever no intermediate overflows or
// falls below the normal range. Each array kernel screens its elements branch-free block by
// block (in_range: every input 0 or within [2^-250, 2^250], and no infinite result that is not a
// documented +inf); only when some element fails, a second pass applies the precise test (the
// *_suspect functions: a non-finite or denormal intermediate) and recomputes those elements in
// long double (x87 extended on x86-64: a 15-bit exponent, so no product of a few finite doubles
// overflows or turns denormal there). A result that is then beyond the double range raises
// InvalidArgument naming the arguments at that index: never a silent infinity. Where long
// double is no wider than double, such elements raise instead.

inline constexpr double kMinNormal = std::numeric_limits<double>::min();

// The screen the kernels' loops apply (cheap compares, no operation that could make a denormal):
// with every input 0 or of magnitude in [2^-250, 2^250], no product of up to four of them nor
// any formula here leaves the normal range, except by cancellation (an inverse price, a margin
// ratio: those loops also test their result). An element failing the screen goes to the precise
// test (the *_suspect functions below) in the rare fix-up pass.
inline bool in_range(double x) noexcept {
  const double a = std::abs(x);
  return (a <= 0x1p250) & ((a >= 0x1p-250) | (a == 0.0));
}

// An inverse price that came out infinite although its numerator s·M·EP + |q|·C (with the
// margin after MM at entry, cum 0) is positive: the quotient overflowed.
template <Contract K>
inline bool inverse_overflow(double q, double ep, double m, double cs, double o) noexcept {
  if constexpr (K == Contract::linear) {
    (void)q, (void)ep, (void)m, (void)cs, (void)o;
    return false;
  } else {
    // branch-free (a && here keeps GCC from vectorizing the loop)
    return (o > kMax) & (std::copysign(1.0, q) * m * ep + std::abs(q) * cs > 0.0);
  }
}

// A tier table whose floors or cums leave the screen's range: every element takes the precise
// test.
inline bool tiers_in_range(const Tiers& t) noexcept {
  bool ok = true;
  for (std::size_t j = 0; j < t.size(); ++j) ok = ok && in_range(t.floor[j]) && in_range(t.cum[j]) && in_range(t.mmr[j]);
  return ok;
}

// |x| beyond the double range, or NaN.
inline bool huge(double x) noexcept { return !(std::abs(x) <= kMax); }

// A product of nonzero factors below the normal range: it kept only some of its digits, or
// none (0), and a product with it as a factor keeps even fewer.
inline bool lost(double x, double below = kMinNormal) noexcept { return std::abs(x) < below; }

// E = m + q(P − EP) (linear: one product, overflow only) or m + qC(1/EP − 1/P) (inverse: also
// qC, 1/EP or 1/P in the denormal range).
template <Contract K>
inline bool equity_suspect(double q, double ep, double p, double cs, double o) noexcept {
  if constexpr (K == Contract::linear) {
    (void)q, (void)ep, (void)p, (void)cs;
    return huge(o);
  } else {
    return huge(o) | ((q != 0.0) & lost(q * cs)) | lost(1.0 / ep) | lost(1.0 / p);
  }
}

// MM from the notional |q|P (linear) or |q|C/P (inverse) and the rate or tiers: the notional
// (and |q|C) overflowing or in the denormal range, or the result overflowing.
template <Contract K>
inline bool mm_suspect(double q, double p, double cs, double o) noexcept {
  if constexpr (K == Contract::linear) {
    (void)cs;
    return huge(o) | ((q != 0.0) & lost(std::abs(q) * p));
  } else {
    const double ac = std::abs(q) * cs;
    return huge(o) | huge(ac) | ((q != 0.0) & (lost(ac) | lost(ac / p)));
  }
}

// lp_k: linear overflows only through m + cum or the result; inverse through its numerator,
// its product |q|·C·(1 + σ·mmr)·EP, or a result that is infinite while the position is not
// "never" (numerator > 0), and loses digits when |q|·C, |q|·C·EP or (m + cum)·EP is in (or
// near) the denormal range. `cum_abs` and `rate` may be bounds (`exact_never` false: then an
// infinite inverse result always counts), else exact (the tier kernels pass m + cum as m).
template <Contract K>
inline bool lp_suspect(double q, double ep, double m, double rate, double cum_abs, double cs,
                       double o, bool exact_never) noexcept {
  const double mc = std::abs(m) + cum_abs;
  if constexpr (K == Contract::linear) {
    (void)ep, (void)rate, (void)cs, (void)exact_never;
    // (m + cum)/|q| below the normal range (tested without a division) keeps only some digits,
    // and 1/(1 + σ·mmr) can bring them back into the normal range
    // (scaled by 2^60 so that the test itself makes no denormal for an ordinary |q| < 1: those
    // take a slow microcode path on x86)
    const bool few_digits = (mc != 0.0) & (mc * 0x1p60 < (kMinNormal * 0x1p60) * std::abs(q));
    return (q != 0.0) & (huge(mc) | huge(o) | few_digits);
  } else {
    const double s = std::copysign(1.0, q);
    const double ac = std::abs(q) * cs;
    const double num = s * (m + (exact_never ? cum_abs : 0.0)) * ep + ac;
    const bool inf_not_never = (o > kMax) & (!exact_never | (num > 0.0));
    // 2^-900: (1 + σ·mmr) >= 1 − mmr >= 2^-53 (or exactly 0: result 0 or +inf, exact) keeps
    // |q|·C·EP·(1 + σ·mmr) normal above it
    const bool few_digits = lost(ac) | lost(ac * ep, 0x1p-900) | ((mc != 0.0) & lost(mc * ep));
    return (q != 0.0) & (huge(mc * ep) | huge(ac * (1.0 + rate) * ep) | inf_not_never | few_digits);
  }
}

// MM/E: MM or E suspect, or a positive E gave an infinite ratio (E <= 0 is the documented +inf).
template <Contract K>
inline bool ratio_suspect(double q, double ep, double p, double cs, double mm, double e, double o) noexcept {
  return mm_suspect<K>(q, p, cs, mm) | equity_suspect<K>(q, ep, p, cs, e) | ((e > 0.0) & huge(o));
}

namespace wide {

using W = long double;

// A result in long double; `never` marks the documented +inf (an inverse position that no
// price liquidates, a margin ratio with E <= 0).
struct Value {
  W v;
  bool never;
};

inline W abs(W x) noexcept { return x < 0 ? -x : x; }

inline W notional(Contract k, W q, W p, W cs) noexcept {
  return k == Contract::linear ? abs(q) * p : abs(q) * cs / p;
}

inline W equity(Contract k, W q, W ep, W m, W p, W cs) noexcept {
  return k == Contract::linear ? m + q * (p - ep) : m + q * cs * (1.0L / ep - 1.0L / p);
}

inline W maintenance(const TierTable& t, W n) noexcept {
  W mm = 0;
  for (std::size_t j = 0; j < t.size(); ++j) {
    const W d = W(t.rate[j]) - (j > 0 ? W(t.rate[j - 1]) : W(0));
    const W x = n - W(t.floor[j]);
    mm += d * (x > 0 ? x : W(0));
  }
  return mm;
}

inline Value ratio(W mm, W e) noexcept {
  if (!(e > 0)) return {0, true};
  return {mm / e, false};
}

// As detail::lp_rate (q != 0).
inline Value lp(Contract k, W q, W ep, W m, W rate, W cum, W cs) noexcept {
  const W s = q < 0 ? -1 : 1;
  const W aq = abs(q);
  if (k == Contract::linear) {
    const W x = ep - s * ((m + cum) / aq);
    if (!(x > 0)) return {0, false};
    const W den = 1 - s * rate;
    if (!(den > 0)) return {0, true};  // mmr = 1, a long: liquidatable at every price (+inf)
    return {x / den, false};
  }
  const W ac = aq * cs;
  const W num = s * (m + cum) * ep + ac;
  if (!(num > 0)) return {0, true};
  return {ac * (1 + s * rate) * ep / num, false};
}

// As detail::lp_tier then lp_rate: the tier of the root, then its closed form.
inline Value lp_tiers(Contract k, const TierTable& t, W q, W ep, W m, W cs) noexcept {
  const W s = q < 0 ? -1 : 1;
  const W sg = k == Contract::linear ? -s : s;
  const W aq = abs(q);
  const W key = k == Contract::linear ? aq * ep - s * m : s * m * ep + aq * cs;
  const W scale = k == Contract::linear ? W(1) : ep;
  W rate = t.rate[0], cum = t.cum[0];
  for (std::size_t j = 1; j < t.size(); ++j) {
    const W f = t.floor[j];
    const W edge = f + sg * (f * W(t.rate[j]) - W(t.cum[j]));
    if (edge * scale <= key) {
      rate += W(t.rate[j]) - W(t.rate[j - 1]);
      cum += W(t.cum[j]) - W(t.cum[j - 1]);
    }
  }
  return lp(k, q, ep, m, rate, cum, cs);
}

inline double at(const Column& c, std::size_t i) noexcept { return c.values[c.scalar() ? 0 : i]; }

// The double of `r`, or InvalidArgument naming every argument at element i when the result is
// beyond the double range: "size[3] = 1e+300, entry_price[3] = ...: the equity is beyond ...".
// (`args` starts with size; a broadcast argument is named without an index; rates are not named.)
inline double narrow(Value r, const char* what, std::size_t i, std::size_t n, std::span<const Checked> args) {
  if (r.never) return std::numeric_limits<double>::infinity();
  if (abs(r.v) <= W(kMax)) return static_cast<double>(r.v);
  std::string text;
  std::int64_t first_index = -1;
  for (const Checked& a : args) {
    if (a.rule == Rule::rate) continue;
    const bool broadcast = a.col.scalar() && n != 1;
    char buf[64];
    std::snprintf(buf, sizeof buf, " = %.17g", at(a.col, i));
    if (text.empty()) {
      first_index = broadcast ? -1 : static_cast<std::int64_t>(i);
      text = buf + 1;  // InvalidArgument puts "size[i] " before it
    } else {
      text += std::string(", ") + a.name + (broadcast ? "" : "[" + std::to_string(i) + "]") + buf;
    }
  }
  throw InvalidArgument(args.front().name, first_index,
                        text + ": " + what + " is beyond the float range (magnitude > 1.8e308)");
}

}  // namespace wide

// A block-level "some element suspect" flag shared by a kernel's threads.
struct SuspectFlag {
  std::atomic<bool> any{false};
  void note(double f) noexcept {
    if (f != 0.0) any.store(true, std::memory_order_relaxed);
  }
  bool get() const noexcept { return any.load(std::memory_order_relaxed); }
};

template <class F>
void dispatch(const ContractSpec& c, F&& f) {
  if (c.kind == Contract::linear)
    f(std::integral_constant<Contract, Contract::linear>{});
  else
    f(std::integral_constant<Contract, Contract::inverse>{});
}

// Liquidation prices of one block with tiers (see lp_tier): the increments of the tiers whose
// edge test passes are summed in the same order as lp_tier (increment times 1 or 0). With NT
// tiers (1..8) everything stays in registers in one pass over the block; NT = 0 (any count)
// makes one pass per tier over the L1-resident block. The 1 is TierTable::one, a value GCC
// cannot see: with a literal 1.0 it folds d * 1.0 into one arm of a branch and the loop no
// longer vectorizes.
template <Contract K, std::size_t NT>
inline void lp_tiers_block(const TierTable& t, std::size_t len, const double* __restrict q,
                           const double* __restrict ep, const double* __restrict m, double cs,
                           double* __restrict o) noexcept {
  const ContractSpec spec{K, cs};
  if constexpr (NT > 0) {
    double f[NT], mm[NT], dr[NT], dc[NT];
    for (std::size_t j = 1; j < NT; ++j) {
      f[j] = t.floor[j];
      mm[j] = t.mm[j];
      dr[j] = t.rate[j] - t.rate[j - 1];
      dc[j] = t.cum[j] - t.cum[j - 1];
    }
    const double r0 = t.rate[0], c0 = t.cum[0], one = t.one;
    for (std::size_t i = 0; i < len; ++i) {
      const double sg = sigma(spec, q[i]);
      const double key = sigma_a(spec, q[i], ep[i], m[i]);
      const double scale = K == Contract::linear ? 1.0 : ep[i];
      double rate = r0, cum = c0;
      for (std::size_t j = 1; j < NT; ++j) {
        const double in = (f[j] + sg * mm[j]) * scale <= key ? one : 0.0;
        rate += dr[j] * in;
        cum += dc[j] * in;
      }
      o[i] = lp_k<K>(q[i], ep[i], m[i], rate, cum, cs);
    }
  } else {
    double sg[kBlock], key[kBlock], scale[kBlock], rate[kBlock], cum[kBlock];
    const double one = t.one;
    for (std::size_t i = 0; i < len; ++i) {
      sg[i] = sigma(spec, q[i]);
      key[i] = sigma_a(spec, q[i], ep[i], m[i]);
      scale[i] = K == Contract::linear ? 1.0 : ep[i];
      rate[i] = t.rate[0];
      cum[i] = t.cum[0];
    }
    for (std::size_t j = 1; j < t.size(); ++j) {
      const double f = t.floor[j], mm = t.mm[j], dr = t.rate[j] - t.rate[j - 1], dc = t.cum[j] - t.cum[j - 1];
      for (std::size_t i = 0; i < len; ++i) {
        const double in = (f + sg[i] * mm) * scale[i] <= key[i] ? one : 0.0;
        rate[i] += dr * in;
        cum[i] += dc * in;
      }
    }
    for (std::size_t i = 0; i < len; ++i) o[i] = lp_k<K>(q[i], ep[i], m[i], rate[i], cum[i], cs);
  }
}

// The arguments of the kernels below, each named with its rule once.
inline Checked a_size(Column c) noexcept { return {"size", c, Rule::finite}; }
inline Checked a_entry(Column c) noexcept { return {"entry_price", c, Rule::positive}; }
inline Checked a_margin(Column c) noexcept { return {"margin", c, Rule::nonnegative}; }
inline Checked a_mark(Column c) noexcept { return {"mark", c, Rule::positive}; }
inline Checked a_mmr(Column c) noexcept { return {"mmr", c, Rule::rate}; }

// A rule as the closed interval lo <= x <= hi (false for NaN, as ok()): x > 0 is
// x >= the least denormal. One branch-free loop then checks
// arguments of different rules alike, with two compares each.
struct Bounds {
  double lo, hi;
};

inline Bounds bounds(Rule r) noexcept {
  switch (r) {
    case Rule::finite: return {-kMax, kMax};
    case Rule::positive: return {std::numeric_limits<double>::denorm_min(), kMax};
    case Rule::nonnegative: return {0.0, kMax};
    case Rule::rate: return {0.0, 1.0};
  }
  return {1.0, 0.0};
}

// One pass over a block of the N arguments x[k]: the bad flag (some value breaks its rule) and
// the screen flag (some value fails in_range), both as sticky selects that vectorize.
template <std::size_t N>
inline void check_block(const double* const* x, const Bounds* b, std::size_t len, double& bad, double& sus) noexcept {
  const double* xs[N];
  Bounds bs[N];
  for (std::size_t k = 0; k < N; ++k) xs[k] = x[k], bs[k] = b[k];
  double bd = 0.0, su = 0.0;
  for (std::size_t i = 0; i < len; ++i) {
    bool good = true, screened = true;
    for (std::size_t k = 0; k < N; ++k) {
      const double v = xs[k][i];
      good = good & (v >= bs[k].lo) & (v <= bs[k].hi);
      screened = screened & in_range(v);
    }
    bd = flag(bd, good);
    su = flag(su, screened);
  }
  bad = bd;
  sus = su;
}

// The blocks of [begin, end) of one kernel: each block's arguments checked against their
// rules and screened (check_block), then the kernel's own block loop, then its results
// scanned (in L1) for a NaN at a nonzero size (x[0]: every kernel's first argument is the
// size). Returns the chunk's bad flag and adds its suspect and NaN flags to `sus` and `nan`.
// Written once and compiled per instruction set by the two wrappers below (flatten: every
// call in it is inlined, so each wrapper's loops are compiled, and vectorized, for its own
// target).
template <std::size_t N, Contract K, class Block>
inline double run_blocks(const Feed* feeds, const Bounds* b, const Block& block, double* out, std::size_t begin,
                         std::size_t end, double& sus, double& nan) {
  double bad_all = 0.0, sus_all = 0.0, nan_all = 0.0;
  for (std::size_t i0 = begin; i0 < end; i0 += kBlock) {
    const std::size_t len = std::min(kBlock, end - i0);
    const double* x[N];
    for (std::size_t k = 0; k < N; ++k) x[k] = feeds[k].at(i0);
    double bad, s;
    check_block<N>(x, b, len, bad, s);
    s += block.template operator()<K>(x, out + i0, len);
    const double *__restrict q = x[0], *__restrict o = out + i0;
    double u = 0.0;
    for (std::size_t i = 0; i < len; ++i) u = flag(u, (o[i] == o[i]) | (q[i] == 0.0));
    bad_all += bad;
    sus_all += s;
    nan_all += u;
  }
  sus += sus_all;
  nan += nan_all;
  return bad_all;
}

template <std::size_t N, Contract K, class Block>
LIQCORE_FLATTEN double run_blocks_baseline(const Feed* feeds, const Bounds* b, const Block& block, double* out,
                                           std::size_t begin, std::size_t end, double& sus, double& nan) {
  return run_blocks<N, K>(feeds, b, block, out, begin, end, sus, nan);
}

#if LIQCORE_ISA_DISPATCH
template <std::size_t N, Contract K, class Block>
__attribute__((flatten, target("avx2"))) double run_blocks_avx2(const Feed* feeds, const Bounds* b,
                                                                const Block& block, double* out, std::size_t begin,
                                                                std::size_t end, double& sus, double& nan) {
  return run_blocks<N, K>(feeds, b, block, out, begin, end, sus, nan);
}
#endif

// The frame of every array kernel below, written once: checks the lengths and the spec, then
// runs the blocks with the contract kind K as a compile-time constant (no branch on it in the
// loops); in each block it checks every argument against its rule, screens it (in_range) and
// calls the kernel's own loop; last (rare) it recomputes the suspect elements in long double
// and reports the first bad value. A kernel supplies three lambdas templated on K:
//   block(x, o, len) -> double: o[0, len) from x[a], argument a's block in `args` order;
//       1.0 when some result is suspect by itself (an infinite price, say), else 0.0;
//   suspect(v, o) -> bool: the precise test of one element (v[a]: argument a there, o: its
//       result);
//   exact(v) -> wide::Value: that element in long double; beyond the double range it raises
//       InvalidArgument naming the arguments that are not rates and calling the result `what`.
// `table_ok` false (a tier table beyond the screen's range) sends every element to `suspect`.
// Returns true when some result may be NaN at a nonzero size (the kernels below return it: an
// undefined result, e.g. inf − inf from finite inputs; the caller's exact check decides, as
// liqcore.margin's _out does), false when none is.
template <std::size_t N, class Block, class Suspect, class Exact>
bool run_kernel(const ContractSpec& c, const Checked (&args)[N], const char* what, bool table_ok,
                std::span<double> out, std::size_t threads, const Block& block, const Suspect& suspect,
                const Exact& exact) {
  const std::size_t n = out.size();
  check_lengths(args, n);
  check_spec(c);
  Feed feeds[N];
  Bounds b[N];
  for (std::size_t k = 0; k < N; ++k) feeds[k].reset(args[k].col), b[k] = bounds(args[k].rule);
  bool good = true;
  SuspectFlag overflow, undefined;
  if (!in_range(c.contract_size) || !table_ok) overflow.note(1.0);  // precise test for every element
  [[maybe_unused]] const bool avx2 = use_avx2();  // once per call
  dispatch(c, [&](auto kind) {
    constexpr Contract K = decltype(kind)::value;
    good = for_blocks(n, threads, [&](std::size_t begin, std::size_t end) {
      double sus = 0.0, nan = 0.0;
#if LIQCORE_ISA_DISPATCH
      const double bad = avx2 ? run_blocks_avx2<N, K>(feeds, b, block, out.data(), begin, end, sus, nan)
                              : run_blocks_baseline<N, K>(feeds, b, block, out.data(), begin, end, sus, nan);
#else
      const double bad = run_blocks_baseline<N, K>(feeds, b, block, out.data(), begin, end, sus, nan);
#endif
      overflow.note(sus);
      undefined.note(nan);
      return bad;
    });
    if (!good || !overflow.get()) return;
    // serially, in index order: the rare path, and the first bad index is the one reported
    double v[N];
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < N; ++k) v[k] = wide::at(args[k].col, i);
      if (suspect.template operator()<K>(v, out[i])) {
        out[i] = wide::narrow(exact.template operator()<K>(v), what, i, n, args);
        undefined.note(!(out[i] == out[i]) && v[0] != 0.0);
      }
    }
  });
  if (!good) report_first_bad(args, n, threads);
  return undefined.get();
}

}  // namespace detail

// E = M + PnL(mark).
inline bool equity(const ContractSpec& c, Column size, Column entry_price, Column margin, Column mark,
                   std::span<double> out, std::size_t threads = 1) {
  using namespace detail;
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_entry(entry_price), a_margin(margin), a_mark(mark)},
      "the equity", true, out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict ep = x[1], *__restrict m = x[2], *__restrict p = x[3];
        for (std::size_t i = 0; i < len; ++i) o[i] = equity_k<K>(q[i], ep[i], m[i], p[i], cs);
        return 0.0;
      },
      [&]<Contract K>(const double* v, double o) { return equity_suspect<K>(v[0], v[1], v[3], cs, o); },
      [&]<Contract K>(const double* v) { return wide::Value{wide::equity(K, v[0], v[1], v[2], v[3], cs), false}; });
}

// MM at the mark with a flat rate per position (or one for all).
inline bool maintenance_margin(const ContractSpec& c, Column size, Column mark, Column mmr, std::span<double> out,
                               std::size_t threads = 1) {
  using namespace detail;
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_mark(mark), a_mmr(mmr)},
      "the maintenance margin", true, out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict p = x[1], *__restrict r = x[2];
        for (std::size_t i = 0; i < len; ++i) o[i] = notional_k<K>(q[i], p[i], cs) * r[i];
        return 0.0;
      },
      [&]<Contract K>(const double* v, double o) { return mm_suspect<K>(v[0], v[1], cs, o); },
      [&]<Contract K>(const double* v) {
        return wide::Value{wide::notional(K, v[0], v[1], cs) * v[2], false};
      });
}

// MM at the mark with tiers by notional.
inline bool maintenance_margin(const ContractSpec& c, Column size, Column mark, const Tiers& tiers,
                               std::span<double> out, std::size_t threads = 1) {
  using namespace detail;
  const TierTable tt(tiers);
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_mark(mark)}, "the maintenance margin",
      tiers_in_range(tiers), out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict p = x[1];
        double nb[kBlock];
        for (std::size_t i = 0; i < len; ++i) nb[i] = notional_k<K>(q[i], p[i], cs);
        with_tier_count(tt.size(), [&](auto nt) { maintenance_block<decltype(nt)::value>(tt, len, nb, o); });
        return 0.0;
      },
      [&]<Contract K>(const double* v, double o) { return mm_suspect<K>(v[0], v[1], cs, o); },
      [&]<Contract K>(const double* v) {
        return wide::Value{wide::maintenance(tt, wide::notional(K, v[0], v[1], cs)), false};
      });
}

// Bankruptcy price (see the scalar bankruptcy_price for conventions).
inline bool bankruptcy_price(const ContractSpec& c, Column size, Column entry_price, Column margin,
                             std::span<double> out, std::size_t threads = 1) {
  using namespace detail;
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_entry(entry_price), a_margin(margin)},
      "the bankruptcy price", true, out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict ep = x[1], *__restrict m = x[2];
        double sus = 0.0;
        for (std::size_t i = 0; i < len; ++i) {
          o[i] = lp_k<K>(q[i], ep[i], m[i], 0.0, 0.0, cs);
          sus = flag(sus, !inverse_overflow<K>(q[i], ep[i], m[i], cs, o[i]));
        }
        return sus;
      },
      [&]<Contract K>(const double* v, double o) { return lp_suspect<K>(v[0], v[1], v[2], 0.0, 0.0, cs, o, true); },
      [&]<Contract K>(const double* v) { return wide::lp(K, v[0], v[1], v[2], 0, 0, cs); });
}

// Liquidation price with a flat rate per position (or one for all).
inline bool liquidation_price(const ContractSpec& c, Column size, Column entry_price, Column margin, Column mmr,
                              bool mm_at_entry, std::span<double> out, std::size_t threads = 1) {
  using namespace detail;
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_entry(entry_price), a_margin(margin), a_mmr(mmr)},
      "the liquidation price", true, out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict ep = x[1], *__restrict m = x[2], *__restrict r = x[3];
        double sus = 0.0;
        if (mm_at_entry) {
          for (std::size_t i = 0; i < len; ++i) {
            const double mm = notional_k<K>(q[i], ep[i], cs) * r[i];
            o[i] = lp_k<K>(q[i], ep[i], m[i] - mm, 0.0, 0.0, cs);
            sus = flag(sus, !inverse_overflow<K>(q[i], ep[i], m[i] - mm, cs, o[i]));
          }
        } else {
          for (std::size_t i = 0; i < len; ++i) {
            o[i] = lp_k<K>(q[i], ep[i], m[i], r[i], 0.0, cs);
            sus = flag(sus, !inverse_overflow<K>(q[i], ep[i], m[i], cs, o[i]));
          }
        }
        return sus;
      },
      [&]<Contract K>(const double* v, double o) {
        const double qi = v[0], epi = v[1], ri = v[3];
        if (!mm_at_entry) return lp_suspect<K>(qi, epi, v[2], ri, 0.0, cs, o, true);
        const double mm = notional_k<K>(qi, epi, cs) * ri;
        return lp_suspect<K>(qi, epi, v[2] - mm, 0.0, 0.0, cs, o, true) || mm_suspect<K>(qi, epi, cs, mm);
      },
      [&]<Contract K>(const double* v) {
        const double qi = v[0];
        const wide::W epi = v[1], mi = v[2], ri = v[3];
        return mm_at_entry ? wide::lp(K, qi, epi, mi - wide::notional(K, qi, epi, cs) * ri, 0, 0, cs)
                           : wide::lp(K, qi, epi, mi, ri, 0, cs);
      });
}

// Liquidation price with tiers: the tier of the solution is found branch-free per element
// (detail::lp_tier), then the tier's closed form is applied.
inline bool liquidation_price(const ContractSpec& c, Column size, Column entry_price, Column margin,
                              const Tiers& tiers, bool mm_at_entry, std::span<double> out,
                              std::size_t threads = 1) {
  using namespace detail;
  const TierTable tt(tiers);
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_entry(entry_price), a_margin(margin)},
      "the liquidation price", tiers_in_range(tiers), out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict ep = x[1], *__restrict m = x[2];
        double sus = 0.0;
        with_tier_count(tt.size(), [&](auto nt) {
          constexpr std::size_t NT = decltype(nt)::value;
          double s = 0.0;  // a local, not `sus` (a reference here, which GCC would store each time)
          if (mm_at_entry) {
            double kb[kBlock], rb[kBlock];
            for (std::size_t i = 0; i < len; ++i) kb[i] = notional_k<K>(q[i], ep[i], cs);
            maintenance_block<NT>(tt, len, kb, rb);
            for (std::size_t i = 0; i < len; ++i) {
              o[i] = lp_k<K>(q[i], ep[i], m[i] - rb[i], 0.0, 0.0, cs);
              s = flag(s, !inverse_overflow<K>(q[i], ep[i], m[i] - rb[i], cs, o[i]));
            }
          } else {
            lp_tiers_block<K, NT>(tt, len, q, ep, m, cs, o);
            for (std::size_t i = 0; i < len; ++i)
              s = flag(s, !((K == Contract::inverse) & (o[i] > kMax)));  // "never", or overflow
          }
          sus = s;
        });
        return sus;
      },
      [&]<Contract K>(const double* v, double o) {
        const double qi = v[0], epi = v[1], mi = v[2];
        if (!mm_at_entry) {
          const RateCum rc = lp_tier(c, tiers, qi, epi, mi);
          return lp_suspect<K>(qi, epi, mi + rc.cum, rc.rate, 0.0, cs, o, true);
        }
        const double mm = tiers.maintenance(notional_k<K>(qi, epi, cs));
        return lp_suspect<K>(qi, epi, mi - mm, 0.0, 0.0, cs, o, true) || mm_suspect<K>(qi, epi, cs, mm);
      },
      [&]<Contract K>(const double* v) {
        const double qi = v[0];
        const wide::W epi = v[1], mi = v[2];
        return mm_at_entry ? wide::lp(K, qi, epi, mi - wide::maintenance(tt, wide::notional(K, qi, epi, cs)), 0, 0, cs)
                           : wide::lp_tiers(K, tt, qi, epi, mi, cs);
      });
}

// MM/E at the mark with a flat rate; +inf where E <= 0.
inline bool margin_ratio(const ContractSpec& c, Column size, Column entry_price, Column margin, Column mark,
                         Column mmr, std::span<double> out, std::size_t threads = 1) {
  using namespace detail;
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_entry(entry_price), a_margin(margin), a_mark(mark), a_mmr(mmr)},
      "the margin ratio", true, out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict ep = x[1], *__restrict m = x[2], *__restrict p = x[3];
        const double* __restrict r = x[4];
        double sus = 0.0;
        for (std::size_t i = 0; i < len; ++i) {
          const double mm = notional_k<K>(q[i], p[i], cs) * r[i], e = equity_k<K>(q[i], ep[i], m[i], p[i], cs);
          o[i] = margin_ratio(mm, e);
          sus = flag(sus, !((e > 0.0) & huge(o[i])));
        }
        return sus;
      },
      [&]<Contract K>(const double* v, double o) {
        const double qi = v[0], epi = v[1], pi = v[3];
        return ratio_suspect<K>(qi, epi, pi, cs, notional_k<K>(qi, pi, cs) * v[4], equity_k<K>(qi, epi, v[2], pi, cs),
                                o);
      },
      [&]<Contract K>(const double* v) {
        const double qi = v[0];
        const wide::W pi = v[3];
        const wide::W mm = wide::notional(K, qi, pi, cs) * v[4];
        return wide::ratio(mm, wide::equity(K, qi, v[1], v[2], pi, cs));
      });
}

// MM/E at the mark with tiers; +inf where E <= 0.
inline bool margin_ratio(const ContractSpec& c, Column size, Column entry_price, Column margin, Column mark,
                         const Tiers& tiers, std::span<double> out, std::size_t threads = 1) {
  using namespace detail;
  const TierTable tt(tiers);
  const double cs = c.contract_size;
  return run_kernel(
      c, {a_size(size), a_entry(entry_price), a_margin(margin), a_mark(mark)},
      "the margin ratio", tiers_in_range(tiers), out, threads,
      [&]<Contract K>(const double* const* x, double* __restrict o, std::size_t len) {
        const double *__restrict q = x[0], *__restrict ep = x[1], *__restrict m = x[2], *__restrict p = x[3];
        double nb[kBlock], rb[kBlock];
        for (std::size_t i = 0; i < len; ++i) nb[i] = notional_k<K>(q[i], p[i], cs);
        with_tier_count(tt.size(), [&](auto nt) { maintenance_block<decltype(nt)::value>(tt, len, nb, rb); });
        double sus = 0.0;
        for (std::size_t i = 0; i < len; ++i) {
          const double e = equity_k<K>(q[i], ep[i], m[i], p[i], cs);
          o[i] = margin_ratio(rb[i], e);
          sus = flag(sus, !((e > 0.0) & huge(o[i])));
        }
        return sus;
      },
      [&]<Contract K>(const double* v, double o) {
        const double qi = v[0], epi = v[1], pi = v[3];
        return ratio_suspect<K>(qi, epi, pi, cs, tiers.maintenance(notional_k<K>(qi, pi, cs)),
                                equity_k<K>(qi, epi, v[2], pi, cs), o);
      },
      [&]<Contract K>(const double* v) {
        const double qi = v[0];
        const wide::W pi = v[3];
        const wide::W mm = wide::maintenance(tt, wide::notional(K, qi, pi, cs));
        return wide::ratio(mm, wide::equity(K, qi, v[1], v[2], pi, cs));
      });
}

}  // namespace liqcore
