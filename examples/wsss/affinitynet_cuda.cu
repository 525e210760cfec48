// SPDX-License-Identifier: MIT
// affinitynet_cuda.cu — methods::affinitynet_on<cuda_t> for `--device cuda`: eq. 3's affinities,
// the random walk and the dense CRFs on the default CUDA stream, the networks on the CPU; and the
// GPU check every CUDA stand-in of cuda_methods.hpp makes first. Built by nvcc when CMake is
// configured with -DWSSS_CLI_CUDA=ON.
#include "cuda_methods.hpp"
#include "wsss/cuda.hpp"

namespace wsss_cli {

void require_cuda_device() {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0)
    wsss::throw_value("wsss", "--device cuda: no usable CUDA device (",
                      status != cudaSuccess ? cudaGetErrorString(status) : "none found", ")");
}

namespace {
wsss::methods::affinitynet_on<wsss::cuda_t> on_gpu(const wsss::methods::affinitynet_config& cfg) {
  require_cuda_device();
  return wsss::methods::affinitynet_on<wsss::cuda_t>(cfg);
}
}  // namespace

wsss::methods::run_summary affinitynet_cuda::run(wsss::methods::run_context& cx) const { return on_gpu(cfg).run(cx); }

void affinitynet_cuda::label(const std::filesystem::path& run_dir, const wsss::io::voc_dataset& data,
                             const std::filesystem::path& out, bool quiet, const wsss::dist::group& g) const {
  on_gpu(cfg).label(run_dir, data, out, quiet, g);
}

}  // namespace wsss_cli
