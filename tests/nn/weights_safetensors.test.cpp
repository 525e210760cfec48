// SPDX-License-Identifier: MIT
// tests/nn/weights_safetensors.test.cpp — load_weights / save_weights by name: round trip,
// a generated torch-style file, and one error listing every mismatched name or shape.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "wsss/io/safetensors.hpp"
#include "wsss/nn/nets/resnet38.hpp"
#include "wsss/nn/nets/vgg16.hpp"
#include "wsss/nn/weights.hpp"

using namespace wsss;
namespace fs = std::filesystem;

namespace {

fs::path temp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "wsss-nn-weights-test";
  fs::create_directories(dir);
  return dir / name;
}

// A tiny two-conv net with torch-style names.
struct tiny_net {
  static constexpr std::string_view name = "tiny_net";
  nn::conv2d a, b;
  tiny_net(rng& g)
      : a("features.0", nn::conv_config(3, 4, 3, 1, 1), g), b("classifier", nn::conv_config(4, 2, 1, 1, 0, 1, false), g) {}
  ad::var operator()(ad::tape& t, ad::var x) { return b(t, a(t, x)); }
  template <class F>
  void visit_params(F&& f) {
    a.visit_params(f);
    b.visit_params(f);
  }
};

// The message of the E that f throws ("" if it throws nothing or something else).
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (...) {
  }
  return {};
}

}  // namespace

TEST_CASE("save_weights then load_weights restores every parameter and BN buffer") {
  rng g(1);
  nn::resnet38 src({1.0 / 32}, g);
  // Give the BN buffers distinct values so that a missed buffer shows.
  nn::visit_buffers(src, [&](ad::parameter& p) { fill_uniform(p.value, g, 0.5, 1.5); });
  const fs::path file = temp_file("resnet38.safetensors");
  nn::save_weights(src, file, {{"format", "pt"}});

  rng g2(2);
  nn::resnet38 dst({1.0 / 32}, g2);
  const auto r = nn::load_weights(dst, file);
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  std::size_t n = 0;
  nn::visit_state(dst, [&](ad::parameter&) { ++n; });
  CHECK(r.loaded.size() == n);
  const auto a = nn::state_dict(src), b = nn::state_dict(dst);
  REQUIRE(a.size() == b.size());
  for (const auto& entry : a) {  // no structured binding: clang 14 cannot capture one in INFO
    const auto& k = entry.first;
    const auto& t = entry.second;
    INFO(k);
    REQUIRE(b.at(k).shape() == t.shape());
    CHECK(std::equal(t.begin(), t.end(), b.at(k).begin()));
  }
  CHECK(io::load_safetensors(file).contains("b4_2.bn_branch2b1.running_var"));
}

TEST_CASE("load_weights reads a generated torch-style file by name") {
  // What examples/convert_torch_weights.py writes for a torchvision checkpoint: F32 tensors
  // under the state_dict keys (here with a classifier the conv part does not have).
  rng g(3);
  nn::vgg16 net({1.0 / 16}, g);
  std::map<std::string, tensor> file_tensors;
  nn::visit_params(net, [&](ad::parameter& p) { file_tensors[p.name] = random_normal(p.value.shape(), g); });
  file_tensors["classifier.0.weight"] = tensor({8, 4});
  const fs::path file = temp_file("vgg16_torch.safetensors");
  io::save_safetensors(file, file_tensors);

  const std::string msg = message_of<wsss::io_error>([&] { nn::load_weights(net, file); });
  CHECK(msg.starts_with("[wsss.io] nn::load_weights: vgg16 and "));
  CHECK(msg.find("; 1 unexpected in the file: classifier.0.weight (") != std::string::npos);
  const auto r = nn::load_weights(net, file, {.allow_missing = false, .allow_unexpected = true});
  CHECK(r.unexpected == std::vector<std::string>{"classifier.0.weight"});
  CHECK(r.loaded.size() == 26);
  const tensor& w = net.features.conv3_2.weight.value;
  const tensor& ref = file_tensors.at("features.12.weight");
  CHECK(std::equal(w.begin(), w.end(), ref.begin()));
}

TEST_CASE("mismatched names and shapes give one error listing all of them, and change nothing") {
  rng g(4);
  tiny_net net(g);
  const tensor before = net.a.weight.value;
  std::map<std::string, tensor> sd;
  sd["features.0.weight"] = tensor({4, 3, 5, 5});  // wrong kernel
  sd["features.0.bias"] = tensor({4}, 1.0f);
  sd["classifer.weight"] = tensor({2, 4, 1, 1});   // misspelt
  sd["extra.bias"] = tensor({2});
  const fs::path file = temp_file("tiny_bad.safetensors");
  io::save_safetensors(file, sd);

  // A shape mismatch is a shape error; the message also lists the name problems.
  const std::string msg = message_of<wsss::shape_error>([&] { nn::load_weights(net, file); });
  INFO(msg);
  CHECK(msg.starts_with("[wsss.shape] nn::load_weights: tiny_net and "));
  CHECK(msg.find("; 1 with mismatched shapes: features.0.weight (net 4x3x3x3, file 4x3x5x5)") != std::string::npos);
  CHECK(msg.find("; 1 missing from the file: classifier.weight") != std::string::npos);
  CHECK(msg.find("; 2 unexpected in the file: classifer.weight extra.bias") != std::string::npos);
  CHECK(std::equal(before.begin(), before.end(), net.a.weight.value.begin()));
  CHECK(net.a.bias.value[0] != 1.0f);  // the valid entry was not applied either

  // Names alone: an io error carrying the path.
  sd["features.0.weight"] = tensor({4, 3, 3, 3});
  io::save_safetensors(file, sd);
  try {
    nn::load_weights(net, file);
    FAIL("expected an io_error");
  } catch (const wsss::io_error& e) {
    CHECK(e.path() == file);
    CHECK(std::string(e.what()).find("missing from the file: classifier.weight") != std::string::npos);
  }
  // Tolerating both loads what matches.
  const auto r = nn::load_weights(net, file, {.allow_missing = true, .allow_unexpected = true});
  CHECK(r.loaded == std::vector<std::string>{"features.0.bias", "features.0.weight"});
  CHECK(r.missing == std::vector<std::string>{"classifier.weight"});
  CHECK(net.a.bias.value[0] == 1.0f);
}

TEST_CASE("load_weights on a file that does not exist is an io error") {
  rng g(5);
  tiny_net net(g);
  CHECK_THROWS_AS(nn::load_weights(net, temp_file("does-not-exist.safetensors")), wsss::io_error);
}
