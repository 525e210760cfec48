// SPDX-License-Identifier: MIT
// tests/cli/wsss.test.cpp — runs the built `wsss` command: --help everywhere, exit status 2
// with the bad flag named, 1 with the missing folder named, scenes -> eval at 100% mIoU
// (without the JPEGs), results.json -> docs/results.md.
#include <doctest/doctest.h>

#ifdef WSSS_CLI_PATH

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "cli/run.hpp"
#include "io/temp_dir.hpp"

namespace {

using wsss_test::lines;
using wsss_test::text_of;
using wsss_test::wsss;

// The method names `wsss run` lists (none until a method registers).
std::vector<std::string> listed_methods(const std::string& listing) {
  std::vector<std::string> names;
  std::istringstream in(listing.substr(std::min(listing.size(), listing.find("methods:\n") + 9)));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  ", 0) == 0) names.push_back(line.substr(2, line.find(' ', 2) - 2));
  return names;
}

}  // namespace

TEST_CASE("wsss: --help of every subcommand and every registered method exits 0") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"scenes", "--help"}, {"eval", "--help"}, {"results", "--help"}, {"run", "--help"},
           {"label", "--help"}, {"pretrain", "--help"}}) {
    const auto o = wsss(args);
    CAPTURE(args[0]);
    CHECK(o.status == 0);
    CHECK(o.out.find("Usage: wsss") != std::string::npos);
    CHECK(o.err.empty());
  }
  const auto run = wsss({"run"});
  CHECK(run.status == 0);
  CHECK(run.out.rfind("usage: wsss run METHOD", 0) == 0);
  CHECK(listed_methods(wsss({"pretrain"}).out) == std::vector<std::string>{"affinitynet", "sec"});
  CHECK(listed_methods(wsss({"run"}).out) == std::vector<std::string>{"affinitynet", "attention", "em", "sec", "spn"});
  for (const auto& verb : {"run", "label", "pretrain"})
    for (const auto& m : listed_methods(wsss({verb}).out)) {
      CAPTURE(m);
      CHECK(wsss({verb, m, "--help"}).status == 0);
    }
  CHECK(wsss({"--version"}).out == WSSS_VERSION_TEXT "\n");
}

TEST_CASE("wsss: a bad command line exits 2 with one line naming the flag") {
  wsss_test::temp_dir dir;
  const auto bogus = wsss({"eval", "--pred", dir.path().string(), "--data", dir.path().string(), "--bogus-flag"});
  CHECK(bogus.status == 2);
  CHECK(lines(bogus.err) == 1);
  CHECK(bogus.err.find("--bogus-flag") != std::string::npos);
  CHECK(bogus.err.rfind("wsss eval: ", 0) == 0);

  const auto first = wsss({"eval", "--pred-dir", "x"});  // unknown flag and missing ones: the unknown is named
  CHECK(first.status == 2);
  CHECK(lines(first.err) == 1);
  CHECK(first.err.find("'--pred-dir'") != std::string::npos);

  const auto size = wsss({"scenes", (dir / "s").string(), "--size", "8"});
  CHECK(size.status == 2);
  CHECK(size.err.find("--size") != std::string::npos);
  const auto objects = wsss({"scenes", (dir / "s").string(), "--objects", "3", "2"});
  CHECK(objects.status == 2);
  CHECK(objects.err.find("--objects") != std::string::npos);
  CHECK(wsss({"scenes", (dir / "s").string(), "--make-subset", "3", "--train", "4"}).status == 2);
  CHECK(wsss({}).status == 2);
  CHECK(wsss({"run", "no-such-method"}).status == 2);
  CHECK(wsss({"scenes", (dir / "s").string(), "--full", "--test-items"}).status == 2);  // two item sources
  CHECK_FALSE(std::filesystem::exists(dir / "s"));
}

TEST_CASE("wsss: a missing folder exits 1 naming the path") {
  wsss_test::temp_dir dir;
  const auto missing = (dir / "missing").string();
  const auto eval = wsss({"eval", "--pred", dir.path().string(), "--data", missing});
  CHECK(eval.status == 1);
  CHECK(lines(eval.err) == 1);
  CHECK(eval.err.find("[wsss.io]") != std::string::npos);
  CHECK(eval.err.find(missing) != std::string::npos);
  const auto results = wsss({"results", "--work", missing, "--out", (dir / "r.md").string()});
  CHECK(results.status == 1);
  CHECK(results.err.find(missing) != std::string::npos);
}

TEST_CASE("wsss: a WSSS_ISA naming no instruction set this CPU runs exits 1 before any work") {
  wsss_test::temp_dir dir;
  const auto bad = wsss({"scenes", (dir / "d").string()}, "WSSS_ISA=avx9 ");
  CHECK(bad.status == 1);
  CHECK(lines(bad.err) == 1);
  CHECK(bad.err.find("WSSS_ISA (environment): unknown instruction set 'avx9'") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "d"));
  CHECK(wsss({"--help"}, "WSSS_ISA=generic ").status == 0);
}

TEST_CASE("wsss: scenes makes a tiny dataset whose masks score 100% mIoU in eval, JPEGs or not") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  const auto made = wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "3"});
  REQUIRE(made.status == 0);
  CHECK(made.out.find("wrote 4 train + 2 val scenes of 32x32") != std::string::npos);
  for (const char* f : {"JPEGImages/train_00003.jpg", "SegmentationClass/val_00001.png", "ImageSets/Segmentation/val.txt",
                        "cls_labels.txt", "classes.txt", "NOTICE.txt"})
    CHECK(std::filesystem::exists(data / f));

  const auto masks = (data / "SegmentationClass").string();
  const auto val = wsss({"eval", "--pred", masks, "--data", data.string()});
  REQUIRE(val.status == 0);
  CHECK(val.out.find("split 'val', 11 classes") != std::string::npos);
  CHECK(val.out.find("background          100.00  100.00") != std::string::npos);  // names from classes.txt
  CHECK(val.out.find("mIoU 100.00%") != std::string::npos);
  CHECK(val.err.empty());  // no progress lines off a terminal for a job this quick

  std::filesystem::remove_all(data / "JPEGImages");  // evaluation reads masks only
  const auto train = wsss({"--quiet", "eval", "--pred", masks, "--data", data.string(), "--split", "train"});
  REQUIRE(train.status == 0);
  CHECK(train.out.find("mIoU 100.00%") != std::string::npos);
  CHECK(train.out.find("(4096 pixels)") != std::string::npos);
  CHECK(train.err.empty());

  // A missing prediction names the file; a names file of the wrong length is refused.
  const auto wrong = wsss({"eval", "--pred", data.string(), "--data", data.string()});
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find((data / "val_00000.png").string()) != std::string::npos);
  const auto names = wsss({"eval", "--pred", masks, "--data", data.string(), "--names", (data / "NOTICE.txt").string(),
                           "--classes", "11"});
  CHECK(names.status == 1);
  CHECK(names.err.find("class names, --classes is") != std::string::npos);
}

TEST_CASE("wsss: run sec with a pooler and a dropped term, then again from the first run's cue files") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  REQUIRE(wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "3"}).status == 0);
  const std::vector<std::string> tiny{"--preset", "scenes", "--width", "0.03125", "--epochs", "1", "--threads", "2"};
  auto args = std::vector<std::string>{"-q", "run", "sec", "--data", data.string(), "--work", (dir / "a").string(),
                                       "--pooler", "gmp", "--without", "constrain", "--no-test-crf"};
  args.insert(args.end(), tiny.begin(), tiny.end());
  const auto a = wsss(args);
  INFO(a.err);
  REQUIRE(a.status == 0);
  CHECK(a.out.find("SEC (val)") != std::string::npos);
  CHECK(a.out.find("SEC pseudo-labels, tags known (train)") != std::string::npos);
  CHECK(text_of(dir / "a" / "results.json").find("\"variant\": \"scenes, gmp, without constrain\"") != std::string::npos);
  CHECK(text_of(dir / "a" / "config.txt").find("slots = pool::gmp") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "a" / "cues" / "train_00000.png"));

  args = {"-q", "run", "sec", "--data", data.string(), "--work", (dir / "b").string(), "--cues", (dir / "a" / "cues").string()};
  args.insert(args.end(), tiny.begin(), tiny.end());
  const auto b = wsss(args);
  REQUIRE(b.status == 0);
  CHECK(b.out.find("SEC + dCRF (val)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "b" / "cues"));
  CHECK(text_of(dir / "b" / "results.json").find("\"variant\": \"scenes, given cues\"") != std::string::npos);

  // A bad --without names the flag; a missing cue folder exits 2 (checked by the parser).
  args = {"run", "sec", "--data", data.string(), "--work", (dir / "c").string(), "--without", "everything"};
  const auto bad = wsss(args);
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--without") != std::string::npos);
  args = {"run", "sec", "--data", data.string(), "--work", (dir / "c").string(), "--cues", (dir / "none").string()};
  CHECK(wsss(args).status == 2);
}

TEST_CASE("wsss: run em semi-supervised and with boxes, a bad variant names the flag") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  REQUIRE(wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "3"}).status == 0);
  const std::vector<std::string> tiny{"--preset", "scenes", "--width", "0.03125", "--epochs", "1", "--threads", "2", "--crf-holdout", "1"};
  auto args = std::vector<std::string>{"-q", "run", "em", "--data", data.string(), "--work", (dir / "a").string(),
                                       "--variant", "semi", "--strong", "1"};
  args.insert(args.end(), tiny.begin(), tiny.end());
  const auto a = wsss(args);
  INFO(a.err);
  REQUIRE(a.status == 0);
  CHECK(a.out.find("DeepLab-LargeFOV + dCRF (val)") != std::string::npos);
  CHECK(a.out.find("dCRF cross-validated on 1 val images") != std::string::npos);
  CHECK(text_of(dir / "a" / "results.json").find("\"variant\": \"scenes, semi (1 strong)\"") != std::string::npos);
  CHECK(text_of(dir / "a" / "config.txt").find("slots = em::fixed") != std::string::npos);

  args = {"-q", "run", "em", "--data", data.string(), "--work", (dir / "b").string(), "--variant", "bbox-seg", "--alpha", "0.3",
          "--no-test-crf"};
  args.insert(args.end(), tiny.begin(), tiny.end());
  const auto b = wsss(args);
  REQUIRE(b.status == 0);
  CHECK(text_of(dir / "b" / "results.json").find("\"variant\": \"scenes, bbox-seg, alpha 0.3\"") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "b" / "labels" / "estep" / "train_00000.png"));

  args = {"run", "em", "--data", data.string(), "--work", (dir / "c").string(), "--variant", "grabcut"};
  const auto bad = wsss(args);
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--variant") != std::string::npos);
}

TEST_CASE("wsss: run spn with one round and the ablation flags") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  REQUIRE(wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "3"}).status == 0);
  auto args = std::vector<std::string>{"-q", "run", "spn", "--data", data.string(), "--work", (dir / "a").string(), "--preset",
                                       "scenes", "--width", "0.03125", "--epochs", "1", "--rounds", "1", "--superpixels", "20",
                                       "--no-reliable"};
  const auto a = wsss(args);
  INFO(a.err);
  REQUIRE(a.status == 0);
  CHECK(a.out.find("SP-CAM annotations (train)") != std::string::npos);
  CHECK(a.out.find("Round 1 (DecoupledNet) (val)") != std::string::npos);
  CHECK(a.out.find("round1 trains on") != std::string::npos);
  CHECK(text_of(dir / "a" / "results.json").find("\"variant\": \"scenes, all annotations, 1 rounds\"") != std::string::npos);
  CHECK(text_of(dir / "a" / "config.txt").find("superpixels = 20,") != std::string::npos);
  args = {"run", "spn", "--data", data.string(), "--work", (dir / "b").string(), "--rounds", "-1"};
  const auto bad = wsss(args);
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--rounds") != std::string::npos);
}

TEST_CASE("wsss: run attention with a baseline and another solver, a bad baseline names the flag") {
  wsss_test::temp_dir dir;
  const auto data = dir / "scenes";
  REQUIRE(wsss({"scenes", data.string(), "--train", "4", "--val", "2", "--size", "32", "--seed", "3"}).status == 0);
  // The solver and the lateral terms in two runs: together (projected gradient on eq. 9's
  // literal D, which is not strictly concave) the run took 30 s in Release and 9 minutes under
  // ASan, against 0.3 s for each flag alone (2026-12-08).
  auto run = [&](const std::string& work, std::vector<std::string> more) {
    auto args = std::vector<std::string>{"-q", "run", "attention", "--data", data.string(), "--work", (dir / work).string(),
                                         "--preset", "scenes", "--width", "0.03125", "--epochs", "1", "--without", "seg-loss"};
    args.insert(args.end(), more.begin(), more.end());
    return wsss(args);
  };
  const auto a = run("a", {"--solver", "gradient"});
  INFO(a.err);
  REQUIRE(a.status == 0);
  CHECK(a.out.find("Attention + CRF-RNN (val)") != std::string::npos);
  CHECK(a.out.find("attention QPs (attention::projected_gradient)") != std::string::npos);
  CHECK(text_of(dir / "a" / "results.json").find("\"variant\": \"scenes, without seg-loss, gradient\"") != std::string::npos);
  CHECK(text_of(dir / "a" / "config.txt").find("seg loss 0") != std::string::npos);
  const auto p = run("p", {"--lateral", "paper"});
  INFO(p.err);
  REQUIRE(p.status == 0);
  CHECK(text_of(dir / "p" / "results.json").find("\"variant\": \"scenes, without seg-loss, paper D\"") != std::string::npos);
  CHECK(text_of(dir / "p" / "config.txt").find("inhibition 1, precision 0") != std::string::npos);
  const std::vector<std::string> args{"run", "attention", "--data", data.string(), "--work", (dir / "b").string(), "--without", "crf"};
  const auto bad = wsss(args);
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--without") != std::string::npos);
}

TEST_CASE("wsss: results turns results.json files into the markdown table") {
  wsss_test::temp_dir dir;
  std::filesystem::create_directories(dir / "work" / "fast");
  const std::string json =
      "{\"method\": \"affinitynet\", \"variant\": \"VARIANT\", \"seed\": 1, \"dataset\": \"scenes\",\n"
      " \"cpu\": \"Test CPU\", \"threads\": 2, \"time_s\": 95,\n"
      " \"rows\": [{\"name\": \"CAM\", \"split\": \"train\", \"miou\": 0.5, \"per_class\": [0.75, 0.25]},\n"
      "          {\"name\": \"CAM + RW\", \"split\": \"train\", \"miou\": 0.625, \"per_class\": [1, null]},\n"
      "          {\"name\": \"seg\", \"split\": \"val\", \"miou\": 0.6, \"per_class\": [0.9, 0.3]}]}\n";
  const auto put = [](const std::filesystem::path& p, std::string s) {
    wsss_test::write_bytes(p, std::vector<unsigned char>(s.begin(), s.end()));
  };
  put(dir / "work" / "results.json", json.substr(0, json.find("VARIANT")) + "paper" + json.substr(json.find("VARIANT") + 7));
  put(dir / "work" / "fast" / "results.json",
      json.substr(0, json.find("VARIANT")) + "fast" + json.substr(json.find("VARIANT") + 7));
  const auto out = dir / "results.md";
  const auto o = wsss({"results", "--work", (dir / "work").string(), "--out", out.string()});
  REQUIRE(o.status == 0);
  CHECK(o.out == "wrote 2 runs to " + out.string() + "\n");
  CHECK(text_of(out) ==
        "# Results\n\n"
        "Written by `wsss results` from each run's `results.json`; do not edit by hand. mIoU in %\n"
        "(VOC convention). Pseudo-labels: the last train row of a run (its final pseudo-labels);\n"
        "segmentation: the last val row (its segmentation network); \"-\": the run has no such row.\n\n"
        "| method | variant | pseudo-label mIoU (train) | segmentation mIoU (val) | seed | time | CPU |\n"
        "|---|---|---:|---:|---:|---:|---|\n"
        "| affinitynet | fast | 62.50 | 60.00 | 1 | 1m35s | Test CPU, 2 threads |\n"
        "| affinitynet | paper | 62.50 | 60.00 | 1 | 1m35s | Test CPU, 2 threads |\n");

  put(dir / "work" / "fast" / "results.json", "{\"method\": 1}");
  const auto bad = wsss({"results", "--work", (dir / "work").string(), "--out", out.string()});
  CHECK(bad.status == 1);
  CHECK(bad.err.find("[wsss.io] report::results: top level: \"method\" must be a string, got a number (" +
                     (dir / "work" / "fast" / "results.json").string() + ")") != std::string::npos);
}

#else

TEST_CASE("wsss: the command was not built (WSSS_BUILD_EXAMPLES=OFF)" * doctest::skip()) {}

#endif
