// SPDX-License-Identifier: MIT
// wsss/testing/graph.hpp — contract checker for graph builders (public, like dlib's test_layer):
// structure, symmetry, eq. 3 weights, determinism, backend parity, named errors
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "wsss/core/batch.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/graph/affinity.hpp"
#include "wsss/graph/concepts.hpp"
#include "wsss/graph/csr.hpp"

namespace wsss::testing {

/// What a graph or walk contract check found.
struct graph_walk_check_result {
  bool ok = true;
  std::string log;  ///< one line per failed property, for CHECK_MESSAGE
};

namespace gw_detail {

/// The failures of one contract check, one line each (shared by the graph and walk checkers;
/// gw_detail, not detail, so that other families' checkers may define their own helpers).
class checklist {
 public:
  template <class... Args>
  void fail(const Args&... args) {
    ((log_ << args), ...);
    log_ << '\n';
  }
  /// Records a failure unless cond.
  template <class... Args>
  void expect(bool cond, const Args&... args) {
    if (!cond) fail(args...);
  }
  /// Records a failure unless f() throws E whose message contains "[wsss.<kind>] <component>".
  template <class E, class F>
  void expect_throws(F&& f, std::string_view kind, std::string_view component, std::string_view what) {
    const std::string want = "[wsss." + std::string(kind) + "] " + std::string(component);
    try {
      f();
      fail(what, ": no exception, expected ", want);
    } catch (const E& e) {
      if (std::string_view(e.what()).find(want) == std::string_view::npos)
        fail(what, ": message \"", e.what(), "\" does not name ", want);
    } catch (const std::exception& e) {
      fail(what, ": wrong exception type, message \"", e.what(), "\" (expected ", want, ")");
    }
  }
  /// Runs f, recording any exception as a failure; returns false when one was thrown.
  template <class F>
  bool no_throw(F&& f, std::string_view what) {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      fail(what, " threw: ", e.what());
      return false;
    }
  }
  graph_walk_check_result result() const {
    std::string s = log_.str();
    return {s.empty(), s};
  }

 private:
  std::ostringstream log_;
};

/// A policy name of the form "<family>::<model>".
inline void check_name(checklist& c, std::string_view name, std::string_view family) {
  c.expect(name.size() > family.size() && name.substr(0, family.size()) == family, "name \"", name,
           "\" must be non-empty and start with ", family);
}

/// The protocol's explicit model(config) exists, and rejects `bad` (when given) naming the model.
template <class P>
void check_config(checklist& c, const std::optional<typename P::config>& bad) {
  if constexpr (std::is_constructible_v<P, const typename P::config&>) {
    if (bad) c.expect_throws<value_error>([&] { (void)P(*bad); }, "value", P::name, "construction from a bad config");
  } else {
    c.fail("no constructor from config (the protocol's explicit model(config))");
  }
}

inline bool same_structure(const graph::csr_graph& a, const graph::csr_graph& b) {
  return a.height == b.height && a.width == b.width && a.row_ptr == b.row_ptr && a.col == b.col;
}

}  // namespace gw_detail

/// Checks a GraphBuilder against its contract (graph/concepts.hpp) on one grid:
///   ex        the exec under test: every result is also compared bitwise with exec<cpu_t>
///   s         the grid H x W
///   b         the batch prepare needs (one image, one superpixel map), or empty
///   features  F x H x W for learned builders (eq. 3 is checked entry by entry); may be empty
///   bad       a config the constructor must reject with a value_error naming the builder
/// Properties: the name; the plan's graph validates, is symmetric, on the grid (or 1 x K) and
/// its pairs are its edges in CSR order; prepare on F x H x W equals prepare on H x W; run
/// without features gives the structure (weighted only for fixed-weight builders); run with
/// features gives eq. 3 on every edge with the config's distance, equal to graph::affinities
/// on plan.pairs (a device-bound builder: eq. 3 within 1e-5); runs are deterministic (same
/// plan, fresh plan, exec<cpu_t> for host builders); named errors.
template <graph::GraphBuilder B, backend::Backend Tag>
graph_walk_check_result check_graph_builder(const B& builder, const exec<Tag>& ex, const shape& s,
                                            const batch& b = {}, const tensor& features = {},
                                            std::optional<typename B::config> bad = std::nullopt) {
  // A builder bound to a device (backend_type) runs on ex only: no exec<cpu> comparison.
  constexpr bool bound = requires { typename B::backend_type; };
  gw_detail::checklist c;
  gw_detail::check_name(c, B::name, "graph::");
  const index_t h = s.dim(-2), w = s.dim(-1);
  typename B::plan pl;
  if (!c.no_throw([&] { pl = builder.prepare(ex, b, s); }, "prepare")) return c.result();
  const graph::csr_graph& g = pl.graph;
  c.no_throw([&] { g.validate(B::name); }, "plan.graph.validate()");
  c.expect(g.symmetric(), "plan.graph is not symmetric");
  c.expect((g.height == h && g.width == w) || g.height == 1, "plan.graph is ", g.height, "x", g.width,
           ": neither the grid ", h, "x", w, " nor a 1 x K region graph");
  const graph::pair_list csr_order = graph::edges_of(g);
  c.expect(pl.pairs.height == g.height && pl.pairs.width == g.width && pl.pairs.from == csr_order.from &&
               pl.pairs.to == csr_order.to,
           "plan.pairs are not the graph's edges in CSR order");
  const shape with_channels{3, h, w};
  c.no_throw([&] {
    c.expect(gw_detail::same_structure(builder.prepare(ex, b, with_channels).graph, g),
             "prepare on F x H x W differs from prepare on H x W");
  }, "prepare on F x H x W");

  // Structure only.
  graph::csr_graph bare;
  c.no_throw([&] { builder.run(ex, pl, tensor{}, bare); }, "run without features");
  c.expect(gw_detail::same_structure(bare, g), "run without features changed the plan's structure");
  c.expect(bare.weighted() == (B::weights == graph::weighting::fixed),
           B::weights == graph::weighting::fixed ? "a fixed-weight builder returned no weights"
                                                 : "run without features returned weights");

  // Weighted: validates, symmetric, eq. 3 for learned builders, deterministic, backend parity.
  const bool learned = B::weights == graph::weighting::learned && !features.empty();
  if (learned || B::weights == graph::weighting::fixed) {
    graph::csr_graph out;
    if (c.no_throw([&] { builder.run(ex, pl, features, out); }, "run")) {
      c.expect(gw_detail::same_structure(out, g), "run changed the plan's structure");
      c.no_throw([&] { out.validate(B::name); }, "weighted graph validate()");
      c.expect(out.weighted() && out.symmetric(), "weighted graph is unweighted or asymmetric");
      if constexpr (B::weights == graph::weighting::learned) {
        if (learned && out.weighted()) {
          const index_t f = features.dim(0), n = h * w;
          const double scale = builder.cfg.dist == graph::distance::mean_l1 ? 1.0 / static_cast<double>(f) : 1.0;
          for (index_t e = 0; e < pl.pairs.size(); ++e) {
            const index_t i = pl.pairs.from[static_cast<std::size_t>(e)], j = pl.pairs.to[static_cast<std::size_t>(e)];
            double d = 0;
            for (index_t k = 0; k < f; ++k) d += std::abs(double(features[k * n + i]) - features[k * n + j]);
            const double want = std::exp(-scale * d), got = out.weight[static_cast<std::size_t>(e)];
            if (std::abs(got - want) > 1e-5 * want + 1e-7) {
              c.fail("edge ", i, " -> ", j, ": weight ", got, ", eq. 3 gives ", want);
              break;
            }
          }
          if constexpr (!bound) {  // a device twin's exp may round otherwise: eq. 3 above holds it
            const tensor op = graph::affinities(features, pl.pairs, {builder.cfg.dist}, ex.tag);
            c.expect(std::equal(op.begin(), op.end(), out.weight.begin(), out.weight.end()),
                     "run's weights differ from graph::affinities on plan.pairs");
          }
        }
      }
      graph::csr_graph again = out;
      builder.run(ex, pl, features, again);
      c.expect(again.weight == out.weight, "a second run into the same graph gave other weights");
      graph::csr_graph fresh;
      auto pl2 = builder.prepare(ex, b, s);
      builder.run(ex, pl2, features, fresh);
      c.expect(fresh.weight == out.weight, "a fresh plan gave other weights");
      if constexpr (!std::is_same_v<Tag, cpu_t> && !bound) {
        const exec<cpu_t> host{};
        auto pl_cpu = builder.prepare(host, b, s);
        graph::csr_graph ref;
        builder.run(host, pl_cpu, features, ref);
        c.expect(gw_detail::same_structure(ref, out) && ref.weight == out.weight, "exec<", Tag::name,
                 "> and exec<cpu> differ");
      }
      if (learned)
        c.expect_throws<shape_error>(
            [&] {
              graph::csr_graph x;
              builder.run(ex, pl, tensor({features.dim(0), h + 1, w}), x);
            },
            "shape", B::name, "run with features of another grid");
    }
  }

  // Named errors.
  c.expect_throws<shape_error>([&] { (void)builder.prepare(ex, b, shape{h * w}); }, "shape", B::name,
                               "prepare on a rank-1 shape");
  // A builder either ignores the batch or names what it misses.
  try {
    c.expect(gw_detail::same_structure(builder.prepare(ex, batch{}, s).graph, g),
             "prepare without the batch gave another structure instead of an error");
  } catch (const value_error& e) {
    c.expect(std::string_view(e.what()).find(std::string("[wsss.value] ") + std::string(B::name)) !=
                 std::string_view::npos,
             "prepare without the batch: \"", e.what(), "\" does not name the builder");
  } catch (const std::exception& e) {
    c.fail("prepare without the batch threw other than value_error: ", e.what());
  }
  gw_detail::check_config<B>(c, bad);
  return c.result();
}

}  // namespace wsss::testing
