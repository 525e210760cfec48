// SPDX-License-Identifier: MIT
// wsss/graph/opencl/steps.hpp — eq. 3's kernels in OpenCL C (Boost.Compute), so that
// graph::device_graph (device_radius) runs on opencl_t
#pragma once

#include <cstdint>

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
#include "wsss/graph/device.hpp"

namespace wsss::graph::device {

/// The OpenCL C twins of affinity.hpp's node_rows_kernel, l1_distance (its 32 lanes and
/// folds: the same float sums) and affinity_pair_kernel; exp is OpenCL's.
inline constexpr const char* opencl_source = R"CL(
#pragma OPENCL FP_CONTRACT OFF

__kernel void wsss_node_rows(__global const float* f, __global float* rows, const long channels, const long nodes,
                             const long block) {
  const long per = (nodes + block - 1) / block, img = get_global_id(0) / per;
  const long i0 = (get_global_id(0) - img * per) * block, i1 = i0 + block < nodes ? i0 + block : nodes;
  __global const float* fi = f + img * channels * nodes;
  __global float* ri = rows + img * nodes * channels;
  for (long c = 0; c < channels; ++c)
    for (long i = i0; i < i1; ++i) ri[i * channels + c] = fi[c * nodes + i];
}

float l1_distance(__global const float* a, __global const float* b, const long channels) {
  float acc[32];
  for (int k = 0; k < 32; ++k) acc[k] = 0.0f;
  long c = 0;
  for (; c + 32 <= channels; c += 32)
    for (int k = 0; k < 32; ++k) acc[k] += fabs(a[c + k] - b[c + k]);
  for (long k = 0; c + k < channels; ++k) acc[k] += fabs(a[c + k] - b[c + k]);
  for (int w = 16; w > 0; w /= 2)  // (`half` is a type in OpenCL C)
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

__kernel void wsss_affinity_pair(__global const float* rows, __global const int* from, __global const int* to,
                                 __global const long* upper, __global const long* reverse, __global float* y,
                                 const long channels, const float scale, const long pairs, const long nodes,
                                 const long edges) {
  const long img = get_global_id(0) / pairs, k = get_global_id(0) - img * pairs, e = upper[k];
  __global const float* fi = rows + img * nodes * channels;
  __global float* yi = y + img * edges;
  const float a = exp(-scale * l1_distance(fi + from[e] * channels, fi + to[e] * channels, channels));
  yi[e] = a;
  yi[reverse[k]] = a;
}
)CL";

/// Eq. 3's steps on OpenCL: the kernels above, queued without draining.
template <>
struct steps<opencl_t> {
  static void node_rows(const opencl_t& tag, buffers<opencl_t>& b, index_t channels, index_t nodes, index_t images) {
    const index_t block = graph::detail::node_rows_block;
    backend::opencl::run(tag, opencl_source, "wsss_node_rows", images * ((nodes + block - 1) / block), b.f, b.rows,
                         channels, nodes, block);
  }
  static void affinities(const opencl_t& tag, buffers<opencl_t>& b, index_t pairs, index_t channels, float scale,
                         index_t nodes, index_t edges, index_t images) {
    backend::opencl::run(tag, opencl_source, "wsss_affinity_pair", images * pairs, b.rows, b.from, b.to, b.upper,
                         b.reverse, b.weight, channels, scale, pairs, nodes, edges);
  }
};

}  // namespace wsss::graph::device
