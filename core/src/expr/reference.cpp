#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include <pugixml.hpp>

#include "switchboard/status.hpp"
#include "switchboard/template.hpp"
#include "switchboard/xml.hpp"
#include "util/suggest.hpp"

namespace switchboard {

struct Reference::Impl {
  enum class Kind { Body, BodyPath, XPath, Header, Prop, MessageId, Constant, Now, NowFormat, Uuid };
  Kind kind = Kind::Body;
  JsonPath path;
  std::string name;  // header/property name, constant value, or time format
  std::shared_ptr<const pugi::xpath_query> xpath;
};

namespace {

using Impl = Reference::Impl;

std::string formatNow(const char* format, bool with_millis) {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[256];
  const auto length = std::strftime(buffer, sizeof buffer, format, &utc);
  std::string text(buffer, length);
  if (with_millis) {
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    text += '.' + std::to_string(1000 + millis).substr(1) + 'Z';
  }
  return text;
}

// The leading name of each kind of reference (what a typo is compared with), and the form
// a suggestion shows.
const std::vector<std::string> kReferenceKinds = {"body", "xpath", "header", "prop", "message", "route", "now", "uuid"};
const std::vector<std::string> kReferenceForms = {"${body.path}",  "${xpath:/path}", "${header.NAME}", "${prop.NAME}",
                                                  "${message.id}", "${route.id}",    "${now}",         "${uuid}"};

}  // namespace

Reference Reference::parse(std::string_view text, const Scope& scope) {
  auto impl = std::make_shared<Impl>();
  auto starts = [&](std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; };
  if (text == "body") {
    impl->kind = Impl::Kind::Body;
  } else if (starts("body.") || starts("body[")) {
    impl->kind = Impl::Kind::BodyPath;
    try {
      impl->path = JsonPath::parse(text.substr(4));
    } catch (const SyntaxError& e) {
      throw SyntaxError(4 + e.offset(), e.what());
    }
  } else if (starts("xpath:")) {
    impl->kind = Impl::Kind::XPath;
    const std::string query(text.substr(6));
    try {
      impl->xpath = std::make_shared<const pugi::xpath_query>(query.c_str());
    } catch (const pugi::xpath_exception& e) {
      throw SyntaxError(6 + static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, e.result().offset)),
                        std::string("invalid XPath: ") + e.result().description());
    }
  } else if (starts("header.") || starts("prop.")) {
    const bool header = starts("header.");
    impl->kind = header ? Impl::Kind::Header : Impl::Kind::Prop;
    impl->name = std::string(text.substr(header ? 7 : 5));
    if (impl->name.empty()) throw SyntaxError(text.size(), "expected a name after the '.'");
  } else if (text == "message.id") {
    impl->kind = Impl::Kind::MessageId;
  } else if (text == "route.id") {
    impl->kind = Impl::Kind::Constant;
    impl->name = scope.route_id;
  } else if (text == "now") {
    impl->kind = Impl::Kind::Now;
  } else if (starts("now:")) {
    impl->kind = Impl::Kind::NowFormat;
    impl->name = std::string(text.substr(4));
    if (impl->name.empty()) throw SyntaxError(4, "expected a strftime format after 'now:'");
  } else if (text == "uuid") {
    impl->kind = Impl::Kind::Uuid;
  } else {
    std::string message = "unknown reference '${" + std::string(text) + "}'";
    const auto head = text.substr(0, text.find_first_of(".:["));
    if (auto near = closestName(head, kReferenceKinds)) {
      const auto kind = std::find(kReferenceKinds.begin(), kReferenceKinds.end(), *near) - kReferenceKinds.begin();
      message += "; did you mean '" + kReferenceForms[static_cast<std::size_t>(kind)] + "'?";
    }
    message +=
        " (known: ${body}, ${body.path}, ${xpath:/path}, ${header.NAME}, ${prop.NAME}, "
        "${message.id}, ${route.id}, ${now}, ${now:FORMAT}, ${uuid}, ${env.NAME})";
    throw SyntaxError(0, message);
  }
  Reference reference;
  reference.text_ = std::string(text);
  reference.impl_ = std::move(impl);
  return reference;
}

nlohmann::json Reference::evaluate(const Message& message) const {
  const Impl& impl = *impl_;
  switch (impl.kind) {
    case Impl::Kind::Body: return message.body();
    case Impl::Kind::BodyPath: {
      const auto* value = impl.path.find(message.jsonBody());
      return value ? *value : nlohmann::json(nullptr);
    }
    case Impl::Kind::XPath: {
      pugi::xml_document document;
      if (auto error = parseXml(message.body(), document); !error.empty()) throw MessageError(error);
      // string(node-set) is the first node's text; an empty node set is "absent", not "".
      if (impl.xpath->return_type() == pugi::xpath_type_node_set && impl.xpath->evaluate_node_set(document).empty()) {
        return nullptr;
      }
      return impl.xpath->evaluate_string(document);
    }
    case Impl::Kind::Header: {
      const auto* value = message.headers().find(impl.name);
      return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
    }
    case Impl::Kind::Prop: {
      const auto it = message.properties().find(impl.name);
      return it != message.properties().end() ? nlohmann::json(it->second) : nlohmann::json(nullptr);
    }
    case Impl::Kind::MessageId: return message.id();
    case Impl::Kind::Constant: return impl.name;
    case Impl::Kind::Now: return formatNow("%Y-%m-%dT%H:%M:%S", true);
    case Impl::Kind::NowFormat: return formatNow(impl.name.c_str(), false);
    case Impl::Kind::Uuid: return newUuid();
  }
  return nullptr;
}

std::string Reference::render(const Message& message) const {
  const auto value = evaluate(message);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return {};
  return value.dump();
}

}  // namespace switchboard
