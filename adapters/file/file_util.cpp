#include "file_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "switchboard/message.hpp"

namespace switchboard::adapters::file {

namespace {
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}
}  // namespace

std::string errnoText() {
  return std::strerror(errno);
}

bool readFile(const std::filesystem::path& path, std::string& out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  out.clear();
  char buffer[65536];
  for (;;) {
    const auto n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string writeAtomically(const std::filesystem::path& target, std::string_view data, bool sync) {
  const auto temporary = target.parent_path() / ("." + target.filename().string() + "." + newUuid() + ".tmp");
  Fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return "cannot create " + temporary.string() + ": " + errnoText();
  if (!writeAll(fd.get(), data) || (sync && ::fsync(fd.get()) != 0)) {
    const auto error = "cannot write " + temporary.string() + ": " + errnoText();
    ::unlink(temporary.c_str());
    return error;
  }
  if (::close(fd.release()) != 0 || ::rename(temporary.c_str(), target.c_str()) != 0) {
    const auto error = "cannot move " + temporary.string() + " to " + target.string() + ": " + errnoText();
    ::unlink(temporary.c_str());
    return error;
  }
  return {};
}

std::string append(const std::filesystem::path& target, std::string_view data, bool sync) {
  Fd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (fd.get() < 0) return "cannot open " + target.string() + ": " + errnoText();
  if (!writeAll(fd.get(), data) || (sync && ::fsync(fd.get()) != 0)) {
    return "cannot append to " + target.string() + ": " + errnoText();
  }
  return {};
}

std::string contentTypeFor(const std::filesystem::path& path) {
  const auto ext = path.extension().string();
  if (ext == ".json") return "application/json";
  if (ext == ".xml") return "application/xml";
  if (ext == ".csv") return "text/csv";
  if (ext == ".txt" || ext == ".log") return "text/plain";
  if (ext == ".yaml" || ext == ".yml") return "application/yaml";
  if (ext == ".html" || ext == ".htm") return "text/html";
  return "application/octet-stream";
}

}  // namespace switchboard::adapters::file
