// The mark rule as the bindings receive it: the MarkRule's integer value and its parameters
// (w, funding_basis, ma_basis, basis_half_life, cap, cap_half_life); an empty list: the defaults.
#pragma once

#include <string>
#include <vector>

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

}  // namespace liqcore::bindings
