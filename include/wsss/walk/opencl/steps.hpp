// SPDX-License-Identifier: MIT
// wsss/walk/opencl/steps.hpp — the device walk's steps in OpenCL C (Boost.Compute), so that
// walk::device_sparse_power runs on opencl_t
#pragma once

#include <cstdint>
#include <string>

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
#include "wsss/cam/opencl/steps.hpp"
#include "wsss/crf/opencl/steps.hpp"
#include "wsss/walk/device_sparse_power.hpp"

namespace wsss::walk::device {

/// The OpenCL C of the walk's kernels (spmm_kernel, transition.hpp's step operator kernels and
/// device_sparse_power.hpp's mass kernels), one output per work item; the sums run in the C++
/// bodies' order.
inline constexpr const char* opencl_source = R"CL(
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

__kernel void wsss_spmm(__global const long* row_ptr, __global const int* col, __global const float* val,
                        __global const float* x, __global float* y, const long ld) {
  const long i = get_global_id(0), node = i / ld, c = i - node * ld;
  float acc = 0;
  for (long k = row_ptr[node]; k < row_ptr[node + 1]; ++k) acc += val[k] * x[col[k] * ld + c];
  y[i] = acc;
}

__kernel void wsss_edge_power(__global const float* weight, const int has_weight, __global double* power,
                              const double beta) {
  const long k = get_global_id(0);
  power[k] = has_weight ? pow((double)weight[k], beta) : 1.0;
}

__kernel void wsss_degree(__global const long* w_row_ptr, __global const double* power, __global double* degree) {
  const long i = get_global_id(0);
  double d = 1.0;
  for (long k = w_row_ptr[i]; k < w_row_ptr[i + 1]; ++k) d += power[k];
  degree[i] = d;
}

__kernel void wsss_step_row(__global const long* row_ptr, __global const int* col, __global const long* edge,
                            __global const double* power, __global const double* degree, __global float* val,
                            const int average) {
  const long i = get_global_id(0);
  for (long e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
    const double aij = edge[e] < 0 ? 1.0 : power[edge[e]];
    val[e] = (float)(aij / (average ? degree[i] : degree[col[e]]));
  }
}

__kernel void wsss_degree_partial(__global const double* degree, __global double* partial, const long n,
                                  const long chunk_size) {
  const long c = get_global_id(0), per = (n + chunk_size - 1) / chunk_size, img = c / per, part = c - img * per;
  const long end = (part + 1) * chunk_size < n ? (part + 1) * chunk_size : n;
  double s = 0;
  for (long i = part * chunk_size; i < end; ++i) s += degree[img * n + i];
  partial[c] = s;
}

__kernel void wsss_mass_vectors(__global const double* degree, __global double* left, __global double* right,
                                __global const double* sum_degree, const int average, const long nodes) {
  const long i = get_global_id(0);
  const double sd = sum_degree[i / nodes];
  left[i] = average ? degree[i] : 1.0;
  right[i] = average ? 1.0 / sd : degree[i] / sd;
}

__kernel void wsss_mass_partial(__global const float* x, __global const double* left, __global double* partial,
                                const long n, const long ld, const long channels, const long chunk_size) {
  const long per = (n + chunk_size - 1) / chunk_size;
  const long i = get_global_id(0), chunk = i / channels, k = i - chunk * channels, img = chunk / per, part = chunk - img * per;
  const long end = (part + 1) * chunk_size < n ? (part + 1) * chunk_size : n;
  double s = 0;
  for (long node = img * n + part * chunk_size; node < img * n + end; ++node) s += left[node] * x[node * ld + k];
  partial[i] = s;
}

__kernel void wsss_mass_total(__global const double* partial, __global const double* target, const int has_target,
                              __global double* out, const long chunks, const long channels) {
  const long i = get_global_id(0), img = i / channels, k = i - img * channels;
  double s = 0;
  for (long c = 0; c < chunks; ++c) s += partial[(img * chunks + c) * channels + k];
  out[i] = has_target ? target[i] - s : s;
}

__kernel void wsss_mass_restore(__global float* x, __global const double* missing, __global const double* right,
                                const long n, const long ld, const long channels) {
  const long i = get_global_id(0), node = i / channels, k = i - node * channels;
  x[node * ld + k] += (float)(missing[node / n * channels + k] * right[node]);
}
)CL";

/// The walk's steps on OpenCL: each the OpenCL C kernel above, queued without draining.
template <>
struct steps<opencl_t> {
  using buffers = walk_buffers<opencl_t>;
  template <class T>
  using array = backend::device_array<T, opencl_t>;

  static void spmm(const opencl_t& tag, buffers& b, const array<float>& x, array<float>& y, index_t n, index_t ld) {
    backend::opencl::run(tag, opencl_source, "wsss_spmm", n * ld, b.row_ptr, b.col, b.val, x, y, ld);
  }
  static void step_values(const opencl_t& tag, buffers& b, const array<float>* weight, index_t n, index_t edges,
                          double beta, bool average) {
    // No weights (W_ij = 1): the kernel reads none, val stands in for the argument.
    backend::opencl::run(tag, opencl_source, "wsss_edge_power", edges, weight ? *weight : b.val, weight ? 1 : 0, b.power, beta);
    backend::opencl::run(tag, opencl_source, "wsss_degree", n, b.w_row_ptr, b.power, b.degree);
    backend::opencl::run(tag, opencl_source, "wsss_step_row", n, b.row_ptr, b.col, b.edge, b.power, b.degree, b.val,
                         average ? 1 : 0);
  }
  static void degree_sum(const opencl_t& tag, buffers& b, index_t n, index_t images) {
    const index_t chunks = (n + detail::degree_chunk - 1) / detail::degree_chunk;
    backend::opencl::run(tag, opencl_source, "wsss_degree_partial", images * chunks, b.degree, b.degree_partial, n,
                         index_t{detail::degree_chunk});
    backend::opencl::run(tag, opencl_source, "wsss_mass_total", images, b.degree_partial, b.degree_partial, 0,
                         b.sum_degree, chunks, index_t{1});
  }
  static void mass_vectors(const opencl_t& tag, buffers& b, index_t n, index_t images, bool average) {
    backend::opencl::run(tag, opencl_source, "wsss_mass_vectors", images * n, b.degree, b.left, b.right, b.sum_degree,
                         average ? 1 : 0, n);
  }
  static void measure(const opencl_t& tag, buffers& b, const array<float>& x, array<double>& out, bool from_target,
                      index_t n, index_t images, index_t ld, index_t channels) {
    const index_t chunks = (n + mass_chunk - 1) / mass_chunk;
    backend::opencl::run(tag, opencl_source, "wsss_mass_partial", images * chunks * channels, x, b.left, b.partial, n,
                         ld, channels, index_t{mass_chunk});
    backend::opencl::run(tag, opencl_source, "wsss_mass_total", images * channels, b.partial, b.target,
                         from_target ? 1 : 0, out, chunks, channels);
  }
  static void restore(const opencl_t& tag, buffers& b, array<float>& x, index_t n, index_t images, index_t ld,
                      index_t channels) {
    backend::opencl::run(tag, opencl_source, "wsss_mass_restore", images * n * channels, x, b.missing, b.right, n, ld,
                         channels);
  }

};

/// The OpenCL C of device_inference.hpp's kernels (walk_input_kernel, unary_kernel,
/// label_kernel) with their helpers (wsss::detail::lerp_at's half-pixel mapping, bilerp,
/// crf::detail::log_positive and neg_log_clamped, cam::device::background from
/// cam/opencl/steps.hpp), one output
/// per work item, in the C++ bodies' order.
inline const std::string& opencl_inference_source() {
  static const std::string source = std::string(R"CL(
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF
)CL") + crf::device::opencl_log_positive + cam::device::opencl_background + R"CL(

__kernel void wsss_walk_input(__global const float* cams, __global float* x, const long planes, const long height,
                              const long width, const long stride, const long grid_width, const long ld,
                              const float alpha, const float inv, const long grid_nodes) {
  const long i = get_global_id(0), node = i / ld, s = i - node * ld;
  if (s > planes) {
    x[i] = 0.0f;
    return;
  }
  const long hw = height * width, img = node / grid_nodes, cell = node - img * grid_nodes;
  const long by = cell / grid_width, bx = cell - by * grid_width;
  __global const float* cm = cams + img * planes * hw;
  const long r0 = by * stride, c0 = bx * stride;
  const long r1 = r0 + stride < height ? r0 + stride : height, c1 = c0 + stride < width ? c0 + stride : width;
  float acc = 0.0f;
  for (long r = r0; r < r1; ++r)
    for (long c = c0; c < c1; ++c) {
      const float v = s == 0 ? cam_background(cm, planes, hw, r * width + c, alpha) : cm[(s - 1) * hw + r * width + c];
      acc += v * inv;
    }
  x[i] = acc;
}

// wsss::detail::lerp_at, half-pixel: the two neighbours of output d and the second one's weight.
void lerp_half_pixel(const long d, const long in, const long out, long* i0, long* i1, float* w1) {
  double src = ((double)d + 0.5) * (double)in / (double)out - 0.5;
  src = 0.0 < src ? src : 0.0;
  const long f = (long)floor(src);
  const long lo = f < in - 1 ? f : in - 1;
  *i0 = lo;
  *i1 = lo + 1 < in - 1 ? lo + 1 : in - 1;
  *w1 = (float)(src - (double)lo);
}

// device::upsample_point: pixel i's four grid neighbours (offsets n[4]) and weights w[2] (x, y).
void upsample_point(const long i, const long h, const long w, const long ld, const long stride, const long width,
                    long* n, float* wxy) {
  const long oy = i / width, ox = i - oy * width;
  long y0, y1, x0, x1;
  lerp_half_pixel(oy, h, h * stride, &y0, &y1, &wxy[1]);
  lerp_half_pixel(ox, w, w * stride, &x0, &x1, &wxy[0]);
  n[0] = (y0 * w + x0) * ld;
  n[1] = (y0 * w + x1) * ld;
  n[2] = (y1 * w + x0) * ld;
  n[3] = (y1 * w + x1) * ld;
}

// The upsampled score of slot s (s < 0: 0): wsss::detail::bilerp.
float upsampled(__global const float* x, const long* n, const float* wxy, const int s) {
  if (s < 0) return 0.0f;
  const float a0 = x[n[0] + s], a1 = x[n[1] + s], b0 = x[n[2] + s], b1 = x[n[3] + s];
  const float top = a0 + wxy[0] * (a1 - a0);
  const float bot = b0 + wxy[0] * (b1 - b0);
  return top + wxy[1] * (bot - top);
}

__kernel void wsss_unaries(__global const float* x, __global float* u, const long h, const long w, const long ld,
                           const long stride, const long height, const long width, const long k, const float clip) {
  const long hw = height * width, img = get_global_id(0) / hw, i = get_global_id(0) - img * hw;
  __global const float* xs = x + img * h * w * ld;
  __global float* us = u + img * k * hw;
  long n[4];
  float wxy[2];
  upsample_point(i, h, w, ld, stride, width, n, wxy);
  double sum = 0;
  for (long j = 0; j < k; ++j) {
    const float v = upsampled(xs, n, wxy, (int)j);
    sum += 0.0f < v ? v : 0.0f;
  }
  const float inv = sum > 0 ? (float)(1.0 / sum) : 1.0f / (float)k;
  for (long j = 0; j < k; ++j) {
    float p = inv;
    if (sum > 0) {
      const float v = upsampled(xs, n, wxy, (int)j);
      p = (0.0f < v ? v : 0.0f) * inv;
    }
    us[j * hw + i] = neg_log_clamped(p, clip);
  }
}

__kernel void wsss_labels(__global const float* x, __global const int* slots, __global uchar* labels, const long h,
                          const long w, const long ld, const long stride, const long height, const long width,
                          const long c) {
  const long hw = height * width, img = get_global_id(0) / hw, i = get_global_id(0) - img * hw;
  __global const float* xs = x + img * h * w * ld;
  __global const int* sl = slots + img * c;
  long n[4];
  float wxy[2];
  upsample_point(i, h, w, ld, stride, width, n, wxy);
  float best = upsampled(xs, n, wxy, sl[0]);
  long arg = 0;
  for (long j = 1; j < c; ++j) {
    const float v = upsampled(xs, n, wxy, sl[j]);
    if (v > best) {
      best = v;
      arg = j;
    }
  }
  labels[get_global_id(0)] = (uchar)arg;
}
)CL";
  return source;
}

/// The chain's per-pixel stages on OpenCL: the OpenCL C kernels above.
template <>
struct inference_steps<opencl_t> {
  template <class T>
  using array = backend::device_array<T, opencl_t>;
  static void walk_input(const opencl_t& tag, const array<float>& cams, array<float>& x, const walk_input_kernel& k,
                         std::int64_t n) {
    backend::opencl::run(tag, opencl_inference_source(), "wsss_walk_input", n * k.ld, cams, x, k.planes, k.height,
                         k.width, k.stride, k.grid_width, k.ld, k.alpha, k.inv, k.grid_nodes);
  }
  static void unaries(const opencl_t& tag, const array<float>& x, array<float>& u, const upsample_shape& g,
                      std::int64_t k, float clip, std::int64_t images) {
    backend::opencl::run(tag, opencl_inference_source(), "wsss_unaries", images * g.height * g.width, x, u, g.h, g.w, g.ld,
                         g.stride, g.height, g.width, k, clip);
  }
  static void labels(const opencl_t& tag, const array<float>& x, const array<std::int32_t>& slots,
                     array<std::uint8_t>& out, const upsample_shape& g, std::int64_t c, std::int64_t images) {
    backend::opencl::run(tag, opencl_inference_source(), "wsss_labels", images * g.height * g.width, x, slots, out, g.h, g.w,
                         g.ld, g.stride, g.height, g.width, c);
  }
};

}  // namespace wsss::walk::device
