// SPDX-License-Identifier: MIT
// wsss/walk/detail/spmm.hpp — row kernels of the sparse walk (one WSSS_HD body for cpu, omp, thrust)
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/config.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/transition.hpp"

namespace wsss::walk::detail {

/// Score channels packed node-major: x[i * ld + k] = cam[channels[k]][i], ld = channel count
/// rounded up to 8 (zero pad), so that one edge moves one contiguous vector of channels.
/// All-zero channels are left out: S^t 0 = 0 exactly. Storage is sized once by reserve (the
/// plan's prepare) for the most channels, and reused by every run.
struct packed_cams {
  tensor x;
  index_t ld = 0;
  std::vector<index_t> channels;

  /// Padded channel count for c channels.
  static index_t padded(index_t c) { return (c + 7) / 8 * 8; }
  /// Sizes x for n nodes and up to c channels.
  void reserve(index_t n, index_t c) {
    if (x.numel() < n * padded(c)) x = tensor::uninitialized({n * padded(c)});
    channels.reserve(static_cast<std::size_t>(c));
  }
  std::size_t bytes() const noexcept { return static_cast<std::size_t>(x.numel()) * sizeof(float); }
};

/// Packs cam's non-zero channels (C x n) into p, pad lanes zeroed.
inline void pack(const tensor& cam, index_t n, packed_cams& p) {
  const index_t c = cam.dim(0);
  p.channels.clear();
  for (index_t k = 0; k < c; ++k) {
    const float* src = cam.data() + k * n;
    for (index_t i = 0; i < n; ++i)
      if (src[i] != 0.0f) {
        p.channels.push_back(k);
        break;
      }
  }
  p.ld = packed_cams::padded(static_cast<index_t>(p.channels.size()));
  p.reserve(n, c);
  float* x = p.x.data();
  std::fill(x, x + n * p.ld, 0.0f);
  for (std::size_t k = 0; k < p.channels.size(); ++k) {
    const float* src = cam.data() + p.channels[k] * n;
    for (index_t i = 0; i < n; ++i) x[i * p.ld + static_cast<index_t>(k)] = src[i];
  }
}

/// Throws value_error naming `component` unless t >= 0.
inline void check_steps(index_t t, std::string_view component) {
  if (t < 0) throw_value(component, "t must be >= 0, got ", t);
}

/// The start of a sparse walk of t steps: checks cam against the plan's shape and the graph's
/// height x width (check_cam) and packs the CAMs over its nodes into p. Returns false, with out = cam, when
/// there is nothing to walk (no non-zero channel, or t = 0).
inline bool begin_walk(const shape& planned, index_t height, index_t width, const tensor& cam, index_t t, tensor& out,
                       packed_cams& p, std::string_view component) {
  check_cam(planned, height, width, cam, out, component);
  pack(cam, height * width, p);
  if (!p.channels.empty() && t > 0) return true;
  out = cam;
  return false;
}
inline bool begin_walk(const shape& planned, const transition& T, const tensor& cam, index_t t, tensor& out,
                       packed_cams& p, std::string_view component) {
  return begin_walk(planned, T.height, T.width, cam, t, out, p, component);
}

/// Writes packed rows x back into out (shaped like cam; channels not packed are zero).
inline void unpack(const packed_cams& p, const float* x, const tensor& cam, index_t n, tensor& out) {
  if (out.shape() != cam.shape()) out = tensor(cam.shape());
  else out.fill(0.0f);
  for (std::size_t k = 0; k < p.channels.size(); ++k) {
    float* dst = out.data() + p.channels[k] * n;
    for (index_t i = 0; i < n; ++i) dst[i] = x[i * p.ld + static_cast<index_t>(k)];
  }
}

/// Eight consecutive channels of one node. On GCC/Clang host code it is a native vector
/// (vector_size 32: one AVX register), because the compilers leave a float[24] accumulator
/// in memory and the kernel then runs 7-8x slower (measured: 340 ms vs 44 ms for 256 steps
/// at n = 3136, one thread); elsewhere (nvcc device code, other compilers) a plain array.
#if defined(__CUDA_ARCH__) || !(defined(__GNUC__) || defined(__clang__))
struct lanes8 {
  float v[8];
};
WSSS_HD inline void lanes_zero(lanes8& a) {
  for (int c = 0; c < 8; ++c) a.v[c] = 0.0f;
}
WSSS_HD inline void lanes_fma(lanes8& acc, float a, const float* x) {
  for (int c = 0; c < 8; ++c) acc.v[c] += a * x[c];
}
WSSS_HD inline float lane(const lanes8& a, int c) { return a.v[c]; }
#else
typedef float lanes8 __attribute__((vector_size(32)));
inline void lanes_zero(lanes8& a) { a = lanes8{}; }
inline void lanes_fma(lanes8& acc, float a, const float* x) {
  lanes8 v;
  __builtin_memcpy(&v, x, sizeof v);  // rows are 32-byte aligned; memcpy keeps it well defined
  acc += a * v;
}
inline float lane(const lanes8& a, int c) { return a[c]; }
#endif

/// Accumulates sum_k S_ik x_{col k} over row i for the B channels at `off` (B a multiple of 8).
template <int B>
WSSS_HD inline void row_product(const index_t* row_ptr, const std::int32_t* col, const float* val, const float* x,
                                std::int64_t ld, std::int64_t off, std::int64_t i, lanes8 (&acc)[B / 8]) {
  for (int v = 0; v < B / 8; ++v) lanes_zero(acc[v]);
  for (index_t k = row_ptr[i]; k < row_ptr[i + 1]; ++k) {
    const float a = val[k];
    const float* xr = x + col[k] * ld + off;
    for (int v = 0; v < B / 8; ++v) lanes_fma(acc[v], a, xr + 8 * v);
  }
}

/// y_i = sum_j S_ij x_j for the B channels starting at `off` (B a multiple of 8, fixed at
/// compile time so the accumulator lives in vector registers).
template <int B>
struct spmm_kernel {
  const index_t* row_ptr;
  const std::int32_t* col;
  const float* val;
  const float* x;
  float* y;
  std::int64_t ld, off;
  WSSS_HD void operator()(std::int64_t i) const {
    lanes8 acc[B / 8];
    row_product<B>(row_ptr, col, val, x, ld, off, i, acc);
    float* yr = y + i * ld + off;
    for (int c = 0; c < B; ++c) yr[c] = lane(acc[c / 8], c % 8);
  }
};

/// One Chebyshev step on the shifted operator U = (2S - (1 + a) I) / (1 - a):
/// y_{k+1} = 2 U y_k - y_{k-1} (written over y_{k-1}), out += coef * y_{k+1}.
template <int B>
struct chebyshev_kernel {
  const index_t* row_ptr;
  const std::int32_t* col;
  const float* val;
  const float* yk;
  float* yprev;
  float* out;
  float u_scale, u_shift, coef;  // U y = u_scale * (S y) - u_shift * y
  std::int64_t ld, off;
  WSSS_HD void operator()(std::int64_t i) const {
    lanes8 acc[B / 8];
    row_product<B>(row_ptr, col, val, yk, ld, off, i, acc);
    const float* yi = yk + i * ld + off;
    float* pi = yprev + i * ld + off;
    float* oi = out + i * ld + off;
    for (int c = 0; c < B; ++c) {
      const float next = 2.0f * (u_scale * lane(acc[c / 8], c % 8) - u_shift * yi[c]) - pi[c];
      pi[c] = next;
      oi[c] += coef * next;
    }
  }
};

/// Runs one walk step's row kernel on the backend, or serially when the step is too small
/// (< 64k multiply-adds) to pay for a parallel region: walks do hundreds of steps, and an
/// OpenMP fork/join per step costs more than such a step, badly so on a loaded machine.
template <class Backend, class K>
void launch(Backend tag, const transition& T, index_t ld, index_t n, const K& kernel) {
  if (T.nonzeros() * ld < (index_t{1} << 16)) backend::for_each_index(cpu, n, kernel);
  else backend::for_each_index(tag, n, kernel);
}

/// Calls f(std::integral_constant<int, B>{}, off) for channel blocks covering [0, ld):
/// blocks of 32, the last one 8, 16, 24 or 32 wide.
template <class F>
void for_each_block(index_t ld, F&& f) {
  for (index_t off = 0; off < ld; off += 32) {
    switch (std::min<index_t>(32, ld - off)) {
      case 8: f(std::integral_constant<int, 8>{}, off); break;
      case 16: f(std::integral_constant<int, 16>{}, off); break;
      case 24: f(std::integral_constant<int, 24>{}, off); break;
      default: f(std::integral_constant<int, 32>{}, off); break;
    }
  }
}

}  // namespace wsss::walk::detail

namespace wsss::walk::detail {

/// sum_i d_i, the mass keeper's normaliser, in degree_chunk partial sums (the device walks'
/// order, so every back end gets these bits).
inline double total_degree(const transition& T) {
  const std::int64_t n = T.nodes(), chunks = (n + degree_chunk - 1) / degree_chunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks));
  const degree_partial_kernel k{T.degree.data(), partial.data(), n};
  double sd = 0;
  for (std::int64_t c = 0; c < chunks; ++c) {
    k(c);
    sd += partial[static_cast<std::size_t>(c)];
  }
  return sd;
}

/// The mass keeper's vectors from T's degrees: l = d (average) or 1 (diffuse), r = l-dual
/// Perron vector (1 / sum d or d / sum d), one node per index.
struct mass_vectors_kernel {
  const double* degree;
  double* left;
  double* right;
  const double* sum_degree;  // one value per image, where the degrees are (a device walk sums them there)
  int average;
  std::int64_t nodes;  // per image (a batch's graphs side by side)
  WSSS_HD void operator()(std::int64_t i) const {
    const double sd = sum_degree[i / nodes];
    left[i] = average ? degree[i] : 1.0;
    right[i] = average ? 1.0 / sd : degree[i] / sd;
  }
};

/// Keeps the walk's conserved quantity exact in float: l^T x_c = l^T v_c for every packed
/// channel, with l = d (average: d^T P = d^T) or l = 1 (diffuse: 1^T Q = 1^T). Rounding in
/// the stored step operator (row or column sums 1 +- 1e-7) otherwise compounds to t * 1e-7
/// drift along the stationary direction. The correction adds (target - l^T x) r to x, r the
/// Perron right vector scaled so that l^T r = 1 (r = 1 / sum d for average, d / sum d for
/// diffuse): it moves only the stationary component, so it is a no-op in exact arithmetic.
/// Its vectors live in the plan (reset per run, storage reused).
struct mass_keeper {
  std::vector<double> left, right, target, measured;

  /// Sets l, r from T and the target from the packed input.
  void reset(const transition& T, const packed_cams& p) {
    const index_t n = T.nodes();
    left.resize(static_cast<std::size_t>(n));
    right.resize(static_cast<std::size_t>(n));
    const double sum = total_degree(T);
    const mass_vectors_kernel k{T.degree.data(), left.data(), right.data(), &sum, T.cfg.mode == orientation::average, n};
    for (index_t i = 0; i < n; ++i) k(i);
    measure(p.x.data(), p.ld, static_cast<index_t>(p.channels.size()), target);
  }

  void measure(const float* x, index_t ld, index_t channels, std::vector<double>& m) const {
    m.assign(static_cast<std::size_t>(channels), 0.0);
    for (std::size_t i = 0; i < left.size(); ++i)
      for (index_t k = 0; k < channels; ++k) m[static_cast<std::size_t>(k)] += left[i] * x[static_cast<index_t>(i) * ld + k];
  }

  /// x <- x + (target - l^T x) r, channel by channel.
  void restore(float* x, index_t ld) {
    const index_t c = static_cast<index_t>(target.size());
    measure(x, ld, c, measured);
    for (std::size_t i = 0; i < right.size(); ++i)
      for (index_t k = 0; k < c; ++k)
        x[static_cast<index_t>(i) * ld + k] += static_cast<float>((target[static_cast<std::size_t>(k)] - measured[static_cast<std::size_t>(k)]) * right[i]);
  }
};

/// What every sparse propagator's plan holds: the CAM shape it was prepared for, the packed
/// channels (the walk's first buffer) and the mass keeper's vectors.
struct sparse_plan_base {
  shape cam_shape;
  packed_cams packed;
  mass_keeper keeper;

  /// Records s (C x H x W or C x n) and sizes the packed buffer for it.
  void prepare(const shape& s, std::string_view component) {
    const auto [c, n] = cam_extent(s, component);
    cam_shape = s;
    packed.reserve(n, c);
  }
};

}  // namespace wsss::walk::detail
