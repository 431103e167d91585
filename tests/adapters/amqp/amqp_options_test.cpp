#include <catch2/catch.hpp>

#include "amqp_inbound.hpp"
#include "amqp_outbound.hpp"
#include "component_options.hpp"

using namespace switchboard;
using namespace switchboard::adapters::amqp;
using testing::optionsFor;

TEST_CASE("amqp: the url gives host, port, credentials and vhost", "[amqp]") {
  auto settings = [](const std::string& url) {
    return BrokerSettings::from(optionsFor(InboundOptions::spec(), {{"url", url}, {"queue", "q"}}));
  };
  const auto plain = settings("amqp://user:secret@127.0.0.1:5673/");
  CHECK(plain.host == "127.0.0.1");
  CHECK(plain.port == 5673);
  CHECK(plain.user == "user");
  CHECK(plain.password == "secret");
  CHECK(plain.vhost == "/");  // "/" means the default vhost, as users mean it
  CHECK_FALSE(plain.tls);
  CHECK(plain.redacted().find("secret") == std::string::npos);
  CHECK(settings("amqp://h/orders").vhost == "orders");
  CHECK(settings("amqp://h/%2f").vhost == "/");
  const auto tls = settings("amqps://h");
  CHECK(tls.tls);
  CHECK(tls.port == 5671);
  CHECK(tls.user == "guest");
}

TEST_CASE("amqp: option errors name the option", "[amqp]") {
  auto inboundFails = [](nlohmann::ordered_json values, const std::string& option) {
    try {
      InboundOptions::from(optionsFor(InboundOptions::spec(), std::move(values)));
    } catch (const OptionError& e) {
      CHECK(e.option() == option);
      return;
    }
    FAIL("no OptionError for " + option);
  };
  inboundFails({{"url", "http://h"}, {"queue", "q"}}, "url");
  inboundFails({{"url", "amqp://h:notaport"}, {"queue", "q"}}, "url");
  inboundFails({{"url", "amqp://h"}, {"queue", ""}}, "queue");
  inboundFails({{"url", "amqp://h"}, {"queue", "q"}, {"exchange", "x"}}, "exchange");
  inboundFails({{"url", "amqp://h"}, {"queue", "q"}, {"prefetch", -1}}, "prefetch");
  inboundFails({{"url", "amqp://h"}, {"queue", "q"}, {"tls_ca", "ca.pem"}}, "url");

  // A password with a slash makes the url unreadable; the error must not show it.
  try {
    InboundOptions::from(optionsFor(InboundOptions::spec(), {{"url", "amqp://app:se/cret@h/"}, {"queue", "q"}}));
    FAIL("no OptionError for an unreadable url");
  } catch (const OptionError& e) {
    CHECK(std::string(e.what()).find("se/cret") == std::string::npos);
    CHECK(std::string(e.what()).find("percent-encoded") != std::string::npos);
  }

  auto outboundFails = [](nlohmann::ordered_json values, const std::string& option) {
    try {
      OutboundOptions::from(optionsFor(OutboundOptions::spec(), std::move(values)));
    } catch (const OptionError& e) {
      CHECK(e.option() == option);
      return;
    }
    FAIL("no OptionError for " + option);
  };
  outboundFails({{"url", "amqp://h"}}, "routing_key");
  outboundFails({{"url", "amqp://h"}, {"routing_key", "q"}, {"declare", true}}, "declare");
  outboundFails({{"url", "amqp://h"}, {"exchange", "x"}, {"timeout", 0}}, "timeout");
}

TEST_CASE("amqp: defaults", "[amqp]") {
  const auto in = InboundOptions::from(optionsFor(InboundOptions::spec(), {{"url", "amqp://h"}, {"queue", "orders"}}));
  CHECK(in.prefetch == 1);  // the test scope's concurrency
  CHECK(in.bindings == std::vector<std::string>{"orders"});
  const auto out = OutboundOptions::from(optionsFor(OutboundOptions::spec(), {{"url", "amqp://h"}, {"exchange", "x"}}));
  CHECK(out.persistent);
  CHECK_FALSE(out.mandatory);
  CHECK(out.forward_headers);
  CHECK(out.timeout == std::chrono::seconds(10));
}
