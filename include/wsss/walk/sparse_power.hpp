// SPDX-License-Identifier: MIT
// wsss/walk/sparse_power.hpp — t sparse walk steps on all channels at once (AffinityNet, eq. 12)
#pragma once

#include <string_view>
#include <utility>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/walk/concepts.hpp"
#include "wsss/walk/detail/spmm.hpp"

namespace wsss::walk {

/// vec(M_c*) = S^t vec(M_c) by t sparse products with the CSR step operator, every non-zero
/// channel in one pass (channels packed node-major). O(t * nnz * C) time, O(nnz + n C)
/// memory: no n x n matrix is ever formed. Rows run in parallel on the exec's backend. The
/// walk's conserved mass is restored every keep_mass steps (detail::mass_keeper), so that
/// float rounding cannot compound over large t.
struct sparse_power {
  static constexpr std::string_view name = "walk::sparse_power";
  struct config {
    index_t t = 256;          ///< walk steps (any t >= 0)
    index_t keep_mass = 16;   ///< restore the conserved mass every this many steps (0: never)
  };
  /// The two n x ld buffers the steps alternate between, and the mass keeper's vectors.
  struct plan : detail::sparse_plan_base {
    tensor y;
    std::size_t bytes() const noexcept { return packed.bytes() + static_cast<std::size_t>(y.numel()) * sizeof(float); }
  };
  config cfg{};

  sparse_power() = default;
  explicit sparse_power(config c) : cfg(c) { detail::check_steps(cfg.t, name); }

  /// s: the CAMs' C x H x W or C x n.
  template <class Tag>
  plan prepare(const exec<Tag>&, const batch&, const shape& s) const {
    detail::check_steps(cfg.t, name);
    plan pl;
    pl.sparse_plan_base::prepare(s, name);
    pl.y = tensor::uninitialized({pl.packed.x.numel()});
    return pl;
  }

  template <class Tag>
  void run(const exec<Tag>& ex, plan& pl, const transition& T, const tensor& cam, tensor& out) const {
    require_backend<sparse_power, Tag>();
    if (!detail::begin_walk(pl.cam_shape, T, cam, cfg.t, out, pl.packed, name)) return;
    const index_t n = T.nodes(), ld = pl.packed.ld;
    float* x = pl.packed.x.data();
    float* y = pl.y.data();
    pl.keeper.reset(T, pl.packed);
    for (index_t s = 0; s < cfg.t; ++s) {
      detail::for_each_block(ld, [&](auto b, index_t off) {
        detail::launch(ex.tag, T, ld, n,
                       detail::spmm_kernel<decltype(b)::value>{T.row_ptr.data(), T.col.data(), T.val.data(), x, y,
                                                               ld, off});
      });
      std::swap(x, y);
      if (cfg.keep_mass > 0 && ((s + 1) % cfg.keep_mass == 0 || s + 1 == cfg.t)) pl.keeper.restore(x, ld);
    }
    detail::unpack(pl.packed, x, cam, n, out);
  }
};
static_assert(Propagator<sparse_power>);

}  // namespace wsss::walk
