// SPDX-License-Identifier: MIT
// wsss/core/policy.hpp — the shape every policy family shares (the stage protocol): a name, one
// public config member `cfg` with the paper's defaults, a plan built once per image or shape,
// a const run that takes the execution context, and visit_params when trainable
#pragma once

#include <concepts>
#include <string_view>
#include <type_traits>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/batch.hpp"
#include "wsss/core/exec.hpp"

namespace wsss {

/*  Policy contract (every family's concept refines it)
      static constexpr std::string_view name;   // "pool::gwrp": logs, errors, benchmark labels
      struct config { ... };                     // the paper's numbers as member initialisers
      config cfg;                                // one public member, spelled `cfg` everywhere
      struct plan { ... };                       // built once per image or shape, then reused
      plan prepare(const exec<Tag>&, const batch&, const shape&) const;
      void run(const exec<Tag>&, plan&, inputs..., outputs&) const;   // the family fixes the types
    A policy is a value: run is const and all state lives in the plan and the workspace, so one
    policy object serves every thread and every rank. Trainable policies also provide
      template <class F> void visit_params(F&& f);   // f(ad::parameter&), names fixed at construction
    so optimisers, checkpoints and counting treat them exactly as network layers.              */
template <class P>
concept Policy = requires(const P& p) {
  { P::name } -> std::convertible_to<std::string_view>;
  typename P::config;
  typename P::plan;
  requires std::same_as<std::remove_cvref_t<decltype(p.cfg)>, typename P::config>;
};

/// A policy with learnable parameters, visited like a layer's.
template <class P>
concept Trainable = requires(P& p) { p.visit_params([](ad::parameter&) {}); };

namespace detail {
template <class P>
struct shape_plan {
  shape s;
  bool ready = false;
  typename P::plan plan;
};
}  // namespace detail

/// The plan of p for shape s kept in the exec's workspace: prepared on first use and again
/// whenever s changes, reused otherwise. Only for plans that depend on the shape alone (a
/// neighbourhood graph on a grid, walk buffers); without a workspace, `local` is prepared.
template <Policy P, class Tag>
typename P::plan& plan_for_shape(const P& p, const exec<Tag>& ex, const shape& s, typename P::plan& local) {
  if (!ex.ws) return local = p.prepare(ex, batch{}, s);
  auto& c = ex.ws->template get<detail::shape_plan<P>>();
  if (!c.ready || c.s != s) {
    c.plan = p.prepare(ex, batch{}, s);
    c.s = s;
    c.ready = true;
  }
  return c.plan;
}

/// The plan of p for batch b and shape s, prepared in place in the exec's workspace so its
/// buffers are reused from one image to the next (when P can prepare in place; otherwise a
/// fresh plan is moved in).
template <Policy P, class Tag>
typename P::plan& plan_in_workspace(const P& p, const exec<Tag>& ex, const batch& b, const shape& s,
                                    typename P::plan& local) {
  typename P::plan& pl = ex.scratch(local);
  if constexpr (requires { p.prepare(ex, b, s, pl); }) p.prepare(ex, b, s, pl);
  else pl = p.prepare(ex, b, s);
  return pl;
}

}  // namespace wsss
