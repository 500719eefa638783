// liqcore._core: the kernel's cache of freed large blocks (memory.hpp, BlockCache).
#include <pybind11/pybind11.h>

#include "liqcore/memory.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace liqcore::bindings {

void register_memory(py::module_& m) {
  m.attr("_caches_blocks") = kCachesBlocks;  // private: tests
  m.def(
      "release_memory",
      [] { return detail::BlockCache::instance().release(); },
      "Unmaps the large blocks the kernel keeps for reuse; returns their bytes.");
  m.def(
      "held_memory", [] { return detail::BlockCache::instance().held_bytes(); },
      "Bytes of freed large blocks the kernel keeps for reuse.");
}

}  // namespace liqcore::bindings
