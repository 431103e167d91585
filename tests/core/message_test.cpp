#include <regex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "switchboard/message.hpp"
#include "switchboard/status.hpp"

using switchboard::Headers;
using switchboard::Message;
using switchboard::MessageError;

namespace {

std::vector<Headers::Entry> entries(const Headers& headers) {
  return {headers.begin(), headers.end()};
}

}  // namespace

TEST_CASE("iequals compares ASCII case-insensitively", "[message]") {
  CHECK(switchboard::iequals("Content-Type", "content-type"));
  CHECK(switchboard::iequals("X-ID", "x-id"));
  CHECK(switchboard::iequals("", ""));
  CHECK_FALSE(switchboard::iequals("X-Id", "X-Idx"));
  CHECK_FALSE(switchboard::iequals("X-Id", "X_Id"));
}

TEST_CASE("Headers::set and find are case-insensitive", "[message][headers]") {
  Headers headers;
  CHECK(headers.empty());
  headers.set("Content-Type", "application/json");

  REQUIRE(headers.find("content-type") != nullptr);
  CHECK(*headers.find("CONTENT-TYPE") == "application/json");
  CHECK(headers.contains("Content-type"));
  CHECK(headers.find("Content-Length") == nullptr);
  CHECK_FALSE(headers.contains("Content-Length"));

  SECTION("setting an existing name replaces the value and keeps the first spelling") {
    headers.set("CONTENT-TYPE", "text/plain");
    REQUIRE(headers.size() == 1);
    CHECK(entries(headers)[0] == Headers::Entry{"Content-Type", "text/plain"});
  }
}

TEST_CASE("Headers keep insertion order", "[message][headers]") {
  Headers headers;
  headers.set("b", "1");
  headers.set("a", "2");
  headers.add("c", "3");
  headers.set("B", "4");  // replaces in place, does not move to the end

  CHECK(entries(headers) == std::vector<Headers::Entry>{{"b", "4"}, {"a", "2"}, {"c", "3"}});
}

TEST_CASE("Headers::add appends repeated headers and find returns the first", "[message][headers]") {
  Headers headers;
  headers.add("Set-Cookie", "a=1");
  headers.set("X-Other", "x");
  headers.add("set-cookie", "b=2");

  CHECK(headers.size() == 3);
  REQUIRE(headers.find("SET-COOKIE") != nullptr);
  CHECK(*headers.find("SET-COOKIE") == "a=1");
  CHECK(entries(headers) ==
        std::vector<Headers::Entry>{{"Set-Cookie", "a=1"}, {"X-Other", "x"}, {"set-cookie", "b=2"}});

  SECTION("set collapses every header of the name into the first one's place") {
    headers.set("Set-Cookie", "c=3");
    CHECK(entries(headers) == std::vector<Headers::Entry>{{"Set-Cookie", "c=3"}, {"X-Other", "x"}});
  }
}

TEST_CASE("Headers::remove removes every header of the name and counts them", "[message][headers]") {
  Headers headers;
  headers.add("Accept", "a");
  headers.set("Host", "h");
  headers.add("ACCEPT", "b");
  headers.add("accept", "c");

  CHECK(headers.remove("accept") == 3);
  CHECK(entries(headers) == std::vector<Headers::Entry>{{"Host", "h"}});
  CHECK(headers.remove("Accept") == 0);
  CHECK(headers.remove("host") == 1);
  CHECK(headers.empty());
}

TEST_CASE("Message carries id, body, content type and properties", "[message]") {
  Message empty;
  CHECK(empty.id().empty());
  CHECK(empty.body().empty());
  CHECK(empty.contentType().empty());

  Message message("m-1");
  CHECK(message.id() == "m-1");

  message.setBody("<a/>", "application/xml");
  CHECK(message.body() == "<a/>");
  CHECK(message.contentType() == "application/xml");

  SECTION("an empty content type keeps the current one") {
    message.setBody("<b/>");
    CHECK(message.body() == "<b/>");
    CHECK(message.contentType() == "application/xml");
  }
  SECTION("setContentType replaces only the content type") {
    message.setContentType("text/xml");
    CHECK(message.contentType() == "text/xml");
    CHECK(message.body() == "<a/>");
  }
  SECTION("properties are a plain string map") {
    message.properties().emplace("attempt", "2");
    const Message& view = message;
    REQUIRE(view.properties().count("attempt") == 1);
    CHECK(view.properties().at("attempt") == "2");
  }
}

TEST_CASE("jsonBody parses the body once and is reset by setBody", "[message][json]") {
  Message message("m");
  message.setBody(R"({"amount": 250, "items": [1, 2]})", "application/json");

  const auto& first = message.jsonBody();
  CHECK(first["amount"] == 250);
  CHECK(first["items"].size() == 2);
  CHECK(&message.jsonBody() == &first);  // cached, not parsed again

  SECTION("setBody drops the cached value") {
    message.setBody(R"({"amount": 7})");
    CHECK(message.jsonBody()["amount"] == 7);
    CHECK_FALSE(message.jsonBody().contains("items"));
  }
  SECTION("a copy shares the parsed body but not later body changes") {
    Message copy = message;
    CHECK(&copy.jsonBody() == &message.jsonBody());
    message.setBody(R"({"amount": 1})");
    CHECK(copy.jsonBody()["amount"] == 250);
    CHECK(message.jsonBody()["amount"] == 1);
  }
}

TEST_CASE("jsonBody on a body that is not JSON throws MessageError", "[message][json]") {
  Message message("m");

  SECTION("malformed JSON") {
    message.setBody(R"({"amount": )");
    CHECK_THROWS_AS(message.jsonBody(), MessageError);
    CHECK_THROWS_WITH(message.jsonBody(), Catch::Contains("not valid JSON"));
  }
  SECTION("XML") {
    message.setBody("<order/>");
    CHECK_THROWS_AS(message.jsonBody(), MessageError);
  }
  SECTION("an empty body") {
    CHECK_THROWS_AS(message.jsonBody(), MessageError);
  }
  SECTION("a failed parse is not cached") {
    message.setBody("nope");
    CHECK_THROWS_AS(message.jsonBody(), MessageError);
    message.setBody("[true]");
    CHECK(message.jsonBody() == nlohmann::json::array({true}));
  }
}

TEST_CASE("newUuid returns RFC 4122 version 4 UUIDs", "[message][uuid]") {
  static const std::regex kFormat("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 100; ++i) {
    const auto id = switchboard::newUuid();
    REQUIRE(id.size() == 36);
    REQUIRE(std::regex_match(id, kFormat));
  }
}

TEST_CASE("newUuid does not repeat", "[message][uuid]") {
  SECTION("within one thread") {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < 10000; ++i) seen.insert(switchboard::newUuid());
    CHECK(seen.size() == 10000);
  }
  SECTION("across threads, each with its own generator") {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2500;
    std::vector<std::vector<std::string>> ids(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&ids, t] {
        for (int i = 0; i < kPerThread; ++i) ids[t].push_back(switchboard::newUuid());
      });
    }
    for (auto& thread : threads) thread.join();
    std::unordered_set<std::string> seen;
    for (const auto& list : ids) seen.insert(list.begin(), list.end());
    CHECK(seen.size() == kThreads * kPerThread);
  }
}
