#pragma once

#include <curl/curl.h>

#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace switchboard::adapters::rest {

/// Runs libcurl transfers without blocking their callers: one thread drives a multi handle
/// (which keeps the connections alive between transfers) and calls each transfer's
/// completion on that thread.
class CurlLoop {
 public:
  using Completion = std::function<void(CURLcode)>;

  CurlLoop();
  ~CurlLoop();
  CurlLoop(const CurlLoop&) = delete;
  CurlLoop& operator=(const CurlLoop&) = delete;

  /// Starts `handle`, fully set up; `done` runs once it finished. Thread-safe.
  void submit(CURL* handle, Completion done);

 private:
  void run();

  CURLM* multi_;
  std::mutex mutex_;
  std::vector<std::pair<CURL*, Completion>> submitted_;
  bool stopping_ = false;
  std::unordered_map<CURL*, Completion> running_;  // owned by the loop's thread
  std::thread thread_;
};

}  // namespace switchboard::adapters::rest
