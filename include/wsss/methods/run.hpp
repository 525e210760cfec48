// SPDX-License-Identifier: MIT
// wsss/methods/run.hpp — what every method's run shares: the dataset, the work folder and its
// artifacts (written atomically, so a killed run resumes at the first missing one), per-image
// stages with a progress bar, and the final evaluation and report
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <span>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "wsss/backend/for_each_index.hpp"
#include "wsss/core/error.hpp"
#include "wsss/core/exec.hpp"
#include "wsss/dist/group.hpp"
#include "wsss/eval/folder.hpp"
#include "wsss/io/atomic_file.hpp"
#include "wsss/io/image.hpp"
#include "wsss/io/label_png.hpp"
#include "wsss/io/safetensors.hpp"
#include "wsss/io/voc.hpp"
#include "wsss/methods/train.hpp"
#include "wsss/report/cpu.hpp"
#include "wsss/report/overlay.hpp"
#include "wsss/report/page.hpp"
#include "wsss/report/progress.hpp"
#include "wsss/report/results.hpp"

namespace wsss::methods {

/// What a run reads and where it writes.
struct run_options {
  std::filesystem::path data;         ///< VOC-layout root: JPEGImages, SegmentationClass, ImageSets/Segmentation
  std::filesystem::path work;         ///< the run's folder (created); a rerun resumes in it
  std::string train_split = "train";  ///< images the pseudo-labels are made for (their tags are the supervision)
  std::string val_split = "val";      ///< images the segmentation network is evaluated on ("" = none)
  std::filesystem::path labels_file;  ///< image tags; empty: <data>/cls_labels.txt if present, else from the masks
  int classes = 0;                    ///< 0: one per line of <data>/classes.txt, else 21 (VOC)
  std::string variant = "paper";      ///< the configuration's name in the report and results.json
  bool quiet = false;                 ///< no progress bars
  std::FILE* out = stdout;            ///< where the final tables are printed (nullptr: nowhere)
  std::size_t overlays = 6;           ///< overlay images per split in the report
  /// Called after every finished item of a per-image stage and every training epoch with the
  /// stage's name and the count done; tests throw from it to stop a run part-way.
  std::function<void(std::string_view stage, std::size_t done)> after_step;
  /// The ranks the run is spread over (nullptr: this process alone; docs/distributed.md). Every
  /// per-image stage gives each rank its shard of the missing images, the networks train data
  /// parallel, rank 0 writes the shared files; the work folder must be one folder for all ranks.
  const dist::group* group = nullptr;
  bool sync_batch_norm = false;  ///< with several ranks: batch statistics over the whole mini-batch (train_io)
};

/// One row of a method's table: a labelling kind evaluated on a split.
struct table_row {
  std::string name;   ///< "CAM + RW"
  std::string kind;   ///< the labels folder: work/labels/<kind>
  std::string split;  ///< "train" (pseudo-labels) or "val" (segmentation network)
};

/// The evaluated rows of a run, and where its report went.
struct run_summary {
  report::results results;
  std::filesystem::path report_html, report_text;
};

/// Class names of a VOC-layout folder: <root>/classes.txt (one per line) when present, else
/// "background" and class_1 .. class_{n-1}.
inline std::vector<std::string> class_names_of(const std::filesystem::path& root, int classes) {
  std::vector<std::string> names = io::dataset_class_names(root);
  if (classes > 0 && static_cast<int>(names.size()) != classes) {
    names = {"background"};
    for (int c = 1; c < classes; ++c) names.push_back("class_" + std::to_string(c));
  }
  return names;
}

/// Runs f(items, ex) for every item of `todo` (out of `total`; the others are done already), in
/// consecutive batches of up to `batch` items, one batch per OpenMP thread, each thread with
/// its own workspace, with a progress bar labelled `stage`. The items of a per-image stage are
/// independent and small next to the operators' parallel grain, so two items at once keep
/// both cores busier than splitting each item's operators (their OpenMP regions run serially
/// inside the item's thread); a device batch (affinitynet_on's label synthesis) instead fills
/// a device's launches with several images. `after` (may be empty) is called after each item
/// with the count done. The first exception stops the remaining batches and is rethrown once
/// the running ones finish; every item's outputs are written atomically by f, so a stopped
/// stage leaves only whole items behind.
///
/// Over several ranks (g), each rank runs its shard of `todo` (dist::shard) and rank 0 draws the
/// bar. Every rank must pass the same `todo`: the barrier before the first item makes sure no
/// rank writes an output while another is still listing what is missing. The stage ends when
/// every rank has finished, and if one failed every rank throws.
template <class F>
void for_each_batch(std::string_view stage, std::span<const std::size_t> todo, std::size_t total, std::size_t batch,
                    report::progress_options bar_options, const std::function<void(std::string_view, std::size_t)>& after,
                    const dist::group& g, F&& f) {
  if (batch < 1) throw_value("methods::run", stage, ": a batch holds 1 or more items, got ", batch);
  const bool many = g.size() > 1;
  if (many) g.barrier();
  if (todo.empty()) return;
  const std::vector<std::size_t> shard = many ? dist::shard(todo, g.rank(), g.size()) : std::vector<std::size_t>{};
  const std::span<const std::size_t> mine = many ? std::span<const std::size_t>(shard) : todo;
  const std::size_t before = total - todo.size();  // done by earlier invocations
  bar_options.quiet = bar_options.quiet || !g.root();
  report::progress_bar bar(many ? std::string(stage) + " [rank 0 of " + std::to_string(g.size()) + "]" : std::string(stage),
                           before + mine.size(), stderr, std::move(bar_options));
  bar.tick(before);
  const std::size_t batches = (mine.size() + batch - 1) / batch;
  const int threads = std::max(1, std::min(backend::max_threads(), static_cast<int>(std::max<std::size_t>(batches, 1))));
  std::vector<workspace> spaces(static_cast<std::size_t>(threads));
  std::atomic<std::size_t> done{before};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex mu;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::size_t k = 0; k < batches; ++k) {
    if (stop.load()) continue;
    try {
      const exec<omp_t> ex{omp, &spaces[static_cast<std::size_t>(backend::thread_num())]};
      const std::span<const std::size_t> items = mine.subspan(k * batch, std::min(batch, mine.size() - k * batch));
      f(items, ex);
      bar.tick(items.size());
      const std::size_t n = done += items.size();
      if (after) {
        const std::lock_guard lock(mu);
        for (std::size_t j = n - items.size() + 1; j <= n; ++j) after(stage, j);
      }
    } catch (...) {
      const std::lock_guard lock(mu);
      if (!error) error = std::current_exception();
      stop = true;
    }
  }
  dist::agree_on_failure(g, error, "methods::run", stage, ": stopped on ", g.describe(), " because another rank failed");
}

/// for_each_batch one item at a time: f(i, ex) per item.
template <class F>
void for_each_item(std::string_view stage, std::span<const std::size_t> todo, std::size_t total,
                   report::progress_options bar_options, const std::function<void(std::string_view, std::size_t)>& after,
                   const dist::group& g, F&& f) {
  for_each_batch(stage, todo, total, 1, std::move(bar_options), after, g,
                 [&](std::span<const std::size_t> items, const exec<omp_t>& ex) { f(items.front(), ex); });
}

/// The shared machinery of a method's run. Layout of the work folder:
///   config.txt                         the configuration; a rerun must match it
///   nets/<net>/                        weights.safetensors, checkpoint.safetensors, log.csv
///   cams/<id>.safetensors              per-image score maps
///   labels/<kind>/<id>.png             every labelling (palette PNGs, 255 = ignore/neutral)
///   report/*.png, report.html, report.txt, results.json
///   elapsed.txt                        seconds of the invocations that reached the report
class run_context {
 public:
  run_context(const run_context&) = delete;
  run_context& operator=(const run_context&) = delete;

  explicit run_context(run_options o) : opt_(std::move(o)) {
    constexpr std::string_view comp = "methods::run";
    if (opt_.work.empty()) throw_value(comp, "no work folder given");
    std::error_code ec;
    if (!std::filesystem::is_directory(opt_.data, ec)) throw_io(comp, opt_.data, "dataset folder not found");
    classes_ = opt_.classes > 0 ? opt_.classes : static_cast<int>(class_names_of(opt_.data, 0).size());
    if (classes_ < 2) classes_ = 21;
    names_ = class_names_of(opt_.data, classes_);
    std::filesystem::path labels = opt_.labels_file;
    if (labels.empty() && std::filesystem::is_regular_file(opt_.data / "cls_labels.txt", ec)) labels = "cls_labels.txt";
    train_.emplace(opt_.data, opt_.train_split, io::voc_options{.num_classes = classes_, .labels_file = labels});
    if (!opt_.val_split.empty())
      val_.emplace(opt_.data, opt_.val_split, io::voc_options{.num_classes = classes_, .labels_file = {}, .load_tags = false});
    std::filesystem::create_directories(opt_.work);
  }

  const run_options& options() const noexcept { return opt_; }
  const io::voc_dataset& train() const { return *train_; }
  bool has_val() const noexcept { return val_.has_value(); }
  const io::voc_dataset& val() const {
    if (!val_) throw_value("methods::run", "no validation split given");
    return *val_;
  }
  int classes() const noexcept { return classes_; }
  const std::vector<std::string>& class_names() const noexcept { return names_; }
  const exec<omp_t>& ex() const noexcept { return ex_; }
  const std::filesystem::path& work() const noexcept { return opt_.work; }
  /// The ranks this run is spread over (dist::local() when run_options::group is null).
  const dist::group& group() const noexcept { return opt_.group ? *opt_.group : dist::local(); }

  /// Records the method, its configuration and seed; a work folder made with another configuration
  /// is refused (its artifacts would silently mix two runs).
  void begin(std::string_view method, const std::string& description, std::uint64_t seed) {
    method_ = method;
    seed_ = seed;
    t0_ = std::chrono::steady_clock::now();
    earlier_s_ = 0;
    std::error_code ec0;
    if (std::filesystem::exists(elapsed_file(), ec0)) {
      std::ifstream in(elapsed_file());
      if (!(in >> earlier_s_) || !(earlier_s_ >= 0))
        throw_io("methods::run", elapsed_file(), "expected the seconds of the earlier invocations, a number >= 0");
    }
    const auto file = opt_.work / "config.txt";
    const std::string text = "method = " + std::string(method) + "\n" + description;
    std::error_code ec;
    if (group().root() && !std::filesystem::exists(file, ec)) io::write_file_atomic(file, text);
    group().barrier();  // every rank compares with the same file
    {
      std::ifstream in(file);
      std::stringstream have;
      have << in.rdbuf();
      if (have.str() != text)
        throw_value("methods::run", "work folder ", opt_.work.string(),
                    " holds a run with another configuration (", file.string(),
                    "); use a new --work folder or delete this one");
    }
  }

  // ---- artifacts ---------------------------------------------------------------------------

  std::filesystem::path labels_path(std::string_view kind, const std::string& id) const {
    return opt_.work / "labels" / kind / (id + ".png");
  }
  std::filesystem::path cams_path(const std::string& id) const { return opt_.work / "cams" / (id + ".safetensors"); }

  void save_labels(std::string_view kind, const std::string& id, const label_map& l) const {
    const auto p = labels_path(kind, id);
    std::filesystem::create_directories(p.parent_path());
    io::write_label_png(p, l);
  }
  label_map load_labels(std::string_view kind, const std::string& id) const { return io::read_label_png(labels_path(kind, id)); }
  void save_labels(std::string_view kind, std::size_t i, const label_map& l) const { save_labels(kind, train().id(i), l); }
  label_map load_labels(std::string_view kind, std::size_t i) const { return load_labels(kind, train().id(i)); }

  /// CAMs of the present classes only (the absent ones are zero by eq. 1's convention), so a
  /// VOC image stores |tags| maps, not 20.
  void save_cams(std::size_t i, const tensor& cams) const {
    const auto& tags = train().tags(i);
    const index_t hw = cams.dim(1) * cams.dim(2);
    tensor present({static_cast<index_t>(tags.size()), cams.dim(1), cams.dim(2)});
    for (std::size_t j = 0; j < tags.size(); ++j)
      std::copy_n(cams.data() + (tags[j] - 1) * hw, hw, present.data() + static_cast<index_t>(j) * hw);
    const auto p = cams_path(train().id(i));
    std::filesystem::create_directories(p.parent_path());
    io::save_safetensors(p, {{"cams", present}}, {{"classes", std::to_string(classes_ - 1)}});
  }
  tensor load_cams(std::size_t i) const {
    const auto p = cams_path(train().id(i));
    const auto all = io::load_safetensors(p);
    const auto it = all.find("cams");
    const auto& tags = train().tags(i);
    if (it == all.end() || it->second.rank() != 3 || it->second.dim(0) != static_cast<index_t>(tags.size()))
      throw_io("methods::run", p, "expected a tensor \"cams\" of ", tags.size(), " maps (one per tag)");
    const tensor& present = it->second;
    const index_t hw = present.dim(1) * present.dim(2);
    tensor cams({classes_ - 1, present.dim(1), present.dim(2)});
    for (std::size_t j = 0; j < tags.size(); ++j)
      std::copy_n(present.data() + static_cast<index_t>(j) * hw, hw, cams.data() + (tags[j] - 1) * hw);
    return cams;
  }

  // ---- stages ------------------------------------------------------------------------------

  /// Runs f(i, ex) for every image of `data` whose outputs (labels of each kind in `kinds`,
  /// and its CAMs when "cams" is listed) are not all there yet (for_each_item).
  template <class F>
  void per_image(std::string_view stage, const io::voc_dataset& data, std::initializer_list<std::string_view> kinds,
                 F&& f) const {
    for_each_item(stage, missing(data, kinds), data.size(), {.quiet = opt_.quiet}, opt_.after_step, group(), f);
  }
  /// per_image in batches of up to `batch` images: f(items, ex) (for_each_batch).
  template <class F>
  void per_batch(std::string_view stage, const io::voc_dataset& data, std::initializer_list<std::string_view> kinds,
                 std::size_t batch, F&& f) const {
    for_each_batch(stage, missing(data, kinds), data.size(), batch, {.quiet = opt_.quiet}, opt_.after_step, group(), f);
  }

  /// Where a network of this run trains.
  train_io net_io(std::string_view net, std::vector<std::string> parts = {}) const {
    train_io io;
    io.dir = opt_.work / "nets" / net;
    io.label = "train " + std::string(net);
    io.part_names = std::move(parts);
    io.quiet = opt_.quiet;
    io.group = &group();
    io.sync_batch_norm = opt_.sync_batch_norm;
    io.after_epoch = opt_.after_step ? [f = opt_.after_step, n = std::string(net)](int e) { f(n, static_cast<std::size_t>(e)); }
                                     : std::function<void(int)>{};
    return io;
  }

  // ---- the end -------------------------------------------------------------------------------

  /// Evaluates every row against the ground truth of its split, writes the overlays, the text
  /// and HTML reports and results.json, prints the table, and returns the summary.
  run_summary finish(std::span<const table_row> rows) const {
    report::results res;
    res.method = method_;
    res.variant = opt_.variant;
    res.seed = seed_;
    res.dataset = opt_.data.filename().empty() ? opt_.data.parent_path().filename().string() : opt_.data.filename().string();
    res.cpu = report::cpu_name();
    res.threads = backend::max_threads();
    res.class_names = names_;
    report::page page;
    page.title = method_ + " — " + opt_.variant;
    report::miou_table table{"mIoU (%) of each labelling against the ground truth", names_, {}};
    const dist::group& g = group();
    for (const auto& r : rows) {
      const io::voc_dataset& d = r.split == opt_.train_split ? train() : val();
      // Each rank counts its shard of the images; the matrices add up on every rank.
      eval::confusion_matrix m(classes_);
      std::exception_ptr error;
      try {
        m = eval::evaluate_folder(opt_.work / "labels" / r.kind, opt_.data, d.split(), classes_, {},
                                  static_cast<std::size_t>(g.rank()), static_cast<std::size_t>(g.size()));
      } catch (...) {
        error = std::current_exception();
      }
      dist::agree_on_failure(g, error, "methods::run", "evaluation of ", r.kind, " stopped on ", g.describe(),
                             ": another rank failed");
      if (g.size() > 1) {
        std::vector<std::int64_t> counts(m.counts().begin(), m.counts().end());
        g.sum(std::span<std::int64_t>(counts));
        std::copy(counts.begin(), counts.end(), m.counts().begin());
      }
      res.rows.push_back({r.name, r.split, m.miou(), m.iou()});
      table.rows.push_back(report::make_miou_row(r.name + " (" + r.split + ")", m));
    }
    // The run's time: this invocation plus every earlier one that reached its report (a killed
    // invocation's time is lost); an evaluation-only rerun adds its seconds, not a new total.
    const double now_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    res.time_s = earlier_s_ + now_s;
    run_summary s{res, opt_.work / "report.html", opt_.work / "report.txt"};
    if (!g.root()) return s;  // rank 0 writes the report for all
    {
      std::ostringstream os;
      os.precision(12);
      os << res.time_s << "\n";
      io::write_file_atomic(elapsed_file(), os.str());
    }
    page.info = {{"dataset", opt_.data.string()},
                 {"train / val images", std::to_string(train().size()) + " / " + (has_val() ? std::to_string(val().size()) : "-")},
                 {"CPU", res.cpu + ", " + std::to_string(res.threads) + " threads"},
                 {"time (all invocations that reached the report)", std::to_string(static_cast<long long>(res.time_s)) + " s"},
                 {"time of this invocation", std::to_string(static_cast<long long>(now_s)) + " s"}};
    page.tables.push_back(table);
    // A few overlays per split: [image | the row's labels | ground truth].
    const auto dir = opt_.work / "report";
    std::filesystem::create_directories(dir);
    for (const auto& r : rows) {
      const io::voc_dataset& d = r.split == opt_.train_split ? train() : val();
      for (std::size_t i = 0; i < std::min(opt_.overlays, d.size()); ++i) {
        const auto png = dir / (r.kind + "_" + d.id(i) + ".png");
        report::write_overlay(png, d.image(i), load_labels(r.kind, d.id(i)), d.mask(i));
        page.figures.push_back({png.filename(), r.name + ": " + d.id(i) + " (image | labels | ground truth)"});
      }
    }
    report::write_page(s.report_html, page);
    const std::string text = report::text_table(table);
    io::write_file_atomic(s.report_text, text);
    report::write_results(opt_.work / "results.json", res);
    if (opt_.out) std::fprintf(opt_.out, "%s", text.c_str());
    return s;
  }

 private:
  run_options opt_;
  int classes_ = 21;
  std::vector<std::string> names_;
  std::optional<io::voc_dataset> train_, val_;
  workspace ws_;
  exec<omp_t> ex_{omp, &ws_};
  std::string method_;
  std::uint64_t seed_ = 0;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  double earlier_s_ = 0;  ///< elapsed.txt: seconds of earlier invocations
  std::filesystem::path elapsed_file() const { return opt_.work / "elapsed.txt"; }

  /// The images of `data` whose outputs of `kinds` are not all there, after removing a killed
  /// invocation's half-written files (nothing writes there now).
  std::vector<std::size_t> missing(const io::voc_dataset& data, std::initializer_list<std::string_view> kinds) const {
    if (group().root())
      for (std::string_view k : kinds) io::remove_stale_temps(k == "cams" ? opt_.work / "cams" : opt_.work / "labels" / k);
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < data.size(); ++i) {
      bool done = true;
      for (std::string_view k : kinds) {
        std::error_code ec;
        done = done && std::filesystem::exists(k == "cams" ? cams_path(data.id(i)) : labels_path(k, data.id(i)), ec);
      }
      if (!done) todo.push_back(i);
    }
    return todo;
  }
};

}  // namespace wsss::methods
