// SPDX-License-Identifier: MIT
// wsss/crf/opencl/steps.hpp — the dense CRF's device pipeline on OpenCL (Boost.Compute):
// crf/device/kernels.hpp's bodies in OpenCL C, so crf::device_mean_field<opencl_t> runs, forward
// and backward
#pragma once

#include <cstdint>

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
#include "wsss/crf/device/lattice.hpp"

namespace wsss::crf::device {

/// crf::detail::log_positive (log x for finite x > 0, Cephes' logf polynomial) and
/// neg_log_clamped in OpenCL C, for the sources that make unaries on the device (cam/, walk/);
/// they turn FP_CONTRACT off first.
inline constexpr const char* opencl_log_positive = R"CL(
float log_positive(const float x) {
  const int bits = as_int(x);
  int e = ((bits >> 23) & 0xff) - 126;
  float m = as_float((bits & 0x007fffff) | 0x3f000000);
  if (m < 0.707106781186547524f) {
    e -= 1;
    m = m + m - 1.0f;
  } else {
    m = m - 1.0f;
  }
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const float fe = (float)e;
  y += fe * -2.12194440e-4f;
  y += -0.5f * z;
  return m + y + fe * 0.693359375f;
}

// crf::detail::neg_log_clamped: -log(clamp(p, lo, 1)).
float neg_log_clamped(float p, const float lo) {
  p = p < lo ? lo : p;
  p = 1.0f < p ? 1.0f : p;
  return -log_positive(p);
}
)CL";

/// The OpenCL C of crf/device/kernels.hpp, line for line (tests/backend/crf_device.test.cpp
/// holds it to the C++ bodies). FP_CONTRACT off: no fused multiply-adds the C++ lacks.
inline constexpr const char* opencl_source = R"CL(
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

// exp(x) for x <= 0: core/math.hpp's exp_nonpositive.
inline float exp_nonpositive(float x) {
  const int under = x < -87.0f;
  const float xc = under ? -87.0f : x;
  const float magic = 12582912.0f;
  const float kf = xc * 1.44269504088896341f + magic;
  const float fx = kf - magic;
  const int ki = as_int(kf) - as_int(magic);
  float r = xc - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const float v = p * as_float((ki + 127) << 23);
  return under ? 0.0f : v;
}

inline void softmax_inplace(__global float* x, const long k) {
  float mx = x[0];
  for (long c = 1; c < k; ++c) mx = x[c] > mx ? x[c] : mx;
  float s = 0;
  for (long c = 0; c < k; ++c) {
    x[c] = exp_nonpositive(x[c] - mx);
    s += x[c];
  }
  for (long c = 0; c < k; ++c) x[c] /= s;
}

__kernel void wsss_splat(__global const int* off, __global const int* pix, __global const float* w,
                         __global const float* q, __global float* val, const long k) {
  const long i = get_global_id(0), v = i / k, c = i - v * k;
  float acc = 0;
  for (int e = off[v]; e < off[v + 1]; ++e) acc += w[e] * q[pix[e] * k + c];
  val[(v + 1) * k + c] = acc;
}

__kernel void wsss_blur(__global const int* nb, __global const float* src, __global float* dst, const long k,
                        const int dp1, const int j) {
  const long i = get_global_id(0), v = i / k, c = i - v * k;
  __global const int* n = nb + (v * dp1 + j) * 2;
  dst[(v + 1) * k + c] = src[(v + 1) * k + c] + 0.5f * (src[n[0] * k + c] + src[n[1] * k + c]);
}

inline float slice_at(__global const int* vert, __global const float* w, __global const float* val, const int dp1,
                      const float weight, const long p, const long c, const long k) {
  float acc = 0;
  for (int r = 0; r < dp1; ++r) acc += w[p * dp1 + r] * val[vert[p * dp1 + r] * k + c];
  return weight * acc;
}

__kernel void wsss_slice(__global const int* vert, __global const float* w, __global const float* val, const int dp1,
                         const float weight, __global float* out, const long k) {
  const long i = get_global_id(0), p = i / k, c = i - p * k;
  out[i] = slice_at(vert, w, val, dp1, weight, p, c, k);
}

__kernel void wsss_init(__global const float* unary, __global const uchar* clamp, const int has_clamp,
                        __global float* negu, __global float* q, const long n, const long k) {
  const long p = get_global_id(0), img = p / n, l = p - img * n;
  __global float* qp = q + p * k;
  for (long c = 0; c < k; ++c) qp[c] = negu[p * k + c] = -unary[(img * k + c) * n + l];
  if (has_clamp && clamp[p] != 255) {
    for (long c = 0; c < k; ++c) qp[c] = c == clamp[p] ? 1.0f : 0.0f;
    return;
  }
  softmax_inplace(qp, k);
}

__kernel void wsss_update(__global const float* negu, __global const uchar* clamp, const int has_clamp,
                          __global const int* s_vert, __global const float* s_w, __global const float* s_val,
                          const int s_dp1, const float ws, __global const int* a_vert, __global const float* a_w,
                          __global const float* a_val, const int a_dp1, const float wa, __global float* q,
                          const long k) {
  const long p = get_global_id(0);
  if (has_clamp && clamp[p] != 255) return;
  __global float* qp = q + p * k;
  for (long c = 0; c < k; ++c) {
    float row = negu[p * k + c];
    row += slice_at(s_vert, s_w, s_val, s_dp1, ws, p, c, k);
    row += slice_at(a_vert, a_w, a_val, a_dp1, wa, p, c, k);
    qp[c] = row;
  }
  softmax_inplace(qp, k);
}

__kernel void wsss_compat_update(__global const float* negu, __global const uchar* clamp, const int has_clamp,
                                 __global const int* s_vert, __global const float* s_w, __global const float* s_val,
                                 const int s_dp1, const float ws, __global const int* a_vert, __global const float* a_w,
                                 __global const float* a_val, const int a_dp1, const float wa, __global const float* mu,
                                 __global float* msg, const long msg_at, __global float* q, const long k) {
  const long p = get_global_id(0);
  __global float* mp = msg + msg_at + p * k;
  for (long c = 0; c < k; ++c) {
    float m = 0;
    m += slice_at(s_vert, s_w, s_val, s_dp1, ws, p, c, k);
    m += slice_at(a_vert, a_w, a_val, a_dp1, wa, p, c, k);
    mp[c] = m;
  }
  if (has_clamp && clamp[p] != 255) return;
  __global float* qp = q + p * k;
  for (long l = 0; l < k; ++l) {
    float dot = 0;
    for (long j = 0; j < k; ++j) dot += mu[l * k + j] * mp[j];
    qp[l] = negu[p * k + l] - dot;
  }
  softmax_inplace(qp, k);
}

__kernel void wsss_compat_backward(__global const float* mu, __global const float* ga, __global float* gm, const long k) {
  const long p = get_global_id(0);
  for (long j = 0; j < k; ++j) {
    float acc = 0;
    for (long l = 0; l < k; ++l) acc += mu[l * k + j] * ga[p * k + l];
    gm[p * k + j] = -acc;
  }
}

__kernel void wsss_compat_grad_partial(__global const float* ga, __global const float* msg, const long msg_at,
                                       __global double* partial, const long pixels, const long k,
                                       const long chunk_size) {
  const long i = get_global_id(0), kk = k * k, chunk = i / kk, e = i - chunk * kk, l = e / k, j = e - l * k;
  const long end = (chunk + 1) * chunk_size < pixels ? (chunk + 1) * chunk_size : pixels;
  __global const float* m = msg + msg_at;
  double acc = 0;
  for (long p = chunk * chunk_size; p < end; ++p) acc += (double)ga[p * k + l] * m[p * k + j];
  partial[i] = -acc;
}

__kernel void wsss_chunk_total(__global const double* partial, __global double* total, const long chunks,
                               const long width) {
  const long e = get_global_id(0);
  double acc = 0;
  for (long c = 0; c < chunks; ++c) acc += partial[c * width + e];
  total[e] += acc;
}

__kernel void wsss_output(__global const float* q, __global float* out, const long n, const long k) {
  const long i = get_global_id(0), l = i % n, c = (i / n) % k, img = i / (n * k);
  out[i] = q[(img * n + l) * k + c];
}

__kernel void wsss_copy(__global const float* src, __global float* dst, const long at) {
  const long i = get_global_id(0);
  dst[at + i] = src[i];
}

__kernel void wsss_input(__global const float* in, __global float* rows, const long n, const long k) {
  const long i = get_global_id(0), p = i / k, c = i - p * k, img = p / n, l = p - img * n;
  rows[i] = in[(img * k + c) * n + l];
}

__kernel void wsss_softmax_backward(__global const float* hist, const long q_at, __global const float* gq,
                                    __global const uchar* clamp, const int has_clamp, __global float* ga,
                                    __global float* gu, const long k) {
  const long p = get_global_id(0);
  __global const float* qp = hist + q_at + p * k;
  __global const float* gp = gq + p * k;
  __global float* o = ga + p * k;
  if (has_clamp && clamp[p] != 255) {
    for (long c = 0; c < k; ++c) o[c] = 0.0f;
    return;
  }
  double dot = 0;
  for (long c = 0; c < k; ++c) dot += (double)qp[c] * gp[c];
  for (long c = 0; c < k; ++c) {
    o[c] = qp[c] * (float)(gp[c] - dot);
    gu[p * k + c] -= o[c];
  }
}

__kernel void wsss_combine(__global const float* rs, __global const float* ra, const float ws, const float wa,
                           __global float* gq) {
  const long i = get_global_id(0);
  gq[i] = ws * rs[i] + wa * ra[i];
}

__kernel void wsss_dot2_partial(__global const float* rs, __global const float* ra, __global const float* hist,
                                const long q_at, __global double* partial, const long size, const long chunk_size) {
  const long chunk = get_global_id(0);
  const long end = (chunk + 1) * chunk_size < size ? (chunk + 1) * chunk_size : size;
  __global const float* q = hist + q_at;
  double s = 0, a = 0;
  for (long e = chunk * chunk_size; e < end; ++e) {
    s += (double)rs[e] * q[e];
    a += (double)ra[e] * q[e];
  }
  partial[2 * chunk] = s;
  partial[2 * chunk + 1] = a;
}


__kernel void wsss_argmax(__global const float* q, __global uchar* labels, const long k) {
  const long p = get_global_id(0);
  __global const float* qp = q + p * k;
  long best = 0;
  for (long c = 1; c < k; ++c)
    if (qp[c] > qp[best]) best = c;
  labels[p] = (uchar)best;
}
)CL";

/// The device pipeline's steps on OpenCL: each the OpenCL C kernel of the same name, queued
/// on the tag's queue without draining it (the program is built once per context).
template <>
struct steps<opencl_t> {
  template <class T>
  using array = backend::device_array<T, opencl_t>;

  static void splat(const opencl_t& tag, const lattice<opencl_t>& l, const array<float>& w, const array<float>& q,
                    array<float>& val) {
    backend::opencl::run(tag, opencl_source, "wsss_splat", l.m * l.k, l.off, l.pix, w, q, val, l.k);
  }
  static void blur(const opencl_t& tag, const lattice<opencl_t>& l, int j, const array<float>& src, array<float>& dst) {
    backend::opencl::run(tag, opencl_source, "wsss_blur", l.m * l.k, l.nb, src, dst, l.k, l.dp1, j);
  }
  static void slice(const opencl_t& tag, const lattice<opencl_t>& l, const array<float>& w, const array<float>& val,
                    float weight, array<float>& out) {
    backend::opencl::run(tag, opencl_source, "wsss_slice", l.n * l.k, l.vert, w, val, l.dp1, weight, out, l.k);
  }
  static void init(const opencl_t& tag, const array<float>& unary, const array<std::uint8_t>& clamp, array<float>& negu,
                   array<float>& q, index_t pixels, index_t n, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_init", pixels, unary, clamp_or(clamp, negu), has(clamp), negu, q, n, k);
  }
  static void update(const opencl_t& tag, const array<float>& negu, const array<std::uint8_t>& clamp,
                     const lattice<opencl_t>& s, const array<float>& vs, float ws, const lattice<opencl_t>& a,
                     const array<float>& va, float wa, array<float>& q, index_t pixels, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_update", pixels, negu, clamp_or(clamp, negu), has(clamp), s.vert,
                         s.slice_w, vs, s.dp1, ws, a.vert, a.slice_w, va, a.dp1, wa, q, k);
  }
  static void output(const opencl_t& tag, const array<float>& q, array<float>& out, index_t n, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_output", static_cast<index_t>(out.size()), q, out, n, k);
  }
  static void copy(const opencl_t& tag, const array<float>& src, array<float>& dst, index_t at, index_t size) {
    backend::opencl::run(tag, opencl_source, "wsss_copy", size, src, dst, at);
  }
  static void argmax(const opencl_t& tag, const array<float>& q, array<std::uint8_t>& labels, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_argmax", static_cast<index_t>(labels.size()), q, labels, k);
  }

  // The backward pass's steps (the C++ bodies of kernels.hpp, as above).
  static void input(const opencl_t& tag, const array<float>& in, array<float>& rows, index_t n, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_input", static_cast<index_t>(rows.size()), in, rows, n, k);
  }
  static void softmax_backward(const opencl_t& tag, const array<float>& hist, index_t q_at, const array<float>& gq,
                               const array<std::uint8_t>& clamp, array<float>& ga, array<float>& gu, index_t pixels,
                               index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_softmax_backward", pixels, hist, q_at, gq, clamp_or(clamp, ga),
                         has(clamp), ga, gu, k);
  }
  static void compat_update(const opencl_t& tag, const array<float>& negu, const array<std::uint8_t>& clamp,
                            const lattice<opencl_t>& s, const array<float>& vs, float ws, const lattice<opencl_t>& a,
                            const array<float>& va, float wa, const array<float>& mu, array<float>& msg,
                            index_t msg_at, array<float>& q, index_t pixels, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_compat_update", pixels, negu, clamp_or(clamp, negu), has(clamp),
                         s.vert, s.slice_w, vs, s.dp1, ws, a.vert, a.slice_w, va, a.dp1, wa, mu, msg, msg_at, q, k);
  }
  static void compat_backward(const opencl_t& tag, const array<float>& mu, const array<float>& ga, array<float>& gm,
                              index_t pixels, index_t k) {
    backend::opencl::run(tag, opencl_source, "wsss_compat_backward", pixels, mu, ga, gm, k);
  }
  static void compat_grad(const opencl_t& tag, const array<float>& ga, const array<float>& msg, index_t msg_at,
                          index_t pixels, index_t k, array<double>& partial, array<double>& total) {
    const index_t chunks = (pixels + compat_chunk - 1) / compat_chunk;
    backend::resize(tag, partial, chunks * k * k);
    backend::opencl::run(tag, opencl_source, "wsss_compat_grad_partial", chunks * k * k, ga, msg, msg_at, partial, pixels,
                         k, index_t{compat_chunk});
    backend::opencl::run(tag, opencl_source, "wsss_chunk_total", k * k, partial, total, chunks, k * k);
  }
  static void combine(const opencl_t& tag, const array<float>& rs, const array<float>& ra, float ws, float wa,
                      array<float>& gq) {
    backend::opencl::run(tag, opencl_source, "wsss_combine", static_cast<index_t>(gq.size()), rs, ra, ws, wa, gq);
  }
  static void dot2(const opencl_t& tag, const array<float>& rs, const array<float>& ra, const array<float>& hist,
                   index_t q_at, index_t size, array<double>& partial, array<double>& total) {
    const index_t chunks = (size + dot_chunk - 1) / dot_chunk;
    backend::resize(tag, partial, 2 * chunks);
    backend::opencl::run(tag, opencl_source, "wsss_dot2_partial", chunks, rs, ra, hist, q_at, partial, size,
                         index_t{dot_chunk});
    backend::opencl::run(tag, opencl_source, "wsss_chunk_total", 2, partial, total, chunks, index_t{2});
  }

 private:
  static int has(const array<std::uint8_t>& clamp) { return clamp.size() > 0 ? 1 : 0; }
  // Without clamps the kernel never reads the map; it gets a buffer of the tag's context.
  static const boost::compute::buffer& clamp_or(const array<std::uint8_t>& clamp, const array<float>& other) {
    return clamp.size() > 0 ? clamp.get_buffer() : other.get_buffer();
  }
};

}  // namespace wsss::crf::device
