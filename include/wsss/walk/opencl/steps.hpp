// SPDX-License-Identifier: MIT
// wsss/walk/opencl/steps.hpp — the device walk's steps in OpenCL C (Boost.Compute), so that
// walk::device_sparse_power runs on opencl_t
#pragma once

#include <cstdint>

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
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
  const long c = get_global_id(0);
  const long end = (c + 1) * chunk_size < n ? (c + 1) * chunk_size : n;
  double s = 0;
  for (long i = c * chunk_size; i < end; ++i) s += degree[i];
  partial[c] = s;
}

__kernel void wsss_mass_vectors(__global const double* degree, __global double* left, __global double* right,
                                __global const double* sum_degree, const int average) {
  const long i = get_global_id(0);
  left[i] = average ? degree[i] : 1.0;
  right[i] = average ? 1.0 / sum_degree[0] : degree[i] / sum_degree[0];
}

__kernel void wsss_mass_partial(__global const float* x, __global const double* left, __global double* partial,
                                const long n, const long ld, const long channels, const long chunk_size) {
  const long i = get_global_id(0), chunk = i / channels, k = i - chunk * channels;
  const long end = (chunk + 1) * chunk_size < n ? (chunk + 1) * chunk_size : n;
  double s = 0;
  for (long node = chunk * chunk_size; node < end; ++node) s += left[node] * x[node * ld + k];
  partial[i] = s;
}

__kernel void wsss_mass_total(__global const double* partial, __global const double* target, const int has_target,
                              __global double* out, const long chunks, const long channels) {
  const long k = get_global_id(0);
  double s = 0;
  for (long c = 0; c < chunks; ++c) s += partial[c * channels + k];
  out[k] = has_target ? target[k] - s : s;
}

__kernel void wsss_mass_restore(__global float* x, __global const double* missing, __global const double* right,
                                const long ld, const long channels) {
  const long i = get_global_id(0), node = i / channels, k = i - node * channels;
  x[node * ld + k] += (float)(missing[k] * right[node]);
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
  static void degree_sum(const opencl_t& tag, buffers& b, index_t n) {
    const index_t chunks = (n + detail::degree_chunk - 1) / detail::degree_chunk;
    backend::opencl::run(tag, opencl_source, "wsss_degree_partial", chunks, b.degree, b.degree_partial, n,
                         index_t{detail::degree_chunk});
    backend::opencl::run(tag, opencl_source, "wsss_mass_total", 1, b.degree_partial, b.degree_partial, 0, b.sum_degree,
                         chunks, index_t{1});
  }
  static void mass_vectors(const opencl_t& tag, buffers& b, index_t n, bool average) {
    backend::opencl::run(tag, opencl_source, "wsss_mass_vectors", n, b.degree, b.left, b.right, b.sum_degree, average ? 1 : 0);
  }
  static void measure(const opencl_t& tag, buffers& b, const array<float>& x, array<double>& out, bool from_target,
                      index_t n, index_t ld, index_t channels) {
    const index_t chunks = (n + mass_chunk - 1) / mass_chunk;
    backend::opencl::run(tag, opencl_source, "wsss_mass_partial", chunks * channels, x, b.left, b.partial, n, ld, channels, index_t{mass_chunk});
    backend::opencl::run(tag, opencl_source, "wsss_mass_total", channels, b.partial, b.target, from_target ? 1 : 0, out, chunks, channels);
  }
  static void restore(const opencl_t& tag, buffers& b, array<float>& x, index_t n, index_t ld, index_t channels) {
    backend::opencl::run(tag, opencl_source, "wsss_mass_restore", n * channels, x, b.missing, b.right, ld, channels);
  }

};

}  // namespace wsss::walk::device
