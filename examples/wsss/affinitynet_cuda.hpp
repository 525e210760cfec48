// SPDX-License-Identifier: MIT
// affinitynet_cuda.hpp — `--device cuda` of `wsss run|label affinitynet`: a stand-in for
// methods::affinitynet_on<cuda_t> whose members are defined in affinitynet_cuda.cu, the one
// file nvcc compiles (the rest of the command is C++ compiled by the host compiler).
#pragma once

#include <filesystem>

#include "wsss/dist/group.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/methods/affinitynet.hpp"

namespace wsss_cli {

struct affinitynet_cuda {
  wsss::methods::affinitynet_config cfg;

  wsss::methods::run_summary run(wsss::methods::run_context& cx) const;
  void label(const std::filesystem::path& run_dir, const wsss::io::voc_dataset& data, const std::filesystem::path& out,
             bool quiet, const wsss::dist::group& g) const;
};

}  // namespace wsss_cli
