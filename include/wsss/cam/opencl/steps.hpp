// SPDX-License-Identifier: MIT
// wsss/cam/opencl/steps.hpp — CAM post-processing on OpenCL (Boost.Compute): cam/device.hpp's
// kernel bodies in OpenCL C, so cam::device_confident_regions runs with
// crf::device_mean_field<opencl_t>
#pragma once

#include <cstdint>
#include <string>

#include "wsss/backend/opencl/launch.hpp"
#include "wsss/backend/opencl/memory.hpp"
#include "wsss/cam/device.hpp"
#include "wsss/crf/opencl/steps.hpp"

namespace wsss::cam::device {

/// cam::device::background in OpenCL C (also walk/opencl/steps.hpp's, for the walk input).
inline constexpr const char* opencl_background = R"CL(
float cam_background(__global const float* cams, const long planes, const long hw, const long i, const float alpha) {
  float m = 0.0f;
  for (long p = 0; p < planes; ++p) {
    const float a = cams[p * hw + i];
    m = m < a ? a : m;
  }
  const float d = 1.0f - m;
  return pow(0.0f < d ? d : 0.0f, alpha);
}
)CL";

/// The OpenCL C of background_unary_kernel and confident_kernel, in the C++ bodies' order
/// (tests/backend/inference_device.test.cpp holds them to confident_rule and the host's unaries).
inline const std::string& opencl_source() {
  static const std::string source = std::string(R"CL(
#pragma OPENCL FP_CONTRACT OFF
)CL") + crf::device::opencl_log_positive + opencl_background + R"CL(
__kernel void wsss_background_unaries(__global const float* cams, __global float* u, const long planes, const long hw,
                                      const float alpha, const float clip) {
  const long i = get_global_id(0);
  u[i] = neg_log_clamped(cam_background(cams, planes, hw, i, alpha), clip);
  for (long p = 0; p < planes; ++p) u[(p + 1) * hw + i] = neg_log_clamped(cams[p * hw + i], clip);
}

__kernel void wsss_confident(__global const float* q, __global uchar* label, __global float* top, const long offset,
                             const long k, const long height, const long width, const long stride,
                             const long grid_width, const float inv, const float no_score, const int high) {
  const long cell = get_global_id(0), by = cell / grid_width, bx = cell - by * grid_width;
  const long r0 = by * stride, c0 = bx * stride;
  const long r1 = r0 + stride < height ? r0 + stride : height, c1 = c0 + stride < width ? c0 + stride : width;
  float best = 0.0f, mx = high ? top[offset + cell] : 0.0f;
  long arg = 0;
  for (long c = 0; c < k; ++c) {
    float acc = 0.0f;
    for (long r = r0; r < r1; ++r)
      for (long x = c0; x < c1; ++x) acc += q[(r * width + x) * k + c] * inv;
    if (c == 0 || acc > best) {
      best = acc;
      arg = c;
    }
    mx = mx < acc ? acc : mx;
  }
  if (!high) {
    label[offset + cell] = (uchar)arg;
    top[offset + cell] = mx;
    return;
  }
  uchar out = label[offset + cell];
  if (out == 0) out = 255;
  if (arg == 0) out = 0;
  if (mx < no_score) out = 255;
  label[offset + cell] = out;
}
)CL";
  return source;
}

/// The two stages on OpenCL: the OpenCL C kernels above.
template <>
struct cam_steps<opencl_t> {
  template <class T>
  using array = backend::device_array<T, opencl_t>;
  static void unaries(const opencl_t& tag, const array<float>& cams, array<float>& u, std::int64_t planes,
                      std::int64_t hw, float alpha, float clip) {
    backend::opencl::run(tag, opencl_source(), "wsss_background_unaries", hw, cams, u, planes, hw, alpha, clip);
  }
  static void confident(const opencl_t& tag, const array<float>& q, array<std::uint8_t>& label, array<float>& top,
                        const confident_kernel& k, std::int64_t cells) {
    backend::opencl::run(tag, opencl_source(), "wsss_confident", cells, q, label, top, k.offset, k.k, k.height, k.width,
                         k.stride, k.grid_width, k.inv, k.no_score, k.high);
  }
};

}  // namespace wsss::cam::device
