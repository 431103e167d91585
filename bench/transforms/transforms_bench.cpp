// Throughput of the converters and of a jq step, each run through the real transforms
// plugin, beside a reference doing the same job with the same libraries and nothing else.
// bench/transforms/run.sh runs it and compares; README.md says what each reference is.
//
//   transforms_bench --jq-program=FILE [benchmark flags]   run the benchmarks
//   transforms_bench --write-jq-messages=FILE              write the jq step's messages, one a line
#include <benchmark/benchmark.h>
#include <pugixml.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "component_options.hpp"

namespace {

using namespace switchboard;
using Json = nlohmann::ordered_json;

constexpr std::size_t kDocumentBytes = 512 * 1024;  // each converter's input, about
constexpr std::size_t kJqMessages = 20'000;         // one order each

// ---------------------------------------------------------------------------------------
// Inputs: orders with customers, addresses and 1-8 lines, the same on every run.
// ---------------------------------------------------------------------------------------

Json order(std::mt19937& random, std::size_t number) {
  const auto pick = [&](std::uint32_t n) { return random() % n; };
  static const char* kCities[] = {"Lyon", "Zürich", "Porto", "Gdańsk", "Leeds"};
  static const char* kItems[] = {"Widget, blue", "Cable 2 m", "Adapter \"USB-C\"", "Screws (100)", "Lamp"};
  Json lines = Json::array();
  for (std::uint32_t i = 0, n = 1 + pick(8); i < n; ++i) {
    lines.push_back({{"sku", "SKU-" + std::to_string(10000 + pick(90000))},
                     {"description", kItems[pick(5)]},
                     {"qty", 1 + pick(20)},
                     {"price", static_cast<double>(pick(100000)) / 100.0}});
  }
  const auto customer = pick(100000);
  return {{"@id", "A-" + std::to_string(100000 + number)},
          {"@status", pick(4) ? "open" : "shipped"},
          {"date", "2024-0" + std::to_string(1 + pick(9)) + "-1" + std::to_string(pick(10))},
          {"customer",
           {{"id", customer},
            {"name", "Customer " + std::to_string(customer)},
            {"email", "c" + std::to_string(customer) + "@example.com"},
            {"vip", pick(10) == 0}}},
          {"currency", "EUR"},
          {"shipping", {{"street", std::to_string(1 + pick(200)) + " Market Street"}, {"city", kCities[pick(5)]}}},
          {"line", std::move(lines)},
          {"note", nullptr}};
}

std::vector<Json> orders(std::size_t count) {
  std::mt19937 random(20240305);
  std::vector<Json> out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(order(random, i));
  return out;
}

// {"orders": {"order": [...]}}, about kDocumentBytes of JSON.
std::string ordersDocument() {
  std::mt19937 random(4711);
  Json list = Json::array();
  std::size_t size = 0;
  for (std::size_t i = 0; size < kDocumentBytes; ++i) {
    list.push_back(order(random, i));
    size += list.back().dump().size();
  }
  return Json{{"orders", {{"order", std::move(list)}}}}.dump();
}

// The lines of the same orders, one CSV row each, with a header row.
std::string ordersCsv() {
  std::mt19937 random(4711);
  std::string csv = "order_id,date,customer,email,sku,description,qty,price\r\n";
  const auto quoted = [](const std::string& field) {
    if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
    std::string out = "\"";
    for (const char c : field) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  for (std::size_t i = 0; csv.size() < kDocumentBytes; ++i) {
    const auto o = order(random, i);
    for (const auto& line : o["line"]) {
      csv += o["@id"].get<std::string>() + ',' + o["date"].get<std::string>() + ',' +
             quoted(o["customer"]["name"].get<std::string>()) + ',' + o["customer"]["email"].get<std::string>() + ',' +
             line["sku"].get<std::string>() + ',' + quoted(line["description"].get<std::string>()) + ',' +
             line["qty"].dump() + ',' + line["price"].dump() + "\r\n";
    }
  }
  return csv;
}

// ---------------------------------------------------------------------------------------
// The references: the same conversion with the same libraries, without options, checks,
// type detection or error reporting.
// ---------------------------------------------------------------------------------------

struct StringWriter final : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override { out.append(static_cast<const char*>(data), size); }
};

std::string scalarText(const Json& value) {
  return value.is_string() ? value.get_ref<const std::string&>() : value.dump();
}

void appendXml(pugi::xml_node parent, const char* name, const Json& value) {
  if (value.is_array()) {
    for (const auto& item : value) appendXml(parent, name, item);
    return;
  }
  auto element = parent.append_child(name);
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      if (key[0] == '@') {
        element.append_attribute(key.c_str() + 1).set_value(scalarText(child).c_str());
      } else if (key == "#text") {
        element.append_child(pugi::node_pcdata).set_value(scalarText(child).c_str());
      } else {
        appendXml(element, key.c_str(), child);
      }
    }
  } else if (!value.is_null()) {
    element.text().set(scalarText(value).c_str());
  }
}

std::string referenceJsonToXml(const std::string& body) {
  const auto json = Json::parse(body);
  pugi::xml_document document;
  appendXml(document, json.begin().key().c_str(), json.begin().value());
  StringWriter writer;
  document.save(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
  return std::move(writer.out);
}

Json elementJson(pugi::xml_node element) {
  Json object = Json::object();
  for (auto attribute : element.attributes()) object[std::string("@") + attribute.name()] = attribute.value();
  std::string text;
  for (auto child : element.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    } else if (child.type() == pugi::node_element) {
      auto value = elementJson(child);
      auto existing = object.find(child.name());
      if (existing == object.end()) {
        object[child.name()] = std::move(value);
      } else {
        if (!existing->is_array()) *existing = Json::array({std::move(*existing)});
        existing->push_back(std::move(value));
      }
    }
  }
  if (object.empty()) return text.empty() ? Json(nullptr) : Json(text);
  if (!text.empty()) object["#text"] = text;
  return object;
}

std::string referenceXmlToJson(const std::string& body) {
  pugi::xml_document document;
  document.load_buffer(body.data(), body.size());
  return elementJson(document.document_element()).dump();
}

std::string referenceCsvToJson(const std::string& body) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '"') {
      for (++i; i < body.size() && !(body[i] == '"' && (i + 1 == body.size() || body[i + 1] != '"')); ++i) {
        if (body[i] == '"') ++i;  // a doubled quote
        field += body[i];
      }
    } else if (c == ',') {
      rows.back().push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      rows.back().push_back(std::move(field));
      field.clear();
      rows.emplace_back();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  Json out = Json::array();
  for (std::size_t r = 1; r < rows.size(); ++r) {
    Json object = Json::object();
    for (std::size_t c = 0; c < rows[0].size(); ++c) object[rows[0][c]] = std::move(rows[r][c]);
    out.push_back(std::move(object));
  }
  return out.dump();
}

// ---------------------------------------------------------------------------------------
// Running them
// ---------------------------------------------------------------------------------------

core::Registry& plugins() {
  static core::Registry* registry = [] {
    auto* r = new core::Registry();  // never destroyed: the transforms outlive every benchmark
    r->loadDirectories({SWITCHBOARD_BENCH_PLUGIN_DIR});
    return r;
  }();
  return *registry;
}

std::string applyOnce(Transform& step, const std::string& body, const char* type) {
  Message message("bench");
  message.setBody(body, type);
  const auto status = step.apply(message);
  if (!status.isOk()) throw std::runtime_error("the step failed: " + status.message());
  return message.body();
}

// The converter `name` through the plugin, on `input`.
void registerConverter(const std::string& name, nlohmann::ordered_json options, std::string input, const char* type,
                       std::string (*reference)(const std::string&), bool same_output) {
  std::shared_ptr<Transform> step = testing::buildTransform(plugins(), name, std::move(options));
  const auto ours = applyOnce(*step, input, type);
  // The reference must do the same job: the same output, where the conventions allow it.
  if (same_output && ours != reference(input)) throw std::runtime_error(name + ": the reference's output differs");
  auto shared = std::make_shared<const std::string>(std::move(input));
  benchmark::RegisterBenchmark(name.c_str(), [step, shared, type](benchmark::State& state) {
    for (auto _ : state) {
      Message message("bench");
      message.setBody(*shared, type);
      benchmark::DoNotOptimize(step->apply(message));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shared->size()));
  });
  benchmark::RegisterBenchmark((name + "/reference").c_str(), [shared, reference](benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(reference(*shared));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * shared->size()));
  });
  benchmark::AddCustomContext(name + " input", std::to_string(shared->size()) + " bytes");
}

std::vector<std::string> jqMessages() {
  std::vector<std::string> out;
  for (const auto& o : orders(kJqMessages)) out.push_back(o.dump());
  return out;
}

void registerJq(const std::string& program) {
  std::shared_ptr<Transform> step = testing::buildTransform(plugins(), "jq", {{"program", program}});
  auto messages = std::make_shared<const std::vector<std::string>>(jqMessages());
  applyOnce(*step, messages->front(), "application/json");
  benchmark::RegisterBenchmark("jq", [step, messages](benchmark::State& state) {
    std::size_t next = 0;
    for (auto _ : state) {
      Message message("bench");
      message.setBody((*messages)[next], "application/json");
      benchmark::DoNotOptimize(step->apply(message));
      if (++next == messages->size()) next = 0;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  });
  benchmark::AddCustomContext("jq messages", std::to_string(messages->size()));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string program_file;
  std::string messages_file;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.starts_with("--jq-program=")) {
      program_file = arg.substr(13);
    } else if (arg.starts_with("--write-jq-messages=")) {
      messages_file = arg.substr(20);
    } else {
      rest.push_back(argv[i]);
    }
  }
  try {
    if (!messages_file.empty()) {
      std::ofstream out(messages_file);
      for (const auto& message : jqMessages()) out << message << '\n';
      return out ? 0 : 1;
    }
    if (program_file.empty()) throw std::runtime_error("--jq-program=FILE is required");

    const auto document = ordersDocument();
    const auto xml = applyOnce(*testing::buildTransform(plugins(), "json-to-xml", {}), document, "application/json");
    registerConverter("json-to-xml", {}, document, "application/json", referenceJsonToXml, true);
    registerConverter("xml-to-json", {}, xml, "application/xml", referenceXmlToJson, false);
    registerConverter("csv-to-json", {}, ordersCsv(), "text/csv", referenceCsvToJson, true);
    registerJq(readFile(program_file));
  } catch (const std::exception& e) {
    std::cerr << "transforms_bench: " << e.what() << '\n';
    return 1;
  }

  int count = static_cast<int>(rest.size());
  benchmark::Initialize(&count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(count, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
