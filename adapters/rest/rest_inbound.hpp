#pragma once

#include <memory>
#include <string>
#include <vector>

#include "switchboard/http.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::rest {

/// Who may call: nobody checked, HTTP Basic users, bearer tokens, or API keys in a header.
struct Auth {
  enum class Kind { None, Basic, Bearer, ApiKey };
  Kind kind = Kind::None;
  std::vector<std::pair<std::string, std::string>> users;  ///< basic: name, password
  std::vector<std::string> keys;                           ///< bearer tokens or API keys
  std::string header;                                      ///< api_key: the header carrying it

  static Auth from(const nlohmann::ordered_json& value);
  /// 0 when the request may pass, else 401 (no credentials) or 403 (wrong credentials).
  unsigned check(const Headers& headers) const;
  /// The header holding the credentials, removed before the message enters the route.
  std::string credentialHeader() const { return kind == Kind::ApiKey ? header : "Authorization"; }
};

/// What an HTTP inbound adapter serves and whom it lets in: the options `rest` and `soap`
/// share (listen, path, max_body, read_timeout, idle_timeout, auth, tls).
struct ServerOptions {
  http::Endpoint endpoint;
  Auth auth;

  static ServerOptions from(const Options& options);
};
std::vector<OptionSpec> serverSpecs();

/// The `rest` inbound: the server options and `methods`.
ComponentSpec restInboundSpec();
ServerOptions restInboundOptions(const Options& options);

/// The caller's answer for how a message ended (contract §6).
http::Response answerFor(Outcome&& outcome, const std::string& message_id);

/// The message a request becomes: its headers, http.method, http.path, http.query.<k>,
/// path.<name>, http.remote; the body with the request's content type.
Message messageFor(http::Request&& request, Message message, const Auth& auth);

/// Serves HTTP requests as messages and answers each when the route is done with it.
class RestInbound final : public InboundAdapter {
 public:
  explicit RestInbound(ServerOptions options) : options_(std::move(options)) {}
  void start(Intake& intake) override;
  void stop() override { registration_.reset(); }
  std::string describe() const override;
  bool eventDriven() const override { return true; }

 private:
  void handle(http::Request&& request, http::Respond respond);

  ServerOptions options_;
  Intake* intake_ = nullptr;
  std::unique_ptr<http::Registration> registration_;
};

}  // namespace switchboard::adapters::rest
