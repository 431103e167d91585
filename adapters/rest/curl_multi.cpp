#include "curl_multi.hpp"

#include <unistd.h>

#include <stdexcept>
#include <string>

namespace switchboard::adapters::rest {

void initCurl() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK)
    throw std::runtime_error(std::string("libcurl failed to initialise: ") + curl_easy_strerror(code));
}

CurlMulti& CurlMulti::of(EventLoop& loop) {
  // One per loop thread; never destroyed, as transfers may run while the process ends.
  thread_local CurlMulti* multi = nullptr;
  if (!multi) {
    initCurl();
    multi = new CurlMulti(loop);
  }
  return *multi;
}

CurlMulti::CurlMulti(EventLoop& loop) : loop_(loop), multi_(curl_multi_init()) {
  timer_ = loop_.timer([this] { act(CURL_SOCKET_TIMEOUT, 0); });
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 256L);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, onTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CURL* CurlMulti::acquire() {
  CURL* handle = nullptr;
  if (idle_.empty()) {
    handle = curl_easy_init();
    if (!handle) return nullptr;
  } else {
    handle = idle_.back();
    idle_.pop_back();
    curl_easy_reset(handle);
  }
  // Connections made by this handle tell the multi when they close (see onClose).
  curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, onClose);
  curl_easy_setopt(handle, CURLOPT_CLOSESOCKETDATA, this);
  return handle;
}

void CurlMulti::start(CURL* handle, Completion done) {
  if (curl_multi_add_handle(multi_, handle) != CURLM_OK) {
    done(handle, CURLE_FAILED_INIT);
    idle_.push_back(handle);
    return;
  }
  running_.emplace(handle, std::move(done));
}

int CurlMulti::onSocket(CURL*, curl_socket_t socket, int what, void* self, void*) {
  auto& multi = *static_cast<CurlMulti*>(self);
  // A kept-alive connection is removed after each transfer and added again for the next:
  // its watch stays, idle, until the socket closes, which spares the loop re-registering it.
  auto& watch = multi.watches_[socket];
  if (what == CURL_POLL_REMOVE) {
    if (watch) watch->want(EventLoop::kNone);
    return 0;
  }
  if (!watch) {
    watch = multi.loop_.watch(socket, [&multi, socket](unsigned events) {
      multi.act(socket, ((events & EventLoop::kReadable) ? CURL_CSELECT_IN : 0) |
                            ((events & EventLoop::kWritable) ? CURL_CSELECT_OUT : 0));
    });
  }
  watch->want(((what & CURL_POLL_IN) ? EventLoop::kReadable : 0u) |
              ((what & CURL_POLL_OUT) ? EventLoop::kWritable : 0u));
  return 0;
}

int CurlMulti::onClose(void* self, curl_socket_t socket) {
  static_cast<CurlMulti*>(self)->watches_.erase(socket);
  return close(socket);
}

int CurlMulti::onTimer(CURLM*, long timeout_ms, void* self) {
  auto& multi = *static_cast<CurlMulti*>(self);
  if (timeout_ms < 0) {
    multi.timer_->cancel();
  } else if (timeout_ms == 0) {
    // "Act now", asked at each start and step of a transfer: a posted task, which is
    // cheaper than moving the loop's earliest timer back and forth.
    multi.timer_->cancel();
    if (!multi.kick_posted_) {
      multi.kick_posted_ = true;
      multi.loop_.post([&multi] {
        multi.kick_posted_ = false;
        multi.act(CURL_SOCKET_TIMEOUT, 0);
      });
    }
  } else {
    multi.timer_->at(EventLoop::Clock::now() + std::chrono::milliseconds(timeout_ms));
  }
  return 0;
}

void CurlMulti::act(curl_socket_t socket, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, socket, events, &running);
  finishDone();
}

void CurlMulti::finishDone() {
  int left = 0;
  while (CURLMsg* info = curl_multi_info_read(multi_, &left)) {
    if (info->msg != CURLMSG_DONE) continue;
    CURL* handle = info->easy_handle;
    const CURLcode result = info->data.result;
    curl_multi_remove_handle(multi_, handle);
    auto node = running_.extract(handle);
    // The completion reads the handle's answer (status code) before it goes back to the pool.
    if (!node.empty()) node.mapped()(handle, result);
    idle_.push_back(handle);
  }
}

}  // namespace switchboard::adapters::rest
