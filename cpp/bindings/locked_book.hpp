// The Python-facing order book: a liqcore::Book guarded by a shared mutex.
//
// Every binding releases the GIL around its kernel call, so two Python threads can be inside
// the same Book at once. Readers (sweeps, depth, accessors, copies) hold the mutex shared,
// mutators (apply, execute) exclusively; the kernel class stays unsynchronized. Bindings of
// other concepts that read a Python Book should take `const LockedBook&` and hold
// `lock_shared()` around the kernel call (a plain `const Book&` parameter also binds, since
// Book is registered as the base class, but is then unguarded against concurrent mutation).
// Lock only after releasing the GIL, and never reacquire the GIL while holding the lock.
#pragma once

#include <mutex>
#include <shared_mutex>
#include <vector>

#include "liqcore/book.hpp"

namespace liqcore::bindings {

class LockedBook : public Book {
 public:
  using Book::Book;
  LockedBook(const Book& b) : Book(b) {}  // NOLINT: implicit by design
  LockedBook(const LockedBook& other) : Book(other.snapshot()) {}
  LockedBook& operator=(const LockedBook&) = delete;

  std::shared_lock<std::shared_mutex> lock_shared() const { return std::shared_lock(mutex_); }
  std::unique_lock<std::shared_mutex> lock_unique() const { return std::unique_lock(mutex_); }

  // A consistent copy of the book's state.
  Book snapshot() const {
    auto lock = lock_shared();
    return Book(*this);
  }

 private:
  mutable std::shared_mutex mutex_;
};

// One consistent copy of every book, each lock held alone (build it with the GIL released).
struct Snapshots {
  std::vector<Book> books;
  std::vector<const Book*> ptrs;
  explicit Snapshots(const std::vector<const LockedBook*>& locked) {
    books.reserve(locked.size());
    for (const LockedBook* b : locked) {
      auto lock = b->lock_shared();
      books.emplace_back(static_cast<const Book&>(*b));
    }
    for (const Book& b : books) ptrs.push_back(&b);
  }
};

}  // namespace liqcore::bindings
