// The rest adapter's pure parts: authentication, request to message, outcome to answer,
// message to outgoing request, and how HTTP statuses count.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "rest_inbound.hpp"
#include "rest_outbound.hpp"

using namespace switchboard;
using namespace switchboard::adapters::rest;

namespace {
Headers headers(std::initializer_list<std::pair<const char*, const char*>> entries) {
  Headers h;
  for (const auto& [name, value] : entries) h.add(name, value);
  return h;
}
}  // namespace

TEST_CASE("basic auth: right, wrong and missing credentials", "[rest]") {
  const auto auth = Auth::from(nlohmann::ordered_json::parse(R"({"basic": {"users": {"alice": "s3cret"}}})"));
  CHECK(auth.check(headers({{"Authorization", "Basic YWxpY2U6czNjcmV0"}})) == 0);    // alice:s3cret
  CHECK(auth.check(headers({{"authorization", "basic YWxpY2U6czNjcmV0"}})) == 0);    // scheme is case-insensitive
  CHECK(auth.check(headers({{"Authorization", "Basic YWxpY2U6d3Jvbmc="}})) == 403);  // alice:wrong
  CHECK(auth.check(headers({{"Authorization", "Basic Ym9iOnMzY3JldA=="}})) == 403);  // bob:s3cret
  CHECK(auth.check(headers({{"Authorization", "Bearer YWxpY2U6czNjcmV0"}})) == 401);
  CHECK(auth.check(headers({{"Authorization", "Basic !!!"}})) == 401);
  CHECK(auth.check(headers({})) == 401);
}

TEST_CASE("bearer and API key auth", "[rest]") {
  const auto bearer = Auth::from(nlohmann::ordered_json::parse(R"({"bearer": {"tokens": ["t1", "t2"]}})"));
  CHECK(bearer.check(headers({{"Authorization", "Bearer t2"}})) == 0);
  CHECK(bearer.check(headers({{"Authorization", "Bearer t3"}})) == 403);
  CHECK(bearer.check(headers({{"Authorization", "Bearer t"}})) == 403);
  CHECK(bearer.check(headers({})) == 401);
  const auto api_key = Auth::from(nlohmann::ordered_json::parse(R"({"api_key": {"header": "X-Key", "keys": ["k1"]}})"));
  CHECK(api_key.check(headers({{"x-key", "k1"}})) == 0);
  CHECK(api_key.check(headers({{"X-Key", "k2"}})) == 403);
  CHECK(api_key.check(headers({{"Authorization", "k1"}})) == 401);
  CHECK(api_key.credentialHeader() == "X-Key");
}

TEST_CASE("auth settings that cannot work are option errors", "[rest]") {
  CHECK_THROWS_AS(Auth::from(nlohmann::ordered_json::parse(R"({"digest": {}})")), OptionError);
  CHECK_THROWS_AS(Auth::from(nlohmann::ordered_json::parse(R"({"bearer": {"tokens": []}})")), OptionError);
  CHECK_THROWS_AS(Auth::from(nlohmann::ordered_json::parse(R"({"basic": {"users": {}}})")), OptionError);
  CHECK_THROWS_AS(Auth::from(nlohmann::ordered_json::parse(R"({"basic": {}, "bearer": {}})")), OptionError);
}

TEST_CASE("a request becomes a message with http.*, path.* and query headers", "[rest]") {
  http::Request request;
  request.method = "POST";
  request.path = "/orders/acme";
  request.query = {{"x", "1"}, {"y", "a b"}};
  request.path_params = {{"customer", "acme"}};
  request.headers = headers({{"Content-Type", "application/json"}, {"X-Trace", "t"}, {"Authorization", "Bearer t1"}});
  request.body = R"({"a": 1})";
  request.remote = "127.0.0.1:5555";
  const auto auth = Auth::from(nlohmann::ordered_json::parse(R"({"bearer": {"tokens": ["t1"]}})"));
  const auto message = messageFor(std::move(request), Message("m-1"), auth);
  CHECK(message.id() == "m-1");
  CHECK(*message.headers().find("http.method") == "POST");
  CHECK(*message.headers().find("http.path") == "/orders/acme");
  CHECK(*message.headers().find("http.query.y") == "a b");
  CHECK(*message.headers().find("path.customer") == "acme");
  CHECK(*message.headers().find("x-trace") == "t");
  CHECK_FALSE(message.headers().contains("Authorization"));  // credentials stay at the door
  CHECK(message.contentType() == "application/json");
  CHECK(message.jsonBody()["a"] == 1);
}

TEST_CASE("outcomes become the answers of the contract", "[rest]") {
  Message reply("m-1");
  reply.headers().set("http.status", "201");
  reply.setBody("<ok/>", "application/xml");
  const auto created = answerFor(Outcome{Outcome::Kind::Delivered, Status::ok(), reply}, "m-1");
  CHECK(created.status == 201);
  CHECK(*created.headers.find("Content-Type") == "application/xml");
  CHECK(created.body == "<ok/>");

  Message no_response("m-1");
  const auto accepted = answerFor(Outcome{Outcome::Kind::Delivered, Status::ok(), no_response}, "m-1");
  CHECK(accepted.status == 202);
  CHECK(nlohmann::json::parse(accepted.body)["id"] == "m-1");
  CHECK(answerFor(Outcome{Outcome::Kind::Delivered, Status::ok(), std::nullopt}, "m-1").status == 202);
  CHECK(answerFor(Outcome{Outcome::Kind::Filtered, Status::ok(), std::nullopt}, "m-1").status == 204);

  const auto bad = answerFor(Outcome{Outcome::Kind::Failed, Status::badInput("not JSON"), std::nullopt}, "m-1");
  CHECK(bad.status == 400);
  CHECK(nlohmann::json::parse(bad.body)["error"] == "not JSON");
  CHECK(*bad.headers.find("X-Message-Id") == "m-1");
  CHECK(answerFor(Outcome{Outcome::Kind::Failed, Status::transient("down"), std::nullopt}, "m").status == 502);
  CHECK(answerFor(Outcome{Outcome::Kind::DeadLettered, Status::permanent("404"), std::nullopt}, "m").status == 502);
  CHECK(answerFor(Outcome{Outcome::Kind::Failed, Status::timeout("slow"), std::nullopt}, "m").status == 504);
}

TEST_CASE("a message becomes the outgoing request", "[rest]") {
  OutboundOptions options;
  options.url = Template::compile("http://erp/orders/${header.path.customer}", Scope{"r"});
  options.headers = {{"X-Source", Template::compile("${route.id}", Scope{"r"})}};
  options.client.bearer = "tok";
  Message message("m-1");
  message.headers().set("path.customer", "acme");
  message.headers().set("X-Trace", "t-1");
  message.headers().set("Connection", "close");
  message.headers().set("X-Source", "overridden");
  message.setBody("{}", "application/json");
  const auto request = formatRequest(options, message);
  CHECK(request.url == "http://erp/orders/acme");
  CHECK(request.method == "POST");
  CHECK(request.body == "{}");
  const auto& h = request.headers;
  auto has = [&](const std::string& line) { return std::find(h.begin(), h.end(), line) != h.end(); };
  CHECK(has("X-Source: r"));
  CHECK_FALSE(has("X-Source: overridden"));
  CHECK(has("X-Trace: t-1"));
  CHECK(has("Content-Type: application/json"));
  CHECK_FALSE(has("Connection: close"));
  CHECK_FALSE(has("path.customer: acme"));

  options.method = "GET";
  options.forward_headers = false;
  const auto get = formatRequest(options, message);
  CHECK(get.body.empty());
  CHECK(std::find(get.headers.begin(), get.headers.end(), "X-Trace: t-1") == get.headers.end());

  // A value with a line break would add headers of its own: the message is bad input.
  options.headers = {{"X-Op", Template::compile("${header.X-Trace}", Scope{"r"})}};
  message.headers().set("X-Trace", "a\r\nX-Injected: yes");
  CHECK_THROWS_AS(formatRequest(options, message), MessageError);
}

TEST_CASE("HTTP statuses: 2xx/3xx succeed, 408/429/5xx are retried, other 4xx are not", "[rest]") {
  CHECK(statusFor(200, "x").isOk());
  CHECK(statusFor(304, "x").isOk());
  CHECK(statusFor(500, "x").code() == Status::Code::Transient);
  CHECK(statusFor(503, "x").retryable());
  CHECK(statusFor(429, "x").retryable());
  CHECK(statusFor(408, "x").retryable());
  CHECK(statusFor(404, "POST http://erp").code() == Status::Code::Permanent);
  CHECK(statusFor(404, "POST http://erp").message() == "POST http://erp answered 404");
  CHECK_FALSE(statusFor(400, "x").retryable());
}

TEST_CASE("values rendered into the URL cannot change its structure", "[rest]") {
  OutboundOptions options;
  options.url = Template::compile("http://erp/s/${header.c}?c=${header.c}&x=1", Scope{"r"});
  Message message("m-1");
  message.headers().set("c", "a&admin=1/../ x");
  CHECK(formatRequest(options, message).url ==
        "http://erp/s/a%26admin%3D1%2F..%2F%20x?c=a%26admin%3D1%2F..%2F%20x&x=1");
  CHECK(percentEncode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percentEncode("\xc3\xa9") == "%C3%A9");
}
