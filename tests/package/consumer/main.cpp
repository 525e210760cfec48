// SPDX-License-Identifier: MIT
// A program outside the wsss tree, built against the installed package.
#include <cstdio>

#include <wsss/core.hpp>
#include <wsss/autodiff.hpp>

int main() {
  wsss::tensor t({2, 3});
  t.fill(1.5f);
  wsss::ad::tape tape;
  auto x = tape.leaf(t);
  const bool ok = x.value().numel() == 6 && x.value()[5] == 1.5f;
  std::printf(ok ? "consumer ok\n" : "consumer FAILED\n");
  return ok ? 0 : 1;
}
