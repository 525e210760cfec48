// SPDX-License-Identifier: MIT
// wsss/crf/detail/filter_common.hpp — normalisers from n = K·1 and the channel-major
// convenience path shared by every GaussianFilter model
#pragma once

#include <cmath>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/crf/detail/channel_block.hpp"
#include "wsss/crf/kernels.hpp"

namespace wsss::crf::detail {

/// expect_finite with a vectorised fast path; the slow scan runs only to word the error.
inline void check_finite(const tensor& t, std::string_view component, std::string_view what) {
  if (!all_finite(t.data(), t.numel())) expect_finite(t, component, what);
}

/// Checks features D x N (rank 2, D in [1, max_dims], N >= 1, finite) for a filter's init and
/// returns {D, N}.
inline std::pair<index_t, index_t> check_features(const tensor& f, std::string_view component,
                                                  index_t max_dims = std::numeric_limits<index_t>::max()) {
  expect_rank(f, 2, component, "features", "D x N");
  const index_t d = f.dim(0), n = f.dim(1);
  if (d < 1 || d > max_dims) throw_shape(component, "feature dimension must be in [1, ", max_dims, "], got ", d);
  if (n < 1) throw_shape(component, "features must cover at least one pixel, got ", f.shape());
  check_finite(f, component, "features");
  return {d, n};
}

/// Per-pixel input (pre) and output (post) scales of a normalisation mode, computed like the
/// reference (in double, stored as float): symmetric 1/sqrt(n + 1e-20) on both sides; before
/// 1/(n + 1e-20) on the input; after on the output; none leaves both empty (= 1).
inline void set_normalisers(normalization mode, const std::vector<float>& n, std::vector<float>& pre,
                            std::vector<float>& post) {
  pre.clear();
  post.clear();
  if (mode == normalization::none) return;
  std::vector<float> s(n.size());
  for (std::size_t i = 0; i < n.size(); ++i)
    s[i] = mode == normalization::symmetric ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(n[i]) + 1e-20))
                                            : static_cast<float>(1.0 / (static_cast<double>(n[i]) + 1e-20));
  if (mode == normalization::symmetric) {
    pre = s;
    post = std::move(s);
  } else if (mode == normalization::before) {
    pre = std::move(s);
  } else {
    post = std::move(s);
  }
}

/// out = F in (or F^T in) for in L x N, through the filter's interleaved apply_add.
template <class Filter>
tensor apply_channel_major(Filter& f, const tensor& in, bool transpose, std::string_view component) {
  expect_rank(in, 2, component, "input", "L x N");
  if (in.dim(1) != f.pixels())
    throw_shape(component, "input has ", in.dim(1), " pixels, the plan was built for ", f.pixels());
  const index_t l = in.dim(0), n = in.dim(1), ld = padded(l);
  tensor x({n * ld}), y({n * ld});
  for (index_t c = 0; c < l; ++c)
    for (index_t p = 0; p < n; ++p) x[p * ld + c] = in[c * n + p];
  f.apply_add(x.data(), y.data(), ld, 1.0f, transpose);
  tensor out({l, n});
  for (index_t c = 0; c < l; ++c)
    for (index_t p = 0; p < n; ++p) out[c * n + p] = y[p * ld + c];
  return out;
}

}  // namespace wsss::crf::detail
