// SPDX-License-Identifier: MIT
// cuda_methods.hpp — `--device cuda` of `wsss run|label affinitynet` and `wsss run sec`,
// `attention` and `em`: stand-ins for the methods with their device slots on CUDA, whose members
// are defined in <method>_cuda.cu, the files nvcc compiles (the rest of the command is C++
// compiled by the host compiler). They hold the methods' configurations, which are the same type
// for every slot, so the host code fills them as for the cpu and opencl runs. Every member first
// checks for a usable GPU: the networks would otherwise train for minutes before the first CUDA
// call.
#pragma once

#include <filesystem>
#include <string>
#include <variant>

#include "wsss/dist/group.hpp"
#include "wsss/em/bias.hpp"
#include "wsss/em/boxes.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/methods/affinitynet.hpp"
#include "wsss/methods/attention_crf.hpp"
#include "wsss/methods/em_deeplab.hpp"
#include "wsss/methods/sec.hpp"

namespace wsss_cli {

/// Throws a value_error naming --device cuda when this machine has no usable CUDA device.
void require_cuda_device();

/// methods::affinitynet_on<cuda_t>: eq. 3's affinities, the random walk and the dense CRFs on the
/// GPU, the networks on the CPU.
struct affinitynet_cuda {
  wsss::methods::affinitynet_config cfg;

  wsss::methods::run_summary run(wsss::methods::run_context& cx) const;
  void label(const std::filesystem::path& run_dir, const wsss::io::voc_dataset& data, const std::filesystem::path& out,
             bool quiet, const wsss::dist::group& g) const;
};

/// methods::sec<pool::device_pool<P, cuda_t>, crf::device_mean_field<cuda_t>>: the expansion loss's
/// pooling and the dense CRFs (the constrain loss's, forward and backward, and the test-time one)
/// on the GPU. pooler names P: gwrp, gmp or gap.
struct sec_cuda {
  wsss::methods::sec_config cfg;
  std::string pooler = "gwrp";

  wsss::methods::run_summary run(wsss::methods::run_context& cx) const;
};

/// methods::attention_crf<S, crf::device_crf_rnn<cuda_t>>: the CRF-RNN's iterations (training,
/// forward and backward, and test time) on the GPU. solver names S: coordinate, gradient or
/// multiplicative.
struct attention_cuda {
  wsss::methods::attention_config cfg;
  std::string solver = "coordinate";

  wsss::methods::run_summary run(wsss::methods::run_context& cx) const;
};

/// methods::em_deeplab<E, crf::device_mean_field<cuda_t>>: the test-time CRF (its cross-validation
/// and the val predictions') on the GPU, the E-step the one estep holds.
struct em_cuda {
  wsss::methods::em_config cfg;
  std::variant<wsss::em::fixed, wsss::em::adapt, wsss::em::bbox_rect, wsss::em::bbox_seg<>, wsss::em::bbox_fixed> estep;

  wsss::methods::run_summary run(wsss::methods::run_context& cx) const;
};

}  // namespace wsss_cli
