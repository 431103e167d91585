#include "curl_multi.hpp"

namespace switchboard::adapters::rest {

CurlMulti& CurlMulti::of(EventLoop& loop) {
  // One per loop thread; never destroyed, as transfers may run while the process ends.
  thread_local CurlMulti* multi = nullptr;
  if (!multi) multi = new CurlMulti(loop);
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
  if (idle_.empty()) return curl_easy_init();
  CURL* handle = idle_.back();
  idle_.pop_back();
  curl_easy_reset(handle);
  return handle;
}

void CurlMulti::start(CURL* handle, Completion done) {
  if (curl_multi_add_handle(multi_, handle) != CURLM_OK) {
    done(handle, CURLE_FAILED_INIT);
    idle_.push_back(handle);
    return;
  }
  running_.emplace(handle, std::move(done));
  // Begins connecting or sending now rather than one loop turn later.
  act(CURL_SOCKET_TIMEOUT, 0);
}

int CurlMulti::onSocket(CURL*, curl_socket_t socket, int what, void* self, void*) {
  auto& multi = *static_cast<CurlMulti*>(self);
  if (what == CURL_POLL_REMOVE) {
    multi.watches_.erase(socket);
    return 0;
  }
  auto& watch = multi.watches_[socket];
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

int CurlMulti::onTimer(CURLM*, long timeout_ms, void* self) {
  auto& multi = *static_cast<CurlMulti*>(self);
  if (timeout_ms < 0) {
    multi.timer_->cancel();
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
