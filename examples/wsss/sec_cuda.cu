// SPDX-License-Identifier: MIT
// sec_cuda.cu — `wsss run sec --device cuda`: SEC with the expansion loss's pooling and the dense
// CRFs on the default CUDA stream, the networks on the CPU. Built by nvcc when CMake is
// configured with -DWSSS_CLI_CUDA=ON.
#include <type_traits>

#include "cuda_methods.hpp"
#include "wsss/crf/device_mean_field.hpp"
#include "wsss/cuda.hpp"
#include "wsss/pool/device.hpp"
#include "wsss/pool/gmp.hpp"

namespace wsss_cli {

wsss::methods::run_summary sec_cuda::run(wsss::methods::run_context& cx) const {
  require_cuda_device();
  const auto with = [&]<class P>(std::type_identity<P>) {
    using method = wsss::methods::sec<wsss::pool::device_pool<P, wsss::cuda_t>, wsss::crf::device_mean_field<wsss::cuda_t>>;
    return method(cfg).run(cx);
  };
  if (pooler == "gmp") return with(std::type_identity<wsss::pool::gmp>{});
  if (pooler == "gap") return with(std::type_identity<wsss::pool::gap>{});
  if (pooler == "gwrp") return with(std::type_identity<wsss::pool::gwrp>{});
  wsss::throw_value("wsss", "run sec --device cuda: unknown pooler '", pooler, "' (gwrp, gmp or gap)");
}

}  // namespace wsss_cli
