#include "curl_loop.hpp"

namespace switchboard::adapters::rest {

CurlLoop::CurlLoop() : multi_(curl_multi_init()) {
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 256L);
  thread_ = std::thread([this] { run(); });
}

CurlLoop::~CurlLoop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  curl_multi_wakeup(multi_);
  thread_.join();
  // Transfers still running belong to routes that are gone: drop them without a word.
  for (auto& [handle, done] : running_) {
    curl_multi_remove_handle(multi_, handle);
    curl_easy_cleanup(handle);
  }
  curl_multi_cleanup(multi_);
}

void CurlLoop::submit(CURL* handle, Completion done) {
  {
    std::lock_guard lock(mutex_);
    submitted_.emplace_back(handle, std::move(done));
  }
  curl_multi_wakeup(multi_);
}

void CurlLoop::run() {
  std::vector<std::pair<CURL*, Completion>> incoming;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      incoming.swap(submitted_);
    }
    for (auto& [handle, done] : incoming) {
      const CURLMcode added = curl_multi_add_handle(multi_, handle);
      if (added != CURLM_OK) {
        done(CURLE_FAILED_INIT);
        continue;
      }
      running_.emplace(handle, std::move(done));
    }
    incoming.clear();
    int still_running = 0;
    curl_multi_perform(multi_, &still_running);
    int left = 0;
    while (CURLMsg* info = curl_multi_info_read(multi_, &left)) {
      if (info->msg != CURLMSG_DONE) continue;
      CURL* handle = info->easy_handle;
      const CURLcode result = info->data.result;
      curl_multi_remove_handle(multi_, handle);
      auto node = running_.extract(handle);
      if (!node.empty()) node.mapped()(result);
    }
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
}

}  // namespace switchboard::adapters::rest
