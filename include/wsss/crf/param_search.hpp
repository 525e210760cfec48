// SPDX-License-Identifier: MIT
// wsss/crf/param_search.hpp — grid search of the dense CRF's parameters maximising mIoU on a
// held-out labelled set (EM paper §3.3/§4: "we cross-validate the CRF parameters")
#pragma once

#include <limits>
#include <span>
#include <vector>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/image.hpp"
#include "wsss/core/label_map.hpp"
#include "wsss/crf/concepts.hpp"
#include "wsss/crf/mean_field.hpp"
#include "wsss/eval/confusion.hpp"

namespace wsss::crf {

/// One held-out image: the guide image, its unary energies (1 x K x H x W) and ground truth,
/// and optionally a clamp map (255 = free; Bbox-Seg's boxes) the engine receives as the
/// batch's labels. The pointed-to objects must outlive the search.
struct labelled_example {
  const rgb_image* image = nullptr;
  const tensor* unary = nullptr;
  const label_map* truth = nullptr;
  const label_map* clamp = nullptr;
};

/// Candidate values per parameter; an empty list keeps the base configuration's value.
struct search_grid {
  std::vector<float> smoothness_sxy, smoothness_weight;
  std::vector<float> appearance_sxy, appearance_sfeat, appearance_weight;
};

template <class Config = mean_field_config>
struct search_entry {
  Config config;
  double miou = 0;
};

template <class Config = mean_field_config>
struct search_result {
  Config best;
  double best_miou = -std::numeric_limits<double>::infinity();
  std::vector<search_entry<Config>> table;  ///< every grid point, in visiting order
};

/// A CRF engine grid_search can tune: built from its config, whose kernel weights it sets.
template <class K>
concept searchable = requires(typename K::config c) {
  c.kernels.smoothness.weight;
  K(c);
};

/// Tries every grid point, runs the engine (built from each point's config) on every example
/// and keeps the configuration with the highest mIoU of the argmax labels
/// (eval::confusion_matrix over num_classes; ties keep the first point visited). Plans are
/// prepared only when a deviation changes: a CrfEngine's plan does not read the weights.
template <CrfEngine Engine = mean_field<>, class Tag = omp_t>
  requires searchable<Engine>
search_result<typename Engine::config> grid_search(std::span<const labelled_example> examples, const search_grid& grid,
                                                   const typename Engine::config& base, int num_classes,
                                                   const exec<Tag>& ex = {}) {
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

  search_result<typename Engine::config> r;
  std::vector<typename Engine::plan> plans(examples.size());
  tensor q;
  for (float ssxy : s_sxy)
    for (float asxy : a_sxy)
      for (float asf : a_sf) {
        typename Engine::config cfg = base;
        cfg.kernels.smoothness.sxy = ssxy;
        cfg.kernels.appearance.sxy = asxy;
        cfg.kernels.appearance.sfeat = asf;
        const Engine planner(cfg);
        for (std::size_t i = 0; i < examples.size(); ++i) {
          batch b = images_only(std::span<const rgb_image>(examples[i].image, 1));
          if (examples[i].clamp) b.labels = std::span<const label_map>(examples[i].clamp, 1);
          plans[i] = planner.prepare(ex, b, examples[i].unary->shape());
        }
        for (float sw : s_w)
          for (float aw : a_w) {
            cfg.kernels.smoothness.weight = sw;
            cfg.kernels.appearance.weight = aw;
            const Engine engine(cfg);
            eval::confusion_matrix cm(num_classes);
            for (std::size_t i = 0; i < examples.size(); ++i) {
              engine.run(ex, plans[i], *examples[i].unary, q);
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
