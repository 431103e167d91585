#include "soap_inbound.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "switchboard/xml.hpp"

namespace switchboard::adapters::soap {

ComponentSpec InboundOptions::spec() {
  ComponentSpec spec{"soap",
                     "Serves a SOAP 1.1/1.2 endpoint: the Body's payload element becomes the message; the caller "
                     "gets the reply in an envelope of its version, or a Fault.",
                     rest::serverSpecs()};
  spec.options.insert(
      spec.options.begin() + 2,
      {{"version",
        OptionType::Enum,
        false,
        "auto",
        "SOAP version served: auto (each request's), 1.1 or 1.2",
        {"auto", "1.1", "1.2"}},
       {"wsdl", OptionType::String, false, "", "WSDL file served at <path>?wsdl, its address set to ours"},
       {"operations", OptionType::Object, false, "",
        "operation name or SOAPAction -> map of headers set on its messages"}});
  return spec;
}

InboundOptions InboundOptions::from(const Options& options) {
  InboundOptions o;
  o.server = rest::ServerOptions::from(options);
  o.server.endpoint.methods = {"POST", "GET"};
  const auto version = options.string("version");
  if (version == "1.1") o.version = Version::V11;
  if (version == "1.2") o.version = Version::V12;
  if (options.has("wsdl")) {
    const auto path = options.string("wsdl");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw OptionError("wsdl", "cannot read the WSDL file '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    o.wsdl = text.str();
    pugi::xml_document document;
    if (auto error = parseXml(o.wsdl, document); !error.empty()) throw OptionError("wsdl", path + ": " + error);
  }
  if (options.has("operations")) {
    const auto& operations = options.json("operations");
    if (!operations.is_object()) throw OptionError("operations", "operations maps an operation to headers");
    for (const auto& [operation, headers] : operations.items()) {
      if (!headers.is_object()) throw OptionError("operations." + operation, "a map of header name to value");
      for (const auto& [name, value] : headers.items()) {
        o.operations[operation][name] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    }
  }
  return o;
}

std::string wsdlFor(const std::string& wsdl, const std::string& address) {
  pugi::xml_document document;
  document.load_buffer(wsdl.data(), wsdl.size());
  // soap:address and soap12:address, whatever their prefixes: by namespace URI.
  static constexpr std::string_view kBindings[] = {"http://schemas.xmlsoap.org/wsdl/soap/",
                                                   "http://schemas.xmlsoap.org/wsdl/soap12/"};
  std::vector<pugi::xml_node> stack{document.document_element()};
  while (!stack.empty()) {
    auto node = stack.back();
    stack.pop_back();
    std::string_view name = node.name();
    const auto colon = name.find(':');
    if ((colon == std::string_view::npos ? name : name.substr(colon + 1)) == "address") {
      const std::string declaration =
          colon == std::string_view::npos ? "xmlns" : "xmlns:" + std::string(name.substr(0, colon));
      for (auto scope = node; scope; scope = scope.parent()) {
        if (auto uri = scope.attribute(declaration.c_str())) {
          if (uri.value() == kBindings[0] || uri.value() == kBindings[1]) {
            (node.attribute("location") ? node.attribute("location") : node.append_attribute("location")) =
                address.c_str();
          }
          break;
        }
      }
    }
    for (auto child : node.children()) {
      if (child.type() == pugi::node_element) stack.push_back(child);
    }
  }
  std::ostringstream out;
  document.save(out, "  ");
  return out.str();
}

namespace {

http::Response xmlResponse(unsigned status, Version version, std::string body) {
  http::Response response;
  response.status = status;
  response.headers.set("Content-Type", std::string(contentTypeFor(version)));
  response.body = std::move(body);
  return response;
}

http::Response faultResponse(unsigned status, Version version, bool sender, const std::string& text) {
  return xmlResponse(status, version, writeFault(version, sender, text));
}

// The media type without parameters, lower case, and the value of its `action` parameter.
std::pair<std::string, std::string> mediaType(const std::string& content_type) {
  std::string type, action;
  std::size_t start = 0;
  bool first = true;
  while (start <= content_type.size()) {
    auto end = content_type.find(';', start);
    if (end == std::string::npos) end = content_type.size();
    std::string part = content_type.substr(start, end - start);
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (first) {
      for (auto& c : part) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      type = part;
      first = false;
    } else if (part.size() > 7 && iequals(part.substr(0, 7), "action=")) {
      action = part.substr(7);
    }
    start = end + 1;
  }
  if (action.size() >= 2 && action.front() == '"' && action.back() == '"') action = action.substr(1, action.size() - 2);
  return {type, action};
}

http::Response answerFor(Outcome&& outcome, Version version) {
  switch (outcome.kind) {
    case Outcome::Kind::Delivered:
      if (!outcome.reply) return xmlResponse(202, version, "");
      try {
        return xmlResponse(200, version, writeEnvelope(version, outcome.reply->body(), {}));
      } catch (const MessageError& e) {
        return faultResponse(500, version, false, std::string("the route's reply is not XML: ") + e.what());
      }
    case Outcome::Kind::Filtered: return xmlResponse(202, version, "");
    case Outcome::Kind::DeadLettered:
    case Outcome::Kind::Failed: break;
  }
  return faultResponse(500, version, outcome.status.code() == Status::Code::BadInput, outcome.status.message());
}

}  // namespace

void SoapInbound::start(Intake& intake) {
  intake_ = &intake;
  registration_ = http::serve(options_.server.endpoint, [this](http::Request&& request, http::Respond respond) {
    handle(std::move(request), std::move(respond));
  });
}

std::string SoapInbound::describe() const {
  const auto& e = options_.server.endpoint;
  return std::string(e.tls.enabled() ? "soap https://" : "soap ") + e.listen + " " + e.path;
}

void SoapInbound::handle(http::Request&& request, http::Respond respond) {
  const Version fallback = options_.version.value_or(Version::V11);
  if (const unsigned refused = options_.server.auth.check(request.headers)) {
    auto response =
        faultResponse(refused, fallback, true, refused == 401 ? "authentication required" : "credentials refused");
    if (refused == 401 && options_.server.auth.kind == rest::Auth::Kind::Basic) {
      response.headers.set("WWW-Authenticate", "Basic realm=\"switchboard\"");
    }
    return respond(std::move(response));
  }
  if (request.method == "GET") {
    const bool asks_wsdl = std::any_of(request.query.begin(), request.query.end(),
                                       [](const auto& parameter) { return iequals(parameter.first, "wsdl"); });
    if (!asks_wsdl || options_.wsdl.empty()) {
      http::Response response = http::errorResponse(404, asks_wsdl ? "this endpoint has no WSDL" : "GET serves ?wsdl");
      return respond(std::move(response));
    }
    const auto* host = request.headers.find("Host");
    const std::string scheme = options_.server.endpoint.tls.enabled() ? "https://" : "http://";
    auto response =
        xmlResponse(200, fallback,
                    wsdlFor(options_.wsdl, scheme + (host ? *host : options_.server.endpoint.listen) + request.path));
    response.headers.set("Content-Type", "text/xml; charset=utf-8");
    return respond(std::move(response));
  }

  const auto* content_type = request.headers.find("Content-Type");
  const auto [type, type_action] = mediaType(content_type ? *content_type : "");
  std::optional<Version> announced;
  if (type == "text/xml") announced = Version::V11;
  if (type == "application/soap+xml") announced = Version::V12;
  if (!announced) {
    return respond(faultResponse(
        415, fallback, true, "Content-Type '" + type + "' is not SOAP: text/xml (1.1) or application/soap+xml (1.2)"));
  }
  Envelope envelope;
  try {
    envelope = readEnvelope(request.body);
  } catch (const MessageError& e) {
    return respond(faultResponse(500, *announced, true, e.what()));
  }
  if (envelope.version != *announced) {
    return respond(faultResponse(500, *announced, true,
                                 "a SOAP " + std::string(versionName(envelope.version)) + " envelope sent as " + type));
  }
  if (options_.version && envelope.version != *options_.version) {
    return respond(faultResponse(500, envelope.version, true,
                                 "this endpoint serves SOAP " + std::string(versionName(*options_.version))));
  }
  if (envelope.fault) return respond(faultResponse(500, envelope.version, true, "a Fault is not a request"));

  std::string action = envelope.version == Version::V11 ? "" : type_action;
  if (envelope.version == Version::V11) {
    if (const auto* soap_action = request.headers.find("SOAPAction")) {
      action = *soap_action;
      if (action.size() >= 2 && action.front() == '"' && action.back() == '"') {
        action = action.substr(1, action.size() - 2);
      }
    }
  }
  const Version version = envelope.version;
  Message message = rest::messageFor(std::move(request), intake_->newMessage(), options_.server.auth);
  auto& headers = message.headers();
  headers.set("soap.version", std::string(versionName(version)));
  headers.set("soap.action", action);
  headers.set("soap.operation", envelope.payload_name);
  for (const auto& [name, value] : envelope.header_blocks) headers.set("soap.header." + name, value);
  for (const auto& key : {envelope.payload_name, action}) {
    if (auto it = options_.operations.find(key); it != options_.operations.end()) {
      for (const auto& [name, value] : it->second) headers.set(name, value);
    }
  }
  message.setBody(std::move(envelope.payload), "application/xml");
  const auto admission = intake_->offer(
      std::move(message), [respond, version](Outcome outcome) { respond(answerFor(std::move(outcome), version)); });
  if (admission != Intake::Admission::Accepted) {
    auto response = faultResponse(
        503, version, false, admission == Intake::Admission::Full ? "route is busy, retry later" : "route is stopping");
    response.headers.set("Retry-After", "1");
    respond(std::move(response));
  }
}

}  // namespace switchboard::adapters::soap
