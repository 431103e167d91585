#include "file_outbound.hpp"

#include <nlohmann/json.hpp>

#include "file_util.hpp"

namespace fs = std::filesystem;

namespace switchboard::adapters::file {

ComponentSpec OutboundOptions::spec() {
  return ComponentSpec{
      "file",
      "Writes each message's body to a file; a reader never sees half a file.",
      {
          {"dir", OptionType::String, true, "", "directory to write into"},
          {"name", OptionType::Template, false, "${message.id}",
           "file name, relative to dir (may hold subdirectories)"},
          {"mode",
           OptionType::Enum,
           false,
           "write",
           "write: a new file per message; append: add to the named file",
           {"write", "append"}},
          {"mkdirs", OptionType::Bool, false, "true", "create dir and subdirectories as needed"},
          {"meta", OptionType::Bool, false, "false", "also write <name>.meta.json: id, headers, properties"},
          {"fsync", OptionType::Bool, false, "false",
           "flush each file to disk before it appears (survives power loss)"},
      }};
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.dir = options.string("dir");
  if (o.dir.empty()) throw OptionError("dir", "dir must not be empty");
  o.name = options.templ("name");
  if (o.name.isConstant()) {
    if (auto error = checkRelativeName(o.name.text()); !error.empty()) throw OptionError("name", error);
  }
  o.mode = options.string("mode") == "append" ? Mode::Append : Mode::Write;
  o.mkdirs = options.boolean("mkdirs");
  o.meta = options.boolean("meta");
  o.fsync = options.boolean("fsync");
  return o;
}

std::string checkRelativeName(const std::string& name) {
  if (name.empty()) return "the file name is empty";
  const fs::path path(name);
  if (path.is_absolute()) return "the file name '" + name + "' is absolute; it must be relative to dir";
  for (const auto& part : path) {
    if (part == "..") return "the file name '" + name + "' leaves dir through '..'";
  }
  if (!path.has_filename()) return "the file name '" + name + "' names a directory";
  return {};
}

std::string metaDocument(const Message& message) {
  nlohmann::ordered_json headers = nlohmann::ordered_json::object();
  for (const auto& [key, value] : message.headers()) headers[key] = value;
  nlohmann::ordered_json document{{"id", message.id()},
                                  {"content_type", message.contentType()},
                                  {"headers", headers},
                                  {"properties", message.properties()}};
  return document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string FileOutbound::describe() const {
  return "file " + (options_.dir / options_.name.text()).string();
}

Status FileOutbound::send(Message& message) {
  const auto name = options_.name.render(message);
  if (auto error = checkRelativeName(name); !error.empty()) return Status::permanent(error);
  const auto target = options_.dir / name;
  if (options_.mkdirs) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Status::transient("cannot create " + target.parent_path().string() + ": " + ec.message());
  }
  std::string error;
  if (options_.meta) {
    error = writeAtomically(fs::path(target.string() + ".meta.json"), metaDocument(message), options_.fsync);
    if (!error.empty()) return Status::transient(error);
  }
  error = options_.mode == OutboundOptions::Mode::Write ? writeAtomically(target, message.body(), options_.fsync)
                                                        : append(target, message.body(), options_.fsync);
  if (!error.empty()) return Status::transient(error);
  return Status::ok();
}

}  // namespace switchboard::adapters::file
