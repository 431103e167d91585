// The HTTP server behind switchboard/http.hpp. All of Beast and Asio stays in this file.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <shared_mutex>

#include "http/handover.hpp"
#include "io/event_loops.hpp"
#include "switchboard/http.hpp"
#include "switchboard/log.hpp"

namespace switchboard::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kReadChunk = 8 * 1024;

std::string_view view(beast::string_view text) {
  return {text.data(), text.size()};
}

std::string percentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

struct Segment {
  bool parameter = false;
  std::string text;
};

std::vector<Segment> compilePattern(const std::string& pattern) {
  std::vector<Segment> segments;
  for (auto& part : splitPath(pattern)) {
    if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
      segments.push_back(Segment{true, part.substr(1, part.size() - 2)});
    } else {
      segments.push_back(Segment{false, part});
    }
  }
  return segments;
}

struct Entry {
  std::vector<Segment> segments;
  Endpoint endpoint;
  std::string owner;  // the route that registered it

  Entry(std::vector<Segment> s, Endpoint e, Handler h)
      : segments(std::move(s)), endpoint(std::move(e)), owner(registrant()), handler_(std::move(h)) {}

  /// Calls the handler unless the endpoint was withdrawn meanwhile; a connection may still
  /// hold the entry of a request it began before that.
  void invoke(Request&& request, Respond respond) const {
    std::shared_lock lock(mutex_);
    if (!handler_) return respond(errorResponse(503, "this endpoint stopped"));
    handler_(std::move(request), std::move(respond));
  }
  void withdraw() const {
    std::unique_lock lock(mutex_);
    handler_ = nullptr;
  }

  bool matches(const std::vector<std::string>& path, std::map<std::string, std::string>& params) const {
    if (path.size() != segments.size()) return false;
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (segments[i].parameter) {
        params[segments[i].text] = percentDecode(path[i], false);
      } else if (segments[i].text != path[i]) {
        return false;
      }
    }
    return true;
  }
  bool allows(std::string_view method) const {
    for (const auto& m : endpoint.methods) {
      if (iequals(m, method)) return true;
    }
    return false;
  }

 private:
  mutable std::shared_mutex mutex_;
  mutable Handler handler_;
};

class Listener;

/// The listeners of the process, by address.
class Service {
 public:
  static Service& instance() {
    static Service* service = new Service();  // never destroyed: connections may outlive main
    return *service;
  }
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<Listener>> listeners;
};

Response plainError(unsigned status, const std::string& text) {
  return errorResponse(status, text);
}

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::string address, const Endpoint& first)
      : address_(std::move(address)),
        acceptor_(io::context(io::loop(0))),
        tls_(first.tls),
        read_timeout_(first.read_timeout),
        idle_timeout_(first.idle_timeout) {}

  void open() {
    const auto colon = address_.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("listen address '" + address_ + "' is not host:port");
    auto host = address_.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const auto port = address_.substr(colon + 1);
    boost::system::error_code ec;
    tcp::resolver resolver(acceptor_.get_executor());
    auto results = resolver.resolve(host.empty() ? "0.0.0.0" : host, port, tcp::resolver::passive, ec);
    if (ec || results.empty())
      throw std::runtime_error("cannot resolve listen address '" + address_ + "': " + ec.message());
    const auto endpoint = results.begin()->endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address_ + ": " + ec.message());
    if (tls_.enabled()) {
      ssl_.emplace(ssl::context::tls_server);
      ssl_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      try {
        ssl_->use_certificate_chain_file(tls_.cert);
        ssl_->use_private_key_file(tls_.key, ssl::context::pem);
        if (!tls_.client_ca.empty()) {
          ssl_->load_verify_file(tls_.client_ca);
          ssl_->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        }
      } catch (const boost::system::system_error& e) {
        throw std::runtime_error("TLS setup for " + address_ + " failed: " + e.what());
      }
    }
    accept();
  }

  /// Closes the listening socket and waits until it is closed, so the address can be bound
  /// again at once (a reload that keeps the address).
  void close() {
    auto closed = std::make_shared<std::promise<void>>();
    auto done = closed->get_future();
    asio::dispatch(acceptor_.get_executor(), [self = shared_from_this(), closed] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      closed->set_value();
    });
    done.wait_for(std::chrono::seconds(5));
  }

  void add(std::shared_ptr<const Entry> entry) {
    std::unique_lock lock(mutex_);
    if (entry->endpoint.tls.cert != tls_.cert || entry->endpoint.tls.client_ca != tls_.client_ca) {
      throw std::runtime_error(address_ + " is already served with other TLS settings");
    }
    bool takes_over = false;
    for (const auto& other : entries_) {
      if (other->endpoint.path != entry->endpoint.path) continue;
      for (const auto& method : entry->endpoint.methods) {
        if (!other->allows(method)) continue;
        if (!other->owner.empty() && retiring(other->owner)) {
          takes_over = true;
        } else {
          throw std::runtime_error(method + " " + entry->endpoint.path + " on " + address_ + " is already served");
        }
      }
    }
    // Requests match the first entry: a replacement goes before the entry it takes over.
    entries_.insert(takes_over ? entries_.begin() : entries_.end(), std::move(entry));
  }

  /// Removes an entry; true when none is left.
  bool remove(const Entry* entry) {
    std::unique_lock lock(mutex_);
    std::erase_if(entries_, [&](const auto& e) { return e.get() == entry; });
    return entries_.empty();
  }

  /// The entry for a request; when none, the answer to give (404 or 405).
  std::shared_ptr<const Entry> match(std::string_view method, const std::vector<std::string>& path,
                                     std::map<std::string, std::string>& params, std::string& allowed) const {
    std::shared_lock lock(mutex_);
    for (const auto& entry : entries_) {
      std::map<std::string, std::string> found;
      if (!entry->matches(path, found)) continue;
      if (entry->allows(method)) {
        params = std::move(found);
        return entry;
      }
      for (const auto& m : entry->endpoint.methods) allowed += (allowed.empty() ? "" : ", ") + m;
    }
    return nullptr;
  }

  ssl::context* sslContext() { return ssl_ ? &*ssl_ : nullptr; }
  std::chrono::milliseconds readTimeout() const { return read_timeout_; }
  std::chrono::milliseconds idleTimeout() const { return idle_timeout_; }
  const std::string& address() const { return address_; }

 private:
  void accept();

  std::string address_;
  tcp::acceptor acceptor_;
  Tls tls_;
  std::chrono::milliseconds read_timeout_;
  std::chrono::milliseconds idle_timeout_;
  std::optional<ssl::context> ssl_;
  std::size_t next_loop_ = 0;  // connections take turns between the loops
  mutable std::shared_mutex mutex_;
  std::vector<std::shared_ptr<const Entry>> entries_;
};

/// One connection: reads a request, answers it, and only then reads the next.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... Args>
  Session(std::shared_ptr<Listener> listener, Args&&... args)
      : listener_(std::move(listener)), stream_(std::forward<Args>(args)...), answer_timer_(stream_.get_executor()) {}

  void start() {
    boost::system::error_code ec;
    auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string() + ":" + std::to_string(remote.port());
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true), ec);
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(listener_->readTimeout());
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return;  // no certificate, wrong CA, not TLS at all: the connection just ends
        self->read();
      });
    } else {
      read();
    }
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // Checked against the matched endpoint once the header is in.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (first_ || buffer_.size() > 0) {
      first_ = false;
      return readHeader();
    }
    // A kept-alive connection may idle until the next request begins; from its first byte
    // on, that request has read_timeout to arrive whole, as the first one had.
    beast::get_lowest_layer(stream_).expires_after(listener_->idleTimeout());
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t size) {
                              if (ec) return self->close();
                              self->buffer_.commit(size);
                              self->readHeader();
                            });
  }

  // The timer set here covers the whole request, header and body.
  void readHeader() {
    beast::get_lowest_layer(stream_).expires_after(listener_->readTimeout());
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(beast::error_code ec) {
    if (ec) {
      if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
          ec == asio::error::connection_reset || ec == asio::error::eof) {
        return close();
      }
      if (ec == bhttp::error::header_limit) return answer(plainError(431, "request header too large"), true);
      return answer(plainError(400, "malformed request: " + ec.message()), true);
    }
    auto& header = parser_->get();
    keep_alive_ = header.keep_alive();
    const std::string target(header.target());
    const auto question = target.find('?');
    path_ = percentDecode(std::string_view(target).substr(0, question), false);
    std::string allowed;
    params_.clear();
    entry_ = listener_->match(view(header.method_string()), splitPath(path_), params_, allowed);
    if (!entry_) {
      if (allowed.empty()) return answer(plainError(404, "no route for " + path_), !parser_->is_done());
      Response response = plainError(405, std::string(header.method_string()) + " is not allowed on " + path_);
      response.headers.set("Allow", allowed);
      return answer(std::move(response), !parser_->is_done());
    }
    const auto max_body = entry_->endpoint.max_body;
    if (const auto length = parser_->content_length(); length && *length > max_body) {
      return answer(plainError(413, "body of " + std::to_string(*length) + " bytes is over the limit of " +
                                        std::to_string(max_body)),
                    true);
    }
    parser_->body_limit(max_body);
    auto self = this->shared_from_this();
    auto read_body = [self] {
      bhttp::async_read(self->stream_, self->buffer_, *self->parser_,
                        [self](beast::error_code ec, std::size_t) { self->onBody(ec); });
    };
    if (!parser_->is_done() && header.version() >= 11 && iequals(view(header[bhttp::field::expect]), "100-continue")) {
      // The client waits for this before it sends the body.
      auto go_on = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
      return bhttp::async_write(stream_, *go_on, [self, go_on, read_body](beast::error_code ec, std::size_t) {
        if (ec) return self->close();
        read_body();
      });
    }
    read_body();
  }

  void onBody(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return answer(plainError(413, "body is over the limit of " + std::to_string(entry_->endpoint.max_body)), true);
    }
    if (ec) return close();
    beast::get_lowest_layer(stream_).expires_never();
    auto message = parser_->release();
    keep_alive_ = message.keep_alive();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.path = path_;
    request.path_params = std::move(params_);
    request.remote = remote_;
    if (const auto question = request.target.find('?'); question != std::string::npos) {
      std::string_view query(request.target);
      query.remove_prefix(question + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (!pair.empty()) {
          request.query.emplace_back(percentDecode(pair.substr(0, eq), true),
                                     eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1), true));
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    for (const auto& field : message) request.headers.add(view(field.name_string()), std::string(field.value()));
    request.body = std::move(message.body());

    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto self = this->shared_from_this();
    // Routes that call no blocking endpoint answer on this loop's thread: then at once.
    Respond respond = [self, answered](Response response) {
      if (answered->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(),
                     [self, response = std::move(response)]() mutable { self->answer(std::move(response), false); });
    };
    if (entry_->endpoint.answer_timeout.count() > 0) {
      answer_timer_.expires_after(entry_->endpoint.answer_timeout);
      answer_timer_.async_wait([self, answered](beast::error_code ec) {
        if (ec || answered->exchange(true)) return;
        self->answer(plainError(504, "no answer within the route's timeout"), false);
      });
    }
    try {
      entry_->invoke(std::move(request), std::move(respond));
    } catch (const std::exception& e) {
      if (!answered->exchange(true)) answer(plainError(500, std::string("internal error: ") + e.what()), false);
    }
  }

  void answer(Response response, bool close_after) {
    answer_timer_.cancel();
    auto out = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(response.status), 11);
    out->set(bhttp::field::server, "Switchboard");
    for (const auto& [name, value] : response.headers) out->insert(name, value);
    out->body() = std::move(response.body);
    close_after = close_after || !keep_alive_;
    out->keep_alive(!close_after);
    out->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(listener_->readTimeout());
    bhttp::async_write(stream_, *out,
                       [self = this->shared_from_this(), out, close_after](beast::error_code ec, std::size_t) {
                         if (ec || close_after) return self->close();
                         self->read();
                       });
  }

  void close() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      boost::system::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.socket().close(ignored);
    }
  }

  std::shared_ptr<Listener> listener_;
  Stream stream_;
  asio::steady_timer answer_timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<const Entry> entry_;
  std::map<std::string, std::string> params_;
  std::string path_;
  std::string remote_;
  bool keep_alive_ = true;
  bool first_ = true;
};

void Listener::accept() {
  // Each connection lives on one loop, so nothing of it needs a strand.
  auto& loop = io::context(io::loop(next_loop_++ % io::loopCount()));
  acceptor_.async_accept(loop, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      auto executor = socket.get_executor();
      if (auto* context = self->sslContext()) {
        auto session =
            std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(self, std::move(socket), *context);
        asio::post(executor, [session] { session->start(); });
      } else {
        auto session = std::make_shared<Session<beast::tcp_stream>>(self, std::move(socket));
        asio::post(executor, [session] { session->start(); });
      }
    }
    self->accept();
  });
}

class ServedEndpoint final : public Registration {
 public:
  ServedEndpoint(std::shared_ptr<Listener> listener, std::shared_ptr<const Entry> entry)
      : listener_(std::move(listener)), entry_(std::move(entry)) {}
  ~ServedEndpoint() override {
    entry_->withdraw();
    std::lock_guard lock(Service::instance().mutex);
    if (listener_->remove(entry_.get())) {
      listener_->close();
      Service::instance().listeners.erase(listener_->address());
    }
  }

 private:
  std::shared_ptr<Listener> listener_;
  std::shared_ptr<const Entry> entry_;
};

}  // namespace

std::string checkPathPattern(const std::string& pattern) {
  if (pattern.empty() || pattern[0] != '/') return "a path starts with '/'";
  for (const auto& segment : splitPath(pattern)) {
    const auto open = segment.find('{');
    const auto close = segment.find('}');
    if (open == std::string::npos && close == std::string::npos) continue;
    if (open != 0 || close != segment.size() - 1 || segment.size() < 3) {
      return "'" + segment + "': a parameter is a whole segment, like /orders/{id}";
    }
  }
  return {};
}

namespace {
thread_local std::string current_registrant;
std::mutex retiring_mutex;
std::set<std::string> retiring_routes;
}  // namespace

void setRegistrant(std::string route_id) {
  current_registrant = std::move(route_id);
}
const std::string& registrant() {
  return current_registrant;
}

void setRetiring(std::set<std::string> route_ids) {
  std::lock_guard lock(retiring_mutex);
  retiring_routes = std::move(route_ids);
}

bool retiring(const std::string& route_id) {
  std::lock_guard lock(retiring_mutex);
  return retiring_routes.count(route_id) > 0;
}

Response errorResponse(unsigned status, const std::string& text) {
  Response response;
  response.status = status;
  response.headers.set("Content-Type", "application/json");
  response.body = nlohmann::json{{"error", text}, {"status", status}}.dump(-1, ' ', false,
                                                                           nlohmann::json::error_handler_t::replace);
  return response;
}

std::unique_ptr<Registration> serve(const Endpoint& endpoint, Handler handler) {
  if (auto error = checkPathPattern(endpoint.path); !error.empty()) throw std::runtime_error(error);
  auto entry = std::make_shared<Entry>(compilePattern(endpoint.path), endpoint, std::move(handler));
  auto& service = Service::instance();
  std::lock_guard lock(service.mutex);
  auto listener = service.listeners[endpoint.listen].lock();
  if (!listener) {
    listener = std::make_shared<Listener>(endpoint.listen, endpoint);
    listener->add(entry);
    listener->open();
    service.listeners[endpoint.listen] = listener;
  } else {
    listener->add(entry);
  }
  return std::make_unique<ServedEndpoint>(std::move(listener), std::move(entry));
}

}  // namespace switchboard::http
