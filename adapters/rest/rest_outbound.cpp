#include "rest_outbound.hpp"

#include <algorithm>
#include <cctype>

#include "switchboard/log.hpp"

namespace switchboard::adapters::rest {

ComponentSpec OutboundOptions::spec() {
  ComponentSpec spec{"rest",
                     "Sends each message as an HTTP request; the response becomes the message.",
                     {
                         {"url", OptionType::Template, true, "", "URL, rendered per message"},
                         {"method",
                          OptionType::Enum,
                          false,
                          "POST",
                          "HTTP method",
                          {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}},
                         {"headers", OptionType::TemplateMap, false, "",
                          "request headers (templates); Content-Type defaults to the message's"},
                         {"follow_redirects", OptionType::Bool, false, "true", "follow up to 5 redirects"},
                         {"forward_headers", OptionType::Bool, false, "true",
                          "send the message's headers too (not dotted ones like http.method, not hop-by-hop ones)"},
                     }};
  const auto client = ClientSettings::specs();
  spec.options.insert(spec.options.begin() + 3, client.begin(), client.end());
  return spec;
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.url = options.templ("url");
  if (o.url.isConstant() && o.url.text().find("://") == std::string::npos) {
    throw OptionError("url", "url needs a scheme, like http://host:port/path");
  }
  o.method = options.string("method");
  if (options.has("headers")) o.headers = options.templateMap("headers");
  o.forward_headers = options.boolean("forward_headers");
  o.client = ClientSettings::from(options);
  o.client.follow_redirects = options.boolean("follow_redirects");
  return o;
}

namespace {
bool hopByHop(std::string_view name) {
  for (const char* hop : {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Proxy-Connection", "TE",
                          "Trailer", "Upgrade"}) {
    if (iequals(name, hop)) return true;
  }
  return false;
}

// Headers of the message that travel as HTTP headers: not the bus's own dotted ones
// (http.method, file.name, error.*), not hop-by-hop ones, and not those libcurl sets itself.
bool forwarded(std::string_view name) {
  return name.find('.') == std::string_view::npos && !hopByHop(name) && !iequals(name, "Host") &&
         !iequals(name, "Content-Type") && !iequals(name, "Expect") && !iequals(name, "Authorization");
}
}  // namespace

std::string percentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    }
  }
  return out;
}

ClientRequest formatRequest(const OutboundOptions& options, const Message& message) {
  ClientRequest request;
  // Values go into the URL percent-encoded, so "a&admin=1" stays one query value.
  request.url = options.url.render(message, percentEncode);
  request.method = options.method;
  bool has_type = false;
  for (const auto& [name, value] : options.headers) {
    has_type = has_type || iequals(name, "Content-Type");
    request.headers.push_back(headerLine(name, value.render(message)));
  }
  if (options.forward_headers) {
    for (const auto& [name, value] : message.headers()) {
      if (!forwarded(name)) continue;
      const bool overridden = std::any_of(options.headers.begin(), options.headers.end(),
                                          [&](const auto& header) { return iequals(header.first, name); });
      if (!overridden) request.headers.push_back(headerLine(name, value));
    }
  }
  const bool with_body = options.method != "GET" && options.method != "HEAD";
  if (with_body) {
    if (!has_type && !message.contentType().empty())
      request.headers.push_back(headerLine("Content-Type", message.contentType()));
    request.body = message.body();
  }
  return request;
}

std::string RestOutbound::describe() const {
  return "rest " + options_.method + " " + redactUrl(options_.url.text());
}

Status RestOutbound::complete(const ClientRequest& request, ClientResponse& response, Message& message) const {
  if (response.result != CURLE_OK) return transportStatus(request, response);
  const std::string what = request.method + " " + redactUrl(request.url);
  Status status = statusFor(response.status, what);
  if (!status.isOk()) return status.withMessage(status.message() + ": " + response.body.substr(0, 200));
  // The response becomes the message: status, headers and body; the id stays.
  std::string content_type;
  Headers response_headers;
  for (const auto& [name, value] : response.headers) {
    if (iequals(name, "Content-Type")) content_type = value;
    if (!hopByHop(name)) response_headers.add(name, value);
  }
  response_headers.set("http.status", std::to_string(response.status));
  message.headers() = std::move(response_headers);
  message.setBody(std::move(response.body), content_type.empty() ? "application/octet-stream" : content_type);
  return Status::ok();
}

Status RestOutbound::send(Message& message) {
  const auto request = formatRequest(options_, message);
  auto response = client_.perform(request);
  return complete(request, response, message);
}

bool RestOutbound::sendAsync(Message& message, Done done) {
  client_.start(formatRequest(options_, message),
                [this, &message, done = std::move(done)](const ClientRequest& request, ClientResponse& response) {
                  done(complete(request, response, message));
                });
  return true;
}

}  // namespace switchboard::adapters::rest
