// SPDX-License-Identifier: MIT
// wsss/crf/param_search.hpp — grid search of the dense CRF's parameters maximising mIoU on a
// held-out labelled set (EM paper §3.3/§4: "we cross-validate the CRF parameters")
#pragma once

#include <limits>
#include <span>
#include <vector>

#include "wsss/core/error.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/eval/confusion.hpp"
#include "wsss/crf/mean_field.hpp"

namespace wsss::crf {

/// One held-out image: the guide image, its unary energies (1 x K x H x W) and ground truth.
/// The pointed-to objects must outlive the search.
struct labelled_example {
  const rgb_image* image = nullptr;
  const tensor* unary = nullptr;
  const label_map* truth = nullptr;
};

/// Candidate values per parameter; an empty list keeps the base configuration's value.
struct search_grid {
  std::vector<float> smoothness_sxy, smoothness_weight;
  std::vector<float> appearance_sxy, appearance_sfeat, appearance_weight;
};

struct search_entry {
  mean_field_config config;
  double miou = 0;
};

struct search_result {
  mean_field_config best;
  double best_miou = -std::numeric_limits<double>::infinity();
  std::vector<search_entry> table;  ///< every grid point, in visiting order
};

/// Tries every grid point (plans rebuilt only when a deviation changes), runs mean field on
/// every example and keeps the configuration with the highest mIoU of the argmax labels
/// (eval::confusion_matrix over num_classes; ties keep the first point visited).
template <GaussianFilter Filter = permutohedral>
search_result grid_search(std::span<const labelled_example> examples, const search_grid& grid,
                          const mean_field_config& base, int num_classes) {
  constexpr auto component = "crf::grid_search";
  require(!examples.empty(), component, "needs at least one labelled example");
  require(num_classes >= 1, component, "num_classes must be >= 1, got ", num_classes);
  for (const labelled_example& e : examples) {
    require(e.image && e.unary && e.truth, component, "example with a null image, unary or truth");
    if (e.truth->height() != e.image->height() || e.truth->width() != e.image->width())
      throw_shape(component, "truth is ", e.truth->height(), "x", e.truth->width(), " but the image is ",
                  e.image->height(), "x", e.image->width());
  }
  auto or_base = [](const std::vector<float>& v, float b) { return v.empty() ? std::vector<float>{b} : v; };
  const auto s_sxy = or_base(grid.smoothness_sxy, base.kernels.smoothness.sxy);
  const auto s_w = or_base(grid.smoothness_weight, base.kernels.smoothness.weight);
  const auto a_sxy = or_base(grid.appearance_sxy, base.kernels.appearance.sxy);
  const auto a_sf = or_base(grid.appearance_sfeat, base.kernels.appearance.sfeat);
  const auto a_w = or_base(grid.appearance_weight, base.kernels.appearance.weight);

  search_result r;
  std::vector<image_plan<Filter>> plans(examples.size());
  for (float ssxy : s_sxy)
    for (float asxy : a_sxy)
      for (float asf : a_sf) {
        mean_field_config cfg = base;
        cfg.kernels.smoothness.sxy = ssxy;
        cfg.kernels.appearance.sxy = asxy;
        cfg.kernels.appearance.sfeat = asf;
        for (std::size_t i = 0; i < examples.size(); ++i) plans[i].build(rgb_guide(*examples[i].image), cfg.kernels);
        for (float sw : s_w)
          for (float aw : a_w) {
            cfg.kernels.smoothness.weight = sw;
            cfg.kernels.appearance.weight = aw;
            mean_field<Filter> engine(cfg);
            eval::confusion_matrix cm(num_classes);
            for (std::size_t i = 0; i < examples.size(); ++i) {
              const tensor q = engine.infer(*examples[i].unary, std::span<image_plan<Filter>>(&plans[i], 1));
              cm.add(argmax_labels(q), *examples[i].truth);
            }
            const double m = cm.miou();
            r.table.push_back({cfg, m});
            if (m > r.best_miou) {
              r.best_miou = m;
              r.best = cfg;
            }
          }
      }
  return r;
}

}  // namespace wsss::crf
