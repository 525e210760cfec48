// SPDX-License-Identifier: MIT
// tests/support/thread_group.hpp — K ranks as K threads of one process: dist::group's
// collectives on shared memory, so data-parallel code runs (and runs under the sanitizers)
// without MPI. The sums add the ranks' values in rank order, as MPI's do for two ranks.
#pragma once

#include <algorithm>
#include <barrier>
#include <cstdint>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "wsss/dist/group.hpp"

namespace wsss_test {

class thread_team {
 public:
  class member final : public wsss::dist::group {
   public:
    member(thread_team* team, int rank) : team_(team), rank_(rank) {}
    int rank() const noexcept override { return rank_; }
    int size() const noexcept override { return team_->size_; }
    std::string describe() const override {
      return "thread rank " + std::to_string(rank_) + " of " + std::to_string(team_->size_);
    }
    void barrier() const override { team_->sync_.arrive_and_wait(); }
    void sum(std::span<float> v) const override { team_->sum(rank_, v); }
    void sum(std::span<double> v) const override { team_->sum(rank_, v); }
    void sum(std::span<std::int64_t> v) const override { team_->sum(rank_, v); }
    void max(std::span<double> v) const override { team_->reduce(rank_, v, [](double a, double b) { return std::max(a, b); }); }

   private:
    thread_team* team_;
    int rank_;
  };

  explicit thread_team(int size) : size_(size), sync_(size), slots_(static_cast<std::size_t>(size)) {}

  /// Runs f(member) on every rank, each on its own thread; returns each rank's exception (or null).
  std::vector<std::exception_ptr> run(const std::function<void(const member&)>& f) {
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size_));
    std::vector<std::thread> threads;
    for (int r = 0; r < size_; ++r)
      threads.emplace_back([this, r, &f, &errors] {
        const member m(this, r);
        try {
          f(m);
        } catch (...) {
          errors[static_cast<std::size_t>(r)] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    return errors;
  }

 private:
  int size_;
  std::barrier<> sync_;
  std::vector<void*> slots_;  // each rank's buffer during a sum

  template <class T>
  void sum(int rank, std::span<T> v) {
    reduce(rank, v, [](T a, T b) { return a + b; });
  }
  // Every rank combines the ranks' buffers in rank order: (((v0 op v1) op v2) ...).
  template <class T, class Op>
  void reduce(int rank, std::span<T> v, Op op) {
    slots_[static_cast<std::size_t>(rank)] = v.data();
    sync_.arrive_and_wait();
    std::vector<T> total(static_cast<const T*>(slots_[0]), static_cast<const T*>(slots_[0]) + v.size());
    for (int r = 1; r < size_; ++r) {
      const T* p = static_cast<const T*>(slots_[static_cast<std::size_t>(r)]);
      for (std::size_t i = 0; i < v.size(); ++i) total[i] = op(total[i], p[i]);
    }
    sync_.arrive_and_wait();  // every rank has read every buffer
    std::copy(total.begin(), total.end(), v.begin());
  }
};

}  // namespace wsss_test
