// SPDX-License-Identifier: MIT
// wsss/core/random.hpp — seeded, platform-independent random numbers (same stream on every
// standard library: the distributions are written here, not taken from <random>)
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include "wsss/core/tensor.hpp"

namespace wsss {

/// SplitMix64-seeded xoshiro256** generator with portable uniform and normal draws.
class rng {
 public:
  explicit rng(std::uint64_t seed = 0x5eed) { reseed(seed); }
  void reseed(std::uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
    has_spare_ = false;
  }
  std::uint64_t next_u64() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) noexcept { return n ? next_u64() % n : 0; }
  /// Standard normal by the Box–Muller transform.
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u = 0;
    while (u <= 0) u = uniform();
    const double v = uniform();
    const double r = std::sqrt(-2.0 * std::log(u));
    spare_ = r * std::sin(2 * std::numbers::pi * v);
    has_spare_ = true;
    return r * std::cos(2 * std::numbers::pi * v);
  }
  double normal(double mean, double stddev) noexcept { return mean + stddev * normal(); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Fills t with U(lo, hi).
template <class T>
void fill_uniform(basic_tensor<T>& t, rng& g, double lo = 0.0, double hi = 1.0) {
  for (auto& v : t) v = static_cast<T>(g.uniform(lo, hi));
}
/// Fills t with N(mean, stddev^2).
template <class T>
void fill_normal(basic_tensor<T>& t, rng& g, double mean = 0.0, double stddev = 1.0) {
  for (auto& v : t) v = static_cast<T>(g.normal(mean, stddev));
}
/// A new tensor of the given shape with U(lo, hi) entries.
inline tensor random_uniform(const shape& s, rng& g, double lo = 0.0, double hi = 1.0) {
  tensor t = tensor::uninitialized(s);
  fill_uniform(t, g, lo, hi);
  return t;
}
/// A new tensor of the given shape with N(mean, stddev^2) entries.
inline tensor random_normal(const shape& s, rng& g, double mean = 0.0, double stddev = 1.0) {
  tensor t = tensor::uninitialized(s);
  fill_normal(t, g, mean, stddev);
  return t;
}

}  // namespace wsss
