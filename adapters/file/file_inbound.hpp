#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::file {

struct InboundOptions {
  std::string route_id;  // for log lines
  std::filesystem::path dir;
  std::string pattern = "*";
  std::chrono::milliseconds poll{1000};
  bool recursive = false;
  std::chrono::milliseconds min_age{0};
  std::optional<std::filesystem::path> move_to;  ///< absent: delete on success
  std::filesystem::path move_failed;

  static ComponentSpec spec();
  static InboundOptions from(const Options& options);
};

/// Polls a directory. Each file is claimed by an atomic rename into this instance's
/// processing directory (so several buses can share one directory), handed to the route,
/// and deleted or moved only once the route acknowledged it. Files left in the processing
/// directory of an instance that died are put back by the next poll of any instance.
class FileInbound final : public InboundAdapter {
 public:
  explicit FileInbound(InboundOptions options);
  ~FileInbound() override;

  void start(Intake& intake) override;
  void stop() override;
  std::string describe() const override;

  /// Files waiting in `dir` that match the pattern and are old enough, in name order.
  std::vector<std::filesystem::path> scan() const;

 private:
  void pollLoop();
  /// Claims and hands over one file; false when the route is closing.
  bool take(const std::filesystem::path& relative);
  void complete(const std::filesystem::path& claimed, const std::filesystem::path& relative, const Outcome& outcome);
  void recoverOrphans();
  bool excluded(const std::filesystem::path& path) const;

  InboundOptions options_;
  std::filesystem::path processing_root_;  // <dir>/.processing
  std::filesystem::path claim_dir_;        // <dir>/.processing/<instance>
  int lock_fd_ = -1;                       // flock'ed while this instance lives
  Intake* intake_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread poller_;
};

}  // namespace switchboard::adapters::file
