// Fixed-chunk data parallelism for elementwise kernels (margin math, stress tests).
//
// The range [0, n) is cut into at most `threads` contiguous chunks fixed by (n, threads,
// min_chunk) alone, so which thread computes an element never depends on timing. Elementwise
// kernels therefore give the same bits for every thread count; a kernel that reduces must
// combine the per-chunk results in chunk order itself.
//
// Outputs are written (and so first touched, i.e. page-faulted) by the thread that computes
// them: with several threads the page faults of a fresh output array run in parallel too.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace liqcore {

// Inputs of at least this many elements use every core when the caller asks for "auto"
// (threads == 0); below it one thread is faster than starting others.
inline constexpr std::size_t kParallelMinAuto = std::size_t{1} << 16;

// Cores this process may run on (its CPU affinity on Linux), at least 1.
inline std::size_t available_cores() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int c = CPU_COUNT(&set);
    if (c > 0) return static_cast<std::size_t>(c);
  }
#endif
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? h : 1;
}

// The thread count to use for n elements: `threads` as given (>= 1), or for 0 ("auto") every
// available core when n >= kParallelMinAuto and 1 below.
inline std::size_t resolve_threads(std::size_t n, std::size_t threads) noexcept {
  if (threads > 0) return threads;
  return n >= kParallelMinAuto ? available_cores() : 1;
}

// Chunk c covers [c * step, min(n, (c + 1) * step)): step is ceil(n / threads) rounded up to a
// multiple of min_chunk (>= 1), so chunks are at least min_chunk long (the last may be
// shorter) and there are at most `threads` of them. Returns the step.
inline std::size_t chunk_step(std::size_t n, std::size_t threads, std::size_t min_chunk) noexcept {
  min_chunk = std::max<std::size_t>(min_chunk, 1);
  threads = std::max<std::size_t>(threads, 1);
  const std::size_t per = (n + threads - 1) / threads;
  return std::max<std::size_t>((per + min_chunk - 1) / min_chunk, 1) * min_chunk;
}

// Calls fn(begin, end) once per chunk of [0, n) (see chunk_step), chunk 0 on the calling
// thread and each other chunk on its own std::thread; returns when all are done. threads == 0
// means auto (resolve_threads). If calls throw, the exception of the lowest-numbered chunk
// is rethrown after every thread has joined: a fn that throws at the first bad element of its
// chunk thus reports the globally first bad element, whatever the thread count.
template <class F>
void parallel_for_chunks(std::size_t n, std::size_t threads, std::size_t min_chunk, F&& fn) {
  if (n == 0) return;
  const std::size_t step = chunk_step(n, resolve_threads(n, threads), min_chunk);
  const std::size_t chunks = (n + step - 1) / step;
  if (chunks == 1) {
    fn(std::size_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(chunks);
  auto run = [&](std::size_t c) noexcept {
    try {
      fn(c * step, std::min(n, (c + 1) * step));
    } catch (...) {
      errors[c] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(chunks - 1);
  try {
    for (std::size_t c = 1; c < chunks; ++c) pool.emplace_back(run, c);
  } catch (...) {  // could not start a thread: run the rest of the chunks here
    for (std::size_t c = pool.size() + 1; c < chunks; ++c) run(c);
  }
  run(0);
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// parallel_for_chunks for a pass that flags its chunk (fn(begin, end) returns true: e.g. a bad
// value seen); returns whether any chunk did. Which chunk flagged is not kept: a caller that
// must name the first bad element scans for it afterwards (then only, on failure).
template <class F>
bool parallel_any(std::size_t n, std::size_t threads, std::size_t min_chunk, F&& fn) {
  std::atomic<bool> any{false};
  parallel_for_chunks(n, threads, min_chunk, [&](std::size_t begin, std::size_t end) {
    if (fn(begin, end)) any.store(true, std::memory_order_relaxed);
  });
  return any.load(std::memory_order_relaxed);
}

}  // namespace liqcore
