#include "soap_outbound.hpp"

#include "switchboard/log.hpp"

namespace switchboard::adapters::soap {

ComponentSpec OutboundOptions::spec() {
  ComponentSpec spec{
      "soap",
      "Calls a SOAP service with the message as the payload; the response's payload becomes the message.",
      {
          {"url", OptionType::Template, true, "", "service URL, rendered per message"},
          {"action", OptionType::Template, false, "", "SOAPAction (1.1) or the action parameter (1.2)"},
          {"version", OptionType::Enum, false, "1.1", "SOAP version", {"1.1", "1.2"}},
          {"headers", OptionType::StringList, false, "", "SOAP header blocks: XML elements, templates"},
          {"ws_security", OptionType::Object, false, "",
           "username, password: a WS-Security UsernameToken (PasswordText) header"},
      }};
  const auto client = rest::ClientSettings::specs();
  spec.options.insert(spec.options.end(), client.begin(), client.end());
  return spec;
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.url = options.templ("url");
  if (o.url.isConstant() && o.url.text().find("://") == std::string::npos) {
    throw OptionError("url", "url needs a scheme, like http://host:port/path");
  }
  if (options.has("action")) o.action = options.templ("action");
  o.version = options.string("version") == "1.2" ? Version::V12 : Version::V11;
  if (options.has("headers")) {
    for (const auto& block : options.list("headers"))
      o.header_blocks.push_back(Template::compile(block, options.scope()));
  }
  if (options.has("ws_security")) {
    const auto& security = options.json("ws_security");
    if (!security.is_object() || !security.contains("username") || !security.contains("password")) {
      throw OptionError("ws_security", "ws_security takes username and password");
    }
    o.ws_username = security["username"].get<std::string>();
    o.ws_password = security["password"].get<std::string>();
  }
  o.client = rest::ClientSettings::from(options);
  return o;
}

rest::ClientRequest formatRequest(const OutboundOptions& options, const Message& message) {
  rest::ClientRequest request;
  request.url = options.url.render(message);
  const std::string action = options.action ? options.action->render(message) : "";
  if (looksLikeEnvelope(message.body())) {
    request.body = message.body();
  } else {
    std::vector<std::string> blocks;
    for (const auto& block : options.header_blocks) blocks.push_back(block.render(message));
    if (!options.ws_username.empty()) {
      blocks.push_back(
          "<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/"
          "oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken><wsse:Username>" +
          escapeXml(options.ws_username) +
          "</wsse:Username><wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
          "oasis-200401-wss-username-token-profile-1.0#PasswordText\">" +
          escapeXml(options.ws_password) + "</wsse:Password></wsse:UsernameToken></wsse:Security>");
    }
    request.body = writeEnvelope(options.version, message.body(), blocks);
  }
  if (options.version == Version::V11) {
    request.headers.push_back("Content-Type: " + std::string(contentTypeFor(Version::V11)));
    request.headers.push_back(rest::headerLine("SOAPAction", "\"" + action + "\""));
  } else {
    request.headers.push_back(rest::headerLine(
        "Content-Type",
        std::string(contentTypeFor(Version::V12)) + (action.empty() ? "" : "; action=\"" + action + "\"")));
  }
  return request;
}

Status SoapOutbound::complete(const rest::ClientRequest& request, rest::ClientResponse& response,
                              Message& message) const {
  if (response.result != CURLE_OK) return rest::transportStatus(request, response);
  const std::string what = "SOAP call to " + redactUrl(request.url);
  // A one-way operation answers 202 (or 204) without an envelope: done, the message stays.
  if ((response.status == 202 || response.status == 204) && response.body.empty()) {
    message.headers().set("http.status", std::to_string(response.status));
    return Status::ok();
  }
  Envelope envelope;
  try {
    envelope = readEnvelope(response.body);
  } catch (const MessageError& e) {
    // No envelope: an HTTP error says more; a 2xx without one is a broken service.
    const Status status = rest::statusFor(response.status, what);
    if (!status.isOk()) return status.withMessage(status.message() + ": " + response.body.substr(0, 200));
    return Status::transient(what + " answered without a SOAP envelope: " + e.what());
  }
  if (envelope.fault) {
    const auto colon = envelope.fault_code.find(':');
    const std::string code = colon == std::string::npos ? envelope.fault_code : envelope.fault_code.substr(colon + 1);
    const std::string text =
        envelope.fault_code + " fault from " + redactUrl(request.url) + ": " + envelope.fault_string;
    // Server/Receiver: the service failed and may not next time; anything else refuses the message.
    auto status = code == "Server" || code == "Receiver" ? Status::transient(text) : Status::permanent(text);
    return std::move(status)
        .withDetail("soap.fault.code", envelope.fault_code)
        .withDetail("soap.fault.string", envelope.fault_string);
  }
  if (const Status status = rest::statusFor(response.status, what); !status.isOk()) return status;
  message.headers().set("http.status", std::to_string(response.status));
  message.setBody(std::move(envelope.payload), "application/xml");
  return Status::ok();
}

Status SoapOutbound::send(Message& message) {
  const auto request = formatRequest(options_, message);
  auto response = client_.perform(request);
  return complete(request, response, message);
}

bool SoapOutbound::sendAsync(Message& message, Done done) {
  client_.start(
      formatRequest(options_, message),
      [this, &message, done = std::move(done)](const rest::ClientRequest& request, rest::ClientResponse& response) {
        done(complete(request, response, message));
      });
  return true;
}

}  // namespace switchboard::adapters::soap
