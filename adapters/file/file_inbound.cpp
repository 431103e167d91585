#include "file_inbound.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "file_util.hpp"

namespace fs = std::filesystem;

namespace switchboard::adapters::file {

ComponentSpec InboundOptions::spec() {
  return ComponentSpec{
      "file",
      "Polls a directory and turns each file into a message; at-least-once through claim, acknowledge, recover.",
      {
          {"dir", OptionType::String, true, "", "directory to poll (created if missing)"},
          {"pattern", OptionType::String, false, "*",
           "glob the file name must match (*, ?, [abc]); dot files never match"},
          {"poll", OptionType::Duration, false, "1s", "pause between scans of an idle directory"},
          {"recursive", OptionType::Bool, false, "false", "also poll subdirectories (dot directories excluded)"},
          {"min_age", OptionType::Duration, false, "0s", "leave files younger than this, still being written"},
          {"move_to", OptionType::String, false, "", "directory for files delivered (absent: delete them)"},
          {"move_failed", OptionType::String, false, "",
           "directory for files that finally failed (default <dir>/.failed)"},
      }};
}

InboundOptions InboundOptions::from(const Options& options) {
  InboundOptions o;
  o.route_id = options.scope().route_id;
  o.dir = options.string("dir");
  if (o.dir.empty()) throw OptionError("dir", "dir must not be empty");
  o.pattern = options.string("pattern");
  o.poll = options.duration("poll");
  if (o.poll.count() <= 0) throw OptionError("poll", "poll must be longer than 0ms");
  o.recursive = options.boolean("recursive");
  o.min_age = options.duration("min_age");
  if (options.has("move_to")) o.move_to = fs::path(options.string("move_to"));
  o.move_failed = options.has("move_failed") ? fs::path(options.string("move_failed")) : o.dir / ".failed";
  return o;
}

FileInbound::FileInbound(InboundOptions options) : options_(std::move(options)) {
  processing_root_ = options_.dir / ".processing";
}

FileInbound::~FileInbound() {
  stop();
  if (lock_fd_ >= 0) {
    // Nothing of ours is left in flight once the route is gone: the claim directory goes too.
    std::error_code ec;
    if (fs::is_empty(claim_dir_, ec)) {
      fs::remove(claim_dir_, ec);
      fs::remove(fs::path(claim_dir_.string() + ".lock"), ec);
    }
    ::close(lock_fd_);
  }
}

std::string FileInbound::describe() const {
  return "file " + (options_.dir / options_.pattern).string() + (options_.recursive ? " (recursive)" : "");
}

void FileInbound::start(Intake& intake) {
  intake_ = &intake;
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) throw std::runtime_error("cannot create " + options_.dir.string() + ": " + ec.message());
  fs::create_directories(processing_root_, ec);
  if (ec) throw std::runtime_error("cannot create " + processing_root_.string() + ": " + ec.message());
  // A restart (an operator's stop and start) keeps its claim directory: files claimed before
  // the stop are still finishing there.
  if (lock_fd_ < 0) {
    claim_dir_ = processing_root_ / newUuid();
    const auto lock_path = claim_dir_.string() + ".lock";
    lock_fd_ = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      if (lock_fd_ >= 0) ::close(lock_fd_);
      lock_fd_ = -1;
      throw std::runtime_error("cannot lock " + lock_path + ": " + errnoText());
    }
  }
  fs::create_directories(claim_dir_, ec);
  if (ec) throw std::runtime_error("cannot create " + claim_dir_.string() + ": " + ec.message());
  recoverOrphans();
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  poller_ = std::thread([this] { pollLoop(); });
}

void FileInbound::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

bool FileInbound::excluded(const fs::path& path) const {
  const auto& name = path.filename().string();
  if (name.empty() || name[0] == '.') return true;
  return (options_.move_to && path == *options_.move_to) || path == options_.move_failed;
}

std::vector<fs::path> FileInbound::scan() const {
  std::vector<fs::path> found;
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  auto consider = [&](const fs::directory_entry& entry) {
    if (!entry.is_regular_file(ec)) return;
    const auto name = entry.path().filename().string();
    if (name[0] == '.' || ::fnmatch(options_.pattern.c_str(), name.c_str(), FNM_PERIOD) != 0) return;
    if (options_.min_age.count() > 0) {
      const auto modified = entry.last_write_time(ec);
      if (ec || now - modified < options_.min_age) return;
    }
    found.push_back(entry.path().lexically_relative(options_.dir));
  };
  if (options_.recursive) {
    fs::recursive_directory_iterator it(options_.dir, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && excluded(it->path())) {
        it.disable_recursion_pending();
        continue;
      }
      consider(*it);
    }
  } else {
    for (const auto& entry : fs::directory_iterator(options_.dir, ec)) consider(entry);
  }
  std::sort(found.begin(), found.end());
  return found;
}

void FileInbound::pollLoop() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    recoverOrphans();
    bool took_any = false;
    for (const auto& relative : scan()) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      if (!intake_->waitForRoom()) return;
      if (take(relative)) took_any = true;
    }
    if (!took_any) {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.poll, [this] { return stopping_; });
    }
  }
}

bool FileInbound::take(const fs::path& relative) {
  const auto source = options_.dir / relative;
  const auto claimed = claim_dir_ / relative;
  std::error_code ec;
  if (relative.has_parent_path()) fs::create_directories(claimed.parent_path(), ec);
  // The rename is the claim: of several pollers, exactly one succeeds.
  if (::rename(source.c_str(), claimed.c_str()) != 0) return false;

  std::string body;
  if (!readFile(claimed, body)) {
    log(LogLevel::Error, "cannot read claimed file, putting it back: " + errnoText(),
        {{"route", options_.route_id}, {"file", source.string()}});
    ::rename(claimed.c_str(), source.c_str());
    return false;
  }
  Message message = intake_->newMessage();
  message.headers().set("file.name", relative.filename().string());
  message.headers().set("file.path", source.string());
  message.headers().set("file.relative", relative.string());
  message.headers().set("file.size", std::to_string(body.size()));
  const auto type = contentTypeFor(relative);
  message.setBody(std::move(body), type);
  const auto id = message.id();
  const bool accepted = intake_->deliver(
      std::move(message), [this, claimed, relative](Outcome outcome) { complete(claimed, relative, outcome); });
  if (!accepted) {
    ::rename(claimed.c_str(), source.c_str());  // the route is closing: leave it for the next start
    return false;
  }
  log(LogLevel::Debug, "picked up", {{"route", options_.route_id}, {"message", id}, {"file", source.string()}});
  return true;
}

void FileInbound::complete(const fs::path& claimed, const fs::path& relative, const Outcome& outcome) {
  std::optional<fs::path> destination;
  if (!outcome.acknowledge()) {
    destination = options_.move_failed / relative;
  } else if (options_.move_to) {
    destination = *options_.move_to / relative;
  }
  if (!destination) {
    if (::unlink(claimed.c_str()) != 0) {
      log(LogLevel::Error, "cannot delete delivered file: " + errnoText(),
          {{"route", options_.route_id}, {"file", claimed.string()}});
    }
    return;
  }
  std::error_code ec;
  fs::create_directories(destination->parent_path(), ec);
  if (::rename(claimed.c_str(), destination->c_str()) != 0) {
    log(LogLevel::Error, "cannot move file to " + destination->string() + ": " + errnoText(),
        {{"route", options_.route_id}, {"file", claimed.string()}});
  }
}

void FileInbound::recoverOrphans() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(processing_root_, ec)) {
    const auto& lock_path = entry.path();
    if (lock_path.extension() != ".lock" || lock_path.stem() == claim_dir_.filename()) continue;
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    // A lock we can take belongs to an instance that is gone: its claimed files go back.
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      const auto orphan_dir = processing_root_ / lock_path.stem();
      std::vector<fs::path> files;
      for (fs::recursive_directory_iterator it(orphan_dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec)) files.push_back(it->path());
      }
      for (const auto& file : files) {
        const auto target = options_.dir / file.lexically_relative(orphan_dir);
        fs::create_directories(target.parent_path(), ec);
        if (::rename(file.c_str(), target.c_str()) == 0) {
          log(LogLevel::Warn, "recovered a file claimed by a stopped instance",
              {{"route", options_.route_id}, {"file", target.string()}});
        }
      }
      fs::remove_all(orphan_dir, ec);
      fs::remove(lock_path, ec);
    }
    ::close(fd);
  }
}

}  // namespace switchboard::adapters::file
