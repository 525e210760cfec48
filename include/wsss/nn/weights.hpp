// SPDX-License-Identifier: MIT
// wsss/nn/weights.hpp — a network's parameters and buffers by name to and from safetensors
// (PyTorch's state_dict keys, so converted torch checkpoints load directly)
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "wsss/autodiff/parameter.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/tensor.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/nn/module.hpp"

namespace wsss::nn {

/// What load_weights may tolerate. Shapes must always match.
struct load_options {
  bool allow_missing = false;     ///< net entries absent from the file keep their values (e.g. a new fc8)
  bool allow_unexpected = false;  ///< file entries the net lacks are skipped (e.g. torchvision's classifier.*)
};

/// What a load did: names copied, net entries not in the file, file entries not in the net.
struct load_report {
  std::vector<std::string> loaded, missing, unexpected;
};

namespace detail {

/// Every parameter and buffer of net by name; a name used twice is a bug in the net.
template <class Net>
std::map<std::string, ad::parameter*> named_state(Net& net, std::string_view who) {
  std::map<std::string, ad::parameter*> m;
  visit_state(net, [&](ad::parameter& p) {
    if (p.name.empty()) throw_value(who, "a parameter of ", Net::name, " has no name");
    if (!m.emplace(p.name, &p).second) throw_value(who, "two entries of ", Net::name, " are both named '", p.name, "'");
  });
  return m;
}

inline void list_names(std::ostringstream& os, std::string_view what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  os << "; " << names.size() << ' ' << what << ':';
  for (const auto& n : names) os << ' ' << n;
}

}  // namespace detail

/// A copy of every parameter and buffer keyed by name (PyTorch's state_dict).
template <class Net>
std::map<std::string, tensor> state_dict(Net& net) {
  std::map<std::string, tensor> sd;
  for (const auto& [name, p] : detail::named_state(net, "nn::state_dict")) sd.emplace(name, p->value);
  return sd;
}

/// Copies `sd` into net by name. Nothing is written unless every check passes; all problems
/// are reported together: shape mismatches as one shape_error, otherwise missing/unexpected
/// names as one io_error naming `source` (the file they came from).
template <class Net>
load_report load_state(Net& net, const std::map<std::string, tensor>& sd, const load_options& opt = {},
                       const std::filesystem::path& source = "<state dict>") {
  constexpr std::string_view who = "nn::load_weights";
  const auto named = detail::named_state(net, who);
  load_report r;
  std::vector<std::string> bad_shapes;
  for (const auto& [name, p] : named) {
    const auto it = sd.find(name);
    if (it == sd.end()) {
      r.missing.push_back(name);
    } else if (it->second.shape() != p->value.shape()) {
      bad_shapes.push_back(name + " (net " + p->value.shape().str() + ", file " + it->second.shape().str() + ")");
    } else {
      r.loaded.push_back(name);
    }
  }
  for (const auto& [name, t] : sd)
    if (!named.contains(name)) r.unexpected.push_back(name);

  const bool name_problem = (!opt.allow_missing && !r.missing.empty()) || (!opt.allow_unexpected && !r.unexpected.empty());
  if (!bad_shapes.empty() || name_problem) {
    std::ostringstream os;
    os << Net::name << " and " << source.string() << " disagree";
    detail::list_names(os, "with mismatched shapes", bad_shapes);
    if (!opt.allow_missing) detail::list_names(os, "missing from the file", r.missing);
    if (!opt.allow_unexpected) detail::list_names(os, "unexpected in the file", r.unexpected);
    if (!bad_shapes.empty()) throw_shape(who, os.str());
    throw_io(who, source, os.str());
  }
  for (const auto& name : r.loaded) named.at(name)->value = sd.at(name);
  return r;
}

/// Loads a safetensors file written by save_weights or examples/convert_torch_weights.py.
template <class Net>
load_report load_weights(Net& net, const std::filesystem::path& path, const load_options& opt = {}) {
  return load_state(net, io::load_safetensors(path), opt, path);
}

/// Writes every parameter and buffer as F32 under its name (atomically), with optional metadata.
template <class Net>
void save_weights(Net& net, const std::filesystem::path& path, const std::map<std::string, std::string>& metadata = {}) {
  io::save_safetensors(path, state_dict(net), metadata);
}

}  // namespace wsss::nn
