// SPDX-License-Identifier: MIT
// wsss/io/atomic_dataset.hpp — all-or-nothing dataset folders: written into a hidden sibling
// temp folder, then renamed into place, so a failed or killed writer leaves the previous
// dataset or none, never a partial one
#pragma once

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include "wsss/core/error.hpp"
#include "wsss/io/atomic_file.hpp"

namespace wsss::io {

/// A dataset folder being written (VOC layout: the split lists under `marker`, "ImageSets",
/// are what make it a dataset; a reader finds no split without them).
///
///   io::atomic_dataset out(root);               // <parent>/.<name>.wsss-tmp.<pid>, empty
///   write everything under out.path() ...
///   out.commit();                                // now at root
///
/// commit() renames the temp folder to `root` when `root` is absent or empty (one atomic
/// rename). Over an earlier dataset it moves the old `marker` aside first (from then on `root`
/// holds no dataset), moves each new entry in (the old ones aside), the new `marker` last (the
/// commit point), then deletes what was moved aside; a failure on the way moves everything back.
/// Entries of `root` the new dataset does not have (a predictions folder) are left alone.
/// Without commit() (an exception, an early return) the destructor deletes the temp folder. A
/// writer killed outright leaves its hidden temp folder, which the next atomic_dataset for the
/// same root deletes (its process is gone). Errors are io_error naming the folder.
class atomic_dataset {
 public:
  explicit atomic_dataset(const std::filesystem::path& root, std::string marker = "ImageSets")
      : marker_(std::move(marker)) {
    std::error_code ec;
    root_ = std::filesystem::weakly_canonical(std::filesystem::absolute(root, ec), ec);
    if (ec || root_.empty()) throw_io(component, root, "cannot resolve the folder: ", ec.message());
    if (!root_.has_filename()) root_ = root_.parent_path();  // "data/" -> "data"
    if (!root_.has_filename() || root_ == root_.root_path()) throw_io(component, root, "is not a dataset folder name");
    const auto parent = root_.parent_path();
    std::filesystem::create_directories(parent, ec);
    if (ec) throw_io(component, parent, "cannot create folder: ", ec.message());
    if (std::filesystem::exists(root_, ec) && !std::filesystem::is_directory(root_, ec))
      throw_io(component, root_, "exists and is not a folder");
    remove_stale();
    temp_ = sibling("tmp");
    std::filesystem::remove_all(temp_, ec);
    if (!std::filesystem::create_directory(temp_, ec) || ec)
      throw_io(component, temp_, "cannot create the temp folder: ", ec ? ec.message() : "it exists");
  }
  atomic_dataset(const atomic_dataset&) = delete;
  atomic_dataset& operator=(const atomic_dataset&) = delete;
  ~atomic_dataset() {
    std::error_code ec;
    if (!temp_.empty()) std::filesystem::remove_all(temp_, ec);
  }

  /// Where the dataset is written until commit().
  const std::filesystem::path& path() const noexcept { return temp_; }
  /// Where it will be.
  const std::filesystem::path& target() const noexcept { return root_; }

  /// Moves the dataset into place (see the class comment).
  void commit() {
    if (temp_.empty()) throw_io(component, root_, "commit called twice");
    std::error_code ec;
    const bool fresh = !std::filesystem::exists(root_, ec) || std::filesystem::is_empty(root_, ec);
    if (fresh) {
      std::filesystem::rename(temp_, root_, ec);  // over an empty folder too
      if (ec) throw_io(component, root_, "cannot move the dataset into place: ", ec.message());
    } else {
      replace_entries();
    }
    temp_.clear();
    detail::sync_folder(root_.parent_path());
    detail::sync_folder(root_);
  }

  static constexpr std::string_view component = "io::atomic_dataset";

 private:
  // <parent>/.<name>.wsss-<kind>.<pid>
  std::filesystem::path sibling(std::string_view kind) const {
    std::string name = prefix();
    name.append(kind).append(".").append(std::to_string(::getpid()));
    return root_.parent_path() / name;
  }
  // ".<name>.wsss-", the start of every temp folder of this root (appended piece by piece:
  // GCC 12 misreads `"." + string` as an overflow, bug 105329).
  std::string prefix() const {
    std::string p = ".";
    p.append(root_.filename().string()).append(".wsss-");
    return p;
  }

  // Temp folders of writers of this root whose process is gone (killed outright).
  void remove_stale() const {
    std::error_code ec;
    const std::string prefix = this->prefix();
    for (const auto& e : std::filesystem::directory_iterator(root_.parent_path(), ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(prefix, 0) != 0) continue;
      const auto dot = name.rfind('.');
      const std::string kind = name.substr(prefix.size(), dot - prefix.size());
      if ((kind != "tmp" && kind != "old") || dot == std::string::npos) continue;
      const std::string digits = name.substr(dot + 1);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
      const auto pid = static_cast<pid_t>(std::stol(digits));
      if (::kill(pid, 0) == -1 && errno == ESRCH) {
        std::error_code rm;
        std::filesystem::remove_all(e.path(), rm);
      }
    }
  }

  // Replaces root's entries of the same names as temp's, `marker` out first and in last.
  void replace_entries() {
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(temp_, ec)) {
      const std::string n = e.path().filename().string();
      if (n != marker_) names.push_back(n);
    }
    if (ec) throw_io(component, temp_, "cannot list the temp folder: ", ec.message());
    names.push_back(marker_);  // in last
    const auto old = sibling("old");
    std::filesystem::remove_all(old, ec);
    if (!std::filesystem::create_directory(old, ec) || ec)
      throw_io(component, old, "cannot create a folder for the previous dataset: ", ec ? ec.message() : "it exists");
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> done;  // moves, to undo on failure
    const auto move = [&](const std::filesystem::path& from, const std::filesystem::path& to) {
      std::error_code mv;
      std::filesystem::rename(from, to, mv);
      if (mv) {
        const std::string why = mv.message();
        for (auto it = done.rbegin(); it != done.rend(); ++it) {
          std::error_code back;
          std::filesystem::rename(it->second, it->first, back);
        }
        std::filesystem::remove_all(old, mv);
        throw_io(component, root_, "cannot replace the dataset (", from.string(), " -> ", to.string(), "): ", why,
                 "; the previous dataset was left in place");
      }
      done.emplace_back(from, to);
    };
    if (std::filesystem::exists(root_ / marker_, ec)) move(root_ / marker_, old / marker_);  // no dataset from here
    for (const auto& n : names) {
      if (n != marker_ && std::filesystem::exists(std::filesystem::symlink_status(root_ / n, ec)))
        move(root_ / n, old / n);
      move(temp_ / n, root_ / n);  // the marker last: the commit point
    }
    std::filesystem::remove_all(old, ec);
    std::filesystem::remove_all(temp_, ec);
  }

  std::filesystem::path root_, temp_;
  std::string marker_;
};

}  // namespace wsss::io
