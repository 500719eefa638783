// Large working arrays in transparent huge pages.
//
// A kernel's large arrays (per-position state, the liquidation lists, sort scratch, output
// columns) are fresh memory on every call: glibc maps a large block anew and unmaps it when it
// is freed, so each call pays a page fault per 4 KiB it writes, and on a 2-core VM the faults
// can cost more than the arithmetic (a −5% cascade over 9e5 positions spent about a quarter of
// its time in them). Blocks of at least kHugeAdviceMin bytes are therefore mapped here directly,
// aligned to 2 MiB and advised for transparent huge pages (MADV_HUGEPAGE, NumPy's threshold and
// NumPy's advice for its own arrays): the kernel maps them 2 MiB at a time, 512 times fewer
// faults for the same bytes. Such blocks read as zero until written. Smaller blocks, and every
// block off Linux, come from malloc as usual; where the system ignores the advice, nothing
// changes but the speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace liqcore {

// Under AddressSanitizer every block comes from malloc, so that the sanitizer checks the large
// arrays too (it does not see memory mapped here).
#if defined(__SANITIZE_ADDRESS__)
#define LIQCORE_MAP_HUGE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIQCORE_MAP_HUGE 0
#endif
#endif
#ifndef LIQCORE_MAP_HUGE
#define LIQCORE_MAP_HUGE 1
#endif

// Blocks of at least this many bytes are mapped in huge pages.
inline constexpr std::size_t kHugeAdviceMin = LIQCORE_MAP_HUGE ? std::size_t{4} << 20 : ~std::size_t{0};
inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

namespace detail {

inline std::size_t huge_length(std::size_t bytes) noexcept { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

// A zero-filled block of `bytes` (>= kHugeAdviceMin), 2 MiB-aligned, advised for huge pages.
inline void* huge_map(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const std::size_t len = huge_length(bytes);
  void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto a = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (a + kHugePage - 1) / kHugePage * kHugePage;
  if (start > a) munmap(raw, start - a);  // the unaligned head and tail go back
  if (a + kHugePage > start) munmap(reinterpret_cast<void*>(start + len), a + kHugePage - start);
  (void)madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);  // advice: a refusal is no error
  return reinterpret_cast<void*>(start);
#else
  void* p = std::calloc(bytes, 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
#endif
}

inline void huge_unmap(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p != nullptr) munmap(p, huge_length(bytes));
#else
  std::free(p);
#endif
}

// A block of `bytes` read as zero until written (calloc below the huge-page threshold).
inline void* zeroed_alloc(std::size_t bytes) {
  if (bytes >= kHugeAdviceMin) return huge_map(bytes);
  void* p = std::calloc(bytes > 0 ? bytes : 1, 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void zeroed_free(void* p, std::size_t bytes) noexcept {
  if (bytes >= kHugeAdviceMin)
    huge_unmap(p, bytes);
  else
    std::free(p);
}

}  // namespace detail

// The allocator of HugeVector: blocks of kHugeAdviceMin bytes and more in huge pages.
// Zero = false (ScratchVector): resize() leaves the new elements default-initialized, i.e. for
// numbers and plain structs not initialized at all, as `new T[n]` does.
template <class T, bool Zero = true>
struct HugeAllocator {
  using value_type = T;
  static_assert(alignof(T) <= alignof(std::max_align_t), "malloc's alignment must suffice");
  template <class U>
  struct rebind {
    using other = HugeAllocator<U, Zero>;
  };

  HugeAllocator() noexcept = default;
  template <class U>
  HugeAllocator(const HugeAllocator<U, Zero>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= kHugeAdviceMin) return static_cast<T*>(detail::huge_map(bytes));
    void* p = std::malloc(bytes > 0 ? bytes : 1);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= kHugeAdviceMin)
      detail::huge_unmap(p, bytes);
    else
      std::free(p);
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (!Zero && sizeof...(Args) == 0)
      ::new (static_cast<void*>(p)) U;  // default-initialization: no zeroing pass
    else
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const HugeAllocator<U, Zero>&) const noexcept {
    return true;
  }
};

// A std::vector whose large blocks are in huge pages: a kernel's working and output arrays.
template <class T>
using HugeVector = std::vector<T, HugeAllocator<T>>;

// A HugeVector whose resize() does not zero the new elements: for a buffer every element of
// which is written before it is read (an output column filled in one pass, sort scratch), so
// that a large resize costs no pass over memory about to be overwritten.
template <class T>
using ScratchVector = std::vector<T, HugeAllocator<T, false>>;

}  // namespace liqcore
