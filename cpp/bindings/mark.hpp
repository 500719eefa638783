// The mark rule as the bindings receive it: the MarkRule's integer value and its parameters
// (w, funding_basis, ma_basis, basis_half_life, cap, cap_half_life); an empty list: the defaults.
// With it, the rest of a cascade's parameters (CascadeParams).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "liqcore/cascade.hpp"
#include "liqcore/error.hpp"
#include "liqcore/mark_rule.hpp"

namespace liqcore::bindings {

inline MarkParams mark_params_of(int rule, const std::vector<double>& v) {
  MarkParams p;
  if (!v.empty()) {
    if (v.size() != 6)
      throw InvalidArgument("mark_params", -1,
                            "must hold 6 values (w, funding_basis, ma_basis, basis_half_life, cap, cap_half_life), got " +
                                std::to_string(v.size()));
    p = MarkParams{v[0], v[1], v[2], v[3], v[4], v[5]};
  }
  check_mark_rule(static_cast<MarkRule>(rule), p);
  return p;
}

// A cascade's parameters (single- or multi-market) as the bindings receive them.
inline CascadeParams cascade_params(double resilience, int mark_rule, std::int64_t max_rounds,
                                    const std::vector<double>& mark_params) {
  CascadeParams prm;
  prm.resilience = resilience;
  prm.mark_rule = static_cast<MarkRule>(mark_rule);
  prm.mark = mark_params_of(mark_rule, mark_params);
  prm.max_rounds = max_rounds;
  return prm;
}

}  // namespace liqcore::bindings
