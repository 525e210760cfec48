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

/// The backend a policy is bound to: P::backend_type for a policy whose plan lives in one
/// backend's memory (crf::device_mean_field<Tag>, walk::device_sparse_power<Tag>); cpu_t for
/// the rest, which run on whatever host backend their caller's exec names. The family concepts
/// check a model with an exec of this backend.
template <class P>
struct backend_of {
  using type = cpu_t;
};
template <class P>
  requires requires { typename P::backend_type; }
struct backend_of<P> {
  using type = typename P::backend_type;
};
template <class P>
using backend_of_t = typename backend_of<P>::type;

/// The exec to call p with from a stage running on ex: ex itself, unless p is bound to another
/// backend, then that backend's default instance (the default CUDA stream, the default OpenCL
/// queue) with ex's workspace. Methods call every slot through it, so the slot's type alone
/// moves a stage onto a device.
namespace detail {
template <class P, class Tag>  // a concept, so that the second test is only made when the first holds
concept bound_elsewhere = requires { typename P::backend_type; } && !std::same_as<typename P::backend_type, Tag>;
}  // namespace detail

template <class P, class Tag>
auto policy_exec(const P&, const exec<Tag>& ex) {
  if constexpr (detail::bound_elsewhere<P, Tag>) {
    using bound = typename P::backend_type;
    return exec<bound>{backend::default_instance<bound>::get(), ex.ws};
  } else {
    return ex;
  }
}

/// The name a method's configuration text records for slot P: for a device twin, the host
/// policy whose results it reproduces (P::computes, within its stated tolerance), else P::name.
/// A run made with one backend's slots is thereby resumed or labelled with another's.
template <class P>
constexpr std::string_view recorded_name() {
  if constexpr (requires { P::computes; }) return P::computes;
  else return P::name;
}

/// A policy with learnable parameters, visited like a layer's.
template <class P>
concept Trainable = requires(P& p, ad::parameter_visitor v) { p.visit_params(v); };

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
