// SPDX-License-Identifier: MIT
// wsss/pool/opencl/steps.hpp — the device poolers' steps in OpenCL C (Boost.Compute), so that
// pool::device_gap / device_gmp / device_gwrp run on opencl_t
#pragma once

#include <boost/compute/algorithm/stable_sort_by_key.hpp>

#include <cstdint>

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
#include "wsss/pool/device.hpp"

namespace wsss::pool::device {

/// The OpenCL C twins of pool/device.hpp's kernels and of detail::sum / first_argmax (the
/// same lanes, blocks and order, so GAP gives the host's bits; GWRP's float64 sum may differ
/// from a host build that contracts it into FMAs, in the last bit).
inline constexpr const char* opencl_source = R"CL(
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

double plane_sum(__global const float* a, const long n) {
  double total = 0;
  for (long s = 0; s < n; s += 4096) {
    const long e = s + 4096 < n ? s + 4096 : n;
    float acc[64];
    for (int u = 0; u < 64; ++u) acc[u] = 0.0f;
    long i = s;
    for (; i + 64 <= e; i += 64)
      for (int u = 0; u < 64; ++u) acc[u] += a[i + u];
    for (int w = 32; w >= 1; w /= 2)
      for (int u = 0; u < w; ++u) acc[u] += acc[u + w];
    float tail = acc[0];
    for (; i < e; ++i) tail += a[i];
    total += tail;
  }
  return total;
}

__kernel void wsss_pool_mean(__global const float* s, __global float* out, const long hw) {
  const long k = get_global_id(0);
  out[k] = (float)(plane_sum(s + k * hw, hw) / (double)hw);
}

// detail::first_argmax: the first position of the maximum (0 when nothing exceeds a[0]).
long first_argmax(__global const float* a, const long n) {
  float best = a[0];
  long at = 0;
  for (long i = 1; i < n; ++i)
    if (a[i] > best) { best = a[i]; at = i; }
  return at;
}

__kernel void wsss_pool_max(__global const float* s, __global float* out, __global int* arg, const long hw) {
  const long k = get_global_id(0);
  __global const float* a = s + k * hw;
  const long at = first_argmax(a, hw);
  int bad = 0;
  for (long i = 0; i < hw; ++i) bad |= (a[i] - a[i]) != 0.0f;
  out[k] = bad ? NAN : a[at];
  arg[k] = (int)at;
}

__kernel void wsss_pool_rank_keys(__global const float* s, __global const int* planes, __global ulong* keys,
                                  __global int* pos, const long hw) {
  const long e = get_global_id(0), r = e / hw, i = e - r * hw;
  const uint u = as_uint(s[planes[r] * hw + i]);
  const uint ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  keys[e] = ((ulong)r << 32) | (ulong)(~ascending);
  pos[e] = (int)i;
}

// info[3k .. 3k + 2]: first weight (-1: d = 1), ranks kept, sorted segment (-1: m = 1).
__kernel void wsss_pool_weighted(__global const float* s, __global const int* pos, __global const float* w,
                                 __global const long* info, __global int* arg, __global float* out, const long hw) {
  const long k = get_global_id(0), w_at = info[3 * k], kept = info[3 * k + 1], slot = info[3 * k + 2];
  __global const float* x = s + k * hw;
  if (w_at < 0) {
    out[k] = (float)(plane_sum(x, hw) / (double)hw);
    return;
  }
  if (slot < 0) {
    const long at = first_argmax(x, hw);
    arg[k] = (int)at;
    out[k] = (float)((double)w[w_at] * (double)x[at]);
    return;
  }
  __global const int* p = pos + slot * hw;
  double acc = 0;
  for (long j = 0; j < kept; ++j) acc += (double)w[w_at + j] * (double)x[p[j]];
  out[k] = (float)acc;
}

__kernel void wsss_pool_spread(__global const float* g, __global float* g_in, const long hw) {
  const long e = get_global_id(0);
  g_in[e] = g[e / hw] / (float)hw;
}

__kernel void wsss_pool_route(__global const float* g, __global const int* arg, __global float* g_in, const long hw) {
  const long e = get_global_id(0), k = e / hw;
  g_in[e] = e - k * hw == arg[k] ? g[k] : 0.0f;
}

__kernel void wsss_pool_scatter(__global const float* g, __global const int* pos, __global const float* w,
                                __global const long* info, __global const int* arg, __global float* g_in,
                                const long hw) {
  const long e = get_global_id(0), k = e / hw, j = e - k * hw;
  const long w_at = info[3 * k], kept = info[3 * k + 1], slot = info[3 * k + 2];
  if (w_at < 0) g_in[e] = g[k] / (float)hw;
  else if (slot < 0) g_in[e] = j == arg[k] ? g[k] * w[w_at] : 0.0f;
  else g_in[k * hw + pos[slot * hw + j]] = j < kept ? g[k] * w[w_at + j] : 0.0f;
}
)CL";

/// The poolers' steps on OpenCL: the kernels above, queued without draining; GWRP's ranking
/// by Boost.Compute's stable key-value sort on the queue.
template <>
struct steps<opencl_t> {
  using bufs = buffers<opencl_t>;
  static void mean(const opencl_t& tag, bufs& b, index_t nc, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_mean", nc, b.s, b.out, hw);
  }
  static void max(const opencl_t& tag, bufs& b, index_t nc, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_max", nc, b.s, b.out, b.arg, hw);
  }
  static void rank(const opencl_t& tag, bufs& b, index_t n, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_rank_keys", n, b.s, b.planes, b.keys, b.pos, hw);
    const auto lock = backend::opencl::runtime_lock();
    try {
      boost::compute::stable_sort_by_key(b.keys.begin(), b.keys.begin() + n, b.pos.begin(), *tag.queue);
    } catch (const boost::compute::opencl_error& e) {
      throw backend_error(wsss::detail::cat("[wsss.backend] opencl: the GWRP sort failed: ", e.what()));
    }
  }
  static void weighted(const opencl_t& tag, bufs& b, index_t nc, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_weighted", nc, b.s, b.pos, b.w, b.info, b.arg, b.out, hw);
  }
  static void spread(const opencl_t& tag, bufs& b, index_t n, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_spread", n, b.g, b.g_in, hw);
  }
  static void route(const opencl_t& tag, bufs& b, index_t n, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_route", n, b.g, b.arg, b.g_in, hw);
  }
  static void scatter(const opencl_t& tag, bufs& b, index_t n, index_t hw) {
    backend::opencl::run(tag, opencl_source, "wsss_pool_scatter", n, b.g, b.pos, b.w, b.info, b.arg, b.g_in, hw);
  }
};

}  // namespace wsss::pool::device
