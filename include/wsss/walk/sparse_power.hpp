// SPDX-License-Identifier: MIT
// wsss/walk/sparse_power.hpp — t sparse walk steps on all channels at once (AffinityNet, eq. 12)
#pragma once

#include <string_view>
#include <utility>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/detail/spmm.hpp"

namespace wsss::walk {

/// vec(M_c*) = S^t vec(M_c) by t sparse products with the CSR step operator, every non-zero
/// channel in one pass (channels packed node-major). O(t * nnz * C) time, O(nnz + n C)
/// memory: no n x n matrix is ever formed. Rows run in parallel on the backend given. The
/// walk's conserved mass is restored every keep_mass steps (detail::mass_keeper), so that
/// float rounding cannot compound over large t.
struct sparse_power {
  static constexpr std::string_view name = "walk::sparse_power";
  struct config {
    index_t t = 256;          ///< walk steps (any t >= 0)
    index_t keep_mass = 16;   ///< restore the conserved mass every this many steps (0: never)
  };
  config cfg{};

  template <class Backend>
  tensor propagate(Backend tag, const transition& T, const tensor& cam) const {
    static_assert(supports<sparse_power, Backend>::value,
                  "walk::sparse_power runs on host backends (cpu, omp, thrust_omp): its buffers are host tensors");
    detail::packed_cams p = detail::begin_walk(T, cam, cfg.t, name);
    const index_t n = T.nodes();
    if (p.channels.empty() || cfg.t == 0) return cam;
    tensor y = tensor::uninitialized(p.x.shape());
    const detail::mass_keeper keeper(T, p);
    for (index_t s = 0; s < cfg.t; ++s) {
      detail::for_each_block(p.ld, [&](auto b, index_t off) {
        detail::launch(tag, T, p.ld, n,
                                detail::spmm_kernel<decltype(b)::value>{T.row_ptr.data(), T.col.data(), T.val.data(),
                                                                        p.x.data(), y.data(), p.ld, off});
      });
      std::swap(p.x, y);
      if (cfg.keep_mass > 0 && ((s + 1) % cfg.keep_mass == 0 || s + 1 == cfg.t)) keeper.restore(p.x.data(), p.ld);
    }
    return detail::unpack(p, p.x, cam, n);
  }

  /// Peak bytes of the workspace for C channels (graph not counted): two n x ld buffers.
  static std::size_t workspace_bytes(index_t n, index_t c) {
    return 2 * static_cast<std::size_t>(n) * static_cast<std::size_t>((c + 7) / 8 * 8) * sizeof(float);
  }
};
static_assert(Propagator<sparse_power>);

}  // namespace wsss::walk
