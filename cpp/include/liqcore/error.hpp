// Errors the kernel reports about user data. The kernel never sees Python; the bindings
// translate InvalidArgument into ValueError with the same message.
#pragma once

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace liqcore {

// A bad value in a named argument, at `index` (-1 when the argument is a scalar or the
// whole array is at fault). The message reads "name[index] what", e.g.
// "entry_price[3] must be finite and > 0 (got nan)".
class InvalidArgument : public std::invalid_argument {
 public:
  InvalidArgument(const std::string& arg, std::int64_t index, const std::string& what)
      : std::invalid_argument(format(arg, index, what)), arg_(arg), index_(index) {}

  const std::string& arg() const noexcept { return arg_; }
  std::int64_t index() const noexcept { return index_; }

 private:
  static std::string format(const std::string& arg, std::int64_t index, const std::string& what) {
    std::string s = arg;
    if (index >= 0) s += "[" + std::to_string(index) + "]";
    return s + " " + what;
  }
  std::string arg_;
  std::int64_t index_;
};

// "(got 1.5)": the offending value with enough digits to identify it.
inline std::string describe(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "(got %.17g)", v);
  return buf;
}

}  // namespace liqcore
