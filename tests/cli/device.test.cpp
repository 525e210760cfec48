// SPDX-License-Identifier: MIT
// tests/cli/device.test.cpp — `--device`: an AffinityNet run made on the host engines, labelled
// with the walk and the dense CRF on the default OpenCL device (PoCL here), gives the run's
// labels, in device batches of any size; `wsss run sec|attention|em --device opencl` train and label like the host runs;
// `--device cuda` where no GPU is, or in a build without CUDA, is refused in one line before any
// work.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/run.hpp"
#include "io/temp_dir.hpp"
#include "methods/tiny_run.hpp"
#include "support/label_folders.hpp"

namespace {

// --device cuda where no GPU is: one line naming what is missing, status 1.
void check_cuda_refused(const wsss_test::outcome& r) {
  INFO(r.err);
  CHECK(r.status == 1);
#if WSSS_CLI_HAVE_CUDA  // built with -DWSSS_CLI_CUDA=ON: this test runs where no GPU is
  CHECK(r.err.find("--device cuda: no usable CUDA device") != std::string::npos);
#else
  CHECK(r.err.find("--device cuda: this wsss was built without it") != std::string::npos);
#endif
}

}  // namespace

TEST_CASE("wsss: label affinitynet --device opencl gives the run's labels, --device cuda names what is missing") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  REQUIRE(wsss_test::wsss({"scenes", data.string(), "--train", "4", "--val", "1", "--size", "32", "--seed", "3"}).status == 0);
  const std::vector<std::string> tiny{"--preset", "scenes", "--width", "0.03125", "--threads", "2"};
  auto args = std::vector<std::string>{"-q", "run", "affinitynet", "--data", data.string(), "--work", (dir / "run").string(),
                                       "--val-split", ""};
  args.insert(args.end(), tiny.begin(), tiny.end());
  const auto run = wsss_test::wsss(args);
  INFO(run.err);
  REQUIRE(run.status == 0);
  auto label = [&](const std::string& device, const std::filesystem::path& out, std::vector<std::string> more = {}) {
    auto a = std::vector<std::string>{"-q", "label", "affinitynet", "--weights", (dir / "run").string(), "--data",
                                      data.string(), "--out", out.string(), "--device", device};
    a.insert(a.end(), tiny.begin(), tiny.end());
    a.insert(a.end(), more.begin(), more.end());
    return wsss_test::wsss(a);
  };
#if WSSS_CLI_HAVE_OPENCL
  const auto cl = label("opencl", dir / "opencl");
  INFO(cl.err);
  REQUIRE(cl.status == 0);
  CHECK(cl.out.find("labelled 4 images") != std::string::npos);
  // float rounding only: ties alone may differ (none here)
  const auto d = wsss_test::compare_label_folders(dir / "run" / "labels" / "rw_crf", dir / "opencl");
  MESSAGE("--device opencl: ", d.differ, " of ", d.pixels, " pixels differ from the run's labels");
  CHECK(d.pixels == 4 * 32 * 32);
  CHECK(d.differ * 1000 <= d.pixels);
  // On PoCL (a CPU device) the default labels one image at a time; --batch 4 puts the 4 images
  // through the chain in device batches by tag count: the same bits.
  const auto four = label("opencl", dir / "opencl-4", {"--batch", "4"});
  INFO(four.err);
  REQUIRE(four.status == 0);
  const auto b4 = wsss_test::compare_label_folders(dir / "opencl", dir / "opencl-4");
  CHECK(b4.pixels == 4 * 32 * 32);
  CHECK(b4.differ == 0);
  CHECK(label("opencl", dir / "opencl-0", {"--batch", "0"}).status == 2);  // out of range: the parser names it
#endif
  check_cuda_refused(label("cuda", dir / "cuda"));
  CHECK(label("tpu", dir / "tpu").status == 2);  // not a choice: the parser names the flag
}

TEST_CASE("wsss: run sec / attention / em --device opencl train and label with the pooling and the CRFs on OpenCL, as the host runs do, --device cuda is refused without a GPU") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  REQUIRE(wsss_test::wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "5"}).status == 0);
  // method, its extra flags, the label folder of its val predictions after the CRF
  const std::vector<std::vector<std::string>> methods{
      {"sec", "--through-crf", "sec_crf"}, {"attention", "--lambda", "1.5", "attention"}, {"em", "em_crf"}};
  for (const auto& mf : methods) {
    const std::string method = mf.front(), labels = mf.back();
    CAPTURE(method);
    auto run = [&](const std::string& device) {
      std::vector<std::string> a{"-q", "run", method, "--data", data.string(), "--work", (dir / method / device).string(),
                                 "--preset", "scenes", "--width", "0.03125", "--threads", "2", "--epochs", "1", "--device", device};
      a.insert(a.end(), mf.begin() + 1, mf.end() - 1);
      return wsss_test::wsss(a);
    };
    const auto cpu = run("cpu");
    INFO(cpu.err);
    REQUIRE(cpu.status == 0);
#if WSSS_CLI_HAVE_OPENCL
    const auto cl = run("opencl");
    INFO(cl.err);
    REQUIRE(cl.status == 0);
    // The configuration text is the host method's (a run made on one device resumes on the other).
    CHECK(wsss_test::bytes_of(dir / method / "opencl" / "config.txt") == wsss_test::bytes_of(dir / method / "cpu" / "config.txt"));
    const auto d = wsss_test::compare_label_folders(dir / method / "cpu" / "labels" / labels,
                                                    dir / method / "opencl" / "labels" / labels);
    MESSAGE("wsss run ", method, " --device opencl: ", d.differ, " of ", d.pixels, " val pixels differ from the host run's");
    CHECK(d.pixels == 2 * 32 * 32);
    CHECK(d.differ * 100 <= d.pixels);  // two trainings apart by float rounding
#endif
    check_cuda_refused(run("cuda"));
    const auto refused = dir / method / "cuda";  // refused before anything trained or was written
    CHECK((!std::filesystem::exists(refused) || std::filesystem::is_empty(refused)));
    CHECK(run("tpu").status == 2);  // not a choice: the parser names the flag
  }
}
