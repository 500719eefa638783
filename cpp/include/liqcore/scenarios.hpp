// The scenario runner of the stress tests (docs/model.md §5): isolated (stress.hpp) and multi-market
// (contagion.hpp) stress plans both run their scenarios through run_scenarios.
//
// Scenarios [first, first + count) of a run are cut into fixed chunks of kScenarioChunk; threads
// take chunks in turn and write each scenario's results to its own output slot (run_one writes
// slot s), so which thread ran a scenario never shows in the results. Every scenario draws its
// random numbers from the counter-based stream rng::Stream(seed, first + s), keyed by its
// global id: a scenario gives the same bits in any thread, any chunk and any process (a Dask
// task runs a chunk of scenarios with the same ids). The results are therefore bit-identical for
// any thread count and any split of a run into calls.
//
// Each thread builds its own working state once (make_worker(), e.g. a cascade engine or scratch
// buffers) and reuses it for all its scenarios. If a scenario throws, the other threads stop
// taking chunks, every thread is joined, and the exception is rethrown to the caller (the first
// one caught, if several threads fail).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "liqcore/parallel.hpp"
#include "liqcore/rng.hpp"

namespace liqcore {

inline constexpr std::size_t kScenarioChunk = 8;  // scenarios per work item

// The number of threads run_scenarios starts for `count` scenarios: `threads` (0: every
// available core), at most one per chunk, at least 1.
inline unsigned scenario_threads(std::size_t count, unsigned threads) noexcept {
  const std::size_t chunks = (count + kScenarioChunk - 1) / kScenarioChunk;
  const std::size_t want = threads == 0 ? available_cores() : threads;
  return static_cast<unsigned>(std::max<std::size_t>(std::min(want, chunks), 1));
}

// Calls run_one(worker, s, stream) for every scenario s in [0, count) of the run, where worker is
// the calling thread's `make_worker()` and stream = rng::Stream(seed, first + s); see the header
// comment. threads = 0: every available core.
template <class MakeWorker, class RunOne>
void run_scenarios(std::uint64_t first, std::size_t count, std::uint64_t seed, unsigned threads,
                   MakeWorker&& make_worker, RunOne&& run_one) {
  const std::size_t chunks = (count + kScenarioChunk - 1) / kScenarioChunk;
  const unsigned workers = scenario_threads(count, threads);
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      auto worker = make_worker();
      for (std::size_t k; (k = next.fetch_add(1)) < chunks;) {
        const std::size_t end = std::min(count, (k + 1) * kScenarioChunk);
        for (std::size_t s = k * kScenarioChunk; s < end; ++s) {
          const rng::Stream stream(seed, first + s);
          run_one(worker, s, stream);
        }
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(chunks);
    }
  };
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(workers - 1);
    try {
      for (unsigned w = 1; w < workers; ++w) pool.emplace_back(work);
    } catch (...) {  // could not start a thread: the threads started (and this one) do the work
    }
    work();
    for (auto& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace liqcore
