// The file adapter without the bus: scanning, claiming, acknowledging, recovering, writing.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "adapters/scripted_intake.hpp"
#include "file_inbound.hpp"
#include "file_outbound.hpp"
#include "file_util.hpp"

using namespace switchboard;
using namespace switchboard::adapters::file;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using switchboard::testing::ScriptedIntake;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("sb-file-test-" + newUuid());
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void writeText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string readText(const fs::path& path) {
  std::string text;
  REQUIRE(readFile(path, text));
  return text;
}

InboundOptions inboundOptions(const fs::path& dir) {
  InboundOptions o;
  o.dir = dir;
  o.poll = 20ms;
  o.move_failed = dir / ".failed";
  return o;
}

OutboundOptions outboundOptions(const fs::path& dir, const std::string& name) {
  OutboundOptions o;
  o.dir = dir;
  o.name = Template::compile(name, Scope{"r"});
  return o;
}

}  // namespace

TEST_CASE("scan lists matching files in name order and skips dot files", "[file]") {
  TempDir tmp;
  writeText(tmp.path / "b.json", "b");
  writeText(tmp.path / "a.json", "a");
  writeText(tmp.path / "c.txt", "c");
  writeText(tmp.path / ".hidden.json", "h");
  writeText(tmp.path / "sub" / "d.json", "d");
  auto options = inboundOptions(tmp.path);
  options.pattern = "*.json";
  SECTION("flat") {
    CHECK(FileInbound(options).scan() == std::vector<fs::path>{"a.json", "b.json"});
  }
  SECTION("recursive, without the move_to directory") {
    options.recursive = true;
    options.move_to = tmp.path / "done";
    writeText(tmp.path / "done" / "old.json", "old");
    CHECK(FileInbound(options).scan() == std::vector<fs::path>{"a.json", "b.json", "sub/d.json"});
  }
  SECTION("min_age leaves young files") {
    options.min_age = 1h;
    CHECK(FileInbound(options).scan().empty());
  }
}

TEST_CASE("a delivered file is deleted, or moved to move_to, with file headers set", "[file]") {
  TempDir tmp;
  writeText(tmp.path / "in" / "order.json", R"({"id": 1})");
  auto options = inboundOptions(tmp.path / "in");
  const bool keep = GENERATE(false, true);
  if (keep) options.move_to = tmp.path / "archive";
  ScriptedIntake intake(Outcome::Kind::Delivered);
  {
    FileInbound inbound(options);
    inbound.start(intake);
    const auto messages = intake.waitFor(1);
    inbound.stop();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].body() == R"({"id": 1})");
    CHECK(messages[0].contentType() == "application/json");
    CHECK(*messages[0].headers().find("file.name") == "order.json");
    CHECK(*messages[0].headers().find("file.size") == "9");
    CHECK(*messages[0].headers().find("file.path") == (tmp.path / "in" / "order.json").string());
  }
  CHECK_FALSE(fs::exists(tmp.path / "in" / "order.json"));
  CHECK(fs::exists(tmp.path / "archive" / "order.json") == keep);
  // The claim directory and its lock are gone with the adapter.
  CHECK(fs::is_empty(tmp.path / "in" / ".processing"));
}

TEST_CASE("a file that finally failed goes to move_failed", "[file]") {
  TempDir tmp;
  writeText(tmp.path / "in" / "bad.txt", "bad");
  ScriptedIntake intake(Outcome::Kind::Failed);
  FileInbound inbound(inboundOptions(tmp.path / "in"));
  inbound.start(intake);
  intake.waitFor(1);
  inbound.stop();
  CHECK(readText(tmp.path / "in" / ".failed" / "bad.txt") == "bad");
}

TEST_CASE("files claimed by an instance that died are put back and delivered", "[file]") {
  TempDir tmp;
  const auto dir = tmp.path / "in";
  // What a killed instance leaves: an unlocked lock file and its claim directory.
  writeText(dir / ".processing" / "dead-instance.lock", "");
  writeText(dir / ".processing" / "dead-instance" / "orphan.txt", "orphan");
  ScriptedIntake intake(Outcome::Kind::Delivered);
  FileInbound inbound(inboundOptions(dir));
  inbound.start(intake);
  const auto messages = intake.waitFor(1);
  inbound.stop();
  CHECK(messages[0].body() == "orphan");
  CHECK_FALSE(fs::exists(dir / ".processing" / "dead-instance"));
  CHECK_FALSE(fs::exists(dir / ".processing" / "dead-instance.lock"));
}

TEST_CASE("outbound writes whole files under the rendered name", "[file]") {
  TempDir tmp;
  Message message("m-1");
  message.headers().set("file.name", "x.json");
  message.setBody("content", "application/json");
  SECTION("write, with subdirectories and meta") {
    auto options = outboundOptions(tmp.path / "out", "sub/${header.file.name}");
    options.meta = true;
    FileOutbound outbound(options);
    REQUIRE(outbound.send(message).isOk());
    CHECK(readText(tmp.path / "out" / "sub" / "x.json") == "content");
    const auto meta = nlohmann::json::parse(readText(tmp.path / "out" / "sub" / "x.json.meta.json"));
    CHECK(meta["id"] == "m-1");
    CHECK(meta["headers"]["file.name"] == "x.json");
    // No temporary file is left beside it.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path / "out" / "sub")) ++entries;
    CHECK(entries == 2);
  }
  SECTION("append") {
    auto options = outboundOptions(tmp.path, "all.log");
    options.mode = OutboundOptions::Mode::Append;
    FileOutbound outbound(options);
    REQUIRE(outbound.send(message).isOk());
    REQUIRE(outbound.send(message).isOk());
    CHECK(readText(tmp.path / "all.log") == "contentcontent");
  }
  SECTION("a name that leaves the directory is a permanent error") {
    message.headers().set("file.name", "../../etc/passwd");
    FileOutbound outbound(outboundOptions(tmp.path / "out", "${header.file.name}"));
    const auto status = outbound.send(message);
    CHECK(status.code() == Status::Code::Permanent);
    CHECK_FALSE(fs::exists(tmp.path / "etc"));
  }
  SECTION("an unwritable directory is a transient error") {
    writeText(tmp.path / "blocker", "a file where a directory should be");
    FileOutbound outbound(outboundOptions(tmp.path / "blocker", "x"));
    CHECK(outbound.send(message).code() == Status::Code::Transient);
  }
}

TEST_CASE("checkRelativeName accepts names inside the directory only", "[file]") {
  CHECK(checkRelativeName("a.txt").empty());
  CHECK(checkRelativeName("2026/11/a.txt").empty());
  CHECK_FALSE(checkRelativeName("").empty());
  CHECK_FALSE(checkRelativeName("/etc/passwd").empty());
  CHECK_FALSE(checkRelativeName("a/../../b").empty());
  CHECK_FALSE(checkRelativeName("dir/").empty());
}
