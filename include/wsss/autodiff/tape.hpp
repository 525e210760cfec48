// SPDX-License-Identifier: MIT
// wsss/autodiff/tape.hpp — tensor-granular reverse-mode autodiff: a Wengert tape of nodes,
// each with its value, its inputs and one type-erased backward closure.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/random.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/core/view.hpp"
#include "wsss/dist/group.hpp"

namespace wsss::ad {

class tape;

/// Handle to a value recorded on a tape (a tape pointer plus an index). Cheap to copy; valid
/// until the tape is cleared.
class var {
 public:
  var() = default;
  const tensor& value() const;
  const wsss::shape& shape() const { return value().shape(); }
  bool requires_grad() const;
  tape& owner() const { return *t_; }
  std::int32_t id() const noexcept { return id_; }
  bool valid() const noexcept { return t_ != nullptr; }

 private:
  friend class tape;
  var(tape* t, std::int32_t id) : t_(t), id_(id) {}
  tape* t_ = nullptr;
  std::int32_t id_ = -1;
};

/// How a backward step meets one gradient slot (see the Op contract in op.hpp).
enum class grad_slot : std::uint8_t {
  accumulate,  ///< the slot holds earlier contributions (or zeros): add into it
  overwrite,   ///< the slot is uninitialised: write every element of it
};

namespace detail {

/// The type-erased backward step of one node. It receives the node's output value and
/// gradient, the input values, one gradient slot per input (nullptr where that input needs
/// no gradient) and each slot's mode; it ADDS its contribution into accumulate slots and
/// writes every element of overwrite slots. The tape flags a slot overwrite only when
/// overwrites() is true.
struct backward_step {
  virtual ~backward_step() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Whether run() honours grad_slot::overwrite (otherwise fresh slots arrive zero-filled).
  virtual bool overwrites() const noexcept { return false; }
  /// Whether dL/dx_i is gy itself (same shape, factor 1): the tape may then hand gy's buffer
  /// to input i as its gradient and pass a null slot for it.
  virtual bool passes_gradient(std::size_t) const noexcept { return false; }
  virtual void run(const tensor& y, const tensor& gy, std::span<const tensor* const> x,
                   std::span<tensor* const> gx, std::span<const grad_slot> mode) = 0;
};

struct node {
  tensor value;                          // owned value (empty for parameter leaves)
  parameter* param = nullptr;            // parameter leaf: value is param->value
  tensor grad;                           // allocated lazily during backward
  std::vector<std::int32_t> inputs;
  std::unique_ptr<backward_step> step;   // null for leaves and no-grad records
  bool needs_grad = false;
  bool keep_grad = false;                // user-visible leaf gradient, kept after backward

  const tensor& val() const noexcept { return param ? param->value : value; }
};

}  // namespace detail

/// Records ops in execution order, which is already a topological order, so backward() is
/// one reverse sweep. Clear it each iteration (it is an arena, not a graph).
class tape {
 public:
  tape() = default;
  tape(const tape&) = delete;
  tape& operator=(const tape&) = delete;

  /// A constant input, or a differentiable input whose gradient grad() returns after backward.
  var leaf(tensor value, bool requires_grad = false) {
    detail::node n;
    n.value = std::move(value);
    n.needs_grad = requires_grad && grad_enabled_;
    n.keep_grad = n.needs_grad;
    return push(std::move(n));
  }

  /// A layer's weight: read in place (no copy); backward() adds its gradient into p.grad
  /// (written there directly when p.grad is empty or of another shape).
  var param(parameter& p) {
    detail::node n;
    n.param = &p;
    n.needs_grad = p.trainable && grad_enabled_;
    return push(std::move(n));
  }

  /// Records an op's result. `step` may be null (no gradient needed); it is dropped when no
  /// input needs a gradient, so frozen parts of a network keep no saved state.
  var record(tensor value, std::span<const var> inputs, std::unique_ptr<detail::backward_step> step) {
    detail::node n;
    n.value = std::move(value);
    n.inputs.reserve(inputs.size());
    for (const var& v : inputs) {
      check_owner(v, "tape::record");
      n.inputs.push_back(v.id());
      n.needs_grad = n.needs_grad || nodes_[static_cast<std::size_t>(v.id())].needs_grad;
    }
    n.needs_grad = n.needs_grad && grad_enabled_ && step != nullptr;
    if (n.needs_grad) n.step = std::move(step);
    return push(std::move(n));
  }

  const tensor& value(const var& v) const {
    check_owner(v, "tape::value");
    return nodes_[static_cast<std::size_t>(v.id())].val();
  }
  bool requires_grad(const var& v) const {
    check_owner(v, "tape::requires_grad");
    return nodes_[static_cast<std::size_t>(v.id())].needs_grad;
  }

  /// Gradient of a leaf made with requires_grad after backward(); nullptr if none reached it.
  const tensor* grad(const var& v) const {
    check_owner(v, "tape::grad");
    const auto& n = nodes_[static_cast<std::size_t>(v.id())];
    return n.grad.empty() && n.val().numel() != 0 ? nullptr : &n.grad;
  }

  /// Backpropagates from a scalar (numel 1) loss with seed 1.
  void backward(const var& loss) {
    if (value(loss).numel() != 1)
      throw_shape("ad::backward", "loss must hold one value, got shape ", value(loss).shape(),
                  " (use backward(out, seed) for a non-scalar output)");
    backward(loss, tensor(value(loss).shape(), 1.0f));
  }

  /// Backpropagates seed = dL/d(out). Each node's closure and intermediate gradient are freed
  /// as soon as it has run; values stay until clear(). A gradient buffer is made only when
  /// its first contribution arrives: that first contribution is written into uninitialised
  /// storage (ops that overwrite), or is gy's own buffer handed over (ops whose gradient
  /// passes through), or lands in a zero-filled buffer (every other op).
  void backward(const var& out, tensor seed) {
    check_owner(out, "ad::backward");
    expect_shape(seed, value(out).shape(), "ad::backward", "seed");
    auto& root = nodes_[static_cast<std::size_t>(out.id())];
    if (!root.needs_grad) return;  // nothing trainable upstream
    root.grad = std::move(seed);
    std::vector<const tensor*> xs;
    std::vector<tensor*> gxs;
    std::vector<grad_slot> modes;
    for (std::int32_t i = out.id(); i >= 0; --i) {
      auto& n = nodes_[static_cast<std::size_t>(i)];
      if (!n.needs_grad || n.grad.empty()) continue;
      if (n.step) {
        run_step(n, xs, gxs, modes);
        n.step.reset();
      }
      if (n.param) {
        // Only a parameter that is itself the output gets here with a gradient (the seed);
        // every other contribution went straight into p.grad (run_step).
        if (n.param->grad.shape() != n.param->value.shape()) {
          n.param->grad = std::move(n.grad);
          continue;
        }
        as_array(n.param->grad) += as_array(n.grad);
      }
      if (!n.keep_grad) n.grad = tensor();
    }
  }

  /// Drops every node (values, gradients, closures); vars from before become invalid.
  void clear() noexcept { nodes_.clear(); }
  std::size_t size() const noexcept { return nodes_.size(); }

  bool grad_enabled() const noexcept { return grad_enabled_; }
  void set_grad_enabled(bool on) noexcept { grad_enabled_ = on; }

  /// The forward pass's mode, the one flag BN and dropout read: training (batch statistics,
  /// random masks) or evaluation (running statistics, identity). Frozen BN ignores it.
  bool training() const noexcept { return training_; }
  void set_training(bool on) noexcept { training_ = on; }
  /// Random stream for stochastic ops (dropout masks); reseed for reproducible runs.
  wsss::rng& rng() noexcept { return rng_; }
  /// Synchronised batch norm: when set, batch statistics (and their gradients) are taken over
  /// the whole mini-batch of every rank of the group, not this rank's shard alone.
  const dist::group* batch_group() const noexcept { return batch_group_; }
  void set_batch_group(const dist::group* g) noexcept { batch_group_ = g; }

 private:
  /// Sets up the gradient slots of n's inputs and runs n's backward step.
  void run_step(detail::node& n, std::vector<const tensor*>& xs, std::vector<tensor*>& gxs,
                std::vector<grad_slot>& modes) {
    xs.clear();
    gxs.clear();
    modes.clear();
    const std::size_t k = n.inputs.size();
    const bool overwrite = n.step->overwrites();
    const tensor* gy = &n.grad;
    for (std::size_t p = 0; p < k; ++p) {
      auto& in = nodes_[static_cast<std::size_t>(n.inputs[p])];
      xs.push_back(&in.val());
      modes.push_back(grad_slot::accumulate);
      if (!in.needs_grad) {
        gxs.push_back(nullptr);
        continue;
      }
      // A parameter's slot is p.grad itself: its contributions land there with no node buffer.
      tensor& g = in.param ? in.param->grad : in.grad;
      if (g.shape() == in.val().shape()) {  // earlier contributions (or a kept gradient)
        gxs.push_back(&g);
        continue;
      }
      // A fresh buffer. An input read through several slots of this op gets zeros, so the
      // slots can add in any order.
      bool once = true;
      for (std::size_t q = 0; q < k; ++q) once = once && (q == p || n.inputs[q] != n.inputs[p]);
      if (once && gy == &n.grad && !n.keep_grad && n.step->passes_gradient(p) &&
          n.grad.shape() == in.val().shape()) {
        g = std::move(n.grad);  // gy becomes this input's gradient; nothing to copy
        gy = &g;
        gxs.push_back(nullptr);
        continue;
      }
      g = tensor::uninitialized(in.val().shape());
      if (once && overwrite) {
        modes.back() = grad_slot::overwrite;
      } else {
        g.fill(0.0f);
      }
      gxs.push_back(&g);
    }
    n.step->run(n.val(), *gy, xs, gxs, modes);
  }

  var push(detail::node&& n) {
    nodes_.push_back(std::move(n));
    return var(this, static_cast<std::int32_t>(nodes_.size() - 1));
  }
  void check_owner(const var& v, std::string_view where) const {
    if (v.t_ != this || v.id_ < 0 || static_cast<std::size_t>(v.id_) >= nodes_.size())
      throw_value(where, "var ", v.id_, " does not belong to this tape (or the tape was cleared)");
  }

  std::vector<detail::node> nodes_;
  bool grad_enabled_ = true;
  bool training_ = true;
  wsss::rng rng_{0x7a9e};
  const dist::group* batch_group_ = nullptr;
};

inline const tensor& var::value() const {
  if (!t_) throw_value("ad::var", "empty var has no value");
  return t_->value(*this);
}
inline bool var::requires_grad() const { return t_ && t_->requires_grad(*this); }

/// Scope in which ops are evaluated but not recorded for backward (inference).
class no_grad {
 public:
  explicit no_grad(tape& t) : t_(t), prev_(t.grad_enabled()) { t_.set_grad_enabled(false); }
  ~no_grad() { t_.set_grad_enabled(prev_); }
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;

 private:
  tape& t_;
  bool prev_;
};

}  // namespace wsss::ad
