// SPDX-License-Identifier: MIT
// wsss/core/tensor.hpp — the one dense tensor type: contiguous, row-major (NCHW), 64-byte
// aligned, value semantics (copies are deep, moves are free); storage comes from the caching
// allocator of memory.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>

#include "wsss/core/error.hpp"
#include "wsss/core/memory.hpp"
#include "wsss/core/shape.hpp"

namespace wsss {

namespace detail {
/// Deleter for std::aligned_alloc blocks (scratch buffers outside tensors).
struct aligned_free {
  void operator()(void* p) const noexcept { std::free(p); }
};
/// n values of T from std::aligned_alloc, 64-byte aligned (scratch buffers outside tensors).
template <class T>
T* aligned_alloc_n(index_t n) {
  if (n == 0) return nullptr;
  const std::size_t bytes = ((static_cast<std::size_t>(n) * sizeof(T) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<T*>(p);
}

/// Returns a tensor's block to the caching allocator; knows the block's byte size.
struct storage_release {
  std::size_t bytes = 0;
  void operator()(void* p) const noexcept { memory::deallocate(p, bytes); }
};

/// Elements above which fill and copy run as an OpenMP loop (a parallel region costs a few
/// microseconds, about what 64k stores take on one core).
inline constexpr index_t parallel_fill_grain = index_t{1} << 16;
}  // namespace detail

/// Dense row-major tensor of arithmetic T. `tensor` (float) is used everywhere; `tensor64`
/// serves float64 references and checks.
template <class T>
class basic_tensor {
  static_assert(std::is_arithmetic_v<T>, "wsss::basic_tensor holds arithmetic values");

 public:
  using value_type = T;

  /// An empty tensor: shape {0}, no storage (a rank-0 shape would mean one scalar).
  basic_tensor() = default;
  /// Zero-initialised tensor of the given shape.
  explicit basic_tensor(const wsss::shape& s) : shape_(s), data_(make_storage(s.numel())) { fill(T(0)); }
  basic_tensor(const wsss::shape& s, T value) : shape_(s), data_(make_storage(s.numel())) { fill(value); }
  basic_tensor(std::initializer_list<index_t> dims) : basic_tensor(wsss::shape(dims)) {}

  /// Uninitialised storage; for kernels that overwrite every element.
  static basic_tensor uninitialized(const wsss::shape& s) {
    basic_tensor t;
    t.shape_ = s;
    t.data_ = make_storage(s.numel());
    return t;
  }
  /// Copies n = s.numel() values from `src`.
  static basic_tensor from(const wsss::shape& s, std::span<const T> src) {
    if (static_cast<index_t>(src.size()) != s.numel())
      throw_shape("tensor::from", "shape ", s, " needs ", s.numel(), " values, got ", src.size());
    basic_tensor t = uninitialized(s);
    t.copy_from(src.data());
    return t;
  }

  basic_tensor(const basic_tensor& o) : shape_(o.shape_), data_(make_storage(o.numel())) { copy_from(o.data()); }
  basic_tensor& operator=(const basic_tensor& o) {
    if (this != &o) {
      if (numel() != o.numel()) data_ = make_storage(o.numel());
      shape_ = o.shape_;
      copy_from(o.data());
    }
    return *this;
  }
  basic_tensor(basic_tensor&& o) noexcept : shape_(o.shape_), data_(std::move(o.data_)) { o.shape_ = empty_shape(); }
  basic_tensor& operator=(basic_tensor&& o) noexcept {
    shape_ = o.shape_;
    data_ = std::move(o.data_);
    o.shape_ = empty_shape();
    return *this;
  }

  const wsss::shape& shape() const noexcept { return shape_; }
  int rank() const noexcept { return shape_.rank(); }
  index_t dim(int i) const { return shape_.dim(i); }
  index_t numel() const noexcept { return shape_.numel(); }
  bool empty() const noexcept { return numel() == 0; }
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + numel(); }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + numel(); }
  std::span<T> span() noexcept { return {data(), static_cast<std::size_t>(numel())}; }
  std::span<const T> span() const noexcept { return {data(), static_cast<std::size_t>(numel())}; }

  T& operator[](index_t i) noexcept { return data_.get()[i]; }
  const T& operator[](index_t i) const noexcept { return data_.get()[i]; }
  /// Unchecked multi-index access (rank must match; checked only by WSSS_ASSERT).
  template <class... I>
  T& operator()(I... idx) noexcept { return data_.get()[offset(idx...)]; }
  template <class... I>
  const T& operator()(I... idx) const noexcept { return data_.get()[offset(idx...)]; }

  /// Sets every element to v (an OpenMP loop for large tensors).
  void fill(T v) noexcept {
    T* p = data();
    const index_t n = numel();
#pragma omp parallel for simd schedule(static) if (n > detail::parallel_fill_grain)
    for (index_t i = 0; i < n; ++i) p[i] = v;
  }
  /// Same storage, new shape of equal element count.
  basic_tensor& reshape(const wsss::shape& s) {
    if (s.numel() != numel()) throw_shape("tensor::reshape", "cannot view ", shape_, " as ", s);
    shape_ = s;
    return *this;
  }
  basic_tensor reshaped(const wsss::shape& s) const& { basic_tensor t(*this); t.reshape(s); return t; }
  basic_tensor reshaped(const wsss::shape& s) && { reshape(s); return std::move(*this); }

  /// Element-type conversion (e.g. to tensor64 for a float64 reference).
  template <class U>
  basic_tensor<U> cast() const {
    auto t = basic_tensor<U>::uninitialized(shape_);
    for (index_t i = 0; i < numel(); ++i) t[i] = static_cast<U>((*this)[i]);
    return t;
  }

  bool all_finite() const noexcept {
    if constexpr (std::is_floating_point_v<T>) {
      for (T v : *this)
        if (!std::isfinite(v)) return false;
    }
    return true;
  }

 private:
  template <class... I>
  index_t offset(I... idx) const noexcept {
    const index_t ids[] = {static_cast<index_t>(idx)...};
    index_t off = 0;
    for (int k = 0; k < static_cast<int>(sizeof...(I)); ++k) off = off * shape_[k] + ids[k];
    return off;
  }

  using storage = std::unique_ptr<T[], detail::storage_release>;

  static wsss::shape empty_shape() { return wsss::shape{0}; }

  /// n values from the caching allocator (memory.hpp), uninitialised; throws
  /// memory::out_of_memory naming the size when it cannot be had.
  static storage make_storage(index_t n) {
    if (n == 0) return storage(nullptr, detail::storage_release{0});
    const std::size_t bytes = memory::checked_bytes("tensor", {n}, sizeof(T));
    return storage(static_cast<T*>(memory::allocate(bytes)), detail::storage_release{bytes});
  }

  /// Copies numel() values from src (chunked over OpenMP threads for large tensors).
  void copy_from(const T* src) noexcept {
    const index_t n = numel();
    if (n == 0) return;
    T* dst = data();
    constexpr index_t chunk = detail::parallel_fill_grain;
    const index_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (index_t k = 0; k < chunks; ++k) {
      const index_t b = k * chunk;
      std::memcpy(dst + b, src + b, static_cast<std::size_t>(std::min(chunk, n - b)) * sizeof(T));
    }
  }

  wsss::shape shape_ = empty_shape();
  storage data_ = storage(nullptr, detail::storage_release{0});
};

using tensor = basic_tensor<float>;
using tensor64 = basic_tensor<double>;

/// Throws shape_error unless t has exactly the expected shape.
template <class T>
void expect_shape(const basic_tensor<T>& t, const shape& expected, std::string_view component,
                  std::string_view what) {
  if (t.shape() != expected)
    throw_shape(component, what, " must be ", expected, ", got ", t.shape());
}

/// Throws shape_error unless t has the expected rank.
template <class T>
void expect_rank(const basic_tensor<T>& t, int rank, std::string_view component, std::string_view what,
                 std::string_view layout = {}) {
  if (t.rank() != rank)
    throw_shape(component, what, " must be rank ", rank, layout.empty() ? "" : " (", layout,
                layout.empty() ? "" : ")", ", got rank ", t.rank(), " (", t.shape(), ")");
}

/// Throws value_error if any element is NaN or infinite.
template <class T>
void expect_finite(const basic_tensor<T>& t, std::string_view component, std::string_view what) {
  if constexpr (std::is_floating_point_v<T>) {
    for (index_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t[i]))
        throw_value(component, what, " has a non-finite value ", t[i], " at flat index ", i, " (shape ", t.shape(), ")");
  }
}

}  // namespace wsss
